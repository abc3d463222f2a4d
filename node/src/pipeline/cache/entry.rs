//! A stored answer, what may be stored, and reading a body up to the 1 MiB a stored answer may
//! hold without holding up larger ones.

use crate::body::{self, Body, BoxError};
use bytes::{Bytes, BytesMut};
use edgeway_shared::MAX_CACHED_BODY_BYTES;
use futures_util::StreamExt;
use http::header::{AGE, CACHE_CONTROL, CONTENT_LENGTH, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;
use tokio::time::Instant;

/// One cached answer. `stored_at` and `expires_at` use tokio's clock so tests can move time.
#[derive(Debug)]
pub struct Entry {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `Age` the integration reported when the answer was stored.
    pub age_at_store: u64,
    pub stored_at: Instant,
    pub expires_at: Instant,
}

/// What an entry costs: body, headers and a fixed overhead for the key and bookkeeping.
const OVERHEAD: usize = 256;

impl Entry {
    pub fn weight(&self) -> u32 {
        let headers: usize = (self.headers.iter())
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        u32::try_from(self.body.len() + headers + OVERHEAD).unwrap_or(u32::MAX)
    }

    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.expires_at
    }

    /// The answer as served: the stored parts and the entry's `Age` (RFC 9111 §4.2.3).
    pub fn to_response(&self, now: Instant) -> Response<Body> {
        let mut response = Response::new(body::full(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = crate::pipeline::respond::headers_with_room(&self.headers);
        let age = self.age_at_store + now.saturating_duration_since(self.stored_at).as_secs();
        response.headers_mut().insert(AGE, HeaderValue::from(age));
        response
    }
}

/// Whether an integration answer may be stored at all, judged from its head: 2xx (or any
/// status when the stage allows), no `Set-Cookie`, no `Cache-Control: no-store`/`private`,
/// no declared length over 1 MiB.
pub fn storable(head: &http::response::Parts, cache_non_2xx: bool) -> bool {
    let status_ok = head.status.is_success() && head.status != StatusCode::PARTIAL_CONTENT
        || cache_non_2xx && !head.status.is_informational();
    let refused = (head.headers.get_all(CACHE_CONTROL).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| {
            d.trim()
                .split('=')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        })
        .any(|d| d == "no-store" || d == "private");
    let declared = (head.headers.get(CONTENT_LENGTH))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    status_ok
        && !refused
        && !head.headers.contains_key(SET_COOKIE)
        && declared.is_none_or(|len| len <= MAX_CACHED_BODY_BYTES)
}

/// A body read as far as a stored answer may go.
pub enum Buffered {
    /// The whole body, within the limit.
    Whole(Bytes),
    /// Past the limit (or carrying trailers): what was read, then the rest, streamed.
    Passed(Body),
}

/// Reads `body` up to `limit` bytes; a larger one is handed on without waiting for its end.
pub async fn buffer(mut body: Body, limit: u64) -> Result<Buffered, BoxError> {
    let mut whole = BytesMut::new();
    let mut read: Vec<Bytes> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        match frame.into_data() {
            Ok(data) => {
                if (whole.len() + data.len()) as u64 > limit {
                    read.push(whole.freeze());
                    read.push(data);
                    return Ok(Buffered::Passed(prefixed(read, None, body)));
                }
                whole.extend_from_slice(&data);
            }
            Err(frame) => {
                read.push(whole.freeze());
                return Ok(Buffered::Passed(prefixed(read, Some(frame), body)));
            }
        }
    }
    Ok(Buffered::Whole(whole.freeze()))
}

/// The frames already read, then whatever `rest` still has.
fn prefixed(read: Vec<Bytes>, trailers: Option<Frame<Bytes>>, rest: Body) -> Body {
    let frames = (read.into_iter())
        .filter(|b| !b.is_empty())
        .map(Frame::data)
        .chain(trailers)
        .map(Ok::<_, BoxError>);
    body::stream(StreamBody::new(
        futures_util::stream::iter(frames).chain(BodyStream::new(rest)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
        let mut builder = Response::builder().status(status);
        for (n, v) in headers {
            builder = builder.header(*n, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn what_may_be_stored() {
        assert!(storable(&head(200, &[]), false));
        assert!(!storable(&head(500, &[]), false));
        assert!(storable(&head(404, &[]), true));
        assert!(!storable(&head(206, &[]), false));
        assert!(!storable(&head(200, &[("set-cookie", "a=b")]), false));
        assert!(!storable(
            &head(200, &[("cache-control", "max-age=5, No-Store")]),
            false
        ));
        assert!(!storable(
            &head(200, &[("cache-control", "private=\"x\"")]),
            false
        ));
        assert!(storable(
            &head(200, &[("cache-control", "public, max-age=5")]),
            false
        ));
        assert!(!storable(
            &head(200, &[("content-length", "1048577")]),
            false
        ));
        assert!(storable(
            &head(200, &[("content-length", "1048576")]),
            false
        ));
    }

    fn chunks(sizes: &[usize]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = (sizes.iter())
            .map(|&n| Ok(Frame::data(Bytes::from(vec![b'x'; n]))))
            .collect();
        body::stream(StreamBody::new(futures_util::stream::iter(frames)))
    }

    #[tokio::test]
    async fn small_bodies_are_read_whole_and_large_ones_passed_on_intact() {
        match buffer(chunks(&[3, 4]), 10).await.unwrap() {
            Buffered::Whole(bytes) => assert_eq!(bytes.len(), 7),
            Buffered::Passed(_) => panic!("7 bytes fit in 10"),
        }
        let Buffered::Passed(passed) = buffer(chunks(&[6, 6, 6]), 10).await.unwrap() else {
            panic!("18 bytes do not fit in 10");
        };
        let all = passed.collect().await.unwrap().to_bytes();
        assert_eq!(all.len(), 18);
    }

    #[tokio::test(start_paused = true)]
    async fn age_counts_from_the_store_and_adds_the_integrations_age() {
        let now = Instant::now();
        let entry = Entry {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"hi"),
            age_at_store: 5,
            stored_at: now,
            expires_at: now + std::time::Duration::from_secs(10),
        };
        tokio::time::advance(std::time::Duration::from_secs(3)).await;
        let later = Instant::now();
        assert_eq!(entry.to_response(later).headers()[AGE], "8");
        assert!(entry.is_fresh(later));
        tokio::time::advance(std::time::Duration::from_secs(7)).await;
        assert!(!entry.is_fresh(Instant::now()));
    }
}
