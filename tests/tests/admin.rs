//! The admin API: bearer token, object CRUD, deployments, whole-document apply, and
//! validation errors that name the field.

use edgeway_tests::{Backend, TestNode, doc};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_need_the_bearer_token_but_probes_are_open() {
    let node = TestNode::start().await;
    let admin = &node.admin;
    let almost = &admin.token[..admin.token.len() - 1];
    for token in [None, Some("wrong-token-0123456789"), Some(almost)] {
        for (method, path) in [
            (Method::GET, "/apis"),
            (Method::GET, "/objects"),
            (Method::POST, "/apis"),
        ] {
            let body = json!({ "id": "sneaky", "name": "x", "kind": "rest" });
            let reply = admin
                .call_with(method.clone(), path, Some(&body), token)
                .await;
            assert_eq!(reply.status, 401, "{method} {path} with {token:?}");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
            assert_eq!(reply.json()["error"], "unauthorized");
        }
    }
    let (status, _) = admin.call(Method::GET, "/apis/sneaky", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");

    for probe in ["/health", "/ready"] {
        let reply = admin.call_with(Method::GET, probe, None, None).await;
        assert_eq!(reply.status, 200, "{probe}");
        assert_eq!(reply.json()["node"], "node-1");
    }
    node.admin
        .apply(&doc::http(
            "m",
            vec![doc::mock("m", 200, "m")],
            vec![doc::route("GET", "/m", "m")],
        ))
        .await;
    assert_eq!(node.get_api("m", "/m").await.status, 200);
    let metrics = admin.call_with(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text().contains("edgeway_requests_total"),
        "{}",
        metrics.text()
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_created_read_replaced_deployed_and_deleted() {
    let node = TestNode::start().await;
    let admin = &node.admin;
    let api = json!({ "id": "pets", "name": "Pets", "kind": "rest" });
    let (status, body) = admin.post("/apis", &api).await;
    assert_eq!((status, &body["id"]), (StatusCode::CREATED, &json!("pets")));
    let (status, body) = admin.post("/apis", &api).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("exists"))
    );
    let (status, body) = admin
        .post("/apis", &json!({ "name": "Unnamed", "kind": "http" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let generated = body["id"].as_str().expect("generated id").to_string();
    assert_eq!(generated.len(), 10);
    let ids: Vec<Value> = admin
        .get("/apis")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert!(
        ids.contains(&json!("pets")) && ids.contains(&json!(generated)),
        "{ids:?}"
    );

    let (status, _) = admin
        .put("/apis/pets", &json!({ "name": "Pets v2", "kind": "rest" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin.get("/apis/pets").await["name"], "Pets v2");

    let (status, body) = admin
        .post(
            "/apis/pets/integrations",
            &doc::mock("list", 200, "first answer"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, route) = admin
        .post("/apis/pets/routes", &doc::route("GET", "/pets", "list"))
        .await;
    assert_eq!(
        (status, &route["id"]),
        (StatusCode::CREATED, &json!("get-pets"))
    );
    assert_eq!(
        admin
            .get("/apis/pets/routes")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Nothing is served before a deployment.
    node.get_api("pets", "/prod/pets")
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    let deployment = admin.deploy("pets", "prod").await;
    assert_eq!(
        admin.get("/apis/pets/stages/prod").await["deployment_id"],
        deployment["id"]
    );
    assert_eq!(
        node.get_api("pets", "/prod/pets").await.text(),
        "first answer"
    );

    // A change is live only once deployed again.
    let (status, _) = admin
        .put(
            "/apis/pets/integrations/list",
            &doc::mock("ignored", 200, "second answer"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        admin.get("/apis/pets/integrations/list").await["mock"]["body"],
        "second answer"
    );
    assert_eq!(
        node.get_api("pets", "/prod/pets").await.text(),
        "first answer"
    );
    admin.deploy("pets", "prod").await;
    assert_eq!(
        node.get_api("pets", "/prod/pets").await.text(),
        "second answer"
    );

    // Deployments never change; an integration in use cannot go.
    let path = format!(
        "/apis/pets/deployments/{}",
        deployment["id"].as_str().unwrap()
    );
    let (status, _) = admin.put(&path, &json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = admin.delete("/apis/pets/integrations/list").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, _) = admin.delete("/apis/pets/routes/get-pets").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin.get("/apis/pets/routes").await, json!([]));
    admin.deploy("pets", "prod").await;
    node.get_api("pets", "/prod/pets")
        .await
        .assert_gateway_error(403, "MISSING_AUTHENTICATION_TOKEN");

    // A stage that goes stops serving; the deployment it served can go after it.
    let served = admin.get("/apis/pets/stages/prod").await["deployment_id"].clone();
    let served = format!("/apis/pets/deployments/{}", served.as_str().unwrap());
    let (status, _) = admin.delete(&served).await;
    assert_eq!(status, StatusCode::CONFLICT, "a served deployment stays");
    let (status, _) = admin.delete("/apis/pets/stages/prod").await;
    assert_eq!(status, StatusCode::OK);
    node.get_api("pets", "/prod/pets")
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    let (status, _) = admin.delete(&served).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = admin.delete("/apis/pets").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = admin.call(Method::GET, "/apis/pets", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = admin.call(Method::GET, "/apis/pets/stages", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.get_api("pets", "/prod/pets")
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_a_document_twice_changes_nothing_and_unnamed_objects_go() {
    let node = TestNode::start().await;
    let backend = Backend::start("b").await;
    let document = doc::rest(
        "shop",
        "prod",
        vec![
            doc::proxy("items", &backend.url("/items")),
            doc::mock("ping", 200, "pong"),
        ],
        vec![
            doc::route("GET", "/items", "items"),
            doc::route("GET", "/ping", "ping"),
        ],
    );
    node.admin.apply(&document).await;
    let before = node.admin.get("/objects").await;
    assert!(before["objects"].as_array().unwrap().len() >= 7, "{before}");

    node.admin.apply(&document).await;
    assert_eq!(
        node.admin.get("/objects").await,
        before,
        "same document, same versions"
    );
    // The stored document applies back onto itself as a no-op too.
    let stored = node.admin.get("/apis/shop/document").await;
    node.admin.apply(&stored).await;
    assert_eq!(node.admin.get("/objects").await, before);

    // A document without the ping route and integration deletes them.
    let smaller = doc::rest(
        "shop",
        "prod",
        vec![doc::proxy("items", &backend.url("/items"))],
        vec![doc::route("GET", "/items", "items")],
    );
    let stored = node.admin.apply(&smaller).await;
    assert_eq!(stored["routes"].as_array().unwrap().len(), 1);
    assert_eq!(stored["integrations"].as_array().unwrap().len(), 1);
    node.get_api("shop", "/prod/ping")
        .await
        .assert_gateway_error(403, "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(node.get_api("shop", "/prod/items").await.status, 200);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_objects_are_refused_with_the_field_named() {
    let node = TestNode::start().await;
    let admin = &node.admin;
    admin
        .apply(&doc::rest(
            "base",
            "prod",
            vec![doc::mock("m", 200, "m")],
            vec![doc::route("GET", "/m", "m")],
        ))
        .await;
    let before = admin.get("/objects").await;
    let bad_document = |integration: Value| json!({ "api": { "id": "base", "name": "base", "kind": "rest" }, "integrations": [integration] });
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/apis",
            json!({ "id": "Bad Id", "name": "x", "kind": "rest" }),
            ": id: ",
        ),
        (
            "POST",
            "/apis",
            json!({ "id": "noname", "name": " ", "kind": "rest" }),
            ": name: ",
        ),
        (
            "POST",
            "/apis",
            json!({ "id": "gr", "name": "gr", "kind": "rest",
                    "gateway_responses": { "THROTTLED": { "status_code": 700 } } }),
            "gateway_responses.THROTTLED.status_code",
        ),
        (
            "POST",
            "/apis/base/integrations",
            json!({ "id": "fast", "type": "http_proxy", "uri": "http://127.0.0.1:1/", "timeout_ms": 10 }),
            ": timeout_ms: must be between 50 and 29000",
        ),
        (
            "POST",
            "/apis/base/integrations",
            json!({ "id": "nouri", "type": "http" }),
            ": uri: ",
        ),
        (
            "POST",
            "/apis/base/integrations",
            json!({ "id": "nomock", "type": "mock" }),
            ": mock: ",
        ),
        (
            "POST",
            "/apis/base/routes",
            doc::route("GET", "pets", "m"),
            ": path: must start with '/'",
        ),
        (
            "POST",
            "/apis/base/routes",
            doc::route("FETCH", "/pets", "m"),
            ": method: ",
        ),
        (
            "POST",
            "/apis/base/stages",
            json!({ "name": "dev", "variables": { "bad-name": "x" } }),
            "variables.bad-name",
        ),
        (
            "PUT",
            "/apis/base/document",
            bad_document(json!({ "id": "p", "type": "http_proxy", "uri": "http://h/",
                                 "request_parameters": { "integration.request.header.x": "'y'" } })),
            ": request_parameters: ",
        ),
        (
            "PUT",
            "/apis/base/document",
            bad_document(json!({ "id": "p", "type": "http", "uri": "http://h/",
                                 "responses": [{ "selection_pattern": "(" }] })),
            "responses[0].selection_pattern",
        ),
        (
            "POST",
            "/domains",
            json!({ "name": "api.example.test", "mappings": [{ "base_path": "/v1", "api_id": "base", "stage": "prod" }] }),
            "mappings[0].base_path",
        ),
        (
            "POST",
            "/domains",
            json!({ "name": "api.example.test", "certificate_pem": "x" }),
            ": certificate_pem: ",
        ),
        (
            "POST",
            "/domains",
            json!({ "name": "Upper.Example" }),
            ": name: ",
        ),
        (
            "PUT",
            "/apis/base/document",
            json!({ "api": { "id": "base", "name": "base", "kind": "rest" },
                    "routes": [doc::route("GET", "/x", "nowhere")] }),
            ": integration_id: no integration 'nowhere'",
        ),
        (
            "POST",
            "/apis/base/routes",
            doc::route("ANY", "$default", "m"),
            ": path: $default routes exist only in http APIs",
        ),
        (
            "POST",
            "/apis/base/stages",
            json!({ "name": "$default" }),
            ": name: ",
        ),
        (
            "POST",
            "/apis/base/stages",
            json!({ "name": "auto", "auto_deploy": true }),
            ": auto_deploy: ",
        ),
    ];
    for (method, path, body, field) in cases {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, error) = admin.call(method.clone(), path, Some(&body)).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}: {error}"
        );
        assert_eq!(error["error"], "invalid", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{method} {path}: {message:?} should name {field:?}"
        );
    }

    // Unparsable JSON and references to missing objects are refused too.
    let reply = admin
        .call_with(Method::POST, "/apis", None, Some(&admin.token))
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json()["error"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, error) = admin
        .post("/apis/base/routes", &doc::route("GET", "/x", "missing"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("integration missing"),
        "{error}"
    );

    assert_eq!(
        admin.get("/objects").await,
        before,
        "no refused write left a trace"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_deploy_stages_serve_every_change_at_once() {
    let node = TestNode::start().await;
    let admin = &node.admin;
    let (status, _) = admin
        .post(
            "/apis",
            &json!({ "id": "auto", "name": "auto", "kind": "http" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = admin
        .post(
            "/apis/auto/stages",
            &json!({ "name": "$default", "auto_deploy": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    admin
        .post("/apis/auto/integrations", &doc::mock("v", 200, "one"))
        .await;
    let (status, _) = admin
        .post("/apis/auto/routes", &doc::route("GET", "/v", "v"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        node.get_api("auto", "/v").await.text(),
        "one",
        "no deploy call needed"
    );

    admin
        .put("/apis/auto/integrations/v", &doc::mock("v", 200, "two"))
        .await;
    assert_eq!(node.get_api("auto", "/v").await.text(), "two");
    let (status, _) = admin.delete("/apis/auto/routes/get-v").await;
    assert_eq!(status, StatusCode::OK);
    node.get_api("auto", "/v")
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");

    // Each request was counted under its route.
    let metrics = admin
        .call_with(Method::GET, "/metrics", None, None)
        .await
        .text();
    let count = |class: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("edgeway_requests_total{")
                    && l.contains("api=\"auto\"")
                    && l.contains("route=\"GET /v\"")
                    && l.contains(&format!("status_class=\"{class}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    assert_eq!(count("2xx").as_deref(), Some("2"), "{metrics}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_each_applied_exactly_once() {
    let node = TestNode::start().await;
    let admin = &node.admin;
    admin
        .apply(&doc::http("busy", vec![doc::mock("m", 200, "m")], vec![]))
        .await;
    // Twenty different routes at once: all land, all are live (auto-deploy saw each).
    let creates = (0..20).map(|i| async move {
        admin
            .post(
                "/apis/busy/routes",
                &doc::route("GET", &format!("/r{i}"), "m"),
            )
            .await
            .0
    });
    let statuses = futures_util::future::join_all(creates).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(
        admin
            .get("/apis/busy/routes")
            .await
            .as_array()
            .unwrap()
            .len(),
        20
    );
    for i in 0..20 {
        assert_eq!(
            node.get_api("busy", &format!("/r{i}")).await.status,
            200,
            "/r{i}"
        );
    }
    // The same object created ten times at once: one wins, the others conflict.
    let same = (0..10).map(|_| async {
        admin
            .post(
                "/apis",
                &json!({ "id": "once", "name": "once", "kind": "rest" }),
            )
            .await
            .0
    });
    let statuses = futures_util::future::join_all(same).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 9), "{statuses:?}");
    node.shutdown().await;
}
