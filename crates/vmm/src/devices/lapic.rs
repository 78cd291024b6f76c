//! The local APIC in x2APIC mode (MSRs 0x800-0x8FF), with its timer.
//!
//! The guest starts with x2APIC already enabled (as firmware may leave it), so Linux never
//! touches the xAPIC MMIO page; a write to the APIC base MSR that would select xAPIC mode is
//! refused with #GP, and a disabled APIC may go straight back to x2APIC mode (hardware
//! requires a stop in xAPIC mode, which is not emulated). These are the deviations from
//! hardware.
//!
//! The timer runs on a 1 GHz bus clock (one tick per nanosecond before the divider), in
//! one-shot, periodic or TSC-deadline mode. Time is passed in; the LAPIC never reads a clock.
//!
//! # Invariants
//! - Vectors 0-15 are never accepted: they set the "received illegal vector" error instead.
//! - Every register access either completes or returns `Err(Fault::GeneralProtection)`, exactly
//!   where the x2APIC specification says #GP (reserved register, reserved bits, read-only or
//!   write-only register, x2APIC not enabled).

use super::InterruptSink;
use crate::machine::Fault;
use crate::time::TscClock;

/// The APIC base MSR.
pub const MSR_APIC_BASE: u32 = 0x1B;
/// The TSC-deadline MSR.
pub const MSR_TSC_DEADLINE: u32 = 0x6E0;
/// First and last x2APIC register MSRs.
pub const MSR_X2APIC_FIRST: u32 = 0x800;
/// Last x2APIC register MSR.
pub const MSR_X2APIC_LAST: u32 = 0x8FF;
/// Default APIC base address (the MADT reports it).
pub const LAPIC_BASE: u64 = 0xFEE0_0000;

const BASE_BSP: u64 = 1 << 8;
const BASE_EXTD: u64 = 1 << 10;
const BASE_EN: u64 = 1 << 11;

const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER: usize = 0;
const LVT_LINT0: usize = 3;
const LVT_ERROR: usize = 5;
/// Writable bits per LVT register: timer, thermal, performance, LINT0, LINT1, error.
const LVT_WRITABLE: [u32; 6] = [0x7_00FF, 0x1_07FF, 0x1_07FF, 0x1_A7FF, 0x1_A7FF, 0x1_00FF];

const TIMER_PERIODIC: u32 = 1;
const TIMER_TSC_DEADLINE: u32 = 2;

const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
const ESR_RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;

const DELIVERY_EXTINT: u32 = 7;

/// A 256-bit vector set (IRR, ISR, TMR).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct VectorSet([u32; 8]);

impl VectorSet {
    fn set(&mut self, vector: u8) {
        self.0[usize::from(vector >> 5)] |= 1 << (vector & 31);
    }
    fn clear(&mut self, vector: u8) {
        self.0[usize::from(vector >> 5)] &= !(1 << (vector & 31));
    }
    fn contains(&self, vector: u8) -> bool {
        self.0[usize::from(vector >> 5)] & (1 << (vector & 31)) != 0
    }
    fn highest(&self) -> Option<u8> {
        (0..8)
            .rev()
            .find(|&i| self.0[i] != 0)
            .map(|i| (i as u8) * 32 + (31 - self.0[i].leading_zeros()) as u8)
    }
}

/// The local APIC state.
#[derive(Debug, Clone)]
pub struct Lapic {
    apic_base: u64,
    tpr: u8,
    svr: u32,
    irr: VectorSet,
    isr: VectorSet,
    tmr: VectorSet,
    esr: u32,
    esr_pending: u32,
    lvt: [u32; 6],
    icr: u64,
    timer_initial_count: u32,
    timer_divide_register: u32,
    /// When the current count was last (re)loaded, in guest ns.
    timer_start_ns: u64,
    /// The next expiry, if the one-shot/periodic/deadline timer is armed.
    timer_deadline_ns: Option<u64>,
    tsc_deadline: u64,
    ignored_ipis: u64,
    accepted_interrupts: u64,
}

