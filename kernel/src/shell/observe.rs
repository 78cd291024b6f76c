//! Commands about storage and what the system remembers: `disks`, `log`, `crash`,
//! `watchdog`, and the `debug logflood` load generator.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use rayos_hw::rtc::DateTime;
use rayos_plog::{BootSelector, EndReason, Level, LogRecord, Query};
use rayos_shell::options::{BootChoice, LevelChoice, LogShowOptions};

use super::{bench_result, confirm, CommandError, CommandResult, Confirmation};
use crate::{persist, println, storage, time, watchdog};

fn size_text(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

fn partition_type_name(guid: &rayos_partition::Guid) -> String {
    use rayos_partition::guid;
    let known = [
        (rayos_partition::EFI_SYSTEM_TYPE, "EFI system"),
        (rayos_partition::RAYOS_DATA_TYPE, "RAYOS-DATA"),
        (guid!("0fc63daf-8483-4772-8e79-3d69d8477de4"), "Linux file system"),
        (guid!("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"), "Microsoft basic data"),
        (guid!("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"), "Linux swap"),
    ];
    known.iter().find(|(g, _)| g == guid).map_or_else(|| format!("{guid}"), |(_, name)| String::from(*name))
}

pub fn disks() {
    if !storage::is_ready() {
        println!("the disks are still being probed; try again in a moment");
        return;
    }
    let disks = storage::disks();
    if disks.is_empty() {
        println!("no disks found (RayOS drives virtio-blk disks)");
    }
    for disk in disks {
        let serial = disk.serial.as_deref().unwrap_or("-");
        let read_only = if disk.read_only { ", read-only" } else { "" };
        println!(
            "{}  {} ({} bytes)  {}  serial {serial}  pci {:02x}:{:02x}.{}{read_only}",
            disk.name,
            size_text(disk.capacity_bytes),
            disk.capacity_bytes,
            disk.model,
            disk.pci.bus,
            disk.pci.device,
            disk.pci.function
        );
        match disk.read_gpt() {
            Ok(gpt) => {
                if let Some(problem) = &gpt.primary_problem {
                    println!("  warning: the primary GPT is damaged ({problem}); showing the backup");
                }
                if let Some(problem) = &gpt.backup_problem {
                    println!("  warning: the backup GPT is damaged ({problem})");
                }
                if gpt.partitions().is_empty() {
                    println!("  GPT with no partitions");
                }
                for p in gpt.partitions() {
                    let sectors = p.sector_count();
                    println!(
                        "  {}{}  {:<20} {:<12} {:>10}  sectors {}-{}",
                        disk.name,
                        p.index + 1,
                        partition_type_name(&p.type_guid),
                        if p.name.is_empty() { "-" } else { p.name.as_str() },
                        size_text(sectors * 512),
                        p.first_lba,
                        p.last_lba
                    );
                }
            }
            Err(error) if error.is_unpartitioned() => println!("  {error}"),
            Err(error) => println!("  no usable partition table: {error}"),
        }
        println!("{}", rayos_markers::STORAGE_DISK.with(&[&disk.name, &disk.capacity_bytes]));
    }
}

fn date_text(unix_s: u64) -> String {
    if unix_s == 0 {
        String::from("(time unknown)")
    } else {
        format!("{}", DateTime::from_unix(unix_s))
    }
}

/// A record as `log show` prints it; `show_boot` puts the boot number in front (records from
/// RAYOS-DATA; the RAM log only has this boot's).
fn record_line(r: &LogRecord, show_boot: bool) -> String {
    let mut line = if show_boot { format!("boot {:<3} ", r.boot) } else { String::new() };
    let _ = crate::klog::write_line(
        &mut line,
        r.mono_ns,
        persist::kernel_level(r.level),
        &r.subsystem,
        &r.message,
    );
    if r.truncated {
        line.push_str(" [cut]");
    }
    line
}

fn ram_only_note() {
    println!(
        "(the log is in RAM only: {}; showing this boot's records kept in memory)",
        persist::ram_only_reason().as_deref().unwrap_or("not mounted yet")
    );
}

pub fn log(args: &[&str]) -> CommandResult {
    match args.first().copied() {
        Some("show") => log_show(&args[1..]),
        Some("boots") if args.len() == 1 => log_boots(),
        Some("stats") if args.len() == 1 => log_stats(),
        Some("format") if args.len() == 1 => log_format(),
        _ => Err(CommandError::usage("log")),
    }
}

/// What to say when a query finds nothing: which boot was asked for, when one was, and
/// whether there is such a boot at all.
fn no_match_note(selector: Option<BootSelector>, current_boot: u32) -> String {
    let asked = match selector {
        None => return String::from("no records match"),
        Some(BootSelector::Absolute(n)) => i64::from(n),
        Some(BootSelector::Relative(r)) => i64::from(current_boot) + i64::from(r),
    };
    if asked < 1 && current_boot == 1 {
        String::from("there is no earlier boot: this is boot 1, the first on this data partition")
    } else if asked < 1 {
        format!("there is no boot {asked}: boots are numbered from 1, and this is boot {current_boot}")
    } else if asked > i64::from(current_boot) {
        format!("there is no boot {asked} yet: this is boot {current_boot}")
    } else {
        format!("no records of boot {asked} match")
    }
}

/// `log format`: formats a RAYOS-DATA partition that does not mount, after the user typed yes.
fn log_format() -> CommandResult {
    let Some(location) = persist::unmounted_partition() else {
        return Err(CommandError::new("nothing-to-format", persist::nothing_to_format()));
    };
    let question = format!(
        "Format RAYOS-DATA on {} ({:.1} MiB, sectors {}-{})? Everything on it is erased.",
        location.disk.name,
        (location.sectors * 512) as f64 / (1024.0 * 1024.0),
        location.first_lba,
        location.first_lba + location.sectors - 1
    );
    if !confirm("log", &question, Confirmation::TypeYes) {
        return Err(CommandError::new("not-confirmed", ""));
    }
    let disk = persist::format_unmounted().map_err(|why| CommandError::new("format-failed", why))?;
    println!("RAYOS-DATA on {disk} is formatted and holds the log from now on");
    Ok(())
}

fn log_show(args: &[&str]) -> CommandResult {
    let options = LogShowOptions::parse(args).map_err(|e| CommandError::new("bad-args", format!("{e}")))?;
    let now_s = time::unix_now();
    let mut query = Query {
        boot: options.boot.map(|b| match b {
            BootChoice::Number(n) => BootSelector::Absolute(n),
            BootChoice::Relative(r) => BootSelector::Relative(r),
        }),
        min_level: options.level.map(|l| match l {
            LevelChoice::Error => Level::Error,
            LevelChoice::Warn => Level::Warn,
            LevelChoice::Info => Level::Info,
            LevelChoice::Debug => Level::Debug,
        }),
        contains: options.grep.clone(),
        excludes: options.exclude.clone(),
        tail: if options.all { None } else { options.tail },
        head: options.head,
        ..Default::default()
    };
    // The window on this boot's clock, for records without a wall time.
    let since_mono_ns =
        options.since_s.map(|since| time::now_ns().saturating_sub(since.saturating_mul(1_000_000_000)));
    if let Some(since) = options.since_s {
        if now_s != 0 {
            query.since_wall_s = Some(now_s.saturating_sub(since));
        } else {
            // Without a wall clock a window only makes sense in this boot.
            query.boot = Some(BootSelector::Relative(0));
            query.since_mono_ns = since_mono_ns;
        }
    }
    let result = persist::with(|p| p.part.log().query(&query));
    match result {
        Some(Ok(result)) => {
            if result.records.is_empty() {
                println!("{}", no_match_note(query.boot, persist::current_boot().unwrap_or(0)));
            }
            for record in &result.records {
                println!("{}", record_line(record, true));
            }
            let skipped = result.skipped_corrupt_records + result.skipped_corrupt_blocks;
            if skipped > 0 {
                println!(
                    "warning: skipped {} damaged records and {} damaged blocks",
                    result.skipped_corrupt_records, result.skipped_corrupt_blocks
                );
            }
            if let Some(tail) = query.tail {
                if result.records.len() == tail {
                    println!("(the newest {tail}; use --tail N or --all for more)");
                }
            }
            Ok(())
        }
        Some(Err(error)) => Err(CommandError::new("log-error", format!("reading the log failed: {error}"))),
        None => {
            ram_only_note();
            if matches!(query.boot, Some(BootSelector::Relative(r)) if r != 0)
                || matches!(query.boot, Some(BootSelector::Absolute(_)))
            {
                return Err(CommandError::new(
                    "no-persistent-log",
                    "earlier boots are only kept on RAYOS-DATA",
                ));
            }
            // The same query, over this boot's records in RAM.
            let in_ram = crate::klog::records(None).into_iter().map(|r| LogRecord {
                seq: 0,
                level: persist::level_of(r.level),
                mono_ns: r.uptime_ns,
                wall_s: 0,
                boot: 0,
                subsystem: r.subsystem,
                message: r.message,
                truncated: false,
            });
            // RAM records carry no wall time: a window is measured on this boot's clock.
            query.since_wall_s = None;
            query.since_mono_ns = since_mono_ns;
            for record in query.select(0, in_ram) {
                println!("{}", record_line(&record, false));
            }
            Ok(())
        }
    }
}

fn end_text(end: EndReason) -> &'static str {
    match end {
        EndReason::Running => "running",
        EndReason::CleanShutdown => "clean shutdown",
        EndReason::Reboot => "reboot",
        EndReason::Panic => "panic",
        EndReason::Watchdog => "watchdog",
        EndReason::Unknown => "unknown (power loss, reset or hang)",
    }
}

