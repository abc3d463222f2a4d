//! JWT authorizers, with AWS HTTP API semantics: the token comes from one header (`Bearer `
//! optional); its algorithm must be one the authorizer pins (never the token's choice alone:
//! `none` and unlisted algorithms fail); `exp` is required, `nbf` and `iat` are checked with the
//! leeway; the issuer must be equal and one audience must match; route scopes need one of the
//! token's `scope`/`scp` entries. A missing or invalid token is 401, a missing scope 403.

use super::jwks::Jwks;
use super::{Principal, RequestView, identity};
use crate::error::GatewayError;
use crate::pipeline::integrate::Clients;
use edgeway_shared::{Authorizer, ResponseType};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct JwtAuthorizer {
    source: identity::Source,
    algorithms: Vec<Algorithm>,
    keys: Keys,
    issuer: String,
    audiences: Vec<String>,
    leeway: u64,
    /// Tokens whose signature and claims passed, by SHA-256, with the key generation that
    /// verified them: an RSA check costs far more than the rest of a request, and a client
    /// sends one token many times. Only the expiry is checked again; new keys mean a new check.
    verified: moka::future::Cache<[u8; 32], (u64, Claims)>,
}

type Claims = Arc<Map<String, Value>>;

const VERIFIED_TTL: Duration = Duration::from_secs(60);
const VERIFIED_CAPACITY: u64 = 100_000;

enum Keys {
    Hmac(DecodingKey),
    Jwks(Arc<Jwks>),
}

/// Why a token was refused; logged, never shown to the caller.
enum Refusal {
    Malformed(String),
    Algorithm(String),
    UnknownKey,
    Claims(ErrorKind),
    IssuedInFuture,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(e) => write!(f, "malformed: {e}"),
            Refusal::Algorithm(alg) => write!(f, "algorithm {alg} is not allowed"),
            Refusal::UnknownKey => f.write_str("no key matches its kid and algorithm"),
            Refusal::Claims(kind) => write!(f, "{kind:?}"),
            Refusal::IssuedInFuture => f.write_str("issued in the future"),
        }
    }
}

impl JwtAuthorizer {
    pub fn new(authorizer: &Authorizer, clients: &Clients) -> Result<JwtAuthorizer, String> {
        let settings = authorizer.jwt.as_ref().ok_or("jwt settings are missing")?;
        let source =
            identity::compile(&authorizer.identity_source, Some(identity::DEFAULT_SOURCE))?
                .into_iter()
                .next()
                .ok_or("no identity source")?;
        let algorithms = settings
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| format!("jwt.algorithms: '{a}'"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = match (&settings.hmac_secret, &settings.jwks, &settings.jwks_uri) {
            (Some(secret), _, _) if algorithms.iter().all(is_hmac) => {
                Keys::Hmac(DecodingKey::from_secret(secret.as_bytes()))
            }
            (_, Some(document), _) => Keys::Jwks(Arc::new(Jwks::inline(document)?)),
            (_, None, Some(uri)) => Keys::Jwks(Arc::new(Jwks::remote(
                uri,
                clients.clone(),
                Duration::from_secs(settings.jwks_min_refresh_seconds),
            )?)),
            _ => return Err("jwt: no key source (hmac_secret, jwks or jwks_uri)".into()),
        };
        Ok(JwtAuthorizer {
            source,
            // Validation forbids mixing HMAC with public keys; enforce it here too, so a
            // public key can never be used as an HMAC secret (key confusion).
            algorithms: match keys {
                Keys::Hmac(_) => algorithms.into_iter().filter(is_hmac).collect(),
                Keys::Jwks(_) => algorithms.into_iter().filter(|a| !is_hmac(a)).collect(),
            },
            keys,
            issuer: settings.issuer.clone(),
            audiences: settings.audiences.clone(),
            leeway: settings.leeway_seconds,
            verified: moka::future::Cache::builder()
                .max_capacity(VERIFIED_CAPACITY)
                .time_to_live(VERIFIED_TTL)
                .build(),
        })
    }

    pub async fn authorize(
        &self,
        request: &RequestView<'_>,
        scopes: &[String],
        variables: &BTreeMap<String, String>,
        principal: &mut Principal,
    ) -> Result<(), GatewayError> {
        let unauthorized = || GatewayError::client(ResponseType::Unauthorized, "Unauthorized");
        let value = self
            .source
            .value(request, variables)
            .ok_or_else(unauthorized)?;
        let token = strip_bearer(&value);
        let claims = match self.checked(token).await {
            Ok(claims) => claims,
            Err(Refusal::UnknownKey) if !self.has_keys() => {
                return Err(GatewayError::new(
                    ResponseType::AuthorizerFailure,
                    crate::error::ErrorSource::Integration,
                    "Authorizer keys unavailable",
                ));
            }
            Err(refusal) => {
                tracing::debug!(%refusal, "JWT refused");
                return Err(unauthorized());
            }
        };
        if !scopes.is_empty() && !has_scope(&claims, scopes) {
            return Err(GatewayError::client(
                ResponseType::AccessDenied,
                "Forbidden",
            ));
        }
        principal.principal_id = claims.get("sub").and_then(Value::as_str).map(Into::into);
        principal.claims = Some(claims);
        Ok(())
    }

    /// The claims of a token verified before (if it has not expired since), else [`Self::verify`].
    async fn checked(&self, token: &str) -> Result<Claims, Refusal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let generation = self.key_generation();
        if let Some((seen, claims)) = self.verified.get(&digest).await
            && seen == generation
        {
            let exp = claims.get("exp").and_then(Value::as_f64).unwrap_or(0.0);
            if exp + self.leeway as f64 >= now() as f64 {
                return Ok(claims);
            }
            self.verified.invalidate(&digest).await;
            return Err(Refusal::Claims(ErrorKind::ExpiredSignature));
        }
        let claims = Arc::new(self.verify(token).await?);
        // The generation from before the check: keys fetched during it only make us check again.
        self.verified
            .insert(digest, (generation, claims.clone()))
            .await;
        Ok(claims)
    }

