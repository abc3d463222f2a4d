//! `edgewayctl certs`: a cluster CA and node certificates that work for mutual TLS the way the
//! peer channel uses them (chain to the CA, server name = node id), checked with a real
//! handshake over loopback; files are never overwritten and keys are private.

mod common;

use common::{Ctl, path_str};
use edgeway_tools::certs::{self, CertAndKey};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn chain(pair: &CertAndKey) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let certs = CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate PEM");
    (
        certs,
        PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).expect("key PEM"),
    )
}

fn roots(ca: &CertAndKey) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(chain(ca).0.remove(0)).expect("CA certificate");
    Arc::new(roots)
}

/// A handshake between `server` and `client` (both presenting certificates, both verifying by
/// `ca`), the client asking for `name`; Ok once one byte went each way.
async fn mutual_tls(
    ca: &CertAndKey,
    server: &CertAndKey,
    client: &CertAndKey,
    name: &str,
) -> Result<(), String> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .expect("client verifier");
    let (certs, key) = chain(server);
    let server_config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .expect("server certificate");
    let (certs, key) = chain(client);
    let client_config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca))
        .with_client_auth_cert(certs, key)
        .expect("client certificate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| format!("server: {e}"))?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte)
            .await
            .map_err(|e| format!("server: {e}"))?;
        tls.write_all(&byte)
            .await
            .map_err(|e| format!("server: {e}"))?;
        tls.flush().await.map_err(|e| e.to_string())
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    let client_side = async {
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("client: {e}"))?;
        tls.write_all(b"x")
            .await
            .map_err(|e| format!("client: {e}"))?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte)
            .await
            .map_err(|e| format!("client: {e}"))?;
        Ok::<_, String>(())
    };
    let client_result = client_side.await;
    let server_result = server_side.await.expect("server task");
    client_result.and(server_result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_certificates_authenticate_both_ways_by_node_id() {
    let ca = certs::new_ca("test cluster", 30).unwrap();
    let node_1 = certs::new_node_cert(
        &ca,
        "node-1",
        &["127.0.0.1".into(), "edge-1.example".into()],
        30,
    )
    .unwrap();
    let node_2 = certs::new_node_cert(&ca, "node-2", &[], 30).unwrap();
    mutual_tls(&ca, &node_1, &node_2, "node-1")
        .await
        .expect("node-2 reaches node-1");
    mutual_tls(&ca, &node_2, &node_1, "node-2")
        .await
        .expect("node-1 reaches node-2");
    mutual_tls(&ca, &node_1, &node_2, "127.0.0.1")
        .await
        .expect("an extra IP SAN");
    let wrong_name = mutual_tls(&ca, &node_1, &node_2, "node-3")
        .await
        .unwrap_err();
    assert!(
        wrong_name.contains("not valid for name \"node-3\""),
        "{wrong_name}"
    );
    let other_ca = certs::new_ca("another cluster", 30).unwrap();
    let stranger = certs::new_node_cert(&other_ca, "node-9", &[], 30).unwrap();
    let refused = mutual_tls(&ca, &node_1, &stranger, "node-1")
        .await
        .unwrap_err();
    assert!(
        refused.contains("alert: UnknownCA"),
        "the server refuses a client of another CA: {refused}"
    );
    let bad = certs::new_node_cert(&ca, "bad name!", &[], 30).unwrap_err();
    assert!(
        bad.to_string()
            .contains("'bad name!' is neither a DNS name"),
        "{bad}"
    );
    assert!(certs::new_node_cert(&ca, "node-1", &["x y".into()], 30).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_init_and_issue_write_private_keys_and_never_overwrite() {
    let ctl = Ctl {
        addr: String::new(),
        token: String::new(),
        dir: tempfile::tempdir().unwrap(),
    };
    let ca_dir = path_str(&ctl.dir.path().join("ca"));
    let out = ctl.run(&["certs", "init", "--out", &ca_dir]).await;
    assert!(out.ok().contains("ca.key (mode 0600)"), "{}", out.stdout);
    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&format!("{ca_dir}/ca.key")), 0o600);
    ctl.run(&["certs", "init", "--out", &ca_dir])
        .await
        .fails(1, "refusing to overwrite");

    let node_dir = path_str(&ctl.dir.path().join("nodes"));
    let issue = [
        "certs",
        "issue",
        "--ca",
        &ca_dir,
        "--node-id",
        "node-1",
        "--out",
        &node_dir,
        "--san",
        "10.0.0.1",
        "--days",
        "90",
    ];
    ctl.run(&issue).await.ok();
    assert_eq!(mode(&format!("{node_dir}/node-1.key")), 0o600);
    ctl.run(&issue).await.fails(1, "node-1.pem exists");
    ctl.run(&["certs", "issue", "--node-id", "n", "--out", &node_dir])
        .await
        .fails(1, "--ca DIR");
    let bad = [
        "certs",
        "issue",
        "--ca",
        &ca_dir,
        "--node-id",
        "../x",
        "--out",
        &node_dir,
    ];
    ctl.run(&bad).await.fails(1, "cannot name a file");

    // The files work: node-1 serves, a second node's certificate is its client.
    let ca = certs::read_ca(ctl.dir.path().join("ca").as_path()).unwrap();
    let node_1 = CertAndKey {
        cert_pem: std::fs::read_to_string(format!("{node_dir}/node-1.pem")).unwrap(),
        key_pem: std::fs::read_to_string(format!("{node_dir}/node-1.key")).unwrap(),
    };
    let node_2 = certs::new_node_cert(&ca, "node-2", &[], 1).unwrap();
    mutual_tls(&ca, &node_1, &node_2, "10.0.0.1")
        .await
        .expect("the --san address");
    mutual_tls(&ca, &node_1, &node_2, "node-1")
        .await
        .expect("the node id");
}
