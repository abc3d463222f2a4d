use super::*;

fn policy(origins: &[&str], credentials: bool) -> Arc<CorsPolicy> {
    Arc::new(CorsPolicy::compile(&Cors {
        allow_origins: origins.iter().map(|o| o.to_string()).collect(),
        allow_methods: vec!["PUT".into(), "DELETE".into()],
        allow_headers: vec!["content-type".into(), "x-trace".into()],
        expose_headers: vec!["x-request-id".into()],
        allow_credentials: credentials,
        max_age_seconds: Some(600),
    }))
}

fn request(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                header::HeaderName::try_from(*n).unwrap(),
                HeaderValue::try_from(*v).unwrap(),
            )
        })
        .collect()
}

fn answer(applied: &Applied, backend: &[(&str, &str)]) -> HeaderMap {
    let mut headers = request(backend);
    applied.decorate(&mut headers);
    headers
}

#[test]
fn wildcard_origins_stand_for_host_characters_only() {
    let rule = OriginRule::parse("https://*.Example.com");
    assert!(rule.matches("https://a.example.com"));
    assert!(rule.matches("https://a.b-c.example.com"));
    for no in [
        "https://example.com",
        "https://.example.com.evil.test",
        "http://a.example.com",
        "https://a.example.com:8443",
        "https://evil.test/.example.com",
        "https://evil.test?.example.com",
    ] {
        assert!(!rule.matches(no), "{no}");
    }
    let port = OriginRule::parse("http://localhost:*");
    assert!(port.matches("http://localhost:3000") && !port.matches("http://localhost:"));
    assert_eq!(OriginRule::parse("*"), OriginRule::Any);
}

#[test]
fn allowed_origins_are_echoed_and_others_get_only_vary() {
    let p = policy(&["https://app.example.com", "https://*.tools.test"], true);
    let get = |origin: &str| Applied::new(&p, &Method::GET, &request(&[("origin", origin)]));
    let headers = answer(
        &get("https://APP.example.com"),
        &[("access-control-allow-origin", "https://backend.test")],
    );
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://APP.example.com"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert_eq!(headers["access-control-expose-headers"], "x-request-id");
    assert_eq!(headers["vary"], "Origin");
    assert_eq!(
        answer(&get("https://x.tools.test"), &[])["access-control-allow-origin"],
        "https://x.tools.test"
    );
    let denied = answer(
        &get("https://evil.test"),
        &[("access-control-allow-origin", "*"), ("vary", "Accept")],
    );
    assert!(
        denied.get("access-control-allow-origin").is_none(),
        "{denied:?}"
    );
    assert!(denied.get("access-control-expose-headers").is_none());
    let vary: Vec<_> = denied.get_all("vary").iter().collect();
    assert_eq!(vary, ["Accept", "Origin"]);
    let no_origin = answer(&Applied::new(&p, &Method::GET, &HeaderMap::new()), &[]);
    assert_eq!(no_origin.len(), 1, "only Vary: {no_origin:?}");
}

#[test]
fn star_without_credentials_is_literal_star() {
    let p = policy(&["*"], false);
    let applied = Applied::new(&p, &Method::GET, &request(&[("origin", "https://a.test")]));
    let headers = answer(&applied, &[("Vary", "origin")]);
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers.get("access-control-allow-credentials").is_none());
    assert_eq!(headers.get_all("vary").iter().count(), 1, "already varies");
}

#[test]
fn preflights_are_answered_only_for_allowed_origins_and_methods() {
    let p = policy(&["https://app.example.com"], false);
    let preflight = |origin: &str, method: &str| {
        let headers = request(&[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", "x-trace"),
        ]);
        Applied::new(&p, &Method::OPTIONS, &headers)
    };
    let applied = preflight("https://app.example.com", "DELETE");
    let response = applied.preflight_response().expect("answered");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let mut headers = response.headers().clone();
    applied.decorate(&mut headers);
    assert_eq!(headers["access-control-allow-methods"], "PUT, DELETE");
    assert_eq!(
        headers["access-control-allow-headers"],
        "content-type, x-trace"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(headers.get("access-control-expose-headers").is_none());
    assert!(
        preflight("https://app.example.com", "GET")
            .preflight_response()
            .is_some(),
        "safelisted methods need no listing"
    );
    assert!(
        preflight("https://app.example.com", "PATCH")
            .preflight_response()
            .is_none()
    );
    assert!(
        preflight("https://evil.test", "PUT")
            .preflight_response()
            .is_none()
    );
    let plain = Applied::new(
        &p,
        &Method::OPTIONS,
        &request(&[("origin", "https://app.example.com")]),
    );
    assert!(plain.preflight_response().is_none(), "no requested method");
}

#[test]
fn stars_with_credentials_echo_the_request() {
    let p = Arc::new(CorsPolicy::compile(&Cors {
        allow_origins: vec!["https://app.test".into()],
        allow_methods: vec!["*".into()],
        allow_headers: vec!["*".into()],
        allow_credentials: true,
        ..Cors::default()
    }));
    let headers = request(&[
        ("origin", "https://app.test"),
        ("access-control-request-method", "PATCH"),
        ("access-control-request-headers", "x-a, x-b"),
    ]);
    let response = Applied::new(&p, &Method::OPTIONS, &headers)
        .preflight_response()
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-methods"], "PATCH");
    assert_eq!(
        response.headers()["access-control-allow-headers"],
        "x-a, x-b"
    );
    assert!(response.headers().get("access-control-max-age").is_none());
}
