//! Locks for a preemptive kernel on one CPU.
//!
//! - [`IrqMutex`]: a spin lock that keeps interrupts off while held. For data that interrupt
//!   handlers or the scheduler touch. Critical sections must be short.
//! - [`Mutex`]: for data only threads touch; yields the CPU on contention.

use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A spin lock that keeps interrupts off while held and restores them after: the kernel heap
/// and every [`IrqMutex`] use it.
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
        while !self.try_lock() {
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

/// Data behind an [`IrqSpinLock`]. To take one whose holder will never run again (the
/// fatal-error path), use [`break_lock`], not `force_unlock`.
pub type IrqMutex<T> = lock_api::Mutex<IrqSpinLock, T>;

/// For the fatal-error path: frees `mutex` whoever holds it, and leaves interrupts off. A plain
/// `force_unlock` restores the interrupt state the lock's last holder saved, which is "on" in
/// ordinary use: the scheduler then ran other threads on the dying kernel while its report
/// stayed on screen (round 19: System 2, still loading when the shell panicked, printed its
/// ready line after "RayOS will restart").
///
/// # Safety
/// Only on the fatal path, with interrupts off: whoever held `mutex` must never run again.
pub unsafe fn break_lock<T>(mutex: &IrqMutex<T>) {
    // SAFETY: per this function's contract, no holder will touch the data again.
    unsafe { mutex.force_unlock() };
    crate::arch::disable_interrupts();
}

/// A lock for data only threads touch (disks, the persistent log). On contention it yields
/// the CPU instead of spinning, so a preempted holder gets to run and release it. It records
/// its owner, so code that may be re-entered on the same thread (logging from inside the log
/// writer) can ask [`Mutex::held_by_current`] instead of deadlocking.
pub struct Mutex<T> {
    inner: spin::Mutex<T>,
    owner: core::sync::atomic::AtomicU64,
}

const NO_OWNER: u64 = u64::MAX;

pub struct MutexGuard<'a, T> {
    guard: spin::MutexGuard<'a, T>,
    owner: &'a core::sync::atomic::AtomicU64,
}

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Self {
        Mutex { inner: spin::Mutex::new(value), owner: core::sync::atomic::AtomicU64::new(NO_OWNER) }
    }

    fn guard<'a>(&'a self, guard: spin::MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.owner.store(crate::task::current(), core::sync::atomic::Ordering::Relaxed);
        MutexGuard { guard, owner: &self.owner }
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        loop {
            if let Some(guard) = self.inner.try_lock() {
                return self.guard(guard);
            }
            crate::task::yield_now();
        }
    }

    /// Whether the running thread holds this lock.
    pub fn held_by_current(&self) -> bool {
        self.inner.is_locked()
            && self.owner.load(core::sync::atomic::Ordering::Relaxed) == crate::task::current()
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.owner.store(NO_OWNER, core::sync::atomic::Ordering::Relaxed);
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}
