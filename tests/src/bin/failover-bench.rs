//! Failover timings against live RSPLIB in the lab, over direct SCTP (our
//! pool user runs inside the environment, where the kernel has SCTP):
//!
//! - session: `rserpool session EchoPool` echoing a line every 50 ms; the
//!   serving PE is killed (SIGKILL); time from the session's loss of the PE
//!   to the failover notice and to the next echo (from another PE);
//! - registrar: `rserpool probe resolve-loop` resolving every 50 ms at
//!   registrar 1 (fallback registrar 2); registrar 1 is killed; latency of
//!   the resolution that met the loss, and whether any resolution failed.
//!
//! `cargo run --release -p rserpool-tests --bin failover-bench -- --runs 5`

use std::time::Duration;

use rserpool_tests::{failover_times, lab, resolve_loop_with_registrar_kill, session_with_pe_kill};

fn stats(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort_by(f64::total_cmp);
    format!(
        "median {:.1} ms, min {:.1} ms, max {:.1} ms (n = {})",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1],
        v.len()
    )
}

fn main() {
    let mut runs = 5u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => {
                runs = args.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| {
                    eprintln!("--runs needs a number");
                    std::process::exit(2)
                })
            }
            _ => {
                eprintln!("usage: failover-bench [--runs N]");
                std::process::exit(2)
            }
        }
    }
    let (mut notice, mut echo, mut registrar, mut failed) = (vec![], vec![], vec![], 0u64);
    for run in 1..=runs {
        {
            // Each lab() call restores the full topology first.
            let lab = lab();
            let (first, lines, _) = session_with_pe_kill(&lab, 60);
            match failover_times(&lines) {
                Some((n, e)) => {
                    println!("run {run}: session PE {first} lost -> notice {n:.1} ms, next echo {e:.1} ms");
                    notice.push(n);
                    echo.push(e);
                }
                None => println!("run {run}: session failover not observed"),
            }
        }
        {
            let lab = lab();
            let (code, lines, _) =
                resolve_loop_with_registrar_kill(&lab, 30, 50, Duration::from_millis(700));
            let summary = lines.last().cloned().unwrap_or_default();
            failed += summary["failures"].as_u64().unwrap_or(u64::MAX);
            match summary["recovery_latency_ms"].as_f64() {
                Some(ms) => {
                    println!(
                        "run {run}: registrar killed -> next resolution in {ms:.1} ms via registrar 2 (exit {code:?}, {} failed)",
                        summary["failures"]
                    );
                    registrar.push(ms);
                }
                None => println!("run {run}: registrar loss not observed ({summary})"),
            }
        }
    }
    println!("session PE loss -> failover notice: {}", stats(notice));
    println!("session PE loss -> next echo:       {}", stats(echo));
    println!("registrar loss -> next resolution:  {}", stats(registrar));
    println!("failed resolutions across all runs: {failed}");
}
