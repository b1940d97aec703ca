//! Shared helpers of the end-to-end tests: one lab per test binary, and
//! parsers for what RSPLIB's tools print.

use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rserpool_lab::proto::RunState;
use rserpool_lab::topology::Topology;
use rserpool_lab::{Lab, LabOptions};

static LAB: Mutex<Option<Lab>> = Mutex::new(None);

extern "C" fn shutdown_lab() {
    // Statics are never dropped: end the VM and remove the run directory
    // when the test binary exits.
    if let Ok(mut g) = LAB.try_lock() {
        g.take();
    }
}

/// Exclusive access to this binary's lab, started on first use and brought
/// back to the full topology (every process running, every PE visible at
/// every registrar) before it is handed out, so that a failed test does
/// not break the next one. Tests that kill processes therefore need not
/// clean up; they run one at a time.
pub fn lab() -> LabGuard {
    lab_with(Topology::default)
}

/// [`lab()`] with another topology, used if this call starts the lab (one
/// lab per test binary: every test of a binary must ask for the same one).
pub fn lab_with(topology: impl FnOnce() -> Topology + Send + 'static) -> LabGuard {
    let mut g = LAB.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        // qemu is started with PR_SET_PDEATHSIG, which fires when the
        // *thread* that spawned it ends: libtest ends each test's thread,
        // so start the lab on a thread that lives as long as the process.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Lab::start(LabOptions {
                topology: topology(),
                ..LabOptions::default()
            }));
            loop {
                std::thread::park();
            }
        });
        let lab = rx
            .recv()
            .expect("lab thread")
            .unwrap_or_else(|e| panic!("starting the lab: {e:#}"));
        eprintln!("lab up ({:?}) in {:?}", lab.mode(), lab.boot_time);
        // SAFETY: registers a plain extern "C" function without arguments.
        unsafe { libc::atexit(shutdown_lab) };
        *g = Some(lab);
    }
    let guard = LabGuard(g);
    restore(&guard);
    guard
}

pub struct LabGuard(MutexGuard<'static, Option<Lab>>);

impl std::ops::Deref for LabGuard {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        self.0.as_ref().expect("lab started")
    }
}

/// Restarts whatever is not running and waits for the full topology.
fn restore(lab: &Lab) {
    let status = lab.status().expect("lab status");
    for p in status.iter().filter(|p| p.state != RunState::Running) {
        lab.restart(&p.name)
            .unwrap_or_else(|e| panic!("restarting {}: {e:#}", p.name));
    }
    let n = lab.topology().registrars.len();
    let expected = lab.topology().expected_pools();
    // Every registrar lists the expected number of PEs per pool, they all
    // list the same ones, and a process listens on every listed PE's port:
    // a killed PE that has not expired yet plus three live ones also make
    // four.
    wait_until(
        Duration::from_secs(60),
        "full topology at every registrar",
        || {
            let live = lab
                .exec("cat", &["/proc/net/sctp/eps"], Duration::from_secs(10))
                .map(|o| o.stdout)
                .unwrap_or_default();
            let listening = |port: u16| {
                let port = port.to_string();
                live.lines()
                    .any(|l| l.split_whitespace().nth(5) == Some(port.as_str()))
            };
            let mut seen: Option<Vec<(String, Vec<u32>)>> = None;
            (1..=n).all(|i| {
                let Ok(out) = hsdump_text(lab, i) else {
                    return false;
                };
                let mut pools = Vec::new();
                for (pool, count) in &expected {
                    let Some(p) = parse_hsdump(&out, pool) else {
                        return false;
                    };
                    if p.elements.len() != *count || !p.elements.iter().all(|e| listening(e.port)) {
                        return false;
                    }
                    pools.push((pool.clone(), p.elements.iter().map(|e| e.id).collect()));
                }
                match &seen {
                    None => {
                        seen = Some(pools);
                        true
                    }
                    Some(first) => *first == pools,
                }
            })
        },
    );
}

/// Polls `cond` every 200 ms; panics naming `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub use rserpool_lab::hsdump::{parse_hsdump, DumpedPe, DumpedPool};

