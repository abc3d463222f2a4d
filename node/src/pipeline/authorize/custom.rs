//! Custom authorizers (AWS's Lambda authorizers over HTTP): the gateway POSTs an event built from
//! the request to the authorizer's `uri` and reads back an IAM policy or a simple
//! `isAuthorized` answer. Answers are cached per identity for `result_ttl_seconds`, and
//! concurrent misses for one identity make one call.

use super::iam::{self, Decision, PolicyDocument};
use super::{Principal, RequestView, event, identity};
use crate::body;
use crate::error::{ErrorSource, GatewayError};
use crate::pipeline::integrate::Clients;
use edgeway_shared::{Authorizer, AuthorizerType, BackendProtocol, ResponseType};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Answers bigger than this are refused (AWS limits a policy to a few KiB).
const MAX_ANSWER: usize = 64 * 1024;
/// Identities cached per authorizer.
const CACHE_CAPACITY: u64 = 100_000;

pub struct CustomAuthorizer {
    kind: AuthorizerType,
    uri: http::Uri,
    timeout: Duration,
    sources: Vec<identity::Source>,
    cache: Option<moka::future::Cache<Vec<String>, Arc<Answer>>>,
    clients: Clients,
    region: String,
}

/// What the authorizer said, as cached.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    /// The simple format (HTTP APIs).
    is_authorized: Option<bool>,
    principal_id: Option<String>,
    policy_document: Option<PolicyDocument>,
    #[serde(default)]
    context: Map<String, Value>,
    usage_identifier_key: Option<String>,
}

/// What a request needs from the route and stage it is on.
pub struct Target<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    pub route_key: &'a str,
    pub variables: &'a std::collections::BTreeMap<String, String>,
}

fn failure(message: &'static str) -> GatewayError {
    GatewayError::new(
        ResponseType::AuthorizerFailure,
        ErrorSource::Integration,
        message,
    )
}

impl CustomAuthorizer {
    pub fn new(
        authorizer: &Authorizer,
        clients: &Clients,
        region: &str,
    ) -> Result<CustomAuthorizer, String> {
        let uri = authorizer.uri.as_deref().ok_or("uri is missing")?;
        let uri: http::Uri = uri.parse().map_err(|e| format!("uri '{uri}': {e}"))?;
        let default =
            (authorizer.kind == AuthorizerType::Token).then_some(identity::DEFAULT_SOURCE);
        let sources = identity::compile(&authorizer.identity_source, default)?;
        // Without identity sources there is nothing to key a cache on (AWS requires them too).
        let cache = (authorizer.result_ttl_seconds > 0 && !sources.is_empty()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(Duration::from_secs(authorizer.result_ttl_seconds.into()))
                .build()
        });
        Ok(CustomAuthorizer {
            kind: authorizer.kind,
            uri,
            timeout: Duration::from_millis(authorizer.timeout_ms),
            sources,
            cache,
            clients: clients.clone(),
            region: region.to_string(),
        })
    }

    pub async fn authorize(
        &self,
        request: &RequestView<'_>,
        target: &Target<'_>,
        principal: &mut Principal,
    ) -> Result<(), GatewayError> {
        let identity = identity::values(&self.sources, request, target.variables)
            .ok_or_else(|| GatewayError::client(ResponseType::Unauthorized, "Unauthorized"))?;
        let arn = iam::method_arn(
            &self.region,
            target.api_id,
            target.stage,
            request.method.as_str(),
            request.path,
        );
        let call = || async {
            let event = match self.kind {
                AuthorizerType::Token => event::token(&identity[0], &arn),
                _ => event::request(request, target, &arn, &identity),
            };
            self.call(&event).await.map(Arc::new)
        };
        let answer = match &self.cache {
            Some(cache) => cache
                .try_get_with(identity.clone(), call())
                .await
                .map_err(|e| (*e).clone())?,
            None => call().await?,
        };
        apply(&answer, &arn, principal)
    }

    async fn call(&self, event: &Value) -> Result<Answer, GatewayError> {
        let mut request = http::Request::new(body::full(event.to_string()));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let client = self.clients.get(BackendProtocol::Auto);
        let exchange = async {
            let response = client.request(request).await.map_err(|e| {
                tracing::warn!(uri = %self.uri, error = %e, "authorizer unreachable");
                failure("Authorizer unreachable")
            })?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|_| failure("Authorizer answer unreadable"))?
                .to_bytes();
            Ok::<_, GatewayError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| failure("Authorizer timed out"))??;
        // A Lambda authorizer says "Unauthorized" by failing with that message; over HTTP
        // that is a 401. Not cached, as in AWS.
        if status == http::StatusCode::UNAUTHORIZED {
            return Err(GatewayError::client(
                ResponseType::Unauthorized,
                "Unauthorized",
            ));
        }
        if !status.is_success() {
            tracing::warn!(uri = %self.uri, %status, "authorizer failed");
            return Err(failure("Authorizer failed"));
        }
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| {
            tracing::warn!(uri = %self.uri, error = %e, "authorizer answer is not valid");
            failure("Authorizer answer invalid")
        })?;
        if answer.is_authorized.is_none() && answer.policy_document.is_none() {
            tracing::warn!(uri = %self.uri, "authorizer answer has neither isAuthorized nor policyDocument");
            return Err(failure("Authorizer answer invalid"));
        }
        Ok(answer)
    }
}

/// Applies a (possibly cached) answer to this request's method ARN.
fn apply(answer: &Answer, arn: &str, principal: &mut Principal) -> Result<(), GatewayError> {
    let denied = |message| GatewayError::client(ResponseType::AccessDenied, message);
    match (answer.is_authorized, &answer.policy_document) {
        (Some(false), _) => return Err(denied("Forbidden")),
        (Some(true), _) => {}
        (None, Some(policy)) => match policy.evaluate(arn) {
            Decision::Allow => {}
            Decision::ExplicitDeny => {
                return Err(denied(
                    "User is not authorized to access this resource with an explicit deny",
                ));
            }
            Decision::ImplicitDeny => {
                return Err(denied("User is not authorized to access this resource"));
            }
        },
        (None, None) => return Err(failure("Authorizer answer invalid")),
    }
    principal.principal_id = answer.principal_id.clone();
    principal.context = answer.context.clone();
    principal.usage_identifier_key = answer.usage_identifier_key.clone();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(v: Value) -> Answer {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn answers_in_either_format_decide_and_fill_the_principal() {
        let arn = "arn:aws:execute-api:r:edgeway:a/prod/GET/x";
        let mut principal = Principal::default();
        let simple = answer(json!({"isAuthorized": true, "context": {"tenant": "t1"}}));
        apply(&simple, arn, &mut principal).unwrap();
        assert_eq!(principal.context["tenant"], "t1");

        let refused = answer(json!({"isAuthorized": false}));
        let e = apply(&refused, arn, &mut Principal::default()).unwrap_err();
        assert_eq!((e.kind, e.status()), (ResponseType::AccessDenied, 403));

        let policy = answer(json!({
            "principalId": "user-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:r:edgeway:a/prod/GET/*"}
            ]},
            "usageIdentifierKey": "k".repeat(20),
        }));
        let mut principal = Principal::default();
        apply(&policy, arn, &mut principal).unwrap();
        assert_eq!(principal.principal_id.as_deref(), Some("user-1"));
        assert_eq!(principal.usage_identifier_key, Some("k".repeat(20)));
        let e = apply(
            &policy,
            "arn:aws:execute-api:r:edgeway:a/prod/POST/x",
            &mut principal,
        )
        .unwrap_err();
        assert_eq!(e.kind, ResponseType::AccessDenied);
    }
}
