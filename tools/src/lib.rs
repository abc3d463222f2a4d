//! `edgewayctl`, the Edgeway admin CLI, as a library: every admin endpoint as a command,
//! declarative `apply`, the cluster's certificates ([`certs`]) and DNS records ([`dns`]).
#![forbid(unsafe_code)]

pub mod apply;
pub mod certs;
pub mod cli;
pub mod client;
pub mod commands;
pub mod connections;
pub mod dns;
pub mod exit;
pub mod kinds;
pub mod output;
pub mod settings;
