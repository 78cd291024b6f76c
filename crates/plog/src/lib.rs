//! RayOS's persistent observability: the layout of the RAYOS-DATA partition, the kernel
//! log ring that survives power loss, the boot table and crash records.
//!
//! The kernel mounts the partition with [`DataPartition::mount`] (or formats it, only when
//! asked, with [`format`]) and then uses three parts: [`DataPartition::log`] to append and
//! query records, [`DataPartition::boots`] to number boots and record how they ended, and
//! [`DataPartition::crashes`] to list, show and clear crash records. The panic and fault
//! handlers use [`CrashWriter::write_nopanic`], which needs no heap. Everything works on any
//! [`BlockDevice`]; the host image builder calls [`format_image`].
//!
//! This crate is not a driver, a file system or a formatter of log lines: it stores what
//! it is given and gives it back.
//!
//! # Layout of RAYOS-DATA
//!
//! Sectors are 512 bytes; every region starts on a 4 KiB boundary.
//!
//! | Sectors (from the partition start) | Region | Contents |
//! |---|---|---|
//! | 0 and 8 | superblock, copies A and B | magic `RAYOSDAT`, version, generation, volume id, layout, mount count, last boot number, crash-clear mark; checksum (XXH64 folded to 32 bits). Updates go to the copy *not* holding the newest generation, then flush. |
//! | 16 .. 16 + 2 x `boot_slots` | boot table | one entry per boot (slot = boot mod `boot_slots`, default 256), two alternating sector copies per entry with an update counter; checksum (XXH64 folded to 32 bits) bound to the volume id |
//! | next 4 KiB boundary, `crash_slots` x 128 | crash area | `crash_slots` (default 8) slots of 64 KiB: body sectors 0..127, commit sector 127 |
//! | the rest, in 4 KiB blocks | log ring | blocks of 8 sectors, see below |
//!
//! A 64 MiB partition with the defaults has 776 KiB of fixed regions and a ring of 16 190
//! blocks (63.2 MiB).
//!
//! # The log ring
//!
//! Every block of the ring carries a 48-byte header written once, with its first sector:
//! magic, checksum (XXH64 folded to 32 bits), volume id, block sequence number (`bsn`: the block's position is
//! `bsn mod blocks`, so the lap is `bsn / blocks`), session (a number that grows with every
//! mount), the sequence number of its first record, and the *durable watermark*: the
//! highest record sequence number known to be flushed when the block was started.
//!
//! Records follow, 8-byte aligned: length, level, flags, checksum (XXH64 folded to 32 bits), sequence number,
//! monotonic ns, wall seconds, boot number, subsystem (at most [`MAX_SUBSYSTEM_BYTES`]) and
//! message (at most [`MAX_MESSAGE_BYTES`], cut at a character boundary and flagged). The
//! record CRC is seeded with the block's volume id, `bsn` and session, so a record from
//! another lap, another mount or another format never verifies in this block, and record
//! `i` of a block must carry `first_seq + i`.
//!
//! **Append** encodes into a RAM stage of up to [`STAGE_BLOCKS`] blocks (64 KiB); a full
//! stage is written in one request, without a device flush. **Flush** writes the staged
//! sectors not yet on disk, pads the open block to the next sector boundary, and flushes the
//! device. So a sector that holds flushed records is never written again in that lap: a
//! torn write can only damage sectors whose records were not yet durable. The writer also
//! flushes by itself before each lap starts and whenever it has started
//! `min(blocks / 4, 1024)` blocks (at least one stage) since the last flush (4 MiB on a
//! 64 MiB ring), which bounds how far a cut write can reach into the oldest data.
//!
//! **Mount** reads the whole ring and keeps, per block, the prefix of records that verify.
//! It orders blocks by `bsn` and chains them: a block joins if its session is not older
//! and its first record continues the previous block, or if its first record is at most
//! the largest durable watermark + 1 (then every earlier record was flushed, and a hole
//! before it is damage to old data: skipped and counted). A block that would leave a hole
//! above the watermark, or comes from an older session after a newer one, is the leftover
//! of a cut write: the walk stops there, so the log reads back as a prefix of what was
//! appended. Among the oldest blocks that a cut write may have been overwriting (the
//! bound above), a hole means a half-evicted block: everything older than the last such
//! hole is dropped, so the log stays one window. The new session continues after the last
//! record kept, in a fresh block; the blocks it overwrites are exactly those leftovers.
//! Before it returns, mount clears what it discarded (the header sector of each dropped
//! block, and a torn record after the last valid one in a kept block, rewriting that sector
//! with the same valid bytes), so the next mount does not find and count it again: after a
//! clean shutdown the next mount discards nothing.
//!
//! # Durability and the loss window
//!
//! - [`Log::append_durable`] and [`Log::flush`] return after the device flush: the record
//!   (and every earlier one) survives any later power cut. The kernel uses this for warnings
//!   and errors.
//! - [`Log::append`] returns once the record is in RAM. A power cut loses at most the
//!   records appended since the last flush (explicit or automatic), because unflushed
//!   writes may never reach the medium. With the kernel flushing lower levels every `F` ms,
//!   the worst-case window is `F` ms of info/debug/trace records, and never more than the
//!   automatic flush bound above (4 MiB of records on a 64 MiB ring); nothing that returned
//!   from a flush is ever lost to a power cut.
//! - After a cut, what mount shows is one contiguous run of what was appended (by
//!   sequence number), ending at or after the last flushed record, with no record that
//!   fails its CRC. A cut during the eviction of the oldest blocks may drop some of the
//!   oldest records early.
//! - Wrapping keeps at least the newest `blocks - 1` blocks.
//!
//! # Cost
//!
//! Mount reads the ring once in [`SCAN_CHUNK_BLOCKS`]-block (256 KiB) requests and verifies
//! every record's CRC: for a 64 MiB partition (63 MiB ring, 16 190 blocks) that is 63 MiB
//! in 253 requests, measured at 58-66 ms on the host from an in-memory disk (416 426
//! records of 148 bytes); the index it keeps is 64 bytes per block (about 1 MiB). Appends
//! cost a checksum of the record (XXH64 folded to 32 bits) and a copy, measured at 3.6-4.0
//! million 148-byte records/s (570-630 MB/s of log written) on the host (with CRC-32C, before
//! the switch); writes are 64 KiB requests, with one device flush per 1024 blocks when nobody
//! flushes sooner. Under QEMU's software CPU the kernel appends about 0.6 million 137-byte
//! records/s (`cargo xtask bench log`): there the append is CPU-bound. `log show --tail 100` reads a few
//! blocks (about 0.1 ms on the host); a query over the whole ring reads all of it.
//!
//! # Invariants
//! - Nothing is written to a partition that does not carry a valid superblock, except by
//!   [`format`]. A blank or foreign partition is [`PlogError::NotFormatted`].
//! - No record, boot entry or crash record is returned unless its CRC verifies under this
//!   partition's volume id.
//! - Sequence numbers of the records returned are strictly increasing; records returned by
//!   a mount after a power cut are a prefix of those appended, containing every record
//!   appended before the last successful flush (unless the medium itself was damaged).
//! - The crash write path never allocates, never panics, and writes only inside one slot.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod boots;
mod codec;
mod crash;
mod error;
mod record;
mod ring;
mod superblock;

