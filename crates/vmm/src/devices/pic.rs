//! The 8259A pair (master 0x20/0x21, slave 0xA0/0xA1, slave on master IRQ 2) and the ELCR
//! (0x4D0/0x4D1).
//!
//! Linux programs the pair during boot and masks it once it routes interrupts through the
//! I/O APIC; until then (and for the I/O APIC timer check) it may deliver through LINT0 in
//! virtual-wire mode. Supported: the ICW1-ICW4 sequence, OCW1 masks, OCW2 (non-specific,
//! specific and rotating EOIs, priority rotation), OCW3 (IRR/ISR read select, poll mode),
//! auto-EOI, edge and level (ELCR or ICW1.LTIM) triggering. Special mask mode and special
//! fully nested mode are accepted and have no effect (counted in `unsupported_commands`).

/// One 8259A.
#[derive(Debug, Clone, Default)]
struct Chip {
    irr: u8,
    isr: u8,
    imr: u8,
    /// Input line levels, for edge detection.
    lines: u8,
    elcr: u8,
    elcr_writable: u8,
    vector_base: u8,
    /// Lowest-priority IRQ is `priority_add - 1`; IRQ `priority_add` has the highest priority.
    priority_add: u8,
    read_isr: bool,
    poll: bool,
    auto_eoi: bool,
    rotate_on_auto_eoi: bool,
    level_mode_all: bool,
    init_step: u8,
    expect_icw4: bool,
    single: bool,
}

impl Chip {
    fn new(elcr_writable: u8) -> Self {
        Self { elcr_writable, ..Self::default() }
    }

    fn level_triggered(&self, bit: u8) -> bool {
        self.level_mode_all || self.elcr & bit != 0
    }

    fn set_line(&mut self, irq: u8, asserted: bool) {
        let bit = 1u8 << irq;
        if self.level_triggered(bit) {
            if asserted {
                self.irr |= bit;
            } else {
                self.irr &= !bit;
            }
        } else if asserted && self.lines & bit == 0 {
            self.irr |= bit;
        }
        if asserted {
            self.lines |= bit;
        } else {
            self.lines &= !bit;
        }
    }

    /// Highest-priority bit of `mask` in rotated priority order, as an offset from
    /// `priority_add`.
    fn priority(&self, mask: u8) -> Option<u8> {
        if mask == 0 {
            return None;
        }
        (0..8).find(|p| mask & (1 << ((p + self.priority_add) & 7)) != 0)
    }

    /// The IRQ this chip would raise now, if any.
    fn pending_irq(&self) -> Option<u8> {
        let request = self.priority(self.irr & !self.imr)?;
        // A request must outrank everything in service.
        if let Some(in_service) = self.priority(self.isr) {
            if request >= in_service {
                return None;
            }
        }
        Some((request + self.priority_add) & 7)
    }

    fn acknowledge(&mut self, irq: u8) {
        let bit = 1u8 << irq;
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.priority_add = (irq + 1) & 7;
            }
        } else {
            self.isr |= bit;
        }
        if !self.level_triggered(bit) {
            self.irr &= !bit;
        }
    }

    fn write_command(&mut self, value: u8, unsupported: &mut u64) {
        if value & 0x10 != 0 {
            // ICW1: start initialisation.
            self.imr = 0;
            self.isr = 0;
            self.irr = 0;
            self.priority_add = 0;
            self.read_isr = false;
            self.poll = false;
            self.auto_eoi = false;
            self.rotate_on_auto_eoi = false;
            self.single = value & 0x02 != 0;
            self.level_mode_all = value & 0x08 != 0;
            self.expect_icw4 = value & 0x01 != 0;
            self.init_step = 2;
            if value & 0x04 != 0 {
                // Call-address interval 4 (8080 mode): meaningless on x86.
                *unsupported += 1;
            }
        } else if value & 0x08 != 0 {
            // OCW3.
            self.poll = value & 0x04 != 0;
            if value & 0x02 != 0 {
                self.read_isr = value & 0x01 != 0;
            }
            if value & 0x40 != 0 {
                *unsupported += 1; // special mask mode
            }
        } else {
            // OCW2.
            let level = value & 7;
            match value >> 5 {
                0b001 | 0b101 => {
                    if let Some(p) = self.priority(self.isr) {
                        let irq = (p + self.priority_add) & 7;
                        self.isr &= !(1 << irq);
                        if value >> 5 == 0b101 {
                            self.priority_add = (irq + 1) & 7;
                        }
                    }
                }
                0b011 => self.isr &= !(1 << level),
                0b111 => {
                    self.isr &= !(1 << level);
                    self.priority_add = (level + 1) & 7;
                }
                0b110 => self.priority_add = (level + 1) & 7,
                0b100 => self.rotate_on_auto_eoi = true,
                0b000 => self.rotate_on_auto_eoi = false,
                _ => {} // 0b010: no operation
            }
        }
    }

    fn write_data(&mut self, value: u8, unsupported: &mut u64) {
        match self.init_step {
            2 => {
                self.vector_base = value & 0xF8;
                self.init_step = if !self.single {
                    3
                } else if self.expect_icw4 {
                    4
                } else {
                    0
                };
            }
            3 => self.init_step = if self.expect_icw4 { 4 } else { 0 },
            4 => {
                self.auto_eoi = value & 0x02 != 0;
                if value & 0x01 == 0 || value & 0x10 != 0 {
                    *unsupported += 1; // 8080 mode or special fully nested mode
                }
                self.init_step = 0;
            }
            _ => self.imr = value,
        }
    }

    fn read_command(&mut self) -> (u8, Option<u8>) {
        if self.poll {
            self.poll = false;
            return match self.pending_irq() {
                Some(irq) => (0x80 | irq, Some(irq)),
                None => (0, None),
            };
        }
        (if self.read_isr { self.isr } else { self.irr }, None)
    }
}

