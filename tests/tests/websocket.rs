//! WebSocket APIs end to end: a real client (tokio-tungstenite) against a real node. The
//! handshake runs `$connect`, messages pick routes by the route selection expression, limits
//! close with the right codes, `$disconnect` runs, and drain says Going Away.

use edgeway_tests::cluster::{TestCluster, wait_until};
use edgeway_tests::doc::{mock, proxy, websocket, ws_route};
use edgeway_tests::websocket::{Socket, close_frame, connect, next_text, send_text};
use edgeway_tests::{Backend, TestNode, api_host};
use serde_json::{Value, json};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(15);

/// Deploys WebSocket API `chat` with these integrations and routes, and opens a connection.
async fn chat(node: &TestNode, integrations: Vec<Value>, routes: Vec<Value>) -> Socket {
    node.admin
        .apply(&websocket("chat", integrations, routes))
        .await;
    open(node, "chat").await
}

async fn open(node: &TestNode, api: &str) -> Socket {
    connect(node.public_addr(), &api_host(api), "/prod", &[])
        .await
        .expect("the handshake is accepted")
}

#[tokio::test]
async fn websocket_apis_are_validated_with_field_names() {
    let node = TestNode::start().await;
    let mut doc = websocket(
        "chat",
        vec![mock("m", 200, "")],
        vec![ws_route("join", "m")],
    );
    doc["api"]["route_selection_expression"] = json!("$request.header.action");
    let (status, body) = node.admin.put("/apis/chat/document", &doc).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("api chat: route_selection_expression: must start with $request.body."),
        "{body}"
    );

    let doc = websocket(
        "chat",
        vec![mock("m", 200, "")],
        vec![ws_route("$bogus", "m")],
    );
    let (status, body) = node.admin.put("/apis/chat/document", &doc).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("route_key"), "{body}");

    let mut doc = websocket(
        "chat",
        vec![mock("m", 200, "")],
        vec![ws_route("join", "m")],
    );
    doc["api"]["route_selection_expression"] = json!("$request.body.message.type");
    node.admin.apply(&doc).await;
    let routes = node.admin.get("/apis/chat/routes").await;
    assert_eq!(routes[0]["route_key"], "join", "{routes}");
    assert_eq!(routes[0]["id"], "join", "{routes}");
    node.shutdown().await;
}

