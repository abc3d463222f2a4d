//! `@connections/{id}`: send a message to a connection, describe it, or close it, on whichever
//! node holds it. The id names its owner; another node is reached over the peer channel.

use super::close::CloseReason;
use super::sessions::{Command, Gone, Sessions};
use crate::cluster::Cluster;
use crate::peer::protocol::ConnectionAction;
use crate::peer::{PeerRequest, PeerResponse};
use edgeway_shared::admin::{ConnectionIdentity, ConnectionInfo};
use std::sync::atomic::Ordering;

/// What an action on a connection gave.
#[derive(Debug, PartialEq)]
pub enum Managed {
    Done,
    Info(ConnectionInfo),
}

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("no connection {0} is open")]
    Gone(String),
    #[error("'{0}' is not a connection id")]
    Malformed(String),
    #[error("node {node}, which holds {id}, did not answer: {why}")]
    Unreachable {
        node: String,
        id: String,
        why: String,
    },
}

impl Sessions {
    /// Acts on a connection this node holds.
    pub fn act(&self, id: &str, action: ConnectionAction) -> Result<Managed, Gone> {
        match action {
            ConnectionAction::Send(bytes) => {
                self.command(id, Command::Send(bytes.into()))?;
                Ok(Managed::Done)
            }
            ConnectionAction::Disconnect => {
                self.command(id, Command::Close(CloseReason::Disconnected))?;
                Ok(Managed::Done)
            }
            ConnectionAction::Info => {
                let info = self.info(id).ok_or(Gone)?;
                Ok(Managed::Info(ConnectionInfo {
                    connection_id: id.to_string(),
                    api_id: info.api_id.clone(),
                    stage: info.stage.clone(),
                    connected_at: info.connected_at,
                    last_active_at: info.last_active_at.load(Ordering::Relaxed),
                    identity: ConnectionIdentity {
                        source_ip: info.source_ip.to_string(),
                        user_agent: info.user_agent.clone(),
                    },
                }))
            }
        }
    }
}

/// Acts on connection `id` here, or on the node that holds it.
pub async fn manage(
    sessions: &Sessions,
    cluster: Option<&Cluster>,
    id: &str,
    action: ConnectionAction,
) -> Result<Managed, ManageError> {
    let gone = || ManageError::Gone(id.to_string());
    let owner = Sessions::owner(id).ok_or_else(|| ManageError::Malformed(id.to_string()))?;
    if sessions.is_mine(id) {
        return sessions.act(id, action).map_err(|Gone| gone());
    }
    // A node that runs alone holds every connection there is.
    let cluster = cluster.ok_or_else(gone)?;
    let request = PeerRequest::Connection {
        id: id.to_string(),
        action,
    };
    let unreachable = |why: String| ManageError::Unreachable {
        node: owner.to_string(),
        id: id.to_string(),
        why,
    };
    match cluster.call_node(owner, request).await {
        Ok(PeerResponse::Ack) => Ok(Managed::Done),
        Ok(PeerResponse::Connection(info)) => Ok(Managed::Info(info)),
        Ok(PeerResponse::Gone) => Err(gone()),
        Ok(other) => Err(unreachable(format!("unexpected answer: {other:?}"))),
        Err(why) => Err(unreachable(why)),
    }
}

/// The peer channel's side: what this node answers for a connection it should hold.
pub fn answer(sessions: &Sessions, id: &str, action: ConnectionAction) -> PeerResponse {
    match sessions.act(id, action) {
        Ok(Managed::Done) => PeerResponse::Ack,
        Ok(Managed::Info(info)) => PeerResponse::Connection(info),
        Err(Gone) => PeerResponse::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::websocket::sessions::{Info, now_ms};

    #[tokio::test]
    async fn local_connections_are_acted_on_and_unknown_ones_are_gone() {
        let sessions = Sessions::new("node-1");
        let mut registration = sessions.register(Info {
            api_id: "chat".into(),
            stage: "prod".into(),
            connected_at: now_ms(),
            last_active_at: now_ms().into(),
            source_ip: [127, 0, 0, 1].into(),
            user_agent: Some("test".into()),
        });
        let id = registration.id.clone();
        let sent = manage(&sessions, None, &id, ConnectionAction::Send(b"hi".to_vec())).await;
        assert_eq!(sent.unwrap(), Managed::Done);
        let command = registration.commands.recv().await;
        assert!(matches!(command, Some(Command::Send(b)) if &b[..] == b"hi"));
        let Ok(Managed::Info(info)) = manage(&sessions, None, &id, ConnectionAction::Info).await
        else {
            panic!("no info");
        };
        assert_eq!(
            (info.api_id.as_str(), info.identity.source_ip.as_str()),
            ("chat", "127.0.0.1")
        );

        let other = "0123456789abcdef.node-9";
        let err = manage(&sessions, None, other, ConnectionAction::Info).await;
        assert!(
            matches!(err, Err(ManageError::Gone(_))),
            "alone, nobody else holds it"
        );
        let err = manage(&sessions, None, "nonsense", ConnectionAction::Info).await;
        assert!(matches!(err, Err(ManageError::Malformed(_))));
        drop(registration);
        let err = manage(&sessions, None, &id, ConnectionAction::Disconnect).await;
        assert!(matches!(err, Err(ManageError::Gone(_))));
    }
}