impl Default for Lapic {
    fn default() -> Self {
        Self::new()
    }
}

impl Lapic {
    /// The state firmware leaves for the boot CPU: x2APIC enabled, software-enabled, LINT0 in
    /// virtual-wire mode (ExtINT, unmasked), LINT1 NMI, other LVTs masked.
    pub fn new() -> Self {
        Self {
            apic_base: LAPIC_BASE | BASE_BSP | BASE_EN | BASE_EXTD,
            tpr: 0,
            svr: 0x1FF,
            irr: VectorSet::default(),
            isr: VectorSet::default(),
            tmr: VectorSet::default(),
            esr: 0,
            esr_pending: 0,
            lvt: [LVT_MASKED, LVT_MASKED, LVT_MASKED, DELIVERY_EXTINT << 8, 4 << 8, LVT_MASKED],
            icr: 0,
            timer_initial_count: 0,
            timer_divide_register: 0,
            timer_start_ns: 0,
            timer_deadline_ns: None,
            tsc_deadline: 0,
            ignored_ipis: 0,
            accepted_interrupts: 0,
        }
    }

    /// The APIC base MSR value.
    pub fn apic_base(&self) -> u64 {
        self.apic_base
    }

    fn x2apic_enabled(&self) -> bool {
        self.apic_base & (BASE_EN | BASE_EXTD) == (BASE_EN | BASE_EXTD)
    }

    fn software_enabled(&self) -> bool {
        self.svr & (1 << 8) != 0
    }

    /// IPIs to other CPUs or with delivery modes not emulated (INIT, SIPI, NMI, SMI), dropped.
    pub fn ignored_ipis(&self) -> u64 {
        self.ignored_ipis
    }

    /// Interrupts accepted into the IRR so far.
    pub fn accepted_interrupts(&self) -> u64 {
        self.accepted_interrupts
    }

    /// Writes the APIC base MSR.
    pub fn write_apic_base(&mut self, value: u64) -> Result<(), Fault> {
        // Bits 0-7 and 9 are reserved, as is anything above a 40-bit base.
        if value & (0xFF | (1 << 9) | !0xFF_FFFF_FFFF) != 0 {
            return Err(Fault::GeneralProtection);
        }
        let enabled = value & BASE_EN != 0;
        let extd = value & BASE_EXTD != 0;
        match (enabled, extd) {
            (true, true) => {}
            (false, false) => {
                if self.apic_base & BASE_EN != 0 {
                    // Disabling the APIC returns it to its power-up register state.
                    let base = self.apic_base;
                    *self = Self::new();
                    self.apic_base = base;
                    self.svr = 0xFF;
                    self.lvt = [LVT_MASKED; 6];
                }
            }
            // x2APIC without EN is invalid; xAPIC mode is not emulated.
            (false, true) | (true, false) => return Err(Fault::GeneralProtection),
        }
        self.apic_base = (value & !BASE_BSP) | (self.apic_base & BASE_BSP);
        Ok(())
    }

    /// Accepts a fixed interrupt into the IRR.
    pub fn accept(&mut self, vector: u8, level_triggered: bool) {
        if self.apic_base & BASE_EN == 0 {
            return;
        }
        if vector < 16 {
            self.record_error(ESR_RECEIVE_ILLEGAL_VECTOR);
            return;
        }
        self.irr.set(vector);
        if level_triggered {
            self.tmr.set(vector);
        } else {
            self.tmr.clear(vector);
        }
        self.accepted_interrupts += 1;
    }

    fn record_error(&mut self, bits: u32) {
        let new = bits & !self.esr_pending;
        self.esr_pending |= bits;
        let lvt = self.lvt[LVT_ERROR];
        if new != 0 && lvt & LVT_MASKED == 0 && (lvt as u8) >= 16 {
            let vector = lvt as u8;
            self.irr.set(vector);
            self.tmr.clear(vector);
        }
    }

