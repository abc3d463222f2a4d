//! `edgeway-load`: see the library (`edgeway_load`) for what it does and README.md
//! ("Load-test") for how to use it.

use anyhow::Context;
use clap::Parser;
use edgeway_load::cli::Args;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(edgeway_load::run(config))?;
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    print!("{report}");
    Ok(())
}
