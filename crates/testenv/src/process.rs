//! Child processes that must not outlive the test binary: the one launcher
//! every test, bench and the demo start their processes with (etcd and
//! kube-apiserver here; node, python and `vmcp` through `vmcp-test-support`).
//!
//! A test binary can end by returning from `main`, by a panic, or by being
//! killed; no destructor runs in any of these. Two mechanisms therefore clean
//! up from outside:
//!
//! * On Linux every child gets `PR_SET_PDEATHSIG(SIGKILL)`. The kernel sends
//!   it when the *thread* that spawned the child exits, and test threads,
//!   tokio workers and blocking-pool threads all end long before the process
//!   does (a blocking-pool thread after ten idle seconds). So [`spawn`] hands
//!   every command to one keeper thread that lives as long as the process and
//!   spawns it there; the signal then comes exactly when the test process is
//!   gone.
//! * A [`Reaper`], a small `sh` that reads process ids from a pipe whose write
//!   end only the test process holds. When the test process is gone, for any
//!   reason, the pipe reaches end-of-file: the reaper kills the processes it
//!   was told about, waits for them to go, and deletes the temp dir. It runs in
//!   its own process group so a Ctrl-C on the terminal does not kill it before
//!   it has cleaned up. The API server uses it (it also covers systems without
//!   PDEATHSIG); other children rely on PDEATHSIG and their [`Process`] guard.
//!
//! While the test process lives, a [`Process`] kills and reaps (waits for)
//! its child when dropped, so a finished test leaves neither a running
//! process nor a zombie.

use std::{
    fs,
    io::{self, Read, Write},
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio},
    sync::{OnceLock, mpsc},
    thread,
    time::{Duration, Instant},
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

/// Spawns `binary` with its output appended to `log`, through [`spawn`].
pub(crate) fn spawn_logged(binary: &Path, args: &[String], log: &Path) -> io::Result<Child> {
    // Append: a restarted server keeps the log of its previous life.
    let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    spawn(command)
}

/// A command for the keeper thread and where to send the spawned child.
type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// The launcher: spawns `command` set up to die with the test process
/// (`PR_SET_PDEATHSIG(SIGKILL)` on Linux), from the keeper thread that lives as
/// long as the process (see the module docs for why the thread matters).
/// Callers keep the [`Child`] in a [`Process`] unless they reap it themselves.
pub fn spawn(mut command: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<io::Result<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("vmcp-child-keeper".to_owned())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
                loop {
                    thread::park();
                }
            })?;
        Ok(requests)
    });
    let keeper = keeper
        .as_ref()
        .map_err(|e| io::Error::new(e.kind(), format!("starting the child keeper thread: {e}")))?;
    die_with_parent(&mut command);
    let (reply, child) = mpsc::channel();
    keeper
        .send((command, reply))
        .map_err(|_| io::Error::other("the child keeper thread is gone"))?;
    child
        .recv()
        .map_err(|_| io::Error::other("the child keeper thread did not answer"))?
}

/// A child started by [`spawn`], killed and reaped when dropped. `name` is what
/// error messages call it; `log`, if its output goes to a file, is quoted by
/// [`Process::log_tail`].
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: Option<PathBuf>,
}

