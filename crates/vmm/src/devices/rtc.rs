//! CMOS RTC (MC146818) and CMOS RAM at ports 0x70/0x71.
//!
//! The time of day is the caller's wall clock at guest start plus guest time, plus an offset
//! the guest sets by writing the clock (SET bit in register B). Registers follow register B's
//! data mode (BCD or binary) and hour format (12 or 24 h). The update-in-progress bit reads 1
//! during the last 244 µs of every second, as on hardware, so the guest's "wait for UIP to
//! clear" loops end after at most that much guest time.
//!
//! Interrupts (periodic, alarm, update-ended) are not generated: the flags of register C are
//! computed when read, and IRQ 8 stays low (Linux boots without them; `hwclock --wait`-style
//! users would wait forever). Port 0x70 bit 7 is the NMI mask, kept for the caller.

use crate::time::NS_PER_SECOND;

const REG_SECONDS: u8 = 0x00;
const REG_MINUTES: u8 = 0x02;
const REG_HOURS: u8 = 0x04;
const REG_DAY_OF_WEEK: u8 = 0x06;
const REG_DAY_OF_MONTH: u8 = 0x07;
const REG_MONTH: u8 = 0x08;
const REG_YEAR: u8 = 0x09;
const REG_A: u8 = 0x0A;
const REG_B: u8 = 0x0B;
const REG_C: u8 = 0x0C;
const REG_D: u8 = 0x0D;
/// The century register (the FADT's CENTURY field names it).
pub const REG_CENTURY: u8 = 0x32;

const B_SET: u8 = 1 << 7;
const B_BINARY: u8 = 1 << 2;
const B_24H: u8 = 1 << 1;
const A_UIP: u8 = 1 << 7;
const C_UF: u8 = 1 << 4;
const UIP_WINDOW_NS: u64 = 244_000;

/// A broken-down UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Full year, e.g. 2026.
    pub year: u32,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// 1 = Sunday .. 7 = Saturday.
    pub day_of_week: u8,
}

impl DateTime {
    /// The UTC date of `unix_seconds` (Howard Hinnant's civil-from-days).
    pub fn from_unix_seconds(unix_seconds: u64) -> Self {
        let days = unix_seconds / 86_400;
        let secs = unix_seconds % 86_400;
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u32;
        Self {
            year,
            month,
            day,
            hour: (secs / 3600) as u8,
            minute: ((secs / 60) % 60) as u8,
            second: (secs % 60) as u8,
            // 1970-01-01 was a Thursday (5).
            day_of_week: ((days + 4) % 7 + 1) as u8,
        }
    }

    /// Seconds since the Unix epoch (days_from_civil), or `None` for fields out of range.
    pub fn to_unix_seconds(&self) -> Option<u64> {
        if !(1..=12).contains(&self.month)
            || !(1..=31).contains(&self.day)
            || self.hour > 23
            || self.minute > 59
            || self.second > 59
            || self.year < 1970
        {
            return None;
        }
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        u64::try_from(secs).ok()
    }
}

fn to_bcd(value: u8) -> u8 {
    ((value / 10) << 4) | (value % 10)
}

fn from_bcd(value: u8) -> u8 {
    (value >> 4) * 10 + (value & 0xF)
}

/// The RTC and its 128 bytes of CMOS.
#[derive(Debug, Clone)]
pub struct Rtc {
    index: u8,
    nmi_masked: bool,
    cmos: [u8; 128],
    wall_clock_at_boot_ns: u64,
    /// Added to wall time (guest-set clock), in ns; may be negative.
    offset_ns: i64,
    /// While SET is held, the time the guest is writing (frozen).
    frozen: Option<DateTime>,
    last_c_read_second: u64,
}

