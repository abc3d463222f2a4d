//! Every gateway response the node produces on the request path (status, `x-amzn-errortype`,
//! `{"message"}` body), and per-API overrides of them.

use edgeway_tests::{Backend, ResetBackend, TestNode, closed_port, doc};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_apis_and_stages_get_aws_answers() {
    let node = TestNode::start().await;
    let hello = || vec![doc::mock("hello", 200, "hello")];
    node.admin
        .apply(&doc::rest(
            "restapi",
            "prod",
            hello(),
            vec![doc::route("GET", "/hello", "hello")],
        ))
        .await;
    node.admin
        .apply(&doc::http(
            "httpapi",
            hello(),
            vec![doc::route("GET", "/hello", "hello")],
        ))
        .await;
    assert_eq!(node.get_api("restapi", "/prod/hello").await.status, 200);

    // A REST API hides which routes exist: 403 Missing Authentication Token.
    node.get_api("restapi", "/prod/nothing-here")
        .await
        .assert_gateway_error(403, "MISSING_AUTHENTICATION_TOKEN");
    node.get_api("restapi", "/prod/hello/deeper")
        .await
        .assert_gateway_error(403, "MISSING_AUTHENTICATION_TOKEN");
    // An HTTP API answers 404.
    node.get_api("httpapi", "/nothing-here")
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    // Unknown stage, unknown API, unknown host.
    for (host, path) in [
        ("restapi.execute-api.localhost", "/staging/hello"),
        ("nosuchapi.execute-api.localhost", "/prod/hello"),
        ("unknown.example.com", "/prod/hello"),
        (
            "localhost",
            "/restapis/restapi/staging/_user_request_/hello",
        ),
    ] {
        node.get(host, path)
            .await
            .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_failures_become_integration_timeout_and_integration_failure() {
    let node = TestNode::start().await;
    let slow = Backend::start("slow").await;
    let reset = ResetBackend::start().await;
    let closed = closed_port();
    node.admin
        .apply(&doc::rest(
            "failing",
            "prod",
            vec![
                json!({ "id": "slow", "type": "http_proxy", "uri": slow.url("/slow?ms=5000"), "timeout_ms": 200 }),
                // Short timeouts: a failure must show as INTEGRATION_FAILURE, not a wait.
                json!({ "id": "refused", "type": "http_proxy", "timeout_ms": 5000,
                        "uri": format!("http://{}/x", closed.addr) }),
                json!({ "id": "reset", "type": "http_proxy", "timeout_ms": 5000,
                        "uri": format!("http://{}/x", reset.addr) }),
            ],
            vec![
                doc::route("GET", "/slow", "slow"),
                doc::route("GET", "/refused", "refused"),
                doc::route("GET", "/reset", "reset"),
            ],
        ))
        .await;
    let started = Instant::now();
    let reply = node.get_api("failing", "/prod/slow").await;
    reply.assert_gateway_error(504, "INTEGRATION_TIMEOUT");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout, not the backend, ended the request"
    );
    assert_eq!(slow.hits(), 1, "the backend was called");

    node.get_api("failing", "/prod/refused")
        .await
        .assert_gateway_error(504, "INTEGRATION_FAILURE");
    node.get_api("failing", "/prod/reset")
        .await
        .assert_gateway_error(504, "INTEGRATION_FAILURE");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_paths_are_bad_request_parameters() {
    let node = TestNode::start().await;
    let backend = Backend::start("never").await;
    node.admin
        .apply(&doc::rest(
            "paths",
            "prod",
            vec![doc::proxy("any", &backend.url("/{proxy}"))],
            vec![doc::route("ANY", "/{proxy+}", "any")],
        ))
        .await;
    assert_eq!(node.get_api("paths", "/prod/fine/path").await.status, 200);
    for bad in [
        "/prod/a/%ff%fe",
        "/prod/a/../etc/passwd",
        "/prod/a/%2e%2e/etc",
        "/prod/./a",
    ] {
        node.get_api("paths", bad)
            .await
            .assert_gateway_error(400, "BAD_REQUEST_PARAMETERS");
    }
    assert_eq!(backend.hits(), 1, "bad paths never reach the backend");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integration_that_cannot_work_is_an_api_configuration_error() {
    let node = TestNode::start().await;
    node.admin
        .apply(&doc::rest(
            "broken",
            "prod",
            // No `backend` variable in the stage: the URI has no host once filled in.
            vec![doc::proxy("broken", "${stageVariables.backend}/x")],
            vec![doc::route("GET", "/x", "broken")],
        ))
        .await;
    node.get_api("broken", "/prod/x")
        .await
        .assert_gateway_error(500, "API_CONFIGURATION_ERROR");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_can_override_status_headers_and_body_of_a_gateway_response() {
    let node = TestNode::start().await;
    let closed = closed_port();
    let mut custom = doc::rest(
        "custom",
        "prod",
        vec![
            doc::mock("hello", 200, "hello"),
            doc::proxy("down", &format!("http://{}/", closed.addr)),
        ],
        vec![
            doc::route("GET", "/hello", "hello"),
            doc::route("GET", "/down", "down"),
        ],
    );
    custom["api"]["gateway_responses"] = json!({
        "MISSING_AUTHENTICATION_TOKEN": {
            "status_code": 404,
            "headers": { "x-custom": "yes", "cache-control": "no-store" },
            "body": "{\"error\": $context.error.messageString, \"type\": \"$context.error.responseType\", \"id\": \"$context.requestId\"}",
        },
        "INTEGRATION_FAILURE": { "status_code": 502 },
    });
    node.admin.apply(&custom).await;
    node.admin
        .apply(&doc::rest(
            "plain",
            "prod",
            vec![doc::mock("hello", 200, "hello")],
            vec![doc::route("GET", "/hello", "hello")],
        ))
        .await;

    let reply = node.get_api("custom", "/prod/missing").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_type(), Some("MISSING_AUTHENTICATION_TOKEN"));
    assert_eq!(reply.header("x-custom"), Some("yes"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let request_id = reply
        .header("x-request-id")
        .expect("request id")
        .to_string();
    assert_eq!(
        reply.json(),
        json!({ "error": "Missing Authentication Token", "type": "MISSING_AUTHENTICATION_TOKEN", "id": request_id })
    );

    // An override of the status alone keeps the default body.
    let down = node.get_api("custom", "/prod/down").await;
    down.assert_gateway_error(502, "INTEGRATION_FAILURE");
    assert_eq!(down.header("x-custom"), None);

    // Other response types of the same API, and other APIs, keep the defaults.
    node.get_api("custom", "/staging/missing")
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    let plain = node.get_api("plain", "/prod/missing").await;
    plain.assert_gateway_error(403, "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(plain.header("x-custom"), None);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_4xx_and_5xx_overrides_cover_types_without_their_own() {
    let node = TestNode::start().await;
    let closed = closed_port();
    let mut api = doc::http(
        "classes",
        vec![
            doc::proxy("down", &format!("http://{}/", closed.addr)),
            doc::proxy("broken", "${stageVariables.nowhere}/x"),
        ],
        vec![
            doc::route("GET", "/down", "down"),
            doc::route("GET", "/broken", "broken"),
        ],
    );
    api["api"]["gateway_responses"] = json!({
        "DEFAULT_4XX": { "headers": { "x-class": "4xx" }, "body": "{\"oops\": $context.error.messageString}" },
        "DEFAULT_5XX": { "status_code": 503, "headers": { "x-class": "5xx" } },
        "INTEGRATION_FAILURE": { "headers": { "x-own": "yes" } },
    });
    node.admin.apply(&api).await;

    let not_found = node.get_api("classes", "/nothing").await;
    assert_eq!(
        (not_found.status.as_u16(), not_found.error_type()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );
    assert_eq!(not_found.header("x-class"), Some("4xx"));
    assert_eq!(not_found.json(), json!({ "oops": "Not Found" }));

    let broken = node.get_api("classes", "/broken").await;
    assert_eq!(
        (broken.status.as_u16(), broken.error_type()),
        (503, Some("API_CONFIGURATION_ERROR"))
    );
    assert_eq!(broken.header("x-class"), Some("5xx"));

    // A type with its own override uses only that one.
    let down = node.get_api("classes", "/down").await;
    down.assert_gateway_error(504, "INTEGRATION_FAILURE");
    assert_eq!(
        (down.header("x-own"), down.header("x-class")),
        (Some("yes"), None)
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_host_is_bad_request_parameters() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = TestNode::start().await;
    let mut tcp = tokio::net::TcpStream::connect(node.public_addr())
        .await
        .unwrap();
    tcp.write_all(b"GET /prod/x HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: bad_request_parameters"),
        "{answer}"
    );
    node.shutdown().await;
}
