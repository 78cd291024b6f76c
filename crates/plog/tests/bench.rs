//! Figures, not pass/fail: run with
//! `cargo test -p rayos-plog --release --test bench -- --ignored --nocapture`.
//! On the host the device is memory, so these measure the CPU cost of the format (CRC,
//! copies, scan) beside a raw copy of the same bytes into the same in-memory disk.

use rayos_block::mem::MemDisk;
use rayos_block::BlockDevice;
use rayos_plog::{DataPartition, Entry, FormatParams, Level};
use std::time::Instant;

const PARTITION_BYTES: u64 = 64 << 20;

#[test]
#[ignore = "benchmark; run explicitly"]
fn bench_64_mib() {
    let sectors = PARTITION_BYTES / 512;

    // Raw sequential writes of 64 KiB, the request size the log uses.
    let mut raw = MemDisk::new(sectors);
    let chunk = vec![0x5a_u8; 64 << 10];
    let t = Instant::now();
    let mut lba = 0;
    while lba + 128 <= sectors {
        raw.write_sectors(lba, &chunk).unwrap();
        lba += 128;
    }
    raw.flush().unwrap();
    let raw_s = t.elapsed().as_secs_f64();
    let raw_mb_s = (lba * 512) as f64 / raw_s / 1e6;
    drop(raw);

    let mut part = DataPartition::format(MemDisk::new(sectors), &FormatParams::new(7, 1)).unwrap();
    part.boots().begin_boot(1).unwrap();
    let ring_bytes = part.layout().log_bytes();
    let message = "x".repeat(100);
    let t = Instant::now();
    let mut n = 0u64;
    // `stats()` walks the index, so it is asked only every 4096 records.
    while !n.is_multiple_of(4096) || part.log().stats().wraps < 1 {
        let entry =
            Entry { level: Level::Info, mono_ns: n, wall_s: 1, subsystem: "bench", message: &message };
        part.log().append(&entry).unwrap();
        n += 1;
    }
    part.log().flush().unwrap();
    let append_s = t.elapsed().as_secs_f64();
    let counters = part.log().counters();
    let log_mb_s = counters.bytes_written as f64 / append_s / 1e6;

    let t = Instant::now();
    let durable_n = 2000;
    for i in 0..durable_n {
        let entry =
            Entry { level: Level::Warn, mono_ns: i, wall_s: 1, subsystem: "bench", message: "durable" };
        part.log().append_durable(&entry).unwrap();
    }
    let durable_us = t.elapsed().as_secs_f64() * 1e6 / durable_n as f64;

    let disk = part.into_device();
    let t = Instant::now();
    let mut part = DataPartition::mount(disk).unwrap_or_else(|_| panic!());
    let mount_ms = t.elapsed().as_secs_f64() * 1e3;
    let report = *part.mount_report();
    let t = Instant::now();
    let tail = part.log().query(&rayos_plog::Query { tail: Some(100), ..Default::default() }).unwrap();
    let tail_us = t.elapsed().as_secs_f64() * 1e6;
    let t = Instant::now();
    let all = part.log().query(&rayos_plog::Query::default()).unwrap();
    let all_ms = t.elapsed().as_secs_f64() * 1e3;

    println!("ring: {} MiB ({} blocks)", ring_bytes >> 20, part.layout().log_blocks);
    println!("raw sequential 64 KiB writes into MemDisk: {raw_mb_s:.0} MB/s");
    println!(
        "log appends (148-byte records): {:.0} records/s, {log_mb_s:.0} MB/s written ({:.0}% of raw), {} write requests, {} device flushes for {} records",
        n as f64 / append_s,
        100.0 * log_mb_s / raw_mb_s,
        counters.write_requests,
        counters.device_flushes,
        n
    );
    println!("durable append latency on MemDisk: {durable_us:.1} us");
    println!(
        "mount of the full ring: {mount_ms:.1} ms, {} MiB read, {} valid records, {} discarded",
        report.scanned_bytes >> 20,
        report.valid_records,
        report.discarded_records
    );
    println!("query tail 100: {tail_us:.0} us; query all ({} records): {all_ms:.0} ms", all.records.len());
    assert_eq!(report.discarded_records, 0);
    assert_eq!(tail.records.len(), 100);
}
