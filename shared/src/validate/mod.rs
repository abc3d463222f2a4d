//! Validation on the way in. Every error names the object and the field:
//! `stage prod: variables.url: must not be empty`.

use crate::model::*;
use crate::path::parse_template;
use std::collections::{BTreeSet, HashSet};

pub mod access;
mod cache;
mod endpoint;
pub mod websocket;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field}: {message}")]
pub struct ValidationError {
    /// The object, e.g. `api hello` or `route hello/get-pets`.
    pub object: String,
    /// The field, e.g. `timeout_ms` or `mappings[1].base_path`.
    pub field: String,
    pub message: String,
}

pub(crate) type Result = std::result::Result<(), ValidationError>;

pub(crate) fn err(
    object: impl Into<String>,
    field: impl Into<String>,
    message: impl Into<String>,
) -> ValidationError {
    ValidationError {
        object: object.into(),
        field: field.into(),
        message: message.into(),
    }
}

pub const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY",
];

/// Client certificate fields a mapping can read: `context.identity.clientCert.FIELD` (mTLS).
pub const CLIENT_CERT_FIELDS: [&str; 5] = [
    "subjectDN",
    "issuerDN",
    "serialNumber",
    "validity.notBefore",
    "validity.notAfter",
];

/// Ids: 1–64 of `a-z 0-9 _ -`, starting with a letter or digit.
pub fn check_id(object: &str, field: &str, id: &str) -> Result {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(err(
            object,
            field,
            "must be 1-64 of a-z, 0-9, '_' or '-', starting with a letter or digit",
        ))
    }
}

impl Api {
    pub fn validate(&self) -> Result {
        let me = format!("api {}", self.id);
        check_id(&me, "id", &self.id)?;
        if self.name.trim().is_empty() {
            return Err(err(&me, "name", "must not be empty"));
        }
        endpoint::check(self, &me)?;
        websocket::check_api(self, &me)?;
        if let Some(policy) = &self.policy {
            policy.check(&me)?;
        }
        if let Some(cors) = &self.cors {
            cors.check(&me)?;
        }
        for (kind, response) in &self.gateway_responses {
            let field = format!("gateway_responses.{}", kind.as_str());
            if let Some(status) = response.status_code {
                check_status(&me, &format!("{field}.status_code"), status)?;
            }
            check_headers(&me, &format!("{field}.headers"), response.headers.iter())?;
        }
        Ok(())
    }
}

impl Route {
    pub fn validate(&self, kind: ApiKind) -> Result {
        let me = format!("route {}/{}", self.api_id, self.id);
        check_id(&me, "id", &self.id)?;
        check_id(&me, "integration_id", &self.integration_id)?;
        if let Some(authorizer) = &self.authorizer_id {
            check_id(&me, "authorizer_id", authorizer)?;
        }
        if self
            .authorization_scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(' '))
        {
            return Err(err(
                &me,
                "authorization_scopes",
                "scopes are non-empty words without spaces",
            ));
        }
        if kind == ApiKind::Websocket || self.route_key.is_some() {
            return websocket::check_route(self, kind, &me);
        }
        if !METHODS.contains(&self.method.as_str()) {
            return Err(err(
                &me,
                "method",
                format!("must be one of {}", METHODS.join(", ")),
            ));
        }
        if self.path == DEFAULT_ROUTE {
            if kind != ApiKind::Http {
                return Err(err(&me, "path", "$default routes exist only in http APIs"));
            }
            if self.method != "ANY" {
                return Err(err(&me, "method", "the $default route takes method ANY"));
            }
            return Ok(());
        }
        parse_template(&self.path)
            .map(|_| ())
            .map_err(|m| err(&me, "path", m))
    }
}

