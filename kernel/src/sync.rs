//! Locks for a preemptive kernel on one CPU.
//!
//! - [`IrqMutex`]: a spin lock that keeps interrupts off while held. For data that interrupt
//!   handlers or the scheduler touch. Critical sections must be short.

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
