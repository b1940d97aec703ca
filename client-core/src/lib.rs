//! Portable RSerPool pool-user core.
//!
//! * [`wire`]: ASAP/ENRP codec, byte-exact with RSPLIB.
//! * [`policy`]: pool member selection as RSPLIB's pool user does it.
//! * [`pool_user`]: the sans-IO pool-user state machine.
//! * [`gateway_protocol`], [`gateway_link`]: the browser gateway's
//!   WebSocket subprotocol and the pool user's links over it.
//!
//! No sockets, no clock, no async runtime: this crate builds for
//! `wasm32-unknown-unknown` as it is.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod gateway_link;
pub mod gateway_protocol;
pub mod policy;
pub mod pool_user;
pub mod rate_limit;
pub mod wire;
