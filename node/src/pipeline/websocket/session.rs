//! One connection after its handshake: each message selects a route (by the API's route
//! selection expression, else `$default`) and calls it; a non-empty answer goes back as a
//! message. The session ends on the client's close, an idle or duration limit, an oversized
//! message (1009), or a command (drain, `DELETE @connections`); then `$disconnect` runs.

use super::call::{Connection, answer_body};
use super::close::CloseReason;
use super::event::EventType;
use super::sessions::{Command, Registration};
use super::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, select};
use crate::config::Limits;
use crate::error::GatewayError;
use crate::pipeline::{ids, respond};
use crate::snapshot::{RouteRuntime, StageRuntime};
use bytes::Bytes;
use edgeway_shared::{DEFAULT_ROUTE, DISCONNECT_ROUTE, ResponseType};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

type Socket = WebSocketStream<TokioIo<Upgraded>>;

const CONNECTIONS: &str = "edgeway_websocket_connections";
const MESSAGES: &str = "edgeway_websocket_messages_total";

/// How long a close waits for the client's Close in answer.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(5);

pub struct Session {
    connection: Arc<Connection>,
    registration: Registration,
    idle: Duration,
    max: Duration,
    /// `edgeway_websocket_messages_total` by direction, registered once per connection.
    received: metrics::Counter,
    sent: metrics::Counter,
}

impl Session {
    pub fn new(
        connection: Arc<Connection>,
        registration: Registration,
        limits: &Limits,
    ) -> Session {
        let stage = &connection.stage;
        Session {
            received: message_counter(stage, "in"),
            sent: message_counter(stage, "out"),
            connection,
            registration,
            idle: Duration::from_millis(limits.websocket_idle_timeout_ms),
            max: Duration::from_millis(limits.websocket_max_duration_ms),
        }
    }
}

pub async fn run(mut session: Session, upgrade: OnUpgrade) {
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(e) => return tracing::debug!(error = %e, "websocket upgrade failed"),
    };
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_MESSAGE_BYTES));
    let mut socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let open = open_gauge(&session.connection.stage);
    open.increment(1.0);
    let ended = session.serve(&mut socket).await;
    let id = &session.registration.id;
    match &ended {
        Ended::ClientClosed => tracing::debug!(connection = %id, "websocket closed by the client"),
        Ended::Gateway(reason) => tracing::debug!(connection = %id, ?reason, "websocket closed"),
        Ended::Broken(e) => tracing::debug!(connection = %id, error = %e, "websocket broke"),
    }
    // Unlisted before `$disconnect`, so `@connections` no longer finds it; still counted as
    // running until `$disconnect` is done, so a drain waits for that too.
    session.registration.unlist();
    open.decrement(1.0);
    disconnect(&session.connection).await;
}

/// `$disconnect`, best effort: its answer is dropped and a failure only logged.
async fn disconnect(connection: &Arc<Connection>) {
    let Some(route) = route_of(&connection.stage, DISCONNECT_ROUTE) else {
        return;
    };
    let uri = http::Uri::from_static("/");
    let called = connection
        .call(
            route,
            EventType::Disconnect,
            uri,
            Default::default(),
            Bytes::new(),
        )
        .await;
    match called {
        Ok(answer) => drop(answer_body(answer).await),
        Err(e) => tracing::debug!(connection = %connection.id, error = %e, "$disconnect failed"),
    }
}

/// What ended a session.
enum Ended {
    ClientClosed,
    Gateway(CloseReason),
    Broken(WsError),
}

