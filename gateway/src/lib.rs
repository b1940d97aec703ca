//! The TLS-terminating WebSocket gateway: a browser's door to real RSerPool
//! registrars (RSPLIB) and pool elements over SCTP.
//!
//! * [`config`]: TOML file + flags; unsafe configurations are refused.
//! * [`server`]: TLS 1.2+, WebSocket handshake (path, subprotocol, Origin,
//!   bearer token), connection caps, metrics and tap listener.
//! * [`policy`]: the rules for one session, sans-IO: role enforcement, no
//!   open proxy, reports bound to what the session saw, rate limits.
//! * [`session`]: one registrar association per WebSocket session; moves
//!   bytes and carries out the policy's decisions.
//! * [`upstream`]: kernel SCTP associations (or test fakes).
//! * [`client`]: a frame-level client of the subprotocol (bench, tests).
//!
//! The wire protocol is `client_core::gateway_protocol`
//! (`docs/gateway-protocol.md`).

pub mod bench;
pub mod certs;
pub mod client;
pub mod config;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod session;
pub mod tap;
pub mod upstream;

pub use config::{Config, Limits, Route};
pub use server::Gateway;
