//! Crash records: fixed slots written by a path that neither allocates nor panics.
//!
//! A slot is [`CRASH_SLOT_SECTORS`] sectors: the record body from sector 0, and a commit
//! sector last. The writer picks the slot holding the oldest record (or an empty one),
//! writes the body, flushes, then writes the commit sector (which carries the body's
//! length and CRC) and flushes again. Until the commit lands the slot verifies as nothing,
//! and no other slot is touched, so a crash during the crash write costs at most the
//! oldest record.

use crate::codec::{checksum32, truncate_str, Get, Put};
use crate::error::PlogError;
use crate::superblock::CRASH_SLOT_SECTORS;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use rayos_block::{BlockDevice, BlockError, SECTOR_BYTES};

/// Longest panic message stored, in bytes.
pub const MAX_CRASH_MESSAGE_BYTES: usize = 1024;
/// Most backtrace frames stored (the innermost ones).
pub const MAX_BACKTRACE_FRAMES: usize = 32;
/// Longest symbol name stored per frame, in bytes.
pub const MAX_SYMBOL_BYTES: usize = 128;
/// Most log lines stored (the newest ones).
pub const MAX_LOG_LINES: usize = 64;
/// Longest log line stored, in bytes.
pub const MAX_LOG_LINE_BYTES: usize = 256;
/// Bytes of scratch buffer [`CrashWriter::write_nopanic`] needs: one slot.
pub const CRASH_SCRATCH_BYTES: usize = CRASH_SLOT_SECTORS as usize * SECTOR_BYTES;

const BODY_SECTORS: usize = CRASH_SLOT_SECTORS as usize - 1;
const BODY_CAPACITY: usize = BODY_SECTORS * SECTOR_BYTES;
/// `"RCRC"`: commit sector.
const COMMIT_MAGIC: u32 = u32::from_le_bytes(*b"RCRC");
/// `"RCRB"`: record body.
const BODY_MAGIC: u32 = u32::from_le_bytes(*b"RCRB");
const BODY_VERSION: u16 = 1;
const COMMIT_BYTES: usize = 64;
const FLAG_TRUNCATED: u16 = 1;

/// What killed the boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashKind {
    /// A Rust panic.
    Panic,
    /// #DE.
    DivideError,
    /// #UD.
    InvalidOpcode,
    /// #DF.
    DoubleFault,
    /// #GP.
    GeneralProtection,
    /// #PF.
    PageFault,
    /// #SS.
    StackFault,
    /// #MC.
    MachineCheck,
    /// The watchdog found the system hung.
    Watchdog,
    /// Another fatal exception, by vector.
    Exception(u8),
}

impl CrashKind {
    fn code(self) -> u16 {
        match self {
            Self::Panic => 1,
            Self::DivideError => 2,
            Self::InvalidOpcode => 3,
            Self::DoubleFault => 4,
            Self::GeneralProtection => 5,
            Self::PageFault => 6,
            Self::StackFault => 7,
            Self::MachineCheck => 8,
            Self::Watchdog => 9,
            Self::Exception(vector) => 0x100 | u16::from(vector),
        }
    }

    fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            1 => Self::Panic,
            2 => Self::DivideError,
            3 => Self::InvalidOpcode,
            4 => Self::DoubleFault,
            5 => Self::GeneralProtection,
            6 => Self::PageFault,
            7 => Self::StackFault,
            8 => Self::MachineCheck,
            9 => Self::Watchdog,
            0x100..=0x1ff => Self::Exception((code & 0xff) as u8),
            _ => return None,
        })
    }
}

impl fmt::Display for CrashKind {
    /// The marker spelling: `panic`, `page-fault`, `gp-fault`, ..., `exception-<vector>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Panic => "panic",
            Self::DivideError => "divide-error",
            Self::InvalidOpcode => "invalid-opcode",
            Self::DoubleFault => "double-fault",
            Self::GeneralProtection => "gp-fault",
            Self::PageFault => "page-fault",
            Self::StackFault => "stack-fault",
            Self::MachineCheck => "machine-check",
            Self::Watchdog => "watchdog",
            Self::Exception(vector) => return write!(f, "exception-{vector}"),
        })
    }
}