impl Process {
    /// Spawns `command` as it is configured (stdio included).
    pub fn spawn(name: impl Into<String>, command: Command) -> io::Result<Process> {
        let name = name.into();
        let program = command.get_program().to_owned();
        let child = spawn(command).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("starting {name} ({}): {e}", Path::new(&program).display()),
            )
        })?;
        Ok(Process {
            name,
            child,
            log: None,
        })
    }

    /// Spawns `command` with stdin closed and stdout and stderr both written to
    /// `log` (created or truncated).
    pub fn spawn_logged(
        name: impl Into<String>,
        mut command: Command,
        log: &Path,
    ) -> io::Result<Process> {
        let out = fs::File::create(log)?;
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let mut process = Process::spawn(name, command)?;
        process.log = Some(log.to_owned());
        Ok(process)
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child itself, e.g. to take a piped stdout.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its exit status if it has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Sends SIGTERM, as Kubernetes does to stop a pod; [`Process::try_wait`]
    /// tells when it has gone.
    #[cfg(unix)]
    #[allow(unsafe_code)] // kill(2): see SAFETY below
    pub fn terminate(&self) -> io::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(io::Error::other)?;
        // SAFETY: kill(2) with a valid signal on the pid of a child this guard
        // owns and has not reaped (so the pid cannot have been reused).
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Kills the child and waits for it; a no-op once it is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last `lines` lines of its log ("" without one), for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.log
            .as_deref()
            .map(|log| tail(log, lines))
            .unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `bash script` (an installer or build script) to completion through
/// [`spawn`]: its stdout is returned, its stderr goes straight to ours, past
/// libtest's capture, so a long install or build shows its progress live.
pub fn run_script(script: &Path) -> io::Result<(ExitStatus, String)> {
    let mut command = Command::new("bash");
    command
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut process = Process::spawn(script.display().to_string(), command)?;
    let mut stdout = Vec::new();
    if let Some(mut pipe) = process.child.stdout.take() {
        pipe.read_to_end(&mut stdout)?;
    }
    let status = process.child.wait()?;
    Ok((status, String::from_utf8_lossy(&stdout).into_owned()))
}

/// Runs `command` to completion through [`spawn`], collecting stdout and
/// stderr as `Command::output` does; kills it and fails with `TimedOut` if it
/// runs longer than `limit`.
pub fn output(mut command: Command, limit: Duration) -> io::Result<Output> {
    let program = Path::new(command.get_program()).display().to_string();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut process = Process::spawn(program.clone(), command)?;
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read(
        process
            .child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read(
        process
            .child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = process.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            process.kill();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{program} did not finish within {limit:?}"),
            ));
        }
        thread::sleep(Duration::from_millis(10));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Limits the number of file descriptors the child of `command` may open to `n`
/// (`RLIMIT_NOFILE`, soft and hard), for tests of how a server copes with few.
#[cfg(unix)]
#[allow(unsafe_code)] // a pre_exec hook: see SAFETY below
pub fn limit_open_files(command: &mut Command, n: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec; the
    // closure allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
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

/// One port from [`free_ports`], for the many callers that need one; panics if
/// none can be found (test-only code, where that ends the test anyway).
pub fn free_port() -> u16 {
    let [port] = free_ports().unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"));
    port
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

/// Starts a long-lived server for the whole test binary: `launch` runs on a thread of its own,
/// which then holds what it returned besides the server's description (the child, its
/// reaper, its temp dir) for the life of the process, since a child's PDEATHSIG is tied to
/// the thread that spawned it. Keycloak and Hydra are started this way.
#[cfg(unix)]
pub(crate) fn supervised<T, H>(
    name: &str,
    launch: impl FnOnce() -> crate::Result<(T, H)> + Send + 'static,
) -> crate::Result<T>
where
    T: Send + 'static,
    H: 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("vmcp-{name}-supervisor"))
        .spawn(move || match launch() {
            Ok((server, held)) => {
                let _ = tx.send(Ok(server));
                let _held = held;
                loop {
                    thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(crate::Error::io("spawning a supervisor thread"))?;
    rx.recv().map_err(|_| {
        crate::Error::Supervisor(format!("the {name} supervisor exited without reporting"))
    })?
}

/// Whether `GET path` on 127.0.0.1:port answers 200 (HTTP/1.0, so the answer ends with
/// the connection; no HTTP client needed in this crate).
pub(crate) fn http_get_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = String::from_utf8_lossy(&head[..n]);
    head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child spawned from a thread that then ends keeps running: PDEATHSIG is tied to the
    /// keeper thread, not the caller's. (Spawned on the calling thread instead, the child is
    /// killed as soon as that thread exits and this fails.)
    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_outlives_the_thread_that_launched_it_and_dies_with_its_guard() {
        let mut process = thread::spawn(|| {
            let mut command = Command::new("sleep");
            command.arg("30");
            Process::spawn("sleep", command).unwrap()
        })
        .join()
        .unwrap();
        thread::sleep(Duration::from_millis(300));
        assert!(
            process.try_wait().unwrap().is_none(),
            "the child died with the thread that launched it"
        );
        let pid = process.id();
        drop(process);
        // Killed and reaped: no /proc entry, not even a zombie.
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn output_collects_both_streams_and_stops_a_command_at_its_limit() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = output(command, Duration::from_secs(10)).unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        let mut command = Command::new("sleep");
        command.arg("30");
        let started = Instant::now();
        let err = output(command, Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn free_ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports = free_ports::<3>().unwrap();
        let (low, high) = candidate_range();
        assert_ne!(ports[0], ports[1]);
        assert_ne!(ports[1], ports[2]);
        assert_ne!(ports[0], ports[2]);
        for port in ports {
            assert!((low..high).contains(&port), "{port} outside {low}..{high}");
            // Released on return, so the server can take it. Asked of this
            // process's own sockets rather than by binding the port again: on a
            // shared machine another process may take a free port at any moment.
            #[cfg(target_os = "linux")]
            assert!(!listens_here(port), "free_ports still holds {port}");
        }
    }

    /// Whether one of this process's own sockets listens on 127.0.0.1:`port`
    /// (Linux: `/proc/net/tcp` rows in state LISTEN, matched by inode against
    /// `/proc/self/fd`).
    #[cfg(target_os = "linux")]
    fn listens_here(port: u16) -> bool {
        let local = format!("0100007F:{port:04X}");
        let table = fs::read_to_string("/proc/net/tcp").unwrap();
        let inodes: Vec<String> = table
            .lines()
            .skip(1)
            .filter_map(|row| {
                let cols: Vec<&str> = row.split_whitespace().collect();
                let listening = cols.get(1) == Some(&local.as_str()) && cols.get(3) == Some(&"0A");
                let inode = cols.get(9).filter(|_| listening)?;
                Some(format!("socket:[{inode}]"))
            })
            .collect();
        fs::read_dir("/proc/self/fd").unwrap().flatten().any(|fd| {
            fs::read_link(fd.path()).is_ok_and(|target| {
                inodes
                    .iter()
                    .any(|inode| target.as_os_str() == inode.as_str())
            })
        })
    }

    /// The check above can fail: a listener of our own is seen.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_held_listener_is_seen() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listens_here(port));
        drop(listener);
        assert!(!listens_here(port));
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
