//! Phase 11, respond: the one place where errors become HTTP answers (with the API's gateway
//! response overrides), and where every answer gets its common headers and is counted.

use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::pipeline::throttle::RateLimitInfo;
use edgeway_shared::{Api, ResponseType};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Turns a gateway error into its response, applying the API's override if it has one: the
/// type's own, else `DEFAULT_4XX` / `DEFAULT_5XX` for its status class, as AWS does.
pub fn error_response(error: &GatewayError, api: Option<&Api>, request_id: &str) -> Response<Body> {
    let class_default = if error.status() >= 500 {
        ResponseType::Default5xx
    } else {
        ResponseType::Default4xx
    };
    let custom = api.and_then(|a| {
        a.gateway_responses
            .get(&error.kind)
            .or_else(|| a.gateway_responses.get(&class_default))
    });
    let status = custom
        .and_then(|c| c.status_code)
        .unwrap_or_else(|| error.status());
    let body = match custom.and_then(|c| c.body.as_deref()) {
        Some(template) => fill(template, error, request_id),
        None => serde_json::json!({ "message": error.message }).to_string(),
    };
    let mut response = Response::new(body::full(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ERROR_TYPE, HeaderValue::from_static(error.kind.as_str()));
    if let Some(custom) = custom {
        for (name, value) in &custom.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.insert(n, v);
            }
        }
    }
    response
}

/// A gateway error as a WebSocket client gets it, in a message (AWS's shape).
pub fn websocket_error(error: &GatewayError, connection_id: &str, request_id: &str) -> String {
    let message = if error.source == crate::error::ErrorSource::Client {
        error.message.to_string()
    } else {
        "Internal server error".to_string()
    };
    serde_json::json!({
        "message": message,
        "connectionId": connection_id,
        "requestId": request_id,
    })
    .to_string()
}

/// Fills AWS's `$context` variables in a gateway response body template.
fn fill(template: &str, error: &GatewayError, request_id: &str) -> String {
    let quoted = serde_json::Value::String(error.message.to_string()).to_string();
    template
        .replace("$context.error.messageString", &quoted)
        .replace("$context.error.message", &error.message)
        .replace("$context.error.responseType", error.kind.as_str())
        .replace("$context.requestId", request_id)
}

/// A copy of `headers` with room for what the phases after it add (`Age`, the cache status,
/// `x-request-id`, the rate-limit headers), so adding them does not grow the map again: for
/// answers made from a stored head (mock integrations, cache hits).
pub fn headers_with_room(headers: &HeaderMap) -> HeaderMap {
    let mut copy = HeaderMap::with_capacity(headers.len() + 8);
    for (name, value) in headers {
        copy.append(name.clone(), value.clone());
    }
    copy
}

/// Headers every answer carries, and the rate-limit headers (IETF draft
/// `RateLimit-Limit/-Remaining/-Reset`, `Retry-After` on 429) of the tightest limit that
/// applied, when the request got as far as the throttle phase.
pub fn finish(response: &mut Response<Body>, request_id: &str, rate: &RateLimitInfo) {
    let headers = response.headers_mut();
    // At most one growth of the map for all of them (a backend's answer may come with no room
    // to spare; see `headers_with_room` for the others).
    headers.reserve(5);
    if let Ok(v) = HeaderValue::try_from(request_id) {
        headers.insert(REQUEST_ID, v);
    }
    let numbers = [
        (RATELIMIT_LIMIT, rate.limit),
        (RATELIMIT_REMAINING, rate.remaining),
        (RATELIMIT_RESET, rate.reset_seconds),
        (RETRY_AFTER, rate.retry_after_seconds),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

/// Tells clients on TCP where HTTP/3 is served (`Alt-Svc: h3=":PORT"; ma=...`).
pub fn advertise(response: &mut Response<Body>, alt_svc: &HeaderValue) {
    (response.headers_mut()).insert(http::header::ALT_SVC, alt_svc.clone());
}

/// The CORS headers of an answer of an API with CORS configured (errors included).
pub fn cors(response: &mut Response<Body>, cors: &super::cors::Applied) {
    cors.decorate(response.headers_mut());
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::{ApiKind, GatewayResponse};
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn overrides_change_status_headers_and_body() {
        let mut api = Api::new("a", "a", ApiKind::Rest);
        api.gateway_responses.insert(
            ResponseType::MissingAuthenticationToken,
            GatewayResponse {
                status_code: Some(404),
                headers: [("x-why".to_string(), "custom".to_string())].into(),
                body: Some("{\"error\":$context.error.messageString,\"type\":\"$context.error.responseType\",\"id\":\"$context.requestId\"}".into()),
            },
        );
        let error = GatewayError::client(
            ResponseType::MissingAuthenticationToken,
            "Missing \"Token\"",
        );
        let response = error_response(&error, Some(&api), "r1");
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-why"], "custom");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "Missing \"Token\"", "type": "MISSING_AUTHENTICATION_TOKEN", "id": "r1"})
        );

        let plain = error_response(
            &GatewayError::client(ResponseType::Throttled, "Too Many Requests"),
            None,
            "r2",
        );
        assert_eq!(plain.status(), 429);
        assert_eq!(plain.headers()["x-amzn-errortype"], "THROTTLED");
    }
}
