//! Custom authorizers: the gateway POSTs AWS-style authorizer events to a local server that
//! counts its calls, and follows its IAM-policy or simple answers; answers are cached per
//! identity, and concurrent requests with one identity make one call.

use edgeway_tests::auth::{Stub, StubReply};
use edgeway_tests::client::{Proto, Reply, empty};
use edgeway_tests::{Backend, TestNode, api_host, closed_port, doc, request};
use http::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// An IAM policy answer allowing (or denying) `resource`.
fn policy(effect: &str, resource: &str) -> Value {
    json!({
        "principalId": "user-7",
        "policyDocument": { "Version": "2012-10-17", "Statement": [
            { "Action": "execute-api:Invoke", "Effect": effect, "Resource": resource }
        ]},
        "context": { "tenant": "t-42", "tier": 3 },
    })
}

fn token_authorizer(id: &str, uri: &str, ttl: u32) -> Value {
    json!({ "id": id, "type": "token", "uri": uri, "result_ttl_seconds": ttl, "timeout_ms": 1000 })
}

/// A REST API `id` (stage `prod`) whose `/items/{id}` routes (GET and DELETE) use
/// `authorizer_id`; the backend sees the authorizer's principal and context.
fn api(id: &str, backend: &Backend, authorizers: Vec<Value>, authorizer_id: &str) -> Value {
    let mut doc = doc::rest(
        id,
        "prod",
        vec![json!({
            "id": "echo", "type": "http", "uri": backend.url("/echo"),
            "request_parameters": {
                "integration.request.header.x-principal": "context.authorizer.principalId",
                "integration.request.header.x-tenant": "context.authorizer.tenant",
                "integration.request.header.x-tier": "context.authorizer.tier",
            },
        })],
        vec![
            json!({ "method": "GET", "path": "/items/{id}", "integration_id": "echo", "authorizer_id": authorizer_id }),
            json!({ "method": "DELETE", "path": "/items/{id}", "integration_id": "echo", "authorizer_id": authorizer_id }),
        ],
    );
    doc["authorizers"] = json!(authorizers);
    doc["stages"] = json!([{ "name": "prod", "variables": { "realm": "blue" } }]);
    doc
}

