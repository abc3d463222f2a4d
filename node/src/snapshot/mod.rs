//! The immutable view a request reads once, at its start: compiled routers per API and stage,
//! custom domains and their certificates. A change builds a new snapshot off the request path
//! and swaps it in; requests that hold the old one finish on it.

mod access;
pub mod router;

pub use access::{KeyEntry, hash_key_value};

use crate::metrics::RouteMetrics;
use crate::pipeline::integrate::{self, Target};
use crate::store::State;
use crate::tls::DefaultCert;
use edgeway_shared::{Api, Authorizer, Deployment, Domain, Object, Stage, ThrottleSettings};
use router::Router;
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct Snapshot {
    apis: HashMap<String, ApiEntry>,
    /// Host → mappings, longest base path first.
    domains: HashMap<String, Vec<Mapping>>,
    certificates: HashMap<String, Arc<CertifiedKey>>,
    /// Domains that require client certificates, with their TLS settings.
    mtls: HashMap<String, Arc<crate::tls::MtlsDomain>>,
    /// API keys by the SHA-256 (hex) of their value.
    keys: HashMap<String, Arc<KeyEntry>>,
}

pub struct ApiEntry {
    pub api: Arc<Api>,
    pub stages: HashMap<String, Arc<StageRuntime>>,
}

/// One stage of one API, ready to serve.
pub struct StageRuntime {
    pub name: Arc<str>,
    /// The API as deployed (its gateway responses apply to this stage).
    pub api: Arc<Api>,
    pub router: Router<Arc<RouteRuntime>>,
    /// WebSocket APIs: routes by route key (`$connect`, `$default`, `sendmessage`).
    pub route_keys: HashMap<Arc<str>, Arc<RouteRuntime>>,
    /// Stage-wide throttle for every caller.
    pub throttle: Option<ThrottleSettings>,
    /// The API's resource policy, as deployed.
    pub policy: Option<crate::pipeline::policy::Policy>,
    /// The API's CORS settings, as deployed.
    pub cors: Option<Arc<crate::pipeline::cors::CorsPolicy>>,
    /// Stage variables (authorizer identity sources and events read them).
    pub variables: std::collections::BTreeMap<String, String>,
    /// The deployment served (cache keys hold it, so another deployment never shares entries).
    pub deployment_id: Arc<str>,
    /// The stage's cache settings, when it caches.
    pub cache: Option<Arc<crate::pipeline::cache::StagePolicy>>,
    /// The stage's cache on this node, found in the registry at the first cached request.
    pub cache_slot: std::sync::OnceLock<Arc<crate::pipeline::cache::StageCache>>,
    /// The stage's access log settings, when it logs.
    pub access_log: Option<Arc<edgeway_shared::AccessLogSettings>>,
}

pub struct RouteRuntime {
    pub key: Arc<str>,
    pub target: Target,
    pub metrics: RouteMetrics,
    pub api_key_required: bool,
    /// The route's authorizer, as deployed.
    pub authorizer: Option<Arc<Authorizer>>,
    pub authorization_scopes: Vec<String>,
    /// The stage's throttle for this route (`route_throttles`), if any.
    pub throttle: Option<ThrottleSettings>,
    /// The route's cache settings, when its answers are cached.
    pub cache: Option<Arc<crate::pipeline::cache::RoutePolicy>>,
}

#[derive(Clone)]
pub struct Mapping {
    pub base_path: String,
    pub api_id: String,
    pub stage: String,
}

impl Snapshot {
    pub fn api(&self, id: &str) -> Option<&ApiEntry> {
        self.apis.get(id)
    }

    /// Custom domain mappings for a host (lower case, no port).
    pub fn domain(&self, host: &str) -> Option<&[Mapping]> {
        self.domains.get(host).map(Vec::as_slice)
    }

    pub fn certificate(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.certificates.get(host).cloned()
    }

    /// The mTLS settings of a domain (lower case) that requires client certificates.
    pub fn mtls(&self, host: &str) -> Option<&Arc<crate::tls::MtlsDomain>> {
        self.mtls.get(host)
    }

