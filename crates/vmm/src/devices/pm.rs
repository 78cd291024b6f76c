//! ACPI fixed-hardware registers, at the ports the FADT names: PM1a event block at 0x600
//! (status 0x600, enable 0x602), PM1a control at 0x604, PM timer at 0x608.
//!
//! The PM timer is a 32-bit counter at 3.579545 MHz derived from guest time. SCI_EN reads 1
//! (the FADT has no SMI command port, so the platform is always in ACPI mode). Writing SLP_EN
//! with the SLP_TYP of `\_S5` asks the VMM to power off; the power button sets PWRBTN_STS and
//! raises the SCI (IRQ 9, level) when the guest enabled it. TMR_STS is never set (Linux does not
//! use the timer-carry interrupt); TMR_EN and RTC_EN are stored.

use crate::time::{mul_div, NS_PER_SECOND};

/// First port of the PM1a event block.
pub const PM1A_EVENT_PORT: u16 = 0x600;
/// PM1a control block.
pub const PM1A_CONTROL_PORT: u16 = 0x604;
/// PM timer.
pub const PM_TIMER_PORT: u16 = 0x608;
/// Last port of the whole block.
pub const PM_LAST_PORT: u16 = 0x60B;
/// PM timer frequency.
pub const PM_TIMER_FREQUENCY_HZ: u64 = 3_579_545;
/// The SLP_TYP value `\_S5` declares in the DSDT.
pub const S5_SLP_TYP: u8 = 5;
/// SCI interrupt (ISA IRQ / GSI).
pub const SCI_IRQ: u8 = 9;

/// PM1 status/enable bits.
pub mod pm1 {
    /// Timer carry.
    pub const TMR: u16 = 1 << 0;
    /// Global lock release.
    pub const GBL: u16 = 1 << 5;
    /// Power button.
    pub const PWRBTN: u16 = 1 << 8;
    /// RTC alarm.
    pub const RTC: u16 = 1 << 10;
    /// Wake status.
    pub const WAK: u16 = 1 << 15;
}

const CNT_SCI_EN: u16 = 1 << 0;
const CNT_SLP_EN: u16 = 1 << 13;
const STATUS_BITS: u16 = pm1::TMR | pm1::GBL | pm1::PWRBTN | pm1::RTC | pm1::WAK;
const ENABLE_BITS: u16 = pm1::TMR | pm1::GBL | pm1::PWRBTN | pm1::RTC;

/// What a write to the PM block asks of the VMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmAction {
    /// Nothing beyond the register change.
    None,
    /// The guest entered S5.
    PowerOff,
}

/// The PM register block.
#[derive(Debug, Clone, Default)]
pub struct PmRegisters {
    status: u16,
    enable: u16,
    control: u16,
    ignored_sleep_requests: u64,
}

impl PmRegisters {
    /// Reset state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The SCI line level: some enabled event is pending.
    pub fn sci_level(&self) -> bool {
        self.status & self.enable != 0
    }

    /// Presses the power button: the guest's ACPI driver should shut down.
    pub fn press_power_button(&mut self) {
        self.status |= pm1::PWRBTN;
    }

    /// SLP_EN writes with a sleep type other than S5 (not offered by the DSDT), ignored.
    pub fn ignored_sleep_requests(&self) -> u64 {
        self.ignored_sleep_requests
    }

    /// The PM timer value at guest time `now_ns`.
    pub fn timer(&self, now_ns: u64) -> u32 {
        mul_div(now_ns, PM_TIMER_FREQUENCY_HZ, NS_PER_SECOND) as u32
    }

    fn read_byte(&self, port: u16, now_ns: u64) -> u8 {
        let control = self.control | CNT_SCI_EN;
        match port {
            0x600 => self.status as u8,
            0x601 => (self.status >> 8) as u8,
            0x602 => self.enable as u8,
            0x603 => (self.enable >> 8) as u8,
            0x604 => control as u8,
            0x605 => ((control & !CNT_SLP_EN) >> 8) as u8,
            0x608..=0x60B => (self.timer(now_ns) >> (8 * (port - 0x608))) as u8,
            _ => 0xFF,
        }
    }

