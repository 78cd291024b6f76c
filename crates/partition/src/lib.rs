//! GUID Partition Table reading and writing for RayOS.
//!
//! [`read_gpt`] finds the partitions of a disk: it reads the primary header (LBA 1) and its
//! partition entry array, checks both CRC32s and every field that locates something, and
//! falls back to the backup header (normally the last LBA) when the primary is damaged,
//! saying so in [`Gpt::primary_problem`]. [`write_gpt`] lays down a protective MBR and both
//! copies of a fresh table; the image builder and the tests use it.
//!
//! The structures come from `gpt_disk_types` (Google's `no_std` GPT types, with its
//! `bytemuck` feature for safe byte views). Two checks are done here rather than through it:
//! the header CRC is computed over `header_size` bytes as the UEFI specification says
//! (the crate hashes only the 92 bytes it knows), and partition names are decoded as
//! UTF-16 (the crate decodes UCS-2).
//!
//! This crate does not repair tables, resize partitions or read file systems.
//!
//! # Invariants
//! - A [`Gpt`] is only ever built from a header whose signature, revision, size and CRC32
//!   are right, whose `my_lba` is where it was read, and whose entry array lies on the disk,
//!   outside the usable range, and matches its CRC32. A damaged table is an error saying
//!   which check failed, never a partial answer.
//! - Every partition in a [`Gpt`] lies inside the header's usable range, ends at or after
//!   its start, and overlaps no other partition.
//! - The entry array read is bounded by [`MAX_ENTRY_ARRAY_BYTES`], whatever the header says.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use gpt_disk_types::crc::{Crc, CRC_32_ISO_HDLC};
pub use gpt_disk_types::{guid, Guid};
use gpt_disk_types::{
    Crc32, GptHeader, GptHeaderRevision, GptHeaderSignature, GptPartitionAttributes, GptPartitionEntry,
    GptPartitionName, GptPartitionType, LbaLe, MasterBootRecord, U32Le, U64Le,
};
use rayos_block::{BlockDevice, BlockError, SECTOR_BYTES};

/// Partition type of RAYOS-DATA, the partition that holds RayOS's persistent state
/// (stored on disk in GPT's mixed-endian GUID layout, like every GPT GUID).
pub const RAYOS_DATA_TYPE: Guid = guid!("5a7c0e4e-9b71-4d1e-8c3f-2b6d52415953");
/// Partition name the image builder gives RAYOS-DATA.
pub const RAYOS_DATA_NAME: &str = "RAYOS-DATA";
/// Partition type of an EFI system partition.
pub const EFI_SYSTEM_TYPE: Guid = guid!("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");

/// Largest partition entry array this reader accepts (1 MiB; the usual one is 16 KiB).
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 1 << 20;
/// Largest partition entry size this reader accepts (the usual one is 128).
pub const MAX_ENTRY_BYTES: u32 = 4096;
/// Entries [`write_gpt`] reserves room for.
pub const WRITTEN_ENTRY_COUNT: u32 = 128;
/// Entry size [`write_gpt`] uses.
pub const WRITTEN_ENTRY_BYTES: u32 = 128;
/// Longest partition name, in UTF-16 code units.
pub const MAX_NAME_UNITS: usize = 36;

const HEADER_STRUCT_BYTES: usize = 92;
const ENTRY_STRUCT_BYTES: usize = 128;
const ENTRY_ARRAY_SECTORS: u64 = (WRITTEN_ENTRY_COUNT * WRITTEN_ENTRY_BYTES) as u64 / SECTOR_BYTES as u64;

fn crc32(parts: &[&[u8]]) -> u32 {
    let crc = Crc::<u32>::new(&CRC_32_ISO_HDLC);
    let mut digest = crc.digest();
    for part in parts {
        digest.update(part);
    }
    digest.finalize()
}

/// Which of the two GPT headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// The header at LBA 1.
    Primary,
    /// The header at the end of the disk.
    Backup,
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Primary => "primary",
            Self::Backup => "backup",
        })
    }
}

