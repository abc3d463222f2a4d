//! CORS per API: preflights answered by the gateway (never reaching the backend), CORS headers
//! on every answer of the API (gateway errors included), exact, `*` and wildcard origins,
//! credentials, and validation of the settings.

use edgeway_tests::client::empty;
use edgeway_tests::{Backend, Proto, Reply, TestNode, api_host, closed_port, doc, request};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const APP: &str = "https://app.example.com";

fn cors() -> Value {
    json!({
        "allow_origins": [APP, "https://*.tools.test"],
        "allow_methods": ["PUT", "DELETE"],
        "allow_headers": ["content-type", "x-trace"],
        "expose_headers": ["x-backend", "x-request-id"],
        "allow_credentials": true,
        "max_age_seconds": 600,
    })
}

/// An HTTP API `web` with CORS: items go to `backend`, `/broken` to a closed port, and a
/// resource policy that denies one forwarded address.
fn web(backend: &Backend, broken: &str, cors: Value) -> Value {
    let mut doc = doc::http(
        "web",
        vec![
            doc::proxy("items", &backend.url("/items/{id}")),
            doc::proxy("broken", broken),
        ],
        vec![
            doc::route("GET", "/items/{id}", "items"),
            doc::route("PUT", "/items/{id}", "items"),
            doc::route("GET", "/broken", "broken"),
        ],
    );
    doc["api"]["cors"] = cors;
    doc
}

async fn setup() -> (TestNode, Backend) {
    let backend = Backend::start("items").await;
    let node = TestNode::start().await;
    let broken = format!("http://{}/", closed_port().addr);
    node.admin.apply(&web(&backend, &broken, cors())).await;
    (node, backend)
}

async fn send(node: &TestNode, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = request(method, &api_host("web"), path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    node.send(Proto::Http1, req.body(empty()).unwrap()).await
}

fn preflight<'a>(origin: &'a str, method: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", "content-type"),
    ]
}

