//! The runner: one scenario against a running lab, through its agent (so
//! it works from any process that knows the agent's address and token —
//! the CLI reads them from `current.json`, the control server runs inside
//! `lab up`). Samples every registrar's handlespace (RSPLIB's `hsdump`)
//! every 250 ms, starts the attacker and the workload (`rserpool-actor`,
//! inside the lab) for their phases, and writes a [`RunRecord`]. Asked
//! for a capture (`RunOptions::pcap`), it has tcpdump record the whole run
//! inside the lab (`crate::capture`) and notes the file in the record.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rserpool_lab::hsdump;
use rserpool_lab::proto::{Request, Response, RunState, SpawnOutput};
use rserpool_lab::topology::{ProcessKind, ENRP_PORT};
use rserpool_lab::{request_agent, Share, Topology};

use crate::actor_args::{attacker_args_with, workload_args_with};
use crate::catalogue::{Catalogue, PhaseName, Scenario, Worse};
use crate::record::{
    self, Event, EventKind, PeInfo, PhaseSpan, RegistrarInfo, RunRecord, RunTopology, Sample,
};

/// Sampling interval of every run.
pub const SAMPLE_MS: u64 = 250;

/// How to reach a running lab.
#[derive(Clone, Debug)]
pub struct LabHandle {
    pub agent: String,
    pub token: String,
    pub topology: Topology,
    /// The directory the host shares with the lab (where a run's capture
    /// is written); `None` if the caller does not know it (no captures).
    pub share: Option<Share>,
}

impl LabHandle {
    pub fn of(lab: &rserpool_lab::Lab) -> LabHandle {
        LabHandle {
            agent: lab.agent_addr().to_string(),
            token: lab.token().to_string(),
            topology: lab.topology().clone(),
            share: Some(lab.share()),
        }
    }

    fn request(&self, req: Request) -> Result<Response> {
        request_agent(&self.agent, &self.token, req)
    }

