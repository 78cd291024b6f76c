//! A 16550A UART (COM1: ports 0x3F8-0x3FF, IRQ 4).
//!
//! Transmission is instantaneous: a byte written to THR goes straight to the output buffer the
//! caller drains, so THRE and TEMT always read 1 and the THR-empty interrupt is raised as soon
//! as it is enabled, as a real 16550A does when its transmitter is idle. Received bytes come
//! from an input queue the caller fills; they move into the 16-byte receive FIFO as space frees.
//!
//! # Invariants
//! - The output buffer and the input queue are bounded ([`OUTPUT_CAPACITY_BYTES`],
//!   [`INPUT_CAPACITY_BYTES`]); excess bytes are dropped and counted, never allocated.
//! - The interrupt line is the 16550's INTR gated by MCR.OUT2, as wired on PCs.

use alloc::collections::VecDeque;

/// Bytes the guest printed that the caller has not drained yet, at most.
pub const OUTPUT_CAPACITY_BYTES: usize = 64 * 1024;
/// Bytes typed into the guest that it has not read yet, at most.
pub const INPUT_CAPACITY_BYTES: usize = 4096;
const FIFO_BYTES: usize = 16;

const IER_RDA: u8 = 1 << 0;
const IER_THRE: u8 = 1 << 1;
const IER_RLS: u8 = 1 << 2;
const IER_MS: u8 = 1 << 3;

const LCR_DLAB: u8 = 1 << 7;

const MCR_DTR: u8 = 1 << 0;
const MCR_RTS: u8 = 1 << 1;
const MCR_OUT1: u8 = 1 << 2;
const MCR_OUT2: u8 = 1 << 3;
const MCR_LOOP: u8 = 1 << 4;

const LSR_DR: u8 = 1 << 0;
const LSR_OE: u8 = 1 << 1;
const LSR_THRE: u8 = 1 << 5;
const LSR_TEMT: u8 = 1 << 6;

const MSR_CTS: u8 = 1 << 4;
const MSR_DSR: u8 = 1 << 5;
const MSR_RI: u8 = 1 << 6;
const MSR_DCD: u8 = 1 << 7;

const IIR_NONE: u8 = 0x01;
const IIR_MODEM: u8 = 0x00;
const IIR_THRE: u8 = 0x02;
const IIR_RDA: u8 = 0x04;
const IIR_RLS: u8 = 0x06;
const IIR_TIMEOUT: u8 = 0x0C;
const IIR_FIFO_ENABLED: u8 = 0xC0;

/// The 16550A state.
#[derive(Debug, Clone)]
pub struct Uart {
    ier: u8,
    lcr: u8,
    mcr: u8,
    lsr_overrun: bool,
    msr_deltas: u8,
    last_modem_lines: u8,
    scr: u8,
    divisor: u16,
    fifo_enabled: bool,
    fifo_trigger_bytes: usize,
    rx_fifo: VecDeque<u8>,
    thre_pending: bool,
    input: VecDeque<u8>,
    output: VecDeque<u8>,
    dropped_output_bytes: u64,
    dropped_input_bytes: u64,
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

impl Uart {
    /// A UART as a BIOS leaves it: 8N1, divisor 12 (9600 baud), interrupts off.
    pub fn new() -> Self {
        Self {
            ier: 0,
            lcr: 0x03,
            mcr: 0,
            lsr_overrun: false,
            msr_deltas: 0,
            last_modem_lines: MSR_CTS | MSR_DSR | MSR_DCD,
            scr: 0,
            divisor: 12,
            fifo_enabled: false,
            fifo_trigger_bytes: 1,
            rx_fifo: VecDeque::new(),
            thre_pending: false,
            input: VecDeque::new(),
            output: VecDeque::new(),
            dropped_output_bytes: 0,
            dropped_input_bytes: 0,
        }
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled {
            FIFO_BYTES
        } else {
            1
        }
    }

    fn refill_rx(&mut self) {
        while self.rx_fifo.len() < self.rx_capacity() {
            match self.input.pop_front() {
                Some(b) => self.rx_fifo.push_back(b),
                None => break,
            }
        }
    }

