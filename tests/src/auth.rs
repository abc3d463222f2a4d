//! Test kit for authorization: signing keys made at run time (RSA, EC, Ed25519) with their JWKs,
//! tokens, and a programmable JSON server that counts its calls (a JWKS endpoint or a custom
//! authorizer).

use crate::client::{Body, full};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A private key, the algorithm it signs with, and its public JWK (with `kid` and `alg`).
pub struct SigningKey {
    pub alg: Algorithm,
    pub kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

/// RSA key generation is slow; a test binary makes two keys at most and shares them.
fn rsa_pem(which: usize) -> &'static (String, String) {
    static KEYS: [OnceLock<(String, String)>; 2] = [OnceLock::new(), OnceLock::new()];
    KEYS[which].get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
        let private = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM");
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public PEM");
        (private.to_string(), public)
    })
}

impl SigningKey {
    /// An RSA key (RS* or PS*); `material` 0 or 1 picks one of two distinct RSA keys.
    pub fn rsa(alg: Algorithm, kid: &str, material: usize) -> SigningKey {
        let (private, _) = rsa_pem(material);
        SigningKey::new(alg, kid, EncodingKey::from_rsa_pem(private.as_bytes()))
    }

    /// The public PEM of RSA key `material` (what a key-confusion attack uses as HMAC secret).
    pub fn rsa_public_pem(material: usize) -> &'static str {
        &rsa_pem(material).1
    }

    /// An EC key: ES256 (P-256) or ES384 (P-384).
    pub fn ec(alg: Algorithm, kid: &str) -> SigningKey {
        let curve = match alg {
            Algorithm::ES384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            _ => &rcgen::PKCS_ECDSA_P256_SHA256,
        };
        let pair = rcgen::KeyPair::generate_for(curve).expect("EC key");
        SigningKey::new(
            alg,
            kid,
            EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()),
        )
    }

    pub fn ed25519(kid: &str) -> SigningKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519 key");
        let encoding = EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).expect("Ed key");
        // jsonwebtoken derives JWKs only from bare 32-byte keys; ring's PKCS#8 carries the
        // public key too, so the JWK is built from it directly.
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
            "x": base64url(pair.public_key_raw()),
        });
        SigningKey {
            alg: Algorithm::EdDSA,
            kid: kid.to_string(),
            encoding,
            jwk,
        }
    }

    /// A shared secret for HS256/384/512 (no JWK: secrets are never published).
    pub fn hmac(alg: Algorithm, secret: &str) -> SigningKey {
        SigningKey {
            alg,
            kid: String::new(),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            jwk: Value::Null,
        }
    }

    fn new(
        alg: Algorithm,
        kid: &str,
        encoding: jsonwebtoken::errors::Result<EncodingKey>,
    ) -> SigningKey {
        let encoding = encoding.expect("PEM makes a key");
        let jwk = Jwk::from_encoding_key(&encoding, alg).expect("JWK from key");
        let mut jwk = serde_json::to_value(jwk).expect("JWK as JSON");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        SigningKey {
            alg,
            kid: kid.to_string(),
            encoding,
            jwk,
        }
    }

    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// A token with this key's `alg` and `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        if !self.kid.is_empty() {
            header.kid = Some(self.kid.clone());
        }
        self.sign_with(header, claims)
    }

    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign token")
    }
}

/// Base64url without padding, as JWTs and JWKs use.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// `{"keys": [...]}` of these keys' JWKs.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk().clone()).collect::<Vec<_>>() })
}

/// What the stub answers.
#[derive(Clone)]
pub struct StubReply {
    pub status: u16,
    pub body: Value,
    pub delay: Duration,
}

