//! HTTP/3 ingress end to end with an HTTP/3 client over quinn: the same pipeline as HTTP/1.1 and
//! HTTP/2 (routes, path parameters, API keys, throttles, gateway responses), bodies both ways,
//! `Alt-Svc` on the TCP side, and a graceful shutdown that lets a request in flight finish.

use bytes::Bytes;
use edgeway_tests::h3::{H3Conn, h3_request};
use edgeway_tests::{Backend, Conn, TestCa, TestNode, api_host, doc, get};
use http::{Method, StatusCode};
use serde_json::json;

struct Setup {
    ca: TestCa,
    node: TestNode,
    backend: Backend,
}

/// A TLS node with HTTP/3 on (unless `http3` is false) serving API `h3` at stage `prod`:
/// `GET|POST /echo/{id}` proxied to a backend, `GET /keyed` with an API key, `GET /limited`
/// throttled to one request, `GET /down` to a closed port.
async fn setup(http3: bool) -> Setup {
    let ca = TestCa::new("edgeway h3 test CA");
    let leaf = ca.leaf(&["localhost"]);
    let node = TestNode::start_with(|config, dir| {
        let (cert, key) = leaf.write(dir, "default");
        config.public.tls = Some(edgeway::config::TlsFiles { cert, key });
        config.public.http3.enabled = http3;
    })
    .await;
    let backend = Backend::start("be").await;
    let closed = edgeway_tests::closed_port();
    node.admin
        .apply(&json!({
            "api": { "id": "h3", "name": "h3", "kind": "rest" },
            "integrations": [
                doc::proxy("be", &backend.url("/echo/{id}")),
                doc::proxy("slow", &backend.url("/slow")),
                doc::proxy("stream", &backend.url("/stream")),
                doc::proxy("down", &format!("http://{}/", closed.addr)),
                doc::mock("ok", 200, "{\"ok\": true}"),
            ],
            "routes": [
                doc::route("ANY", "/echo/{id}", "be"),
                doc::route("GET", "/slow", "slow"),
                doc::route("GET", "/stream", "stream"),
                { "method": "GET", "path": "/keyed", "integration_id": "ok", "api_key_required": true },
                doc::route("GET", "/limited", "ok"),
                doc::route("GET", "/down", "down"),
            ],
            "stages": [{ "name": "prod",
                         "route_throttles": { "GET /limited": { "rate_limit": 0.001, "burst_limit": 1 } } }],
            "deploy_to": ["prod"],
        }))
        .await;
    Setup { ca, node, backend }
}

