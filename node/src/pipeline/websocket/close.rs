//! Every close code Edgeway sends on a WebSocket, in one place (RFC 6455 §7.4.1).

use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Why the gateway closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// `DELETE /@connections/{id}`.
    Disconnected,
    /// The node drains (`POST /drain`, SIGTERM).
    Draining,
    /// No message either way for `limits.websocket_idle_timeout_ms`.
    Idle,
    /// The connection reached `limits.websocket_max_duration_ms`.
    MaxDuration,
    /// A frame over 32 KiB or a message over 128 KiB.
    TooBig,
}

impl CloseReason {
    pub fn code(self) -> CloseCode {
        match self {
            CloseReason::Disconnected => CloseCode::Normal,
            CloseReason::Draining | CloseReason::Idle | CloseReason::MaxDuration => CloseCode::Away,
            CloseReason::TooBig => CloseCode::Size,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            CloseReason::Disconnected => "Disconnected",
            CloseReason::Draining => "Going away",
            CloseReason::Idle => "Idle timeout",
            CloseReason::MaxDuration => "Connection duration limit",
            CloseReason::TooBig => "Message too big",
        }
    }

    pub fn frame(self) -> CloseFrame {
        CloseFrame {
            code: self.code(),
            reason: self.text().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6455() {
        assert_eq!(u16::from(CloseReason::Draining.code()), 1001);
        assert_eq!(u16::from(CloseReason::Idle.code()), 1001);
        assert_eq!(u16::from(CloseReason::TooBig.code()), 1009);
        assert_eq!(u16::from(CloseReason::Disconnected.code()), 1000);
    }
}
