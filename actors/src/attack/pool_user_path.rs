//! How the pool-user attackers (`eu-flood`, `hr-flood`) reach a registrar:
//! by SCTP straight to its ASAP port, or — as a browser must, and as a
//! deployment that puts its registrars behind the gateway allows only — as
//! a client of the project's gateway (`--registrar-url wss://…`). Both are
//! one [`RegistrarChannel`] per association; through the gateway, every
//! message the gateway does not forward comes back as a refusal notice,
//! which the attackers count (docs/lab-defences.md, "Gateway defences").

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use client_core::gateway_protocol::NoticeCode;
use client_core::wire::{self, consts, AsapMessage, Message, PoolElement, PoolHandle, Protocol};
use rserpool_client::{FromRegistrar, GatewayOptions, RegistrarChannel};

use crate::messages;
use crate::net::CONNECT_TIMEOUT;

/// The gateway options of a pool-user attacker.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Via {
    /// Reach each --target registrar through the gateway at this URL
    /// (`wss://localhost:8443/asap/N`, the gateway's path to that
    /// registrar) instead of by SCTP: one per --target, in the same order.
    /// The gateway's rules then apply, and its refusals are counted.
    #[arg(long = "registrar-url", value_name = "URL")]
    pub registrar_urls: Vec<String>,
    /// Trust only this CA for the gateway (the lab CA, /share/certs/ca.pem
    /// in the VM); without it, the public web PKI.
    #[arg(long, value_name = "PEM", requires = "registrar_urls")]
    pub ca: Option<PathBuf>,
}

/// Where one association of the attacker goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// The registrar attacked (its ASAP endpoint).
    pub target: SocketAddr,
    /// The gateway URL it is reached through, if any.
    pub via: Option<String>,
}

impl Path {
    /// The channel endpoint: the gateway URL, else `sctp://target`.
    pub fn endpoint(&self) -> String {
        self.via
            .clone()
            .unwrap_or_else(|| format!("sctp://{}", self.target))
    }
}

impl Via {
    /// One path per target: through its gateway URL when given.
    pub fn paths(&self, targets: &[SocketAddr]) -> Result<Vec<Path>> {
        if self.registrar_urls.is_empty() {
            return Ok(targets
                .iter()
                .map(|t| Path {
                    target: *t,
                    via: None,
                })
                .collect());
        }
        if self.registrar_urls.len() != targets.len() {
            bail!(
                "{} --registrar-url for {} --target: give one gateway URL per target",
                self.registrar_urls.len(),
                targets.len()
            );
        }
        Ok(targets
            .iter()
            .zip(&self.registrar_urls)
            .map(|(t, u)| Path {
                target: *t,
                via: Some(u.clone()),
            })
            .collect())
    }

    /// The TLS trust for `wss://` paths (none needed for SCTP).
    pub fn gateway(&self) -> Result<GatewayOptions> {
        if self.registrar_urls.is_empty() {
            return Ok(GatewayOptions::default());
        }
        let tls = rserpool_client::tls::client_config(self.ca.as_deref())
            .map_err(|e| anyhow!("--ca: {e}"))?;
        Ok(GatewayOptions {
            tls: Some(tls),
            ..GatewayOptions::default()
        })
    }
}

/// Opens the channel of `path` within [`CONNECT_TIMEOUT`].
pub async fn connect(path: &Path, gateway: &GatewayOptions) -> Result<RegistrarChannel> {
    let endpoint = path.endpoint();
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        RegistrarChannel::connect(&endpoint, gateway),
    )
    .await
    .with_context(|| format!("{endpoint}: no association within {CONNECT_TIMEOUT:?}"))?
    .map_err(|f| anyhow!("connecting to {endpoint}: {}", f.text))
}

/// What came back on a channel, decoded.
#[derive(Debug)]
pub enum Heard {
    Asap(AsapMessage),
    /// A gateway notice: the message was not forwarded.
    Refused {
        code: NoticeCode,
        text: String,
    },
}

