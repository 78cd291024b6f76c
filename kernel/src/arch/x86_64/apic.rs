//! The local APIC (xAPIC, memory-mapped), the IOAPIC, and the legacy 8259 PICs (masked).
//!
//! QEMU's TCG gives RayOS no x2APIC and no TSC-deadline timer, so the local APIC is driven
//! through its MMIO page and its timer in periodic mode.

use core::sync::atomic::{AtomicU64, Ordering};

use super::interrupts::vectors;
use super::{inb, outb};

const IA32_APIC_BASE: u32 = 0x1B;

// Local APIC register offsets.
const ID: usize = 0x20;
const TPR: usize = 0x80;
const EOI: usize = 0xB0;
const SVR: usize = 0xF0;
const ESR: usize = 0x280;
const LVT_TIMER: usize = 0x320;
const LVT_LINT0: usize = 0x350;
const LVT_ERROR: usize = 0x370;
const TIMER_INITIAL: usize = 0x380;
const TIMER_CURRENT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3E0;

const LVT_MASKED: u32 = 1 << 16;
const TIMER_PERIODIC: u32 = 1 << 17;
/// Divide configuration value for "divide by 16".
const DIVIDE_BY_16: u32 = 0b0011;

/// Virtual address of the local APIC's register page (0 before [`init_local`]).
static LOCAL_BASE: AtomicU64 = AtomicU64::new(0);

/// Physical address of the local APIC registers, from the APIC base MSR.
pub fn local_apic_phys() -> u64 {
    // SAFETY: the APIC base MSR exists on every x86_64 CPU; reading it has no side effects.
    let value = unsafe { ::x86_64::registers::model_specific::Msr::new(IA32_APIC_BASE).read() };
    value & 0xF_FFFF_F000
}

fn read(offset: usize) -> u32 {
    let base = LOCAL_BASE.load(Ordering::Relaxed);
    debug_assert!(base != 0);
    // SAFETY: `base` maps the local APIC page uncached (init_local); offsets are registers.
    unsafe { core::ptr::read_volatile((base as usize + offset) as *const u32) }
}

fn write(offset: usize, value: u32) {
    let base = LOCAL_BASE.load(Ordering::Relaxed);
    debug_assert!(base != 0);
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((base as usize + offset) as *mut u32, value) }
}

/// Enables the local APIC whose registers are mapped at `virt_base`.
pub fn init_local(virt_base: u64) {
    LOCAL_BASE.store(virt_base, Ordering::Relaxed);
    write(TPR, 0);
    write(LVT_ERROR, LVT_MASKED | vectors::SPURIOUS as u32);
    write(ESR, 0);
    write(LVT_LINT0, LVT_MASKED);
    write(SVR, (1 << 8) | vectors::SPURIOUS as u32);
    end_of_interrupt();
}

pub fn is_initialised() -> bool {
    LOCAL_BASE.load(Ordering::Relaxed) != 0
}

/// This CPU's local APIC ID.
pub fn id() -> u32 {
    read(ID) >> 24
}

pub fn end_of_interrupt() {
    if is_initialised() {
        write(EOI, 0);
    }
}

/// Starts the timer counting down from `initial_count` (divided by 16), masked, one-shot:
/// used to measure its rate.
pub fn start_timer_for_calibration(initial_count: u32) {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, LVT_MASKED | vectors::TIMER as u32);
    write(TIMER_INITIAL, initial_count);
}

pub fn timer_current_count() -> u32 {
    read(TIMER_CURRENT)
}

/// Fires [`vectors::TIMER`] every `count` timer ticks (divided by 16).
pub fn start_periodic_timer(count: u32) {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, TIMER_PERIODIC | vectors::TIMER as u32);
    write(TIMER_INITIAL, count.max(1));
}

/// Remaps the 8259 PICs away from the exception vectors and masks every line: RayOS routes
/// device interrupts through the IOAPIC.
pub fn disable_legacy_pic() {
    // SAFETY: the standard 8259 initialisation sequence on its fixed ports.
    unsafe {
        outb(0x21, 0xFF);
        outb(0xA1, 0xFF);
        outb(0x20, 0x11); // ICW1: initialise, expect ICW4
        outb(0xA0, 0x11);
        outb(0x21, vectors::LEGACY_PIC_BASE); // ICW2: vector base
        outb(0xA1, vectors::LEGACY_PIC_BASE + 8);
        outb(0x21, 4); // ICW3: slave on IRQ2
        outb(0xA1, 2);
        outb(0x21, 1); // ICW4: 8086 mode
        outb(0xA1, 1);
        outb(0x21, 0xFF); // mask all
        outb(0xA1, 0xFF);
        let _ = inb(0x21);
    }
}

/// An IOAPIC mapped at a virtual address.
pub struct IoApic {
    base: u64,
    pub gsi_base: u32,
    pub redirection_entries: u32,
}

impl IoApic {
    /// # Safety
    /// `virt_base` must map the IOAPIC's register window uncached, for the kernel's lifetime.
    pub unsafe fn new(virt_base: u64, gsi_base: u32) -> IoApic {
        let mut ioapic = IoApic { base: virt_base, gsi_base, redirection_entries: 0 };
        ioapic.redirection_entries = ((ioapic.read(1) >> 16) & 0xFF) + 1;
        for pin in 0..ioapic.redirection_entries {
            ioapic.write_entry(pin, 1 << 16); // masked
        }
        ioapic
    }

    fn read(&self, register: u32) -> u32 {
        // SAFETY: IOREGSEL at +0 and IOWIN at +0x10 of the mapped window (see `new`).
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, register);
            core::ptr::read_volatile((self.base + 0x10) as *const u32)
        }
    }

    fn write(&self, register: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, register);
            core::ptr::write_volatile((self.base + 0x10) as *mut u32, value);
        }
    }

    fn write_entry(&self, pin: u32, low: u32) {
        self.write(0x10 + 2 * pin, low);
        self.write(0x11 + 2 * pin, 0);
    }

    /// Whether this IOAPIC serves global system interrupt `gsi`.
    pub fn handles(&self, gsi: u32) -> bool {
        gsi >= self.gsi_base && gsi < self.gsi_base + self.redirection_entries
    }

    /// Delivers `gsi` to `destination` as an NMI (edge-triggered, active high).
    pub fn route_nmi(&self, gsi: u32, destination: u32) {
        const DELIVERY_NMI: u32 = 0b100 << 8;
        self.set_entry(gsi, DELIVERY_NMI, destination);
    }

    /// Routes `gsi` to `vector` on the local APIC `destination` (fixed delivery, physical mode).
    pub fn route(&self, gsi: u32, vector: u8, destination: u32, level_triggered: bool, active_low: bool) {
        let mut low = vector as u32;
        if active_low {
            low |= 1 << 13;
        }
        if level_triggered {
            low |= 1 << 15;
        }
        self.set_entry(gsi, low, destination);
    }

    /// Writes the redirection entry of `gsi`: the destination first, then the low half (which
    /// unmasks it), so the pin never fires towards a stale destination.
    fn set_entry(&self, gsi: u32, low: u32, destination: u32) {
        let pin = gsi - self.gsi_base;
        self.write(0x11 + 2 * pin, destination << 24);
        self.write(0x10 + 2 * pin, low);
    }
}
