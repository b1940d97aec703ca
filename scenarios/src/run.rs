//! The runner: one scenario against a running lab, through its agent (so
//! it works from any process that knows the agent's address and token —
//! the CLI reads them from `current.json`, the control server runs inside
//! `lab up`). Samples every registrar's handlespace (RSPLIB's `hsdump`)
//! every 250 ms, starts the attacker and the workload (`rserpool-actor`,
//! inside the lab) for their phases, and writes a [`RunRecord`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rserpool_lab::hsdump;
use rserpool_lab::proto::{Request, Response, RunState};
use rserpool_lab::topology::{ProcessKind, ENRP_PORT};
use rserpool_lab::{request_agent, Topology};

use crate::actor_args::{attacker_args, workload_args};
use crate::catalogue::{Catalogue, PhaseName, Scenario};
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
}

impl LabHandle {
    pub fn of(lab: &rserpool_lab::Lab) -> LabHandle {
        LabHandle {
            agent: lab.agent_addr().to_string(),
            token: lab.token().to_string(),
            topology: lab.topology().clone(),
        }
    }

    fn exec(&self, program: &str, args: &[String], timeout: Duration) -> Result<String> {
        match request_agent(
            &self.agent,
            &self.token,
            Request::Exec {
                program: program.into(),
                args: args.to_vec(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            },
        )? {
            Response::Exec { stdout, .. } => Ok(stdout),
            Response::Error { message } => bail!("exec {program}: {message}"),
            other => bail!("unexpected agent answer {other:?}"),
        }
    }

    /// Every registrar's handlespace, in topology order (`None` where
    /// hsdump did not answer).
    pub fn handlespaces(&self) -> Vec<Option<hsdump::Handlespace>> {
        (0..self.topology.registrars.len())
            .map(|i| {
                let ep = format!("{}:{ENRP_PORT}", Topology::registrar_address(i));
                self.exec("hsdump", &[ep], Duration::from_secs(3))
                    .ok()
                    .and_then(|t| hsdump::parse_handlespace(&t))
            })
            .collect()
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
/// topology that are not running, then waits until the topology is ready.
/// Returns what it restored.
pub fn restore(lab: &LabHandle) -> Result<Vec<String>> {
    let mut restored = Vec::new();
    if let Response::Status { processes, .. } =
        request_agent(&lab.agent, &lab.token, Request::Status)?
    {
        for p in processes.iter().filter(|p| {
            p.state != RunState::Running
                && matches!(p.kind, ProcessKind::Registrar | ProcessKind::PoolElement)
        }) {
            request_agent(
                &lab.agent,
                &lab.token,
                Request::Start {
                    name: p.name.clone(),
                },
            )?;
            restored.push(p.name.clone());
        }
    }
    match request_agent(
        &lab.agent,
        &lab.token,
        Request::WaitReady { timeout_ms: 30_000 },
    )? {
        Response::Ok
        | Response::Status {
            ready_after_ms: Some(_),
            ..
        } => {
            // The agent's readiness can come before every registrar lists a
            // restarted PE again: wait for it in hsdump, as samples see it.
            let expected = lab.topology.expected_pools();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let full = lab.handlespaces().iter().all(|h| {
                    h.as_ref().is_some_and(|h| {
                        expected.iter().all(|(pool, n)| {
                            h.pools.get(pool).is_some_and(|p| p.elements.len() == *n)
                        })
                    })
                });
                if full {
                    return Ok(restored);
                }
                if Instant::now() > deadline {
                    bail!("not every registrar lists every PE 30 s after restore");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
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

/// Runs `scenario` on `lab`. `on_progress` is called after every sample;
/// setting `stop` ends the run early (the record is still returned, with
/// the phases cut where it stopped).
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
    let scale = if opts.phase_scale > 0.0 {
        opts.phase_scale
    } else {
        1.0
    };
    let phases = scenario.scaled_phases(scale);
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
    let pool = scenario.topology.pool.clone();
    let own: BTreeSet<u32> = lab
        .handlespaces()
        .iter()
        .flatten()
        .filter_map(|h| h.pools.get(&pool))
        .flat_map(|p| p.elements.iter().map(|e| e.id))
        .collect();
    let mut spans = Vec::new();
    let mut t = 0;
    for p in &phases {
        spans.push(PhaseSpan {
            name: p.name,
            start_ms: t,
            end_ms: t + p.duration_ms,
        });
        t += p.duration_ms;
    }
    let total_ms = t;
    let attack = spans.iter().find(|s| s.name == PhaseName::Attack).copied();
    let started_at = rfc3339_now();
    let t0 = Instant::now();
    let actor_out: Arc<Mutex<Vec<ActorOutput>>> = Arc::default();
    let mut threads = Vec::new();
    if let Some(args) = workload_args(scenario, &lab.topology, &own, total_ms, opts.seed) {
        let (lab, out) = (lab.clone(), actor_out.clone());
        threads.push(std::thread::spawn(move || {
            let text = lab
                .exec(
                    "rserpool-actor",
                    &args,
                    Duration::from_millis(total_ms + 5000),
                )
                .unwrap_or_else(|e| format!("workload failed: {e:#}"));
            out.lock().unwrap().push(parse_actor_output(&text, 0));
        }));
    }
    if let Some(span) = attack {
        if let Some(args) = attacker_args(
            scenario,
            &lab.topology,
            &own,
            &params,
            span.end_ms - span.start_ms,
            opts.seed,
        ) {
            let (lab, out) = (lab.clone(), actor_out.clone());
            let dur = span.end_ms - span.start_ms;
            threads.push(std::thread::spawn(move || {
                let wait = Duration::from_millis(span.start_ms).saturating_sub(t0.elapsed());
                std::thread::sleep(wait);
                let start = t0.elapsed().as_millis() as u64;
                let text = lab
                    .exec("rserpool-actor", &args, Duration::from_millis(dur + 5000))
                    .unwrap_or_else(|e| format!("attacker failed: {e:#}"));
                let mut o = parse_actor_output(&text, start);
                o.events.insert(
                    0,
                    Event {
                        t_ms: start,
                        kind: EventKind::AttackStart,
                        node: None,
                        detail: Some(args.join(" ")),
                    },
                );
                o.events.push(Event {
                    t_ms: t0.elapsed().as_millis() as u64,
                    kind: EventKind::AttackStop,
                    node: None,
                    detail: o.done.as_ref().map(|d| d.to_string()),
                });
                out.lock().unwrap().push(o);
            }));
        }
    }
    let mut samples = Vec::new();
    let mut next = SAMPLE_MS;
    while next <= total_ms && !stop.load(Ordering::Relaxed) {
        let wait = Duration::from_millis(next).saturating_sub(t0.elapsed());
        std::thread::sleep(wait);
        let values = handlespace_values(&lab.handlespaces(), &pool, &own);
        let sample = Sample { t_ms: next, values };
        let phase = spans
            .iter()
            .find(|s| next > s.start_ms && next <= s.end_ms)
            .map_or(PhaseName::Recovery, |s| s.name);
        on_progress(&Progress {
            phase,
            elapsed_ms: t0.elapsed().as_millis() as u64,
            sample: sample.clone(),
        });
        samples.push(sample);
        next += SAMPLE_MS;
    }
    let ended = samples.last().map_or(0, |s| s.t_ms);
    if ended < total_ms {
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
    for th in threads {
        let _ = th.join();
    }
    let mut actions = Vec::new();
    for o in std::mem::take(&mut *actor_out.lock().unwrap()) {
        actions.extend(o.actions);
        events.extend(o.events);
        for (t, values) in o.samples {
            let slot = t.div_ceil(SAMPLE_MS) * SAMPLE_MS;
            if let Some(s) = samples.iter_mut().find(|s| s.t_ms == slot) {
                s.values.extend(values);
            }
        }
    }
    for s in &mut samples {
        if let (Some(hit), Some(ok)) = (
            s.values.get("hit_fake").copied(),
            s.values.get("resolutions_ok").copied(),
        ) {
            if ok > 0.0 {
                s.values.insert("hit_fake_share".into(), hit / ok);
            }
        }
    }
    events.sort_by_key(|e| e.t_ms);
    let summary = record::summarise(&spans, &samples);
    let verdict = scenario
        .expectation
        .as_ref()
        .map(|e| record::judge(e, &defences, &summary));
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
        verdict,
        command: opts.command.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
