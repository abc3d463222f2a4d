//! `edgewayctl` commands for each admin endpoint against a real node: the happy path, and an
//! error path with its exit code.

mod common;

use common::Ctl;
use edgeway_tests::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apis_integrations_routes_stages_and_deployments() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    let api = ctl.file("api.yaml", "id: pets\nname: Pets\nkind: rest\n");
    assert_eq!(
        ctl.run(&["create", "apis", "-f", &api, "-o", "json"])
            .await
            .json()["id"],
        "pets"
    );
    let mock = ctl.file(
        "mock.yaml",
        "id: list\ntype: mock\nmock: {status_code: 200, body: '{\"env\": \"${stageVariables.env}\"}'}\n",
    );
    ctl.run(&["create", "integrations", "--api", "pets", "-f", &mock])
        .await
        .ok();
    let route = ctl.file(
        "route.json",
        r#"{"method": "GET", "path": "/pets/{id}", "integration_id": "list"}"#,
    );
    ctl.run(&["create", "route", "--api", "pets", "-f", &route])
        .await
        .ok();
    let stage = ctl.file("stage.yaml", "name: prod\nvariables: {env: production}\n");
    ctl.run(&["update", "stages", "prod", "--api", "pets", "-f", &stage])
        .await
        .ok();

    let routes = ctl.run(&["get", "routes", "--api", "pets"]).await;
    let lines: Vec<&str> = routes.ok().lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[1].contains("GET") && lines[1].contains("/pets/{id}"),
        "{lines:?}"
    );
    let integrations = ctl
        .run(&["get", "integrations", "--api", "pets", "-o", "yaml"])
        .await;
    assert!(
        integrations.ok().contains("type: mock"),
        "{}",
        integrations.stdout
    );

    let deployment = ctl
        .run(&["deploy", "pets", "--stage", "prod", "-o", "json"])
        .await
        .json();
    let stage = ctl
        .run(&["get", "stage", "prod", "--api", "pets", "-o", "json"])
        .await
        .json();
    assert_eq!(stage["deployment_id"], deployment["id"]);
    let served = node.get_api("pets", "/prod/pets/7").await;
    assert_eq!(served.text(), r#"{"env": "production"}"#);
    let deployments = ctl
        .run(&["get", "deployments", "--api", "pets", "-o", "json"])
        .await
        .json();
    assert_eq!(deployments.as_array().map(Vec::len), Some(1));

    let document = ctl.run(&["document", "pets"]).await;
    assert!(
        document.ok().contains("path: /pets/{id}"),
        "{}",
        document.stdout
    );
    let renamed = ctl.file(
        "api2.yaml",
        "name: Pets\nkind: rest\ndescription: all the pets\n",
    );
    ctl.run(&["update", "api", "pets", "-f", &renamed])
        .await
        .ok();
    let api = ctl.run(&["get", "apis", "pets", "-o", "json"]).await.json();
    assert_eq!(api["description"], "all the pets");

    let route_id = ctl
        .run(&["get", "routes", "--api", "pets", "-o", "json"])
        .await
        .json()[0]["id"]
        .as_str()
        .expect("route id")
        .to_string();
    let deleted = ctl
        .run(&["delete", "route", &route_id, "--api", "pets"])
        .await;
    assert_eq!(deleted.ok(), format!("deleted route pets/{route_id}\n"));

    // Error paths: local mistakes exit 1, missing objects 5, invalid objects 7.
    ctl.run(&["get", "routes"])
        .await
        .fails(1, "give --api API_ID");
    ctl.run(&["get", "pods"])
        .await
        .fails(1, "unknown kind 'pods'");
    ctl.run(&["get", "route", &route_id, "--api", "pets"])
        .await
        .fails(5, "not found");
    ctl.run(&["deploy", "nope", "--stage", "prod"])
        .await
        .fails(5, "nope");
    ctl.run(&["document", "nope"]).await.fails(5, "not found");
    let slow = ctl.file(
        "slow.yaml",
        "id: slow\ntype: mock\ntimeout_ms: 10\nmock: {status_code: 200}\n",
    );
    ctl.run(&["create", "integration", "--api", "pets", "-f", &slow])
        .await
        .fails(7, "timeout_ms");
    ctl.run(&["create", "apis", "-f", "/nonexistent.yaml"])
        .await
        .fails(1, "/nonexistent.yaml");

    ctl.run(&["delete", "apis", "pets"]).await.ok();
    ctl.run(&["get", "apis", "pets"])
        .await
        .fails(5, "not found");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizers_and_domains() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    let api = ctl.file("api.yaml", "id: pets\nname: Pets\nkind: http\n");
    ctl.run(&["create", "apis", "-f", &api]).await.ok();
    let jwt = ctl.file(
        "jwt.yaml",
        "id: jwt\ntype: jwt\njwt: {issuer: 'https://issuer.example', audiences: [pets], algorithms: [HS256], hmac_secret: 'a shared secret of at least 32 bytes'}\n",
    );
    ctl.run(&["create", "authorizers", "--api", "pets", "-f", &jwt])
        .await
        .ok();
    let shown = ctl
        .run(&["get", "authorizer", "jwt", "--api", "pets", "-o", "json"])
        .await
        .json();
    assert_eq!(shown["jwt"]["hmac_secret"], "(redacted)");
    let table = ctl.run(&["get", "authorizers", "--api", "pets"]).await;
    assert!(
        table
            .ok()
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("jwt") && l.contains("jwt"))
    );

    let domain = ctl.file(
        "domain.yaml",
        "name: api.example.com\nmappings: [{base_path: v1, api_id: pets, stage: $default}]\n",
    );
    ctl.run(&["create", "domains", "-f", &domain]).await.ok();
    let domains = ctl.run(&["get", "domains"]).await;
    assert!(
        domains.ok().contains("api.example.com"),
        "{}",
        domains.stdout
    );
    ctl.run(&["create", "domains", "-f", &domain])
        .await
        .fails(6, "api.example.com");
    let bad = ctl.file(
        "bad.yaml",
        "name: bad.example.com\nmappings: [{api_id: nope, stage: x}]\n",
    );
    let refused = ctl.run(&["create", "domain", "-f", &bad]).await;
    assert!([5, 7].contains(&refused.code), "{refused:?}");
    ctl.run(&["delete", "domain", "api.example.com"]).await.ok();
    ctl.run(&["delete", "domain", "api.example.com"])
        .await
        .fails(5, "not found");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_plans_and_usage() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    let doc = ctl.file(
        "api.json",
        r#"{"api": {"id": "shop", "name": "shop", "kind": "rest"},
            "integrations": [{"id": "ok", "type": "mock", "mock": {"status_code": 200}}],
            "routes": [{"method": "GET", "path": "/a", "integration_id": "ok", "api_key_required": true}],
            "stages": [{"name": "prod"}], "deploy_to": ["prod"]}"#,
    );
    ctl.run(&["apply", "-f", &doc]).await.ok();

    let created = ctl
        .run(&["keys", "create", "--name", "partner", "-o", "json"])
        .await
        .json();
    let (key_id, value) = (
        created["id"].as_str().unwrap(),
        created["value"].as_str().unwrap(),
    );
    assert_eq!(value.len(), 40);
    let shown_once = ctl.run(&["keys", "create", "--name", "other"]).await;
    assert!(shown_once.ok().contains("value: ") && shown_once.stdout.contains("shown once"));
    let disabled = ctl
        .run(&["keys", "disable", key_id, "-o", "json"])
        .await
        .json();
    assert_eq!(disabled["enabled"], false);
    assert_eq!(
        ctl.run(&["keys", "enable", key_id, "-o", "json"])
            .await
            .json()["enabled"],
        true
    );
    let csv = ctl.file(
        "keys.csv",
        "name,key\nimported,imported-key-value-0123456789\n",
    );
    let imported = ctl
        .run(&["keys", "import", &csv, "-o", "json"])
        .await
        .json();
    assert_eq!(imported["ids"].as_array().map(Vec::len), Some(1));
    let bad_csv = ctl.file("bad.csv", "name,key\nshort,abc\n");
    ctl.run(&["keys", "import", &bad_csv])
        .await
        .fails(7, "line 2");
    assert_eq!(
        ctl.run(&["get", "keys", "-o", "json"])
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    let plan = ctl.file(
        "plan.yaml",
        "id: gold\nname: Gold\napi_stages: [{api_id: shop, stage: prod}]\nquota: {limit: 100, period: DAY}\n",
    );
    ctl.run(&["create", "plans", "-f", &plan]).await.ok();
    ctl.run(&["plans", "add-key", "gold", key_id]).await.ok();
    ctl.run(&["plans", "add-key", "gold", "no-such-key"])
        .await
        .fails(5, "no-such-key");
    let request = edgeway_tests::client::request(
        http::Method::GET,
        &edgeway_tests::api_host("shop"),
        "/prod/a",
    )
    .header("x-api-key", value);
    let request = request.body(edgeway_tests::client::empty()).unwrap();
    assert_eq!(
        node.send(edgeway_tests::Proto::Http1, request).await.status,
        200
    );
    let keys = ctl.run(&["plans", "keys", "gold"]).await;
    assert!(
        keys.ok()
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with(key_id) && l.contains("99")),
        "{}",
        keys.stdout
    );

    let today = time::OffsetDateTime::now_utc().date().to_string();
    let usage = ctl
        .run(&[
            "plans", "usage", "gold", "--start", &today, "--end", &today, "-o", "json",
        ])
        .await
        .json();
    assert_eq!(usage["items"][key_id], serde_json::json!([[1, 99]]));
    ctl.run(&[
        "plans",
        "usage",
        "gold",
        "--start",
        "yesterday",
        "--end",
        &today,
    ])
    .await
    .fails(7, "start_date");
    let set = ctl
        .run(&[
            "plans",
            "set-usage",
            "gold",
            key_id,
            "--remaining",
            "5",
            "-o",
            "json",
        ])
        .await
        .json();
    assert_eq!(set["quota"]["remaining"], 5);
    let reset = ctl
        .run(&[
            "plans",
            "set-usage",
            "gold",
            key_id,
            "--reset",
            "-o",
            "json",
        ])
        .await
        .json();
    assert_eq!(reset["quota"]["remaining"], 100);
    ctl.run(&["plans", "set-usage", "gold", key_id])
        .await
        .fails(2, "--remaining");
    ctl.run(&["plans", "remove-key", "gold", key_id]).await.ok();
    ctl.run(&["plans", "keys", "gold", key_id])
        .await
        .fails(5, "not");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_objects_settings_and_exit_codes() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    assert_eq!(
        ctl.run(&["health", "-o", "json"]).await.json()["status"],
        "ok"
    );
    assert_eq!(
        ctl.run(&["ready", "-o", "json"]).await.json()["status"],
        "ready"
    );
    let api = ctl.file("api.yaml", "id: pets\nname: Pets\nkind: rest\n");
    ctl.run(&["create", "apis", "-f", &api]).await.ok();
    let objects = ctl.run(&["objects"]).await;
    assert!(
        objects
            .ok()
            .lines()
            .any(|l| l.starts_with("api") && l.contains("pets")),
        "{}",
        objects.stdout
    );
    node.get_api("pets", "/nothing").await;
    let metrics = ctl.run(&["metrics"]).await;
    assert!(
        metrics.ok().contains("edgeway_requests_total"),
        "{}",
        metrics.stdout
    );

    // The same settings from a config file instead of the environment.
    let config = ctl.file(
        "ctl.toml",
        &format!("addr = \"{}\"\ntoken = \"{}\"\n", ctl.addr, ctl.token),
    );
    let from_file = ctl
        .run_with(&["--config", &config, "get", "apis", "-o", "json"], &[])
        .await;
    assert_eq!(from_file.json()[0]["id"], "pets");
    ctl.file(
        "config/edgeway/edgewayctl.toml",
        &format!("addr = \"{}\"\n", ctl.addr),
    );
    let default_file = ctl
        .run_with(&["get", "apis"], &[("EDGEWAY_TOKEN", &ctl.token)])
        .await;
    assert!(default_file.ok().contains("pets"));

    let wrong_token = [
        ("EDGEWAY_ADDR", ctl.addr.as_str()),
        ("EDGEWAY_TOKEN", "wrong-token-0123456789"),
    ];
    ctl.run_with(&["get", "apis"], &wrong_token)
        .await
        .fails(4, "bearer token");
    let closed = edgeway_tests::closed_port();
    let nowhere = format!("http://{}", closed.addr);
    ctl.run(&["--addr", &nowhere, "health"])
        .await
        .fails(3, "cannot reach");
    ctl.run(&["no-such-command"])
        .await
        .fails(2, "no-such-command");
    ctl.run(&["--addr", "ftp://x", "health"])
        .await
        .fails(1, "http://host:port");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_flush_empties_a_stage_cache() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    let doc = ctl.file(
        "api.yaml",
        "api: {id: shop, name: shop, kind: rest}\n\
         integrations: [{id: ok, type: mock, mock: {status_code: 200, body: 'hi'}}]\n\
         routes: [{method: GET, path: /a, integration_id: ok}]\n\
         stages: [{name: prod, cache: {enabled: true}}]\n\
         deploy_to: [prod]\n",
    );
    ctl.run(&["apply", "-f", &doc]).await.ok();
    let x_cache = |reply: edgeway_tests::Reply| reply.header("x-cache").map(str::to_string);
    assert_eq!(
        x_cache(node.get_api("shop", "/prod/a").await).as_deref(),
        Some("Miss")
    );
    assert_eq!(
        x_cache(node.get_api("shop", "/prod/a").await).as_deref(),
        Some("Hit")
    );
    let flushed = ctl.run(&["cache", "flush", "shop", "prod"]).await;
    assert_eq!(flushed.ok(), "flushed shop/prod on node-1\n");
    assert_eq!(
        x_cache(node.get_api("shop", "/prod/a").await).as_deref(),
        Some("Miss")
    );
    let json = ctl
        .run(&["cache", "flush", "shop", "prod", "-o", "json"])
        .await
        .json();
    assert_eq!(json["flushed_nodes"], serde_json::json!(["node-1"]));
    ctl.run(&["cache", "flush", "shop", "nope"])
        .await
        .fails(5, "not found");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_turns_the_node_not_ready() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    ctl.run(&["ready"]).await.ok();
    assert_eq!(
        ctl.run(&["drain", "-o", "json"]).await.json()["status"],
        "draining"
    );
    ctl.run(&["ready"]).await.fails(8, "draining");
    let wrong_token = [
        ("EDGEWAY_ADDR", ctl.addr.as_str()),
        ("EDGEWAY_TOKEN", "wrong-token-0123456789"),
    ];
    ctl.run_with(&["drain"], &wrong_token)
        .await
        .fails(4, "bearer token");
    node.shutdown().await;
}
