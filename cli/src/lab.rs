//! `rserpool lab …`: start, inspect and stop the lab environment (live
//! RSPLIB registrars and PEs plus the gateway; a micro-VM where the kernel
//! has no SCTP).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rserpool_lab::proto::{Request, Response};
use rserpool_lab::{request_agent, Lab, LabOptions, Mode, Topology};
use serde::{Deserialize, Serialize};

use crate::control::{ControlOptions, ControlServer, LabAccess};

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Start the lab (embedded default topology unless --topology), print
    /// how to reach it, and keep it running until Ctrl-C or `lab down`.
    Up {
        /// Topology file (TOML).
        #[arg(long)]
        topology: Option<PathBuf>,
        /// Force `vm` or `native` (default: native if the kernel has SCTP).
        #[arg(long)]
        mode: Option<String>,
        /// Port of the lab page on 127.0.0.1 (default: a free one).
        #[arg(long, default_value_t = 0)]
        page_port: u16,
        /// Directory of the built lab page (default: $RSERPOOL_LAB_UI, else
        /// the repository's lab-ui/dist).
        #[arg(long)]
        ui_dir: Option<PathBuf>,
    },
    /// Stop the lab started by `lab up` in another shell.
    Down,
    /// Make your browsers trust this machine's lab CA (Chromium's NSS
    /// database and every Firefox profile), so the lab page works in them.
    Trust {
        /// Remove the lab CA from those stores instead.
        #[arg(long)]
        remove: bool,
    },
    /// Processes of the running lab and their state.
    Status,
    /// Kill (SIGKILL) a process of the running lab, e.g. `pe-1`, `registrar-2`.
    Kill { name: String },
    /// Start a process of the running lab again.
    Restart { name: String },
    /// Run a command inside the lab environment, e.g. `hsdump 10.1.0.1:9901`.
    Exec {
        program: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// What `lab up` leaves for the other `lab` commands.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    pid: u32,
    agent: String,
    token: String,
    gateway_urls: Vec<String>,
    gateway_ca: PathBuf,
    /// The lab page with this run's secret (`http://127.0.0.1:P/#key=…`).
    #[serde(default)]
    page_url: String,
    /// Set by `lab up` when the lab died under it (qemu or the agent gone):
    /// why, so that `lab status` can say so.
    #[serde(default)]
    dead: Option<String>,
    /// The topology the lab was started with (for `rserpool scenario run`).
    #[serde(default)]
    topology: Option<rserpool_lab::Topology>,
    /// The directory the lab shares with the host (where `scenario run
    /// --pcap` has the capture written).
    #[serde(default)]
    share: Option<rserpool_lab::Share>,
}

/// The running lab as the scenario runner reaches it (agent address,
/// token, topology, share), from `current.json` (written by `lab up`).
pub fn current_lab() -> Result<rserpool_scenarios::LabHandle> {
    let s = load_state()?;
    Ok(rserpool_scenarios::LabHandle {
        agent: s.agent,
        token: s.token,
        topology: s.topology.unwrap_or_default(),
        share: s.share,
    })
}

/// The running lab's gateway URLs and CA, if a lab is running here (its
/// `lab up` process alive and not dead): what `resolve` and `session` use
/// when no registrar is given.
pub fn running_lab_gateways() -> Option<(Vec<String>, PathBuf)> {
    let s = load_state().ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(i32::try_from(s.pid).ok()?, 0) } == 0;
    (alive && s.dead.is_none() && !s.gateway_urls.is_empty())
        .then_some((s.gateway_urls, s.gateway_ca))
}

fn state_file() -> PathBuf {
    rserpool_lab::image::cache_root().join("current.json")
}

