//! WebSocket APIs (kind `websocket`), a phase of their own after resolve: the handshake runs
//! `$connect` (policy, authorize, throttle, integration), then a session per connection
//! selects a route for each message by the API's route selection expression and calls it.
//!
//! - `connect`: the HTTP/1.1 Upgrade and the `$connect` route (its refusal is the answer);
//! - `session`: the message loop, limits, `$disconnect`;
//! - `select`: route key from the message body; `sessions`: the node's open connections;
//! - `close`: every close code sent; `event`: what integrations are told of a connection;
//! - `manage`: `@connections/{id}` here or on the owning node.

mod call;
pub mod close;
mod connect;
mod event;
pub mod manage;
pub mod select;
mod session;
pub mod sessions;

pub use close::CloseReason;
pub(super) use connect::{Handshake, connect, not_forwarded};
pub use sessions::{Command, Gone, Info, Sessions};

/// AWS's limits: frames over 32 KiB or messages over 128 KiB close the connection (1009).
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