impl Rtc {
    /// An RTC whose clock read `wall_clock_unix_ns` at guest time 0.
    pub fn new(wall_clock_unix_ns: u64) -> Self {
        let mut cmos = [0u8; 128];
        cmos[usize::from(REG_A)] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
        cmos[usize::from(REG_B)] = B_24H;
        let start_second = wall_clock_unix_ns / NS_PER_SECOND;
        Self {
            index: 0,
            nmi_masked: false,
            cmos,
            wall_clock_at_boot_ns: wall_clock_unix_ns,
            offset_ns: 0,
            frozen: None,
            last_c_read_second: start_second,
        }
    }

    /// True when the guest set port 0x70 bit 7 (NMIs masked).
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    fn wall_ns(&self, now_ns: u64) -> u64 {
        let base = self.wall_clock_at_boot_ns.saturating_add(now_ns);
        base.saturating_add_signed(self.offset_ns)
    }

    fn now(&self, now_ns: u64) -> DateTime {
        self.frozen.unwrap_or_else(|| DateTime::from_unix_seconds(self.wall_ns(now_ns) / NS_PER_SECOND))
    }

    fn encode(&self, value: u8) -> u8 {
        if self.cmos[usize::from(REG_B)] & B_BINARY != 0 {
            value
        } else {
            to_bcd(value)
        }
    }

    fn decode(&self, value: u8) -> u8 {
        if self.cmos[usize::from(REG_B)] & B_BINARY != 0 {
            value
        } else {
            from_bcd(value)
        }
    }

    fn encode_hour(&self, hour: u8) -> u8 {
        if self.cmos[usize::from(REG_B)] & B_24H != 0 {
            return self.encode(hour);
        }
        let pm = hour >= 12;
        let h12 = match hour % 12 {
            0 => 12,
            h => h,
        };
        self.encode(h12) | if pm { 0x80 } else { 0 }
    }

    fn decode_hour(&self, raw: u8) -> u8 {
        if self.cmos[usize::from(REG_B)] & B_24H != 0 {
            return self.decode(raw);
        }
        let h12 = self.decode(raw & 0x7F) % 12;
        if raw & 0x80 != 0 {
            h12 + 12
        } else {
            h12
        }
    }

    fn read_register(&mut self, index: u8, now_ns: u64) -> u8 {
        let t = self.now(now_ns);
        match index {
            REG_SECONDS => self.encode(t.second),
            REG_MINUTES => self.encode(t.minute),
            REG_HOURS => self.encode_hour(t.hour),
            REG_DAY_OF_WEEK => self.encode(t.day_of_week),
            REG_DAY_OF_MONTH => self.encode(t.day),
            REG_MONTH => self.encode(t.month),
            REG_YEAR => self.encode((t.year % 100) as u8),
            REG_CENTURY => self.encode((t.year / 100 % 100) as u8),
            REG_A => {
                let sub_second = self.wall_ns(now_ns) % NS_PER_SECOND;
                let uip = self.frozen.is_none() && sub_second >= NS_PER_SECOND - UIP_WINDOW_NS;
                (self.cmos[usize::from(REG_A)] & 0x7F) | if uip { A_UIP } else { 0 }
            }
            REG_C => {
                let second = self.wall_ns(now_ns) / NS_PER_SECOND;
                let updated = second != self.last_c_read_second;
                self.last_c_read_second = second;
                // Update-ended is latched; without UIE there is no IRQF.
                if updated {
                    C_UF
                } else {
                    0
                }
            }
            REG_D => 0x80, // valid RAM and time
            _ => self.cmos[usize::from(index)],
        }
    }

