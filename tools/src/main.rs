//! `edgewayctl`: see the library (`edgeway_tools`) and README.md ("edgewayctl").

use clap::Parser;
use edgeway_tools::cli::Cli;
use edgeway_tools::{commands, exit};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("edgewayctl: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    match runtime.block_on(commands::run(cli, &env)) {
        Ok(out) => {
            let _ = std::io::stdout().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edgewayctl: {e:#}");
            ExitCode::from(exit::code(&e))
        }
    }
}
