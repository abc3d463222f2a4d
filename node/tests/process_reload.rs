//! SIGHUP on the real `edgeway` binary: the default certificate is swapped for new handshakes
//! while a connection made before keeps working; a new body limit applies; a broken file or an
//! unreadable certificate changes nothing; a field that needs a restart is named; the access
//! log is reopened after rotation.

mod common;

use common::{Edgeway, TOKEN, http, wait_until};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Generous for a loaded 2-core machine; a reload itself takes milliseconds.
const LIMIT: Duration = Duration::from_secs(20);
const HOST: &str = "hup.execute-api.localhost";

/// A test CA and the leaf certificates it signs for `localhost`.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "reload test CA");
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        Ca {
            issuer: Issuer::new(params, key),
            der,
        }
    }

    /// A new leaf for `localhost`, written to `cert.pem`/`key.pem` in `dir` (replacing what
    /// was there, as a certificate rotation does); returns its DER.
    fn install_leaf(&self, dir: &Path, name: &str) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::ExplicitNoCa;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        cert.der().clone()
    }

    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// One kept-alive HTTP/1.1 connection over TLS.
struct TlsConn(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl TlsConn {
    /// Connects and completes the handshake (SNI `localhost`).
    fn open(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsConn {
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(config, name).unwrap();
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(LIMIT)).unwrap();
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .expect("handshake");
        }
        TlsConn(stream)
    }

    /// The certificate the server presented at this connection's handshake.
    fn presented(&self) -> CertificateDer<'static> {
        self.0.conn.peer_certificates().unwrap()[0]
            .clone()
            .into_owned()
    }

    /// `POST /prod/work` with `body`, keeping the connection open; the status and body.
    fn post(&mut self, body: &str) -> (u16, String) {
        write!(
            self.0,
            "POST /prod/work HTTP/1.1\r\nhost: {HOST}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        read_response(&mut BufReader::new(&mut self.0))
    }
}

