//! W3C trace context (`traceparent`, `tracestate`) on integration requests. The gateway is one
//! hop of the caller's trace: the trace id and flags go on, with a new parent id for this hop.
//! A request without a valid `traceparent` starts a new trace.
//!
//! When spans are exported (`crate::otlp`), the ids are decided once per request
//! ([`TraceIds`]) so the gateway's span, its integration span and the backend's `traceparent`
//! agree: the backend's parent is the integration span.

use crate::pipeline::ids::hex;
use http::{HeaderMap, HeaderName, HeaderValue};

// Names as `HeaderName`s: a `&str` name is parsed and checked again on every use.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The trace context for the integration request, read from the client's headers.
pub struct TraceContext {
    traceparent: HeaderValue,
    tracestate: Option<HeaderValue>,
}

impl TraceContext {
    pub fn from_client(headers: &HeaderMap) -> TraceContext {
        let parent = headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse);
        // `00-{trace id: 32}-{parent id: 16}-{flags: 2}`, built in place.
        let mut value = *b"00-00000000000000000000000000000000-0000000000000000-01";
        match parent {
            Some((trace_id, _, flags)) => {
                value[3..35].copy_from_slice(trace_id.as_bytes());
                value[53..55].copy_from_slice(flags.as_bytes());
            }
            None => value[3..35].copy_from_slice(&hex::<32>(rand::random::<u128>() | 1)),
        }
        value[36..52].copy_from_slice(&hex::<16>(u128::from(rand::random::<u64>() | 1)));
        TraceContext {
            traceparent: HeaderValue::from_bytes(&value).expect("hex digits and dashes"),
            // tracestate belongs to the trace the caller started; without it, none.
            tracestate: parent.and(headers.get(TRACESTATE).cloned()),
        }
    }

    /// The context for an integration request whose ids were decided at the start (spans are
    /// exported): the backend's parent is the integration span.
    pub fn for_span(ids: &TraceIds, headers: &HeaderMap) -> TraceContext {
        let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
        value[3..35].copy_from_slice(&hex::<32>(ids.trace_id));
        value[36..52].copy_from_slice(&hex::<16>(u128::from(ids.integration_span)));
        value[53..55].copy_from_slice(&hex::<2>(u128::from(ids.flags)));
        TraceContext {
            traceparent: HeaderValue::from_bytes(&value).expect("hex digits and dashes"),
            tracestate: ids.remote_parent.and(headers.get(TRACESTATE).cloned()),
        }
    }

    /// Sets the headers on the integration request (replacing whatever the client sent).
    pub fn apply(self, backend: &mut HeaderMap) {
        backend.insert(TRACEPARENT, self.traceparent);
        backend.remove(TRACESTATE);
        if let Some(state) = self.tracestate {
            backend.insert(TRACESTATE, state);
        }
    }
}

/// The ids of one request's trace when spans are exported: the caller's trace (or a new one),
/// the gateway's span, the integration's span, and whether the trace is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: u128,
    /// The caller's span (`traceparent` parent id), when it sent a valid `traceparent`.
    pub remote_parent: Option<u64>,
    /// W3C trace flags passed on (bit 0: sampled).
    pub flags: u8,
    pub sampled: bool,
    pub server_span: u64,
    pub integration_span: u64,
}

impl TraceIds {
    /// Continues the caller's trace (its sampled flag decides), or starts one whose sampling
    /// `sample` decides from the new trace id.
    pub fn from_client(headers: &HeaderMap, sample: impl FnOnce(u128) -> bool) -> TraceIds {
        let parent = headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse)
            .and_then(|(trace, parent, flags)| {
                Some((
                    u128::from_str_radix(trace, 16).ok()?,
                    u64::from_str_radix(parent, 16).ok()?,
                    u8::from_str_radix(flags, 16).ok()?,
                ))
            });
        let (trace_id, remote_parent, flags) = match parent {
            Some((trace, parent, flags)) => (trace, Some(parent), flags),
            None => {
                let trace = rand::random::<u128>() | 1;
                (trace, None, u8::from(sample(trace)))
            }
        };
        TraceIds {
            trace_id,
            remote_parent,
            flags,
            sampled: flags & 1 == 1,
            server_span: rand::random::<u64>() | 1,
            integration_span: rand::random::<u64>() | 1,
        }
    }
}

/// `version-traceid-parentid-flags`: trace id, parent id and flags, if the header is valid
/// version 00 (or a later version, read as 00 demands) with non-zero ids.
fn parse(value: &str) -> Option<(&str, &str, &str)> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let (trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?);
    let is_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = is_hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && is_hex(trace_id, 32)
        && is_hex(parent_id, 16)
        && is_hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent_id.bytes().any(|b| b != b'0');
    valid.then_some((trace_id, parent_id, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_callers_trace_continues_with_a_new_parent_id() {
        let mut client = HeaderMap::new();
        client.insert(TRACEPARENT, CALLER.parse().unwrap());
        client.insert(TRACESTATE, "vendor=x".parse().unwrap());
        let mut backend = HeaderMap::new();
        TraceContext::from_client(&client).apply(&mut backend);
        let sent = backend[TRACEPARENT].to_str().unwrap();
        assert!(
            sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{sent}"
        );
        assert!(sent.ends_with("-01"));
        assert_ne!(&sent[36..52], "00f067aa0ba902b7", "a new parent id");
        assert_eq!(
            parse(sent).map(|p| p.0),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(backend[TRACESTATE], "vendor=x");
    }

    #[test]
    fn exported_spans_continue_the_callers_trace_and_parent_the_backend() {
        let mut client = HeaderMap::new();
        client.insert(TRACEPARENT, CALLER.parse().unwrap());
        client.insert(TRACESTATE, "vendor=x".parse().unwrap());
        let ids = TraceIds::from_client(&client, |_| panic!("the caller decided"));
        assert_eq!(ids.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(ids.remote_parent, Some(0x00f067aa0ba902b7));
        assert!(ids.sampled);
        let mut backend = HeaderMap::new();
        TraceContext::for_span(&ids, &client).apply(&mut backend);
        let sent = backend[TRACEPARENT].to_str().unwrap();
        let expected = format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{:016x}-01",
            ids.integration_span
        );
        assert_eq!(sent, expected);
        assert_eq!(backend[TRACESTATE], "vendor=x");

        client.insert(
            TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
                .parse()
                .unwrap(),
        );
        assert!(!TraceIds::from_client(&client, |_| true).sampled);

        // A new trace: the sampler decides, and the flags say what it decided.
        let fresh = TraceIds::from_client(&HeaderMap::new(), |_| false);
        assert_eq!(
            (fresh.remote_parent, fresh.flags, fresh.sampled),
            (None, 0, false)
        );
        let mut backend = HeaderMap::new();
        TraceContext::for_span(&fresh, &HeaderMap::new()).apply(&mut backend);
        assert!(backend[TRACEPARENT].to_str().unwrap().ends_with("-00"));
    }

    #[test]
    fn invalid_or_missing_context_starts_a_new_trace() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let mut client = HeaderMap::new();
        client.insert(TRACESTATE, "orphan=1".parse().unwrap());
        let mut backend = HeaderMap::new();
        TraceContext::from_client(&client).apply(&mut backend);
        assert!(parse(backend[TRACEPARENT].to_str().unwrap()).is_some());
        assert!(backend.get(TRACESTATE).is_none());
    }
}