/// The CPU registers saved at the crash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Registers {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rflags: u64,
    pub cs: u64,
    pub ss: u64,
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
}

impl Registers {
    /// Register names, in the order of [`Self::to_array`].
    pub const NAMES: [&'static str; 22] = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15", "rflags", "cs", "ss", "cr0", "cr3", "cr4",
    ];

    /// The values, in the order of [`Self::NAMES`].
    pub fn to_array(&self) -> [u64; 22] {
        [
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.rsp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rflags,
            self.cs,
            self.ss,
            self.cr0,
            self.cr3,
            self.cr4,
        ]
    }

    fn from_array(v: [u64; 22]) -> Self {
        let [rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8, r9, r10, r11, r12, r13, r14, r15, rflags, cs, ss, cr0, cr3, cr4] =
            v;
        Self {
            rax,
            rbx,
            rcx,
            rdx,
            rsi,
            rdi,
            rbp,
            rsp,
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rflags,
            cs,
            ss,
            cr0,
            cr3,
            cr4,
        }
    }
}

/// One backtrace frame, borrowed (for the write path).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Return address.
    pub address: u64,
    /// Symbol containing it (empty if unknown).
    pub symbol: &'a str,
    /// `address - symbol start`.
    pub offset: u64,
}

/// A crash to record, all borrowed, so that the write path needs no heap.
#[derive(Debug, Clone, Copy)]
pub struct CrashView<'a> {
    /// What happened.
    pub kind: CrashKind,
    /// Panic message or exception description.
    pub message: &'a str,
    /// Boot number.
    pub boot: u32,
    /// Unix seconds (0 if unknown).
    pub wall_s: u64,
    /// Uptime in nanoseconds.
    pub uptime_ns: u64,
    /// Instruction pointer.
    pub rip: u64,
    /// CR2 (faulting address of a page fault).
    pub cr2: u64,
    /// Exception error code (0 if none).
    pub error_code: u64,
    /// Saved registers.
    pub registers: Registers,
    /// Backtrace, innermost frame first (only the first [`MAX_BACKTRACE_FRAMES`] are kept).
    pub backtrace: &'a [Frame<'a>],
    /// Recent log lines, oldest first (only the last [`MAX_LOG_LINES`] are kept).
    pub log_lines: &'a [&'a str],
}

/// One backtrace frame, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacktraceFrame {
    /// Return address.
    pub address: u64,
    /// Symbol name.
    pub symbol: String,
    /// Offset into the symbol.
    pub offset: u64,
}

/// A crash record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashRecord {
    /// Crash number: increasing over the life of the partition.
    pub crash_seq: u64,
    /// Slot it lies in.
    pub slot: u32,
    /// What happened.
    pub kind: CrashKind,
    /// Message.
    pub message: String,
    /// Boot number.
    pub boot: u32,
    /// Unix seconds.
    pub wall_s: u64,
    /// Uptime in nanoseconds.
    pub uptime_ns: u64,
    /// Instruction pointer.
    pub rip: u64,
    /// CR2.
    pub cr2: u64,
    /// Exception error code.
    pub error_code: u64,
    /// Saved registers.
    pub registers: Registers,
    /// Backtrace, innermost first.
    pub backtrace: Vec<BacktraceFrame>,
    /// Recent log lines, oldest first.
    pub log_lines: Vec<String>,
    /// True when something was cut to fit the limits.
    pub truncated: bool,
}

/// The commit sector's facts about a record (for lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashSummary {
    /// Crash number.
    pub crash_seq: u64,
    /// Slot.
    pub slot: u32,
    /// What happened.
    pub kind: CrashKind,
    /// Boot number.
    pub boot: u32,
    /// Unix seconds.
    pub wall_s: u64,
    /// Uptime in nanoseconds.
    pub uptime_ns: u64,
    /// Instruction pointer.
    pub rip: u64,
}

