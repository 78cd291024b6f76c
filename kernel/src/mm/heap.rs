//! The kernel heap: a `talc` allocator over one contiguous run of frames, reached through
//! the direct map. Its lock keeps interrupts off while held, so a thread preempted in the
//! allocator can never leave another thread (or an interrupt handler) spinning on it.

use core::sync::atomic::{AtomicU64, Ordering};

use talc::source::Manual;
use talc::TalcLock;

use super::{frames, phys_to_virt};

#[global_allocator]
static HEAP: TalcLock<crate::sync::IrqSpinLock, Manual> = TalcLock::new(Manual);

static HEAP_BYTES: AtomicU64 = AtomicU64::new(0);

/// Heap size: a quarter of usable RAM, at least 16 MiB and at most 256 MiB.
fn heap_size(usable_bytes: u64) -> u64 {
    (usable_bytes / 4).clamp(16 << 20, 256 << 20) & !0x1F_FFFF
}

pub fn init() {
    let (usable, _) = frames::stats();
    let size = heap_size(usable);
    let phys =
        frames::allocate_contiguous(size / 4096, 2 << 20).expect("no contiguous memory for the kernel heap");
    // SAFETY: the frames were just allocated for the heap alone and are mapped at this
    // direct-map address for the kernel's lifetime.
    let claimed = unsafe { HEAP.lock().claim(phys_to_virt(phys) as *mut u8, size as usize) };
    assert!(claimed.is_some(), "the heap allocator refused its arena");
    HEAP_BYTES.store(size, Ordering::Relaxed);
}

/// (heap size, bytes in use).
pub fn stats() -> (u64, u64) {
    let used = HEAP.lock().counters().allocated_bytes as u64;
    (HEAP_BYTES.load(Ordering::Relaxed), used)
}
