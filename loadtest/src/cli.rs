//! The command line of `edgeway-load`.

use crate::config::{HttpVersion, LoadConfig, Mode};
use crate::spec::{KeySpec, Target};
use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http::{HeaderName, HeaderValue, Method};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "edgeway-load",
    version,
    about = "Open- and closed-loop HTTP load generator for Edgeway",
    after_help = "Exit status: 0 when the run finished (whatever the server answered), \
                  1 on an error (bad arguments, unreachable report file), 2 on usage errors."
)]
pub struct Args {
    /// Target URLs, `[WEIGHT*]URL` (e.g. `3*http://127.0.0.1:8080/pets`); requests go to them in
    /// smooth weighted round-robin (plain round-robin with equal weights).
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<Target>,
    /// Open loop: total requests per second (without --key).
    #[arg(short, long, conflicts_with_all = ["closed"])]
    pub rate: Option<f64>,
    /// An API key sent as `x-api-key`, with its own rate: `NAME:RATE:VALUE` (repeatable). In
    /// closed loop RATE is the key's share of the requests.
    #[arg(short, long = "key", value_name = "NAME:RATE:VALUE")]
    pub keys: Vec<KeySpec>,
    /// Closed loop with this many workers, each sending its next request when answered.
    #[arg(long, value_name = "WORKERS")]
    pub closed: Option<usize>,
    /// Measured time, e.g. 30s, 2m, 500ms.
    #[arg(short, long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Time before measuring starts (requests are sent, not counted).
    #[arg(short, long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// HTTP version: 1.1, 2 (h2c for http://, ALPN h2 for https://) or 3 (QUIC, https:// only).
    #[arg(long = "http", default_value = "1.1")]
    pub http: HttpVersion,
    /// Connections per target.
    #[arg(short, long, default_value_t = 16)]
    pub connections: usize,
    #[arg(short = 'X', long, default_value = "GET")]
    pub method: Method,
    /// A request header `NAME: VALUE` (repeatable). `Host` replaces the URL's host, e.g. to
    /// reach `pets.execute-api.localhost` at 127.0.0.1, and is the TLS server name.
    #[arg(short = 'H', long = "header", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Request body.
    #[arg(short, long, default_value = "")]
    pub body: String,
    /// Per-request timeout, counted from the scheduled send.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// PEM file of CA certificates trusted for https:// targets (besides the public roots).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Open loop: most requests in flight; requests due beyond it are counted as `missed`.
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,
    /// Write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// No progress line.
    #[arg(short, long)]
    pub quiet: bool,
}

impl Args {
    pub fn config(&self) -> anyhow::Result<LoadConfig> {
        let mode = match self.closed {
            Some(concurrency) => Mode::Closed { concurrency },
            None => Mode::Open {
                rate: self.rate.unwrap_or(0.0),
            },
        };
        if self.rate.is_some() && !self.keys.is_empty() {
            anyhow::bail!("--rate and --key exclude each other: each key has its own rate");
        }
        let config = LoadConfig {
            targets: self.targets.clone(),
            keys: self.keys.clone(),
            mode,
            duration: self.duration,
            warmup: self.warmup,
            http: self.http,
            connections: self.connections,
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: Bytes::from(self.body.clone()),
            timeout: self.timeout,
            ca_file: self.ca.clone(),
            max_in_flight: self.max_in_flight,
            progress: !self.quiet,
        };
        config.check()?;
        Ok(config)
    }
}

/// `1500ms`, `30s`, `2m`, or plain seconds (`2.5`).
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .with_context(|| format!("'{text}' is not a duration (e.g. 500ms, 30s, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => anyhow::bail!("'{text}': the unit must be ms, s or m"),
    };
    Duration::try_from_secs_f64(seconds).with_context(|| format!("'{text}' is not a duration"))
}

fn parse_header(text: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let (name, value) = text
        .split_once(':')
        .with_context(|| format!("header '{text}': expected NAME: VALUE"))?;
    let name =
        HeaderName::try_from(name.trim()).with_context(|| format!("header name '{name}'"))?;
    let value =
        HeaderValue::try_from(value.trim()).with_context(|| format!("header {name}: bad value"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("fast").is_err());
        assert!(
            parse_duration("3h")
                .unwrap_err()
                .to_string()
                .contains("ms, s or m")
        );
    }

    #[test]
    fn open_loop_needs_a_rate_or_keys() {
        let args = Args::try_parse_from(["edgeway-load", "http://127.0.0.1:1/"]).unwrap();
        assert!(args.config().unwrap_err().to_string().contains("--rate"));
        let args = Args::try_parse_from([
            "edgeway-load",
            "-r",
            "5",
            "-k",
            "a:1:v",
            "http://127.0.0.1:1/",
        ])
        .unwrap();
        assert!(args.config().unwrap_err().to_string().contains("exclude"));
        let args = Args::try_parse_from([
            "edgeway-load",
            "--closed",
            "4",
            "-H",
            "host: a.example",
            "http://127.0.0.1:1/",
        ])
        .unwrap();
        let config = args.config().unwrap();
        assert_eq!(config.mode, Mode::Closed { concurrency: 4 });
        assert_eq!(config.headers[0].1, "a.example");
    }
}
