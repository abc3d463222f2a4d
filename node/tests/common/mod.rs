//! The real `edgeway` binary as a child process, and one-shot HTTP/1.1 calls to it. Blocking
//! std I/O only: every helper here is a few lines of sockets and processes.
#![allow(dead_code)] // each test binary uses its own part of these helpers

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const TOKEN: &str = "process-test-token-0123456789";
pub const BIN: &str = env!("CARGO_BIN_EXE_edgeway");

/// A running `edgeway --config ...`; killed (SIGKILL) if still running when dropped.
pub struct Edgeway {
    pub child: Child,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    /// The gossip address, when the config has a `[cluster]` section.
    pub gossip: Option<SocketAddr>,
    /// Its log lines (stdout) after the ready line, as they come.
    logs: mpsc::Receiver<String>,
}

impl Edgeway {
    /// Starts the binary and waits for its "ready" log line, which names both listener
    /// addresses (a cluster node logs its gossip address just before).
    pub fn start(config: &Path) -> Edgeway {
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn edgeway");
        // Owned by the guard at once, so a failed start still kills the process.
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let (tx, rx) = mpsc::channel();
        let mut edgeway = Edgeway {
            child,
            public: unknown,
            admin: unknown,
            gossip: None,
            logs: rx,
        };
        let stdout = edgeway.child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = (edgeway.logs.recv_timeout(left)).expect("edgeway never logged ready");
            if line.contains("joined the cluster") {
                edgeway.gossip = Some(logged_addr(&line, "gossip="));
            }
            if line.contains("edgeway node ready") {
                edgeway.public = logged_addr(&line, "public_addr=");
                edgeway.admin = logged_addr(&line, "admin_addr=");
                return edgeway;
            }
        }
    }

    /// Waits for a log line that holds every one of `parts`; returns it.
    pub fn wait_for_log(&self, within: Duration, parts: &[&str]) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.logs.recv_timeout(left) else {
                panic!("no log line with {parts:?} within {within:?}");
            };
            if parts.iter().all(|part| line.contains(part)) {
                return line;
            }
        }
    }

    /// Sends SIGHUP (what `kill -HUP` does): reload the config file, reopen the access log.
    pub fn hang_up(&self) {
        let sent = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -HUP failed");
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "edgeway did not exit in {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Edgeway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address after `key` in a log line (`... key=127.0.0.1:4242 ...`).
fn logged_addr(line: &str, key: &str) -> SocketAddr {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// One HTTP/1.1 exchange (`Connection: close`): status and body text.
pub fn http(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or("");
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\
         authorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("read answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// A REST API `id` with `GET /work` on `integration`, deployed to stage `prod`.
pub fn document(id: &str, integration: &str) -> String {
    format!(
        r#"{{"api": {{"id": "{id}", "name": "{id}", "kind": "rest"}},
            "integrations": [{integration}],
            "routes": [{{"method": "GET", "path": "/work", "integration_id": "work"}}],
            "stages": [{{"name": "prod"}}], "deploy_to": ["prod"]}}"#
    )
}

/// A mock integration `work` answering 200 with `body`.
pub fn mock(body: &str) -> String {
    format!(r#"{{"id": "work", "type": "mock", "mock": {{"status_code": 200, "body": "{body}"}}}}"#)
}

/// Polls `check` every 20 ms until it holds; panics naming `what` after `limit`. Returns how
/// long it took.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}
