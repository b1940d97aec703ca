//! Measures the lab's boot time: from starting the environment (qemu, or the
//! native agent) to "every PE visible at every registrar" (RSPLIB's hsdump
//! at each registrar shows each pool with all its PEs).
//!
//! `cargo run --release -p rserpool-lab --bin lab-bench -- --runs 3`
//!
//! With `--gateway N`: in one lab run, N sequential Handle Resolutions for
//! EchoPool at registrar 1, directly over SCTP and through our gateway
//! (TLS + WebSocket, then SCTP), both from inside the environment.

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use rserpool_lab::{Lab, LabOptions};

#[derive(Parser)]
struct Args {
    /// Number of boots.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Instead of boot times: compare resolution through the gateway with
    /// direct SCTP, N resolutions each.
    #[arg(long)]
    gateway: Option<usize>,
}

fn gateway_bench(n: usize) -> Result<()> {
    let lab = Lab::start(LabOptions::default())?;
    // A second gateway just for the bench, with the Handle Resolution rate
    // limit lifted (the lab's own keeps the default of 10/s).
    let script = format!(
        "rserpool-gateway --listen 127.0.0.1:8444 --cert /share/certs/server.pem \
         --key /share/certs/server-key.pem --registrar /asap=10.1.0.1:3863 \
         --hr-per-second 1000000 --hr-burst 1000000 >/tmp/bench-gw.log 2>&1 & gw=$!; sleep 1; \
         rserpool-gateway bench-resolve --sctp 10.1.0.1:3863 -n {n} && \
         rserpool-gateway bench-resolve --url wss://localhost:8444/asap --ca /share/certs/ca.pem -n {n}; \
         rc=$?; kill $gw; exit $rc"
    );
    let out = lab.exec("sh", &["-c", &script], Duration::from_secs(600))?;
    if out.code != Some(0) {
        anyhow::bail!(
            "bench failed ({:?}): {}{}",
            out.code,
            out.stdout,
            out.stderr
        );
    }
    let rows: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    println!("| path | resolutions | p50 µs | p90 µs | p99 µs | resolutions/s |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.0} |",
            r["via"].as_str().unwrap_or("?"),
            r["resolutions"],
            r["p50_us"],
            r["p90_us"],
            r["p99_us"],
            r["per_second"].as_f64().unwrap_or(0.0)
        );
    }
    if let [d, g] = &rows[..] {
        let ratio =
            d["per_second"].as_f64().unwrap_or(0.0) / g["per_second"].as_f64().unwrap_or(1.0);
        let lat = g["p50_us"].as_f64().unwrap_or(0.0) / d["p50_us"].as_f64().unwrap_or(1.0);
        println!(
            "\ngateway/direct: median latency x{lat:.2}, throughput direct/gateway x{ratio:.2}"
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(n) = args.gateway {
        return gateway_bench(n);
    }
    let mut times = Vec::new();
    for run in 1..=args.runs {
        let lab = Lab::start(LabOptions::default())?;
        println!(
            "run {run}: mode {:?}, ready after {:.2} s",
            lab.mode(),
            lab.boot_time.as_secs_f64()
        );
        times.push(lab.boot_time);
        drop(lab);
    }
    times.sort();
    let median = times[times.len() / 2];
    let (min, max) = (times[0], times[times.len() - 1]);
    let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!(
        "boot to all PEs visible at every registrar: median {}, min {}, max {} over {} runs",
        s(median),
        s(min),
        s(max),
        times.len()
    );
    Ok(())
}
