//! SCTP helpers shared by the actors: ASAP associations to registrars,
//! a pool resolution, and a listener that accepts and ignores.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use client_core::wire::{self, consts, AsapMessage, Message, PoolElement, PoolHandle, Protocol};
use rserpool_sctp::{SctpAssociation, SctpListener};

use crate::messages;

/// How long an actor waits for one association or answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens an association to `target` (optionally from one local address).
pub async fn connect(local: Option<SocketAddr>, target: SocketAddr) -> Result<SctpAssociation> {
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        SctpAssociation::connect_from(local, &[target]),
    )
    .await
    .with_context(|| format!("{target}: no association within {CONNECT_TIMEOUT:?}"))?
    .with_context(|| format!("connecting to {target}"))
}

/// Opens an association like [`connect`] but without its own time limit:
/// for the registration links of attackers that a lab allow-list may
/// hold off. The allow-list drops their packets silently, so the
/// association never comes up; the attacker then waits out its window in
/// [`crate::attack::Ctx::setup`] (which bounds it) and ends on `duration`,
/// the defence having stopped it, instead of ending on an error after
/// five seconds as if it had failed by itself.
pub async fn connect_patiently(
    local: Option<SocketAddr>,
    target: SocketAddr,
) -> Result<SctpAssociation> {
    SctpAssociation::connect_from(local, &[target])
        .await
        .with_context(|| format!("connecting to {target}"))
}

pub async fn send_asap(assoc: &SctpAssociation, bytes: &[u8]) -> Result<()> {
    assoc
        .send(consts::PPID_ASAP, 0, bytes)
        .await
        .context("sending ASAP")
}

pub async fn send_enrp(assoc: &SctpAssociation, bytes: &[u8]) -> Result<()> {
    assoc
        .send(consts::PPID_ENRP, 0, bytes)
        .await
        .context("sending ENRP")
}

/// The next ASAP message on `assoc`; other PPIDs and undecodable bytes
/// are skipped.
pub async fn recv_asap(assoc: &SctpAssociation) -> Result<AsapMessage> {
    loop {
        let m = assoc.recv().await.context("receiving")?;
        if m.ppid != consts::PPID_ASAP {
            continue;
        }
        if let Ok(d) = wire::decode(Protocol::Asap, &m.data) {
            if let Message::Asap(a) = d.message {
                return Ok(a);
            }
        }
    }
}

/// Every PE of `pool` the registrar on `assoc` returns (Handle Resolution
/// with items = all).
pub async fn resolve_all(assoc: &SctpAssociation, pool: &PoolHandle) -> Result<Vec<PoolElement>> {
    resolve_items(assoc, pool, consts::HANDLE_RESOLUTION_ITEMS_ALL).await
}

/// The PEs of `pool` the registrar on `assoc` picks by the pool's policy,
/// at most `items` (RSPLIB's option 0x803f; its tools ask for 1).
pub async fn resolve_items(
    assoc: &SctpAssociation,
    pool: &PoolHandle,
    items: u32,
) -> Result<Vec<PoolElement>> {
    send_asap(assoc, &messages::handle_resolution(pool, Some(items))).await?;
    let answer = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            if let AsapMessage::HandleResolutionResponse(r) = recv_asap(assoc).await? {
                return Ok::<_, anyhow::Error>(r);
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

/// Every PE of `pool` the registrar at `enrp` (its ENRP endpoint) lists,
/// with their registrator (ASAP) transports, as RSPLIB's `hsdump` asks:
/// Presence as server `server` (RSPLIB answers a Handle Table Request
/// only from a peer it knows), then a Handle Table Request. Only ENRP
/// carries a PE's ASAP endpoint (RFC 5354 §2.2.8), which is where a PE
/// accepts its registrar's Endpoint Keep-Alives.
pub async fn handle_table(
    enrp: SocketAddr,
    pool: &PoolHandle,
    server: u32,
) -> Result<Vec<PoolElement>> {
    let assoc = connect(None, enrp).await?;
    let local = assoc.local_addr()?;
    let send = |bytes: Vec<u8>| {
        let assoc = &assoc;
        async move {
            assoc
                .send(consts::PPID_ENRP, 0, &bytes)
                .await
                .context("sending ENRP")
        }
    };
    send(messages::presence(
        server,
        0,
        0xffff,
        false,
        local.port(),
        vec![local.ip()],
    ))
    .await?;
    send(messages::handle_table_request(server, 0)).await?;
    let mut out = Vec::new();
    // RSPLIB sends at most its -maxelementsperhtrequest PEs per response
    // and sets M(ore); ask again for the rest (bounded).
    for _ in 0..64 {
        let r = tokio::time::timeout(CONNECT_TIMEOUT, async {
            loop {
                let m = assoc.recv().await.context("receiving ENRP")?;
                if m.ppid != consts::PPID_ENRP {
                    continue;
                }
                if let Ok(d) = wire::decode(Protocol::Enrp, &m.data) {
                    if let Message::Enrp(wire::EnrpMessage::HandleTableResponse(r)) = d.message {
                        return Ok::<_, anyhow::Error>(r);
                    }
                }
            }
        })
        .await
        .with_context(|| format!("{enrp}: no Handle Table Response"))??;
        if r.reject {
            bail!("{enrp}: the registrar refused the Handle Table Request");
        }
        out.extend(
            r.pools
                .into_iter()
                .filter(|p| p.pool_handle == *pool)
                .flat_map(|p| p.elements),
        );
        if !r.more_to_send {
            break;
        }
        send(messages::handle_table_request(server, r.sender.0)).await?;
    }
    let _ = assoc.shutdown();
    Ok(out)
}

/// A listener on every local address that accepts associations and
/// discards whatever arrives (RFC 5355 §2.2: PEs that accept and ignore).
/// Returns the port and a counter of messages discarded.
pub fn ignoring_listener() -> Result<(u16, Arc<AtomicU64>, tokio::task::JoinHandle<()>)> {
    ignoring_listener_on(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// [`ignoring_listener`] on one local address only (an attacker's own
/// address, `--source`).
pub fn ignoring_listener_on(
    ip: IpAddr,
) -> Result<(u16, Arc<AtomicU64>, tokio::task::JoinHandle<()>)> {
    let l = SctpListener::bind(&[SocketAddr::new(ip, 0)])
        .with_context(|| format!("listening at {ip} for the fake PEs' users"))?;
    let port = l.local_addr()?.port();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((assoc, _)) = l.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                while assoc.recv().await.is_ok() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    Ok((port, seen, task))
}

/// Parses `HOST:PORT` (an IP address and a port).
pub fn parse_target(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("{text}: want IP:PORT ({e})"))
}
