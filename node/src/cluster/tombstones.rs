//! When a tombstone may be collected: only once every member of the cluster holds its delete.
//!
//! The rule. A *member* is every node gossip still knows, live or dead but within the
//! dead-node grace (`cluster.dead_grace_secs`), in its latest generation; the *fingerprint* of
//! the membership hashes their ids and generations.
//! - A manifest carries `as_of`, a tick of the serving node's clock taken under its store's
//!   state lock (as arrival stamps are), so every record that arrived there with an earlier
//!   tick is in the manifest.
//! - After a full sync with a peer (manifest pulled, every newer record fetched and applied),
//!   a node keeps a *receipt*: that peer generation's `as_of`.
//! - A node's *watermark* is the lowest receipt over all other members; it exists only when it
//!   holds a receipt from the current generation of each. It gossips it with the fingerprint of
//!   the membership it was computed over.
//! - Node C drops a tombstone that arrived at C at tick `a` (its own clock) when every other
//!   member gossips a watermark with C's fingerprint, each above `a`. A node with no other
//!   member collects nothing.
//!
//! Why it is safe. Equal fingerprints mean each member M computed its watermark with C's
//! current generation in view, so M holds a receipt from C above `a`: M pulled a manifest of
//! C's that lists the delete (or something newer for the key) and applied it. From then on M
//! holds that key at that version or newer; last writer wins never goes back. A dead member
//! keeps gossiping the watermark it had when it died, which is below any later arrival, so a
//! node that is down or cut off (but within the grace) blocks collection of every delete it
//! may have missed. Membership changes only delay collection (fingerprints disagree until
//! every node has synced with the newcomer).
//!
//! What it does not cover. A node away for longer than the grace is forgotten and collection
//! goes on without it; it must take its peers' state before it is pulled from (`settle`).
//! Two groups cut apart for longer than the grace each forget the other and may each collect:
//! an object deleted on one side can come back when they meet. Keep the grace longer than the
//! longest partition the cluster should survive.

use chitchat::{ChitchatId, NodeState};
use edgeway_shared::{ObjectKey, Version};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// A tick of some node's clock: (millis, counter). Node ids play no part in these comparisons.
pub type Stamp = (u64, u32);

/// Members by node id (latest generation each), self included.
pub type Members = BTreeMap<String, (ChitchatId, NodeState)>;

pub fn stamp(version: &Version) -> Stamp {
    (version.millis, version.counter)
}

/// The version a stamp compares as (for the store, which compares by time and counter only).
pub fn as_version(stamp: Stamp) -> Version {
    Version {
        millis: stamp.0,
        counter: stamp.1,
        node: String::new(),
    }
}

pub fn encode_stamp(stamp: Stamp) -> String {
    format!("{}.{}", stamp.0, stamp.1)
}

pub fn decode_stamp(text: &str) -> Option<Stamp> {
    let (millis, counter) = text.split_once('.')?;
    Some((millis.parse().ok()?, counter.parse().ok()?))
}

