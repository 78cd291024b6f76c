//! The weights blob: a small container of tagged sections behind a checked header.
//!
//! Layout (all integers little-endian):
//! ```text
//! 0   magic            8 bytes  "RAYOSI2\0"
//! 8   version          u32      FORMAT_VERSION
//! 12  section_count    u32
//! 16  total_len_bytes  u64      length of the whole blob
//! 24  checksum         u64      FNV-1a 64 of bytes [32, total_len_bytes)
//! 32  section table    section_count x (tag [u8; 4], offset u32, len u32)
//! ..  section bodies   at the offsets named in the table
//! ```
//! The checksum covers the table and every body, so a flipped bit anywhere is caught before
//! any section is interpreted.

use alloc::vec::Vec;
use core::fmt;

/// The first eight bytes of every blob.
pub const MAGIC: [u8; 8] = *b"RAYOSI2\0";
/// The layout version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 32;
const TABLE_ENTRY_BYTES: usize = 12;

/// Why a weights blob was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Shorter than the fixed header.
    TooShort { len_bytes: usize },
    /// The first bytes are not [`MAGIC`]: this is not a RayOS intent weights file.
    BadMagic,
    /// Written by a newer or older tool.
    UnsupportedVersion { found: u32, supported: u32 },
    /// The header's length does not match the bytes given (truncated or padded file).
    LengthMismatch { header_bytes: u64, actual_bytes: usize },
    /// The content does not match the checksum (corrupted file).
    ChecksumMismatch { stored: u64, computed: u64 },
    /// A section points outside the blob.
    SectionOutOfBounds { tag: [u8; 4] },
    /// A required section is absent.
    MissingSection { tag: [u8; 4] },
    /// A section's content is inconsistent.
    Malformed { tag: [u8; 4], what: &'static str },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = |t: &[u8; 4]| {
            core::str::from_utf8(t).unwrap_or("????").chars().collect::<alloc::string::String>()
        };
        match self {
            LoadError::TooShort { len_bytes } => {
                write!(f, "intent weights are {len_bytes} bytes, shorter than the header; rebuild them with `rayos-intent-train`")
            }
            LoadError::BadMagic => write!(f, "not a RayOS intent weights file (bad magic)"),
            LoadError::UnsupportedVersion { found, supported } => write!(
                f,
                "intent weights format version {found} is not supported (this engine reads {supported}); retrain with the matching tool"
            ),
            LoadError::LengthMismatch { header_bytes, actual_bytes } => write!(
                f,
                "intent weights truncated or padded: header says {header_bytes} bytes, got {actual_bytes}"
            ),
            LoadError::ChecksumMismatch { stored, computed } => write!(
                f,
                "intent weights corrupted: checksum {computed:#018x} does not match stored {stored:#018x}"
            ),
            LoadError::SectionOutOfBounds { tag: t } => {
                write!(f, "intent weights section {} points outside the file", tag(t))
            }
            LoadError::MissingSection { tag: t } => {
                write!(f, "intent weights lack the required section {}", tag(t))
            }
            LoadError::Malformed { tag: t, what } => {
                write!(f, "intent weights section {} is malformed: {what}", tag(t))
            }
        }
    }
}

/// FNV-1a, 64 bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_of(bytes.iter().copied())
}

/// [`fnv1a64`] of bytes that need not lie in one slice (two words as one, unbuilt).
pub fn fnv1a64_of(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Writes a blob from tagged sections, in the given order.
pub fn encode(sections: &[([u8; 4], &[u8])]) -> Vec<u8> {
    let table_bytes = sections.len() * TABLE_ENTRY_BYTES;
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 16]);
    let mut offset = HEADER_BYTES + table_bytes;
    for (tag, body) in sections {
        offset = align4(offset);
        out.extend_from_slice(tag);
        out.extend_from_slice(&(offset as u32).to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        offset += body.len();
    }
    for (_, body) in sections {
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(body);
    }
    let total = out.len() as u64;
    out[16..24].copy_from_slice(&total.to_le_bytes());
    let checksum = fnv1a64(&out[HEADER_BYTES..]);
    out[24..32].copy_from_slice(&checksum.to_le_bytes());
    out
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A validated blob: the header and checksum were checked, sections are in bounds.
pub struct Blob<'a> {
    bytes: &'a [u8],
    table: Vec<([u8; 4], usize, usize)>,
}

