//! The host side of the lab: builds what the environment needs, starts it
//! (micro-VM, or natively where the kernel has SCTP), and drives it through
//! the agent.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::image;
use crate::proto::{ProcessState, Request, Response, RunState, AGENT_PORT};
use crate::topology::{ProcessKind, Topology};
use crate::vm::{Vm, VmConfig};

/// Where registrars and PEs run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The host kernel has SCTP: run RSPLIB directly.
    Native,
    /// No SCTP here: run everything in a qemu/TCG micro-VM.
    Vm,
}

impl Mode {
    /// `RSERPOOL_LAB_MODE=native|vm` if set, else native exactly when the
    /// kernel can open an SCTP socket.
    pub fn detect() -> Result<Mode> {
        match std::env::var("RSERPOOL_LAB_MODE").as_deref() {
            Ok("native") => Ok(Mode::Native),
            Ok("vm") => Ok(Mode::Vm),
            Ok(other) => bail!("RSERPOOL_LAB_MODE={other:?}: use native or vm"),
            Err(_) => Ok(if kernel_has_sctp() {
                Mode::Native
            } else {
                Mode::Vm
            }),
        }
    }
}

/// Whether this kernel supports SCTP sockets (errno 93/94 if not).
pub fn kernel_has_sctp() -> bool {
    // SAFETY: socket(2)/close(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_SCTP) };
    if fd < 0 {
        return false;
    }
    unsafe { libc::close(fd) };
    true
}

/// Binaries of this workspace that run inside the environment.
const GUEST_BINARIES: &[(&str, &str)] = &[
    ("rserpool-lab", "rserpool-lab-agent"),
    ("rserpool-cli", "rserpool"),
    ("rserpool-gateway", "rserpool-gateway"),
    ("rserpool-actors", "rserpool-actor"),
];

/// The gateway's port inside the environment (default topology).
pub const GATEWAY_PORT: u16 = 8443;

/// Options for [`Lab::start`].
#[derive(Clone, Debug)]
pub struct LabOptions {
    pub topology: Topology,
    /// Force a mode instead of detecting it.
    pub mode: Option<Mode>,
    /// How long to wait for "every PE visible at every registrar".
    pub ready_timeout: Duration,
    /// Guest memory of the VM in MiB (the gateway capacity bench needs
    /// more than the default 256).
    pub memory_mib: u32,
    /// Told as each start-up phase begins (`rserpool lab up` prints them).
    pub on_phase: Option<fn(LabPhase)>,
}

/// The phases of [`Lab::start`], in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabPhase {
    /// Building the binaries the lab runs (agent, gateway, actors), static
    /// for the VM; cargo's cache makes later runs quick.
    BuildingBinaries,
    /// Building (or finding cached) the VM's kernel and image.
    BuildingImage,
    /// Booting the VM, or starting the native agent.
    Starting,
    /// Waiting until every registrar lists every PE.
    WaitingForPools,
}

impl std::fmt::Display for LabPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabPhase::BuildingBinaries => {
                "building the lab's binaries (first run: several minutes; then seconds)"
            }
            LabPhase::BuildingImage => {
                "preparing the VM image (first run: packages and a build, minutes; then cached)"
            }
            LabPhase::Starting => "starting the registrars' machine",
            LabPhase::WaitingForPools => "waiting until every registrar lists every pool element",
        })
    }
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            topology: Topology::default(),
            mode: None,
            ready_timeout: Duration::from_secs(60),
            memory_mib: 256,
            on_phase: None,
        }
    }
}

/// The directory the host shares with the lab's processes: the run
/// directory, which the VM mounts on `/share` (9p) and native processes
/// see as itself. A file a lab process writes under `guest` is on the
/// host under `host` (a scenario run's packet capture, for instance).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Share {
    /// Where it is on the host.
    pub host: PathBuf,
    /// Where the lab's processes see it.
    pub guest: PathBuf,
}

impl Share {
    /// The shared directory of a lab in `mode` whose run directory is `run_dir`.
    pub fn of(mode: Mode, run_dir: &Path) -> Share {
        Share {
            host: run_dir.to_path_buf(),
            guest: match mode {
                Mode::Vm => PathBuf::from("/share"),
                Mode::Native => run_dir.to_path_buf(),
            },
        }
    }
}

/// A running lab. Dropping it shuts everything down.
pub struct Lab {
    mode: Mode,
    topology: Topology,
    vm: Option<Vm>,
    native_agent: Option<Child>,
    agent_addr: String,
    token: String,
    run_dir: PathBuf,
    /// Time from starting the environment (qemu, or the native agent) to
    /// "every PE visible at every registrar".
    pub boot_time: Duration,
}

