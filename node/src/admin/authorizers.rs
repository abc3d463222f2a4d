//! `/apis/{id}/authorizers[/{authorizer}]`: JWT and custom authorizers of an API. An HMAC
//! secret is written, never read back: answers (authorizers, deployments, API documents) show
//! it as `(redacted)`, and a write that sends `(redacted)` keeps the stored one.

use super::Failure;
use super::objects::{REDACTED, parse};
use crate::control::{Control, new_id};
use bytes::Bytes;
use edgeway_shared::admin::ApiDocument;
use edgeway_shared::{Authorizer, Object, ObjectKind};

/// Parses an authorizer of `api_id`; the path fixes its id on PUT.
pub fn parse_child(
    control: &Control,
    body: &Bytes,
    api_id: &str,
    id: Option<&str>,
) -> Result<Object, Failure> {
    let mut authorizer: Authorizer = parse(body)?;
    authorizer.api_id = api_id.to_string();
    match id {
        Some(id) => authorizer.id = id.to_string(),
        None if authorizer.id.is_empty() => authorizer.id = new_id(),
        None => {}
    }
    restore_secret(control, api_id, &mut authorizer);
    Ok(Object::Authorizer(authorizer))
}

/// A secret sent back as `(redacted)` means "keep the stored one".
fn restore_secret(control: &Control, api_id: &str, authorizer: &mut Authorizer) {
    let Some(jwt) = &mut authorizer.jwt else {
        return;
    };
    if jwt.hmac_secret.as_deref() == Some(REDACTED) {
        let key = format!("{api_id}/{}", authorizer.id);
        jwt.hmac_secret = match control.get(ObjectKind::Authorizer, &key) {
            Ok(Object::Authorizer(old)) => old.jwt.and_then(|j| j.hmac_secret),
            _ => None,
        };
    }
}

pub fn redact(mut authorizer: Authorizer) -> Authorizer {
    if let Some(jwt) = &mut authorizer.jwt
        && jwt.hmac_secret.is_some()
    {
        jwt.hmac_secret = Some(REDACTED.into());
    }
    authorizer
}

fn redact_all(authorizers: &mut Vec<Authorizer>) {
    *authorizers = std::mem::take(authorizers)
        .into_iter()
        .map(redact)
        .collect();
}

/// Deployments carry copies of the API's authorizers.
pub fn redact_object(object: Object) -> Object {
    match object {
        Object::Authorizer(a) => Object::Authorizer(redact(a)),
        Object::Deployment(mut d) => {
            redact_all(&mut d.authorizers);
            Object::Deployment(d)
        }
        other => other,
    }
}

pub fn redact_document(mut doc: ApiDocument) -> ApiDocument {
    redact_all(&mut doc.authorizers);
    doc
}

/// An applied document may send back what `GET .../document` showed.
pub fn restore_document(control: &Control, doc: &mut ApiDocument) {
    let api_id = doc.api.id.clone();
    for authorizer in &mut doc.authorizers {
        restore_secret(control, &api_id, authorizer);
    }
}
