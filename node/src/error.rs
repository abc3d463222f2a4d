//! Errors on the request path. Each carries the gateway response type it becomes and where it
//! came from; `pipeline::respond` is the one place that turns them into HTTP answers.

use edgeway_shared::ResponseType;
use std::borrow::Cow;

/// Who is to blame, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The request was wrong or not allowed.
    Client,
    /// The backend failed, timed out or answered something unusable.
    Integration,
    /// Edgeway itself (configuration, a bug, a resource limit).
    Internal,
}

impl ErrorSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorSource::Client => "client",
            ErrorSource::Integration => "integration",
            ErrorSource::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GatewayError {
    pub kind: ResponseType,
    pub source: ErrorSource,
    /// Shown to the client as `{"message": ...}` unless the API overrides the body.
    pub message: Cow<'static, str>,
    /// Overrides the type's default status (e.g. 431 for oversized headers).
    pub status: Option<u16>,
}

impl GatewayError {
    pub fn new(
        kind: ResponseType,
        source: ErrorSource,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        GatewayError {
            kind,
            source,
            message: message.into(),
            status: None,
        }
    }

    pub fn client(kind: ResponseType, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(kind, ErrorSource::Client, message)
    }

    pub fn integration(kind: ResponseType, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(kind, ErrorSource::Integration, message)
    }

    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ResponseType::Default5xx, ErrorSource::Internal, message)
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.kind.default_status())
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind.as_str(),
            self.source.as_str(),
            self.message
        )
    }
}

impl std::error::Error for GatewayError {}
