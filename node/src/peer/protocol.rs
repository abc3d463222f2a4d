//! The peer protocol: one request and one response per call, each a bincode 2 frame (through
//! `edgeway_shared::codec`) carrying the protocol version. Objects travel in their storage
//! encoding (checksummed JSON) inside the frame, so a record is byte-for-byte what the
//! writer fsynced.

use edgeway_shared::admin::ConnectionInfo;
use edgeway_shared::codec::{self, CodecError};
use edgeway_shared::{ObjectKey, Record, Version};
use serde::{Deserialize, Serialize};

/// Raised on any incompatible change to the messages below (2: manifests carry a stamp).
pub const PROTOCOL_VERSION: u16 = 2;
/// No frame may be larger: a request or response that would be is refused, not truncated.
pub const MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// Every (key, version) the peer holds, tombstones included.
    Manifest,
    /// The records for these keys.
    Fetch { keys: Vec<ObjectKey> },
    /// "I have new state": the receiver syncs with the caller soon (a hint, never trusted).
    Changed,
    /// A public request for an API this node does not serve (regional endpoint forwarding).
    Forward(ForwardedRequest),
    /// Empty this node's response cache of one stage (a cluster-wide flush).
    FlushCache { api: String, stage: String },
    /// `@connections/{id}` for a WebSocket connection the receiver holds. Appended, so the
    /// kinds above keep their wire tags; a node without it answers with a decode error.
    Connection {
        id: String,
        action: ConnectionAction,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerResponse {
    Manifest(Manifest),
    /// Storage-encoded records (`codec::encode_record`).
    Records(Vec<Vec<u8>>),
    Ack,
    Forwarded(ForwardedResponse),
    Error(String),
    /// `Connection`: the receiver holds no such connection (appended, as above).
    Gone,
    /// `Connection` with `ConnectionAction::Info`.
    Connection(ConnectionInfo),
}

/// What `@connections/{id}` does to a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectionAction {
    /// `POST`: send the body as a message.
    Send(Vec<u8>),
    /// `GET`.
    Info,
    /// `DELETE`: close it (1000).
    Disconnect,
}

/// Every (key, version) a node holds, tombstones included, and the tick of its clock the list
/// was taken at: every record that reached that node before the tick is in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub as_of: Version,
    pub entries: Vec<(ObjectKey, Version)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardedRequest {
    pub method: String,
    /// Path and query as the client sent them.
    pub uri: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The client's address as the first node saw it.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardedResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Frame<T> {
    version: u16,
    body: T,
}

pub fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = codec::encode_wire(&Frame {
        version: PROTOCOL_VERSION,
        body,
    })?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    Ok(bytes)
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let frame: Frame<T> = codec::decode_wire(bytes, MAX_FRAME_BYTES)?;
    if frame.version != PROTOCOL_VERSION {
        return Err(CodecError::Payload(format!(
            "peer protocol version {} (this node speaks {PROTOCOL_VERSION})",
            frame.version
        )));
    }
    Ok(frame.body)
}

pub fn encode_records(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(codec::encode_record).collect()
}

pub fn decode_records(frames: &[Vec<u8>]) -> Result<Vec<Record>, CodecError> {
    frames.iter().map(|f| codec::decode_record(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::ObjectKind;

    #[test]
    fn requests_round_trip() {
        let request = PeerRequest::Fetch {
            keys: vec![ObjectKey {
                kind: ObjectKind::Api,
                id: "pets".into(),
            }],
        };
        let bytes = encode(&request).unwrap();
        assert_eq!(decode::<PeerRequest>(&bytes).unwrap(), request);
    }

    #[test]
    fn connection_kinds_round_trip_after_the_older_ones() {
        let request = PeerRequest::Connection {
            id: "0123456789abcdef.node-2".into(),
            action: ConnectionAction::Send(b"hi".to_vec()),
        };
        let bytes = encode(&request).unwrap();
        assert_eq!(decode::<PeerRequest>(&bytes).unwrap(), request);
        // Appending kept the older kinds' tags: Manifest is still variant 0.
        let manifest = encode(&PeerRequest::Manifest).unwrap();
        assert_eq!(
            decode::<PeerRequest>(&manifest).unwrap(),
            PeerRequest::Manifest
        );
        let gone = encode(&PeerResponse::Gone).unwrap();
        assert_eq!(decode::<PeerResponse>(&gone).unwrap(), PeerResponse::Gone);
    }

    #[test]
    fn garbage_and_other_versions_are_errors_not_panics() {
        for garbage in [
            &b""[..],
            b"\x00",
            b"\xff\xff\xff\xff\xff\xff",
            &[7u8; 4096][..],
        ] {
            assert!(decode::<PeerRequest>(garbage).is_err());
        }
        let future = codec::encode_wire(&Frame {
            version: PROTOCOL_VERSION + 1,
            body: PeerRequest::Manifest,
        })
        .unwrap();
        let err = decode::<PeerRequest>(&future).unwrap_err().to_string();
        assert!(err.contains("version"), "{err}");
    }

    #[test]
    fn damaged_records_are_refused() {
        let mut frames = encode_records(&[Record {
            key: ObjectKey {
                kind: ObjectKind::Api,
                id: "a".into(),
            },
            version: Version::default(),
            object: None,
        }]);
        let last = frames[0].len() - 1;
        frames[0][last] ^= 1;
        assert!(decode_records(&frames).is_err());
    }
}