fn random_token() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Builds the project's binaries for the environment (static musl for the
/// VM, so that nothing but the binary needs copying) into `dest`.
/// `RSERPOOL_LAB_GUEST_BIN` may name a directory of prebuilt ones instead.
pub fn build_guest_binaries(mode: Mode, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest)?;
    if let Some(dir) = std::env::var_os("RSERPOOL_LAB_GUEST_BIN") {
        for (_, bin) in GUEST_BINARIES {
            std::fs::copy(Path::new(&dir).join(bin), dest.join(bin))
                .with_context(|| format!("RSERPOOL_LAB_GUEST_BIN has no {bin}"))?;
        }
        return Ok(());
    }
    let root = workspace_root();
    // A target dir of its own: a `cargo test` that starts a lab must not
    // wait for the build lock its own cargo holds.
    let target_dir = root.join("target/lab-guest");
    let triple = match mode {
        Mode::Vm => Some("x86_64-unknown-linux-musl"),
        Mode::Native => None,
    };
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(&target_dir);
    if let Some(t) = triple {
        cmd.args(["--target", t]);
    }
    for (pkg, bin) in GUEST_BINARIES {
        cmd.args(["-p", pkg, "--bin", bin]);
    }
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .context("running cargo to build the lab's binaries")?;
    if !status.success() {
        bail!("building the lab's binaries failed ({status})");
    }
    let out = match triple {
        Some(t) => target_dir.join(t).join("release"),
        None => target_dir.join("release"),
    };
    for (_, bin) in GUEST_BINARIES {
        std::fs::copy(out.join(bin), dest.join(bin)).with_context(|| format!("copying {bin}"))?;
    }
    Ok(())
}

/// The topology with every `/share/` path argument of the project's
/// processes pointing into `run_dir` (native mode has no 9p share).
pub fn native_paths(topology: &Topology, run_dir: &Path) -> Topology {
    let mut t = topology.clone();
    let base = format!("{}/", run_dir.display());
    for p in &mut t.processes {
        for a in &mut p.args {
            if a.contains("/share/") {
                *a = a.replace("/share/", &base);
            }
        }
    }
    t
}

/// The shell script the VM's /init runs from the share.
pub fn guest_init_script(topology: &Topology) -> String {
    let mut s = String::from("# Generated by rserpool-lab for one run.\nset -u\n");
    for i in 0..topology.registrars.len() {
        s.push_str(&format!(
            "ip addr add {}/32 dev lo\n",
            Topology::registrar_address(i)
        ));
    }
    s.push_str(&format!(
        "ip addr add {}/32 dev lo\n",
        crate::topology::ATTACKER_ADDRESS
    ));
    // The gateway's certificate is in /share/certs already: the host
    // issued it with the machine's lab CA (crate::ca).
    s.push_str(&format!(
        "mkdir -p /tmp/lab-logs\n\
         export PATH=/share/bin:$PATH\n\
         exec /share/bin/rserpool-lab-agent --topology /share/topology.toml \
         --token-file /share/token --listen 0.0.0.0:{AGENT_PORT} \
         --bin-dir /share/bin --log-dir /tmp/lab-logs\n"
    ));
    s
}

