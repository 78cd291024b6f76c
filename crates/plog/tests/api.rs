//! The kernel-facing API: format and mount rules, the boot table, queries and crash
//! records (including power cuts during a crash write).

mod common;

use common::*;
use proptest::prelude::*;
use rayos_block::mem::{MemDisk, PowerCut};
use rayos_plog::{
    format, format_image, BootSelector, CrashKind, CrashView, DataPartition, EndReason, Entry, FormatParams,
    Frame, Level, Order, PlogError, Query, Registers, CRASH_SCRATCH_BYTES,
};

#[test]
fn blank_or_foreign_partitions_are_not_formatted_silently() {
    let blank = MemDisk::new(sectors_for(8));
    let failed = DataPartition::mount(blank).unwrap_err();
    assert_eq!(failed.error, PlogError::NotFormatted);
    assert_eq!(failed.device.stats().sectors_written, 0, "a failed mount writes nothing");
    assert!(failed.error.to_string().contains("format"));

    let foreign = MemDisk::from_image(vec![0xA5; sectors_for(8) as usize * 512]).unwrap();
    assert_eq!(DataPartition::mount(foreign).unwrap_err().error, PlogError::NotFormatted);
}

#[test]
fn format_checks_its_parameters() {
    let mut disk = MemDisk::new(100);
    assert!(matches!(format(&mut disk, &small_params()), Err(PlogError::PartitionTooSmall { .. })));
    let mut disk = MemDisk::new(sectors_for(8));
    assert!(matches!(
        format(&mut disk, &FormatParams { volume_id: 0, ..small_params() }),
        Err(PlogError::InvalidParams { .. })
    ));
    assert!(matches!(
        format(&mut disk, &FormatParams { crash_slots: 1, ..small_params() }),
        Err(PlogError::InvalidParams { .. })
    ));
    format(&mut disk, &small_params()).unwrap();
    assert!(matches!(format(&mut disk, &small_params()), Err(PlogError::InvalidParams { .. })));
    format(&mut disk, &FormatParams { volume_id: 2, ..small_params() }).unwrap();
}

#[test]
fn default_layout_of_64_mib() {
    let layout = rayos_plog::Layout::plan(64 * 2048, 256, 8).unwrap();
    assert_eq!(layout.boot_table_lba, 16);
    assert_eq!(layout.crash_area_lba, 528);
    assert_eq!(layout.log_lba, 528 + 8 * 128);
    assert_eq!(layout.log_blocks, 16_190);
}

#[test]
fn format_image_mounts() {
    let image = format_image(sectors_for(16) * 512, &small_params()).unwrap();
    let part = mount(MemDisk::from_image(image).unwrap());
    assert_eq!(part.layout().log_blocks, 16);
    assert_eq!(part.volume_id(), VOLUME);
    assert_eq!(part.mount_report().valid_records, 0);
    assert!(format_image(1000, &small_params()).is_err());
}

#[test]
fn reformat_hides_old_data() {
    let mut part = formatted(8);
    let mut model = Model::default();
    for i in 0..50 {
        model.append(&mut part, i, i % 7 == 0, i);
    }
    part.log().flush().unwrap();
    let mut disk = part.into_device();
    format(&mut disk, &FormatParams { volume_id: 99, ..small_params() }).unwrap();
    let mut part = mount(disk);
    assert!(read_all(&mut part).is_empty());
    assert_eq!(part.mount_report().discarded_blocks, 0);
}

#[test]
fn a_damaged_superblock_copy_is_reported_and_rewritten() {
    let mut part = formatted(8);
    part.boots().begin_boot(10).unwrap();
    let mut disk = part.into_device();
    disk.flip_bit(8 * 512 + 40, 0);
    disk.flip_bit(40, 0);
    assert!(matches!(
        DataPartition::mount(disk.clone()).unwrap_err().error,
        PlogError::SuperblockDamaged { .. }
    ));
    disk.flip_bit(40, 0);
    let part = mount(disk);
    assert!(part.mount_report().superblock_problem.is_some());
    assert_eq!(part.mount_report().boot_number, 1);
    let again = mount(part.into_device());
    assert_eq!(again.mount_report().superblock_problem, None, "the mount rewrote the damaged copy");
}

