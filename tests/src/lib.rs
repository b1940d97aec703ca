//! Shared helpers of the end-to-end tests: one lab per test binary, and
//! parsers for what RSPLIB's tools print.

use std::collections::BTreeSet;
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rserpool_lab::proto::RunState;
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
    let mut g = LAB.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        // qemu is started with PR_SET_PDEATHSIG, which fires when the
        // *thread* that spawned it ends: libtest ends each test's thread,
        // so start the lab on a thread that lives as long as the process.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Lab::start(LabOptions::default()));
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
    wait_until(
        Duration::from_secs(60),
        "full topology at every registrar",
        || {
            (1..=n).all(|i| {
                lab.pools_at_registrar(i)
                    .map(|m| expected.iter().all(|(p, c)| m.get(p) == Some(c)))
                    .unwrap_or(false)
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

/// One pool element as RSPLIB's `hsdump` prints it in the handlespace index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DumpedPe {
    pub id: u32,
    pub home: u32,
    pub life_ms: u64,
    pub addresses: BTreeSet<String>,
    pub port: u16,
    pub transport: String,
    pub control_channel: bool,
}

/// A pool as `hsdump` shows it: policy name and elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpedPool {
    pub policy: String,
    pub elements: Vec<DumpedPe>,
}

fn hex_after(text: &str, key: &str) -> Option<u32> {
    let rest = &text[text.find(key)? + key.len()..];
    let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    u32::from_str_radix(&hex, 16).ok()
}

/// Parses the `*-- Index:` section of `hsdump` output for `pool`:
/// `+-- Pool "EchoPool", Policy "RoundRobin", …`, then per element
/// `- idx:#0001: $20132f7b …`, `chsum=… home=$10000001 life=90000ms`,
/// `userT: {10.0.2.15, 10.1.0.1} 52185/SCTP+CtrlCh`.
pub fn parse_hsdump(text: &str, pool: &str) -> Option<DumpedPool> {
    let index = text.split("*-- Index:").nth(1)?;
    let index = index.split("*-- Selection:").next()?;
    let head = format!("+-- Pool \"{pool}\", Policy \"");
    let start = index.find(&head)? + head.len();
    let section = &index[start..];
    let policy: String = section.chars().take_while(|c| *c != '"').collect();
    // The section ends at the next pool.
    let section = section.split("+-- Pool \"").next().unwrap_or(section);
    let mut out = DumpedPool {
        policy,
        elements: Vec::new(),
    };
    let mut cur: Option<DumpedPe> = None;
    for line in section.lines().map(str::trim) {
        if line.starts_with("- idx:#") {
            out.elements.extend(cur.take());
            cur = Some(DumpedPe {
                id: hex_after(line, ": $")?,
                home: 0,
                life_ms: 0,
                addresses: BTreeSet::new(),
                port: 0,
                transport: String::new(),
                control_channel: false,
            });
        } else if let Some(pe) = cur.as_mut() {
            if line.starts_with("chsum=") {
                pe.home = hex_after(line, "home=$")?;
                let life = line.split("life=").nth(1)?;
                pe.life_ms = life
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .split("ms")
                    .next()?
                    .parse()
                    .ok()?;
            } else if let Some(rest) = line.strip_prefix("userT: {") {
                let (addrs, tail) = rest.split_once('}')?;
                pe.addresses = addrs.split(',').map(|a| a.trim().to_string()).collect();
                let (port, proto) = tail.trim().split_once('/')?;
                pe.port = port.parse().ok()?;
                pe.control_channel = proto.ends_with("+CtrlCh");
                pe.transport = proto.trim_end_matches("+CtrlCh").to_lowercase();
            }
        }
    }
    out.elements.extend(cur);
    out.elements.sort();
    Some(out)
}

/// The lab process (topology name) of the pool element with identifier
/// `id`: its user transport port from hsdump, the SCTP endpoint on that
/// port from /proc/net/sctp/eps, and the process that owns the socket.
pub fn pe_process(lab: &Lab, id: u32) -> anyhow::Result<String> {
    use anyhow::Context;
    let dump = lab.exec("hsdump", &["10.1.0.1:9901"], Duration::from_secs(10))?;
    let pool = parse_hsdump(&dump.stdout, "EchoPool").context("no EchoPool in hsdump")?;
    let pe = pool
        .elements
        .iter()
        .find(|e| e.id == id)
        .with_context(|| format!("PE ${id:08x} not in hsdump"))?;
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
    fn hsdump_index_is_parsed_field_by_field() {
        let p = parse_hsdump(DUMP, "EchoPool").expect("pool");
        assert_eq!(p.policy, "RoundRobin");
        assert_eq!(p.elements.len(), 2, "selection section must not be counted");
        let a = &p.elements[0];
        assert_eq!(
            (a.id, a.home, a.life_ms, a.port),
            (0x20132f7b, 0x10000001, 90000, 52185)
        );
        assert_eq!(a.addresses.len(), 2);
        assert!(a.control_channel);
        assert_eq!(a.transport, "sctp");
        assert!(!p.elements[1].control_channel);
        assert!(parse_hsdump(DUMP, "OtherPool").is_none());
        assert!(parse_hsdump("garbage", "EchoPool").is_none());
    }

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