fn log_boots() -> CommandResult {
    let Some(boots) = persist::boots() else {
        ram_only_note();
        return Err(CommandError::new("no-persistent-log", "boots are only numbered on RAYOS-DATA"));
    };
    let current = persist::current_boot().unwrap_or(0);
    println!("{:>5}  {:<24} {:<36} {:>10}", "boot", "started", "ended", "uptime");
    for entry in boots {
        let end = if entry.boot == current { "running (this boot)" } else { end_text(entry.end) };
        let uptime = if entry.uptime_ns == 0 {
            String::from("-")
        } else {
            format!("{:.1}s", entry.uptime_ns as f64 / 1e9)
        };
        println!("{:>5}  {:<24} {:<36} {:>10}", entry.boot, date_text(entry.start_wall_s), end, uptime);
    }
    Ok(())
}

fn log_stats() -> CommandResult {
    let stats = persist::with(|p| (p.part.log().stats(), p.disk_name.clone(), p.errors));
    let Some((stats, disk, errors)) = stats else {
        ram_only_note();
        println!("records in RAM: {}", crate::klog::records(None).len());
        return Ok(());
    };
    println!("log on {disk} (RAYOS-DATA), boot {}", persist::current_boot().unwrap_or(0));
    println!("records      {}", stats.records);
    println!(
        "bytes        {} of {} ({:.1} %)",
        stats.bytes_used,
        stats.capacity_bytes,
        stats.bytes_used as f64 * 100.0 / stats.capacity_bytes.max(1) as f64
    );
    if let Some((seq, wall)) = stats.oldest {
        println!("oldest       #{seq} {}", date_text(wall));
    }
    if let Some((seq, wall)) = stats.newest {
        println!("newest       #{seq} {}", date_text(wall));
    }
    println!("wraps        {}", stats.wraps);
    println!("unflushed    {}", stats.unflushed_records);
    if let Some(report) = persist::mount_report() {
        println!("at mount     {} valid, {} discarded", report.valid_records, report.discarded_records);
    }
    println!("write errors {errors}; records dropped from the queue {}", persist::dropped_records());
    Ok(())
}

