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
        // Output cut short by the reader (`rserpool … | head`): stop
        // quietly, as Unix filters do.
        Err(e) if is_broken_pipe(&e.error) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rserpool: {e}");
            ExitCode::from(e.status as u8)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
