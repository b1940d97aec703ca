//! RSPLIB's Component Status Protocol (CSP): the UDP status report every
//! registrar and librsplib pool element or pool user sends once per
//! interval when started with `-cspserver=ADDR:PORT -cspinterval=MS`. The
//! lab collects them (its agent listens on the CSP port) to draw the live
//! topology. The layout is described in `docs/lab-page.md`.
//!
//! The decoder is a plain function over bytes: it never panics, takes the
//! datagram apart only as far as its length fields allow, and says what
//! was wrong. CSP is unauthenticated: a report says what its sender
//! claims, nothing more.

use serde::{Deserialize, Serialize};

/// The port CSP receivers usually listen on.
pub const CSP_PORT: u16 = 2960;

/// Message type of a status report.
const TYPE_REPORT: u8 = 0x01;
/// Flag bit 0: the last report, sent on shutdown.
const FLAG_FINAL: u8 = 0x01;
/// Protocol version RSPLIB 3.x sends.
const VERSION: u32 = 0x0000_0200;
/// Bytes before the association list.
const HEADER_LEN: usize = 288;
/// Bytes per association.
const ASSOCIATION_LEN: usize = 24;
/// Size of the location and status text fields.
const TEXT_LEN: usize = 128;
/// Workload value meaning "no workload reported".
const NO_WORKLOAD: u16 = 0xFFFF;
/// Workload value meaning 100 % (a reported load w is w / 0xFFFE).
const FULL_WORKLOAD: u16 = 0xFFFE;
/// Duration value meaning "unknown".
const UNKNOWN_DURATION: u64 = u64::MAX;

/// What sends (or is named in) a report: the top byte of a component id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    /// Group 1: a registrar; the object is its server identifier.
    Registrar,
    /// Group 2: a pool element; the object is its PE identifier.
    Pe,
    /// Group 3: a pool user; the object is random.
    Pu,
    /// Any other group.
    Unknown,
}

/// A component identifier: group (top byte) and object (the other 56 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ComponentId(pub u64);

impl ComponentId {
    pub fn group(self) -> u8 {
        (self.0 >> 56) as u8
    }

    pub fn kind(self) -> ComponentKind {
        match self.group() {
            1 => ComponentKind::Registrar,
            2 => ComponentKind::Pe,
            3 => ComponentKind::Pu,
            _ => ComponentKind::Unknown,
        }
    }

    /// The object part (registrar or PE identifier for those kinds).
    pub fn object(self) -> u64 {
        self.0 & 0x00FF_FFFF_FFFF_FFFF
    }
}

impl std::fmt::Display for ComponentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:016x}", self.0)
    }
}

/// One association a report lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedAssociation {
    pub receiver: ComponentId,
    /// How long it has existed; `None` when the sender does not know.
    pub duration_us: Option<u64>,
    pub flags: u16,
    /// Transport protocol number (132: SCTP).
    pub protocol: u16,
    /// Payload protocol identifier (11 ASAP, 12 ENRP, 34 CalcApp).
    pub ppid: u32,
}

/// A decoded Component Status report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The sender's last report (it is shutting down).
    pub final_report: bool,
    pub sender: ComponentId,
    /// The sender's clock when it sent the report, µs since the Unix epoch.
    pub sender_time_us: u64,
    /// How often the sender reports.
    pub interval_us: u32,
    /// `"host: addr, addr"`.
    pub location: String,
    /// Registrar: `"N[owned] PEs in P Pools, K Peers"`; PE or PU: `"n Sessions"`.
    pub status: String,
    /// Raw workload: `None` for "none", else load = w / 0xFFFE.
    pub workload: Option<u16>,
    pub associations: Vec<ReportedAssociation>,
}

impl StatusReport {
    /// The workload as a fraction (1.0 = full), if reported.
    pub fn workload_fraction(&self) -> Option<f64> {
        self.workload
            .map(|w| f64::from(w) / f64::from(FULL_WORKLOAD))
    }
}

/// Why a datagram is not a Component Status report.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CspError {
    #[error("{len} bytes is shorter than the {HEADER_LEN}-byte report header")]
    Short { len: usize },
    #[error("message type 0x{0:02x} is not a status report (0x01)")]
    UnknownType(u8),
    #[error("version 0x{0:08x} is not the supported 0x00000200")]
    UnsupportedVersion(u32),
    #[error("length field {field} does not match the datagram's {actual} bytes")]
    LengthMismatch { field: usize, actual: usize },
    #[error("{count} associations need {needed} bytes, the report has {actual}")]
    AssociationCount {
        count: usize,
        needed: usize,
        actual: usize,
    },
}