#[test]
fn a_cut_superblock_update_keeps_the_other_copy() {
    let mut part = formatted(8);
    part.boots().begin_boot(10).unwrap();
    let base = part.into_device();
    for bytes in (0..=512).step_by(8) {
        let mut disk = base.clone();
        // begin_boot updates the superblock; keep its writes in the cache and tear them.
        let mut p = DataPartition::mount(NoFlush(&mut disk)).unwrap_or_else(|e| panic!("{}", e.error));
        p.boots().begin_boot(20).unwrap();
        drop(p);
        disk.power_cut(PowerCut::KeepFirstBytes { bytes });
        let part = mount(disk);
        assert!(part.mount_report().boot_number >= 1);
    }
}

#[test]
fn boots_are_numbered_and_their_ends_recorded() {
    let mut part = formatted(8);
    let first = part.boots().begin_boot(100).unwrap();
    assert_eq!((first.boot, first.previous, first.previous_crash), (1, None, None));
    part.boots().end_boot(EndReason::Reboot, 150, 50_000).unwrap();

    let mut part = mount(part.into_device());
    assert_eq!(part.mount_report().boot_number, 1);
    let second = part.boots().begin_boot(200).unwrap();
    assert_eq!(second.boot, 2);
    assert_eq!(second.previous.unwrap().end, EndReason::Reboot);
    assert!(matches!(part.boots().begin_boot(201), Err(PlogError::InvalidParams { .. })));

    // Power loss: boot 2 never ends; the next mount marks it unknown.
    let mut disk = part.into_device();
    disk.power_cut(PowerCut::DropUnflushed);
    let mut part = mount(disk);
    let third = part.boots().begin_boot(300).unwrap();
    assert_eq!(third.boot, 3);
    assert_eq!(third.previous.unwrap().end, EndReason::Unknown);
    part.boots().end_boot(EndReason::CleanShutdown, 350, 1).unwrap();
    let list = part.boots().list();
    let ends: Vec<(u32, EndReason)> = list.iter().map(|b| (b.boot, b.end)).collect();
    assert_eq!(ends, [(1, EndReason::Reboot), (2, EndReason::Unknown), (3, EndReason::CleanShutdown)]);
    assert_eq!(list[1].start_wall_s, 200);
}

#[test]
fn boot_numbers_survive_table_wrap_and_are_never_reused() {
    let mut part = formatted(8);
    for expected in 1..=11u32 {
        let start = part.boots().begin_boot(u64::from(expected)).unwrap();
        assert_eq!(start.boot, expected);
        let mut disk = part.into_device();
        disk.power_cut(PowerCut::Random { seed: u64::from(expected) });
        part = mount(disk);
    }
    let list = part.boots().list();
    assert_eq!(list.iter().map(|b| b.boot).collect::<Vec<_>>(), [8, 9, 10, 11], "4 slots keep the newest 4");
}

#[test]
fn end_boot_needs_a_boot() {
    let mut part = formatted(8);
    assert_eq!(part.boots().end_boot(EndReason::Reboot, 1, 1).unwrap_err(), PlogError::NoBootInProgress);
}

fn entry<'a>(level: Level, mono_ns: u64, wall_s: u64, subsystem: &'a str, message: &'a str) -> Entry<'a> {
    Entry { level, mono_ns, wall_s, subsystem, message }
}