/// What RSPLIB's `hsdump` prints for registrar `i` (from 1), asked at its
/// ENRP endpoint inside the lab.
pub fn hsdump_text(lab: &Lab, i: usize) -> anyhow::Result<String> {
    let ep = format!(
        "{}:{}",
        Topology::registrar_address(i - 1),
        rserpool_lab::topology::ENRP_PORT
    );
    Ok(lab.exec("hsdump", &[&ep], Duration::from_secs(10))?.stdout)
}

/// The lab process (topology name) of the pool element with identifier
/// `id`: its user transport port from hsdump, the SCTP endpoint on that
/// port from /proc/net/sctp/eps, and the process that owns the socket.
pub fn pe_process(lab: &Lab, id: u32) -> anyhow::Result<String> {
    use anyhow::Context;
    // Any registrar that lists it (one that was just restarted may still
    // be catching up over ENRP).
    let mut found = None;
    for i in 1..=lab.topology().registrars.len() {
        found = parse_hsdump(&hsdump_text(lab, i)?, "EchoPool")
            .and_then(|p| p.elements.into_iter().find(|e| e.id == id));
        if found.is_some() {
            break;
        }
    }
    let pe = found.with_context(|| format!("PE ${id:08x} not in any registrar's hsdump"))?;
    let script = format!(
        "ino=$(awk -v p={port} '$6 == p {{ print $8 }}' /proc/net/sctp/eps | head -1); \
         [ -n \"$ino\" ] || exit 1; \
         for d in /proc/[0-9]*; do ls -l $d/fd 2>/dev/null | grep -q \"socket:\\[$ino\\]\" \
         && echo ${{d#/proc/}} && exit 0; done; exit 1",
        port = pe.port
    );
    let out = lab.exec("sh", &["-c", &script], Duration::from_secs(10))?;
    let pid: u32 = out
        .stdout
        .trim()
        .parse()
        .with_context(|| format!("no process on SCTP port {}: {:?}", pe.port, out))?;
    lab.status()?
        .into_iter()
        .find(|p| p.pid == Some(pid))
        .map(|p| p.name)
        .with_context(|| format!("pid {pid} (PE ${id:08x}) is not a lab process"))
}

/// `rserpool probe resolve-loop EchoPool` inside the lab (registrar 1,
/// then 2), with registrar 1 killed `kill_after` into the loop. Returns
/// the loop's exit code and JSON lines (one per resolution, then a summary).
pub fn resolve_loop_with_registrar_kill(
    lab: &Lab,
    count: u32,
    interval_ms: u64,
    kill_after: Duration,
) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let (count, interval) = (count.to_string(), interval_ms.to_string());
    let out = std::thread::scope(|s| {
        let looping = s.spawn(|| {
            lab.exec(
                "rserpool",
                &[
                    "--json",
                    "probe",
                    "resolve-loop",
                    "EchoPool",
                    "--count",
                    &count,
                    "--interval",
                    &interval,
                    "-r",
                    "sctp://10.1.0.1:3863",
                    "-r",
                    "sctp://10.1.0.2:3863",
                ],
                Duration::from_secs(120),
            )
        });
        std::thread::sleep(kill_after);
        lab.kill_registrar(1).expect("kill registrar-1");
        looping
            .join()
            .expect("loop thread")
            .expect("exec resolve-loop")
    });
    (
        out.code,
        json_lines(&out.stdout),
        format!("{}\n{}", out.stdout, out.stderr),
    )
}

/// A direct-SCTP `rserpool session` to EchoPool inside the lab that sends
/// `ping-0` … `ping-{lines-1}` every 50 ms; once it echoes, the serving
/// PE's process is killed (SIGKILL). Returns the first PE and the
/// session's JSON lines and stderr.
pub fn session_with_pe_kill(lab: &Lab, lines: u32) -> (String, Vec<serde_json::Value>, String) {
    // Files of their own per run: a poll must never read an earlier run's.
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (log, err) = (
        format!("/tmp/session-{}-{run}.jsonl", std::process::id()),
        format!("/tmp/session-{}-{run}.err", std::process::id()),
    );
    let script = format!(
        "(i=0; while [ $i -lt {lines} ]; do echo ping-$i; i=$((i+1)); sleep 0.05; done) \
         | rserpool --json session EchoPool -r sctp://10.1.0.2:3863 --linger 1000 \
         > {log} 2> {err}; echo \"exit=$?\" >> {err}"
    );
    let first = std::thread::scope(|s| {
        let session = s.spawn(|| lab.exec("sh", &["-c", &script], Duration::from_secs(120)));
        let mut first = None;
        wait_until(Duration::from_secs(20), "the session's first echo", || {
            let o = lab.exec("cat", &[&log], Duration::from_secs(5)).unwrap();
            first = json_lines(&o.stdout)
                .into_iter()
                .find(|l| l["event"] == "data")
                .and_then(|l| l["pe"].as_str().map(str::to_string));
            first.is_some()
        });
        let first = first.expect("first PE");
        let id = u32::from_str_radix(first.trim_start_matches("0x"), 16).expect("hex PE id");
        let name = pe_process(lab, id).expect("the serving PE's process");
        lab.kill(&name).expect("kill the serving PE");
        session
            .join()
            .expect("session thread")
            .expect("exec session");
        first
    });
    let cat = |f: &str| {
        lab.exec("cat", &[f], Duration::from_secs(5))
            .map(|o| o.stdout)
            .unwrap_or_default()
    };
    (first, json_lines(&cat(&log)), cat(&err))
}

