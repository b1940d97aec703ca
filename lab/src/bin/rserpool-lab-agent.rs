//! The lab agent (runs inside the lab environment). See `rserpool_lab::agent`.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use rserpool_lab::agent::{Agent, AgentConfig};
use rserpool_lab::topology::Topology;

#[derive(Parser)]
#[command(about = "RSerPool lab agent: runs RSPLIB registrars, PEs and project processes")]
struct Args {
    /// Topology file (TOML).
    #[arg(long)]
    topology: PathBuf,
    /// File holding the per-run token clients must present.
    #[arg(long)]
    token_file: PathBuf,
    /// Control address.
    #[arg(long, default_value = "0.0.0.0:7000")]
    listen: String,
    /// Directory of project binaries (prepended to PATH).
    #[arg(long, default_value = "/share/bin")]
    bin_dir: PathBuf,
    /// Directory for process logs.
    #[arg(long, default_value = "/tmp/lab-logs")]
    log_dir: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let topology = Topology::load(&args.topology)?;
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("token file {}", args.token_file.display()))?
        .trim()
        .to_string();
    std::fs::create_dir_all(&args.log_dir)?;
    let listener =
        TcpListener::bind(&args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let agent = Agent::new(AgentConfig {
        topology,
        token,
        bin_dir: args.bin_dir,
        log_dir: args.log_dir,
    });
    println!("LAB: agent listening on {}", listener.local_addr()?);
    // Before the processes start, so that their first reports arrive.
    if let Err(e) = agent.spawn_csp_collector() {
        println!("LAB: no CSP collector: {e:#}");
    }
    agent.spawn_tap_relays();
    agent.start_all();
    agent.spawn_monitor();
    agent.serve(listener)
}
