//! Builders for bytes that are *not* valid messages: wrong lengths, unknown
//! types, missing padding. Attack scenarios and interop probes use them to
//! see how a peer treats malformed input (RFC 5355 threats); the decoder in
//! this crate must refuse every one of them with a typed error.

use super::param::padding;

/// A parameter with any type and value; the Length field is `4 + value.len()`
/// unless `length` overrides it. Padding is added unless `pad` is false.
pub fn tlv(param_type: u16, value: &[u8], length: Option<u16>, pad: bool) -> Vec<u8> {
    let natural = 4 + value.len();
    let mut v = Vec::with_capacity(natural + 3);
    v.extend_from_slice(&param_type.to_be_bytes());
    let len = length.unwrap_or(u16::try_from(natural).unwrap_or(u16::MAX));
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(value);
    if pad {
        v.resize(v.len() + padding(natural), 0);
    }
    v
}

/// A message with any type, flags and body; the Message Length field is
/// `4 + body.len()` unless `length` overrides it.
pub fn message(msg_type: u8, flags: u8, body: &[u8], length: Option<u16>) -> Vec<u8> {
    let natural = 4 + body.len();
    let len = length.unwrap_or(u16::try_from(natural).unwrap_or(u16::MAX));
    let mut v = Vec::with_capacity(natural);
    v.push(msg_type);
    v.push(flags);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(body);
    v
}
