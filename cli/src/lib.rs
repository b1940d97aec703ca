//! The `rserpool` command line: decode captures, resolve pool handles, and
//! hold sessions with pool elements (a driver of client-core's pool user).

pub mod capture;
pub mod control;
pub mod decode;
pub mod exit;
pub mod json;
pub mod lab;
pub mod probe;
pub mod resolve;
pub mod scenario;
pub mod session;
pub mod summary;
pub mod trust;

use std::io::Write;

use clap::{Parser, Subcommand};

pub use exit::{CliError, ExitStatus};

/// RSerPool pool-user toolkit (interoperates with RSPLIB).
#[derive(Debug, Parser)]
#[command(name = "rserpool", version, about)]
pub struct Cli {
    /// Machine-readable output: one JSON object per line.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Gateway token for `wss://` registrars, read from the first line of
    /// FILE (else from `RSERPOOL_TOKEN`); sent as the subprotocol value
    /// `rserpool.token.<base64url>` beside `rserpool.asap.v1`.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode ASAP/ENRP messages given as hex or found in a pcap capture.
    Decode(decode::DecodeArgs),
    /// Resolve a pool handle to its pool elements at a registrar.
    Resolve(resolve::ResolveArgs),
    /// Talk to a pool element: stdin lines out, replies printed, failover
    /// notices on stderr (like RSPLIB's rspterminal).
    Session(session::SessionArgs),
    /// Run the lab environment: live RSPLIB registrars, pool elements and
    /// the gateway (a micro-VM where the kernel has no SCTP).
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Interop and robustness probes against a registrar over SCTP:
    /// malformed messages, Endpoint Unreachable floods, resolution loops.
    #[command(subcommand)]
    Probe(probe::ProbeCommand),
    /// The RFC 5355 scenario catalogue: list, show, generate its docs.
    #[command(subcommand)]
    Scenario(scenario::ScenarioCommand),
}

/// Run a parsed command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(f) = &cli.token_file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            CliError::new(
                ExitStatus::BadInput,
                anyhow::anyhow!("--token-file {}: {e}", f.display()),
            )
        })?;
        set_gateway_token(text.lines().next().unwrap_or("").to_string());
    }
    match cli.command {
        Command::Decode(args) => decode::run(&args, cli.json, out),
        Command::Resolve(args) => resolve::run(&args, cli.json, out),
        Command::Session(args) => session::run(&args, cli.json, out),
        Command::Probe(cmd) => probe::run(&cmd, cli.json, out),
        Command::Scenario(cmd) => scenario::run(&cmd, cli.json, out),
        Command::Lab(cmd) => {
            lab::run(cmd, cli.json, out).map_err(|e| CliError::new(ExitStatus::Failure, e))
        }
    }
}

/// The gateway token set by `--token-file` (see [`set_gateway_token`]).
static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the gateway token for every `wss://` connection of this process
/// (`--token-file`); without it, `RSERPOOL_TOKEN` from the environment.
/// Never taken from the command line itself (`ps` would show it).
pub fn set_gateway_token(token: String) {
    let _ = TOKEN.set(token);
}

/// The gateway token, if one was set or is in the environment.
pub fn gateway_token() -> Option<String> {
    TOKEN
        .get()
        .cloned()
        .or_else(|| std::env::var("RSERPOOL_TOKEN").ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The single-threaded runtime the network commands run on.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ExitStatus::Failure, e.into()))
}

/// Set up logging on stderr according to `-v`.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
