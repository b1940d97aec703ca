//! `rserpool-gateway`: see the crate docs and `docs/gateway.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rserpool_gateway::upstream::SctpConnector;
use rserpool_gateway::{Config, Gateway, Route};

#[derive(Parser)]
#[command(about = "TLS WebSocket gateway from browsers to RSerPool registrars over SCTP")]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file (TOML); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// PEM certificate chain.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Serve plain ws:// (loopback only).
    #[arg(long)]
    plaintext: bool,
    /// Route PATH=ADDR[,ADDR…], e.g. /asap/1=10.1.0.1:3863 (repeatable).
    #[arg(long = "registrar", value_name = "PATH=ADDR")]
    registrars: Vec<String>,
    /// Loopback address for /metrics and /tap.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Allowed Origin (repeatable; "*" for any).
    #[arg(long = "allow-origin")]
    origins: Vec<String>,
    /// Require a token, read from this file (first line; also
    /// `RSERPOOL_GATEWAY_TOKEN`): clients present it as
    /// `Authorization: Bearer TOKEN` or, from a browser, as the subprotocol
    /// `rserpool.token.<base64url>`. Never on the command line, where `ps`
    /// shows it.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Handle Resolutions per second per session (and --hr-burst).
    #[arg(long)]
    hr_per_second: Option<f64>,
    #[arg(long)]
    hr_burst: Option<u32>,
    /// Endpoint Unreachable reports per second per session (and --eu-burst).
    #[arg(long)]
    eu_per_second: Option<f64>,
    #[arg(long)]
    eu_burst: Option<u32>,
    /// Forward an Endpoint Unreachable for one PE at most once per this
    /// interval per session.
    #[arg(long, value_name = "MS")]
    eu_session_pe_interval_ms: Option<u64>,
    /// Gateway-wide Endpoint Unreachable budget per PE: burst (and
    /// --eu-pe-budget-interval-ms, one more report per interval).
    #[arg(long)]
    eu_pe_budget_burst: Option<u32>,
    #[arg(long, value_name = "MS")]
    eu_pe_budget_interval_ms: Option<u64>,
    /// Largest frame payload in bytes.
    #[arg(long, value_name = "BYTES")]
    max_payload: Option<usize>,
    /// Pool-element sessions open at once per WebSocket session.
    #[arg(long)]
    max_sessions: Option<usize>,
    /// WebSocket sessions open at once, in total.
    #[arg(long)]
    max_connections: Option<usize>,
    /// WebSocket sessions open at once per client address.
    #[arg(long)]
    max_connections_per_ip: Option<usize>,
    /// TLS + WebSocket handshake deadline.
    #[arg(long, value_name = "MS")]
    handshake_timeout_ms: Option<u64>,
    /// Close a session after this long without a frame from the client.
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
    /// Close a session whose client does not take a message within this.
    #[arg(long, value_name = "MS")]
    write_timeout_ms: Option<u64>,
    /// Send a WebSocket Ping this often.
    #[arg(long, value_name = "MS")]
    ping_interval_ms: Option<u64>,
}

impl Args {
    /// Flags override the configuration file's limits.
    fn apply_limits(&self, l: &mut rserpool_gateway::Limits) {
        fn set<T: Copy>(dst: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *dst = v;
            }
        }
        set(&mut l.hr_per_second, self.hr_per_second);
        set(&mut l.hr_burst, self.hr_burst);
        set(&mut l.eu_per_second, self.eu_per_second);
        set(&mut l.eu_burst, self.eu_burst);
        set(
            &mut l.eu_session_pe_interval_ms,
            self.eu_session_pe_interval_ms,
        );
        set(&mut l.eu_pe_budget_burst, self.eu_pe_budget_burst);
        set(
            &mut l.eu_pe_budget_interval_ms,
            self.eu_pe_budget_interval_ms,
        );
        set(&mut l.max_payload, self.max_payload);
        set(&mut l.max_sessions, self.max_sessions);
        set(&mut l.max_connections, self.max_connections);
        set(&mut l.max_connections_per_ip, self.max_connections_per_ip);
        set(&mut l.handshake_timeout_ms, self.handshake_timeout_ms);
        set(&mut l.idle_timeout_ms, self.idle_timeout_ms);
        set(&mut l.write_timeout_ms, self.write_timeout_ms);
        set(&mut l.ping_interval_ms, self.ping_interval_ms);
    }
}

