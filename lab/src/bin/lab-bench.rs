//! Measures the lab's boot time: from starting the environment (qemu, or the
//! native agent) to "every PE visible at every registrar" (RSPLIB's hsdump
//! at each registrar shows each pool with all its PEs).
//!
//! `cargo run --release -p rserpool-lab --bin lab-bench -- --runs 3`

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use rserpool_lab::{Lab, LabOptions};

#[derive(Parser)]
struct Args {
    /// Number of boots.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
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