pub use boots::{BootEntry, EndReason};
pub use codec::truncate_str;
pub use crash::{
    BacktraceFrame, CrashKind, CrashRecord, CrashSummary, CrashView, CrashWriteError, CrashWriter,
    CrashWritten, Frame, Registers, CRASH_SCRATCH_BYTES, MAX_BACKTRACE_FRAMES, MAX_CRASH_MESSAGE_BYTES,
    MAX_LOG_LINES, MAX_LOG_LINE_BYTES, MAX_SYMBOL_BYTES,
};
pub use error::{PlogError, SuperblockProblem};
pub use record::{Entry, Level, LogRecord, MAX_MESSAGE_BYTES, MAX_SUBSYSTEM_BYTES};
pub use ring::{
    BootSelector, LogCounters, LogStats, Order, Query, QueryResult, SCAN_CHUNK_BLOCKS, STAGE_BLOCKS,
};
pub use superblock::{
    Layout, CRASH_SLOT_SECTORS, DEFAULT_BOOT_SLOTS, DEFAULT_CRASH_SLOTS, FORMAT_VERSION, LOG_BLOCK_BYTES,
    LOG_BLOCK_SECTORS,
};

use alloc::vec::Vec;
use boots::BootTable;
use rayos_block::mem::MemDisk;
use rayos_block::{BlockDevice, SECTOR_BYTES};
use ring::{LogState, RingGeometry};
use superblock::{MountedSuperblock, Superblock, SUPERBLOCK_LBAS};

