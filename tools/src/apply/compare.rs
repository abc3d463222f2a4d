//! What the server holds versus what the files want, made comparable: fields the server fills
//! in (derived route ids, a stage's current deployment, ids of children) are taken from the
//! server's copy where the file leaves them out, and secrets the server never shows back
//! (`(redacted)`) compare as equal. Children are compared as sets, in id order.

use super::docs::Desired;
use edgeway_shared::admin::ApiDocument;
use edgeway_shared::{Domain, UsagePlan};
use serde_json::{Value, json};

const REDACTED: &str = "(redacted)";

/// `desired` as it would read back from the server, given what the server holds now.
pub fn expected(desired: &Desired, current: &Value) -> anyhow::Result<Value> {
    Ok(match desired {
        Desired::Api(doc) => {
            let current: ApiDocument = serde_json::from_value(current.clone())?;
            serde_json::to_value(api_document((**doc).clone(), &current))?
        }
        Desired::Domain(domain) => {
            let current: Domain = serde_json::from_value(current.clone())?;
            let mut domain = domain.clone();
            if domain.private_key_pem.is_some()
                && current.private_key_pem.as_deref() == Some(REDACTED)
            {
                domain.private_key_pem = Some(REDACTED.into());
            }
            serde_json::to_value(domain)?
        }
        Desired::Plan(plan) => serde_json::to_value(plan)?,
        Desired::Key(key, _) => key_fields(&serde_json::to_value(key)?),
    })
}

/// What the server holds, in the same form as [`expected`].
pub fn actual(desired: &Desired, current: &Value) -> anyhow::Result<Value> {
    Ok(match desired {
        Desired::Api(_) => {
            let current: ApiDocument = serde_json::from_value(current.clone())?;
            serde_json::to_value(sorted(current))?
        }
        Desired::Domain(_) => {
            serde_json::to_value(serde_json::from_value::<Domain>(current.clone())?)?
        }
        Desired::Plan(_) => {
            serde_json::to_value(serde_json::from_value::<UsagePlan>(current.clone())?)?
        }
        Desired::Key(..) => key_fields(current),
    })
}

/// The fields of a key that can change.
fn key_fields(key: &Value) -> Value {
    json!({
        "id": key["id"],
        "name": key["name"],
        "description": key["description"],
        "enabled": key["enabled"],
    })
}

fn api_document(mut doc: ApiDocument, current: &ApiDocument) -> ApiDocument {
    let api_id = doc.api.id.clone();
    doc.deploy_to.clear();
    for route in &mut doc.routes {
        route.api_id = api_id.clone();
        if route.id.is_empty()
            && let Some(old) = current.routes.iter().find(|r| r.key() == route.key())
        {
            route.id = old.id.clone();
        }
    }
    for integration in &mut doc.integrations {
        integration.api_id = api_id.clone();
    }
    for stage in &mut doc.stages {
        stage.api_id = api_id.clone();
        if stage.deployment_id.is_none() {
            let old = current.stages.iter().find(|s| s.name == stage.name);
            stage.deployment_id = old.and_then(|s| s.deployment_id.clone());
        }
    }
    for authorizer in &mut doc.authorizers {
        authorizer.api_id = api_id.clone();
        let shown_redacted = current
            .authorizers
            .iter()
            .find(|a| a.id == authorizer.id)
            .and_then(|a| a.jwt.as_ref())
            .is_some_and(|jwt| jwt.hmac_secret.as_deref() == Some(REDACTED));
        if let Some(jwt) = &mut authorizer.jwt
            && jwt.hmac_secret.is_some()
            && shown_redacted
        {
            jwt.hmac_secret = Some(REDACTED.into());
        }
    }
    sorted(doc)
}

fn sorted(mut doc: ApiDocument) -> ApiDocument {
    doc.deploy_to.clear();
    doc.routes.sort_by(|a, b| a.id.cmp(&b.id));
    doc.integrations.sort_by(|a, b| a.id.cmp(&b.id));
    doc.stages.sort_by(|a, b| a.name.cmp(&b.name));
    doc.authorizers.sort_by(|a, b| a.id.cmp(&b.id));
    doc
}
