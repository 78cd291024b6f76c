//! The emulated platform devices. Each is a plain state machine: it is handed guest time when
//! it needs it and never reads a clock, never blocks, and never touches guest memory.

pub mod i8042;
pub mod ioapic;
pub mod lapic;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod pm;
pub mod rtc;
pub mod uart;

/// Where an interrupt controller delivers a fixed-mode interrupt message (the LAPIC).
pub trait InterruptSink {
    /// Accepts `vector`; `level_triggered` decides whether its EOI is broadcast back.
    fn deliver_fixed(&mut self, vector: u8, level_triggered: bool);
}