pub fn crash(args: &[&str]) -> CommandResult {
    let no_log = || {
        CommandError::new("no-persistent-log", "crash records are kept on RAYOS-DATA, which is not mounted")
    };
    match args {
        ["list"] => {
            let list = persist::with(|p| p.part.crashes().list()).ok_or_else(no_log)?;
            let list = list.map_err(|e| CommandError::new("log-error", format!("{e}")))?;
            if list.is_empty() {
                println!("no crash records");
            }
            for c in list {
                println!(
                    "#{:<4} boot {:<4} {:<16} {}  uptime {}s  rip {:#x} <{}>",
                    c.crash_seq,
                    c.boot,
                    format!("{}", c.kind),
                    date_text(c.wall_s),
                    c.uptime_ns / 1_000_000_000,
                    c.rip,
                    crate::symbols::Symbolized(c.rip)
                );
            }
            Ok(())
        }
        ["show"] | ["show", "latest"] => {
            let record = persist::with(|p| p.part.crashes().latest()).ok_or_else(no_log)?;
            match record {
                Ok(Some(record)) => show_crash(&record),
                Ok(None) => return Err(CommandError::new("no-crash", "there are no crash records")),
                Err(error) => return Err(CommandError::new("no-crash", format!("{error}"))),
            }
            Ok(())
        }
        ["show", "--boot", boot] => {
            let choice = BootChoice::parse(boot).ok_or_else(|| CommandError::usage("crash"))?;
            let current = persist::current_boot().unwrap_or(0);
            let Some(boot) = choice.resolve(current) else {
                return Err(CommandError::new(
                    "no-crash",
                    format!("there is no such boot: this is boot {current}"),
                ));
            };
            let record = persist::with(|p| {
                let mut crashes = p.part.crashes();
                match crashes.list()?.iter().rev().find(|c| c.boot == boot) {
                    Some(summary) => crashes.get(summary.crash_seq).map(Some),
                    None => Ok(None),
                }
            })
            .ok_or_else(no_log)?;
            match record {
                Ok(Some(record)) => show_crash(&record),
                Ok(None) => {
                    return Err(CommandError::new(
                        "no-crash",
                        format!("boot {boot} left no crash record; `crash list` shows the stored ones"),
                    ))
                }
                Err(error) => return Err(CommandError::new("no-crash", format!("{error}"))),
            }
            Ok(())
        }
        ["show", "--back", back] => {
            // The record `back` places before the newest: 0 the newest, 1 the one before it.
            let back = back.parse::<usize>().map_err(|_| CommandError::usage("crash"))?;
            let record = persist::with(|p| {
                let mut crashes = p.part.crashes();
                let list = crashes.list()?;
                match list.iter().rev().nth(back) {
                    Some(summary) => crashes.get(summary.crash_seq).map(Ok),
                    None => Ok(Err(list.len())),
                }
            })
            .ok_or_else(no_log)?;
            match record {
                Ok(Ok(record)) => show_crash(&record),
                Ok(Err(0)) => return Err(CommandError::new("no-crash", "there are no crash records")),
                Ok(Err(stored)) => {
                    return Err(CommandError::new(
                        "no-crash",
                        format!("there are {stored} crash records, so --back goes up to {}", stored - 1),
                    ))
                }
                Err(error) => return Err(CommandError::new("no-crash", format!("{error}"))),
            }
            Ok(())
        }
        ["show", number] => {
            let seq = number.parse::<u64>().map_err(|_| CommandError::usage("crash"))?;
            match persist::with(|p| p.part.crashes().get(seq)).ok_or_else(no_log)? {
                Ok(record) => show_crash(&record),
                Err(error) => return Err(CommandError::new("no-crash", format!("{error}"))),
            }
            Ok(())
        }
        ["clear"] => {
            if !persist::is_attached() {
                return Err(no_log());
            }
            if !confirm("crash", "Delete every crash record on RAYOS-DATA?", Confirmation::TypeYes) {
                return Err(CommandError::new("not-confirmed", ""));
            }
            let cleared = persist::with(|p| p.part.crashes().clear()).ok_or_else(no_log)?;
            let cleared = cleared.map_err(|e| CommandError::new("log-error", format!("{e}")))?;
            log::warn!(target: "crash", "{cleared} crash records cleared from the shell");
            println!("{cleared} crash records deleted");
            Ok(())
        }
        _ => Err(CommandError::usage("crash")),
    }
}

