//! The log ring: block format, recovery scan, the append path and queries.
//!
//! See the crate documentation for the design; the comments here say why each rule holds.

use crate::codec::{checksum32, Get, Put};
use crate::error::PlogError;
use crate::record::{self, BlockIdent, Entry, Level, LogRecord, RecordView, Slot};
use crate::superblock::{LOG_BLOCK_BYTES, LOG_BLOCK_SECTORS};
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use rayos_block::{BlockDevice, SECTOR_BYTES};

/// `"RLOG"`.
const BLOCK_MAGIC: u32 = u32::from_le_bytes(*b"RLOG");
/// Bytes of the block header; records start here.
pub(crate) const BLOCK_HEADER_BYTES: usize = 48;
/// Blocks the append path stages before it writes them in one request (64 KiB).
pub const STAGE_BLOCKS: usize = 16;
/// Blocks read per request by the mount scan (256 KiB).
pub const SCAN_CHUNK_BLOCKS: usize = 64;
/// Blocks read per request by queries.
const QUERY_CHUNK_BLOCKS: usize = 32;

/// Most blocks the writer starts between two device flushes on a ring of `ring_blocks`:
/// it bounds how far a cut write can reach into the oldest data (see `scan`).
pub(crate) fn max_unflushed_blocks(ring_blocks: u64) -> u64 {
    let stage = STAGE_BLOCKS.min((ring_blocks / 2) as usize).max(1) as u64;
    (ring_blocks / 4).min(1024).max(stage)
}

// The largest record fits an empty block, so an append never fails for size.
const _: () = assert!(BLOCK_HEADER_BYTES + record::MAX_RECORD_BYTES <= LOG_BLOCK_BYTES);

/// The immutable header of a log block, written once with the block's first sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub ident: BlockIdent,
    /// Sequence number of the block's first record; record `i` has `first_seq + i`.
    pub first_seq: u64,
    /// Every record with a sequence number up to this one was durable (flushed) when the
    /// block was started.
    pub durable_seq: u64,
}

impl BlockHeader {
    fn encode(&self, out: &mut [u8]) {
        let mut put = Put::new(out);
        let _ = (|| {
            put.u32(BLOCK_MAGIC)?;
            put.u32(0)?;
            put.u64(self.ident.volume_id)?;
            put.u64(self.ident.bsn)?;
            put.u64(self.ident.session)?;
            put.u64(self.first_seq)?;
            put.u64(self.durable_seq)
        })();
        let crc = checksum32(&[&out[..4], &out[8..BLOCK_HEADER_BYTES]]);
        out[4..8].copy_from_slice(&crc.to_le_bytes());
    }
}

/// What the first bytes of a block say.
#[derive(Debug, PartialEq, Eq)]
enum HeaderRead {
    /// A valid header of this volume at its right position.
    Valid(BlockHeader),
    /// No block magic: never written, or foreign.
    Empty,
    /// A valid header of another format of the partition.
    OtherVolume,
    /// The magic is there but the header is damaged or misplaced.
    Damaged,
}

fn read_header(block: &[u8], volume_id: u64, position: u64, ring_blocks: u64) -> HeaderRead {
    let parsed = (|| {
        let mut get = Get::new(block);
        let magic = get.u32()?;
        let stored = get.u32()?;
        Some((magic, stored, get.u64()?, get.u64()?, get.u64()?, get.u64()?, get.u64()?))
    })();
    let Some((magic, stored, volume, bsn, session, first_seq, durable_seq)) = parsed else {
        return HeaderRead::Damaged;
    };
    if magic != BLOCK_MAGIC {
        return HeaderRead::Empty;
    }
    if checksum32(&[&block[..4], &block[8..BLOCK_HEADER_BYTES]]) != stored {
        return HeaderRead::Damaged;
    }
    if volume != volume_id {
        return HeaderRead::OtherVolume;
    }
    if bsn % ring_blocks != position || first_seq == 0 {
        return HeaderRead::Damaged;
    }
    HeaderRead::Valid(BlockHeader { ident: BlockIdent { volume_id, bsn, session }, first_seq, durable_seq })
}

/// How a walk over a block's records ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WalkEnd {
    /// At the end of the block, or at a sector boundary with nothing valid after it (the
    /// part of the block not written yet in this lap).
    Clean,
    /// At a damaged or torn record in the middle of written data.
    Damaged,
}

