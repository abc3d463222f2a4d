//! A node's state digest: small enough to gossip, equal exactly when two states hold the same
//! versions of the same live objects (up to a 64-bit hash collision).
//!
//! Tombstones are left out. Nodes collect a tombstone at slightly different moments, and one
//! that holds it and one that has collected it hold the same live state, so their digests must
//! agree. A delete still changes the digest (the object leaves it), so peers that hold the
//! object see the difference and pull; tombstones that change no live object travel with the
//! periodic full sync.

use crate::store::State;
use edgeway_shared::admin::StateDigest;
use sha2::{Digest as _, Sha256};

pub fn of(state: &State) -> StateDigest {
    let mut hash = 0u64;
    let live = || state.iter().filter(|(_, r)| r.object.is_some());
    for (key, record) in live() {
        let mut h = Sha256::new();
        h.update(key.kind.as_str());
        h.update([0]);
        h.update(&key.id);
        h.update([0]);
        h.update(record.version.to_string());
        let bytes = h.finalize();
        hash ^= u64::from_le_bytes(bytes[..8].try_into().expect("sha256 has 32 bytes"));
    }
    StateDigest {
        max_version: live()
            .map(|(_, r)| &r.version)
            .max()
            .map(|v| v.to_string())
            .unwrap_or_default(),
        hash: format!("{hash:016x}"),
        records: live().count() as u64,
    }
}

/// Gossip form: `records:hash:max_version`.
pub fn encode(digest: &StateDigest) -> String {
    format!("{}:{}:{}", digest.records, digest.hash, digest.max_version)
}

/// Reads a gossiped digest; anything malformed is `None` (gossip is never trusted).
pub fn decode(text: &str) -> Option<StateDigest> {
    let mut parts = text.splitn(3, ':');
    let records = parts.next()?.parse().ok()?;
    let hash = parts.next()?;
    if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let max_version = parts.next()?;
    if max_version.len() > 200 {
        return None;
    }
    Some(StateDigest {
        max_version: max_version.to_string(),
        hash: hash.to_string(),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::{Api, ApiKind, Object, ObjectKey, ObjectKind, Record, Version};

    fn record(id: &str, millis: u64) -> (ObjectKey, Record) {
        let key = ObjectKey {
            kind: ObjectKind::Api,
            id: id.into(),
        };
        let version = Version {
            millis,
            counter: 0,
            node: "n1".into(),
        };
        let record = Record {
            key: key.clone(),
            version,
            object: Some(Object::Api(Api::new(id, id, ApiKind::Http))),
        };
        (key, record)
    }

    fn tombstone(id: &str, millis: u64) -> (ObjectKey, Record) {
        let (key, mut record) = record(id, millis);
        record.object = None;
        (key, record)
    }

    #[test]
    fn tombstones_do_not_count_so_holding_or_having_collected_one_looks_the_same() {
        let holding: State = [record("a", 1), tombstone("b", 5)].into_iter().collect();
        let collected: State = [record("a", 1)].into_iter().collect();
        assert_eq!(of(&holding), of(&collected));
        assert_eq!(of(&holding).records, 1);
        // A delete still shows against a node that holds the object.
        let live: State = [record("a", 1), record("b", 2)].into_iter().collect();
        assert_ne!(of(&holding), of(&live));
    }

    #[test]
    fn equal_states_have_equal_digests_and_any_version_change_shows() {
        let a: State = [record("a", 1), record("b", 2)].into_iter().collect();
        let b: State = [record("b", 2), record("a", 1)].into_iter().collect();
        assert_eq!(of(&a), of(&b));
        let c: State = [record("a", 1), record("b", 3)].into_iter().collect();
        assert_ne!(of(&a).hash, of(&c).hash);
        assert_eq!(of(&c).max_version, "3.0@n1");
    }

    #[test]
    fn gossip_form_round_trips_and_garbage_is_none() {
        let d = of(&[record("a", 7)].into_iter().collect());
        assert_eq!(decode(&encode(&d)), Some(d));
        for garbage in [
            "",
            "x",
            "1:zz:3",
            "1:0123456789abcdef",
            "-1:0123456789abcdef:v",
        ] {
            assert_eq!(decode(garbage), None, "{garbage}");
        }
    }
}
