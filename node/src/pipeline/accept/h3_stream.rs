//! One HTTP/3 request stream as the rest of the pipeline sees any request: the request body as
//! an `http_body::Body` read as the handler pulls it, and the handler's response written back
//! frame by frame (data as it comes, then trailers), so bodies stream both ways.

use crate::body::{Body, BoxError};
use bytes::{Buf, Bytes};
use h3::server::RequestStream;
use http::{HeaderMap, Response};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

type RecvHalf = RequestStream<h3_quinn::RecvStream, Bytes>;
pub type SendHalf = RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;

/// The request body of an HTTP/3 stream: DATA frames, then trailers if the client sent any.
pub struct RecvBody {
    stream: RecvHalf,
    data_done: bool,
    finished: bool,
}

impl RecvBody {
    pub fn new(stream: RecvHalf) -> RecvBody {
        RecvBody {
            stream,
            data_done: false,
            finished: false,
        }
    }
}

impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        if !this.data_done {
            match ready!(this.stream.poll_recv_data(cx)) {
                Ok(Some(mut chunk)) => {
                    let bytes = chunk.copy_to_bytes(chunk.remaining());
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                Ok(None) => this.data_done = true,
                Err(e) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
        this.finished = true;
        match ready!(this.stream.poll_recv_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e.into()))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A body dropped before its end (a handler that answered without reading it all) tells the
/// client to stop sending with H3_NO_ERROR, as RFC 9114 §4.1.2 asks of a server that answers
/// before the whole request arrived; the client keeps the complete answer. Without this, quinn
/// stops the stream with code 0, which clients may take for an error. A stream whose end has
/// already arrived sends nothing.
impl Drop for RecvBody {
    fn drop(&mut self) {
        if !self.finished {
            self.stream.stop_sending(h3::error::Code::H3_NO_ERROR);
        }
    }
}

/// Headers that belong to one HTTP/1.1 connection and are malformed in HTTP/3 (RFC 9114 §4.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Writes `response` on the stream: head, each data frame as it is produced, trailers, end.
pub async fn send_response(
    stream: &mut SendHalf,
    response: Response<Body>,
) -> Result<(), BoxError> {
    let (mut head, mut body) = response.into_parts();
    for name in CONNECTION_SPECIFIC {
        head.headers.remove(name);
    }
    stream.send_response(Response::from_parts(head, ())).await?;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        match frame.into_data() {
            Ok(data) if data.is_empty() => {}
            Ok(data) => stream.send_data(data).await?,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    return send_trailers(stream, trailers).await;
                }
            }
        }
    }
    stream.finish().await?;
    Ok(())
}

async fn send_trailers(stream: &mut SendHalf, trailers: HeaderMap) -> Result<(), BoxError> {
    stream.send_trailers(trailers).await?;
    stream.finish().await?;
    Ok(())
}
