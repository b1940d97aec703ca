//! Our pool user against RSPLIB's own (librsplib 3.4.4), same lab, same
//! registrar, in one run (docs/benchmarks-peer.md explains the method):
//!
//! - resolution: N sequential Handle Resolutions for EchoPool at
//!   registrar 1 over direct SCTP, by `rserpool probe resolve-loop
//!   --interval 0` and by `rsplib-peer resolve` (`rsp_getaddrinfo` with a
//!   stale cache of 0), in alternating pairs (the order flips every pair);
//!   per pair the ratio ours ÷ RSPLIB's, reported as the median over pairs;
//! - failover: a session to EchoPool echoing a line every 50 ms, by
//!   `rserpool session` and by `rsplib-peer session` (`rsp_connect`); once
//!   it echoes, the serving PE is killed (SIGKILL); the outage is the time
//!   from the last echo of the killed PE to the first echo of the next one,
//!   on the session's own clock. Runs alternate too.
//!
//! `cargo run --release -p rserpool-tests --bin peer-bench -- --pairs 5 --resolutions 500 --failovers 3`
//!
//! `bench/rsplib-peer/rsplib-peer.c` is compiled here with `cc … -lrsplib`
//! (Debian's `librsplib-dev`, installed by `scripts/setup`) and run inside
//! the lab, whose image carries librsplib's shared libraries.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rserpool_lab::{Lab, Mode};
use rserpool_tests::{json_lines, lab, pe_process, wait_until};

const REGISTRAR: &str = "10.1.0.1:3863";

struct Args {
    pairs: usize,
    resolutions: usize,
    failovers: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        pairs: 5,
        resolutions: 500,
        failovers: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--pairs" => &mut a.pairs,
            "--resolutions" => &mut a.resolutions,
            "--failovers" => &mut a.failovers,
            _ => usage(),
        };
        *slot = it
            .next()
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or_else(|| usage());
    }
    a
}

fn usage() -> ! {
    eprintln!("usage: peer-bench [--pairs N] [--resolutions N] [--failovers N]");
    std::process::exit(2)
}

/// Where the peer binary is, as seen from inside the environment.
fn install_peer(lab: &Lab) -> Result<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = root.join("bench/rsplib-peer/rsplib-peer.c");
    let out = lab.run_dir().join("rsplib-peer");
    let status = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-lrsplib")
        .status()
        .context("running cc (scripts/setup installs gcc and librsplib-dev)")?;
    if !status.success() {
        bail!("building {} failed ({status})", src.display());
    }
    Ok(match lab.mode() {
        Mode::Vm => "/share/rsplib-peer".into(),
        Mode::Native => out.display().to_string(),
    })
}