fn load_state() -> Result<State> {
    let p = state_file();
    let text = std::fs::read_to_string(&p).with_context(|| {
        format!(
            "no running lab ({} missing; start one with `rserpool lab up`)",
            p.display()
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}

fn agent(req: Request) -> Result<Response> {
    let s = load_state()?;
    request_agent(&s.agent, &s.token, req)
}

/// Like [`agent`], but a lab that died is reported as dead (with the reason
/// `lab up` recorded), not as a refused connection.
fn live_agent(req: Request) -> Result<Response> {
    let s = load_state()?;
    if let Some(why) = &s.dead {
        bail!("the lab is dead: {why}");
    }
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(i32::try_from(s.pid)?, 0) } != 0 {
        bail!(
            "the lab is dead: its `rserpool lab up` process (pid {}) is gone",
            s.pid
        );
    }
    request_agent(&s.agent, &s.token, req).context("the lab runs but its agent does not answer")
}

/// `lab exec`'s command ended with this status (passed through as
/// `rserpool`'s own).
#[derive(Debug)]
pub struct InnerExit(pub u8);

impl std::fmt::Display for InnerExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the command exited with status {}", self.0)
    }
}

impl std::error::Error for InnerExit {}

/// A PE of the running lab as its registrars list it.
struct ListedPe {
    id: u32,
    pool: String,
    /// Its home registrar's topology name (or identifier).
    home: String,
}

/// The running lab's PEs by process name: every registrar's hsdump
/// (RSPLIB names a PE only by identifier and transport port), joined with
/// the lab process that holds each port. Empty if the lab cannot tell.
fn pool_elements_by_name() -> std::collections::HashMap<String, ListedPe> {
    let mut found = std::collections::HashMap::new();
    let Ok(s) = load_state() else {
        return found;
    };
    let topology = s.topology.clone().unwrap_or_default();
    let access = LabAccess {
        mode: Mode::Vm,
        topology: topology.clone(),
        agent: s.agent.clone(),
        token: s.token.clone(),
        gateway_urls: s.gateway_urls.clone(),
        share: s.share.clone(),
    };
    let Ok(owners) = crate::control::nodes::port_owners(&access) else {
        return found;
    };
    let names = crate::control::nodes::registrar_names(&access);
    for i in 0..topology.registrars.len() {
        let Ok(Response::Exec { stdout, .. }) = request_agent(
            &s.agent,
            &s.token,
            Request::Exec {
                program: "hsdump".into(),
                args: vec![format!(
                    "{}:{}",
                    Topology::registrar_address(i),
                    rserpool_lab::topology::ENRP_PORT
                )],
                timeout_ms: 10_000,
            },
        ) else {
            continue;
        };
        let Some(hs) = rserpool_lab::hsdump::parse_handlespace(&stdout) else {
            continue;
        };
        for (pool, p) in hs.pools {
            for e in p.elements {
                if let Some(name) = owners.get(&e.port) {
                    found.entry(name.clone()).or_insert_with(|| ListedPe {
                        id: e.id,
                        pool: pool.clone(),
                        home: names
                            .get(&e.home)
                            .cloned()
                            .unwrap_or_else(|| format!("0x{:08x}", e.home)),
                    });
                }
            }
        }
    }
    found
}

fn ok(r: Response) -> Result<()> {
    match r {
        Response::Ok => Ok(()),
        Response::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer {other:?}"),
    }
}