fn show_crash(r: &rayos_plog::CrashRecord) {
    println!("crash #{}: {} in boot {} at {}", r.crash_seq, r.kind, r.boot, date_text(r.wall_s));
    println!("message   {}", r.message);
    println!("uptime    {}.{:03} s", r.uptime_ns / 1_000_000_000, r.uptime_ns % 1_000_000_000 / 1_000_000);
    if r.registers == rayos_plog::Registers::default() {
        println!("registers not recorded (the hardware reset the machine before the kernel could)");
    } else {
        show_registers(r);
    }
    println!("backtrace:");
    for (i, frame) in r.backtrace.iter().enumerate() {
        if frame.symbol.is_empty() {
            println!("  #{i:<2} {:#018x} ?", frame.address);
        } else {
            println!("  #{i:<2} {:#018x} {}+{:#x}", frame.address, frame.symbol, frame.offset);
        }
    }
    println!("last log lines:");
    for line in &r.log_lines {
        println!("  {line}");
    }
    if r.truncated {
        println!("(parts of the record were cut to fit)");
    }
}

fn show_registers(r: &rayos_plog::CrashRecord) {
    println!("rip       {:#018x} <{}>", r.rip, crate::symbols::Symbolized(r.rip));
    println!("cr2       {:#018x}  error code {:#x}", r.cr2, r.error_code);
    let g = &r.registers;
    println!("rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}", g.rax, g.rbx, g.rcx, g.rdx);
    println!("rsi {:#018x} rdi {:#018x} rbp {:#018x} rsp {:#018x}", g.rsi, g.rdi, g.rbp, g.rsp);
    println!("r8  {:#018x} r9  {:#018x} r10 {:#018x} r11 {:#018x}", g.r8, g.r9, g.r10, g.r11);
    println!("r12 {:#018x} r13 {:#018x} r14 {:#018x} r15 {:#018x}", g.r12, g.r13, g.r14, g.r15);
    println!(
        "rflags {:#x}  cs {:#x}  ss {:#x}  cr0 {:#x}  cr3 {:#x}  cr4 {:#x}",
        g.rflags, g.cs, g.ss, g.cr0, g.cr3, g.cr4
    );
}

