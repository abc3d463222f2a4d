//! A node's lease on one Redis bucket or quota: the tokens it may hand out without asking
//! Redis, and what it knows about when to ask again. Requests take tokens with one
//! compare-and-swap; the leaser (background) refills before they run out. Times are
//! nanoseconds on the limiter's clock.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use tokio::sync::Notify;

pub const SECOND: u64 = 1_000_000_000;

/// How a take from the lease went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// A token was taken; `left` remain in the lease.
    Taken { left: u64 },
    /// Redis said the bucket is empty until `retry_in` from now: refuse without asking.
    Empty { retry_in: u64 },
    /// No token here and none known to be missing in Redis: a lease is needed first.
    Need,
}

/// What a lease call should ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub want: u64,
    pub sent_at: u64,
}

/// How big a lease to ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    /// How long a lease should last (refill interval, or more when Redis is far away): the
    /// want is the local demand over this span.
    pub span: u64,
    /// The want when nothing is measured yet.
    pub first: f64,
    /// The most any lease may hold.
    pub cap: u64,
    /// Ask for `cap` after a short answer. Demand is over what Redis has, so the local demand
    /// says nothing about what the node will get; asking for the most a lease may hold makes
    /// the script's wait (until twice the want is there) longer and each grant bigger: about
    /// one call per `cap` tokens instead of one per `demand × span`. Every token still comes
    /// from Redis, so the cluster admits no more; it only admits in fewer, larger steps.
    pub cap_when_short: bool,
}