/// From a session's JSON lines: milliseconds from the loss of its PE
/// (`pe-lost`) to the failover notice and to the next echo.
pub fn failover_times(lines: &[serde_json::Value]) -> Option<(f64, f64)> {
    let lost = lines.iter().position(|l| l["event"] == "pe-lost")?;
    let notice = lines[lost..].iter().find(|l| l["event"] == "failover")?;
    let echo = lines[lost..].iter().find(|l| l["event"] == "data")?;
    let t = |l: &serde_json::Value| l["t_ms"].as_f64();
    Some((t(notice)? - t(&lines[lost])?, t(echo)? - t(&lines[lost])?))
}

/// Every line of `--json` output as a JSON value (panics naming the line).
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The elements of `rserpool --json resolve` in hsdump's terms, in the
/// order the registrar sent them.
pub fn resolved_elements(json: &serde_json::Value) -> Option<Vec<DumpedPe>> {
    json["elements"]
        .as_array()?
        .iter()
        .map(|e| {
            Some(DumpedPe {
                id: u32::try_from(e["id"].as_u64()?).ok()?,
                home: u32::try_from(e["home_registrar"].as_u64()?).ok()?,
                life_ms: e["registration_life_ms"].as_u64()?,
                addresses: e["addresses"]
                    .as_array()?
                    .iter()
                    .map(|a| a.as_str().map(str::to_string))
                    .collect::<Option<_>>()?,
                port: u16::try_from(e["port"].as_u64()?).ok()?,
                transport: e["transport"].as_str()?.to_string(),
                control_channel: e["carries_control"].as_bool()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "Handlespace[home=$85bc7a79]: (1 Pools, 2 PoolElements, 0 Owned)\n\
*-- Index:\n \
+-- Pool \"EchoPool\", Policy \"RoundRobin\", Protocol SCTP, CtrlCh=yes: (2 nodes)\n \
+-- Index:\n   \
- idx:#0001: $20132f7b flags=[new][updated]\n     \
chsum=$0000c342 home=$10000001 life=90000ms ur=0 \n     \
userT: {10.0.2.15, 10.1.0.1} 52185/SCTP+CtrlCh\n     \
regT:  {10.1.0.1, 10.0.2.15} 44153/SCTP\n   \
- idx:#0002: $98cfb57f flags=[new][updated]\n     \
chsum=$00000244 home=$10000003 life=90000ms ur=0 \n     \
userT: {10.0.2.15} 54962/SCTP\n\
*-- Selection:\n \
+-- Pool \"EchoPool\", Policy \"RoundRobin\", Protocol SCTP, CtrlCh=yes: (2 nodes)\n   \
- sel:#0001: $deadbeef flags=[new][updated]\n";

    #[test]
    fn resolve_json_maps_to_the_same_fields() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"elements":[{"addresses":["10.0.2.15","10.1.0.1"],"carries_control":true,"home_registrar":268435457,"id":538128251,"port":52185,"registration_life_ms":90000,"transport":"sctp"}]}"#,
        )
        .unwrap();
        let e = resolved_elements(&v).expect("elements");
        let p = parse_hsdump(DUMP, "EchoPool").unwrap();
        assert_eq!(e[0], p.elements[0]);
        assert!(resolved_elements(&serde_json::json!({"elements": [{"id": "x"}]})).is_none());
    }
}