/// Why the crash write path failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashWriteError {
    /// The scratch buffer is smaller than [`CRASH_SCRATCH_BYTES`].
    ScratchTooSmall {
        /// Bytes needed.
        needed_bytes: usize,
        /// Bytes given.
        given_bytes: usize,
    },
    /// The device failed.
    Device(BlockError),
}

impl From<BlockError> for CrashWriteError {
    fn from(e: BlockError) -> Self {
        Self::Device(e)
    }
}

impl fmt::Display for CrashWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ScratchTooSmall { needed_bytes, given_bytes } => write!(
                f,
                "crash scratch buffer of {given_bytes} bytes is smaller than the {needed_bytes} needed"
            ),
            Self::Device(e) => write!(f, "writing the crash record: {e}"),
        }
    }
}

/// Where a crash record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashWritten {
    /// Slot used.
    pub slot: u32,
    /// Crash number given.
    pub crash_seq: u64,
    /// Size of the body.
    pub body_bytes: usize,
    /// True when something was cut to fit the limits.
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Commit {
    crash_seq: u64,
    body_bytes: u32,
    body_crc: u32,
    kind: CrashKind,
    boot: u32,
    wall_s: u64,
    uptime_ns: u64,
    rip: u64,
}

impl Commit {
    fn encode(&self, volume_id: u64, out: &mut [u8; SECTOR_BYTES]) {
        out.fill(0);
        let mut put = Put::new(out);
        let _ = (|| {
            put.u32(COMMIT_MAGIC)?;
            put.u32(0)?;
            put.u64(self.crash_seq)?;
            put.u32(self.body_bytes)?;
            put.u32(self.body_crc)?;
            put.u16(self.kind.code())?;
            put.u16(BODY_VERSION)?;
            put.u32(self.boot)?;
            put.u64(self.wall_s)?;
            put.u64(self.uptime_ns)?;
            put.u64(self.rip)
        })();
        let crc = checksum32(&[&volume_id.to_le_bytes(), &out[..4], &out[8..COMMIT_BYTES]]);
        out[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    fn decode(sector: &[u8], volume_id: u64) -> Option<Self> {
        let head = sector.get(..COMMIT_BYTES)?;
        let mut get = Get::new(head);
        if get.u32()? != COMMIT_MAGIC {
            return None;
        }
        let stored = get.u32()?;
        if checksum32(&[&volume_id.to_le_bytes(), head.get(..4)?, head.get(8..)?]) != stored {
            return None;
        }
        let crash_seq = get.u64()?;
        let body_bytes = get.u32()?;
        let body_crc = get.u32()?;
        let kind = CrashKind::from_code(get.u16()?)?;
        if get.u16()? != BODY_VERSION || body_bytes as usize > BODY_CAPACITY || crash_seq == 0 {
            return None;
        }
        let boot = get.u32()?;
        let wall_s = get.u64()?;
        let uptime_ns = get.u64()?;
        let rip = get.u64()?;
        Some(Self { crash_seq, body_bytes, body_crc, kind, boot, wall_s, uptime_ns, rip })
    }
}

fn body_crc(volume_id: u64, crash_seq: u64, body: &[u8]) -> u32 {
    checksum32(&[&volume_id.to_le_bytes(), &crash_seq.to_le_bytes(), body])
}

/// Encodes `view` into `out`; returns the length and whether anything was cut. Never
/// allocates and never panics (`None` only if `out` is too small for the limits).
fn encode_body(view: &CrashView<'_>, out: &mut [u8]) -> Option<(usize, bool)> {
    let message = truncate_str(view.message, MAX_CRASH_MESSAGE_BYTES);
    let frames = view.backtrace.get(..view.backtrace.len().min(MAX_BACKTRACE_FRAMES))?;
    let lines = view.log_lines.get(view.log_lines.len().saturating_sub(MAX_LOG_LINES)..)?;
    let mut truncated = message.len() < view.message.len()
        || frames.len() < view.backtrace.len()
        || lines.len() < view.log_lines.len();
    let mut put = Put::new(out);
    put.u32(BODY_MAGIC)?;
    put.u16(BODY_VERSION)?;
    put.u16(0)?; // flags, patched below
    put.u16(view.kind.code())?;
    put.u16(0)?;
    put.u32(view.boot)?;
    for v in [view.wall_s, view.uptime_ns, view.rip, view.cr2, view.error_code] {
        put.u64(v)?;
    }
    for v in view.registers.to_array() {
        put.u64(v)?;
    }
    put.u16(message.len() as u16)?;
    put.bytes(message.as_bytes())?;
    put.u16(frames.len() as u16)?;
    for frame in frames {
        let symbol = truncate_str(frame.symbol, MAX_SYMBOL_BYTES);
        truncated |= symbol.len() < frame.symbol.len();
        put.u64(frame.address)?;
        put.u64(frame.offset)?;
        put.u16(symbol.len() as u16)?;
        put.bytes(symbol.as_bytes())?;
    }
    put.u16(lines.len() as u16)?;
    for line in lines {
        let kept = truncate_str(line, MAX_LOG_LINE_BYTES);
        truncated |= kept.len() < line.len();
        put.u16(kept.len() as u16)?;
        put.bytes(kept.as_bytes())?;
    }
    let len = put.at();
    if truncated {
        out.get_mut(6..8)?.copy_from_slice(&FLAG_TRUNCATED.to_le_bytes());
    }
    Some((len, truncated))
}

fn decode_body(body: &[u8], commit: &Commit, slot: u32) -> Option<CrashRecord> {
    let mut get = Get::new(body);
    if get.u32()? != BODY_MAGIC || get.u16()? != BODY_VERSION {
        return None;
    }
    let flags = get.u16()?;
    let kind = CrashKind::from_code(get.u16()?)?;
    get.u16()?;
    let boot = get.u32()?;
    let [wall_s, uptime_ns, rip, cr2, error_code] = [(); 5].map(|_| get.u64());
    let mut regs = [0u64; 22];
    for r in &mut regs {
        *r = get.u64()?;
    }
    let text = |get: &mut Get<'_>| -> Option<String> {
        let len = usize::from(get.u16()?);
        core::str::from_utf8(get.bytes(len)?).ok().map(String::from)
    };
    let message = text(&mut get)?;
    let frame_count = usize::from(get.u16()?);
    if frame_count > MAX_BACKTRACE_FRAMES {
        return None;
    }
    let mut backtrace = Vec::with_capacity(frame_count);
    for _ in 0..frame_count {
        let address = get.u64()?;
        let offset = get.u64()?;
        backtrace.push(BacktraceFrame { address, offset, symbol: text(&mut get)? });
    }
    let line_count = usize::from(get.u16()?);
    if line_count > MAX_LOG_LINES {
        return None;
    }
    let mut log_lines = Vec::with_capacity(line_count);
    for _ in 0..line_count {
        log_lines.push(text(&mut get)?);
    }
    if get.at() != body.len() {
        return None;
    }
    Some(CrashRecord {
        crash_seq: commit.crash_seq,
        slot,
        kind,
        message,
        boot,
        wall_s: wall_s?,
        uptime_ns: uptime_ns?,
        rip: rip?,
        cr2: cr2?,
        error_code: error_code?,
        registers: Registers::from_array(regs),
        backtrace,
        log_lines,
        truncated: flags & FLAG_TRUNCATED != 0,
    })
}

/// Everything the crash path needs to find the crash area: small, `Copy`, made at mount
/// and kept by the kernel where its panic handler can reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashWriter {
    pub(crate) volume_id: u64,
    pub(crate) area_lba: u64,
    pub(crate) slots: u32,
}

