//! A run's settings, checked once before anything is sent.

use crate::spec::{KeySpec, Target};
use anyhow::bail;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use std::path::PathBuf;
use std::time::Duration;

/// The most requests one run may keep in flight.
pub const MAX_IN_FLIGHT: usize = 1_000_000;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Constant arrival rate: requests leave on a fixed schedule whether or not earlier ones
    /// have been answered, and latency counts from the scheduled time (no coordinated
    /// omission). `rate` is the total without keys; with keys each key has its own rate.
    Open { rate: f64 },
    /// `concurrency` workers, each sending its next request when the last one is answered.
    Closed { concurrency: usize },
}

/// The HTTP version spoken to every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpVersion {
    /// HTTP/1.1 (over TLS for https:// targets).
    #[value(name = "1.1")]
    Http1,
    /// HTTP/2: h2c by prior knowledge for http:// targets, ALPN h2 for https://.
    #[value(name = "2")]
    Http2,
    /// HTTP/3 over QUIC (https:// targets only; the UDP port is the URL's).
    #[value(name = "3")]
    Http3,
}

impl HttpVersion {
    pub fn name(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "http/1.1",
            HttpVersion::Http2 => "h2",
            HttpVersion::Http3 => "h3",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub targets: Vec<Target>,
    pub keys: Vec<KeySpec>,
    pub mode: Mode,
    /// How long requests are measured, after the warm-up.
    pub duration: Duration,
    /// Requests in this first stretch are sent but not counted.
    pub warmup: Duration,
    pub http: HttpVersion,
    /// Connections per target (HTTP/1.1: at most this many requests in flight per target).
    pub connections: usize,
    pub method: Method,
    /// Sent with every request; a `host` header here replaces the URL's host (and is the TLS
    /// server name).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// A request not answered within this counts as a `timeout` error.
    pub timeout: Duration,
    /// Extra CAs (PEM) for https:// targets, besides the public roots.
    pub ca_file: Option<PathBuf>,
    /// Open loop: scheduled requests beyond this many in flight are not sent but counted as
    /// `missed` (the generator, not the server, was the limit).
    pub max_in_flight: usize,
    /// A progress line on stderr every second.
    pub progress: bool,
}

impl LoadConfig {
    /// A GET open-loop run at `rate` against `targets`, with defaults for everything else.
    pub fn open(targets: Vec<Target>, rate: f64, duration: Duration) -> LoadConfig {
        LoadConfig {
            targets,
            keys: Vec::new(),
            mode: Mode::Open { rate },
            duration,
            warmup: Duration::ZERO,
            http: HttpVersion::Http1,
            connections: 16,
            method: Method::GET,
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: Duration::from_secs(10),
            ca_file: None,
            max_in_flight: 10_000,
            progress: false,
        }
    }

    pub fn check(&self) -> anyhow::Result<()> {
        if self.targets.is_empty() {
            bail!("no target: give at least one URL");
        }
        if self.duration.is_zero() {
            bail!("duration must be more than 0");
        }
        if self.connections == 0 {
            bail!("connections must be at least 1");
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            bail!("max-in-flight must be between 1 and {MAX_IN_FLIGHT}");
        }
        if let Some(target) = self
            .targets
            .iter()
            .find(|t| !t.tls() && self.http == HttpVersion::Http3)
        {
            bail!("target {}: HTTP/3 needs an https:// URL", target.url);
        }
        match self.mode {
            Mode::Open { rate } if self.keys.is_empty() && !(rate.is_finite() && rate > 0.0) => {
                bail!("open loop needs --rate (requests per second) or --key NAME:RATE:VALUE")
            }
            Mode::Closed { concurrency: 0 } => bail!("concurrency must be at least 1"),
            _ => Ok(()),
        }
    }

    /// Requests per second offered in open loop (`None` in closed loop).
    pub fn offered_rate(&self) -> Option<f64> {
        match self.mode {
            Mode::Open { rate } if self.keys.is_empty() => Some(rate),
            Mode::Open { .. } => Some(self.keys.iter().map(|k| k.rate).sum()),
            Mode::Closed { .. } => None,
        }
    }
}