async fn call(
    node: &TestNode,
    api: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> Reply {
    let mut builder = request(method, &api_host(api), path);
    if let Some(token) = token {
        builder = builder.header("authorization", token);
    }
    node.send(Proto::Http1, builder.body(empty()).expect("request"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_callers_reach_the_backend_with_principal_and_context() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let authorizer = Stub::serving(policy(
        "Allow",
        "arn:aws:execute-api:*:edgeway:shop/prod/GET/*",
    ))
    .await;
    node.admin
        .apply(&api(
            "shop",
            &backend,
            vec![token_authorizer("tok", &authorizer.url("/auth"), 300)],
            "tok",
        ))
        .await;
    let reply = call(
        &node,
        "shop",
        Method::GET,
        "/prod/items/9",
        Some("Bearer abc"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let headers = &reply.json()["headers"];
    assert_eq!(
        (
            &headers["x-principal"],
            &headers["x-tenant"],
            &headers["x-tier"]
        ),
        (&json!("user-7"), &json!("t-42"), &json!("3"))
    );
    let event = &authorizer.received()[0];
    assert_eq!(event["type"], "TOKEN");
    assert_eq!(event["authorizationToken"], "Bearer abc");
    assert_eq!(
        event["methodArn"],
        "arn:aws:execute-api:local:edgeway:shop/prod/GET/items/9"
    );

    // The cached policy is evaluated against each request's ARN: DELETE is not allowed.
    call(
        &node,
        "shop",
        Method::DELETE,
        "/prod/items/9",
        Some("Bearer abc"),
    )
    .await
    .assert_gateway_error(403, "ACCESS_DENIED");
    assert_eq!(
        authorizer.hits(),
        1,
        "one call for both: the answer is cached"
    );

    // No identity: 401 without calling the authorizer.
    call(&node, "shop", Method::GET, "/prod/items/9", None)
        .await
        .assert_gateway_error(401, "UNAUTHORIZED");
    assert_eq!(authorizer.hits(), 1);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_token_make_one_call() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let authorizer =
        Stub::start(|_| StubReply::json(policy("Allow", "*")).after(Duration::from_millis(200)))
            .await;
    node.admin
        .apply(&api(
            "busy",
            &backend,
            vec![token_authorizer("tok", &authorizer.url("/auth"), 300)],
            "tok",
        ))
        .await;
    let requests = (0..100).map(|_| {
        let node = &node;
        async move {
            call(node, "busy", Method::GET, "/prod/items/1", Some("token-1"))
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        authorizer.hits(),
        1,
        "100 concurrent requests, one authorizer call"
    );
    assert_eq!(backend.hits(), 100);

    call(&node, "busy", Method::GET, "/prod/items/1", Some("token-2")).await;
    assert_eq!(authorizer.hits(), 2, "another identity, another call");

    // Any admin write swaps the snapshot; the authorizer keeps its cached answers.
    let (status, body) = node
        .admin
        .post("/apikeys", &json!({ "name": "unrelated" }))
        .await;
    assert_eq!(status, 201, "{body}");
    call(&node, "busy", Method::GET, "/prod/items/1", Some("token-1")).await;
    assert_eq!(authorizer.hits(), 2, "the cache survives the snapshot swap");

    // New settings, deployed: a new runtime with an empty cache.
    let changed = token_authorizer("tok", &authorizer.url("/auth"), 60);
    let (status, body) = node.admin.put("/apis/busy/authorizers/tok", &changed).await;
    assert_eq!(status, 200, "{body}");
    node.admin.deploy("busy", "prod").await;
    call(&node, "busy", Method::GET, "/prod/items/1", Some("token-1")).await;
    assert_eq!(authorizer.hits(), 3, "changed settings start afresh");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_ttl_calls_the_authorizer_every_time() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let authorizer =
        Stub::serving(json!({ "isAuthorized": true, "context": { "tenant": "simple" } })).await;
    node.admin
        .apply(&api(
            "fresh",
            &backend,
            vec![token_authorizer("tok", &authorizer.url("/auth"), 0)],
            "tok",
        ))
        .await;
    for i in 1..=5 {
        let reply = call(&node, "fresh", Method::GET, "/prod/items/1", Some("same")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["headers"]["x-tenant"], "simple");
        assert_eq!(authorizer.hits(), i);
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_failures_and_timeouts_get_aws_answers() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let authorizer =
        Stub::start(
            |event: &Value| match event["authorizationToken"].as_str().unwrap_or("") {
                "deny" => StubReply::json(policy("Deny", "*")),
                "nothing" => {
                    StubReply::json(policy("Allow", "arn:aws:execute-api:*:edgeway:elsewhere/*"))
                }
                "simple-no" => StubReply::json(json!({ "isAuthorized": false })),
                "unauthorized" => StubReply::status(401),
                "error" => StubReply::status(500),
                "garbage" => StubReply::json(json!("this is not JSON")),
                "empty" => StubReply::json(json!({ "principalId": "x" })),
                "slow" => StubReply::json(policy("Allow", "*")).after(Duration::from_secs(3)),
                _ => StubReply::json(policy("Allow", "*")),
            },
        )
        .await;
    let down = closed_port();
    node.admin
        .apply(&api(
            "strict",
            &backend,
            vec![
                token_authorizer("tok", &authorizer.url("/auth"), 300),
                token_authorizer("down", &format!("http://{}/auth", down.addr), 300),
            ],
            "tok",
        ))
        .await;
    let cases = [
        (
            "deny",
            403,
            "ACCESS_DENIED",
            "User is not authorized to access this resource with an explicit deny",
        ),
        (
            "nothing",
            403,
            "ACCESS_DENIED",
            "User is not authorized to access this resource",
        ),
        ("simple-no", 403, "ACCESS_DENIED", "Forbidden"),
        ("unauthorized", 401, "UNAUTHORIZED", "Unauthorized"),
        ("error", 500, "AUTHORIZER_FAILURE", ""),
        ("garbage", 500, "AUTHORIZER_FAILURE", ""),
        ("empty", 500, "AUTHORIZER_FAILURE", ""),
        ("slow", 500, "AUTHORIZER_FAILURE", ""),
    ];
    for (token, status, kind, message) in cases {
        let reply = call(&node, "strict", Method::GET, "/prod/items/1", Some(token)).await;
        reply.assert_gateway_error(status, kind);
        if !message.is_empty() {
            assert_eq!(reply.json()["message"], message, "{token}");
        }
    }
    assert_eq!(backend.hits(), 0);
    // Failures are not cached: the authorizer is asked again.
    let before = authorizer.hits();
    call(&node, "strict", Method::GET, "/prod/items/1", Some("error")).await;
    assert_eq!(authorizer.hits(), before + 1);
    // Denials are.
    call(&node, "strict", Method::GET, "/prod/items/1", Some("deny")).await;
    assert_eq!(authorizer.hits(), before + 1);

    let (status, body) = node
        .admin
        .put(
            "/apis/strict/routes/get-items-id",
            &json!({ "method": "GET", "path": "/items/{id}", "integration_id": "echo", "authorizer_id": "down" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    node.admin.deploy("strict", "prod").await;
    call(&node, "strict", Method::GET, "/prod/items/1", Some("ok"))
        .await
        .assert_gateway_error(500, "AUTHORIZER_FAILURE");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_authorizers_get_the_request_and_cache_by_every_identity_source() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let authorizer = Stub::start(|event: &Value| {
        let allowed = event["headers"]["x-tenant"] == "acme";
        StubReply::json(json!({ "isAuthorized": allowed, "context": { "tenant": event["headers"]["x-tenant"] } }))
    })
    .await;
    let request_authorizer = json!({
        "id": "req", "type": "request", "uri": authorizer.url("/auth"), "result_ttl_seconds": 300,
        "identity_source": ["$request.header.x-tenant", "$request.querystring.user", "$stageVariables.realm"],
    });
    node.admin
        .apply(&api("req", &backend, vec![request_authorizer], "req"))
        .await;
    let send = |tenant: Option<&'static str>, query: &'static str| {
        let node = &node;
        async move {
            let mut builder = request(
                Method::GET,
                &api_host("req"),
                &format!("/prod/items/5{query}"),
            )
            .header("x-other", "o");
            if let Some(tenant) = tenant {
                builder = builder.header("x-tenant", tenant);
            }
            node.send(Proto::Http1, builder.body(empty()).expect("request"))
                .await
        }
    };
    let reply = send(Some("acme"), "?user=ann&x=1").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["headers"]["x-tenant"], "acme");
    let event = &authorizer.received()[0];
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(
        event["methodArn"],
        "arn:aws:execute-api:local:edgeway:req/prod/GET/items/5"
    );
    assert_eq!(event["headers"]["x-other"], "o");
    assert_eq!(
        event["queryStringParameters"],
        json!({ "user": "ann", "x": "1" })
    );
    assert_eq!(event["pathParameters"], json!({ "id": "5" }));
    assert_eq!(event["stageVariables"], json!({ "realm": "blue" }));
    assert_eq!(event["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(event["identitySource"], json!(["acme", "ann", "blue"]));
    assert_eq!(event["routeKey"], "GET /items/{id}");

    assert_eq!(send(Some("acme"), "?user=ann&x=2").await.status, 200);
    assert_eq!(authorizer.hits(), 1, "same identity sources: cached");
    assert_eq!(send(Some("acme"), "?user=bob").await.status, 200);
    assert_eq!(authorizer.hits(), 2, "another query identity: another call");
    send(Some("umbrella"), "?user=ann")
        .await
        .assert_gateway_error(403, "ACCESS_DENIED");
    for (tenant, query) in [(None, "?user=ann"), (Some("acme"), "")] {
        send(tenant, query)
            .await
            .assert_gateway_error(401, "UNAUTHORIZED");
    }
    assert_eq!(
        authorizer.hits(),
        3,
        "missing identity sources never call the authorizer"
    );
    node.shutdown().await;
}
