//! `edgewayctl connections get|send|delete` against a real node holding a real WebSocket
//! client's connection, and the error a script sees once the connection is gone.

mod common;

use common::Ctl;
use edgeway_tests::doc::{proxy, websocket, ws_route};
use edgeway_tests::websocket::{close_frame, connect, next_text, send_text};
use edgeway_tests::{Backend, TestNode, api_host};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_send_and_delete_a_websocket_connection() {
    let node = TestNode::start().await;
    let backend = Backend::start("echo").await;
    let doc = websocket(
        "chat",
        vec![proxy("echo", &backend.url("/messages"))],
        vec![ws_route("$default", "echo")],
    );
    node.admin.apply(&doc).await;
    let mut socket = connect(node.public_addr(), &api_host("chat"), "/prod", &[])
        .await
        .expect("the handshake is accepted");
    // The backend echoes the connection id the gateway gave the message.
    send_text(&mut socket, "who am I").await;
    let echo: Value = serde_json::from_str(&next_text(&mut socket).await).unwrap();
    let id = echo["headers"]["x-edgeway-connection-id"]
        .as_str()
        .expect("a connection id")
        .to_string();

    let ctl = Ctl::for_node(&node);
    let info = ctl
        .run(&["connections", "get", &id, "-o", "json"])
        .await
        .json();
    assert_eq!(
        (info["connectionId"].as_str(), info["apiId"].as_str()),
        (Some(id.as_str()), Some("chat"))
    );
    assert_eq!(info["stage"], "prod");
    let table = ctl.run(&["connections", "get", &id]).await;
    assert!(
        table.ok().starts_with("CONNECTION") && table.stdout.contains(&id),
        "{}",
        table.stdout
    );

    let sent = ctl
        .run(&["connections", "send", &id, "--data", "hello from the CLI"])
        .await;
    assert!(sent.ok().contains("sent"), "{}", sent.stdout);
    assert_eq!(next_text(&mut socket).await, "hello from the CLI");
    let file = ctl.file("message.json", r#"{"from": "a file"}"#);
    ctl.run(&["connections", "send", &id, "-f", &file])
        .await
        .ok();
    assert_eq!(next_text(&mut socket).await, r#"{"from": "a file"}"#);

    ctl.run(&["connections", "delete", &id]).await.ok();
    let frame = close_frame(&mut socket).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1000, "{frame:?}");

    // Gone: 410, which a script sees as exit 7 with the server's message.
    ctl.run(&["connections", "get", &id]).await.fails(7, "410");
    ctl.run(&["connections", "send", &id])
        .await
        .fails(2, "--data");
    node.shutdown().await;
}
