//! `POST|GET|DELETE /@connections/{id}`: AWS's connection management API, on the admin
//! listener (behind its token), on any node: the node holding the connection is reached over
//! the peer channel.

use super::{Admin, Failure, Reply, bad_request};
use crate::body::json_response;
use crate::peer::protocol::ConnectionAction;
use crate::pipeline::websocket::MAX_MESSAGE_BYTES;
use crate::pipeline::websocket::manage::{ManageError, Managed, manage};
use bytes::Bytes;
use http::{Method, StatusCode};

pub async fn route(admin: &Admin, method: &Method, id: &str, body: Bytes) -> Reply {
    let action = match *method {
        Method::POST if body.len() > MAX_MESSAGE_BYTES => {
            return Err(Failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("messages are at most {MAX_MESSAGE_BYTES} bytes"),
            ));
        }
        Method::POST => ConnectionAction::Send(body.to_vec()),
        Method::GET => ConnectionAction::Info,
        Method::DELETE => ConnectionAction::Disconnect,
        _ => return Err(bad_request("@connections takes POST, GET or DELETE")),
    };
    let cluster = admin.cluster.get().map(|c| &**c);
    match manage(&admin.websockets, cluster, id, action).await {
        Ok(Managed::Info(info)) => Ok(json_response(200, &info)),
        Ok(Managed::Done) if *method == Method::DELETE => {
            let mut response = http::Response::new(crate::body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        Ok(Managed::Done) => Ok(json_response(200, &serde_json::json!({}))),
        Err(e) => {
            let (status, code) = match &e {
                // AWS's GoneException.
                ManageError::Gone(_) => (StatusCode::GONE, "gone"),
                ManageError::Malformed(_) => (StatusCode::BAD_REQUEST, "bad_request"),
                ManageError::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "unreachable"),
            };
            Err(Failure(status, code, e.to_string()))
        }
    }
}
