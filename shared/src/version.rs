//! Object versions: a hybrid logical clock timestamp plus the id of the node that wrote it.
//!
//! Versions are totally ordered (time, then counter, then node id), so "last writer wins" is a
//! plain comparison and two nodes that saw the same writes pick the same winner.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Version {
    /// Physical part: milliseconds since the Unix epoch (never behind any version seen).
    pub millis: u64,
    /// Logical part: orders events within one millisecond.
    pub counter: u32,
    /// The node that made the write; breaks ties between nodes.
    pub node: String,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}@{}", self.millis, self.counter, self.node)
    }
}

/// A hybrid logical clock for one node.
#[derive(Debug)]
pub struct Clock {
    node: String,
    last: Mutex<(u64, u32)>,
}

impl Clock {
    pub fn new(node: impl Into<String>) -> Self {
        Clock {
            node: node.into(),
            last: Mutex::new((0, 0)),
        }
    }

    /// A version later than every version this clock has issued or observed.
    pub fn tick(&self) -> Version {
        self.tick_at(wall_millis())
    }

    fn tick_at(&self, wall: u64) -> Version {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let next = if wall > last.0 {
            (wall, 0)
        } else {
            (last.0, last.1 + 1)
        };
        *last = next;
        Version {
            millis: next.0,
            counter: next.1,
            node: self.node.clone(),
        }
    }

    /// Moves the clock past a version seen from elsewhere (a loaded file or a peer).
    pub fn observe(&self, seen: &Version) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if (seen.millis, seen.counter) > *last {
            *last = (seen.millis, seen.counter);
        }
    }
}

/// Milliseconds since the Unix epoch by the wall clock (0 if it is before 1970).
pub fn wall_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_strictly_increasing_even_when_the_wall_clock_goes_back() {
        let clock = Clock::new("a");
        let first = clock.tick_at(1_000);
        let second = clock.tick_at(900);
        let third = clock.tick_at(1_000);
        assert!(first < second && second < third);
        assert_eq!(second.millis, 1_000);
    }

    #[test]
    fn observing_a_later_version_moves_the_clock_past_it() {
        let clock = Clock::new("a");
        let remote = Version {
            millis: 5_000,
            counter: 7,
            node: "b".into(),
        };
        clock.observe(&remote);
        assert!(clock.tick_at(10) > remote);
    }
}
