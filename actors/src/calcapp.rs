//! RSPLIB's CalcApp protocol (the workload of the papers that measured
//! RSerPool under attack; `rspserver -calcapp`), as `docs/calcapp.md`
//! describes it: a pool user asks a PE to do a job of `size` calculations,
//! the PE shares its capacity among its jobs, sends the pool user its
//! progress as an ASAP Cookie now and then, and a Complete at the end. A
//! pool user that fails over echoes the last cookie to the new PE, which
//! takes the job over from the progress the cookie states.
//!
//! Messages go on the PE's user transport with PPID [`PPID_CALCAPP`];
//! cookies and cookie echoes are ASAP (PPID 11) on the same association.

use std::fmt;

/// CalcApp's SCTP payload protocol identifier.
pub const PPID_CALCAPP: u32 = 34;

/// Length of every CalcApp message.
pub const MESSAGE_LEN: usize = 24;
/// Length of the state a CalcApp PE puts in its cookies.
pub const COOKIE_LEN: usize = 20;

/// The CalcApp message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Request,
    Accept,
    Reject,
    Abort,
    Complete,
    KeepAlive,
    KeepAliveAck,
    Unknown(u8),
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::Request => 1,
            Kind::Accept => 2,
            Kind::Reject => 3,
            Kind::Abort => 4,
            Kind::Complete => 5,
            Kind::KeepAlive => 6,
            Kind::KeepAliveAck => 7,
            Kind::Unknown(c) => c,
        }
    }
    pub fn from_code(c: u8) -> Kind {
        match c {
            1 => Kind::Request,
            2 => Kind::Accept,
            3 => Kind::Reject,
            4 => Kind::Abort,
            5 => Kind::Complete,
            6 => Kind::KeepAlive,
            7 => Kind::KeepAliveAck,
            c => Kind::Unknown(c),
        }
    }
}

/// One CalcApp message: type, flags, length (16 bits), job id (32),
/// job size and calculations completed (64 bits each), network order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub job_id: u32,
    pub job_size: u64,
    pub completed: u64,
}

/// A CalcApp PE's job state as its cookie carries it (job id, size,
/// completed), unsigned and unencrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobState {
    pub job_id: u32,
    pub job_size: u64,
    pub completed: u64,
}

