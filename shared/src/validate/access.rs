//! Validation of access-control objects: keys, usage plans, throttles, quotas, authorizers,
//! resource policies and CORS.

use super::{METHODS, Result, check_id, err};
use crate::cidr::Cidr;
use crate::model::*;

const JWT_ALGORITHMS: [&str; 12] = [
    "RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384", "PS512", "EdDSA", "HS256",
    "HS384", "HS512",
];

impl ThrottleSettings {
    pub fn check(&self, object: &str, field: &str) -> Result {
        if !(self.rate_limit.is_finite() && self.rate_limit > 0.0) {
            return Err(err(object, format!("{field}.rate_limit"), "must be > 0"));
        }
        if self.burst_limit < 1 {
            return Err(err(object, format!("{field}.burst_limit"), "must be >= 1"));
        }
        Ok(())
    }
}

impl QuotaSettings {
    pub fn check(&self, object: &str, field: &str) -> Result {
        if self.limit < 1 {
            return Err(err(object, format!("{field}.limit"), "must be >= 1"));
        }
        let max_offset = match self.period {
            QuotaPeriod::Day => 23,
            QuotaPeriod::Week => 6,
            QuotaPeriod::Month => 27,
        };
        if self.offset > max_offset {
            return Err(err(
                object,
                format!("{field}.offset"),
                format!("must be 0-{max_offset} for {:?}", self.period),
            ));
        }
        Ok(())
    }
}

impl ApiKey {
    pub fn validate(&self) -> Result {
        let me = format!("api key {}", self.id);
        check_id(&me, "id", &self.id)?;
        if self.value_sha256.len() != 64
            || !self.value_sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(err(&me, "value_sha256", "must be 64 hex digits"));
        }
        Ok(())
    }
}

/// API keys given by callers (imported) must be long enough to be unguessable.
pub fn check_key_value(object: &str, value: &str) -> Result {
    if value.len() < 20 || value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err(
            object,
            "value",
            "must be 20-128 printable ASCII characters",
        ));
    }
    Ok(())
}

impl UsagePlan {
    pub fn validate(&self) -> Result {
        let me = format!("usage plan {}", self.id);
        check_id(&me, "id", &self.id)?;
        if self.name.trim().is_empty() {
            return Err(err(&me, "name", "must not be empty"));
        }
        if let Some(t) = &self.throttle {
            t.check(&me, "throttle")?;
        }
        if let Some(q) = &self.quota {
            q.check(&me, "quota")?;
        }
        for (i, stage) in self.api_stages.iter().enumerate() {
            let field = format!("api_stages[{i}]");
            check_id(&me, &format!("{field}.api_id"), &stage.api_id)?;
            if stage.stage.is_empty() {
                return Err(err(&me, format!("{field}.stage"), "must not be empty"));
            }
            for (key, throttle) in &stage.route_throttles {
                check_route_key(&me, &format!("{field}.route_throttles"), key)?;
                throttle.check(&me, &format!("{field}.route_throttles.{key}"))?;
            }
        }
        Ok(())
    }
}

/// `GET /pets/{id}` or `$default`.
pub fn check_route_key(object: &str, field: &str, key: &str) -> Result {
    if key == DEFAULT_ROUTE {
        return Ok(());
    }
    let ok = key
        .split_once(' ')
        .is_some_and(|(m, p)| METHODS.contains(&m) && crate::path::parse_template(p).is_ok());
    if ok {
        Ok(())
    } else {
        Err(err(
            object,
            format!("{field}.{key}"),
            "keys must be route keys such as 'GET /pets/{id}'",
        ))
    }
}

impl Stage {
    pub fn validate_throttles(&self) -> Result {
        let me = format!("stage {}", self.name);
        if let Some(t) = &self.throttle {
            t.check(&me, "throttle")?;
        }
        for (key, throttle) in &self.route_throttles {
            check_route_key(&me, "route_throttles", key)?;
            throttle.check(&me, &format!("route_throttles.{key}"))?;
        }
        Ok(())
    }
}