    /// Sends `req`; anything but `ok` (or a status) is an error.
    fn ok(&self, req: Request) -> Result<()> {
        match self.request(req)? {
            Response::Ok | Response::Status { .. } => Ok(()),
            Response::Error { message } => bail!("{message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    fn exec(&self, program: &str, args: &[String], timeout: Duration) -> Result<String> {
        match self.request(Request::Exec {
            program: program.into(),
            args: args.to_vec(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        })? {
            Response::Exec { stdout, .. } => Ok(stdout),
            Response::Error { message } => bail!("exec {program}: {message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    /// Every registrar's handlespace, in topology order (`None` where
    /// hsdump did not answer). The registrars are asked at once, so one
    /// sample costs one hsdump round trip, not one per registrar.
    pub fn handlespaces(&self) -> Vec<Option<hsdump::Handlespace>> {
        std::thread::scope(|scope| {
            let asks: Vec<_> = (0..self.topology.registrars.len())
                .map(|i| {
                    scope.spawn(move || {
                        let ep = format!("{}:{ENRP_PORT}", Topology::registrar_address(i));
                        self.exec("hsdump", &[ep], Duration::from_secs(3))
                            .ok()
                            .and_then(|t| hsdump::parse_handlespace(&t))
                    })
                })
                .collect();
            asks.into_iter().map(|h| h.join().ok().flatten()).collect()
        })
    }

    /// Pools of the topology that some registrar does not list in full,
    /// after waiting up to `patience` for them to fill.
    fn short_pools(&self, patience: Duration) -> Vec<String> {
        let expected = self.topology.expected_pools();
        let deadline = Instant::now() + patience;
        loop {
            let dumps = self.handlespaces();
            let short: Vec<String> = expected
                .iter()
                .filter(|(pool, n)| {
                    !dumps.iter().all(|h| {
                        h.as_ref().is_some_and(|h| {
                            h.pools.get(*pool).is_some_and(|p| p.elements.len() == **n)
                        })
                    })
                })
                .map(|(pool, _)| pool.to_string())
                .collect();
            if short.is_empty() || Instant::now() > deadline {
                return short;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn spawn(&self, args: &[String], timeout_ms: u64) -> Result<u64> {
        self.spawn_program("rserpool-actor", args, timeout_ms)
    }

    pub(crate) fn spawn_program(
        &self,
        program: &str,
        args: &[String],
        timeout_ms: u64,
    ) -> Result<u64> {
        match self.request(Request::Spawn {
            program: program.into(),
            args: args.to_vec(),
            timeout_ms,
        })? {
            Response::Spawned { id } => Ok(id),
            Response::Error { message } => bail!("starting {program}: {message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    pub(crate) fn spawn_output(
        &self,
        id: u64,
        from_line: usize,
        stop: bool,
    ) -> Result<SpawnOutput> {
        let req = if stop {
            Request::SpawnStop { id, from_line }
        } else {
            Request::SpawnOutput { id, from_line }
        };
        match self.request(req)? {
            Response::SpawnOutput(o) => Ok(o),
            Response::Error { message } => bail!("actor {id}: {message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }
}

/// What a run is asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub seed: u64,
    /// `--defence NAME=on|off`.
    pub defences: Vec<(String, bool)>,
    /// `--param NAME=VALUE`.
    pub params: Vec<(String, f64)>,
    /// Phase durations scaled by this (1.0 when 0).
    pub phase_scale: f64,
    /// The command line that reproduces the run (written in the record).
    pub command: String,
    /// Capture the run's ASAP/ENRP traffic into this file on the host
    /// (`crate::capture`; its summary in the record's `pcap`).
    pub pcap: Option<std::path::PathBuf>,
}

/// Reported to the caller after every sample.
#[derive(Clone, Debug)]
pub struct Progress {
    pub phase: PhaseName,
    pub elapsed_ms: u64,
    pub sample: Sample,
}

/// An actor's stdout, sorted into actions, samples and events (lines that
/// are not JSON are kept as notes).
#[derive(Debug, Default, PartialEq)]
pub struct ActorOutput {
    pub actions: Vec<serde_json::Value>,
    pub samples: Vec<(u64, BTreeMap<String, f64>)>,
    pub events: Vec<Event>,
    pub done: Option<serde_json::Value>,
}

pub fn parse_actor_output(text: &str, offset_ms: u64) -> ActorOutput {
    let mut out = ActorOutput::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            out.events.push(Event {
                t_ms: offset_ms,
                kind: EventKind::Note,
                node: None,
                detail: Some(format!("actor: {line}")),
            });
            continue;
        };
        let t = offset_ms + v.get("t_ms").and_then(|t| t.as_u64()).unwrap_or(0);
        if v.get("action").is_some() {
            out.actions.push(v);
        } else if let Some(s) = v.get("sample").and_then(|s| s.as_object()) {
            let values = s
                .iter()
                .filter_map(|(k, x)| x.as_f64().map(|x| (k.clone(), x)))
                .collect();
            out.samples.push((t, values));
        } else if let Some(e) = v.get("event").and_then(|e| e.as_str()) {
            let kind = serde_json::from_value(serde_json::Value::String(e.into()))
                .unwrap_or(EventKind::Note);
            out.events.push(Event {
                t_ms: t,
                kind,
                node: v.get("node").and_then(|n| n.as_str()).map(str::to_string),
                detail: v.get("detail").map(|d| match d.as_str() {
                    Some(s) => s.to_string(),
                    None => d.to_string(),
                }),
            });
        } else if v.get("done").is_some() {
            out.done = Some(v);
        }
    }
    out
}

/// The handlespace metrics of one sample: `healthy_pes` (the lab's own
/// PEs listed by the registrar listing fewest) and `fake_pes` (PEs not
/// the lab's own at the registrar listing most).
pub fn handlespace_values(
    dumps: &[Option<hsdump::Handlespace>],
    pool: &str,
    own: &BTreeSet<u32>,
) -> BTreeMap<String, f64> {
    let mut healthy = usize::MAX;
    let mut fake = 0usize;
    for d in dumps {
        let ids: BTreeSet<u32> = d
            .as_ref()
            .and_then(|h| h.pools.get(pool))
            .map(|p| p.elements.iter().map(|e| e.id).collect())
            .unwrap_or_default();
        healthy = healthy.min(ids.intersection(own).count());
        fake = fake.max(ids.difference(own).count());
    }
    if dumps.is_empty() {
        healthy = 0;
    }
    [
        ("healthy_pes".to_string(), healthy as f64),
        ("fake_pes".to_string(), fake as f64),
    ]
    .into()
}

/// Makes every registrar list the same live PEs: starts processes of the
/// topology that are not running, waits until the topology is ready, and
/// where a pool is still short at some registrar (a PE an attack evicted
/// runs on, but RSPLIB lists it again only at its next registration, which
/// may be minutes away) restarts that pool's PEs. Returns what it restored.
pub fn restore(lab: &LabHandle) -> Result<Vec<String>> {
    let mut restored = Vec::new();
    if let Response::Status { processes, .. } = lab.request(Request::Status)? {
        for p in processes.iter().filter(|p| {
            p.state != RunState::Running
                && matches!(p.kind, ProcessKind::Registrar | ProcessKind::PoolElement)
        }) {
            lab.ok(Request::Start {
                name: p.name.clone(),
            })?;
            restored.push(p.name.clone());
        }
    }
    wait_ready(lab)?;
    let short = lab.short_pools(Duration::from_secs(5));
    if short.is_empty() {
        return Ok(restored);
    }
    for pe in lab
        .topology
        .pool_elements
        .iter()
        .filter(|pe| short.contains(&pe.pool))
    {
        lab.ok(Request::Restart {
            name: pe.name.clone(),
        })?;
        restored.push(format!("{} (not listed everywhere)", pe.name));
    }
    wait_ready(lab)?;
    let short = lab.short_pools(Duration::from_secs(30));
    if !short.is_empty() {
        bail!(
            "pools {} are not complete at every registrar 30 s after restarting their PEs",
            short.join(", ")
        );
    }
    Ok(restored)
}

fn wait_ready(lab: &LabHandle) -> Result<()> {
    match lab.request(Request::WaitReady { timeout_ms: 30_000 })? {
        Response::Ok
        | Response::Status {
            ready_after_ms: Some(_),
            ..
        } => Ok(()),
        Response::Status { .. } => bail!("topology not healthy 30 s after restore"),
        Response::Error { message } => bail!("topology not healthy after restore: {message}"),
        other => bail!("unexpected agent answer {other:?}"),
    }
}

fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The registrar that registrar-option defences are applied to (the
/// attackers aim at registrar 1, the topology's first).
const REGISTRAR_UNDER_TEST: &str = "registrar-1";

/// RSPLIB registrar options for the defences that are switched on, and
/// the names of defences switched on that this runner cannot apply.
fn registrar_options(scenario: &Scenario, defences: &BTreeMap<String, bool>) -> Vec<String> {
    let mut v = Vec::new();
    for d in scenario
        .defences
        .iter()
        .filter(|d| defences.get(&d.name) == Some(&true))
    {
        match d.name.as_str() {
            "maxeurate" => v.push("-maxeurate=1".to_string()),
            "maxhrrate" => v.push("-maxhrrate=10".to_string()),
            _ => {}
        }
    }
    v
}

/// Whether this runner can switch `defence` on: an RSPLIB registrar
/// option it restarts registrar-1 with, a lab allow-list table
/// (`defences.rs`), or a setting of the actors' command lines
/// (`actor_args.rs`). A catalogue defence it cannot apply yet is refused
/// rather than reported as defended.
pub fn can_apply(defence: &str) -> bool {
    matches!(
        defence,
        "maxeurate"
            | "maxhrrate"
            | "pool-user-tls-gateway"
            | "gateway-eu-limit"
            | "gateway-hr-limit"
    ) || crate::defences::table_name(defence).is_some()
}

/// Defences switched on that nothing applies yet.
fn unapplied(scenario: &Scenario, defences: &BTreeMap<String, bool>) -> Vec<String> {
    scenario
        .defences
        .iter()
        .filter(|d| defences.get(&d.name) == Some(&true) && !can_apply(&d.name))
        .map(|d| d.name.clone())
        .collect()
}

/// An actor the run started inside the lab, read as it runs.
struct Actor {
    id: u64,
    role: &'static str,
    /// Run time (ms) at which it was started: its `t_ms` are relative to it.
    started_ms: u64,
    next_line: usize,
    running: bool,
    out: ActorOutput,
}

impl Actor {
    fn start(
        lab: &LabHandle,
        role: &'static str,
        args: &[String],
        t_ms: u64,
        limit_ms: u64,
    ) -> Result<Actor> {
        Ok(Actor {
            id: lab.spawn(args, limit_ms)?,
            role,
            started_ms: t_ms,
            next_line: 0,
            running: true,
            out: ActorOutput::default(),
        })
    }

    /// Reads what it printed since the last call (ending it first when
    /// `stop`); returns the sample values among the new lines.
    fn read(
        &mut self,
        lab: &LabHandle,
        stop: bool,
        worse: &BTreeMap<String, Worse>,
    ) -> Result<BTreeMap<String, f64>> {
        if !self.running {
            return Ok(BTreeMap::new());
        }
        let o = lab.spawn_output(self.id, self.next_line, stop)?;
        self.next_line = o.next_line;
        self.running = o.running;
        let mut new = parse_actor_output(&o.lines.join("\n"), self.started_ms);
        if !o.running && new.done.is_none() && self.out.done.is_none() {
            new.events.push(Event {
                t_ms: self.started_ms,
                kind: EventKind::Note,
                node: None,
                detail: Some(format!(
                    "{} ended without its last line (code {:?}, signal {:?}): {}",
                    self.role,
                    o.code,
                    o.signal,
                    o.stderr_tail.join(" | ")
                )),
            });
        }
        // Several windows can arrive between two samples when the lab is
        // slow: each is derived on its own, then they are combined into
        // the worst value per metric (as the phase summary is), so no
        // window's harm is overwritten by a later quiet one.
        let mut values = BTreeMap::new();
        for (_, v) in &new.samples {
            let mut v = v.clone();
            derive(&mut v);
            merge_worst(&mut values, v, worse);
        }
        self.out.actions.append(&mut new.actions);
        self.out.events.append(&mut new.events);
        self.out.samples.append(&mut new.samples);
        if new.done.is_some() {
            self.out.done = new.done;
        }
        Ok(values)
    }
}

/// Runs `scenario` on `lab`. `on_progress` is called after every sample;
/// setting `stop` ends the run early (the actors are stopped; the record
/// is still returned, with the phases cut where it stopped).
///
/// Every sample is stamped with the run time at which it was taken (its
/// hsdump was asked), not a planned slot: under load the samples drift
/// apart rather than lie about when they were seen. Actor sample lines are
/// merged into the first sample taken after they were read; when several
/// of one kind arrive between two samples, the sample keeps the worst
/// value of each metric (no window's harm is overwritten by a later one).
pub fn run(
    lab: &LabHandle,
    scenario: &Scenario,
    opts: &RunOptions,
    mut on_progress: impl FnMut(&Progress),
    stop: &AtomicBool,
) -> Result<RunRecord> {
    let cat = Catalogue::builtin();
    cat.runnable(&scenario.id)?;
    let defences: BTreeMap<String, bool> = scenario
        .defence_settings(&opts.defences)?
        .into_iter()
        .collect();
    let params: BTreeMap<String, f64> = scenario.param_values(&opts.params)?.into_iter().collect();
    if scenario.phases.is_empty() {
        bail!(
            "{} is a probe: run it with `{}`",
            scenario.id,
            scenario.command.as_deref().unwrap_or("rserpool probe")
        );
    }
    let missing = unapplied(scenario, &defences);
    if !missing.is_empty() {
        bail!(
            "the runner cannot apply the defence(s) {} yet; run with {}",
            missing.join(", "),
            missing
                .iter()
                .map(|d| format!("--defence {d}=off"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let scale = if opts.phase_scale > 0.0 {
        opts.phase_scale
    } else {
        1.0
    };
    let phases = scenario.scaled_phases(scale);
    // The capture covers the whole run: the checks and restarts before
    // the phases, and the restore after them.
    let capture = match &opts.pcap {
        None => None,
        Some(dest) => {
            let Some(share) = &lab.share else {
                bail!("a capture needs the lab's share directory, which this lab handle does not know");
            };
            let total_ms: u64 = phases.iter().map(|p| p.duration_ms).sum();
            let limit = Duration::from_millis(total_ms) + CAPTURE_MARGIN;
            Some((crate::capture::Capture::start(lab, share, limit)?, dest))
        }
    };
    let result = staged(
        lab,
        scenario,
        opts,
        &params,
        &defences,
        &phases,
        &mut on_progress,
        stop,
    );
    let Some((capture, dest)) = capture else {
        return result;
    };
    let pcap = capture.finish(dest);
    match (result, pcap) {
        (Ok(mut rec), Ok(info)) => {
            let end = rec.samples.last().map_or(0, |s| s.t_ms);
            if let Some(why) = &info.truncated {
                rec.events.push(Event {
                    t_ms: end,
                    kind: EventKind::Note,
                    node: None,
                    detail: Some(match why.as_str() {
                        "size-cap" => format!(
                            "the capture reached its size cap ({} bytes): later packets are not in it",
                            info.cap_bytes
                        ),
                        _ => format!("the capture ended before the run ({why})"),
                    }),
                });
            }
            rec.pcap = Some(info);
            Ok(rec)
        }
        (Ok(mut rec), Err(e)) => {
            let end = rec.samples.last().map_or(0, |s| s.t_ms);
            rec.events.push(Event {
                t_ms: end,
                kind: EventKind::Note,
                node: None,
                detail: Some(format!("no capture: {e:#}")),
            });
            Ok(rec)
        }
        (Err(e), Ok(_)) => Err(e.context(format!(
            "the capture up to the failure is in {}",
            dest.display()
        ))),
        (Err(e), Err(_)) => Err(e),
    }
}

/// Time a capture may run beyond the run's phases: the topology checks
/// and restores before and after them (each waits up to 30 s twice).
const CAPTURE_MARGIN: Duration = Duration::from_secs(300);

/// The run proper (everything but the capture): the lab restored and set
/// up for the scenario, the phases measured, the lab put back.
#[allow(clippy::too_many_arguments)]
fn staged(
    lab: &LabHandle,
    scenario: &Scenario,
    opts: &RunOptions,
    params: &BTreeMap<String, f64>,
    defences: &BTreeMap<String, bool>,
    phases: &[crate::catalogue::Phase],
    on_progress: &mut impl FnMut(&Progress),
    stop: &AtomicBool,
) -> Result<RunRecord> {
    let defences = defences.clone();
    let params = params.clone();
    let mut events = Vec::new();
    let restored = restore(lab).context("checking the topology before the run")?;
    if !restored.is_empty() {
        events.push(Event {
            t_ms: 0,
            kind: EventKind::Restored,
            node: None,
            detail: Some(format!(
                "started again before the run: {}",
                restored.join(", ")
            )),
        });
    }
    // Defences that are RSPLIB registrar options: registrar 1 (where the
    // attackers aim) restarted with them for the run, plainly after it.
    let options = registrar_options(scenario, &defences);
    if !options.is_empty() {
        lab.ok(Request::RestartWith {
            name: REGISTRAR_UNDER_TEST.into(),
            extra_args: options.clone(),
        })?;
        restore(lab).context("waiting for the registrar restarted with the defence")?;
        events.push(Event {
            t_ms: 0,
            kind: EventKind::Note,
            node: Some(REGISTRAR_UNDER_TEST.into()),
            detail: Some(format!("restarted with {}", options.join(" "))),
        });
    }
    // The lab's stand-ins (packet filter inside the VM) set as asked, for
    // every one the scenario has: a run never inherits another's filter.
    for d in scenario
        .defences
        .iter()
        .filter(|d| crate::defences::table_name(&d.name).is_some())
    {
        let on = defences.get(&d.name) == Some(&true);
        crate::defences::apply(lab, &d.name, on)
            .with_context(|| format!("switching {} {}", d.name, if on { "on" } else { "off" }))?;
        if on {
            events.push(Event {
                t_ms: 0,
                kind: EventKind::Note,
                node: None,
                detail: Some(format!("{} on (lab packet filter)", d.name)),
            });
        }
    }
    // Pool elements of the scenario's own (a pool the lab's topology does
    // not have), started for this run and stopped after it.
    let total_ms: u64 = phases.iter().map(|p| p.duration_ms).sum();
    let run_pes = start_run_pes(lab, scenario, total_ms)?;
    if !run_pes.is_empty() {
        events.push(Event {
            t_ms: 0,
            kind: EventKind::Note,
            node: None,
            detail: Some(format!(
                "started {} rspserver PE(s) of {} for the run",
                run_pes.len(),
                scenario.topology.pool
            )),
        });
    }
    let started_at = rfc3339_now();
    let result = measure(
        lab,
        scenario,
        opts,
        &params,
        &defences,
        phases,
        &mut events,
        on_progress,
        stop,
    );
    // Put the lab back for the next run whatever happened: the run's own
    // PEs stopped (SIGINT: they deregister), the registrar without the
    // defence's options, PEs an attack removed listed again.
    let mut undo = Vec::new();
    for id in run_pes {
        if let Err(e) = lab.spawn_output(id, usize::MAX, true) {
            undo.push(format!("stopping the run's PE {id}: {e:#}"));
        }
    }
    for (name, _) in defences
        .iter()
        .filter(|(n, on)| **on && crate::defences::table_name(n).is_some())
    {
        if let Ok(Some(n)) = crate::defences::dropped(lab, name) {
            events.push(Event {
                t_ms: result.as_ref().map_or(0, |r| r.3),
                kind: EventKind::Note,
                node: None,
                detail: Some(format!("{name} dropped {n} packets")),
            });
        }
        if let Err(e) = crate::defences::apply(lab, name, false) {
            undo.push(format!("switching {name} off: {e:#}"));
        }
    }
    if !options.is_empty() {
        if let Err(e) = lab.ok(Request::Restart {
            name: REGISTRAR_UNDER_TEST.into(),
        }) {
            undo.push(format!("restarting {REGISTRAR_UNDER_TEST} plainly: {e:#}"));
        }
    }
    let (spans, samples, actions, end_ms) = result?;
    match restore(lab) {
        Ok(again) if !again.is_empty() => events.push(Event {
            t_ms: end_ms,
            kind: EventKind::Restored,
            node: None,
            detail: Some(format!("started again after the run: {}", again.join(", "))),
        }),
        Ok(_) => {}
        Err(e) => undo.push(format!("{e:#}")),
    }
    for u in undo {
        events.push(Event {
            t_ms: end_ms,
            kind: EventKind::Note,
            node: None,
            detail: Some(format!("restoring the lab after the run failed: {u}")),
        });
    }
    events.sort_by_key(|e| e.t_ms);
    let worse = scenario
        .metrics
        .iter()
        .map(|m| (m.name.clone(), m.worse))
        .collect();
    let summary = record::summarise(&spans, &samples, &worse);
    let means = record::means(&spans, &samples);
    let mut verdict = scenario
        .expectation
        .as_ref()
        .map(|e| record::judge(e, &defences, &summary, &means));
    // An attack that did not happen proves nothing, whatever the metric
    // says: a defence must not pass because its attacker failed to start.
    let attack_planned = scenario.attacker.is_some()
        && phases.iter().any(|p| p.name == PhaseName::Attack)
        && !stopped_before_attack(&events);
    if attack_planned {
        let failed = attacker_failure(&events);
        if let (Some(why), Some(v)) = (failed, verdict.as_mut()) {
            v.passed = false;
            v.text = format!("the attacker did not run as planned ({why}); {}", v.text);
        }
    }
    let topology = RunTopology {
        registrars: lab
            .topology
            .registrars
            .iter()
            .enumerate()
            .map(|(i, r)| RegistrarInfo {
                name: r.name.clone(),
                id: format!("0x{:08x}", r.id),
                asap: format!("{}:3863", Topology::registrar_address(i)),
                enrp: format!("{}:{ENRP_PORT}", Topology::registrar_address(i)),
            })
            .collect(),
        pool_elements: lab
            .topology
            .pool_elements
            .iter()
            .map(|p| PeInfo {
                name: p.name.clone(),
                pool: p.pool.clone(),
                registrar: p.registrar.clone(),
            })
            .collect(),
    };
    Ok(RunRecord {
        schema: record::SCHEMA.into(),
        scenario: scenario.clone(),
        seed: opts.seed,
        started_at,
        topology,
        defences,
        params,
        phases: spans,
        samples,
        events,
        actions,
        summary,
        means,
        verdict,
        command: opts.command.clone(),
        pcap: None,
    })
}

/// The rspserver command lines of the scenario's own PEs
/// (`Topology::run_pes`): RSPLIB's files (CalcApp's statistics) in /tmp.
pub fn run_pe_args(scenario: &Scenario) -> Vec<Vec<String>> {
    let t = &scenario.topology;
    let mut v = Vec::new();
    for (g, group) in t.run_pes.iter().enumerate() {
        for i in 0..group.count {
            let mut args = vec![
                format!("-{}", group.service),
                format!(
                    "-registrar={}:3863",
                    Topology::registrar_address(group.registrar as usize)
                ),
                format!("-poolhandle={}", t.pool),
            ];
            if group.service == "calcapp" {
                args.push(format!("-capvector=/tmp/run-pe-{g}-{i}.vec"));
                args.push(format!("-capscalar=/tmp/run-pe-{g}-{i}.sca"));
            }
            args.extend(group.options.iter().cloned());
            v.push(args);
        }
    }
    v
}

/// Starts the scenario's own PEs and waits until every registrar lists
/// them; their spawn ids, to stop them after the run.
fn start_run_pes(lab: &LabHandle, scenario: &Scenario, total_ms: u64) -> Result<Vec<u64>> {
    let lines = run_pe_args(scenario);
    let mut ids = Vec::new();
    for args in &lines {
        match lab.spawn_program("rspserver", args, total_ms + 60_000) {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in ids {
                    let _ = lab.spawn_output(id, usize::MAX, true);
                }
                return Err(e);
            }
        }
    }
    if ids.is_empty() {
        return Ok(ids);
    }
    let pool = &scenario.topology.pool;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = lab
            .handlespaces()
            .iter()
            .map(|h| {
                h.as_ref()
                    .and_then(|h| h.pools.get(pool))
                    .map_or(0, |p| p.elements.len())
            })
            .min()
            .unwrap_or(0);
        if listed >= lines.len() {
            return Ok(ids);
        }
        if Instant::now() > deadline {
            for id in ids {
                let _ = lab.spawn_output(id, usize::MAX, true);
            }
            bail!(
                "the run's {} PEs of {pool} are not listed at every registrar 20 s after starting them ({listed} are)",
                lines.len()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

type Measured = (Vec<PhaseSpan>, Vec<Sample>, Vec<serde_json::Value>, u64);

/// The timed part of a run: actors started and read, samples taken, until
/// the phases end or `stop` is set.
#[allow(clippy::too_many_arguments)]
fn measure(
    lab: &LabHandle,
    scenario: &Scenario,
    opts: &RunOptions,
    params: &BTreeMap<String, f64>,
    defences: &BTreeMap<String, bool>,
    phases: &[crate::catalogue::Phase],
    events: &mut Vec<Event>,
    on_progress: &mut impl FnMut(&Progress),
    stop: &AtomicBool,
) -> Result<Measured> {
    let pool = scenario.topology.pool.clone();
    let worse: BTreeMap<String, Worse> = scenario
        .metrics
        .iter()
        .map(|m| (m.name.clone(), m.worse))
        .collect();
    let own: BTreeSet<u32> = lab
        .handlespaces()
        .iter()
        .flatten()
        .filter_map(|h| h.pools.get(&pool))
        .flat_map(|p| p.elements.iter().map(|e| e.id))
        .collect();
    let mut spans = Vec::new();
    let mut t = 0;
    for p in phases {
        spans.push(PhaseSpan {
            name: p.name,
            start_ms: t,
            end_ms: t + p.duration_ms,
        });
        t += p.duration_ms;
    }
    let total_ms = t;
    let attack = spans.iter().find(|s| s.name == PhaseName::Attack).copied();
    let t0 = Instant::now();
    let now = || t0.elapsed().as_millis() as u64;
    let mut actors: Vec<Actor> = Vec::new();
    if let Some(args) =
        workload_args_with(scenario, &lab.topology, &own, defences, total_ms, opts.seed)
    {
        actors.push(Actor::start(
            lab,
            "workload",
            &args,
            now(),
            total_ms + 5000,
        )?);
    }
    let mut attacker_started = false;
    let mut samples: Vec<Sample> = Vec::new();
    let mut next = SAMPLE_MS;
    let stopped = loop {
        if stop.load(Ordering::Relaxed) {
            break true;
        }
        let wait = Duration::from_millis(next).saturating_sub(t0.elapsed());
        std::thread::sleep(wait);
        if let Some(span) = attack.filter(|s| !attacker_started && now() >= s.start_ms) {
            attacker_started = true;
            let start = now();
            let dur = span.end_ms.saturating_sub(start).max(1);
            if let Some(args) = attacker_args_with(
                scenario,
                &lab.topology,
                &own,
                params,
                defences,
                dur,
                opts.seed,
            ) {
                actors.push(Actor::start(lab, "attacker", &args, start, dur + 5000)?);
                events.push(Event {
                    t_ms: start,
                    kind: EventKind::AttackStart,
                    node: None,
                    detail: Some(args.join(" ")),
                });
            }
        }
        let t_ms = now();
        let mut values = handlespace_values(&lab.handlespaces(), &pool, &own);
        for a in &mut actors {
            let v = a.read(lab, false, &worse)?;
            merge_worst(&mut values, v, &worse);
        }
        let sample = Sample { t_ms, values };
        let phase = spans
            .iter()
            .find(|s| t_ms > s.start_ms && t_ms <= s.end_ms)
            .map_or(PhaseName::Recovery, |s| s.name);
        on_progress(&Progress {
            phase,
            elapsed_ms: now(),
            sample: sample.clone(),
        });
        samples.push(sample);
        if t_ms >= total_ms {
            break false;
        }
        next = (next + SAMPLE_MS)
            .max(now() + 1)
            .min(total_ms.max(now() + 1));
    };
    let ended = samples.last().map_or(0, |s| s.t_ms);
    if stopped {
        for s in &mut spans {
            s.end_ms = s.end_ms.min(ended);
        }
        spans.retain(|s| s.start_ms < s.end_ms);
        events.push(Event {
            t_ms: ended,
            kind: EventKind::Note,
            node: None,
            detail: Some("stopped on request".into()),
        });
    }
    // The actors end by themselves at their duration; give them a moment
    // to print their last line, then stop what still runs.
    let grace = Instant::now() + Duration::from_secs(3);
    while !stopped && actors.iter().any(|a| a.running) && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(100));
        for a in &mut actors {
            let late = a.read(lab, false, &worse)?;
            if let Some(last) = samples.last_mut() {
                merge_worst(&mut last.values, late, &worse);
            }
        }
    }
    let mut actions = Vec::new();
    for mut a in actors {
        a.read(lab, true, &worse)?;
        if a.role == "attacker" {
            events.push(Event {
                t_ms: a
                    .out
                    .done
                    .as_ref()
                    .and_then(|d| d.get("t_ms"))
                    .and_then(|t| t.as_u64())
                    .map_or(now(), |t| a.started_ms + t),
                kind: EventKind::AttackStop,
                node: None,
                detail: a.out.done.as_ref().map(|d| d.to_string()),
            });
        }
        actions.append(&mut a.out.actions);
        events.append(&mut a.out.events);
    }
    Ok((spans, samples, actions, now()))
}

/// Adds `new` to `into`, keeping the worse value where both have a
/// metric: the lower where the scenario says lower is worse, else the
/// higher (as `record::summarise` does).
fn merge_worst(
    into: &mut BTreeMap<String, f64>,
    new: BTreeMap<String, f64>,
    worse: &BTreeMap<String, Worse>,
) {
    for (k, v) in new {
        let lower = worse.get(&k) == Some(&Worse::Lower);
        into.entry(k)
            .and_modify(|w| *w = if lower { w.min(v) } else { w.max(v) })
            .or_insert(v);
    }
}

/// Whether the run was stopped before its attacker started.
fn stopped_before_attack(events: &[Event]) -> bool {
    !events.iter().any(|e| e.kind == EventKind::AttackStart)
        && events
            .iter()
            .any(|e| e.detail.as_deref() == Some("stopped on request"))
}

/// Why the attacker did not run as planned: it never started, or its last
/// line says it ended on an error.
fn attacker_failure(events: &[Event]) -> Option<String> {
    if !events.iter().any(|e| e.kind == EventKind::AttackStart) {
        return Some("it never started".into());
    }
    let stop = events.iter().find(|e| e.kind == EventKind::AttackStop)?;
    let done: serde_json::Value = serde_json::from_str(stop.detail.as_deref()?).ok()?;
    (done["reason"] == "error").then(|| {
        let why = events
            .iter()
            .filter(|e| e.kind == EventKind::Note && e.t_ms >= stop.t_ms.saturating_sub(10_000))
            .filter_map(|e| e.detail.as_deref())
            .find(|d| d.contains("fail") || d.contains("error"))
            .unwrap_or("it ended on an error");
        why.to_string()
    })
}

/// Values computed from others in the same sample.
fn derive(values: &mut BTreeMap<String, f64>) {
    if let (Some(hit), Some(ok)) = (
        values.get("hit_fake").copied(),
        values.get("resolutions_ok").copied(),
    ) {
        if ok > 0.0 {
            values.insert("hit_fake_share".into(), hit / ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_together_keep_each_metrics_worst_value() {
        let worse: BTreeMap<String, Worse> = [
            ("rogue_session_share".to_string(), Worse::Higher),
            ("healthy_pes".to_string(), Worse::Lower),
        ]
        .into();
        let out = parse_actor_output(
            concat!(
                r#"{"t_ms":250,"sample":{"rogue_session_share":0.5,"healthy_pes":4,"hit_fake":1,"resolutions_ok":4}}"#,
                "\n",
                r#"{"t_ms":500,"sample":{"rogue_session_share":0,"healthy_pes":3,"hit_fake":0,"resolutions_ok":4}}"#,
            ),
            0,
        );
        let mut merged = BTreeMap::new();
        for (_, v) in out.samples {
            let mut v = v;
            derive(&mut v);
            merge_worst(&mut merged, v, &worse);
        }
        assert_eq!(merged["rogue_session_share"], 0.5);
        assert_eq!(merged["healthy_pes"], 3.0);
        // Each window's share is derived before they are combined.
        assert_eq!(merged["hit_fake_share"], 0.25);
    }

    #[test]
    fn an_attacker_that_ended_on_an_error_is_a_failure_of_the_run() {
        let ev = |kind, detail: &str| Event {
            t_ms: 100,
            kind,
            node: None,
            detail: Some(detail.into()),
        };
        let failed = [
            ev(EventKind::AttackStart, "attack rogue-registrar"),
            ev(
                EventKind::Note,
                "binding 10.9.0.1:3863 failed: Address not available",
            ),
            ev(
                EventKind::AttackStop,
                r#"{"done":true,"reason":"error","sent":0}"#,
            ),
        ];
        let why = attacker_failure(&failed).expect("a failure");
        assert!(why.contains("binding 10.9.0.1:3863 failed"), "{why}");
        let ran = [
            ev(EventKind::AttackStart, "attack eu-flood"),
            ev(
                EventKind::AttackStop,
                r#"{"done":true,"reason":"duration","sent":11}"#,
            ),
        ];
        assert_eq!(attacker_failure(&ran), None);
        assert_eq!(attacker_failure(&[]).as_deref(), Some("it never started"));
        assert!(stopped_before_attack(&[ev(
            EventKind::Note,
            "stopped on request"
        )]));
    }

    #[test]
    fn actor_lines_become_actions_samples_and_events_at_run_time() {
        let text = "{\"t_ms\":10,\"action\":\"register\",\"pe_id\":7}\n\
                    {\"t_ms\":250,\"sample\":{\"resolutions_ok\":4,\"hit_fake\":1}}\n\
                    {\"t_ms\":300,\"event\":\"failover\",\"detail\":\"pe 7\"}\n\
                    not json\n\
                    {\"t_ms\":400,\"done\":true,\"reason\":\"duration\",\"sent\":3}\n";
        let o = parse_actor_output(text, 1000);
        assert_eq!(o.actions.len(), 1);
        assert_eq!(o.actions[0]["pe_id"], 7);
        assert_eq!(o.samples[0].0, 1250);
        assert_eq!(o.samples[0].1["hit_fake"], 1.0);
        assert_eq!(o.events[0].kind, EventKind::Failover);
        assert_eq!(o.events[0].t_ms, 1300);
        assert_eq!(o.events[1].kind, EventKind::Note);
        assert_eq!(o.done.unwrap()["sent"], 3);
    }

    #[test]
    fn handlespace_metrics_count_own_and_fake_pes_at_the_worst_registrar() {
        let dump = |ids: &[u32]| {
            let mut h = hsdump::Handlespace::default();
            h.pools.insert(
                "EchoPool".into(),
                hsdump::DumpedPool {
                    policy: "RoundRobin".into(),
                    elements: ids
                        .iter()
                        .map(|&id| hsdump::DumpedPe {
                            id,
                            home: 1,
                            life_ms: 0,
                            addresses: BTreeSet::new(),
                            port: 1,
                            transport: "sctp".into(),
                            control_channel: true,
                        })
                        .collect(),
                },
            );
            Some(h)
        };
        let own: BTreeSet<u32> = [1, 2, 3, 4].into();
        let v = handlespace_values(
            &[dump(&[1, 2, 3, 4, 9]), dump(&[1, 2]), None],
            "EchoPool",
            &own,
        );
        assert_eq!(v["healthy_pes"], 0.0, "an unanswered registrar lists none");
        let v = handlespace_values(
            &[dump(&[1, 2, 3, 4, 9, 10]), dump(&[1, 2, 3])],
            "EchoPool",
            &own,
        );
        assert_eq!(v["healthy_pes"], 3.0);
        assert_eq!(v["fake_pes"], 2.0);
    }
}
