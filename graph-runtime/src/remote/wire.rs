//! Values on the wire between processes: a small header (what the value is, which
//! build wrote it) and the value in `postcard`'s encoding.
//!
//! ```text
//! b"TWR1" | build id (u64, little endian) | type name length (u16 LE) | type name | postcard bytes
//! ```
//!
//! The build id is a hash of the executable that wrote the value: a worker started from
//! another build of the program (a stale binary on the cluster's shared filesystem)
//! refuses its inputs with [`RemoteError::StaleBinary`] instead of misreading them.

use std::hash::Hasher;
use std::io::Read;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::RemoteError;

const MAGIC: &[u8; 4] = b"TWR1";

/// One value on the wire: its type's name, the build that wrote it, its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    type_name: String,
    build: u64,
    bytes: Vec<u8>,
}

impl Payload {
    /// Encodes `value` with this build's id.
    pub fn encode<T: Serialize>(value: &T) -> Result<Payload, RemoteError> {
        let bytes = postcard::to_stdvec(value).map_err(|error| RemoteError::Encode {
            type_name: std::any::type_name::<T>().to_owned(),
            message: error.to_string(),
        })?;
        Ok(Payload {
            type_name: std::any::type_name::<T>().to_owned(),
            build: build_id(),
            bytes,
        })
    }

    /// Decodes the value as a `T`; an error if it holds another type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, RemoteError> {
        let expected = std::any::type_name::<T>();
        if self.type_name != expected {
            return Err(RemoteError::TypeMismatch {
                expected: expected.to_owned(),
                found: self.type_name.clone(),
            });
        }
        postcard::from_bytes(&self.bytes).map_err(|error| RemoteError::Decode {
            type_name: self.type_name.clone(),
            message: error.to_string(),
        })
    }

    /// The values of `items` as one `Vec` of type `vec_type` (its `type_name`), as if
    /// that `Vec` had been encoded: `postcard` writes a sequence as its length (a
    /// varint) and then each element. Every item must hold the element type.
    pub(crate) fn sequence(items: &[Payload], vec_type: &str) -> Result<Payload, RemoteError> {
        for item in items {
            let expected = format!("alloc::vec::Vec<{}>", item.type_name);
            if expected != vec_type {
                return Err(RemoteError::TypeMismatch {
                    expected: vec_type.to_owned(),
                    found: format!("a `Vec` of `{}`", item.type_name),
                });
            }
        }
        let mut bytes = Vec::with_capacity(10 + items.iter().map(|i| i.bytes.len()).sum::<usize>());
        let mut len = items.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                bytes.push(byte);
                break;
            }
            bytes.push(byte | 0x80);
        }
        for item in items {
            bytes.extend_from_slice(&item.bytes);
        }
        Ok(Payload {
            type_name: vec_type.to_owned(),
            build: build_id(),
            bytes,
        })
    }

    /// The name of the value's type (`std::any::type_name`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The id of the build that wrote it (see [`build_id`]).
    pub fn build(&self) -> u64 {
        self.build
    }

    /// The header and the encoding, as written to a file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let name = self.type_name.as_bytes();
        let mut out = Vec::with_capacity(4 + 8 + 2 + name.len() + self.bytes.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.build.to_le_bytes());
        // Type names are short; a longer one is cut (it is compared, not parsed).
        let len = name.len().min(u16::MAX as usize);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&name[..len]);
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote, refusing a value of another
    /// build ([`RemoteError::StaleBinary`]) or bytes that are not a payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payload, RemoteError> {
        let malformed = |why: &str| RemoteError::Decode {
            type_name: String::from("(payload header)"),
            message: why.to_owned(),
        };
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| malformed("not a taskweave payload (no `TWR1` header)"))?;
        if rest.len() < 10 {
            return Err(malformed("the header is cut short"));
        }
        let build = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let len = u16::from_le_bytes(rest[8..10].try_into().expect("2 bytes")) as usize;
        let rest = &rest[10..];
        if rest.len() < len {
            return Err(malformed("the type name is cut short"));
        }
        let type_name = std::str::from_utf8(&rest[..len])
            .map_err(|_| malformed("the type name is not UTF-8"))?
            .to_owned();
        if build != build_id() {
            return Err(RemoteError::StaleBinary {
                expected: build_id(),
                found: build,
            });
        }
        Ok(Payload {
            type_name,
            build,
            bytes: rest[len..].to_vec(),
        })
    }
}

/// This program's build id: a hash of its executable, read once per process (a few
/// milliseconds for a binary of tens of megabytes). Every process started from the
/// same file agrees on it; a rebuilt binary does not.
pub fn build_id() -> u64 {
    static ID: OnceLock<u64> = OnceLock::new();
    *ID.get_or_init(|| {
        let hash = std::env::current_exe()
            .and_then(std::fs::File::open)
            .and_then(|mut file| {
                let mut hasher = rustc_hash::FxHasher::default();
                let mut buffer = vec![0u8; 1 << 16];
                loop {
                    let n = file.read(&mut buffer)?;
                    if n == 0 {
                        break;
                    }
                    hasher.write(&buffer[..n]);
                }
                Ok(hasher.finish())
            });
        // Without a readable executable there is nothing to tell builds apart by:
        // the version at least.
        hash.unwrap_or_else(|_| {
            let mut hasher = rustc_hash::FxHasher::default();
            hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
            hasher.finish()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips_and_checks_its_type() {
        let payload = Payload::encode(&(3u64, String::from("x"))).unwrap();
        let back = Payload::from_bytes(&payload.to_bytes()).unwrap();
        assert_eq!(back, payload);
        assert_eq!(back.decode::<(u64, String)>().unwrap(), (3, "x".into()));
        match back.decode::<u64>() {
            Err(RemoteError::TypeMismatch { expected, found }) => {
                assert_eq!(expected, "u64");
                assert!(found.contains("String"), "{found}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sequence_of_payloads_is_the_vec_encoded() {
        for n in [0usize, 1, 3, 200] {
            let values: Vec<u64> = (0..n as u64).map(|i| i * 1_000_003).collect();
            let items: Vec<Payload> = values.iter().map(|v| Payload::encode(v).unwrap()).collect();
            let vec_type = std::any::type_name::<Vec<u64>>();
            let seq = Payload::sequence(&items, vec_type).unwrap();
            assert_eq!(seq, Payload::encode(&values).unwrap(), "{n}");
            assert_eq!(seq.decode::<Vec<u64>>().unwrap(), values);
        }
        let wrong = [Payload::encode(&1u8).unwrap()];
        assert!(matches!(
            Payload::sequence(&wrong, std::any::type_name::<Vec<u64>>()),
            Err(RemoteError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn another_build_and_garbage_are_refused() {
        let mut bytes = Payload::encode(&1u8).unwrap().to_bytes();
        bytes[4] ^= 1;
        assert!(matches!(
            Payload::from_bytes(&bytes),
            Err(RemoteError::StaleBinary { .. })
        ));
        assert!(matches!(
            Payload::from_bytes(b"hello"),
            Err(RemoteError::Decode { .. })
        ));
        assert!(matches!(
            Payload::from_bytes(b"TWR1\x01"),
            Err(RemoteError::Decode { .. })
        ));
    }
}
