//! Checks of one object and of the objects it refers to, against the state it will join.

use super::{ControlError, Result, children, key};
use crate::store::State;
use edgeway_shared::{Api, Object, ObjectKind, ValidationError};

pub(super) fn stored_api(view: &State, id: &str) -> Result<Api> {
    match live(view, ObjectKind::Api, id) {
        Some(Object::Api(api)) => Ok(api.clone()),
        _ => Err(ControlError::NotFound(format!("api {id}"))),
    }
}

fn live<'s>(view: &'s State, kind: ObjectKind, id: &str) -> Option<&'s Object> {
    view.get(&key(kind, id)).and_then(|r| r.object.as_ref())
}

fn must_exist(
    view: &State,
    kind: ObjectKind,
    id: &str,
    what: impl FnOnce() -> String,
) -> Result<()> {
    live(view, kind, id)
        .map(|_| ())
        .ok_or_else(|| ControlError::NotFound(what()))
}

fn invalid(object: String, field: &str, message: impl ToString) -> ControlError {
    ControlError::Invalid(ValidationError {
        object,
        field: field.into(),
        message: message.to_string(),
    })
}

pub(super) fn check(view: &State, object: &Object) -> Result<()> {
    match object {
        Object::Api(api) => {
            api.validate()?;
            if let Ok(old) = stored_api(view, &api.id)
                && old.kind != api.kind
            {
                return Err(ControlError::Conflict(format!(
                    "api {}: kind cannot change from {:?}",
                    api.id, old.kind
                )));
            }
        }
        Object::Route(route) => {
            let api = stored_api(view, &route.api_id)?;
            route.validate(api.kind)?;
            let api_id = &route.api_id;
            must_exist(
                view,
                ObjectKind::Integration,
                &format!("{api_id}/{}", route.integration_id),
                || format!("integration {} in api {api_id}", route.integration_id),
            )?;
            if let Some(authorizer) = &route.authorizer_id {
                must_exist(
                    view,
                    ObjectKind::Authorizer,
                    &format!("{api_id}/{authorizer}"),
                    || format!("authorizer {authorizer} in api {api_id}"),
                )?;
            }
            let clash = children(view, api_id).any(
                |o| matches!(o, Object::Route(r) if r.id != route.id && r.key() == route.key()),
            );
            if clash {
                return Err(ControlError::Conflict(format!(
                    "api {api_id} already has a route {}",
                    route.key()
                )));
            }
        }
        Object::Integration(integration) => {
            stored_api(view, &integration.api_id)?;
            integration.validate()?;
        }
        Object::Authorizer(authorizer) => {
            stored_api(view, &authorizer.api_id)?;
            authorizer.validate()?;
        }
        Object::Stage(stage) => {
            let api = stored_api(view, &stage.api_id)?;
            stage.validate(api.kind)?;
            if let Some(d) = &stage.deployment_id {
                must_exist(
                    view,
                    ObjectKind::Deployment,
                    &format!("{}/{d}", stage.api_id),
                    || format!("deployment {d} in api {}", stage.api_id),
                )?;
            }
        }
        Object::Domain(domain) => {
            domain.validate()?;
            for m in &domain.mappings {
                stored_api(view, &m.api_id)?;
            }
            let me = || format!("domain {}", domain.name);
            if let (Some(cert), Some(key)) = (&domain.certificate_pem, &domain.private_key_pem) {
                crate::tls::certified_key(cert.as_bytes(), key.as_bytes())
                    .map_err(|e| invalid(me(), "certificate_pem", e))?;
            }
            if let Some(truststore) = &domain.truststore_pem {
                crate::tls::client_verifier(truststore.as_bytes())
                    .map_err(|e| invalid(me(), "truststore_pem", e))?;
            }
        }
        Object::ApiKey(api_key) => {
            api_key.validate()?;
            // Keys are found by the hash of their value: two keys with one value would be one.
            let twin = view.values().any(|r| {
                matches!(&r.object, Some(Object::ApiKey(k))
                    if k.id != api_key.id && k.value_sha256 == api_key.value_sha256)
            });
            if twin {
                return Err(ControlError::Conflict(format!(
                    "api key {}: another key has this value",
                    api_key.id
                )));
            }
        }
        Object::UsagePlan(plan) => {
            plan.validate()?;
            for stage in &plan.api_stages {
                stored_api(view, &stage.api_id)?;
            }
            // A changed plan must not put one of its keys in two plans for a stage.
            let keys = view.values().filter_map(|r| match &r.object {
                Some(Object::UsagePlanKey(k)) if k.plan_id == plan.id => Some(&k.key_id),
                _ => None,
            });
            for key in keys {
                one_plan_per_stage(view, plan, key)?;
            }
        }
        Object::UsagePlanKey(plan_key) => check_plan_key(view, plan_key)?,
        Object::Deployment(_) => {
            return Err(ControlError::Conflict(
                "deployments are made by deploying, not written".into(),
            ));
        }
    }
    Ok(())
}

/// A key joins a plan once, and (as in AWS) never two plans that cover the same API stage:
/// which limits would apply would be ambiguous.
fn check_plan_key(view: &State, plan_key: &edgeway_shared::UsagePlanKey) -> Result<()> {
    let Some(Object::UsagePlan(plan)) = live(view, ObjectKind::UsagePlan, &plan_key.plan_id) else {
        return Err(ControlError::NotFound(format!(
            "usage plan {}",
            plan_key.plan_id
        )));
    };
    must_exist(view, ObjectKind::ApiKey, &plan_key.key_id, || {
        format!("api key {}", plan_key.key_id)
    })?;
    one_plan_per_stage(view, plan, &plan_key.key_id)
}

/// `key_id`, in `plan`, is in no other plan that covers one of `plan`'s stages.
fn one_plan_per_stage(view: &State, plan: &edgeway_shared::UsagePlan, key_id: &str) -> Result<()> {
    let plans_of_key = view.values().filter_map(|r| match &r.object {
        Some(Object::UsagePlanKey(k)) if k.key_id == key_id && k.plan_id != plan.id => {
            Some(&k.plan_id)
        }
        _ => None,
    });
    for other in plans_of_key {
        let Some(Object::UsagePlan(other)) = live(view, ObjectKind::UsagePlan, other) else {
            continue;
        };
        let shared = other.api_stages.iter().find(|s| {
            plan.api_stages
                .iter()
                .any(|p| p.api_id == s.api_id && p.stage == s.stage)
        });
        if let Some(s) = shared {
            return Err(ControlError::Conflict(format!(
                "api key {key_id} is already in usage plan {}, which also covers {}/{}",
                other.id, s.api_id, s.stage
            )));
        }
    }
    Ok(())
}
