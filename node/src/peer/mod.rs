//! The peer channel: node-to-node calls (state sync, request forwarding, cache flush) on a
//! versioned, bincode-framed protocol. Real clusters run it over QUIC with mutual TLS
//! ([`quic`]); tests can run it in memory with links that drop or delay ([`memory`]).
//!
//! Both sides are small traits: a [`PeerTransport`] makes calls, a [`PeerHandler`] answers
//! them, so the cluster logic never knows which network it is on.

pub mod memory;
pub mod protocol;
pub mod quic;
pub mod tls;

pub use protocol::{PeerRequest, PeerResponse};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a peer listens, as it advertises itself in gossip.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerAddress {
    /// The peer's node id: also the name its certificate must carry.
    pub node_id: String,
    /// Its peer-channel address (`host:port`).
    pub addr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("peer {peer}: cannot connect: {reason}")]
    Connect { peer: String, reason: String },
    #[error("peer {peer}: {reason}")]
    Transfer { peer: String, reason: String },
    #[error("peer {peer}: bad frame: {reason}")]
    Frame { peer: String, reason: String },
    #[error("peer {peer}: no answer within {millis} ms")]
    Timeout { peer: String, millis: u64 },
    #[error("peer {peer} refused: {message}")]
    Refused { peer: String, message: String },
}

/// Makes calls to other nodes.
pub trait PeerTransport: Send + Sync + 'static {
    fn call<'a>(
        &'a self,
        to: &'a PeerAddress,
        request: PeerRequest,
    ) -> BoxFuture<'a, Result<PeerResponse, PeerError>>;
}

/// Answers calls from other nodes. `from` is the caller's node id as its transport vouches
/// for it (the certificate name on QUIC).
pub trait PeerHandler: Send + Sync + 'static {
    fn handle(&self, from: String, request: PeerRequest) -> BoxFuture<'_, PeerResponse>;
}

/// A handler slot that can be filled after the transport starts (the node's services need
/// the transport, and the transport's server needs the services).
#[derive(Default, Clone)]
pub struct HandlerSlot(Arc<std::sync::OnceLock<Arc<dyn PeerHandler>>>);

impl HandlerSlot {
    pub fn set(&self, handler: Arc<dyn PeerHandler>) {
        let _ = self.0.set(handler);
    }

    pub async fn handle(&self, from: String, request: PeerRequest) -> PeerResponse {
        match self.0.get() {
            Some(handler) => handler.handle(from, request).await,
            None => PeerResponse::Error("node is starting".into()),
        }
    }
}
