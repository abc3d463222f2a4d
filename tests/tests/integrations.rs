//! What integrations send to backends and what clients get back: http_proxy pass-through,
//! http parameter mapping both ways, mock answers, and stage variables in each.

use edgeway_tests::client::{Proto, full};
use edgeway_tests::{Backend, TestNode, api_host, doc, get, request};
use http::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_variables_choose_the_backend_and_fill_mock_answers() {
    let node = TestNode::start().await;
    let (dev, prod) = (Backend::start("dev").await, Backend::start("prod").await);
    node.admin
        .apply(&json!({
            "api": { "id": "vars", "name": "vars", "kind": "rest" },
            "integrations": [
                doc::proxy("svc", "http://${stageVariables.backend}/svc/${stageVariables.env}"),
                {
                    "id": "about", "type": "mock",
                    "mock": {
                        "status_code": 203,
                        "headers": { "x-env": "${stageVariables.env}" },
                        "body": "{\"env\": \"${stageVariables.env}\", \"unset\": \"${stageVariables.nope}\"}",
                    },
                },
            ],
            "routes": [doc::route("GET", "/svc", "svc"), doc::route("GET", "/about", "about")],
            "stages": [
                { "name": "dev", "variables": { "backend": dev.addr.to_string(), "env": "development" } },
                { "name": "prod", "variables": { "backend": prod.addr.to_string(), "env": "production" } },
            ],
            "deploy_to": ["dev", "prod"],
        }))
        .await;
    for (stage, backend, env) in [
        ("dev", "dev", "development"),
        ("prod", "prod", "production"),
    ] {
        let reply = node.get_api("vars", &format!("/{stage}/svc")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let echo = reply.json();
        assert_eq!(echo["backend"], backend);
        assert_eq!(echo["path"], format!("/svc/{env}"));

        let reply = node.get_api("vars", &format!("/{stage}/about")).await;
        assert_eq!(reply.status, 203);
        assert_eq!(reply.header("x-env"), Some(env));
        assert_eq!(reply.json(), json!({ "env": env, "unset": "" }));
    }
    assert_eq!((dev.hits(), prod.hits()), (1, 1));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_proxy_passes_headers_except_hop_by_hop_ones_and_adds_forwarding_headers() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin
        .apply(&doc::http(
            "pass",
            vec![doc::proxy("echo", &backend.url("/in?from=gateway"))],
            vec![doc::route("POST", "/in", "echo")],
        ))
        .await;
    let req = request(Method::POST, &api_host("pass"), "/in?a=1")
        .header("x-keep", "kept")
        .header("x-drop", "dropped")
        .header("connection", "x-drop")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("x-forwarded-for", "203.0.113.9")
        .header("content-type", "text/plain")
        .header(
            "x-echo-set",
            "x-visible=1; x-secret=2; connection=x-secret; keep-alive=timeout=5; proxy-authenticate=Basic",
        )
        .body(full("payload"))
        .unwrap();
    let reply = node.send(Proto::Http1, req).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.header("x-backend"),
        Some("echo"),
        "backend headers come back"
    );
    let echo = reply.json();
    let headers = &echo["headers"];
    assert_eq!(headers["x-keep"], "kept");
    assert_eq!(headers["content-type"], "text/plain");
    for hop in ["x-drop", "connection", "proxy-authorization"] {
        assert!(
            headers.get(hop).is_none(),
            "{hop} must not reach the backend: {headers}"
        );
    }
    assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(
        headers["host"],
        backend.addr.to_string(),
        "the backend's own Host"
    );
    assert_eq!(
        (echo["query"].as_str(), echo["body"].as_str()),
        (Some("from=gateway&a=1"), Some("payload"))
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_integrations_send_only_mapped_parameters_from_every_source() {
    let node = TestNode::start().await;
    let backend = Backend::start("mapped").await;
    node.admin
        .apply(&json!({
            "api": { "id": "mapping", "name": "mapping", "kind": "rest" },
            "integrations": [{
                "id": "users", "type": "http", "http_method": "POST",
                "uri": backend.url("/users/{uid}/${stageVariables.tail}"),
                "request_parameters": {
                    "integration.request.path.uid": "method.request.path.id",
                    "integration.request.querystring.q": "method.request.querystring.search",
                    "integration.request.querystring.region": "stageVariables.region",
                    "integration.request.header.x-from-client": "method.request.header.x-client",
                    "integration.request.header.x-from-query": "method.request.querystring.search",
                    "integration.request.header.x-static": "'fixed value'",
                    "integration.request.header.x-env": "stageVariables.env",
                    "integration.request.header.x-absent": "method.request.header.x-not-sent",
                },
            }],
            "routes": [doc::route("GET", "/users/{id}", "users")],
            "stages": [{ "name": "prod", "variables": { "env": "production", "region": "eu west", "tail": "profile" } }],
            "deploy_to": ["prod"],
        }))
        .await;
    let req = request(
        Method::GET,
        &api_host("mapping"),
        "/prod/users/ann%20lee?search=a+b%26c&other=1",
    )
    .header("x-client", "c-1")
    .header("x-unmapped", "secret")
    .body(edgeway_tests::client::empty())
    .unwrap();
    let reply = node.send(Proto::Http1, req).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let echo = reply.json();
    assert_eq!(echo["method"], "POST", "http_method overrides the client's");
    assert_eq!(
        echo["path"], "/users/ann%20lee/profile",
        "path values are re-encoded"
    );
    assert_eq!(echo["query"], "q=a%20b%26c&region=eu%20west");
    let headers = &echo["headers"];
    assert_eq!(headers["x-from-client"], "c-1");
    assert_eq!(headers["x-from-query"], "a b&c");
    assert_eq!(headers["x-static"], "fixed value");
    assert_eq!(headers["x-env"], "production");
    for absent in ["x-unmapped", "x-client", "x-absent"] {
        assert!(
            headers.get(absent).is_none(),
            "{absent} must not be sent: {headers}"
        );
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_integrations_map_backend_status_and_headers_to_the_method_response() {
    let node = TestNode::start().await;
    let backend = Backend::start("statuses").await;
    node.admin
        .apply(&json!({
            "api": { "id": "answers", "name": "answers", "kind": "rest" },
            "integrations": [{
                "id": "status", "type": "http",
                "uri": backend.url("/status/{code}"),
                "request_parameters": { "integration.request.path.code": "method.request.path.code" },
                "responses": [
                    {
                        "selection_pattern": "4\\d\\d", "status_code": 400,
                        "response_parameters": { "method.response.header.x-kind": "'client error'" },
                    },
                    {
                        "selection_pattern": "5\\d\\d", "status_code": 502,
                        "response_parameters": { "method.response.header.x-kind": "'server error'" },
                    },
                    {
                        "selection_pattern": "",
                        "response_parameters": {
                            "method.response.header.x-served-by": "integration.response.header.x-backend",
                            "method.response.header.x-kind": "'ok'",
                        },
                    },
                ],
            }],
            "routes": [doc::route("GET", "/status/{code}", "status")],
            "stages": [{ "name": "prod" }],
            "deploy_to": ["prod"],
        }))
        .await;
    for (code, status, kind, served_by) in [
        ("404", 400, "client error", None),
        ("409", 400, "client error", None),
        ("503", 502, "server error", None),
        ("201", 201, "ok", Some("statuses")),
    ] {
        let reply = node
            .get_api("answers", &format!("/prod/status/{code}"))
            .await;
        assert_eq!(reply.status, status, "backend {code}: {}", reply.text());
        assert_eq!(reply.header("x-kind"), Some(kind), "backend {code}");
        assert_eq!(reply.header("x-served-by"), served_by, "backend {code}");
        assert_eq!(
            reply.header("x-backend"),
            None,
            "unmapped headers stay behind"
        );
        assert_eq!(
            reply.json()["path"],
            format!("/status/{code}"),
            "the body passes"
        );
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_integrations_answer_from_the_gateway_on_every_protocol() {
    let node = TestNode::start().await;
    node.admin
        .apply(&json!({
            "api": { "id": "mocked", "name": "mocked", "kind": "http" },
            "integrations": [{
                "id": "teapot", "type": "mock",
                "mock": {
                    "status_code": 418,
                    "headers": { "content-type": "application/json", "x-mock": "yes" },
                    "body": "{\"short\": \"and stout\"}",
                },
            }],
            "routes": [doc::route("ANY", "/teapot", "teapot")],
            "stages": [{ "name": "$default", "auto_deploy": true }],
        }))
        .await;
    for proto in [Proto::Http1, Proto::H2c] {
        let reply = node.send(proto, get(&api_host("mocked"), "/teapot")).await;
        assert_eq!(reply.status, 418, "{proto:?}");
        assert_eq!(reply.header("x-mock"), Some("yes"));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json(), json!({ "short": "and stout" }));
        assert!(
            reply
                .header("x-request-id")
                .is_some_and(|id| id.len() == 32)
        );
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_mid_body_stops_the_backend_stream() {
    use http_body_util::BodyExt;
    let node = TestNode::start().await;
    let backend = Backend::start("endless").await;
    node.admin
        .apply(&doc::http(
            "cancel",
            vec![doc::proxy("big", &backend.url("/stream?mib=200"))],
            vec![doc::route("GET", "/big", "big")],
        ))
        .await;
    for proto in [Proto::Http1, Proto::H2c] {
        let before = backend.streamed();
        let mut conn = node.conn(proto).await;
        let response = conn.send(get(&api_host("cancel"), "/big")).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut received = 0;
        while received < 1024 * 1024 {
            let frame = body.frame().await.expect("more body").unwrap();
            received += frame.into_data().map_or(0, |d| d.len());
        }
        assert_eq!(
            backend.open_streams(),
            1,
            "{proto:?}: the backend is still sending"
        );
        drop(body);
        drop(conn);

        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while backend.open_streams() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{proto:?}: the backend stream was never dropped"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let produced = backend.streamed() - before;
        assert!(
            produced < 100 * 1024 * 1024,
            "{proto:?}: the backend produced {produced} bytes for a client that left"
        );
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_with_expect_continue_and_head_requests_pass_through() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin
        .apply(&doc::http(
            "upload",
            vec![doc::proxy("echo", &backend.url("/upload"))],
            vec![doc::route("ANY", "/upload", "echo")],
        ))
        .await;
    // curl sends `Expect: 100-continue` for bodies over 1 MiB.
    let body = vec![b'u'; 2 * 1024 * 1024];
    for proto in [Proto::Http1, Proto::H2c] {
        let req = request(Method::POST, &api_host("upload"), "/upload")
            .header("expect", "100-continue")
            .body(full(body.clone()))
            .unwrap();
        let reply = node.send(proto, req).await;
        assert_eq!(reply.status, 200, "{proto:?}: {}", reply.text());
        assert_eq!(reply.json()["body_len"], body.len(), "{proto:?}");
    }
    let head = request(Method::HEAD, &api_host("upload"), "/upload")
        .body(edgeway_tests::client::empty())
        .unwrap();
    let reply = node.send(Proto::Http1, head).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty(), "HEAD answers have no body");
    assert_eq!(reply.header("x-backend"), Some("echo"));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_x_forwarded_for_line_is_kept_and_the_client_appended() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin
        .apply(&doc::http(
            "xff",
            vec![doc::proxy("echo", &backend.url("/"))],
            vec![doc::route("GET", "/", "echo")],
        ))
        .await;
    // Two header lines mean the same as one comma-separated line (RFC 9110 §5.3).
    let req = request(Method::GET, &api_host("xff"), "/")
        .header("x-forwarded-for", "203.0.113.9, 192.0.2.1")
        .header("x-forwarded-for", "198.51.100.7")
        .body(edgeway_tests::client::empty())
        .unwrap();
    let reply = node.send(Proto::Http1, req).await;
    assert_eq!(
        reply.json()["headers"]["x-forwarded-for"],
        "203.0.113.9, 192.0.2.1, 198.51.100.7, 127.0.0.1"
    );
    node.shutdown().await;
}
