//! The persistent log service: mounts RAYOS-DATA, numbers the boot, and writes every kernel
//! log record to disk.
//!
//! Records reach the disk through a bounded queue drained by the `logflush` thread every
//! [`FLUSH_INTERVAL_MS`] ms (append + device flush). Warnings and errors are flushed by the
//! thread that logs them before `log::warn!`/`log::error!` returns, so they are durable when
//! the call returns, with two exceptions: records logged with interrupts disabled (interrupt
//! handlers) and records logged by the writer itself go through the queue. Worst-case loss on
//! power failure: the info/debug records of the last [`FLUSH_INTERVAL_MS`] ms plus the time one
//! flush takes, and queued warnings from interrupt handlers of the same window.
//!
//! On-disk format, recovery and crash slots: `rayos_plog`. Without a RAYOS-DATA partition (or
//! when it does not mount) the log stays in RAM only and the shell says so.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use rayos_block::Partition;
use rayos_plog::{BootEntry, DataPartition, EndReason, Entry, Level, MountReport, PlogError};
use spin::Once;

use crate::storage::DiskHandle;
use crate::sync::{IrqMutex, Mutex};
use crate::{boot, println, storage, time};

pub type DataDevice = Partition<DiskHandle>;

/// How often queued records are written and flushed.
pub const FLUSH_INTERVAL_MS: u64 = 100;
/// Records waiting for the writer; beyond this, a thread that logs writes them itself.
const PENDING_LIMIT: usize = 8192;

pub struct Persist {
    pub part: DataPartition<DataDevice>,
    pub disk_name: String,
    /// I/O errors since mount.
    pub errors: u64,
}

struct Pending {
    level: Level,
    mono_ns: u64,
    wall_s: u64,
    subsystem: String,
    message: String,
}

static STATE: Mutex<Option<Persist>> = Mutex::new(None);
static ATTACHED: AtomicBool = AtomicBool::new(false);
/// This boot's number on RAYOS-DATA (0 until the log is attached).
static CURRENT_BOOT: AtomicU32 = AtomicU32::new(0);
static PENDING: IrqMutex<VecDeque<Pending>> = IrqMutex::new(VecDeque::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Why the log is in RAM only (set when there is no usable RAYOS-DATA).
static RAM_ONLY_REASON: Mutex<Option<String>> = Mutex::new(None);
/// A RAYOS-DATA partition that was found but did not mount: what `log format` may format.
static UNMOUNTED: Mutex<Option<DataLocation>> = Mutex::new(None);

/// Where a RAYOS-DATA partition lies.
#[derive(Clone)]
pub struct DataLocation {
    pub disk: alloc::sync::Arc<storage::Disk>,
    pub first_lba: u64,
    pub sectors: u64,
}

/// What the mount found, for `log stats`.
static MOUNT: Once<MountReport> = Once::new();

/// A kernel log level as the persistent log stores it.
pub fn level_of(level: log::Level) -> Level {
    match level {
        log::Level::Error => Level::Error,
        log::Level::Warn => Level::Warn,
        log::Level::Info => Level::Info,
        log::Level::Debug => Level::Debug,
        log::Level::Trace => Level::Trace,
    }
}

/// A stored level as the kernel log names it.
pub fn kernel_level(level: Level) -> log::Level {
    match level {
        Level::Error => log::Level::Error,
        Level::Warn => log::Level::Warn,
        Level::Info => log::Level::Info,
        Level::Debug => log::Level::Debug,
        Level::Trace => log::Level::Trace,
    }
}

/// Called by the kernel logger for every record once the log is attached.
pub fn record(level: log::Level, mono_ns: u64, subsystem: String, message: String) {
    if !ATTACHED.load(Ordering::Acquire) {
        return;
    }
    let can_write_here =
        crate::arch::interrupts_enabled() && !STATE.held_by_current() && !crate::fault::is_dying();
    let entry = Pending { level: level_of(level), mono_ns, wall_s: time::unix_now(), subsystem, message };
    // A full queue is written out here when this thread may write, then the record queued.
    let queued = match queue(entry) {
        Err(entry) if can_write_here => {
            let _ = flush();
            queue(entry)
        }
        other => other,
    };
    if queued.is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    } else if level <= log::Level::Warn && can_write_here {
        let _ = flush();
    }
}

