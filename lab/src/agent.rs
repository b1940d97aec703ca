//! The lab agent: runs inside the environment (the VM, or the host where it
//! has SCTP), starts and stops RSPLIB's registrars and PEs and the
//! project's processes, reports their state, and runs commands on request.
//! Plain threads and blocking I/O: it is a small static binary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::proto::{Event, ProcessState, Request, Response, RunState};
use crate::topology::{ProcessKind, ProcessSpec, Topology};

/// How long a restarted process must live to count as started.
const RESTART_SETTLE: Duration = Duration::from_millis(1500);
/// Starts tried by a restart before it gives up.
const RESTART_TRIES: u32 = 6;
/// Most bytes of one request line (a hostile client cannot grow memory).
const MAX_REQUEST: usize = 64 * 1024;

/// The kernel's list of bound SCTP endpoints (one line per listening socket).
const SCTP_ENDPOINTS: &str = "/proc/net/sctp/eps";

/// The kernel's list of SCTP associations.
const SCTP_ASSOCIATIONS: &str = "/proc/net/sctp/assocs";

/// Pause between two readiness rounds of `hsdump` at every registrar.
const READY_POLL: Duration = Duration::from_millis(50);

pub struct AgentConfig {
    pub topology: Topology,
    pub token: String,
    /// Where project binaries are (`/share/bin` in the VM); prepended to PATH.
    pub bin_dir: PathBuf,
    pub log_dir: PathBuf,
}

struct Proc {
    spec: ProcessSpec,
    child: Option<Child>,
    state: RunState,
    exit_code: Option<i32>,
    signal: Option<i32>,
    /// Arguments added by `restart-with` (a scenario's registrar options),
    /// cleared by `restart`.
    extra_args: Vec<String>,
}

struct Shared {
    procs: BTreeMap<String, Proc>,
    ready_after_ms: Option<u64>,
    subscribers: Vec<TcpStream>,
    /// Boot milestones, reported with "LAB: ready".
    milestones: Vec<String>,
}

#[derive(Clone)]
pub struct Agent {
    cfg: Arc<AgentConfig>,
    shared: Arc<Mutex<Shared>>,
    spawns: Arc<Mutex<crate::spawn::SpawnTable>>,
    started: Instant,
}

impl Agent {
    pub fn new(cfg: AgentConfig) -> Agent {
        let procs = cfg
            .topology
            .process_specs()
            .into_iter()
            .map(|spec| {
                (
                    spec.name.clone(),
                    Proc {
                        spec,
                        child: None,
                        state: RunState::NotStarted,
                        exit_code: None,
                        signal: None,
                        extra_args: Vec::new(),
                    },
                )
            })
            .collect();
        Agent {
            cfg: Arc::new(cfg),
            shared: Arc::new(Mutex::new(Shared {
                procs,
                ready_after_ms: None,
                subscribers: Vec::new(),
                milestones: Vec::new(),
            })),
            spawns: Arc::default(),
            started: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A panicking thread must not take the agent down with it.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.cfg.bin_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        )
    }

    fn emit(&self, e: Event) {
        let mut line = serde_json::to_string(&Response::Event(e)).unwrap_or_default();
        line.push('\n');
        self.lock()
            .subscribers
            .retain_mut(|s| s.write_all(line.as_bytes()).is_ok());
    }