    /// Reads `size_bytes` (1, 2 or 4) starting at `port`.
    pub fn read(&self, port: u16, size_bytes: u8, now_ns: u64) -> u32 {
        (0..u16::from(size_bytes))
            .fold(0u32, |value, i| value | u32::from(self.read_byte(port.wrapping_add(i), now_ns)) << (8 * i))
    }

    /// Writes `size_bytes` (1, 2 or 4) of `value` starting at `port`.
    pub fn write(&mut self, port: u16, size_bytes: u8, value: u32) -> PmAction {
        let mut action = PmAction::None;
        for i in 0..u16::from(size_bytes) {
            let byte = (value >> (8 * i)) as u8;
            if self.write_byte(port.wrapping_add(i), byte) == PmAction::PowerOff {
                action = PmAction::PowerOff;
            }
        }
        action
    }

    fn write_byte(&mut self, port: u16, byte: u8) -> PmAction {
        let b = u16::from(byte);
        match port {
            // Status bits are write-one-to-clear.
            0x600 => self.status &= !(b & STATUS_BITS),
            0x601 => self.status &= !((b << 8) & STATUS_BITS),
            0x602 => self.enable = (self.enable & 0xFF00) | (b & ENABLE_BITS),
            0x603 => self.enable = (self.enable & 0x00FF) | ((b << 8) & ENABLE_BITS),
            0x604 => self.control = (self.control & 0xFF00) | (b & 0x06),
            0x605 => {
                self.control = (self.control & 0x00FF) | ((b << 8) & 0x1C00);
                if (b << 8) & CNT_SLP_EN != 0 {
                    let slp_typ = ((b >> 2) & 7) as u8;
                    if slp_typ == S5_SLP_TYP {
                        return PmAction::PowerOff;
                    }
                    self.ignored_sleep_requests += 1;
                }
            }
            _ => {} // the PM timer is read-only
        }
        PmAction::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_runs_at_3_579545_mhz() {
        let pm = PmRegisters::new();
        assert_eq!(pm.read(PM_TIMER_PORT, 4, NS_PER_SECOND), 3_579_545);
        assert_eq!(pm.read(PM_TIMER_PORT, 4, 0), 0);
        let t = 1_000_000;
        assert_eq!(pm.read(PM_TIMER_PORT, 2, t), 3579);
    }

    #[test]
    fn sci_en_is_always_set_and_slp_en_reads_zero() {
        let mut pm = PmRegisters::new();
        assert_eq!(pm.read(PM1A_CONTROL_PORT, 2, 0), 1);
        assert_eq!(pm.write(PM1A_CONTROL_PORT, 2, 3 << 10), PmAction::None);
        assert_eq!(pm.read(PM1A_CONTROL_PORT, 2, 0), (3 << 10) | 1);
    }

    #[test]
    fn s5_powers_off_other_states_are_ignored() {
        let mut pm = PmRegisters::new();
        assert_eq!(pm.write(PM1A_CONTROL_PORT, 2, u32::from(CNT_SLP_EN) | (1 << 10)), PmAction::None);
        assert_eq!(pm.ignored_sleep_requests(), 1);
        let s5 = u32::from(CNT_SLP_EN) | (u32::from(S5_SLP_TYP) << 10);
        assert_eq!(pm.write(PM1A_CONTROL_PORT, 2, s5), PmAction::PowerOff);
        // Byte-wide write of the high byte works too.
        assert_eq!(pm.write(PM1A_CONTROL_PORT + 1, 1, s5 >> 8), PmAction::PowerOff);
    }

    #[test]
    fn power_button_raises_sci_when_enabled() {
        let mut pm = PmRegisters::new();
        pm.press_power_button();
        assert!(!pm.sci_level());
        assert_eq!(pm.read(PM1A_EVENT_PORT, 2, 0), u32::from(pm1::PWRBTN));
        pm.write(PM1A_EVENT_PORT + 2, 2, u32::from(pm1::PWRBTN));
        assert!(pm.sci_level());
        // Write-one-to-clear.
        pm.write(PM1A_EVENT_PORT, 2, u32::from(pm1::PWRBTN));
        assert!(!pm.sci_level());
        assert_eq!(pm.read(PM1A_EVENT_PORT, 4, 0), u32::from(pm1::PWRBTN) << 16);
    }
}