/// The master/slave 8259A pair.
#[derive(Debug, Clone)]
pub struct PicPair {
    master: Chip,
    slave: Chip,
    unsupported_commands: u64,
}

impl Default for PicPair {
    fn default() -> Self {
        Self::new()
    }
}

impl PicPair {
    /// The state firmware leaves: initialised with vector bases 0x08 and 0x70 (the PC/AT
    /// layout), cascaded, every line masked. IRQ 0-2 (master) and 8, 13 (slave) are always
    /// edge-triggered.
    pub fn new() -> Self {
        let mut pair = Self { master: Chip::new(0xF8), slave: Chip::new(0xDE), unsupported_commands: 0 };
        pair.master.vector_base = 0x08;
        pair.master.imr = 0xFF;
        pair.slave.vector_base = 0x70;
        pair.slave.imr = 0xFF;
        pair
    }

    /// Commands accepted without effect (special mask mode, special fully nested mode, 8080 mode).
    pub fn unsupported_commands(&self) -> u64 {
        self.unsupported_commands
    }

    /// The slave's INT output drives master IR2 as a level, so a request withdrawn on the slave
    /// withdraws the cascade request too (no spurious IRQ 15 to model).
    fn cascade(&mut self) {
        if self.master.single {
            return;
        }
        if self.slave.pending_irq().is_some() {
            self.master.irr |= 1 << 2;
            self.master.lines |= 1 << 2;
        } else {
            self.master.irr &= !(1 << 2);
            self.master.lines &= !(1 << 2);
        }
    }

    /// Sets ISA IRQ line `irq` (0..16); others are ignored.
    pub fn set_irq(&mut self, irq: u8, asserted: bool) {
        match irq {
            0..=7 => self.master.set_line(irq, asserted),
            8..=15 => {
                self.slave.set_line(irq - 8, asserted);
                self.cascade();
            }
            _ => {}
        }
    }

    /// The vector the pair would hand the CPU on INTA, if INTR is raised.
    pub fn pending_vector(&self) -> Option<u8> {
        let irq = self.master.pending_irq()?;
        if irq == 2 && !self.master.single {
            let slave_irq = self.slave.pending_irq()?;
            return Some(self.slave.vector_base | slave_irq);
        }
        Some(self.master.vector_base | irq)
    }

    /// INTA: the CPU took `vector`. False if it was not the pending one.
    pub fn acknowledge(&mut self, vector: u8) -> bool {
        if self.pending_vector() != Some(vector) {
            return false;
        }
        let Some(irq) = self.master.pending_irq() else { return false };
        self.master.acknowledge(irq);
        if irq == 2 && !self.master.single {
            if let Some(slave_irq) = self.slave.pending_irq() {
                self.slave.acknowledge(slave_irq);
            }
            self.cascade();
        }
        true
    }

    /// Reads one of 0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1.
    pub fn read(&mut self, port: u16) -> u8 {
        match port {
            0x20 => {
                let (value, polled) = self.master.read_command();
                if let Some(irq) = polled {
                    self.master.acknowledge(irq);
                }
                value
            }
            0x21 => self.master.imr,
            0xA0 => {
                let (value, polled) = self.slave.read_command();
                if let Some(irq) = polled {
                    self.slave.acknowledge(irq);
                    self.cascade();
                }
                value
            }
            0xA1 => self.slave.imr,
            0x4D0 => self.master.elcr,
            0x4D1 => self.slave.elcr,
            _ => 0xFF,
        }
    }

    /// Writes one of 0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1.
    pub fn write(&mut self, port: u16, value: u8) {
        let unsupported = &mut self.unsupported_commands;
        match port {
            0x20 => self.master.write_command(value, unsupported),
            0x21 => self.master.write_data(value, unsupported),
            0xA0 => self.slave.write_command(value, unsupported),
            0xA1 => self.slave.write_data(value, unsupported),
            0x4D0 => self.master.elcr = value & self.master.elcr_writable,
            0x4D1 => self.slave.elcr = value & self.slave.elcr_writable,
            _ => {}
        }
        self.cascade();
    }