impl CrashWriter {
    fn slot_lba(&self, slot: u32) -> Option<u64> {
        self.area_lba.checked_add(u64::from(slot).checked_mul(CRASH_SLOT_SECTORS)?)
    }

    fn commit_lba(&self, slot: u32) -> Option<u64> {
        self.slot_lba(slot)?.checked_add(CRASH_SLOT_SECTORS - 1)
    }

    /// Records a crash. For the panic and fault handlers: it allocates nothing, does not
    /// panic, and touches only the chosen slot (the empty or oldest one). `scratch` must
    /// hold at least [`CRASH_SCRATCH_BYTES`]; `dev` is the RAYOS-DATA partition (a polled
    /// driver is fine: two writes and two flushes, plus one read per slot).
    pub fn write_nopanic<D: BlockDevice + ?Sized>(
        &self,
        dev: &mut D,
        view: &CrashView<'_>,
        scratch: &mut [u8],
    ) -> Result<CrashWritten, CrashWriteError> {
        let given_bytes = scratch.len();
        let too_small = CrashWriteError::ScratchTooSmall { needed_bytes: CRASH_SCRATCH_BYTES, given_bytes };
        let scratch = scratch.get_mut(..CRASH_SCRATCH_BYTES).ok_or(too_small)?;
        let out_of_range =
            |lba| BlockError::OutOfRange { lba, sectors: CRASH_SLOT_SECTORS, device_sectors: 0 };

        // The empty slot, or the one holding the oldest record.
        let mut chosen = (0u32, u64::MAX);
        let mut max_seq = 0u64;
        for slot in 0..self.slots {
            let lba = self.commit_lba(slot).ok_or(out_of_range(self.area_lba))?;
            let sector = scratch.get_mut(..SECTOR_BYTES).ok_or(too_small)?;
            dev.read_sectors(lba, sector)?;
            let seq = Commit::decode(sector, self.volume_id).map_or(0, |c| c.crash_seq);
            max_seq = max_seq.max(seq);
            if seq < chosen.1 {
                chosen = (slot, seq);
            }
        }
        let slot = chosen.0;
        let crash_seq = max_seq.saturating_add(1);

        let body_area = scratch.get_mut(..BODY_CAPACITY).ok_or(too_small)?;
        body_area.fill(0);
        let (body_bytes, truncated) = encode_body(view, body_area).ok_or(too_small)?;
        let padded = body_bytes.div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
        let body = body_area.get(..body_bytes).ok_or(too_small)?;
        let commit = Commit {
            crash_seq,
            body_bytes: body_bytes as u32,
            body_crc: body_crc(self.volume_id, crash_seq, body),
            kind: view.kind,
            boot: view.boot,
            wall_s: view.wall_s,
            uptime_ns: view.uptime_ns,
            rip: view.rip,
        };
        let slot_lba = self.slot_lba(slot).ok_or(out_of_range(self.area_lba))?;
        dev.write_sectors(slot_lba, body_area.get(..padded).ok_or(too_small)?)?;
        // The body must be durable before the commit that vouches for it.
        dev.flush()?;
        let mut sector = [0u8; SECTOR_BYTES];
        commit.encode(self.volume_id, &mut sector);
        dev.write_sectors(self.commit_lba(slot).ok_or(out_of_range(slot_lba))?, &sector)?;
        dev.flush()?;
        Ok(CrashWritten { slot, crash_seq, body_bytes, truncated })
    }

