//! `rserpool-actor`: the attackers and workloads of the scenario catalogue.

use clap::{Parser, Subcommand};
use rserpool_actors::{attack, stop::Stop, workload};

/// RFC 5355 attackers and pool-user workloads for the RSerPool lab. Every
/// actor is bounded in rate (≤ 1000/s), count (≤ 100000) and time
/// (≤ 120 s), prints one JSON object per line and ends with a `done` line.
#[derive(Debug, Parser)]
#[command(name = "rserpool-actor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an attacker.
    #[command(subcommand)]
    Attack(AttackKind),
    /// Run a workload (our pool user).
    #[command(subcommand)]
    Workload(WorkloadKind),
}

// Named as the catalogue names them (contract 3): several are floods.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
enum AttackKind {
    /// Forged Server Announces on the announce multicast group (RFC 5355 §2.12).
    Announce(attack::announce::Args),
    /// An insider pool user that always picks one PE (RFC 5355 §2.17).
    BiasedPu(attack::biased_pu::Args),
    /// A CalcApp pool user that alters the cookie it echoes after failover (RFC 5355 §2.16).
    CookieTamper(attack::cookie_tamper::Args),
    /// Endpoint Unreachable reports for healthy PEs (RFC 5355 §2.13).
    EuFlood(attack::eu_flood::Args),
    /// Handle Resolutions at a rate.
    HrFlood(attack::hr_flood::Args),
    /// Registrations of fake PEs that accept and ignore (RFC 5355 §2.1, §2.2).
    RegFlood(attack::reg_flood::Args),
    /// Registrations carrying a victim PE's addresses and port (RFC 5355 §2.3).
    RegSpoof(attack::reg_spoof::Args),
    /// A victim PE's (de)registration from another association (RFC 5355 §2.8).
    Replay(attack::replay::Args),
    /// Endpoint Keep-Alives at a PE, optionally as its home registrar (RFC 5355 §2.14).
    KaFlood(attack::ka_flood::Args),
    /// An insider PE of a load-based pool that advertises load 0 (RFC 5355 §2.17).
    LyingPe(attack::lying_pe::Args),
    /// An unauthorised PE that serves echo and records its sessions (RFC 5355 §2.4).
    RoguePe(attack::rogue_pe::Args),
    /// A rogue ENRP server: Presence, then Handle Updates adding fake PEs (RFC 5355 §2.5).
    RogueEnrp(attack::rogue_enrp::Args),
    /// A rogue registrar answering Handle Resolutions with the attacker's PEs (RFC 5355 §2.7).
    RogueRegistrar(attack::rogue_registrar::Args),
}

#[derive(Debug, Subcommand)]
enum WorkloadKind {
    /// Resolve the pool at a rate.
    ResolveLoop(workload::resolve_loop::Args),
    /// Hold echo sessions with the pool's PEs, failing over.
    EchoSessions(workload::echo_sessions::Args),
    /// CalcApp jobs at the PEs the registrar picks (RSPLIB's CalcApp pool).
    Calcapp(workload::calcapp::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rserpool-actor: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let r = rt.block_on(async move {
        let stop = Stop::on_signals()?;
        match cli.command {
            Command::Attack(k) => match k {
                AttackKind::Announce(a) => attack::announce::run(a, stop).await,
                AttackKind::BiasedPu(a) => attack::biased_pu::run(a, stop).await,
                AttackKind::CookieTamper(a) => attack::cookie_tamper::run(a, stop).await,
                AttackKind::EuFlood(a) => attack::eu_flood::run(a, stop).await,
                AttackKind::HrFlood(a) => attack::hr_flood::run(a, stop).await,
                AttackKind::RegFlood(a) => attack::reg_flood::run(a, stop).await,
                AttackKind::RegSpoof(a) => attack::reg_spoof::run(a, stop).await,
                AttackKind::Replay(a) => attack::replay::run(a, stop).await,
                AttackKind::KaFlood(a) => attack::ka_flood::run(a, stop).await,
                AttackKind::LyingPe(a) => attack::lying_pe::run(a, stop).await,
                AttackKind::RoguePe(a) => attack::rogue_pe::run(a, stop).await,
                AttackKind::RogueEnrp(a) => attack::rogue_enrp::run(a, stop).await,
                AttackKind::RogueRegistrar(a) => attack::rogue_registrar::run(a, stop).await,
            },
            Command::Workload(k) => match k {
                WorkloadKind::ResolveLoop(a) => workload::resolve_loop::run(a, stop).await,
                WorkloadKind::EchoSessions(a) => workload::echo_sessions::run(a, stop).await,
                WorkloadKind::Calcapp(a) => workload::calcapp::run(a, stop).await,
            },
        }
    });
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rserpool-actor: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
