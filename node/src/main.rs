//! `edgeway`: parse arguments, load the config, run the node.

use anyhow::Context;
use clap::Parser;
use edgeway::NodeConfig;
use std::path::PathBuf;

/// mimalloc instead of glibc's malloc. hyper takes a new 8 KiB read buffer for most messages
/// (the last one's is still referenced by the request in flight), and glibc serves blocks that
/// size from its slow path (`_int_malloc`, `malloc_consolidate`); see BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "edgeway", version, about = "Edgeway API gateway node")]
struct Args {
    /// Node configuration (TOML). Without it: one node on 127.0.0.1:8080 (admin :9090), data in
    /// ./edgeway-data, admin token from EDGEWAY_ADMIN_TOKEN.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Validate a configuration file and exit.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if let Some(path) = args.check_config {
        NodeConfig::load(&path)
            .with_context(|| format!("{} is not a valid node configuration", path.display()))?;
        println!("{}: ok", path.display());
        return Ok(());
    }
    let config = match &args.config {
        Some(path) => NodeConfig::load(path)?,
        None => {
            let mut config = NodeConfig::default();
            config.admin.token = std::env::var("EDGEWAY_ADMIN_TOKEN").ok();
            config
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(edgeway::node::run(config, args.config))?;
    Ok(())
}
