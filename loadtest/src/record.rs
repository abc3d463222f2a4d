//! Counting outcomes: per key, per target and overall, for requests scheduled inside the
//! measured window; plus live counters for the progress line.

use crate::client::{Answer, Failure};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Latencies are recorded in microseconds, from 1 µs to one hour, to 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// What happened to the requests of one group (a key, a target, or all).
#[derive(Clone)]
pub struct Tally {
    pub sent: u64,
    /// Scheduled but not sent: too many requests were already in flight.
    pub missed: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub failures: BTreeMap<Failure, u64>,
    pub bytes: u64,
    /// Answered requests, from the scheduled send time to the end of the answer: in open loop
    /// this includes any wait for a free connection.
    pub latency: Histogram<u64>,
    /// Answered requests, from the moment the request went out on a connection.
    pub service: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            sent: 0,
            missed: 0,
            statuses: BTreeMap::new(),
            failures: BTreeMap::new(),
            bytes: 0,
            latency: histogram(),
            service: histogram(),
        }
    }
}

impl Tally {
    fn add(&mut self, outcome: &Result<Answer, Failure>, scheduled: Instant, now: Instant) {
        match outcome {
            Ok(answer) => {
                *self.statuses.entry(answer.status).or_default() += 1;
                self.bytes += answer.bytes as u64;
                self.latency.saturating_record(micros(now - scheduled));
                self.service.saturating_record(micros(now - answer.sent_at));
            }
            Err(failure) => *self.failures.entry(*failure).or_default() += 1,
        }
    }

    pub fn completed(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.failures.values().sum::<u64>()
    }

    /// Answers with a 2xx status: what the server admitted.
    pub fn admitted(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Which key and target a request used.
#[derive(Clone, Copy)]
pub struct Slot {
    pub key: Option<usize>,
    pub target: usize,
}

/// Every tally of a run, plus live counters.
pub struct Recorder {
    /// Requests scheduled in `[start, end)` are counted.
    pub start: Instant,
    pub end: Instant,
    tallies: Mutex<Tallies>,
    pub live: Live,
}

#[derive(Clone, Default)]
pub struct Tallies {
    pub total: Tally,
    pub keys: Vec<Tally>,
    pub targets: Vec<Tally>,
}

/// Counts since the run began (warm-up included), read by the progress line.
#[derive(Default)]
pub struct Live {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub other: AtomicU64,
    pub failed: AtomicU64,
    pub missed: AtomicU64,
}

impl Recorder {
    pub fn new(start: Instant, end: Instant, keys: usize, targets: usize) -> Recorder {
        Recorder {
            start,
            end,
            tallies: Mutex::new(Tallies {
                total: Tally::default(),
                keys: vec![Tally::default(); keys],
                targets: vec![Tally::default(); targets],
            }),
            live: Live::default(),
        }
    }

    pub fn measured(&self, scheduled: Instant) -> bool {
        scheduled >= self.start && scheduled < self.end
    }

    fn each(&self, slot: Slot, f: impl Fn(&mut Tally)) {
        let mut tallies = self.tallies.lock().expect("not poisoned");
        f(&mut tallies.total);
        f(&mut tallies.targets[slot.target]);
        if let Some(key) = slot.key {
            f(&mut tallies.keys[key]);
        }
    }

    /// A request leaves (scheduled at `scheduled`).
    pub fn sent(&self, slot: Slot, scheduled: Instant) {
        self.live.sent.fetch_add(1, Ordering::Relaxed);
        if self.measured(scheduled) {
            self.each(slot, |t| t.sent += 1);
        }
    }

    /// A request was due but could not leave.
    pub fn missed(&self, slot: Slot, scheduled: Instant) {
        self.live.missed.fetch_add(1, Ordering::Relaxed);
        if self.measured(scheduled) {
            self.each(slot, |t| t.missed += 1);
        }
    }

    /// A request ended: answered or failed.
    pub fn done(&self, slot: Slot, scheduled: Instant, outcome: Result<Answer, Failure>) {
        let now = Instant::now();
        let counter = match &outcome {
            Ok(a) if (200..300).contains(&a.status) => &self.live.ok,
            Ok(_) => &self.live.other,
            Err(_) => &self.live.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if self.measured(scheduled) {
            self.each(slot, |t| t.add(&outcome, scheduled, now));
        }
    }

    pub fn snapshot(&self) -> Tallies {
        self.tallies.lock().expect("not poisoned").clone()
    }
}
