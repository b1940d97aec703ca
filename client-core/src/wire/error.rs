//! Typed decode errors that say what was wrong and where.

use super::consts::cause_code;
use super::types::{CauseCode, ErrorCause, UnrecognizedAction};

/// What was wrong with the bytes.
///
/// With the `serde` feature errors serialize (for `--json` output and event
/// streams) but do not deserialize: field names are `&'static str`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum DecodeErrorKind {
    /// Fewer bytes than a message header (4).
    MessageTooShort {
        /// Bytes received.
        available: usize,
    },
    /// The Message Length field is below the header size.
    MessageLengthTooShort {
        /// The Message Length field's value.
        length: usize,
    },
    /// The Message Length field promises more bytes than were received.
    MessageTruncated {
        /// The Message Length field's value.
        length: usize,
        /// Bytes received.
        available: usize,
    },
    /// The message is longer than the limit.
    MessageTooLong {
        /// The Message Length field's value.
        length: usize,
        /// The limit in force
        /// ([`DecodeLimits::max_message_len`](super::DecodeLimits::max_message_len)).
        max: usize,
    },
    /// Bytes after Message Length (beyond the final parameter's padding).
    TrailingBytes {
        /// How many bytes follow the message.
        count: usize,
    },
    /// A fixed field (server ID, update action, …) does not fit.
    FieldTruncated {
        /// Name of the field.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the message.
        available: usize,
    },
    /// Fewer than 4 bytes left where a parameter header must start.
    ParameterHeaderTruncated {
        /// Bytes left in the container.
        available: usize,
    },
    /// A parameter's Length field is below its 4-byte header.
    ParameterLengthTooShort {
        /// The parameter's Length field.
        length: usize,
    },
    /// A parameter's Length field runs past the end of its container.
    ParameterOverrun {
        /// The parameter's Length field.
        length: usize,
        /// Bytes left in the message or enclosing parameter.
        available: usize,
    },
    /// The zero padding after a parameter is missing (RSPLIB requires it).
    PaddingMissing {
        /// Padding bytes the parameter's length calls for (1 to 3).
        needed: usize,
        /// Bytes actually left after the parameter.
        available: usize,
    },
    /// A parameter whose value must have a fixed size has another size.
    InvalidParameterLength {
        /// The only Length the type allows, header included.
        expected: usize,
        /// The Length received, header included.
        length: usize,
    },
    /// A required parameter is absent.
    MissingParameter {
        /// Type code of the missing parameter.
        expected: u16,
    },
    /// A known parameter at a position where the message does not allow it
    /// (RSPLIB treats it by its action bits: 00 → the message is dropped).
    UnexpectedParameter {
        /// Type code the position calls for; `None` when the message must end here.
        expected: Option<u16>,
    },
    /// A parameter type the decoder does not know, with "stop" action bits.
    /// `tlv` holds the whole offending parameter so that a receiver can
    /// report it in an Operation Error with cause 1 when the action says so.
    UnrecognizedParameter {
        /// What the type's top two bits ask for (stop, or stop and report).
        action: UnrecognizedAction,
        /// The whole parameter: header and value, without padding.
        tlv: Vec<u8>,
    },
    /// An empty pool handle.
    EmptyPoolHandle,
    /// A pool handle longer than the limit (RSPLIB aborts beyond 32 bytes).
    PoolHandleTooLong {
        /// Length of the handle in bytes.
        length: usize,
        /// The limit in force
        /// ([`DecodeLimits::max_pool_handle_len`](super::DecodeLimits::max_pool_handle_len)).
        max: usize,
    },
    /// More pool elements than the limit.
    TooManyElements {
        /// The limit in force ([`DecodeLimits::max_elements`](super::DecodeLimits::max_elements)).
        max: usize,
    },
    /// More addresses in one transport parameter than the limit.
    TooManyAddresses {
        /// The limit in force
        /// ([`DecodeLimits::max_addresses`](super::DecodeLimits::max_addresses)).
        max: usize,
    },
    /// A transport parameter without any address.
    NoAddresses,
    /// More error causes than the limit.
    TooManyCauses {
        /// The limit in force ([`DecodeLimits::max_causes`](super::DecodeLimits::max_causes)).
        max: usize,
    },
    /// A parameter nested deeper than the limit.
    TooDeep {
        /// The limit in force ([`DecodeLimits::max_depth`](super::DecodeLimits::max_depth)).
        max: usize,
    },
    /// The policy value does not have the number of words its type needs.
    InvalidPolicyLength {
        /// The policy type code.
        policy: u32,
        /// 32-bit words received after the type code.
        words: usize,
        /// Words the policy type needs.
        expected: usize,
    },
    /// A policy value that is not a whole number of 32-bit words.
    UnalignedPolicy {
        /// Length of the policy value in bytes.
        length: usize,
    },
    /// An error cause whose Cause Length is below 4 or beyond its parameter.
    InvalidCauseLength {
        /// The Cause Length field.
        length: usize,
        /// Bytes left in the Operation Error parameter.
        available: usize,
    },
}