/// What is wrong with one GPT header or its entry array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The sector does not start with `EFI PART`.
    BadSignature {
        /// The first 8 bytes, little-endian.
        found: u64,
    },
    /// The revision's major version is not 1.
    UnsupportedRevision {
        /// The revision field.
        revision: u32,
    },
    /// `header_size` is below 92 or above a sector.
    BadHeaderSize {
        /// The field.
        bytes: u32,
    },
    /// The header's CRC32 does not match its contents.
    HeaderCrcMismatch {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over the header.
        computed: u32,
    },
    /// `my_lba` is not the LBA the header was read from.
    WrongMyLba {
        /// The field.
        found: u64,
    },
    /// The usable range is empty or reaches past the disk.
    BadUsableRange {
        /// `first_usable_lba`.
        first: u64,
        /// `last_usable_lba`.
        last: u64,
    },
    /// The entry size is not a power of two between 128 and [`MAX_ENTRY_BYTES`].
    BadEntrySize {
        /// The field.
        bytes: u32,
    },
    /// The entry array would be larger than [`MAX_ENTRY_ARRAY_BYTES`].
    EntryArrayTooLarge {
        /// Number of entries.
        entries: u32,
        /// Bytes per entry.
        entry_bytes: u32,
    },
    /// The entry array is off the disk, covers a header, or overlaps the usable range.
    EntryArrayOutOfRange {
        /// First LBA of the array.
        start_lba: u64,
        /// Sectors it spans.
        sectors: u64,
    },
    /// The entry array's CRC32 does not match the header's field.
    EntryArrayCrcMismatch {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over the array.
        computed: u32,
    },
    /// A used entry ends before it starts or lies outside the usable range.
    PartitionOutOfRange {
        /// Zero-based entry index.
        index: u32,
        /// Its first LBA.
        first_lba: u64,
        /// Its last LBA.
        last_lba: u64,
    },
    /// Two used entries share sectors.
    PartitionsOverlap {
        /// Entry index of one.
        first: u32,
        /// Entry index of the other.
        second: u32,
    },
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadSignature { found } => {
                write!(f, "no `EFI PART` signature (found {found:#018x}): the disk is not GPT-partitioned")
            }
            Self::UnsupportedRevision { revision } => {
                write!(f, "unsupported header revision {revision:#010x} (only 1.x is understood)")
            }
            Self::BadHeaderSize { bytes } => {
                write!(f, "header_size {bytes} is outside 92..={SECTOR_BYTES}")
            }
            Self::HeaderCrcMismatch { stored, computed } => {
                write!(f, "header CRC32 mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Self::WrongMyLba { found } => write!(f, "my_lba field says {found}, not where the header lies"),
            Self::BadUsableRange { first, last } => {
                write!(f, "usable range {first}..={last} is empty or off the disk")
            }
            Self::BadEntrySize { bytes } => write!(
                f,
                "partition entry size {bytes} is not a power of two in 128..={MAX_ENTRY_BYTES}"
            ),
            Self::EntryArrayTooLarge { entries, entry_bytes } => write!(
                f,
                "entry array of {entries} x {entry_bytes} bytes exceeds the {MAX_ENTRY_ARRAY_BYTES}-byte limit"
            ),
            Self::EntryArrayOutOfRange { start_lba, sectors } => write!(
                f,
                "entry array at LBA {start_lba} ({sectors} sectors) is off the disk or overlaps a header \
                 or the usable range"
            ),
            Self::EntryArrayCrcMismatch { stored, computed } => write!(
                f,
                "partition entry array CRC32 mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Self::PartitionOutOfRange { index, first_lba, last_lba } => write!(
                f,
                "partition entry {index} spans LBA {first_lba}..={last_lba}, outside the usable range"
            ),
            Self::PartitionsOverlap { first, second } => {
                write!(f, "partition entries {first} and {second} overlap")
            }
        }
    }
}

