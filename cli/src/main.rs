use std::process::ExitCode;

use clap::Parser;
use rserpool_cli::{init_logging, run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rserpool: {e}");
            ExitCode::from(e.status as u8)
        }
    }
}
