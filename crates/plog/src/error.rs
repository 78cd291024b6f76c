//! The error type of the crate.

use core::fmt;
use rayos_block::BlockError;

/// Why a superblock copy was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuperblockProblem {
    /// The copy does not start with the RayOS data magic.
    NoMagic,
    /// The copy's checksum (XXH64 folded to 32 bits) does not match its contents.
    BadCrc {
        /// CRC stored in the copy.
        stored: u32,
        /// CRC computed over it.
        computed: u32,
    },
    /// The copy was written by a newer format version.
    UnsupportedVersion {
        /// Its version.
        version: u32,
    },
    /// The layout it describes is inconsistent.
    BadLayout {
        /// Which rule it breaks.
        reason: &'static str,
    },
}

impl fmt::Display for SuperblockProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoMagic => f.write_str("no RayOS data magic"),
            Self::BadCrc { stored, computed } => {
                write!(f, "checksum (XXH64 folded to 32 bits) mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Self::UnsupportedVersion { version } => {
                write!(f, "format version {version} is newer than this build")
            }
            Self::BadLayout { reason } => write!(f, "inconsistent layout: {reason}"),
        }
    }
}

/// Why an operation on RAYOS-DATA failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlogError {
    /// The device failed a request.
    Device(BlockError),
    /// Neither superblock copy carries the RayOS data magic: the partition is blank or
    /// belongs to something else. Nothing was written.
    NotFormatted,
    /// Both superblock copies are damaged.
    SuperblockDamaged {
        /// Why copy A (sector 0) was refused.
        copy_a: SuperblockProblem,
        /// Why copy B (sector 8) was refused.
        copy_b: SuperblockProblem,
    },
    /// The partition was formatted by a newer RayOS.
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// The partition cannot hold the requested layout.
    PartitionTooSmall {
        /// Sectors available.
        sectors: u64,
        /// Sectors the layout needs.
        needed_sectors: u64,
    },
    /// The partition is smaller than when it was formatted.
    PartitionShrunk {
        /// Size recorded in the superblock.
        recorded_sectors: u64,
        /// Size of the device now.
        actual_sectors: u64,
    },
    /// Format parameters out of range.
    InvalidParams {
        /// Which one and why.
        reason: &'static str,
    },
    /// `end_boot` was called with no boot begun since mount.
    NoBootInProgress,
    /// No crash record with this number is stored (or it was cleared).
    CrashNotFound {
        /// The number asked for.
        crash_seq: u64,
    },
    /// A crash record's commit sector is valid but its body does not decode.
    CrashDamaged {
        /// Slot index.
        slot: u32,
    },
}

impl From<BlockError> for PlogError {
    fn from(e: BlockError) -> Self {
        Self::Device(e)
    }
}

impl fmt::Display for PlogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(e) => write!(f, "RAYOS-DATA: {e}"),
            Self::NotFormatted => f.write_str(
                "RAYOS-DATA holds no RayOS data superblock (blank or foreign partition); nothing was \
                 changed: format it to store logs there",
            ),
            Self::SuperblockDamaged { copy_a, copy_b } => write!(
                f,
                "both RAYOS-DATA superblock copies are damaged (A: {copy_a}; B: {copy_b}); the data \
                 is not trusted: reformat the partition to store logs again"
            ),
            Self::UnsupportedVersion { version } => write!(
                f,
                "RAYOS-DATA was formatted by a newer RayOS (format version {version}); boot that \
                 version or reformat"
            ),
            Self::PartitionTooSmall { sectors, needed_sectors } => write!(
                f,
                "partition of {sectors} sectors is too small: the layout needs {needed_sectors}; give \
                 RAYOS-DATA more space or fewer boot/crash slots"
            ),
            Self::PartitionShrunk { recorded_sectors, actual_sectors } => write!(
                f,
                "RAYOS-DATA was formatted with {recorded_sectors} sectors but now has \
                 {actual_sectors}; the partition was shrunk: reformat it"
            ),
            Self::InvalidParams { reason } => write!(f, "invalid format parameters: {reason}"),
            Self::NoBootInProgress => f.write_str("no boot was begun on this mount; call begin_boot first"),
            Self::CrashNotFound { crash_seq } => {
                write!(f, "no crash record number {crash_seq}; `crash list` shows the stored ones")
            }
            Self::CrashDamaged { slot } => {
                write!(f, "crash slot {slot} passed its checksums but does not decode (format bug?)")
            }
        }
    }
}

impl core::error::Error for PlogError {}