    fn write_register(&mut self, index: u8, value: u8, now_ns: u64) {
        match index {
            REG_SECONDS | REG_MINUTES | REG_HOURS | REG_DAY_OF_WEEK | REG_DAY_OF_MONTH | REG_MONTH
            | REG_YEAR | REG_CENTURY => {
                let mut t = self.now(now_ns);
                match index {
                    REG_SECONDS => t.second = self.decode(value),
                    REG_MINUTES => t.minute = self.decode(value),
                    REG_HOURS => t.hour = self.decode_hour(value),
                    REG_DAY_OF_WEEK => t.day_of_week = self.decode(value),
                    REG_DAY_OF_MONTH => t.day = self.decode(value),
                    REG_MONTH => t.month = self.decode(value),
                    REG_YEAR => t.year = t.year / 100 * 100 + u32::from(self.decode(value) % 100),
                    _ => t.year = u32::from(self.decode(value)) * 100 + t.year % 100,
                }
                if self.frozen.is_some() {
                    self.frozen = Some(t);
                } else {
                    self.set_time(t, now_ns);
                }
            }
            REG_A => self.cmos[usize::from(REG_A)] = value & 0x7F,
            REG_B => {
                let was_set = self.cmos[usize::from(REG_B)] & B_SET != 0;
                if value & B_SET != 0 && !was_set {
                    self.frozen = Some(self.now(now_ns));
                } else if value & B_SET == 0 && was_set {
                    if let Some(t) = self.frozen.take() {
                        self.set_time(t, now_ns);
                    }
                }
                self.cmos[usize::from(REG_B)] = value;
            }
            REG_C | REG_D => {} // read-only
            _ => self.cmos[usize::from(index)] = value,
        }
    }

    /// Makes the clock read `t` now; fields the guest left out of range are refused silently,
    /// as the chip would show garbage rather than fault.
    fn set_time(&mut self, t: DateTime, now_ns: u64) {
        let Some(seconds) = t.to_unix_seconds() else { return };
        let base = i128::from(self.wall_clock_at_boot_ns) + i128::from(now_ns);
        let wanted = i128::from(seconds) * i128::from(NS_PER_SECOND);
        let offset = (wanted - base).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        self.offset_ns = offset as i64;
    }

    /// Reads port 0x70 (0xFF: the index register is write-only) or 0x71.
    pub fn read(&mut self, port: u16, now_ns: u64) -> u8 {
        if port == 0x71 {
            self.read_register(self.index, now_ns)
        } else {
            0xFF
        }
    }

