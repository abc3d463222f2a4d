//! When a starting node may call itself caught up (and let `/ready` answer 200).
//!
//! Pulling from every peer shown live is not enough on its own: chitchat shows a peer live
//! only after two of its heartbeats, and heartbeats relayed by different peers arrive a
//! gossip round or two apart. A node that pulled from the one peer it saw first, while the
//! peer holding the newest write was not yet shown live, would say ready without that write.
//! So the set of live peers must also have stopped changing for a settle period. A node that
//! finds no peer, or peers that do not answer, serves with what it has after the join timeout.

use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Keep syncing.
    Waiting,
    /// Pulled from every live peer of a settled membership.
    Synced,
    /// Found no peer within the join timeout.
    Alone,
    /// Some peers did not answer within the join timeout.
    TimedOut,
}

pub(super) struct CatchUp {
    started: Instant,
    join_timeout: Duration,
    settle: Duration,
    peers: BTreeSet<String>,
    peers_since: Instant,
}

impl CatchUp {
    pub fn new(join_timeout: Duration, settle: Duration) -> CatchUp {
        let now = Instant::now();
        CatchUp {
            started: now,
            join_timeout,
            settle,
            peers: BTreeSet::new(),
            peers_since: now,
        }
    }

    /// Records the live peers (node ids, this node's excluded) a round is about to pull from;
    /// a different set starts the settle period again.
    pub fn observe(&mut self, peers: BTreeSet<String>) {
        if peers != self.peers {
            self.peers = peers;
            self.peers_since = Instant::now();
        }
    }

    /// The verdict after a round; `all_answered` when every observed peer answered.
    pub fn verdict(&self, all_answered: bool) -> Verdict {
        let settled = self.peers_since.elapsed() >= self.settle;
        if !self.peers.is_empty() && all_answered && settled {
            Verdict::Synced
        } else if self.started.elapsed() < self.join_timeout {
            Verdict::Waiting
        } else if self.peers.is_empty() {
            Verdict::Alone
        } else {
            Verdict::TimedOut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOIN: Duration = Duration::from_secs(3);
    const SETTLE: Duration = Duration::from_millis(600);

    fn ids(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn pulling_from_every_live_peer_counts_only_once_the_membership_settles() {
        let mut catch_up = CatchUp::new(JOIN, SETTLE);
        catch_up.observe(ids(&["node-2"]));
        assert_eq!(catch_up.verdict(true), Verdict::Waiting);
        tokio::time::advance(Duration::from_millis(400)).await;
        // The peer holding the newest write shows up late: the settle period starts again.
        catch_up.observe(ids(&["node-1", "node-2"]));
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(catch_up.verdict(true), Verdict::Waiting);
        tokio::time::advance(Duration::from_millis(200)).await;
        catch_up.observe(ids(&["node-1", "node-2"]));
        assert_eq!(catch_up.verdict(true), Verdict::Synced);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_did_not_answer_holds_the_node_until_the_join_timeout() {
        let mut catch_up = CatchUp::new(JOIN, SETTLE);
        catch_up.observe(ids(&["node-1"]));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(catch_up.verdict(false), Verdict::Waiting);
        assert_eq!(catch_up.verdict(true), Verdict::Synced);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(catch_up.verdict(false), Verdict::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_finds_no_peer_serves_alone_after_the_join_timeout() {
        let mut catch_up = CatchUp::new(JOIN, SETTLE);
        catch_up.observe(BTreeSet::new());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(catch_up.verdict(true), Verdict::Waiting);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(catch_up.verdict(true), Verdict::Alone);
    }
}
