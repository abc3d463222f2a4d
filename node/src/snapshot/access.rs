//! API keys and the usage plans they belong to, indexed for the authorize and throttle phases.

use super::Snapshot;
use crate::store::State;
use edgeway_shared::{Object, UsagePlan};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// An API key as requests see it.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: String,
    pub enabled: bool,
    /// The plans this key is attached to.
    pub plans: Vec<Arc<UsagePlan>>,
}

impl KeyEntry {
    /// The key's plan for an API stage (a key joins at most one plan per stage).
    pub fn plan_for(&self, api_id: &str, stage: &str) -> Option<&Arc<UsagePlan>> {
        self.plans.iter().find(|p| {
            p.api_stages
                .iter()
                .any(|s| s.api_id == api_id && s.stage == stage)
        })
    }
}

/// Lower-case hex SHA-256: how key values are stored and looked up.
pub fn hash_key_value(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

impl Snapshot {
    /// The key whose value this is, enabled or not.
    pub fn key_by_value(&self, value: &str) -> Option<&Arc<KeyEntry>> {
        self.keys.get(&hash_key_value(value))
    }
}

pub(super) fn index_keys(state: &State) -> HashMap<String, Arc<KeyEntry>> {
    let live = || state.values().filter_map(|r| r.object.as_ref());
    let plans: HashMap<&str, Arc<UsagePlan>> = live()
        .filter_map(|o| match o {
            Object::UsagePlan(p) => Some((p.id.as_str(), Arc::new(p.clone()))),
            _ => None,
        })
        .collect();
    let mut plans_of_key: HashMap<&str, Vec<Arc<UsagePlan>>> = HashMap::new();
    for object in live() {
        if let Object::UsagePlanKey(k) = object
            && let Some(plan) = plans.get(k.plan_id.as_str())
        {
            plans_of_key
                .entry(k.key_id.as_str())
                .or_default()
                .push(plan.clone());
        }
    }
    live()
        .filter_map(|o| match o {
            Object::ApiKey(k) => Some((
                k.value_sha256.clone(),
                Arc::new(KeyEntry {
                    id: k.id.clone(),
                    enabled: k.enabled,
                    plans: plans_of_key.remove(k.id.as_str()).unwrap_or_default(),
                }),
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_hash_is_sha256_hex() {
        assert_eq!(
            super::hash_key_value("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