    /// The interrupt mask registers (master, slave).
    pub fn masks(&self) -> (u8, u8) {
        (self.master.imr, self.slave.imr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's `init_8259A`: ICW1 0x11, ICW2 base, ICW3 cascade, ICW4 8086 mode.
    fn linux_init(p: &mut PicPair) {
        p.write(0x21, 0xFF);
        p.write(0xA1, 0xFF);
        p.write(0x20, 0x11);
        p.write(0x21, 0x30);
        p.write(0x21, 0x04);
        p.write(0x21, 0x01);
        p.write(0xA0, 0x11);
        p.write(0xA1, 0x38);
        p.write(0xA1, 0x02);
        p.write(0xA1, 0x01);
        p.write(0x21, 0xFB); // everything masked but the cascade
        p.write(0xA1, 0xFF);
    }

    #[test]
    fn firmware_state_is_masked() {
        let mut p = PicPair::new();
        p.set_irq(4, true);
        p.set_irq(9, true);
        assert_eq!(p.pending_vector(), None);
        p.write(0x21, 0xEF);
        assert_eq!(p.pending_vector(), Some(0x0C));
    }

    #[test]
    fn init_sequence_and_masks() {
        let mut p = PicPair::new();
        linux_init(&mut p);
        assert_eq!(p.masks(), (0xFB, 0xFF));
        p.set_irq(0, true);
        assert_eq!(p.pending_vector(), None, "masked");
        p.write(0x21, 0xFA);
        assert_eq!(p.pending_vector(), Some(0x30));
        assert!(p.acknowledge(0x30));
        assert_eq!(p.pending_vector(), None);
        p.write(0x20, 0x0B); // OCW3: read ISR
        assert_eq!(p.read(0x20), 1);
        p.write(0x20, 0x20); // non-specific EOI
        assert_eq!(p.read(0x20), 0);
        assert_eq!(p.unsupported_commands(), 0);
    }

    #[test]
    fn edge_needs_a_new_rising_edge() {
        let mut p = PicPair::new();
        linux_init(&mut p);
        p.write(0x21, 0x00);
        p.set_irq(4, true);
        assert!(p.acknowledge(0x34));
        p.write(0x20, 0x20);
        p.set_irq(4, true);
        assert_eq!(p.pending_vector(), None, "still high, no new edge");
        p.set_irq(4, false);
        p.set_irq(4, true);
        assert_eq!(p.pending_vector(), Some(0x34));
    }

    #[test]
    fn slave_cascade_priority_and_level() {
        let mut p = PicPair::new();
        linux_init(&mut p);
        p.write(0x21, 0x00);
        p.write(0xA1, 0x00);
        p.write(0x4D1, 0x02); // IRQ 9 level-triggered
        assert_eq!(p.read(0x4D1), 0x02);
        p.set_irq(9, true);
        p.set_irq(4, true);
        // IRQ 2 (cascade) outranks IRQ 4.
        assert_eq!(p.pending_vector(), Some(0x39));
        assert!(p.acknowledge(0x39));
        assert_eq!(p.pending_vector(), None, "IRQ 4 is lower than in-service IRQ 2");
        p.write(0xA0, 0x20);
        p.write(0x20, 0x20);
        // Level line still high: pending again.
        assert_eq!(p.pending_vector(), Some(0x39));
        p.set_irq(9, false);
        assert_eq!(p.pending_vector(), Some(0x34));
        p.write(0x4D0, 0xFF);
        assert_eq!(p.read(0x4D0), 0xF8, "IRQ 0-2 cannot be level");
    }

    #[test]
    fn auto_eoi_specific_eoi_and_poll() {
        let mut p = PicPair::new();
        p.write(0x20, 0x13); // single, ICW4
        p.write(0x21, 0x08);
        p.write(0x21, 0x03); // auto-EOI
        p.write(0x21, 0x00);
        p.set_irq(1, true);
        assert!(p.acknowledge(0x09));
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0, "auto-EOI leaves ISR clear");
        p.set_irq(3, true);
        p.write(0x20, 0x0C); // poll
        assert_eq!(p.read(0x20), 0x83);
        assert_eq!(p.read(0x20), 0, "poll acknowledged it");
        assert_eq!(p.pending_vector(), None);
    }

    #[test]
    fn rotation_changes_priority() {
        let mut p = PicPair::new();
        linux_init(&mut p);
        p.write(0x21, 0x00);
        p.write(0x20, 0xC4); // set priority: IRQ 4 lowest -> IRQ 5 highest
        p.set_irq(3, true);
        p.set_irq(6, true);
        assert_eq!(p.pending_vector(), Some(0x36));
        assert!(p.acknowledge(0x36));
        p.write(0x20, 0x66); // specific EOI IRQ 6
        assert_eq!(p.pending_vector(), Some(0x33));
    }
}
