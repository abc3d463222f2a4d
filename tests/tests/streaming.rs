//! A large response streams through the node without being buffered. This file holds one
//! test only, so nothing else in the process moves its memory while it measures.

use edgeway_tests::memory::{PeakRss, rss_bytes};
use edgeway_tests::{Backend, Proto, TestNode, api_host, doc, get};
use http_body_util::BodyExt;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mib_response_streams_through_in_bounded_memory() {
    let node = TestNode::start().await;
    let backend = Backend::start("big").await;
    node.admin
        .apply(&doc::http(
            "big",
            vec![
                doc::proxy("big", &backend.url("/stream?mib=50")),
                doc::proxy("small", &backend.url("/stream?mib=2")),
            ],
            vec![
                doc::route("GET", "/big", "big"),
                doc::route("GET", "/small", "small"),
            ],
        ))
        .await;
    // Warm up pools, buffers and allocator arenas on the same paths first.
    for _ in 0..2 {
        let reply = node.get_api("big", "/small").await;
        assert_eq!(reply.body.len() as u64, 2 * MIB);
    }

    let baseline = rss_bytes(None);
    let sampler = PeakRss::start(None);
    let mut conn = node.conn(Proto::Http1).await;
    let response = conn.send(get(&api_host("big"), "/big")).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut total, mut next_pause) = (0u64, MIB);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("body frame").into_data() {
            assert!(data.iter().all(|&b| b == b'x'), "payload intact");
            total += data.len() as u64;
        }
        // A slower reader than the backend: the node must hold back, not buffer.
        if total >= next_pause {
            next_pause += MIB;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let peak = sampler.finish();
    assert_eq!(total, 50 * MIB, "the whole body arrived");
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "RSS baseline {} MiB, peak {} MiB, growth {:.1} MiB",
        baseline / MIB,
        peak / MIB,
        growth as f64 / MIB as f64
    );
    assert!(
        growth < 20 * MIB,
        "streaming 50 MiB grew RSS by {:.1} MiB",
        growth as f64 / MIB as f64
    );
    node.shutdown().await;
}
