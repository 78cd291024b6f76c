//! The kernel heap: a `talc` allocator over one contiguous run of frames, reached through
//! the direct map. Its lock keeps interrupts off while held, so a thread preempted in the
//! allocator can never leave another thread (or an interrupt handler) spinning on it.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use talc::source::Manual;
use talc::TalcLock;

use super::{frames, phys_to_virt};

/// A spin lock for `lock_api` that disables interrupts while held and restores them after.
pub struct IrqSpinLock {
    locked: AtomicBool,
    interrupts_were_enabled: AtomicBool,
}

// SAFETY: mutual exclusion by the `locked` flag (acquire/release ordering); interrupts are
// disabled before the flag is taken, so the holder cannot be preempted on this CPU.
unsafe impl lock_api::RawMutex for IrqSpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self =
        IrqSpinLock { locked: AtomicBool::new(false), interrupts_were_enabled: AtomicBool::new(false) };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        loop {
            if self.try_lock() {
                return;
            }
            core::hint::spin_loop();
        }
    }

    fn try_lock(&self) -> bool {
        let enabled = crate::arch::interrupts_enabled();
        crate::arch::disable_interrupts();
        if self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            self.interrupts_were_enabled.store(enabled, Ordering::Relaxed);
            true
        } else {
            if enabled {
                crate::arch::enable_interrupts();
            }
            false
        }
    }

    unsafe fn unlock(&self) {
        let enabled = self.interrupts_were_enabled.load(Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
        if enabled {
            crate::arch::enable_interrupts();
        }
    }
}

#[global_allocator]
static HEAP: TalcLock<IrqSpinLock, Manual> = TalcLock::new(Manual);

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
