//! This node's answers on the peer channel.

use crate::control::Control;
use crate::peer::protocol::{ForwardedRequest, ForwardedResponse, encode_records};
use crate::peer::{BoxFuture, PeerHandler, PeerRequest, PeerResponse};
use crate::pipeline::cache::Caches;
use crate::pipeline::websocket::Sessions;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Serves public requests forwarded by nodes of other regions (regional endpoints).
pub trait Forwarder: Send + Sync + 'static {
    fn forwarded(&self, request: ForwardedRequest) -> BoxFuture<'_, ForwardedResponse>;
}

pub struct ClusterService {
    control: Arc<Control>,
    hints: mpsc::Sender<String>,
    forwarder: Option<Arc<dyn Forwarder>>,
    caches: Caches,
    websockets: Sessions,
}

impl ClusterService {
    pub fn new(
        control: Arc<Control>,
        hints: mpsc::Sender<String>,
        forwarder: Option<Arc<dyn Forwarder>>,
        (caches, websockets): (Caches, Sessions),
    ) -> ClusterService {
        ClusterService {
            control,
            hints,
            forwarder,
            caches,
            websockets,
        }
    }
}

impl PeerHandler for ClusterService {
    fn handle(&self, from: String, request: PeerRequest) -> BoxFuture<'_, PeerResponse> {
        Box::pin(async move {
            match request {
                PeerRequest::Manifest => PeerResponse::Manifest(self.control.manifest().await),
                PeerRequest::Fetch { keys } => {
                    PeerResponse::Records(encode_records(&self.control.records(&keys)))
                }
                PeerRequest::Changed => {
                    // A full queue means a sync is due anyway; the hint is not needed.
                    let _ = self.hints.try_send(from);
                    PeerResponse::Ack
                }
                PeerRequest::Forward(request) => match &self.forwarder {
                    Some(forwarder) => PeerResponse::Forwarded(forwarder.forwarded(request).await),
                    None => {
                        PeerResponse::Error("this node does not serve forwarded requests".into())
                    }
                },
                PeerRequest::FlushCache { api, stage } => {
                    self.caches.flush_stage(&api, &stage).await;
                    PeerResponse::Ack
                }
                PeerRequest::Connection { id, action } => {
                    crate::pipeline::websocket::manage::answer(&self.websockets, &id, action)
                }
            }
        })
    }
}