/// Why a GPT could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GptError {
    /// The device failed a request.
    Device(BlockError),
    /// The disk is too small to hold a GPT.
    DiskTooSmall {
        /// Its size in sectors.
        sectors: u64,
    },
    /// One header (or its entry array) failed a check.
    Header {
        /// Which header.
        header: HeaderKind,
        /// Where it was read.
        lba: u64,
        /// The check that failed.
        problem: HeaderProblem,
    },
    /// Neither header is usable.
    BothHeadersInvalid {
        /// Why the primary was refused.
        primary: Box<GptError>,
        /// Why the backup was refused.
        backup: Box<GptError>,
    },
    /// [`write_gpt`] was asked for a layout that cannot be written.
    InvalidLayout {
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl From<BlockError> for GptError {
    fn from(e: BlockError) -> Self {
        Self::Device(e)
    }
}

impl GptError {
    /// Whether the disk simply has no GPT: neither header carries the `EFI PART` signature
    /// (a blank disk, or an MBR or foreign layout), as opposed to a GPT that is damaged.
    pub fn is_unpartitioned(&self) -> bool {
        let unsigned =
            |e: &GptError| matches!(e, GptError::Header { problem: HeaderProblem::BadSignature { .. }, .. });
        matches!(self, Self::BothHeadersInvalid { primary, backup } if unsigned(primary) && unsigned(backup))
    }
}

impl fmt::Display for GptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(e) => write!(f, "reading the partition table: {e}"),
            Self::DiskTooSmall { sectors } => {
                write!(f, "disk of {sectors} sectors is too small to hold a GPT")
            }
            Self::Header { header, lba, problem } => {
                write!(f, "{header} GPT header at LBA {lba}: {problem}")
            }
            Self::BothHeadersInvalid { .. } if self.is_unpartitioned() => f.write_str(
                "no GPT partition table (a blank disk, or one partitioned some other way); \
                 nothing on it is used",
            ),
            Self::BothHeadersInvalid { primary, backup } => write!(
                f,
                "the partition table is damaged beyond use ({primary}; {backup}); the disk's \
                 partitions are not trusted: rewrite the disk image"
            ),
            Self::InvalidLayout { reason } => write!(f, "cannot write this partition table: {reason}"),
        }
    }
}

impl core::error::Error for GptError {}

/// One used entry of a partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptPartitionInfo {
    /// Zero-based index in the entry array.
    pub index: u32,
    /// Partition type.
    pub type_guid: Guid,
    /// This partition's own GUID.
    pub unique_guid: Guid,
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// Name, decoded from UTF-16 (unpaired surrogates become U+FFFD).
    pub name: String,
}

impl GptPartitionInfo {
    /// Number of sectors.
    pub fn sector_count(&self) -> u64 {
        self.last_lba - self.first_lba + 1
    }
}

/// A validated partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    /// The disk's GUID.
    pub disk_guid: Guid,
    /// First sector partitions may use.
    pub first_usable_lba: u64,
    /// Last sector partitions may use.
    pub last_usable_lba: u64,
    /// The header the partitions were taken from.
    pub header_used: HeaderKind,
    /// Why the primary header was not used, if it was not.
    pub primary_problem: Option<GptError>,
    /// What is wrong with the backup header, if anything (also reported when the primary
    /// was used).
    pub backup_problem: Option<GptError>,
    partitions: Vec<GptPartitionInfo>,
}

impl Gpt {
    /// Used entries, in entry-array order.
    pub fn partitions(&self) -> &[GptPartitionInfo] {
        &self.partitions
    }

    /// The first partition of type `type_guid`, if any.
    pub fn find_by_type(&self, type_guid: Guid) -> Option<&GptPartitionInfo> {
        self.partitions.iter().find(|p| p.type_guid == type_guid)
    }

    /// True when one of the two headers could not be used.
    pub fn is_degraded(&self) -> bool {
        self.primary_problem.is_some() || self.backup_problem.is_some()
    }
}

