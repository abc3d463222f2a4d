//! CRUD over the object model: `/apis`, `/apis/{id}/{routes|integrations|stages|deployments}`,
//! `/apis/{id}/document`, `/domains`, `/objects`.

use super::{Failure, Reply, bad_request};
use crate::body::json_response;
use crate::control::{Control, new_id};
use bytes::Bytes;
use edgeway_shared::admin::{ApiDocument, DeployRequest, ObjectList, VersionedObject};
use edgeway_shared::{Api, Domain, Integration, Object, ObjectKind, Route, Stage};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;

pub(super) const REDACTED: &str = "(redacted)";

pub(super) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("request body: {e}")))
}

pub(super) fn not_found(what: String) -> Failure {
    Failure(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("{what} not found"),
    )
}

pub async fn route(control: &Control, method: &Method, segments: &[&str], body: Bytes) -> Reply {
    match (method, segments) {
        (&Method::GET, ["objects"]) => {
            let objects = control
                .store()
                .view()
                .values()
                .filter_map(|r| {
                    r.object.clone().map(|object| VersionedObject {
                        version: r.version.clone(),
                        object: redact(object),
                    })
                })
                .collect();
            Ok(json_response(200, &ObjectList { objects }))
        }
        (&Method::GET, ["apis"]) => list(control, ObjectKind::Api, ""),
        (&Method::POST, ["apis"]) => {
            let mut api: Api = parse(&body)?;
            if api.id.is_empty() {
                api.id = new_id();
            }
            create(control, Object::Api(api)).await
        }
        (_, ["apis", id]) => {
            one(control, method, ObjectKind::Api, id, || {
                let mut api: Api = parse(&body)?;
                api.id = id.to_string();
                Ok(Object::Api(api))
            })
            .await
        }
        (&Method::GET, ["apis", id, "document"]) => Ok(json_response(
            200,
            &super::authorizers::redact_document(control.document(id)?),
        )),
        (&Method::PUT, ["apis", id, "document"]) => {
            let mut doc: ApiDocument = parse(&body)?;
            if doc.api.id.is_empty() {
                doc.api.id = id.to_string();
            }
            if doc.api.id != *id {
                return Err(bad_request(format!(
                    "api.id '{}' differs from the path's '{id}'",
                    doc.api.id
                )));
            }
            super::authorizers::restore_document(control, &mut doc);
            control.apply_document(doc).await?;
            Ok(json_response(
                200,
                &super::authorizers::redact_document(control.document(id)?),
            ))
        }
        (&Method::POST, ["apis", id, "deployments"]) => {
            let request: DeployRequest = if body.is_empty() {
                DeployRequest::default()
            } else {
                parse(&body)?
            };
            let deployment = Object::Deployment(control.deploy(id, request).await?);
            Ok(json_response(201, &inner(&redact(deployment))))
        }
        (&Method::GET, ["apis", id, collection]) => {
            control.api(id)?;
            list(control, kind_of(collection)?, &format!("{id}/"))
        }
        (&Method::POST, ["apis", id, collection]) => {
            let object = child(control, kind_of(collection)?, &body, id, None)?;
            create(control, object).await
        }
        (_, ["apis", id, collection, child_id]) => {
            let kind = kind_of(collection)?;
            if kind == ObjectKind::Deployment && method == Method::PUT {
                return Err(Failure(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "immutable",
                    "deployments never change; deploy again".into(),
                ));
            }
            one(control, method, kind, &format!("{id}/{child_id}"), || {
                child(control, kind, &body, id, Some(child_id))
            })
            .await
        }
        (&Method::GET, ["domains"]) => list(control, ObjectKind::Domain, ""),
        (&Method::POST, ["domains"]) => create(control, Object::Domain(parse(&body)?)).await,
        (_, ["domains", name]) => {
            one(control, method, ObjectKind::Domain, name, || {
                let mut domain: Domain = parse(&body)?;
                domain.name = name.to_string();
                // A key read back as "(redacted)" and sent again means "keep the stored key".
                if domain.private_key_pem.as_deref() == Some(REDACTED) {
                    domain.private_key_pem = match control.get(ObjectKind::Domain, name) {
                        Ok(Object::Domain(old)) => old.private_key_pem,
                        _ => None,
                    };
                }
                Ok(Object::Domain(domain))
            })
            .await
        }
        _ => Err(not_found(format!("{method} /{}", segments.join("/")))),
    }
}

