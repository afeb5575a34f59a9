//! Starting etcd and kube-apiserver once per test binary.
//!
//! Starting the pair takes seconds and a few hundred MB, so every test in a
//! binary shares one server and isolates itself with its own namespace. The
//! server is started lazily by the first test that asks and kept in a
//! process-wide `OnceLock`; what is kept is plain data (paths and a
//! `kube::Config`), never a `kube::Client`, because a client is tied to the
//! tokio runtime it was built on and each `#[tokio::test]` has its own.

use std::{
    fmt::Write as _,
    io::Write as _,
    path::{Path, PathBuf},
    process::Child,
    sync::{Arc, Mutex, OnceLock, mpsc},
    thread,
    time::{Duration, Instant},
};

use kube::config::AuthInfo;

use crate::{
    binaries::{self, Binaries},
    error::{Error, Result},
    pki::{self, Pki},
    process::{self, Reaper},
};

/// How long kube-apiserver may take to report ready. A cached start takes a
/// few seconds; the margin is for a 2-core machine busy compiling.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Lines of the server log quoted in a start-up error.
const LOG_TAIL_LINES: usize = 40;

/// What the API server writes into service-account tokens' `iss` (a cluster's usual one).
pub(crate) const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// A running etcd + kube-apiserver pair and what a client needs to reach it.
#[derive(Debug)]
pub(crate) struct Server {
    /// Admin (system:masters) client configuration.
    pub config: kube::Config,
    /// The temp dir holding data, certificates and logs; removed at exit.
    pub dir: PathBuf,
    /// A kubeconfig file for the admin, for poking at a live server by hand.
    pub kubeconfig: PathBuf,
    pub apiserver_log: PathBuf,
    pub etcd_log: PathBuf,
    /// The CA that signed the API server's serving certificate (PEM).
    pub ca_cert: PathBuf,
    /// Time from spawning etcd to kube-apiserver answering `/readyz` with ok.
    pub startup: Duration,
    /// Requests to the supervisor thread, which owns the processes.
    pub control: Mutex<Option<mpsc::Sender<Control>>>,
}

/// What a test can ask of the running server. Every request is carried out
/// on the supervisor thread, which owns the processes.
#[derive(Debug)]
pub(crate) enum Control {
    /// Kill kube-apiserver and start it again on the same port with the same
    /// data; reply with how long it took to be ready again.
    RestartApiserver(mpsc::Sender<Result<Duration>>),
    /// Start kube-controller-manager unless it runs already; reply with how
    /// long it took until its controllers were working (zero if it ran).
    StartControllerManager(mpsc::Sender<Result<Duration>>),
}

impl Server {
    /// Kills kube-apiserver and starts it again (same port, certificates and
    /// etcd), waiting until it is ready. Blocks.
    pub(crate) fn restart_apiserver_blocking(&self) -> Result<Duration> {
        self.ask(Control::RestartApiserver)
    }

    /// Starts kube-controller-manager once per test binary. Blocks.
    pub(crate) fn start_controller_manager_blocking(&self) -> Result<Duration> {
        self.ask(Control::StartControllerManager)
    }

    fn ask(&self, request: fn(mpsc::Sender<Result<Duration>>) -> Control) -> Result<Duration> {
        let (reply, answer) = mpsc::channel();
        self.control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .ok_or_else(|| Error::Supervisor("no supervisor to ask".into()))?
            .send(request(reply))
            .map_err(|_| Error::Supervisor("the supervisor thread is gone".into()))?;
        answer
            .recv()
            .map_err(|_| Error::Supervisor("the supervisor thread did not answer".into()))?
    }
}

static SHARED: OnceLock<Result<Arc<Server>, Arc<Error>>> = OnceLock::new();

/// The process-wide server, started on first call. Blocks: call it from a
/// blocking context. A failed start is remembered so later tests fail fast
/// with the same cause.
pub(crate) fn shared_blocking() -> Result<Arc<Server>> {
    SHARED
        .get_or_init(|| start().map(Arc::new).map_err(Arc::new))
        .clone()
        .map_err(Error::Shared)
}

/// Locates the binaries, then hands the rest to a dedicated supervisor thread
/// and waits for its verdict. The thread starts the processes (through
/// [`process::spawn`], whose keeper thread their PDEATHSIG is tied to) and then
/// parks forever holding them and the reaper's pipe, which must live exactly as
/// long as the test process.
fn start() -> Result<Server> {
    let binaries = binaries::locate()?;
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("vmcp-testenv-supervisor".to_owned())
        .spawn(move || supervise(&binaries, &tx))
        .map_err(Error::io("spawning the test environment supervisor thread"))?;
    rx.recv()
        .map_err(|_| Error::Supervisor("exited without reporting".to_owned()))?
}

