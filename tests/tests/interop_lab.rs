//! Live-RSPLIB interop: the lab (3 ENRP-peered RSPLIB registrars, 4 echo PEs
//! in EchoPool; natively or in the micro-VM) driven through
//! `rserpool_lab::Lab`, with our CLI run inside it where SCTP exists.

use std::time::Duration;

use rserpool_tests::{lab, parse_hsdump, resolved_elements, wait_until, DumpedPool};

fn hsdump(lab: &rserpool_lab::Lab, i: usize) -> DumpedPool {
    let ep = format!("10.1.0.{i}:9901");
    let out = lab
        .exec("hsdump", &[&ep], Duration::from_secs(10))
        .expect("hsdump");
    parse_hsdump(&out.stdout, "EchoPool")
        .unwrap_or_else(|| panic!("no EchoPool in hsdump {ep}:\n{}", out.stdout))
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

/// Killing the registrar our pool user is attached to: the next resolution
/// goes to the next registrar of the list and the application sees a
/// normal answer; a restarted registrar gets the whole handlespace back.
#[test]
fn registrar_kill_and_restart() {
    let lab = lab();
    lab.kill_registrar(1).expect("kill registrar-1");
    let v = resolve(&lab, &["10.1.0.1:3863", "10.1.0.2:3863"]);
    assert_eq!(v["registrar"], "sctp://10.1.0.2:3863");
    assert!(!resolved_elements(&v).unwrap().is_empty());
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
