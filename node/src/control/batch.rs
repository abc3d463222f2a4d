//! Writes of several new objects at once, all or none (API key imports).

use super::check::check;
use super::{Control, ControlError, Result, children};
use crate::store::{Change, State};
use edgeway_shared::{Authorizer, Object, Record, Version};

impl Control {
    /// Creates every object in one durable write, or none. Each is checked against the state
    /// with the ones before it already in, so a batch may create a key and attach it to a plan.
    pub async fn create_all(&self, objects: Vec<Object>) -> Result<()> {
        let _write = self.writes.lock().await;
        let mut view = (*self.store.view()).clone();
        for object in &objects {
            let key = object.key();
            if view.get(&key).is_some_and(|r| r.object.is_some()) {
                return Err(ControlError::Exists(key));
            }
            check(&view, object)?;
            view.insert(
                key.clone(),
                Record {
                    key,
                    version: Version::default(),
                    object: Some(object.clone()),
                },
            );
        }
        self.commit(objects.into_iter().map(Change::Put).collect())
            .await
    }
}

/// Deleting a key deletes its usage plan keys with it.
pub(super) fn plan_keys_of<'v>(
    view: &'v State,
    key_id: &'v str,
) -> impl Iterator<Item = Change> + 'v {
    view.values().filter_map(move |r| match &r.object {
        Some(o @ Object::UsagePlanKey(k)) if k.key_id == key_id => Some(Change::Delete(o.key())),
        _ => None,
    })
}

/// An authorizer a route uses cannot be deleted (the route would lose its protection).
pub(super) fn refuse_if_used(view: &State, authorizer: &Authorizer) -> Result<()> {
    let user = children(view, &authorizer.api_id).find_map(|o| match o {
        Object::Route(r) if r.authorizer_id.as_deref() == Some(authorizer.id.as_str()) => Some(r),
        _ => None,
    });
    match user {
        Some(route) => Err(ControlError::Conflict(format!(
            "authorizer {} is used by route {}",
            authorizer.id,
            route.key()
        ))),
        None => Ok(()),
    }
}
