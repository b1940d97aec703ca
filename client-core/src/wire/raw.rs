//! Builders for bytes that are *not* valid messages: wrong lengths, unknown
//! types, missing padding. Attack scenarios and interop probes use them to
//! see how a peer treats malformed input (RFC 5355 threats); the decoder in
//! this crate must refuse every one of them with a typed error. Well-formed
//! parameters to combine with them come from [`super::Codec`]; a pool handle
//! longer than RSPLIB accepts is simply `PoolHandle::new(vec![b'x'; 40]).to_bytes()`.

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

/// A message whose body is the given parameters (or fields) in order, e.g.
/// well-formed ones from [`super::Codec::to_bytes`] mixed with bad ones from
/// [`tlv`]. `length` overrides the Message Length field as in [`message`].
pub fn message_of(msg_type: u8, flags: u8, parts: &[Vec<u8>], length: Option<u16>) -> Vec<u8> {
    message(msg_type, flags, &parts.concat(), length)
}

/// Overwrites the Length field of an encoded message or parameter (both keep
/// it in bytes 2..4: RFC 5352 §2, RFC 5354 §2.1). Inputs shorter than 4
/// bytes are left as they are.
pub fn set_length(bytes: &mut [u8], length: u16) {
    if let Some(field) = bytes.get_mut(2..4) {
        field.copy_from_slice(&length.to_be_bytes());
    }
}

/// An encoded parameter cut to what its Length field covers, i.e. without
/// the trailing padding that RSPLIB requires (docs/rsplib-wire.md, "Padding").
pub fn unpadded(param: &[u8]) -> Vec<u8> {
    let len = match param.get(2..4) {
        Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
        None => return param.to_vec(),
    };
    param[..len.min(param.len())].to_vec()
}

/// One error cause for an Operation Error value (RFC 5354 §2.2.12): Cause
/// Length is `4 + info.len()` unless `length` overrides it; padded to 4.
pub fn cause(code: u16, info: &[u8], length: Option<u16>) -> Vec<u8> {
    let natural = 4 + info.len();
    let len = length.unwrap_or(u16::try_from(natural).unwrap_or(u16::MAX));
    let mut v = Vec::with_capacity(natural + 3);
    v.extend_from_slice(&code.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(info);
    v.resize(v.len() + padding(natural), 0);
    v
}

/// A Pool Member Selection Policy parameter with any type code and any
/// number of value words, e.g. a one-word Priority Least Used that RSPLIB
/// refuses (docs/rsplib-wire.md, "Selection policy parameter") or the
/// selector-only 0xb0002004.
pub fn policy(code: u32, words: &[u32]) -> Vec<u8> {
    let mut value = Vec::with_capacity(4 + 4 * words.len());
    value.extend_from_slice(&code.to_be_bytes());
    for w in words {
        value.extend_from_slice(&w.to_be_bytes());
    }
    tlv(
        super::consts::param_type::SELECTION_POLICY,
        &value,
        None,
        true,
    )
}
