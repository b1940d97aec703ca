//! ASAP (RFC 5352) and ENRP (RFC 5353) messages and their parameters
//! (RFC 5354), encoded and decoded exactly as RSPLIB does.
//!
//! * [`types`]: the validated representations (what a message means).
//! * [`consts`]: every protocol number, defined once.
//! * [`decode`] / [`encode`]: bytes ⇄ representations. Decoding never panics;
//!   it returns a [`DecodeError`] that says what was wrong and where.

pub mod consts;
pub mod types;

pub use types::*;

// The codec API (filled in by the codec work; signatures are the contract):
//
//   pub fn decode(protocol: Protocol, bytes: &[u8]) -> Result<Decoded, DecodeError>;
//   pub fn decode_with(protocol: Protocol, bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError>;
//   impl Message { pub fn encode(&self, out: &mut Vec<u8>); pub fn to_bytes(&self) -> Vec<u8>; pub fn protocol(&self) -> Protocol; pub fn ppid(&self) -> u32; }
//   pub struct Decoded { pub message: Message, pub skipped: Vec<UnknownParameter> }
//   pub enum DecodeError { ... }   // typed, Display: "parameter 0x000a at offset 36: ..."
//   pub struct DecodeLimits { max_pool_handle_len, max_elements, max_addresses, max_depth, .. }
