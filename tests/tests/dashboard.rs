//! The Grafana dashboard in deploy/ queries only series a node really exports: every metric
//! name in its expressions is in `/metrics` after traffic that touches each panel.

use edgeway_tests::cluster::TestCluster;
use edgeway_tests::doc::{mock, route};
use edgeway_tests::{Proto, TestNode, api_host};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Every `name{label=..., ...}` selector in the dashboard's expressions: (name, label names).
fn dashboard_selectors() -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for expr in dashboard_exprs() {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("edgeway_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let Some(selector) = rest.strip_prefix('{').and_then(|r| r.split_once('}')) else {
                continue;
            };
            for matcher in selector.0.split(',') {
                let label = matcher.split(['=', '!']).next().unwrap_or("").trim();
                pairs.insert((name.clone(), label.to_string()));
            }
        }
    }
    pairs
}

fn dashboard_exprs() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/edgeway-dashboard.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap().iter();
    let targets = panels.flat_map(|p| p["targets"].as_array().unwrap());
    targets
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect()
}

fn dashboard_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for expr in dashboard_exprs() {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("edgeway_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            names.insert(base.to_string());
        }
    }
    names
}

/// A key whose plan allows one request a month, used twice.
async fn exceed_a_quota(node: &TestNode) {
    let keyed =
        json!({ "method": "GET", "path": "/q", "integration_id": "m", "api_key_required": true });
    node.admin
        .apply(&json!({
            "api": { "id": "metered", "name": "metered", "kind": "rest" },
            "integrations": [mock("m", 200, "{}")],
            "routes": [keyed],
            "stages": [{ "name": "prod" }],
            "deploy_to": ["prod"],
        }))
        .await;
    let plan = json!({ "id": "one", "name": "one", "quota": { "limit": 1, "period": "MONTH" },
                       "api_stages": [{ "api_id": "metered", "stage": "prod" }] });
    let (status, body) = node.admin.post("/usageplans", &plan).await;
    assert_eq!(status, 201, "{body}");
    let (_, key) = node
        .admin
        .post("/apikeys", &json!({ "id": "k", "name": "k" }))
        .await;
    let (status, body) = node
        .admin
        .post("/usageplans/one/keys", &json!({ "key_id": "k" }))
        .await;
    assert_eq!(status, 201, "{body}");
    let value = key["value"].as_str().unwrap();
    let mut last = 0;
    for _ in 0..2 {
        let request = edgeway_tests::request(http::Method::GET, &api_host("metered"), "/prod/q")
            .header("x-api-key", value)
            .body(edgeway_tests::client::empty())
            .unwrap();
        last = node.send(Proto::Http1, request).await.status.as_u16();
    }
    assert_eq!(last, 429, "the second request is over the quota");
}

#[tokio::test]
async fn the_dashboard_references_only_series_that_exist() {
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 8, "{wanted:?}");

    let cluster = TestCluster::start(&["a", "b"]).await;
    let node = &cluster.nodes[0];
    let doc = json!({
        "api": { "id": "dash", "name": "dash", "kind": "http" },
        "integrations": [mock("m", 200, "ok"), mock("e", 500, "no")],
        "routes": [route("GET", "/ok", "m"), route("GET", "/fail", "e")],
        "stages": [{ "name": "$default", "auto_deploy": true,
                     "throttle": { "rate_limit": 1.0, "burst_limit": 3 },
                     "cache": { "enabled": true } }],
    });
    node.admin.apply(&doc).await;
    let regional = json!({
        "api": { "id": "far", "name": "far", "kind": "http",
                 "endpoint_type": "regional", "home_region": "b" },
        "integrations": [mock("m", 200, "far")],
        "routes": [route("GET", "/x", "m")],
        "stages": [{ "name": "$default", "auto_deploy": true }],
    });
    node.admin.apply(&regional).await;
    cluster.wait_converged().await;
    assert_eq!(node.get_api("far", "/x").await.status, 200);
    for path in ["/ok", "/ok", "/fail", "/nowhere", "/ok"] {
        node.get_api("dash", path).await;
    }
    exceed_a_quota(node).await;

    let metrics = node.admin.get_text("/metrics").await;
    let exported: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboard queries series nobody exports: {missing:?}"
    );
    // A label the dashboard filters on is on the series (a missing one matches nothing).
    let unlabelled: Vec<_> = dashboard_selectors()
        .into_iter()
        .filter(|(name, label)| {
            let (prefix, wanted) = (format!("{name}{{"), format!("{label}=\""));
            !metrics
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(&wanted))
        })
        .collect();
    assert!(
        unlabelled.is_empty(),
        "dashboard filters on labels the series lack: {unlabelled:?}"
    );
    cluster.shutdown().await;
}
