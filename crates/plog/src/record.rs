//! Log records: what the kernel appends, what queries return, and their encoding inside
//! a log block.

use crate::codec::{checksum32, truncate_str, Get, Put};
use alloc::string::String;
use core::fmt;

/// Longest subsystem name stored, in bytes; longer ones are cut at a character boundary.
pub const MAX_SUBSYSTEM_BYTES: usize = 32;
/// Longest message stored, in bytes; longer ones are cut at a character boundary and the
/// record says so ([`LogRecord::truncated`]).
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Bytes of a record before its subsystem and message.
pub(crate) const RECORD_HEADER_BYTES: usize = 40;
/// Records start on 8-byte boundaries, so a record header never straddles a sector.
pub(crate) const RECORD_ALIGN: usize = 8;
/// The largest encoded record.
pub(crate) const MAX_RECORD_BYTES: usize =
    (RECORD_HEADER_BYTES + MAX_SUBSYSTEM_BYTES + MAX_MESSAGE_BYTES).next_multiple_of(RECORD_ALIGN);

const FLAG_MESSAGE_TRUNCATED: u8 = 1;
const FLAG_SUBSYSTEM_TRUNCATED: u8 = 2;

/// Severity of a record. Lower values are more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something is wrong but the system carries on.
    Warn = 2,
    /// Normal operation worth keeping.
    Info = 3,
    /// Detail for developers.
    Debug = 4,
    /// Very fine detail.
    Trace = 5,
}

impl Level {
    /// All levels, most severe first.
    pub const ALL: [Level; 5] = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];

    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v).checked_sub(1)?).copied()
    }

    /// Lower-case name: `error`, `warn`, `info`, `debug`, `trace`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }

    /// The level named `name` (as [`Self::name`] gives, ASCII case-insensitive; `warning`
    /// is accepted for `warn`).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("warning") {
            return Some(Self::Warn);
        }
        Self::ALL.into_iter().find(|l| l.name().eq_ignore_ascii_case(name))
    }

    /// True when `self` is `min` or more severe.
    pub fn at_least(self, min: Level) -> bool {
        self <= min
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One record to append. The log adds the sequence number and the boot number.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Severity.
    pub level: Level,
    /// Nanoseconds since this boot started.
    pub mono_ns: u64,
    /// Unix seconds (0 when the wall clock is unknown).
    pub wall_s: u64,
    /// Short name of the part of the system speaking (cut to [`MAX_SUBSYSTEM_BYTES`]).
    pub subsystem: &'a str,
    /// The message (cut to [`MAX_MESSAGE_BYTES`]).
    pub message: &'a str,
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Sequence number: strictly increasing across boots.
    pub seq: u64,
    /// Severity.
    pub level: Level,
    /// Nanoseconds since its boot started.
    pub mono_ns: u64,
    /// Unix seconds (0 when unknown).
    pub wall_s: u64,
    /// Boot number it was written in.
    pub boot: u32,
    /// Subsystem name.
    pub subsystem: String,
    /// Message.
    pub message: String,
    /// True when the message or subsystem was cut to fit.
    pub truncated: bool,
}

/// A record as it lies in a block (borrowed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordView<'a> {
    pub seq: u64,
    pub level: Level,
    pub flags: u8,
    pub mono_ns: u64,
    pub wall_s: u64,
    pub boot: u32,
    pub subsystem: &'a str,
    pub message: &'a str,
}

impl RecordView<'_> {
    pub(crate) fn to_owned_record(self) -> LogRecord {
        LogRecord {
            seq: self.seq,
            level: self.level,
            mono_ns: self.mono_ns,
            wall_s: self.wall_s,
            boot: self.boot,
            subsystem: String::from(self.subsystem),
            message: String::from(self.message),
            truncated: self.flags & (FLAG_MESSAGE_TRUNCATED | FLAG_SUBSYSTEM_TRUNCATED) != 0,
        }
    }
}

/// The identity of the block instance a record belongs to; it seeds every record's CRC,
/// so a record left over from another lap, session or format never verifies here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockIdent {
    pub volume_id: u64,
    pub bsn: u64,
    pub session: u64,
}