impl Sizing {
    pub fn new(span: u64, first: f64, cap: u64) -> Sizing {
        Sizing {
            span,
            first,
            cap,
            cap_when_short: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct Lease {
    tokens: AtomicI64,
    /// Unused tokens go back to Redis after this.
    expires_at: AtomicU64,
    /// Redis said: no full lease before this time.
    empty_until: AtomicU64,
    in_flight: AtomicBool,
    /// Requests that wanted a token since the last lease call.
    demand: AtomicU64,
    last_demand_at: AtomicU64,
    /// Local demand, tokens per second (f64 bits); 0 until measured.
    rate: AtomicU64,
    asked_at: AtomicU64,
    /// The size of the last lease asked for: refill when half of it is left.
    size: AtomicU64,
    /// Whole tokens Redis held after the last grant (for `RateLimit-Remaining`).
    remote_left: AtomicU64,
    /// At least one answer came back: the lease is warm.
    answered: AtomicBool,
    /// The last answer left the bucket empty: demand is over what Redis has.
    short: AtomicBool,
    /// Woken when a lease call ends.
    pub ready: Notify,
}

impl Lease {
    /// Takes one token at `now`.
    pub fn take(&self, now: u64) -> Take {
        self.demand.fetch_add(1, Ordering::Relaxed);
        if self.last_demand_at.load(Ordering::Relaxed) < now {
            self.last_demand_at.store(now, Ordering::Relaxed);
        }
        let usable = self.expires_at.load(Ordering::Acquire) > now;
        let taken = usable
            && self
                .tokens
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                    (t > 0).then_some(t - 1)
                })
                .is_ok();
        if taken {
            let left = self.tokens.load(Ordering::Acquire).max(0) as u64;
            return Take::Taken { left };
        }
        let empty_until = self.empty_until.load(Ordering::Acquire);
        if empty_until > now {
            Take::Empty {
                retry_in: empty_until - now,
            }
        } else {
            Take::Need
        }
    }

    /// Returns a token a take handed out, when a later limit refused the request.
    pub fn give_back(&self) {
        self.tokens.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the leaser should ask for more now: low on tokens, wanted recently, not known
    /// empty, no call running.
    pub fn wants_lease(&self, now: u64, recent: u64) -> bool {
        let size = self.size.load(Ordering::Relaxed).max(1);
        let tokens = if self.expires_at.load(Ordering::Acquire) > now {
            self.tokens.load(Ordering::Acquire)
        } else {
            0
        };
        tokens as u64 <= size / 2
            && now >= self.empty_until.load(Ordering::Acquire)
            && now.saturating_sub(self.last_demand_at.load(Ordering::Relaxed)) <= recent
            && !self.in_flight.load(Ordering::Acquire)
    }

    /// Starts a lease call, sized by `sizing` from the local demand since the last call.
    pub fn begin(&self, now: u64, sizing: Sizing) -> Option<Ask> {
        if self.in_flight.swap(true, Ordering::AcqRel) {
            return None;
        }
        let Sizing {
            span,
            first,
            cap,
            cap_when_short,
        } = sizing;
        let asked_at = self.asked_at.swap(now, Ordering::AcqRel);
        let demand = self.demand.swap(0, Ordering::AcqRel) as f64;
        let old = f64::from_bits(self.rate.load(Ordering::Relaxed));
        let rate = if asked_at == 0 {
            first * SECOND as f64 / span as f64
        } else {
            let elapsed = now.saturating_sub(asked_at).max(span / 2).max(1) as f64;
            let sample = demand * SECOND as f64 / elapsed;
            // Follow increases at once (a lease too small costs a round trip per request),
            // decreases gently.
            if sample > old {
                sample
            } else {
                0.5 * old + 0.5 * sample
            }
        };
        self.rate.store(rate.to_bits(), Ordering::Relaxed);
        let want = if cap_when_short && self.is_short() {
            cap
        } else {
            (rate * span as f64 / SECOND as f64).ceil() as u64
        };
        let want = want.clamp(1, cap.max(1));
        self.size.store(want, Ordering::Relaxed);
        Some(Ask { want, sent_at: now })
    }

    /// Ends a lease call that got `granted` tokens, Redis holding `remote_left` after it and
    /// no full lease for `wait` more nanoseconds; the tokens are usable for `ttl` from when
    /// the call was sent (so never past what Redis assumed).
    pub fn granted(&self, ask: Ask, granted: u64, remote_left: u64, wait: u64, ttl: u64) {
        if granted > 0 {
            self.tokens.fetch_add(granted as i64, Ordering::AcqRel);
            self.expires_at
                .store(ask.sent_at.saturating_add(ttl), Ordering::Release);
        }
        let until = if wait > 0 { ask.sent_at + wait } else { 0 };
        self.short.store(wait > 0, Ordering::Release);
        self.empty_until.store(until, Ordering::Release);
        self.remote_left.store(remote_left, Ordering::Relaxed);
        self.answered.store(true, Ordering::Release);
        self.in_flight.store(false, Ordering::Release);
        self.ready.notify_waiters();
    }

    /// Ends a lease call that failed.
    pub fn failed(&self) {
        self.in_flight.store(false, Ordering::Release);
        self.ready.notify_waiters();
    }

    /// The unused tokens of a lease that expired at `now` (they go back to Redis).
    pub fn take_expired(&self, now: u64) -> u64 {
        if self.expires_at.load(Ordering::Acquire) > now || self.in_flight.load(Ordering::Acquire) {
            return 0;
        }
        self.tokens.swap(0, Ordering::AcqRel).max(0) as u64
    }

    /// Every unused token, expired or not (counting moves off the lease).
    pub fn take_all(&self) -> u64 {
        self.tokens.swap(0, Ordering::AcqRel).max(0) as u64
    }

    /// Drops what is left (a quota period ended: its tokens count for nothing now).
    pub fn clear(&self) {
        self.tokens.store(0, Ordering::Release);
        self.empty_until.store(0, Ordering::Release);
        self.answered.store(false, Ordering::Release);
    }

    /// Whether a take that left `left` tokens just crossed the refill mark (the leaser is
    /// woken once per lease, not by every request).
    pub fn is_low(&self, left: u64) -> bool {
        left == self.size.load(Ordering::Relaxed) / 2
    }

    /// Whether the last lease call was sent within `window` of `now`.
    pub fn asked_within(&self, now: u64, window: u64) -> bool {
        now.saturating_sub(self.asked_at.load(Ordering::Acquire)) < window
    }

    /// Redis was left empty by the last answer.
    pub fn is_short(&self) -> bool {
        self.short.load(Ordering::Acquire)
    }

    pub fn is_warm(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    pub fn local_left(&self) -> u64 {
        self.tokens.load(Ordering::Acquire).max(0) as u64
    }

    pub fn remote_left(&self) -> u64 {
        self.remote_left.load(Ordering::Relaxed)
    }

    pub fn last_demand_at(&self) -> u64 {
        self.last_demand_at.load(Ordering::Relaxed)
    }

    pub fn is_idle(&self, now: u64, idle: u64) -> bool {
        !self.in_flight.load(Ordering::Acquire)
            && self.local_left() == 0
            && now.saturating_sub(self.last_demand_at()) > idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn tokens_are_taken_until_the_lease_is_empty_or_expired() {
        let l = Lease::default();
        assert_eq!(l.take(5 * MS), Take::Need, "nothing leased yet");
        let ask = l.begin(5 * MS, Sizing::new(100 * MS, 3.0, 10)).unwrap();
        assert_eq!(ask.want, 3);
        assert!(
            l.begin(5 * MS, Sizing::new(100 * MS, 3.0, 10)).is_none(),
            "one call at a time"
        );
        l.granted(ask, 2, 7, 0, 50 * MS);
        assert_eq!(l.take(6 * MS), Take::Taken { left: 1 });
        l.give_back();
        assert_eq!(l.take(6 * MS), Take::Taken { left: 1 });
        assert_eq!(l.take(6 * MS), Take::Taken { left: 0 });
        assert_eq!(l.take(6 * MS), Take::Need);
        // A later lease expires 50 ms after it was asked for; then its tokens go back.
        let ask = l.begin(10 * MS, Sizing::new(100 * MS, 3.0, 10)).unwrap();
        l.granted(ask, 4, 0, 0, 50 * MS);
        assert_eq!(l.take_expired(59 * MS), 0, "not expired yet");
        assert_eq!(l.take(59 * MS), Take::Taken { left: 3 });
        assert_eq!(l.take(60 * MS), Take::Need, "expired tokens are not used");
        assert_eq!(l.take_expired(60 * MS), 3);
        assert_eq!(l.local_left(), 0);
    }

    #[test]
    fn an_empty_answer_refuses_locally_until_the_wait_is_over() {
        let l = Lease::default();
        let ask = l.begin(MS, Sizing::new(100 * MS, 1.0, 10)).unwrap();
        l.granted(ask, 0, 0, 30 * MS, 1000 * MS);
        assert_eq!(l.take(11 * MS), Take::Empty { retry_in: 20 * MS });
        assert!(!l.wants_lease(11 * MS, 1000 * MS), "known empty: no call");
        assert_eq!(l.take(31 * MS), Take::Need);
        assert!(l.wants_lease(31 * MS, 1000 * MS));
        assert!(!l.wants_lease(2000 * MS, 1000 * MS), "nobody asked lately");
    }

    #[test]
    fn lease_size_follows_local_demand_within_the_cap() {
        let l = Lease::default();
        let ask = l.begin(SECOND, Sizing::new(100 * MS, 2.0, 50)).unwrap();
        l.granted(ask, 2, 100, 0, SECOND);
        // 300 requests in the next second: 300/s, so 30 per 100 ms.
        for _ in 0..300 {
            l.take(SECOND + MS);
        }
        let ask = l.begin(2 * SECOND, Sizing::new(100 * MS, 2.0, 50)).unwrap();
        assert_eq!(ask.want, 30);
        l.granted(ask, 30, 100, 0, SECOND);
        // 10,000/s would be 1,000 a lease: capped.
        for _ in 0..1_000 {
            l.take(2 * SECOND + MS);
        }
        let ask = l
            .begin(2 * SECOND + 100 * MS, Sizing::new(100 * MS, 2.0, 50))
            .unwrap();
        assert_eq!(ask.want, 50);
    }

    #[test]
    fn after_a_short_answer_a_bucket_asks_for_the_most_a_lease_may_hold() {
        let l = Lease::default();
        let sizing = Sizing {
            cap_when_short: true,
            ..Sizing::new(100 * MS, 30.0, 75)
        };
        let ask = l.begin(SECOND, sizing).unwrap();
        assert_eq!(ask.want, 30, "nothing measured: the first want");
        // Redis had 20 of the 30 and says when twice the want is back.
        l.granted(ask, 20, 0, 200 * MS, SECOND);
        for _ in 0..30 {
            l.take(SECOND + MS);
        }
        let ask = l.begin(SECOND + 200 * MS, sizing).unwrap();
        assert_eq!(ask.want, 75, "short: the cap, not 150/s × 100 ms");
        l.granted(ask, 75, 100, 0, SECOND);
        let ask = l.begin(SECOND + 300 * MS, sizing).unwrap();
        assert!(ask.want < 75, "a full answer: back to the demand");
        l.granted(ask, 0, 0, 200 * MS, SECOND);
        let quota = Sizing::new(100 * MS, 30.0, 75);
        let ask = l.begin(SECOND + 600 * MS, quota).unwrap();
        assert!(ask.want < 75, "without cap_when_short the demand decides");
    }
}
