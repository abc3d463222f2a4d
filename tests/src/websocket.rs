//! A real WebSocket client (tokio-tungstenite) for a node's public listener: it connects to
//! the node's address and names the API by its `Host`, as DNS would.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

pub type Socket = WebSocketStream<TcpStream>;

const WAIT: Duration = Duration::from_secs(10);

/// Opens `ws://{host}{path}` on `addr` with extra handshake headers. `Err` carries the HTTP
/// answer when the gateway refused the upgrade.
pub async fn connect(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, Refused> {
    let mut request = format!("ws://{host}{path}")
        .into_client_request()
        .expect("a valid ws:// URL");
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
        request
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    let tcp = TcpStream::connect(addr).await.expect("the node listens");
    match client_async(request, tcp).await {
        Ok((socket, _)) => Ok(socket),
        Err(Error::Http(response)) => Err(Refused::from(*response)),
        Err(e) => panic!("websocket handshake failed: {e}"),
    }
}

/// A refused handshake: the HTTP status and body the client got.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

impl From<http::Response<Option<Vec<u8>>>> for Refused {
    fn from(response: http::Response<Option<Vec<u8>>>) -> Refused {
        let status = response.status().as_u16();
        let body = response.into_body().unwrap_or_default();
        Refused {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

pub async fn send_text(socket: &mut Socket, text: &str) {
    socket
        .send(Message::text(text))
        .await
        .expect("message sent");
}

/// The next text message, within a deadline (pings and pongs skipped).
pub async fn next_text(socket: &mut Socket) -> String {
    loop {
        match next(socket).await {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Binary(bytes))) => panic!("binary message: {bytes:?}"),
            Some(Ok(Message::Close(frame))) => panic!("closed instead of a message: {frame:?}"),
            Some(Ok(_)) => continue,
            other => panic!("no message: {other:?}"),
        }
    }
}

/// Reads until the server's Close frame and returns it (messages before it are skipped),
/// then finishes the close handshake as a client does (tungstenite sends its Close while
/// being read) until the server ends the connection.
pub async fn close_frame(socket: &mut Socket) -> Option<CloseFrame> {
    let frame = loop {
        match next(socket).await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("the connection ended without a Close frame: {other:?}"),
        }
    };
    while let Some(Ok(_)) = next(socket).await {}
    frame
}

async fn next(socket: &mut Socket) -> Option<Result<Message, Error>> {
    tokio::time::timeout(WAIT, socket.next())
        .await
        .expect("the server answered in time")
}
