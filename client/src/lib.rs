//! An async RSerPool pool user for tokio: what an application calls to find
//! a pool's elements and to talk to one of them with failover, the way
//! `hickory-resolver` is what it calls to look up a name.
//!
//! The protocol is client-core's sans-IO [`PoolUser`] (registrar hunt,
//! Handle Resolution, Endpoint Unreachable reports, failover with cookie
//! replay) and, for `ws://`/`wss://` registrars, its
//! [`client_core::gateway_link`]. This crate is their driver: it owns the
//! clock, the SCTP associations (`sctp://` registrars and the pool elements
//! they name) and the gateway WebSockets (registrars behind the gateway
//! and the sessions opened through it), and it moves bytes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rserpool_client::{Client, ClientConfig};
//!
//! let config = ClientConfig::new(["sctp://10.1.0.1:3863", "sctp://10.1.0.2:3863"]);
//! let mut client = Client::new(config)?;
//! for pe in client.resolve("EchoPool").await? {
//!     println!("{} at {:?}", pe.id, pe.user_transport.addresses);
//! }
//! # Ok(()) }
//! ```
//!
//! A `wss://` registrar needs the trust for the gateway's certificate
//! (`ClientConfig::ca`, else the public web PKI), and a session carries data
//! to one pool element, failing over to another when it goes away:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rserpool_client::{Client, ClientConfig, Event};
//!
//! let mut config = ClientConfig::new(["wss://localhost:8443/asap/1"]);
//! config.ca = Some("ca.pem".into());
//! let mut client = Client::new(config)?;
//! let session = client.open_session("EchoPool");
//! client.send(session, b"hello\n".to_vec())?;
//! loop {
//!     match client.next_event().await {
//!         Event::SessionData { bytes, .. } => break println!("{}", String::from_utf8_lossy(&bytes)),
//!         Event::Failover(n) => println!("failover {} -> {}", n.old_element, n.new_element),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod channel;
pub mod driver;
pub mod endpoint;
mod gateway;
pub mod registrar_channel;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;

use client_core::pool_user::{Config, PoolUser};
pub use client_core::pool_user::{Event, SessionError, SessionId};
pub use client_core::wire::{PoolElement, PoolHandle};

pub use driver::{ConnectFailure, Connector, Driver, FailureKind, GatewayOptions, NetConnector};
pub use endpoint::{parse_endpoint, Endpoint, UrlError};
pub use registrar_channel::{FromRegistrar, RegistrarChannel};
pub use tls::TrustError;

/// What a [`Client`] needs: its registrars, how to trust gateways, and the
/// pool user's settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Registrar URLs in order of preference: `sctp://host[,host…][:port]`
    /// or `ws(s)://…` through the gateway.
    pub registrars: Vec<String>,
    /// PEM file of the CA that signed the gateway's certificate; without
    /// it, the public web PKI roots.
    pub ca: Option<PathBuf>,
    /// Gateway token (docs/gateway.md, "Token").
    pub token: Option<String>,
    /// PPID of session data (0: plain data, as RSPLIB's `rspterminal`).
    pub app_ppid: u32,
    /// The pool user's timers and limits; `registrars` above replaces its
    /// list. [`Default`] is RSPLIB's defaults.
    pub pool_user: Config,
}

impl ClientConfig {
    /// These registrars, RSPLIB's defaults otherwise. Server Announces are
    /// not listened to (this client has no multicast socket).
    pub fn new<S: Into<String>>(registrars: impl IntoIterator<Item = S>) -> Self {
        ClientConfig {
            registrars: registrars.into_iter().map(Into::into).collect(),
            ca: None,
            token: None,
            app_ppid: client_core::wire::consts::PPID_APPLICATION_DEFAULT,
            pool_user: Config {
                use_announced_registrars: false,
                ..Config::default()
            },
        }
    }
}

/// Why a [`Client`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A registrar URL is not usable.
    #[error("registrar {url}: {error}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        error: UrlError,
    },
    /// The gateway trust could not be built.
    #[error("CA {0}")]
    Trust(#[from] TrustError),
}