    /// Builds a snapshot from the store. Objects that cannot be served are logged and skipped;
    /// validation on the way in keeps that rare. `default_certificate` is the public listener's,
    /// served to mTLS domains without their own.
    pub fn compile(state: &State, default_certificate: &Arc<DefaultCert>) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let objects = state.values().filter_map(|r| r.object.as_ref());
        let (mut apis, mut deployments, mut stages, mut domains) =
            (Vec::new(), HashMap::new(), Vec::new(), Vec::new());
        for object in objects {
            match object {
                Object::Api(a) => apis.push(a),
                Object::Deployment(d) => {
                    deployments.insert((d.api_id.as_str(), d.id.as_str()), d);
                }
                Object::Stage(s) => stages.push(s),
                Object::Domain(d) => domains.push(d),
                _ => {}
            }
        }
        for api in apis {
            snapshot.apis.insert(
                api.id.clone(),
                ApiEntry {
                    api: Arc::new(api.clone()),
                    stages: HashMap::new(),
                },
            );
        }
        for stage in stages {
            let Some(entry) = snapshot.apis.get_mut(&stage.api_id) else {
                continue;
            };
            let Some(deployment) = stage
                .deployment_id
                .as_deref()
                .and_then(|d| deployments.get(&(stage.api_id.as_str(), d)))
            else {
                continue;
            };
            entry.stages.insert(
                stage.name.clone(),
                Arc::new(compile_stage(stage, deployment)),
            );
        }
        for domain in domains {
            snapshot.add_domain(domain, default_certificate);
        }
        snapshot.keys = access::index_keys(state);
        snapshot
    }

    fn add_domain(&mut self, domain: &Domain, default_certificate: &Arc<DefaultCert>) {
        let mut mappings: Vec<Mapping> = domain
            .mappings
            .iter()
            .map(|m| Mapping {
                base_path: m.base_path.clone(),
                api_id: m.api_id.clone(),
                stage: m.stage.clone(),
            })
            .collect();
        mappings.sort_by_key(|m| std::cmp::Reverse(m.base_path.len()));
        self.domains.insert(domain.name.clone(), mappings);
        if let (Some(cert), Some(key)) = (&domain.certificate_pem, &domain.private_key_pem) {
            match crate::tls::certified_key(cert.as_bytes(), key.as_bytes()) {
                Ok(ck) => {
                    self.certificates.insert(domain.name.clone(), Arc::new(ck));
                }
                Err(e) => {
                    tracing::warn!(domain = %domain.name, error = %e, "certificate unusable; default certificate served")
                }
            }
        }
        if let Some(truststore) = &domain.truststore_pem {
            let own = self.certificate(&domain.name);
            let default = default_certificate.clone();
            let mtls = crate::tls::MtlsDomain::compile(&domain.name, truststore, own, default);
            self.mtls.insert(domain.name.clone(), Arc::new(mtls));
        }
    }
}

fn compile_stage(stage: &Stage, deployment: &Deployment) -> StageRuntime {
    use crate::pipeline::cache::{RoutePolicy, StagePolicy};
    let api = Arc::new(deployment.api.clone());
    let cache = StagePolicy::compile(stage.cache.as_ref());
    let mut router = Router::default();
    let mut route_keys = HashMap::new();
    let authorizers: HashMap<&str, Arc<Authorizer>> = deployment
        .authorizers
        .iter()
        .map(|a| (a.id.as_str(), Arc::new(a.clone())))
        .collect();
    for route in &deployment.routes {
        let Some(integration) = deployment
            .integrations
            .iter()
            .find(|i| i.id == route.integration_id)
        else {
            tracing::warn!(route = %route.key(), "route without integration skipped");
            continue;
        };
        let key: Arc<str> = Arc::from(route.key());
        let runtime = RouteRuntime {
            metrics: RouteMetrics::new(&api.id, &stage.name, &key),
            target: integrate::compile(integration, &stage.variables),
            api_key_required: route.api_key_required,
            authorizer: route
                .authorizer_id
                .as_deref()
                .and_then(|id| authorizers.get(id).cloned()),
            authorization_scopes: route.authorization_scopes.clone(),
            throttle: stage.route_throttles.get(&*key).copied(),
            cache: (stage.cache.as_ref().zip(cache.as_ref()))
                .and_then(|(settings, policy)| RoutePolicy::compile(settings, policy, &key)),
            key,
        };
        if route.route_key.is_some() {
            route_keys.insert(runtime.key.clone(), Arc::new(runtime));
        } else if let Err(e) = router.insert(&route.method, &route.path, Arc::new(runtime)) {
            tracing::warn!(route = %route.key(), error = %e, "route skipped");
        }
    }
    StageRuntime {
        name: Arc::from(stage.name.as_str()),
        api,
        router,
        route_keys,
        throttle: stage.throttle,
        policy: crate::pipeline::policy::Policy::compile(deployment.api.policy.as_ref()),
        cors: (deployment.api.cors.as_ref())
            .map(|c| Arc::new(crate::pipeline::cors::CorsPolicy::compile(c))),
        variables: stage.variables.clone(),
        deployment_id: Arc::from(deployment.id.as_str()),
        cache,
        cache_slot: Default::default(),
        access_log: stage.access_log.clone().map(Arc::new),
    }
}