#[tokio::test]
async fn messages_pick_routes_by_the_expression_and_fall_back_to_default() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let mut socket = chat(
        &node,
        vec![
            mock("ok", 200, ""),
            mock("joined", 200, r#"{"joined":true}"#),
            proxy("echo", &backend.url("/messages")),
        ],
        vec![
            ws_route("$connect", "ok"),
            ws_route("join", "joined"),
            ws_route("$default", "echo"),
        ],
    )
    .await;

    send_text(&mut socket, r#"{"action":"join"}"#).await;
    assert_eq!(next_text(&mut socket).await, r#"{"joined":true}"#);

    for (message, why) in [
        ("plain text", "not JSON"),
        (r#"{"action":"leave"}"#, "no route"),
    ] {
        send_text(&mut socket, message).await;
        let echo: Value = serde_json::from_str(&next_text(&mut socket).await).unwrap();
        assert_eq!(echo["body"], message, "{why}: {echo}");
        assert_eq!(echo["path"], "/messages");
        let headers = &echo["headers"];
        assert_eq!(headers["x-edgeway-route-key"], "$default", "{why}: {echo}");
        assert_eq!(headers["x-edgeway-event-type"], "MESSAGE");
        assert_eq!(headers["x-edgeway-stage"], "prod");
        let id = headers["x-edgeway-connection-id"].as_str().unwrap();
        assert!(
            id.ends_with(".node-1"),
            "the id names the owning node: {id}"
        );
    }
    node.shutdown().await;
}

#[tokio::test]
async fn without_a_default_route_an_unmatched_message_gets_an_error_message() {
    let node = TestNode::start().await;
    let mut socket = chat(
        &node,
        vec![mock("joined", 200, "joined")],
        vec![ws_route("join", "joined")],
    )
    .await;
    send_text(&mut socket, r#"{"action":"shout"}"#).await;
    let error: Value = serde_json::from_str(&next_text(&mut socket).await).unwrap();
    assert_eq!(error["message"], "Forbidden", "{error}");
    assert!(error["connectionId"].as_str().unwrap().ends_with(".node-1"));
    send_text(&mut socket, r#"{"action":"join"}"#).await;
    assert_eq!(
        next_text(&mut socket).await,
        "joined",
        "the connection stays usable"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn connect_refusals_reach_the_client_as_http_answers() {
    let node = TestNode::start().await;
    let doc = websocket(
        "closed",
        vec![mock("no", 403, r#"{"message":"not today"}"#)],
        vec![ws_route("$connect", "no")],
    );
    node.admin.apply(&doc).await;
    let refused = connect(node.public_addr(), &api_host("closed"), "/prod", &[])
        .await
        .expect_err("the $connect integration refuses");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body, r#"{"message":"not today"}"#);

    // An API key on $connect is checked like on any route, before the integration runs.
    let mut doc = websocket(
        "keyed",
        vec![mock("ok", 200, "")],
        vec![ws_route("$connect", "ok")],
    );
    doc["routes"][0]["api_key_required"] = json!(true);
    node.admin.apply(&doc).await;
    let refused = connect(node.public_addr(), &api_host("keyed"), "/prod", &[])
        .await
        .expect_err("no API key");
    assert_eq!(refused.status, 403, "{}", refused.body);

    // A plain request to a WebSocket API is told to upgrade.
    let reply = node.get(&api_host("keyed"), "/prod").await;
    assert_eq!(reply.status, 426);
    node.shutdown().await;
}

#[tokio::test]
async fn messages_over_128_kib_close_with_1009() {
    let node = TestNode::start().await;
    let mut socket = chat(
        &node,
        vec![mock("m", 200, "ok")],
        vec![ws_route("$default", "m")],
    )
    .await;
    send_text(&mut socket, "small").await;
    assert_eq!(next_text(&mut socket).await, "ok");
    // Fragments of 16 KiB stay under the frame limit; the message as a whole does not.
    send_fragmented(&mut socket, 130 * 1024, 16 * 1024).await;
    let frame = close_frame(&mut socket).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
    node.shutdown().await;
}

/// Sends one text message of `size` bytes as continuation frames of `chunk` bytes.
async fn send_fragmented(socket: &mut Socket, size: usize, chunk: usize) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
    let mut sent = 0;
    while sent < size {
        let len = chunk.min(size - sent);
        let opcode = if sent == 0 {
            Data::Text
        } else {
            Data::Continue
        };
        let header = FrameHeader {
            is_final: sent + len == size,
            opcode: OpCode::Data(opcode),
            ..FrameHeader::default()
        };
        let frame = Frame::from_payload(header, vec![b'x'; len].into());
        if socket.send(Message::Frame(frame)).await.is_err() {
            return; // the server closed first: what the caller checks
        }
        sent += len;
    }
}

#[tokio::test]
async fn idle_connections_close_going_away_and_disconnect_runs() {
    let node = TestNode::start_with(|config, _| {
        config.limits.websocket_idle_timeout_ms = 500;
    })
    .await;
    let gone = Backend::start("disconnect").await;
    let mut socket = chat(
        &node,
        vec![mock("m", 200, "ok"), proxy("bye", &gone.url("/bye"))],
        vec![ws_route("$default", "m"), ws_route("$disconnect", "bye")],
    )
    .await;
    send_text(&mut socket, "hello").await;
    assert_eq!(next_text(&mut socket).await, "ok");
    let frame = close_frame(&mut socket).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
    assert_eq!(frame.reason, "Idle timeout");
    wait_until(LIMIT, "$disconnect reached its backend", || async {
        gone.hits() == 1
    })
    .await;
    node.shutdown().await;
}

/// A chat with a `$disconnect` backend and one message exchanged; then `POST /drain`.
async fn chat_then_drain(node: &TestNode) -> (Socket, Backend) {
    let gone = Backend::start("disconnect").await;
    let mut socket = chat(
        node,
        vec![mock("m", 200, "ok"), proxy("bye", &gone.url("/bye"))],
        vec![ws_route("$default", "m"), ws_route("$disconnect", "bye")],
    )
    .await;
    send_text(&mut socket, "hello").await;
    assert_eq!(next_text(&mut socket).await, "ok");
    let (status, body) = node.admin.post("/drain", &json!({})).await;
    assert_eq!(status, 202, "{body}");
    (socket, gone)
}

#[tokio::test]
async fn drain_says_going_away_to_websockets_and_ready_turns_false() {
    let node = TestNode::start().await;
    let (mut socket, gone) = chat_then_drain(&node).await;
    let frame = close_frame(&mut socket).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
    assert_eq!(frame.reason, "Going away");
    let ready = node
        .admin
        .call_with(http::Method::GET, "/ready", None, None)
        .await;
    assert_eq!(ready.status, 503);
    wait_until(LIMIT, "$disconnect ran during the drain", || async {
        gone.hits() == 1
    })
    .await;
    node.shutdown().await;
}

/// A draining node refuses new connections at once, even while a WebSocket client is slow to
/// answer the close: the worker stays up for that session, not its listener.
#[tokio::test]
async fn drain_stops_accepting_while_a_websocket_is_still_closing() {
    let node = TestNode::start().await;
    // The client reads nothing until the port is closed, so the node's Close waits for its
    // answer (up to the 5 s grace of test nodes).
    let (mut socket, gone) = chat_then_drain(&node).await;
    let public = node.public_addr();
    wait_until(
        Duration::from_secs(3),
        "the public port refuses connections",
        || async { tokio::net::TcpStream::connect(public).await.is_err() },
    )
    .await;
    assert_eq!(gone.hits(), 0, "the session is still closing");
    let frame = close_frame(&mut socket).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
    wait_until(
        LIMIT,
        "$disconnect ran after the listener stopped",
        || async { gone.hits() == 1 },
    )
    .await;
    node.shutdown().await;
}

/// A series of API `metered` in `/metrics` (the recorder is process-wide: no other test uses
/// that API).
async fn metered(node: &TestNode, name: &str, labels: &[&str]) -> f64 {
    let text = node.admin.get_text("/metrics").await;
    let labels: Vec<&str> = ["api=\"metered\""]
        .into_iter()
        .chain(labels.to_vec())
        .collect();
    edgeway_tests::metric_value(&text, name, &labels)
}

#[tokio::test]
async fn open_connections_and_messages_each_way_are_counted() {
    const OPEN: &str = "edgeway_websocket_connections";
    const MESSAGES: &str = "edgeway_websocket_messages_total";
    let node = TestNode::start().await;
    let doc = websocket(
        "metered",
        vec![mock("m", 200, "ok")],
        vec![ws_route("$default", "m")],
    );
    node.admin.apply(&doc).await;
    let mut socket = open(&node, "metered").await;
    wait_until(LIMIT, "one open connection", || async {
        metered(&node, OPEN, &[]).await == 1.0
    })
    .await;
    for text in ["one", "two"] {
        send_text(&mut socket, text).await;
        assert_eq!(next_text(&mut socket).await, "ok");
    }
    wait_until(LIMIT, "two messages in and two out", || async {
        let received = metered(&node, MESSAGES, &["direction=\"in\""]).await;
        let sent = metered(&node, MESSAGES, &["direction=\"out\""]).await;
        (received, sent) == (2.0, 2.0)
    })
    .await;
    socket.close(None).await.expect("close");
    wait_until(LIMIT, "no open connection after the close", || async {
        metered(&node, OPEN, &[]).await == 0.0
    })
    .await;
    node.shutdown().await;
}

#[tokio::test]
async fn at_connections_reach_a_client_held_by_another_node() {
    let cluster = TestCluster::start(&["local", "local"]).await;
    cluster.wait_members(2).await;
    let backend = Backend::start("echo").await;
    let doc = websocket(
        "chat",
        vec![proxy("echo", &backend.url("/messages"))],
        vec![ws_route("$default", "echo")],
    );
    let (first, second) = (&cluster.nodes[0], &cluster.nodes[1]);
    first.admin.apply(&doc).await;
    let host = api_host("chat");
    wait_until(LIMIT, "node-2 serves the API", || async {
        connect(second.public_addr(), &host, "/prod", &[])
            .await
            .is_ok()
    })
    .await;
    let mut socket = open(second, "chat").await;
    send_text(&mut socket, "who am I").await;
    let echo: Value = serde_json::from_str(&next_text(&mut socket).await).unwrap();
    let id = echo["headers"]["x-edgeway-connection-id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.ends_with(".node-2"), "{id}");
    let path = format!("/@connections/{id}");

    // Sent through node-1, which holds nothing: it reaches node-2 over the peer channel.
    let (status, body) = first
        .admin
        .post(&path, &json!({"note": "from node-1"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(next_text(&mut socket).await, r#"{"note":"from node-1"}"#);

    let info = first.admin.get(&path).await;
    assert_eq!(info["connectionId"], id.as_str(), "{info}");
    assert_eq!(info["apiId"], "chat");
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
    assert!(info["connectedAt"].as_u64().unwrap() > 0);

    let (status, body) = first.admin.delete(&path).await;
    assert_eq!(status, 204, "{body}");
    let frame = close_frame(&mut socket).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1000, "{frame:?}");
    wait_until(LIMIT, "the closed connection is gone", || async {
        let reply = first.admin.call(http::Method::GET, &path, None).await;
        reply.0 == 410
    })
    .await;
    cluster.shutdown().await;
}
