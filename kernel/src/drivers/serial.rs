//! The 16550 UART on COM1: polled transmit, interrupt-driven receive.
//!
//! Transmit polls the line-status register: output must work before interrupts exist and
//! from the fault path, and at 115200 baud a byte takes 87 us. Receive raises IRQ 4 when
//! bytes arrive; the handler drains the FIFO into the console input queue.

use crate::arch::{inb, outb};

pub const COM1: u16 = 0x3F8;

const DATA: u16 = 0;
const INTERRUPT_ENABLE: u16 = 1;
const FIFO_CONTROL: u16 = 2;
const LINE_CONTROL: u16 = 3;
const MODEM_CONTROL: u16 = 4;
const LINE_STATUS: u16 = 5;
const SCRATCH: u16 = 7;

const LSR_DATA_READY: u8 = 1;
const LSR_TRANSMIT_EMPTY: u8 = 1 << 5;
/// Give up waiting for the transmitter after this many polls (no UART, or it is stuck):
/// output must never hang the kernel.
const TRANSMIT_SPIN_LIMIT: u32 = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct Serial {
    base: u16,
    present: bool,
}

impl Serial {
    pub const fn new(base: u16) -> Serial {
        Serial { base, present: false }
    }

    /// A handle on a UART already initialised elsewhere.
    pub const fn present(base: u16) -> Serial {
        Serial { base, present: true }
    }

    fn out(&self, register: u16, value: u8) {
        // SAFETY: this driver owns the UART's eight ports.
        unsafe { outb(self.base + register, value) }
    }

    fn inp(&self, register: u16) -> u8 {
        // SAFETY: as in `out`.
        unsafe { inb(self.base + register) }
    }

    /// Programs 115200 baud, 8N1, FIFOs on. Detects whether a UART answers at all.
    pub fn init(&mut self) {
        self.out(SCRATCH, 0x5A);
        self.present = self.inp(SCRATCH) == 0x5A;
        if !self.present {
            return;
        }
        self.out(INTERRUPT_ENABLE, 0);
        self.out(LINE_CONTROL, 0x80); // DLAB: divisor follows
        self.out(DATA, 1); // 115200 baud
        self.out(INTERRUPT_ENABLE, 0);
        self.out(LINE_CONTROL, 0x03); // 8 bits, no parity, one stop bit
        self.out(FIFO_CONTROL, 0xC7); // enable, clear both, 14-byte receive threshold
        self.out(MODEM_CONTROL, 0x0B); // DTR, RTS, OUT2 (routes the interrupt)
    }

    pub fn is_present(&self) -> bool {
        self.present
    }

    /// Raises an interrupt when received data is available.
    pub fn enable_receive_interrupt(&self) {
        if self.present {
            self.out(INTERRUPT_ENABLE, 0x01);
        }
    }

    pub fn write_byte(&self, byte: u8) {
        if !self.present {
            return;
        }
        let mut spins = 0;
        while self.inp(LINE_STATUS) & LSR_TRANSMIT_EMPTY == 0 && spins < TRANSMIT_SPIN_LIMIT {
            core::hint::spin_loop();
            spins += 1;
        }
        self.out(DATA, byte);
    }

    /// Writes `bytes`, turning each `\n` into `\r\n`.
    pub fn write_text(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
    }

    /// A received byte, if one is waiting.
    pub fn read_byte(&self) -> Option<u8> {
        (self.present && self.inp(LINE_STATUS) & LSR_DATA_READY != 0).then(|| self.inp(DATA))
    }
}