    fn key_generation(&self) -> u64 {
        match &self.keys {
            Keys::Hmac(_) => 0,
            Keys::Jwks(jwks) => jwks.generation(),
        }
    }

    fn has_keys(&self) -> bool {
        match &self.keys {
            Keys::Hmac(_) => true,
            Keys::Jwks(jwks) => jwks.has_keys(),
        }
    }

    async fn verify(&self, token: &str) -> Result<Map<String, Value>, Refusal> {
        // The header only chooses among the pinned algorithms; `none` does not even parse.
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(Refusal::Algorithm(format!("{:?}", header.alg)));
        }
        let validation = self.validation(header.alg);
        let mut last = Refusal::UnknownKey;
        let verdict = |key: &DecodingKey| {
            jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
                .map(|data| data.claims)
                .map_err(|e| Refusal::Claims(e.into_kind()))
        };
        let claims = match &self.keys {
            Keys::Hmac(key) => verdict(key)?,
            Keys::Jwks(jwks) => {
                let mut found = None;
                // Without a `kid`, every key of the algorithm's family is tried.
                for key in jwks.candidates(header.kid.as_deref(), header.alg).await {
                    match verdict(&key.key) {
                        Ok(claims) => {
                            found = Some(claims);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                found.ok_or(last)?
            }
        };
        let now = now();
        if claims
            .get("iat")
            .and_then(Value::as_f64)
            .is_some_and(|iat| iat > (now + self.leeway) as f64)
        {
            return Err(Refusal::IssuedInFuture);
        }
        Ok(claims)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        // jsonwebtoken checks `iss` and `aud` only when present; AWS requires them.
        validation.set_issuer(&[&self.issuer]);
        let mut required = vec!["exp", "iss"];
        if self.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn is_hmac(alg: &Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim_start(),
        _ => value,
    }
}

/// `scope` (space-separated string) or `scp` (array or string) holds one of `wanted`.
fn has_scope(claims: &Map<String, Value>, wanted: &[String]) -> bool {
    let mut granted: Vec<&str> = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => granted.extend(s.split_whitespace()),
            Some(Value::Array(items)) => granted.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    wanted.iter().any(|w| granted.contains(&w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bearer_prefix_is_optional_and_case_blind() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        assert_eq!(strip_bearer("Bear"), "Bear");
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let wanted = ["orders:read".to_string()];
        let claims = |v: Value| v.as_object().unwrap().clone();
        assert!(has_scope(
            &claims(json!({"scope": "a orders:read"})),
            &wanted
        ));
        assert!(has_scope(&claims(json!({"scp": ["orders:read"]})), &wanted));
        assert!(!has_scope(
            &claims(json!({"scope": "orders:readx"})),
            &wanted
        ));
        assert!(!has_scope(&claims(json!({})), &wanted));
    }

    #[tokio::test]
    async fn verified_tokens_are_remembered_until_they_expire() {
        let settings = Authorizer {
            id: "hs".into(),
            api_id: "api".into(),
            name: String::new(),
            kind: edgeway_shared::AuthorizerType::Jwt,
            identity_source: vec![],
            jwt: Some(edgeway_shared::JwtSettings {
                issuer: "https://iss".into(),
                audiences: vec![],
                jwks_uri: None,
                jwks: None,
                algorithms: vec!["HS256".into()],
                hmac_secret: Some("s".repeat(32)),
                leeway_seconds: 0,
                jwks_min_refresh_seconds: 30,
            }),
            uri: None,
            result_ttl_seconds: 0,
            timeout_ms: 1000,
        };
        let clients = Clients::new(&crate::config::Backends::default()).unwrap();
        let jwt = JwtAuthorizer::new(&settings, &clients).unwrap();
        // Entries stand for verified tokens: no signature is checked for them.
        let remembered = |exp: u64| {
            let claims = json!({"iss": "https://iss", "exp": exp});
            Arc::new(claims.as_object().unwrap().clone())
        };
        let digest = |t: &str| -> [u8; 32] { Sha256::digest(t.as_bytes()).into() };
        jwt.verified
            .insert(digest("fresh"), (0, remembered(now() + 60)))
            .await;
        jwt.verified
            .insert(digest("stale"), (0, remembered(now() - 1)))
            .await;
        jwt.verified
            .insert(digest("old keys"), (7, remembered(now() + 60)))
            .await;
        assert!(jwt.checked("fresh").await.is_ok());
        assert!(matches!(
            jwt.checked("stale").await,
            Err(Refusal::Claims(ErrorKind::ExpiredSignature))
        ));
        assert!(jwt.verified.get(&digest("stale")).await.is_none());
        assert!(
            jwt.checked("unknown").await.is_err(),
            "not remembered: verified"
        );
        assert!(
            jwt.checked("old keys").await.is_err(),
            "verified with other keys: verified again"
        );
    }
}
