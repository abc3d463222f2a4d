//! The `edgeway` process's signals: SIGTERM and Ctrl-C drain and stop the node; SIGHUP reloads
//! the config file (what can change live; see `reload`) and reopens the access log, which is
//! what log rotation (`logrotate`'s `postrotate`) expects of it.

use super::{Node, StartError};
use crate::config::NodeConfig;
use std::path::PathBuf;

/// Runs a node until SIGINT or SIGTERM, then shuts it down gracefully. `path` is the file
/// `config` came from; SIGHUP reads it again (without one there is nothing to reload).
pub async fn run(config: NodeConfig, path: Option<PathBuf>) -> Result<(), StartError> {
    let node = Node::start(config).await?;
    wait_for_signal(&node, path).await;
    tracing::info!("shutting down: finishing in-flight requests");
    node.shutdown().await;
    Ok(())
}

/// Waits for SIGTERM or Ctrl-C, handling SIGHUP meanwhile.
async fn wait_for_signal(node: &Node, path: Option<PathBuf>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
                _ = hup.recv() => hang_up(node, path.as_deref()).await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (node, path);
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(unix)]
async fn hang_up(node: &Node, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        tracing::info!("SIGHUP: no config file to reload; reopening the access log");
        return node.reopen_logs().await;
    };
    tracing::info!(path = %path.display(), "SIGHUP: reloading the config file");
    // A successful reload has reopened (or switched) the access log already; a failed one
    // still owes log rotation its reopen. The reload logged and counted its own outcome.
    if node.reload_file(path).await.is_err() {
        node.reopen_logs().await;
    }
}
