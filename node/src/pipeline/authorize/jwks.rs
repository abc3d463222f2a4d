//! A JWT authorizer's public keys: an inline JWKS document, or one fetched from `jwks_uri` with
//! the node's pooled client. Fetched keys are cached; an unknown `kid` refreshes them at most every
//! `jwks_min_refresh_seconds`, and a failed refresh keeps the keys already known
//! (stale-while-error), so an identity provider's outage does not lock every caller out.

use crate::body;
use crate::pipeline::integrate::Clients;
use arc_swap::ArcSwap;
use edgeway_shared::BackendProtocol;
use http_body_util::{BodyExt, Limited};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Fetched keys are refreshed in the background once this old, so revoked keys go away.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// With no keys at all, a failed fetch is retried at least this often.
const EMPTY_RETRY: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT: usize = 512 * 1024;

pub struct Key {
    kid: Option<String>,
    /// The JWK's own `alg`, which then must be the token's.
    alg: Option<Algorithm>,
    pub key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    keys: Vec<Arc<Key>>,
    fetched: Option<Instant>,
    /// SHA-256 of the document the keys came from.
    digest: [u8; 32],
    /// Bumped whenever the keys change (not on a refetch of the same document), so results
    /// verified with older keys can be told apart.
    generation: u64,
}

/// Where fetched keys come from (none for an inline document).
struct Remote {
    uri: http::Uri,
    clients: Clients,
}

