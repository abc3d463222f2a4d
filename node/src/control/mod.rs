//! The control plane of one node: checks every change against the objects it refers to,
//! versions and stores it durably, then swaps in a new snapshot. The admin API and bootstrap
//! both come through here.

mod batch;
mod check;
mod deploy;
mod replicate;

use check::{check, stored_api};

pub use deploy::route_id;
pub use replicate::FETCH_BATCH;

use crate::snapshot::Snapshot;
use crate::store::{Change, DiskError, State, Store};
use crate::tls::DefaultCert;
use arc_swap::ArcSwap;
use edgeway_shared::{Api, Object, ObjectKey, ObjectKind, ValidationError};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0} already exists; PUT replaces it")]
    Exists(ObjectKey),
    #[error(transparent)]
    Disk(#[from] DiskError),
}

pub type Result<T> = std::result::Result<T, ControlError>;

pub struct Control {
    store: Store,
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// The public listener's certificate, which mTLS domains without their own present.
    default_certificate: Arc<DefaultCert>,
    /// One admin write at a time: checks see the state the write will be applied to.
    writes: tokio::sync::Mutex<()>,
    /// Counts snapshot swaps, so the cluster can tell its peers about new state.
    changes: tokio::sync::watch::Sender<u64>,
}

pub fn key(kind: ObjectKind, id: impl Into<String>) -> ObjectKey {
    ObjectKey {
        kind,
        id: id.into(),
    }
}