/// Walks the records of `block` in order, calling `f` for each; returns the count, the
/// offset after the last record and how the walk ended.
///
/// A record is accepted only if it verifies under the block's identity and carries the
/// next sequence number; the walk stops at the first that does not, so what it yields is
/// always a prefix of what was written into this block instance.
fn walk_records<'a>(
    block: &'a [u8],
    header: &BlockHeader,
    mut f: impl FnMut(RecordView<'a>, usize, usize),
) -> (u32, usize, WalkEnd) {
    let mut at = BLOCK_HEADER_BYTES;
    let mut count: u32 = 0;
    let mut end_of_data = at;
    loop {
        if at + record::RECORD_HEADER_BYTES > block.len() {
            return (count, end_of_data, WalkEnd::Clean);
        }
        match record::decode(&block[at..], &header.ident) {
            Slot::Record(view, len) if view.seq == header.first_seq + u64::from(count) => {
                f(view, at, len);
                count += 1;
                at += len;
                end_of_data = at;
            }
            Slot::Zero if !at.is_multiple_of(SECTOR_BYTES) => at = at.next_multiple_of(SECTOR_BYTES),
            Slot::Zero => return (count, end_of_data, WalkEnd::Clean),
            Slot::Record(..) | Slot::Bad => {
                // Directly after a record (no padding in between) there can only be more
                // records of the same write: anything else is damage or a torn write.
                // At a sector boundary it is simply a sector this lap has not written.
                let end = if at.is_multiple_of(SECTOR_BYTES) && at != BLOCK_HEADER_BYTES {
                    WalkEnd::Clean
                } else {
                    WalkEnd::Damaged
                };
                return (count, end_of_data, end);
            }
        }
    }
}

/// What the index remembers about a block, so that queries can skip it unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockInfo {
    pub bsn: u64,
    pub session: u64,
    pub first_seq: u64,
    pub records: u32,
    pub used_bytes: u32,
    pub min_boot: u32,
    pub max_boot: u32,
    pub first_wall_s: u64,
    pub last_wall_s: u64,
    pub max_mono_ns: u64,
    /// The mount scan found a torn record after the valid ones.
    pub damaged_tail: bool,
}

impl BlockInfo {
    fn new(header: &BlockHeader) -> Self {
        Self {
            bsn: header.ident.bsn,
            session: header.ident.session,
            first_seq: header.first_seq,
            records: 0,
            used_bytes: BLOCK_HEADER_BYTES as u32,
            min_boot: u32::MAX,
            max_boot: 0,
            first_wall_s: 0,
            last_wall_s: 0,
            max_mono_ns: 0,
            damaged_tail: false,
        }
    }

    fn add(&mut self, view: &RecordView<'_>, end_offset: usize) {
        self.add_fields(view.boot, view.wall_s, view.mono_ns, end_offset);
    }

    fn add_fields(&mut self, boot: u32, wall_s: u64, mono_ns: u64, end_offset: usize) {
        if self.records == 0 {
            self.first_wall_s = wall_s;
        }
        self.records += 1;
        self.used_bytes = end_offset as u32;
        self.min_boot = self.min_boot.min(boot);
        self.max_boot = self.max_boot.max(boot);
        self.last_wall_s = self.last_wall_s.max(wall_s);
        self.max_mono_ns = self.max_mono_ns.max(mono_ns);
    }

    fn last_seq(&self) -> u64 {
        self.first_seq + u64::from(self.records) - 1
    }
}

/// What the recovery scan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ScanReport {
    pub valid_records: u64,
    pub discarded_records: u64,
    pub discarded_blocks: u64,
    pub max_session: u64,
    pub bytes_read: u64,
}

/// Where the ring is and whose it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingGeometry {
    pub lba: u64,
    pub blocks: u64,
    pub volume_id: u64,
}

impl RingGeometry {
    fn block_lba(&self, bsn: u64) -> u64 {
        self.lba + (bsn % self.blocks) * LOG_BLOCK_SECTORS
    }
}

/// The log ring as mounted: the index of readable blocks and the append state.
#[derive(Debug)]
pub(crate) struct LogState {
    geo: RingGeometry,
    index: VecDeque<BlockInfo>,
    session: u64,
    next_seq: u64,
    /// Every record up to this one is durable.
    durable_seq: u64,
    next_bsn: u64,
    stage: Vec<u8>,
    stage_capacity: usize,
    /// Blocks in the stage; the last one is open for appends. 0 = no block open.
    stage_blocks: usize,
    stage_first_bsn: u64,
    /// Sectors of the first staged block already written to the device.
    written_sectors: usize,
    /// Append offset in the last staged block.
    cursor: usize,
    device_dirty: bool,
    /// Blocks started since the last flush, bounded by `max_unflushed_blocks`.
    blocks_since_flush: u64,
    pub(crate) counters: LogCounters,
}

/// Counters of the append path since mount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounters {
    /// Records appended.
    pub appended_records: u64,
    /// Write requests issued.
    pub write_requests: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Device flushes issued.
    pub device_flushes: u64,
}

