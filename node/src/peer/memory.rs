//! The peer channel in memory, for tests: nodes of one process call each other's handlers
//! directly, through the same frame encoding as the wire, over links a test can cut, heal or
//! slow down. A call to a node whose id does not match the one it registered fails as mutual
//! TLS would.

use super::protocol;
use super::{BoxFuture, HandlerSlot, PeerAddress, PeerError, PeerRequest, PeerResponse};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default, Clone)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Links>>,
}

#[derive(Default)]
struct Links {
    /// address → (node id, its handler)
    nodes: HashMap<String, (String, HandlerSlot)>,
    /// Cut links, both directions, by node id.
    cut: HashSet<(String, String)>,
    delay: Duration,
}

impl MemoryNetwork {
    /// Registers a node; returns its transport and the slot its handler goes in.
    pub fn join(&self, node_id: &str, addr: &str) -> (MemoryPeers, HandlerSlot) {
        let slot = HandlerSlot::default();
        self.lock()
            .nodes
            .insert(addr.to_string(), (node_id.to_string(), slot.clone()));
        let peers = MemoryPeers {
            network: self.clone(),
            me: node_id.to_string(),
        };
        (peers, slot)
    }

    pub fn cut(&self, a: &str, b: &str) {
        let mut links = self.lock();
        links.cut.insert((a.to_string(), b.to_string()));
        links.cut.insert((b.to_string(), a.to_string()));
    }

    pub fn heal(&self, a: &str, b: &str) {
        let mut links = self.lock();
        links.cut.remove(&(a.to_string(), b.to_string()));
        links.cut.remove(&(b.to_string(), a.to_string()));
    }

    /// Every call takes this long each way from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Links> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct MemoryPeers {
    network: MemoryNetwork,
    me: String,
}

impl super::PeerTransport for MemoryPeers {
    fn call<'a>(
        &'a self,
        to: &'a PeerAddress,
        request: PeerRequest,
    ) -> BoxFuture<'a, Result<PeerResponse, PeerError>> {
        Box::pin(async move {
            let refused = |reason: &str| PeerError::Connect {
                peer: to.node_id.clone(),
                reason: reason.to_string(),
            };
            let (slot, delay) = {
                let links = self.network.lock();
                if links.cut.contains(&(self.me.clone(), to.node_id.clone())) {
                    return Err(refused("link cut"));
                }
                match links.nodes.get(&to.addr) {
                    Some((id, slot)) if *id == to.node_id => (slot.clone(), links.delay),
                    Some(_) => return Err(refused("certificate names another node")),
                    None => return Err(refused("nobody listens there")),
                }
            };
            let frame = |e: edgeway_shared::codec::CodecError| PeerError::Frame {
                peer: to.node_id.clone(),
                reason: e.to_string(),
            };
            let request =
                protocol::decode(&protocol::encode(&request).map_err(frame)?).map_err(frame)?;
            tokio::time::sleep(delay).await;
            let response = slot.handle(self.me.clone(), request).await;
            tokio::time::sleep(delay).await;
            protocol::decode(&protocol::encode(&response).map_err(frame)?).map_err(frame)
        })
    }
}