/// A bounds-checked big-endian reader over the fixed layout.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut b = [0u8; N];
        if let Some(s) = self.0.get(at..at + N) {
            b.copy_from_slice(s);
        }
        b
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_be_bytes(self.bytes(at))
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.bytes(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_be_bytes(self.bytes(at))
    }
    /// NUL-padded text (what follows the first NUL is padding).
    fn text(&self, at: usize) -> String {
        let raw = self.0.get(at..at + TEXT_LEN).unwrap_or_default();
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }
}

/// Decodes one CSP datagram. The datagram must be exactly as long as its
/// length field says, and that must be 288 + 24 per association (what
/// RSPLIB's own monitor requires too).
pub fn decode(datagram: &[u8]) -> Result<StatusReport, CspError> {
    let f = Fields(datagram);
    if datagram.len() < HEADER_LEN {
        return Err(CspError::Short {
            len: datagram.len(),
        });
    }
    let kind = datagram[0];
    if kind != TYPE_REPORT {
        return Err(CspError::UnknownType(kind));
    }
    let version = f.u32(4);
    if version != VERSION {
        return Err(CspError::UnsupportedVersion(version));
    }
    let length = usize::from(f.u16(2));
    if length != datagram.len() {
        return Err(CspError::LengthMismatch {
            field: length,
            actual: datagram.len(),
        });
    }
    let count = usize::from(f.u16(286));
    let needed = HEADER_LEN + ASSOCIATION_LEN * count;
    if needed != length {
        return Err(CspError::AssociationCount {
            count,
            needed,
            actual: length,
        });
    }
    let workload = f.u16(284);
    let associations = (0..count)
        .map(|i| {
            let at = HEADER_LEN + ASSOCIATION_LEN * i;
            let duration = f.u64(at + 8);
            ReportedAssociation {
                receiver: ComponentId(f.u64(at)),
                duration_us: (duration != UNKNOWN_DURATION).then_some(duration),
                flags: f.u16(at + 16),
                protocol: f.u16(at + 18),
                ppid: f.u32(at + 20),
            }
        })
        .collect();
    Ok(StatusReport {
        final_report: datagram[1] & FLAG_FINAL != 0,
        sender: ComponentId(f.u64(8)),
        sender_time_us: f.u64(16),
        interval_us: f.u32(24),
        location: f.text(28),
        status: f.text(156),
        workload: (workload != NO_WORKLOAD).then_some(workload),
        associations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a report the way the layout says (for the error cases; the
    /// live captures are in tests/csp_capture.rs).
    fn report(n: u16) -> Vec<u8> {
        let mut d = vec![0u8; HEADER_LEN + ASSOCIATION_LEN * usize::from(n)];
        d[0] = TYPE_REPORT;
        let len = u16::try_from(d.len()).unwrap();
        d[2..4].copy_from_slice(&len.to_be_bytes());
        d[4..8].copy_from_slice(&VERSION.to_be_bytes());
        d[8..16].copy_from_slice(&0x0200_0000_1234_5678u64.to_be_bytes());
        d[28..33].copy_from_slice(b"here:");
        d[156..166].copy_from_slice(b"0 Sessions");
        d[284..286].copy_from_slice(&0x7FFFu16.to_be_bytes());
        d[286..288].copy_from_slice(&n.to_be_bytes());
        d
    }

    #[test]
    fn decodes_a_report_built_from_the_layout() {
        let r = decode(&report(0)).unwrap();
        assert_eq!(r.sender.kind(), ComponentKind::Pe);
        assert_eq!(r.sender.object(), 0x1234_5678);
        assert_eq!(r.location, "here:");
        assert_eq!(r.status, "0 Sessions");
        assert!((r.workload_fraction().unwrap() - 0.5).abs() < 0.001);
        assert!(!r.final_report);
    }

    #[test]
    fn refuses_what_is_not_an_exact_report() {
        assert_eq!(decode(&[1, 0, 1]), Err(CspError::Short { len: 3 }));
        let mut d = report(0);
        d[0] = 2;
        assert_eq!(decode(&d), Err(CspError::UnknownType(2)));
        let mut d = report(0);
        d[7] = 1;
        assert_eq!(decode(&d), Err(CspError::UnsupportedVersion(0x0201)));
        let mut d = report(1);
        d.push(0);
        assert_eq!(
            decode(&d),
            Err(CspError::LengthMismatch {
                field: 312,
                actual: 313
            })
        );
        let mut d = report(1);
        d[286..288].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(
            decode(&d).unwrap_err().to_string(),
            "2 associations need 336 bytes, the report has 312"
        );
    }

    #[test]
    fn never_panics_on_any_prefix_or_bit_flip() {
        let d = report(2);
        for n in 0..=d.len() {
            let _ = decode(&d[..n]);
        }
        for i in 0..d.len() {
            for bit in 0..8 {
                let mut e = d.clone();
                e[i] ^= 1 << bit;
                let _ = decode(&e);
            }
        }
    }
}