impl Integration {
    pub fn validate(&self) -> Result {
        let me = format!("integration {}/{}", self.api_id, self.id);
        check_id(&me, "id", &self.id)?;
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(err(
                &me,
                "timeout_ms",
                format!("must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
            ));
        }
        match self.kind {
            IntegrationType::Mock => {
                let mock = self
                    .mock
                    .as_ref()
                    .ok_or_else(|| err(&me, "mock", "is required for type mock"))?;
                check_status(&me, "mock.status_code", mock.status_code)?;
                check_headers(&me, "mock.headers", mock.headers.iter())
            }
            IntegrationType::HttpProxy | IntegrationType::Http => {
                let uri = self
                    .uri
                    .as_deref()
                    .ok_or_else(|| err(&me, "uri", "is required for http integrations"))?;
                if !["http://", "https://", "${stageVariables."]
                    .iter()
                    .any(|p| uri.starts_with(p))
                {
                    return Err(err(
                        &me,
                        "uri",
                        "must start with http://, https:// or a ${stageVariables.NAME}",
                    ));
                }
                if let Some(method) = &self.http_method
                    && !METHODS[..7].contains(&method.as_str())
                {
                    return Err(err(
                        &me,
                        "http_method",
                        "must be an HTTP method in upper case",
                    ));
                }
                if self.kind == IntegrationType::HttpProxy
                    && (!self.request_parameters.is_empty() || !self.responses.is_empty())
                {
                    return Err(err(
                        &me,
                        "request_parameters",
                        "mapping needs type http; http_proxy passes requests through",
                    ));
                }
                self.validate_mappings(&me)
            }
        }
    }