    fn ppr(&self) -> u8 {
        let isrv = self.isr.highest().unwrap_or(0);
        if self.tpr >> 4 >= isrv >> 4 {
            self.tpr
        } else {
            isrv & 0xF0
        }
    }

    /// The highest-priority vector the CPU may take now, given TPR/PPR and the ISR.
    pub fn pending_vector(&self) -> Option<u8> {
        if !self.x2apic_enabled() || !self.software_enabled() {
            return None;
        }
        let vector = self.irr.highest()?;
        (vector >> 4 > self.ppr() >> 4).then_some(vector)
    }

    /// Moves `vector` from IRR to ISR (the CPU took it). False if it was not the pending one.
    pub fn acknowledge(&mut self, vector: u8) -> bool {
        if self.pending_vector() != Some(vector) {
            return false;
        }
        self.irr.clear(vector);
        self.isr.set(vector);
        true
    }

    /// True when LINT0 passes the 8259's INTR through (virtual-wire mode), or the APIC is
    /// globally disabled so INTR reaches the CPU directly.
    pub fn accepts_extint(&self) -> bool {
        if self.apic_base & BASE_EN == 0 {
            return true;
        }
        let lint0 = self.lvt[LVT_LINT0];
        self.software_enabled() && lint0 & LVT_MASKED == 0 && (lint0 >> 8) & 7 == DELIVERY_EXTINT
    }

    fn timer_mode(&self) -> u32 {
        (self.lvt[LVT_TIMER] >> 17) & 3
    }

    fn divide_by(&self) -> u64 {
        let r = self.timer_divide_register;
        let code = (r & 3) | ((r >> 1) & 4);
        if code == 7 {
            1
        } else {
            2 << code
        }
    }

    fn period_ns(&self) -> u64 {
        u64::from(self.timer_initial_count) * self.divide_by()
    }

    fn current_count(&self, now_ns: u64) -> u32 {
        if self.timer_mode() == TIMER_TSC_DEADLINE || self.timer_initial_count == 0 {
            return 0;
        }
        let Some(_) = self.timer_deadline_ns else { return 0 };
        let elapsed_ticks = now_ns.saturating_sub(self.timer_start_ns) / self.divide_by();
        let initial = u64::from(self.timer_initial_count);
        let remaining = if self.timer_mode() == TIMER_PERIODIC {
            initial - elapsed_ticks % initial
        } else {
            initial.saturating_sub(elapsed_ticks)
        };
        remaining as u32
    }

    /// Fires the timer if its deadline has passed.
    pub fn advance(&mut self, now_ns: u64) {
        let Some(deadline) = self.timer_deadline_ns else { return };
        if now_ns < deadline {
            return;
        }
        let lvt = self.lvt[LVT_TIMER];
        if lvt & LVT_MASKED == 0 {
            self.accept(lvt as u8, false);
        }
        match self.timer_mode() {
            TIMER_PERIODIC if self.period_ns() > 0 => {
                let period = self.period_ns();
                // Late wake-ups deliver one interrupt and skip the missed periods.
                let periods = (now_ns - deadline) / period + 1;
                self.timer_start_ns = deadline + (periods - 1) * period;
                self.timer_deadline_ns = Some(self.timer_start_ns.saturating_add(period));
            }
            TIMER_TSC_DEADLINE => {
                self.tsc_deadline = 0;
                self.timer_deadline_ns = None;
            }
            _ => self.timer_deadline_ns = None,
        }
    }