/// Reads and validates the partition table of `dev`.
///
/// The primary header is preferred; if it or its entry array fails a check, the backup at
/// the last LBA is used and the primary's failure is kept in [`Gpt::primary_problem`].
pub fn read_gpt<D: BlockDevice + ?Sized>(dev: &mut D) -> Result<Gpt, GptError> {
    let sectors = dev.sector_count();
    if sectors < 4 {
        return Err(GptError::DiskTooSmall { sectors });
    }
    let last = sectors - 1;
    match read_table(dev, 1, HeaderKind::Primary, sectors) {
        Ok(mut gpt) => {
            let backup_lba =
                if gpt.alternate_lba > 1 && gpt.alternate_lba < sectors { gpt.alternate_lba } else { last };
            gpt.table.backup_problem = read_table(dev, backup_lba, HeaderKind::Backup, sectors).err();
            Ok(gpt.table)
        }
        Err(GptError::Device(e)) => Err(GptError::Device(e)),
        Err(primary) => match read_table(dev, last, HeaderKind::Backup, sectors) {
            Ok(mut gpt) => {
                gpt.table.primary_problem = Some(primary);
                Ok(gpt.table)
            }
            Err(GptError::Device(e)) => Err(GptError::Device(e)),
            Err(backup) => {
                Err(GptError::BothHeadersInvalid { primary: Box::new(primary), backup: Box::new(backup) })
            }
        },
    }
}

struct ReadTable {
    table: Gpt,
    alternate_lba: u64,
}

fn read_table<D: BlockDevice + ?Sized>(
    dev: &mut D,
    lba: u64,
    kind: HeaderKind,
    disk_sectors: u64,
) -> Result<ReadTable, GptError> {
    let fail = |problem| GptError::Header { header: kind, lba, problem };
    let mut sector = [0u8; SECTOR_BYTES];
    dev.read_sectors(lba, &mut sector)?;
    let header: GptHeader = bytemuck::pod_read_unaligned(&sector[..HEADER_STRUCT_BYTES]);

    if !header.is_signature_valid() {
        return Err(fail(HeaderProblem::BadSignature { found: header.signature.to_u64() }));
    }
    let revision = header.revision.0.to_u32();
    if revision >> 16 != 1 {
        return Err(fail(HeaderProblem::UnsupportedRevision { revision }));
    }
    let header_bytes = header.header_size.to_u32();
    if !(HEADER_STRUCT_BYTES as u32..=SECTOR_BYTES as u32).contains(&header_bytes) {
        return Err(fail(HeaderProblem::BadHeaderSize { bytes: header_bytes }));
    }
    let stored = header.header_crc32.0.to_u32();
    let computed = crc32(&[&sector[..16], &[0; 4], &sector[20..header_bytes as usize]]);
    if stored != computed {
        return Err(fail(HeaderProblem::HeaderCrcMismatch { stored, computed }));
    }
    let my_lba = header.my_lba.to_u64();
    if my_lba != lba {
        return Err(fail(HeaderProblem::WrongMyLba { found: my_lba }));
    }
    let first_usable = header.first_usable_lba.to_u64();
    let last_usable = header.last_usable_lba.to_u64();
    if first_usable < 2 || first_usable > last_usable || last_usable >= disk_sectors - 1 {
        return Err(fail(HeaderProblem::BadUsableRange { first: first_usable, last: last_usable }));
    }
    let entry_bytes = header.size_of_partition_entry.to_u32();
    if !entry_bytes.is_power_of_two() || !(128..=MAX_ENTRY_BYTES).contains(&entry_bytes) {
        return Err(fail(HeaderProblem::BadEntrySize { bytes: entry_bytes }));
    }
    let entries = header.number_of_partition_entries.to_u32();
    let array_bytes = u64::from(entries) * u64::from(entry_bytes);
    if array_bytes > MAX_ENTRY_ARRAY_BYTES {
        return Err(fail(HeaderProblem::EntryArrayTooLarge { entries, entry_bytes }));
    }
    let array_sectors = array_bytes.div_ceil(SECTOR_BYTES as u64);
    let array_start = header.partition_entry_lba.to_u64();
    let array_ok = match array_start.checked_add(array_sectors) {
        // The array lies on the disk after the MBR, does not cover this header, and is
        // wholly before or after the usable range.
        Some(array_end) => {
            array_start >= 1
                && array_end <= disk_sectors
                && (array_end <= lba || array_start > lba)
                && (array_end <= first_usable || array_start > last_usable)
        }
        None => false,
    };
    if !array_ok {
        return Err(fail(HeaderProblem::EntryArrayOutOfRange {
            start_lba: array_start,
            sectors: array_sectors,
        }));
    }
    let mut array = vec![0u8; (array_sectors as usize) * SECTOR_BYTES];
    dev.read_sectors(array_start, &mut array)?;
    let array = &array[..array_bytes as usize];
    let stored = header.partition_entry_array_crc32.0.to_u32();
    let computed = crc32(&[array]);
    if stored != computed {
        return Err(fail(HeaderProblem::EntryArrayCrcMismatch { stored, computed }));
    }

    let mut partitions = Vec::new();
    for (index, raw) in array.chunks_exact(entry_bytes as usize).enumerate() {
        let index = index as u32;
        let entry: GptPartitionEntry = bytemuck::pod_read_unaligned(&raw[..ENTRY_STRUCT_BYTES]);
        if !entry.is_used() {
            continue;
        }
        let first_lba = entry.starting_lba.to_u64();
        let last_lba = entry.ending_lba.to_u64();
        if first_lba > last_lba || first_lba < first_usable || last_lba > last_usable {
            return Err(fail(HeaderProblem::PartitionOutOfRange { index, first_lba, last_lba }));
        }
        partitions.push(GptPartitionInfo {
            index,
            type_guid: entry.partition_type_guid.0,
            unique_guid: entry.unique_partition_guid,
            first_lba,
            last_lba,
            attributes: entry.attributes.0.to_u64(),
            name: decode_name(&entry.name),
        });
    }
    if let Some((first, second)) = find_overlap(partitions.iter().map(|p| (p.index, p.first_lba, p.last_lba)))
    {
        return Err(fail(HeaderProblem::PartitionsOverlap { first, second }));
    }

    Ok(ReadTable {
        table: Gpt {
            disk_guid: header.disk_guid,
            first_usable_lba: first_usable,
            last_usable_lba: last_usable,
            header_used: kind,
            primary_problem: None,
            backup_problem: None,
            partitions,
        },
        alternate_lba: header.alternate_lba.to_u64(),
    })
}

