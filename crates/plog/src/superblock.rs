//! The superblock (two alternating copies) and the partition layout it records.

use crate::codec::{checksum32, Get, Put};
use crate::error::{PlogError, SuperblockProblem};
use rayos_block::{BlockDevice, SECTOR_BYTES};

/// `"RAYOSDAT"`.
pub(crate) const SUPERBLOCK_MAGIC: [u8; 8] = *b"RAYOSDAT";
/// On-disk format version written by this crate.
pub const FORMAT_VERSION: u32 = 2;
/// Sectors of the two superblock copies (each in its own 4 KiB block so that one torn
/// physical sector can never hold both).
pub const SUPERBLOCK_LBAS: [u64; 2] = [0, 8];
/// First sector of the boot table.
pub const BOOT_TABLE_LBA: u64 = 16;
/// Sectors per boot-table entry (two alternating copies).
pub const BOOT_ENTRY_SECTORS: u64 = 2;
/// Sectors per crash slot (64 KiB: body sectors, then one commit sector).
pub const CRASH_SLOT_SECTORS: u64 = 128;
/// Sectors per log block.
pub const LOG_BLOCK_SECTORS: u64 = 8;
/// Bytes per log block.
pub const LOG_BLOCK_BYTES: usize = LOG_BLOCK_SECTORS as usize * SECTOR_BYTES;
/// Fewest log blocks a layout may have.
pub const MIN_LOG_BLOCKS: u64 = 4;
/// Boot-table entries by default (`log boots` history).
pub const DEFAULT_BOOT_SLOTS: u32 = 256;
/// Crash slots by default.
pub const DEFAULT_CRASH_SLOTS: u32 = 8;
/// Bounds on the boot-table size.
pub const BOOT_SLOTS_RANGE: core::ops::RangeInclusive<u32> = 4..=65_536;
/// Bounds on the number of crash slots.
pub const CRASH_SLOTS_RANGE: core::ops::RangeInclusive<u32> = 2..=64;

const SUPERBLOCK_BYTES: usize = 124;

/// Where each region of RAYOS-DATA lies, in sectors from the start of the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Size of the partition when it was formatted.
    pub partition_sectors: u64,
    /// First sector of the boot table.
    pub boot_table_lba: u64,
    /// Entries in the boot table.
    pub boot_slots: u32,
    /// First sector of the crash area.
    pub crash_area_lba: u64,
    /// Crash slots.
    pub crash_slots: u32,
    /// First sector of the log ring.
    pub log_lba: u64,
    /// Blocks in the log ring.
    pub log_blocks: u64,
}

fn align8(sectors: u64) -> Option<u64> {
    sectors.checked_add(7).map(|s| s & !7)
}

impl Layout {
    /// The layout `format` gives a partition of `partition_sectors`.
    pub fn plan(partition_sectors: u64, boot_slots: u32, crash_slots: u32) -> Result<Self, PlogError> {
        if !BOOT_SLOTS_RANGE.contains(&boot_slots) {
            return Err(PlogError::InvalidParams { reason: "boot_slots must be in 4..=65536" });
        }
        if !CRASH_SLOTS_RANGE.contains(&crash_slots) {
            return Err(PlogError::InvalidParams { reason: "crash_slots must be in 2..=64" });
        }
        let crash_area_lba =
            align8(BOOT_TABLE_LBA + u64::from(boot_slots) * BOOT_ENTRY_SECTORS).unwrap_or(u64::MAX);
        let log_lba = crash_area_lba + u64::from(crash_slots) * CRASH_SLOT_SECTORS;
        let needed_sectors = log_lba + MIN_LOG_BLOCKS * LOG_BLOCK_SECTORS;
        if partition_sectors < needed_sectors {
            return Err(PlogError::PartitionTooSmall { sectors: partition_sectors, needed_sectors });
        }
        let log_blocks = (partition_sectors - log_lba) / LOG_BLOCK_SECTORS;
        Ok(Self {
            partition_sectors,
            boot_table_lba: BOOT_TABLE_LBA,
            boot_slots,
            crash_area_lba,
            crash_slots,
            log_lba,
            log_blocks,
        })
    }