    /// When the timer next fires, in guest ns.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        self.timer_deadline_ns
    }

    /// Reads the TSC-deadline MSR (0 unless armed in TSC-deadline mode).
    pub fn read_tsc_deadline(&self) -> u64 {
        if self.timer_mode() == TIMER_TSC_DEADLINE {
            self.tsc_deadline
        } else {
            0
        }
    }

    /// Writes the TSC-deadline MSR; ignored outside TSC-deadline mode, as on hardware.
    pub fn write_tsc_deadline(&mut self, value: u64, now_ns: u64, clock: &TscClock) {
        if self.timer_mode() != TIMER_TSC_DEADLINE {
            return;
        }
        self.tsc_deadline = value;
        self.timer_deadline_ns = if value == 0 { None } else { Some(clock.ns_from_tsc(value)) };
        self.advance(now_ns);
    }

    fn vector_set_register(set: &VectorSet, index: u32) -> u64 {
        u64::from(set.0[index as usize])
    }

    /// Reads x2APIC register MSR `msr`.
    pub fn read_msr(&self, msr: u32, now_ns: u64) -> Result<u64, Fault> {
        if !self.x2apic_enabled() {
            return Err(Fault::GeneralProtection);
        }
        Ok(match msr {
            0x802 => 0,                   // x2APIC ID
            0x803 => 0x0005_0014,         // version 0x14, six LVT entries, no EOI suppression
            0x808 => u64::from(self.tpr), // TPR
            0x80A => u64::from(self.ppr()),
            0x80D => 1, // LDR: cluster 0, logical ID bit 0
            0x80F => u64::from(self.svr),
            0x810..=0x817 => Self::vector_set_register(&self.isr, msr - 0x810),
            0x818..=0x81F => Self::vector_set_register(&self.tmr, msr - 0x818),
            0x820..=0x827 => Self::vector_set_register(&self.irr, msr - 0x820),
            0x828 => u64::from(self.esr),
            0x830 => self.icr,
            0x832..=0x837 => u64::from(self.lvt[(msr - 0x832) as usize]),
            0x838 => u64::from(self.timer_initial_count),
            0x839 => u64::from(self.current_count(now_ns)),
            0x83E => u64::from(self.timer_divide_register),
            _ => return Err(Fault::GeneralProtection),
        })
    }

    /// Writes x2APIC register MSR `msr`. Returns the vector to broadcast to the I/O APIC when
    /// the write was an EOI for a level-triggered interrupt.
    pub fn write_msr(&mut self, msr: u32, value: u64, now_ns: u64) -> Result<Option<u8>, Fault> {
        if !self.x2apic_enabled() {
            return Err(Fault::GeneralProtection);
        }
        // Every x2APIC register except the ICR is 32 bits wide; the upper half is reserved.
        if msr != 0x830 && value >> 32 != 0 {
            return Err(Fault::GeneralProtection);
        }
        let v32 = value as u32;
        match msr {
            0x808 => {
                if v32 > 0xFF {
                    return Err(Fault::GeneralProtection);
                }
                self.tpr = v32 as u8;
            }
            0x80B => {
                if v32 != 0 {
                    return Err(Fault::GeneralProtection);
                }
                return Ok(self.end_of_interrupt());
            }
            0x80F => {
                if v32 & !0x3FF != 0 {
                    return Err(Fault::GeneralProtection);
                }
                self.svr = v32;
                if !self.software_enabled() {
                    for lvt in &mut self.lvt {
                        *lvt |= LVT_MASKED;
                    }
                }
            }
            0x828 => {
                if v32 != 0 {
                    return Err(Fault::GeneralProtection);
                }
                self.esr = self.esr_pending;
                self.esr_pending = 0;
            }
            0x830 => self.write_icr(value)?,
            0x832..=0x837 => {
                let index = (msr - 0x832) as usize;
                if v32 & !LVT_WRITABLE[index] != 0 {
                    return Err(Fault::GeneralProtection);
                }
                let mut new = v32;
                if !self.software_enabled() {
                    new |= LVT_MASKED;
                }
                if index == LVT_TIMER {
                    let mode = (new >> 17) & 3;
                    if mode == 3 {
                        return Err(Fault::GeneralProtection);
                    }
                    if mode != self.timer_mode() {
                        // Changing the timer mode disarms the timer.
                        self.timer_deadline_ns = None;
                        self.tsc_deadline = 0;
                    }
                }
                self.lvt[index] = new;
            }
            0x838 => {
                self.timer_initial_count = v32;
                if self.timer_mode() != TIMER_TSC_DEADLINE {
                    self.timer_start_ns = now_ns;
                    self.timer_deadline_ns = (v32 != 0).then(|| now_ns.saturating_add(self.period_ns()));
                }
            }
            0x83E => {
                if v32 & !0xB != 0 {
                    return Err(Fault::GeneralProtection);
                }
                let remaining = u64::from(self.current_count(now_ns));
                self.timer_divide_register = v32;
                if self.timer_deadline_ns.is_some() && self.timer_mode() != TIMER_TSC_DEADLINE {
                    // Keep the remaining count; it now drains at the new rate.
                    let deadline = now_ns.saturating_add(remaining * self.divide_by());
                    self.timer_deadline_ns = Some(deadline);
                    self.timer_start_ns = deadline.saturating_sub(self.period_ns());
                }
            }
            0x83F => {
                if v32 > 0xFF {
                    return Err(Fault::GeneralProtection);
                }
                self.send_self(v32 as u8);
            }
            _ => return Err(Fault::GeneralProtection),
        }
        Ok(None)
    }

    fn send_self(&mut self, vector: u8) {
        if vector < 16 {
            self.record_error(ESR_SEND_ILLEGAL_VECTOR);
        } else {
            self.accept(vector, false);
        }
    }

    fn write_icr(&mut self, value: u64) -> Result<(), Fault> {
        // Reserved: bits 12-13, 16-17, 20-31.
        if value & 0xFFF3_3000 != 0 {
            return Err(Fault::GeneralProtection);
        }
        self.icr = value;
        let vector = value as u8;
        let delivery = (value >> 8) & 7;
        let shorthand = (value >> 18) & 3;
        let destination = (value >> 32) as u32;
        let physical = value & (1 << 11) == 0;
        let to_self = match shorthand {
            0 => {
                destination == u32::MAX
                    || (physical && destination == 0)
                    || (!physical && destination & 1 != 0)
            }
            1 | 2 => true,
            _ => false,
        };
        if to_self && delivery == 0 {
            self.send_self(vector);
        } else {
            self.ignored_ipis += 1;
        }
        Ok(())
    }

    fn end_of_interrupt(&mut self) -> Option<u8> {
        let vector = self.isr.highest()?;
        self.isr.clear(vector);
        if self.tmr.contains(vector) {
            self.tmr.clear(vector);
            return Some(vector);
        }
        None
    }
}