    /// Commits of every slot that verifies (commit sector only).
    fn read_commits<D: BlockDevice + ?Sized>(&self, dev: &mut D) -> Result<Vec<(u32, Commit)>, PlogError> {
        let mut out = Vec::new();
        let mut sector = [0u8; SECTOR_BYTES];
        for slot in 0..self.slots {
            let lba =
                self.commit_lba(slot).ok_or(PlogError::InvalidParams { reason: "crash area off the end" })?;
            dev.read_sectors(lba, &mut sector)?;
            if let Some(commit) = Commit::decode(&sector, self.volume_id) {
                out.push((slot, commit));
            }
        }
        Ok(out)
    }

    /// The body of `slot` if it matches `commit`'s length and CRC.
    fn read_body<D: BlockDevice + ?Sized>(
        &self,
        dev: &mut D,
        slot: u32,
        commit: &Commit,
    ) -> Result<Option<Vec<u8>>, PlogError> {
        let lba = self.slot_lba(slot).ok_or(PlogError::InvalidParams { reason: "crash area off the end" })?;
        let len = commit.body_bytes as usize;
        let mut body = vec![0u8; len.div_ceil(SECTOR_BYTES) * SECTOR_BYTES];
        dev.read_sectors(lba, &mut body)?;
        body.truncate(len);
        Ok((body_crc(self.volume_id, commit.crash_seq, &body) == commit.body_crc).then_some(body))
    }

