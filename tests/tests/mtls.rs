//! mTLS on custom domains: a domain with a truststore requires a client certificate chaining to
//! it at the handshake; other names on the same listener do not. The certificate's fields reach
//! the integration through parameter mapping (`context.identity.clientCert.*`).

use edgeway_tests::certs::{client_config, client_config_with_cert};
use edgeway_tests::client::BoxError;
use edgeway_tests::{Backend, Conn, Leaf, Reply, TestCa, TestNode, get};
use http::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];
const SECURE: &str = "secure.example.test";
const OPEN: &str = "open.example.test";
/// mTLS without a certificate of its own: the listener's default is served.
const BARE: &str = "bare.example.test";

struct Setup {
    server_ca: TestCa,
    clients: TestCa,
    rogue: TestCa,
    default: Leaf,
    node: TestNode,
    backend: Backend,
}

fn domain(name: &str, leaf: Option<&Leaf>, truststore: Option<&TestCa>) -> Value {
    json!({
        "name": name,
        "certificate_pem": leaf.map(|l| l.cert_pem.clone()),
        "private_key_pem": leaf.map(|l| l.key_pem.clone()),
        "truststore_pem": truststore.map(|ca| ca.cert_pem.clone()),
        "mappings": [{ "base_path": "", "api_id": "who", "stage": "prod" }],
    })
}

/// An API whose `GET /whoami` maps the client certificate's fields to backend headers.
fn whoami(backend: &Backend) -> Value {
    let field = |f: &str| format!("context.identity.clientCert.{f}");
    json!({
        "api": { "id": "who", "name": "who", "kind": "rest" },
        "integrations": [{
            "id": "whoami", "type": "http", "uri": backend.url("/whoami"),
            "request_parameters": {
                "integration.request.header.x-client-subject": field("subjectDN"),
                "integration.request.header.x-client-issuer": field("issuerDN"),
                "integration.request.header.x-client-serial": field("serialNumber"),
                "integration.request.header.x-client-not-before": field("validity.notBefore"),
                "integration.request.header.x-client-not-after": field("validity.notAfter"),
            },
        }],
        "routes": [{ "method": "GET", "path": "/whoami", "integration_id": "whoami" }],
        "stages": [{ "name": "prod" }],
        "deploy_to": ["prod"],
    })
}