impl InterruptSink for Lapic {
    fn deliver_fixed(&mut self, vector: u8, level_triggered: bool) {
        self.accept(vector, level_triggered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMER: u32 = 0x832;

    #[test]
    fn priority_logic() {
        let mut l = Lapic::new();
        l.accept(0x31, false);
        l.accept(0x45, false);
        assert_eq!(l.pending_vector(), Some(0x45));
        assert!(l.acknowledge(0x45));
        // 0x31 is lower class than the in-service 0x45.
        assert_eq!(l.pending_vector(), None);
        assert_eq!(l.read_msr(0x80A, 0), Ok(0x40));
        assert_eq!(l.write_msr(0x80B, 0, 0), Ok(None));
        assert_eq!(l.pending_vector(), Some(0x31));
        // TPR blocks same-or-lower classes.
        l.write_msr(0x808, 0x30, 0).unwrap();
        assert_eq!(l.pending_vector(), None);
        l.write_msr(0x808, 0x20, 0).unwrap();
        assert_eq!(l.pending_vector(), Some(0x31));
        assert!(!l.acknowledge(0x99));
    }

    #[test]
    fn level_eoi_is_broadcast() {
        let mut l = Lapic::new();
        l.accept(0x39, true);
        assert_eq!(l.read_msr(0x818 + 1, 0), Ok(1 << (0x39 - 32)));
        assert!(l.acknowledge(0x39));
        assert_eq!(l.read_msr(0x810 + 1, 0), Ok(1 << (0x39 - 32)));
        assert_eq!(l.write_msr(0x80B, 0, 0), Ok(Some(0x39)));
        assert_eq!(l.write_msr(0x80B, 0, 0), Ok(None));
    }

    #[test]
    fn illegal_vectors_and_esr() {
        let mut l = Lapic::new();
        l.write_msr(0x837, 0xFE, 0).unwrap(); // error LVT unmasked, vector 0xFE
        l.accept(3, false);
        assert_eq!(l.pending_vector(), Some(0xFE));
        l.write_msr(0x828, 0, 0).unwrap();
        assert_eq!(l.read_msr(0x828, 0), Ok(u64::from(ESR_RECEIVE_ILLEGAL_VECTOR)));
        l.write_msr(0x83F, 5, 0).unwrap();
        l.write_msr(0x828, 0, 0).unwrap();
        assert_eq!(l.read_msr(0x828, 0), Ok(u64::from(ESR_SEND_ILLEGAL_VECTOR)));
    }

    #[test]
    fn gp_cases() {
        let mut l = Lapic::new();
        let gp = Fault::GeneralProtection;
        assert_eq!(l.read_msr(0x80B, 0).err(), Some(gp), "EOI is write-only");
        assert_eq!(l.read_msr(0x83F, 0).err(), Some(gp), "SELF IPI is write-only");
        assert_eq!(l.read_msr(0x82F, 0).err(), Some(gp), "no CMCI");
        assert_eq!(l.write_msr(0x802, 1, 0).err(), Some(gp), "ID is read-only");
        assert_eq!(l.write_msr(0x80B, 1, 0).err(), Some(gp));
        assert_eq!(l.write_msr(0x808, 0x100, 0).err(), Some(gp));
        assert_eq!(l.write_msr(0x808, 1 << 40, 0).err(), Some(gp));
        assert_eq!(l.write_msr(TIMER, 3 << 17, 0).err(), Some(gp));
        assert_eq!(l.write_msr(0x830, 1 << 12, 0).err(), Some(gp));
        assert_eq!(l.write_apic_base(LAPIC_BASE | BASE_EN).err(), Some(gp), "xAPIC mode is not emulated");
        assert_eq!(l.write_apic_base(LAPIC_BASE | BASE_EXTD).err(), Some(gp));
        assert_eq!(l.write_apic_base(LAPIC_BASE | BASE_EN | BASE_EXTD | 1).err(), Some(gp));
        l.write_apic_base(LAPIC_BASE).unwrap();
        assert_eq!(l.read_msr(0x802, 0).err(), Some(gp), "x2APIC disabled");
        assert_eq!(l.apic_base() & BASE_BSP, BASE_BSP);
        l.write_apic_base(LAPIC_BASE | BASE_EN | BASE_EXTD).unwrap();
        assert_eq!(l.read_msr(0x80F, 0), Ok(0xFF), "power-up SVR after disable");
    }

    #[test]
    fn one_shot_timer() {
        let mut l = Lapic::new();
        l.write_msr(0x83E, 0xB, 0).unwrap(); // divide by 1
        l.write_msr(TIMER, 0x40, 0).unwrap();
        l.write_msr(0x838, 1000, 100).unwrap();
        assert_eq!(l.next_deadline_ns(), Some(1100));
        assert_eq!(l.read_msr(0x839, 600), Ok(500));
        l.advance(1099);
        assert_eq!(l.pending_vector(), None);
        l.advance(1100);
        assert_eq!(l.pending_vector(), Some(0x40));
        assert_eq!(l.next_deadline_ns(), None);
        assert_eq!(l.read_msr(0x839, 5000), Ok(0));
    }

    #[test]
    fn periodic_timer_with_divider_skips_missed_periods() {
        let mut l = Lapic::new();
        l.write_msr(0x83E, 0x3, 0).unwrap(); // divide by 16
        l.write_msr(TIMER, (1 << 17) | 0x41, 0).unwrap();
        l.write_msr(0x838, 100, 0).unwrap(); // 1600 ns period
        assert_eq!(l.next_deadline_ns(), Some(1600));
        assert_eq!(l.read_msr(0x839, 160), Ok(90));
        l.advance(1600 * 5 + 10);
        assert_eq!(l.pending_vector(), Some(0x41));
        assert_eq!(l.next_deadline_ns(), Some(1600 * 6));
        assert_eq!(l.accepted_interrupts(), 1);
    }

    #[test]
    fn tsc_deadline_timer() {
        let clock = TscClock::new(1_000_000_000);
        let mut l = Lapic::new();
        l.write_tsc_deadline(500, 0, &clock);
        assert_eq!(l.read_tsc_deadline(), 0, "ignored outside TSC-deadline mode");
        l.write_msr(TIMER, (2 << 17) | 0xEC, 0).unwrap();
        l.write_msr(0x838, 1234, 0).unwrap();
        assert_eq!(l.next_deadline_ns(), None, "initial count ignored in deadline mode");
        l.write_tsc_deadline(5000, 0, &clock);
        assert_eq!(l.read_tsc_deadline(), 5000);
        assert_eq!(l.next_deadline_ns(), Some(5000));
        l.advance(5000);
        assert_eq!(l.pending_vector(), Some(0xEC));
        assert_eq!(l.read_tsc_deadline(), 0);
        // A deadline in the past fires at once.
        assert!(l.acknowledge(0xEC));
        l.write_msr(0x80B, 0, 0).unwrap();
        l.write_tsc_deadline(1, 6000, &clock);
        assert_eq!(l.pending_vector(), Some(0xEC));
        // Switching modes disarms.
        l.write_tsc_deadline(9000, 6000, &clock);
        l.write_msr(TIMER, 0xEC, 6000).unwrap();
        assert_eq!(l.next_deadline_ns(), None);
    }

    #[test]
    fn masked_timer_counts_but_does_not_interrupt() {
        let mut l = Lapic::new();
        l.write_msr(0x83E, 0xB, 0).unwrap();
        l.write_msr(0x838, 10, 0).unwrap(); // LVT timer still masked from reset
        l.advance(20);
        assert_eq!(l.pending_vector(), None);
        assert_eq!(l.next_deadline_ns(), None);
    }

    #[test]
    fn self_ipi_via_icr_and_ignored_ipis() {
        let mut l = Lapic::new();
        l.write_msr(0x830, (1 << 18) | 0x50, 0).unwrap(); // shorthand self
        assert_eq!(l.pending_vector(), Some(0x50));
        l.write_msr(0x830, (5 << 8) | (3 << 18), 0).unwrap(); // INIT all-but-self
        assert_eq!(l.ignored_ipis(), 1);
        assert_eq!(l.read_msr(0x830, 0), Ok((5 << 8) | (3 << 18)));
    }

    #[test]
    fn software_disable_masks_and_blocks() {
        let mut l = Lapic::new();
        assert!(l.accepts_extint());
        l.accept(0x60, false);
        l.write_msr(0x80F, 0xFF, 0).unwrap();
        assert_eq!(l.pending_vector(), None);
        assert!(!l.accepts_extint());
        l.write_msr(0x835, 0x700, 0).unwrap();
        assert_ne!(l.read_msr(0x835, 0).unwrap() & u64::from(LVT_MASKED), 0);
    }
}
