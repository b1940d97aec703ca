//! Measures the lab's boot time: from starting the environment (qemu, or the
//! native agent) to "every PE visible at every registrar" (RSPLIB's hsdump
//! at each registrar shows each pool with all its PEs).
//!
//! `cargo run --release -p rserpool-lab --bin lab-bench -- --runs 3`
//!
//! With `--gateway N`: in one lab run, N sequential Handle Resolutions for
//! EchoPool at registrar 1, directly over SCTP and through our gateway
//! (TLS + WebSocket, then SCTP), both from inside the environment.
//!
//! With `--capacity STEPS` (e.g. `100,1000,5000,10000`): the gateway's
//! capacity (issue 10): a gateway with the connection caps lifted and its
//! descriptor limit raised, idle sessions opened in steps from inside the
//! VM (2 GiB for this bench), the gateway's memory per session and
//! descriptors at each step, whether a fresh session still resolves, and
//! its CPU while connections beyond what it holds keep arriving.
//!
//! `cargo run --release -p rserpool-lab --bin lab-bench -- --capacity 100,1000,5000,10000`

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
    /// Instead: the gateway capacity bench, idle sessions in these steps.
    #[arg(long, value_delimiter = ',')]
    capacity: Vec<usize>,
    /// Descriptor limit (soft and hard) of the capacity bench's gateway.
    #[arg(long, default_value_t = 65536)]
    nofile: u32,
}

fn capacity_bench(steps: &[usize], nofile: u32) -> Result<()> {
    let mut lab = Lab::start(LabOptions {
        memory_mib: 2048,
        ..LabOptions::default()
    })?;
    let steps_arg = steps
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // Both the gateway and the bench's clients need a descriptor each per
    // session (the gateway one more, the registrar association); the
    // gateway fits its connection cap to its limit.
    let caps = 4 * steps.iter().max().copied().unwrap_or(1) + 100;
    // The run directory is the guest's /share (VM mode) or itself (native):
    // the bench writes its steps there as they are measured, so the host
    // sees each one at once and keeps them even if a later step never ends.
    let share = match lab.mode() {
        rserpool_lab::Mode::Vm => "/share".to_string(),
        _ => lab.run_dir().display().to_string(),
    };
    let (jsonl, done) = (
        lab.run_dir().join("capacity.jsonl"),
        lab.run_dir().join("capacity.rc"),
    );
    let script = format!(
        "ulimit -n {nofile} || exit 3; \
         rserpool-gateway --listen 127.0.0.1:8447 --cert {share}/certs/server.pem \
         --key {share}/certs/server-key.pem --registrar /asap=10.1.0.1:3863 \
         --max-connections {caps} --max-connections-per-ip {caps} \
         --idle-timeout-ms 3600000 --ping-interval-ms 3600000 \
         >/tmp/capacity-gw.log 2>&1 & gw=$!; sleep 1; \
         rserpool-gateway bench-capacity --url wss://localhost:8447/asap --ca {share}/certs/ca.pem \
         --pid $gw --steps {steps_arg} > {share}/capacity.jsonl 2> {share}/capacity.err; rc=$?; \
         grep -iE 'limit|cap|panick' /tmp/capacity-gw.log | head -5 >> {share}/capacity.err; \
         kill $gw; echo $rc > {share}/capacity.rc"
    );
    // Started in the background: an exec is bounded (10 minutes at most),
    // and 10,000 TLS handshakes under TCG take longer than that.
    let bg = "setsid sh -c \"$0\" >/dev/null 2>&1 </dev/null & echo started";
    let out = lab.exec("sh", &["-c", bg, &script], Duration::from_secs(30))?;
    if out.code != Some(0) {
        anyhow::bail!(
            "starting the capacity bench failed ({:?}): {}",
            out.code,
            out.stderr
        );
    }
    // Bounded: two hours at most, whatever the steps.
    let deadline = std::time::Instant::now() + Duration::from_secs(7200);
    let mut seen = 0;
    while !done.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(5));
        let text = std::fs::read_to_string(&jsonl).unwrap_or_default();
        for line in text.lines().skip(seen) {
            eprintln!("step: {line}");
            seen += 1;
        }
        if let Some(why) = lab.died() {
            anyhow::bail!("the lab died during the bench: {why}");
        }
    }
    let rc = std::fs::read_to_string(&done).unwrap_or_else(|_| "timeout".into());
    let stdout = std::fs::read_to_string(&jsonl).unwrap_or_default();
    let stderr = std::fs::read_to_string(lab.run_dir().join("capacity.err")).unwrap_or_default();
    if rc.trim() != "0" {
        eprintln!("capacity bench ended with {}: {stderr}", rc.trim());
    }
    eprint!("{stderr}");
    println!("| sessions asked | open | failed | gateway RSS MiB | bytes/session | fds | fresh session resolves | fresh ms | idle CPU % |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for line in stdout.lines() {
        let Ok(r) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(x) = r.get("refusals") {
            println!(
                "\nwith {} sessions held, {} connection attempts/s for {} s ({} failed): gateway CPU {:.1} % of one core",
                x["sessions_held"], x["attempts_per_second"], x["window_s"], x["failed_attempts"],
                x["gateway_cpu_percent"].as_f64().unwrap_or(0.0)
            );
            continue;
        }
        println!(
            "| {} | {} | {} | {:.1} | {} | {} | {} | {:.0} | {:.1} |",
            r["target"],
            r["sessions"],
            r["failed"],
            r["rss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            r["bytes_per_session"],
            r["fds"],
            if r["fresh_resolves"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            r["fresh_ms"].as_f64().unwrap_or(0.0),
            r["idle_cpu_percent"].as_f64().unwrap_or(0.0),
        );
        if let Some(f) = r["first_failure"].as_str() {
            println!("|  | first failure: {f} | | | | | | | |");
        }
    }
    Ok(())
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
    if !args.capacity.is_empty() {
        return capacity_bench(&args.capacity, args.nofile);
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
