//! Authorizer runtimes (JWKS caches, result caches) outlive snapshots: a config change swaps the
//! snapshot, and the runtime of an authorizer whose settings did not change carries on with its
//! keys and cached answers. Kept in the gateway, keyed by (API id, authorizer id); an entry is
//! rebuilt only when the authorizer's settings change.

use super::custom::CustomAuthorizer;
use super::jwt::JwtAuthorizer;
use crate::pipeline::integrate::Clients;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use edgeway_shared::{Authorizer, AuthorizerType};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Settings variants kept per authorizer: stages may serve deployments with different versions
/// of one authorizer, and each keeps its runtime instead of evicting the other's on every call.
const VARIANTS: usize = 4;

pub enum Runtime {
    Jwt(Box<JwtAuthorizer>),
    Custom(Box<CustomAuthorizer>),
    /// Settings that cannot work; requests get AUTHORIZER_CONFIGURATION_ERROR.
    Broken(String),
}

pub struct Entry {
    settings: Arc<Authorizer>,
    pub runtime: Runtime,
}

type Variants = Vec<Arc<Entry>>;
/// API id → authorizer id → runtimes.
type Entries = HashMap<String, HashMap<String, Variants>>;

pub struct Registry {
    clients: Clients,
    region: String,
    /// Read by every authorized request without a lock or an allocation; written (copied) only
    /// when a runtime is built or pruned, under `writer`.
    entries: ArcSwap<Entries>,
    writer: Mutex<()>,
    /// The address of the snapshot last pruned against.
    pruned: AtomicUsize,
}

impl Registry {
    /// `region` goes into the method ARNs custom authorizers see.
    pub fn new(clients: Clients, region: impl Into<String>) -> Registry {
        Registry {
            clients,
            region: region.into(),
            entries: ArcSwap::default(),
            writer: Mutex::new(()),
            pruned: AtomicUsize::new(0),
        }
    }

    /// The runtime for these settings, built on first use.
    pub fn get(&self, api_id: &str, settings: &Arc<Authorizer>) -> Arc<Entry> {
        if let Some(entry) = lookup(&self.entries.load(), api_id, settings) {
            return entry;
        }
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.entries.load_full();
        if let Some(entry) = lookup(&current, api_id, settings) {
            return entry;
        }
        let entry = Arc::new(Entry {
            settings: settings.clone(),
            runtime: self.build(settings),
        });
        let mut entries = (*current).clone();
        let variants = entries
            .entry(api_id.to_string())
            .or_default()
            .entry(settings.id.clone())
            .or_default();
        if variants.len() >= VARIANTS {
            variants.remove(0);
        }
        variants.push(entry.clone());
        self.entries.store(Arc::new(entries));
        entry
    }

    fn build(&self, settings: &Authorizer) -> Runtime {
        let built = match settings.kind {
            AuthorizerType::Jwt => {
                JwtAuthorizer::new(settings, &self.clients).map(|j| Runtime::Jwt(Box::new(j)))
            }
            AuthorizerType::Token | AuthorizerType::Request => {
                CustomAuthorizer::new(settings, &self.clients, &self.region)
                    .map(|c| Runtime::Custom(Box::new(c)))
            }
        };
        built.unwrap_or_else(|message| {
            tracing::warn!(authorizer = %settings.id, %message, "authorizer cannot be used");
            Runtime::Broken(message)
        })
    }

    /// Once per snapshot, drops the runtimes of APIs that are gone. (An address reused by a
    /// later snapshot only postpones the pruning.)
    pub fn prune(&self, snapshot: &Snapshot) {
        let address = std::ptr::from_ref(snapshot) as usize;
        if self.pruned.load(Ordering::Acquire) != address
            && self.pruned.swap(address, Ordering::AcqRel) != address
        {
            self.retain(|api| snapshot.api(api).is_some());
        }
    }

    fn retain(&self, mut live: impl FnMut(&str) -> bool) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.entries.load();
        if current.keys().all(|api| live(api)) {
            return;
        }
        let mut entries = (**current).clone();
        entries.retain(|api, _| live(api));
        self.entries.store(Arc::new(entries));
    }
}

fn lookup(entries: &Entries, api_id: &str, settings: &Arc<Authorizer>) -> Option<Arc<Entry>> {
    entries
        .get(api_id)?
        .get(&settings.id)?
        .iter()
        .find(|e| Arc::ptr_eq(&e.settings, settings) || *e.settings == **settings)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(uri: &str) -> Arc<Authorizer> {
        Arc::new(Authorizer {
            id: "auth".into(),
            api_id: "api".into(),
            name: String::new(),
            kind: AuthorizerType::Token,
            identity_source: vec![],
            jwt: None,
            uri: Some(uri.into()),
            result_ttl_seconds: 300,
            timeout_ms: 1000,
        })
    }

    #[tokio::test]
    async fn entries_survive_equal_settings_and_are_rebuilt_on_change() {
        let clients = Clients::new(&crate::config::Backends::default()).unwrap();
        let registry = Registry::new(clients, "local");
        let first = registry.get("api", &custom("http://a/"));
        // A new snapshot holds a new Arc with the same settings: same runtime.
        let again = registry.get("api", &custom("http://a/"));
        assert!(Arc::ptr_eq(&first, &again));
        let changed = registry.get("api", &custom("http://b/"));
        assert!(!Arc::ptr_eq(&first, &changed));
        assert!(Arc::ptr_eq(
            &registry.get("other", &custom("http://a/")),
            &registry.get("other", &custom("http://a/"))
        ));
        registry.retain(|api| api == "api");
        assert_eq!(registry.entries.load().len(), 1);
        let broken = registry.get("api", &custom("not a uri at all"));
        assert!(matches!(broken.runtime, Runtime::Broken(_)));
    }
}
