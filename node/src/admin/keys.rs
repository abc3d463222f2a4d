//! API keys: `POST|GET /apikeys`, `GET|PUT|DELETE /apikeys/{id}`, `POST /apikeys/import`.
//!
//! The gateway keeps only a key's SHA-256. Its value is in the answer to the create, once; no
//! later answer holds it (nor the hash). PUT changes the name, description and enabled flag,
//! never the value: a new value is a new key.

use super::objects::{not_found, parse};
use super::{Failure, Reply, bad_request};
use crate::body::json_response;
use crate::control::{Control, new_id};
use crate::snapshot::hash_key_value;
use bytes::Bytes;
use edgeway_shared::validate::access::check_key_value;
use edgeway_shared::{ApiKey, Object, ObjectKind};
use http::{Method, StatusCode};
use rand::Rng;
use serde::{Deserialize, Serialize};

mod import;

/// Generated values: 40 of `A-Za-z0-9`, about 238 random bits.
const GENERATED_LENGTH: usize = 40;

/// A key as the admin API shows it.
#[derive(Serialize)]
struct KeyView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    enabled: bool,
    created_at: u64,
    /// Only in the answer to a create.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
}

fn view<'a>(key: &'a ApiKey, value: Option<&'a str>) -> KeyView<'a> {
    KeyView {
        id: &key.id,
        name: &key.name,
        description: &key.description,
        enabled: key.enabled,
        created_at: key.created_at,
        value,
    }
}

/// `POST /apikeys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    enabled: bool,
    /// A value of the caller's (e.g. moved from another gateway); generated when absent.
    #[serde(default)]
    value: Option<String>,
}

/// `PUT /apikeys/{id}`: only what may change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyUpdate {
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

fn yes() -> bool {
    true
}

pub async fn route(control: &Control, method: &Method, segments: &[&str], body: Bytes) -> Reply {
    match (method, segments) {
        (&Method::GET, []) => {
            let keys = control.store().list(ObjectKind::ApiKey, "");
            let views: Vec<KeyView> = keys
                .iter()
                .filter_map(|o| match o {
                    Object::ApiKey(k) => Some(view(k, None)),
                    _ => None,
                })
                .collect();
            Ok(json_response(200, &views))
        }
        (&Method::POST, []) => create(control, parse(&body)?).await,
        (&Method::POST, ["import"]) => import::import(control, &body).await,
        (&Method::GET, [id]) => Ok(json_response(200, &view(&stored(control, id)?, None))),
        (&Method::PUT, [id]) => update(control, id, &body).await,
        (&Method::DELETE, [id]) => {
            // Its usage plan keys go with it (see Control::delete).
            control.delete(ObjectKind::ApiKey, id).await?;
            Ok(json_response(
                200,
                &serde_json::json!({ "deleted": format!("api_key {id}") }),
            ))
        }
        (_, [] | ["import"] | [_]) => Err(Failure(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            format!("{method} is not allowed here"),
        )),
        _ => Err(not_found(format!(
            "{method} /apikeys/{}",
            segments.join("/")
        ))),
    }
}

fn stored(control: &Control, id: &str) -> Result<ApiKey, Failure> {
    match control.get(ObjectKind::ApiKey, id)? {
        Object::ApiKey(key) => Ok(key),
        _ => Err(not_found(format!("api key {id}"))),
    }
}

async fn create(control: &Control, new: NewKey) -> Reply {
    let id = new.id.unwrap_or_else(new_id);
    let value = match new.value {
        Some(value) => {
            check_key_value(&format!("api key {id}"), &value)
                .map_err(|e| bad_request(e.to_string()))?;
            value
        }
        None => generate_value(),
    };
    let key = ApiKey {
        id,
        name: new.name,
        description: new.description,
        enabled: new.enabled,
        value_sha256: hash_key_value(&value),
        created_at: now_ms(),
    };
    control.create(Object::ApiKey(key.clone())).await?;
    Ok(json_response(201, &view(&key, Some(&value))))
}

async fn update(control: &Control, id: &str, body: &Bytes) -> Reply {
    let fields: serde_json::Map<String, serde_json::Value> = parse(body)?;
    if let Some(field) = ["value", "value_sha256"]
        .into_iter()
        .find(|f| fields.contains_key(*f))
    {
        return Err(bad_request(format!(
            "api key {id}: {field}: a key's value never changes; create a new key instead"
        )));
    }
    let update: KeyUpdate = parse(body)?;
    let mut key = stored(control, id)?;
    key.name = update.name.unwrap_or(key.name);
    key.description = update.description.unwrap_or(key.description);
    key.enabled = update.enabled.unwrap_or(key.enabled);
    control.put(Object::ApiKey(key.clone())).await?;
    Ok(json_response(200, &view(&key, None)))
}

pub fn generate_value() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(GENERATED_LENGTH)
        .map(char::from)
        .collect()
}

pub use edgeway_shared::version::wall_millis as now_ms;

#[cfg(test)]
mod tests {
    #[test]
    fn generated_values_are_long_alphanumeric_and_distinct() {
        let (a, b) = (super::generate_value(), super::generate_value());
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        edgeway_shared::validate::access::check_key_value("k", &a).unwrap();
    }
}
