//! One codec per parameter type (RFC 5354 §2.2), in rustls' `Codec` shape:
//! encode appends the padded TLV to a `Vec<u8>`, decode reads exactly one
//! parameter from a bounded reader and refuses anything left over.
//!
//! Messages use the same code paths (`param::Writer` / `param::Reader`), so a
//! parameter encoded here is byte-for-byte what [`super::Message::encode`]
//! puts inside a message. Attack scenarios combine these with the
//! deliberately malformed builders in [`super::raw`].

use std::net::IpAddr;

use super::consts::param_type as pt;
use super::error::{DecodeError, DecodeErrorKind as K};
use super::param::{Ctx, Reader, Writer};
use super::types::*;
use super::DecodeLimits;

/// A wire parameter: a TLV with its padding (RFC 5354 §2.1).
pub trait Codec: Sized {
    /// Appends the parameter, padded to a multiple of 4 bytes. The Length
    /// field excludes this parameter's own trailing padding (RFC 5354 §2.1).
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoded parameter.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes exactly one parameter (with its padding) with explicit
    /// limits. Skippable unknown parameters (action bits 10/11) in front of
    /// it are skipped, as inside a message; any byte after it is an error.
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError>;

    /// [`Codec::decode_with`] with the default (RSPLIB) limits.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with(bytes, &DecodeLimits::default())
    }
}

/// Runs `read` over `bytes` as a parameter region starting at offset 0 and
/// refuses trailing bytes, the way `decode_with` refuses them after a message.
fn decode_one<T>(
    bytes: &[u8],
    limits: &DecodeLimits,
    read: impl FnOnce(&mut Reader<'_>, &mut Ctx<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut ctx = Ctx {
        limits,
        skipped: Vec::new(),
    };
    let mut r = Reader::new(bytes, 0);
    let value = read(&mut r, &mut ctx)?;
    if !r.is_empty() {
        let at = r.offset();
        return Err(DecodeError::new(
            K::TrailingBytes {
                count: bytes.len().saturating_sub(at),
            },
            at,
            None,
        ));
    }
    Ok(value)
}

/// A required parameter read with an `opt_*` reader method.
fn required<T>(r: &Reader<'_>, ty: u16, v: Option<T>) -> Result<T, DecodeError> {
    v.ok_or_else(|| DecodeError::new(K::MissingParameter { expected: ty }, r.offset(), None))
}

fn encode_with(out: &mut Vec<u8>, f: impl FnOnce(&mut Writer<'_>)) {
    let mut w = Writer { out };
    f(&mut w);
}

impl Codec for PoolHandle {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.pool_handle(self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| r.pool_handle(ctx))
    }
}

impl Codec for PoolElementId {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.pe_id(*self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| r.pe_id(ctx))
    }
}

/// IPv4 (0x0001) or IPv6 (0x0002) address parameter. An IPv4-mapped IPv6
/// address is encoded as IPv4, as RSPLIB does.
impl Codec for IpAddr {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.address(self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| r.address(ctx))
    }
}

/// SCTP, TCP, UDP, DCCP or UDP-Lite transport parameter with its addresses.
impl Codec for TransportAddress {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.transport(self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| {
            let t = r.opt_transport(ctx)?;
            required(r, pt::SCTP_TRANSPORT, t)
        })
    }
}

impl Codec for SelectionPolicy {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.policy(self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| {
            let p = r.opt_policy(ctx)?;
            required(r, pt::SELECTION_POLICY, p)
        })
    }
}

impl Codec for PoolElement {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.pool_element(self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| r.pool_element(ctx))
    }
}

impl Codec for ServerInformation {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.server_information(self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| {
            let s = r.opt_server_information(ctx)?;
            required(r, pt::SERVER_INFORMATION, s)
        })
    }
}

impl Codec for OperationError {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.operation_error(self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| r.operation_error(ctx))
    }
}

impl Codec for Cookie {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.cookie(self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| r.cookie(ctx))
    }
}

/// RSPLIB's Handle Resolution option 0x803f (action bits 10: registrars that
/// do not know it skip it).
impl Codec for HandleResolutionOption {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_with(out, |w| w.hr_option(*self));
    }
    fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        decode_one(bytes, limits, |r, ctx| {
            let o = r.opt_hr_option(ctx)?;
            required(r, pt::HANDLE_RESOLUTION_OPTION, o)
        })
    }
}