#[derive(Subcommand)]
enum Command {
    /// Generate a private CA and a server certificate (for the lab).
    GenCerts {
        #[arg(long)]
        out: PathBuf,
        /// Host names or IP addresses for the server certificate.
        #[arg(long = "name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        names: Vec<String>,
        #[arg(long, default_value = "rserpool lab CA")]
        ca_name: String,
    },
    /// Time N sequential Handle Resolutions, directly over SCTP (--sctp) or
    /// through a gateway (--url, --ca); prints one JSON line.
    BenchResolve {
        #[arg(long)]
        sctp: Option<SocketAddr>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        ca: Option<PathBuf>,
        #[arg(long, default_value = "EchoPool")]
        pool: String,
        #[arg(short, default_value_t = 500)]
        n: usize,
    },
    /// The capacity bench (run beside the gateway, e.g. by `lab-bench
    /// --capacity`): idle sessions in steps, the gateway's memory and
    /// descriptors at each, whether a fresh session still resolves, and its
    /// CPU while connections beyond its cap keep arriving. JSON lines.
    BenchCapacity {
        #[arg(long)]
        url: String,
        #[arg(long)]
        ca: PathBuf,
        #[arg(long, default_value = "EchoPool")]
        pool: String,
        /// The gateway's process id (its /proc entry is read).
        #[arg(long)]
        pid: u32,
        /// Session counts to reach, in order.
        #[arg(long, value_delimiter = ',', default_values_t = [100, 500, 1000, 2000, 5000, 10000])]
        steps: Vec<usize>,
        /// Handshakes at a time while filling a step.
        #[arg(long, default_value_t = 32)]
        parallel: usize,
        /// Connection attempts per second beyond the last step's sessions.
        #[arg(long, default_value_t = 200)]
        refusals_per_second: u32,
    },
}

