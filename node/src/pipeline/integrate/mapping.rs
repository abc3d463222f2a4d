//! Parameter mapping for custom (`http`) integrations, compiled once per stage.
//!
//! Request side: `integration.request.{header|querystring|path}.N` ← `method.request.{header|
//! querystring|path}.N`, `context.identity.clientCert.{subjectDN|issuerDN|serialNumber|
//! validity.notBefore|validity.notAfter}`, `context.authorizer.{principalId|claims.N|N}`,
//! `stageVariables.N` (resolved at compile) or `'static'`. Response side:
//! the first rule whose pattern matches the backend status picks the client status and headers.

use super::template::with_stage_variables;
use crate::pipeline::authorize::Principal;
use crate::snapshot::router::Param;
use crate::tls::client_cert::ClientCertField;
use edgeway_shared::IntegrationResponse;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use percent_encoding::percent_decode_str;
use std::collections::BTreeMap;

#[derive(Debug)]
pub enum RequestTarget {
    Header(HeaderName),
    Query(String),
    Path(String),
}

#[derive(Debug)]
enum RequestSource {
    Header(HeaderName),
    Query(String),
    Path(String),
    Static(String),
    ClientCert(ClientCertField),
    Authorizer(AuthorizerField),
}

/// What an authorizer established: `context.authorizer.principalId`, a JWT claim
/// (`context.authorizer.claims.NAME`) or a custom authorizer's context (`context.authorizer.NAME`).
#[derive(Debug)]
enum AuthorizerField {
    PrincipalId,
    Claim(String),
    Context(String),
}

impl AuthorizerField {
    fn parse(name: &str) -> AuthorizerField {
        match name.strip_prefix("claims.") {
            _ if name == "principalId" => AuthorizerField::PrincipalId,
            Some(claim) => AuthorizerField::Claim(claim.to_string()),
            None => AuthorizerField::Context(name.to_string()),
        }
    }

