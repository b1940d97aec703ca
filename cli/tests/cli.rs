//! The `rserpool` binary as a user meets it: output, messages, exit codes.

use std::process::{Command, Output};

// RSPLIB captures from `testdata/captures`.
use rserpool_testdata::capture;

/// Runs `rserpool` with no lab to find and no registrar in the environment
/// (a lab running on this machine must not answer these tests).
fn rserpool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .args(args)
        .env(
            "RSERPOOL_LAB_CACHE",
            std::env::temp_dir().join("rserpool-cli-tests-no-lab"),
        )
        .env_remove("RSERPOOL_REGISTRAR")
        .env_remove("RSERPOOL_CA")
        .output()
        .expect("run rserpool")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// asap-handle-resolution-1 from testdata/vectors: HR for EchoPool, items 1.
const HANDLE_RESOLUTION: &str = "050000180009000c4563686f506f6f6c803f000800000001";

#[test]
fn decode_prints_one_readable_line_per_hex_message() {
    let o = rserpool(&["decode", HANDLE_RESOLUTION, "0e00000c000c000800100004"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        "asap handle-resolution len 24: pool EchoPool items 1"
    );
    assert_eq!(lines[1], "asap error len 12: error causes [0x0010]");
}

#[test]
fn decode_enrp_uses_the_enrp_table() {
    // Same type byte 0x05: ENRP List Request (sender, receiver server IDs).
    let o = rserpool(&["decode", "--enrp", "0500000c1000000110000002"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "enrp list-request len 12: 0x10000001 -> 0x10000002"
    );
}

#[test]
fn decode_json_has_type_fields_and_hex() {
    let o = rserpool(&["decode", "--json", HANDLE_RESOLUTION]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON line");
    assert_eq!(v["protocol"], "asap");
    assert_eq!(v["type"], "handle-resolution");
    assert_eq!(v["type_code"], 5);
    assert_eq!(v["length"], 24);
    assert_eq!(v["hex"], HANDLE_RESOLUTION);
    assert_eq!(v["summary"], "pool EchoPool items 1");
}

#[test]
fn decode_reports_malformed_messages_with_offset_and_exit_3() {
    // Pool handle parameter claims 255 bytes in a 16-byte message.
    let o = rserpool(&["decode", "05000010000900ff4563686f506f6f6c"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stdout(&o).contains("UNDECODABLE parameter 0x0009 at offset 4"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("1 of 1 messages could not be decoded"));
}

#[test]
fn decode_refuses_non_hex_as_usage_error() {
    let o = rserpool(&["decode", "05zz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not hex"), "{}", stderr(&o));
}

#[test]
fn decode_of_a_missing_capture_is_a_bad_input_error() {
    let o = rserpool(&["decode", "--pcap", "/nonexistent/x.pcap"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("cannot open /nonexistent/x.pcap"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn decode_without_input_is_a_usage_error() {
    assert_eq!(rserpool(&["decode"]).status.code(), Some(2));
}

#[test]
fn resolve_refuses_unknown_url_schemes_before_connecting() {
    let o = rserpool(&[
        "resolve",
        "EchoPool",
        "-r",
        "sctp://10.1.0.1",
        "-r",
        "http://x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unsupported scheme \"http\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn resolve_with_an_unreadable_ca_file_is_a_bad_input_error() {
    let o = rserpool(&[
        "resolve",
        "EchoPool",
        "-r",
        "wss://127.0.0.1:1/",
        "--ca",
        "/nonexistent/ca.pem",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("--ca /nonexistent/ca.pem"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn resolve_over_sctp_says_why_it_cannot_reach_a_registrar() {
    // Port 9 on loopback has no registrar. Without kernel SCTP (CI) the
    // answer is the "no SCTP" advice with its own exit status.
    let o = rserpool(&[
        "resolve",
        "EchoPool",
        "-r",
        "sctp://127.0.0.1:9",
        "--connect-timeout",
        "2000",
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("resolving EchoPool: no registrar reachable"),
        "{err}"
    );
    assert!(err.contains("sctp://127.0.0.1:9: "), "{err}");
    if rserpool_sctp::kernel_has_sctp() {
        assert_eq!(o.status.code(), Some(10), "{err}");
    } else {
        assert_eq!(o.status.code(), Some(13), "{err}");
        assert!(err.contains("kernel has no SCTP: load the sctp module or use `rserpool lab`"));
    }
}

#[test]
fn registrar_flag_takes_one_url_so_the_pool_may_follow_it() {
    // If -r swallowed several values, "EchoPool" would become a URL and the
    // pool argument would be missing (exit 2).
    let o = rserpool(&["resolve", "-r", "http://x", "EchoPool"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--registrar http://x"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn session_requires_pool_and_registrar() {
    // No -r and no lab running: a usage error.
    assert_eq!(rserpool(&["session", "EchoPool"]).status.code(), Some(2));
    assert_eq!(
        rserpool(&["session", "-r", "sctp://10.1.0.1"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        rserpool(&[
            "session",
            "EchoPool",
            "-r",
            "sctp://10.1.0.1",
            "--ppid",
            "x"
        ])
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn session_without_a_reachable_registrar_fails_with_a_reason() {
    let o = rserpool(&[
        "session",
        "EchoPool",
        "-r",
        "sctp://127.0.0.1:9",
        "--max-waits",
        "1",
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("resolving EchoPool: no registrar reachable"),
        "{err}"
    );
    let expected = if rserpool_sctp::kernel_has_sctp() {
        10
    } else {
        13
    };
    assert_eq!(o.status.code(), Some(expected), "{err}");
}

#[test]
fn output_cut_short_by_the_reader_ends_quietly() {
    // `rserpool decode … | head -0`: the reader is gone before the first
    // line. Like a Unix filter, stop without an error message.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .args(["decode", HANDLE_RESOLUTION])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run rserpool");
    assert_eq!(stderr(&o), "");
    assert_eq!(o.status.code(), Some(0));
}

/// `lab status` on a lab that died says so (issue 10, item 7) — with the
/// reason `lab up` recorded, or because the `lab up` process is gone —
/// instead of "connection refused".
#[test]
fn lab_status_reports_a_dead_lab_as_dead() {
    let cache = std::env::temp_dir().join(format!("rserpool-dead-lab-{}", std::process::id()));
    std::fs::create_dir_all(&cache).unwrap();
    let status = |state: &str| {
        std::fs::write(cache.join("current.json"), state).unwrap();
        Command::new(env!("CARGO_BIN_EXE_rserpool"))
            .args(["lab", "status"])
            .env("RSERPOOL_LAB_CACHE", &cache)
            .output()
            .expect("run rserpool")
    };
    // A pid that cannot exist (above the kernel's pid_max) and an agent
    // port nothing listens on.
    let gone = r#"{"pid":2147483647,"agent":"127.0.0.1:1","token":"t","gateway_urls":[],"gateway_ca":"/x"}"#;
    let o = status(gone);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("the lab is dead"), "{}", stderr(&o));
    assert!(stderr(&o).contains("2147483647"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("refused"), "{}", stderr(&o));
    let recorded = format!(
        r#"{{"pid":{},"agent":"127.0.0.1:1","token":"t","gateway_urls":[],"gateway_ca":"/x","dead":"qemu (pid 7) exited after 3 s: killed by signal 9"}}"#,
        std::process::id()
    );
    let o = status(&recorded);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("the lab is dead: qemu (pid 7) exited after 3 s: killed by signal 9"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&cache);
}

/// `decode --pcap -` reads standard input as a stream (issue 14: it could
/// read only files): the first message is printed while the capture is
/// still arriving, and the whole output is what the file gives.
#[test]
fn decode_pcap_from_standard_input_prints_messages_as_frames_arrive() {
    use std::io::{BufRead, Write};
    let path = capture("04-pu-echo-failover.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let from_file = stdout(&rserpool(&["decode", "--pcap", path.to_str().unwrap()]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .args(["decode", "--pcap", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Two writes: pcap-parser reads twice before it parses the first
    // frame (as `tcpdump -w -` writes the header, then each packet).
    let half = bytes.len() / 2;
    stdin.write_all(&bytes[..half]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    stdin.write_all(&bytes[half..half + 16]).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    // Half the capture given, stdin still open: the first line is out.
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("no message printed before the end of the stream");
    stdin.write_all(&bytes[half + 16..]).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let mut streamed = vec![first];
    streamed.extend(rx.iter());
    assert_eq!(streamed, from_file.lines().collect::<Vec<_>>());
}

/// ENRP decodes showed pool handles as byte arrays in JSON.
#[test]
fn json_shows_pool_handles_as_text_in_enrp_messages_too() {
    let path = capture("02-enrp-startup-registration.pcap");
    let o = rserpool(&["decode", "--json", "--pcap", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("\"pool_handle\":["), "{out}");
    let enrp_with_handle = out
        .lines()
        .filter(|l| l.contains("\"protocol\":\"enrp\""))
        .filter(|l| l.contains("\"pool_handle\":\"EchoPool\""))
        .count();
    assert!(
        enrp_with_handle > 0,
        "no ENRP message with a text pool handle:\n{out}"
    );
}

/// Without `-r` and no lab running: a usage error that says where a
/// registrar comes from; under `--json` it is a JSON object on stdout.
#[test]
fn without_a_registrar_or_a_lab_the_error_says_where_one_comes_from_as_json_too() {
    let cache = std::env::temp_dir().join(format!("rserpool-no-lab-{}", std::process::id()));
    std::fs::create_dir_all(&cache).unwrap();
    let run = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rserpool"));
        if json {
            c.arg("--json");
        }
        c.args(["resolve", "EchoPool"])
            .env("RSERPOOL_LAB_CACHE", &cache)
            .env_remove("RSERPOOL_REGISTRAR")
            .env_remove("RSERPOOL_CA")
            .output()
            .unwrap()
    };
    let o = run(false);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("RSERPOOL_REGISTRAR"), "{}", stderr(&o));
    let o = run(true);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value =
        serde_json::from_str(stdout(&o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    assert_eq!(v["error"]["exit_status"], 2);
    assert!(v["error"]["message"].as_str().unwrap().contains("lab up"));
    assert_eq!(stderr(&o), "");
    let _ = std::fs::remove_dir_all(&cache);
}
