//! What an integration is told about the connection a call belongs to, as headers (AWS's
//! `$context.connectionId`, `$context.routeKey`, `$context.eventType`, `$context.stage`).

use http::{HeaderMap, HeaderName, HeaderValue};

pub const CONNECTION_ID: HeaderName = HeaderName::from_static("x-edgeway-connection-id");
pub const ROUTE_KEY: HeaderName = HeaderName::from_static("x-edgeway-route-key");
pub const EVENT_TYPE: HeaderName = HeaderName::from_static("x-edgeway-event-type");
pub const STAGE: HeaderName = HeaderName::from_static("x-edgeway-stage");
pub const API_ID: HeaderName = HeaderName::from_static("x-edgeway-api-id");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Connect,
    Message,
    Disconnect,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Connect => "CONNECT",
            EventType::Message => "MESSAGE",
            EventType::Disconnect => "DISCONNECT",
        }
    }
}

/// The connection's context, one header each.
pub struct Context<'a> {
    pub connection_id: &'a str,
    pub route_key: &'a str,
    pub event: EventType,
    pub stage: &'a str,
    pub api_id: &'a str,
}

impl Context<'_> {
    pub fn apply(&self, headers: &mut HeaderMap) {
        let pairs = [
            (CONNECTION_ID, self.connection_id),
            (ROUTE_KEY, self.route_key),
            (EVENT_TYPE, self.event.as_str()),
            (STAGE, self.stage),
            (API_ID, self.api_id),
        ];
        for (name, value) in pairs {
            // Route keys are visible ASCII and ids are hex, so only a stage name could fail.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
}