fn supervise(binaries: &Binaries, tx: &mpsc::Sender<Result<Server>>) {
    match launch_with_retry(binaries) {
        Ok((server, mut running)) => {
            let (control, requests) = mpsc::channel();
            *server.control.lock().unwrap_or_else(|p| p.into_inner()) = Some(control);
            let config = server.config.clone();
            let _ = tx.send(Ok(server));
            // Serve restart requests; this thread owns the children.
            while let Ok(request) = requests.recv() {
                match request {
                    Control::RestartApiserver(reply) => {
                        let _ = reply.send(running.restart_apiserver(&config));
                    }
                    Control::StartControllerManager(reply) => {
                        let _ = reply.send(running.start_controller_manager(binaries, &config));
                    }
                }
            }
            // Hold the children and the reaper's pipe for the life of the
            // process. park() may wake spuriously, hence the loop.
            loop {
                thread::park();
            }
        }
        // Dropping `Running` closes the reaper's pipe: it kills whatever was
        // started and removes the temp dir right away.
        Err(err) => {
            let _ = tx.send(Err(err));
        }
    }
}

/// How often a start is tried when the only problem is a port that someone
/// else bound between our choosing it and the server binding it.
const PORT_ATTEMPTS: usize = 3;

fn launch_with_retry(binaries: &Binaries) -> Result<(Server, Running)> {
    let mut attempt = 1;
    loop {
        match launch(binaries) {
            Err(Error::ExitedEarly { tail, .. })
                if attempt < PORT_ATTEMPTS && process::is_port_collision(&tail) =>
            {
                let _ = writeln!(
                    std::io::stderr(),
                    "vmcp-testenv: a port was taken before the server bound it; retrying with new ports ({attempt}/{PORT_ATTEMPTS})"
                );
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Handles that keep the server alive; dropped only on a failed start.
struct Running {
    reaper: Reaper,
    /// etcd, kube-apiserver and, once asked for, kube-controller-manager.
    children: Vec<Proc>,
    /// How kube-apiserver was started, to start it again.
    apiserver: Option<(PathBuf, Vec<String>)>,
    /// The temp dir: data, certificates, logs and the admin kubeconfig.
    dir: PathBuf,
}

/// One child process, with the name and log its errors quote.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        for proc in &mut self.children {
            let _ = proc.child.kill();
            let _ = proc.child.wait();
        }
    }
}

fn launch(binaries: &Binaries) -> Result<(Server, Running)> {
    let dir = tempfile::Builder::new()
        .prefix("vmcp-testenv-")
        .tempdir()
        .map_err(Error::io("creating the test environment temp dir"))?
        .keep();
    let reaper = Reaper::start(&dir).map_err(Error::io("starting the cleanup process (sh)"))?;
    let mut running = Running {
        reaper,
        children: Vec::new(),
        apiserver: None,
        dir: dir.clone(),
    };

    let pki = pki::generate(&dir)?;
    let [etcd_client_port, etcd_peer_port, apiserver_port] =
        process::free_ports().map_err(Error::io("finding free ports on 127.0.0.1"))?;

    let started = Instant::now();
    let etcd_log = dir.join("etcd.log");
    let etcd_url = format!("http://127.0.0.1:{etcd_client_port}");
    let child = process::spawn_logged(
        &binaries.etcd,
        &etcd_args(&dir, &etcd_url, etcd_peer_port),
        &etcd_log,
    )
    .map_err(Error::io(format!("starting {}", binaries.etcd.display())))?;
    running.watch("etcd", child, &etcd_log)?;

    let apiserver_log = dir.join("kube-apiserver.log");
    let args = apiserver_args(&dir, &pki, &etcd_url, apiserver_port);
    running.apiserver = Some((binaries.kube_apiserver.clone(), args.clone()));
    let child = process::spawn_logged(&binaries.kube_apiserver, &args, &apiserver_log).map_err(
        Error::io(format!("starting {}", binaries.kube_apiserver.display())),
    )?;
    running.watch("kube-apiserver", child, &apiserver_log)?;

    let url = format!("https://127.0.0.1:{apiserver_port}");
    let config = admin_config(&url, &pki)?;
    let kubeconfig = write_kubeconfig(&dir, &url, &pki)?;
    wait_ready(&config, &mut running)?;

    let server = Server {
        control: Mutex::new(None),
        config,
        kubeconfig,
        apiserver_log,
        etcd_log,
        ca_cert: pki.ca_cert.clone(),
        startup: started.elapsed(),
        dir,
    };
    // Straight to the process's stderr, past libtest's output capture: one
    // line per test binary saying where the server is and how long it took.
    let _ = writeln!(
        std::io::stderr(),
        "vmcp-testenv: kube-apiserver ready at {url} in {:.1?} (KUBECONFIG={})",
        server.startup,
        server.kubeconfig.display()
    );
    Ok((server, running))
}

impl Running {
    fn restart_apiserver(&mut self, config: &kube::Config) -> Result<Duration> {
        let (binary, args) = self
            .apiserver
            .clone()
            .ok_or_else(|| Error::Supervisor("kube-apiserver was never started".into()))?;
        let log = self.dir.join("kube-apiserver.log");
        // Absent only if an earlier restart failed to spawn; start it anyway.
        if let Some(i) = self
            .children
            .iter()
            .position(|p| p.name == "kube-apiserver")
        {
            let mut old = self.children.remove(i);
            let _ = old.child.kill();
            let _ = old.child.wait();
        }
        let started = Instant::now();
        let child = process::spawn_logged(&binary, &args, &log)
            .map_err(Error::io(format!("restarting {}", binary.display())))?;
        self.watch("kube-apiserver", child, &log)?;
        wait_ready(config, self)?;
        Ok(started.elapsed())
    }

    /// Starts kube-controller-manager with only the controllers tests need:
    /// the garbage collector (owner references), namespace deletion and the
    /// `default` ServiceAccount of every namespace. It talks to the API
    /// server as the admin, serves nothing itself, and runs without leader
    /// election. Ready means its controllers are working: the ServiceAccount
    /// controller has created `default` in namespace `default`.
    fn start_controller_manager(
        &mut self,
        binaries: &Binaries,
        config: &kube::Config,
    ) -> Result<Duration> {
        if self
            .children
            .iter()
            .any(|p| p.name == "kube-controller-manager")
        {
            return Ok(Duration::ZERO);
        }
        let binary = binaries.controller_manager()?.to_path_buf();
        let log = self.dir.join("kube-controller-manager.log");
        let args = vec![
            format!("--kubeconfig={}", self.dir.join("kubeconfig").display()),
            "--controllers=garbagecollector,namespace,serviceaccount".to_owned(),
            "--leader-elect=false".to_owned(),
            "--secure-port=0".to_owned(),
            "--use-service-account-credentials=false".to_owned(),
            "--concurrent-gc-syncs=5".to_owned(),
        ];
        let started = Instant::now();
        let child = process::spawn_logged(&binary, &args, &log)
            .map_err(Error::io(format!("starting {}", binary.display())))?;
        self.watch("kube-controller-manager", child, &log)?;
        wait_controllers_working(config, self, &log)?;
        Ok(started.elapsed())
    }

    fn watch(&mut self, name: &'static str, child: Child, log: &Path) -> Result<()> {
        let pid = child.id();
        self.children.push(Proc {
            name,
            child,
            log: log.to_path_buf(),
        });
        self.reaper
            .watch(pid)
            .map_err(Error::io("registering a child with the cleanup process"))
    }

    /// The first child that has exited, as the error that says so.
    fn exited(&mut self) -> Option<Error> {
        self.children
            .iter_mut()
            .find_map(|p| match p.child.try_wait() {
                Ok(Some(status)) => Some(Error::ExitedEarly {
                    process: p.name,
                    status,
                    log: p.log.clone(),
                    tail: process::tail(&p.log, LOG_TAIL_LINES),
                }),
                _ => None,
            })
    }
}

fn etcd_args(dir: &Path, client_url: &str, peer_port: u16) -> Vec<String> {
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    vec![
        "--name=vmcp-testenv".to_owned(),
        format!("--data-dir={}", dir.join("etcd").display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=vmcp-testenv={peer_url}"),
        "--initial-cluster-state=new".to_owned(),
        // Test data is thrown away at exit; fsync only costs time.
        "--unsafe-no-fsync=true".to_owned(),
        "--log-level=warn".to_owned(),
    ]
}

fn apiserver_args(dir: &Path, pki: &Pki, etcd_url: &str, port: u16) -> Vec<String> {
    vec![
        format!("--etcd-servers={etcd_url}"),
        "--bind-address=127.0.0.1".to_owned(),
        "--advertise-address=127.0.0.1".to_owned(),
        format!("--secure-port={port}"),
        format!("--cert-dir={}", dir.join("apiserver-certs").display()),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--client-ca-file={}", pki.ca_cert.display()),
        // Required for the TokenRequest API, which is how tests act as a
        // ServiceAccount for real.
        format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
        format!(
            "--service-account-key-file={}",
            pki.service_account_public_key.display()
        ),
        format!(
            "--service-account-signing-key-file={}",
            pki.service_account_key.display()
        ),
        "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
        // Real authorization, as in a cluster: tests can check what the
        // operator's and gateway's Roles allow and deny.
        "--authorization-mode=RBAC".to_owned(),
        "--allow-privileged=true".to_owned(),
        // No kubelets or endpoints to reconcile; fewer background writes.
        "--endpoint-reconciler-type=none".to_owned(),
        // As on OpenShift and other hardened clusters: setting
        // blockOwnerDeletion on an owner reference needs `update` on the
        // owner's `finalizers` subresource, so a controller's RBAC that
        // forgets it fails here instead of on a user's cluster.
        "--enable-admission-plugins=OwnerReferencesPermissionEnforcement".to_owned(),
        "--profiling=false".to_owned(),
    ]
}

/// The admin client's configuration: trusts our CA, presents the
/// system:masters client certificate (read from the temp dir when a client
/// is built).
fn admin_config(url: &str, pki: &Pki) -> Result<kube::Config> {
    let uri = url
        .parse()
        .map_err(|err| Error::Supervisor(format!("bad API server URL {url}: {err}")))?;
    let mut config = kube::Config::new(uri);
    config.default_namespace = "default".to_owned();
    config.root_cert = Some(vec![pki.ca_der.clone()]);
    config.auth_info = AuthInfo {
        client_certificate: Some(pki.admin_cert.display().to_string()),
        client_key: Some(pki.admin_key.display().to_string()),
        ..AuthInfo::default()
    };
    Ok(config)
}

fn write_kubeconfig(dir: &Path, url: &str, pki: &Pki) -> Result<PathBuf> {
    let mut text = String::new();
    let _ = write!(
        text,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: vmcp-testenv\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate: {cert}\n    client-key: {key}\ncontexts:\n- name: vmcp-testenv\n  context:\n    cluster: vmcp-testenv\n    user: admin\ncurrent-context: vmcp-testenv\n",
        ca = pki.ca_cert.display(),
        cert = pki.admin_cert.display(),
        key = pki.admin_key.display(),
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(path)
}

/// Polls `/readyz` until it answers `ok`, failing early with the log tail if
/// a child exits.
fn wait_ready(config: &kube::Config, running: &mut Running) -> Result<()> {
    let log = running.dir.join("kube-apiserver.log");
    poll(
        config,
        running,
        |client| {
            Box::pin(async move {
                match readyz(client).await {
                    Ok(body) if body.trim() == "ok" => Ok(()),
                    Ok(body) => Err(body),
                    Err(err) => Err(err),
                }
            })
        },
        |last| Error::NotReady {
            timeout: READY_TIMEOUT,
            last,
            tail: process::tail(&log, LOG_TAIL_LINES),
            log: log.clone(),
        },
    )
}

/// Polls for the `default` ServiceAccount in namespace `default`, which only
/// a working controller manager creates, failing early if a child exits.
fn wait_controllers_working(
    config: &kube::Config,
    running: &mut Running,
    log: &Path,
) -> Result<()> {
    use k8s_openapi::api::core::v1::ServiceAccount;
    poll(
        config,
        running,
        |client| {
            Box::pin(async move {
                let accounts = kube::Api::<ServiceAccount>::namespaced(client.clone(), "default");
                match accounts.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("no ServiceAccount yet".to_owned()),
                    Err(err) => Err(err.to_string()),
                }
            })
        },
        |_| Error::ControllerManagerNotReady {
            timeout: READY_TIMEOUT,
            log: log.to_path_buf(),
            tail: process::tail(log, LOG_TAIL_LINES),
        },
    )
}

/// What [`poll`] asks every 100 ms: done, or why not yet.
type Probe<'c> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + 'c>>;

/// Runs `probe` every 100 ms until it is done, failing early if a child
/// exits and with `timed_out(last reason)` after [`READY_TIMEOUT`]. Runs its
/// own small runtime: this is the supervisor thread, outside any test's
/// runtime, and nothing built here may outlive the call.
fn poll(
    config: &kube::Config,
    running: &mut Running,
    mut probe: impl for<'c> FnMut(&'c kube::Client) -> Probe<'c>,
    timed_out: impl FnOnce(String) -> Error,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("building a tokio runtime for a readiness check"))?;
    runtime.block_on(async {
        let client = kube::Client::try_from(config.clone()).map_err(Error::Client)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(err) = running.exited() {
                return Err(err);
            }
            let last = match probe(&client).await {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            if Instant::now() >= deadline {
                return Err(timed_out(last));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

async fn readyz(client: &kube::Client) -> Result<String, String> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|err| err.to_string())?;
    match tokio::time::timeout(Duration::from_secs(5), client.request_text(request)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("timed out after 5s".to_owned()),
    }
}
