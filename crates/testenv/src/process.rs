//! Child processes that must not outlive the test binary.
//!
//! The server lives in a `static` that is never dropped, and a test binary can
//! end by returning from `main`, by a panic, or by being killed; no destructor
//! runs in any of these. Two mechanisms therefore clean up from outside:
//!
//! * On Linux each server process gets `PR_SET_PDEATHSIG(SIGKILL)`. The kernel
//!   sends it when the *thread* that spawned the child exits, so the spawning
//!   thread is the supervisor thread in `server.rs`, which never returns.
//! * A [`Reaper`], a small `sh` that reads process ids from a pipe whose write
//!   end only the test process holds. When the test process is gone, for any
//!   reason, the pipe reaches end-of-file: the reaper kills the processes it
//!   was told about, waits for them to go, and deletes the temp dir. It runs in
//!   its own process group so a Ctrl-C on the terminal does not kill it before
//!   it has cleaned up.

use std::{
    fs,
    io::{self, Write},
    net::{Ipv4Addr, TcpListener},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
};

/// The reaper's script. `$1` is the directory to delete. A pid is killed
/// only while its command line still names that directory (every server's
/// arguments do): a process that exited earlier, such as a kube-apiserver
/// replaced by a restart, may have left its pid to an unrelated process by
/// the time the test binary ends. A zombie counts as gone (its parent may
/// never reap it), hence the look at /proc state; the wait is bounded so a
/// reused pid cannot hold the cleanup forever.
const REAPER_SCRIPT: &str = r#"
trap '' INT HUP TERM QUIT PIPE
seen=
while read -r pid; do seen="$seen $pid"; done
pids=
for p in $seen; do
    # Without /proc (not Linux) there is no way to tell; kill as before.
    if [ ! -d /proc/self ] || grep -qaF -- "$1" "/proc/$p/cmdline" 2>/dev/null; then
        pids="$pids $p"
        kill -KILL "$p" 2>/dev/null
    fi
done
alive() {
    if [ -r "/proc/$1/stat" ]; then
        read -r stat < "/proc/$1/stat" 2>/dev/null || return 1
        case "${stat##*) }" in Z*|X*) return 1 ;; esac
        return 0
    fi
    kill -0 "$1" 2>/dev/null
}
for p in $pids; do
    n=0
    while alive "$p" && [ "$n" -lt 100 ]; do sleep 0.05 2>/dev/null || sleep 1; n=$((n + 1)); done
done
rm -rf -- "$1"
"#;

/// Cleans up after the test process from outside it; see the module docs.
/// Keep it alive (it holds the pipe's write end) for as long as the server
/// should run.
pub struct Reaper {
    stdin: ChildStdin,
    _child: Child,
}

impl Reaper {
    /// Starts the reaper for `dir` (deleted once the test process is gone).
    pub fn start(dir: &Path) -> io::Result<Reaper> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(REAPER_SCRIPT)
            .arg("vmcp-testenv-reaper")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = command.spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("reaper has no stdin pipe"))?;
        Ok(Reaper {
            stdin,
            _child: child,
        })
    }

    /// Adds a process to kill when the test process is gone.
    pub fn watch(&mut self, pid: u32) -> io::Result<()> {
        writeln!(self.stdin, "{pid}")?;
        self.stdin.flush()
    }
}

/// Spawns `binary` with its output appended to `log`, set up to die with the
/// calling thread (see the module docs for why that must be a thread that
/// never exits).
pub fn spawn(binary: &Path, args: &[String], log: &Path) -> io::Result<Child> {
    // Append: a restarted server keeps the log of its previous life.
    let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    die_with_parent(&mut command);
    command.spawn()
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // getpid and a pre_exec hook: see SAFETY below
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the hook runs between fork and exec and makes only
    // async-signal-safe calls (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then no signal
            // will ever come, so stop now.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {
    // No PDEATHSIG elsewhere; the reaper alone cleans up.
}

/// Ports on 127.0.0.1 that were free a moment ago, all distinct.
///
/// Two things make a naive "bind port 0, close, hand out" racy, and CI hit
/// both: the kernel may hand the same just-closed port out again on the next
/// call, and ports from the ephemeral range are also what every outgoing
/// connection on the machine (etcd's own clients included) takes as its
/// source port. So the ports come from just below the ephemeral range, where
/// only explicit binds land, and every listener is held until all are chosen.
/// What window remains is covered by [`is_port_collision`] and a retry.
pub fn free_ports<const N: usize>() -> io::Result<[u16; N]> {
    let (low, high) = candidate_range();
    let span = u64::from(high - low);
    let mut seed = seed();
    let mut held = Vec::with_capacity(N);
    let mut ports = [0_u16; N];
    let mut tries = 0;
    while held.len() < N {
        tries += 1;
        if tries > 2_000 {
            // Everything below the ephemeral range is taken: fall back to the
            // kernel's choice, still holding each listener.
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            ports[held.len()] = listener.local_addr()?.port();
            held.push(listener);
            continue;
        }
        seed = xorshift(seed);
        let port = low + u16::try_from(seed % span).unwrap_or(0);
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            ports[held.len()] = port;
            held.push(listener);
        }
    }
    Ok(ports)
}

/// Whether a server log says it could not bind its port: the one start-up
/// failure that a fresh set of ports fixes.
pub fn is_port_collision(log_tail: &str) -> bool {
    log_tail.contains("address already in use")
}

/// `[low, high)` just below the kernel's ephemeral port range (read from
/// `/proc`, Linux's default when unreadable), never under 10000.
fn candidate_range() -> (u16, u16) {
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let high = ephemeral_low.max(20_000);
    (high - 10_000, high)
}

/// Differs between test binaries started in the same instant.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    (u64::from(std::process::id()) << 32 | u64::from(nanos)) | 1
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// The last `lines` lines of a log file, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports = free_ports::<3>().unwrap();
        let (low, high) = candidate_range();
        assert_ne!(ports[0], ports[1]);
        assert_ne!(ports[1], ports[2]);
        assert_ne!(ports[0], ports[2]);
        for port in ports {
            assert!((low..high).contains(&port), "{port} outside {low}..{high}");
            // Released on return, so the server can take it.
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        }
    }

    #[test]
    fn only_bind_failures_count_as_port_collisions() {
        assert!(is_port_collision(
            "E1125 run.go:72] \"command failed\" err=\"failed to create listener: listen tcp 127.0.0.1:36835: bind: address already in use\""
        ));
        assert!(!is_port_collision(
            "open /x/ca.crt: no such file or directory"
        ));
    }
}
