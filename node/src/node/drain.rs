//! Draining a node (`POST /drain` on the admin API, or SIGTERM): tell the cluster it is
//! leaving, stop accepting traffic, close WebSocket connections (1001 Going Away,
//! `$disconnect`) and let in-flight requests finish, both up to the grace period, then leave
//! the cluster. The admin listener stays up, so `/ready` can say `draining` meanwhile.

use crate::cluster::Cluster;
use crate::config::LiveLimits;
use crate::pipeline::websocket::{CloseReason, Sessions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

pub struct Drain {
    draining: AtomicBool,
    /// Stops the public, private and internal listeners.
    stop_traffic: watch::Sender<bool>,
    /// Those listeners; each finishes once its in-flight requests have (or the grace ran out).
    traffic: Mutex<Vec<JoinHandle<()>>>,
    cluster: Arc<OnceLock<Arc<Cluster>>>,
    /// Open WebSocket connections, closed politely before the listeners stop.
    websockets: Sessions,
    /// `shutdown_grace_ms`: how long WebSocket close handshakes may take.
    limits: LiveLimits,
    finished: watch::Sender<bool>,
}

impl Drain {
    pub fn new(
        cluster: Arc<OnceLock<Arc<Cluster>>>,
        websockets: Sessions,
        limits: LiveLimits,
    ) -> Drain {
        Drain {
            draining: AtomicBool::new(false),
            stop_traffic: watch::Sender::new(false),
            traffic: Mutex::new(Vec::new()),
            cluster,
            websockets,
            limits,
            finished: watch::Sender::new(false),
        }
    }

    /// What traffic listeners watch to stop accepting.
    pub fn traffic_stop(&self) -> watch::Receiver<bool> {
        self.stop_traffic.subscribe()
    }

    /// A traffic listener to wait for when draining.
    pub async fn add(&self, listener: JoinHandle<()>) {
        self.traffic.lock().await.push(listener);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Drains; returns once in-flight requests are done. Calling it again waits for the first.
    pub async fn run(&self) {
        if self.draining.swap(true, Ordering::AcqRel) {
            let _ = self.finished.subscribe().wait_for(|done| *done).await;
            return;
        }
        let cluster = self.cluster.get();
        if let Some(cluster) = cluster {
            cluster.set_health("draining").await;
        }
        // Listeners first: nothing new arrives from here on. Each public worker keeps its
        // runtime up until its WebSocket sessions have ended (`Handler::settled`), so their
        // close handshakes and `$disconnect` calls still run.
        tracing::info!("draining: no new connections; finishing in-flight requests");
        self.stop_traffic.send_replace(true);
        let open = self.websockets.open_count();
        if open > 0 {
            tracing::info!(
                open,
                "draining: closing WebSocket connections (1001 Going Away)"
            );
        }
        let grace = Duration::from_millis(self.limits.load().shutdown_grace_ms);
        let left = self
            .websockets
            .close_all(CloseReason::Draining, grace)
            .await;
        if left > 0 {
            tracing::warn!(
                left,
                "WebSocket connections still open at the drain deadline"
            );
        }
        let listeners = std::mem::take(&mut *self.traffic.lock().await);
        for listener in listeners {
            let _ = listener.await;
        }
        if let Some(cluster) = cluster {
            cluster.set_health("left").await;
            cluster.linger().await;
            cluster.leave();
        }
        tracing::info!("drained");
        self.finished.send_replace(true);
    }
}