fn kind_of(collection: &str) -> Result<ObjectKind, Failure> {
    match collection {
        "routes" => Ok(ObjectKind::Route),
        "integrations" => Ok(ObjectKind::Integration),
        "stages" => Ok(ObjectKind::Stage),
        "deployments" => Ok(ObjectKind::Deployment),
        "authorizers" => Ok(ObjectKind::Authorizer),
        other => Err(not_found(format!("collection '{other}'"))),
    }
}

/// Parses an object inside an API; the path fixes its API and (for PUT) its id.
fn child(
    control: &Control,
    kind: ObjectKind,
    body: &Bytes,
    api_id: &str,
    id: Option<&str>,
) -> Result<Object, Failure> {
    let fill = |field: &mut String, generate: &dyn Fn() -> String| match id {
        Some(id) => *field = id.to_string(),
        None if field.is_empty() => *field = generate(),
        None => {}
    };
    Ok(match kind {
        ObjectKind::Route => {
            let mut r: Route = parse(body)?;
            r.api_id = api_id.into();
            let derived = crate::control::route_id(&r);
            fill(&mut r.id, &|| derived.clone());
            Object::Route(r)
        }
        ObjectKind::Integration => {
            let mut i: Integration = parse(body)?;
            i.api_id = api_id.into();
            fill(&mut i.id, &new_id);
            Object::Integration(i)
        }
        ObjectKind::Stage => {
            let mut s: Stage = parse(body)?;
            s.api_id = api_id.into();
            fill(&mut s.name, &String::new);
            Object::Stage(s)
        }
        ObjectKind::Authorizer => super::authorizers::parse_child(control, body, api_id, id)?,
        _ => {
            return Err(Failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "not_writable",
                "deployments are made with POST .../deployments".into(),
            ));
        }
    })
}

fn list(control: &Control, kind: ObjectKind, prefix: &str) -> Reply {
    let objects: Vec<Object> = control
        .store()
        .list(kind, prefix)
        .into_iter()
        .map(redact)
        .collect();
    Ok(json_response(
        200,
        &objects.iter().map(inner).collect::<Vec<_>>(),
    ))
}

pub(super) async fn create(control: &Control, object: Object) -> Reply {
    control.check(&object)?;
    let stored = control.create(object).await?;
    Ok(json_response(201, &inner(&redact(stored))))
}

/// GET, PUT (create or replace) and DELETE of one object.
pub(super) async fn one(
    control: &Control,
    method: &Method,
    kind: ObjectKind,
    id: &str,
    body: impl FnOnce() -> Result<Object, Failure>,
) -> Reply {
    match *method {
        Method::GET => Ok(json_response(200, &inner(&redact(control.get(kind, id)?)))),
        Method::PUT => Ok(json_response(
            200,
            &inner(&redact(control.put(body()?).await?)),
        )),
        Method::DELETE => {
            control.delete(kind, id).await?;
            Ok(json_response(
                200,
                &serde_json::json!({ "deleted": format!("{} {id}", kind.as_str()) }),
            ))
        }
        _ => Err(Failure(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            format!("{method} is not allowed here"),
        )),
    }
}

/// The object without its enum wrapper, as clients expect (`{"id": ...}`, not `{"api": {...}}`).
pub(super) fn inner(object: &Object) -> serde_json::Value {
    match serde_json::to_value(object) {
        Ok(serde_json::Value::Object(wrapper)) if wrapper.len() == 1 => wrapper
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or_default(),
        other => other.unwrap_or_default(),
    }
}

/// Private keys are written, never read back.
fn redact(object: Object) -> Object {
    match object {
        Object::Domain(mut d) => {
            if d.private_key_pem.is_some() {
                d.private_key_pem = Some(REDACTED.into());
            }
            Object::Domain(d)
        }
        other => super::authorizers::redact_object(other),
    }
}
