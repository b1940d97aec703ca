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

/// One step of the capacity bench: the gateway with `sessions` idle
/// WebSocket sessions open (each with its registrar association).
#[derive(Debug, Serialize)]
pub struct CapacityStep {
    /// Idle sessions asked for at this step.
    pub target: usize,
    /// Idle sessions open.
    pub sessions: usize,
    /// Sessions that could not be opened at this step.
    pub failed: usize,
    /// The first failure's text, if any.
    pub first_failure: Option<String>,
    /// The gateway process's resident memory (VmRSS), KiB.
    pub rss_kib: u64,
    /// Gateway memory per idle session over the gateway without sessions,
    /// bytes.
    pub bytes_per_session: u64,
    /// The gateway process's open descriptors.
    pub fds: usize,
    /// A fresh, well-behaved session resolved the pool.
    pub fresh_resolves: bool,
    /// How long that took (connect, handshake, resolution), ms.
    pub fresh_ms: f64,
    /// Gateway CPU over `cpu_window_s` with the sessions idle, percent of
    /// one core.
    pub idle_cpu_percent: f64,
}

/// Where the gateway process stands: VmRSS (KiB), open descriptors, CPU
/// ticks (user + system).
#[cfg(target_os = "linux")]
pub fn process_usage(pid: u32) -> Result<(u64, usize, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): utime is the
    // 12th, stime the 13th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok((rss, fds, ticks))
}

/// CPU of `pid` over `window`, percent of one core (USER_HZ = 100).
#[cfg(target_os = "linux")]
async fn cpu_percent(pid: u32, window: Duration) -> Result<f64> {
    let (_, _, t0) = process_usage(pid)?;
    tokio::time::sleep(window).await;
    let (_, _, t1) = process_usage(pid)?;
    Ok((t1 - t0) as f64 / window.as_secs_f64())
}

/// The capacity bench, run next to the gateway (process `pid`): opens idle
/// sessions to `url` in steps up to each of `steps`, `parallel` handshakes
/// at a time, and after each step measures the gateway (memory,
/// descriptors, idle CPU) and whether a fresh session still resolves. Stops
/// at the first step where no session could be opened. `on_step` gets each
/// step as it is measured. Returns the steps and the sessions, still
/// open.
#[cfg(target_os = "linux")]
pub async fn capacity(
    url: &str,
    ca: &std::path::Path,
    pool: &str,
    pid: u32,
    steps: &[usize],
    parallel: usize,
    mut on_step: impl FnMut(&CapacityStep),
) -> Result<(Vec<CapacityStep>, Vec<crate::client::Client>)> {
    use crate::client::Client;
    let tls = crate::client::tls_trusting(ca)?;
    let window = Duration::from_secs(3);
    let (rss0, _, _) = process_usage(pid)?;
    let mut held: Vec<Client> = Vec::new();
    let mut out = Vec::new();
    for &target in steps {
        let mut failed = 0;
        let mut first_failure = None;
        while held.len() < target {
            let want = (target - held.len()).min(parallel.max(1));
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..want {
                let (url, tls) = (url.to_string(), tls.clone());
                set.spawn(
                    async move { Client::connect_ready(&url, tls, &Default::default()).await },
                );
            }
            let mut ok_now = 0;
            while let Some(r) = set.join_next().await {
                match r? {
                    Ok(c) => {
                        held.push(c);
                        ok_now += 1;
                    }
                    Err(e) => {
                        failed += 1;
                        first_failure.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            if ok_now == 0 {
                break;
            }
        }
        // Let the gateway settle (allocator, TLS session state).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss, fds, _) = process_usage(pid)?;
        let idle_cpu_percent = cpu_percent(pid, window).await?;
        let t = Instant::now();
        // The well-behaved client is the project's own pool user
        // (rserpool-client over the shared gateway link), as an
        // application would run it; the held sessions are frame-level.
        let fresh = async {
            let mut config = rserpool_client::ClientConfig::new([url]);
            config.ca = Some(ca.to_path_buf());
            let mut c = rserpool_client::Client::new(config)?;
            anyhow::Ok(c.resolve(pool).await?)
        };
        let fresh_resolves = matches!(
            tokio::time::timeout(Duration::from_secs(20), fresh).await,
            Ok(Ok(elements)) if !elements.is_empty()
        );
        let step = CapacityStep {
            target,
            sessions: held.len(),
            failed,
            first_failure,
            rss_kib: rss,
            bytes_per_session: if held.is_empty() {
                0
            } else {
                rss.saturating_sub(rss0) * 1024 / held.len() as u64
            },
            fds,
            fresh_resolves,
            fresh_ms: t.elapsed().as_secs_f64() * 1e3,
            idle_cpu_percent,
        };
        on_step(&step);
        let stop = step.sessions < target;
        out.push(step);
        if stop {
            break;
        }
    }
    Ok((out, held))
}

/// Gateway CPU while `clients` connection attempts a second keep arriving
/// beyond its cap (each accepted and refused, or failing at accept when
/// the host is out of descriptors): percent of one core over `window`.
#[cfg(target_os = "linux")]
pub async fn cpu_under_refusals(
    url: &str,
    ca: &std::path::Path,
    pid: u32,
    per_second: u32,
    window: Duration,
) -> Result<(f64, usize)> {
    let tls = crate::client::tls_trusting(ca)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (s, r, u) = (stop.clone(), refused.clone(), url.to_string());
    let load = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            tick.tick().await;
            let (u, tls, r) = (u.clone(), tls.clone(), r.clone());
            tokio::spawn(async move {
                let c = tokio::time::timeout(
                    Duration::from_secs(5),
                    crate::client::Client::connect_ready(&u, tls, &Default::default()),
                )
                .await;
                if !matches!(c, Ok(Ok(_))) {
                    r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let cpu = cpu_percent(pid, window).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = load.await;
    Ok((cpu?, refused.load(std::sync::atomic::Ordering::Relaxed)))
}
