//! JWKS handling of JWT authorizers: keys fetched once and cached across config changes, an
//! unknown `kid` refreshing them (at most every `jwks_min_refresh_seconds`), rotation picked up
//! without a restart, known keys kept while the identity provider fails.

use edgeway_tests::auth::jwt::{ISSUER, api, authorizer, bearer, claims, remote};
use edgeway_tests::auth::{SigningKey, Stub, StubReply, jwks};
use edgeway_tests::{Backend, TestNode, doc};
use jsonwebtoken::Algorithm;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_refresh_once_and_rotation_needs_no_restart() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let (old, new) = (
        SigningKey::ec(Algorithm::ES256, "old"),
        SigningKey::ec(Algorithm::ES256, "new"),
    );
    let idp = Stub::serving(jwks(&[&old])).await;
    node.admin
        .apply(&api(
            "rotate",
            &backend,
            vec![authorizer("jwt", remote(&idp.url("/jwks"), ISSUER, 0))],
            "jwt",
        ))
        .await;
    let good = claims("ann");
    assert_eq!(
        bearer(&node, "rotate", "/who", &old.sign(&good))
            .await
            .status,
        200
    );
    assert_eq!(idp.hits(), 1);

    bearer(&node, "rotate", "/who", &new.sign(&good))
        .await
        .assert_gateway_error(401, "UNAUTHORIZED");
    assert_eq!(
        idp.hits(),
        2,
        "an unknown kid refreshes the JWKS exactly once"
    );

    // The identity provider rotates: the new key is picked up without a restart.
    idp.serve(jwks(&[&new]));
    assert_eq!(
        bearer(&node, "rotate", "/who", &new.sign(&good))
            .await
            .status,
        200
    );
    assert_eq!(idp.hits(), 3);
    assert_eq!(
        bearer(&node, "rotate", "/who", &new.sign(&good))
            .await
            .status,
        200
    );
    assert_eq!(idp.hits(), 3, "known keys need no fetch");

    // A config change swaps the snapshot; the authorizer keeps its keys.
    let (status, body) = node
        .admin
        .post("/apis/rotate/routes", &doc::route("GET", "/more", "echo"))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        bearer(&node, "rotate", "/who", &new.sign(&good))
            .await
            .status,
        200
    );
    assert_eq!(idp.hits(), 3, "the JWKS cache survives the snapshot swap");

    // Stale-while-error: the provider fails, the keys already known keep working.
    idp.set(|_| StubReply::status(503));
    bearer(&node, "rotate", "/who", &old.sign(&good))
        .await
        .assert_gateway_error(401, "UNAUTHORIZED");
    assert_eq!(idp.hits(), 4, "the refresh was tried");
    assert_eq!(
        bearer(&node, "rotate", "/who", &new.sign(&good))
            .await
            .status,
        200
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_are_rate_limited_and_an_unreachable_jwks_is_an_authorizer_failure() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let known = SigningKey::ec(Algorithm::ES256, "known");
    let unknown = SigningKey::ec(Algorithm::ES256, "unknown");
    let idp = Stub::serving(jwks(&[&known])).await;
    let down = edgeway_tests::closed_port();
    node.admin
        .apply(&api(
            "limits",
            &backend,
            vec![
                authorizer("jwt", remote(&idp.url("/jwks"), ISSUER, 300)),
                authorizer(
                    "down",
                    remote(&format!("http://{}/jwks", down.addr), ISSUER, 300),
                ),
            ],
            "jwt",
        ))
        .await;
    let good = claims("ann");
    for _ in 0..3 {
        bearer(&node, "limits", "/who", &unknown.sign(&good))
            .await
            .assert_gateway_error(401, "UNAUTHORIZED");
    }
    assert_eq!(
        idp.hits(),
        1,
        "the first fetch only; refreshes wait jwks_min_refresh_seconds"
    );
    assert_eq!(
        bearer(&node, "limits", "/who", &known.sign(&good))
            .await
            .status,
        200
    );

    let (status, body) = node
        .admin
        .put(
            "/apis/limits/routes/get-who",
            &json!({ "method": "GET", "path": "/who", "integration_id": "echo", "authorizer_id": "down" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    bearer(&node, "limits", "/who", &known.sign(&good))
        .await
        .assert_gateway_error(500, "AUTHORIZER_FAILURE");
    node.shutdown().await;
}