    /// Writes port 0x70 (index and NMI mask) or 0x71.
    pub fn write(&mut self, port: u16, value: u8, now_ns: u64) {
        if port == 0x70 {
            self.index = value & 0x7F;
            self.nmi_masked = value & 0x80 != 0;
        } else {
            self.write_register(self.index, value, now_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2026-11-26 04:51:57 UTC, a Thursday.
    const WALL: u64 = 1_795_668_717 * NS_PER_SECOND;

    fn reg(rtc: &mut Rtc, index: u8, now_ns: u64) -> u8 {
        rtc.write(0x70, index, now_ns);
        rtc.read(0x71, now_ns)
    }

    #[test]
    fn date_conversion() {
        let t = DateTime::from_unix_seconds(1_795_668_717);
        assert_eq!(
            t,
            DateTime { year: 2026, month: 11, day: 26, hour: 4, minute: 51, second: 57, day_of_week: 5 }
        );
        assert_eq!(t.to_unix_seconds(), Some(1_795_668_717));
        assert_eq!(DateTime::from_unix_seconds(951_782_400).day, 29); // 2000-02-29
    }

    #[test]
    fn bcd_24h_registers() {
        let mut rtc = Rtc::new(WALL);
        assert_eq!(reg(&mut rtc, 0x00, 0), 0x57);
        assert_eq!(reg(&mut rtc, 0x02, 0), 0x51);
        assert_eq!(reg(&mut rtc, 0x04, 0), 0x04);
        assert_eq!(reg(&mut rtc, 0x07, 0), 0x26);
        assert_eq!(reg(&mut rtc, 0x08, 0), 0x11);
        assert_eq!(reg(&mut rtc, 0x09, 0), 0x26);
        assert_eq!(reg(&mut rtc, REG_CENTURY, 0), 0x20);
        assert_eq!(reg(&mut rtc, 0x06, 0), 0x05);
        assert_eq!(reg(&mut rtc, 0x0D, 0), 0x80);
        // Guest time moves the clock.
        assert_eq!(reg(&mut rtc, 0x00, 2 * NS_PER_SECOND), 0x59);
        assert_eq!(reg(&mut rtc, 0x02, 3 * NS_PER_SECOND), 0x52);
    }

    #[test]
    fn binary_and_12_hour_modes() {
        let mut rtc = Rtc::new(WALL + 12 * 3600 * NS_PER_SECOND); // 16:51:57
        rtc.write(0x70, 0x0B, 0);
        rtc.write(0x71, B_BINARY, 0);
        assert_eq!(reg(&mut rtc, 0x04, 0), 0x80 | 4, "4 PM in binary 12-hour format");
        assert_eq!(reg(&mut rtc, 0x00, 0), 57);
    }

    #[test]
    fn uip_window() {
        let mut rtc = Rtc::new(WALL);
        assert_eq!(reg(&mut rtc, 0x0A, 0) & A_UIP, 0);
        assert_ne!(reg(&mut rtc, 0x0A, NS_PER_SECOND - 100_000) & A_UIP, 0);
        assert_eq!(reg(&mut rtc, 0x0A, NS_PER_SECOND) & A_UIP, 0);
        assert_eq!(reg(&mut rtc, 0x0A, 0), 0x26);
    }

    #[test]
    fn guest_sets_the_clock() {
        let mut rtc = Rtc::new(WALL);
        rtc.write(0x70, 0x0B, 0);
        rtc.write(0x71, B_SET | B_24H, 0);
        rtc.write(0x70, 0x04, 0);
        rtc.write(0x71, 0x23, 0); // 23h BCD
        rtc.write(0x70, 0x09, 0);
        rtc.write(0x71, 0x30, 0); // year 30
                                  // Frozen while SET is held.
        assert_eq!(reg(&mut rtc, 0x00, 5 * NS_PER_SECOND), 0x57);
        rtc.write(0x70, 0x0B, 5 * NS_PER_SECOND);
        rtc.write(0x71, B_24H, 5 * NS_PER_SECOND);
        assert_eq!(reg(&mut rtc, 0x04, 6 * NS_PER_SECOND), 0x23);
        assert_eq!(reg(&mut rtc, 0x09, 6 * NS_PER_SECOND), 0x30);
        assert_eq!(reg(&mut rtc, 0x00, 6 * NS_PER_SECOND), 0x58);
    }

    #[test]
    fn nmi_mask_and_nvram() {
        let mut rtc = Rtc::new(WALL);
        rtc.write(0x70, 0x80 | 0x40, 0);
        assert!(rtc.nmi_masked());
        rtc.write(0x71, 0xAB, 0);
        assert_eq!(reg(&mut rtc, 0x40, 0), 0xAB);
        assert!(!rtc.nmi_masked());
        assert_eq!(rtc.read(0x70, 0), 0xFF);
        // Register C: update flag once per second boundary.
        assert_eq!(reg(&mut rtc, 0x0C, 0), 0);
        assert_eq!(reg(&mut rtc, 0x0C, NS_PER_SECOND), C_UF);
        assert_eq!(reg(&mut rtc, 0x0C, NS_PER_SECOND), 0);
    }

    proptest! {
        #[test]
        fn date_round_trip(secs in 0u64..(1u64 << 36)) {
            let t = DateTime::from_unix_seconds(secs);
            prop_assert_eq!(t.to_unix_seconds(), Some(secs));
        }

        #[test]
        fn any_register_traffic_is_safe(ops in proptest::collection::vec((any::<bool>(), any::<u8>(), any::<u8>(), any::<u32>()), 0..64)) {
            let mut rtc = Rtc::new(WALL);
            let mut now = 0u64;
            for (write, index, value, dt) in ops {
                now += u64::from(dt);
                rtc.write(0x70, index, now);
                if write { rtc.write(0x71, value, now) } else { let _ = rtc.read(0x71, now); }
            }
        }
    }
}