/// A short hash of the members' ids and generations.
pub fn fingerprint(members: &Members) -> String {
    let mut h = Sha256::new();
    for (id, (chitchat_id, _)) in members {
        h.update(id.as_bytes());
        h.update(b"/");
        h.update(chitchat_id.generation_id.to_string());
        h.update(b"\n");
    }
    let bytes = h.finalize();
    bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Gossip form of a watermark: `millis.counter:fingerprint`.
pub fn encode_watermark(watermark: Stamp, fingerprint: &str) -> String {
    format!("{}:{fingerprint}", encode_stamp(watermark))
}

/// Reads a gossiped watermark; anything malformed is `None` (gossip is never trusted).
pub fn decode_watermark(text: &str) -> Option<(Stamp, &str)> {
    let (stamp, fingerprint) = text.split_once(':')?;
    let valid = fingerprint.len() == 16 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then_some((decode_stamp(stamp)?, fingerprint))
}

/// The stamps of the last full sync with each peer generation.
#[derive(Default)]
pub struct Receipts(BTreeMap<ChitchatId, Stamp>);

impl Receipts {
    pub fn record(&mut self, peer: ChitchatId, as_of: &Version) {
        let stamp = stamp(as_of);
        let held = self.0.entry(peer).or_insert(stamp);
        *held = (*held).max(stamp);
    }

    /// The lowest receipt over every member but `me`, if there is one from each; forgets
    /// receipts of generations that are no longer members.
    pub fn watermark(&mut self, me: &str, members: &Members) -> Option<Stamp> {
        self.0
            .retain(|id, _| members.get(&*id.node_id).is_some_and(|(m, _)| m == id));
        let others: Vec<&ChitchatId> = (members.iter())
            .filter(|(id, _)| id.as_str() != me)
            .map(|(_, (chitchat_id, _))| chitchat_id)
            .collect();
        if others.is_empty() {
            return None;
        }
        others.into_iter().map(|id| self.0.get(id).copied()).min()?
    }
}

/// Tombstones that arrived at this node before the returned stamp are held by every member,
/// by what the other members gossip; `None` while any of them has not shown it.
pub fn horizon(me: &str, members: &Members, watermark_key: &str) -> Option<Stamp> {
    let ours = fingerprint(members);
    let others: Vec<&NodeState> = (members.iter())
        .filter(|(id, _)| id.as_str() != me)
        .map(|(_, (_, state))| state)
        .collect();
    if others.is_empty() {
        return None;
    }
    let watermark = |state: &NodeState| {
        let (stamp, fingerprint) = decode_watermark(state.get(watermark_key)?)?;
        (fingerprint == ours).then_some(stamp)
    };
    others.into_iter().map(watermark).min()?
}

/// Tombstones this node collected lately, so it does not fetch them back from a peer that has
/// not collected them yet. Forgotten after `keep`: by then every member has collected them too,
/// and fetching one back would only mean collecting it again.
pub struct Collected {
    keep: Duration,
    held: BTreeMap<ObjectKey, (Version, Instant)>,
}

impl Collected {
    pub fn new(keep: Duration) -> Collected {
        Collected {
            keep,
            held: BTreeMap::new(),
        }
    }

    pub fn remember(&mut self, gone: Vec<(ObjectKey, Version)>) {
        let now = Instant::now();
        for (key, version) in gone {
            self.held.insert(key, (version, now));
        }
        let keep = self.keep;
        self.held.retain(|_, (_, at)| at.elapsed() < keep);
    }

    /// True when a peer's record for a key this node does not hold is one it collected (or
    /// older than that).
    pub fn covers(&self, key: &ObjectKey, version: &Version) -> bool {
        self.held
            .get(key)
            .is_some_and(|(held, at)| version <= held && at.elapsed() < self.keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn id(node: &str, generation: u64) -> ChitchatId {
        let addr: SocketAddr = ([127, 0, 0, 1], 7000).into();
        ChitchatId::new(node.to_string(), generation, addr)
    }

    fn version(millis: u64) -> Version {
        Version {
            millis,
            counter: 0,
            node: "x".into(),
        }
    }

    /// Members n1..=n3 (generation 1), each gossiping the given watermark value.
    fn members(watermarks: [Option<String>; 3]) -> Members {
        let mut members = Members::new();
        for (i, watermark) in watermarks.into_iter().enumerate() {
            let node = format!("n{}", i + 1);
            let mut state = NodeState::for_test();
            if let Some(w) = watermark {
                state.set(WATERMARK, w);
            }
            members.insert(node.clone(), (id(&node, 1), state));
        }
        members
    }

    const WATERMARK: &str = "watermark";

    #[test]
    fn a_watermark_needs_a_receipt_from_the_current_generation_of_every_other_member() {
        let all = members([None, None, None]);
        let mut receipts = Receipts::default();
        receipts.record(id("n2", 1), &version(50));
        assert_eq!(receipts.watermark("n1", &all), None);
        receipts.record(id("n3", 0), &version(90));
        assert_eq!(receipts.watermark("n1", &all), None, "an old generation");
        receipts.record(id("n3", 1), &version(70));
        assert_eq!(receipts.watermark("n1", &all), Some((50, 0)));
        receipts.record(id("n2", 1), &version(80));
        assert_eq!(receipts.watermark("n1", &all), Some((70, 0)));
    }

    #[test]
    fn the_horizon_is_the_lowest_watermark_of_the_others_on_the_same_membership() {
        let fp = fingerprint(&members([None, None, None]));
        let w = |millis: u64| Some(encode_watermark((millis, 0), &fp));
        let all = members([None, w(100), w(60)]);
        assert_eq!(
            fingerprint(&all),
            fp,
            "values do not change the fingerprint"
        );
        assert_eq!(horizon("n1", &all, WATERMARK), Some((60, 0)));
        // A member that has not published one, or counted another membership, holds it back.
        assert_eq!(
            horizon("n1", &members([None, w(100), None]), WATERMARK),
            None
        );
        let other = Some(encode_watermark((500, 0), "0123456789abcdef"));
        assert_eq!(
            horizon("n1", &members([None, w(100), other]), WATERMARK),
            None
        );
        // Alone, nothing is ever collected.
        let mut alone = members([None, None, None]);
        alone.retain(|id, _| id == "n1");
        assert_eq!(horizon("n1", &alone, WATERMARK), None);
    }

    #[test]
    fn a_new_generation_changes_the_fingerprint() {
        let before = members([None, None, None]);
        let mut after = before.clone();
        after.get_mut("n2").unwrap().0 = id("n2", 2);
        assert_ne!(fingerprint(&before), fingerprint(&after));
    }

    #[test]
    fn gossiped_watermarks_round_trip_and_garbage_is_none() {
        let text = encode_watermark((1_700_000_000_000, 3), "0123456789abcdef");
        assert_eq!(
            decode_watermark(&text),
            Some(((1_700_000_000_000, 3), "0123456789abcdef"))
        );
        for garbage in [
            "",
            "1.2",
            "1.2:xyz",
            "a.b:0123456789abcdef",
            "1:0123456789abcdef",
        ] {
            assert_eq!(decode_watermark(garbage), None, "{garbage}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn collected_tombstones_are_not_fetched_back_until_forgotten() {
        let mut collected = Collected::new(Duration::from_secs(60));
        let key = ObjectKey {
            kind: edgeway_shared::ObjectKind::Api,
            id: "gone".into(),
        };
        collected.remember(vec![(key.clone(), version(10))]);
        assert!(collected.covers(&key, &version(10)));
        assert!(collected.covers(&key, &version(5)));
        assert!(
            !collected.covers(&key, &version(11)),
            "a newer write is taken"
        );
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!collected.covers(&key, &version(10)));
    }
}
