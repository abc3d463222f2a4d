//! The JSON report (`--report FILE`) and its text summary. Every figure covers the measured
//! window only: requests scheduled after the warm-up and before the end.

use crate::config::{LoadConfig, Mode};
use crate::record::{Tallies, Tally};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `open` or `closed`.
    pub mode: String,
    /// `http/1.1` or `h2`.
    pub protocol: String,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Requests per second offered (open loop).
    pub offered_rps: Option<f64>,
    /// Workers (closed loop).
    pub concurrency: Option<usize>,
    /// Connections per target.
    pub connections: usize,
    pub total: Summary,
    pub keys: Vec<KeySummary>,
    pub targets: Vec<TargetSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySummary {
    pub name: String,
    /// Requests per second offered with this key (open loop), or its weight (closed loop).
    pub rate: f64,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    pub url: String,
    pub weight: u32,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Requests sent.
    pub sent: u64,
    /// Requests due but never sent because `max_in_flight` were already out (open loop).
    pub missed: u64,
    /// Answers by status code.
    pub statuses: BTreeMap<String, u64>,
    /// Requests without an answer, by cause: connect, tls, timeout, io.
    pub errors: BTreeMap<String, u64>,
    /// 2xx answers.
    pub admitted: u64,
    /// Answers (any status) per second of the measured window.
    pub answered_rps: f64,
    /// 2xx answers per second of the measured window.
    pub admitted_rps: f64,
    pub bytes: u64,
    /// Answered requests, from the scheduled send to the end of the answer (open loop: includes
    /// waiting for a connection a slow server kept busy, so no coordinated omission).
    pub latency_ms: Percentiles,
    /// Answered requests, from the moment the request went out on a connection.
    pub service_time_ms: Percentiles,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Percentiles {
                count: 0,
                min: 0.0,
                mean: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        Percentiles {
            count: h.len(),
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

impl Summary {
    fn of(t: &Tally, seconds: f64) -> Summary {
        let answered: u64 = t.statuses.values().sum();
        Summary {
            sent: t.sent,
            missed: t.missed,
            statuses: t
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            errors: t
                .failures
                .iter()
                .map(|(f, n)| (f.name().into(), *n))
                .collect(),
            admitted: t.admitted(),
            answered_rps: answered as f64 / seconds,
            admitted_rps: t.admitted() as f64 / seconds,
            bytes: t.bytes,
            latency_ms: Percentiles::of(&t.latency),
            service_time_ms: Percentiles::of(&t.service),
        }
    }
}

impl Report {
    pub fn new(config: &LoadConfig, tallies: &Tallies) -> Report {
        let seconds = config.duration.as_secs_f64();
        let (mode, concurrency) = match config.mode {
            Mode::Open { .. } => ("open", None),
            Mode::Closed { concurrency } => ("closed", Some(concurrency)),
        };
        Report {
            mode: mode.into(),
            protocol: config.http.name().into(),
            duration_s: seconds,
            warmup_s: config.warmup.as_secs_f64(),
            offered_rps: config.offered_rate(),
            concurrency,
            connections: config.connections,
            total: Summary::of(&tallies.total, seconds),
            keys: config
                .keys
                .iter()
                .zip(&tallies.keys)
                .map(|(k, t)| KeySummary {
                    name: k.name.clone(),
                    rate: k.rate,
                    summary: Summary::of(t, seconds),
                })
                .collect(),
            targets: config
                .targets
                .iter()
                .zip(&tallies.targets)
                .map(|(target, t)| TargetSummary {
                    url: target.url.clone(),
                    weight: target.weight,
                    summary: Summary::of(t, seconds),
                })
                .collect(),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(e, n)| format!("{e}: {n}"))
            .collect();
        write!(
            f,
            "sent {} (missed {}), statuses {{{}}}, errors {{{}}}, {:.1} answers/s, {:.1} 2xx/s",
            self.sent,
            self.missed,
            statuses.join(", "),
            errors.join(", "),
            self.answered_rps,
            self.admitted_rps,
        )?;
        let l = &self.latency_ms;
        write!(
            f,
            "\n    latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            l.p50, l.p90, l.p99, l.p999, l.max
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pace = match (self.offered_rps, self.concurrency) {
            (Some(rate), _) => format!("{rate} req/s offered"),
            (None, Some(c)) => format!("{c} workers"),
            (None, None) => String::new(),
        };
        writeln!(
            f,
            "{} loop, {}, {pace}, {} s measured after {} s warm-up",
            self.mode, self.protocol, self.duration_s, self.warmup_s
        )?;
        writeln!(f, "total: {}", self.total)?;
        for key in &self.keys {
            writeln!(f, "key {} ({} /s): {}", key.name, key.rate, key.summary)?;
        }
        if self.targets.len() > 1 {
            for target in &self.targets {
                writeln!(f, "target {}: {}", target.url, target.summary)?;
            }
        }
        Ok(())
    }
}
