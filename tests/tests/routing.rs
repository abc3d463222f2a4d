//! Route matching as clients see it: precedence, methods, greedy paths, stages and endpoints.

use edgeway_tests::client::{empty, full};
use edgeway_tests::{Backend, TestNode, api_host, doc, request};
use http::Method;
use serde_json::json;

/// Sends `method path` to `api`'s default endpoint and returns status + body text.
async fn call(node: &TestNode, api: &str, method: Method, path: &str) -> (u16, String) {
    let req = request(method, &api_host(api), path).body(empty()).unwrap();
    let reply = node.send(edgeway_tests::Proto::Http1, req).await;
    (reply.status.as_u16(), reply.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_segments_beat_params_which_beat_greedy_paths() {
    let node = TestNode::start().await;
    node.admin
        .apply(&doc::rest(
            "prec",
            "prod",
            vec![
                doc::mock("static", 200, "static"),
                doc::mock("param", 200, "param"),
                doc::mock("greedy", 200, "greedy"),
            ],
            vec![
                doc::route("GET", "/pets/dog", "static"),
                doc::route("GET", "/pets/{id}", "param"),
                doc::route("GET", "/{proxy+}", "greedy"),
            ],
        ))
        .await;
    for (path, expected) in [
        ("/prod/pets/dog", "static"),
        ("/prod/pets/cat", "param"),
        ("/prod/pets/cat/toys", "greedy"),
        ("/prod/other", "greedy"),
        ("/prod/pets", "greedy"),
    ] {
        let (status, body) = call(&node, "prec", Method::GET, path).await;
        assert_eq!((status, body.as_str()), (200, expected), "GET {path}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exact_method_beats_any_and_a_method_miss_falls_back_to_a_less_specific_path() {
    let node = TestNode::start().await;
    node.admin
        .apply(&doc::rest(
            "methods",
            "prod",
            vec![
                doc::mock("get-items", 200, "get items"),
                doc::mock("any-items", 200, "any items"),
                doc::mock("get-pet", 200, "get pet"),
                doc::mock("catch-all", 200, "catch all"),
            ],
            vec![
                doc::route("GET", "/items", "get-items"),
                doc::route("ANY", "/items", "any-items"),
                doc::route("GET", "/pets/{id}", "get-pet"),
                doc::route("ANY", "/{proxy+}", "catch-all"),
            ],
        ))
        .await;
    for (method, path, expected) in [
        (Method::GET, "/prod/items", "get items"),
        (Method::DELETE, "/prod/items", "any items"),
        (Method::POST, "/prod/items", "any items"),
        (Method::GET, "/prod/pets/7", "get pet"),
        // No POST at /pets/{id}: the greedy route further up answers instead.
        (Method::POST, "/prod/pets/7", "catch all"),
        (Method::PUT, "/prod/elsewhere/deep", "catch all"),
    ] {
        let (status, body) = call(&node, "methods", method.clone(), path).await;
        assert_eq!((status, body.as_str()), (200, expected), "{method} {path}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_any_route_forwards_every_method_and_its_body() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin
        .apply(&doc::rest(
            "any",
            "prod",
            vec![doc::proxy("echo", &backend.url("/things"))],
            vec![doc::route("ANY", "/things", "echo")],
        ))
        .await;
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = format!("body of {method}");
        let req = request(method.clone(), &api_host("any"), "/prod/things")
            .body(full(body.clone()))
            .unwrap();
        let reply = node.send(edgeway_tests::Proto::Http1, req).await;
        assert_eq!(reply.status, 200, "{method}: {}", reply.text());
        let echo = reply.json();
        assert_eq!(echo["method"], method.as_str());
        assert_eq!(echo["path"], "/things");
        assert_eq!(echo["body"], body.as_str());
    }
    assert_eq!(backend.hits(), 6);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_route_forwards_the_remaining_path_and_the_query_string() {
    let node = TestNode::start().await;
    let backend = Backend::start("files").await;
    node.admin
        .apply(&doc::rest(
            "files",
            "prod",
            vec![doc::proxy("store", &backend.url("/store/{proxy}"))],
            vec![doc::route("ANY", "/files/{proxy+}", "store")],
        ))
        .await;
    let reply = node
        .get_api("files", "/prod/files/a/b%20c/d.txt?x=1&y=two%20words")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let echo = reply.json();
    assert_eq!(
        echo["path"], "/store/a/b%20c/d.txt",
        "raw segments pass unchanged"
    );
    assert_eq!(echo["query"], "x=1&y=two%20words");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_apis_serve_the_default_stage_from_the_root_and_named_stages_by_prefix() {
    let node = TestNode::start().await;
    node.admin
        .apply(&json!({
            "api": { "id": "stages", "name": "stages", "kind": "http" },
            "integrations": [doc::mock("hello", 200, "hello from ${stageVariables.who}")],
            "routes": [doc::route("GET", "/hello", "hello")],
            "stages": [
                { "name": "$default", "auto_deploy": true, "variables": { "who": "default" } },
                { "name": "beta", "variables": { "who": "beta" } },
            ],
            "deploy_to": ["beta"],
        }))
        .await;
    assert_eq!(
        call(&node, "stages", Method::GET, "/hello").await,
        (200, "hello from default".into())
    );
    assert_eq!(
        call(&node, "stages", Method::GET, "/beta/hello").await,
        (200, "hello from beta".into())
    );
    // The path form needs no DNS name and works on any host.
    let reply = node
        .get("localhost", "/restapis/stages/beta/_user_request_/hello")
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.text()),
        (200, "hello from beta".into())
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_route_catches_what_no_other_route_matches() {
    let node = TestNode::start().await;
    node.admin
        .apply(&doc::http(
            "fallback",
            vec![
                doc::mock("root", 200, "root"),
                doc::mock("item", 200, "item"),
                doc::mock("default", 200, "default"),
            ],
            vec![
                doc::route("GET", "/", "root"),
                doc::route("GET", "/items/{id}", "item"),
                doc::route("ANY", "$default", "default"),
            ],
        ))
        .await;
    for (method, path, expected) in [
        (Method::GET, "/", "root"),
        (Method::GET, "/items/1", "item"),
        (Method::GET, "/items/1/", "item"),
        (Method::POST, "/items/1", "default"),
        (Method::GET, "/items", "default"),
        (Method::DELETE, "/anything/at/all", "default"),
    ] {
        let (status, body) = call(&node, "fallback", method.clone(), path).await;
        assert_eq!((status, body.as_str()), (200, expected), "{method} {path}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_match_without_case_or_port_on_both_protocols() {
    let node = TestNode::start().await;
    node.admin
        .apply(&doc::http(
            "hosts",
            vec![doc::mock("hi", 200, "hi")],
            vec![doc::route("GET", "/hi", "hi")],
        ))
        .await;
    for proto in [edgeway_tests::Proto::Http1, edgeway_tests::Proto::H2c] {
        for host in [
            "hosts.execute-api.localhost:8443",
            "HOSTS.Execute-Api.LocalHost",
        ] {
            let reply = node.send(proto, edgeway_tests::get(host, "/hi")).await;
            assert_eq!(
                (reply.status.as_u16(), reply.text()),
                (200, "hi".into()),
                "{proto:?} {host}"
            );
        }
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_at_one_position_keep_each_route_s_own_name() {
    let node = TestNode::start().await;
    let backend = Backend::start("params").await;
    node.admin
        .apply(&doc::rest(
            "params",
            "prod",
            vec![
                doc::proxy("pet", &backend.url("/pet/{id}")),
                doc::proxy("toys", &backend.url("/owner/{name}/toys/{toy}")),
            ],
            vec![
                doc::route("GET", "/pets/{id}", "pet"),
                doc::route("GET", "/pets/{name}/toys/{toy}", "toys"),
            ],
        ))
        .await;
    for (path, backend_path) in [
        ("/prod/pets/7", "/pet/7"),
        ("/prod/pets/rex/toys/ball", "/owner/rex/toys/ball"),
    ] {
        let reply = node.get_api("params", path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(reply.json()["path"], backend_path, "{path}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_without_its_default_endpoint_is_reached_only_through_its_domain() {
    let node = TestNode::start().await;
    let mut hidden = doc::rest(
        "hidden",
        "prod",
        vec![doc::mock("hi", 200, "hi")],
        vec![doc::route("GET", "/hi", "hi")],
    );
    hidden["api"]["disable_default_endpoint"] = json!(true);
    node.admin.apply(&hidden).await;
    let (status, body) = node
        .admin
        .post(
            "/domains",
            &json!({ "name": "hidden.example.test",
                     "mappings": [{ "base_path": "api", "api_id": "hidden", "stage": "prod" }] }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        node.get("hidden.example.test", "/api/hi").await.text(),
        "hi"
    );
    for (host, path) in [
        ("hidden.execute-api.localhost", "/prod/hi"),
        ("localhost", "/restapis/hidden/prod/_user_request_/hi"),
    ] {
        node.get(host, path)
            .await
            .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    }
    node.shutdown().await;
}
