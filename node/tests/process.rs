//! The real `edgeway` binary: an acknowledged write survives `kill -9`, SIGTERM lets an
//! in-flight request finish before a clean exit, and `--check-config` names bad fields.
//! The cluster's process tests are in `process_cluster.rs`.

mod common;

use common::{BIN, Edgeway, TOKEN, document, http, mock};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

fn write_config(dir: &Path) -> PathBuf {
    write_config_with_grace(dir, 10_000)
}

fn write_config_with_grace(dir: &Path, grace_ms: u64) -> PathBuf {
    let path = dir.join("node.toml");
    let text = format!(
        "[node]\ndata_dir = {data:?}\n\n[public]\nlisten = \"127.0.0.1:0\"\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\n\
         [limits]\nshutdown_grace_ms = {grace_ms}\n",
        data = dir.join("data")
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut node = Edgeway::start(&config);
    for i in 0..10 {
        let id = format!("crash{i}");
        let path = format!("/apis/{id}/document");
        let (status, body) = http(
            node.admin,
            "PUT",
            "admin",
            &path,
            Some(&document(&id, &mock(&id))),
        );
        assert_eq!(status, 200, "{body}");
    }
    // SIGKILL right after the last acknowledgement: no shutdown code runs.
    node.child.kill().unwrap();
    assert!(!node.child.wait().unwrap().success());

    let node = Edgeway::start(&config);
    for i in 0..10 {
        let id = format!("crash{i}");
        let (status, body) = http(node.admin, "GET", "admin", &format!("/apis/{id}"), None);
        assert_eq!(status, 200, "{id} lost: {body}");
        let host = format!("{id}.execute-api.localhost");
        assert_eq!(
            http(node.public, "GET", &host, "/prod/work", None),
            (200, id)
        );
    }
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    // A backend that answers one request after 1.5 s and reports when it has it.
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend_addr = backend.local_addr().unwrap();
    let (arrived_tx, arrived) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut tcp, _) = backend.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && tcp.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        arrived_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nslow answer");
    });

    let dir = tempfile::tempdir().unwrap();
    let mut node = Edgeway::start(&write_config(dir.path()));
    let proxy =
        format!(r#"{{"id": "work", "type": "http_proxy", "uri": "http://{backend_addr}/slow"}}"#);
    let doc = document("drain", &proxy);
    let (status, body) = http(
        node.admin,
        "PUT",
        "admin",
        "/apis/drain/document",
        Some(&doc),
    );
    assert_eq!(status, 200, "{body}");

    let public = node.public;
    let host = "drain.execute-api.localhost";
    let client = std::thread::spawn(move || http(public, "GET", host, "/prod/work", None));
    arrived
        .recv_timeout(Duration::from_secs(10))
        .expect("request reached the backend");
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(node.child.id().to_string())
        .status()
        .unwrap();
    assert!(term.success());

    assert_eq!(client.join().unwrap(), (200, "slow answer".to_string()));
    let status = node.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "clean exit after draining");
}

#[test]
fn sigterm_exits_after_the_grace_period_even_if_a_request_hangs() {
    // A backend that takes the request and never answers.
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend_addr = backend.local_addr().unwrap();
    let (arrived_tx, arrived) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = backend.accept().unwrap();
        arrived_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(60));
        drop(tcp);
    });

    let dir = tempfile::tempdir().unwrap();
    let mut node = Edgeway::start(&write_config_with_grace(dir.path(), 500));
    let proxy =
        format!(r#"{{"id": "work", "type": "http_proxy", "uri": "http://{backend_addr}/hang"}}"#);
    let doc = document("hang", &proxy);
    let (status, body) = http(
        node.admin,
        "PUT",
        "admin",
        "/apis/hang/document",
        Some(&doc),
    );
    assert_eq!(status, 200, "{body}");
    let public = node.public;
    let host = "hang.execute-api.localhost";
    let client = std::thread::spawn(move || http(public, "GET", host, "/prod/work", None));
    arrived
        .recv_timeout(Duration::from_secs(10))
        .expect("request reached the backend");

    let term = Command::new("kill")
        .arg("-TERM")
        .arg(node.child.id().to_string())
        .status()
        .unwrap();
    assert!(term.success());
    // Neither the 30 s default grace nor the 29 s integration timeout: the configured 0.5 s.
    let status = node.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let (status, _) = client.join().unwrap();
    assert_eq!(status, 0, "the hanging request was cut off, not answered");
}

fn check_config(path: &Path) -> Output {
    Command::new(BIN)
        .arg("--check-config")
        .arg(path)
        .env("NO_COLOR", "1")
        .output()
        .expect("run edgeway --check-config")
}

#[test]
fn check_config_accepts_good_files_and_names_the_field_in_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path());
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let shipped = [
        "single-node.toml",
        "cluster/us-east.toml",
        "cluster/eu-west.toml",
        "cluster/ap-south.toml",
    ]
    .map(|f| deploy.join(f));
    for path in std::iter::once(good.clone()).chain(shipped) {
        let out = check_config(&path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", path.display());
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
    }
    assert!(!dir.path().join("data").exists(), "checking starts nothing");

    let base = std::fs::read_to_string(&good).unwrap();
    let public = "listen = \"127.0.0.1:0\"\n\n[admin]";
    for (text, field) in [
        (
            base.replace("shutdown_grace_ms = 10000", "max_body_bytes = 0"),
            "limits.max_body_bytes",
        ),
        (
            base.replace("[limits]", "[limits]\nmax_header_bytes = 100"),
            "limits.max_header_bytes",
        ),
        (base.replace(TOKEN, "short"), "admin.token"),
        (base.replace("token =", "tokn ="), "unknown field `tokn`"),
        (
            base.replace(public, "listen = \"not an address\"\n\n[admin]"),
            "listen",
        ),
    ] {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, &text).unwrap();
        let out = check_config(&bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted:\n{text}");
        assert!(stderr.contains(field), "{field} not named in: {stderr}");
        assert!(stderr.contains("bad.toml"), "the file is named: {stderr}");
    }
}