impl Authorizer {
    pub fn validate(&self) -> Result {
        let me = format!("authorizer {}/{}", self.api_id, self.id);
        check_id(&me, "id", &self.id)?;
        for source in &self.identity_source {
            let ok = [
                "$request.header.",
                "$request.querystring.",
                "$stageVariables.",
            ]
            .iter()
            .any(|p| source.strip_prefix(p).is_some_and(|n| !n.is_empty()))
                || source == "$context.sourceIp";
            if !ok {
                return Err(err(
                    &me,
                    "identity_source",
                    format!(
                        "'{source}' is not $request.header.N, $request.querystring.N, $stageVariables.N or $context.sourceIp"
                    ),
                ));
            }
        }
        match self.kind {
            AuthorizerType::Jwt => {
                let jwt = self
                    .jwt
                    .as_ref()
                    .ok_or_else(|| err(&me, "jwt", "is required for type jwt"))?;
                if self.identity_source.len() > 1
                    || self
                        .identity_source
                        .iter()
                        .any(|s| !s.starts_with("$request.header."))
                {
                    return Err(err(
                        &me,
                        "identity_source",
                        "a jwt authorizer reads one header",
                    ));
                }
                jwt.check(&me)
            }
            AuthorizerType::Token | AuthorizerType::Request => {
                let uri = self
                    .uri
                    .as_deref()
                    .ok_or_else(|| err(&me, "uri", "is required for custom authorizers"))?;
                if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                    return Err(err(&me, "uri", "must start with http:// or https://"));
                }
                if self.kind == AuthorizerType::Token
                    && (self.identity_source.len() > 1
                        || self
                            .identity_source
                            .iter()
                            .any(|s| !s.starts_with("$request.header.")))
                {
                    return Err(err(
                        &me,
                        "identity_source",
                        "a token authorizer reads one header",
                    ));
                }
                if self.result_ttl_seconds > 3600 {
                    return Err(err(&me, "result_ttl_seconds", "must be at most 3600"));
                }
                if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
                    return Err(err(
                        &me,
                        "timeout_ms",
                        format!("must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
                    ));
                }
                Ok(())
            }
        }
    }
}

impl JwtSettings {
    fn check(&self, me: &str) -> Result {
        if self.issuer.trim().is_empty() {
            return Err(err(me, "jwt.issuer", "must not be empty"));
        }
        if self.algorithms.is_empty() {
            return Err(err(
                me,
                "jwt.algorithms",
                "must name at least one algorithm",
            ));
        }
        for alg in &self.algorithms {
            if !JWT_ALGORITHMS.contains(&alg.as_str()) {
                return Err(err(
                    me,
                    "jwt.algorithms",
                    format!("'{alg}' is not one of {}", JWT_ALGORITHMS.join(", ")),
                ));
            }
        }
        let hmac = self.algorithms.iter().any(|a| a.starts_with("HS"));
        let asymmetric = self.algorithms.iter().any(|a| !a.starts_with("HS"));
        if hmac && asymmetric {
            // Mixing them is how key-confusion attacks work.
            return Err(err(
                me,
                "jwt.algorithms",
                "HMAC and public-key algorithms cannot be mixed",
            ));
        }
        if hmac && self.hmac_secret.as_deref().is_none_or(|s| s.len() < 32) {
            return Err(err(
                me,
                "jwt.hmac_secret",
                "HS algorithms need a shared secret of at least 32 bytes",
            ));
        }
        if asymmetric && self.jwks_uri.is_some() == self.jwks.is_some() {
            return Err(err(
                me,
                "jwt.jwks_uri",
                "public-key algorithms need exactly one of jwks_uri or jwks",
            ));
        }
        if let Some(uri) = &self.jwks_uri
            && !(uri.starts_with("https://") || uri.starts_with("http://"))
        {
            return Err(err(
                me,
                "jwt.jwks_uri",
                "must start with https:// or http://",
            ));
        }
        Ok(())
    }
}

impl ResourcePolicy {
    pub fn check(&self, object: &str) -> Result {
        for (field, list) in [
            ("policy.allow_cidrs", &self.allow_cidrs),
            ("policy.deny_cidrs", &self.deny_cidrs),
        ] {
            for cidr in list {
                cidr.parse::<Cidr>().map_err(|m| err(object, field, m))?;
            }
        }
        Ok(())
    }
}

impl Cors {
    pub fn check(&self, object: &str) -> Result {
        for origin in &self.allow_origins {
            // Browsers send `scheme://host[:port]`, never a path or a trailing slash.
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            let ok = origin == "*"
                || authority.is_some_and(|a| {
                    !a.is_empty() && a.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
                });
            if !ok || origin.matches('*').count() > 1 {
                return Err(err(
                    object,
                    "cors.allow_origins",
                    format!(
                        "'{origin}' must be '*' or a scheme://host[:port] with at most one '*'"
                    ),
                ));
            }
        }
        for (field, list) in [
            ("cors.allow_headers", &self.allow_headers),
            ("cors.expose_headers", &self.expose_headers),
        ] {
            if let Some(bad) = list.iter().find(|h| !is_token(h)) {
                return Err(err(
                    object,
                    field,
                    format!("'{bad}' is not a header name (or '*')"),
                ));
            }
        }
        for method in &self.allow_methods {
            if method != "*" && !METHODS[..7].contains(&method.as_str()) {
                return Err(err(
                    object,
                    "cors.allow_methods",
                    format!("'{method}' is not an HTTP method"),
                ));
            }
        }
        if self.allow_credentials && self.allow_origins.iter().any(|o| o == "*") {
            return Err(err(
                object,
                "cors.allow_credentials",
                "browsers refuse credentials with the origin '*'; list the origins",
            ));
        }
        if self.max_age_seconds.is_some_and(|a| a > 86_400) {
            return Err(err(object, "cors.max_age_seconds", "must be at most 86400"));
        }
        Ok(())
    }
}

/// An HTTP token (RFC 9110 §5.6.2): header names, and `*`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