/// Reads one response with a `content-length` body.
fn read_response(reader: &mut impl BufRead) -> (u16, String) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The node's config: listeners on 127.0.0.1:0, `extra` appended (sections of its own).
fn write_config(dir: &Path, limits: &str, extra: &str) -> PathBuf {
    let path = dir.join("node.toml");
    let text = format!(
        "[node]\ndata_dir = {data:?}\n\n[public]\nlisten = \"127.0.0.1:0\"\n{extra}\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\n[limits]\n{limits}\n",
        data = dir.join("data")
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// API `hup`: `ANY /work` answered by a mock, deployed to `prod` with an access log.
fn put_api(node: &Edgeway) {
    let doc = r#"{"api": {"id": "hup", "name": "hup", "kind": "rest"},
        "integrations": [{"id": "work", "type": "mock", "mock": {"status_code": 200, "body": "done"}}],
        "routes": [{"method": "ANY", "path": "/work", "integration_id": "work"}],
        "stages": [{"name": "prod", "access_log": {"format": "$context.requestId $context.status"}}],
        "deploy_to": ["prod"]}"#;
    let (status, body) = http(node.admin, "PUT", "admin", "/apis/hup/document", Some(doc));
    assert_eq!(status, 200, "{body}");
}

/// `edgeway_config_reloads_total{result="..."}` as `/metrics` shows it now.
fn reloads(node: &Edgeway, result: &str) -> u64 {
    let (_, metrics) = http(node.admin, "GET", "admin", "/metrics", None);
    let series = format!("edgeway_config_reloads_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().unwrap())
}

fn post(node: &Edgeway, bytes: usize) -> u16 {
    http(
        node.public,
        "POST",
        HOST,
        "/prod/work",
        Some(&"x".repeat(bytes)),
    )
    .0
}

#[test]
fn sighup_swaps_the_certificate_for_new_handshakes_while_an_old_connection_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let cert_a = ca.install_leaf(dir.path(), "cert A");
    let tls = format!(
        "tls = {{ cert = {:?}, key = {:?} }}",
        dir.path().join("cert.pem"),
        dir.path().join("key.pem")
    );
    // hyper's header read timeout also ends idle keep-alive connections: long enough here
    // that only a reload could drop the old one.
    let config = write_config(dir.path(), "header_read_timeout_ms = 120000", &tls);
    let node = Edgeway::start(&config);
    put_api(&node);
    let client = ca.client_config();
    let mut old = TlsConn::open(node.public, client.clone());
    assert!(old.presented() == cert_a, "the node starts with cert A");
    assert_eq!(old.post("before"), (200, "done".to_string()));

    // Rotation: new files in place, then SIGHUP.
    let cert_b = ca.install_leaf(dir.path(), "cert B");
    assert!(cert_b != cert_a);
    node.hang_up();
    wait_until(LIMIT, "a new handshake presents cert B", || {
        TlsConn::open(node.public, client.clone()).presented() == cert_b
    });
    let mut new = TlsConn::open(node.public, client.clone());
    assert_eq!(new.post("new"), (200, "done".to_string()));
    // The connection made before the swap still answers, on the session it negotiated.
    assert_eq!(old.post("after"), (200, "done".to_string()));
    assert!(old.presented() == cert_a);
    assert_eq!((reloads(&node, "ok"), reloads(&node, "error")), (1, 0));

    // An unreadable certificate: the reload fails naming the field, and cert B stays.
    std::fs::remove_file(dir.path().join("cert.pem")).unwrap();
    node.hang_up();
    let error = node.wait_for_log(LIMIT, &["config reload failed", "public.tls"]);
    assert!(error.contains("cert.pem"), "{error}");
    assert_eq!(reloads(&node, "error"), 1);
    let mut after = TlsConn::open(node.public, client);
    assert!(after.presented() == cert_b, "still cert B");
    assert_eq!(after.post("still"), (200, "done".to_string()));
    assert_eq!(old.post("still"), (200, "done".to_string()));
}

#[test]
fn sighup_applies_a_new_body_limit_keeps_the_old_config_on_a_bad_file_and_names_restart_fields() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "max_body_bytes = 1000", "");
    let node = Edgeway::start(&config);
    put_api(&node);
    assert_eq!(post(&node, 500), 200);

    write_config(dir.path(), "max_body_bytes = 100", "");
    node.hang_up();
    wait_until(LIMIT, "the reload is counted", || reloads(&node, "ok") == 1);
    assert_eq!(
        post(&node, 500),
        413,
        "500 bytes passed before; the limit is 100 now"
    );
    assert_eq!(post(&node, 50), 200);

    // A file that fails validation: the node keeps the limit it had.
    write_config(dir.path(), "max_body_bytes = 0", "");
    node.hang_up();
    node.wait_for_log(
        LIMIT,
        &[
            "config reload failed",
            "limits.max_body_bytes: must be >= 1",
        ],
    );
    assert_eq!(reloads(&node, "error"), 1);
    assert_eq!((post(&node, 500), post(&node, 50)), (413, 200));

    // Not TOML at all: the same.
    std::fs::write(&config, "[limits\nmax_body_bytes = 5000").unwrap();
    node.hang_up();
    wait_until(LIMIT, "the failure is counted", || {
        reloads(&node, "error") == 2
    });
    assert_eq!((post(&node, 500), post(&node, 50)), (413, 200));

    // A listen address needs a restart: named in a warning, while the limit in the same file
    // applies and the node stays where it listens.
    let text = std::fs::read_to_string(write_config(dir.path(), "max_body_bytes = 1000", ""));
    let moved = "[admin]\nlisten = \"127.0.0.1:1\"";
    let text = text
        .unwrap()
        .replace("[admin]\nlisten = \"127.0.0.1:0\"", moved);
    std::fs::write(&config, text).unwrap();
    node.hang_up();
    let warning = node.wait_for_log(LIMIT, &["only after a restart"]);
    assert!(warning.contains("admin.listen"), "{warning}");
    wait_until(LIMIT, "the reload is counted", || reloads(&node, "ok") == 2);
    assert_eq!(post(&node, 500), 200, "the limit is 1000 again");
    assert_eq!(http(node.admin, "GET", "admin", "/health", None).0, 200);
}

#[test]
fn sighup_reopens_the_access_log_after_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let config = write_config(
        dir.path(),
        "",
        &format!("\n[access_log]\ndestination = {log:?}"),
    );
    let node = Edgeway::start(&config);
    put_api(&node);
    let lines = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(post(&node, 3), 200);
    wait_until(LIMIT, "the first line is written", || lines(&log) == 1);

    // logrotate's way: rename the file, then tell the process.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    assert_eq!(post(&node, 3), 200);
    wait_until(
        LIMIT,
        "a line written before SIGHUP goes to the renamed file",
        || lines(&rotated) == 2,
    );
    node.hang_up();
    // Logged once the writer has been told to switch files: lines of later requests queue
    // behind that. (The new file exists a moment earlier, when the reload opens it.)
    node.wait_for_log(LIMIT, &["config reloaded"]);
    assert!(log.exists());
    for _ in 0..3 {
        assert_eq!(post(&node, 3), 200);
    }
    wait_until(LIMIT, "new lines land in the new file", || lines(&log) == 3);
    assert_eq!(lines(&rotated), 2, "nothing more went to the old file");
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(line.lines().all(|l| l.ends_with(" 200")), "{line}");
}