pub fn run(cmd: LabCommand, json: bool, out: &mut dyn Write) -> Result<()> {
    match cmd {
        LabCommand::Up {
            topology,
            mode,
            page_port,
            ui_dir,
        } => {
            let page = ControlOptions {
                port: page_port,
                ui_dir: ui_dir.unwrap_or_else(crate::control::default_ui_dir),
                runner: Some(std::sync::Arc::new(crate::control::ScenarioLibrary)),
            };
            up(topology, mode, page, json, out)
        }
        LabCommand::Trust { remove } => crate::trust::run(remove, json, out),
        LabCommand::Down => {
            let s = load_state()?;
            let pid = i32::try_from(s.pid)?;
            // SAFETY: kill(2) with a pid we recorded; SIGTERM lets `lab up`
            // shut the environment down and remove the state file.
            if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
                let _ = std::fs::remove_file(state_file());
                bail!("lab process {pid} is gone; removed its stale state");
            }
            for _ in 0..200 {
                if !state_file().exists() {
                    writeln!(out, "lab stopped")?;
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            bail!("lab process {pid} did not stop within 10 s")
        }
        LabCommand::Status => match live_agent(Request::Status)? {
            Response::Status {
                processes,
                ready_after_ms,
            } => {
                let pes = pool_elements_by_name();
                if json {
                    // One object per line (docs/cli.md), PEs with what the
                    // registrars know of them.
                    for p in processes {
                        let mut v = serde_json::to_value(&p)?;
                        if let (Some(pe), serde_json::Value::Object(m)) = (pes.get(&p.name), &mut v)
                        {
                            m.insert("pe_id".into(), format!("0x{:08x}", pe.id).into());
                            m.insert("pool".into(), pe.pool.clone().into());
                            m.insert("home_registrar".into(), pe.home.clone().into());
                        }
                        writeln!(out, "{v}")?;
                    }
                } else {
                    if let Some(ms) = ready_after_ms {
                        writeln!(out, "ready {ms} ms after start")?;
                    }
                    for p in processes {
                        let pe = pes
                            .get(&p.name)
                            .map(|pe| format!("0x{:08x} {}", pe.id, pe.pool))
                            .unwrap_or_default();
                        writeln!(
                            out,
                            "{:<16} {:<13} {:<11} {:<20} {}",
                            p.name,
                            format!("{:?}", p.kind),
                            format!("{:?}", p.state),
                            pe,
                            p.command
                        )?;
                    }
                }
                Ok(())
            }
            other => bail!("unexpected answer {other:?}"),
        },
        LabCommand::Kill { name } => ok(agent(Request::Kill { name })?),
        LabCommand::Restart { name } => ok(agent(Request::Restart { name })?),
        LabCommand::Exec { program, args } => match agent(Request::Exec {
            program,
            args,
            timeout_ms: 60_000,
        })? {
            Response::Exec {
                code,
                stdout,
                stderr,
                ..
            } => {
                write!(out, "{stdout}")?;
                eprint!("{stderr}");
                match code {
                    Some(0) => Ok(()),
                    // Statuses above 255 do not exist on Unix; clamp.
                    Some(c) => Err(InnerExit(u8::try_from(c).unwrap_or(255)).into()),
                    None => bail!("the command was killed (signal or the 60 s timeout)"),
                }
            }
            Response::Error { message } => bail!("{message}"),
            other => bail!("unexpected answer {other:?}"),
        },
    }
}

/// When `lab up` started: the phases below print their time since it.
static LAB_UP_STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// `lab up`'s progress on stderr: each start-up phase as it begins, with
/// the time since the command started.
fn print_phase(p: rserpool_lab::LabPhase) {
    let t0 = *LAB_UP_STARTED.get_or_init(std::time::Instant::now);
    eprintln!("[{:>6.1} s] {p}…", t0.elapsed().as_secs_f64());
}

fn up(
    topology: Option<PathBuf>,
    mode: Option<String>,
    page: ControlOptions,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if let Ok(s) = load_state() {
        // SAFETY: signal 0 only checks that the process exists.
        if unsafe { libc::kill(i32::try_from(s.pid)?, 0) } == 0 {
            bail!(
                "a lab is already running (pid {}); `rserpool lab down` first",
                s.pid
            );
        }
    }
    let topology = match topology {
        Some(p) => Topology::load(&p)?,
        None => Topology::default(),
    };
    let mode = match mode.as_deref() {
        None => None,
        Some("vm") => Some(Mode::Vm),
        Some("native") => Some(Mode::Native),
        Some(m) => bail!("--mode {m}: use vm or native"),
    };
    LAB_UP_STARTED.get_or_init(std::time::Instant::now);
    let lab = Lab::start(LabOptions {
        topology,
        mode,
        on_phase: Some(print_phase),
        ..LabOptions::default()
    })?;
    let access = LabAccess::of(&lab);
    let gateway_urls = access.gateway_urls.clone();
    let control = ControlServer::start(access, page)?;
    let state = State {
        pid: std::process::id(),
        agent: lab.agent_addr().to_string(),
        token: lab.token().to_string(),
        gateway_urls: gateway_urls.clone(),
        gateway_ca: lab.gateway_ca(),
        page_url: control.page_url(),
        dead: None,
        topology: Some(lab.topology().clone()),
        share: Some(lab.share()),
    };
    std::fs::write(state_file(), serde_json::to_string_pretty(&state)?)?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&state)?)?;
    } else {
        writeln!(
            out,
            "lab ready in {:.1} s ({:?} mode)",
            lab.boot_time.as_secs_f64(),
            lab.mode()
        )?;
        for (i, a) in lab.addresses().iter().enumerate() {
            writeln!(out, "  registrar-{}  sctp://{a}  (inside the lab)", i + 1)?;
        }
        for u in &gateway_urls {
            writeln!(out, "  gateway      {u}")?;
        }
        writeln!(out, "  gateway CA   {}", lab.gateway_ca().display())?;
        writeln!(
            out,
            "  agent        {} (token in {})",
            lab.agent_addr(),
            state_file().display()
        )?;
        if let Some(u) = gateway_urls.first() {
            writeln!(out, "\nURL: {u}")?;
            writeln!(
                out,
                "try: rserpool resolve EchoPool --registrar {u} --ca {}",
                lab.gateway_ca().display()
            )?;
        }
        writeln!(out, "Ctrl-C or `rserpool lab down` stops it.")?;
        writeln!(
            out,
            "Browser: run `rserpool lab trust` once per machine so it trusts the lab gateway."
        )?;
        writeln!(out, "\nlab page: {}", control.page_url())?;
    }
    out.flush()?;
    // Wait for SIGINT/SIGTERM, then shut down (Lab's Drop kills the VM);
    // meanwhile watch qemu (or the native agent) and the agent's answers, so
    // that a lab that died says so (issue 10, item 7).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut lab = lab;
    let died = rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut ticks = 0u64;
        let mut agent_failures = 0u32;
        loop {
            tokio::select! {
                _ = term.recv() => return anyhow::Ok(None),
                _ = &mut ctrl_c => return anyhow::Ok(None),
                _ = tick.tick() => {}
            }
            if let Some(why) = lab.died() {
                return Ok(Some(why));
            }
            ticks += 1;
            // Every 5 s: the agent must answer within 10 s; three misses in
            // a row and the lab counts as dead.
            if ticks % 10 == 0 {
                let (addr, token) = (state.agent.clone(), state.token.clone());
                let answer = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio::task::spawn_blocking(move || {
                        request_agent(&addr, &token, Request::Status)
                    }),
                )
                .await;
                match answer {
                    Ok(Ok(Ok(_))) => agent_failures = 0,
                    Ok(Ok(Err(e))) => {
                        agent_failures += 1;
                        if agent_failures >= 3 {
                            return Ok(Some(format!("the lab agent no longer answers: {e:#}")));
                        }
                    }
                    _ => {
                        agent_failures += 1;
                        if agent_failures >= 3 {
                            return Ok(Some(
                                "the lab agent no longer answers (10 s timeouts)".into(),
                            ));
                        }
                    }
                }
            }
        }
    })?;
    if let Some(why) = died {
        eprintln!("the lab died: {why}");
        let dead = State {
            dead: Some(why.clone()),
            ..state
        };
        std::fs::write(state_file(), serde_json::to_string_pretty(&dead)?)?;
        drop(control);
        drop(lab);
        bail!("the lab died: {why}");
    }
    drop(control);
    drop(lab);
    let _ = std::fs::remove_file(state_file());
    Ok(())
}
