//! JWT authorizers: tokens signed here with generated RSA, EC, Ed25519 and HMAC keys, JWKS served
//! by a local server that counts its fetches. Valid tokens reach the backend with their claims;
//! each kind of bad token gets AWS's answer (401, or 403 for a missing scope).

use edgeway_tests::auth::jwt::{
    AUDIENCE, ISSUER, api, authorizer, bearer, call, claims, remote, with,
};
use edgeway_tests::auth::{SigningKey, Stub, base64url, jwks, now};
use edgeway_tests::{Backend, TestNode};
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_algorithm_passes_and_claims_reach_the_backend() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let mut keys = vec![];
    for (i, alg) in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ]
    .into_iter()
    .enumerate()
    {
        keys.push(SigningKey::rsa(alg, &format!("rsa-{i}"), i % 2));
    }
    keys.push(SigningKey::ec(Algorithm::ES256, "ec-256"));
    keys.push(SigningKey::ec(Algorithm::ES384, "ec-384"));
    keys.push(SigningKey::ed25519("ed"));
    let idp = Stub::serving(jwks(&keys.iter().collect::<Vec<_>>())).await;
    node.admin
        .apply(&api(
            "algs",
            &backend,
            vec![authorizer("jwt", remote(&idp.url("/jwks"), ISSUER, 30))],
            "jwt",
        ))
        .await;

    for key in &keys {
        let token = key.sign(&with(claims("ann"), json!({ "groups": ["a", "b"] })));
        let reply = bearer(&node, "algs", "/who", &token).await;
        assert_eq!(reply.status, 200, "{:?}: {}", key.alg, reply.text());
        let headers = &reply.json()["headers"];
        assert_eq!(headers["x-sub"], "ann", "{:?}", key.alg);
        assert_eq!(headers["x-principal"], "ann");
        assert_eq!(headers["x-groups"], "[\"a\",\"b\"]");
    }
    // The bare token (no "Bearer ") works too, as in AWS.
    let reply = call(&node, "algs", "/who", Some(&keys[0].sign(&claims("bo")))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(idp.hits(), 1, "one JWKS fetch serves every request");

    let open = call(&node, "algs", "/open", None).await;
    assert_eq!(open.status, 200, "routes without an authorizer stay open");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_authorizers_take_their_shared_secret_only() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let secret = "an HMAC secret of more than 32 bytes, for tests";
    node.admin
        .apply(&api(
            "hmac",
            &backend,
            vec![authorizer(
                "hs",
                json!({ "issuer": ISSUER, "audiences": [AUDIENCE], "algorithms": ["HS256", "HS384", "HS512"],
                        "hmac_secret": secret }),
            )],
            "hs",
        ))
        .await;
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = SigningKey::hmac(alg, secret).sign(&claims("hal"));
        let reply = bearer(&node, "hmac", "/who", &token).await;
        assert_eq!(reply.status, 200, "{alg:?}: {}", reply.text());
    }
    let forged = SigningKey::hmac(Algorithm::HS256, "another secret of more than 32 bytes!!")
        .sign(&claims("eve"));
    bearer(&node, "hmac", "/who", &forged)
        .await
        .assert_gateway_error(401, "UNAUTHORIZED");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_401_and_missing_scopes_403() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let key = SigningKey::rsa(Algorithm::RS256, "main", 0);
    let other_idp_key = SigningKey::ec(Algorithm::ES256, "other");
    let idp = Stub::serving(jwks(&[&key])).await;
    let other_idp = Stub::serving(jwks(&[&other_idp_key])).await;
    let other_issuer = "https://other.example";
    node.admin
        .apply(&api(
            "bad",
            &backend,
            vec![
                authorizer("jwt", remote(&idp.url("/jwks"), ISSUER, 300)),
                authorizer("other", remote(&other_idp.url("/jwks"), other_issuer, 300)),
            ],
            "jwt",
        ))
        .await;
    let good = claims("ann");
    assert_eq!(
        bearer(&node, "bad", "/who", &key.sign(&good)).await.status,
        200
    );
    assert_eq!(
        bearer(
            &node,
            "bad",
            "/who",
            &key.sign(&with(good.clone(), json!({ "exp": now() - 3 })))
        )
        .await
        .status,
        200,
        "expired within the 5 s leeway"
    );

    let tampered = {
        let token = key.sign(&good);
        let parts: Vec<&str> = token.split('.').collect();
        let payload = base64url(
            with(good.clone(), json!({ "sub": "admin" }))
                .to_string()
                .as_bytes(),
        );
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let alg_none = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(good.to_string().as_bytes())
    );
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("main".into());
    let key_confusion = SigningKey::hmac(Algorithm::HS256, SigningKey::rsa_public_pem(0))
        .sign_with(confused, &good);
    let unlisted =
        SigningKey::hmac(Algorithm::HS256, "a shared secret nobody configured here").sign(&good);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("Bearer not.a.jwt".into())),
        (
            "expired",
            Some(key.sign(&with(good.clone(), json!({ "exp": now() - 60 })))),
        ),
        (
            "no exp",
            Some(key.sign(&with(good.clone(), json!({ "exp": null })))),
        ),
        (
            "not yet valid",
            Some(key.sign(&with(good.clone(), json!({ "nbf": now() + 600 })))),
        ),
        (
            "issued in the future",
            Some(key.sign(&with(good.clone(), json!({ "iat": now() + 600 })))),
        ),
        (
            "wrong issuer",
            Some(key.sign(&with(
                good.clone(),
                json!({ "iss": "https://evil.example" }),
            ))),
        ),
        (
            "no issuer",
            Some(key.sign(&with(good.clone(), json!({ "iss": null })))),
        ),
        (
            "wrong audience",
            Some(key.sign(&with(good.clone(), json!({ "aud": "someone-else" })))),
        ),
        (
            "no audience",
            Some(key.sign(&with(good.clone(), json!({ "aud": null })))),
        ),
        ("tampered payload", Some(tampered)),
        ("alg none", Some(alg_none)),
        (
            "HS256 with the RSA public key as secret",
            Some(key_confusion),
        ),
        ("HS256 not among the algorithms", Some(unlisted)),
        (
            "another authorizer's issuer and key",
            Some(other_idp_key.sign(&with(good.clone(), json!({ "iss": other_issuer })))),
        ),
    ];
    for (case, token) in cases {
        let authorization = token.map(|t| {
            if t.starts_with("Bearer ") {
                t
            } else {
                format!("Bearer {t}")
            }
        });
        let reply = call(&node, "bad", "/who", authorization.as_deref()).await;
        assert_eq!(reply.status, 401, "{case}: {}", reply.text());
        assert_eq!(reply.error_type(), Some("UNAUTHORIZED"), "{case}");
        assert_eq!(reply.json(), json!({ "message": "Unauthorized" }), "{case}");
    }
    assert_eq!(backend.hits(), 2, "no refused token reached the backend");

    let no_scope = bearer(&node, "bad", "/scoped", &key.sign(&good)).await;
    no_scope.assert_gateway_error(403, "ACCESS_DENIED");
    assert_eq!(no_scope.json(), json!({ "message": "Forbidden" }));
    let wrong_scope = key.sign(&with(
        good.clone(),
        json!({ "scope": "orders:write profile" }),
    ));
    bearer(&node, "bad", "/scoped", &wrong_scope)
        .await
        .assert_gateway_error(403, "ACCESS_DENIED");
    for scoped in [
        json!({ "scope": "profile orders:read" }),
        json!({ "scp": ["orders:admin"] }),
    ] {
        let token = key.sign(&with(good.clone(), scoped.clone()));
        assert_eq!(
            bearer(&node, "bad", "/scoped", &token).await.status,
            200,
            "{scoped}"
        );
    }
    node.shutdown().await;
}