#[track_caller]
fn assert_no_cors(reply: &Reply) {
    for (name, _) in &reply.headers {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "unexpected {name}: {:?}",
            reply.headers
        );
    }
    assert_eq!(reply.header("vary"), Some("Origin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_preflights_are_answered_by_the_gateway() {
    let (node, backend) = setup().await;
    for path in ["/items/1", "/no/such/route"] {
        let reply = send(&node, Method::OPTIONS, path, &preflight(APP, "PUT")).await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "{path}: {}",
            reply.text()
        );
        let h = |name| reply.header(name);
        assert_eq!(h("access-control-allow-origin"), Some(APP));
        assert_eq!(h("access-control-allow-methods"), Some("PUT, DELETE"));
        assert_eq!(
            h("access-control-allow-headers"),
            Some("content-type, x-trace")
        );
        assert_eq!(h("access-control-max-age"), Some("600"));
        assert_eq!(h("access-control-allow-credentials"), Some("true"));
        assert_eq!(h("vary"), Some("Origin"));
        assert_eq!(
            h("access-control-expose-headers"),
            None,
            "not on preflights"
        );
        assert!(reply.body.is_empty());
    }
    // A wildcard origin, and a safelisted method the list does not name.
    let reply = send(
        &node,
        Method::OPTIONS,
        "/items/1",
        &preflight("https://a.b.tools.test", "GET"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://a.b.tools.test")
    );
    assert_eq!(backend.hits(), 0, "preflights never reach the backend");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_preflights_are_routed_like_any_request() {
    let (node, backend) = setup().await;
    for (origin, method) in [
        ("https://evil.test", "PUT"),
        ("https://tools.test", "PUT"),
        ("https://app.example.com.evil.test", "PUT"),
        (APP, "PATCH"),
    ] {
        let reply = send(
            &node,
            Method::OPTIONS,
            "/items/1",
            &preflight(origin, method),
        )
        .await;
        reply.assert_gateway_error(404, "RESOURCE_NOT_FOUND");
        if origin == APP {
            // The origin is allowed, so the (not found) answer says so; the method is not.
            assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
            assert_eq!(reply.header("access-control-allow-methods"), None);
        } else {
            assert_no_cors(&reply);
        }
    }
    // Without CORS settings, a preflight is an ordinary OPTIONS request.
    let broken = format!("http://{}/", closed_port().addr);
    node.admin.apply(&web(&backend, &broken, Value::Null)).await;
    let reply = send(&node, Method::OPTIONS, "/items/1", &preflight(APP, "PUT")).await;
    reply.assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    assert!(reply.header("access-control-allow-origin").is_none());
    assert!(reply.header("vary").is_none());
    assert_eq!(backend.hits(), 0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_cors_headers_that_replace_the_backends() {
    let (node, backend) = setup().await;
    let backend_cors = "access-control-allow-origin=*;access-control-allow-methods=GET;vary=Accept";
    for origin in [APP, "https://x.tools.test"] {
        let reply = send(
            &node,
            Method::PUT,
            "/items/7",
            &[("origin", origin), ("x-echo-set", backend_cors)],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["method"], "PUT");
        let h = |name| reply.header(name);
        assert_eq!(h("access-control-allow-origin"), Some(origin));
        assert_eq!(h("access-control-allow-credentials"), Some("true"));
        assert_eq!(
            h("access-control-expose-headers"),
            Some("x-backend, x-request-id")
        );
        assert_eq!(
            h("access-control-allow-methods"),
            None,
            "the backend's is dropped"
        );
        let vary: Vec<_> = reply.headers.get_all("vary").iter().collect();
        assert_eq!(vary, ["Accept", "Origin"]);
    }
    // No Origin, or one not allowed: no CORS headers, but the answer still varies by Origin.
    for headers in [vec![], vec![("origin", "https://evil.test")]] {
        let reply = send(&node, Method::GET, "/items/7", &headers).await;
        assert_eq!(reply.status, 200);
        assert_no_cors(&reply);
    }
    assert_eq!(backend.hits(), 4);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_carry_cors_headers_too() {
    let (node, _backend) = setup().await;
    let origin = [("origin", APP)];
    let missing = send(&node, Method::GET, "/nowhere", &origin).await;
    missing.assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    let broken = send(&node, Method::GET, "/broken", &origin).await;
    assert!(broken.status.is_server_error(), "{}", broken.text());
    for reply in [&missing, &broken] {
        assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
        assert_eq!(
            reply.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(
            reply.header("access-control-expose-headers"),
            Some("x-backend, x-request-id")
        );
        assert_eq!(reply.header("vary"), Some("Origin"));
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_origin_without_credentials_answers_star() {
    let backend = Backend::start("items").await;
    let node = TestNode::start().await;
    let cors = json!({ "allow_origins": ["*"], "allow_methods": ["*"], "allow_headers": ["*"] });
    node.admin
        .apply(&web(&backend, &backend.url("/"), cors))
        .await;
    let reply = send(
        &node,
        Method::OPTIONS,
        "/items/1",
        &preflight("https://any.test", "PATCH"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("access-control-allow-methods"), Some("*"));
    assert_eq!(reply.header("access-control-allow-headers"), Some("*"));
    assert_eq!(reply.header("access-control-allow-credentials"), None);
    assert_eq!(reply.header("access-control-max-age"), None);
    let reply = send(&node, Method::GET, "/items/1", &[("origin", "null")]).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(backend.hits(), 1);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_settings_are_validated_field_by_field() {
    let node = TestNode::start().await;
    let backend_url = "http://127.0.0.1:9/";
    for (cors, field) in [
        (
            json!({ "allow_origins": ["https://app.test/"] }),
            "cors.allow_origins",
        ),
        (
            json!({ "allow_origins": ["app.test"] }),
            "cors.allow_origins",
        ),
        (
            json!({ "allow_origins": ["https://*.*.test"] }),
            "cors.allow_origins",
        ),
        (
            json!({ "allow_origins": ["*"], "allow_credentials": true }),
            "cors.allow_credentials",
        ),
        (json!({ "allow_methods": ["FETCH"] }), "cors.allow_methods"),
        (
            json!({ "allow_headers": ["x trace"] }),
            "cors.allow_headers",
        ),
        (json!({ "expose_headers": ["x:y"] }), "cors.expose_headers"),
        (json!({ "max_age_seconds": 100000 }), "cors.max_age_seconds"),
    ] {
        let mut doc = doc::http("bad", vec![doc::proxy("p", backend_url)], vec![]);
        doc["api"]["cors"] = cors.clone();
        let (status, body) = node.admin.put("/apis/bad/document", &doc).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cors}: {body}");
        assert!(body.to_string().contains(field), "{cors}: {body}");
    }
    node.shutdown().await;
}