pub fn watchdog(args: &[&str]) -> CommandResult {
    match args {
        ["status"] => {
            let s = watchdog::status();
            let source = match s.source {
                watchdog::Source::Hardware => "hw (i6300esb)",
                watchdog::Source::Software => "sw (timer interrupt and NMI)",
            };
            println!("armed     {}", if s.armed { "yes" } else { "no" });
            println!("timeout   {} s", s.timeout_s);
            println!("source    {source}");
            println!(
                "last pet  {}.{:03} s ago",
                s.since_last_pet_ns / 1_000_000_000,
                s.since_last_pet_ns % 1_000_000_000 / 1_000_000
            );
            Ok(())
        }
        ["arm", seconds] => {
            let seconds = rayos_shell::options::parse_duration_s(seconds)
                .filter(|s| (watchdog::MIN_TIMEOUT_S..=watchdog::MAX_TIMEOUT_S).contains(s))
                .ok_or_else(|| {
                    CommandError::new(
                        "bad-args",
                        format!(
                            "the timeout must be {}-{} seconds",
                            watchdog::MIN_TIMEOUT_S,
                            watchdog::MAX_TIMEOUT_S
                        ),
                    )
                })?;
            watchdog::arm(seconds);
            Ok(())
        }
        ["disarm"] => {
            if !confirm(
                "watchdog",
                "Disarm the watchdog? A hang would then not restart the machine.",
                Confirmation::TypeYes,
            ) {
                return Err(CommandError::new("not-confirmed", ""));
            }
            watchdog::disarm(watchdog::DisarmConfirmed(()));
            Ok(())
        }
        ["pet"] => {
            watchdog::pet();
            println!("petted");
            Ok(())
        }
        _ => Err(CommandError::usage("watchdog")),
    }
}

/// `debug logflood N`: N info records as fast as possible; every 500 a flush and a
/// `RAYOS_LOG:DURABLE:<tag>:<count>` marker saying the first <count> are on disk.
pub fn logflood(count: &str) -> CommandResult {
    let count: u64 = count
        .parse()
        .ok()
        .filter(|&n| n > 0 && n <= 10_000_000)
        .ok_or_else(|| CommandError::usage("debug"))?;
    if !persist::is_attached() {
        return Err(CommandError::new("no-persistent-log", "there is no persistent log to flood"));
    }
    let tag = format!("flood-{:08x}", crate::arch::read_tsc() as u32);
    println!("writing {count} records tagged {tag}");
    let started = time::now_ns();
    for i in 0..count {
        log::info!(target: "flood", "{tag} {i}");
        if (i + 1) % 500 == 0 || i + 1 == count {
            persist::flush().map_err(|e| CommandError::new("log-error", format!("flush failed: {e}")))?;
            println!("{}", rayos_markers::LOG_DURABLE.with(&[&tag, &(i + 1)]));
        }
    }
    let elapsed_ns = time::now_ns() - started;
    println!(
        "{count} records in {} ms ({} records/s)",
        elapsed_ns / 1_000_000,
        count * 1_000_000_000 / elapsed_ns.max(1)
    );
    Ok(())
}

