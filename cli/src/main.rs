use std::process::ExitCode;

use clap::Parser;
use rserpool_cli::{init_logging, run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let json = cli.json;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        // Output cut short by the reader (`rserpool … | head`): stop
        // quietly, as Unix filters do.
        Err(e) if is_broken_pipe(&e.error) => ExitCode::SUCCESS,
        // `lab exec`: the inner command said what it had to say.
        Err(e) if e.passthrough.is_some() => ExitCode::from(e.exit_code()),
        Err(e) => {
            if json {
                // One JSON object per line on stdout, errors included.
                println!("{}", e.to_json());
            } else {
                eprintln!("rserpool: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
