//! `edgewayctl apply` against a real node: creates, then changes nothing on a second run;
//! `--dry-run` shows differences and writes nothing; `--prune` deletes what the files no longer
//! name; bad documents fail with the file named.

mod common;

use common::Ctl;
use edgeway_tests::TestNode;
use serde_json::Value;

const API: &str = r#"
kind: api
api: {id: shop, name: Shop, kind: rest}
integrations:
  - {id: ok, type: mock, mock: {status_code: 200, body: '{"v": "${stageVariables.v}"}'}}
routes:
  - {method: GET, path: '/items/{id}', integration_id: ok}
stages:
  - {name: prod, variables: {v: one}}
deploy_to: [prod]
"#;

const ACCESS: &str = r#"
kind: usage_plan
id: gold
name: Gold
api_stages: [{api_id: shop, stage: prod}]
throttle: {rate_limit: 10, burst_limit: 20}
---
kind: usage_plan
id: silver
name: Silver
api_stages: [{api_id: shop, stage: prod}]
---
kind: api_key
id: partner
name: Partner
value: partner-key-value-0123456789
---
kind: domain
name: shop.example.com
mappings: [{base_path: v1, api_id: shop, stage: prod}]
"#;

/// Every object with its version: equal snapshots mean nothing was written.
async fn versions(node: &TestNode) -> Value {
    node.admin.get("/objects").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_then_changes_nothing_the_second_time() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    ctl.file("config/api.yaml", API);
    ctl.file("config/access.yaml", ACCESS);
    let dir = common::path_str(&ctl.dir.path().join("config"));
    let first = ctl.run(&["apply", "-f", &dir]).await;
    assert_eq!(
        first.ok(),
        "api/shop created\nusage_plan/gold created\nusage_plan/silver created\n\
         api_key/partner created\ndomain/shop.example.com created\n"
    );
    assert_eq!(
        node.get_api("shop", "/prod/items/1").await.text(),
        r#"{"v": "one"}"#
    );
    let before = versions(&node).await;

    let second = ctl.run(&["apply", "-f", &dir]).await;
    assert_eq!(
        second.ok().matches(" unchanged\n").count(),
        5,
        "{}",
        second.stdout
    );
    assert_eq!(
        versions(&node).await,
        before,
        "a second apply writes nothing"
    );
    // Reading an API document back and applying it also changes nothing.
    let document = ctl.file("exported.yaml", ctl.run(&["document", "shop"]).await.ok());
    assert_eq!(
        ctl.run(&["apply", "-f", &document]).await.ok(),
        "api/shop unchanged\n"
    );
    assert_eq!(versions(&node).await, before);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_the_difference_and_writes_nothing_then_apply_writes_it() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    let api = ctl.file("api.yaml", API);
    let access = ctl.file("access.yaml", ACCESS);
    ctl.run(&["apply", "-f", &api, "-f", &access]).await.ok();
    let before = versions(&node).await;

    ctl.file("api.yaml", &API.replace("v: one", "v: two"));
    ctl.file(
        "access.yaml",
        &ACCESS.replace("rate_limit: 10", "rate_limit: 50"),
    );
    let dry = ctl
        .run(&["apply", "-f", &api, "-f", &access, "--dry-run"])
        .await;
    let out = dry.ok();
    assert!(
        out.contains("--- api/shop (server)\n+++ api/shop (files)\n"),
        "{out}"
    );
    assert!(out.contains("-    v: one\n+    v: two\n"), "{out}");
    assert!(
        out.contains("-  rate_limit: 10.0\n+  rate_limit: 50.0\n"),
        "{out}"
    );
    assert!(out.contains("api/shop configured (dry run)\n"));
    assert!(out.contains("usage_plan/silver unchanged (dry run)\n"));
    assert_eq!(versions(&node).await, before, "a dry run writes nothing");

    let applied = ctl.run(&["apply", "-f", &api, "-f", &access]).await;
    assert!(
        applied
            .ok()
            .contains("api/shop configured\nusage_plan/gold configured\n")
    );
    // The document's deploy_to redeployed the stage with the new variable.
    assert_eq!(
        node.get_api("shop", "/prod/items/1").await.text(),
        r#"{"v": "two"}"#
    );
    let plan = ctl.run(&["get", "plan", "gold", "-o", "json"]).await.json();
    assert_eq!(plan["throttle"]["rate_limit"], 50.0);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_what_the_files_no_longer_name() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    let api = ctl.file("api.yaml", API);
    let access = ctl.file("access.yaml", ACCESS);
    ctl.run(&["apply", "-f", &api, "-f", &access]).await.ok();
    // A plan made by hand: a kind the files hold, so prune removes it too.
    let manual = ctl.file("manual.yaml", "id: manual\nname: Manual\n");
    ctl.run(&["create", "plans", "-f", &manual]).await.ok();

    let without_silver = ACCESS.replace(
        "kind: usage_plan\nid: silver\nname: Silver\napi_stages: [{api_id: shop, stage: prod}]\n---\n",
        "",
    );
    ctl.file("access.yaml", &without_silver);
    let dry = ctl
        .run(&["apply", "-f", &api, "-f", &access, "--prune", "--dry-run"])
        .await;
    assert!(
        dry.ok().contains("usage_plan/silver deleted (dry run)\n"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("usage_plan/manual deleted (dry run)\n"));
    ctl.run(&["get", "plan", "silver"]).await.ok();

    let pruned = ctl
        .run(&["apply", "-f", &api, "-f", &access, "--prune"])
        .await;
    let out = pruned.ok();
    assert!(out.contains("usage_plan/silver deleted\n"), "{out}");
    assert!(out.contains("usage_plan/manual deleted\n"), "{out}");
    assert!(!out.contains("api/shop deleted") && !out.contains("api_key/partner deleted"));
    let plans = ctl.run(&["get", "plans", "-o", "json"]).await.json();
    let ids: Vec<&str> = plans
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["gold"]);
    // Kinds the files do not hold are left alone.
    let only_api = ctl.run(&["apply", "-f", &api, "--prune"]).await;
    assert_eq!(only_api.ok(), "api/shop unchanged\n");
    ctl.run(&["get", "key", "partner"]).await.ok();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_fail_naming_the_file_and_the_field() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    let unknown = ctl.file(
        "unknown.yaml",
        "kind: api\napi: {id: x, name: X, kind: soap}\n",
    );
    ctl.run(&["apply", "-f", &unknown])
        .await
        .fails(1, "unknown.yaml (document 1)");
    let no_kind = ctl.file("nokind.yaml", "id: gold\nname: Gold\n");
    ctl.run(&["apply", "-f", &no_kind])
        .await
        .fails(1, "has no kind");
    let dangling = ctl.file(
        "dangling.yaml",
        "api: {id: x, name: X, kind: rest}\nroutes: [{method: GET, path: /a, integration_id: nope}]\n",
    );
    ctl.run(&["apply", "-f", &dangling]).await.fails(7, "nope");
    ctl.run(&["apply", "-f", "/nonexistent"])
        .await
        .fails(1, "/nonexistent");
    ctl.run(&["apply"]).await.fails(2, "--filename");
    assert_eq!(node.admin.get("/apis").await, serde_json::json!([]));
    node.shutdown().await;
}
