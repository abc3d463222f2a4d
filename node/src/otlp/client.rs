//! The exporter's HTTP client: the node's own pooled hyper client (HTTP/1.1 or HTTP/2,
//! cleartext or rustls trusting `backends.ca_file`), so OTLP adds neither reqwest nor a second
//! TLS stack.

use crate::pipeline::integrate::Clients;
use crate::pipeline::integrate::client::BackendClient;
use bytes::Bytes;
use edgeway_shared::BackendProtocol;
use http_body_util::{BodyExt, Limited};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use std::time::Duration;

/// A collector's answer is a small protobuf; anything larger is not one.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

pub struct OtlpHttp {
    client: BackendClient,
    timeout: Duration,
}

impl OtlpHttp {
    pub fn new(
        backends: &crate::config::Backends,
        timeout: Duration,
    ) -> Result<OtlpHttp, crate::pipeline::integrate::client::ClientError> {
        let clients = Clients::new(backends)?;
        Ok(OtlpHttp {
            client: clients.get(BackendProtocol::Auto).clone(),
            timeout,
        })
    }
}

impl std::fmt::Debug for OtlpHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpHttp")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl HttpClient for OtlpHttp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = request.map(crate::body::full);
        let exchange = async {
            let response = self.client.request(request).await?;
            let (head, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES).collect().await?;
            Ok::<_, HttpError>(Response::from_parts(head, body.to_bytes()))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout).into()),
        }
    }
}
