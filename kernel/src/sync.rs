//! Locks for a preemptive kernel on one CPU.
//!
//! - [`IrqMutex`]: a spin lock that keeps interrupts off while held. For data that interrupt
//!   handlers or the scheduler touch. Critical sections must be short.
//! - [`Mutex`]: for data only threads touch; yields the CPU on contention.

use core::ops::{Deref, DerefMut};

pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

pub struct IrqMutexGuard<'a, T> {
    guard: core::mem::ManuallyDrop<spin::MutexGuard<'a, T>>,
    interrupts_were_enabled: bool,
}

impl<T> IrqMutex<T> {
    pub const fn new(value: T) -> Self {
        IrqMutex { inner: spin::Mutex::new(value) }
    }

    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let interrupts_were_enabled = crate::arch::interrupts_enabled();
        crate::arch::disable_interrupts();
        IrqMutexGuard { guard: core::mem::ManuallyDrop::new(self.inner.lock()), interrupts_were_enabled }
    }

    pub fn try_lock(&self) -> Option<IrqMutexGuard<'_, T>> {
        let interrupts_were_enabled = crate::arch::interrupts_enabled();
        crate::arch::disable_interrupts();
        match self.inner.try_lock() {
            Some(guard) => {
                Some(IrqMutexGuard { guard: core::mem::ManuallyDrop::new(guard), interrupts_were_enabled })
            }
            None => {
                if interrupts_were_enabled {
                    crate::arch::enable_interrupts();
                }
                None
            }
        }
    }

    /// Releases the lock without a guard.
    ///
    /// # Safety
    /// Only for the fatal-error path, where the holder will never run again.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock() }
    }
}

impl<T> Drop for IrqMutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here; the lock is released before interrupts return.
        unsafe { core::mem::ManuallyDrop::drop(&mut self.guard) };
        if self.interrupts_were_enabled {
            crate::arch::enable_interrupts();
        }
    }
}

impl<T> Deref for IrqMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for IrqMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
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