    fn validate_mappings(&self, me: &str) -> Result {
        for (target, source) in &self.request_parameters {
            let field = format!("request_parameters.{target}");
            let ok_target = [
                "integration.request.header.",
                "integration.request.querystring.",
                "integration.request.path.",
            ]
            .iter()
            .any(|p| target.strip_prefix(p).is_some_and(|n| !n.is_empty()));
            if !ok_target {
                return Err(err(
                    me,
                    &field,
                    "target must be integration.request.{header|querystring|path}.NAME",
                ));
            }
            let ok_source = is_static(source)
                || source
                    .strip_prefix("context.identity.clientCert.")
                    .is_some_and(|f| CLIENT_CERT_FIELDS.contains(&f))
                || source
                    .strip_prefix("context.authorizer.")
                    .is_some_and(is_authorizer_field)
                || [
                    "method.request.header.",
                    "method.request.querystring.",
                    "method.request.path.",
                    "stageVariables.",
                ]
                .iter()
                .any(|p| source.strip_prefix(p).is_some_and(|n| !n.is_empty()));
            if !ok_source {
                return Err(err(
                    me,
                    &field,
                    "source must be method.request.{header|querystring|path}.NAME, context.identity.clientCert.FIELD, context.authorizer.{principalId|claims.NAME|NAME}, stageVariables.NAME or 'static'",
                ));
            }
        }
        for (i, response) in self.responses.iter().enumerate() {
            let field = format!("responses[{i}]");
            if let Err(e) = regex::Regex::new(&format!("^(?:{})$", response.selection_pattern)) {
                return Err(err(
                    me,
                    format!("{field}.selection_pattern"),
                    format!("is not a valid regular expression: {e}"),
                ));
            }
            if let Some(status) = response.status_code {
                check_status(me, &format!("{field}.status_code"), status)?;
            }
            for (target, source) in &response.response_parameters {
                let pfield = format!("{field}.response_parameters.{target}");
                if target
                    .strip_prefix("method.response.header.")
                    .is_none_or(|n| n.is_empty())
                {
                    return Err(err(
                        me,
                        &pfield,
                        "target must be method.response.header.NAME",
                    ));
                }
                if !(is_static(source)
                    || source
                        .strip_prefix("integration.response.header.")
                        .is_some_and(|n| !n.is_empty()))
                {
                    return Err(err(
                        me,
                        &pfield,
                        "source must be integration.response.header.NAME or 'static'",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `principalId`, `claims.NAME` (JWT) or `NAME` (a custom authorizer's context).
fn is_authorizer_field(field: &str) -> bool {
    let name = field.strip_prefix("claims.").unwrap_or(field);
    !name.is_empty() && name != "claims" && !name.contains(char::is_whitespace)
}

fn is_static(source: &str) -> bool {
    source.len() >= 2 && source.starts_with('\'') && source.ends_with('\'')
}

impl Stage {
    pub fn validate(&self, kind: ApiKind) -> Result {
        let me = format!("stage {}", self.name);
        self.validate_throttles()?;
        if let Some(cache) = &self.cache {
            cache.check(&me)?;
        }
        let ok_name = self.name == DEFAULT_STAGE
            || (!self.name.is_empty()
                && self.name.len() <= 64
                && self
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !ok_name {
            return Err(err(
                &me,
                "name",
                "must be $default or 1-64 of letters, digits, '_' or '-'",
            ));
        }
        if self.name == DEFAULT_STAGE && kind != ApiKind::Http {
            return Err(err(
                &me,
                "name",
                "the $default stage exists only in http APIs",
            ));
        }
        if self.auto_deploy && kind != ApiKind::Http {
            return Err(err(&me, "auto_deploy", "is available only in http APIs"));
        }
        if let Some(format) = self.access_log.as_ref().and_then(|l| l.format.as_ref()) {
            // As AWS: a line that cannot be tied to its request is no use.
            if !format.contains("$context.requestId") || format.len() > 4096 {
                return Err(err(
                    &me,
                    "access_log.format",
                    "must contain $context.requestId and be at most 4096 characters",
                ));
            }
        }
        for (name, value) in &self.variables {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(
                    &me,
                    format!("variables.{name}"),
                    "names must be letters, digits or '_'",
                ));
            }
            if value.len() > 2048 {
                return Err(err(
                    &me,
                    format!("variables.{name}"),
                    "must be at most 2048 bytes",
                ));
            }
        }
        Ok(())
    }
}

impl Domain {
    pub fn validate(&self) -> Result {
        let me = format!("domain {}", self.name);
        let ok_host = !self.name.is_empty()
            && self.name.len() <= 253
            && self.name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !ok_host || self.name.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err(&me, "name", "must be a lower-case DNS host name"));
        }
        if self.certificate_pem.is_some() != self.private_key_pem.is_some() {
            return Err(err(
                &me,
                "certificate_pem",
                "certificate_pem and private_key_pem go together",
            ));
        }
        let mut seen = HashSet::new();
        for (i, m) in self.mappings.iter().enumerate() {
            let field = format!("mappings[{i}]");
            let ok_base = m.base_path.is_empty()
                || m.base_path.split('/').all(|s| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
                });
            if !ok_base {
                return Err(err(
                    &me,
                    format!("{field}.base_path"),
                    "must be empty or segments like v1 or orders/v2, without leading or trailing '/'",
                ));
            }
            if !seen.insert(m.base_path.as_str()) {
                return Err(err(&me, format!("{field}.base_path"), "is mapped twice"));
            }
            check_id(&me, &format!("{field}.api_id"), &m.api_id)?;
        }
        Ok(())
    }
}

/// Checks what a deployment will serve: every route points at an integration (and authorizer)
/// of the API, and no two routes share a method and path.
pub fn check_routes(
    api: &Api,
    routes: &[Route],
    integrations: &[Integration],
    authorizers: &[Authorizer],
) -> Result {
    let me = format!("api {}", api.id);
    let ids: BTreeSet<&str> = integrations.iter().map(|i| i.id.as_str()).collect();
    let mut keys = HashSet::new();
    for route in routes {
        if let Some(a) = &route.authorizer_id
            && !authorizers.iter().any(|x| &x.id == a)
        {
            return Err(err(
                format!("route {}/{}", api.id, route.id),
                "authorizer_id",
                format!("no authorizer '{a}' in this API"),
            ));
        }
        if !ids.contains(route.integration_id.as_str()) {
            return Err(err(
                format!("route {}/{}", api.id, route.id),
                "integration_id",
                format!("no integration '{}' in this API", route.integration_id),
            ));
        }
        if !keys.insert(route.key()) {
            return Err(err(
                &me,
                "routes",
                format!("two routes have the key '{}'", route.key()),
            ));
        }
    }
    Ok(())
}

fn check_status(object: &str, field: &str, status: u16) -> Result {
    if (100..=599).contains(&status) {
        Ok(())
    } else {
        Err(err(object, field, "must be an HTTP status code (100-599)"))
    }
}

pub(crate) fn check_headers<'a>(
    object: &str,
    field: &str,
    headers: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result {
    for (name, value) in headers {
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !name_ok {
            return Err(err(
                object,
                format!("{field}.{name}"),
                "is not a valid header name",
            ));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(err(
                object,
                format!("{field}.{name}"),
                "header values may not hold CR, LF or NUL",
            ));
        }
    }
    Ok(())
}
