//! The admin side of authorizers: CRUD under `/apis/{id}/authorizers`, secrets that are never
//! read back, validation errors that name the field, and authorizers in use that cannot go.

use edgeway_tests::auth::{SigningKey, now};
use edgeway_tests::client::{Proto, empty};
use edgeway_tests::{Backend, TestNode, api_host, doc, request};
use http::{Method, StatusCode};
use jsonwebtoken::Algorithm;
use serde_json::json;

const SECRET: &str = "a shared secret that is long enough, 32+ bytes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizers_are_managed_per_api_and_secrets_stay_write_only() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    node.admin
        .apply(&doc::http(
            "adm",
            vec![doc::proxy("echo", &backend.url("/"))],
            vec![doc::route("GET", "/open", "echo")],
        ))
        .await;
    let hmac = json!({
        "id": "hs", "name": "shared secret", "type": "jwt",
        "jwt": { "issuer": "https://iss", "audiences": ["aud"], "algorithms": ["HS256"], "hmac_secret": SECRET },
    });
    let (status, created) = node.admin.post("/apis/adm/authorizers", &hmac).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["jwt"]["hmac_secret"], "(redacted)");
    let listed = node.admin.get("/apis/adm/authorizers").await;
    let objects = node.admin.get("/objects").await;
    for shown in [&listed, &objects] {
        assert!(!shown.to_string().contains(SECRET), "{shown}");
    }
    assert_eq!(listed[0]["id"], "hs");

    // Sending back what was read keeps the stored secret.
    let mut read_back = node.admin.get("/apis/adm/authorizers/hs").await;
    read_back["name"] = json!("renamed");
    let (status, body) = node.admin.put("/apis/adm/authorizers/hs", &read_back).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = node
        .admin
        .post(
            "/apis/adm/routes",
            &json!({ "method": "GET", "path": "/me", "integration_id": "echo", "authorizer_id": "hs" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "routes with authorizers are enforced: {body}"
    );
    let claims = json!({ "iss": "https://iss", "aud": "aud", "sub": "s", "exp": now() + 60 });
    let token = SigningKey::hmac(Algorithm::HS256, SECRET).sign(&claims);
    let call = request(Method::GET, &api_host("adm"), "/me")
        .header("authorization", format!("Bearer {token}"))
        .body(empty())
        .expect("request");
    let reply = node.send(Proto::Http1, call).await;
    assert_eq!(reply.status, 200, "the secret survived: {}", reply.text());

    // API documents redact it too, and applying one read back keeps it.
    let document = node.admin.get("/apis/adm/document").await;
    assert_eq!(
        document["authorizers"][0]["jwt"]["hmac_secret"],
        "(redacted)"
    );
    node.admin.apply(&document).await;
    let call = request(Method::GET, &api_host("adm"), "/me")
        .header("authorization", format!("Bearer {token}"))
        .body(empty())
        .expect("request");
    assert_eq!(node.send(Proto::Http1, call).await.status, 200);
    let objects = node.admin.get("/objects").await.to_string();
    assert!(!objects.contains(SECRET));
    let deployment = node.admin.deploy("adm", "v1").await;
    assert_eq!(
        deployment["authorizers"][0]["jwt"]["hmac_secret"],
        "(redacted)"
    );

    let (status, body) = node.admin.delete("/apis/adm/authorizers/hs").await;
    assert_eq!(status, StatusCode::CONFLICT, "in use by GET /me: {body}");
    node.admin.delete("/apis/adm/routes/get-me").await;
    let (status, body) = node.admin.delete("/apis/adm/authorizers/hs").await;
    assert_eq!(status, 200, "{body}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_authorizers_and_mappings_are_refused_naming_the_field() {
    let node = TestNode::start().await;
    node.admin
        .apply(&doc::rest(
            "val",
            "prod",
            vec![doc::mock("m", 200, "{}")],
            vec![],
        ))
        .await;
    let cases = [
        (
            json!({ "id": "mixed", "type": "jwt", "jwt": { "issuer": "i", "algorithms": ["RS256", "HS256"],
                    "hmac_secret": SECRET, "jwks_uri": "http://127.0.0.1:1/jwks" } }),
            "jwt.algorithms",
        ),
        (
            json!({ "id": "nokeys", "type": "jwt", "jwt": { "issuer": "i", "algorithms": ["ES256"] } }),
            "jwt.jwks_uri",
        ),
        (
            json!({ "id": "weak", "type": "jwt", "jwt": { "issuer": "i", "algorithms": ["HS256"], "hmac_secret": "short" } }),
            "jwt.hmac_secret",
        ),
        (json!({ "id": "nouri", "type": "token" }), "uri"),
        (
            json!({ "id": "src", "type": "request", "uri": "http://127.0.0.1:1/", "identity_source": ["$request.body.x"] }),
            "identity_source",
        ),
    ];
    for (authorizer, field) in cases {
        let (status, body) = node.admin.post("/apis/val/authorizers", &authorizer).await;
        assert_eq!(status, 400, "{authorizer}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(field),
            "{field}: {body}"
        );
    }
    let mapping = |source: &str| {
        json!({ "id": "h", "type": "http", "uri": "http://127.0.0.1:1/",
                "request_parameters": { "integration.request.header.x": source } })
    };
    for bad in [
        "context.authorizer.",
        "context.authorizer.claims.",
        "context.authorizer.claims",
    ] {
        let (status, body) = node
            .admin
            .post("/apis/val/integrations", &mapping(bad))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    for good in [
        "context.authorizer.claims.sub",
        "context.authorizer.principalId",
        "context.authorizer.tenant",
    ] {
        let (status, body) = node
            .admin
            .put("/apis/val/integrations/h", &mapping(good))
            .await;
        assert_eq!(status, 200, "{good}: {body}");
    }
    node.shutdown().await;
}