impl<'a> Blob<'a> {
    /// Checks magic, version, length, checksum and section bounds.
    pub fn parse(bytes: &'a [u8]) -> Result<Blob<'a>, LoadError> {
        if bytes.len() < HEADER_BYTES {
            return Err(LoadError::TooShort { len_bytes: bytes.len() });
        }
        if bytes[0..8] != MAGIC {
            return Err(LoadError::BadMagic);
        }
        let version = u32_at(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(LoadError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        let count = u32_at(bytes, 12) as usize;
        let total = u64_at(bytes, 16);
        if total != bytes.len() as u64 {
            return Err(LoadError::LengthMismatch { header_bytes: total, actual_bytes: bytes.len() });
        }
        let stored = u64_at(bytes, 24);
        let computed = fnv1a64(&bytes[HEADER_BYTES..]);
        if stored != computed {
            return Err(LoadError::ChecksumMismatch { stored, computed });
        }
        let table_end = count
            .checked_mul(TABLE_ENTRY_BYTES)
            .and_then(|n| n.checked_add(HEADER_BYTES))
            .filter(|&end| end <= bytes.len())
            .ok_or(LoadError::Malformed { tag: *b"HEAD", what: "section table larger than the file" })?;
        let mut table = Vec::with_capacity(count);
        for entry in bytes[HEADER_BYTES..table_end].chunks_exact(TABLE_ENTRY_BYTES) {
            let tag = [entry[0], entry[1], entry[2], entry[3]];
            let offset = u32_at(entry, 4) as usize;
            let len = u32_at(entry, 8) as usize;
            match offset.checked_add(len) {
                Some(end) if offset >= table_end && end <= bytes.len() => table.push((tag, offset, len)),
                _ => return Err(LoadError::SectionOutOfBounds { tag }),
            }
        }
        Ok(Blob { bytes, table })
    }

    /// The body of the first section with `tag`.
    pub fn section(&self, tag: [u8; 4]) -> Result<&'a [u8], LoadError> {
        self.table
            .iter()
            .find(|(t, _, _)| *t == tag)
            .map(|&(_, offset, len)| &self.bytes[offset..offset + len])
            .ok_or(LoadError::MissingSection { tag })
    }
}

/// Little-endian reads at fixed positions of a slice the caller has bounds-checked.
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// A bounds-checked little-endian reader over one section body.
pub struct Reader<'a> {
    tag: [u8; 4],
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`, which belong to section `tag` (for error messages).
    pub fn new(tag: [u8; 4], bytes: &'a [u8]) -> Reader<'a> {
        Reader { tag, bytes, at: 0 }
    }

    /// The error for a read past the end.
    pub fn short(&self) -> LoadError {
        LoadError::Malformed { tag: self.tag, what: "section shorter than its declared content" }
    }

    /// Takes the next `len` bytes.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], LoadError> {
        let end =
            self.at.checked_add(len).filter(|&end| end <= self.bytes.len()).ok_or_else(|| self.short())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// Reads a `u16`.
    pub fn u16(&mut self) -> Result<u16, LoadError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// Reads a `u32`.
    pub fn u32(&mut self) -> Result<u32, LoadError> {
        let b = self.take(4)?;
        Ok(u32_at(b, 0))
    }

    /// Reads an `f32`.
    pub fn f32(&mut self) -> Result<f32, LoadError> {
        Ok(f32::from_bits(self.u32()?))
    }

    /// Reads `count` `f32`s; rejects NaN and infinities, which no trained weight may be.
    pub fn f32s(&mut self, count: usize) -> Result<Vec<f32>, LoadError> {
        let len = count.checked_mul(4).ok_or_else(|| self.short())?;
        let bytes = self.take(len)?;
        let mut out = Vec::with_capacity(count);
        for chunk in bytes.chunks_exact(4) {
            let value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if !value.is_finite() {
                return Err(LoadError::Malformed { tag: self.tag, what: "a weight is not a finite number" });
            }
            out.push(value);
        }
        Ok(out)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), LoadError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(LoadError::Malformed { tag: self.tag, what: "trailing bytes after the declared content" })
        }
    }
}

/// Appends little-endian values; the writer side of [`Reader`].
#[derive(Default)]
pub struct Writer {
    /// The bytes written so far.
    pub bytes: Vec<u8>,
}

impl Writer {
    /// Appends a `u16`.
    pub fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a `u32`.
    pub fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends an `f32`.
    pub fn f32(&mut self, v: f32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends `f32`s.
    pub fn f32s(&mut self, values: &[f32]) {
        for &v in values {
            self.f32(v);
        }
    }
}
