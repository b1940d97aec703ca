//! `rserpool-gateway bench-resolve`: sequential Handle Resolutions, timed,
//! either directly over SCTP to a registrar or through a gateway over wss.
//! Run both inside the same lab environment to compare (`lab-bench gateway`).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use client_core::wire::{self, AsapMessage, Message, Protocol};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub via: String,
    pub resolutions: usize,
    pub elements_last: usize,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub per_second: f64,
}

fn elements(bytes: &[u8]) -> Result<usize> {
    match wire::decode(Protocol::Asap, bytes)?.message {
        Message::Asap(AsapMessage::HandleResolutionResponse(h)) => {
            if let Some(e) = h.error {
                bail!("registrar answered with an error: {e:?}");
            }
            Ok(h.elements.len())
        }
        m => bail!(
            "expected a Handle Resolution Response, got {}",
            m.type_name()
        ),
    }
}

fn summarise(via: &str, mut lat: Vec<Duration>, total: Duration, last: usize) -> BenchResult {
    lat.sort();
    let q = |p: f64| {
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        u64::try_from(lat[i].as_micros()).unwrap_or(u64::MAX)
    };
    BenchResult {
        via: via.to_string(),
        resolutions: lat.len(),
        elements_last: last,
        p50_us: q(0.5),
        p90_us: q(0.9),
        p99_us: q(0.99),
        max_us: q(1.0),
        per_second: lat.len() as f64 / total.as_secs_f64(),
    }
}

/// Direct: one SCTP association to the registrar, `n` resolutions in a row.
#[cfg(target_os = "linux")]
pub async fn direct(registrar: std::net::SocketAddr, pool: &str, n: usize) -> Result<BenchResult> {
    let a = rserpool_sctp::SctpAssociation::connect(&[registrar]).await?;
    let req = crate::client::handle_resolution(pool);
    let mut lat = Vec::with_capacity(n);
    let mut last = 0;
    let t0 = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        a.send(11, 0, &req).await?;
        let m = a.recv().await?;
        last = elements(&m.data)?;
        lat.push(t.elapsed());
    }
    Ok(summarise("sctp", lat, t0.elapsed(), last))
}

/// Through the gateway: one WebSocket session, `n` resolutions in a row.
pub async fn via_gateway(
    url: &str,
    ca: &std::path::Path,
    pool: &str,
    n: usize,
) -> Result<BenchResult> {
    let tls = crate::client::tls_trusting(ca)?;
    let mut c = crate::client::Client::connect_ready(url, tls, &Default::default()).await?;
    let mut lat = Vec::with_capacity(n);
    let mut last = 0;
    let t0 = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let h = c.resolve(pool).await?;
        if let Some(e) = h.error {
            bail!("registrar answered with an error: {e:?}");
        }
        last = h.elements.len();
        lat.push(t.elapsed());
    }
    Ok(summarise("gateway-wss", lat, t0.elapsed(), last))
}
