//! What tells two builds of a program apart ([`build_id`]): the linker's build id
//! where the executable has one, a hash of the whole file otherwise.
//!
//! Every worker process reads it when it starts. Hashing the whole executable cost
//! each start about 130 ms for a 34 MB debug binary (more for a test binary of 60 MB);
//! the build id note the linker writes (ELF's `NT_GNU_BUILD_ID`, itself a hash of the
//! output, made by default where GCC drives the link, as on Debian and Fedora) is a
//! read of a few KiB.

use std::fs::File;
use std::hash::Hasher;
use std::io::{Read, Seek, SeekFrom};
use std::sync::OnceLock;

/// This program's build id: the linker's build id note of its executable, or, without
/// one, a hash of the whole file; read once per process. Every process started from
/// the same file agrees on it; a rebuilt binary does not.
pub fn build_id() -> u64 {
    static ID: OnceLock<u64> = OnceLock::new();
    *ID.get_or_init(|| {
        let id =
            std::env::current_exe()
                .and_then(File::open)
                .and_then(|mut file| match gnu_build_id(&mut file) {
                    Some(note) => Ok(hash_of(b"gnu build id", &note)),
                    None => file.rewind().and_then(|()| hash_of_file(&mut file)),
                });
        // Without a readable executable there is nothing to tell builds apart by:
        // the version at least.
        id.unwrap_or_else(|_| hash_of(b"version", env!("CARGO_PKG_VERSION").as_bytes()))
    })
}

/// A hash of `bytes`, told apart by `what` from hashes of other things.
fn hash_of(what: &[u8], bytes: &[u8]) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(what);
    hasher.write(bytes);
    hasher.finish()
}

/// A hash of the whole of `file`, from where it is read.
fn hash_of_file(file: &mut File) -> std::io::Result<u64> {
    let mut hasher = rustc_hash::FxHasher::default();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.write(&buffer[..n]);
    }
}

/// The most bytes of program headers, or of one note segment, read: real ones are a
/// few hundred bytes; more is not an executable worth trusting.
const MOST: u64 = 1 << 16;

/// ELF's program header type of a segment of notes.
const PT_NOTE: u32 = 4;

/// The note type of the linker's build id (in notes named `GNU`).
const NT_GNU_BUILD_ID: u32 = 3;

/// The linker's build id of the ELF executable `file`: the descriptor of its
/// `NT_GNU_BUILD_ID` note, found through its program headers. `None` for a file that
/// is not ELF, has no such note, or is cut short.
pub(crate) fn gnu_build_id<R: Read + Seek>(file: &mut R) -> Option<Vec<u8>> {
    let mut header = [0u8; 64];
    file.read_exact(&mut header[..52]).ok()?;
    if &header[..4] != b"\x7fELF" {
        return None;
    }
    let wide = match header[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let read = Fields {
        little: match header[5] {
            1 => true,
            2 => false,
            _ => return None,
        },
    };
    if wide {
        file.read_exact(&mut header[52..]).ok()?;
    }
    // Where the program headers are, how large each is, how many.
    let (at, size, count) = if wide {
        (
            read.u64(&header, 32)?,
            read.u16(&header, 54)?,
            read.u16(&header, 56)?,
        )
    } else {
        (
            u64::from(read.u32(&header, 28)?),
            read.u16(&header, 42)?,
            read.u16(&header, 44)?,
        )
    };
    let table = read_at(file, at, u64::from(size) * u64::from(count))?;
    for entry in table.chunks_exact(usize::from(size).max(1)) {
        if read.u32(entry, 0)? != PT_NOTE {
            continue;
        }
        // The segment's place in the file, its size and alignment (which its notes'
        // fields are padded to: 4, or 8 in a segment aligned so).
        let (offset, length, align) = if wide {
            (
                read.u64(entry, 8)?,
                read.u64(entry, 32)?,
                read.u64(entry, 48)?,
            )
        } else {
            (
                u64::from(read.u32(entry, 4)?),
                u64::from(read.u32(entry, 16)?),
                u64::from(read.u32(entry, 28)?),
            )
        };
        let notes = read_at(file, offset, length)?;
        if let Some(id) = build_id_note(&notes, &read, if align == 8 { 8 } else { 4 }) {
            return Some(id);
        }
    }
    None
}

/// The descriptor of the `GNU` note of type [`NT_GNU_BUILD_ID`] among `notes`, whose
/// names and descriptors are padded to `align` bytes.
fn build_id_note(notes: &[u8], read: &Fields, align: usize) -> Option<Vec<u8>> {
    let padded = |n: usize| n.checked_add(align - 1).map(|n| n / align * align);
    let mut rest = notes;
    while rest.len() >= 12 {
        let name_size = read.u32(rest, 0)? as usize;
        let desc_size = read.u32(rest, 4)? as usize;
        let kind = read.u32(rest, 8)?;
        let desc_at = 12usize.checked_add(padded(name_size)?)?;
        let end = desc_at.checked_add(padded(desc_size)?)?;
        let name = rest.get(12..12 + name_size)?;
        let desc = rest.get(desc_at..desc_at + desc_size)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
            return Some(desc.to_vec());
        }
        rest = rest.get(end..)?;
    }
    None
}