/// Parameters of [`format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatParams {
    /// Identity of this format. Must be non-zero and different from the previous format's
    /// (use a random number): every record, entry and crash slot is bound to it, so data
    /// left by an earlier format is never mistaken for new data.
    pub volume_id: u64,
    /// Wall time of the format (unix seconds, 0 if unknown).
    pub wall_s: u64,
    /// Boot-table entries (history of `log boots`).
    pub boot_slots: u32,
    /// Crash slots.
    pub crash_slots: u32,
}

impl FormatParams {
    /// Default sizes ([`DEFAULT_BOOT_SLOTS`], [`DEFAULT_CRASH_SLOTS`]).
    pub fn new(volume_id: u64, wall_s: u64) -> Self {
        Self { volume_id, wall_s, boot_slots: DEFAULT_BOOT_SLOTS, crash_slots: DEFAULT_CRASH_SLOTS }
    }
}

/// Formats `dev` as RAYOS-DATA, destroying what it held; returns the layout.
///
/// Both superblock copies are erased first and written last, so an interrupted format
/// leaves a partition that mounts as [`PlogError::NotFormatted`], never a half-made one.
pub fn format<D: BlockDevice + ?Sized>(dev: &mut D, params: &FormatParams) -> Result<Layout, PlogError> {
    if params.volume_id == 0 {
        return Err(PlogError::InvalidParams { reason: "volume_id must be non-zero" });
    }
    let layout = Layout::plan(dev.sector_count(), params.boot_slots, params.crash_slots)?;
    if let Ok(current) = MountedSuperblock::read(dev) {
        if current.sb.volume_id == params.volume_id {
            return Err(PlogError::InvalidParams {
                reason: "volume_id equals the current format's; pick a fresh random value",
            });
        }
    }
    let zero = [0u8; SECTOR_BYTES];
    for lba in SUPERBLOCK_LBAS {
        dev.write_sectors(lba, &zero)?;
    }
    dev.flush()?;
    BootTable::erase(dev, layout.boot_table_lba, layout.boot_slots)?;
    CrashWriter { volume_id: params.volume_id, area_lba: layout.crash_area_lba, slots: layout.crash_slots }
        .erase(dev)?;
    dev.flush()?;
    let sb = Superblock {
        generation: 1,
        volume_id: params.volume_id,
        formatted_wall_s: params.wall_s,
        layout,
        mount_count: 0,
        last_boot: 0,
        crash_cleared_through: 0,
    };
    dev.write_sectors(SUPERBLOCK_LBAS[0], &sb.encode())?;
    dev.write_sectors(SUPERBLOCK_LBAS[1], &Superblock { generation: 2, ..sb }.encode())?;
    dev.flush()?;
    Ok(layout)
}

/// A freshly formatted RAYOS-DATA partition image of `partition_bytes` (a whole number of
/// sectors), for the host image builder.
pub fn format_image(partition_bytes: u64, params: &FormatParams) -> Result<Vec<u8>, PlogError> {
    if !partition_bytes.is_multiple_of(SECTOR_BYTES as u64) {
        return Err(PlogError::InvalidParams { reason: "partition size must be a whole number of sectors" });
    }
    let mut disk = MemDisk::new(partition_bytes / SECTOR_BYTES as u64);
    format(&mut disk, params)?;
    Ok(disk.into_durable_image())
}