impl StubReply {
    pub fn json(body: Value) -> StubReply {
        StubReply {
            status: 200,
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> StubReply {
        StubReply {
            status,
            body: json!({ "error": "stub" }),
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> StubReply {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Value) -> StubReply + Send + Sync>;

struct StubState {
    hits: AtomicUsize,
    handler: Mutex<Handler>,
    /// JSON bodies received (`null` for none), in order.
    received: Mutex<Vec<Value>>,
}

/// An HTTP/1.1 + h2c server answering every request with what its handler says for the
/// request's JSON body.
pub struct Stub {
    pub addr: SocketAddr,
    state: Arc<StubState>,
    task: JoinHandle<()>,
}

impl Stub {
    pub async fn start(handler: impl Fn(&Value) -> StubReply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind stub");
        let addr = listener.local_addr().expect("stub address");
        let state = Arc::new(StubState {
            hits: AtomicUsize::new(0),
            handler: Mutex::new(Arc::new(handler)),
            received: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Stub { addr, state, task }
    }

    /// A stub that always answers `body` with 200.
    pub async fn serving(body: Value) -> Stub {
        Stub::start(move |_| StubReply::json(body.clone())).await
    }

    /// Replaces the handler (e.g. a rotated JWKS).
    pub fn set(&self, handler: impl Fn(&Value) -> StubReply + Send + Sync + 'static) {
        *self.state.handler.lock().expect("stub lock") = Arc::new(handler);
    }

    pub fn serve(&self, body: Value) {
        self.set(move |_| StubReply::json(body.clone()));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// The JSON bodies of the requests so far.
    pub fn received(&self) -> Vec<Value> {
        self.state.received.lock().expect("stub lock").clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<StubState>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let service = service_fn(move |request| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(&state, request).await) }
        });
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn handle(state: &StubState, request: Request<Incoming>) -> Response<Body> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    state.received.lock().expect("stub lock").push(body.clone());
    let handler = state.handler.lock().expect("stub lock").clone();
    let reply = handler(&body);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let text = match &reply.body {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    };
    let mut response = Response::new(full(text));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("valid stub status");
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// JWT test APIs: an HTTP API whose routes use a JWT authorizer, tokens' claims, and calls.
pub mod jwt {
    use super::now;
    use crate::client::{Proto, Reply, empty};
    use crate::{Backend, TestNode, api_host, doc, request};
    use http::Method;
    use serde_json::{Value, json};

    pub const ISSUER: &str = "https://issuer.example";
    pub const AUDIENCE: &str = "edgeway-tests";
    /// Every public-key algorithm Edgeway verifies.
    pub const ASYMMETRIC: [&str; 9] = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
    ];

    /// A JWT authorizer with these `jwt` settings.
    pub fn authorizer(id: &str, jwt: Value) -> Value {
        json!({ "id": id, "type": "jwt", "jwt": jwt })
    }

    /// JWT settings: keys from `uri`, every public-key algorithm, 5 s leeway.
    pub fn remote(uri: &str, issuer: &str, min_refresh: u64) -> Value {
        json!({
            "issuer": issuer,
            "audiences": [AUDIENCE],
            "jwks_uri": uri,
            "algorithms": ASYMMETRIC,
            "leeway_seconds": 5,
            "jwks_min_refresh_seconds": min_refresh,
        })
    }

    /// An HTTP API whose routes use `authorizer_id` (with `scopes` on `/scoped`), calling the echo
    /// backend with the token's claims mapped into headers.
    pub fn api(id: &str, backend: &Backend, authorizers: Vec<Value>, authorizer_id: &str) -> Value {
        let mut doc = doc::http(
            id,
            vec![json!({
                "id": "echo", "type": "http", "uri": backend.url("/echo"),
                "request_parameters": {
                    "integration.request.header.x-sub": "context.authorizer.claims.sub",
                    "integration.request.header.x-principal": "context.authorizer.principalId",
                    "integration.request.header.x-groups": "context.authorizer.claims.groups",
                },
            })],
            vec![
                json!({ "method": "GET", "path": "/who", "integration_id": "echo", "authorizer_id": authorizer_id }),
                json!({ "method": "GET", "path": "/scoped", "integration_id": "echo", "authorizer_id": authorizer_id,
                        "authorization_scopes": ["orders:read", "orders:admin"] }),
                doc::route("GET", "/open", "echo"),
            ],
        );
        doc["authorizers"] = json!(authorizers);
        doc
    }

    /// Valid claims for [`ISSUER`] and [`AUDIENCE`], expiring in 10 minutes.
    pub fn claims(sub: &str) -> Value {
        json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now(), "nbf": now() - 1, "exp": now() + 600 })
    }

    /// `claims` with `changes` applied; a `null` change removes the claim.
    pub fn with(mut claims: Value, changes: Value) -> Value {
        for (k, v) in changes.as_object().expect("object") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    /// `GET path` on `api` with this `Authorization` header (if any).
    pub async fn call(
        node: &TestNode,
        api: &str,
        path: &str,
        authorization: Option<&str>,
    ) -> Reply {
        let mut builder = request(Method::GET, &api_host(api), path);
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        node.send(Proto::Http1, builder.body(empty()).expect("request"))
            .await
    }

    /// `GET path` on `api` with `Authorization: Bearer {token}`.
    pub async fn bearer(node: &TestNode, api: &str, path: &str, token: &str) -> Reply {
        call(node, api, path, Some(&format!("Bearer {token}"))).await
    }
}
