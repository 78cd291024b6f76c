//! Shared helpers of the integration tests: a small partition, a deterministic workload
//! and the model that recovered logs are checked against.
#![allow(dead_code)]

use rayos_block::mem::MemDisk;
use rayos_block::BlockDevice;
use rayos_plog::{DataPartition, Entry, FormatParams, Level, LogRecord, Query};

pub const VOLUME: u64 = 0x5eed_0001;

/// Sectors of a partition with 4 boot slots, 2 crash slots and `ring_blocks` log blocks.
pub fn sectors_for(ring_blocks: u64) -> u64 {
    // boot table 16..24, crash area 24..280, ring from 280.
    280 + ring_blocks * 8
}

pub fn small_params() -> FormatParams {
    FormatParams { volume_id: VOLUME, wall_s: 1_000, boot_slots: 4, crash_slots: 2 }
}

pub fn formatted(ring_blocks: u64) -> DataPartition<MemDisk> {
    let part = DataPartition::format(MemDisk::new(sectors_for(ring_blocks)), &small_params()).unwrap();
    assert_eq!(part.layout().log_blocks, ring_blocks);
    part
}

pub fn mount(disk: MemDisk) -> DataPartition<MemDisk> {
    match DataPartition::mount(disk) {
        Ok(p) => p,
        Err(e) => panic!("mount failed: {}", e.error),
    }
}

/// SplitMix64, for workloads that the test can replay.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The content of the record with sequence number `seq` written with `shape`.
pub fn content(seq: u64, shape: u64) -> (Level, String, String) {
    let level = Level::ALL[(shape % 5) as usize];
    let subsystem = ["kern", "blk", "net", "sched", "shell"][(shape / 5 % 5) as usize].to_string();
    // Lengths from a few bytes to past the limit, so truncation is exercised too.
    let filler_len = match shape / 25 % 8 {
        0 => 0,
        1..=4 => (shape >> 8) as usize % 120,
        5 | 6 => (shape >> 8) as usize % 900,
        _ => 1100,
    };
    let message = format!("record {seq} {}", "x".repeat(filler_len));
    (level, subsystem, message)
}

/// What a test has appended and what it knows to be durable.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub records: Vec<LogRecord>,
    pub durable_len: usize,
}

/// The fields of the record a workload appends as `shape` at `mono_ns`.
pub struct Planned {
    pub level: Level,
    pub subsystem: String,
    pub message: String,
    pub mono_ns: u64,
    pub wall_s: u64,
}

impl Planned {
    pub fn new(tag: u64, shape: u64, mono_ns: u64) -> Self {
        let (level, subsystem, message) = content(tag, shape);
        Self { level, subsystem, message, mono_ns, wall_s: 1_000 + mono_ns / 1_000_000_000 }
    }

    pub fn entry(&self) -> Entry<'_> {
        Entry {
            level: self.level,
            mono_ns: self.mono_ns,
            wall_s: self.wall_s,
            subsystem: &self.subsystem,
            message: &self.message,
        }
    }

    /// The record the log should give back for it.
    pub fn record(&self, seq: u64, boot: u32) -> LogRecord {
        let msg = rayos_plog::truncate_str(&self.message, rayos_plog::MAX_MESSAGE_BYTES);
        LogRecord {
            seq,
            level: self.level,
            mono_ns: self.mono_ns,
            wall_s: self.wall_s,
            boot,
            subsystem: self.subsystem.clone(),
            message: msg.to_string(),
            truncated: msg.len() < self.message.len(),
        }
    }
}

impl Model {
    /// Appends one record with `shape` through `part` and records it.
    pub fn append<D: BlockDevice>(
        &mut self,
        part: &mut DataPartition<D>,
        shape: u64,
        durable: bool,
        mono_ns: u64,
    ) {
        let expected = self.records.last().map(|r| r.seq + 1);
        let planned = Planned::new(expected.unwrap_or(0), shape, mono_ns);
        let boot = part.current_boot().unwrap_or(0);
        let mut log = part.log();
        let seq = if durable { log.append_durable(&planned.entry()) } else { log.append(&planned.entry()) }
            .unwrap();
        if let Some(e) = expected {
            assert_eq!(seq, e, "sequence numbers must continue");
        }
        self.records.push(planned.record(seq, boot));
        if durable {
            self.durable_len = self.records.len();
        }
    }

    pub fn flushed(&mut self) {
        self.durable_len = self.records.len();
    }

    /// After a recovery that kept the model's records up to `end`.
    pub fn recovered(&mut self, end: usize) {
        self.records.truncate(end);
        self.durable_len = end;
    }
}

/// Every record the partition holds, oldest first.
pub fn read_all<D: BlockDevice>(part: &mut DataPartition<D>) -> Vec<LogRecord> {
    let result = part.log().query(&Query::default()).unwrap();
    result.records
}

/// Checks a log recovered after a power cut against the model: it must be a contiguous
/// run of the model's records (identical, so never a corrupted one), ending at or after
/// the last durable record. Returns the index in the model just past the run, which is
/// where the timeline continues.
pub fn check_prefix(got: &[LogRecord], model: &Model) -> Result<usize, String> {
    let Some(first) = got.first() else {
        if model.durable_len > 0 {
            return Err(format!("log empty but {} records were durable", model.durable_len));
        }
        return Ok(0);
    };
    let start = model
        .records
        .iter()
        .position(|r| r.seq == first.seq)
        .ok_or_else(|| format!("record {} was never appended", first.seq))?;
    let end = start + got.len();
    if end > model.records.len() {
        return Err(format!(
            "log has {} records from {start}, model only {}",
            got.len(),
            model.records.len()
        ));
    }
    for (g, m) in got.iter().zip(&model.records[start..end]) {
        if g != m {
            return Err(format!("record differs:\n got {g:?}\nwant {m:?}"));
        }
    }
    if end < model.durable_len {
        return Err(format!("durable records lost: log ends at {end}, {} were durable", model.durable_len));
    }
    Ok(end)
}
