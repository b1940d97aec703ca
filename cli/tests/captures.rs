//! Every RSPLIB capture (`testdata/captures`) decodes to exactly the
//! per-capture message counts that `testdata/vectors/INDEX.md` states, and
//! every vector's bytes appear at the frame INDEX.md names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rserpool_cli::decode::{records, DecodeArgs, DecodedRecord};
use rserpool_testdata::index;

fn decode_capture(name: &str) -> Vec<DecodedRecord> {
    let args = DecodeArgs {
        hex: vec![],
        enrp: false,
        pcap: Some(rserpool_testdata::capture(name)),
    };
    records(&args).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// "asap endpoint-keep-alive (ppid 11)" → count, per capture file.
fn expected_counts() -> BTreeMap<String, BTreeMap<String, usize>> {
    let text = index();
    let section = text
        .split("## Message counts per capture")
        .nth(1)
        .expect("INDEX.md has a 'Message counts per capture' section");
    let mut all = BTreeMap::new();
    for line in section.lines() {
        let Some(rest) = line.strip_prefix("* **") else {
            continue;
        };
        let (file, list) = rest.split_once("**:").expect("'* **file**: …' line");
        let mut counts = BTreeMap::new();
        for item in list.split(", ") {
            let (label, n) = item.trim().rsplit_once(" x").expect("'label xN' item");
            counts.insert(label.to_string(), n.parse::<usize>().expect("count"));
        }
        all.insert(file.to_string(), counts);
    }
    assert_eq!(all.len(), 8, "eight captures listed");
    all
}

fn label_with_ppid(r: &DecodedRecord) -> String {
    let ppid = r
        .origin
        .as_ref()
        .and_then(|o| o.ppid)
        .map_or("None".to_string(), |p| p.to_string());
    format!("{} (ppid {ppid})", r.label())
}

#[test]
fn every_capture_decodes_with_the_index_message_counts() {
    for (file, expected) in expected_counts() {
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for r in decode_capture(&file) {
            // INDEX.md counts typed messages (as tshark names them); a
            // payload shorter than the 4-byte header has no type there.
            if r.bytes.len() < 4 {
                assert!(r.label().ends_with("too-short"));
                continue;
            }
            *got.entry(label_with_ppid(&r)).or_default() += 1;
        }
        assert_eq!(got, expected, "message counts of {file}");
    }
}

#[test]
fn only_the_probe_capture_holds_undecodable_messages() {
    // 05-probes.pcap is where a raw client sent malformed messages on
    // purpose; everything in the other captures was sent by RSPLIB and must
    // decode.
    let mut probe_failures = 0;
    for file in expected_counts().keys() {
        for r in decode_capture(file) {
            if let Err(e) = &r.result {
                assert!(file.starts_with("05-"), "{file}: {} failed: {e}", r.text());
                probe_failures += 1;
            }
        }
    }
    // The malformed probes and RSPLIB's ASAP Error quoting one of them.
    assert!(probe_failures >= 5, "{probe_failures}");
}

#[test]
fn every_vector_appears_at_its_index_frame() {
    let text = index();
    let mut checked = 0;
    for line in text.lines().filter(|l| l.starts_with("| [")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | [name](name.hex) | PPID | transport | pcap:frame | ...
        let name = cells[1]
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap()
            .to_string();
        let (pcap, frame) = cells[4].split_once(':').expect("pcap:frame");
        let frame: u64 = frame.parse().unwrap();
        let bytes = rserpool_testdata::vector(&name);
        let found = decode_capture(pcap)
            .into_iter()
            .any(|r| r.origin.as_ref().is_some_and(|o| o.frame == frame) && r.bytes == bytes);
        assert!(found, "vector {name} not found at {pcap} frame {frame}");
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} vectors listed");
}

/// Rewrite a classic pcap (little-endian, µs) as pcapng: section header,
/// one interface with the same link type, one enhanced packet per record.
fn pcap_to_pcapng(pcap: &[u8]) -> Vec<u8> {
    let u32le = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    assert_eq!(
        u32le(pcap, 0),
        0xa1b2_c3d4,
        "little-endian microsecond pcap"
    );
    let linktype = u32le(pcap, 20) as u16;
    let mut out = Vec::new();
    let mut block = |ty: u32, body: &[u8]| {
        let len = (12 + body.len().div_ceil(4) * 4) as u32;
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + (4 - body.len() % 4) % 4, 0);
        out.extend_from_slice(&len.to_le_bytes());
    };
    // Section header: byte-order magic, version 1.0, unknown section length.
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0a0d_0d0a, &shb);
    // Interface description: link type, reserved, snap length.
    let mut idb = linktype.to_le_bytes().to_vec();
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&0u32.to_le_bytes());
    block(1, &idb);
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let (sec, usec, caplen, origlen) = (
            u32le(pcap, at),
            u32le(pcap, at + 4),
            u32le(pcap, at + 8),
            u32le(pcap, at + 12),
        );
        let data = &pcap[at + 16..at + 16 + caplen as usize];
        let ts = u64::from(sec) * 1_000_000 + u64::from(usec);
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&caplen.to_le_bytes());
        epb.extend_from_slice(&origlen.to_le_bytes());
        epb.extend_from_slice(data);
        block(6, &epb);
        at += 16 + caplen as usize;
    }
    out
}

#[test]
fn pcapng_yields_the_same_messages_as_pcap() {
    let original = rserpool_testdata::capture("04-pu-echo-failover.pcap");
    let ng = std::env::temp_dir().join(format!("rserpool-{}-04.pcapng", std::process::id()));
    std::fs::write(&ng, pcap_to_pcapng(&std::fs::read(&original).unwrap())).unwrap();
    let read = |p: PathBuf| {
        records(&DecodeArgs {
            hex: vec![],
            enrp: false,
            pcap: Some(p),
        })
        .unwrap()
        .into_iter()
        .map(|r| (r.origin.unwrap().frame, r.bytes))
        .collect::<Vec<_>>()
    };
    let from_ng = read(ng.clone());
    std::fs::remove_file(&ng).unwrap();
    let from_pcap = read(original);
    assert!(!from_pcap.is_empty());
    assert_eq!(from_ng, from_pcap);
}