/// The next ASAP message or gateway refusal on `channel`; undecodable
/// bytes are skipped.
pub async fn recv(channel: &RegistrarChannel) -> Result<Heard> {
    loop {
        match channel.recv().await.context("receiving")? {
            FromRegistrar::Refused { code, text } => return Ok(Heard::Refused { code, text }),
            FromRegistrar::Asap(bytes) => {
                if let Ok(d) = wire::decode(Protocol::Asap, &bytes) {
                    if let Message::Asap(a) = d.message {
                        return Ok(Heard::Asap(a));
                    }
                }
            }
        }
    }
}

/// Every PE of `pool` the registrar returns on `channel` (Handle
/// Resolution with items = all). Through the gateway this is also what
/// makes the session's reports about those PEs admissible.
pub async fn resolve_all(
    channel: &RegistrarChannel,
    pool: &PoolHandle,
) -> Result<Vec<PoolElement>> {
    channel
        .send_asap(&messages::handle_resolution(
            pool,
            Some(consts::HANDLE_RESOLUTION_ITEMS_ALL),
        ))
        .await
        .context("sending ASAP")?;
    let answer = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match recv(channel).await? {
                Heard::Asap(AsapMessage::HandleResolutionResponse(r)) => return Ok(r),
                Heard::Refused { code, text } => {
                    bail!(
                        "the gateway refused the resolution: {}: {text}",
                        code.slug()
                    )
                }
                Heard::Asap(_) => {}
            }
        }
    })
    .await
    .context("no Handle Resolution Response")??;
    if let Some(e) = answer.error {
        let causes: Vec<String> = e
            .causes
            .iter()
            .map(|c| format!("0x{:04x}", c.code.0))
            .collect();
        bail!("pool {pool}: registrar answered cause {}", causes.join(","));
    }
    Ok(answer.elements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct A {
        #[arg(long = "target")]
        targets: Vec<SocketAddr>,
        #[command(flatten)]
        via: Via,
    }

    fn parse(args: &[&str]) -> Result<A, clap::Error> {
        A::try_parse_from(std::iter::once("a").chain(args.iter().copied()))
    }

    #[test]
    fn without_a_url_each_target_is_reached_by_sctp() {
        let a = parse(&["--target", "10.1.0.1:3863"]).unwrap();
        let paths = a.via.paths(&a.targets).unwrap();
        assert_eq!(paths[0].endpoint(), "sctp://10.1.0.1:3863");
        assert!(a.via.gateway().unwrap().tls.is_none());
    }

    #[test]
    fn a_url_per_target_puts_the_gateway_on_its_path() {
        let a = parse(&[
            "--target",
            "10.1.0.1:3863",
            "--target",
            "10.1.0.2:3863",
            "--registrar-url",
            "wss://localhost:8443/asap/1",
            "--registrar-url",
            "wss://localhost:8443/asap/2",
        ])
        .unwrap();
        let paths = a.via.paths(&a.targets).unwrap();
        assert_eq!(paths[1].target, "10.1.0.2:3863".parse().unwrap());
        assert_eq!(paths[1].endpoint(), "wss://localhost:8443/asap/2");
        // The web PKI when no CA is named.
        assert!(a.via.gateway().unwrap().tls.is_some());
    }

    #[test]
    fn urls_that_do_not_pair_with_the_targets_are_refused() {
        let a = parse(&[
            "--target",
            "10.1.0.1:3863",
            "--target",
            "10.1.0.2:3863",
            "--registrar-url",
            "wss://localhost:8443/asap/1",
        ])
        .unwrap();
        let e = a.via.paths(&a.targets).unwrap_err().to_string();
        assert!(e.contains("one gateway URL per target"), "{e}");
        // A CA alone says nothing to trust it for.
        assert!(parse(&["--target", "10.1.0.1:3863", "--ca", "/x.pem"]).is_err());
        let bad = parse(&[
            "--target",
            "10.1.0.1:3863",
            "--registrar-url",
            "wss://h/asap/1",
            "--ca",
            "/nonexistent.pem",
        ])
        .unwrap();
        assert!(bad.via.gateway().is_err(), "an unreadable CA is an error");
    }
}