/// What mount found; the kernel prints `RAYOS_LOG:MOUNTED:<valid_records>:<boot>` and
/// `RAYOS_LOG:RECOVERED:<valid_records>:<discarded_records>` from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountReport {
    /// Log records that verified and were kept.
    pub valid_records: u64,
    /// Records dropped by this mount: leftovers of cut writes, torn records, and records of
    /// blocks that fell out of the chain (each counted once: mount clears what it drops).
    pub discarded_records: u64,
    /// Blocks whose header was damaged or held no valid record.
    pub discarded_blocks: u64,
    /// The last boot number recorded before this mount (0 if none).
    pub boot_number: u32,
    /// Times the ring has wrapped.
    pub wraps: u64,
    /// Sequence number the next record will get.
    pub next_seq: u64,
    /// This mount's session number.
    pub session: u64,
    /// A superblock copy that was refused (and has now been rewritten).
    pub superblock_problem: Option<SuperblockProblem>,
    /// Bytes the scan read.
    pub scanned_bytes: u64,
}

/// A mount that failed, with the device handed back.
#[derive(Debug)]
pub struct MountFailed<D> {
    /// Why.
    pub error: PlogError,
    /// The device, untouched by the failed mount.
    pub device: D,
}

/// A mounted RAYOS-DATA partition.
#[derive(Debug)]
pub struct DataPartition<D: BlockDevice> {
    dev: D,
    sb: MountedSuperblock,
    log: LogState,
    boots: BootTable,
    crash: CrashWriter,
    current_boot: Option<u32>,
    report: MountReport,
}

impl<D: BlockDevice> DataPartition<D> {
    /// Mounts `dev`: reads the superblock, scans the log ring and the boot table, and
    /// records the new session in the superblock (one write and a flush, which also makes
    /// everything the scan read durable).
    pub fn mount(mut dev: D) -> Result<Self, MountFailed<D>> {
        match Self::mount_parts(&mut dev) {
            Ok((sb, log, boots, crash, report)) => {
                Ok(Self { dev, sb, log, boots, crash, current_boot: None, report })
            }
            Err(error) => Err(MountFailed { error, device: dev }),
        }
    }

    /// Formats `dev` and mounts it.
    pub fn format(mut dev: D, params: &FormatParams) -> Result<Self, MountFailed<D>> {
        match format(&mut dev, params) {
            Ok(_) => Self::mount(dev),
            Err(error) => Err(MountFailed { error, device: dev }),
        }
    }

    #[allow(clippy::type_complexity)]
    fn mount_parts(
        dev: &mut D,
    ) -> Result<(MountedSuperblock, LogState, BootTable, CrashWriter, MountReport), PlogError> {
        let mut sb = MountedSuperblock::read(dev)?;
        let superblock_problem = sb.other_problem;
        let layout = sb.sb.layout;
        let geo = RingGeometry { lba: layout.log_lba, blocks: layout.log_blocks, volume_id: sb.sb.volume_id };
        let (mut log, scan) = ring::scan(dev, geo)?;
        let boots = BootTable::load(dev, layout.boot_table_lba, layout.boot_slots, sb.sb.volume_id)?;
        let session = scan.max_session.max(sb.sb.mount_count) + 1;
        log.adopt_session(session);
        sb.update(dev, Superblock { mount_count: session, ..sb.sb })?;
        let crash = CrashWriter {
            volume_id: sb.sb.volume_id,
            area_lba: layout.crash_area_lba,
            slots: layout.crash_slots,
        };
        let stats = log.stats();
        let report = MountReport {
            valid_records: scan.valid_records,
            discarded_records: scan.discarded_records,
            discarded_blocks: scan.discarded_blocks,
            boot_number: boots.latest().map_or(0, |b| b.boot).max(sb.sb.last_boot),
            wraps: stats.wraps,
            next_seq: log.next_seq(),
            session: log.session(),
            superblock_problem,
            scanned_bytes: scan.bytes_read,
        };
        Ok((sb, log, boots, crash, report))
    }

    /// What mount found.
    pub fn mount_report(&self) -> &MountReport {
        &self.report
    }

    /// The partition's layout.
    pub fn layout(&self) -> Layout {
        self.sb.sb.layout
    }

    /// The format's volume id.
    pub fn volume_id(&self) -> u64 {
        self.sb.sb.volume_id
    }