    /// The modem-status input lines: looped back from MCR in loopback mode, else a terminal that
    /// is always present (CTS, DSR, DCD).
    fn modem_lines(&self) -> u8 {
        if self.mcr & MCR_LOOP != 0 {
            let mut lines = 0;
            if self.mcr & MCR_RTS != 0 {
                lines |= MSR_CTS;
            }
            if self.mcr & MCR_DTR != 0 {
                lines |= MSR_DSR;
            }
            if self.mcr & MCR_OUT1 != 0 {
                lines |= MSR_RI;
            }
            if self.mcr & MCR_OUT2 != 0 {
                lines |= MSR_DCD;
            }
            lines
        } else {
            MSR_CTS | MSR_DSR | MSR_DCD
        }
    }

    fn update_modem_deltas(&mut self) {
        let now = self.modem_lines();
        let changed = now ^ self.last_modem_lines;
        // Delta CTS, DSR, DCD on any change; trailing-edge RI only when RI goes inactive.
        self.msr_deltas |= (changed & (MSR_CTS | MSR_DSR | MSR_DCD)) >> 4;
        if changed & MSR_RI != 0 && now & MSR_RI == 0 {
            self.msr_deltas |= 1 << 2;
        }
        self.last_modem_lines = now;
    }

    fn interrupt_id(&self) -> u8 {
        if self.ier & IER_RLS != 0 && self.lsr_overrun {
            IIR_RLS
        } else if self.ier & IER_RDA != 0 && !self.rx_fifo.is_empty() {
            // Without a receive timer the timeout interrupt fires at once below the trigger level.
            if self.rx_fifo.len() >= self.fifo_trigger_bytes || !self.fifo_enabled {
                IIR_RDA
            } else {
                IIR_TIMEOUT
            }
        } else if self.ier & IER_THRE != 0 && self.thre_pending {
            IIR_THRE
        } else if self.ier & IER_MS != 0 && self.msr_deltas != 0 {
            IIR_MODEM
        } else {
            IIR_NONE
        }
    }

    /// The level of IRQ 4: an interrupt is pending and OUT2 routes it to the bus.
    pub fn irq_level(&self) -> bool {
        self.mcr & MCR_OUT2 != 0 && self.interrupt_id() != IIR_NONE
    }

    /// Reads register `offset` (0..8).
    pub fn read(&mut self, offset: u8) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset & 7 {
            0 if dlab => self.divisor as u8,
            0 => {
                let b = self.rx_fifo.pop_front().unwrap_or(0);
                self.refill_rx();
                b
            }
            1 if dlab => (self.divisor >> 8) as u8,
            1 => self.ier,
            2 => {
                let id = self.interrupt_id();
                if id == IIR_THRE {
                    // Reading IIR while it reports THRE clears that interrupt.
                    self.thre_pending = false;
                }
                id | if self.fifo_enabled { IIR_FIFO_ENABLED } else { 0 }
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let mut lsr = LSR_THRE | LSR_TEMT;
                if !self.rx_fifo.is_empty() {
                    lsr |= LSR_DR;
                }
                if self.lsr_overrun {
                    lsr |= LSR_OE;
                }
                self.lsr_overrun = false;
                lsr
            }
            6 => {
                self.update_modem_deltas();
                let msr = self.modem_lines() | self.msr_deltas;
                self.msr_deltas = 0;
                msr
            }
            _ => self.scr,
        }
    }