    /// Strings as they are; numbers, booleans and structures as JSON text.
    fn value(&self, principal: &Principal) -> Option<String> {
        let json = match self {
            AuthorizerField::PrincipalId => return principal.principal_id.clone(),
            AuthorizerField::Claim(n) => principal.claims.as_ref()?.get(n)?,
            AuthorizerField::Context(n) => principal.context.get(n)?,
        };
        match json {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

#[derive(Debug)]
enum ResponseSource {
    Header(HeaderName),
    Static(HeaderValue),
}

#[derive(Debug)]
pub struct ResponseRule {
    pattern: regex::Regex,
    status: Option<StatusCode>,
    headers: Vec<(HeaderName, ResponseSource)>,
}

#[derive(Debug, Default)]
pub struct Mapping {
    request: Vec<(RequestTarget, RequestSource)>,
    responses: Vec<ResponseRule>,
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::try_from(name).map_err(|_| format!("'{name}' is not a valid header name"))
}

fn unquote(source: &str) -> Option<&str> {
    source.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
}

impl Mapping {
    pub fn compile(
        parameters: &BTreeMap<String, String>,
        responses: &[IntegrationResponse],
        variables: &BTreeMap<String, String>,
    ) -> Result<Mapping, String> {
        let mut mapping = Mapping::default();
        for (target, source) in parameters {
            let target = if let Some(n) = target.strip_prefix("integration.request.header.") {
                RequestTarget::Header(header_name(n)?)
            } else if let Some(n) = target.strip_prefix("integration.request.querystring.") {
                RequestTarget::Query(n.to_string())
            } else if let Some(n) = target.strip_prefix("integration.request.path.") {
                RequestTarget::Path(n.to_string())
            } else {
                return Err(format!("unknown mapping target '{target}'"));
            };
            let source = if let Some(s) = unquote(source) {
                RequestSource::Static(with_stage_variables(s, variables))
            } else if let Some(n) = source.strip_prefix("method.request.header.") {
                RequestSource::Header(header_name(n)?)
            } else if let Some(n) = source.strip_prefix("method.request.querystring.") {
                RequestSource::Query(n.to_string())
            } else if let Some(n) = source.strip_prefix("method.request.path.") {
                RequestSource::Path(n.to_string())
            } else if let Some(n) = source.strip_prefix("context.identity.clientCert.") {
                RequestSource::ClientCert(ClientCertField::parse(n).ok_or_else(|| {
                    format!("unknown client certificate field in mapping source '{source}'")
                })?)
            } else if let Some(n) = source.strip_prefix("context.authorizer.") {
                RequestSource::Authorizer(AuthorizerField::parse(n))
            } else if let Some(n) = source.strip_prefix("stageVariables.") {
                RequestSource::Static(variables.get(n).cloned().unwrap_or_default())
            } else {
                return Err(format!("unknown mapping source '{source}'"));
            };
            mapping.request.push((target, source));
        }
        for response in responses {
            // An empty pattern is the default rule: it matches every status.
            let pattern = match response.selection_pattern.as_str() {
                "" => ".*",
                p => p,
            };
            let pattern =
                regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())?;
            let status = response
                .status_code
                .map(StatusCode::from_u16)
                .transpose()
                .map_err(|e| e.to_string())?;
            let mut headers = Vec::new();
            for (target, source) in &response.response_parameters {
                let name = header_name(
                    target
                        .strip_prefix("method.response.header.")
                        .unwrap_or(target),
                )?;
                let source = match unquote(source) {
                    Some(s) => {
                        ResponseSource::Static(HeaderValue::try_from(s).map_err(|e| e.to_string())?)
                    }
                    None => ResponseSource::Header(header_name(
                        source
                            .strip_prefix("integration.response.header.")
                            .unwrap_or(source),
                    )?),
                };
                headers.push((name, source));
            }
            mapping.responses.push(ResponseRule {
                pattern,
                status,
                headers,
            });
        }
        Ok(mapping)
    }

    /// The mapped request values, in declaration order.
    pub fn request_values<'m>(
        &'m self,
        headers: &HeaderMap,
        query: Option<&str>,
        params: &[Param<'_>],
        principal: &Principal,
    ) -> Vec<(&'m RequestTarget, String)> {
        let mut out = Vec::with_capacity(self.request.len());
        for (target, source) in &self.request {
            let value = match source {
                RequestSource::Static(s) => Some(s.clone()),
                RequestSource::Header(n) => headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                RequestSource::Query(n) => query_value(query, n),
                RequestSource::Path(n) => params
                    .iter()
                    .find(|p| &*p.name == n)
                    .map(|p| p.value.clone()),
                RequestSource::ClientCert(field) => principal
                    .client_cert
                    .as_ref()
                    .map(|c| c.field(*field).to_string()),
                RequestSource::Authorizer(field) => field.value(principal),
            };
            // A missing source leaves the target out, as in AWS.
            if let Some(value) = value {
                out.push((target, value));
            }
        }
        out
    }

    /// Applies the first matching response rule to the backend's status and headers.
    pub fn map_response(&self, status: StatusCode, backend: &HeaderMap) -> (StatusCode, HeaderMap) {
        let mut headers = HeaderMap::new();
        for name in [
            http::header::CONTENT_TYPE,
            http::header::CONTENT_LENGTH,
            http::header::CONTENT_ENCODING,
        ] {
            if let Some(v) = backend.get(&name) {
                headers.insert(name, v.clone());
            }
        }
        let Some(rule) = self
            .responses
            .iter()
            .find(|r| r.pattern.is_match(status.as_str()))
        else {
            return (status, headers);
        };
        for (name, source) in &rule.headers {
            let value = match source {
                ResponseSource::Static(v) => Some(v.clone()),
                ResponseSource::Header(n) => backend.get(n).cloned(),
            };
            if let Some(value) = value {
                headers.insert(name.clone(), value);
            }
        }
        (rule.status.unwrap_or(status), headers)
    }
}

/// The first value of `name` in a query string, decoded (`+` is a space).
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_query(k) == name).then(|| decode_query(v))
    })
}

