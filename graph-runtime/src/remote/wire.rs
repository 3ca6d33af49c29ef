//! Values on the wire between processes: a small header (what the value is, which
//! build wrote it) and the value in `postcard`'s encoding.
//!
//! ```text
//! b"TWR1" | build id (u64, little endian) | type name length (u16 LE) | type name | postcard bytes
//! ```
//!
//! The build id tells apart the executable that wrote the value (see [`build_id`]): a
//! worker started from another build of the program (a stale binary on the cluster's
//! shared filesystem) refuses its inputs with [`RemoteError::StaleBinary`] instead of
//! misreading them.

use std::io::Write;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::build::build_id;
use super::RemoteError;

const MAGIC: &[u8; 4] = b"TWR1";

/// One value on the wire: its type's name, the build that wrote it, its encoding.
///
/// The encoding is made once, in a buffer of its exact size, and shared by clones (a
/// large argument is neither copied when a job or a worker passes it on nor when it is
/// written: [`write_to`](Self::write_to) writes the header, then that buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    type_name: String,
    build: u64,
    bytes: Encoding,
}

/// A payload's encoding: a range of a buffer that clones share (the whole of what
/// [`Payload::encode`] made, or the part of a file's bytes after the header, or a
/// node's result inside a cluster task's output).
#[derive(Clone)]
struct Encoding {
    buffer: Arc<Vec<u8>>,
    range: std::ops::Range<usize>,
}

impl Encoding {
    /// All of `buffer`.
    fn whole(buffer: Vec<u8>) -> Encoding {
        Encoding {
            range: 0..buffer.len(),
            buffer: Arc::new(buffer),
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.buffer[self.range.clone()]
    }
}

impl PartialEq for Encoding {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Encoding {}

impl std::fmt::Debug for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

impl Payload {
    /// Encodes `value` with this build's id.
    pub fn encode<T: Serialize>(value: &T) -> Result<Payload, RemoteError> {
        let failed = |error: postcard::Error| RemoteError::Encode {
            type_name: std::any::type_name::<T>().to_owned(),
            message: super::reason::encode_error(value, error),
        };
        // Measured first, so that the buffer is allocated once at its size: grown by
        // doubling, a large value's buffer would reserve up to twice its size.
        let size = postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
            .map_err(failed)?;
        let bytes = postcard::to_extend(value, Vec::with_capacity(size)).map_err(failed)?;
        Ok(Payload {
            type_name: std::any::type_name::<T>().to_owned(),
            build: build_id(),
            bytes: Encoding::whole(bytes),
        })
    }

    /// Decodes the value as a `T`; an error if it holds another type.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, RemoteError> {
        self.decode_borrowed()
    }

