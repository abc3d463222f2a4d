//! Authorizer runtimes (JWKS caches, result caches) outlive snapshots: a config change swaps the
//! snapshot, and the runtime of an authorizer whose settings did not change carries on with its
//! keys and cached answers. Kept in the gateway, keyed by (API id, authorizer id); an entry is
//! rebuilt only when the authorizer's settings change.

use super::custom::CustomAuthorizer;
use super::jwt::JwtAuthorizer;
use crate::pipeline::integrate::Clients;
use crate::snapshot::Snapshot;
use edgeway_shared::{Authorizer, AuthorizerType};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Settings variants kept per authorizer: stages may serve deployments with different versions
/// of one authorizer, and each keeps its runtime instead of evicting the other's on every call.
const VARIANTS: usize = 4;

pub enum Runtime {
    Jwt(JwtAuthorizer),
    Custom(Box<CustomAuthorizer>),
    /// Settings that cannot work; requests get AUTHORIZER_CONFIGURATION_ERROR.
    Broken(String),
}

pub struct Entry {
    settings: Arc<Authorizer>,
    pub runtime: Runtime,
}

type Variants = Vec<Arc<Entry>>;

pub struct Registry {
    clients: Clients,
    region: String,
    entries: RwLock<HashMap<(String, String), Variants>>,
    /// The address of the snapshot last pruned against.
    pruned: AtomicUsize,
}

impl Registry {
    /// `region` goes into the method ARNs custom authorizers see.
    pub fn new(clients: Clients, region: impl Into<String>) -> Registry {
        Registry {
            clients,
            region: region.into(),
            entries: RwLock::new(HashMap::new()),
            pruned: AtomicUsize::new(0),
        }
    }

    /// The runtime for these settings, built on first use.
    pub fn get(&self, api_id: &str, settings: &Arc<Authorizer>) -> Arc<Entry> {
        let key = (api_id.to_string(), settings.id.clone());
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = entries.get(&key).and_then(|v| find(v, settings)) {
                return entry;
            }
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let variants = entries.entry(key).or_default();
        if let Some(entry) = find(variants, settings) {
            return entry;
        }
        let entry = Arc::new(Entry {
            settings: settings.clone(),
            runtime: self.build(settings),
        });
        if variants.len() >= VARIANTS {
            variants.remove(0);
        }
        variants.push(entry.clone());
        entry
    }

    fn build(&self, settings: &Authorizer) -> Runtime {
        let built = match settings.kind {
            AuthorizerType::Jwt => JwtAuthorizer::new(settings, &self.clients).map(Runtime::Jwt),
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
        if self.pruned.swap(address, Ordering::AcqRel) != address {
            self.retain(|api, _| snapshot.api(api).is_some());
        }
    }

    fn retain(&self, mut live: impl FnMut(&str, &str) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(api, id), _| live(api, id));
    }
}

fn find(variants: &Variants, settings: &Arc<Authorizer>) -> Option<Arc<Entry>> {
    variants
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
        registry.retain(|api, _| api == "api");
        assert_eq!(registry.entries.read().unwrap().len(), 1);
        let broken = registry.get("api", &custom("not a uri at all"));
        assert!(matches!(broken.runtime, Runtime::Broken(_)));
    }
}