impl Session {
    async fn serve(&mut self, socket: &mut Socket) -> Ended {
        let ends_at = Instant::now() + self.max;
        let mut idle_at = Instant::now() + self.idle;
        loop {
            let reason = tokio::select! {
                incoming = socket.next() => match incoming {
                    None | Some(Err(WsError::ConnectionClosed)) => return Ended::ClientClosed,
                    Some(Ok(Message::Text(text))) => {
                        self.on_message(socket, text.into()).await;
                        idle_at = Instant::now() + self.idle;
                        continue;
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        self.on_message(socket, bytes).await;
                        idle_at = Instant::now() + self.idle;
                        continue;
                    }
                    // tungstenite answers pings and a client's Close itself.
                    Some(Ok(_control)) => continue,
                    Some(Err(WsError::Capacity(_))) => CloseReason::TooBig,
                    Some(Err(e)) => return Ended::Broken(e),
                },
                command = self.registration.commands.recv() => match command {
                    Some(Command::Send(bytes)) => {
                        self.send(socket, bytes).await;
                        idle_at = Instant::now() + self.idle;
                        continue;
                    }
                    Some(Command::Close(reason)) => reason,
                    None => CloseReason::Disconnected,
                },
                () = sleep_until(idle_at) => CloseReason::Idle,
                () = sleep_until(ends_at) => CloseReason::MaxDuration,
            };
            close(socket, reason).await;
            return Ended::Gateway(reason);
        }
    }

    async fn on_message(&self, socket: &mut Socket, message: Bytes) {
        self.registration.info.touch();
        self.received.increment(1);
        let answer = match self.select(&message) {
            Some(route) => self.call(route, message).await,
            // AWS's answer to a message no route takes.
            None => Err(GatewayError::client(
                ResponseType::AccessDenied,
                "Forbidden",
            )),
        };
        let reply = match answer {
            Ok(body) if body.is_empty() => return,
            Ok(body) => body,
            Err(error) => {
                let request_id = ids::request_id();
                let text = respond::websocket_error(&error, &self.connection.id, &request_id);
                Bytes::from(text)
            }
        };
        self.send(socket, reply).await;
    }

    /// The route the message's key names, else `$default`.
    fn select(&self, message: &[u8]) -> Option<Arc<RouteRuntime>> {
        let stage = &self.connection.stage;
        let key = select::route_key(stage.api.route_selection(), message);
        (key.and_then(|key| route_of(stage, &key))).or_else(|| route_of(stage, DEFAULT_ROUTE))
    }

    async fn call(&self, route: Arc<RouteRuntime>, message: Bytes) -> Result<Bytes, GatewayError> {
        let uri = http::Uri::from_static("/");
        let answer = (self.connection)
            .call(route, EventType::Message, uri, Default::default(), message)
            .await?;
        answer_body(answer).await
    }

    async fn send(&self, socket: &mut Socket, bytes: Bytes) {
        self.registration.info.touch();
        let message = match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Message::Text(Utf8Bytes::from(text)),
            Err(_) => Message::Binary(bytes),
        };
        if socket.send(message).await.is_ok() {
            self.sent.increment(1);
        }
    }
}

fn message_counter(stage: &StageRuntime, direction: &'static str) -> metrics::Counter {
    let labels = [
        ("api", stage.api.id.clone()),
        ("stage", stage.name.to_string()),
        ("direction", direction.to_string()),
    ];
    metrics::counter!(MESSAGES, &labels)
}

fn open_gauge(stage: &StageRuntime) -> metrics::Gauge {
    let labels = [
        ("api", stage.api.id.clone()),
        ("stage", stage.name.to_string()),
    ];
    metrics::gauge!(CONNECTIONS, &labels)
}

fn route_of(stage: &StageRuntime, key: &str) -> Option<Arc<RouteRuntime>> {
    stage.route_keys.get(key).cloned()
}

/// Sends the Close frame and waits (bounded) for the client's, so the close is a handshake
/// and not a reset. After an oversized frame the rest of it is read and dropped meanwhile.
async fn close(socket: &mut Socket, reason: CloseReason) {
    if socket.close(Some(reason.frame())).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
        while let Some(next) = socket.next().await {
            if matches!(
                next,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed)
            ) {
                break;
            }
        }
    })
    .await;
}
