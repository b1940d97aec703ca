//! Live-RSPLIB interop: the lab (3 ENRP-peered RSPLIB registrars, 4 echo PEs
//! in EchoPool; natively or in the micro-VM) driven through
//! `rserpool_lab::Lab`, with our CLI run inside it where SCTP exists.

use std::time::Duration;

use rserpool_tests::{
    failover_times, hsdump_text, json_lines, lab, parse_hsdump, pe_process,
    resolve_loop_with_registrar_kill, resolved_elements, session_with_pe_kill, wait_until,
    DumpedPool,
};

/// Tests that take a registrar away (kill, restart with options) take
/// turns: one's restart of registrar-1 would be another's failover.
fn registrar_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn hsdump(lab: &rserpool_lab::Lab, i: usize) -> DumpedPool {
    let out = hsdump_text(lab, i).expect("hsdump");
    parse_hsdump(&out, "EchoPool")
        .unwrap_or_else(|| panic!("no EchoPool in hsdump of registrar {i}:\n{out}"))
}

fn resolve(lab: &rserpool_lab::Lab, registrars: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json", "resolve", "EchoPool"];
    for r in registrars {
        args.extend(["-r", r]);
    }
    let out = lab
        .exec("rserpool", &args, Duration::from_secs(20))
        .expect("exec rserpool");
    assert_eq!(
        out.code,
        Some(0),
        "rserpool resolve failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("resolve output is not JSON ({e}): {}", out.stdout))
}

/// RFC 5352 §3.5 / §3.6: every registrar of the ENRP-synchronised
/// handlespace answers with the same PE set that RSPLIB's own hsdump lists,
/// field by field (identifier, home registrar, lifetime, transport, port,
/// addresses, control channel) and with the pool's policy.
#[test]
fn resolution_at_each_registrar_matches_hsdump() {
    let lab = lab();
    for i in 1..=3 {
        let dump = hsdump(&lab, i);
        assert_eq!(dump.elements.len(), 4, "registrar {i}: {dump:?}");
        let reg = format!("10.1.0.{i}:3863");
        let v = resolve(&lab, &[&reg]);
        assert_eq!(v["registrar"], format!("sctp://{reg}"));
        let mut got = resolved_elements(&v).expect("elements in resolve JSON");
        got.sort();
        assert_eq!(got, dump.elements, "registrar {i}");
        for e in v["elements"].as_array().unwrap() {
            assert_eq!(e["policy"].as_str(), Some(dump.policy.as_str()));
        }
    }
}

/// RSPLIB answers successive Handle Resolutions with the Round Robin
/// selection advanced by one (RFC 5356 §4.1 policy): our decoded order
/// must show that rotation.
#[test]
fn round_robin_rotation_is_decoded_as_rsplib_sends_it() {
    let lab = lab();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        resolved_elements(v)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    let first = ids(&resolve(&lab, &["10.1.0.1:3863"]));
    let second = ids(&resolve(&lab, &["10.1.0.1:3863"]));
    assert_eq!(first.len(), 4);
    let mut rotated = first.clone();
    rotated.rotate_left(1);
    assert_eq!(second, rotated, "first {first:x?}");
}

/// A PE that dies (SIGKILL, no deregistration) is removed by its home
/// registrar and, over ENRP, by the others.
#[test]
fn killed_pe_disappears_at_every_registrar() {
    let lab = lab();
    lab.kill_pe(2).expect("kill pe-2");
    wait_until(Duration::from_secs(30), "3 PEs at every registrar", || {
        (1..=3).all(|i| {
            lab.pools_at_registrar(i)
                .map(|m| m.get("EchoPool") == Some(&3))
                .unwrap_or(false)
        })
    });
    let v = resolve(&lab, &["10.1.0.3:3863"]);
    assert_eq!(resolved_elements(&v).unwrap().len(), 3);
}

/// Killing the registrar our pool user is attached to, while it resolves
/// every 100 ms over one association (RFC 5352 §3.2 hunt): every
/// resolution still succeeds (the application sees no failure), the next
/// ones go to the next registrar, and the resolution that met the loss is
/// timed (printed; the goal is ≤ 1 s). A restarted registrar gets the
/// whole handlespace back over ENRP.
#[test]
fn registrar_kill_during_resolutions_fails_over_without_an_error() {
    let _turn = registrar_turn();
    let lab = lab();
    let (code, lines, text) =
        resolve_loop_with_registrar_kill(&lab, 40, 100, Duration::from_millis(1500));
    assert_eq!(code, Some(0), "{text}");
    let summary = lines.last().expect("summary line");
    assert_eq!(summary["summary"], true, "{summary}");
    assert_eq!(summary["failures"], 0, "{text}");
    assert_eq!(summary["registrar_changes"], 1, "{text}");
    let runs = &lines[..lines.len() - 1];
    assert_eq!(runs.len(), 40);
    assert_eq!(runs[0]["registrar"], "sctp://10.1.0.1:3863");
    assert_eq!(runs[39]["registrar"], "sctp://10.1.0.2:3863");
    assert!(runs.iter().all(|r| r["elements"] == 4), "{text}");
    eprintln!(
        "registrar kill: first resolution after the loss took {} ms (max latency {} ms over 40)",
        summary["recovery_latency_ms"], summary["max_latency_ms"]
    );

    lab.restart("registrar-1").expect("restart registrar-1");
    wait_until(
        Duration::from_secs(60),
        "4 PEs at the restarted registrar",
        || {
            lab.pools_at_registrar(1)
                .map(|m| m.get("EchoPool") == Some(&4))
                .unwrap_or(false)
        },
    );
    assert_eq!(
        resolved_elements(&resolve(&lab, &["10.1.0.1:3863"]))
            .unwrap()
            .len(),
        4
    );
}

/// RFC 5355 §2.13 / RFC 5352 §3.6: RSPLIB deletes a PE after
/// `-maxbadpereports` (3) Endpoint Unreachable reports, and our pool user's
/// limiter keeps a flood of reports from doing that to a healthy PE.
/// (The registrar's counter is not visible in hsdump, so the threshold
/// itself shows what was counted: 1 from the flood + 1 raw keeps the PE,
/// the next raw report deletes it.)
#[test]
fn endpoint_unreachable_is_honoured_at_the_limit_and_our_limiter_stops_a_flood() {
    let lab = lab();
    // A PE whose home is registrar 1 (pe-1 or pe-4): reports go there.
    let target = hsdump(&lab, 1)
        .elements
        .iter()
        .find(|e| e.home == 0x1000_0001)
        .map(|e| e.id)
        .expect("a PE homed at registrar 1");
    let target_name = pe_process(&lab, target).expect("the PE's process");
    let report = |count: u32, raw: bool| {
        let id = format!("{target:08x}");
        let count = count.to_string();
        let mut args = vec![
            "--json",
            "probe",
            "unreachable",
            "EchoPool",
            "--pe",
            &id,
            "--count",
            &count,
            "-r",
            "sctp://10.1.0.1:3863",
        ];
        if raw {
            args.push("--raw");
        }
        let out = lab
            .exec("rserpool", &args, Duration::from_secs(30))
            .expect("exec probe unreachable");
        assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
        json_lines(&out.stdout).pop().expect("result line")
    };
    let present_everywhere =
        || (1..=3).all(|i| hsdump(&lab, i).elements.iter().any(|e| e.id == target));

    // 1. A flood through our pool user: 50 reports asked for, one sent.
    let r = report(50, false);
    assert_eq!(
        (r["sent"].as_u64(), r["suppressed"].as_u64()),
        (Some(1), Some(49)),
        "{r}"
    );
    assert_eq!(r["limits"], serde_json::json!(["per-element"]), "{r}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(present_everywhere(), "the flood removed a healthy PE");

    // 2. Raw reports, as an attacker without a limiter sends them: with the
    // pool user's one, two are counted and the PE stays ...
    assert_eq!(report(1, true)["sent"], 1);
    std::thread::sleep(Duration::from_millis(500));
    assert!(present_everywhere(), "deleted before -maxbadpereports");
    // ... and the third deletes it at its home registrar, which tells its
    // peers over ENRP (Handle Update, delete).
    assert_eq!(report(1, true)["sent"], 1);
    wait_until(
        Duration::from_secs(5),
        "the reported PE deleted at every registrar",
        || {
            (1..=3).all(|i| {
                let d = hsdump(&lab, i);
                d.elements.len() == 3 && d.elements.iter().all(|e| e.id != target)
            })
        },
    );
    // The deleted PE is still running: make it register again.
    lab.restart(&target_name).expect("restart the reported PE");
}

/// An unknown pool: RSPLIB answers with Pool Handle + Operation Error cause
/// 0x0009 (RFC 5352 §3.5, lab facts), which our pool user reports as
/// "pool not found" (exit 12) after asking a further registrar.
#[test]
fn unknown_pool_is_reported_as_cause_9() {
    let lab = lab();
    let out = lab
        .exec(
            "rserpool",
            &[
                "resolve",
                "NoSuchPool",
                "-r",
                "10.1.0.1:3863",
                "-r",
                "10.1.0.2:3863",
            ],
            Duration::from_secs(20),
        )
        .expect("exec rserpool");
    assert_eq!(out.code, Some(12), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("0x0009"), "{}", out.stderr);
}

/// Malformed messages crafted with `client_core::wire::raw` get the answers
/// RSPLIB is known for (docs/rsplib-behaviour.md, "How a live RSPLIB
/// registrar answers a raw client": 0x0010 / 0x0011, cause 1 with
/// the TLV, unknown type ignored, wrong PPID dropped, ENRP PPID aborted),
/// the registrar keeps serving, and when the same bytes are slipped into
/// our own pool user's association, RSPLIB's unexpected answers never stop
/// it: every follow-up resolution succeeds.
#[test]
fn malformed_messages_get_rsplib_errors_and_our_pool_user_survives_the_answers() {
    let lab = lab();
    let out = lab
        .exec(
            "rserpool",
            &[
                "--json",
                "probe",
                "malformed",
                "-r",
                "sctp://10.1.0.1:3863",
                "-r",
                "sctp://10.1.0.2:3863",
            ],
            Duration::from_secs(120),
        )
        .expect("exec probe malformed");
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let lines = json_lines(&out.stdout);
    let probe = |name: &str| -> &serde_json::Value {
        lines
            .iter()
            .find(|l| l["probe"] == name)
            .unwrap_or_else(|| panic!("no probe {name} in\n{}", out.stdout))
    };
    let error_causes = |name: &str| -> Vec<(u64, String)> {
        let p = probe(name);
        let replies = p["replies"].as_array().unwrap();
        assert_eq!(replies.len(), 1, "{name}: {p}");
        assert_eq!(replies[0]["message"], "ASAP Error", "{name}: {p}");
        replies[0]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["code"].as_u64().unwrap(),
                    c["info"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(error_causes("message-length-too-long")[0].0, 0x0010);
    assert_eq!(error_causes("truncated-header")[0].0, 0x0010);
    assert_eq!(error_causes("parameter-length-past-end")[0].0, 0x0011);
    assert_eq!(
        error_causes("unknown-parameter-stop-report"),
        vec![(0x0001, "71230004".to_string())],
        "cause 1 carries the offending TLV"
    );
    assert_eq!(error_causes("registration-from-pool-user")[0].0, 0x0003);
    for name in ["unknown-parameter-skip", "unknown-parameter-skip-report"] {
        let p = probe(name);
        assert_eq!(
            p["replies"][0]["message"], "ASAP Handle Resolution Response",
            "{name}: {p}"
        );
    }
    for name in [
        "unknown-message-type",
        "wrong-ppid",
        "unknown-parameter-stop",
    ] {
        let p = probe(name);
        assert_eq!(
            p["replies"].as_array().map(Vec::len),
            Some(0),
            "{name}: {p}"
        );
    }
    assert_eq!(probe("enrp-ppid-on-asap-port")["aborted"], true);
    for l in &lines {
        let name = l["probe"].as_str().unwrap();
        if name != "enrp-ppid-on-asap-port" {
            assert_eq!(l["aborted"], false, "{l}");
            assert_eq!(
                l["served_after"], true,
                "{name}: registrar stopped serving: {l}"
            );
        }
        let pu = &l["pool_user"];
        assert_eq!(pu["injected"], true, "{l}");
        assert_eq!(pu["resolved"], true, "{name}: our pool user failed: {l}");
        let answered_as_resolution = l["replies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["message"] == "ASAP Handle Resolution Response");
        if answered_as_resolution {
            // The registrar answers the injected request first (without an
            // items option RSPLIB sends at most 3 PEs) and the pool user's
            // FIFO matching (RFC 5352 §3.5) takes that answer: a PU cannot
            // tell whose request an answer belongs to.
            let n = pu["elements"].as_u64().unwrap();
            assert!((1..=4).contains(&n), "{l}");
        } else {
            assert_eq!(pu["elements"], 4, "{l}");
        }
        let got_error = l["replies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["message"] == "ASAP Error");
        if got_error || l["aborted"] == true {
            // Dropped that association and asked the next registrar.
            assert_eq!(pu["registrar_after"], "sctp://10.1.0.2:3863", "{l}");
        }
    }
    // An ASAP Error is unexpected for a pool user: it must have noticed it,
    // dropped that association and hunted on (RFC 5352 §3.2), not crashed.
    let notes = probe("parameter-length-past-end")["pool_user"]["notes"].to_string();
    assert!(
        notes.contains("ASAP Error from registrar (cause 0x0011)"),
        "{notes}"
    );
    // Nothing registered: the handlespace is unchanged.
    for i in 1..=3 {
        assert_eq!(hsdump(&lab, i).elements.len(), 4, "registrar {i}");
    }
}

/// RFC 5352 §3.10 over direct SCTP: a session to EchoPool echoes through
/// an RSPLIB PE; when that PE is killed (SIGKILL), the session reports the
/// loss, fails over (notice with old and new PE) and the next echo comes
/// from another PE. The loss-to-next-echo time is printed.
#[test]
fn sctp_session_fails_over_when_its_pe_is_killed() {
    let lab = lab();
    let (first, lines, err) = session_with_pe_kill(&lab, 120);
    let log = || {
        lines
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(err.contains("exit=0"), "{}\n{err}", log());
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| lines.iter().position(pred);
    let lost = at(&|l| l["event"] == "pe-lost").unwrap_or_else(|| panic!("no pe-lost:\n{}", log()));
    assert_eq!(lines[lost]["pe"], first.as_str());
    let failover = at(&|l| l["event"] == "failover").expect("a failover notice");
    assert!(failover > lost);
    let f = &lines[failover];
    assert_eq!(f["from"], first.as_str(), "{f}");
    assert_ne!(f["to"], first.as_str(), "{f}");
    let next = lines[failover..]
        .iter()
        .find(|l| l["event"] == "data")
        .expect("an echo after the failover");
    assert_eq!(next["pe"], f["to"], "{next}");
    assert!(next["text"].as_str().unwrap().starts_with("ping-"));
    // Every line was echoed exactly once or lost with the dead PE; none is
    // echoed by the new PE before the old one's last echo.
    let echoed: Vec<u64> = lines
        .iter()
        .filter(|l| l["event"] == "data")
        .filter_map(|l| {
            l["text"]
                .as_str()?
                .trim()
                .strip_prefix("ping-")?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        echoed.windows(2).all(|w| w[0] < w[1]),
        "echo order: {echoed:?}"
    );
    assert_eq!(echoed.last(), Some(&119), "the last line was echoed");
    let (to_notice, to_echo) = failover_times(&lines).expect("failover times");
    eprintln!(
        "direct SCTP session failover: PE {first} lost -> next echo from {} after {to_echo:.1} ms (failover notice after {to_notice:.1} ms)",
        f["to"]
    );
}

/// One pool element as RSPLIB's `rspterminal -loglevel=5` logs the Handle
/// Resolution Response it received ("Got 1 items: #1: $id …").
#[derive(Debug, PartialEq)]
struct TerminalItem {
    id: u32,
    home: u32,
    life_ms: u64,
    /// Wire policy type code (`t=$…`).
    policy_code: u32,
    weight: u32,
    /// Raw wire values shown in parentheses: load, load degradation.
    load: u32,
    degradation: u32,
    addresses: std::collections::BTreeSet<String>,
    port: u16,
}

/// `0.000%($00000000)…` → the raw value in parentheses.
fn raw_in_parens(s: &str) -> Option<u32> {
    let (_, rest) = s.split_once("($")?;
    u32::from_str_radix(rest.get(..8)?, 16).ok()
}

fn parse_terminal_item(block: &str) -> Option<TerminalItem> {
    let after = |key: &str| -> Option<&str> { Some(&block[block.find(key)? + key.len()..]) };
    let hex = |key: &str| -> Option<u32> {
        let s = after(key)?;
        let h: String = s.chars().take_while(char::is_ascii_hexdigit).collect();
        u32::from_str_radix(&h, 16).ok()
    };
    let dec = |key: &str| -> Option<u64> {
        let s = after(key)?;
        s.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    };
    let user = after("userT: {")?;
    let (addrs, tail) = user.split_once('}')?;
    Some(TerminalItem {
        id: hex("#1: $")?,
        home: hex("home=$")?,
        life_ms: dec("life=")?,
        policy_code: hex("t=$")?,
        weight: u32::try_from(dec("[w=")?).ok()?,
        load: raw_in_parens(after(" l=")?)?,
        degradation: raw_in_parens(after("ldeg=")?)?,
        addresses: addrs.split(',').map(|a| a.trim().to_string()).collect(),
        port: tail.trim().split('/').next()?.parse().ok()?,
    })
}

/// Our decoding of an element as a [`TerminalItem`] (from `resolve --json`).
fn our_item(e: &serde_json::Value) -> TerminalItem {
    let values: Vec<u32> = e["policy_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let code = e["policy_code"].as_u64().unwrap() as u32;
    let (weight, load, degradation) = match code {
        // Weighted Round Robin / Weighted Random: the weight.
        0x2 | 0x4 => (values[0], 0, 0),
        // Least Used: load; Least Used with Degradation: load, degradation.
        0x4000_0001 => (0, values[0], 0),
        0x4000_0002 => (0, values[0], values[1]),
        _ => (0, 0, 0),
    };
    TerminalItem {
        id: e["id"].as_u64().unwrap() as u32,
        home: e["home_registrar"].as_u64().unwrap() as u32,
        life_ms: e["registration_life_ms"].as_u64().unwrap(),
        policy_code: code,
        weight,
        load,
        degradation,
        addresses: e["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect(),
        port: e["port"].as_u64().unwrap() as u16,
    }
}

/// RSPLIB's own pool user (`rspterminal`) and ours, taking turns at
/// registrar 3: the PE rspterminal is handed is the one our decoded
/// round-robin order predicts (the registrar advances its RR position by
/// one per request), and for pools with policy values (Weighted Round
/// Robin weights 7 and 3, Least Used with Degradation 0.25) every field
/// rspterminal logs, policy type and raw values included, equals ours.
#[test]
fn rspterminal_sees_the_rotation_and_policy_values_we_decode() {
    let lab = lab();
    let out = lab
        .exec(
            "sh",
            &["-c", include_str!("rspterminal_compare.sh")],
            Duration::from_secs(90),
        )
        .expect("exec comparison script");
    let text: String = {
        // rspterminal colours its log: drop ANSI escapes.
        let mut s = String::new();
        let mut esc = false;
        for c in out.stdout.chars() {
            match (esc, c) {
                (false, '\u{1b}') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, c) => s.push(c),
            }
        }
        s
    };
    assert!(
        !text.contains("=== timeout"),
        "pools not registered:\n{text}"
    );
    let sections: Vec<(&str, &str)> = text
        .split("=== ")
        .skip(1)
        .map(|s| s.split_once('\n').unwrap_or((s, "")))
        .collect();
    assert_eq!(sections.len(), 8, "{text}\n{}", out.stderr);
    let ours = |i: usize| -> Vec<serde_json::Value> {
        let (head, body) = sections[i];
        assert!(head.starts_with("ours"), "{head}");
        let v: serde_json::Value =
            serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{head}: {e}: {body}"));
        v["elements"].as_array().unwrap().clone()
    };
    let theirs = |i: usize| -> TerminalItem {
        let (head, body) = sections[i];
        assert!(head.starts_with("rspterminal"), "{head}");
        parse_terminal_item(body).unwrap_or_else(|| panic!("{head}: no item in\n{body}"))
    };
    // Rotation on EchoPool (Round Robin, 4 PEs).
    let a: Vec<TerminalItem> = ours(0).iter().map(our_item).collect();
    assert_eq!(a.len(), 4);
    let t1 = theirs(1);
    let b: Vec<TerminalItem> = ours(2).iter().map(our_item).collect();
    let t2 = theirs(3);
    let ids = |v: &[TerminalItem]| v.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(t1, a[1], "rspterminal after our first resolution");
    let mut rotated = ids(&a);
    rotated.rotate_left(2);
    assert_eq!(ids(&b), rotated, "our second resolution");
    assert_eq!(t2, a[3], "rspterminal after our second resolution");
    // Policy values: every element rspterminal gets is one we decoded,
    // field for field.
    for (i, pool) in [(4, "WrrPool"), (6, "LudPool")] {
        let ours: Vec<TerminalItem> = ours(i).iter().map(our_item).collect();
        let t = theirs(i + 1);
        assert!(
            ours.contains(&t),
            "{pool}: rspterminal got {t:?}, we decoded {ours:?}"
        );
    }
    let wrr: Vec<TerminalItem> = ours(4).iter().map(our_item).collect();
    let mut weights: Vec<u32> = wrr.iter().map(|e| e.weight).collect();
    weights.sort();
    assert_eq!(weights, vec![3, 7]);
    assert!(wrr.iter().all(|e| e.policy_code == 2));
    let lud = our_item(&ours(6)[0]);
    assert_eq!(
        (lud.policy_code, lud.degradation),
        (0x4000_0002, 0x4000_0000)
    );
}

/// The native mode — what `rserpool lab up` does on a host whose kernel
/// has SCTP — run where such a kernel exists here: inside the VM, from the
/// same binaries. It brings the whole topology up (direct SCTP and the
/// gateway with its own certificates both resolve EchoPool) and `lab down`
/// leaves no registrar, PE, gateway or agent behind.
#[test]
fn native_mode_runs_where_the_kernel_has_sctp_and_leaves_nothing_behind() {
    let lab = lab();
    // The VM lab's processes hold the registrar addresses: stop them (the
    // next test's guard restarts them).
    for p in lab.status().expect("status") {
        lab.kill(&p.name).expect("kill");
    }
    let out = lab
        .exec(
            "sh",
            &["-c", include_str!("native_in_vm.sh")],
            Duration::from_secs(150),
        )
        .expect("exec native lab script");
    let sections: std::collections::BTreeMap<&str, &str> = out
        .stdout
        .split("=== ")
        .skip(1)
        .filter_map(|s| s.split_once('\n'))
        .collect();
    let all = format!("{}\n{}", out.stdout, out.stderr);
    let up: serde_json::Value = serde_json::from_str(
        sections["up"]
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no lab up output:\n{all}")),
    )
    .unwrap_or_else(|e| panic!("lab up JSON: {e}\n{all}"));
    assert!(
        up["agent"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{up}"
    );
    for how in ["sctp", "wss"] {
        let v: serde_json::Value = serde_json::from_str(sections[how].trim())
            .unwrap_or_else(|e| panic!("{how} resolve: {e}\n{all}"));
        assert_eq!(
            resolved_elements(&v).map(|e| e.len()),
            Some(4),
            "{how}: {v}"
        );
    }
    assert_eq!(sections["left"].trim(), "", "left behind:\n{all}");
}

/// The agent runs an ad-hoc process next to the topology (how a scenario
/// starts its attacker and workload): its stdout lines reach the host while
/// it runs, a stop ends it (SIGINT first), and its timeout bounds it. A
/// registrar restarted with extra RSPLIB options runs with them until a
/// plain restart restores the topology's arguments, after which every
/// registrar lists every PE again.
#[test]
fn spawned_process_streams_lines_and_stops_and_registrar_restarts_with_options() {
    let _turn = registrar_turn();
    let lab = lab();
    let mut p = lab
        .spawn(
            "sh",
            &[
                "-c",
                "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); sleep 0.05; done",
            ],
            Duration::from_secs(60),
        )
        .expect("spawn");
    let mut seen: Vec<String> = Vec::new();
    wait_until(Duration::from_secs(10), "lines while it runs", || {
        let o = p.poll().expect("poll");
        seen.extend(o.lines);
        o.running && seen.len() >= 3
    });
    let o = p.stop().expect("stop");
    assert!(!o.running, "{o:?}");
    seen.extend(o.lines);
    assert!(seen.len() < 200, "stopped early: {} lines", seen.len());
    for (i, l) in seen.iter().enumerate() {
        assert_eq!(l, &format!("line {i}"), "no line lost or repeated");
    }

    let mut q = lab
        .spawn("sleep", &["30"], Duration::from_millis(500))
        .expect("spawn sleep");
    let o = q
        .wait(Duration::from_millis(100), Duration::from_secs(20), |_| {})
        .expect("wait");
    assert!(o.timed_out && !o.running, "{o:?}");

    let command = |lab: &rserpool_lab::Lab| {
        lab.status()
            .expect("status")
            .into_iter()
            .find(|p| p.name == "registrar-1")
            .expect("registrar-1")
            .command
    };
    lab.restart_with("registrar-1", &["-maxbadpereports=1"])
        .expect("restart with");
    assert!(
        command(&lab).ends_with(" -maxbadpereports=1"),
        "{}",
        command(&lab)
    );
    lab.restart("registrar-1").expect("restart");
    assert!(
        !command(&lab).contains("-maxbadpereports"),
        "{}",
        command(&lab)
    );
    wait_until(
        Duration::from_secs(40),
        "every registrar lists the 4 PEs again",
        || {
            (1..=3).all(|i| {
                hsdump_text(&lab, i).is_ok_and(|t| {
                    parse_hsdump(&t, "EchoPool").is_some_and(|d| d.elements.len() == 4)
                })
            })
        },
    );
}