    /// [`decode`](Self::decode) for a `T` that may borrow from the encoding (a
    /// cluster task's output, whose nodes' results become payloads sharing its
    /// buffer: see [`within`](Self::within)).
    pub(crate) fn decode_borrowed<'a, T: Deserialize<'a>>(&'a self) -> Result<T, RemoteError> {
        let expected = std::any::type_name::<T>();
        if self.type_name != expected {
            return Err(RemoteError::TypeMismatch {
                expected: expected.to_owned(),
                found: self.type_name.clone(),
            });
        }
        let bytes = self.bytes.as_slice();
        postcard::from_bytes(bytes).map_err(|error| RemoteError::Decode {
            type_name: self.type_name.clone(),
            message: super::reason::decode_error::<T>(bytes, error),
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
        let mut bytes =
            Vec::with_capacity(10 + items.iter().map(|i| i.bytes.range.len()).sum::<usize>());
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
            bytes.extend_from_slice(item.bytes.as_slice());
        }
        Ok(Payload {
            type_name: vec_type.to_owned(),
            build: build_id(),
            bytes: Encoding::whole(bytes),
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

    /// The value's encoding (what follows the header in a file).
    pub(crate) fn encoding(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The payload of type `type_name` written by build `build` whose encoding is
    /// `bytes`, a part of this payload's encoding (a node's result that a cluster
    /// task's output holds, decoded with [`decode_borrowed`](Self::decode_borrowed)):
    /// it shares this payload's buffer, no copy of it. Refused as
    /// [`from_bytes`](Self::from_bytes) refuses a value of another build.
    pub(crate) fn within(
        &self,
        type_name: String,
        build: u64,
        bytes: &[u8],
    ) -> Result<Payload, RemoteError> {
        check_build(build)?;
        let outer = self.bytes.as_slice();
        // Where `bytes` lies in `outer`, by address: a slice borrowed from it.
        let start = (bytes.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
        if start > outer.len() || bytes.len() > outer.len() - start {
            return Err(RemoteError::Protocol(String::from(
                "a value that is not part of its cluster task's output",
            )));
        }
        let start = self.bytes.range.start + start;
        Ok(Payload {
            type_name,
            build,
            bytes: Encoding {
                buffer: self.bytes.buffer.clone(),
                range: start..start + bytes.len(),
            },
        })
    }

    /// The header: the magic, the build id, the type name (see the module's docs).
    fn header(&self) -> Vec<u8> {
        let name = self.type_name.as_bytes();
        // Type names are short; a longer one is cut (it is compared, not parsed).
        let len = name.len().min(u16::MAX as usize);
        let mut out = Vec::with_capacity(4 + 8 + 2 + len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.build.to_le_bytes());
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&name[..len]);
        out
    }

    /// The header and the encoding, as written to a file (a copy of the encoding: to
    /// write it, [`write_to`](Self::write_to) copies nothing).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        out.extend_from_slice(self.bytes.as_slice());
        out
    }

    /// Writes what [`to_bytes`](Self::to_bytes) returns to `out`, from the encoding's
    /// own buffer.
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.header())?;
        out.write_all(self.bytes.as_slice())
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote, refusing a value of another
    /// build ([`RemoteError::StaleBinary`]) or bytes that are not a payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payload, RemoteError> {
        let (type_name, build, start) = read_header(bytes)?;
        Ok(Payload {
            type_name,
            build,
            bytes: Encoding::whole(bytes[start..].to_vec()),
        })
    }

    /// [`from_bytes`](Self::from_bytes), keeping the encoding in `bytes`' own buffer
    /// (what a file was read into): no copy of it.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Payload, RemoteError> {
        let (type_name, build, start) = read_header(&bytes)?;
        let mut bytes = Encoding::whole(bytes);
        bytes.range.start = start;
        Ok(Payload {
            type_name,
            build,
            bytes,
        })
    }
}

/// A payload's header in `bytes`: its type's name, its build (this one's, else
/// [`RemoteError::StaleBinary`]), and where its encoding starts.
fn read_header(bytes: &[u8]) -> Result<(String, u64, usize), RemoteError> {
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
    check_build(build)?;
    Ok((type_name, build, MAGIC.len() + 10 + len))
}

/// [`RemoteError::StaleBinary`] unless `build` is this build.
fn check_build(build: u64) -> Result<(), RemoteError> {
    if build != build_id() {
        return Err(RemoteError::StaleBinary {
            expected: build_id(),
            found: build,
        });
    }
    Ok(())
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
    fn a_payload_written_and_read_shares_its_buffers() {
        let payload = Payload::encode(&vec![7u32; 100]).unwrap();
        let mut written = Vec::new();
        payload.write_to(&mut written).unwrap();
        assert_eq!(written, payload.to_bytes());
        let read = Payload::from_vec(written).unwrap();
        assert_eq!(read, payload);
        assert_eq!(read.decode::<Vec<u32>>().unwrap(), vec![7; 100]);
        // A part of its encoding (a node's result inside a cluster task's output).
        let outer = Payload::encode(&(1u8, String::from("inner"))).unwrap();
        let part = &outer.encoding()[1..];
        let inner = outer
            .within(std::any::type_name::<String>().to_owned(), build_id(), part)
            .unwrap();
        assert_eq!(inner.decode::<String>().unwrap(), "inner");
        assert!(Arc::ptr_eq(&inner.bytes.buffer, &outer.bytes.buffer));
        // Bytes from elsewhere are refused.
        let elsewhere = vec![0u8; 4];
        assert!(matches!(
            outer.within(String::from("u32"), build_id(), &elsewhere),
            Err(RemoteError::Protocol(_))
        ));
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

    /// A number its own `Serialize` refuses to write (13) and its own `Deserialize`
    /// refuses to read (14), each with a custom error saying why.
    #[derive(Debug, PartialEq)]
    struct Picky(u32);

    impl Serialize for Picky {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            if self.0 == 13 {
                return Err(serde::ser::Error::custom("the reason: 13 is unlucky"));
            }
            serializer.serialize_u32(self.0)
        }
    }

    impl<'de> Deserialize<'de> for Picky {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match u32::deserialize(deserializer)? {
                14 => Err(serde::de::Error::custom("the reason: 14 is taken")),
                n => Ok(Picky(n)),
            }
        }
    }

    /// Where a `Picky` may sit: in a struct, a sequence, a map, an option, an enum.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Holder {
        Plain(Picky),
        Nested {
            name: String,
            items: Vec<Option<Picky>>,
            by_key: std::collections::BTreeMap<u8, (Picky, bool)>,
        },
    }

    #[test]
    fn a_values_own_error_keeps_its_reason() {
        let nested = |n: u32| Holder::Nested {
            name: String::from("n"),
            items: vec![None, Some(Picky(1)), Some(Picky(n))],
            by_key: [(3, (Picky(n + 100), true)), (4, (Picky(n), false))].into(),
        };
        for (value, type_name) in [(Holder::Plain(Picky(13)), "Holder"), (nested(13), "Holder")] {
            let error = Payload::encode(&value).unwrap_err();
            let text = error.to_string();
            assert!(matches!(error, RemoteError::Encode { .. }), "{error:?}");
            assert!(text.contains("the reason: 13 is unlucky"), "{text}");
            assert!(text.contains(type_name), "{text}");
        }
        let error = Payload::encode(&Picky(13)).unwrap_err().to_string();
        assert!(
            error.contains("the reason: 13 is unlucky") && error.contains("Picky"),
            "{error}"
        );

        for value in [Holder::Plain(Picky(14)), nested(14)] {
            let payload = Payload::encode(&value).unwrap();
            let error = payload.decode::<Holder>().unwrap_err();
            let text = error.to_string();
            assert!(matches!(error, RemoteError::Decode { .. }), "{error:?}");
            assert!(text.contains("the reason: 14 is taken"), "{text}");
            assert!(text.contains("Holder"), "{text}");
        }
        // Values that are fine still round trip, and postcard's own errors keep
        // postcard's words.
        let fine = nested(5);
        let payload = Payload::encode(&fine).unwrap();
        assert_eq!(payload.decode::<Holder>().unwrap(), fine);
        let cut = Payload {
            bytes: Encoding::whole(payload.encoding()[..3].to_vec()),
            ..payload
        };
        let error = cut.decode::<Holder>().unwrap_err().to_string();
        assert!(error.contains("end of buffer"), "{error}");
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