    /// What the panic handler needs to write a crash record; keep a copy where it can
    /// reach it.
    pub fn crash_writer(&self) -> CrashWriter {
        self.crash
    }

    /// The boot begun on this mount, if any.
    pub fn current_boot(&self) -> Option<u32> {
        self.current_boot
    }

    /// The device (for the crash path or tests). Writing to it behind the log's back
    /// voids the guarantees.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// Gives the device back without flushing (as a power cut would).
    pub fn into_device(self) -> D {
        self.dev
    }

    /// The log.
    pub fn log(&mut self) -> Log<'_, D> {
        Log { part: self }
    }

    /// The boot table.
    pub fn boots(&mut self) -> Boots<'_, D> {
        Boots { part: self }
    }

    /// The crash records.
    pub fn crashes(&mut self) -> Crashes<'_, D> {
        Crashes { part: self }
    }

    fn boot_for_queries(&self) -> u32 {
        self.current_boot.unwrap_or(self.report.boot_number)
    }
}

/// The log part of a [`DataPartition`].
#[derive(Debug)]
pub struct Log<'a, D: BlockDevice> {
    part: &'a mut DataPartition<D>,
}

impl<D: BlockDevice> Log<'_, D> {
    /// Appends a record (tagged with the current boot) to RAM; returns its sequence
    /// number. Not durable until the next [`Self::flush`]; may write (never flush) when the
    /// stage fills, and flushes once per lap of the ring.
    pub fn append(&mut self, entry: &Entry<'_>) -> Result<u64, PlogError> {
        let boot = self.part.current_boot.unwrap_or(0);
        self.part.log.append(&mut self.part.dev, boot, entry)
    }

    /// Appends a record and flushes: durable when this returns `Ok`.
    pub fn append_durable(&mut self, entry: &Entry<'_>) -> Result<u64, PlogError> {
        let seq = self.append(entry)?;
        self.flush()?;
        Ok(seq)
    }

    /// Makes every record appended so far durable.
    pub fn flush(&mut self) -> Result<(), PlogError> {
        self.part.log.flush(&mut self.part.dev)
    }

    /// Records matching `query` (including those not yet flushed).
    pub fn query(&mut self, query: &Query) -> Result<QueryResult, PlogError> {
        let current = self.part.boot_for_queries();
        self.part.log.query(&mut self.part.dev, query, current)
    }

    /// Figures for `log stats`.
    pub fn stats(&self) -> LogStats {
        self.part.log.stats()
    }

    /// Records appended since the last flush.
    pub fn unflushed_records(&self) -> u64 {
        self.part.log.unflushed_records()
    }

    /// Counters of the append path since mount.
    pub fn counters(&self) -> LogCounters {
        self.part.log.counters
    }
}

/// What [`Boots::begin_boot`] found about the boot before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootStart {
    /// The number of the boot now running.
    pub boot: u32,
    /// The previous boot's entry, after its end was settled (a boot still `running` became
    /// `panic`/`watchdog` if it left a crash record, else `unknown`).
    pub previous: Option<BootEntry>,
    /// The previous boot's crash record, if it crashed: the kernel prints
    /// `RAYOS_CRASH:PREVIOUS:<kind>:<boot>`.
    pub previous_crash: Option<CrashSummary>,
}

/// The boot-table part of a [`DataPartition`].
#[derive(Debug)]
pub struct Boots<'a, D: BlockDevice> {
    part: &'a mut DataPartition<D>,
}

