//! CORS per API, compiled once per snapshot from the deployed API's settings. The gateway owns
//! the CORS headers of an API that has CORS configured: it answers allowed preflights itself
//! (route phase, the integration is never called) and sets `Access-Control-*` on every other
//! answer (respond phase, gateway errors included), replacing whatever the backend sent.

use crate::body::{self, Body};
use edgeway_shared::Cors;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use std::sync::Arc;

/// An API's CORS settings, ready for requests.
#[derive(Debug)]
pub struct CorsPolicy {
    origins: Vec<OriginRule>,
    methods: Vec<Method>,
    any_method: bool,
    allow_methods: Option<HeaderValue>,
    any_header: bool,
    allow_headers: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

#[derive(Debug, PartialEq)]
enum OriginRule {
    Any,
    /// Lower case.
    Exact(String),
    /// `https://*.example.com`: the `*` stands for one or more host characters.
    Wildcard {
        prefix: String,
        suffix: String,
    },
}

impl OriginRule {
    fn parse(origin: &str) -> OriginRule {
        let origin = origin.to_ascii_lowercase();
        match origin.split_once('*') {
            None => OriginRule::Exact(origin),
            Some(("", "")) => OriginRule::Any,
            Some((prefix, suffix)) => OriginRule::Wildcard {
                prefix: prefix.to_string(),
                suffix: suffix.to_string(),
            },
        }
    }

    /// `origin` is lower case.
    fn matches(&self, origin: &str) -> bool {
        match self {
            OriginRule::Any => true,
            OriginRule::Exact(exact) => exact == origin,
            OriginRule::Wildcard { prefix, suffix } => origin
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                // Only host characters: `*` never reaches over a port, path or credentials.
                .is_some_and(|middle| {
                    !middle.is_empty()
                        && middle
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                }),
        }
    }
}

/// A list as one header value; `None` when empty (or, despite validation, not a header value).
fn joined(list: &[String]) -> Option<HeaderValue> {
    if list.is_empty() {
        return None;
    }
    HeaderValue::try_from(list.join(", ")).ok()
}

impl CorsPolicy {
    pub fn compile(cors: &Cors) -> CorsPolicy {
        let methods = cors
            .allow_methods
            .iter()
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect();
        let star = |list: &[String]| list.iter().any(|v| v == "*");
        CorsPolicy {
            origins: cors
                .allow_origins
                .iter()
                .map(|o| OriginRule::parse(o))
                .collect(),
            methods,
            any_method: star(&cors.allow_methods),
            allow_methods: joined(&cors.allow_methods),
            any_header: star(&cors.allow_headers),
            allow_headers: joined(&cors.allow_headers),
            expose_headers: joined(&cors.expose_headers),
            credentials: cors.allow_credentials,
            max_age: cors.max_age_seconds.map(HeaderValue::from),
        }
    }

    fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins.iter().any(|rule| rule.matches(&origin))
    }

    /// GET, HEAD and POST need no permission (Fetch's CORS-safelisted methods).
    fn allows_method(&self, method: &Method) -> bool {
        self.any_method
            || matches!(*method, Method::GET | Method::HEAD | Method::POST)
            || self.methods.contains(method)
    }

    /// `*` means "any" only without credentials; with them browsers read it literally.
    fn wildcard_literal(&self) -> bool {
        !self.credentials
    }
}

/// What CORS means for one request of an API with CORS configured.
#[derive(Debug)]
pub struct Applied {
    policy: Arc<CorsPolicy>,
    /// `Access-Control-Allow-Origin` for this request: `None` without an allowed `Origin`.
    allow_origin: Option<HeaderValue>,
    /// Set when the request is a preflight the gateway answers.
    preflight: Option<Preflight>,
}

#[derive(Debug)]
struct Preflight {
    method: HeaderValue,
    headers: Option<HeaderValue>,
}

impl Applied {
    pub fn new(policy: &Arc<CorsPolicy>, method: &Method, headers: &HeaderMap) -> Applied {
        let origin = headers
            .get(header::ORIGIN)
            .filter(|o| o.to_str().is_ok_and(|o| policy.allows_origin(o)));
        let allow_origin = origin.map(|o| {
            let any = policy.origins.contains(&OriginRule::Any);
            if any && policy.wildcard_literal() {
                HeaderValue::from_static("*")
            } else {
                o.clone()
            }
        });
        let requested = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD);
        let preflight = requested
            .filter(|_| *method == Method::OPTIONS && allow_origin.is_some())
            .filter(|m| Method::from_bytes(m.as_bytes()).is_ok_and(|m| policy.allows_method(&m)))
            .map(|m| Preflight {
                method: m.clone(),
                headers: headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned(),
            });
        Applied {
            policy: policy.clone(),
            allow_origin,
            preflight,
        }
    }

    /// The gateway's answer to an allowed preflight (`None` for every other request).
    /// `decorate` adds the origin, credentials and `Vary` headers.
    pub fn preflight_response(&self) -> Option<Response<Body>> {
        let preflight = self.preflight.as_ref()?;
        let policy = &self.policy;
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        let methods = match policy.any_method && !policy.wildcard_literal() {
            true => Some(preflight.method.clone()),
            false => policy.allow_methods.clone(),
        };
        let allow_headers = match policy.any_header && !policy.wildcard_literal() {
            true => preflight.headers.clone(),
            false => policy.allow_headers.clone(),
        };
        for (name, value) in [
            (header::ACCESS_CONTROL_ALLOW_METHODS, methods),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers),
            (header::ACCESS_CONTROL_MAX_AGE, policy.max_age.clone()),
        ] {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
        Some(response)
    }

    /// Sets the CORS headers of an answer of the API, replacing the backend's.
    pub fn decorate(&self, headers: &mut HeaderMap) {
        if self.preflight.is_none() {
            for name in BACKEND_CORS {
                headers.remove(name);
            }
            if let (Some(_), Some(expose)) = (&self.allow_origin, &self.policy.expose_headers) {
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
            }
        }
        if let Some(origin) = &self.allow_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            if self.policy.credentials {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
        // The answer depends on Origin whether or not this one was allowed: shared caches must
        // not hand one origin's answer to another.
        let varies = headers
            .get_all(header::VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case("origin") || v.trim() == "*");
        if !varies {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

const BACKEND_CORS: [header::HeaderName; 6] = [
    header::ACCESS_CONTROL_ALLOW_ORIGIN,
    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    header::ACCESS_CONTROL_EXPOSE_HEADERS,
    header::ACCESS_CONTROL_ALLOW_METHODS,
    header::ACCESS_CONTROL_ALLOW_HEADERS,
    header::ACCESS_CONTROL_MAX_AGE,
];

#[cfg(test)]
mod tests;
