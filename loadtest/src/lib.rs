//! `edgeway-load`: an HTTP load generator that measures what Edgeway's users see.
//!
//! - **Open loop** ([`Mode::Open`]): requests leave on a fixed schedule (one per key, each key
//!   with its own rate), whether or not earlier ones were answered; latency counts from the
//!   scheduled instant, so a stalled server shows up in the percentiles instead of silently
//!   lowering the load (no coordinated omission).
//! - **Closed loop** ([`Mode::Closed`]): a fixed number of workers, each waiting for its answer.
//!
//! HTTP/1.1, HTTP/2 (h2c or TLS) and HTTP/3, several targets in weighted round-robin, HDR latency
//! percentiles, status counts per key and per target, and a JSON [`Report`].
#![forbid(unsafe_code)]

mod balance;
pub mod cli;
pub mod client;
pub mod config;
mod h3;
mod progress;
pub mod record;
pub mod report;
mod run;
pub mod spec;

pub use config::{HttpVersion, LoadConfig, Mode};
pub use report::{KeySummary, Percentiles, Report, Summary, TargetSummary};
pub use run::run;
pub use spec::{KeySpec, Target};
