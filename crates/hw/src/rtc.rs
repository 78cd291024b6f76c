//! The CMOS real-time clock's registers to a calendar date and Unix time.

/// Raw RTC register values as read (seconds, minutes, hours, day, month, year, century),
/// with status register B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcRegisters {
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    /// The century register if the FADT names one, else `None` (assume 20xx).
    pub century: Option<u8>,
    pub status_b: u8,
}

/// A UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

fn from_bcd(v: u8) -> u32 {
    ((v >> 4) as u32) * 10 + (v & 0x0F) as u32
}

impl RtcRegisters {
    /// Decodes BCD or binary, 12- or 24-hour values; `None` if they are out of range.
    pub fn decode(&self) -> Option<DateTime> {
        let binary = self.status_b & 0x04 != 0;
        let twenty_four_hour = self.status_b & 0x02 != 0;
        let value = |v: u8| if binary { v as u32 } else { from_bcd(v) };
        let pm = !twenty_four_hour && self.hours & 0x80 != 0;
        let mut hour = value(self.hours & 0x7F);
        if !twenty_four_hour {
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        let century = self.century.map(value).unwrap_or(20);
        let date = DateTime {
            year: century * 100 + value(self.year),
            month: value(self.month),
            day: value(self.day),
            hour,
            minute: value(self.minutes),
            second: value(self.seconds),
        };
        date.is_valid().then_some(date)
    }
}

impl DateTime {
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.year >= 1970
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn to_unix(&self) -> u64 {
        let days = days_from_civil(self.year as i64, self.month, self.day);
        days as u64 * 86_400 + self.hour as u64 * 3600 + self.minute as u64 * 60 + self.second as u64
    }

    /// The date and time of a Unix timestamp.
    pub fn from_unix(seconds: u64) -> DateTime {
        let days = (seconds / 86_400) as i64;
        let rest = seconds % 86_400;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year: year as u32,
            month,
            day,
            hour: (rest / 3600) as u32,
            minute: (rest % 3600 / 60) as u32,
            second: (rest % 60) as u32,
        }
    }
}

impl core::fmt::Display for DateTime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_bcd_24_hour() {
        let regs = RtcRegisters {
            seconds: 0x59,
            minutes: 0x30,
            hours: 0x23,
            day: 0x26,
            month: 0x11,
            year: 0x26,
            century: Some(0x20),
            status_b: 0x02,
        };
        let date = regs.decode().unwrap();
        assert_eq!(date, DateTime { year: 2026, month: 11, day: 26, hour: 23, minute: 30, second: 59 });
        assert_eq!(date.to_unix(), 1_795_735_859);
    }

    #[test]
    fn decodes_binary_12_hour_pm() {
        let regs = RtcRegisters {
            seconds: 1,
            minutes: 2,
            hours: 0x80 | 12,
            day: 1,
            month: 1,
            year: 24,
            century: None,
            status_b: 0x04,
        };
        assert_eq!(regs.decode().unwrap().hour, 12);
        let regs = RtcRegisters { hours: 12, ..regs };
        assert_eq!(regs.decode().unwrap().hour, 0);
    }

    #[test]
    fn rejects_impossible_dates() {
        let regs = RtcRegisters {
            seconds: 0,
            minutes: 0,
            hours: 0,
            day: 0x30,
            month: 0x02,
            year: 0x25,
            century: None,
            status_b: 2,
        };
        assert_eq!(regs.decode(), None);
        let regs = RtcRegisters { month: 0x13, day: 1, ..regs };
        assert_eq!(regs.decode(), None);
    }

    #[test]
    fn unix_epoch_and_leap_day() {
        assert_eq!(
            DateTime::from_unix(0),
            DateTime { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0 }
        );
        let leap = DateTime { year: 2024, month: 2, day: 29, hour: 12, minute: 0, second: 0 };
        assert_eq!(DateTime::from_unix(leap.to_unix()), leap);
    }

    proptest! {
        #[test]
        fn unix_round_trips(seconds in 0u64..8_000_000_000) {
            prop_assert_eq!(DateTime::from_unix(seconds).to_unix(), seconds);
        }

        #[test]
        fn any_registers_decode_or_refuse(s: u8, m: u8, h: u8, d: u8, mo: u8, y: u8, c: Option<u8>, b: u8) {
            let regs = RtcRegisters { seconds: s, minutes: m, hours: h, day: d, month: mo, year: y, century: c, status_b: b };
            if let Some(date) = regs.decode() {
                prop_assert!(date.is_valid());
            }
        }
    }
}