pub struct Jwks {
    remote: Option<Remote>,
    min_refresh: Duration,
    set: ArcSwap<KeySet>,
    /// Fetch attempts so far; waiters compare it to learn that someone else just fetched.
    attempts: AtomicU64,
    /// Held while fetching; holds when the last attempt started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    pub fn inline(document: &str) -> Result<Jwks, String> {
        let keys = parse(document.as_bytes()).map_err(|e| format!("jwt.jwks: {e}"))?;
        if keys.is_empty() {
            return Err("jwt.jwks: holds no usable signing key".into());
        }
        Ok(Jwks::new(None, keys, Duration::ZERO))
    }

    pub fn remote(uri: &str, clients: Clients, min_refresh: Duration) -> Result<Jwks, String> {
        let uri: http::Uri = uri
            .parse()
            .map_err(|e| format!("jwt.jwks_uri '{uri}': {e}"))?;
        Ok(Jwks::new(
            Some(Remote { uri, clients }),
            vec![],
            min_refresh,
        ))
    }

    fn new(remote: Option<Remote>, keys: Vec<Arc<Key>>, min_refresh: Duration) -> Jwks {
        Jwks {
            remote,
            min_refresh,
            set: ArcSwap::from_pointee(KeySet {
                keys,
                ..KeySet::default()
            }),
            attempts: AtomicU64::new(0),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    /// The keys that may have signed a token with this `kid` and `alg`. Empty when there are
    /// none even after the refresh the rules allow.
    pub async fn candidates(self: &Arc<Self>, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<Key>> {
        let set = self.set.load_full();
        let found = matching(&set, kid, alg);
        if self.remote.is_none() {
            return found;
        }
        if !found.is_empty() {
            if set.fetched.is_some_and(|t| t.elapsed() > MAX_AGE) {
                let this = self.clone();
                let seen = self.attempts.load(Ordering::Acquire);
                tokio::spawn(async move { this.refresh(seen).await });
            }
            return found;
        }
        self.refresh(self.attempts.load(Ordering::Acquire)).await;
        matching(&self.set.load(), kid, alg)
    }

    /// Fetches the document unless another caller did since `seen`, or the last attempt was too
    /// recent. On failure the old keys stay.
    async fn refresh(&self, seen: u64) {
        let Some(Remote { uri, clients }) = &self.remote else {
            return;
        };
        let mut last = self.fetching.lock().await;
        if self.attempts.load(Ordering::Acquire) != seen {
            return;
        }
        let pause = if self.set.load().keys.is_empty() {
            self.min_refresh.min(EMPTY_RETRY)
        } else {
            self.min_refresh
        };
        if last.is_some_and(|t| t.elapsed() < pause) {
            return;
        }
        *last = Some(Instant::now());
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match fetch(uri, clients).await {
            Ok((keys, digest)) => {
                tracing::debug!(%uri, keys = keys.len(), "JWKS fetched");
                let old = self.set.load();
                let changed = old.digest != digest;
                self.set.store(Arc::new(KeySet {
                    keys,
                    fetched: Some(Instant::now()),
                    digest,
                    generation: old.generation + u64::from(changed),
                }));
            }
            Err(e) => tracing::warn!(%uri, error = %e, "JWKS fetch failed; keeping known keys"),
        }
    }

    /// Changes whenever the known keys change.
    pub fn generation(&self) -> u64 {
        self.set.load().generation
    }

    /// Whether any key is known (so a failure to find one is the token's fault).
    pub fn has_keys(&self) -> bool {
        !self.set.load().keys.is_empty()
    }
}

fn matching(set: &KeySet, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<Key>> {
    set.keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .filter(|k| k.key.family() == alg.family() && k.alg.is_none_or(|a| a == alg))
        .cloned()
        .collect()
}

async fn fetch(uri: &http::Uri, clients: &Clients) -> Result<(Vec<Arc<Key>>, [u8; 32]), String> {
    let mut request = http::Request::new(body::empty());
    *request.uri_mut() = uri.clone();
    request.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    let client = clients.get(BackendProtocol::Auto);
    let response = tokio::time::timeout(FETCH_TIMEOUT, client.request(request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let document = tokio::time::timeout(
        FETCH_TIMEOUT,
        Limited::new(response.into_body(), MAX_DOCUMENT).collect(),
    )
    .await
    .map_err(|_| "body timed out".to_string())?
    .map_err(|e| format!("body: {e}"))?
    .to_bytes();
    Ok((parse(&document)?, Sha256::digest(&document).into()))
}

/// The signing keys of a JWKS document. Keys this gateway cannot use (encryption keys,
/// symmetric `oct` keys, unknown types) are skipped rather than failing the whole set.
fn parse(document: &[u8]) -> Result<Vec<Arc<Key>>, String> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(document).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = Vec::new();
    for value in document.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        // A symmetric key published in a JWKS would let anyone who reads it sign tokens.
        let usable = !matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
            && jwk
                .common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == PublicKeyUse::Signature);
        if !usable {
            continue;
        }
        let alg = match jwk.common.key_algorithm.map(Algorithm::try_from) {
            Some(Ok(alg)) => Some(alg),
            Some(Err(_)) => continue,
            None => None,
        };
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            keys.push(Arc::new(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            }));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_JWK: &str = r#"{"kty":"RSA","kid":"r1","alg":"RS256","use":"sig","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}"#;

    #[test]
    fn signing_keys_are_kept_and_others_skipped() {
        let document = format!(
            r#"{{"keys":[{RSA_JWK},
            {{"kty":"oct","kid":"h","k":"c2VjcmV0"}},
            {{"kty":"RSA","kid":"enc","use":"enc","n":"sXch","e":"AQAB"}},
            {{"kty":"XYZ","kid":"odd"}},
            {{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}]}}"#
        );
        let keys = parse(document.as_bytes()).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref().unwrap()).collect();
        assert_eq!(kids, ["r1", "e1"]);
        let set = KeySet {
            keys,
            ..KeySet::default()
        };
        assert_eq!(matching(&set, Some("r1"), Algorithm::RS256).len(), 1);
        assert!(
            matching(&set, Some("r1"), Algorithm::RS384).is_empty(),
            "the JWK pins RS256"
        );
        assert!(
            matching(&set, Some("r1"), Algorithm::ES256).is_empty(),
            "wrong family"
        );
        assert_eq!(matching(&set, None, Algorithm::ES256).len(), 1);
        assert!(parse(b"[]").is_err() && Jwks::inline(r#"{"keys":[]}"#).is_err());
    }
}
