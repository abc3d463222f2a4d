//! The home node's side of regional forwarding. A forwarded request enters this node's own
//! pipeline through a loopback-only internal listener, so it meets exactly the same phases
//! (routes, authorizers, throttles, cache, integrations) as a local one. The internal listener
//! believes the client address the first node saw only when the request carries this process's
//! secret, which a local process cannot guess.

use super::forward::end_to_end;
use crate::body::{self, Body};
use crate::cluster::Forwarder;
use crate::peer::BoxFuture;
use crate::peer::protocol::{ForwardedRequest, ForwardedResponse};
use crate::pipeline::ConnInfo;
use http::{HeaderMap, HeaderName};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

pub const SECRET_HEADER: HeaderName = HeaderName::from_static("x-edgeway-forward-secret");
pub const SOURCE_HEADER: HeaderName = HeaderName::from_static("x-edgeway-forward-source");

/// Answers larger than this are not carried back to the first node (peer frames are bounded).
const MAX_ANSWER_BYTES: usize = 24 * 1024 * 1024;

/// A fresh random secret for this process's internal listener.
pub fn new_secret() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Checks a request's forwarding headers and removes them. On the internal listener the secret
/// must match, and the first node's client address replaces the loopback peer; on any other
/// listener the headers are simply dropped (clients cannot claim to be forwarded).
pub fn admit(conn: &mut ConnInfo, headers: &mut HeaderMap, secret: &str) -> bool {
    let given = headers.remove(SECRET_HEADER);
    let source = headers.remove(SOURCE_HEADER);
    if conn.listener != super::Listener::Internal {
        return true;
    }
    let genuine = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(secret.as_bytes())));
    let source = source.and_then(|s| s.to_str().ok()?.parse::<std::net::IpAddr>().ok());
    match (genuine, source) {
        (true, Some(ip)) => {
            conn.peer = SocketAddr::new(ip, 0);
            true
        }
        _ => false,
    }
}

/// Feeds forwarded requests into this node's internal listener.
pub struct LoopbackForwarder {
    internal: SocketAddr,
    secret: String,
    client: Client<HttpConnector, Body>,
}

impl LoopbackForwarder {
    pub fn new(internal: SocketAddr, secret: String) -> LoopbackForwarder {
        LoopbackForwarder {
            internal,
            secret,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    async fn send(&self, request: ForwardedRequest) -> Result<ForwardedResponse, String> {
        let uri = format!("http://{}{}", self.internal, request.uri);
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(uri);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_slice());
        }
        let request = builder
            .header(SECRET_HEADER, &self.secret)
            .header(SOURCE_HEADER, &request.source)
            .body(body::full(request.body))
            .map_err(|e| format!("forwarded request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, incoming) = response.into_parts();
        let bytes = Limited::new(incoming, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("answer: {e}"))?
            .to_bytes();
        Ok(ForwardedResponse {
            status: parts.status.as_u16(),
            headers: end_to_end(&parts.headers),
            body: bytes.to_vec(),
        })
    }
}

impl Forwarder for LoopbackForwarder {
    fn forwarded(&self, request: ForwardedRequest) -> BoxFuture<'_, ForwardedResponse> {
        Box::pin(async move {
            self.send(request).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "forwarded request failed on this node");
                ForwardedResponse {
                    status: 502,
                    headers: vec![("content-type".into(), b"application/json".to_vec())],
                    body: br#"{"message":"Forwarded request failed at the home region"}"#.to_vec(),
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::endpoint::Listener;

    fn conn(listener: Listener) -> ConnInfo {
        ConnInfo {
            peer: ([127, 0, 0, 1], 5000).into(),
            tls: false,
            listener,
            client_cert: None,
        }
    }

    fn headers(secret: &str, source: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SECRET_HEADER, secret.parse().unwrap());
        headers.insert(SOURCE_HEADER, source.parse().unwrap());
        headers
    }

    #[test]
    fn the_internal_listener_believes_only_requests_with_the_secret() {
        let mut c = conn(Listener::Internal);
        let mut h = headers("s3cret", "198.51.100.7");
        assert!(admit(&mut c, &mut h, "s3cret"));
        assert_eq!(c.peer.ip().to_string(), "198.51.100.7");
        assert!(h.is_empty(), "forwarding headers are removed");

        let mut c = conn(Listener::Internal);
        assert!(!admit(
            &mut c,
            &mut headers("guess", "198.51.100.7"),
            "s3cret"
        ));
        assert!(!admit(&mut c, &mut HeaderMap::new(), "s3cret"));
        assert!(!admit(
            &mut c,
            &mut headers("s3cret", "not an ip"),
            "s3cret"
        ));
    }

    #[test]
    fn other_listeners_drop_forwarding_headers_clients_send() {
        let mut c = conn(Listener::Public);
        let mut h = headers("s3cret", "198.51.100.7");
        assert!(admit(&mut c, &mut h, "s3cret"));
        assert_eq!(
            c.peer.ip().to_string(),
            "127.0.0.1",
            "a client cannot claim a source"
        );
        assert!(h.is_empty());
    }
}
