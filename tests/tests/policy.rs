//! Resource policies as clients see them: allow and deny by source CIDR over IPv4 and IPv6
//! loopback, deny winning over allow, the policy as deployed, and `X-Forwarded-For` believed
//! only from trusted proxies. Denied callers get 403 ACCESS_DENIED and never reach the backend.

use edgeway_tests::client::empty;
use edgeway_tests::{Backend, Conn, Proto, Reply, TestNode, api_host, doc, request};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// A REST API `pol` (stage `prod`, `GET /who` → `backend`) with `policy`, deployed.
fn api(backend: &Backend, policy: Value) -> Value {
    let mut doc = doc::rest(
        "pol",
        "prod",
        vec![doc::proxy("who", &backend.url("/who"))],
        vec![doc::route("GET", "/who", "who")],
    );
    doc["api"]["policy"] = policy;
    doc
}

/// `GET /prod/who` from `local` (a loopback address), with optional `X-Forwarded-For`.
async fn call(node: &TestNode, local: &str, forwarded: Option<&str>) -> Reply {
    let local: IpAddr = local.parse().unwrap();
    call_at(node.public_addr(), local, forwarded).await
}

async fn call_at(addr: SocketAddr, local: IpAddr, forwarded: Option<&str>) -> Reply {
    let mut req = request(http::Method::GET, &api_host("pol"), "/prod/who");
    if let Some(xff) = forwarded {
        req = req.header("x-forwarded-for", xff);
    }
    let mut conn = Conn::open_from(local, addr, Proto::Http1)
        .await
        .unwrap_or_else(|e| panic!("connect from {local}: {e}"));
    conn.fetch(req.body(empty()).unwrap()).await
}

#[track_caller]
fn assert_allowed(reply: &Reply, who: &str) {
    assert_eq!(reply.status, 200, "{who}: {}", reply.text());
    assert_eq!(reply.json()["path"], "/who", "{who}");
}

#[track_caller]
fn assert_denied(reply: &Reply) {
    reply.assert_gateway_error(403, "ACCESS_DENIED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_and_deny_by_ipv4_source_with_deny_winning() {
    let backend = Backend::start("who").await;
    let node = TestNode::start().await;
    let policy = json!({
        "allow_cidrs": ["127.0.0.2/32", "127.0.1.0/24"],
        "deny_cidrs": ["127.0.1.9"],
    });
    node.admin.apply(&api(&backend, policy)).await;
    for source in ["127.0.0.2", "127.0.1.5"] {
        assert_allowed(&call(&node, source, None).await, source);
    }
    for source in ["127.0.0.1", "127.0.1.9", "127.0.0.3"] {
        assert_denied(&call(&node, source, None).await);
    }
    assert_eq!(backend.hits(), 2, "denied requests never reach the backend");

    // A deny-only policy lets everyone else in; it applies once deployed.
    let deny_only = json!({ "deny_cidrs": ["127.0.0.2/32"] });
    let (status, body) = node
        .admin
        .put("/apis/pol", &api(&backend, deny_only.clone())["api"])
        .await;
    assert_eq!(status, http::StatusCode::OK, "{body}");
    assert_denied(&call(&node, "127.0.0.1", None).await);
    node.admin.deploy("pol", "prod").await;
    assert_denied(&call(&node, "127.0.0.2", None).await);
    assert_allowed(&call(&node, "127.0.0.1", None).await, "127.0.0.1");
    assert_allowed(&call(&node, "127.0.1.9", None).await, "127.0.1.9");

    // Without a policy everyone is in.
    node.admin.apply(&api(&backend, Value::Null)).await;
    assert_allowed(&call(&node, "127.0.0.2", None).await, "127.0.0.2");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_and_deny_by_ipv6_source() {
    let backend = Backend::start("who").await;
    // If ::1 were missing this would fail to start, loudly: the test is never skipped.
    let node = TestNode::start_with(|config, _| {
        config.public.listen = (Ipv6Addr::LOCALHOST, 0).into();
    })
    .await;
    let addr = node.public_addr();
    assert!(addr.is_ipv6(), "{addr}");
    let local = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let cases = [
        (json!({ "allow_cidrs": ["::1/128"] }), true),
        (json!({ "allow_cidrs": ["127.0.0.0/8"] }), false),
        (
            json!({ "allow_cidrs": ["::/0"], "deny_cidrs": ["::1"] }),
            false,
        ),
        (
            json!({ "allow_cidrs": ["::/0", "0.0.0.0/0"], "deny_cidrs": ["fe80::/10"] }),
            true,
        ),
    ];
    for (policy, allowed) in cases {
        node.admin.apply(&api(&backend, policy.clone())).await;
        let reply = call_at(addr, local, None).await;
        match allowed {
            true => assert_allowed(&reply, &policy.to_string()),
            false => assert_denied(&reply),
        }
    }
    assert_eq!(backend.hits(), 2);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let backend = Backend::start("who").await;
    let node = TestNode::start_with(|config, _| {
        config.public.trusted_proxies = vec!["127.0.0.2/32".into()];
    })
    .await;
    let policy = json!({
        "allow_cidrs": ["198.51.100.0/24"],
        "deny_cidrs": ["198.51.100.66/32"],
    });
    node.admin.apply(&api(&backend, policy)).await;
    const PROXY: &str = "127.0.0.2";
    for xff in ["198.51.100.7", "198.51.100.7, 127.0.0.2"] {
        assert_allowed(&call(&node, PROXY, Some(xff)).await, xff);
    }
    for xff in [
        // Denied inside the allowed network: deny wins.
        Some("198.51.100.66"),
        Some("203.0.113.1"),
        // The right-most hop not a trusted proxy is the client; earlier ones could be forged.
        Some("198.51.100.7, 203.0.113.1"),
        // No header: the proxy itself is the client.
        None,
    ] {
        assert_denied(&call(&node, PROXY, xff).await);
    }
    // From a peer that is not a trusted proxy, the header is ignored.
    assert_denied(&call(&node, "127.0.0.1", Some("198.51.100.7")).await);
    assert_eq!(backend.hits(), 2);
    node.shutdown().await;
}
