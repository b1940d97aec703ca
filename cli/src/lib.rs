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
    /// Print a shell completion script, e.g.
    /// `rserpool completions bash > /etc/bash_completion.d/rserpool`.
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `rserpool man | man -l -`.
    Man,
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
        Command::Resolve(mut args) => {
            default_registrars(&mut args.registrar, env_var, lab::running_lab_gateways)?;
            resolve::run(&args, cli.json, out)
        }
        Command::Session(mut args) => {
            default_registrars(&mut args.registrar, env_var, lab::running_lab_gateways)?;
            session::run(&args, cli.json, out)
        }
        Command::Probe(cmd) => probe::run(&cmd, cli.json, out),
        Command::Scenario(cmd) => scenario::run(&cmd, cli.json, out),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "rserpool", out);
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command())
                .render(out)
                .map_err(|e| CliError::new(ExitStatus::Failure, e.into()))
        }
        Command::Lab(cmd) => lab::run(cmd, cli.json, out).map_err(|e| {
            let passthrough = e.downcast_ref::<lab::InnerExit>().map(|c| c.0);
            CliError {
                passthrough,
                ..CliError::new(ExitStatus::Failure, e)
            }
        }),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Fills in the registrars and CA nobody gave: `-r`/`--ca` first, then
/// `RSERPOOL_REGISTRAR` (comma separated) and `RSERPOOL_CA`, then the
/// running lab (its gateway URLs and its CA, from `current.json`), so that
/// `rserpool resolve EchoPool` works after `scripts/lab`.
pub fn default_registrars(
    r: &mut resolve::RegistrarArgs,
    env: impl Fn(&str) -> Option<String>,
    lab: impl FnOnce() -> Option<(Vec<String>, std::path::PathBuf)>,
) -> Result<(), CliError> {
    let lab = std::cell::LazyCell::new(lab);
    if r.registrars.is_empty() {
        if let Some(v) = env("RSERPOOL_REGISTRAR") {
            r.registrars = v.split(',').map(|u| u.trim().to_string()).collect();
        } else if let Some((urls, _)) = &*lab {
            r.registrars = urls.clone();
        } else {
            return Err(CliError::new(
                ExitStatus::Usage,
                anyhow::anyhow!(
                    "no registrar: give -r URL, set RSERPOOL_REGISTRAR, or start the lab (`rserpool lab up`)"
                ),
            ));
        }
    }
    if r.ca.is_none() {
        r.ca = env("RSERPOOL_CA").map(Into::into).or_else(|| {
            // The lab's CA only for wss:// registrars (others need none).
            let wss = r.registrars.iter().any(|u| u.starts_with("wss://"));
            wss.then(|| lab.as_ref().map(|(_, ca)| ca.clone()))
                .flatten()
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args(registrars: &[&str], ca: Option<&str>) -> resolve::RegistrarArgs {
        resolve::RegistrarArgs {
            registrars: registrars.iter().map(|s| s.to_string()).collect(),
            ca: ca.map(PathBuf::from),
            connect_timeout: 7500,
            response_timeout: 3000,
        }
    }

    fn lab() -> Option<(Vec<String>, PathBuf)> {
        Some((
            vec![
                "wss://localhost:4443/asap/1".into(),
                "wss://localhost:4443/asap/2".into(),
            ],
            PathBuf::from("/lab/ca.pem"),
        ))
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn without_registrar_or_ca_the_running_lab_supplies_both() {
        let mut a = args(&[], None);
        default_registrars(&mut a, no_env, lab).unwrap();
        assert_eq!(a.registrars, lab().unwrap().0);
        assert_eq!(a.ca, Some(PathBuf::from("/lab/ca.pem")));
    }

    #[test]
    fn the_environment_comes_before_the_lab_and_flags_before_both() {
        let env = |k: &str| match k {
            "RSERPOOL_REGISTRAR" => Some("sctp://10.1.0.1, sctp://10.1.0.2".into()),
            "RSERPOOL_CA" => Some("/env/ca.pem".into()),
            _ => None,
        };
        let mut a = args(&[], None);
        default_registrars(&mut a, env, lab).unwrap();
        assert_eq!(a.registrars, ["sctp://10.1.0.1", "sctp://10.1.0.2"]);
        assert_eq!(a.ca, Some(PathBuf::from("/env/ca.pem")));
        let mut a = args(&["wss://gw.example/asap"], Some("/flag/ca.pem"));
        default_registrars(&mut a, env, lab).unwrap();
        assert_eq!(a.registrars, ["wss://gw.example/asap"]);
        assert_eq!(a.ca, Some(PathBuf::from("/flag/ca.pem")));
    }

    #[test]
    fn sctp_registrars_get_no_ca_from_the_lab() {
        let mut a = args(&["sctp://10.1.0.1"], None);
        default_registrars(&mut a, no_env, lab).unwrap();
        assert_eq!(a.ca, None);
    }

    #[test]
    fn no_registrar_anywhere_is_a_usage_error_that_says_where_one_comes_from() {
        let mut a = args(&[], None);
        let e = default_registrars(&mut a, no_env, || None).unwrap_err();
        assert_eq!(e.status, ExitStatus::Usage);
        assert!(e.to_string().contains("RSERPOOL_REGISTRAR"), "{e}");
    }

    #[test]
    fn errors_as_json_carry_status_and_every_registrar_tried() {
        let e = CliError::new(
            ExitStatus::NoRegistrar,
            anyhow::anyhow!(
                "resolving EchoPool: no registrar reachable\n  wss://a/asap/1: TLS: UnknownIssuer\n  sctp://10.1.0.9:3863: connection refused"
            ),
        );
        let v = e.to_json();
        assert_eq!(v["error"]["exit_status"], 10);
        assert_eq!(
            v["error"]["message"],
            "resolving EchoPool: no registrar reachable"
        );
        assert_eq!(v["error"]["attempts"][0]["registrar"], "wss://a/asap/1");
        assert_eq!(v["error"]["attempts"][1]["error"], "connection refused");
    }

    #[test]
    fn completions_and_the_man_page_come_from_the_clap_definitions() {
        for (argv, want) in [
            (vec!["rserpool", "completions", "bash"], "_rserpool()"),
            (vec!["rserpool", "man"], ".TH rserpool"),
        ] {
            let mut out = Vec::new();
            run(Cli::parse_from(argv), &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(want), "{}", &text[..text.len().min(300)]);
            assert!(text.contains("resolve"), "no resolve subcommand");
        }
    }
}
