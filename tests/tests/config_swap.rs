//! A configuration change while a request is in flight: the request finishes on the config it
//! started with, its connection stays usable, and new requests see the new config.

use edgeway_tests::{Backend, Proto, TestNode, api_host, doc, get};
use std::sync::atomic::{AtomicBool, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeploy_during_a_long_request_leaves_it_and_its_connection_alone() {
    let node = TestNode::start().await;
    for proto in [Proto::Http1, Proto::H2c] {
        let (old, new) = (Backend::start("old").await, Backend::start("new").await);
        node.admin
            .apply(&doc::rest(
                "swap",
                "prod",
                vec![doc::proxy("work", &old.url("/slow?ms=1500"))],
                vec![doc::route("GET", "/work", "work")],
            ))
            .await;
        let mut conn = node.conn(proto).await;
        let swapped = AtomicBool::new(false);
        let in_flight = async {
            let reply = conn.fetch(get(&api_host("swap"), "/prod/work")).await;
            assert!(
                swapped.load(Ordering::SeqCst),
                "the change landed mid-request: {reply:?}"
            );
            reply
        };
        let change = async {
            old.wait_slow(1).await;
            let changed = doc::proxy("work", &new.url("/fast"));
            let (status, body) = node
                .admin
                .put("/apis/swap/integrations/work", &changed)
                .await;
            assert_eq!(status, 200, "{body}");
            node.admin.deploy("swap", "prod").await;
            // A new connection sees the new config at once.
            let fresh = node.send(proto, get(&api_host("swap"), "/prod/work")).await;
            assert_eq!(
                fresh.json()["backend"],
                "new",
                "{proto:?}: fresh connection"
            );
            swapped.store(true, Ordering::SeqCst);
        };
        let (reply, ()) = tokio::join!(in_flight, change);
        assert_eq!(reply.status, 200, "{proto:?}: {}", reply.text());
        let echo = reply.json();
        assert_eq!(
            (&echo["backend"], &echo["path"]),
            (&"old".into(), &"/slow".into()),
            "{proto:?}: the in-flight request keeps the old answer"
        );

        // The same connection goes on, now with the new config.
        let again = conn.fetch(get(&api_host("swap"), "/prod/work")).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.json()["backend"], "new", "{proto:?}: same connection");
        assert_eq!((old.hits(), new.hits()), (1, 2));
    }
    node.shutdown().await;
}