fn decode_query(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::IntegrationResponse;

    #[test]
    fn request_values_come_from_each_source_kind() {
        let params = BTreeMap::from([
            (
                "integration.request.header.x-user".to_string(),
                "method.request.path.user".to_string(),
            ),
            (
                "integration.request.querystring.q".to_string(),
                "method.request.querystring.search".to_string(),
            ),
            (
                "integration.request.header.x-env".to_string(),
                "stageVariables.env".to_string(),
            ),
            (
                "integration.request.header.x-fixed".to_string(),
                "'yes'".to_string(),
            ),
            (
                "integration.request.header.x-missing".to_string(),
                "method.request.header.nope".to_string(),
            ),
        ]);
        let vars = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let mapping = Mapping::compile(&params, &[], &vars).unwrap();
        let path = [Param {
            name: "user".into(),
            value: "ann".into(),
            raw: "ann",
        }];
        let values = mapping.request_values(
            &HeaderMap::new(),
            Some("search=a+b%21&x=1"),
            &path,
            &Principal::default(),
        );
        let rendered: Vec<String> = values.iter().map(|(t, v)| format!("{t:?}={v}")).collect();
        assert_eq!(rendered.len(), 4, "{rendered:?}");
        assert!(rendered.contains(&"Header(\"x-user\")=ann".to_string()));
        assert!(rendered.contains(&"Query(\"q\")=a b!".to_string()));
        assert!(rendered.contains(&"Header(\"x-env\")=prod".to_string()));
        assert!(rendered.contains(&"Header(\"x-fixed\")=yes".to_string()));
    }

    #[test]
    fn the_first_matching_response_rule_sets_status_and_headers() {
        let rules = vec![
            IntegrationResponse {
                selection_pattern: "5\\d\\d".into(),
                status_code: Some(502),
                response_parameters: BTreeMap::from([(
                    "method.response.header.x-why".into(),
                    "'backend'".into(),
                )]),
            },
            IntegrationResponse {
                selection_pattern: String::new(),
                status_code: None,
                response_parameters: BTreeMap::from([(
                    "method.response.header.x-id".into(),
                    "integration.response.header.x-backend-id".into(),
                )]),
            },
        ];
        let mapping = Mapping::compile(&BTreeMap::new(), &rules, &BTreeMap::new()).unwrap();
        let mut backend = HeaderMap::new();
        backend.insert("x-backend-id", HeaderValue::from_static("7"));
        backend.insert("x-secret", HeaderValue::from_static("s"));
        let (status, headers) = mapping.map_response(StatusCode::SERVICE_UNAVAILABLE, &backend);
        assert_eq!(
            (
                status.as_u16(),
                headers.get("x-why").unwrap().to_str().unwrap()
            ),
            (502, "backend")
        );
        assert!(headers.get("x-id").is_none());
        let (status, headers) = mapping.map_response(StatusCode::OK, &backend);
        assert_eq!(
            (status, headers.get("x-id").unwrap().to_str().unwrap()),
            (StatusCode::OK, "7")
        );
        assert!(
            headers.get("x-secret").is_none(),
            "unmapped backend headers stay behind"
        );
    }
    #[test]
    fn authorizer_sources_read_the_principal() {
        let params = BTreeMap::from([
            (
                "integration.request.header.x-sub".to_string(),
                "context.authorizer.claims.sub".to_string(),
            ),
            (
                "integration.request.header.x-groups".to_string(),
                "context.authorizer.claims.groups".to_string(),
            ),
            (
                "integration.request.header.x-principal".to_string(),
                "context.authorizer.principalId".to_string(),
            ),
            (
                "integration.request.querystring.tenant".to_string(),
                "context.authorizer.tenant".to_string(),
            ),
            (
                "integration.request.header.x-none".to_string(),
                "context.authorizer.claims.absent".to_string(),
            ),
        ]);
        let mapping = Mapping::compile(&params, &[], &BTreeMap::new()).unwrap();
        let principal = Principal {
            principal_id: Some("user-1".into()),
            claims: serde_json::json!({"sub": "ann", "groups": ["a", "b"]})
                .as_object()
                .cloned()
                .map(std::sync::Arc::new),
            context: serde_json::json!({"tenant": "t1"})
                .as_object()
                .cloned()
                .unwrap(),
            ..Principal::default()
        };
        let values = mapping.request_values(&HeaderMap::new(), None, &[], &principal);
        let rendered: Vec<String> = values.iter().map(|(t, v)| format!("{t:?}={v}")).collect();
        assert_eq!(rendered.len(), 4, "{rendered:?}");
        assert!(rendered.contains(&"Header(\"x-sub\")=ann".to_string()));
        assert!(rendered.contains(&"Header(\"x-groups\")=[\"a\",\"b\"]".to_string()));
        assert!(rendered.contains(&"Header(\"x-principal\")=user-1".to_string()));
        assert!(rendered.contains(&"Query(\"tenant\")=t1".to_string()));
    }
}
