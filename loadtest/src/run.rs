//! The two ways of pacing requests. Open loop: one schedule per key (or one for all), each
//! request spawned at its scheduled instant. Closed loop: a fixed number of workers.

use crate::balance::Balancer;
use crate::client::{Failure, Pool};
use crate::config::{LoadConfig, Mode};
use crate::record::{Recorder, Slot};
use crate::report::Report;
use http::HeaderValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What every request task shares.
struct Shared {
    config: LoadConfig,
    pools: Vec<Pool>,
    targets: Balancer,
    keys: Vec<HeaderValue>,
    recorder: Recorder,
}

impl Shared {
    /// Sends one request with `key` to the next target and records it.
    async fn one(&self, key: Option<usize>, scheduled: Instant) {
        let slot = Slot {
            key,
            target: self.targets.next(),
        };
        self.recorder.sent(slot, scheduled);
        // The timeout counts from the scheduled instant: a request that waited for a connection
        // has used up part of its time.
        let deadline = scheduled + self.config.timeout;
        let key = key.map(|k| &self.keys[k]);
        let send = self.pools[slot.target].send(&self.config, key);
        let outcome = match tokio::time::timeout_at(deadline, send).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Timeout),
        };
        self.recorder.done(slot, scheduled, outcome);
    }
}

/// Runs the load described by `config` and reports on the measured window.
pub async fn run(config: LoadConfig) -> anyhow::Result<Report> {
    config.check()?;
    let mut pools = Vec::with_capacity(config.targets.len());
    for target in &config.targets {
        pools.push(Pool::new(target, &config).await?);
    }
    let keys = config
        .keys
        .iter()
        .map(|k| HeaderValue::from_str(&k.value))
        .collect::<Result<Vec<_>, _>>()?;
    let begin = Instant::now();
    let measure_from = begin + config.warmup;
    let end = measure_from + config.duration;
    let shared = Arc::new(Shared {
        targets: Balancer::new(config.targets.iter().map(|t| t.weight.into()).collect()),
        recorder: Recorder::new(measure_from, end, keys.len(), pools.len()),
        keys,
        pools,
        config,
    });
    let progress = shared
        .config
        .progress
        .then(|| tokio::spawn(crate::progress::show(Arc::clone(&shared) as _, begin)));
    match shared.config.mode {
        Mode::Open { rate } => open_loop(&shared, rate, begin, end).await,
        Mode::Closed { concurrency } => closed_loop(&shared, concurrency, end).await,
    }
    if let Some(progress) = progress {
        progress.abort();
        crate::progress::finish();
    }
    let tallies = shared.recorder.snapshot();
    Ok(Report::new(&shared.config, &tallies))
}

impl crate::progress::Source for Shared {
    fn recorder(&self) -> &Recorder {
        &self.recorder
    }
    fn config(&self) -> &LoadConfig {
        &self.config
    }
}

async fn open_loop(shared: &Arc<Shared>, rate: f64, begin: Instant, end: Instant) {
    let max = shared.config.max_in_flight;
    let in_flight = Arc::new(Semaphore::new(max));
    let schedules: Vec<(Option<usize>, f64)> = match shared.config.keys.is_empty() {
        true => vec![(None, rate)],
        false => shared
            .config
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (Some(i), k.rate))
            .collect(),
    };
    // Each schedule runs on a thread of its own: an OS sleep wakes within tens of
    // microseconds, where tokio's timer rounds up to the next millisecond, which would add up to
    // a millisecond of the generator's own lateness to every latency.
    let runtime = tokio::runtime::Handle::current();
    let mut threads = Vec::new();
    for (key, rate) in schedules {
        let (shared, in_flight) = (Arc::clone(shared), Arc::clone(&in_flight));
        let runtime = runtime.clone();
        threads.push(tokio::task::spawn_blocking(move || {
            arrivals(&runtime, shared, in_flight, key, rate, begin, end)
        }));
    }
    for thread in threads {
        thread.await.expect("a schedule thread panicked");
    }
    // Wait for the requests still in flight; each ends by its timeout at the latest.
    let drain = end + shared.config.timeout + Duration::from_secs(1);
    let all = in_flight.acquire_many(max as u32);
    let _ = tokio::time::timeout_at(drain, all).await;
}

/// One schedule: request `i` is due at `begin + i / rate`. Requests that fall due while this
/// thread slept leave at once, each keeping its own due instant for latency.
fn arrivals(
    runtime: &tokio::runtime::Handle,
    shared: Arc<Shared>,
    in_flight: Arc<Semaphore>,
    key: Option<usize>,
    rate: f64,
    begin: Instant,
    end: Instant,
) {
    let mut i: u64 = 0;
    loop {
        let due = begin + Duration::from_secs_f64(i as f64 / rate);
        if due >= end {
            return;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        match Arc::clone(&in_flight).try_acquire_owned() {
            Ok(permit) => {
                let shared = Arc::clone(&shared);
                runtime.spawn(async move {
                    shared.one(key, due).await;
                    drop(permit);
                });
            }
            Err(_) => {
                let target = shared.targets.next();
                shared.recorder.missed(Slot { key, target }, due);
            }
        }
        i += 1;
    }
}

async fn closed_loop(shared: &Arc<Shared>, concurrency: usize, end: Instant) {
    let keys = match shared.config.keys.is_empty() {
        true => None,
        false => Some(Arc::new(Balancer::new(
            shared.config.keys.iter().map(|k| k.rate).collect(),
        ))),
    };
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (shared, keys) = (Arc::clone(shared), keys.clone());
        workers.spawn(async move {
            loop {
                let now = Instant::now();
                if now >= end {
                    return;
                }
                shared.one(keys.as_ref().map(|k| k.next()), now).await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
}