/// `debug logbench`: raw sequential writes into free space on the log's disk, then log
/// appends, then durable appends, each timed by the kernel's clock.
pub fn logbench() -> CommandResult {
    use rayos_block::BlockDevice;
    const CHUNK_BYTES: usize = 64 * 1024;
    const RAW_BYTES: u64 = 32 << 20;
    const RECORDS: u64 = 100_000;
    const DURABLE_RECORDS: usize = 200;
    let no_log = || CommandError::new("no-persistent-log", "the benchmark needs a mounted RAYOS-DATA");
    let disk_name = persist::with(|p| p.disk_name.clone()).ok_or_else(no_log)?;
    let disk = storage::disks().iter().find(|d| d.name == disk_name).ok_or_else(no_log)?.clone();
    let gpt = disk.read_gpt().map_err(|e| CommandError::new("no-gpt", format!("{e}")))?;
    // The largest stretch of the usable area no partition covers.
    let mut taken: Vec<(u64, u64)> = gpt.partitions().iter().map(|p| (p.first_lba, p.last_lba)).collect();
    taken.sort();
    let mut gap = (0u64, 0u64);
    let mut cursor = gpt.first_usable_lba;
    for (first, last) in
        taken.iter().copied().chain(core::iter::once((gpt.last_usable_lba + 1, gpt.last_usable_lba + 1)))
    {
        if first > cursor && first - cursor > gap.1 {
            gap = (cursor, first - cursor);
        }
        cursor = cursor.max(last + 1);
    }
    if gap.1 * 512 < RAW_BYTES {
        return Err(CommandError::new(
            "no-free-space",
            format!("{disk_name} has {} KiB of unpartitioned space; the benchmark needs 32 MiB", gap.1 / 2),
        ));
    }
    let mut device = storage::DiskHandle(disk);
    let chunk = alloc::vec![0xA5u8; CHUNK_BYTES];
    let started = time::now_ns();
    let mut lba = gap.0;
    for _ in 0..RAW_BYTES / CHUNK_BYTES as u64 {
        device.write_sectors(lba, &chunk).map_err(|e| CommandError::new("io-error", format!("{e}")))?;
        lba += (CHUNK_BYTES / 512) as u64;
    }
    device.flush().map_err(|e| CommandError::new("io-error", format!("{e}")))?;
    let raw_ns = time::now_ns() - started;
    let raw_mb_s = RAW_BYTES as f64 / (raw_ns as f64 / 1e9) / 1e6;
    println!(
        "raw sequential write: {} MiB in {} ms = {raw_mb_s:.1} MB/s",
        RAW_BYTES >> 20,
        raw_ns / 1_000_000
    );

    let message =
        "benchmark record: a typical kernel log line with a few numbers 12345 67890 and a path /dev/vda2";
    let entry = |level, message| rayos_plog::Entry {
        level,
        mono_ns: time::now_ns(),
        wall_s: time::unix_now(),
        subsystem: "bench",
        message,
    };
    let outcome = persist::with(|p| -> Result<(u64, u64, Vec<u64>), rayos_plog::PlogError> {
        let before = p.part.log().stats();
        let started = time::now_ns();
        for i in 0..RECORDS {
            let text = if i % 2 == 0 { message } else { &message[..80] };
            p.part.log().append(&entry(Level::Info, text))?;
        }
        p.part.log().flush()?;
        let elapsed = time::now_ns() - started;
        let stats = p.part.log().stats();
        let bytes =
            if stats.wraps == before.wraps { stats.bytes_used.saturating_sub(before.bytes_used) } else { 0 };
        let mut latencies = Vec::with_capacity(DURABLE_RECORDS);
        for _ in 0..DURABLE_RECORDS {
            let entry = entry(Level::Warn, "durable benchmark record");
            let t = time::now_ns();
            p.part.log().append_durable(&entry)?;
            latencies.push(time::now_ns() - t);
        }
        Ok((elapsed, bytes, latencies))
    });
    let (log_ns, log_bytes, mut latencies) =
        outcome.ok_or_else(no_log)?.map_err(|e| CommandError::new("log-error", format!("{e}")))?;
    let records_s = RECORDS as f64 / (log_ns as f64 / 1e9);
    let log_mb_s = log_bytes as f64 / (log_ns as f64 / 1e9) / 1e6;
    latencies.sort_unstable();
    let p50 = latencies[latencies.len() / 2] / 1000;
    let p95 = latencies[latencies.len() * 95 / 100] / 1000;
    println!(
        "log append: {RECORDS} records, {} bytes on disk, in {} ms = {records_s:.0} records/s, {log_mb_s:.1} MB/s ({:.0} % of raw)",
        log_bytes,
        log_ns / 1_000_000,
        log_mb_s * 100.0 / raw_mb_s
    );
    println!("durable append: p50 {p50} us, p95 {p95} us over {DURABLE_RECORDS} appends");
    bench_result("raw_write", format!("{raw_mb_s:.1}"), "MB/s");
    bench_result("log_append", format!("{records_s:.0}"), "records/s");
    bench_result("log_append_bytes", format!("{log_mb_s:.1}"), "MB/s");
    bench_result("durable_p50", p50, "us");
    bench_result("durable_p95", p95, "us");
    Ok(())
}
