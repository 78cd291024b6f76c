//! The kernel log: every `log::info!`/`warn!`/... record goes into a ring in RAM (`dmesg`);
//! warnings and errors are also printed on the console.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::sync::IrqMutex;

/// Records kept in RAM; the oldest are dropped beyond this.
pub const RING_RECORDS: usize = 4096;
/// Longest message kept, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 512;

#[derive(Debug, Clone)]
pub struct LogRecord {
    pub level: Level,
    pub uptime_ns: u64,
    pub subsystem: String,
    pub message: String,
}

impl core::fmt::Display for LogRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_line(f, self.uptime_ns, self.level, &self.subsystem, &self.message)
    }
}

/// One log line as `dmesg` and `log show` print it: `[uptime] LEVEL subsystem: message`.
pub fn write_line(
    f: &mut dyn core::fmt::Write,
    uptime_ns: u64,
    level: Level,
    subsystem: &str,
    message: &str,
) -> core::fmt::Result {
    let seconds = uptime_ns / 1_000_000_000;
    let micros = uptime_ns % 1_000_000_000 / 1000;
    write!(f, "[{seconds:5}.{micros:06}] {:<5} {subsystem}: {message}", level.as_str())
}

static RING: IrqMutex<VecDeque<LogRecord>> = IrqMutex::new(VecDeque::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);

struct KernelLog;

static LOGGER: KernelLog = KernelLog;

/// A message buffer that stops at the limit instead of growing.
struct Bounded(String);

impl core::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.push_str(rayos_plog::truncate_str(s, MAX_MESSAGE_BYTES.saturating_sub(self.0.len())));
        Ok(())
    }
}

impl Log for KernelLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Debug
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut message = Bounded(String::new());
        let _ = write!(message, "{}", record.args());
        let subsystem = record.target().rsplit("::").next().unwrap_or("kernel");
        let entry = LogRecord {
            level: record.level(),
            uptime_ns: crate::time::now_ns(),
            subsystem: String::from(subsystem),
            message: message.0,
        };
        if entry.level <= Level::Warn {
            crate::println!("{entry}");
        }
        let (level, uptime_ns) = (entry.level, entry.uptime_ns);
        let copy_of = |e: &LogRecord| (e.subsystem.clone(), e.message.clone());
        // A copy for the persistent log only once it is attached (it never detaches): copied
        // here, outside the lock, unless it attaches in between.
        let mut for_disk = crate::persist::is_attached().then(|| copy_of(&entry));
        {
            let mut ring = RING.lock();
            if ring.len() == RING_RECORDS {
                ring.pop_front();
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
            // The persistent log copies the ring and attaches under this lock
            // ([`copy_and_attach`]): a record pushed before that is in the copy, one pushed
            // after sees it attached, and none is written twice.
            if for_disk.is_none() && crate::persist::is_attached() {
                for_disk = Some(copy_of(&entry));
            }
            ring.push_back(entry);
        }
        if let Some((subsystem, message)) = for_disk {
            crate::persist::record(level, uptime_ns, subsystem, message);
        }
    }

    fn flush(&self) {}
}

pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

/// The newest `tail` records (all if `None`), oldest first.
pub fn records(tail: Option<usize>) -> Vec<LogRecord> {
    let ring = RING.lock();
    let skip = tail.map_or(0, |n| ring.len().saturating_sub(n));
    ring.iter().skip(skip).cloned().collect()
}

/// Runs `attach` on every record so far under the ring's lock: a record logged concurrently
/// is either passed to it or logged after it returns (see [`KernelLog::log`]).
pub fn copy_and_attach(attach: impl FnOnce(&mut dyn Iterator<Item = &LogRecord>)) {
    let ring = RING.lock();
    attach(&mut ring.iter());
}

/// For the crash path (no allocation, no waiting on the lock): formats the newest records
/// into `buffer`, one per `stride` bytes, NUL-padded; returns how many.
pub fn last_lines_into(buffer: &mut [u8], stride: usize) -> usize {
    let ring = match RING.try_lock() {
        Some(ring) => ring,
        None => {
            // SAFETY: only called on the fatal path, with interrupts off; whoever held the ring
            // will never run again.
            unsafe { crate::sync::break_lock(&RING) };
            RING.lock()
        }
    };
    let capacity = buffer.len() / stride.max(1);
    let skip = ring.len().saturating_sub(capacity);
    buffer.fill(0);
    let mut count = 0;
    for (i, record) in ring.iter().skip(skip).enumerate() {
        let mut line =
            crate::crash::FixedWriter { buffer: &mut buffer[i * stride..(i + 1) * stride], len: 0 };
        let _ = write!(line, "{record}");
        count += 1;
    }
    count
}

/// Records dropped from the ring because it was full.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}