    /// Checks a layout read from disk; the rules [`Self::plan`] follows.
    fn check(&self) -> Result<(), &'static str> {
        if self.boot_table_lba != BOOT_TABLE_LBA {
            return Err("boot table not at sector 16");
        }
        if !BOOT_SLOTS_RANGE.contains(&self.boot_slots) || !CRASH_SLOTS_RANGE.contains(&self.crash_slots) {
            return Err("boot or crash slot count out of range");
        }
        let boot_end = BOOT_TABLE_LBA + u64::from(self.boot_slots) * BOOT_ENTRY_SECTORS;
        if self.crash_area_lba < boot_end {
            return Err("crash area overlaps the boot table");
        }
        let crash_end = self
            .crash_area_lba
            .checked_add(u64::from(self.crash_slots) * CRASH_SLOT_SECTORS)
            .ok_or("crash area off the end")?;
        if self.log_lba < crash_end || !self.log_lba.is_multiple_of(LOG_BLOCK_SECTORS) {
            return Err("log ring overlaps the crash area or is misaligned");
        }
        if self.log_blocks < MIN_LOG_BLOCKS {
            return Err("log ring too small");
        }
        let log_end = self
            .log_blocks
            .checked_mul(LOG_BLOCK_SECTORS)
            .and_then(|s| s.checked_add(self.log_lba))
            .ok_or("log ring off the end")?;
        if log_end > self.partition_sectors {
            return Err("log ring runs past the partition");
        }
        Ok(())
    }

    /// Capacity of the log ring in bytes.
    pub fn log_bytes(&self) -> u64 {
        self.log_blocks * LOG_BLOCK_BYTES as u64
    }
}

/// The contents of one superblock copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Superblock {
    pub generation: u64,
    pub volume_id: u64,
    pub formatted_wall_s: u64,
    pub layout: Layout,
    pub mount_count: u64,
    pub last_boot: u32,
    pub crash_cleared_through: u64,
}

impl Superblock {
    pub(crate) fn encode(&self) -> [u8; SECTOR_BYTES] {
        let mut sector = [0u8; SECTOR_BYTES];
        let mut put = Put::new(&mut sector);
        let l = &self.layout;
        // The fields fit the sector by construction; `Put` cannot fail here.
        let _ = (|| {
            put.bytes(&SUPERBLOCK_MAGIC)?;
            put.u32(FORMAT_VERSION)?;
            put.u32(SUPERBLOCK_BYTES as u32)?;
            put.u64(self.generation)?;
            put.u64(self.volume_id)?;
            put.u64(self.formatted_wall_s)?;
            put.u64(l.partition_sectors)?;
            put.u64(l.boot_table_lba)?;
            put.u32(l.boot_slots)?;
            put.u32(l.crash_slots)?;
            put.u64(l.crash_area_lba)?;
            put.u32(CRASH_SLOT_SECTORS as u32)?;
            put.u32(LOG_BLOCK_SECTORS as u32)?;
            put.u64(l.log_lba)?;
            put.u64(l.log_blocks)?;
            put.u64(self.mount_count)?;
            put.u32(self.last_boot)?;
            put.u32(0)?;
            put.u64(self.crash_cleared_through)
        })();
        let crc = checksum32(&[&sector[..SUPERBLOCK_BYTES - 4]]);
        sector[SUPERBLOCK_BYTES - 4..SUPERBLOCK_BYTES].copy_from_slice(&crc.to_le_bytes());
        sector
    }