/// Why bytes are not a CalcApp message or cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooShort {
        what: &'static str,
        len: usize,
        need: usize,
    },
    BadLength {
        stated: u16,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort { what, len, need } => {
                write!(f, "CalcApp {what}: {len} bytes, shorter than its {need}")
            }
            DecodeError::BadLength { stated } => {
                write!(
                    f,
                    "CalcApp message: length field {stated}, not {MESSAGE_LEN}"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

impl Message {
    pub fn new(kind: Kind, job_id: u32) -> Message {
        Message {
            kind,
            job_id,
            job_size: 0,
            completed: 0,
        }
    }

    /// A request for a job of `job_size` calculations.
    pub fn request(job_id: u32, job_size: u64) -> Message {
        Message {
            job_size,
            ..Message::new(Kind::Request, job_id)
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(MESSAGE_LEN);
        v.push(self.kind.code());
        v.push(0);
        v.extend_from_slice(&(MESSAGE_LEN as u16).to_be_bytes());
        v.extend_from_slice(&self.job_id.to_be_bytes());
        v.extend_from_slice(&self.job_size.to_be_bytes());
        v.extend_from_slice(&self.completed.to_be_bytes());
        v
    }

    /// Decodes a message; bytes after the 24 are ignored, as RSPLIB does.
    pub fn parse(b: &[u8]) -> Result<Message, DecodeError> {
        if b.len() < MESSAGE_LEN {
            return Err(DecodeError::TooShort {
                what: "message",
                len: b.len(),
                need: MESSAGE_LEN,
            });
        }
        let stated = u16::from_be_bytes([b[2], b[3]]);
        if usize::from(stated) != MESSAGE_LEN {
            return Err(DecodeError::BadLength { stated });
        }
        Ok(Message {
            kind: Kind::from_code(b[0]),
            job_id: be_u32(&b[4..]),
            job_size: be_u64(&b[8..]),
            completed: be_u64(&b[16..]),
        })
    }
}

impl JobState {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(COOKIE_LEN);
        v.extend_from_slice(&self.job_id.to_be_bytes());
        v.extend_from_slice(&self.job_size.to_be_bytes());
        v.extend_from_slice(&self.completed.to_be_bytes());
        v
    }

    pub fn parse(b: &[u8]) -> Result<JobState, DecodeError> {
        if b.len() < COOKIE_LEN {
            return Err(DecodeError::TooShort {
                what: "cookie",
                len: b.len(),
                need: COOKIE_LEN,
            });
        }
        Ok(JobState {
            job_id: be_u32(b),
            job_size: be_u64(&b[4..]),
            completed: be_u64(&b[12..]),
        })
    }
}

/// How a tampering pool user alters the state it echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Tamper {
    /// Claims the job all but done: completed = size − 1 (the new PE
    /// reports it complete at once, having done none of the work).
    Completed,
    /// Claims a job 1000 times larger than the one the first PE took (the
    /// new PE spends its capacity on work nobody asked it for).
    Size,
}

impl Tamper {
    /// The state the tampering pool user echoes instead of `real`.
    pub fn apply(self, real: JobState) -> JobState {
        match self {
            Tamper::Completed => JobState {
                completed: real.job_size.saturating_sub(1).max(real.completed),
                ..real
            },
            Tamper::Size => JobState {
                job_size: real.job_size.saturating_mul(1000),
                ..real
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_rsplibs_24_byte_message_in_network_order() {
        let b = Message::request(0x0102_0304, 1_000_000).to_bytes();
        assert_eq!(
            hex::encode(&b),
            "01000018010203040000000000 0f4240 0000000000000000".replace(' ', "")
        );
        assert_eq!(
            Message::parse(&b).unwrap(),
            Message::request(0x0102_0304, 1_000_000)
        );
    }

    #[test]
    fn short_or_mislabelled_messages_are_typed_errors() {
        assert_eq!(
            Message::parse(&[2, 0, 0, 24]).unwrap_err(),
            DecodeError::TooShort {
                what: "message",
                len: 4,
                need: 24
            }
        );
        let mut b = Message::new(Kind::Accept, 1).to_bytes();
        b[3] = 23;
        assert_eq!(
            Message::parse(&b).unwrap_err(),
            DecodeError::BadLength { stated: 23 }
        );
        b[3] = 24;
        b[0] = 99;
        assert_eq!(Message::parse(&b).unwrap().kind, Kind::Unknown(99));
        assert!(JobState::parse(&[0; 19])
            .unwrap_err()
            .to_string()
            .contains("cookie"));
    }

    #[test]
    fn a_cookie_round_trips_and_tampering_changes_only_what_it_says() {
        let real = JobState {
            job_id: 7,
            job_size: 10_000_000,
            completed: 400_000,
        };
        assert_eq!(JobState::parse(&real.to_bytes()).unwrap(), real);
        assert_eq!(real.to_bytes().len(), COOKIE_LEN);
        let done = Tamper::Completed.apply(real);
        assert_eq!(
            (done.job_id, done.job_size, done.completed),
            (7, 10_000_000, 9_999_999)
        );
        let big = Tamper::Size.apply(real);
        assert_eq!(
            (big.job_id, big.job_size, big.completed),
            (7, 10_000_000_000, 400_000)
        );
        // The bytes echoed differ from the PE's exactly in the field altered.
        let (a, b) = (real.to_bytes(), done.to_bytes());
        let differing: Vec<usize> = (0..COOKIE_LEN).filter(|&i| a[i] != b[i]).collect();
        assert!(
            differing.iter().all(|i| (12..20).contains(i)),
            "{differing:?}"
        );
    }
}