#[derive(Clone, Copy, Debug)]
struct ResolveFigures {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ours_resolve(lab: &Lab, n: usize) -> Result<ResolveFigures> {
    // Into a file, read afterwards: RSPLIB's peer prints once at the end,
    // and a line per resolution down the agent's pipe would wake the agent
    // on the lab's one CPU in the middle of the next resolution.
    let log = "/tmp/peer-ours-resolve.jsonl";
    let script = format!(
        "rserpool --json probe resolve-loop EchoPool --count {n} --interval 0 \
         -r sctp://{REGISTRAR} > {log}; rc=$?; cat {log}; exit $rc"
    );
    let out = lab.exec("sh", &["-c", &script], Duration::from_secs(600))?;
    if out.code != Some(0) {
        bail!("our resolve loop failed: {}{}", out.stdout, out.stderr);
    }
    let lines = json_lines(&out.stdout);
    let rows: Vec<&serde_json::Value> = lines.iter().filter(|l| l["seq"].is_u64()).collect();
    let mut lat: Vec<f64> = rows
        .iter()
        .filter_map(|l| l["latency_ms"].as_f64())
        .map(|ms| ms * 1000.0)
        .collect();
    let last = rows.last().context("no resolution lines")?;
    let span_ms = last["t_ms"].as_f64().unwrap_or(0.0) + last["latency_ms"].as_f64().unwrap_or(0.0);
    lat.sort_by(f64::total_cmp);
    Ok(ResolveFigures {
        per_second: lat.len() as f64 * 1000.0 / span_ms,
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
    })
}

fn rsplib_resolve(lab: &Lab, peer: &str, n: usize) -> Result<ResolveFigures> {
    let out = lab.exec(
        peer,
        &[
            "resolve",
            &format!("-registrar={REGISTRAR}"),
            "-poolhandle=EchoPool",
            &format!("-count={n}"),
        ],
        Duration::from_secs(600),
    )?;
    if out.code != Some(0) {
        bail!("rsplib-peer resolve failed: {}{}", out.stdout, out.stderr);
    }
    let v = json_lines(&out.stdout)
        .into_iter()
        .next()
        .context("rsplib-peer printed nothing")?;
    let f = |k: &str| v[k].as_f64().with_context(|| format!("no {k} in {v}"));
    Ok(ResolveFigures {
        per_second: f("per_second")?,
        p50_us: f("p50_us")?,
        p99_us: f("p99_us")?,
    })
}

/// Runs `script` (a session printing JSON lines with `event: data`, `t_ms`
/// and `pe`) inside the lab, kills the PE of its first echo, and returns
/// the outage: last echo from that PE → first echo from another.
fn session_outage(lab: &Lab, script: &str, log: &str) -> Result<f64> {
    std::thread::scope(|s| -> Result<f64> {
        let session = s.spawn(|| lab.exec("sh", &["-c", script], Duration::from_secs(120)));
        let mut first = None;
        wait_until(Duration::from_secs(30), "the session's first echo", || {
            let o = lab.exec("cat", &[log], Duration::from_secs(5));
            first = o.ok().and_then(|o| {
                o.stdout
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .find(|l| l["event"] == "data")
                    .and_then(|l| l["pe"].as_str().map(str::to_string))
            });
            first.is_some()
        });
        let first = first.context("first PE")?;
        let id = u32::from_str_radix(first.trim_start_matches("0x"), 16)?;
        // A few echoes first, so that the session is in its steady state.
        std::thread::sleep(Duration::from_millis(500));
        lab.kill(&pe_process(lab, id)?)?;
        let out = session.join().expect("session thread")?;
        let lines = json_lines(&lab.exec("cat", &[log], Duration::from_secs(5))?.stdout);
        let data: Vec<(f64, String)> = lines
            .iter()
            .filter(|l| l["event"] == "data")
            .filter_map(|l| Some((l["t_ms"].as_f64()?, l["pe"].as_str()?.to_string())))
            .collect();
        let last_old = data
            .iter()
            .take_while(|(_, pe)| *pe == first)
            .last()
            .map(|(t, _)| *t);
        let next = data.iter().find(|(_, pe)| *pe != first).map(|(t, _)| *t);
        match (last_old, next) {
            (Some(a), Some(b)) => Ok(b - a),
            _ => bail!(
                "no failover seen (session exit {:?}): {}",
                out.code,
                lines
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    })
}

fn feed(lines: u32) -> String {
    format!("(i=0; while [ $i -lt {lines} ]; do echo line-$i; i=$((i+1)); sleep 0.05; done)")
}

fn ours_failover(lab: &Lab, run: usize) -> Result<f64> {
    let log = format!("/tmp/peer-ours-{run}.jsonl");
    let script = format!(
        "{} | rserpool --json session EchoPool -r sctp://{REGISTRAR} --linger 1000 > {log} 2>/dev/null",
        feed(80)
    );
    session_outage(lab, &script, &log)
}

fn rsplib_failover(lab: &Lab, peer: &str, run: usize) -> Result<f64> {
    let log = format!("/tmp/peer-rsplib-{run}.jsonl");
    let script = format!(
        "{peer} session -registrar={REGISTRAR} -poolhandle=EchoPool -lines=80 -interval-ms=50 > {log} 2>/dev/null"
    );
    session_outage(lab, &script, &log)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = parse_args();
    let peer = {
        let l = lab();
        install_peer(&l)?
    };
    println!("| pair | ours res/s | RSPLIB res/s | ours p50 µs | RSPLIB p50 µs | ours p99 µs | RSPLIB p99 µs | rate ours÷RSPLIB | p50 ours÷RSPLIB |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let (mut rate_ratios, mut p50_ratios) = (Vec::new(), Vec::new());
    for pair in 1..=args.pairs {
        let l = lab();
        let (ours, theirs) = if pair % 2 == 1 {
            let o = ours_resolve(&l, args.resolutions)?;
            (o, rsplib_resolve(&l, &peer, args.resolutions)?)
        } else {
            let t = rsplib_resolve(&l, &peer, args.resolutions)?;
            (ours_resolve(&l, args.resolutions)?, t)
        };
        let (r, p) = (
            ours.per_second / theirs.per_second,
            ours.p50_us / theirs.p50_us,
        );
        rate_ratios.push(r);
        p50_ratios.push(p);
        println!(
            "| {pair} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {r:.2} | {p:.2} |",
            ours.per_second,
            theirs.per_second,
            ours.p50_us,
            theirs.p50_us,
            ours.p99_us,
            theirs.p99_us
        );
    }
    println!(
        "\nresolutions/s ours ÷ RSPLIB: median {:.2} over {} pairs; p50 latency ours ÷ RSPLIB: median {:.2}",
        median(rate_ratios),
        args.pairs,
        median(p50_ratios)
    );
    println!("\n| run | ours outage ms | RSPLIB outage ms | ours÷RSPLIB |");
    println!("|---|---|---|---|");
    let mut ratios = Vec::new();
    for run in 1..=args.failovers {
        // Each lab() call restores the full topology (the killed PE back at
        // every registrar) before the next session.
        let (ours, theirs) = if run % 2 == 1 {
            let o = ours_failover(&lab(), run)?;
            (o, rsplib_failover(&lab(), &peer, run)?)
        } else {
            let t = rsplib_failover(&lab(), &peer, run)?;
            (ours_failover(&lab(), run)?, t)
        };
        ratios.push(ours / theirs);
        println!("| {run} | {ours:.1} | {theirs:.1} | {:.2} |", ours / theirs);
    }
    println!(
        "\nfailover outage ours ÷ RSPLIB: median {:.2} over {} runs",
        median(ratios),
        args.failovers
    );
    Ok(())
}
