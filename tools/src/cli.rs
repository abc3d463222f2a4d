//! The command line of `edgewayctl`.

use crate::output::Format;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error before or outside the server (bad file or document, I/O, certificates)
  2  bad command line
  3  server unreachable (connection or TLS failure)
  4  unauthorized or forbidden (401, 403): check the token
  5  not found (404)
  6  conflict (409): exists already, or in use
  7  rejected as invalid (other 4xx, e.g. 400 naming the field)
  8  server error (5xx), or not ready (503 from `ready`)";

#[derive(Parser, Debug)]
#[command(name = "edgewayctl", version, about = "The Edgeway admin CLI", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Admin API address, http://host:port or https://host:port [env: EDGEWAY_ADDR]
    /// [default: http://127.0.0.1:9090]
    #[arg(long, global = true)]
    pub addr: Option<String>,
    /// Bearer token [env: EDGEWAY_TOKEN]
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) for an https:// address [env: EDGEWAY_CA]. For `certs issue`: the
    /// directory holding the cluster CA (ca.pem, ca.key)
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// Config file (TOML: addr, token or token_file, ca) [env: EDGEWAY_CONFIG] [default:
    /// ~/.config/edgeway/edgewayctl.toml]
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Output format
    #[arg(short, long, global = true, value_enum, default_value_t)]
    pub output: Format,
}

/// `--api` for kinds that live inside an API.
#[derive(Args, Debug, Clone)]
pub struct InApi {
    /// The API that holds the object (routes, integrations, stages, deployments, authorizers)
    #[arg(long)]
    pub api: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the objects of a kind, or show one: apis, routes, integrations, stages, deployments,
    /// authorizers, domains, keys, plans
    Get {
        kind: String,
        id: Option<String>,
        #[command(flatten)]
        api: InApi,
    },
    /// Create an object from a YAML or JSON file (`-` reads standard input)
    Create {
        kind: String,
        #[arg(short, long)]
        file: PathBuf,
        #[command(flatten)]
        api: InApi,
    },
    /// Create or replace an object (PUT) from a YAML or JSON file
    Update {
        kind: String,
        id: String,
        #[arg(short, long)]
        file: PathBuf,
        #[command(flatten)]
        api: InApi,
    },
    /// Delete an object (an API goes with everything inside it)
    Delete {
        kind: String,
        id: String,
        #[command(flatten)]
        api: InApi,
    },
    /// Snapshot an API into a new deployment, optionally pointing a stage at it
    Deploy {
        api: String,
        #[arg(long)]
        stage: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Show a whole API as one document (what `apply` takes)
    Document { api: String },
    /// Make the server hold what YAML/JSON files say: create or update, show differences with
    /// --dry-run, delete what the files no longer name with --prune
    Apply {
        /// Files or directories (every .yaml, .yml, .json inside)
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        /// Print what would change, as diffs; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Delete objects of the kinds in the files that the files do not name
        #[arg(long)]
        prune: bool,
    },
    /// API keys: create (the value is shown once), enable, disable, import AWS CSV
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Usage plans: their keys, usage and quota
    #[command(subcommand)]
    Plans(PlansCommand),
    /// Everything the node holds, with versions
    Objects,
    /// Is the node up (`/health`)
    Health,
    /// Is the node ready to serve (`/ready`); exit 8 when not
    Ready,
    /// The node's Prometheus metrics, as text
    Metrics,
    /// Drain the node: stop taking traffic, finish in-flight requests, leave the cluster
    Drain,
    /// Stage response caches
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Cluster membership and convergence, as this node sees them
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// WebSocket connections (`@connections`), on any node: the one holding it is reached
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// DNS records of the cluster: per region, the addresses of its healthy nodes
    Dns {
        /// Names become `<region>.<ZONE>.`; without it, bare region labels (relative names)
        #[arg(long)]
        zone: Option<String>,
        #[arg(long, default_value_t = 60)]
        ttl: u32,
        #[arg(long, value_enum, default_value_t = DnsFormat::Bind)]
        format: DnsFormat,
        /// Print even when no node is healthy (otherwise exit 1: an empty record set would
        /// take the whole service off DNS)
        #[arg(long)]
        allow_empty: bool,
    },
    /// Cluster certificates for the peer channel
    #[command(subcommand)]
    Certs(CertsCommand),
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Empty a stage's response cache on the node, or on every live node with --cluster
    Flush {
        api: String,
        stage: String,
        #[arg(long)]
        cluster: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConnectionsCommand {
    /// A connection's API, stage, times and caller (exit 7 when it is gone: 410)
    Get { id: String },
    /// Send a message: the text of --data, or the bytes of a file with -f (`-` reads stdin)
    Send {
        id: String,
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        data: Option<String>,
        #[arg(short, long)]
        file: Option<PathBuf>,
    },
    /// Close a connection (1000, normal closure)
    Delete { id: String },
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Every node: region, addresses, alive, health, caught up
    Members,
    /// Is this node's state the same as every live peer's
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DnsFormat {
    /// A BIND zone-file fragment
    Bind,
    /// JSON for a geo/latency DNS service
    Json,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key; its value is printed once
    Create {
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A value of your own (20-128 printable characters); generated when absent
        #[arg(long)]
        value: Option<String>,
        #[arg(long)]
        disabled: bool,
    },
    Enable {
        id: String,
    },
    Disable {
        id: String,
    },
    /// Import keys from AWS's CSV format (all lines or none)
    Import {
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum PlansCommand {
    /// The keys of a plan, or one key with its quota
    Keys { plan: String, key: Option<String> },
    /// Attach a key to a plan
    AddKey { plan: String, key: String },
    /// Detach a key from a plan
    RemoveKey { plan: String, key: String },
    /// Requests per key and day (AWS GetUsage)
    Usage {
        plan: String,
        /// First day, YYYY-MM-DD (UTC)
        #[arg(long)]
        start: String,
        /// Last day, YYYY-MM-DD (UTC)
        #[arg(long)]
        end: String,
        #[arg(long)]
        key: Option<String>,
    },
    /// Set what is left of a key's quota period, or restore it (AWS UpdateUsage)
    SetUsage {
        plan: String,
        key: String,
        #[arg(long, conflicts_with = "reset", required_unless_present = "reset")]
        remaining: Option<u64>,
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum CertsCommand {
    /// Create the cluster CA: ca.pem and ca.key (mode 0600) in DIR; never overwrites
    Init {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "Edgeway cluster CA")]
        name: String,
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Issue a node certificate signed by the CA in `--ca DIR`: ID.pem and ID.key (mode 0600)
    /// with SAN DNS:ID plus --san values, for TLS server and client use
    Issue {
        #[arg(long)]
        node_id: String,
        #[arg(long)]
        out: PathBuf,
        /// More subject alternative names: DNS names or IP addresses (repeatable)
        #[arg(long = "san")]
        sans: Vec<String>,
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
}