    /// Verified records newer than `cleared_through`, oldest first.
    pub(crate) fn list<D: BlockDevice + ?Sized>(
        &self,
        dev: &mut D,
        cleared_through: u64,
    ) -> Result<Vec<CrashSummary>, PlogError> {
        let mut out = Vec::new();
        for (slot, c) in self.read_commits(dev)? {
            if c.crash_seq > cleared_through && self.read_body(dev, slot, &c)?.is_some() {
                out.push(CrashSummary {
                    crash_seq: c.crash_seq,
                    slot,
                    kind: c.kind,
                    boot: c.boot,
                    wall_s: c.wall_s,
                    uptime_ns: c.uptime_ns,
                    rip: c.rip,
                });
            }
        }
        out.sort_unstable_by_key(|s| s.crash_seq);
        Ok(out)
    }

    /// The full record number `crash_seq`.
    pub(crate) fn get<D: BlockDevice + ?Sized>(
        &self,
        dev: &mut D,
        crash_seq: u64,
        cleared_through: u64,
    ) -> Result<CrashRecord, PlogError> {
        let not_found = PlogError::CrashNotFound { crash_seq };
        if crash_seq <= cleared_through {
            return Err(not_found);
        }
        let Some((slot, commit)) =
            self.read_commits(dev)?.into_iter().find(|(_, c)| c.crash_seq == crash_seq)
        else {
            return Err(not_found);
        };
        let body = self.read_body(dev, slot, &commit)?.ok_or(not_found)?;
        decode_body(&body, &commit, slot).ok_or(PlogError::CrashDamaged { slot })
    }

    /// The highest crash number any commit sector carries (cleared or not).
    pub(crate) fn max_seq<D: BlockDevice + ?Sized>(&self, dev: &mut D) -> Result<u64, PlogError> {
        Ok(self.read_commits(dev)?.iter().map(|(_, c)| c.crash_seq).max().unwrap_or(0))
    }