/// A failed resolution: the pool user's verdict and every connection
/// attempt that failed on the way, in order (which registrar, and why).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ResolveError {
    /// The pool asked for.
    pub pool: PoolHandle,
    /// What the pool user concluded.
    pub error: client_core::pool_user::ResolveError,
    /// (registrar or element, why) for each failed connection attempt.
    pub attempts: Vec<(String, ConnectFailure)>,
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "resolving {}: {}", self.pool, self.error)?;
        for (what, failure) in &self.attempts {
            write!(f, "\n  {what}: {}", failure.text)?;
        }
        Ok(())
    }
}

/// A pool user on the network: resolution, sessions and their events.
pub struct Client {
    driver: Driver,
    app_ppid: u32,
}

impl Client {
    /// A client over the real network (kernel SCTP, gateway WebSockets).
    /// Every URL is checked first, and the TLS trust is built only when a
    /// registrar is `wss://`.
    pub fn new(config: ClientConfig) -> Result<Client, ConfigError> {
        let mut endpoints = Vec::new();
        for url in &config.registrars {
            let endpoint = parse_endpoint(url).map_err(|error| ConfigError::Url {
                url: url.clone(),
                error,
            })?;
            endpoints.push(endpoint);
        }
        let tls = if endpoints.iter().any(|e| matches!(e, Endpoint::Wss { .. })) {
            Some(tls::client_config(config.ca.as_deref())?)
        } else {
            None
        };
        let pool_user = Config {
            registrars: endpoints.iter().map(|e| e.to_string()).collect(),
            ..config.pool_user
        };
        let driver = Driver::new(PoolUser::new(pool_user), Arc::new(NetConnector)).with_gateway(
            GatewayOptions {
                tls,
                token: config.token,
                app_ppid: config.app_ppid,
            },
        );
        Ok(Client {
            driver,
            app_ppid: config.app_ppid,
        })
    }

    /// A client over any driver (an in-process fake network in tests).
    pub fn with_driver(driver: Driver, app_ppid: u32) -> Client {
        Client { driver, app_ppid }
    }

    /// The driver, for what this API does not cover (the pool user itself,
    /// connection failures so far).
    pub fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    /// Resolves `pool` (ASAP Handle Resolution, RFC 5352 §3.5) through the
    /// registrar hunt; events of other requests meanwhile are passed over.
    pub async fn resolve(
        &mut self,
        pool: impl Into<PoolHandle>,
    ) -> Result<Vec<PoolElement>, ResolveError> {
        let pool = pool.into();
        let now = self.driver.now();
        let request = self.driver.pool_user().resolve(pool.clone(), now);
        loop {
            match self.driver.next_event().await {
                Event::Resolved {
                    request: r,
                    elements,
                    ..
                } if r == request => return Ok(elements),
                Event::ResolveFailed {
                    request: r, error, ..
                } if r == request => {
                    return Err(ResolveError {
                        pool,
                        error,
                        attempts: self.driver.connect_failures().to_vec(),
                    })
                }
                _ => {}
            }
        }
    }

    /// The registrar that answered last (the pool user's home registrar).
    pub fn home_registrar(&mut self) -> Option<String> {
        self.driver.pool_user().home_registrar().map(str::to_string)
    }

    /// Opens a session to `pool`: a pool element is chosen by the pool's
    /// policy and connected; [`Event::SessionUp`], [`Event::SessionData`]
    /// and [`Event::Failover`] follow from [`Self::next_event`].
    pub fn open_session(&mut self, pool: impl Into<PoolHandle>) -> SessionId {
        let now = self.driver.now();
        let ppid = self.app_ppid;
        self.driver.pool_user().open_session(pool.into(), ppid, now)
    }

    /// Sends data on a session with its default PPID (queued while it
    /// has no pool element).
    pub fn send(&mut self, session: SessionId, bytes: Vec<u8>) -> Result<(), SessionError> {
        let now = self.driver.now();
        self.driver.pool_user().send(session, None, bytes, now)
    }

    /// Ends a session.
    pub fn close_session(&mut self, session: SessionId) -> Result<(), SessionError> {
        let now = self.driver.now();
        self.driver.pool_user().close_session(session, now)
    }

    /// The next event of the pool user (cancel-safe).
    pub async fn next_event(&mut self) -> Event {
        self.driver.next_event().await
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
