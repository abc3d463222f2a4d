//! Protocols on both sides of the gateway: HTTP/1.1, h2c and HTTP/2 over TLS from clients;
//! HTTP/1.1, h2c (backend_protocol http2) and HTTPS with a private CA towards backends.

use edgeway_tests::client::Proto;
use edgeway_tests::{Backend, Conn, TestCa, TestNode, api_host, certs, doc, get};
use http::Version;
use serde_json::json;

fn echo_api(id: &str, backend: &Backend) -> serde_json::Value {
    doc::http(
        id,
        vec![doc::proxy("echo", &backend.url("/echo"))],
        vec![doc::route("GET", "/echo", "echo")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_http1_and_h2c_reach_the_same_api() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin.apply(&echo_api("cleartext", &backend)).await;
    for (proto, version) in [
        (Proto::Http1, Version::HTTP_11),
        (Proto::H2c, Version::HTTP_2),
    ] {
        let mut conn = node.conn(proto).await;
        // Two requests on one connection: keep-alive / multiplexing work.
        for _ in 0..2 {
            let reply = conn.fetch(get(&api_host("cleartext"), "/echo")).await;
            assert_eq!(
                (reply.status.as_u16(), reply.version),
                (200, version),
                "{proto:?}"
            );
            let echo = reply.json();
            assert_eq!(echo["headers"]["x-forwarded-proto"], "http");
            assert_eq!(
                echo["version"], "HTTP/1.1",
                "auto talks HTTP/1.1 to cleartext backends"
            );
        }
    }
    assert_eq!(backend.hits(), 4);

    // The route's series tell the protocols apart (API `cleartext` is this test's alone).
    let metrics = node.admin.get_text("/metrics").await;
    for (protocol, want) in [("http1.1", 2.0), ("h2", 2.0), ("h3", 0.0)] {
        let labels = [
            "api=\"cleartext\"",
            "route=\"GET /echo\"",
            &format!("protocol=\"{protocol}\""),
        ];
        let requests = edgeway_tests::metric_value(&metrics, "edgeway_requests_total{", &labels);
        assert_eq!(requests, want, "{protocol}: {metrics}");
        let latency = edgeway_tests::metric_value(
            &metrics,
            "edgeway_request_duration_seconds_count{",
            &labels,
        );
        assert_eq!(latency, want, "{protocol}");
        let integration = edgeway_tests::metric_value(
            &metrics,
            "edgeway_integration_duration_seconds_count{",
            &labels,
        );
        assert_eq!(integration, want, "{protocol}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_listener_speaks_http2_and_http1_by_alpn() {
    let ca = TestCa::new("edgeway test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let node = TestNode::start_with(|config, dir| {
        let (cert, key) = leaf.write(dir, "default");
        config.public.tls = Some(edgeway::config::TlsFiles { cert, key });
    })
    .await;
    let backend = Backend::start("echo").await;
    node.admin.apply(&echo_api("proto", &backend)).await;

    for (alpn, version) in [
        (&[b"h2".as_slice(), b"http/1.1"][..], Version::HTTP_2),
        (&[b"http/1.1".as_slice()][..], Version::HTTP_11),
    ] {
        let config = certs::client_config(ca.roots(), alpn);
        let (mut conn, tls) = Conn::open_tls(node.public_addr(), "localhost", config)
            .await
            .expect("TLS handshake");
        assert_eq!(tls.peer_cert, leaf.cert_der);
        assert_eq!(conn.version(), version);
        let reply = conn.fetch(get(&api_host("proto"), "/echo")).await;
        assert_eq!((reply.status.as_u16(), reply.version), (200, version));
        assert_eq!(reply.json()["headers"]["x-forwarded-proto"], "https");
    }
    // Cleartext on the TLS port is not served.
    let mut plain = Conn::open(node.public_addr(), Proto::Http1).await.unwrap();
    assert!(plain.send(get(&api_host("proto"), "/echo")).await.is_err());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_protocol_http2_talks_h2c_to_an_h2c_only_backend() {
    let node = TestNode::start().await;
    let backend = Backend::h2c_only("h2c").await;
    let mut h2 = doc::proxy("h2", &backend.url("/h2"));
    h2["backend_protocol"] = json!("http2");
    node.admin
        .apply(&doc::http(
            "h2c",
            vec![h2, doc::proxy("auto", &backend.url("/auto"))],
            vec![
                doc::route("GET", "/h2", "h2"),
                doc::route("GET", "/auto", "auto"),
            ],
        ))
        .await;
    for proto in [Proto::Http1, Proto::H2c] {
        let reply = node.send(proto, get(&api_host("h2c"), "/h2")).await;
        assert_eq!(reply.status, 200, "{proto:?}: {}", reply.text());
        assert_eq!(reply.json()["version"], "HTTP/2.0");
    }
    // The same backend cannot be reached with HTTP/1.1.
    node.get_api("h2c", "/auto")
        .await
        .assert_gateway_error(504, "INTEGRATION_FAILURE");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_backends_are_trusted_through_backends_ca_file() {
    let ca = TestCa::new("backend CA");
    let backend = Backend::tls("secure", &ca.leaf(&["localhost", "127.0.0.1"])).await;
    let uri = format!("https://{}/secure", backend.addr);
    let api = doc::http(
        "https",
        vec![doc::proxy("secure", &uri)],
        vec![doc::route("GET", "/secure", "secure")],
    );

    let trusting = TestNode::start_with(|config, dir| {
        config.backends.ca_file = Some(ca.write_pem(dir));
    })
    .await;
    trusting.admin.apply(&api).await;
    let reply = trusting.get_api("https", "/secure").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let echo = reply.json();
    assert_eq!(echo["backend"], "secure");
    assert_eq!(echo["version"], "HTTP/2.0", "h2 chosen by ALPN");

    // Without the CA the backend's certificate is not trusted.
    let plain = TestNode::start().await;
    plain.admin.apply(&api).await;
    plain
        .get_api("https", "/secure")
        .await
        .assert_gateway_error(504, "INTEGRATION_FAILURE");
    assert_eq!(backend.hits(), 1);
    trusting.shutdown().await;
    plain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_http2_connection_carries_many_concurrent_requests() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin
        .apply(&doc::http(
            "multiplex",
            vec![doc::proxy("slow", &backend.url("/slow?ms=1000"))],
            vec![doc::route("GET", "/slow/{n}", "slow")],
        ))
        .await;
    let conn = node.conn(Proto::H2c).await;
    let requests = (0..50).map(|n| {
        let mut stream = conn.share().expect("HTTP/2 connections can be shared");
        async move {
            let path = format!("/slow/{n}?n={n}");
            (n, stream.fetch(get(&api_host("multiplex"), &path)).await)
        }
    });
    // All 50 are at the backend at the same time (it holds each for 1 s; waits 10 s at most).
    let (replies, ()) = tokio::join!(
        futures_util::future::join_all(requests),
        backend.wait_slow(50)
    );
    for (n, reply) in replies {
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["query"], format!("ms=1000&n={n}"));
    }
    assert_eq!(backend.hits(), 50);
    node.shutdown().await;
}