    /// Writes register `offset` (0..8).
    pub fn write(&mut self, offset: u8, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset & 7 {
            0 if dlab => self.divisor = (self.divisor & 0xFF00) | u16::from(value),
            0 => {
                if self.mcr & MCR_LOOP != 0 {
                    if self.rx_fifo.len() < self.rx_capacity() {
                        self.rx_fifo.push_back(value);
                    } else {
                        self.lsr_overrun = true;
                    }
                } else if self.output.len() < OUTPUT_CAPACITY_BYTES {
                    self.output.push_back(value);
                } else {
                    self.dropped_output_bytes += 1;
                }
                // The byte left at once: the holding register is empty again.
                self.thre_pending = true;
            }
            1 if dlab => self.divisor = (self.divisor & 0x00FF) | (u16::from(value) << 8),
            1 => {
                let enabling_thre = value & IER_THRE != 0 && self.ier & IER_THRE == 0;
                // Bits 4-7 are reserved on a 16550A and read back as 0 (Linux relies on this to
                // tell it from the XScale UART).
                self.ier = value & 0x0F;
                if enabling_thre {
                    self.thre_pending = true;
                }
            }
            2 => {
                let enable = value & 1 != 0;
                if enable != self.fifo_enabled {
                    self.rx_fifo.clear();
                }
                self.fifo_enabled = enable;
                if value & 2 != 0 {
                    self.rx_fifo.clear();
                }
                self.fifo_trigger_bytes = match value >> 6 {
                    0 => 1,
                    1 => 4,
                    2 => 8,
                    _ => 14,
                };
                self.refill_rx();
            }
            3 => self.lcr = value,
            4 => {
                let leaving_loop = self.mcr & MCR_LOOP != 0 && value & MCR_LOOP == 0;
                self.mcr = value & 0x1F;
                if leaving_loop {
                    self.rx_fifo.clear();
                    self.refill_rx();
                }
                self.update_modem_deltas();
            }
            5 | 6 => {} // LSR and MSR are read-only on a 16550A.
            _ => self.scr = value,
        }
    }