/// A decode error: what was wrong, in which parameter, at which byte offset
/// of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// Offset in the message of the parameter (or field) concerned.
    pub offset: usize,
    /// The parameter type concerned, if the error is inside a parameter.
    pub parameter: Option<u16>,
}

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind, offset: usize, parameter: Option<u16>) -> Self {
        DecodeError {
            kind,
            offset,
            parameter,
        }
    }
}

impl DecodeError {
    /// The error cause to report to the sender, if the action bits ask for
    /// one: an unrecognized parameter with action bits 01 gives cause 0x0001
    /// "Unrecognized Parameter" with the whole offending parameter as info
    /// (RFC 5354 §3; RSPLIB answers it with an ASAP Error). Every other
    /// decode error drops the message without a report (action 00, RSPLIB's
    /// behaviour for malformed input from a pool element).
    pub fn report_cause(&self) -> Option<ErrorCause> {
        match &self.kind {
            DecodeErrorKind::UnrecognizedParameter {
                action: UnrecognizedAction::StopAndReport,
                tlv,
            } => Some(ErrorCause {
                code: CauseCode(cause_code::UNRECOGNIZED_PARAMETER),
                info: tlv.clone(),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use DecodeErrorKind::*;
        match self {
            MessageTooShort { available } => {
                write!(
                    f,
                    "{available} bytes are shorter than the 4-byte message header"
                )
            }
            MessageLengthTooShort { length } => {
                write!(
                    f,
                    "message length {length} is shorter than the 4-byte header"
                )
            }
            MessageTruncated { length, available } => write!(
                f,
                "message length {length} exceeds the {available} bytes received"
            ),
            MessageTooLong { length, max } => {
                write!(f, "message length {length} exceeds the limit of {max}")
            }
            TrailingBytes { count } => {
                write!(f, "{count} trailing bytes after the message")
            }
            FieldTruncated {
                field,
                needed,
                available,
            } => write!(
                f,
                "field {field} needs {needed} bytes, only {available} left"
            ),
            ParameterHeaderTruncated { available } => write!(
                f,
                "{available} bytes left are shorter than a 4-byte parameter header"
            ),
            ParameterLengthTooShort { length } => {
                write!(f, "length {length} is shorter than its 4-byte header")
            }
            ParameterOverrun { length, available } => write!(
                f,
                "length {length} runs past the {available} bytes of its container"
            ),
            PaddingMissing { needed, available } => write!(
                f,
                "{needed} padding bytes are missing ({available} present)"
            ),
            InvalidParameterLength { expected, length } => {
                write!(f, "length {length}, expected {expected}")
            }
            MissingParameter { expected } => {
                write!(f, "required parameter 0x{expected:04x} is missing")
            }
            UnexpectedParameter { expected: Some(e) } => {
                write!(f, "unexpected here (expected parameter 0x{e:04x})")
            }
            UnexpectedParameter { expected: None } => {
                write!(f, "unexpected here (no further parameter allowed)")
            }
            UnrecognizedParameter { action, .. } => {
                write!(f, "unrecognized parameter type, action bits say {action:?}")
            }
            EmptyPoolHandle => write!(f, "empty pool handle"),
            PoolHandleTooLong { length, max } => {
                write!(
                    f,
                    "pool handle of {length} bytes exceeds the limit of {max}"
                )
            }
            TooManyElements { max } => write!(f, "more than {max} pool elements"),
            TooManyAddresses { max } => write!(f, "more than {max} addresses"),
            NoAddresses => write!(f, "transport parameter without an address"),
            TooManyCauses { max } => write!(f, "more than {max} error causes"),
            TooDeep { max } => write!(f, "parameters nested deeper than {max}"),
            InvalidPolicyLength {
                policy,
                words,
                expected,
            } => write!(
                f,
                "policy 0x{policy:08x} has {words} value words, expected {expected}"
            ),
            UnalignedPolicy { length } => {
                write!(
                    f,
                    "policy value of {length} bytes is not whole 32-bit words"
                )
            }
            InvalidCauseLength { length, available } => write!(
                f,
                "cause length {length} is invalid ({available} bytes available)"
            ),
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parameter {
            Some(p) => write!(
                f,
                "parameter 0x{p:04x} at offset {}: {}",
                self.offset, self.kind
            ),
            None => write!(f, "at offset {}: {}", self.offset, self.kind),
        }
    }
}

impl std::error::Error for DecodeError {}