    /// Starts every autostart process: registrars, then each PE as soon as
    /// its registrar listens, then project processes.
    ///
    /// Why wait for the registrar: an RSPLIB PE whose first SCTP INIT is
    /// answered with an ABORT (nobody listening yet) retries its registrar
    /// hunt only after `-registrarconnecttimeout` (7.5 s by default), so a
    /// PE started a moment too early delays the whole lab by seconds.
    pub fn start_all(&self) {
        let autostart = |kind: ProcessKind| -> Vec<ProcessSpec> {
            self.lock()
                .procs
                .values()
                .filter(|p| p.spec.kind == kind && p.spec.autostart)
                .map(|p| p.spec.clone())
                .collect()
        };
        let start = |n: &str| {
            if let Err(e) = self.start(n) {
                eprintln!("LAB: starting {n} failed: {e:#}");
            }
        };
        for r in autostart(ProcessKind::Registrar) {
            start(&r.name);
        }
        self.mark("registrars started");
        let mut pending: Vec<(ProcessSpec, Option<String>)> = autostart(ProcessKind::PoolElement)
            .into_iter()
            .map(|pe| {
                let home = home_registrar_address(&self.cfg.topology, &pe.name);
                (pe, home)
            })
            .collect();
        // Bounded: a registrar that never comes up must not keep its PEs
        // (and the readiness report that names the culprit) from starting.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let listening = match std::fs::read_to_string(SCTP_ENDPOINTS) {
                Ok(text) => Some(sctp_listeners(&text, crate::topology::ASAP_PORT)),
                Err(_) => None,
            };
            let Some(listening) = listening else {
                // No /proc/net/sctp (an unusual native host): fall back to a
                // pause long enough for rspregistrar to bind on an idle CPU.
                std::thread::sleep(Duration::from_millis(300));
                for (pe, _) in pending.drain(..) {
                    start(&pe.name);
                }
                break;
            };
            let timed_out = Instant::now() > deadline;
            pending.retain(|(pe, home)| {
                let up = home.as_ref().is_none_or(|a| listening.contains(a));
                if up || timed_out {
                    start(&pe.name);
                }
                !(up || timed_out)
            });
            if pending.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.mark("pool elements started");
        for p in autostart(ProcessKind::Project) {
            start(&p.name);
        }
    }

    /// Records a boot milestone (ms since the agent started) for the
    /// readiness report on the console.
    fn mark(&self, what: &str) {
        let ms = self.started.elapsed().as_millis();
        self.lock().milestones.push(format!("{what} +{ms} ms"));
    }

    fn start(&self, name: &str) -> Result<()> {
        let mut g = self.lock();
        let p = g
            .procs
            .get_mut(name)
            .with_context(|| format!("no process named {name:?}"))?;
        if p.state == RunState::Running {
            anyhow::bail!("{name} is already running");
        }
        let log = std::fs::File::create(self.cfg.log_dir.join(format!("{name}.log")))?;
        let child = Command::new(&p.spec.program)
            .args(&p.spec.args)
            .args(&p.extra_args)
            .env("PATH", self.path_env())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", p.spec.program))?;
        let pid = child.id();
        p.child = Some(child);
        p.state = RunState::Running;
        p.exit_code = None;
        p.signal = None;
        drop(g);
        self.emit(Event::ProcessStarted {
            name: name.into(),
            pid,
        });
        Ok(())
    }

    fn signal(&self, name: &str, sig: i32) -> Result<()> {
        let g = self.lock();
        let p = g
            .procs
            .get(name)
            .with_context(|| format!("no process named {name:?}"))?;
        let child = p
            .child
            .as_ref()
            .with_context(|| format!("{name} is not running"))?;
        let pid = i32::try_from(child.id())?;
        // SAFETY: kill(2) on a pid we own and have not reaped yet.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// Reaps ended children; called periodically.
    fn reap(&self) {
        let mut ended = Vec::new();
        {
            let mut g = self.lock();
            for p in g.procs.values_mut() {
                if let Some(c) = p.child.as_mut() {
                    if let Ok(Some(status)) = c.try_wait() {
                        use std::os::unix::process::ExitStatusExt;
                        p.exit_code = status.code();
                        p.signal = status.signal();
                        p.state = if status.signal().is_some() {
                            RunState::Killed
                        } else {
                            RunState::Exited
                        };
                        p.child = None;
                        ended.push((p.spec.name.clone(), p.exit_code, p.signal));
                    }
                }
            }
        }
        for (name, exit_code, signal) in ended {
            self.emit(Event::ProcessEnded {
                name,
                exit_code,
                signal,
            });
        }
    }

    fn wait_exit(&self, name: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.reap();
            if self
                .lock()
                .procs
                .get(name)
                .is_none_or(|p| p.child.is_none())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn status(&self) -> Response {
        let g = self.lock();
        Response::Status {
            processes: g
                .procs
                .values()
                .map(|p| ProcessState {
                    name: p.spec.name.clone(),
                    kind: p.spec.kind,
                    state: p.state.clone(),
                    pid: p.child.as_ref().map(Child::id),
                    exit_code: p.exit_code,
                    signal: p.signal,
                    command: [
                        std::slice::from_ref(&p.spec.program),
                        &p.spec.args[..],
                        &p.extra_args[..],
                    ]
                    .concat()
                    .join(" "),
                })
                .collect(),
            ready_after_ms: g.ready_after_ms,
        }
    }

    /// Runs a command to completion, killing it at the timeout.
    pub fn exec(&self, program: &str, args: &[String], timeout: Duration) -> Response {
        // Its own process group, so that a timeout ends a whole pipeline
        // (`sh -c "a | b"`), not just the shell: the others would keep the
        // output pipes open and the readers below would wait for them.
        use std::os::unix::process::CommandExt;
        let child = Command::new(program)
            .args(args)
            .env("PATH", self.path_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                return Response::Error {
                    message: format!("{program}: {e}"),
                }
            }
        };
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_string(&mut s);
            }
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() > deadline => {
                    if let Ok(pgid) = i32::try_from(child.id()) {
                        // SAFETY: kill(2) on the process group we created.
                        unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    }
                    let _ = child.kill();
                    timed_out = true;
                    break child.wait().ok();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break None,
            }
        };
        Response::Exec {
            code: status.and_then(|s| s.code()),
            stdout: t_out.join().unwrap_or_default(),
            stderr: t_err.join().unwrap_or_default(),
            timed_out,
        }
    }

    /// PE counts per pool at one registrar, from RSPLIB's `hsdump`
    /// (`+-- Pool "EchoPool", Policy …: (4 nodes)`).
    fn pools_at(&self, enrp_endpoint: &str) -> BTreeMap<String, usize> {
        match self.exec(
            "hsdump",
            &[enrp_endpoint.to_string()],
            Duration::from_secs(5),
        ) {
            Response::Exec { stdout, .. } => crate::hsdump::pool_sizes(&stdout),
            _ => BTreeMap::new(),
        }
    }

    /// True when every registrar's `hsdump` shows every pool with its full
    /// PE count. The registrars are asked at the same time (one `hsdump`
    /// each, in parallel): a round takes as long as the slowest one, not
    /// the sum, and all answers describe the same moment.
    pub fn topology_visible(&self) -> bool {
        let expected = self.cfg.topology.expected_pools();
        std::thread::scope(|scope| {
            let asks: Vec<_> = (0..self.cfg.topology.registrars.len())
                .map(|i| {
                    let ep = format!(
                        "{}:{}",
                        Topology::registrar_address(i),
                        crate::topology::ENRP_PORT
                    );
                    scope.spawn(move || self.pools_at(&ep))
                })
                .collect();
            // Join every thread (no short-circuit) before judging.
            let seen: Vec<_> = asks.into_iter().map(|h| h.join().ok()).collect();
            seen.iter().all(|s| {
                s.as_ref()
                    .is_some_and(|s| expected.iter().all(|(pool, n)| s.get(pool) == Some(n)))
            })
        })
    }

    fn wait_ready(&self, timeout: Duration) -> Response {
        let deadline = Instant::now() + timeout;
        loop {
            // Copy the flag out: the guard must be gone before status() locks.
            let ready = self.lock().ready_after_ms.is_some();
            if ready {
                return self.status();
            }
            if Instant::now() > deadline {
                return Response::Error {
                    message: format!("topology not visible at every registrar after {timeout:?}"),
                };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Before the first readiness round: waits (bounded) until every
    /// autostart PE has an established SCTP association to a registrar's
    /// ASAP port. Only a hint of when to start asking — `hsdump` at every
    /// registrar still decides — but `hsdump` rounds while the PEs are still
    /// starting cannot succeed and take the CPU they need (one vCPU).
    fn wait_for_pe_associations(&self) {
        let pes = self
            .cfg
            .topology
            .process_specs()
            .iter()
            .filter(|p| p.kind == ProcessKind::PoolElement && p.autostart)
            .count();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            match std::fs::read_to_string(SCTP_ASSOCIATIONS) {
                Ok(text) if asap_client_associations(&text) < pes => {}
                // Enough of them, or no /proc/net/sctp to tell.
                _ => break,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.mark("pool elements associated");
    }

    /// The Component Status collector: a UDP listener at the topology's
    /// collector address whose datagrams go to every subscriber as they
    /// came (the host decodes them). Nothing if the topology turns CSP off.
    pub fn spawn_csp_collector(&self) -> Result<()> {
        let Some(addr) = self.cfg.topology.csp_collector() else {
            return Ok(());
        };
        let socket =
            std::net::UdpSocket::bind(&addr).with_context(|| format!("CSP collector on {addr}"))?;
        let a = self.clone();
        std::thread::spawn(move || {
            // A report is 288 + 24 bytes per association; a datagram of
            // any size up to UDP's limit is forwarded (and refused by the
            // decoder on the host if it is not a report).
            let mut buf = vec![0u8; 65_536];
            loop {
                match socket.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if a.has_subscribers() {
                            a.emit(Event::ComponentStatus {
                                from: from.to_string(),
                                datagram: hex::encode(&buf[..n]),
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(())
    }

    fn has_subscribers(&self) -> bool {
        !self.lock().subscribers.is_empty()
    }

    /// Relays each gateway's message tap (`GET /tap` on its loopback
    /// metrics listener, JSON lines) to the subscribers, while there are
    /// any: with nobody listening the gateway does no tap work at all.
    pub fn spawn_tap_relays(&self) {
        for (gateway, addr) in tap_sources(&self.cfg.topology) {
            let a = self.clone();
            std::thread::spawn(move || loop {
                if a.has_subscribers() {
                    let _ = a.relay_tap(&gateway, &addr);
                }
                std::thread::sleep(Duration::from_millis(500));
            });
        }
    }

    /// One tap connection, until it breaks or nobody listens any more.
    fn relay_tap(&self, gateway: &str, addr: &str) -> Result<()> {
        let mut s = TcpStream::connect(addr)?;
        write!(s, "GET /tap HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
        // Wakes up now and then to notice that the subscribers are gone.
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut r = BufReader::new(s);
        let mut in_body = false;
        loop {
            let mut line = String::new();
            match (&mut r).take(MAX_REQUEST as u64).read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if !self.has_subscribers() {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            if !in_body {
                // Status line and headers end with an empty line.
                in_body = line.trim().is_empty();
                continue;
            }
            if let Ok(message) = serde_json::from_str(line.trim()) {
                self.emit(Event::Tap {
                    gateway: gateway.to_string(),
                    message,
                });
            }
        }
    }

    /// Background: reap children, and detect readiness once.
    pub fn spawn_monitor(&self) {
        let a = self.clone();
        std::thread::spawn(move || {
            a.wait_for_pe_associations();
            let mut rounds = 0u32;
            loop {
                a.reap();
                let waiting = a.lock().ready_after_ms.is_none();
                if !waiting {
                    std::thread::sleep(Duration::from_millis(250));
                    continue;
                }
                rounds += 1;
                if a.topology_visible() {
                    let ms = u64::try_from(a.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let milestones = {
                        let mut g = a.lock();
                        g.ready_after_ms = Some(ms);
                        g.milestones.join(", ")
                    };
                    // The host waits for this line on the serial console.
                    println!("LAB: ready {ms} ({milestones}, {rounds} hsdump rounds)");
                    a.emit(Event::Ready { after_ms: ms });
                } else {
                    // Short: a PE shows up at every registrar a few tens of
                    // ms after it registers. Not zero: hsdump is a process
                    // start and an ENRP exchange, CPU the registrars need.
                    std::thread::sleep(READY_POLL);
                }
            }
        });
    }

    fn spawns(&self) -> std::sync::MutexGuard<'_, crate::spawn::SpawnTable> {
        self.spawns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// SIGKILL if running, then start with the topology's arguments plus
    /// `extra_args`.
    ///
    /// A killed registrar's SCTP endpoint stays bound while the kernel
    /// shuts its associations down, so the new process can find its port
    /// in use ("Unable to find suitable SCTP/UDP socket pair: Address
    /// already in use") and exit at once: a start that ends within
    /// [`RESTART_SETTLE`] is tried again, [`RESTART_TRIES`] times at most
    /// (registrars only: they bind fixed ports, the others do not).
    fn restart_with(&self, name: &str, extra_args: Vec<String>) -> Result<()> {
        if self.signal(name, libc::SIGKILL).is_ok() {
            self.wait_exit(name, Duration::from_secs(5));
        }
        let registrar = {
            let mut g = self.lock();
            let p = g
                .procs
                .get_mut(name)
                .with_context(|| format!("no process named {name:?}"))?;
            p.extra_args = extra_args;
            p.spec.kind == ProcessKind::Registrar
        };
        if !registrar {
            return self.start(name);
        }
        for attempt in 1..=RESTART_TRIES {
            self.start(name)?;
            self.wait_exit(name, RESTART_SETTLE);
            let ended = self
                .lock()
                .procs
                .get(name)
                .is_some_and(|p| p.child.is_none());
            if !ended {
                return Ok(());
            }
            if attempt < RESTART_TRIES {
                std::thread::sleep(RESTART_SETTLE);
            }
        }
        anyhow::bail!("{name} ended right after each of {RESTART_TRIES} starts (see its log)")
    }

    fn handle(&self, req: Request) -> Response {
        let ok = |r: Result<()>| match r {
            Ok(()) => Response::Ok,
            Err(e) => Response::Error {
                message: format!("{e:#}"),
            },
        };
        match req {
            Request::Hello { .. } => Response::Ok,
            Request::Status => {
                self.reap();
                self.status()
            }
            Request::Start { name } => ok(self.start(&name)),
            Request::Stop { name } => {
                let r = self.signal(&name, libc::SIGINT);
                self.wait_exit(&name, Duration::from_secs(5));
                ok(r)
            }
            Request::Kill { name } => {
                let r = self.signal(&name, libc::SIGKILL);
                self.wait_exit(&name, Duration::from_secs(5));
                ok(r)
            }
            Request::Restart { name } => ok(self.restart_with(&name, Vec::new())),
            Request::RestartWith { name, extra_args } => ok(self.restart_with(&name, extra_args)),
            Request::Spawn {
                program,
                args,
                timeout_ms,
            } => {
                let path = self.path_env();
                let r =
                    self.spawns()
                        .spawn(&program, &args, Duration::from_millis(timeout_ms), &path);
                match r {
                    Ok(id) => Response::Spawned { id },
                    Err(e) => Response::Error {
                        message: format!("{e:#}"),
                    },
                }
            }
            Request::SpawnOutput { id, from_line } => match self.spawns().output(id, from_line) {
                Ok(o) => Response::SpawnOutput(o),
                Err(e) => Response::Error {
                    message: format!("{e:#}"),
                },
            },
            Request::SpawnStop { id, from_line } => {
                // Not under the table's lock while it winds down.
                let b = self.spawns().request_stop(id);
                match b {
                    Ok(b) => Response::SpawnOutput(b.wait_ended(from_line)),
                    Err(e) => Response::Error {
                        message: format!("{e:#}"),
                    },
                }
            }
            Request::Exec {
                program,
                args,
                timeout_ms,
            } => self.exec(
                &program,
                &args,
                Duration::from_millis(timeout_ms.min(600_000)),
            ),
            Request::Logs { name, lines } => {
                match std::fs::read_to_string(self.cfg.log_dir.join(format!("{name}.log"))) {
                    Ok(t) => {
                        let all: Vec<String> = t.lines().map(str::to_string).collect();
                        Response::Logs {
                            lines: all[all.len().saturating_sub(lines)..].to_vec(),
                        }
                    }
                    Err(e) => Response::Error {
                        message: format!("log of {name}: {e}"),
                    },
                }
            }
            Request::WaitReady { timeout_ms } => {
                self.wait_ready(Duration::from_millis(timeout_ms.min(600_000)))
            }
            Request::Subscribe => Response::Ok,
        }
    }

    fn serve_connection(&self, stream: TcpStream) -> Result<()> {
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let mut authenticated = false;
        loop {
            let mut line = String::new();
            let n = (&mut reader)
                .take(MAX_REQUEST as u64)
                .read_line(&mut line)?;
            if n == 0 {
                return Ok(());
            }
            let req: Request = match serde_json::from_str(line.trim()) {
                Ok(r) => r,
                Err(e) => {
                    let r = Response::Error {
                        message: format!("bad request: {e}"),
                    };
                    writeln!(writer, "{}", serde_json::to_string(&r)?)?;
                    if !authenticated {
                        return Ok(());
                    }
                    continue;
                }
            };
            if !authenticated {
                match &req {
                    Request::Hello { token } if constant_time_eq(token, &self.cfg.token) => {
                        authenticated = true;
                    }
                    _ => {
                        let r = Response::Error {
                            message: "authentication required (hello with the run's token)".into(),
                        };
                        writeln!(writer, "{}", serde_json::to_string(&r)?)?;
                        return Ok(());
                    }
                }
            }
            let subscribe = req == Request::Subscribe;
            let resp = self.handle(req);
            writeln!(writer, "{}", serde_json::to_string(&resp)?)?;
            if subscribe {
                let w = writer.try_clone()?;
                // A subscriber that stops reading is dropped, instead of
                // stalling every event (emit writes under the lock).
                w.set_write_timeout(Some(Duration::from_secs(2)))?;
                self.lock().subscribers.push(w);
            }
        }
    }

    /// Serves connections until the process ends.
    pub fn serve(&self, listener: TcpListener) -> Result<()> {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let a = self.clone();
            std::thread::spawn(move || {
                if let Err(e) = a.serve_connection(stream) {
                    eprintln!("agent: connection: {e:#}");
                }
            });
        }
        Ok(())
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The gateways of a topology with a metrics listener (`--metrics ADDR`),
/// where their message tap is: `(process name, ADDR)`.
pub fn tap_sources(topology: &Topology) -> Vec<(String, String)> {
    topology
        .processes
        .iter()
        .filter(|p| p.program.ends_with("rserpool-gateway"))
        .filter_map(|p| {
            let i = p.args.iter().position(|a| a == "--metrics")?;
            Some((p.name.clone(), p.args.get(i + 1)?.clone()))
        })
        .collect()
}

/// Established SCTP associations whose remote port is ASAP's (a PE or pool
/// user attached to a registrar), from `/proc/net/sctp/assocs`
/// (`ASSOC SOCK STY SST ST HBKT ASSOC-ID TX_QUEUE RX_QUEUE UID INODE LPORT
/// RPORT …`; ST 3 is ESTABLISHED).
pub fn asap_client_associations(text: &str) -> usize {
    text.lines()
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() > 12
                && cols[4] == "3"
                && cols[12].parse::<u16>().ok() == Some(crate::topology::ASAP_PORT)
        })
        .count()
}

/// The address of the registrar pool element `name` registers at.
fn home_registrar_address(topology: &Topology, name: &str) -> Option<String> {
    let pe = topology.pool_elements.iter().find(|p| p.name == name)?;
    let i = topology
        .registrars
        .iter()
        .position(|r| r.name == pe.registrar)?;
    Some(Topology::registrar_address(i))
}

/// Local addresses of the SCTP endpoints bound to `port`, from
/// `/proc/net/sctp/eps` (`ENDPT SOCK STY SST HBKT LPORT UID INODE LADDRS…`;
/// the kernel lists an endpoint there once it listens).
pub fn sctp_listeners(text: &str, port: u16) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 9 || cols[5].parse::<u16>().ok() != Some(port) {
            continue;
        }
        out.extend(cols[8..].iter().map(|a| a.to_string()));
    }
    out
}

/// Where the agent keeps logs by default.
pub fn default_log_dir() -> &'static Path {
    Path::new("/tmp/lab-logs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_timeout_ends_a_whole_pipeline() {
        let a = Agent::new(AgentConfig {
            topology: Topology::default(),
            token: "t".into(),
            bin_dir: std::env::temp_dir(),
            log_dir: std::env::temp_dir(),
        });
        // `cat` holds the output pipe open as long as `sleep` runs; killing
        // only `sh` would leave exec waiting for it.
        let r = a.exec(
            "sh",
            &["-c".into(), "sleep 30 | cat".into()],
            Duration::from_millis(200),
        );
        assert!(
            matches!(
                r,
                Response::Exec {
                    timed_out: true,
                    ..
                }
            ),
            "{r:?}"
        );
    }

    /// As the guest kernel prints them (6.1): a registrar, a PE.
    const EPS: &str = " ENDPT     SOCK   STY SST HBKT LPORT   UID INODE LADDRS\n\
        79d53890 44fc74ca 0   10  15   38660     0 10118 0000:0000:0000:0000:0000:0000:0000:0000 \n \
        87fdfbf 554e90a0 0   10  34   3863      0 10104 10.1.0.1 \n\
        b1fd2cd6 48558422 0   10  56   9901      0 10106 10.1.0.1 \n";
    const ASSOCS: &str = " ASSOC     SOCK   STY SST ST HBKT ASSOC-ID TX_QUEUE RX_QUEUE UID INODE LPORT RPORT LADDRS <-> RADDRS\n\
        3364e418 554e90a0 0   10  3  0       4        0        0       0 10104 3863  34463  10.1.0.1 <-> *10.1.0.1 10.0.2.15 \n\
        7dd54bfe 4ab5e387 1   1   3  0       3        0        0       0 10121 34463  3863  10.0.2.15 10.1.0.1 <-> *10.1.0.1 \n\
        7dd54bff 4ab5e388 1   1   1  0       5        0        0       0 10122 34464  3863  10.0.2.15 <-> *10.1.0.2 \n";

    #[test]
    fn finds_listening_registrars_in_proc_net_sctp() {
        let asap = sctp_listeners(EPS, 3863);
        assert_eq!(asap.into_iter().collect::<Vec<_>>(), ["10.1.0.1"]);
        assert!(sctp_listeners(EPS, 3864).is_empty());
        assert!(sctp_listeners("garbage\n1 2 3", 3863).is_empty());
    }

    #[test]
    fn counts_only_established_associations_to_asap() {
        // The registrar's side (LPORT 3863) and a PE still in COOKIE_WAIT
        // (ST 1) do not count.
        assert_eq!(asap_client_associations(ASSOCS), 1);
        assert_eq!(asap_client_associations(""), 0);
    }

    #[test]
    fn home_registrar_of_each_default_pe() {
        let t = Topology::default();
        assert_eq!(
            home_registrar_address(&t, "pe-2").as_deref(),
            Some("10.1.0.2")
        );
        assert_eq!(
            home_registrar_address(&t, "pe-4").as_deref(),
            Some("10.1.0.1")
        );
        assert_eq!(home_registrar_address(&t, "nope"), None);
    }

    #[test]
    fn the_default_gateway_is_a_tap_source() {
        assert_eq!(
            tap_sources(&Topology::default()),
            [("gateway".to_string(), "127.0.0.1:9464".to_string())]
        );
    }

    #[test]
    fn token_comparison_is_exact() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
