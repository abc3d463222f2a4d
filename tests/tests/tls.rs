//! Custom domains over TLS: certificates chosen by SNI (added at runtime, no restart), the
//! listener's default certificate for other names, and base path mappings to APIs and stages.

use edgeway_tests::{Conn, Leaf, TestCa, TestNode, doc, get};
use http::StatusCode;
use serde_json::{Value, json};

struct Setup {
    ca: TestCa,
    default: Leaf,
    a: Leaf,
    b: Leaf,
    node: TestNode,
}

fn domain(name: &str, leaf: &Leaf, mappings: Value) -> Value {
    json!({
        "name": name,
        "certificate_pem": leaf.cert_pem,
        "private_key_pem": leaf.key_pem,
        "mappings": mappings,
    })
}

/// A TLS node with two APIs and two custom domains, each with its own certificate.
async fn setup() -> Setup {
    let ca = TestCa::new("edgeway test CA");
    let default = ca.leaf(&["localhost"]);
    let a = ca.leaf(&["a.example.test"]);
    let b = ca.leaf(&["b.example.test"]);
    let node = TestNode::start_with(|config, dir| {
        let (cert, key) = default.write(dir, "default");
        config.public.tls = Some(edgeway::config::TlsFiles { cert, key });
    })
    .await;
    let greeting = |id: &str| {
        json!({
            "api": { "id": id, "name": id, "kind": "rest" },
            "integrations": [doc::mock("hello", 200, &format!("{id} ${{stageVariables.stage}}"))],
            "routes": [doc::route("GET", "/hello", "hello")],
            "stages": [
                { "name": "prod", "variables": { "stage": "prod" } },
                { "name": "beta", "variables": { "stage": "beta" } },
            ],
            "deploy_to": ["prod", "beta"],
        })
    };
    node.admin.apply(&greeting("shop")).await;
    node.admin.apply(&greeting("orders")).await;
    let domains = [
        domain(
            "a.example.test",
            &a,
            json!([
                { "base_path": "", "api_id": "shop", "stage": "prod" },
                { "base_path": "v2", "api_id": "orders", "stage": "prod" },
                { "base_path": "orders/beta", "api_id": "orders", "stage": "beta" },
            ]),
        ),
        domain(
            "b.example.test",
            &b,
            json!([{ "base_path": "v1", "api_id": "shop", "stage": "beta" }]),
        ),
    ];
    for d in &domains {
        let (status, body) = node.admin.post("/domains", d).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    Setup {
        ca,
        default,
        a,
        b,
        node,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_custom_domain_presents_its_own_certificate_by_sni() {
    let s = setup().await;
    let addr = s.node.public_addr();
    for (sni, leaf, host, path) in [
        ("a.example.test", &s.a, "a.example.test", "/hello"),
        ("b.example.test", &s.b, "b.example.test", "/v1/hello"),
        (
            "localhost",
            &s.default,
            "shop.execute-api.localhost",
            "/prod/hello",
        ),
    ] {
        // The handshake verifies the certificate against the CA and the name.
        let (mut conn, tls) = Conn::open_tls_trusting(addr, sni, &s.ca)
            .await
            .unwrap_or_else(|e| panic!("TLS to {sni}: {e}"));
        assert_eq!(tls.peer_cert, leaf.cert_der, "certificate for {sni}");
        assert_eq!(tls.alpn.as_deref(), Some(&b"h2"[..]));
        let reply = conn.fetch(get(host, path)).await;
        assert_eq!(reply.status, 200, "{sni}: {}", reply.text());
    }
    // Another name gets the default certificate, which does not cover it.
    let other = Conn::open_tls_trusting(addr, "c.example.test", &s.ca).await;
    let error = other
        .err()
        .expect("the default certificate is not for c.example.test");
    assert!(error.to_string().contains("certificate"), "{error}");
    s.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_path_mappings_send_a_domain_to_apis_and_stages() {
    let s = setup().await;
    let addr = s.node.public_addr();
    let (mut a, _) = Conn::open_tls_trusting(addr, "a.example.test", &s.ca)
        .await
        .unwrap();
    let (mut b, _) = Conn::open_tls_trusting(addr, "b.example.test", &s.ca)
        .await
        .unwrap();
    for (host, path, body) in [
        ("a.example.test", "/hello", "shop prod"),
        ("a.example.test", "/v2/hello", "orders prod"),
        ("a.example.test", "/orders/beta/hello", "orders beta"),
        ("b.example.test", "/v1/hello", "shop beta"),
    ] {
        let conn = if host.starts_with('a') {
            &mut a
        } else {
            &mut b
        };
        let reply = conn.fetch(get(host, path)).await;
        assert_eq!(
            (reply.status.as_u16(), reply.text().as_str()),
            (200, body),
            "{host}{path}"
        );
    }
    // `v20` is not the `v2` mapping: the root mapping's API answers (a REST API: 403).
    a.fetch(get("a.example.test", "/v20/hello"))
        .await
        .assert_gateway_error(403, "MISSING_AUTHENTICATION_TOKEN");
    // A path no mapping of the domain covers.
    b.fetch(get("b.example.test", "/hello"))
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    // The admin API never shows the private key.
    let stored = s.node.admin.get("/domains/a.example.test").await;
    assert_eq!(stored["private_key_pem"], "(redacted)");
    assert_eq!(stored["certificate_pem"], s.a.cert_pem);
    for listing in ["/domains", "/objects"] {
        let text = s.node.admin.get(listing).await.to_string();
        assert!(text.contains("a.example.test"), "{listing}");
        assert!(
            !text.contains("PRIVATE KEY"),
            "{listing} shows a private key"
        );
    }
    s.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_certificates_rotate_and_go_without_a_restart() {
    let s = setup().await;
    let addr = s.node.public_addr();
    let rotated = s.ca.leaf(&["a.example.test"]);
    let mappings = json!([{ "base_path": "", "api_id": "shop", "stage": "prod" }]);
    let (status, body) = s
        .node
        .admin
        .put(
            "/domains/a.example.test",
            &domain("a.example.test", &rotated, mappings.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (mut conn, tls) = Conn::open_tls_trusting(addr, "a.example.test", &s.ca)
        .await
        .unwrap();
    assert_eq!(
        tls.peer_cert, rotated.cert_der,
        "new connections get the new certificate"
    );
    assert_eq!(
        conn.fetch(get("a.example.test", "/hello")).await.text(),
        "shop prod"
    );

    // Sending back the redacted key keeps the stored one.
    let mut echoed = s.node.admin.get("/domains/a.example.test").await;
    echoed["mappings"] = json!([{ "base_path": "v9", "api_id": "orders", "stage": "prod" }]);
    let (status, body) = s.node.admin.put("/domains/a.example.test", &echoed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (mut conn, tls) = Conn::open_tls_trusting(addr, "a.example.test", &s.ca)
        .await
        .unwrap();
    assert_eq!(tls.peer_cert, rotated.cert_der);
    assert_eq!(
        conn.fetch(get("a.example.test", "/v9/hello")).await.text(),
        "orders prod"
    );

    // A deleted domain is neither served nor presented.
    let (status, _) = s.node.admin.delete("/domains/b.example.test").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        Conn::open_tls_trusting(addr, "b.example.test", &s.ca)
            .await
            .is_err()
    );
    let (mut conn, _) = Conn::open_tls_trusting(addr, "localhost", &s.ca)
        .await
        .unwrap();
    conn.fetch(get("b.example.test", "/v1/hello"))
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    s.node.shutdown().await;
}