/// Clears what this scan discarded, so that the next mount does not find (and count) it
/// again: the header sector of every block that is not part of the log, and the torn record
/// after the last valid one in an accepted block (the writer never appends to a block it did
/// not start, so that tail would otherwise stay). Safe at any power cut: a cleared header
/// only makes a discarded block unreadable, and a rewritten tail sector carries the same bytes
/// for the valid records, so whichever mix of old and new bytes a cut leaves, they read alike.
fn clear_leftovers<D: BlockDevice + ?Sized>(
    dev: &mut D,
    geo: RingGeometry,
    leftovers: &[u64],
    accepted: &VecDeque<BlockInfo>,
) -> Result<(), PlogError> {
    let zero_sector = [0u8; SECTOR_BYTES];
    for &position in leftovers {
        dev.write_sectors(geo.lba + position * LOG_BLOCK_SECTORS, &zero_sector)?;
    }
    let mut block = vec![0u8; LOG_BLOCK_BYTES];
    let mut torn = 0;
    for info in accepted.iter().filter(|b| b.damaged_tail) {
        let lba = geo.block_lba(info.bsn);
        dev.read_sectors(lba, &mut block)?;
        let end = info.used_bytes as usize;
        block[end..].fill(0);
        let first_sector = end / SECTOR_BYTES;
        dev.write_sectors(lba + first_sector as u64, &block[first_sector * SECTOR_BYTES..])?;
        torn += 1;
    }
    if !leftovers.is_empty() || torn > 0 {
        dev.flush()?;
    }
    Ok(())
}

/// Scans the whole ring and rebuilds the log state; see the crate documentation for the
/// acceptance rules. `session` must exceed every session on disk; the scan reports the
/// largest it saw so that the caller can pick it, and `adopt_session` sets it.
pub(crate) fn scan<D: BlockDevice + ?Sized>(
    dev: &mut D,
    geo: RingGeometry,
) -> Result<(LogState, ScanReport), PlogError> {
    let mut report = ScanReport::default();
    let mut found: Vec<BlockInfo> = Vec::new();
    // Ring positions of blocks that hold nothing readable: cleared at the end (`clear_leftovers`).
    let mut leftovers: Vec<u64> = Vec::new();
    let mut max_durable = 0u64;
    let chunk_blocks = SCAN_CHUNK_BLOCKS.min(geo.blocks as usize);
    let mut chunk = vec![0u8; chunk_blocks * LOG_BLOCK_BYTES];
    let mut position = 0u64;
    while position < geo.blocks {
        let n = chunk_blocks.min((geo.blocks - position) as usize);
        let buf = &mut chunk[..n * LOG_BLOCK_BYTES];
        dev.read_sectors(geo.lba + position * LOG_BLOCK_SECTORS, buf)?;
        report.bytes_read += buf.len() as u64;
        for (i, block) in buf.chunks_exact(LOG_BLOCK_BYTES).enumerate() {
            match read_header(block, geo.volume_id, position + i as u64, geo.blocks) {
                HeaderRead::Valid(header) => {
                    report.max_session = report.max_session.max(header.ident.session);
                    max_durable = max_durable.max(header.durable_seq);
                    let mut info = BlockInfo::new(&header);
                    let (_, _, end) = walk_records(block, &header, |view, at, len| info.add(&view, at + len));
                    if end == WalkEnd::Damaged {
                        report.discarded_records += 1;
                        info.damaged_tail = true;
                    }
                    if info.records == 0 {
                        report.discarded_blocks += 1;
                        leftovers.push(position + i as u64);
                    } else {
                        found.push(info);
                    }
                }
                HeaderRead::Damaged => {
                    report.discarded_blocks += 1;
                    leftovers.push(position + i as u64);
                }
                HeaderRead::Empty | HeaderRead::OtherVolume => {}
            }
        }
        position += n as u64;
    }

    // Chain the blocks in write order. A block joins if it continues the previous one's
    // sequence, or if it starts at or below the durable watermark + 1 (then everything
    // before it was flushed, so a hole before it is damage, not a lost write). Sessions
    // never go backwards: a block of an older session after a newer one is a leftover of
    // a write that was cut, and so is a block that leaves a hole above the watermark —
    // there the walk stops, so that what remains is a prefix of what was written.
    found.sort_unstable_by_key(|b| b.bsn);
    let mut accepted: VecDeque<BlockInfo> = VecDeque::new();
    let mut stopped = false;
    for info in found {
        if stopped {
            report.discarded_records += u64::from(info.records);
            leftovers.push(info.bsn % geo.blocks);
            continue;
        }
        let (ordered, contiguous) = match accepted.back() {
            Some(last) => (
                info.first_seq > last.last_seq() && info.session >= last.session,
                info.first_seq == last.last_seq() + 1,
            ),
            None => (true, false),
        };
        if ordered && (contiguous || info.first_seq <= max_durable.saturating_add(1)) {
            accepted.push_back(info);
        } else {
            stopped = info.first_seq > max_durable.saturating_add(1);
            report.discarded_records += u64::from(info.records);
            leftovers.push(info.bsn % geo.blocks);
        }
    }
    if let Some(head) = accepted.back().map(|b| b.bsn) {
        while accepted.front().is_some_and(|b| b.bsn + geo.blocks <= head) {
            if let Some(dropped) = accepted.pop_front() {
                report.discarded_records += u64::from(dropped.records);
                leftovers.push(dropped.bsn % geo.blocks);
            }
        }
    }
    // A cut while the writer was overwriting the oldest blocks can leave the first
    // sectors of some of them (a valid prefix of their records) with the rest already
    // overwritten. The writer never has more than `max_unflushed_blocks` blocks written
    // since its last flush, so such remnants can only be among the oldest blocks, whose
    // positions the unflushed writes reached. There the log must run on without a hole:
    // everything before the last hole is dropped, so the log stays one window.
    let max_unflushed = max_unflushed_blocks(geo.blocks);
    if let Some(zone_end) = accepted.back().and_then(|h| (h.bsn + max_unflushed + 1).checked_sub(geo.blocks))
    {
        let last_hole = (0..accepted.len().saturating_sub(1))
            .take_while(|&i| accepted[i].bsn <= zone_end)
            .filter(|&i| accepted[i + 1].first_seq != accepted[i].last_seq() + 1)
            .last();
        if let Some(i) = last_hole {
            for dropped in accepted.drain(..=i) {
                report.discarded_records += u64::from(dropped.records);
                leftovers.push(dropped.bsn % geo.blocks);
            }
        }
    }
    report.valid_records = accepted.iter().map(|b| u64::from(b.records)).sum();
    clear_leftovers(dev, geo, &leftovers, &accepted)?;
    let last_seq = accepted.back().map_or(0, BlockInfo::last_seq);
    let next_seq = last_seq.max(max_durable) + 1;
    let next_bsn = accepted.back().map_or(0, |b| b.bsn + 1);
    let stage_capacity = STAGE_BLOCKS.min((geo.blocks / 2) as usize).max(1);
    let state = LogState {
        geo,
        index: accepted,
        session: report.max_session + 1,
        next_seq,
        durable_seq: next_seq - 1,
        next_bsn,
        stage: vec![0u8; stage_capacity * LOG_BLOCK_BYTES],
        stage_capacity,
        stage_blocks: 0,
        stage_first_bsn: next_bsn,
        written_sectors: 0,
        cursor: 0,
        device_dirty: false,
        blocks_since_flush: 0,
        counters: LogCounters::default(),
    };
    Ok((state, report))
}