impl BlockIdent {
    fn seed(&self) -> [u8; 24] {
        let mut seed = [0u8; 24];
        seed[..8].copy_from_slice(&self.volume_id.to_le_bytes());
        seed[8..16].copy_from_slice(&self.bsn.to_le_bytes());
        seed[16..].copy_from_slice(&self.session.to_le_bytes());
        seed
    }
}

/// Encoded size of `entry` (aligned), after truncation.
pub(crate) fn encoded_len(entry: &Entry<'_>) -> usize {
    let sub = truncate_str(entry.subsystem, MAX_SUBSYSTEM_BYTES).len();
    let msg = truncate_str(entry.message, MAX_MESSAGE_BYTES).len();
    (RECORD_HEADER_BYTES + sub + msg).next_multiple_of(RECORD_ALIGN)
}

/// Encodes `entry` at the start of `out` (which must hold [`encoded_len`] bytes, zeroed
/// past the record); returns the aligned length, or `None` if it does not fit.
pub(crate) fn encode(
    out: &mut [u8],
    ident: &BlockIdent,
    seq: u64,
    boot: u32,
    entry: &Entry<'_>,
) -> Option<usize> {
    let sub = truncate_str(entry.subsystem, MAX_SUBSYSTEM_BYTES);
    let msg = truncate_str(entry.message, MAX_MESSAGE_BYTES);
    let len = RECORD_HEADER_BYTES + sub.len() + msg.len();
    let aligned = len.next_multiple_of(RECORD_ALIGN);
    let out = out.get_mut(..aligned)?;
    let mut flags = 0;
    if msg.len() < entry.message.len() {
        flags |= FLAG_MESSAGE_TRUNCATED;
    }
    if sub.len() < entry.subsystem.len() {
        flags |= FLAG_SUBSYSTEM_TRUNCATED;
    }
    let mut put = Put::new(out);
    put.u16(len as u16)?;
    put.u8(entry.level as u8)?;
    put.u8(flags)?;
    put.u32(0)?;
    put.u64(seq)?;
    put.u64(entry.mono_ns)?;
    put.u64(entry.wall_s)?;
    put.u32(boot)?;
    put.u8(sub.len() as u8)?;
    put.u8(0)?;
    put.u16(msg.len() as u16)?;
    put.bytes(sub.as_bytes())?;
    put.bytes(msg.as_bytes())?;
    let crc = checksum32(&[&ident.seed(), &out[..4], &out[8..len]]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    Some(aligned)
}

/// What lies at an offset of a block.
#[derive(Debug)]
pub(crate) enum Slot<'a> {
    /// A verified record and its aligned length.
    Record(RecordView<'a>, usize),
    /// A zero length word: padding to the next sector boundary (or nothing, at a boundary).
    Zero,
    /// Anything else: a torn, damaged or stale record.
    Bad,
}

/// Reads the slot at the start of `bytes` (the rest of the block) under `ident`.
pub(crate) fn decode<'a>(bytes: &'a [u8], ident: &BlockIdent) -> Slot<'a> {
    let Some(len) = bytes.get(..2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))) else {
        return Slot::Bad;
    };
    if len == 0 {
        return Slot::Zero;
    }
    if len < RECORD_HEADER_BYTES {
        return Slot::Bad;
    }
    let aligned = len.next_multiple_of(RECORD_ALIGN);
    let Some(rec) = bytes.get(..aligned) else { return Slot::Bad };
    let stored = u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]);
    if checksum32(&[&ident.seed(), &rec[..4], &rec[8..len]]) != stored {
        return Slot::Bad;
    }
    let parsed = (|| {
        let mut get = Get::new(rec);
        get.u16()?;
        let level = Level::from_u8(get.u8()?)?;
        let flags = get.u8()?;
        get.u32()?;
        let seq = get.u64()?;
        let mono_ns = get.u64()?;
        let wall_s = get.u64()?;
        let boot = get.u32()?;
        let sub_len = usize::from(get.u8()?);
        let reserved = get.u8()?;
        let msg_len = usize::from(get.u16()?);
        if reserved != 0 || RECORD_HEADER_BYTES + sub_len + msg_len != len {
            return None;
        }
        let subsystem = core::str::from_utf8(get.bytes(sub_len)?).ok()?;
        let message = core::str::from_utf8(get.bytes(msg_len)?).ok()?;
        Some(RecordView { seq, level, flags, mono_ns, wall_s, boot, subsystem, message })
    })();
    match parsed {
        Some(view) => Slot::Record(view, aligned),
        None => Slot::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IDENT: BlockIdent = BlockIdent { volume_id: 7, bsn: 3, session: 2 };

    fn entry<'a>(sub: &'a str, msg: &'a str) -> Entry<'a> {
        Entry { level: Level::Warn, mono_ns: 5, wall_s: 6, subsystem: sub, message: msg }
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 256];
        let n = encode(&mut buf, &IDENT, 42, 9, &entry("net", "link up")).unwrap();
        assert_eq!(n, 56);
        assert_eq!(n, encoded_len(&entry("net", "link up")));
        let Slot::Record(view, len) = decode(&buf, &IDENT) else { panic!() };
        assert_eq!(len, n);
        let rec = view.to_owned_record();
        assert_eq!((rec.seq, rec.level, rec.mono_ns, rec.wall_s, rec.boot), (42, Level::Warn, 5, 6, 9));
        assert_eq!((rec.subsystem.as_str(), rec.message.as_str(), rec.truncated), ("net", "link up", false));
    }

    #[test]
    fn another_block_identity_does_not_verify() {
        let mut buf = [0u8; 256];
        encode(&mut buf, &IDENT, 42, 9, &entry("net", "link up")).unwrap();
        for other in [
            BlockIdent { volume_id: 8, ..IDENT },
            BlockIdent { bsn: 3 + 1024, ..IDENT },
            BlockIdent { session: 1, ..IDENT },
        ] {
            assert!(matches!(decode(&buf, &other), Slot::Bad));
        }
    }

    #[test]
    fn long_fields_are_cut_and_flagged() {
        let msg = "é".repeat(MAX_MESSAGE_BYTES);
        let sub = "s".repeat(100);
        let mut buf = [0u8; 2048];
        let n = encode(&mut buf, &IDENT, 1, 1, &entry(&sub, &msg)).unwrap();
        assert!(n <= MAX_RECORD_BYTES);
        let Slot::Record(view, _) = decode(&buf, &IDENT) else { panic!() };
        assert_eq!(view.message.len(), MAX_MESSAGE_BYTES);
        assert_eq!(view.subsystem.len(), MAX_SUBSYSTEM_BYTES);
        assert!(view.to_owned_record().truncated);
    }

    #[test]
    fn does_not_fit_is_none() {
        let mut buf = [0u8; 50];
        assert!(encode(&mut buf, &IDENT, 1, 1, &entry("net", "a message too long for fifty bytes")).is_none());
    }

    #[test]
    fn levels() {
        assert_eq!(Level::from_name("WARNING"), Some(Level::Warn));
        assert_eq!(Level::from_name("Debug"), Some(Level::Debug));
        assert_eq!(Level::from_name("loud"), None);
        assert!(Level::Error.at_least(Level::Warn));
        assert!(!Level::Info.at_least(Level::Warn));
        for l in Level::ALL {
            assert_eq!(Level::from_u8(l as u8), Some(l));
        }
        assert_eq!(Level::from_u8(0), None);
        assert_eq!(Level::from_u8(6), None);
    }

    proptest! {
        #[test]
        fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = decode(&bytes, &IDENT);
        }

        #[test]
        fn any_bit_flip_is_detected(sub in "[a-z]{0,40}", msg in "\\PC{0,300}", bit in 0usize..8 * 400) {
            let mut buf = [0u8; 2048];
            let n = encode(&mut buf, &IDENT, 77, 3, &entry(&sub, &msg)).unwrap();
            let len = usize::from(u16::from_le_bytes([buf[0], buf[1]]));
            let bit = bit % (8 * len);
            buf[bit / 8] ^= 1 << (bit % 8);
            match decode(&buf, &IDENT) {
                Slot::Record(..) => prop_assert!(false, "flipped bit {} of {} accepted", bit, n),
                Slot::Zero | Slot::Bad => {}
            }
        }
    }
}