async fn h3_conn(setup: &Setup) -> H3Conn {
    H3Conn::connect(setup.node.public_addr(), "localhost", setup.ca.roots())
        .await
        .expect("HTTP/3 connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_post_with_bodies_and_path_parameters_over_http3() {
    let setup = setup(true).await;
    let mut conn = h3_conn(&setup).await;
    let host = api_host("h3");

    let reply = conn.get(&host, "/prod/echo/42?x=1").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let echo = reply.json();
    assert_eq!(
        (echo["method"].as_str(), echo["path"].as_str()),
        (Some("GET"), Some("/echo/42"))
    );
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https");
    assert!(reply.header("x-request-id").is_some());

    // A 3 MiB body in many DATA frames reaches the backend whole, on the same connection.
    let body = Bytes::from(vec![b'a'; 3 * 1024 * 1024]);
    let post = conn
        .fetch(h3_request(Method::POST, &host, "/prod/echo/7"), body, 48)
        .await
        .expect("POST over HTTP/3");
    assert_eq!(post.status, 200, "{}", post.text());
    assert_eq!(post.json()["body_len"], 3 * 1024 * 1024);
    assert_eq!(post.json()["path"], "/echo/7");
    assert_eq!(setup.backend.hits(), 2);

    // A large answer streams back whole.
    let big = conn.get(&host, "/prod/stream?mib=3").await;
    assert_eq!(
        (big.status.as_u16(), big.body.len()),
        (200, 3 * 1024 * 1024)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_throttles_and_gateway_errors_work_as_on_tcp() {
    let setup = setup(true).await;
    let mut conn = h3_conn(&setup).await;
    let host = api_host("h3");

    conn.get(&host, "/prod/keyed")
        .await
        .assert_gateway_error(403, "INVALID_API_KEY");
    let (status, key) = setup
        .node
        .admin
        .post("/apikeys", &json!({"name": "k"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let plan = json!({"name": "p", "api_stages": [{"api_id": "h3", "stage": "prod"}]});
    let (_, plan) = setup.node.admin.post("/usageplans", &plan).await;
    let attach = format!("/usageplans/{}/keys", plan["id"].as_str().unwrap());
    setup
        .node
        .admin
        .post(&attach, &json!({"key_id": key["id"]}))
        .await;
    let mut keyed = h3_request(Method::GET, &host, "/prod/keyed");
    keyed
        .headers_mut()
        .insert("x-api-key", key["value"].as_str().unwrap().parse().unwrap());
    let reply = conn.fetch(keyed, Bytes::new(), 1).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());

    assert_eq!(conn.get(&host, "/prod/limited").await.status, 200);
    let refused = conn.get(&host, "/prod/limited").await;
    refused.assert_gateway_error(429, "THROTTLED");
    assert!(refused.header("retry-after").is_some());

    conn.get(&host, "/prod/down")
        .await
        .assert_gateway_error(504, "INTEGRATION_FAILURE");
    conn.get(&host, "/prod/nowhere")
        .await
        .assert_gateway_error(403, "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(
        conn.get(&host, "/prod/echo/1").await.header("alt-svc"),
        None,
        "HTTP/3 answers do not advertise HTTP/3"
    );

    // Counted under the route and protocol (only this test calls `GET /limited`).
    let metrics = setup.node.admin.get_text("/metrics").await;
    let value = |name: &str, extra: &str| {
        edgeway_tests::metric_value(
            &metrics,
            name,
            &["api=\"h3\"", "route=\"GET /limited\"", extra],
        )
    };
    let h3 = "protocol=\"h3\"";
    assert_eq!(value("edgeway_requests_total{", h3), 2.0, "{metrics}");
    assert_eq!(
        value("edgeway_requests_total{", "status_class=\"4xx\""),
        1.0
    );
    assert_eq!(value("edgeway_throttled_total{", h3), 1.0);
    assert_eq!(value("edgeway_requests_total{", "protocol=\"h2\""), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_answers_advertise_http3_only_when_it_is_on() {
    for on in [true, false] {
        let setup = setup(on).await;
        let (mut conn, _) =
            Conn::open_tls_trusting(setup.node.public_addr(), "localhost", &setup.ca)
                .await
                .expect("TLS connection");
        let reply = conn.fetch(get(&api_host("h3"), "/prod/echo/1")).await;
        assert_eq!(reply.status, 200);
        let port = setup.node.public_addr().port();
        let expected = on.then(|| format!("h3=\":{port}\"; ma=86400"));
        assert_eq!(reply.header("alt-svc").map(str::to_string), expected);
        let gateway_error = conn.fetch(get(&api_host("h3"), "/prod/nowhere")).await;
        assert_eq!(gateway_error.header("alt-svc").is_some(), on, "errors too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_http3_request_in_flight_finish() {
    let setup = setup(true).await;
    let mut conn = h3_conn(&setup).await;
    let host = api_host("h3");
    let in_flight = tokio::spawn(async move {
        let reply = conn.get(&host, "/prod/slow?ms=500").await;
        (reply, conn)
    });
    setup.backend.wait_slow(1).await;
    let Setup { node, backend, .. } = setup;
    node.shutdown().await;
    let (reply, _conn) = in_flight.await.expect("request task");
    assert_eq!(reply.status, 200, "{}", reply.text());
    drop(backend);
}

/// A custom domain with `truststore_pem` needs a client certificate, which is asked for over TCP
/// only: over HTTP/3 its requests get 421 (clients retry over TCP), whatever the SNI said,
/// while a domain without a truststore is served there as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mtls_domain_answers_421_over_http3_and_a_plain_domain_is_served() {
    let setup = setup(true).await;
    let clients_ca = TestCa::new("edgeway h3 test clients CA");
    for (name, truststore) in [
        ("secure.example.test", Some(clients_ca.cert_pem.clone())),
        ("open.example.test", None),
    ] {
        let leaf = setup.ca.leaf(&[name]);
        let domain = json!({
            "name": name,
            "certificate_pem": leaf.cert_pem,
            "private_key_pem": leaf.key_pem,
            "truststore_pem": truststore,
            "mappings": [{ "base_path": "", "api_id": "h3", "stage": "prod" }],
        });
        let (status, body) = setup.node.admin.post("/domains", &domain).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let connect =
        |name: &'static str| H3Conn::connect(setup.node.public_addr(), name, setup.ca.roots());

    let mut secure = connect("secure.example.test")
        .await
        .expect("QUIC handshake");
    let refused = secure.get("secure.example.test", "/echo/1").await;
    assert_eq!(
        refused.status,
        StatusCode::MISDIRECTED_REQUEST,
        "{}",
        refused.text()
    );
    // Naming the mTLS host only in the request, on a connection made for another name, is
    // refused the same way.
    let mut open = connect("open.example.test").await.expect("QUIC handshake");
    let smuggled = open.get("secure.example.test", "/echo/1").await;
    assert_eq!(
        smuggled.status,
        StatusCode::MISDIRECTED_REQUEST,
        "{}",
        smuggled.text()
    );

    let served = open.get("open.example.test", "/echo/1").await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(served.json()["path"], "/echo/1");
    assert_eq!(
        setup.backend.hits(),
        1,
        "only the plain domain reached the backend"
    );
}

/// Each public worker runs its own QUIC endpoint on a `SO_REUSEPORT` UDP socket; the kernel
/// spreads clients over them by address. Clients on many ports must all be served, whichever
/// worker's socket their packets land on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_many_ports_are_served_by_every_workers_endpoint() {
    let ca = TestCa::new("edgeway h3 workers CA");
    let leaf = ca.leaf(&["localhost"]);
    let node = TestNode::start_with(|config, dir| {
        let (cert, key) = leaf.write(dir, "default");
        config.public.tls = Some(edgeway::config::TlsFiles { cert, key });
        config.public.http3.enabled = true;
        config.public.workers = Some(3);
    })
    .await;
    node.admin
        .apply(&doc::http(
            "spread",
            vec![doc::mock("ok", 200, "{\"ok\": true}")],
            vec![doc::route("GET", "/ok", "ok")],
        ))
        .await;
    let host = api_host("spread");
    for client in 0..12 {
        let served = async {
            let connected = H3Conn::connect(node.public_addr(), "localhost", ca.roots()).await;
            let mut conn = connected.expect("an HTTP/3 connection from a new client port");
            conn.get(&host, "/ok").await
        };
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), served)
            .await
            .unwrap_or_else(|_| panic!("client {client}: no answer over HTTP/3 within 10 s"));
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
}

/// A route that answers without reading the request body (a mock) answers at once, then tells
/// the client to stop sending with H3_NO_ERROR (RFC 9114 §4.1.2), not with an error code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_whole_body_stops_the_upload_with_h3_no_error() {
    let setup = setup(true).await;
    setup
        .node
        .admin
        .apply(&doc::http(
            "early",
            vec![doc::mock("ok", 200, "{\"ok\": true}")],
            vec![doc::route("POST", "/early", "ok")],
        ))
        .await;
    let mut conn = h3_conn(&setup).await;
    let post = h3_request(Method::POST, &api_host("early"), "/early");
    let mut stream = conn.start(post).await.expect("request sent");
    stream
        .send_data(Bytes::from_static(b"the first piece of a long upload"))
        .await
        .expect("first piece sent");
    let answer = stream.recv_response().await.expect("an answer mid-upload");
    assert_eq!(answer.status(), 200);

    let stopped = async {
        loop {
            if let Err(e) = stream.send_data(Bytes::from(vec![b'x'; 16 * 1024])).await {
                return e;
            }
        }
    };
    let error = tokio::time::timeout(std::time::Duration::from_secs(10), stopped)
        .await
        .expect("the server stops the upload");
    match error {
        h3::error::StreamError::RemoteTerminate { code, .. } => {
            assert_eq!(code, h3::error::Code::H3_NO_ERROR)
        }
        other => panic!("expected STOP_SENDING with H3_NO_ERROR, got {other:?}"),
    }
}
