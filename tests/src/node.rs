//! An in-process node on 127.0.0.1:0 with its own data directory and admin token.

use crate::admin::AdminClient;
use crate::client::{Body, Conn, Proto, Reply, get};
use edgeway::node::Networks;
use edgeway::{Node, NodeConfig};
use http::Request;
use std::net::SocketAddr;
use std::path::Path;
use tempfile::TempDir;

pub const TOKEN: &str = "edgeway-test-token-0123456789";

/// The default endpoint host of an API: `{api_id}.execute-api.localhost`.
pub fn api_host(api_id: &str) -> String {
    format!("{api_id}.execute-api.localhost")
}

/// A test configuration: both listeners on 127.0.0.1:0, data in `dir`, a short grace period.
pub fn test_config(dir: &Path) -> NodeConfig {
    let mut config = NodeConfig::default();
    config.public.listen = ([127, 0, 0, 1], 0).into();
    config.admin.listen = ([127, 0, 0, 1], 0).into();
    config.admin.token = Some(TOKEN.to_string());
    config.node.data_dir = dir.join("data");
    config.limits.shutdown_grace_ms = 5_000;
    config
}

pub struct TestNode {
    node: Option<Node>,
    pub config: NodeConfig,
    networks: Networks,
    dir: TempDir,
    pub admin: AdminClient,
}

impl TestNode {
    pub async fn start() -> TestNode {
        TestNode::start_with(|_, _| {}).await
    }

    /// Starts a node after `adjust` has changed the test configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut NodeConfig, &Path)) -> TestNode {
        TestNode::start_on(Networks::default(), adjust).await
    }

    /// Starts a node whose cluster traffic goes over `networks` (in memory, for partitions).
    pub async fn start_on(
        networks: Networks,
        adjust: impl FnOnce(&mut NodeConfig, &Path),
    ) -> TestNode {
        crate::init_logging();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        adjust(&mut config, dir.path());
        let node = Node::start_with(config.clone(), networks.clone())
            .await
            .expect("node starts");
        let admin = AdminClient {
            addr: node.admin_addr(),
            token: TOKEN.to_string(),
        };
        TestNode {
            node: Some(node),
            config,
            networks,
            dir,
            admin,
        }
    }

    /// The node, unless it is stopped.
    pub fn try_node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("node is running")
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.node().public_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.node().admin_addr()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the node keeps its state.
    pub fn data_dir(&self) -> &Path {
        &self.config.node.data_dir
    }

    /// Graceful shutdown; the data directory stays for [`TestNode::try_start_again`].
    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }

    /// Starts a stopped node again on the same data directory (new ports).
    pub async fn try_start_again(&mut self) -> Result<(), edgeway::StartError> {
        let node = Node::start_with(self.config.clone(), self.networks.clone()).await?;
        self.admin.addr = node.admin_addr();
        self.node = Some(node);
        Ok(())
    }

    /// Graceful shutdown, then a new node on the same data directory (new ports).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.try_start_again().await.expect("node restarts");
    }

    pub async fn shutdown(mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }

    /// A new connection to the public listener.
    pub async fn conn(&self, proto: Proto) -> Conn {
        Conn::open(self.public_addr(), proto)
            .await
            .expect("connect to the public listener")
    }

    /// One request on a new connection.
    pub async fn send(&self, proto: Proto, request: Request<Body>) -> Reply {
        self.conn(proto).await.fetch(request).await
    }

    /// `GET host path` over HTTP/1.1 on a new connection.
    pub async fn get(&self, host: &str, path: &str) -> Reply {
        self.send(Proto::Http1, get(host, path)).await
    }

    /// `GET path` on the default endpoint of `api`.
    pub async fn get_api(&self, api: &str, path: &str) -> Reply {
        self.get(&api_host(api), path).await
    }
}
