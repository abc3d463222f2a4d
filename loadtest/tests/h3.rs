//! `edgeway-load --http 3` against a real HTTP/3 server (quinn + h3, TLS 1.3 with a generated
//! CA): the counts the report gives are the requests the server answered.

use bytes::Bytes;
use edgeway_load::{HttpVersion, LoadConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A CA (PEM) and a `localhost` certificate it signed, with its key.
fn certificates() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let key = PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into();
    (ca_pem, leaf.der().clone(), key)
}

/// An HTTP/3 server on 127.0.0.1 answering every request `200 hello`; counts requests.
fn serve(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
    let config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let endpoint = quinn::Endpoint::server(config, ([127, 0, 0, 1], 0).into()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let served = count.clone();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let count = served.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let Ok(mut h3) =
                    h3::server::Connection::<_, Bytes>::new(h3_quinn::Connection::new(conn)).await
                else {
                    return;
                };
                while let Ok(Some(resolver)) = h3.accept().await {
                    let count = count.clone();
                    tokio::spawn(async move {
                        let Ok((_request, mut stream)) = resolver.resolve_request().await else {
                            return;
                        };
                        count.fetch_add(1, Ordering::SeqCst);
                        let response = http::Response::builder().status(200).body(()).unwrap();
                        let _ = stream.send_response(response).await;
                        let _ = stream.send_data(Bytes::from_static(b"hello")).await;
                        let _ = stream.finish().await;
                    });
                }
            });
        }
    });
    (addr, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_open_loop_counts_what_the_server_answered() {
    let (ca_pem, cert, key) = certificates();
    let (addr, served) = serve(cert, key);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let url = format!("https://127.0.0.1:{}/x", addr.port());
    let mut config = LoadConfig::open(vec![url.parse().unwrap()], 100.0, Duration::from_secs(1));
    config.http = HttpVersion::Http3;
    config.connections = 2;
    config.ca_file = Some(ca_file);
    config.headers = vec![(
        http::header::HOST,
        http::HeaderValue::from_static("localhost"),
    )];
    let report = edgeway_load::run(config.clone()).await.expect("run");
    assert_eq!(report.protocol, "h3");
    assert!(report.total.sent.abs_diff(100) <= 1, "{report:?}");
    assert_eq!(
        report.total.statuses.get("200"),
        Some(&report.total.sent),
        "{report:?}"
    );
    assert_eq!(report.total.bytes, 5 * report.total.sent);
    assert_eq!(served.load(Ordering::SeqCst) as u64, report.total.sent);

    // Without the CA the QUIC handshake fails, and the report says so.
    config.ca_file = None;
    config.duration = Duration::from_millis(200);
    let report = edgeway_load::run(config.clone()).await.expect("run");
    assert_eq!(
        report.total.errors.get("tls"),
        Some(&report.total.sent),
        "{report:?}"
    );

    // HTTP/3 needs https://.
    config.targets = vec![format!("http://{addr}/").parse().unwrap()];
    let err = edgeway_load::run(config).await.unwrap_err();
    assert!(
        err.to_string().contains("HTTP/3 needs an https:// URL"),
        "{err}"
    );
}
