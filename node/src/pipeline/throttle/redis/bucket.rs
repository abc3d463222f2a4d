//! A throttle bucket as this node sees it: the Redis key, the latest settings, and the lease.

use super::super::limiter::{LimitKind, Standing};
use super::lease::{Lease, SECOND};
use edgeway_shared::ThrottleSettings;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct LeasedBucket {
    pub lease: Lease,
    pub key: String,
    pub kind: LimitKind,
    /// Settings as of the latest request (a changed plan applies at once): f64 bits, burst.
    rate: AtomicU64,
    burst: AtomicU64,
}

impl LeasedBucket {
    pub fn new(key: String, kind: LimitKind, settings: &ThrottleSettings) -> LeasedBucket {
        LeasedBucket {
            lease: Lease::default(),
            key,
            kind,
            rate: AtomicU64::new(settings.rate_limit.to_bits()),
            burst: AtomicU64::new(burst_of(settings)),
        }
    }

    /// Notes the settings a request came with; writes only when they changed.
    pub fn update(&self, settings: &ThrottleSettings) {
        let rate = settings.rate_limit.to_bits();
        if self.rate.load(Ordering::Relaxed) != rate {
            self.rate.store(rate, Ordering::Relaxed);
        }
        let burst = burst_of(settings);
        if self.burst.load(Ordering::Relaxed) != burst {
            self.burst.store(burst, Ordering::Relaxed);
        }
    }

    /// Rate (tokens per second) and burst.
    pub fn settings(&self) -> (f64, u64) {
        (
            f64::from_bits(self.rate.load(Ordering::Relaxed)),
            self.burst.load(Ordering::Relaxed),
        )
    }

    /// The most one lease may hold: what the whole cluster may admit in `span`, or a quarter
    /// of the burst if that is more (a bucket with a large burst serves bursts from leases
    /// too), never more than the burst.
    pub fn cap(&self, span: u64) -> u64 {
        let (rate, burst) = self.settings();
        let per_span = (rate * span as f64 / SECOND as f64).ceil() as u64;
        per_span.max(burst.div_ceil(4)).clamp(1, burst.max(1))
    }

    /// Where a client stands after taking a token with `left` still in the lease: the
    /// tokens this node holds plus what Redis held at the last grant.
    pub fn standing(&self, left: u64) -> Standing {
        let (rate, burst) = self.settings();
        let remaining = (left + self.lease.remote_left()).min(burst);
        Standing {
            kind: self.kind,
            limit: burst,
            remaining,
            reset: Duration::from_secs_f64(((burst - remaining) as f64 / rate).min(86_400.0)),
        }
    }

    pub fn refused(&self) -> Standing {
        let (rate, burst) = self.settings();
        Standing {
            kind: self.kind,
            limit: burst,
            remaining: 0,
            reset: Duration::from_secs_f64((burst as f64 / rate).min(86_400.0)),
        }
    }
}

fn burst_of(settings: &ThrottleSettings) -> u64 {
    u64::from(settings.burst_limit.max(1))
}
