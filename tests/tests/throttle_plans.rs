//! Usage plans through the admin API: CRUD, validation that names the field, and the errors of
//! the key, usage and quota endpoints.

use edgeway_tests::{TestNode, doc};
use http::{Method, StatusCode};
use serde_json::json;

async fn node_with_api() -> TestNode {
    let node = TestNode::start().await;
    node.admin
        .apply(&doc::rest(
            "shop",
            "prod",
            vec![doc::mock("ok", 200, "{}")],
            vec![doc::route("GET", "/a", "ok")],
        ))
        .await;
    node
}

fn gold() -> serde_json::Value {
    json!({
        "name": "gold",
        "api_stages": [{ "api_id": "shop", "stage": "prod",
                         "route_throttles": { "GET /a": { "rate_limit": 1.0, "burst_limit": 1 } } }],
        "throttle": { "rate_limit": 10.0, "burst_limit": 20 },
        "quota": { "limit": 1000, "period": "MONTH", "offset": 0 },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_are_created_read_listed_replaced_and_deleted() {
    let node = node_with_api().await;
    let admin = &node.admin;
    let (status, created) = admin.post("/usageplans", &gold()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"]
        .as_str()
        .expect("an id is generated")
        .to_string();
    assert_eq!(id.len(), 10);
    assert_eq!(created["quota"]["period"], "MONTH");

    let path = format!("/usageplans/{id}");
    assert_eq!(admin.get(&path).await["name"], "gold");
    let listed = admin.get("/usageplans").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    let mut silver = gold();
    silver["name"] = json!("silver");
    silver["quota"] = json!({ "limit": 50, "period": "WEEK", "offset": 2 });
    let (status, replaced) = admin.put(&path, &silver).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["id"], id.as_str(), "the path fixes the id");
    assert_eq!(admin.get(&path).await["quota"]["offset"], 2);

    let (status, _) = admin
        .post("/usageplans", &json!({ "id": id, "name": "again" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "POST never replaces");

    assert_eq!(admin.get(&format!("{path}/keys")).await, json!([]));
    let (status, _) = admin.delete(&path).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_plans_are_refused_naming_the_field() {
    let node = node_with_api().await;
    let with = |field: &str, value: serde_json::Value| {
        let mut plan = gold();
        plan[field] = value;
        plan
    };
    let cases = [
        (
            with(
                "quota",
                json!({ "limit": 10, "period": "MONTH", "offset": 28 }),
            ),
            "quota.offset: must be 0-27",
        ),
        (
            with(
                "quota",
                json!({ "limit": 10, "period": "DAY", "offset": 24 }),
            ),
            "quota.offset: must be 0-23",
        ),
        (
            with("quota", json!({ "limit": 0, "period": "WEEK" })),
            "quota.limit: must be >= 1",
        ),
        (
            with("throttle", json!({ "rate_limit": 5.0, "burst_limit": 0 })),
            "throttle.burst_limit: must be >= 1",
        ),
        (
            with(
                "api_stages",
                json!([{ "api_id": "shop", "stage": "prod",
                "route_throttles": { "GET /a": { "rate_limit": 0.0, "burst_limit": 1 } } }]),
            ),
            "api_stages[0].route_throttles.GET /a.rate_limit",
        ),
        (with("name", json!(" ")), "name: must not be empty"),
    ];
    for (plan, expected) in cases {
        let (status, body) = node.admin.post("/usageplans", &plan).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{plan}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{expected}: {message}");
    }
    let unknown_api = with("api_stages", json!([{ "api_id": "nope", "stage": "prod" }]));
    let (status, body) = node.admin.post("/usageplans", &unknown_api).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_usage_and_quota_endpoints_explain_what_is_wrong() {
    let node = node_with_api().await;
    let admin = &node.admin;
    let (_, plan) = admin
        .post("/usageplans", &json!({ "id": "gold", "name": "gold" }))
        .await;
    assert_eq!(plan["id"], "gold");

    let (status, body) = admin
        .post("/usageplans/gold/keys", &json!({ "key_id": "nope" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("api key nope")
    );
    let (status, _) = admin
        .post("/usageplans/none/keys", &json!({ "key_id": "nope" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin.delete("/usageplans/gold/keys/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let usage = |query: &str| format!("/usageplans/gold/usage{query}");
    let bad = [
        ("", "start_date: is required"),
        ("?start_date=2024-01-01", "end_date: is required"),
        (
            "?start_date=2024-02-30&end_date=2024-03-01",
            "'2024-02-30' is not a date",
        ),
        (
            "?start_date=2024-03-02&end_date=2024-03-01",
            "end_date: must be on or after",
        ),
        (
            "?start_date=2024-01-01&end_date=2024-06-01",
            "at most 90 days",
        ),
    ];
    for (query, expected) in bad {
        let (status, body) = admin.call(Method::GET, &usage(query), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{query}: {message}");
    }
    let report = admin
        .get(&usage("?start_date=2024-03-01&end_date=2024-03-03"))
        .await;
    assert_eq!(
        report,
        json!({ "usage_plan_id": "gold", "start_date": "2024-03-01",
                "end_date": "2024-03-03", "items": {} })
    );
    let (status, _) = admin
        .call(
            Method::GET,
            &usage("?key_id=nope&start_date=2024-03-01&end_date=2024-03-03"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = admin
        .call(
            Method::PATCH,
            "/usageplans/gold/keys/nope/usage",
            Some(&json!({ "remaining": 5 })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.shutdown().await;
}
