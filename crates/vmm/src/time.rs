//! Guest time: one clock derived from the guest TSC.
//!
//! The guest TSC is the host TSC plus the VMCB TSC offset, chosen so the guest TSC reads 0 at
//! guest start. Guest time in nanoseconds is a fixed-point scaling of the guest TSC with the
//! same multiplier and shift that kvmclock hands to the guest, so the devices' notion of time
//! (PIT, PM timer, RTC, LAPIC timer) and the guest's kvmclock agree to the nanosecond.

/// Nanoseconds per second.
pub const NS_PER_SECOND: u64 = 1_000_000_000;

/// Fixed-point conversion between guest TSC ticks and nanoseconds (kvmclock's format:
/// `ns = ((tsc << shift) * multiplier) >> 32`, with a negative shift meaning a right shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TscClock {
    frequency_hz: u64,
    multiplier: u32,
    shift: i8,
}

impl TscClock {
    /// A clock for a TSC running at `frequency_hz` (clamped to 1 MHz..=100 GHz, far outside any
    /// real TSC, so the fixed-point factors stay in range).
    pub fn new(frequency_hz: u64) -> Self {
        let frequency_hz = frequency_hz.clamp(1_000_000, 100_000_000_000);
        let (shift, multiplier) = time_scale(NS_PER_SECOND, frequency_hz);
        Self { frequency_hz, multiplier, shift }
    }

    /// The TSC frequency.
    pub fn frequency_hz(&self) -> u64 {
        self.frequency_hz
    }

    /// kvmclock's `tsc_to_system_mul`.
    pub fn multiplier(&self) -> u32 {
        self.multiplier
    }

    /// kvmclock's `tsc_shift`.
    pub fn shift(&self) -> i8 {
        self.shift
    }

    /// Guest nanoseconds at guest TSC value `tsc` (saturating at `u64::MAX`).
    pub fn ns_from_tsc(&self, tsc: u64) -> u64 {
        let tsc = u128::from(tsc);
        let shifted = if self.shift < 0 { tsc >> (-self.shift) } else { tsc << self.shift };
        u64::try_from((shifted * u128::from(self.multiplier)) >> 32).unwrap_or(u64::MAX)
    }

    /// The first guest TSC value at which [`Self::ns_from_tsc`] reaches `ns` (`u64::MAX` if none).
    pub fn tsc_from_ns(&self, ns: u64) -> u64 {
        // Binary search over a monotonic function: 64 steps, exact, no rounding analysis.
        let (mut lo, mut hi) = (0u64, u64::MAX);
        if self.ns_from_tsc(hi) < ns {
            return u64::MAX;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.ns_from_tsc(mid) >= ns {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

/// Linux's `kvm_get_time_scale`: shift and 32-bit multiplier turning `base_hz` ticks into
/// `scaled_hz` ticks.
fn time_scale(scaled_hz: u64, base_hz: u64) -> (i8, u32) {
    let mut shift: i32 = 0;
    let mut tps64 = base_hz;
    let mut scaled64 = scaled_hz;
    while tps64 > scaled64 * 2 || tps64 & 0xFFFF_FFFF_0000_0000 != 0 {
        tps64 >>= 1;
        shift -= 1;
    }
    let mut tps32 = tps64 as u32;
    while u64::from(tps32) <= scaled64 || scaled64 & 0xFFFF_FFFF_0000_0000 != 0 {
        if scaled64 & 0xFFFF_FFFF_0000_0000 != 0 || tps32 & 0x8000_0000 != 0 {
            scaled64 >>= 1;
        } else {
            tps32 <<= 1;
        }
        shift += 1;
    }
    let multiplier = ((u128::from(scaled64) << 32) / u128::from(tps32)) as u32;
    (shift as i8, multiplier)
}

/// `a * b / c` without overflow (saturating at `u64::MAX`); `c` must not be zero.
pub(crate) fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    let r = u128::from(a) * u128::from(b) / u128::from(c.max(1));
    u64::try_from(r).unwrap_or(u64::MAX)
}

/// `a * b / c` rounded up.
pub(crate) fn mul_div_ceil(a: u64, b: u64, c: u64) -> u64 {
    let c = u128::from(c.max(1));
    let r = (u128::from(a) * u128::from(b)).div_ceil(c);
    u64::try_from(r).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_second_of_ticks_is_one_second() {
        for hz in [1_000_000_000u64, 2_399_999_000, 3_579_545, 1_193_182, 2_100_000_000, 4_000_000_000] {
            let clock = TscClock::new(hz);
            let ns = clock.ns_from_tsc(hz);
            assert!(ns.abs_diff(NS_PER_SECOND) <= 1, "{hz}: {ns}");
        }
    }

    proptest! {
        #[test]
        fn tsc_from_ns_inverts(hz in 1_000_000u64..10_000_000_000, ns in 0u64..(1u64 << 50)) {
            let clock = TscClock::new(hz);
            let tsc = clock.tsc_from_ns(ns);
            prop_assert!(clock.ns_from_tsc(tsc) >= ns);
            if tsc > 0 {
                prop_assert!(clock.ns_from_tsc(tsc - 1) < ns);
            }
        }

        #[test]
        fn ns_is_monotonic(hz in 1_000_000u64..10_000_000_000, a in any::<u64>(), b in any::<u64>()) {
            let clock = TscClock::new(hz);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(clock.ns_from_tsc(lo) <= clock.ns_from_tsc(hi));
        }
    }
}
