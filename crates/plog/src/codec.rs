//! Bounds-checked little-endian reading and writing, and the 32-bit checksum.
//!
//! Every on-disk structure is read through [`Get`] and written through [`Put`], which
//! return `None` instead of panicking when a field would run past the buffer; the crash
//! path relies on that to never panic.

use xxhash_rust::xxh64::{xxh64, Xxh64};

/// The checksum of every on-disk structure: XXH64 (seed 0) over the concatenation of
/// `parts`, folded to 32 bits (high half XOR low half).
///
/// Why XXH64 and not CRC-32: the kernel computes it in software (the CPU may lack SSE4.2), and under
/// emulation a table-driven CRC costs about as much as everything else an append does, which
/// kept the log at a quarter of the disk's bandwidth. XXH64 reads 8 bytes per step with a few
/// multiplies and detects random corruption and torn writes as well as a 32-bit CRC does
/// (any change passes with probability about 2^-32); Btrfs offers it for the same reason.
pub(crate) fn checksum32(parts: &[&[u8]]) -> u32 {
    // Streamed, not joined into a stack buffer first: under emulation, zeroing and filling
    // such a buffer cost more than the hash itself (a third of an append, sampled).
    let digest = match parts {
        [one] => xxh64(one, 0),
        _ => {
            let mut hasher = Xxh64::new(0);
            for part in parts {
                hasher.update(part);
            }
            hasher.digest()
        }
    };
    (digest >> 32) as u32 ^ digest as u32
}

/// Reads little-endian fields from a byte slice, front to back.
pub(crate) struct Get<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Get<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }

    pub(crate) fn at(&self) -> usize {
        self.at
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.buf.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Some(out)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
}

/// Writes little-endian fields into a byte slice, front to back.
pub(crate) struct Put<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl<'a> Put<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, at: 0 }
    }

    pub(crate) fn at(&self) -> usize {
        self.at
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) -> Option<()> {
        let end = self.at.checked_add(data.len())?;
        self.buf.get_mut(self.at..end)?.copy_from_slice(data);
        self.at = end;
        Some(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Option<()> {
        self.bytes(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Option<()> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Option<()> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Option<()> {
        self.bytes(&v.to_le_bytes())
    }
}

/// The longest prefix of `s` that is at most `max_bytes` long and ends on a character
/// boundary.
pub fn truncate_str(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_the_same_however_long_input_is_split() {
        // Long enough for whole 32-byte stripes, cut inside stripes and at their edges.
        let bytes: alloc::vec::Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        let whole = checksum32(&[&bytes]);
        for (a, b) in [(1, 2), (24, 28), (31, 33), (32, 64), (63, 150), (100, 199), (0, 200)] {
            assert_eq!(checksum32(&[&bytes[..a], &bytes[a..b], &bytes[b..]]), whole, "cut at {a} and {b}");
        }
    }

    #[test]
    fn checksum_is_xxh64_folded_and_split_insensitive() {
        // XXH64("123456789", seed 0) = 0x8cb841db40e6ae83 (the reference implementation's value).
        assert_eq!(checksum32(&[b"123456789"]), 0x8cb8_41db ^ 0x40e6_ae83);
        assert_eq!(checksum32(&[b"1234", b"56789"]), checksum32(&[b"123456789"]));
        assert_ne!(checksum32(&[b"123456789"]), checksum32(&[b"123456780"]));
    }

    #[test]
    fn get_and_put_refuse_to_overrun() {
        let mut buf = [0u8; 10];
        let mut put = Put::new(&mut buf);
        assert_eq!(put.u64(0x0102_0304_0506_0708), Some(()));
        assert_eq!(put.u32(1), None);
        assert_eq!(put.u16(0xAABB), Some(()));
        assert_eq!(put.u8(1), None);
        let mut get = Get::new(&buf);
        assert_eq!(get.u64(), Some(0x0102_0304_0506_0708));
        assert_eq!(get.u32(), None);
        assert_eq!(get.u16(), Some(0xAABB));
        assert_eq!(get.u8(), None);
        assert_eq!(get.bytes(usize::MAX), None);
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_str("héllo", 2), "h");
        assert_eq!(truncate_str("héllo", 3), "hé");
        assert_eq!(truncate_str("abc", 10), "abc");
        assert_eq!(truncate_str("€", 2), "");
    }
}
