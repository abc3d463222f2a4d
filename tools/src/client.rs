//! The admin API client: JSON over HTTP/1.1 (TLS for `https://` addresses), the bearer token on
//! every call, one kept-alive connection reused across calls.

use crate::settings::Settings;
use anyhow::Context;
use bytes::Bytes;
use edgeway_shared::admin::AdminError;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The server answered with an error status.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    /// The admin API's stable error code (`not_found`, `invalid`, ...).
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiFailure {}

/// The server could not be reached (connect or TLS failure, broken connection).
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

pub struct Client {
    settings: Settings,
    authority: http::uri::Authority,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    conn: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Client {
    pub fn new(settings: Settings) -> anyhow::Result<Client> {
        let uri: Uri = settings.addr.parse().context("server address")?;
        let authority = uri
            .authority()
            .cloned()
            .context("server address has no host")?;
        let tls = match uri.scheme_str() {
            Some("https") => Some(tls_connector(&settings, authority.host())?),
            _ => None,
        };
        Ok(Client {
            settings,
            authority,
            tls,
            conn: None,
        })
    }

    pub fn addr(&self) -> &str {
        &self.settings.addr
    }

    async fn connect(&self) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
        let port = self.authority.port_u16().unwrap_or(match self.tls {
            Some(_) => 443,
            None => 80,
        });
        let target = format!("{}:{port}", self.authority.host());
        let unreachable = |e: &dyn std::fmt::Display| {
            Unreachable(format!("cannot reach {}: {e}", self.settings.addr))
        };
        let tcp = TcpStream::connect(&target)
            .await
            .map_err(|e| unreachable(&e))?;
        let _ = tcp.set_nodelay(true);
        let sender = match &self.tls {
            None => {
                let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await?;
                tokio::spawn(conn);
                sender
            }
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| unreachable(&e))?;
                let (sender, conn) = http1::handshake(TokioIo::new(tls)).await?;
                tokio::spawn(conn);
                sender
            }
        };
        Ok(sender)
    }

    /// One call with a body of `(content type, bytes)`: the status and body of any answer
    /// (errors included).
    pub async fn raw(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.authority.as_str());
        if let Some(token) = &self.settings.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .context("building the request")?;
        let mut sender = match self.conn.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        sender
            .ready()
            .await
            .map_err(|e| Unreachable(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Unreachable(format!("{}: {e}", self.settings.addr)))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Unreachable(format!("{}: {e}", self.settings.addr)))?
            .to_bytes();
        self.conn = Some(sender);
        Ok((status, bytes))
    }

    /// One call with a JSON body whose answer must be a success; its JSON body (`null` when
    /// empty).
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let body = match body {
            Some(json) => Some(("application/json", Bytes::from(serde_json::to_vec(json)?))),
            None => None,
        };
        self.call_body(method, path, body).await
    }

    /// Like [`Client::call`] with any body.
    pub async fn call_body(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> anyhow::Result<Value> {
        let (status, bytes) = self.raw(method.clone(), path, body).await?;
        if !status.is_success() {
            return Err(failure(status, &bytes).into());
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{method} {path}: the answer is not JSON"))
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    /// GET that treats 404 as "absent".
    pub async fn get_opt(&mut self, path: &str) -> anyhow::Result<Option<Value>> {
        match self.get(path).await {
            Ok(value) => Ok(Some(value)),
            Err(e)
                if e.downcast_ref::<ApiFailure>().map(|f| f.status)
                    == Some(StatusCode::NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn failure(status: StatusCode, body: &[u8]) -> ApiFailure {
    match serde_json::from_slice::<AdminError>(body) {
        Ok(e) => ApiFailure {
            status,
            code: e.error,
            message: e.message,
        },
        Err(_) => ApiFailure {
            status,
            code: "http".into(),
            message: String::from_utf8_lossy(body).trim().to_string(),
        },
    }
}

fn tls_connector(
    settings: &Settings,
    host: &str,
) -> anyhow::Result<(TlsConnector, ServerName<'static>)> {
    let mut roots = rustls::RootCertStore::empty();
    let Some(path) = &settings.ca else {
        anyhow::bail!(
            "an https:// server address needs a CA: give --ca, EDGEWAY_CA or ca in the config file"
        );
    };
    let pem = std::fs::read(path).with_context(|| format!("CA file {}", path.display()))?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.with_context(|| format!("CA file {}: bad PEM", path.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("CA file {}: not a CA certificate", path.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(host.to_string())
        .with_context(|| format!("'{host}' is not a TLS server name"))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}