/// Queues `entry` for the writer, or gives it back when the queue is full.
fn queue(entry: Pending) -> Result<(), Pending> {
    let mut pending = PENDING.lock();
    if pending.len() >= PENDING_LIMIT {
        return Err(entry);
    }
    pending.push_back(entry);
    Ok(())
}

/// Writes what is queued and flushes the device: everything logged before this call is
/// durable when it returns `Ok`.
pub fn flush() -> Result<(), PlogError> {
    if STATE.held_by_current() {
        return Ok(()); // called from inside the writer (a log line about the log)
    }
    let mut state = STATE.lock();
    let Some(persist) = state.as_mut() else { return Ok(()) };
    let result = write_pending(persist).and_then(|_| persist.part.log().flush());
    if result.is_err() {
        persist.errors += 1;
    }
    result
}

fn write_pending(persist: &mut Persist) -> Result<(), PlogError> {
    loop {
        let batch: Vec<Pending> = {
            let mut pending = PENDING.lock();
            let n = pending.len().min(256);
            pending.drain(..n).collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        for (i, p) in batch.iter().enumerate() {
            let entry = Entry {
                level: p.level,
                mono_ns: p.mono_ns,
                wall_s: p.wall_s,
                subsystem: &p.subsystem,
                message: &p.message,
            };
            if let Err(error) = persist.part.log().append(&entry) {
                requeue(batch.into_iter().skip(i));
                return Err(error);
            }
        }
    }
}

/// Puts records that could not be written back at the front of the queue, in order; what does
/// not fit under the limit is counted as dropped.
fn requeue(unwritten: impl DoubleEndedIterator<Item = Pending>) {
    let mut pending = PENDING.lock();
    for p in unwritten.rev() {
        pending.push_front(p);
    }
    while pending.len() > PENDING_LIMIT {
        pending.pop_back();
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `f` on the mounted partition (None when the log is in RAM only).
pub fn with<R>(f: impl FnOnce(&mut Persist) -> R) -> Option<R> {
    let _ = flush();
    let mut state = STATE.lock();
    state.as_mut().map(f)
}

/// This boot's number, once the log is on RAYOS-DATA (without taking the log's lock).
pub fn current_boot() -> Option<u32> {
    Some(CURRENT_BOOT.load(Ordering::Relaxed)).filter(|&boot| boot != 0)
}

/// Whether the log is on disk.
pub fn is_attached() -> bool {
    ATTACHED.load(Ordering::Acquire)
}

/// Why the log is in RAM only, if it is.
pub fn ram_only_reason() -> Option<String> {
    RAM_ONLY_REASON.lock().clone()
}

/// The RAYOS-DATA partition that was found but does not mount, if there is one.
pub fn unmounted_partition() -> Option<DataLocation> {
    UNMOUNTED.lock().clone()
}

pub fn mount_report() -> Option<&'static MountReport> {
    MOUNT.get()
}

pub fn dropped_records() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Records why the log stays in RAM, then says so (the marker last: a test that acts on it
/// finds the state already set).
fn ram_only(code: &str, why: String) {
    *RAM_ONLY_REASON.lock() = Some(why.clone());
    println!("note: the kernel log stays in RAM only: {why}");
    println!("{}", rayos_markers::LOG_RAM_ONLY.with(&[&code]));
}

/// Finds RAYOS-DATA (on the boot disk first), mounts it, numbers this boot, reports how the
/// previous boot ended and starts the writer thread.
pub fn init(previous_reset_by_hardware_watchdog: bool) {
    let boot_guid = boot::info().boot_partition_guid;
    let mut candidates = Vec::new();
    for disk in storage::disks() {
        match disk.read_gpt() {
            Ok(gpt) => {
                if let Some(data) = gpt.find_by_type(rayos_partition::RAYOS_DATA_TYPE) {
                    let on_boot_disk = gpt.partitions().iter().any(|p| p.unique_guid.to_bytes() == boot_guid);
                    candidates.push((on_boot_disk, disk.clone(), data.first_lba, data.sector_count()));
                }
                if let Some(problem) = &gpt.primary_problem {
                    log::warn!(target: "storage", "{}: primary GPT refused ({problem}); using the backup", disk.name);
                }
            }
            Err(error) if error.is_unpartitioned() => log::info!(target: "storage", "{}: {error}", disk.name),
            Err(error) => log::warn!(target: "storage", "{}: no usable GPT: {error}", disk.name),
        }
    }
    candidates.sort_by_key(|c| !c.0);
    let Some((_, disk, first_lba, sectors)) = candidates.into_iter().next() else {
        ram_only("no-data-partition", String::from("no disk has a RAYOS-DATA partition"));
        return;
    };
    let location = DataLocation { disk, first_lba, sectors };
    let Some(device) = open(&location) else { return };
    match DataPartition::mount(device) {
        Ok(mut part) => {
            if previous_reset_by_hardware_watchdog {
                crate::crash::record_hardware_watchdog_reset(&mut part);
            }
            // A failure is already reported (RAM only, with the reason).
            let _ = attach(&location, part);
        }
        Err(failed) => {
            use rayos_plog::PlogError;
            let hint = match failed.error {
                PlogError::NotFormatted
                | PlogError::SuperblockDamaged { .. }
                | PlogError::PartitionShrunk { .. } => " ('log format' formats it)",
                _ => "",
            };
            let why =
                alloc::format!("{}: RAYOS-DATA does not mount: {}{hint}", location.disk.name, failed.error);
            *UNMOUNTED.lock() = Some(location);
            ram_only("mount-failed", why);
        }
    }
}

/// The partition as a block device, or `None` (the log stays in RAM, with the reason said).
fn open(location: &DataLocation) -> Option<DataDevice> {
    match Partition::new(DiskHandle(location.disk.clone()), location.first_lba, location.sectors) {
        Ok(device) => Some(device),
        Err(error) => {
            ram_only(
                "bad-partition",
                alloc::format!("{}: RAYOS-DATA does not fit the disk: {error}", location.disk.name),
            );
            None
        }
    }
}

/// `log format`: formats the RAYOS-DATA partition that did not mount at boot (everything on
/// it is lost) and moves the log onto it. The caller has asked for confirmation.
pub fn format_unmounted() -> Result<String, String> {
    let taken = UNMOUNTED.lock().take();
    let location = taken.ok_or_else(nothing_to_format)?;
    let give_back = |location: DataLocation, why: String| {
        *UNMOUNTED.lock() = Some(location);
        Err(why)
    };
    let Some(device) = open(&location) else {
        let why = ram_only_reason().unwrap_or_default();
        return give_back(location, why);
    };
    let volume_id = new_volume_id();
    let params = rayos_plog::FormatParams::new(volume_id, time::unix_now());
    match DataPartition::format(device, &params) {
        Ok(part) => match attach(&location, part) {
            Ok(()) => Ok(location.disk.name.clone()),
            Err(why) => give_back(location, why),
        },
        Err(failed) => {
            let why =
                alloc::format!("{}: formatting RAYOS-DATA failed: {}", location.disk.name, failed.error);
            ram_only("format-failed", why.clone());
            give_back(location, why)
        }
    }
}

/// Why `log format` has nothing to do.
pub fn nothing_to_format() -> String {
    match ram_only_reason() {
        _ if is_attached() => String::from("the log is already on RAYOS-DATA; there is nothing to format"),
        Some(why) => alloc::format!("there is no RAYOS-DATA partition to format ({why})"),
        None => String::from("RAYOS-DATA is still being mounted (or formatted); try again in a moment"),
    }
}

/// An identity for a new format, unlike the previous one's: the TSC and the time of day,
/// mixed (splitmix64), never 0.
fn new_volume_id() -> u64 {
    let mut z = crate::arch::read_tsc() ^ time::unix_now().rotate_left(32);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

/// Numbers this boot on the mounted partition, moves the kernel log onto it, arms the crash
/// path and starts the writer thread.
fn attach(location: &DataLocation, mut part: DataPartition<DataDevice>) -> Result<(), String> {
    let disk = &location.disk;
    let start = match part.boots().begin_boot(time::unix_now()) {
        Ok(start) => start,
        Err(error) => {
            let why = alloc::format!("{}: cannot number this boot: {error}", disk.name);
            ram_only("boot-table", why.clone());
            return Err(why);
        }
    };
    *RAM_ONLY_REASON.lock() = None;
    let report = *part.mount_report();
    MOUNT.call_once(|| report);
    crate::crash::set_target(disk, location.first_lba, location.sectors, part.crash_writer(), start.boot);

    // Everything logged so far belongs to this boot: queue it and attach in one step, under
    // the kernel log's lock, so no record falls between the copy and the attach or is in both.
    CURRENT_BOOT.store(start.boot, Ordering::Relaxed);
    *STATE.lock() = Some(Persist { part, disk_name: disk.name.clone(), errors: 0 });
    crate::klog::copy_and_attach(|records| {
        let mut pending = PENDING.lock();
        let wall_at_boot = time::unix_now().saturating_sub(time::now_ns() / 1_000_000_000);
        for r in records {
            pending.push_back(Pending {
                level: level_of(r.level),
                mono_ns: r.uptime_ns,
                wall_s: if wall_at_boot == 0 { 0 } else { wall_at_boot + r.uptime_ns / 1_000_000_000 },
                subsystem: r.subsystem.clone(),
                message: r.message.clone(),
            });
        }
        ATTACHED.store(true, Ordering::Release);
    });
    log::info!(target: "log", "persistent log on {} (RAYOS-DATA), boot {}", disk.name, start.boot);
    if let Err(error) = flush() {
        log::error!(target: "log", "writing the log to {} failed: {error}", disk.name);
    }
    let _ = crate::task::spawn("logflush", writer_thread);
    // Last: the markers say the log, the boot table and the crash path are all ready.
    println!("{}", rayos_markers::LOG_MOUNTED.with(&[&report.valid_records, &start.boot]));
    println!("{}", rayos_markers::LOG_RECOVERED.with(&[&report.valid_records, &report.discarded_records]));
    report_previous(&start);
    Ok(())
}

fn report_previous(start: &rayos_plog::BootStart) {
    let Some(previous) = start.previous else {
        println!("boot {}: the first boot on this data partition", start.boot);
        return;
    };
    if let Some(crash) = start.previous_crash {
        println!("{}", rayos_markers::CRASH_PREVIOUS.with(&[&crash.kind, &previous.boot]));
        println!(
            "boot {} ended with a {} (crash record #{}); 'crash show latest' has the details",
            previous.boot, crash.kind, crash.crash_seq
        );
    } else if previous.end == EndReason::Unknown {
        println!(
            "boot {} did not record an end (power loss, reset or hang); 'log show --boot -1' has its log",
            previous.boot
        );
    }
}

fn writer_thread() {
    loop {
        crate::task::sleep_ms(FLUSH_INTERVAL_MS);
        if let Err(error) = flush() {
            // Reported once per failure burst; the records stay queued up to the limit.
            log::error!(target: "log", "persistent log write failed: {error}");
            crate::task::sleep_ms(1000);
        }
    }
}

/// Records how this boot ends (clean shutdown or reboot), after a final flush.
pub fn end_boot(reason: EndReason) {
    let _ = flush();
    let _ = with(|p| p.part.boots().end_boot(reason, time::unix_now(), time::now_ns()));
}

/// The boot table, oldest first.
pub fn boots() -> Option<Vec<BootEntry>> {
    with(|p| p.part.boots().list())
}
