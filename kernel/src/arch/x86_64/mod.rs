//! x86_64: descriptor tables, interrupts, the local APIC and IOAPIC, CPU identification.

pub mod apic;
pub mod cpu;
pub mod debug;
pub mod entry;
pub mod gdt;
pub mod idt;
pub mod interrupts;
pub mod npt;
pub mod stack;
pub mod svm;

pub use interrupts::{
    are_enabled as interrupts_enabled, disable as disable_interrupts, enable as enable_interrupts,
    without_interrupts, InterruptFrame,
};

/// Enables interrupts and waits for the next one, atomically (no wake-up can be lost between
/// the check that made the caller decide to sleep and the `hlt`).
pub fn enable_interrupts_and_wait() {
    ::x86_64::instructions::interrupts::enable_and_hlt();
}

/// Stops this CPU for good: interrupts off, halt forever.
pub fn halt_forever() -> ! {
    loop {
        ::x86_64::instructions::interrupts::disable();
        ::x86_64::instructions::hlt();
    }
}

/// The time-stamp counter.
#[inline]
pub fn read_tsc() -> u64 {
    // SAFETY: RDTSC only reads a counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

pub fn read_cr0() -> u64 {
    ::x86_64::registers::control::Cr0::read_raw()
}

pub fn read_cr3() -> u64 {
    ::x86_64::registers::control::Cr3::read_raw().0.start_address().as_u64()
}

pub fn read_cr4() -> u64 {
    ::x86_64::registers::control::Cr4::read_raw()
}

/// The page-fault linear address register.
pub fn read_cr2() -> u64 {
    ::x86_64::registers::control::Cr2::read_raw()
}

/// Reads an I/O port byte.
///
/// # Safety
/// The port must belong to a device this caller drives; reads can have side effects.
pub unsafe fn inb(port: u16) -> u8 {
    // SAFETY: forwarded to the caller.
    unsafe { ::x86_64::instructions::port::Port::<u8>::new(port).read() }
}

/// Writes an I/O port byte.
///
/// # Safety
/// The port must belong to a device this caller drives.
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded to the caller.
    unsafe { ::x86_64::instructions::port::Port::<u8>::new(port).write(value) }
}

/// Reads an I/O port word.
///
/// # Safety
/// As for [`inb`].
pub unsafe fn inw(port: u16) -> u16 {
    // SAFETY: forwarded to the caller.
    unsafe { ::x86_64::instructions::port::Port::<u16>::new(port).read() }
}

/// Writes an I/O port word.
///
/// # Safety
/// As for [`outb`].
pub unsafe fn outw(port: u16, value: u16) {
    // SAFETY: forwarded to the caller.
    unsafe { ::x86_64::instructions::port::Port::<u16>::new(port).write(value) }
}

/// Reads an I/O port doubleword.
///
/// # Safety
/// As for [`inb`].
pub unsafe fn inl(port: u16) -> u32 {
    // SAFETY: forwarded to the caller.
    unsafe { ::x86_64::instructions::port::Port::<u32>::new(port).read() }
}

/// Writes an I/O port doubleword.
///
/// # Safety
/// As for [`outb`].
pub unsafe fn outl(port: u16, value: u32) {
    // SAFETY: forwarded to the caller.
    unsafe { ::x86_64::instructions::port::Port::<u32>::new(port).write(value) }
}

/// Resets the CPU by loading an empty IDT and raising an exception: the last-resort reset
/// when ACPI and the keyboard controller did not work.
pub fn triple_fault() -> ! {
    let empty = ::x86_64::structures::DescriptorTablePointer { limit: 0, base: ::x86_64::VirtAddr::new(0) };
    // SAFETY: deliberately makes every interrupt fatal; the CPU resets on the next one.
    unsafe {
        ::x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3", options(noreturn));
    }
}
