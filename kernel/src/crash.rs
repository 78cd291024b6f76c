//! Crash records: what a panic, a fatal exception or a watchdog reset leaves on RAYOS-DATA.
//!
//! The write path runs in a broken kernel: no heap, no locks, interrupts off. It uses its own
//! instance of the virtio-blk driver, reset and re-initialised into DMA memory reserved at
//! boot ([`set_target`]), so whatever state the normal driver was left in does not matter;
//! static buffers hold the record while it is encoded; `rayos_plog` writes it into the oldest
//! slot with the commit sector last, so a crash during this write cannot harm older records.

use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, Ordering};

use rayos_block::Partition;
use rayos_plog::{CrashKind, CrashView, CrashWriter, CrashWritten, Frame, Registers, CRASH_SCRATCH_BYTES};
use spin::Once;

use crate::arch::InterruptFrame;
use crate::drivers::virtio_blk::{self, DmaMemory, VirtioBlk, Waiting};
use crate::storage::Disk;
use crate::{persist, symbols, time};

struct Target {
    registers: virtio_blk::Registers,
    first_lba: u64,
    sectors: u64,
    writer: CrashWriter,
    boot: u32,
    queue: (u64, u64),
    scratch: (u64, u64),
}

static TARGET: Once<Target> = Once::new();

/// Reserves what the crash path needs to write to `disk`'s RAYOS-DATA partition.
pub fn set_target(disk: &Disk, first_lba: u64, sectors: u64, writer: CrashWriter, boot: u32) {
    let (Some(queue), Some(scratch)) =
        (DmaMemory::allocate(virtio_blk::QUEUE_BYTES), DmaMemory::allocate(virtio_blk::SCRATCH_BYTES))
    else {
        log::warn!(target: "crash", "no memory for the crash path: crashes will not be recorded");
        return;
    };
    // The frames stay reserved for good.
    let raw = DmaMemory::keep_forever;
    TARGET.call_once(|| Target {
        registers: disk.registers(),
        first_lba,
        sectors,
        writer,
        boot,
        queue: raw(queue),
        scratch: raw(scratch),
    });
}

/// The bytes of everything the record borrows: the encoding scratch, log lines, symbol text.
struct Buffers {
    scratch: [u8; CRASH_SCRATCH_BYTES],
    log_text: [u8; LOG_TEXT_BYTES],
    message: [u8; MESSAGE_BYTES],
    /// Demangled symbol names, one per backtrace frame.
    symbols: [[u8; rayos_plog::MAX_SYMBOL_BYTES]; rayos_plog::MAX_BACKTRACE_FRAMES],
}

const LOG_LINES: usize = rayos_plog::MAX_LOG_LINES;
const LOG_LINE_BYTES: usize = 200;
const LOG_TEXT_BYTES: usize = LOG_LINES * LOG_LINE_BYTES;
const MESSAGE_BYTES: usize = 1024;

static mut BUFFERS: Buffers = Buffers {
    scratch: [0; CRASH_SCRATCH_BYTES],
    log_text: [0; LOG_TEXT_BYTES],
    message: [0; MESSAGE_BYTES],
    symbols: [[0; rayos_plog::MAX_SYMBOL_BYTES]; rayos_plog::MAX_BACKTRACE_FRAMES],
};
static BUFFERS_TAKEN: AtomicBool = AtomicBool::new(false);

/// A `fmt::Write` into a fixed buffer that drops what does not fit.
pub struct FixedWriter<'a> {
    pub buffer: &'a mut [u8],
    pub len: usize,
}

impl core::fmt::Write for FixedWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let part = rayos_plog::truncate_str(s, self.buffer.len() - self.len).as_bytes();
        self.buffer[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
        Ok(())
    }
}

/// The CPU state to record.
pub struct Context<'a> {
    pub kind: CrashKind,
    pub message: core::fmt::Arguments<'a>,
    pub frame: Option<&'a InterruptFrame>,
    /// Frame pointer to walk the backtrace from.
    pub rbp: u64,
    pub rip: u64,
    pub cr2: u64,
    pub error_code: u64,
}

