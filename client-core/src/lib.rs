//! Portable RSerPool pool-user core.
//!
//! * [`wire`]: ASAP/ENRP codec, byte-exact with RSPLIB.
//!
//! No sockets, no clock, no async runtime: this crate builds for
//! `wasm32-unknown-unknown` as it is.

#![forbid(unsafe_code)]

pub mod rate_limit;
pub mod wire;