    /// Zeroes every commit sector (format).
    pub(crate) fn erase<D: BlockDevice + ?Sized>(&self, dev: &mut D) -> Result<(), PlogError> {
        let zero = [0u8; SECTOR_BYTES];
        for slot in 0..self.slots {
            let lba =
                self.commit_lba(slot).ok_or(PlogError::InvalidParams { reason: "crash area off the end" })?;
            dev.write_sectors(lba, &zero)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample<'a>(
        frames: &'a [Frame<'a>],
        lines: &'a [&'a str],
        message: &'a str,
    ) -> CrashView<'a> {
        CrashView {
            kind: CrashKind::PageFault,
            message,
            boot: 12,
            wall_s: 1_700_000_000,
            uptime_ns: 5_000_000_000,
            rip: 0xffff_ffff_8000_1234,
            cr2: 0xdead_b000,
            error_code: 2,
            registers: Registers { rax: 1, r15: 15, cr3: 0x1000, ..Registers::default() },
            backtrace: frames,
            log_lines: lines,
        }
    }

    fn commit_for(body: &[u8], seq: u64) -> Commit {
        Commit {
            crash_seq: seq,
            body_bytes: body.len() as u32,
            body_crc: body_crc(1, seq, body),
            kind: CrashKind::Panic,
            boot: 1,
            wall_s: 0,
            uptime_ns: 0,
            rip: 0,
        }
    }

    #[test]
    fn body_round_trip() {
        let frames = [
            Frame { address: 0x1000, symbol: "rayos::mm::map", offset: 0x10 },
            Frame { address: 0x2000, symbol: "", offset: 0 },
        ];
        let lines = ["boot 12 started", "mapping page"];
        let view = sample(&frames, &lines, "page fault at 0xdeadb000");
        let mut buf = vec![0u8; BODY_CAPACITY];
        let (len, truncated) = encode_body(&view, &mut buf).unwrap();
        assert!(!truncated);
        let rec = decode_body(&buf[..len], &commit_for(&buf[..len], 4), 2).unwrap();
        assert_eq!(rec.kind, CrashKind::PageFault);
        assert_eq!(rec.message, "page fault at 0xdeadb000");
        assert_eq!((rec.boot, rec.rip, rec.cr2, rec.error_code), (12, view.rip, 0xdead_b000, 2));
        assert_eq!(rec.registers, view.registers);
        assert_eq!(
            rec.backtrace[0],
            BacktraceFrame { address: 0x1000, symbol: "rayos::mm::map".into(), offset: 0x10 }
        );
        assert_eq!(rec.log_lines, ["boot 12 started", "mapping page"]);
        assert_eq!((rec.crash_seq, rec.slot), (4, 2));
    }

    #[test]
    fn limits_cut_and_flag_and_the_largest_record_fits() {
        let symbol = "s".repeat(500);
        let frames: Vec<Frame<'_>> =
            (0..100).map(|i| Frame { address: i, symbol: &symbol, offset: i }).collect();
        let line = "l".repeat(1000);
        let lines: Vec<&str> = (0..200).map(|_| line.as_str()).collect();
        let message = "m".repeat(5000);
        let view = sample(&frames, &lines, &message);
        let mut buf = vec![0u8; BODY_CAPACITY];
        let (len, truncated) = encode_body(&view, &mut buf).unwrap();
        assert!(truncated);
        assert!(len < BODY_CAPACITY / 2, "largest body is {len} bytes");
        let rec = decode_body(&buf[..len], &commit_for(&buf[..len], 1), 0).unwrap();
        assert_eq!(rec.backtrace.len(), MAX_BACKTRACE_FRAMES);
        assert_eq!(rec.log_lines.len(), MAX_LOG_LINES);
        assert_eq!(rec.message.len(), MAX_CRASH_MESSAGE_BYTES);
        assert!(rec.truncated);
    }

    #[test]
    fn kinds_round_trip_and_spell_markers() {
        for kind in [
            CrashKind::Panic,
            CrashKind::PageFault,
            CrashKind::GeneralProtection,
            CrashKind::DoubleFault,
            CrashKind::Watchdog,
            CrashKind::Exception(18),
        ] {
            assert_eq!(CrashKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(alloc::format!("{}", CrashKind::Exception(18)), "exception-18");
        assert_eq!(alloc::format!("{}", CrashKind::GeneralProtection), "gp-fault");
        assert_eq!(CrashKind::from_code(0), None);
    }

    proptest! {
        #[test]
        fn decoding_random_bodies_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let commit = commit_for(&bytes, 1);
            let _ = decode_body(&bytes, &commit, 0);
            let _ = Commit::decode(&bytes, 1);
        }

        #[test]
        fn commit_bit_flips_are_detected(bit in 0usize..8 * COMMIT_BYTES) {
            let mut sector = [0u8; SECTOR_BYTES];
            let c = commit_for(b"abc", 3);
            c.encode(1, &mut sector);
            prop_assert_eq!(Commit::decode(&sector, 1), Some(c));
            sector[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(Commit::decode(&sector, 1), None);
        }
    }
}