#[test]
fn queries_filter_order_and_tail() {
    let mut part = formatted(16);
    part.boots().begin_boot(1_000).unwrap();
    {
        let mut log = part.log();
        log.append(&entry(Level::Info, 1, 1_000, "kern", "boot one starts")).unwrap();
        log.append_durable(&entry(Level::Error, 2, 1_010, "blk", "Disk FAILED to answer")).unwrap();
    }
    part.boots().end_boot(EndReason::Reboot, 1_020, 3).unwrap();
    let mut part = mount(part.into_device());
    part.boots().begin_boot(2_000).unwrap();
    {
        let mut log = part.log();
        log.append(&entry(Level::Debug, 5, 2_000, "net", "dhcp offer")).unwrap();
        log.append(&entry(Level::Warn, 6, 2_100, "net", "link flapping")).unwrap();
        log.append(&entry(Level::Trace, 7, 2_200, "sched", "tick")).unwrap();
    }
    let mut q = |query: Query| -> Vec<String> {
        part.log().query(&query).unwrap().records.into_iter().map(|r| r.message).collect()
    };
    assert_eq!(q(Query::default()).len(), 5);
    assert_eq!(
        q(Query { boot: Some(BootSelector::Relative(-1)), ..Query::default() }),
        ["boot one starts", "Disk FAILED to answer"]
    );
    assert_eq!(q(Query { boot: Some(BootSelector::Absolute(2)), ..Query::default() }).len(), 3);
    assert_eq!(q(Query { boot: Some(BootSelector::Relative(0)), ..Query::default() }).len(), 3);
    assert!(q(Query { boot: Some(BootSelector::Relative(-5)), ..Query::default() }).is_empty());
    assert_eq!(
        q(Query { min_level: Some(Level::Warn), ..Query::default() }),
        ["Disk FAILED to answer", "link flapping"]
    );
    assert_eq!(q(Query { contains: Some("failed".into()), ..Query::default() }), ["Disk FAILED to answer"]);
    assert_eq!(
        q(Query { contains: Some("NET".into()), ..Query::default() }),
        ["dhcp offer", "link flapping"]
    );
    assert_eq!(q(Query { since_wall_s: Some(2_100), ..Query::default() }), ["link flapping", "tick"]);
    assert_eq!(q(Query { since_mono_ns: Some(6), ..Query::default() }), ["link flapping", "tick"]);
    assert_eq!(q(Query { tail: Some(2), ..Query::default() }), ["link flapping", "tick"]);
    assert_eq!(
        q(Query { tail: Some(2), order: Order::NewestFirst, ..Query::default() }),
        ["tick", "link flapping"]
    );
    assert_eq!(q(Query { order: Order::NewestFirst, ..Query::default() })[0], "tick");
    assert!(q(Query { tail: Some(0), ..Query::default() }).is_empty());
    assert_eq!(q(Query { head: Some(2), ..Query::default() }), ["boot one starts", "Disk FAILED to answer"]);
    assert_eq!(
        q(Query { head: Some(2), order: Order::NewestFirst, ..Query::default() }),
        ["Disk FAILED to answer", "boot one starts"]
    );
    assert_eq!(q(Query { head: Some(1), contains: Some("NET".into()), ..Query::default() }), ["dhcp offer"]);
    assert_eq!(
        q(Query { excludes: Some("net".into()), ..Query::default() }),
        ["boot one starts", "Disk FAILED to answer", "tick"]
    );

    let stats = part.log().stats();
    assert_eq!(stats.records, 5);
    assert_eq!(stats.unflushed_records, 3);
    assert_eq!(stats.oldest.map(|o| o.0), Some(1));
    assert_eq!(stats.newest, Some((5, 2_200)));
    assert_eq!(stats.wraps, 0);
    assert_eq!(stats.capacity_bytes, 16 * 4096);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Newest-first with a tail over a wrapped ring equals the reverse of oldest-first.
    #[test]
    fn orders_agree(count in 1usize..1500, tail in 0usize..2000, seed in any::<u64>()) {
        let mut part = formatted(8);
        part.boots().begin_boot(1).unwrap();
        let mut model = Model::default();
        let mut rng = SplitMix(seed);
        for i in 0..count {
            model.append(&mut part, rng.next(), rng.below(20) == 0, i as u64);
        }
        let oldest = part.log().query(&Query::default()).unwrap().records;
        let mut newest = part.log().query(&Query { order: Order::NewestFirst, ..Query::default() }).unwrap().records;
        newest.reverse();
        prop_assert_eq!(&oldest, &newest);
        let tailed = part.log().query(&Query { tail: Some(tail), ..Query::default() }).unwrap().records;
        prop_assert_eq!(&tailed[..], &oldest[oldest.len().saturating_sub(tail)..]);
        prop_assert_eq!(check_prefix(&oldest, &model).unwrap(), model.records.len());
    }
}

