//! Request coalescing: while one request of a key (the leader) calls the integration, others of
//! the same key wait for its answer instead of calling too. Like pingora's cache lock, the wait
//! is bounded, and a leader that stores nothing (an answer that may not be cached, a failure,
//! a dropped request) lets the waiters go to the integration themselves.

use super::entry::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What the waiters of a key learn.
#[derive(Clone, Debug)]
pub enum Flight {
    Pending,
    Stored(Arc<Entry>),
    /// Nothing was stored: call the integration yourself.
    Pass,
}

#[derive(Default)]
pub struct Flights {
    pending: Mutex<HashMap<String, watch::Receiver<Flight>>>,
}

pub enum Join {
    Lead(Leader),
    Wait(watch::Receiver<Flight>),
}

/// The right and duty to fetch a key. Dropping it without [`Leader::land`] releases the
/// waiters with [`Flight::Pass`].
pub struct Leader {
    flights: Arc<Flights>,
    key: String,
    sender: watch::Sender<Flight>,
}

impl Flights {
    pub fn join(self: &Arc<Self>, key: &str) -> Join {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(receiver) = pending.get(key) {
            return Join::Wait(receiver.clone());
        }
        let (sender, receiver) = watch::channel(Flight::Pending);
        pending.insert(key.to_string(), receiver);
        Join::Lead(Leader {
            flights: self.clone(),
            key: key.to_string(),
            sender,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.pending.lock().unwrap().len()
    }
}

impl Leader {
    /// Tells the waiters what became of the fetch (after the entry is in the cache, so a
    /// request arriving between the two finds it there).
    pub fn land(self, outcome: Flight) {
        self.sender.send_replace(outcome);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut pending = (self.flights.pending.lock()).unwrap_or_else(|e| e.into_inner());
        pending.remove(&self.key);
        drop(pending);
        self.sender.send_if_modified(|flight| {
            let unsettled = matches!(flight, Flight::Pending);
            if unsettled {
                *flight = Flight::Pass;
            }
            unsettled
        });
    }
}

/// Waits up to `bound` for the leader; `None` when it stored nothing or took too long.
pub async fn wait(mut receiver: watch::Receiver<Flight>, bound: Duration) -> Option<Arc<Entry>> {
    let settled = receiver.wait_for(|f| !matches!(f, Flight::Pending));
    match tokio::time::timeout(bound, settled).await {
        Ok(Ok(flight)) => match &*flight {
            Flight::Stored(entry) => Some(entry.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::time::Instant;

    fn entry() -> Arc<Entry> {
        let now = Instant::now();
        Arc::new(Entry {
            status: http::StatusCode::OK,
            headers: Default::default(),
            body: Bytes::from_static(b"x"),
            age_at_store: 0,
            stored_at: now,
            expires_at: now + Duration::from_secs(60),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_get_the_leaders_entry() {
        let flights = Arc::new(Flights::default());
        let Join::Lead(leader) = flights.join("k") else {
            panic!("first is the leader")
        };
        let waiters: Vec<_> = (0..3)
            .map(|_| match flights.join("k") {
                Join::Wait(rx) => tokio::spawn(wait(rx, Duration::from_secs(5))),
                Join::Lead(_) => panic!("one leader per key"),
            })
            .collect();
        leader.land(Flight::Stored(entry()));
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_some());
        }
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_leader_releases_waiters_and_a_slow_one_is_not_waited_for_forever() {
        let flights = Arc::new(Flights::default());
        let leader = flights.join("k");
        let Join::Wait(rx) = flights.join("k") else {
            panic!("second waits")
        };
        drop(leader);
        assert!(wait(rx, Duration::from_secs(5)).await.is_none());
        assert!(
            matches!(flights.join("k"), Join::Lead(_)),
            "key is free again"
        );

        let _slow = flights.join("s");
        let Join::Wait(rx) = flights.join("s") else {
            panic!("second waits")
        };
        let started = Instant::now();
        assert!(wait(rx, Duration::from_secs(2)).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }
}