/// `length` bytes of `file` from `at`, if there are that many, and at most [`MOST`].
fn read_at<R: Read + Seek>(file: &mut R, at: u64, length: u64) -> Option<Vec<u8>> {
    if length > MOST {
        return None;
    }
    file.seek(SeekFrom::Start(at)).ok()?;
    let mut bytes = vec![0u8; usize::try_from(length).ok()?];
    file.read_exact(&mut bytes).ok()?;
    Some(bytes)
}

/// Reads an ELF file's fields in its byte order.
struct Fields {
    little: bool,
}

impl Fields {
    /// `N` bytes at `at`, little-endian first.
    fn bytes<const N: usize>(&self, bytes: &[u8], at: usize) -> Option<[u8; N]> {
        let mut b: [u8; N] = bytes.get(at..at.checked_add(N)?)?.try_into().ok()?;
        if !self.little {
            b.reverse();
        }
        Some(b)
    }

    fn u16(&self, bytes: &[u8], at: usize) -> Option<u16> {
        self.bytes(bytes, at).map(u16::from_le_bytes)
    }

    fn u32(&self, bytes: &[u8], at: usize) -> Option<u32> {
        self.bytes(bytes, at).map(u32::from_le_bytes)
    }

    fn u64(&self, bytes: &[u8], at: usize) -> Option<u64> {
        self.bytes(bytes, at).map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A 64-bit little-endian ELF file whose program headers hold `segments`, each a
    /// note segment of `notes` aligned to `align`.
    fn elf64(segments: &[(&[u8], u64)]) -> Vec<u8> {
        let mut file = vec![0u8; 64];
        file[..4].copy_from_slice(b"\x7fELF");
        file[4] = 2;
        file[5] = 1;
        let table_at = 64u64;
        let table_len = 56 * segments.len();
        file[32..40].copy_from_slice(&table_at.to_le_bytes());
        file[54..56].copy_from_slice(&56u16.to_le_bytes());
        file[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let mut data_at = 64 + table_len;
        let mut table = Vec::new();
        let mut data = Vec::new();
        for (notes, align) in segments {
            let mut entry = vec![0u8; 56];
            entry[..4].copy_from_slice(&PT_NOTE.to_le_bytes());
            entry[8..16].copy_from_slice(&(data_at as u64).to_le_bytes());
            entry[32..40].copy_from_slice(&(notes.len() as u64).to_le_bytes());
            entry[48..56].copy_from_slice(&align.to_le_bytes());
            table.extend_from_slice(&entry);
            data.extend_from_slice(notes);
            data_at += notes.len();
        }
        file.extend_from_slice(&table);
        file.extend_from_slice(&data);
        file
    }

    /// One note, its fields padded to `align`.
    fn note(name: &[u8], kind: u32, desc: &[u8], align: usize) -> Vec<u8> {
        let pad = |v: &mut Vec<u8>| v.resize(v.len().div_ceil(align) * align, 0);
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name);
        pad(&mut n);
        n.extend_from_slice(desc);
        pad(&mut n);
        n
    }

    #[test]
    fn the_build_id_note_is_found_past_other_notes_and_segments() {
        // A property note (type 5) in a segment of its own, aligned to 8, as GNU ld
        // writes it; then an ABI tag (type 1) before the build id.
        let property = note(b"GNU\0", 5, &[1, 2, 3, 4, 5, 6, 7, 8], 8);
        let mut notes = note(b"GNU\0", 1, &[0, 0, 0, 0, 3, 0, 0, 0], 4);
        notes.extend(note(b"GNU\0", NT_GNU_BUILD_ID, &[0xab; 20], 4));
        let file = elf64(&[(&property, 8), (&notes, 4)]);
        assert_eq!(gnu_build_id(&mut Cursor::new(file)), Some(vec![0xab; 20]));
    }

    #[test]
    fn files_without_the_note_or_cut_short_have_no_build_id() {
        // Not ELF at all.
        assert_eq!(
            gnu_build_id(&mut Cursor::new(b"#!/bin/sh\n".to_vec())),
            None
        );
        // Notes of another owner with the build id's type.
        let other = note(b"Go\0\0", NT_GNU_BUILD_ID, &[7; 16], 4);
        assert_eq!(gnu_build_id(&mut Cursor::new(elf64(&[(&other, 4)]))), None);
        // A note whose descriptor runs past its segment.
        let mut cut = note(b"GNU\0", NT_GNU_BUILD_ID, &[0xab; 20], 4);
        cut.truncate(cut.len() - 8);
        assert_eq!(gnu_build_id(&mut Cursor::new(elf64(&[(&cut, 4)]))), None);
        // Program headers past the end of the file.
        let mut file = elf64(&[(&note(b"GNU\0", NT_GNU_BUILD_ID, &[1; 20], 4), 4)]);
        file.truncate(100);
        assert_eq!(gnu_build_id(&mut Cursor::new(file)), None);
    }

    #[test]
    fn this_build_is_told_apart_by_its_linkers_note_where_it_has_one() {
        let exe = std::env::current_exe().unwrap();
        let note = gnu_build_id(&mut File::open(&exe).unwrap());
        let expected = match &note {
            Some(note) => hash_of(b"gnu build id", note),
            None => hash_of_file(&mut File::open(&exe).unwrap()).unwrap(),
        };
        assert_eq!(build_id(), expected);
    }

    #[test]
    fn a_32_bit_big_endian_file_is_read_in_its_own_layout() {
        let mut notes = Vec::new();
        for (name, kind, desc) in [
            (&b"GNU\0"[..], 1u32, &[0u8; 4][..]),
            (b"GNU\0", 3, &[0xcd; 8]),
        ] {
            notes.extend_from_slice(&(name.len() as u32).to_be_bytes());
            notes.extend_from_slice(&(desc.len() as u32).to_be_bytes());
            notes.extend_from_slice(&kind.to_be_bytes());
            notes.extend_from_slice(name);
            notes.extend_from_slice(desc);
        }
        let mut file = vec![0u8; 52];
        file[..4].copy_from_slice(b"\x7fELF");
        file[4] = 1;
        file[5] = 2;
        file[28..32].copy_from_slice(&52u32.to_be_bytes());
        file[42..44].copy_from_slice(&32u16.to_be_bytes());
        file[44..46].copy_from_slice(&1u16.to_be_bytes());
        let mut entry = vec![0u8; 32];
        entry[..4].copy_from_slice(&PT_NOTE.to_be_bytes());
        entry[4..8].copy_from_slice(&84u32.to_be_bytes());
        entry[16..20].copy_from_slice(&(notes.len() as u32).to_be_bytes());
        entry[28..32].copy_from_slice(&4u32.to_be_bytes());
        file.extend_from_slice(&entry);
        file.extend_from_slice(&notes);
        assert_eq!(gnu_build_id(&mut Cursor::new(file)), Some(vec![0xcd; 8]));
    }
}
