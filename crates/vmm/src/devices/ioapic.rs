//! The I/O APIC at 0xFEC00000: 24 redirection entries routing interrupt pins to LAPIC vectors.
//!
//! Pins carry the *logical* state of a line (asserted or not); the polarity bit of an entry is
//! stored for the guest to read back but the devices already report asserted-ness, so it does
//! not invert anything. There is one CPU, so every fixed or lowest-priority message goes to its
//! LAPIC whatever the destination field says.
//!
//! # Invariants
//! - A level-triggered entry delivers at most once until the LAPIC's EOI broadcast (or a write
//!   to the EOI register) clears its remote IRR.
//! - Registers outside the 24 entries read as 0 and ignore writes; accesses other than aligned
//!   32-bit ones to IOREGSEL/IOWIN/EOI are ignored and counted.

use super::InterruptSink;

/// Guest-physical base of the I/O APIC registers.
pub const IOAPIC_BASE: u64 = 0xFEC0_0000;
/// Size of the register window.
pub const IOAPIC_SIZE_BYTES: u64 = 0x1000;
/// Number of interrupt pins (GSIs 0..24).
pub const IOAPIC_PINS: usize = 24;
/// The I/O APIC's ID as the MADT announces it.
pub const IOAPIC_ID: u8 = 1;
/// Version register: version 0x20 (has the EOI register), 24 entries.
const VERSION: u32 = 0x20 | (((IOAPIC_PINS as u32) - 1) << 16);

const RTE_MASKED: u64 = 1 << 16;
const RTE_LEVEL: u64 = 1 << 15;
const RTE_REMOTE_IRR: u64 = 1 << 14;
const RTE_DELIVERY_STATUS: u64 = 1 << 12;
/// Writable bits of an entry: vector, delivery mode, destination mode, polarity, trigger, mask,
/// and the destination (with the extended-ID byte).
const RTE_WRITABLE: u64 = 0xFFFF_0000_0000_0000 | 0x1_AFFF;

/// The I/O APIC state.
#[derive(Debug, Clone)]
pub struct IoApic {
    id: u8,
    select: u8,
    redirection: [u64; IOAPIC_PINS],
    asserted: u32,
    ignored_deliveries: u64,
    ignored_accesses: u64,
}

impl Default for IoApic {
    fn default() -> Self {
        Self::new()
    }
}

impl IoApic {
    /// Reset state: every entry masked.
    pub fn new() -> Self {
        Self {
            id: IOAPIC_ID,
            select: 0,
            redirection: [RTE_MASKED; IOAPIC_PINS],
            asserted: 0,
            ignored_deliveries: 0,
            ignored_accesses: 0,
        }
    }

    /// The redirection entry of `pin` (for tests and diagnostics).
    pub fn redirection_entry(&self, pin: usize) -> Option<u64> {
        self.redirection.get(pin).copied()
    }

    /// Messages with a delivery mode this VMM does not emulate (SMI, NMI, INIT, ExtINT), dropped.
    pub fn ignored_deliveries(&self) -> u64 {
        self.ignored_deliveries
    }

    /// Accesses that were not aligned 32-bit accesses to a register.
    pub fn ignored_accesses(&self) -> u64 {
        self.ignored_accesses
    }

