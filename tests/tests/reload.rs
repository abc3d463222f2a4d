//! `Node::reload` (what SIGHUP calls; the binary's own test is `node/tests/process_reload.rs`):
//! the new default certificate reaches every handshake that uses it — TCP, HTTP/3, and mTLS
//! domains without a certificate of their own — while connections made before keep working;
//! new limits apply to the next request (body size, node-wide throttle) or the next connection
//! (header size), and a connection accepted before keeps its own.

use edgeway_tests::certs::client_config_with_cert;
use edgeway_tests::h3::H3Conn;
use edgeway_tests::{Conn, Leaf, Proto, TestCa, TestNode, api_host, doc, get};
use http::StatusCode;
use serde_json::json;

const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];
/// Requires client certificates and has no certificate of its own: the default is served.
const BARE: &str = "bare.example.test";

async fn put_api(node: &TestNode) {
    node.admin
        .apply(&doc::rest(
            "rl",
            "prod",
            vec![doc::mock("ok", 200, "ok")],
            vec![doc::route("GET", "/ok", "ok")],
        ))
        .await;
}

/// Rewrites the default certificate's files in place, as a rotation does.
fn rotate(node: &TestNode, leaf: &Leaf) {
    let files = node.config.public.tls.as_ref().expect("a TLS node");
    std::fs::write(&files.cert, &leaf.cert_pem).unwrap();
    std::fs::write(&files.key, &leaf.key_pem).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_default_certificate_reaches_tcp_http3_and_mtls_domains_old_connections_stay() {
    // Two unrelated CAs: a client trusting only one of them tells which certificate it got.
    let (ca_a, ca_b, clients) = (
        TestCa::new("reload CA A"),
        TestCa::new("reload CA B"),
        TestCa::new("reload client CA"),
    );
    let (leaf_a, leaf_b) = (
        ca_a.leaf(&["localhost", BARE]),
        ca_b.leaf(&["localhost", BARE]),
    );
    let node = TestNode::start_with(|config, dir| {
        let (cert, key) = leaf_a.write(dir, "default");
        config.public.tls = Some(edgeway::config::TlsFiles { cert, key });
        config.public.http3.enabled = true;
    })
    .await;
    put_api(&node).await;
    let bare = json!({ "name": BARE, "truststore_pem": clients.cert_pem,
                       "mappings": [{ "base_path": "", "api_id": "rl", "stage": "prod" }] });
    let (status, body) = node.admin.post("/domains", &bare).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let addr = node.public_addr();
    let host = api_host("rl");

    let (mut old_tcp, info) = Conn::open_tls_trusting(addr, "localhost", &ca_a)
        .await
        .unwrap();
    assert_eq!(info.peer_cert, leaf_a.cert_der);
    let mut old_h3 = H3Conn::connect(addr, "localhost", ca_a.roots())
        .await
        .unwrap();
    assert_eq!(old_h3.get(&host, "/prod/ok").await.status, 200);

    rotate(&node, &leaf_b);
    let reloaded = node.node().reload(node.config.clone()).await.unwrap();
    assert!(reloaded.restart_needed.is_empty(), "{reloaded:?}");

    // New handshakes: cert B on TCP and QUIC; a client trusting only A is refused.
    let (mut tcp, info) = Conn::open_tls_trusting(addr, "localhost", &ca_b)
        .await
        .unwrap();
    assert_eq!(info.peer_cert, leaf_b.cert_der);
    assert_eq!(tcp.fetch(get(&host, "/prod/ok")).await.status, 200);
    let mut h3 = H3Conn::connect(addr, "localhost", ca_b.roots())
        .await
        .unwrap();
    assert_eq!(h3.get(&host, "/prod/ok").await.status, 200);
    assert!(
        Conn::open_tls_trusting(addr, "localhost", &ca_a)
            .await
            .is_err()
    );
    assert!(
        H3Conn::connect(addr, "localhost", ca_a.roots())
            .await
            .is_err()
    );
    // The mTLS domain without a certificate of its own serves the new default too.
    let alice = clients.client_leaf("alice", "reload");
    let mtls = client_config_with_cert(ca_b.roots(), &ALPN, &alice);
    let (mut conn, info) = Conn::open_tls(addr, BARE, mtls).await.unwrap();
    assert_eq!(info.peer_cert, leaf_b.cert_der);
    assert_eq!(conn.fetch(get(BARE, "/ok")).await.status, 200);
    assert!(
        Conn::open_tls(
            addr,
            BARE,
            client_config_with_cert(ca_a.roots(), &ALPN, &alice)
        )
        .await
        .is_err()
    );

    // Connections made before the reload keep their sessions and keep answering.
    assert_eq!(old_tcp.fetch(get(&host, "/prod/ok")).await.status, 200);
    assert_eq!(old_h3.get(&host, "/prod/ok").await.status, 200);
}

/// `GET /prod/ok` with a 12 KiB header.
fn big_header_get() -> http::Request<edgeway_tests::client::Body> {
    let mut request = get(&api_host("rl"), "/prod/ok");
    let value = http::HeaderValue::from_str(&"a".repeat(12 * 1024)).unwrap();
    request.headers_mut().insert("x-big", value);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_limits_apply_to_the_next_request_and_to_new_connections() {
    let node = TestNode::start().await;
    put_api(&node).await;
    assert_eq!(node.get_api("rl", "/prod/ok").await.status, 200);
    let mut old = node.conn(Proto::Http1).await;
    assert_eq!(old.fetch(big_header_get()).await.status, 200);

    let mut config = node.config.clone();
    (config.limits.node_rate, config.limits.node_burst) = (0.001, 2);
    config.limits.max_header_bytes = 8192;
    node.node().reload(config).await.unwrap();

    // Header size is a connection's limit: new connections get the new one...
    let mut new = node.conn(Proto::Http1).await;
    assert_eq!(new.fetch(big_header_get()).await.status, 431);
    // ...the one accepted before keeps its own (and counts against the new node limit).
    assert_eq!(old.fetch(big_header_get()).await.status, 200);
    // The node-wide bucket is read per request: one more token of the new burst of 2.
    assert_eq!(node.get_api("rl", "/prod/ok").await.status, 200);
    let refused = node.get_api("rl", "/prod/ok").await;
    refused.assert_gateway_error(429, "THROTTLED");
    assert_eq!(refused.header("ratelimit-limit"), Some("2"));
}
