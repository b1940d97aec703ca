//! `rserpool decode`: hex or captures → one decoded message per line.

use std::io::Write;
use std::path::PathBuf;

use client_core::wire::{self, DecodeLimits, Protocol};

use crate::capture::{self, CapturedMessage, Transport};
use crate::exit::{CliError, ExitStatus};
use crate::summary;

/// Arguments of `rserpool decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Messages as hex (one ASAP/ENRP message each; spaces and colons allowed
    /// inside an argument when quoted).
    #[arg(
        value_name = "HEX",
        required_unless_present = "pcap",
        conflicts_with = "pcap"
    )]
    pub hex: Vec<String>,
    /// Treat hex input as ENRP (PPID 12) instead of ASAP (PPID 11).
    #[arg(long)]
    pub enrp: bool,
    /// Read a pcap/pcapng capture and decode every ASAP/ENRP message in it;
    /// `-` reads standard input as a stream (`tcpdump -w - | rserpool
    /// decode --pcap -`), each message printed as its frame arrives.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

/// One decoded (or undecodable) message with where it came from.
#[derive(Debug)]
pub struct DecodedRecord {
    pub origin: Option<CapturedMessage>,
    pub protocol: Protocol,
    pub bytes: Vec<u8>,
    pub result: Result<wire::Decoded, wire::DecodeError>,
}

impl DecodedRecord {
    pub fn new(protocol: Protocol, bytes: Vec<u8>, origin: Option<CapturedMessage>) -> Self {
        // Inspection of captured (possibly hostile) traffic: permissive
        // limits so oversized handles are shown rather than refused.
        let result = wire::decode_with(protocol, &bytes, &DecodeLimits::permissive());
        DecodedRecord {
            origin,
            protocol,
            bytes,
            result,
        }
    }

    /// "asap handle-resolution", from the type byte (so also for
    /// undecodable messages).
    pub fn label(&self) -> String {
        match self.bytes.first() {
            // Not even a message header: Wireshark does not call this a
            // message of any type either.
            Some(_) if self.bytes.len() < client_core::wire::consts::MESSAGE_HEADER_LEN => {
                format!("{} too-short", summary::protocol_label(self.protocol))
            }
            Some(&code) => format!(
                "{} {}",
                summary::protocol_label(self.protocol),
                summary::type_label(self.protocol, code)
            ),
            None => format!("{} empty", summary::protocol_label(self.protocol)),
        }
    }

    pub fn text(&self) -> String {
        let mut line = String::new();
        if let Some(o) = &self.origin {
            let transport = match o.transport {
                Transport::Sctp => format!("sctp ppid {}", o.ppid.unwrap_or(0)),
                Transport::Udp => "udp".to_string(),
            };
            line.push_str(&format!(
                "#{} {:.6} {} -> {} {} ",
                o.frame, o.time, o.src, o.dst, transport
            ));
        }
        line.push_str(&self.label());
        line.push_str(&format!(" len {}", self.bytes.len()));
        match &self.result {
            Ok(d) => {
                let details = summary::details(&d.message);
                if !details.is_empty() {
                    line.push_str(": ");
                    line.push_str(&details);
                }
                if !d.skipped.is_empty() {
                    line.push_str(&format!(
                        " ({} unknown parameters skipped)",
                        d.skipped.len()
                    ));
                }
            }
            Err(e) => line.push_str(&format!(": UNDECODABLE {e}")),
        }
        line
    }

    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "protocol": summary::protocol_label(self.protocol),
            "type": self.bytes.first().map(|&c| summary::type_label(self.protocol, c)),
            "type_code": self.bytes.first(),
            "flags": self.bytes.get(1),
            "length": self.bytes.len(),
            "hex": hex::encode(&self.bytes),
        });
        if let Some(o) = &self.origin {
            v["frame"] = o.frame.into();
            v["time"] = o.time.into();
            v["src"] = o.src.to_string().into();
            v["dst"] = o.dst.to_string().into();
            v["transport"] = serde_json::to_value(o.transport).unwrap_or_default();
            v["ppid"] = o.ppid.into();
            v["stream"] = o.stream.into();
        }
        match &self.result {
            Ok(d) => {
                v["summary"] = summary::details(&d.message).into();
                v["message"] = crate::json::message(&d.message);
                v["skipped_parameters"] = d.skipped.len().into();
            }
            Err(e) => {
                v["error"] = e.to_string().into();
                v["error_offset"] = e.offset.into();
            }
        }
        v
    }
}