async fn setup() -> Setup {
    let server_ca = TestCa::new("edgeway server CA");
    let clients = TestCa::new("edgeway client CA");
    let rogue = TestCa::new("rogue client CA");
    let default = server_ca.leaf(&["localhost", BARE]);
    let node = TestNode::start_with(|config, dir| {
        let (cert, key) = default.write(dir, "default");
        config.public.tls = Some(edgeway::config::TlsFiles { cert, key });
    })
    .await;
    let backend = Backend::start("whoami").await;
    node.admin.apply(&whoami(&backend)).await;
    for d in [
        domain(SECURE, Some(&server_ca.leaf(&[SECURE])), Some(&clients)),
        domain(OPEN, Some(&server_ca.leaf(&[OPEN])), None),
        domain(BARE, None, Some(&clients)),
    ] {
        let (status, body) = node.admin.post("/domains", &d).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    Setup {
        server_ca,
        clients,
        rogue,
        default,
        node,
        backend,
    }
}

impl Setup {
    fn as_client(&self, cert: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
        match cert {
            Some(cert) => client_config_with_cert(self.server_ca.roots(), &ALPN, cert),
            None => client_config(self.server_ca.roots(), &ALPN),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.node.public_addr()
    }
}

/// A new connection to `sni` and one `GET host/whoami` on it. With TLS 1.3 a refused client
/// certificate may surface at the first request rather than at connect, so both count.
async fn whoami_on(
    addr: SocketAddr,
    sni: &str,
    config: Arc<rustls::ClientConfig>,
    host: &str,
) -> Result<(Conn, Reply), BoxError> {
    let (mut conn, _) = Conn::open_tls(addr, sni, config).await?;
    let response = conn.send(get(host, "/whoami")).await?;
    Ok((conn, Reply::read(response).await))
}

async fn refused(addr: SocketAddr, sni: &str, config: Arc<rustls::ClientConfig>) {
    if let Ok((_, reply)) = whoami_on(addr, sni, config, sni).await {
        panic!("{sni}: served without a valid client certificate: {reply:?}");
    }
}

/// `PUT /domains/{name}`, which must succeed.
async fn put_domain(node: &TestNode, d: Value) {
    let path = format!("/domains/{}", d["name"].as_str().unwrap());
    let (status, body) = node.admin.put(&path, &d).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_the_domains_ca_is_accepted_and_its_fields_reach_the_backend() {
    let s = setup().await;
    let alice = s.clients.client_leaf("alice", "Example Clients");
    let (_, reply) = whoami_on(s.addr(), SECURE, s.as_client(Some(&alice)), SECURE)
        .await
        .expect("mTLS with a trusted client certificate");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let headers = &reply.json()["headers"];
    assert_eq!(headers["x-client-subject"], "CN=alice, O=Example Clients");
    assert_eq!(headers["x-client-issuer"], "CN=edgeway client CA");
    let serial = headers["x-client-serial"].as_str().unwrap();
    assert!(
        serial
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit())),
        "{serial}"
    );
    for validity in ["x-client-not-before", "x-client-not-after"] {
        let text = headers[validity].as_str().unwrap();
        assert!(
            text.ends_with(" GMT") && text.len() > 20,
            "{validity}: {text}"
        );
    }

    // The same listener serves names without a truststore to clients without certificates,
    // and their requests see no certificate.
    for (sni, host, path) in [
        (OPEN, OPEN, "/whoami"),
        ("localhost", "who.execute-api.localhost", "/prod/whoami"),
    ] {
        let (mut conn, _) = Conn::open_tls(s.addr(), sni, s.as_client(None))
            .await
            .unwrap();
        let reply = conn.fetch(get(host, path)).await;
        assert_eq!(reply.status, 200, "{sni}: {}", reply.text());
        assert!(reply.json()["headers"].get("x-client-subject").is_none());
    }
    assert_eq!(s.backend.hits(), 3);
    s.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_without_a_valid_client_certificate_are_refused() {
    let s = setup().await;
    let addr = s.addr();
    let rogue = s.rogue.client_leaf("mallory", "Rogue");
    // A certificate from the right CA but for servers only (no clientAuth usage).
    let server_only = s.clients.leaf(&["alice.example.test"]);
    for sni in [SECURE, BARE] {
        refused(addr, sni, s.as_client(None)).await;
        refused(addr, sni, s.as_client(Some(&rogue))).await;
        refused(addr, sni, s.as_client(Some(&server_only))).await;
    }
    // A domain without its own certificate presents the listener's default.
    let alice = s.clients.client_leaf("alice", "Example Clients");
    let (_, tls) = Conn::open_tls(addr, BARE, s.as_client(Some(&alice)))
        .await
        .unwrap();
    assert_eq!(tls.peer_cert, s.default.cert_der);
    let (_, reply) = whoami_on(addr, BARE, s.as_client(Some(&alice)), BARE)
        .await
        .unwrap();
    assert_eq!(
        reply.json()["headers"]["x-client-subject"],
        "CN=alice, O=Example Clients"
    );
    assert_eq!(s.backend.hits(), 1, "only the verified client got through");
    s.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mtls_host_is_not_served_on_connections_made_for_other_names() {
    let s = setup().await;
    let alice = s.clients.client_leaf("alice", "Example Clients");
    // SNI `open` (no certificate asked) but Host `secure`: 421, so clients reconnect properly.
    for sni in [OPEN, "localhost"] {
        let (mut conn, _) = Conn::open_tls(s.addr(), sni, s.as_client(None))
            .await
            .unwrap();
        let reply = conn.fetch(get(SECURE, "/whoami")).await;
        assert_eq!(reply.status, 421, "{sni}: {}", reply.text());
        assert_eq!(reply.error_type(), Some("ACCESS_DENIED"));
    }
    // A certificate verified for `bare` does not open `secure`, though the CA is the same.
    let (mut conn, _) = Conn::open_tls(s.addr(), BARE, s.as_client(Some(&alice)))
        .await
        .unwrap();
    assert_eq!(conn.fetch(get(SECURE, "/whoami")).await.status, 421);
    assert_eq!(s.backend.hits(), 0);
    s.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truststore_changes_apply_without_a_restart() {
    let s = setup().await;
    let addr = s.addr();
    let alice = s.clients.client_leaf("alice", "Example Clients");
    let mallory = s.rogue.client_leaf("mallory", "Rogue");
    let (mut old, reply) = whoami_on(addr, SECURE, s.as_client(Some(&alice)), SECURE)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);

    // Trust the other CA instead: new handshakes follow, and the open connection, verified
    // under the old truststore, no longer counts.
    let secure_leaf = s.server_ca.leaf(&[SECURE]);
    put_domain(&s.node, domain(SECURE, Some(&secure_leaf), Some(&s.rogue))).await;
    assert_eq!(old.fetch(get(SECURE, "/whoami")).await.status, 421);
    refused(addr, SECURE, s.as_client(Some(&alice))).await;
    let (_, reply) = whoami_on(addr, SECURE, s.as_client(Some(&mallory)), SECURE)
        .await
        .unwrap();
    assert_eq!(
        reply.json()["headers"]["x-client-subject"],
        "CN=mallory, O=Rogue"
    );

    // A domain that gains a truststore refuses clients without certificates from then on.
    let open_leaf = s.server_ca.leaf(&[OPEN]);
    let (mut plain, _) = Conn::open_tls(addr, OPEN, s.as_client(None)).await.unwrap();
    put_domain(&s.node, domain(OPEN, Some(&open_leaf), Some(&s.clients))).await;
    assert_eq!(plain.fetch(get(OPEN, "/whoami")).await.status, 421);
    refused(addr, OPEN, s.as_client(None)).await;

    // Without its truststore, the domain serves everyone again.
    put_domain(&s.node, domain(SECURE, Some(&secure_leaf), None)).await;
    let (_, reply) = whoami_on(addr, SECURE, s.as_client(None), SECURE)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    s.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truststores_and_client_certificate_mappings_are_validated() {
    let node = TestNode::start().await;
    let bad = json!({ "name": "x.example.test", "truststore_pem": "not a certificate" });
    let (status, body) = node.admin.post("/domains", &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("truststore_pem"), "{body}");

    let backend = Backend::start("unused").await;
    let mut doc = whoami(&backend);
    doc["integrations"][0]["request_parameters"] =
        json!({ "integration.request.header.x-pem": "context.identity.clientCert.clientCertPem" });
    let (status, body) = node.admin.put("/apis/who/document", &doc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string()
            .contains("request_parameters.integration.request.header.x-pem"),
        "{body}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_authorizers_see_the_client_certificate() {
    use edgeway_tests::auth::Stub;
    let s = setup().await;
    let authorizer = Stub::serving(json!({ "isAuthorized": true })).await;
    let mut doc = whoami(&s.backend);
    doc["authorizers"] = json!([{
        "id": "gate", "type": "request", "uri": authorizer.url("/authorize"),
        "identity_source": ["$context.sourceIp"], "result_ttl_seconds": 0,
    }]);
    doc["routes"][0]["authorizer_id"] = json!("gate");
    s.node.admin.apply(&doc).await;

    let alice = s.clients.client_leaf("alice", "Example Clients");
    let (_, reply) = whoami_on(s.addr(), SECURE, s.as_client(Some(&alice)), SECURE)
        .await
        .expect("mTLS with a trusted client certificate");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = authorizer.received();
    assert_eq!(events.len(), 1, "{events:?}");
    let cert = &events[0]["requestContext"]["identity"]["clientCert"];
    assert_eq!(
        cert["subjectDN"], "CN=alice, O=Example Clients",
        "{}",
        events[0]
    );
    assert_eq!(cert["issuerDN"], "CN=edgeway client CA");
    assert!(
        cert["validity"]["notAfter"]
            .as_str()
            .is_some_and(|t| t.ends_with(" GMT"))
    );
    s.node.shutdown().await;
}
