//! Real `redis-server` processes for tests: one server on a free port, or a 3-master Redis
//! Cluster. A test that needs Redis and cannot find `redis-server` fails with a message that
//! says how to install it (`.ci/run` installs it on CI).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a server may take to accept connections, or a cluster to agree on its slots.
const READY_WITHIN: Duration = Duration::from_secs(20);

fn require(binary: &str) {
    let found = Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{binary} is needed by this test and was not found on PATH: \
         apt-get install -y --no-install-recommends redis-server redis-tools"
    );
}

/// A port that was free a moment ago (redis-server must bind it itself).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("address").port()
}

/// One `redis-server` on 127.0.0.1, without persistence; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        require("redis-server");
        require("redis-cli");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = RedisServer {
            port: 0,
            child: None,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        // A free port can be taken between the check and the bind: try a few.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on any free port");
    }

    fn spawn(&mut self) -> bool {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if self.cli(&["PING"]).is_some_and(|r| r.trim() == "PONG") {
                return true;
            }
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `redis-cli` against this server; its output, or `None` if it failed.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        cli(self.port, args)
    }

    /// Kills the server (SIGKILL: as a crash, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        assert!(self.spawn(), "redis-server restarts on port {}", self.port);
    }

    /// Calls of a command since the server started (`INFO commandstats`), e.g. `evalsha`.
    pub fn calls(&self, command: &str) -> u64 {
        let info = self.cli(&["INFO", "commandstats"]).unwrap_or_default();
        command_calls(&info, command)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `calls=N` of `cmdstat_{command}` in an `INFO commandstats` answer.
pub fn command_calls(info: &str, command: &str) -> u64 {
    let prefix = format!("cmdstat_{}:calls=", command.to_lowercase());
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("timeout")
        .args(["-s", "KILL", "10", "redis-cli", "-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A Redis Cluster of three masters (no replicas) on free ports.
pub struct RedisCluster {
    pub servers: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let servers: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let addrs: Vec<String> = servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(addrs.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        assert!(
            servers[0].cli(&create).is_some(),
            "redis-cli --cluster create {addrs:?}"
        );
        let deadline = Instant::now() + READY_WITHIN;
        let ok = |s: &RedisServer| {
            s.cli(&["CLUSTER", "INFO"])
                .is_some_and(|i| i.contains("cluster_state:ok"))
        };
        while !servers.iter().all(ok) {
            assert!(
                Instant::now() < deadline,
                "cluster {addrs:?} never became ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        RedisCluster { servers }
    }

    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(RedisServer::url).collect()
    }

    /// Keys stored on each master.
    pub fn keys_per_master(&self) -> Vec<u64> {
        self.servers
            .iter()
            .map(|s| {
                s.cli(&["DBSIZE"])
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    }
}
