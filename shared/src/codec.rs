//! The two byte formats Edgeway writes: checksummed records on disk, and bincode frames
//! between nodes. Each sits behind these functions so it can be swapped in one place.

use serde::{Serialize, de::DeserializeOwned};

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("truncated: {0} bytes, the header needs {HEADER_LEN}")]
    Truncated(usize),
    #[error("not an Edgeway record (bad magic bytes)")]
    BadMagic,
    #[error(
        "length mismatch: header says {expected} payload bytes, found {found} (half-written file?)"
    )]
    Length { expected: usize, found: usize },
    #[error("checksum mismatch: stored {stored:08x}, computed {computed:08x} (corrupt file)")]
    Checksum { stored: u32, computed: u32 },
    #[error("payload does not decode: {0}")]
    Payload(String),
    #[error("frame of {size} bytes is over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
}

const MAGIC: &[u8; 4] = b"EWR1";
const HEADER_LEN: usize = 12;

/// On-disk record: `EWR1`, payload length (u32 LE), CRC-32 of the payload (u32 LE), then the
/// payload as JSON (so later versions can add fields and still read old files).
pub fn encode_record<T: Serialize>(value: &T) -> Vec<u8> {
    let payload = serde_json::to_vec(value).expect("model types always serialize to JSON");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Reads a record written by [`encode_record`], refusing anything torn or corrupt.
pub fn decode_record<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::Truncated(bytes.len()));
    }
    if &bytes[..4] != MAGIC {
        return Err(CodecError::BadMagic);
    }
    let expected = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    let stored = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != expected {
        return Err(CodecError::Length {
            expected,
            found: payload.len(),
        });
    }
    let computed = crc32fast::hash(payload);
    if computed != stored {
        return Err(CodecError::Checksum { stored, computed });
    }
    serde_json::from_slice(payload).map_err(|e| CodecError::Payload(e.to_string()))
}

fn wire_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Peer-wire encoding (bincode 2, standard configuration).
pub fn encode_wire<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, wire_config())
        .map_err(|e| CodecError::Payload(e.to_string()))
}

/// Decodes an untrusted peer frame of at most `limit` bytes; trailing bytes are an error.
pub fn decode_wire<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice(bytes, wire_config())
        .map_err(|e| CodecError::Payload(e.to_string()))?;
    if read != bytes.len() {
        return Err(CodecError::Payload(format!(
            "{} trailing bytes",
            bytes.len() - read
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;
    use crate::model::*;

    fn record() -> Record {
        let api = Api::new("hello", "Hello", ApiKind::Http);
        Record {
            key: ObjectKey {
                kind: ObjectKind::Api,
                id: "hello".into(),
            },
            version: Version {
                millis: 1,
                counter: 2,
                node: "n1".into(),
            },
            object: Some(Object::Api(api)),
        }
    }

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let bytes = encode_record(&record());
        assert_eq!(decode_record::<Record>(&bytes).unwrap(), record());
        assert!(matches!(
            decode_record::<Record>(&bytes[..bytes.len() - 3]),
            Err(CodecError::Length { .. })
        ));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 0x20;
        assert!(matches!(
            decode_record::<Record>(&flipped),
            Err(CodecError::Checksum { .. })
        ));
        assert!(matches!(
            decode_record::<Record>(&bytes[..5]),
            Err(CodecError::Truncated(5))
        ));
        assert!(matches!(
            decode_record::<Record>(b"garbage-garbage"),
            Err(CodecError::BadMagic)
        ));
    }

    #[test]
    fn wire_frames_round_trip_and_respect_limits() {
        let bytes = encode_wire(&record()).unwrap();
        assert_eq!(decode_wire::<Record>(&bytes, 1 << 20).unwrap(), record());
        assert!(matches!(
            decode_wire::<Record>(&bytes, 4),
            Err(CodecError::TooLarge { .. })
        ));
        assert!(decode_wire::<Record>(&bytes[..bytes.len() / 2], 1 << 20).is_err());
        assert!(decode_wire::<Record>(&[0xff; 64], 1 << 20).is_err());
    }
}
