//! API keys: created with a value shown once, imported from CSV, required by routes; a key
//! must be enabled and in a usage plan covering the stage, from the `x-api-key` header or a
//! custom authorizer's `usageIdentifierKey`. Every refusal is AWS's 403 "Forbidden".

use edgeway_tests::auth::{Stub, StubReply};
use edgeway_tests::client::{Conn, Proto, Reply, empty, full};
use edgeway_tests::{Backend, TestNode, api_host, doc, request};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// A REST API with stages `prod` and `dev`; `GET /items` requires a key, `GET /free` does not.
fn keyed_api(id: &str, backend: &Backend) -> Value {
    let mut doc = doc::rest(
        id,
        "prod",
        vec![doc::proxy("echo", &backend.url("/echo"))],
        vec![
            json!({ "method": "GET", "path": "/items", "integration_id": "echo", "api_key_required": true }),
            doc::route("GET", "/free", "echo"),
        ],
    );
    doc["stages"] = json!([{ "name": "prod" }, { "name": "dev" }]);
    doc["deploy_to"] = json!(["prod", "dev"]);
    doc
}

async fn create_key(node: &TestNode, body: Value) -> Value {
    let (status, key) = node.admin.post("/apikeys", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key
}

/// A usage plan covering `api`'s `stage`, with `keys` attached.
async fn plan(node: &TestNode, api: &str, stage: &str, keys: &[&str]) -> String {
    let (status, plan) = node
        .admin
        .post(
            "/usageplans",
            &json!({ "name": format!("{api}-{stage}"), "api_stages": [{ "api_id": api, "stage": stage }] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let id = plan["id"].as_str().expect("plan id").to_string();
    for key in keys {
        let (status, body) = node
            .admin
            .post(&format!("/usageplans/{id}/keys"), &json!({ "key_id": key }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    id
}

async fn with_key(node: &TestNode, api: &str, path: &str, key: Option<&str>) -> Reply {
    let mut builder = request(Method::GET, &api_host(api), path);
    if let Some(key) = key {
        builder = builder.header("x-api-key", key);
    }
    node.send(Proto::Http1, builder.body(empty()).expect("request"))
        .await
}

#[track_caller]
fn assert_forbidden(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 403, "{case}: {}", reply.text());
    assert_eq!(reply.error_type(), Some("INVALID_API_KEY"), "{case}");
    assert_eq!(reply.json(), json!({ "message": "Forbidden" }), "{case}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_value_is_shown_once_and_its_settings_change_without_it() {
    let node = TestNode::start().await;
    let created = create_key(&node, json!({ "name": "ann", "description": "first" })).await;
    let (id, value) = (
        created["id"].as_str().unwrap(),
        created["value"].as_str().unwrap(),
    );
    assert_eq!(value.len(), 40, "generated: 40 base62 characters");
    assert!(value.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(created["enabled"], true);

    let listed = node.admin.get("/apikeys").await;
    let one = node.admin.get(&format!("/apikeys/{id}")).await;
    let objects = node.admin.get("/objects").await;
    for shown in [&listed, &one, &objects] {
        assert!(
            !shown.to_string().contains(value),
            "the value is shown once: {shown}"
        );
    }
    assert!(
        one.get("value").is_none() && one.get("value_sha256").is_none(),
        "{one}"
    );
    assert_eq!(listed[0]["name"], "ann");

    let (status, updated) = node
        .admin
        .put(
            &format!("/apikeys/{id}"),
            &json!({ "name": "ann b", "enabled": false }),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (
            &updated["name"],
            &updated["enabled"],
            &updated["description"]
        ),
        (&json!("ann b"), &json!(false), &json!("first"))
    );
    let (status, refused) = node
        .admin
        .put(
            &format!("/apikeys/{id}"),
            &json!({ "value": "a-new-value-of-enough-length" }),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        refused["message"].as_str().unwrap().contains("value"),
        "{refused}"
    );

    let mine = "my-own-key-value-0123456789";
    let given = create_key(&node, json!({ "name": "given", "value": mine })).await;
    assert_eq!(given["value"], mine);
    let (status, twin) = node.admin.post("/apikeys", &json!({ "value": mine })).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "two keys cannot share a value: {twin}"
    );
    let (status, short) = node
        .admin
        .post("/apikeys", &json!({ "value": "short" }))
        .await;
    assert_eq!(status, 400);
    assert!(
        short["message"].as_str().unwrap().contains("value"),
        "{short}"
    );

    let (status, _) = node.admin.delete(&format!("/apikeys/{id}")).await;
    assert_eq!(status, 200);
    let (status, _) = node
        .admin
        .call(Method::GET, &format!("/apikeys/{id}"), None)
        .await;
    assert_eq!(status, 404);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_enabled_keys_in_a_plan_for_the_stage_pass() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin.apply(&keyed_api("keyed", &backend)).await;
    let good = create_key(&node, json!({ "name": "good" })).await;
    let off = create_key(&node, json!({ "name": "off", "enabled": false })).await;
    let dev_only = create_key(&node, json!({ "name": "dev-only" })).await;
    let planless = create_key(&node, json!({ "name": "planless" })).await;
    let id = |k: &Value| k["id"].as_str().unwrap().to_string();
    let value = |k: &Value| k["value"].as_str().unwrap().to_string();
    plan(&node, "keyed", "prod", &[&id(&good), &id(&off)]).await;
    let dev_plan = plan(&node, "keyed", "dev", &[&id(&dev_only)]).await;

    let reply = with_key(&node, "keyed", "/prod/items", Some(&value(&good))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["headers"]["x-api-key"],
        value(&good),
        "the backend sees the request"
    );
    assert_eq!(backend.hits(), 1);

    for (case, key) in [
        ("no key", None),
        (
            "unknown key",
            Some("no-such-key-0123456789abcdef".to_string()),
        ),
        ("disabled key", Some(value(&off))),
        ("key in a plan for another stage", Some(value(&dev_only))),
        ("key in no plan", Some(value(&planless))),
    ] {
        assert_forbidden(
            &with_key(&node, "keyed", "/prod/items", key.as_deref()).await,
            case,
        );
    }
    assert_eq!(backend.hits(), 1, "no refused request reached the backend");
    assert_eq!(
        with_key(&node, "keyed", "/dev/items", Some(&value(&dev_only)))
            .await
            .status,
        200
    );
    assert_eq!(
        with_key(&node, "keyed", "/prod/free", None).await.status,
        200,
        "keys only where required"
    );

    // Enabling a key lets it in; deleting a key also detaches it from its plans.
    let (status, _) = node
        .admin
        .put(
            &format!("/apikeys/{}", id(&off)),
            &json!({ "enabled": true }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        with_key(&node, "keyed", "/prod/items", Some(&value(&off)))
            .await
            .status,
        200
    );
    node.admin
        .delete(&format!("/apikeys/{}", id(&dev_only)))
        .await;
    assert_eq!(
        node.admin
            .get(&format!("/usageplans/{dev_plan}/keys"))
            .await,
        json!([])
    );
    assert_forbidden(
        &with_key(&node, "keyed", "/dev/items", Some(&value(&dev_only))).await,
        "deleted key",
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_imports_are_all_or_nothing_and_name_bad_lines() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin.apply(&keyed_api("bulk", &backend)).await;
    let plan_id = plan(&node, "bulk", "prod", &[]).await;
    let import = |csv: String| {
        let node = &node;
        async move {
            let request = http::Request::post("http://admin/apikeys/import")
                .header("host", "admin")
                .header("authorization", format!("Bearer {}", node.admin.token))
                .header("content-type", "text/csv")
                .body(full(csv))
                .expect("request");
            let mut conn = Conn::open(node.admin_addr(), Proto::Http1)
                .await
                .expect("admin");
            let reply = conn.fetch(request).await;
            (reply.status, reply.json())
        }
    };
    let bad = "Name,Key,Description,Enabled\n\
               ok,first-imported-key-0123456789,fine,true\n\
               short,tiny,,true\n\
               dup,first-imported-key-0123456789,,TRUE\n\
               odd,another-imported-key-0123456789,,maybe\n";
    let (status, body) = import(bad.to_string()).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    for expected in [
        "line 3: key",
        "line 4: key: the same value as line 2",
        "line 5: enabled",
    ] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
    assert_eq!(
        node.admin.get("/apikeys").await,
        json!([]),
        "nothing imported"
    );

    let good = format!(
        "key,NAME,enabled,usageplanIds\n\
         first-imported-key-0123456789,\"Ann, Inc.\",true,{plan_id}\n\
         second-imported-key-0123456789,bob,false,{plan_id}\n"
    );
    let (status, body) = import(good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ids"].as_array().unwrap().len(), 2);
    let keys = node.admin.get("/apikeys").await;
    let names: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Ann, Inc.") && names.contains(&"bob"),
        "{keys}"
    );
    assert_eq!(
        with_key(
            &node,
            "bulk",
            "/prod/items",
            Some("first-imported-key-0123456789")
        )
        .await
        .status,
        200
    );
    assert_forbidden(
        &with_key(
            &node,
            "bulk",
            "/prod/items",
            Some("second-imported-key-0123456789"),
        )
        .await,
        "imported disabled",
    );

    let (status, body) = import("key,name\nfirst-imported-key-0123456789,again\n".into()).await;
    assert_eq!(status, 400, "an existing value: {body}");
    let (status, body) = import("name,colour\nx,blue\n".into()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("line 1"),
        "{body}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorizer_may_supply_the_key() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let key = create_key(&node, json!({ "name": "partner" })).await;
    let value = key["value"].as_str().unwrap().to_string();
    let authorizer = Stub::start(move |event: &Value| {
        let mut answer = json!({
            "principalId": "partner",
            "policyDocument": { "Statement": [{ "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*" }] },
        });
        if event["authorizationToken"] == "with-key" {
            answer["usageIdentifierKey"] = json!(value);
        }
        StubReply::json(answer)
    })
    .await;
    let mut doc = keyed_api("delegated", &backend);
    doc["api"]["api_key_source"] = json!("AUTHORIZER");
    doc["authorizers"] = json!([{ "id": "tok", "type": "token", "uri": authorizer.url("/auth") }]);
    doc["routes"][0]["authorizer_id"] = json!("tok");
    node.admin.apply(&doc).await;
    plan(&node, "delegated", "prod", &[key["id"].as_str().unwrap()]).await;

    let send = |token: &'static str| {
        let node = &node;
        async move {
            let request = request(Method::GET, &api_host("delegated"), "/prod/items")
                .header("authorization", token)
                .body(empty())
                .expect("request");
            node.send(Proto::Http1, request).await
        }
    };
    assert_eq!(send("with-key").await.status, 200);
    assert_forbidden(&send("without-key").await, "no usageIdentifierKey");
    // The header does not count when the key source is the authorizer.
    let header_only = request(Method::GET, &api_host("delegated"), "/prod/items")
        .header("authorization", "without-key")
        .header("x-api-key", key["value"].as_str().unwrap())
        .body(empty())
        .expect("request");
    assert_forbidden(
        &node.send(Proto::Http1, header_only).await,
        "header with AUTHORIZER source",
    );
    node.shutdown().await;
}