fn parse_route(s: &str) -> Result<Route> {
    let (path, addrs) = s
        .split_once('=')
        .context("--registrar wants PATH=ADDR[,ADDR…]")?;
    let registrar = addrs
        .split(',')
        .map(|a| a.parse().with_context(|| format!("address {a:?}")))
        .collect::<Result<Vec<SocketAddr>>>()?;
    Ok(Route {
        path: path.to_string(),
        registrar,
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    match args.command {
        Some(Command::GenCerts {
            out,
            names,
            ca_name,
        }) => return rserpool_gateway::certs::generate(&out, &names, &ca_name),
        Some(Command::BenchResolve {
            sctp,
            url,
            ca,
            pool,
            n,
        }) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let r = rt.block_on(async {
                match (sctp, url, ca) {
                    #[cfg(target_os = "linux")]
                    (Some(a), None, _) => rserpool_gateway::bench::direct(a, &pool, n).await,
                    (None, Some(u), Some(ca)) => {
                        rserpool_gateway::bench::via_gateway(&u, &ca, &pool, n).await
                    }
                    _ => anyhow::bail!("give --sctp ADDR, or --url URL with --ca FILE"),
                }
            })?;
            println!("{}", serde_json::to_string(&r)?);
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        Some(Command::BenchCapacity {
            url,
            ca,
            pool,
            pid,
            steps,
            parallel,
            refusals_per_second,
        }) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            return rt.block_on(async {
                use rserpool_gateway::bench;
                let print = |s: &bench::CapacityStep| {
                    println!("{}", serde_json::to_string(s).unwrap_or_default())
                };
                let (steps, held) =
                    bench::capacity(&url, &ca, &pool, pid, &steps, parallel, print).await?;
                let window = std::time::Duration::from_secs(5);
                let (cpu, refused) =
                    bench::cpu_under_refusals(&url, &ca, pid, refusals_per_second, window).await?;
                println!(
                    "{}",
                    serde_json::json!({
                        "refusals": {
                            "sessions_held": held.len(),
                            "steps": steps.len(),
                            "attempts_per_second": refusals_per_second,
                            "window_s": window.as_secs(),
                            "failed_attempts": refused,
                            "gateway_cpu_percent": cpu,
                        }
                    })
                );
                drop(held);
                Ok(())
            });
        }
        #[cfg(not(target_os = "linux"))]
        Some(Command::BenchCapacity { .. }) => anyhow::bail!("bench-capacity reads /proc (Linux)"),
        None => {}
    }
    let mut cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    args.apply_limits(&mut cfg.limits);
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if args.cert.is_some() {
        cfg.cert = args.cert;
    }
    if args.key.is_some() {
        cfg.key = args.key;
    }
    cfg.plaintext |= args.plaintext;
    for r in &args.registrars {
        cfg.routes.push(parse_route(r)?);
    }
    if args.metrics.is_some() {
        cfg.metrics = args.metrics;
    }
    if !args.origins.is_empty() {
        cfg.allowed_origins = args.origins;
    }
    if let Some(f) = &args.token_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading the token file {}", f.display()))?;
        let token = text.lines().next().unwrap_or("").trim().to_string();
        if token.is_empty() {
            anyhow::bail!("the token file {} is empty", f.display());
        }
        cfg.bearer_token = Some(token);
    } else if let Ok(token) = std::env::var("RSERPOOL_GATEWAY_TOKEN") {
        if !token.is_empty() {
            cfg.bearer_token = Some(token);
        }
    }
    raise_fd_limit(&mut cfg.limits);
    // One worker per CPU, at most two; where there is one CPU (the lab VM)
    // a current-thread runtime, so that a resolution's WebSocket half and
    // its SCTP half never wake each other across threads that share it.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = if cpus <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cpus.min(2))
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        let gw = Gateway::new(cfg, Arc::new(SctpConnector))?;
        let listener = tokio::net::TcpListener::bind(gw.config.listen)
            .await
            .with_context(|| format!("binding {}", gw.config.listen))?;
        if let Some(m) = gw.config.metrics {
            let l = tokio::net::TcpListener::bind(m).await?;
            tokio::spawn(gw.clone().serve_metrics(l));
        }
        eprintln!("rserpool-gateway listening on {}", listener.local_addr()?);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        gw.serve(listener, shutdown).await;
        Ok(())
    })
}

/// Raises the soft file-descriptor limit to the hard one and fits the
/// connection cap to it: each WebSocket session holds its TCP socket, its
/// registrar association and up to `max_sessions` PE associations, and the
/// process keeps some for itself (listeners, logs). With the default soft
/// limit of 1024 about 500 sessions fitted and the next one failed as if
/// its registrar had (docs/gateway.md, "Limits from file descriptors").
fn raise_fd_limit(limits: &mut rserpool_gateway::Limits) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0;
    if !got {
        tracing::warn!("getrlimit(RLIMIT_NOFILE) failed; connection cap left as configured");
        return;
    }
    if rl.rlim_cur < rl.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: rl.rlim_max,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            rl.rlim_cur = rl.rlim_max;
        }
    }
    let fds = usize::try_from(rl.rlim_cur).unwrap_or(usize::MAX);
    let fit = rserpool_gateway::config::connections_for_fds(fds);
    if limits.max_connections > fit {
        tracing::warn!(
            configured = limits.max_connections,
            fit,
            "max_connections lowered to what {fds} file descriptors hold"
        );
        limits.max_connections = fit;
    }
    tracing::info!(
        fds,
        max_connections = limits.max_connections,
        "file descriptors: soft limit raised to the hard limit"
    );
}