/// Writes a crash record. Call once, on the fatal path, with interrupts off.
pub fn record(context: &Context<'_>) -> Result<CrashWritten, &'static str> {
    let target = TARGET.get().ok_or("no RAYOS-DATA partition is mounted")?;
    if BUFFERS_TAKEN.swap(true, Ordering::SeqCst) {
        return Err("a crash record is already being written");
    }
    // SAFETY: BUFFERS_TAKEN makes this the only reference ever taken to the buffers.
    let buffers: &mut Buffers = unsafe { (&raw mut BUFFERS).as_mut() }.ok_or("no crash buffers")?;

    let mut message = FixedWriter { buffer: &mut buffers.message, len: 0 };
    let _ = message.write_fmt(context.message);
    let message_len = message.len;
    let message = core::str::from_utf8(&buffers.message[..message_len]).unwrap_or("(message not UTF-8)");

    let mut addresses = [0u64; rayos_plog::MAX_BACKTRACE_FRAMES];
    let mut frame_count = 1;
    addresses[0] = context.rip;
    symbols::walk_frames(context.rbp, addresses.len() - 1, |return_address| {
        // A panic passes its first return address as `rip`; the walk starts with it again.
        if frame_count == 1 && return_address == context.rip {
            return;
        }
        if frame_count < addresses.len() {
            addresses[frame_count] = return_address;
            frame_count += 1;
        }
    });
    let mut frames = [Frame { address: 0, symbol: "", offset: 0 }; rayos_plog::MAX_BACKTRACE_FRAMES];
    for ((frame, &address), name) in
        frames.iter_mut().zip(&addresses[..frame_count]).zip(buffers.symbols.iter_mut())
    {
        // Return addresses point after the call; the call itself is what to name. A fault's
        // `rip` is the faulting instruction; a panic's is a return address like the others.
        let at_fault = address == context.rip && context.frame.is_some();
        let lookup_at = if at_fault { address } else { address.saturating_sub(1) };
        *frame = match symbols::lookup(lookup_at) {
            Some((mangled, offset)) => {
                let mut writer = FixedWriter { buffer: name, len: 0 };
                let _ = write!(writer, "{:#}", rustc_demangle::demangle(mangled));
                let len = writer.len;
                let text = core::str::from_utf8(&name[..len]).unwrap_or("");
                Frame { address, symbol: text, offset: offset + (address - lookup_at) }
            }
            None => Frame { address, symbol: "", offset: 0 },
        };
    }

    let line_count = crate::klog::last_lines_into(&mut buffers.log_text, LOG_LINE_BYTES).min(LOG_LINES);
    let mut line_refs = [""; LOG_LINES];
    for (i, slot) in line_refs.iter_mut().enumerate().take(line_count) {
        let line = &buffers.log_text[i * LOG_LINE_BYTES..(i + 1) * LOG_LINE_BYTES];
        let len = line.iter().position(|&b| b == 0).unwrap_or(LOG_LINE_BYTES);
        *slot = core::str::from_utf8(&line[..len]).unwrap_or("");
    }

    let registers = match context.frame {
        Some(f) => Registers {
            rax: f.rax,
            rbx: f.rbx,
            rcx: f.rcx,
            rdx: f.rdx,
            rsi: f.rsi,
            rdi: f.rdi,
            rbp: f.rbp,
            rsp: f.rsp,
            r8: f.r8,
            r9: f.r9,
            r10: f.r10,
            r11: f.r11,
            r12: f.r12,
            r13: f.r13,
            r14: f.r14,
            r15: f.r15,
            rflags: f.rflags,
            cs: f.cs,
            ss: f.ss,
            cr0: crate::arch::read_cr0(),
            cr3: crate::arch::read_cr3(),
            cr4: crate::arch::read_cr4(),
        },
        None => Registers {
            rbp: context.rbp,
            cr0: crate::arch::read_cr0(),
            cr3: crate::arch::read_cr3(),
            cr4: crate::arch::read_cr4(),
            ..Registers::default()
        },
    };
    let view = CrashView {
        kind: context.kind,
        message,
        boot: target.boot,
        wall_s: time::unix_now(),
        uptime_ns: time::now_ns(),
        rip: context.rip,
        cr2: context.cr2,
        error_code: context.error_code,
        registers,
        backtrace: &frames[..frame_count],
        log_lines: &line_refs[..line_count],
    };

    // SAFETY: the queue and scratch memory were reserved for this path at boot and nothing
    // else uses them; both are contiguous frames in the direct map.
    let (queue, scratch) = unsafe {
        (
            DmaMemory::from_raw(target.queue.0, target.queue.1, virtio_blk::QUEUE_BYTES),
            DmaMemory::from_raw(target.scratch.0, target.scratch.1, virtio_blk::SCRATCH_BYTES),
        )
    };
    let mut device = VirtioBlk::initialise(target.registers, queue, scratch, Waiting::Spin)
        .map_err(|_| "the disk did not restart for the crash write")?;
    let mut partition = Partition::new(&mut device, target.first_lba, target.sectors)
        .map_err(|_| "RAYOS-DATA does not fit the disk")?;
    target
        .writer
        .write_nopanic(&mut partition, &view, &mut buffers.scratch)
        .map_err(|_| "the disk refused the crash record")
}

/// The previous boot was ended by the hardware watchdog (the i6300esb says so): record it on
/// that boot's behalf, with its last log lines from disk, before this boot is numbered.
pub fn record_hardware_watchdog_reset(part: &mut rayos_plog::DataPartition<persist::DataDevice>) {
    let Some(previous) = part.boots().list().last().copied() else { return };
    let query = rayos_plog::Query {
        boot: Some(rayos_plog::BootSelector::Absolute(previous.boot)),
        tail: Some(LOG_LINES),
        ..Default::default()
    };
    let records = part.log().query(&query).map(|r| r.records).unwrap_or_default();
    let lines: alloc::vec::Vec<alloc::string::String> =
        records.iter().map(|r| alloc::format!("{} {}: {}", r.level, r.subsystem, r.message)).collect();
    let line_refs: alloc::vec::Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    // The last record on disk is the best bound on how long that boot ran.
    let last_uptime = records.last().map_or(0, |r| r.mono_ns);
    let view = CrashView {
        kind: CrashKind::Watchdog,
        message: "hardware watchdog (i6300esb) reset the machine: the kernel stopped petting it",
        boot: previous.boot,
        wall_s: time::unix_now(),
        uptime_ns: last_uptime,
        rip: 0,
        cr2: 0,
        error_code: 0,
        registers: Registers::default(),
        backtrace: &[],
        log_lines: &line_refs,
    };
    let writer = part.crash_writer();
    let mut scratch = alloc::vec![0u8; CRASH_SCRATCH_BYTES];
    if let Err(error) = writer.write_nopanic(part.device_mut(), &view, &mut scratch) {
        log::error!(target: "crash", "cannot record the hardware watchdog reset of boot {}: {error}", previous.boot);
    }
}