impl<D: BlockDevice> Boots<'_, D> {
    /// Numbers this boot and records its start; settles how the previous boot ended.
    /// Call once per mount, before logging.
    pub fn begin_boot(&mut self, wall_s: u64) -> Result<BootStart, PlogError> {
        let part = &mut *self.part;
        if part.current_boot.is_some() {
            return Err(PlogError::InvalidParams { reason: "begin_boot was already called on this mount" });
        }
        let mut previous = part.boots.latest();
        let mut previous_crash = None;
        if let Some(prev) = previous.as_mut() {
            let crash = part
                .crash
                .list(&mut part.dev, part.sb.sb.crash_cleared_through)?
                .into_iter()
                .rfind(|c| c.boot == prev.boot);
            if let Some(c) = crash {
                previous_crash = Some(c);
                if !prev.end.is_crash() || prev.crash_seq != Some(c.crash_seq) {
                    prev.end =
                        if c.kind == CrashKind::Watchdog { EndReason::Watchdog } else { EndReason::Panic };
                    prev.crash_seq = Some(c.crash_seq);
                    prev.end_wall_s = c.wall_s;
                    prev.uptime_ns = c.uptime_ns;
                    part.boots.write(&mut part.dev, *prev)?;
                }
            } else if prev.end == EndReason::Running {
                prev.end = EndReason::Unknown;
                part.boots.write(&mut part.dev, *prev)?;
            }
        }
        let boot = previous.map_or(0, |p| p.boot).max(part.sb.sb.last_boot) + 1;
        // The number is taken in the superblock first, so that it is never given twice
        // even if the entry write below is cut.
        part.sb.update(&mut part.dev, Superblock { last_boot: boot, ..part.sb.sb })?;
        part.boots.write(
            &mut part.dev,
            BootEntry {
                boot,
                start_wall_s: wall_s,
                end_wall_s: 0,
                uptime_ns: 0,
                end: EndReason::Running,
                crash_seq: None,
            },
        )?;
        part.current_boot = Some(boot);
        part.report.boot_number = boot;
        Ok(BootStart { boot, previous, previous_crash })
    }

    /// Records how this boot ends (after flushing the log).
    pub fn end_boot(&mut self, end: EndReason, wall_s: u64, uptime_ns: u64) -> Result<BootEntry, PlogError> {
        let part = &mut *self.part;
        let boot = part.current_boot.ok_or(PlogError::NoBootInProgress)?;
        part.log.flush(&mut part.dev)?;
        let start_wall_s = part.boots.get(boot).map_or(0, |e| e.start_wall_s);
        let entry = BootEntry { boot, start_wall_s, end_wall_s: wall_s, uptime_ns, end, crash_seq: None };
        part.boots.write(&mut part.dev, entry)?;
        Ok(entry)
    }

    /// The boots the table holds, oldest first.
    pub fn list(&self) -> Vec<BootEntry> {
        self.part.boots.list()
    }
}

/// The crash-record part of a [`DataPartition`].
#[derive(Debug)]
pub struct Crashes<'a, D: BlockDevice> {
    part: &'a mut DataPartition<D>,
}

impl<D: BlockDevice> Crashes<'_, D> {
    /// Stored crash records (not cleared), oldest first.
    pub fn list(&mut self) -> Result<Vec<CrashSummary>, PlogError> {
        let part = &mut *self.part;
        part.crash.list(&mut part.dev, part.sb.sb.crash_cleared_through)
    }

    /// Crash record number `crash_seq`.
    pub fn get(&mut self, crash_seq: u64) -> Result<CrashRecord, PlogError> {
        let part = &mut *self.part;
        part.crash.get(&mut part.dev, crash_seq, part.sb.sb.crash_cleared_through)
    }

    /// The newest crash record, if any.
    pub fn latest(&mut self) -> Result<Option<CrashRecord>, PlogError> {
        match self.list()?.last() {
            Some(summary) => self.get(summary.crash_seq).map(Some),
            None => Ok(None),
        }
    }

    /// Hides every stored record (one superblock update, so it is all or nothing); returns
    /// how many were hidden. The slots are reused oldest first by later crashes.
    pub fn clear(&mut self) -> Result<usize, PlogError> {
        let hidden = self.list()?.len();
        let part = &mut *self.part;
        let through = part.crash.max_seq(&mut part.dev)?.max(part.sb.sb.crash_cleared_through);
        part.sb.update(&mut part.dev, Superblock { crash_cleared_through: through, ..part.sb.sb })?;
        Ok(hidden)
    }

    /// Records a crash through the normal (locked) path; the panic handler uses
    /// [`CrashWriter::write_nopanic`] instead.
    pub fn record(
        &mut self,
        view: &CrashView<'_>,
        scratch: &mut [u8],
    ) -> Result<CrashWritten, CrashWriteError> {
        let part = &mut *self.part;
        part.crash.write_nopanic(&mut part.dev, view, scratch)
    }
}