/// Filters of a query. All given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only records of this boot.
    pub boot: Option<BootSelector>,
    /// Only records at least this severe.
    pub min_level: Option<Level>,
    /// Only records whose message or subsystem contains this text (ASCII
    /// case-insensitive).
    pub contains: Option<String>,
    /// Only records whose message and subsystem do not contain this text (ASCII
    /// case-insensitive).
    pub excludes: Option<String>,
    /// Only records with a wall time at or after this (unix seconds).
    pub since_wall_s: Option<u64>,
    /// Only records with a monotonic time at or after this (nanoseconds since their boot
    /// began; combine with `boot` for a meaningful window).
    pub since_mono_ns: Option<u64>,
    /// Only the newest `n` matching records.
    pub tail: Option<usize>,
    /// Only the oldest `n` matching records (when `tail` is not set).
    pub head: Option<usize>,
    /// Order of the result.
    pub order: Order,
}

impl Query {
    /// The boot the selector names: `Some(None)` for any boot, `None` when it names a boot
    /// before boot 0 (nothing matches).
    fn resolve_boot(&self, current_boot: u32) -> Option<Option<u32>> {
        match self.boot {
            None => Some(None),
            Some(BootSelector::Absolute(n)) => Some(Some(n)),
            Some(BootSelector::Relative(k)) => current_boot.checked_add_signed(k).map(Some),
        }
    }

    /// Whether one record passes the filters (`boot` resolved by [`Self::resolve_boot`]).
    fn matches(&self, boot: Option<u32>, r: &RecordView<'_>) -> bool {
        boot.is_none_or(|n| r.boot == n)
            && self.min_level.is_none_or(|min| r.level.at_least(min))
            && self.since_wall_s.is_none_or(|t| r.wall_s >= t)
            && self.since_mono_ns.is_none_or(|t| r.mono_ns >= t)
            && self.contains.as_deref().is_none_or(|needle| mentions(r, needle))
            && self.excludes.as_deref().is_none_or(|needle| !mentions(r, needle))
    }

    /// Runs the query over records held elsewhere, oldest first (the kernel's records in RAM
    /// when no partition is mounted), with the same filters, tail and order as a query of
    /// the log on disk.
    pub fn select(&self, current_boot: u32, records: impl IntoIterator<Item = LogRecord>) -> Vec<LogRecord> {
        let Some(boot) = self.resolve_boot(current_boot) else { return Vec::new() };
        let mut selected: Vec<LogRecord> = records
            .into_iter()
            .filter(|r| {
                let view = RecordView {
                    seq: r.seq,
                    level: r.level,
                    flags: 0,
                    mono_ns: r.mono_ns,
                    wall_s: r.wall_s,
                    boot: r.boot,
                    subsystem: &r.subsystem,
                    message: &r.message,
                };
                self.matches(boot, &view)
            })
            .collect();
        if let Some(tail) = self.tail {
            selected.drain(..selected.len().saturating_sub(tail));
        } else if let Some(head) = self.head {
            selected.truncate(head);
        }
        if self.order == Order::NewestFirst {
            selected.reverse();
        }
        selected
    }
}