    /// Queues bytes typed into the guest; returns how many were accepted (the rest did not fit).
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        let room = INPUT_CAPACITY_BYTES - self.input.len();
        let accepted = bytes.len().min(room);
        self.input.extend(&bytes[..accepted]);
        self.dropped_input_bytes += (bytes.len() - accepted) as u64;
        if self.mcr & MCR_LOOP == 0 {
            self.refill_rx();
        }
        accepted
    }

    /// Drains the bytes the guest printed.
    pub fn take_output(&mut self) -> alloc::collections::vec_deque::Drain<'_, u8> {
        self.output.drain(..)
    }

    /// Bytes the guest printed while the output buffer was full.
    pub fn dropped_output_bytes(&self) -> u64 {
        self.dropped_output_bytes
    }

    /// Bytes offered by the caller that did not fit in the input queue.
    pub fn dropped_input_bytes(&self) -> u64 {
        self.dropped_input_bytes
    }

    /// True when typed bytes wait for the guest to read them.
    pub fn has_pending_input(&self) -> bool {
        !self.rx_fifo.is_empty() || !self.input.is_empty()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// The checks Linux's 8250 driver makes in `autoconfig()` to call a port a 16550A.
    #[test]
    fn linux_autoconfig_sees_a_16550a() {
        let mut u = Uart::new();
        // Scratch test on IER.
        u.write(1, 0);
        assert_eq!(u.read(1) & 0x0F, 0);
        u.write(1, 0x0F);
        assert_eq!(u.read(1) & 0x0F, 0x0F);
        u.write(1, 0);
        // Loopback test: MCR = LOOP | OUT2 | RTS -> MSR high nibble 0x90.
        u.write(4, MCR_LOOP | 0x0A);
        assert_eq!(u.read(6) & 0xF0, 0x90);
        u.write(4, 0);
        // FIFO enable -> IIR bits 7:6 = 3.
        u.write(2, 0x01);
        assert_eq!(u.read(2) >> 6, 3);
        // No EFR under LCR 0xBF: offset 2 still reads a non-zero IIR.
        u.write(3, 0xBF);
        assert_ne!(u.read(2), 0);
        u.write(3, 0);
        // Not a TI16750: IIR bit 5 never set.
        u.write(2, 0x21);
        assert_eq!(u.read(2) >> 5, 6);
        // Not an XScale: IER bit 6 does not stick.
        u.write(1, 0x40);
        assert_eq!(u.read(1), 0);
        // LSR is not 0xFF.
        assert_ne!(u.read(5), 0xFF);
    }

    #[test]
    fn thre_interrupt_reasserts_when_reenabled() {
        let mut u = Uart::new();
        u.write(4, MCR_OUT2);
        u.write(1, IER_THRE);
        assert!(u.irq_level());
        let iir1 = u.read(2);
        assert_eq!(iir1 & 0x0F, IIR_THRE);
        assert!(!u.irq_level(), "reading IIR clears THRE");
        u.write(1, 0);
        u.write(1, IER_THRE);
        assert_eq!(u.read(2) & 0x0F, IIR_THRE, "Linux's UART_BUG_THRE test");
        // Writing THR re-raises it after the byte leaves.
        u.write(0, b'x');
        assert!(u.irq_level());
        assert_eq!(u.take_output().collect::<Vec<u8>>(), b"x");
    }

    #[test]
    fn out2_gates_the_interrupt_line() {
        let mut u = Uart::new();
        u.write(1, IER_THRE);
        assert!(!u.irq_level());
        u.write(4, MCR_OUT2);
        assert!(u.irq_level());
    }

    #[test]
    fn receive_path_and_fifo() {
        let mut u = Uart::new();
        u.write(4, MCR_OUT2);
        u.write(2, 0xC1); // FIFO on, trigger 14
        u.write(1, IER_RDA);
        assert!(!u.irq_level());
        assert_eq!(u.push_input(b"hello"), 5);
        assert!(u.irq_level());
        assert_eq!(u.read(2) & 0x0F, IIR_TIMEOUT, "below the trigger level");
        assert_ne!(u.read(5) & LSR_DR, 0);
        let got: Vec<u8> = (0..5).map(|_| u.read(0)).collect();
        assert_eq!(got, b"hello");
        assert_eq!(u.read(5) & LSR_DR, 0);
        assert!(!u.irq_level());
        // 20 bytes: 16 in the FIFO, 4 wait in the queue, nothing lost.
        u.push_input(&[7u8; 20]);
        assert_eq!(u.read(2) & 0x0F, IIR_RDA);
        let n = (0..40).take_while(|_| u.read(5) & LSR_DR != 0 && u.read(0) == 7).count();
        assert_eq!(n, 20);
    }

    #[test]
    fn divisor_latch() {
        let mut u = Uart::new();
        u.write(3, LCR_DLAB | 3);
        u.write(0, 0x01);
        u.write(1, 0x00);
        assert_eq!((u.read(0), u.read(1)), (1, 0));
        u.write(3, 3);
        u.write(0, b'A');
        assert_eq!(u.take_output().collect::<Vec<u8>>(), b"A");
        assert_eq!(u.divisor, 1);
    }

    #[test]
    fn loopback_data_and_overrun() {
        let mut u = Uart::new();
        u.write(4, MCR_LOOP);
        u.write(0, 1);
        u.write(0, 2); // no FIFO: second byte overruns
        assert_ne!(u.read(5) & LSR_OE, 0);
        assert_eq!(u.read(0), 1);
        assert_eq!(u.take_output().count(), 0, "loopback bytes never reach the output");
    }

    #[test]
    fn buffers_are_bounded() {
        let mut u = Uart::new();
        for _ in 0..OUTPUT_CAPACITY_BYTES + 10 {
            u.write(0, b'z');
        }
        assert_eq!(u.dropped_output_bytes(), 10);
        let big = [0u8; INPUT_CAPACITY_BYTES + 100];
        assert_eq!(u.push_input(&big), INPUT_CAPACITY_BYTES);
        // One byte moved on into the receive holding register, freeing one slot.
        assert_eq!(u.push_input(&big), 1);
        assert_eq!(u.push_input(&big), 0);
        assert_eq!(u.input.len(), INPUT_CAPACITY_BYTES);
        assert_eq!(u.dropped_input_bytes(), 2 * big.len() as u64 + 100 - 1);
    }

    #[test]
    fn modem_status_deltas() {
        let mut u = Uart::new();
        assert_eq!(u.read(6), MSR_CTS | MSR_DSR | MSR_DCD);
        u.write(4, MCR_LOOP); // all looped lines drop
        let msr = u.read(6);
        assert_eq!(msr & 0xF0, 0);
        assert_eq!(msr & 0x0B, 0x0B, "delta CTS, DSR, DCD");
        assert_eq!(u.read(6) & 0x0F, 0, "read clears deltas");
    }
}