/// The first pair (by start) of ranges `(index, first, last)` that share a sector.
fn find_overlap(ranges: impl Iterator<Item = (u32, u64, u64)>) -> Option<(u32, u32)> {
    let mut sorted: Vec<(u32, u64, u64)> = ranges.collect();
    sorted.sort_unstable_by_key(|&(_, first, _)| first);
    sorted.windows(2).find(|w| w[1].1 <= w[0].2).map(|w| (w[0].0, w[1].0))
}

fn decode_name(name: &GptPartitionName) -> String {
    let units = name.0.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0);
    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
}

/// A partition for [`write_gpt`].
#[derive(Debug, Clone, Copy)]
pub struct NewPartition<'a> {
    /// Partition type.
    pub type_guid: Guid,
    /// The partition's own GUID.
    pub unique_guid: Guid,
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// Name, at most [`MAX_NAME_UNITS`] UTF-16 code units.
    pub name: &'a str,
}

/// The usable range `(first, last)` that [`write_gpt`] gives a disk of `disk_sectors`, or
/// `None` if the disk is too small for a table and one usable sector.
pub fn usable_range(disk_sectors: u64) -> Option<(u64, u64)> {
    let first = 2 + ENTRY_ARRAY_SECTORS;
    let last = disk_sectors.checked_sub(2 + ENTRY_ARRAY_SECTORS)?;
    (first <= last).then_some((first, last))
}