    pub(crate) fn decode(sector: &[u8; SECTOR_BYTES]) -> Result<Self, SuperblockProblem> {
        if sector[..8] != SUPERBLOCK_MAGIC {
            return Err(SuperblockProblem::NoMagic);
        }
        let stored = u32::from_le_bytes([
            sector[SUPERBLOCK_BYTES - 4],
            sector[SUPERBLOCK_BYTES - 3],
            sector[SUPERBLOCK_BYTES - 2],
            sector[SUPERBLOCK_BYTES - 1],
        ]);
        let computed = checksum32(&[&sector[..SUPERBLOCK_BYTES - 4]]);
        if stored != computed {
            return Err(SuperblockProblem::BadCrc { stored, computed });
        }
        let bad = |reason| SuperblockProblem::BadLayout { reason };
        let mut get = Get::new(&sector[8..]);
        let truncated = bad("truncated");
        let version = get.u32().ok_or(truncated)?;
        if version != FORMAT_VERSION {
            return Err(SuperblockProblem::UnsupportedVersion { version });
        }
        if get.u32() != Some(SUPERBLOCK_BYTES as u32) {
            return Err(bad("unexpected superblock size"));
        }
        let mut field = || get.u64().ok_or(truncated);
        let generation = field()?;
        let volume_id = field()?;
        let formatted_wall_s = field()?;
        let partition_sectors = field()?;
        let boot_table_lba = field()?;
        let mut get = Get::new(&sector[8 + 48..]);
        let boot_slots = get.u32().ok_or(truncated)?;
        let crash_slots = get.u32().ok_or(truncated)?;
        let crash_area_lba = get.u64().ok_or(truncated)?;
        let crash_slot_sectors = get.u32().ok_or(truncated)?;
        let log_block_sectors = get.u32().ok_or(truncated)?;
        if u64::from(crash_slot_sectors) != CRASH_SLOT_SECTORS
            || u64::from(log_block_sectors) != LOG_BLOCK_SECTORS
        {
            return Err(bad("unexpected crash slot or log block size"));
        }
        let log_lba = get.u64().ok_or(truncated)?;
        let log_blocks = get.u64().ok_or(truncated)?;
        let mount_count = get.u64().ok_or(truncated)?;
        let last_boot = get.u32().ok_or(truncated)?;
        let _reserved = get.u32().ok_or(truncated)?;
        let crash_cleared_through = get.u64().ok_or(truncated)?;
        let layout = Layout {
            partition_sectors,
            boot_table_lba,
            boot_slots,
            crash_area_lba,
            crash_slots,
            log_lba,
            log_blocks,
        };
        layout.check().map_err(bad)?;
        Ok(Self {
            generation,
            volume_id,
            formatted_wall_s,
            layout,
            mount_count,
            last_boot,
            crash_cleared_through,
        })
    }
}

/// The superblock as mounted: its contents and which copy holds the newest generation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MountedSuperblock {
    pub sb: Superblock,
    pub copy: usize,
    /// Why the other copy was refused, if it was.
    pub other_problem: Option<SuperblockProblem>,
}

impl MountedSuperblock {
    pub(crate) fn read<D: BlockDevice + ?Sized>(dev: &mut D) -> Result<Self, PlogError> {
        if dev.sector_count() < SUPERBLOCK_LBAS[1] + 1 {
            return Err(PlogError::NotFormatted);
        }
        let mut copies = [Err(SuperblockProblem::NoMagic), Err(SuperblockProblem::NoMagic)];
        for (copy, lba) in copies.iter_mut().zip(SUPERBLOCK_LBAS) {
            let mut sector = [0u8; SECTOR_BYTES];
            dev.read_sectors(lba, &mut sector)?;
            *copy = Superblock::decode(&sector);
        }
        for copy in &copies {
            if let Err(SuperblockProblem::UnsupportedVersion { version }) = copy {
                return Err(PlogError::UnsupportedVersion { version: *version });
            }
        }
        let mounted = match copies {
            [Ok(a), Ok(b)] => {
                let copy = usize::from(b.generation > a.generation);
                Self { sb: if copy == 1 { b } else { a }, copy, other_problem: None }
            }
            [Ok(a), Err(p)] => Self { sb: a, copy: 0, other_problem: Some(p) },
            [Err(p), Ok(b)] => Self { sb: b, copy: 1, other_problem: Some(p) },
            [Err(SuperblockProblem::NoMagic), Err(SuperblockProblem::NoMagic)] => {
                return Err(PlogError::NotFormatted)
            }
            [Err(copy_a), Err(copy_b)] => return Err(PlogError::SuperblockDamaged { copy_a, copy_b }),
        };
        let actual_sectors = dev.sector_count();
        if mounted.sb.layout.partition_sectors > actual_sectors {
            return Err(PlogError::PartitionShrunk {
                recorded_sectors: mounted.sb.layout.partition_sectors,
                actual_sectors,
            });
        }
        Ok(mounted)
    }

    /// Writes `sb` with the next generation into the copy that does not hold the newest
    /// one, then flushes. An interrupted update leaves the newest copy untouched.
    pub(crate) fn update<D: BlockDevice + ?Sized>(
        &mut self,
        dev: &mut D,
        mut sb: Superblock,
    ) -> Result<(), PlogError> {
        sb.generation = self.sb.generation + 1;
        let target = 1 - self.copy;
        dev.write_sectors(SUPERBLOCK_LBAS[target], &sb.encode())?;
        dev.flush()?;
        self.sb = sb;
        self.copy = target;
        self.other_problem = None;
        Ok(())
    }
}