impl Lab {
    /// Starts a lab and waits until every registrar shows every PE.
    pub fn start(opts: LabOptions) -> Result<Lab> {
        let mode = match opts.mode {
            Some(m) => m,
            None => Mode::detect()?,
        };
        let cache = image::cache_root();
        let run_dir =
            cache
                .join("runs")
                .join(format!("{}-{}", std::process::id(), random_token()?));
        std::fs::create_dir_all(&run_dir)?;
        let phase = |p: LabPhase| {
            if let Some(f) = opts.on_phase {
                f(p);
            }
        };
        phase(LabPhase::BuildingBinaries);
        build_guest_binaries(mode, &run_dir.join("bin"))?;
        let token = random_token()?;
        std::fs::write(run_dir.join("token"), &token)?;
        // `/share/…` in a topology is the run directory as the VM sees it
        // (9p); natively the processes see the run directory itself.
        let run_topology = match mode {
            Mode::Vm => opts.topology.clone(),
            Mode::Native => native_paths(&opts.topology, &run_dir),
        };
        std::fs::write(
            run_dir.join("topology.toml"),
            toml::to_string(&run_topology).context("serialising the topology")?,
        )?;
        // This run's gateway certificate, from the machine's lab CA (kept
        // across runs, so a browser that trusts it once trusts every run).
        crate::ca::LabCa::load_or_create()?
            .issue_server(
                &run_dir.join("certs"),
                &["localhost".to_string(), "127.0.0.1".to_string()],
            )
            .context("issuing the gateway's certificate")?;
        // Boot time counts from starting the environment (VM or agent),
        // not from building binaries or the image.
        let t_env;
        let mut lab = match mode {
            Mode::Vm => {
                std::fs::write(run_dir.join("init.sh"), guest_init_script(&opts.topology))?;
                phase(LabPhase::BuildingImage);
                let img = image::build(&cache)?;
                phase(LabPhase::Starting);
                let mut ports = vec![AGENT_PORT];
                ports.extend(opts.topology.forward.iter().copied());
                t_env = Instant::now();
                let mut vm = Vm::boot(
                    &img,
                    &VmConfig {
                        share: run_dir.clone(),
                        guest_ports: ports,
                        memory_mib: opts.memory_mib,
                    },
                )?;
                vm.wait_for_console("LAB: agent listening", "LAB: FAIL", opts.ready_timeout)?;
                let agent_addr = format!(
                    "127.0.0.1:{}",
                    vm.host_port(AGENT_PORT)
                        .context("agent port not forwarded")?
                );
                Lab {
                    mode,
                    topology: opts.topology,
                    vm: Some(vm),
                    native_agent: None,
                    agent_addr,
                    token,
                    run_dir,
                    boot_time: Duration::ZERO,
                }
            }
            Mode::Native => {
                for i in 0..opts.topology.registrars.len() {
                    // Already present is fine; anything else shows up when
                    // the registrars cannot bind.
                    let _ = Command::new("ip")
                        .args(["addr", "add"])
                        .arg(format!("{}/32", Topology::registrar_address(i)))
                        .args(["dev", "lo"])
                        .stderr(Stdio::null())
                        .status();
                }
                let port = {
                    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
                    l.local_addr()?.port()
                };
                phase(LabPhase::Starting);
                t_env = Instant::now();
                let child = Command::new(run_dir.join("bin/rserpool-lab-agent"))
                    .arg("--topology")
                    .arg(run_dir.join("topology.toml"))
                    .arg("--token-file")
                    .arg(run_dir.join("token"))
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--bin-dir")
                    .arg(run_dir.join("bin"))
                    .arg("--log-dir")
                    .arg(run_dir.join("logs"))
                    .stdout(Stdio::null())
                    .spawn()
                    .context("starting the lab agent")?;
                let agent_addr = format!("127.0.0.1:{port}");
                let deadline = Instant::now() + Duration::from_secs(10);
                while TcpStream::connect(&agent_addr).is_err() {
                    if Instant::now() > deadline {
                        bail!("the native lab agent did not start listening");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Lab {
                    mode,
                    topology: opts.topology,
                    vm: None,
                    native_agent: Some(child),
                    agent_addr,
                    token,
                    run_dir,
                    boot_time: Duration::ZERO,
                }
            }
        };
        phase(LabPhase::WaitingForPools);
        match lab.request(Request::WaitReady {
            timeout_ms: u64::try_from(opts.ready_timeout.as_millis()).unwrap_or(u64::MAX),
        })? {
            Response::Status { .. } => {}
            other => bail!("lab not ready: {other:?}\n{}", lab.console_tail(40)),
        }
        lab.boot_time = t_env.elapsed();
        Ok(lab)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Host address of the agent (`127.0.0.1:port`).
    pub fn agent_addr(&self) -> &str {
        &self.agent_addr
    }

    /// The per-run token of the agent.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Directory of this run (share with the VM: binaries, topology, console).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The run directory as the host and the lab's processes see it.
    pub fn share(&self) -> Share {
        Share::of(self.mode, &self.run_dir)
    }

    /// The host port that reaches a guest TCP port (VM mode), or the port
    /// itself (native mode, where everything is on this host).
    pub fn host_port(&self, guest_port: u16) -> Option<u16> {
        match &self.vm {
            Some(vm) => vm.host_port(guest_port),
            None => Some(guest_port),
        }
    }

    /// The lab gateway's URL for registrar `i` (from 1) as the host reaches
    /// it: `wss://localhost:PORT/asap/i`.
    pub fn gateway_url(&self, i: usize) -> Option<String> {
        self.host_port(GATEWAY_PORT)
            .map(|p| format!("wss://localhost:{p}/asap/{i}"))
    }

    /// PEM of the CA that signed this run's gateway certificate (a copy of
    /// the machine's lab CA, [`crate::ca`]).
    pub fn gateway_ca(&self) -> PathBuf {
        self.run_dir.join("certs/ca.pem")
    }

    /// ASAP endpoints of the registrars (`10.1.0.i:3863`), reachable inside
    /// the environment.
    pub fn addresses(&self) -> Vec<String> {
        self.topology.registrar_asap_endpoints()
    }

    /// The last lines of the VM's console (empty in native mode).
    pub fn console_tail(&self, n: usize) -> String {
        self.vm
            .as_ref()
            .map(|vm| {
                let c = vm.console();
                let l: Vec<&str> = c.lines().collect();
                l[l.len().saturating_sub(n)..].join("\n")
            })
            .unwrap_or_default()
    }

    /// One request on a fresh, authenticated connection.
    pub fn request(&self, req: Request) -> Result<Response> {
        request_agent(&self.agent_addr, &self.token, req)
    }

    fn expect_ok(&self, req: Request) -> Result<()> {
        match self.request(req)? {
            Response::Ok => Ok(()),
            Response::Error { message } => bail!("lab agent: {message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    pub fn start_process(&self, name: &str) -> Result<()> {
        self.expect_ok(Request::Start { name: name.into() })
    }
    /// SIGINT (a PE deregisters).
    pub fn stop(&self, name: &str) -> Result<()> {
        self.expect_ok(Request::Stop { name: name.into() })
    }
    /// SIGKILL.
    pub fn kill(&self, name: &str) -> Result<()> {
        self.expect_ok(Request::Kill { name: name.into() })
    }
    /// SIGKILL, then start again with the topology's arguments.
    pub fn restart(&self, name: &str) -> Result<()> {
        self.expect_ok(Request::Restart { name: name.into() })
    }
    /// SIGKILL, then start again with the topology's arguments plus
    /// `extra_args` (kept until the next [`Lab::restart`]).
    pub fn restart_with(&self, name: &str, extra_args: &[&str]) -> Result<()> {
        self.expect_ok(Request::RestartWith {
            name: name.into(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        })
    }

    /// Starts an ad-hoc bounded process inside the lab (an attacker, a
    /// workload); see [`crate::spawn::Spawned`].
    pub fn spawn(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<crate::spawn::Spawned> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        crate::spawn::Spawned::start(&self.agent_addr, &self.token, program, &args, timeout)
    }

    /// Kills pool element number `i` (from 1, in topology order).
    pub fn kill_pe(&self, i: usize) -> Result<()> {
        let name = self.nth_name(ProcessKind::PoolElement, i)?;
        self.kill(&name)
    }

    /// Kills registrar number `i` (from 1).
    pub fn kill_registrar(&self, i: usize) -> Result<()> {
        let name = self.nth_name(ProcessKind::Registrar, i)?;
        self.kill(&name)
    }

    fn nth_name(&self, kind: ProcessKind, i: usize) -> Result<String> {
        let names: Vec<String> = self
            .topology
            .process_specs()
            .into_iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.name)
            .collect();
        i.checked_sub(1)
            .and_then(|k| names.get(k).cloned())
            .with_context(|| format!("no {kind:?} number {i} (have {})", names.len()))
    }

    pub fn status(&self) -> Result<Vec<ProcessState>> {
        match self.request(Request::Status)? {
            Response::Status { processes, .. } => Ok(processes),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    /// Whether a process is running.
    pub fn is_running(&self, name: &str) -> Result<bool> {
        Ok(self
            .status()?
            .iter()
            .any(|p| p.name == name && p.state == RunState::Running))
    }

    /// Runs a command inside the environment; `(exit code, stdout, stderr)`.
    pub fn exec(&self, program: &str, args: &[&str], timeout: Duration) -> Result<ExecOutput> {
        match self.request(Request::Exec {
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        })? {
            Response::Exec {
                code,
                stdout,
                stderr,
                timed_out,
            } => Ok(ExecOutput {
                code,
                stdout,
                stderr,
                timed_out,
            }),
            Response::Error { message } => bail!("exec {program}: {message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    pub fn logs(&self, name: &str, lines: usize) -> Result<Vec<String>> {
        match self.request(Request::Logs {
            name: name.into(),
            lines,
        })? {
            Response::Logs { lines } => Ok(lines),
            Response::Error { message } => bail!("{message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    /// PE counts per pool at registrar `i` (from 1), from RSPLIB's hsdump.
    pub fn pools_at_registrar(
        &self,
        i: usize,
    ) -> Result<std::collections::BTreeMap<String, usize>> {
        let ep = format!(
            "{}:{}",
            Topology::registrar_address(i - 1),
            crate::topology::ENRP_PORT
        );
        let out = self.exec("hsdump", &[&ep], Duration::from_secs(10))?;
        Ok(crate::hsdump::pool_sizes(&out.stdout))
    }

    /// `None` while the environment runs; once qemu (or, natively, the
    /// agent) has exited on its own, why. `rserpool lab up` polls this so
    /// that a lab that died says so instead of waiting on (issue 10, item 7).
    pub fn died(&mut self) -> Option<String> {
        if let Some(vm) = self.vm.as_mut() {
            return vm.exit();
        }
        let agent = self.native_agent.as_mut()?;
        let status = agent.try_wait().ok()??;
        Some(format!(
            "the native lab agent (pid {}) exited: {status}; logs in {}",
            agent.id(),
            self.run_dir.join("logs").display()
        ))
    }

    /// Where qemu's stderr is kept (`None` natively).
    pub fn qemu_stderr_path(&self) -> Option<PathBuf> {
        self.vm.as_ref().map(|vm| vm.stderr_path().to_path_buf())
    }

    /// qemu's process id (`None` natively or after shutdown).
    pub fn vm_pid(&self) -> Option<u32> {
        self.vm.as_ref().and_then(Vm::pid)
    }

    /// Shuts the environment down (also done on drop).
    pub fn shutdown(&mut self) {
        if let Some(mut vm) = self.vm.take() {
            vm.kill();
        }
        if self.native_agent.is_some() {
            // Natively, registrars and PEs are the agent's children on this
            // host: end them through the agent before the agent itself, so
            // that nothing is left behind (in the VM, qemu takes all).
            if let Ok(status) = self.status() {
                for p in status.iter().filter(|p| p.state == RunState::Running) {
                    let _ = self.kill(&p.name);
                }
            }
        }
        if let Some(mut c) = self.native_agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One request to a lab agent at `addr` (`127.0.0.1:port`), authenticated
/// with the run's token, on a fresh connection.
pub fn request_agent(addr: &str, token: &str, req: Request) -> Result<Response> {
    let mut s = TcpStream::connect(addr)
        .with_context(|| format!("connecting to the lab agent at {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(660)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut exchange = |req: &Request| -> Result<Response> {
        writeln!(s, "{}", serde_json::to_string(req)?)?;
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            bail!("the lab agent closed the connection");
        }
        serde_json::from_str(line.trim()).with_context(|| format!("agent answer {line:?}"))
    };
    if let Response::Error { message } = exchange(&Request::Hello {
        token: token.to_string(),
    })? {
        bail!("lab agent: {message}");
    }
    exchange(&req)
}

/// Output of [`Lab::exec`].
#[derive(Clone, Debug)]
pub struct ExecOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_init_adds_registrar_addresses_and_starts_the_agent() {
        let s = guest_init_script(&Topology::default());
        for i in 1..=3 {
            assert!(s.contains(&format!("ip addr add 10.1.0.{i}/32 dev lo")));
        }
        assert!(
            s.contains("ip addr add 10.9.0.1/32 dev lo"),
            "the attackers' address"
        );
        assert!(s.contains("exec /share/bin/rserpool-lab-agent"));
        assert!(s.contains("--token-file /share/token"));
    }

    #[test]
    fn the_share_is_slash_share_in_the_vm_and_the_run_directory_natively() {
        let run = Path::new("/cache/runs/1-ab");
        assert_eq!(Share::of(Mode::Vm, run).guest, Path::new("/share"));
        assert_eq!(Share::of(Mode::Vm, run).host, run);
        assert_eq!(Share::of(Mode::Native, run).guest, run);
    }

    #[test]
    fn native_mode_points_share_paths_into_the_run_directory() {
        let t = native_paths(&Topology::default(), Path::new("/tmp/run-1"));
        let gw = t.processes.iter().find(|p| p.name == "gateway").unwrap();
        assert!(gw.args.iter().any(|a| a == "/tmp/run-1/certs/server.pem"));
        assert!(gw.args.iter().all(|a| !a.contains("/share/")));
        // Registrars and PEs are untouched.
        assert_eq!(t.registrars, Topology::default().registrars);
    }

    #[test]
    fn mode_can_be_forced_by_environment() {
        // Detection itself depends on the kernel; the override does not.
        std::env::set_var("RSERPOOL_LAB_MODE", "vm");
        assert_eq!(Mode::detect().unwrap(), Mode::Vm);
        std::env::set_var("RSERPOOL_LAB_MODE", "native");
        assert_eq!(Mode::detect().unwrap(), Mode::Native);
        std::env::set_var("RSERPOOL_LAB_MODE", "bogus");
        assert!(Mode::detect().is_err());
        std::env::remove_var("RSERPOOL_LAB_MODE");
    }
}