/// A fresh id for objects the gateway names: 10 of `a-z0-9`, as AWS's.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..10)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Control {
    pub fn new(store: Store) -> Control {
        Control::with_default_certificate(store, Arc::default())
    }

    /// A control plane whose snapshots know the public listener's default certificate.
    pub fn with_default_certificate(
        store: Store,
        default_certificate: Arc<DefaultCert>,
    ) -> Control {
        let snapshot = Snapshot::compile(&store.view(), &default_certificate);
        Control {
            store,
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            default_certificate,
            writes: tokio::sync::Mutex::new(()),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    pub fn snapshot(&self) -> Arc<ArcSwap<Snapshot>> {
        self.snapshot.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn get(&self, kind: ObjectKind, id: &str) -> Result<Object> {
        self.store
            .get(&key(kind, id))
            .ok_or_else(|| ControlError::NotFound(format!("{} {id}", kind.as_str())))
    }

    pub fn api(&self, id: &str) -> Result<Api> {
        match self.get(ObjectKind::Api, id)? {
            Object::Api(api) => Ok(api),
            _ => unreachable!("the store keys objects by kind"),
        }
    }

    /// Checks an object and what it refers to, without storing it.
    pub fn check(&self, object: &Object) -> Result<()> {
        check(&self.store.view(), object)
    }

    /// Creates or replaces one object after checking it and what it refers to. HTTP APIs with
    /// auto-deploy stages get a new deployment in the same durable write.
    pub async fn put(&self, object: Object) -> Result<Object> {
        self.write(object, false).await
    }

    /// Like [`Control::put`], but only when no object has this key yet. The check happens
    /// under the write lock, so of concurrent creates exactly one succeeds.
    pub async fn create(&self, object: Object) -> Result<Object> {
        self.write(object, true).await
    }

    async fn write(&self, object: Object, only_new: bool) -> Result<Object> {
        let _write = self.writes.lock().await;
        let view = self.store.view();
        if only_new && view.get(&object.key()).is_some_and(|r| r.object.is_some()) {
            return Err(ControlError::Exists(object.key()));
        }
        check(&view, &object)?;
        let api_id = api_of(&object).map(str::to_string);
        let mut changes = vec![Change::Put(object.clone())];
        if let Some(api_id) = api_id {
            changes.extend(deploy::auto_deploy(&view, &api_id, &changes)?);
        }
        self.commit(changes).await?;
        Ok(object)
    }

    /// Deletes one object. Deleting an API deletes everything inside it; an integration that a
    /// route uses, or a deployment a stage serves, cannot be deleted.
    pub async fn delete(&self, kind: ObjectKind, id: &str) -> Result<()> {
        let _write = self.writes.lock().await;
        let view = self.store.view();
        let object = self.get(kind, id)?;
        let mut changes = vec![Change::Delete(object.key())];
        match &object {
            Object::Api(api) => {
                changes.extend(children(&view, &api.id).map(|o| Change::Delete(o.key())))
            }
            // A plan's keys are detached with it.
            Object::UsagePlan(plan) => {
                let keys = view.values().filter_map(|r| match &r.object {
                    Some(Object::UsagePlanKey(k)) if k.plan_id == plan.id => {
                        Some(Change::Delete(r.key.clone()))
                    }
                    _ => None,
                });
                changes.extend(keys)
            }
            Object::Integration(i) => {
                if let Some(r) = children(&view, &i.api_id).find_map(|o| match o {
                    Object::Route(r) if r.integration_id == i.id => Some(r),
                    _ => None,
                }) {
                    return Err(ControlError::Conflict(format!(
                        "integration {} is used by route {}",
                        i.id,
                        r.key()
                    )));
                }
            }
            Object::Deployment(d) => {
                if let Some(s) = children(&view, &d.api_id).find_map(|o| match o {
                    Object::Stage(s) if s.deployment_id.as_deref() == Some(d.id.as_str()) => {
                        Some(s)
                    }
                    _ => None,
                }) {
                    return Err(ControlError::Conflict(format!(
                        "deployment {} is served by stage {}",
                        d.id, s.name
                    )));
                }
            }
            Object::ApiKey(k) => changes.extend(batch::plan_keys_of(&view, &k.id)),
            Object::Authorizer(a) => batch::refuse_if_used(&view, a)?,
            _ => {}
        }
        if let Object::Route(r) = &object {
            changes.extend(deploy::auto_deploy(&view, &r.api_id, &changes)?);
        }
        self.commit(changes).await
    }

    /// Stores changes durably (skipping puts that change nothing) and swaps in a new snapshot.
    /// Callers hold `writes`, so snapshots are swapped in the order their states were made.
    pub(crate) async fn commit(&self, changes: Vec<Change>) -> Result<()> {
        let view = self.store.view();
        let changes: Vec<Change> = changes
            .into_iter()
            .filter(|c| match c {
                Change::Put(o) => view.get(&o.key()).and_then(|r| r.object.as_ref()) != Some(o),
                Change::Delete(k) => view.get(k).is_some_and(|r| r.object.is_some()),
            })
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        self.store.commit(changes).await?;
        self.publish();
        Ok(())
    }

    /// Compiles the stored state into a new snapshot and swaps it in.
    fn publish(&self) {
        let snapshot = Snapshot::compile(&self.store.view(), &self.default_certificate);
        self.snapshot.store(Arc::new(snapshot));
        self.changes.send_modify(|n| *n += 1);
    }

    /// Fires after every change of state, local or replicated.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// Live objects that belong to an API (routes, integrations, stages, deployments, authorizers).
pub fn children<'s>(view: &'s State, api_id: &str) -> impl Iterator<Item = &'s Object> {
    let prefix = format!("{api_id}/");
    view.iter()
        .filter(move |(k, _)| k.kind.is_api_child() && k.id.starts_with(&prefix))
        .filter_map(|(_, r)| r.object.as_ref())
}

fn api_of(object: &Object) -> Option<&str> {
    match object {
        Object::Api(a) => Some(&a.id),
        Object::Route(r) => Some(&r.api_id),
        Object::Integration(i) => Some(&i.api_id),
        Object::Stage(s) => Some(&s.api_id),
        Object::Authorizer(a) => Some(&a.api_id),
        Object::Deployment(_)
        | Object::Domain(_)
        | Object::ApiKey(_)
        | Object::UsagePlan(_)
        | Object::UsagePlanKey(_) => None,
    }
}
