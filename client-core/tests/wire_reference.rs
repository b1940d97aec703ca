//! The codec against the worked examples and the policy table of
//! `docs/rsplib-wire.md`, read at test time. The byte strings there were
//! checked against RSPLIB 3.4.4's own encoder and decoder; the expected
//! bytes come from the document, not from this file, so the page and the
//! codec cannot drift apart.

use std::net::IpAddr;
use std::path::PathBuf;

use client_core::wire::{self, *};

fn reference() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/rsplib-wire.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text of the section headed `{level} {title}` (`##` or `###`), up to
/// the next heading of the same or a higher level.
fn section<'a>(doc: &'a str, level: &str, title: &str) -> &'a str {
    let head = format!("\n{level} {title}\n");
    let start = doc
        .find(&head)
        .unwrap_or_else(|| panic!("section {title:?} not found"));
    let rest = &doc[start + head.len()..];
    let mut end = rest.find("\n## ").unwrap_or(rest.len());
    if level == "###" {
        end = end.min(rest.find("\n### ").unwrap_or(rest.len()));
    }
    &rest[..end]
}

/// The hex bytes of the n-th fenced code block of a section.
fn code_block(section: &str, n: usize) -> Vec<u8> {
    let block = section
        .split("```")
        .skip(1)
        .step_by(2)
        .nth(n)
        .unwrap_or_else(|| panic!("code block {n} missing"));
    let hex: String = block.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(hex).expect("hex code block")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Decodes `bytes` (sent with PPID 11 or 12) and checks it is `expected`
/// and that encoding `expected` gives exactly `bytes`.
fn same(protocol: Protocol, bytes: &[u8], expected: Message) {
    assert_eq!(hex::encode(expected.to_bytes()), hex::encode(bytes));
    assert_eq!(wire::decode(protocol, bytes).unwrap().message, expected);
}

#[test]
fn every_policy_in_the_reference_table_has_its_length() {
    let doc = reference();
    let table = section(&doc, "##", "Selection policy parameter");
    let mut rows = 0;
    let mut with_length = 0;
    for line in table.lines().filter(|l| l.starts_with("| 0x")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let code = u32::from_str_radix(cells[1].trim_start_matches("0x"), 16).unwrap();
        rows += 1;
        if code == 0 {
            // "undefined": never valid on the wire; kept as data.
            assert!(matches!(
                policy_from_words(0, &[]),
                Ok(SelectionPolicy::Unknown { code: 0, .. })
            ));
            continue;
        }
        // Every listed code is a known policy, whatever its word count.
        let known = (0..=4)
            .find_map(|n| policy_from_words(code, &vec![0x1111_1111; n]).ok())
            .unwrap_or_else(|| panic!("0x{code:08x} accepts no word count"));
        assert!(
            !matches!(known, SelectionPolicy::Unknown { .. }),
            "0x{code:08x} ({}) is not a known policy",
            cells[2]
        );
        let Ok(tlv_len) = cells[5].parse::<usize>() else {
            continue; // selector-only codes (0xb0002004/5): no wire length
        };
        with_length += 1;
        let n = (tlv_len - 8) / 4;
        let p = policy_from_words(code, &vec![0x2222_2222; n])
            .unwrap_or_else(|e| panic!("0x{code:08x}: {n} words refused, wants {e}"));
        let b = p.to_bytes();
        assert_eq!(
            usize::from(u16::from_be_bytes([b[2], b[3]])),
            tlv_len,
            "0x{code:08x} ({})",
            cells[2]
        );
        assert_eq!(&b[4..8], &code.to_be_bytes());
        // One word fewer or more is refused with the count it needs.
        assert_eq!(policy_from_words(code, &vec![0; n + 1]).unwrap_err(), n);
        if n > 0 {
            assert_eq!(policy_from_words(code, &vec![0; n - 1]).unwrap_err(), n);
        }
    }
    assert_eq!(rows, 19, "18 policy codes plus \"undefined\"");
    assert_eq!(with_length, 16);
}

#[test]
fn handle_resolution_examples() {
    let doc = reference();
    let s = section(&doc, "###", "Handle Resolution");
    let plain = HandleResolution {
        pool_handle: "EchoPool".into(),
        option: None,
    };
    same(
        Protocol::Asap,
        &code_block(s, 0),
        AsapMessage::HandleResolution(plain.clone()).into(),
    );
    same(
        Protocol::Asap,
        &code_block(s, 1),
        AsapMessage::HandleResolution(HandleResolution {
            option: Some(HandleResolutionOption { items: 1 }),
            ..plain
        })
        .into(),
    );
}

#[test]
fn handle_resolution_response_example() {
    let doc = reference();
    let pe = |id: u32, addr: &str| PoolElement {
        id: PoolElementId(id),
        home_registrar: ServerId(0x0a0b0c0d),
        registration_life_ms: 90000,
        user_transport: TransportAddress::sctp(7, 1, vec![ip(addr)]),
        policy: SelectionPolicy::RoundRobin,
        registrator_transport: None,
    };
    same(
        Protocol::Asap,
        &code_block(section(&doc, "###", "Handle Resolution Response"), 0),
        AsapMessage::HandleResolutionResponse(HandleResolutionResponse {
            pool_handle: "EchoPool".into(),
            policy: Some(SelectionPolicy::RoundRobin),
            elements: vec![pe(0x1a2b3c4d, "192.0.2.10"), pe(0x5e6f7081, "192.0.2.11")],
            error: None,
        })
        .into(),
    );
}

#[test]
fn unknown_pool_and_unreachable_examples() {
    let doc = reference();
    same(
        Protocol::Asap,
        &code_block(section(&doc, "###", "Handle Resolution Response"), 1),
        AsapMessage::HandleResolutionResponse(HandleResolutionResponse {
            pool_handle: "EchoPool".into(),
            policy: None,
            elements: vec![],
            error: Some(OperationError {
                causes: vec![ErrorCause {
                    code: CauseCode(consts::cause_code::UNKNOWN_POOL_HANDLE),
                    info: vec![],
                }],
            }),
        })
        .into(),
    );
    same(
        Protocol::Asap,
        &code_block(section(&doc, "###", "Endpoint Unreachable"), 0),
        AsapMessage::EndpointUnreachable(EndpointUnreachable {
            pool_handle: "EchoPool".into(),
            pe_id: PoolElementId(0x1a2b3c4d),
        })
        .into(),
    );
}

#[test]
fn enrp_presence_example() {
    let doc = reference();
    let bytes = code_block(section(&doc, "###", "ENRP Presence"), 0);
    same(
        Protocol::Enrp,
        &bytes,
        EnrpMessage::Presence(Presence {
            reply_required: true,
            sender: ServerId(0x0a0b0c0d),
            receiver: ServerId(0),
            checksum: 0x1234,
            server_info: Some(ServerInformation {
                server_id: ServerId(0x0a0b0c0d),
                transport: TransportAddress::sctp(9901, 0, vec![ip("192.0.2.1")]),
            }),
        })
        .into(),
    );
}
