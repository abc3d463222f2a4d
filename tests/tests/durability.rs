//! State that was acknowledged survives restarts; damaged state is refused loudly; shutdown
//! lets in-flight requests finish. (Crash and signal tests with the real binary live in
//! `node/tests/process.rs`.)

use edgeway_tests::{Backend, Proto, TestNode, api_host, doc, get};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_state_survives_a_restart() {
    let mut node = TestNode::start().await;
    let mock = || vec![doc::mock("m", 200, "still here")];
    node.admin
        .apply(&doc::rest(
            "kept",
            "prod",
            mock(),
            vec![doc::route("GET", "/m", "m")],
        ))
        .await;
    node.admin
        .apply(&doc::rest(
            "dropped",
            "prod",
            mock(),
            vec![doc::route("GET", "/m", "m")],
        ))
        .await;
    let (status, _) = node
        .admin
        .post(
            "/domains",
            &json!({ "name": "kept.example.test", "mappings": [{ "api_id": "kept", "stage": "prod" }] }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = node.admin.delete("/apis/dropped").await;
    assert_eq!(status, 200);
    let before = node.admin.get("/objects").await;

    node.restart().await;
    assert_eq!(
        node.admin.get("/objects").await,
        before,
        "same objects, same versions"
    );
    assert_eq!(node.get_api("kept", "/prod/m").await.text(), "still here");
    assert_eq!(
        node.get("kept.example.test", "/m").await.text(),
        "still here"
    );
    node.get_api("dropped", "/prod/m")
        .await
        .assert_gateway_error(404, "RESOURCE_NOT_FOUND");

    // Writes after the restart are newer than everything before it.
    node.admin
        .apply(&doc::rest(
            "later",
            "prod",
            mock(),
            vec![doc::route("GET", "/m", "m")],
        ))
        .await;
    node.restart().await;
    assert_eq!(node.get_api("later", "/prod/m").await.status, 200);
    assert_eq!(node.get_api("kept", "/prod/m").await.status, 200);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_state_file_stops_the_node_from_starting() {
    let mut node = TestNode::start().await;
    node.admin
        .apply(&doc::rest(
            "a",
            "prod",
            vec![doc::mock("m", 200, "m")],
            vec![doc::route("GET", "/m", "m")],
        ))
        .await;
    node.stop().await;
    let newest = std::fs::read_dir(node.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "batch"))
        .max()
        .expect("a batch file");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();

    let error = node
        .try_start_again()
        .await
        .expect_err("start must fail")
        .to_string();
    let name = newest.file_name().unwrap().to_str().unwrap();
    assert!(error.contains("damaged") && error.contains(name), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
    let node = TestNode::start().await;
    let backend = Backend::start("slow").await;
    node.admin
        .apply(&doc::http(
            "drain",
            vec![doc::proxy("slow", &backend.url("/slow?ms=1000"))],
            vec![doc::route("GET", "/slow", "slow")],
        ))
        .await;
    let addr = node.public_addr();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_ok(),
        "listening before shutdown"
    );
    let mut h1 = node.conn(Proto::Http1).await;
    let mut h2 = node.conn(Proto::H2c).await;
    let in_flight = async {
        tokio::join!(
            h1.fetch(get(&api_host("drain"), "/slow")),
            h2.fetch(get(&api_host("drain"), "/slow"))
        )
    };
    let stop = async {
        backend.wait_slow(2).await;
        node.shutdown().await;
    };
    let ((a, b), ()) = tokio::join!(in_flight, stop);
    for reply in [a, b] {
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["path"], "/slow");
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_documents_seed_a_new_node_and_never_undo_later_changes() {
    let hello =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/hello.json");
    let mut node = TestNode::start_with(|config, _| config.node.bootstrap = vec![hello]).await;
    let reply = node.get_api("hello", "/hello").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["message"],
        "Hello from Edgeway (stage $default)"
    );

    let (status, _) = node
        .admin
        .put(
            "/apis/hello/integrations/greeting",
            &doc::mock("greeting", 200, "changed"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        node.get_api("hello", "/hello").await.text(),
        "changed",
        "auto-deploy"
    );
    node.restart().await;
    assert_eq!(
        node.get_api("hello", "/hello").await.text(),
        "changed",
        "bootstrap did not undo it"
    );
    node.shutdown().await;
}