/// Which boot a query means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootSelector {
    /// Boot number `n`.
    Absolute(u32),
    /// Relative to the current boot: `0` is this boot, `-1` the previous one.
    Relative(i32),
}

/// Order of query results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Oldest record first.
    #[default]
    OldestFirst,
    /// Newest record first.
    NewestFirst,
}

/// Records a query found, and what it had to skip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult {
    /// Matching records in the order asked for.
    pub records: Vec<LogRecord>,
    /// Records the index listed that no longer verify (damage since mount).
    pub skipped_corrupt_records: u64,
    /// Blocks the index listed whose header no longer verifies.
    pub skipped_corrupt_blocks: u64,
}

/// Figures about the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records stored (including those not yet flushed).
    pub records: u64,
    /// Bytes of blocks holding them (headers and records).
    pub bytes_used: u64,
    /// Size of the ring.
    pub capacity_bytes: u64,
    /// Oldest record: sequence number and wall time.
    pub oldest: Option<(u64, u64)>,
    /// Newest record: sequence number and wall time.
    pub newest: Option<(u64, u64)>,
    /// Times the ring wrapped around since it was formatted.
    pub wraps: u64,
    /// Records appended but not yet flushed.
    pub unflushed_records: u64,
}

/// Whether a record's message or subsystem contains `needle` (ASCII case-insensitive).
fn mentions(r: &RecordView<'_>, needle: &str) -> bool {
    contains_ignore_ascii_case(r.message, needle) || contains_ignore_ascii_case(r.subsystem, needle)
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

impl LogState {
    /// Makes `session` the session of blocks written from now on.
    pub(crate) fn adopt_session(&mut self, session: u64) {
        self.session = session;
    }

    pub(crate) fn session(&self) -> u64 {
        self.session
    }

    fn ring_blocks(&self) -> u64 {
        self.geo.blocks
    }

    /// Appends one record to the open block (opening one if needed); writes staged blocks
    /// when the stage is full, and flushes at each lap start. Returns the sequence number.
    pub(crate) fn append<D: BlockDevice + ?Sized>(
        &mut self,
        dev: &mut D,
        boot: u32,
        entry: &Entry<'_>,
    ) -> Result<u64, PlogError> {
        let len = record::encoded_len(entry);
        if self.stage_blocks == 0 || self.cursor + len > LOG_BLOCK_BYTES {
            self.open_block(dev)?;
        }
        let seq = self.next_seq;
        let bsn = self.stage_first_bsn + (self.stage_blocks - 1) as u64;
        let ident = BlockIdent { volume_id: self.geo.volume_id, bsn, session: self.session };
        let start = (self.stage_blocks - 1) * LOG_BLOCK_BYTES;
        let block = &mut self.stage[start..start + LOG_BLOCK_BYTES];
        let written = record::encode(&mut block[self.cursor..], &ident, seq, boot, entry)
            .ok_or(PlogError::InvalidParams { reason: "record larger than a block (internal limit)" })?;
        self.cursor += written;
        if let Some(info) = self.index.back_mut() {
            info.add_fields(boot, entry.wall_s, entry.mono_ns, self.cursor);
        }
        self.next_seq += 1;
        self.counters.appended_records += 1;
        Ok(seq)
    }

    fn open_block<D: BlockDevice + ?Sized>(&mut self, dev: &mut D) -> Result<(), PlogError> {
        let bsn = self.next_bsn;
        // Flushing before a lap starts keeps the oldest block in the ring at or below the
        // durable watermark + 1, which recovery needs to tell old data from a lost write.
        if (bsn.is_multiple_of(self.ring_blocks()) && bsn > 0)
            || self.blocks_since_flush >= max_unflushed_blocks(self.ring_blocks())
        {
            self.flush(dev)?;
        }
        if self.stage_blocks == self.stage_capacity {
            self.write_stage(dev)?;
        }
        if self.stage_blocks == 0 {
            self.stage_first_bsn = bsn;
            self.written_sectors = 0;
        }
        let start = self.stage_blocks * LOG_BLOCK_BYTES;
        let block = &mut self.stage[start..start + LOG_BLOCK_BYTES];
        block.fill(0);
        let header = BlockHeader {
            ident: BlockIdent { volume_id: self.geo.volume_id, bsn, session: self.session },
            first_seq: self.next_seq,
            durable_seq: self.durable_seq,
        };
        header.encode(block);
        self.stage_blocks += 1;
        self.cursor = BLOCK_HEADER_BYTES;
        self.next_bsn += 1;
        self.blocks_since_flush += 1;
        while self.index.front().is_some_and(|b| b.bsn + self.ring_blocks() <= bsn) {
            self.index.pop_front();
        }
        self.index.push_back(BlockInfo::new(&header));
        Ok(())
    }

    /// Writes every staged sector not yet on the device, padding the open block to a
    /// sector boundary so that later appends never rewrite a sector that is on disk.
    fn write_stage<D: BlockDevice + ?Sized>(&mut self, dev: &mut D) -> Result<(), PlogError> {
        if self.stage_blocks == 0 {
            return Ok(());
        }
        let end_in_last = self.cursor.next_multiple_of(SECTOR_BYTES);
        let start_byte = self.written_sectors * SECTOR_BYTES;
        let end_byte = (self.stage_blocks - 1) * LOG_BLOCK_BYTES + end_in_last;
        let mut at = start_byte;
        while at < end_byte {
            let bsn = self.stage_first_bsn + (at / LOG_BLOCK_BYTES) as u64;
            // A request may not run past the end of the ring.
            let blocks_to_ring_end = self.ring_blocks() - bsn % self.ring_blocks();
            let run_end =
                end_byte.min((at / LOG_BLOCK_BYTES + blocks_to_ring_end as usize) * LOG_BLOCK_BYTES);
            let lba = self.geo.block_lba(bsn) + ((at % LOG_BLOCK_BYTES) / SECTOR_BYTES) as u64;
            dev.write_sectors(lba, &self.stage[at..run_end])?;
            self.counters.write_requests += 1;
            self.counters.bytes_written += (run_end - at) as u64;
            self.device_dirty = true;
            at = run_end;
        }
        // Keep the open block (if it has room left) at the front of the stage.
        if end_in_last < LOG_BLOCK_BYTES {
            let last = (self.stage_blocks - 1) * LOG_BLOCK_BYTES;
            self.stage.copy_within(last..last + LOG_BLOCK_BYTES, 0);
            self.stage_first_bsn += (self.stage_blocks - 1) as u64;
            self.stage_blocks = 1;
            self.written_sectors = end_in_last / SECTOR_BYTES;
            self.cursor = end_in_last;
        } else {
            self.stage_first_bsn += self.stage_blocks as u64;
            self.stage_blocks = 0;
            self.written_sectors = 0;
            self.cursor = 0;
        }
        Ok(())
    }

    /// Writes what is staged and flushes the device: every record appended so far is
    /// durable when this returns `Ok`.
    pub(crate) fn flush<D: BlockDevice + ?Sized>(&mut self, dev: &mut D) -> Result<(), PlogError> {
        let staged_unwritten = self.stage_blocks > 1
            || (self.stage_blocks == 1 && self.cursor > self.written_sectors * SECTOR_BYTES);
        if staged_unwritten {
            self.write_stage(dev)?;
        }
        if self.device_dirty {
            dev.flush()?;
            self.counters.device_flushes += 1;
            self.device_dirty = false;
        }
        self.durable_seq = self.next_seq - 1;
        self.blocks_since_flush = 0;
        Ok(())
    }

    pub(crate) fn unflushed_records(&self) -> u64 {
        self.next_seq - 1 - self.durable_seq
    }

    pub(crate) fn stats(&self) -> LogStats {
        let records = self.index.iter().map(|b| u64::from(b.records)).sum();
        let bytes_used = self.index.iter().map(|b| u64::from(b.used_bytes)).sum();
        let live = || self.index.iter().filter(|b| b.records > 0);
        LogStats {
            records,
            bytes_used,
            capacity_bytes: self.geo.blocks * LOG_BLOCK_BYTES as u64,
            oldest: live().next().map(|b| (b.first_seq, b.first_wall_s)),
            newest: live().next_back().map(|b| (b.last_seq(), b.last_wall_s)),
            wraps: self.next_bsn.saturating_sub(1) / self.geo.blocks,
            unflushed_records: self.unflushed_records(),
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Calls `f` for every record of the blocks that `keep_block` admits, in `order`,
    /// until `f` breaks. Blocks that no longer verify are skipped and counted.
    fn visit<D: BlockDevice + ?Sized>(
        &self,
        dev: &mut D,
        order: Order,
        keep_block: impl Fn(&BlockInfo) -> bool,
        mut f: impl FnMut(RecordView<'_>) -> ControlFlow<()>,
        result: &mut QueryResult,
    ) -> Result<(), PlogError> {
        let mut selected: Vec<&BlockInfo> =
            self.index.iter().filter(|b| b.records > 0 && keep_block(b)).collect();
        if order == Order::NewestFirst {
            selected.reverse();
        }
        let staged = |bsn: u64| self.stage_blocks > 0 && bsn >= self.stage_first_bsn;
        let mut chunk = vec![0u8; QUERY_CHUNK_BLOCKS.min(selected.len()).max(1) * LOG_BLOCK_BYTES];
        let mut i = 0;
        let mut offsets: Vec<usize> = Vec::new();
        while i < selected.len() {
            // Group blocks that are neighbours on disk into one read.
            let mut run = 1;
            let n = self.geo.blocks;
            if !staged(selected[i].bsn) {
                while i + run < selected.len() && run < QUERY_CHUNK_BLOCKS {
                    let (a, b) = (selected[i + run - 1].bsn, selected[i + run].bsn);
                    // Neighbours in bsn are neighbours on disk unless the ring wraps between.
                    let adjacent = match order {
                        Order::OldestFirst => b == a + 1 && b % n != 0,
                        Order::NewestFirst => a % n != 0 && b + 1 == a,
                    };
                    if !adjacent || staged(b) {
                        break;
                    }
                    run += 1;
                }
            }
            let lowest = match order {
                Order::OldestFirst => selected[i].bsn,
                Order::NewestFirst => selected[i + run - 1].bsn,
            };
            if !staged(selected[i].bsn) {
                dev.read_sectors(self.geo.block_lba(lowest), &mut chunk[..run * LOG_BLOCK_BYTES])?;
            }
            for k in 0..run {
                let info = selected[i + k];
                let block: &[u8] = if staged(info.bsn) {
                    let at = (info.bsn - self.stage_first_bsn) as usize * LOG_BLOCK_BYTES;
                    &self.stage[at..at + LOG_BLOCK_BYTES]
                } else {
                    let at = (info.bsn - lowest) as usize * LOG_BLOCK_BYTES;
                    &chunk[at..at + LOG_BLOCK_BYTES]
                };
                let header =
                    match read_header(block, self.geo.volume_id, info.bsn % self.geo.blocks, self.geo.blocks)
                    {
                        HeaderRead::Valid(h)
                            if h.ident.bsn == info.bsn && h.ident.session == info.session =>
                        {
                            h
                        }
                        _ => {
                            result.skipped_corrupt_blocks += 1;
                            result.skipped_corrupt_records += u64::from(info.records);
                            continue;
                        }
                    };
                offsets.clear();
                let (count, _, _) = walk_records(block, &header, |_, at, _| {
                    if offsets.len() < info.records as usize {
                        offsets.push(at);
                    }
                });
                let seen = count.min(info.records);
                result.skipped_corrupt_records += u64::from(info.records - seen);
                let mut emit = |at: usize| match record::decode(&block[at..], &header.ident) {
                    Slot::Record(view, _) => f(view),
                    _ => ControlFlow::Continue(()),
                };
                let flow = if order == Order::OldestFirst {
                    offsets.iter().try_for_each(|&at| emit(at))
                } else {
                    offsets.iter().rev().try_for_each(|&at| emit(at))
                };
                if flow.is_break() {
                    return Ok(());
                }
            }
            i += run;
        }
        Ok(())
    }

    /// Runs `query`; `current_boot` resolves relative boot selectors.
    pub(crate) fn query<D: BlockDevice + ?Sized>(
        &self,
        dev: &mut D,
        query: &Query,
        current_boot: u32,
    ) -> Result<QueryResult, PlogError> {
        let mut result = QueryResult::default();
        // A relative boot before boot 0 matches nothing.
        let Some(boot) = query.resolve_boot(current_boot) else {
            return Ok(result);
        };
        let keep_block = |b: &BlockInfo| {
            boot.is_none_or(|n| b.min_boot <= n && n <= b.max_boot)
                && query.since_wall_s.is_none_or(|t| b.last_wall_s >= t)
                && query.since_mono_ns.is_none_or(|t| b.max_mono_ns >= t)
        };
        let matches = |r: &RecordView<'_>| query.matches(boot, r);
        let (walk_order, limit) = match (query.tail, query.head) {
            (Some(tail), _) => (Order::NewestFirst, tail),
            (None, Some(head)) => (Order::OldestFirst, head),
            (None, None) => (query.order, usize::MAX),
        };
        let mut records = Vec::new();
        if limit > 0 {
            self.visit(
                dev,
                walk_order,
                keep_block,
                |view| {
                    if matches(&view) {
                        records.push(view.to_owned_record());
                        if records.len() >= limit {
                            return ControlFlow::Break(());
                        }
                    }
                    ControlFlow::Continue(())
                },
                &mut result,
            )?;
        }
        if walk_order != query.order {
            records.reverse();
        }
        result.records = records;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BlockHeader {
        BlockHeader {
            ident: BlockIdent { volume_id: 9, bsn: 13, session: 4 },
            first_seq: 100,
            durable_seq: 90,
        }
    }

    #[test]
    fn select_filters_records_held_in_memory_like_the_disk_query() {
        let record = |seq: u64, level: Level, boot: u32, subsystem: &str, message: &str| LogRecord {
            seq,
            level,
            mono_ns: seq * 1000,
            wall_s: 0,
            boot,
            subsystem: String::from(subsystem),
            message: String::from(message),
            truncated: false,
        };
        let records = vec![
            record(1, Level::Info, 7, "storage", "disk found"),
            record(2, Level::Warn, 7, "vm", "guest FAILED"),
            record(3, Level::Error, 7, "storage", "write failed"),
            record(4, Level::Debug, 7, "time", "tick"),
        ];
        let seqs = |q: &Query| q.select(7, records.clone()).iter().map(|r| r.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&Query::default()), [1, 2, 3, 4]);
        assert_eq!(seqs(&Query { min_level: Some(Level::Warn), ..Default::default() }), [2, 3]);
        assert_eq!(seqs(&Query { contains: Some(String::from("failed")), ..Default::default() }), [2, 3]);
        assert_eq!(seqs(&Query { contains: Some(String::from("STORAGE")), ..Default::default() }), [1, 3]);
        assert_eq!(seqs(&Query { excludes: Some(String::from("STORAGE")), ..Default::default() }), [2, 4]);
        let both = Query {
            contains: Some(String::from("failed")),
            excludes: Some(String::from("storage")),
            ..Default::default()
        };
        assert_eq!(seqs(&both), [2]);
        assert_eq!(seqs(&Query { head: Some(2), ..Default::default() }), [1, 2]);
        assert_eq!(seqs(&Query { head: Some(2), order: Order::NewestFirst, ..Default::default() }), [2, 1]);
        assert_eq!(seqs(&Query { tail: Some(2), ..Default::default() }), [3, 4]);
        assert_eq!(seqs(&Query { since_mono_ns: Some(2500), ..Default::default() }), [3, 4]);
        assert_eq!(seqs(&Query { boot: Some(BootSelector::Relative(-1)), ..Default::default() }), []);
        assert_eq!(
            seqs(&Query { boot: Some(BootSelector::Relative(0)), ..Default::default() }),
            [1, 2, 3, 4]
        );
        let newest_first = Query { order: Order::NewestFirst, tail: Some(3), ..Default::default() };
        assert_eq!(seqs(&newest_first), [4, 3, 2]);
    }

    #[test]
    fn header_round_trip_and_checks() {
        let mut block = vec![0u8; LOG_BLOCK_BYTES];
        header().encode(&mut block);
        assert_eq!(read_header(&block, 9, 13 % 10, 10), HeaderRead::Valid(header()));
        assert_eq!(read_header(&block, 8, 3, 10), HeaderRead::OtherVolume);
        assert_eq!(read_header(&block, 9, 4, 10), HeaderRead::Damaged);
        assert_eq!(read_header(&vec![0u8; LOG_BLOCK_BYTES], 9, 3, 10), HeaderRead::Empty);
        block[20] ^= 1;
        assert_eq!(read_header(&block, 9, 3, 10), HeaderRead::Damaged);
    }

    #[test]
    fn walk_skips_padding_and_stops_at_foreign_sectors() {
        let h = header();
        let mut block = vec![0u8; LOG_BLOCK_BYTES];
        h.encode(&mut block);
        let e = Entry { level: Level::Info, mono_ns: 1, wall_s: 2, subsystem: "t", message: "first" };
        let n = record::encode(&mut block[BLOCK_HEADER_BYTES..], &h.ident, 100, 1, &e).unwrap();
        // A flush padded to the sector boundary; the next record starts at 512.
        record::encode(&mut block[SECTOR_BYTES..], &h.ident, 101, 1, &e).unwrap();
        // Sector 2 holds a record of another lap (wrong identity) with the next number.
        let stale = BlockIdent { bsn: 3, ..h.ident };
        record::encode(&mut block[2 * SECTOR_BYTES..], &stale, 102, 1, &e).unwrap();
        let mut seqs = Vec::new();
        let (count, end, how) = walk_records(&block, &h, |v, _, _| seqs.push(v.seq));
        assert_eq!(seqs, [100, 101]);
        assert_eq!((count, how), (2, WalkEnd::Clean));
        assert_eq!(end, SECTOR_BYTES + n);
    }

    #[test]
    fn walk_reports_torn_records_as_damage() {
        let h = header();
        let mut block = vec![0u8; LOG_BLOCK_BYTES];
        h.encode(&mut block);
        let e = Entry { level: Level::Info, mono_ns: 1, wall_s: 2, subsystem: "t", message: "a message" };
        let n = record::encode(&mut block[BLOCK_HEADER_BYTES..], &h.ident, 100, 1, &e).unwrap();
        record::encode(&mut block[BLOCK_HEADER_BYTES + n..], &h.ident, 101, 1, &e).unwrap();
        block[BLOCK_HEADER_BYTES + n + 20] ^= 0x10;
        let (count, _, how) = walk_records(&block, &h, |_, _, _| {});
        assert_eq!((count, how), (1, WalkEnd::Damaged));
    }

    #[test]
    fn a_record_with_the_wrong_number_ends_the_walk() {
        let h = header();
        let mut block = vec![0u8; LOG_BLOCK_BYTES];
        h.encode(&mut block);
        let e = Entry { level: Level::Info, mono_ns: 1, wall_s: 2, subsystem: "t", message: "x" };
        record::encode(&mut block[BLOCK_HEADER_BYTES..], &h.ident, 101, 1, &e).unwrap();
        assert_eq!(walk_records(&block, &h, |_, _, _| {}).0, 0);
    }

    #[test]
    fn ascii_case_insensitive_search() {
        assert!(contains_ignore_ascii_case("Disk FAILED at 3", "failed"));
        assert!(contains_ignore_ascii_case("x", ""));
        assert!(!contains_ignore_ascii_case("fail", "failed"));
    }
}