    fn read_register(&self, index: u8) -> u32 {
        match index {
            0x00 => u32::from(self.id & 0xF) << 24,
            0x01 => VERSION,
            0x02 => u32::from(self.id & 0xF) << 24,
            0x10..=0x3F => {
                let entry = self.redirection[usize::from(index - 0x10) / 2];
                if index & 1 == 0 {
                    entry as u32
                } else {
                    (entry >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    fn write_register(&mut self, index: u8, value: u32, sink: &mut dyn InterruptSink) {
        match index {
            0x00 => self.id = ((value >> 24) & 0xF) as u8,
            0x10..=0x3F => {
                let pin = usize::from(index - 0x10) / 2;
                let old = self.redirection[pin];
                let merged = if index & 1 == 0 {
                    (old & !0xFFFF_FFFF) | u64::from(value)
                } else {
                    (old & 0xFFFF_FFFF) | (u64::from(value) << 32)
                };
                let mut entry = (merged & RTE_WRITABLE) | (old & RTE_REMOTE_IRR);
                if entry & RTE_LEVEL == 0 {
                    entry &= !RTE_REMOTE_IRR;
                }
                self.redirection[pin] = entry;
                // A level line that is still asserted fires as soon as it is unmasked.
                if entry & RTE_LEVEL != 0 && self.asserted & (1 << pin) != 0 {
                    self.service(pin, sink);
                }
            }
            _ => {} // ID-less registers are read-only.
        }
    }

    /// A 32-bit read at `offset` within the register window.
    pub fn mmio_read(&mut self, offset: u64, size_bytes: u8) -> u32 {
        if size_bytes != 4 {
            self.ignored_accesses += 1;
            return 0;
        }
        match offset {
            0x00 => u32::from(self.select),
            0x10 => self.read_register(self.select),
            _ => {
                self.ignored_accesses += 1;
                0
            }
        }
    }

    /// A 32-bit write at `offset` within the register window.
    pub fn mmio_write(&mut self, offset: u64, size_bytes: u8, value: u32, sink: &mut dyn InterruptSink) {
        if size_bytes != 4 {
            self.ignored_accesses += 1;
            return;
        }
        match offset {
            0x00 => self.select = value as u8,
            0x10 => self.write_register(self.select, value, sink),
            0x40 => self.end_of_interrupt(value as u8, sink),
            _ => self.ignored_accesses += 1,
        }
    }

    /// Sets the logical level of `pin`; out-of-range pins are ignored.
    pub fn set_irq(&mut self, pin: usize, asserted: bool, sink: &mut dyn InterruptSink) {
        if pin >= IOAPIC_PINS {
            return;
        }
        let bit = 1u32 << pin;
        let was = self.asserted & bit != 0;
        if asserted {
            self.asserted |= bit;
        } else {
            self.asserted &= !bit;
        }
        let level_triggered = self.redirection[pin] & RTE_LEVEL != 0;
        if asserted && (level_triggered || !was) {
            self.service(pin, sink);
        }
    }

    /// An EOI for `vector`: clears remote IRR of level entries using it, re-delivering any whose
    /// line is still asserted.
    pub fn end_of_interrupt(&mut self, vector: u8, sink: &mut dyn InterruptSink) {
        for pin in 0..IOAPIC_PINS {
            let entry = self.redirection[pin];
            if entry as u8 == vector && entry & RTE_REMOTE_IRR != 0 {
                self.redirection[pin] &= !RTE_REMOTE_IRR;
                if self.asserted & (1 << pin) != 0 {
                    self.service(pin, sink);
                }
            }
        }
    }

    fn service(&mut self, pin: usize, sink: &mut dyn InterruptSink) {
        let entry = self.redirection[pin];
        if entry & RTE_MASKED != 0 {
            return;
        }
        let level = entry & RTE_LEVEL != 0;
        match (entry >> 8) & 7 {
            0 | 1 => {
                if level {
                    if entry & RTE_REMOTE_IRR != 0 {
                        return;
                    }
                    self.redirection[pin] |= RTE_REMOTE_IRR;
                }
                sink.deliver_fixed(entry as u8, level);
            }
            _ => self.ignored_deliveries += 1,
        }
        debug_assert_eq!(self.redirection[pin] & RTE_DELIVERY_STATUS, 0);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[derive(Default)]
    struct Recorder(Vec<(u8, bool)>);
    impl InterruptSink for Recorder {
        fn deliver_fixed(&mut self, vector: u8, level_triggered: bool) {
            self.0.push((vector, level_triggered));
        }
    }

    fn write_rte(io: &mut IoApic, pin: u8, value: u64, sink: &mut Recorder) {
        io.mmio_write(0, 4, u32::from(0x10 + 2 * pin), sink);
        io.mmio_write(0x10, 4, value as u32, sink);
        io.mmio_write(0, 4, u32::from(0x11 + 2 * pin), sink);
        io.mmio_write(0x10, 4, (value >> 32) as u32, sink);
    }

    fn read_reg(io: &mut IoApic, index: u32, sink: &mut Recorder) -> u32 {
        io.mmio_write(0, 4, index, sink);
        io.mmio_read(0x10, 4)
    }

    #[test]
    fn id_version_and_reset_state() {
        let mut io = IoApic::new();
        let mut r = Recorder::default();
        assert_eq!(read_reg(&mut io, 0, &mut r), 1 << 24);
        assert_eq!(read_reg(&mut io, 1, &mut r), 0x0017_0020);
        assert_eq!(read_reg(&mut io, 0x10, &mut r), 1 << 16);
        assert_eq!(read_reg(&mut io, 0x40, &mut r), 0, "beyond the last entry");
    }

    #[test]
    fn edge_pin_delivers_on_rising_edge_only() {
        let mut io = IoApic::new();
        let mut r = Recorder::default();
        write_rte(&mut io, 4, 0x34, &mut r);
        io.set_irq(4, true, &mut r);
        io.set_irq(4, true, &mut r);
        io.set_irq(4, false, &mut r);
        io.set_irq(4, true, &mut r);
        assert_eq!(r.0, [(0x34, false), (0x34, false)]);
    }

    #[test]
    fn masked_pin_does_not_deliver() {
        let mut io = IoApic::new();
        let mut r = Recorder::default();
        io.set_irq(4, true, &mut r);
        assert!(r.0.is_empty());
    }

    #[test]
    fn level_pin_remote_irr_and_eoi() {
        let mut io = IoApic::new();
        let mut r = Recorder::default();
        write_rte(&mut io, 9, 0x39 | RTE_LEVEL, &mut r);
        io.set_irq(9, true, &mut r);
        io.set_irq(9, true, &mut r);
        assert_eq!(r.0, [(0x39, true)]);
        assert_ne!(read_reg(&mut io, 0x10 + 18, &mut r) & (1 << 14), 0, "remote IRR visible");
        // EOI with the line still high re-delivers.
        io.end_of_interrupt(0x39, &mut r);
        assert_eq!(r.0.len(), 2);
        // Line drops, EOI clears remote IRR, nothing more.
        io.set_irq(9, false, &mut r);
        io.mmio_write(0x40, 4, 0x39, &mut r);
        assert_eq!(r.0.len(), 2);
        assert_eq!(read_reg(&mut io, 0x10 + 18, &mut r) & (1 << 14), 0);
    }

    #[test]
    fn unmasking_an_asserted_level_line_delivers() {
        let mut io = IoApic::new();
        let mut r = Recorder::default();
        write_rte(&mut io, 9, 0x39 | RTE_LEVEL | RTE_MASKED, &mut r);
        io.set_irq(9, true, &mut r);
        assert!(r.0.is_empty());
        write_rte(&mut io, 9, 0x39 | RTE_LEVEL, &mut r);
        assert_eq!(r.0, [(0x39, true)]);
    }

    #[test]
    fn read_only_bits_and_odd_accesses() {
        let mut io = IoApic::new();
        let mut r = Recorder::default();
        write_rte(&mut io, 2, 0xFF00_0000_0000_0000 | RTE_REMOTE_IRR | RTE_DELIVERY_STATUS | 0x30, &mut r);
        assert_eq!(io.redirection_entry(2), Some(0xFF00_0000_0000_0030));
        io.mmio_write(0x10, 2, 0xFFFF, &mut r);
        assert_eq!(io.mmio_read(0x10, 1), 0);
        assert_eq!(io.mmio_read(0x20, 4), 0);
        assert_eq!(io.ignored_accesses(), 3);
        // NMI delivery mode is not emulated.
        write_rte(&mut io, 3, 0x400 | 0x02, &mut r);
        io.set_irq(3, true, &mut r);
        assert_eq!(io.ignored_deliveries(), 1);
        assert!(r.0.is_empty());
        io.set_irq(99, true, &mut r);
    }
}
