//! What the attackers that register pool elements of their own share
//! (reg-flood, rogue-pe, lying-pe): one registration association per
//! registrar, each registration of a fresh PE identifier on the next
//! association in turn, and a reader per association that answers the
//! registrar's keep-alives and counts its answers.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use client_core::policy::Rng;
use client_core::wire::{AsapMessage, PoolElementId, PoolHandle, SelectionPolicy};
use rserpool_sctp::SctpAssociation;
use serde_json::{Map, Value};

use super::fresh_pe_id;
use crate::fields;
use crate::messages;
use crate::net;
use crate::output::Output;

/// What the registrars answered on the registration associations.
#[derive(Default)]
pub struct Tally {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub keepalives: AtomicU64,
}

impl Tally {
    /// The counts for the attacker's `done` line.
    pub fn fields(&self) -> Map<String, Value> {
        fields! {
            "accepted" => self.accepted.load(Ordering::Relaxed),
            "refused" => self.refused.load(Ordering::Relaxed),
        }
    }
}

/// One registration association.
pub struct Link {
    pub assoc: Arc<SctpAssociation>,
    pub target: SocketAddr,
    /// The association's local address: the address the registrar
    /// stores for the PE.
    pub local: IpAddr,
}

/// One association to each target, from `source` if given. Patient
/// (see [`net::connect_patiently`]): a lab allow-list holds these
/// attackers off by dropping their packets.
pub async fn connect_links(targets: &[SocketAddr], source: Option<IpAddr>) -> Result<Vec<Link>> {
    let mut links = Vec::new();
    for t in targets {
        let assoc = net::connect_patiently(source.map(|ip| SocketAddr::new(ip, 0)), *t).await?;
        let local = assoc.local_addr()?.ip();
        links.push(Link {
            assoc: Arc::new(assoc),
            target: *t,
            local,
        });
    }
    Ok(links)
}

/// The PE one registration states.
pub struct Registered {
    pub policy: SelectionPolicy,
    pub life_ms: u32,
    /// User addresses besides the association's local address.
    pub extra: Vec<IpAddr>,
}

/// The registrations of one attacker: fresh PE identifiers whose user
/// transport is `port`, registered in turn on `links`.
pub struct Registrations {
    pub links: Vec<Link>,
    pub pool: PoolHandle,
    pub port: u16,
    pub pe: Registered,
    pub tally: Arc<Tally>,
    used: BTreeSet<u32>,
}

impl Registrations {
    pub fn new(links: Vec<Link>, pool: PoolHandle, port: u16, pe: Registered) -> Self {
        Registrations {
            links,
            pool,
            port,
            pe,
            tally: Arc::new(Tally::default()),
            used: BTreeSet::new(),
        }
    }

    /// Registers registration number `seq` (a fresh identifier drawn from
    /// `rng`) and gives the fields of its action line.
    pub async fn register_next(&mut self, seq: u64, rng: &mut Rng) -> Result<Map<String, Value>> {
        let id = fresh_pe_id(rng, &mut self.used);
        let link = &self.links[(seq % self.links.len() as u64) as usize];
        let mut addrs = vec![link.local];
        addrs.extend(self.pe.extra.iter().filter(|a| **a != link.local));
        let pe = messages::pool_element(
            id,
            addrs,
            self.port,
            self.pe.policy.clone(),
            self.pe.life_ms,
        );
        net::send_asap(&link.assoc, &messages::registration(&self.pool, pe)).await?;
        Ok(fields! {
            "pe_id" => PoolElementId(id).to_string(),
            "target" => link.target.to_string(),
            "port" => self.port,
        })
    }

    /// A registrar reader per link (see [`spawn_registrar_reader`]).
    pub fn spawn_readers(&self, ack: bool, out: &Output) -> Readers {
        Readers(
            self.links
                .iter()
                .map(|l| {
                    spawn_registrar_reader(l.assoc.clone(), ack, self.tally.clone(), out.clone())
                })
                .collect(),
        )
    }
}

/// The readers of an attacker's links, stopped when dropped.
pub struct Readers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Readers {
    fn drop(&mut self) {
        for r in &self.0 {
            r.abort();
        }
    }
}

/// Answers Endpoint Keep-Alives (unless `ack` is false) and counts the
/// registrar's answers on a registration association.
pub fn spawn_registrar_reader(
    assoc: Arc<SctpAssociation>,
    ack: bool,
    tally: Arc<Tally>,
    out: Output,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(m) = net::recv_asap(&assoc).await {
            match m {
                AsapMessage::EndpointKeepAlive(k) => {
                    tally.keepalives.fetch_add(1, Ordering::Relaxed);
                    if let (true, Some(id)) = (ack, k.pe_id) {
                        let _ =
                            net::send_asap(&assoc, &messages::keep_alive_ack(&k.pool_handle, id))
                                .await;
                    }
                }
                AsapMessage::RegistrationResponse(r) if r.rejected => {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    let causes: Vec<String> = r
                        .error
                        .iter()
                        .flat_map(|e| e.causes.iter())
                        .map(|c| format!("0x{:04x}", c.code.0))
                        .collect();
                    out.event(
                        "registration-refused",
                        serde_json::json!({"pe_id": r.pe_id.to_string(), "causes": causes}),
                    );
                }
                AsapMessage::RegistrationResponse(_) => {
                    tally.accepted.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        out.event("association-closed", assoc_peer(&assoc));
    })
}

fn assoc_peer(assoc: &SctpAssociation) -> String {
    assoc
        .local_addr()
        .map(|a| format!("local {a}"))
        .unwrap_or_default()
}