/// Writes a protective MBR and both copies of a GPT holding `partitions`, then flushes.
///
/// The table has [`WRITTEN_ENTRY_COUNT`] entries of [`WRITTEN_ENTRY_BYTES`] bytes; the
/// partitions must lie in [`usable_range`] and must not overlap.
pub fn write_gpt<D: BlockDevice + ?Sized>(
    dev: &mut D,
    disk_guid: Guid,
    partitions: &[NewPartition<'_>],
) -> Result<(), GptError> {
    let disk_sectors = dev.sector_count();
    let (first_usable, last_usable) =
        usable_range(disk_sectors).ok_or(GptError::DiskTooSmall { sectors: disk_sectors })?;
    if partitions.len() > WRITTEN_ENTRY_COUNT as usize {
        return Err(GptError::InvalidLayout { reason: "more than 128 partitions" });
    }
    let mut array = vec![0u8; (ENTRY_ARRAY_SECTORS as usize) * SECTOR_BYTES];
    for (i, p) in partitions.iter().enumerate() {
        if p.type_guid == Guid::ZERO {
            return Err(GptError::InvalidLayout { reason: "a partition type GUID is all zeros (unused)" });
        }
        if p.first_lba > p.last_lba || p.first_lba < first_usable || p.last_lba > last_usable {
            return Err(GptError::InvalidLayout { reason: "a partition lies outside the usable range" });
        }
        let mut name = GptPartitionName([0; 72]);
        for (units, unit) in p.name.encode_utf16().enumerate() {
            if units == MAX_NAME_UNITS {
                return Err(GptError::InvalidLayout { reason: "a partition name exceeds 36 UTF-16 units" });
            }
            name.0[units * 2..units * 2 + 2].copy_from_slice(&unit.to_le_bytes());
        }
        let entry = GptPartitionEntry {
            partition_type_guid: GptPartitionType(p.type_guid),
            unique_partition_guid: p.unique_guid,
            starting_lba: LbaLe::from_u64(p.first_lba),
            ending_lba: LbaLe::from_u64(p.last_lba),
            attributes: GptPartitionAttributes(U64Le::from_u64(p.attributes)),
            name,
        };
        let at = i * WRITTEN_ENTRY_BYTES as usize;
        array[at..at + ENTRY_STRUCT_BYTES].copy_from_slice(bytemuck::bytes_of(&entry));
    }
    if find_overlap(partitions.iter().enumerate().map(|(i, p)| (i as u32, p.first_lba, p.last_lba))).is_some()
    {
        return Err(GptError::InvalidLayout { reason: "two partitions overlap" });
    }
    let array_crc = crc32(&[&array]);

    let mut mbr = [0u8; SECTOR_BYTES];
    mbr.copy_from_slice(bytemuck::bytes_of(&MasterBootRecord::protective_mbr(disk_sectors)));
    dev.write_sectors(0, &mbr)?;

    let last = disk_sectors - 1;
    let backup_array_lba = last - ENTRY_ARRAY_SECTORS;
    for (my_lba, alternate_lba, array_lba) in [(1, last, 2), (last, 1, backup_array_lba)] {
        let mut header = GptHeader {
            signature: GptHeaderSignature::EFI_COMPATIBLE_PARTITION_TABLE_HEADER,
            revision: GptHeaderRevision::VERSION_1_0,
            header_size: U32Le::from_u32(HEADER_STRUCT_BYTES as u32),
            header_crc32: Crc32(U32Le::from_u32(0)),
            reserved: U32Le::from_u32(0),
            my_lba: LbaLe::from_u64(my_lba),
            alternate_lba: LbaLe::from_u64(alternate_lba),
            first_usable_lba: LbaLe::from_u64(first_usable),
            last_usable_lba: LbaLe::from_u64(last_usable),
            disk_guid,
            partition_entry_lba: LbaLe::from_u64(array_lba),
            number_of_partition_entries: U32Le::from_u32(WRITTEN_ENTRY_COUNT),
            size_of_partition_entry: U32Le::from_u32(WRITTEN_ENTRY_BYTES),
            partition_entry_array_crc32: Crc32(U32Le::from_u32(array_crc)),
        };
        header.header_crc32 = Crc32(U32Le::from_u32(crc32(&[bytemuck::bytes_of(&header)])));
        let mut sector = [0u8; SECTOR_BYTES];
        sector[..HEADER_STRUCT_BYTES].copy_from_slice(bytemuck::bytes_of(&header));
        // The array goes down before the header that vouches for it.
        dev.write_sectors(array_lba, &array)?;
        dev.write_sectors(my_lba, &sector)?;
    }
    dev.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests;