/// Parse one hex argument; whitespace, ':' and a leading "0x" are ignored.
pub fn parse_hex(arg: &str) -> Result<Vec<u8>, CliError> {
    let cleaned: String = arg
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(&cleaned).map_err(|e| {
        CliError::new(
            ExitStatus::Usage,
            anyhow::anyhow!("not hex: {e} in {:?}", truncate(arg, 40)),
        )
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Decode what the arguments name.
pub fn records(args: &DecodeArgs) -> Result<Vec<DecodedRecord>, CliError> {
    if let Some(path) = &args.pcap {
        let contents = capture::read_capture(path)
            .map_err(|e| CliError::new(ExitStatus::BadInput, e.into()))?;
        tracing::info!(
            frames = contents.frames,
            messages = contents.messages.len(),
            skipped = contents.skipped_payloads,
            unsupported = contents.unsupported_frames,
            "capture read"
        );
        return Ok(contents
            .messages
            .into_iter()
            .map(|m| DecodedRecord::new(m.protocol, m.bytes.clone(), Some(m)))
            .collect());
    }
    let protocol = if args.enrp {
        Protocol::Enrp
    } else {
        Protocol::Asap
    };
    args.hex
        .iter()
        .map(|h| Ok(DecodedRecord::new(protocol, parse_hex(h)?, None)))
        .collect()
}

/// `rserpool decode --pcap`: every message written as soon as it is read
/// (a file, or standard input for `-`).
fn stream(path: &std::path::Path, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let each = |m: CapturedMessage| {
        let r = DecodedRecord::new(m.protocol, m.bytes.clone(), Some(m));
        let line = if json { r.json().to_string() } else { r.text() };
        writeln!(out, "{line}")?;
        // A pipe reader sees each message at once, not per 8 KiB block.
        out.flush()
    };
    let contents = if path == std::path::Path::new("-") {
        capture::stream_capture("standard input", std::io::stdin(), each)
    } else {
        let file = std::fs::File::open(path).map_err(|e| {
            CliError::new(
                ExitStatus::BadInput,
                anyhow::anyhow!("cannot open {}: {e}", path.display()),
            )
        })?;
        capture::stream_capture(&path.display().to_string(), file, each)
    };
    let contents = contents.map_err(|e| {
        let status = match e {
            capture::CaptureError::Output(_) => ExitStatus::Failure,
            _ => ExitStatus::BadInput,
        };
        CliError::new(status, e.into())
    })?;
    tracing::info!(
        frames = contents.frames,
        skipped = contents.skipped_payloads,
        unsupported = contents.unsupported_frames,
        "capture read"
    );
    Ok(())
}

/// `rserpool decode`.
pub fn run(args: &DecodeArgs, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(path) = &args.pcap {
        return stream(path, json, out);
    }
    let records = records(args)?;
    let mut failed = 0usize;
    for r in &records {
        let line = if json { r.json().to_string() } else { r.text() };
        // A reader that has seen enough (`| head`) is main's business.
        writeln!(out, "{line}").map_err(|e| CliError::new(ExitStatus::Failure, e.into()))?;
        if r.result.is_err() {
            failed += 1;
        }
    }
    // Hex given by the user that does not decode is an input error; in a
    // capture undecodable messages (probes) are expected and only reported.
    if args.pcap.is_none() && failed > 0 {
        return Err(CliError::new(
            ExitStatus::BadInput,
            anyhow::anyhow!(
                "{failed} of {} messages could not be decoded",
                records.len()
            ),
        ));
    }
    Ok(())
}
