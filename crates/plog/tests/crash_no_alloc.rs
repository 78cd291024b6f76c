//! The crash write path must not touch the heap: a counting global allocator proves it.

mod common;

use common::*;
use rayos_plog::{CrashKind, CrashView, Frame, Registers, CRASH_SCRATCH_BYTES};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; it only counts, per
// thread, in a const-initialised thread-local that needs no allocation itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn crash_write_path_does_not_allocate() {
    let mut part = formatted(8);
    part.boots().begin_boot(1).unwrap();
    let writer = part.crash_writer();
    let frames = [
        Frame {
            address: 0xffff_ffff_8000_1000,
            symbol: "rayos_kernel::arch::x86_64::idt::page_fault",
            offset: 0x42,
        },
        Frame { address: 0xffff_ffff_8000_2000, symbol: "rayos_kernel::main", offset: 0x10 },
    ];
    let lines = ["[    1.000] kern: booting", "[    2.000] mm: mapping", "[    3.000] mm: fault ahead"];
    let view = CrashView {
        kind: CrashKind::PageFault,
        message: "page fault at 0xdeadbeef",
        boot: 1,
        wall_s: 1_700_000_000,
        uptime_ns: 3_000_000_000,
        rip: 0xffff_ffff_8000_1042,
        cr2: 0xdead_beef,
        error_code: 2,
        registers: Registers { rax: 1, rsp: 0xffff_8000_0010_0000, ..Registers::default() },
        backtrace: &frames,
        log_lines: &lines,
    };
    let disk = part.device_mut();
    // The in-memory disk records unflushed writes in a Vec: give it room beforehand, as a
    // real driver has its queues set up before the crash.
    disk.reserve_pending(256);

    // A stack buffer (the kernel's panic handler uses a static one).
    let mut scratch = [0u8; CRASH_SCRATCH_BYTES];
    let before = allocations();
    let written = writer.write_nopanic(disk, &view, &mut scratch).unwrap();
    let after = allocations();
    assert_eq!(after - before, 0, "the crash path allocated {} times", after - before);

    // The reading side may allocate; check the record arrived.
    let rec = part.crashes().get(written.crash_seq).unwrap();
    assert_eq!(rec.message, "page fault at 0xdeadbeef");
    assert_eq!(rec.backtrace.len(), 2);
    // The counter does count: reading allocated.
    assert!(allocations() > after);
}