fn crash_view<'a>(
    kind: CrashKind,
    boot: u32,
    message: &'a str,
    frames: &'a [Frame<'a>],
    lines: &'a [&'a str],
) -> CrashView<'a> {
    CrashView {
        kind,
        message,
        boot,
        wall_s: 5_000,
        uptime_ns: 42,
        rip: 0xffff_ffff_8010_0000,
        cr2: 0x10,
        error_code: 4,
        registers: Registers { rsp: 0xffff_8000_0000_1000, ..Registers::default() },
        backtrace: frames,
        log_lines: lines,
    }
}

#[test]
fn crash_records_round_trip_and_mark_the_boot() {
    let mut part = formatted(8);
    let boot = part.boots().begin_boot(10).unwrap().boot;
    let frames = [Frame { address: 0xffff_ffff_8010_0000, symbol: "rayos_kernel::panic", offset: 0x20 }];
    let lines = ["one", "two"];
    let writer = part.crash_writer();
    let mut scratch = vec![0u8; CRASH_SCRATCH_BYTES];
    let written = writer
        .write_nopanic(
            part.device_mut(),
            &crash_view(CrashKind::PageFault, boot, "page fault", &frames, &lines),
            &mut scratch,
        )
        .unwrap();
    assert_eq!((written.slot, written.crash_seq), (0, 1));

    let mut disk = part.into_device();
    disk.power_cut(PowerCut::DropUnflushed);
    let mut part = mount(disk);
    let start = part.boots().begin_boot(20).unwrap();
    let crash = start.previous_crash.unwrap();
    assert_eq!((crash.kind, crash.boot), (CrashKind::PageFault, 1));
    assert_eq!(
        format!("RAYOS_CRASH:PREVIOUS:{}:{}", crash.kind, crash.boot),
        "RAYOS_CRASH:PREVIOUS:page-fault:1"
    );
    assert_eq!(start.previous.unwrap().end, EndReason::Panic);
    let rec = part.crashes().latest().unwrap().unwrap();
    assert_eq!(rec.message, "page fault");
    assert_eq!(rec.backtrace[0].symbol, "rayos_kernel::panic");
    assert_eq!(rec.log_lines, ["one", "two"]);
    assert_eq!(rec.registers.rsp, 0xffff_8000_0000_1000);
    assert_eq!(part.boots().list()[0].crash_seq, Some(1));

    // A watchdog crash in boot 2 marks it `watchdog`.
    let writer = part.crash_writer();
    writer
        .write_nopanic(part.device_mut(), &crash_view(CrashKind::Watchdog, 2, "hung", &[], &[]), &mut scratch)
        .unwrap();
    let mut part = mount(part.into_device());
    let start = part.boots().begin_boot(30).unwrap();
    assert_eq!(start.previous.unwrap().end, EndReason::Watchdog);
    assert_eq!(part.crashes().list().unwrap().len(), 2);

    assert_eq!(part.crashes().clear().unwrap(), 2);
    assert!(part.crashes().list().unwrap().is_empty());
    assert!(matches!(part.crashes().get(1), Err(PlogError::CrashNotFound { crash_seq: 1 })));
    // Cleared records stay hidden after a remount; new ones get new numbers.
    let mut part = mount(part.into_device());
    assert!(part.crashes().list().unwrap().is_empty());
    let written =
        part.crashes().record(&crash_view(CrashKind::Panic, 3, "again", &[], &[]), &mut scratch).unwrap();
    assert_eq!(written.crash_seq, 3);
    assert_eq!(part.crashes().list().unwrap().len(), 1);
}

