//! Request limits: bodies over `limits.max_body_bytes` (declared or streamed) get 413
//! REQUEST_TOO_LARGE; header sections over `limits.max_header_bytes` get 431; clients that stall
//! in their headers or TLS handshake are cut off after `limits.header_read_timeout_ms`.

use bytes::Bytes;
use edgeway_tests::client::{BoxError, Proto, empty, full, streaming};
use edgeway_tests::{Backend, TestNode, api_host, doc, request};
use http::Method;

const MAX_BODY: u64 = 64 * 1024;

async fn node_with_echo(backend: &Backend) -> TestNode {
    let node = TestNode::start_with(|config, _| config.limits.max_body_bytes = MAX_BODY).await;
    node.admin
        .apply(&doc::http(
            "limits",
            vec![doc::proxy("echo", &backend.url("/upload"))],
            vec![doc::route("POST", "/upload", "echo")],
        ))
        .await;
    node
}

/// `n` chunks of 16 KiB, sent without a declared length.
fn chunks(n: usize) -> edgeway_tests::client::Body {
    let chunk = Bytes::from(vec![b'a'; 16 * 1024]);
    streaming(futures_util::stream::iter(
        (0..n).map(move |_| Ok::<_, BoxError>(chunk.clone())),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_over_the_limit_is_refused_before_any_backend_call() {
    let backend = Backend::start("upload").await;
    let node = node_with_echo(&backend).await;
    for proto in [Proto::Http1, Proto::H2c] {
        let req = request(Method::POST, &api_host("limits"), "/upload")
            .header("content-length", (MAX_BODY + 1).to_string())
            .body(full(vec![b'a'; MAX_BODY as usize + 1]))
            .unwrap();
        node.send(proto, req)
            .await
            .assert_gateway_error(413, "REQUEST_TOO_LARGE");
    }
    assert_eq!(backend.hits(), 0);

    // Exactly at the limit is fine.
    let req = request(Method::POST, &api_host("limits"), "/upload")
        .body(full(vec![b'a'; MAX_BODY as usize]))
        .unwrap();
    let reply = node.send(Proto::Http1, req).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["body_len"], MAX_BODY);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_is_cut_off_once_it_passes_the_limit() {
    let backend = Backend::start("upload").await;
    let node = node_with_echo(&backend).await;
    for proto in [Proto::Http1, Proto::H2c] {
        // 2 x 16 KiB streams through to the backend.
        let req = request(Method::POST, &api_host("limits"), "/upload")
            .body(chunks(2))
            .unwrap();
        let reply = node.send(proto, req).await;
        assert_eq!(reply.status, 200, "{proto:?}: {}", reply.text());
        assert_eq!(reply.json()["body_len"], 32 * 1024);

        // 8 x 16 KiB (128 KiB) does not.
        let req = request(Method::POST, &api_host("limits"), "/upload")
            .body(chunks(8))
            .unwrap();
        let reply = node.send(proto, req).await;
        reply.assert_gateway_error(413, "REQUEST_TOO_LARGE");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_section_over_the_limit_gets_431() {
    let node = TestNode::start().await;
    node.admin
        .apply(&doc::http(
            "headers",
            vec![doc::mock("ok", 200, "ok")],
            vec![doc::route("GET", "/ok", "ok")],
        ))
        .await;
    let with_header = |size: usize| {
        request(Method::GET, &api_host("headers"), "/ok")
            .header("x-big", "b".repeat(size))
            .body(empty())
            .unwrap()
    };
    for proto in [Proto::Http1, Proto::H2c] {
        let reply = node.send(proto, with_header(4 * 1024)).await;
        assert_eq!(reply.status, 200, "{proto:?}: a 4 KiB header is fine");
    }
    let reply = node.send(Proto::Http1, with_header(32 * 1024)).await;
    assert_eq!(reply.status, 431, "HTTP/1.1");
    // On HTTP/2 only the stream is refused; the connection goes on.
    let mut conn = node.conn(Proto::H2c).await;
    assert_eq!(
        conn.fetch(with_header(32 * 1024)).await.status,
        431,
        "HTTP/2"
    );
    assert_eq!(conn.fetch(with_header(16)).await.status, 200);
    node.shutdown().await;
}

/// Reads until the server closes the connection; `None` if it is still open after 5 s.
async fn closed_by_server(tcp: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read_all)
        .await
        .ok()?;
    Some(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stall_in_headers_or_handshake_are_disconnected() {
    use tokio::io::AsyncWriteExt;
    let slow_headers =
        TestNode::start_with(|config, _| config.limits.header_read_timeout_ms = 300).await;
    let mut tcp = tokio::net::TcpStream::connect(slow_headers.public_addr())
        .await
        .unwrap();
    tcp.write_all(b"GET /hi HTTP/1.1\r\nhost: x.execute-api.localhost\r\n")
        .await
        .unwrap();
    let answer = closed_by_server(&mut tcp)
        .await
        .expect("a stalled request is cut off");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    let ca = edgeway_tests::TestCa::new("ca");
    let leaf = ca.leaf(&["localhost"]);
    let slow_handshake = TestNode::start_with(|config, dir| {
        config.limits.header_read_timeout_ms = 300;
        let (cert, key) = leaf.write(dir, "tls");
        config.public.tls = Some(edgeway::config::TlsFiles { cert, key });
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(slow_handshake.public_addr())
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut tcp).await.is_some(),
        "a silent TLS client is cut off"
    );
    slow_headers.shutdown().await;
    slow_handshake.shutdown().await;
}
