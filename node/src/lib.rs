//! Edgeway: a self-hosted API gateway node. `Node::start` runs one in-process; the `edgeway`
//! binary is a thin wrapper around [`node::run`].
#![forbid(unsafe_code)]

pub mod access_log;
pub mod admin;
pub mod body;
pub mod cluster;
pub mod config;
pub mod control;
pub mod error;
pub mod metrics;
pub mod node;
pub mod otlp;
pub mod peer;
pub mod pipeline;
pub mod snapshot;
pub mod store;
pub mod tls;
pub mod workers;

pub use config::NodeConfig;
pub use node::{Networks, Node, StartError};