#[test]
fn oldest_slot_is_reused() {
    let mut part = formatted(8);
    let mut scratch = vec![0u8; CRASH_SCRATCH_BYTES];
    let mut slots = Vec::new();
    for i in 0..5u32 {
        let msg = format!("crash {i}");
        let w =
            part.crashes().record(&crash_view(CrashKind::Panic, i, &msg, &[], &[]), &mut scratch).unwrap();
        slots.push(w.slot);
    }
    assert_eq!(slots, [0, 1, 0, 1, 0]);
    let list = part.crashes().list().unwrap();
    assert_eq!(list.iter().map(|c| c.crash_seq).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(part.crashes().get(5).unwrap().message, "crash 4");
}

#[test]
fn scratch_too_small_is_an_error() {
    let mut part = formatted(8);
    let mut scratch = vec![0u8; 1000];
    let err =
        part.crashes().record(&crash_view(CrashKind::Panic, 1, "x", &[], &[]), &mut scratch).unwrap_err();
    assert!(matches!(err, rayos_plog::CrashWriteError::ScratchTooSmall { given_bytes: 1000, .. }));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A power cut during a crash write (any prefix of its sector writes, torn bytes, random
    /// subsets) never damages the older records: they all still read back intact, and the
    /// new one is either complete or absent.
    #[test]
    fn a_cut_crash_write_never_harms_older_records(existing in 0u32..4, cut in prop_oneof![
        (0usize..140).prop_map(|sectors| PowerCut::KeepFirst { sectors }),
        (0usize..140 * 512).prop_map(|bytes| PowerCut::KeepFirstBytes { bytes }),
        any::<u64>().prop_map(|seed| PowerCut::Random { seed }),
    ]) {
        let mut part = formatted(8);
        let mut scratch = vec![0u8; CRASH_SCRATCH_BYTES];
        let lines: Vec<String> = (0..64).map(|i| format!("log line {i} {}", "y".repeat(200))).collect();
        let line_refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        for i in 0..existing {
            let msg = format!("old crash {i}");
            part.crashes().record(&crash_view(CrashKind::Panic, i, &msg, &[], &line_refs), &mut scratch).unwrap();
        }
        let before = part.crashes().list().unwrap();
        let before_full: Vec<_> = before.iter().map(|c| part.crashes().get(c.crash_seq).unwrap()).collect();
        // The crash write goes through a cache that is then cut.
        let writer = part.crash_writer();
        let mut disk = part.into_device();
        let mut cached = NoFlush(&mut disk);
        let new = writer.write_nopanic(&mut cached, &crash_view(CrashKind::DoubleFault, 9, "new crash", &[], &line_refs), &mut scratch).unwrap();
        disk.power_cut(cut);
        let mut part = mount(disk);
        let after = part.crashes().list().unwrap();
        for old in &before_full {
            if before.len() == 2 && old.slot == new.slot {
                continue; // The oldest record's slot was being rewritten: it may go.
            }
            prop_assert_eq!(&part.crashes().get(old.crash_seq).unwrap(), old);
        }
        for c in &after {
            let rec = part.crashes().get(c.crash_seq).unwrap();
            if c.crash_seq == new.crash_seq {
                prop_assert_eq!(rec.message, "new crash");
                prop_assert_eq!(rec.log_lines.len(), 64);
            }
        }
    }
}

/// A device whose flushes do nothing, so that a whole crash write stays in the cache and
/// the power cut decides what lands.
struct NoFlush<'a>(&'a mut MemDisk);

impl rayos_block::BlockDevice for NoFlush<'_> {
    fn sector_count(&self) -> u64 {
        self.0.sector_count()
    }
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), rayos_block::BlockError> {
        self.0.read_sectors(lba, buf)
    }
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), rayos_block::BlockError> {
        self.0.write_sectors(lba, buf)
    }
    fn flush(&mut self) -> Result<(), rayos_block::BlockError> {
        Ok(())
    }
}
