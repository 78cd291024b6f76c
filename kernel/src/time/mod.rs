//! Clocks: a monotonic clock from the time-stamp counter, calibrated at boot against the HPET
//! (or the ACPI PM timer), the local APIC timer tick, and wall-clock time from the RTC.

pub mod rtc;

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::{self, apic};

/// Scheduler tick rate.
pub const TICK_HZ: u64 = 250;
/// How long each calibration window lasts.
const CALIBRATION_NS: u64 = 10_000_000;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick as a 32.32 fixed-point number: conversions multiply and shift
/// instead of dividing (a 128-bit division is a long software routine).
static NS_PER_TICK_FP32: AtomicU64 = AtomicU64::new(0);
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static BOOT_UNIX_SECONDS: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);
static APIC_TIMER_HZ: AtomicU64 = AtomicU64::new(0);

/// Records the kernel's start; call first thing.
pub fn mark_boot() {
    BOOT_TSC.store(arch::read_tsc(), Ordering::Relaxed);
}

/// The time source the TSC was calibrated against.
#[derive(Debug, Clone, Copy)]
pub enum Reference {
    /// HPET main counter at a mapped address, with its period in femtoseconds.
    Hpet { counter_virt: u64, period_fs: u64 },
    /// ACPI PM timer (3.579545 MHz) on an I/O port.
    PmTimer { port: u16, wide: bool },
}

impl Reference {
    pub fn name(&self) -> &'static str {
        match self {
            Reference::Hpet { .. } => "HPET",
            Reference::PmTimer { .. } => "ACPI PM timer",
        }
    }

    /// Counter value and its modulus.
    fn read(&self) -> u64 {
        match *self {
            // SAFETY: `counter_virt` maps the HPET main counter register (see `hpet_reference`).
            Reference::Hpet { counter_virt, .. } => unsafe {
                core::ptr::read_volatile(counter_virt as *const u64)
            },
            // SAFETY: the PM timer port named by the FADT; reading it has no side effects.
            Reference::PmTimer { port, wide } => unsafe {
                arch::inl(port) as u64 & if wide { 0xFFFF_FFFF } else { 0xFF_FFFF }
            },
        }
    }

    fn ticks_to_ns(&self, ticks: u64) -> u64 {
        match *self {
            Reference::Hpet { period_fs, .. } => (ticks as u128 * period_fs as u128 / 1_000_000) as u64,
            Reference::PmTimer { .. } => (ticks as u128 * 1_000_000_000 / 3_579_545) as u64,
        }
    }

    fn elapsed(&self, from: u64, to: u64) -> u64 {
        match *self {
            Reference::Hpet { .. } => to.wrapping_sub(from),
            Reference::PmTimer { wide, .. } => {
                to.wrapping_sub(from) & if wide { 0xFFFF_FFFF } else { 0xFF_FFFF }
            }
        }
    }
}

/// Maps and starts the HPET at `phys`.
pub fn hpet_reference(phys: u64) -> Option<Reference> {
    let base = crate::mm::map::map_mmio(phys, 0x400).ok()?;
    // SAFETY: `base` maps the HPET register block uncached.
    unsafe {
        let capabilities = core::ptr::read_volatile(base as *const u64);
        let period_fs = capabilities >> 32;
        if period_fs == 0 || period_fs > 100_000_000 {
            return None; // The specification caps the period at 100 ns.
        }
        let config = (base + 0x10) as *mut u64;
        core::ptr::write_volatile(config, core::ptr::read_volatile(config) | 1); // ENABLE_CNF
        Some(Reference::Hpet { counter_virt: base + 0xF0, period_fs })
    }
}

/// TSC cycles after which a reference that has not covered the calibration window is taken
/// for stuck (about 4 s at 4 GHz, 20 s at 800 MHz: far beyond the 10 ms window on any clock).
const CALIBRATION_GIVE_UP_CYCLES: u64 = 1 << 34;

/// Measures the TSC and local APIC timer rates against `reference` over one window; fails if
/// the reference does not advance.
pub fn calibrate(reference: Reference) -> Result<(u64, u64), &'static str> {
    apic::start_timer_for_calibration(u32::MAX);
    let apic_start = apic::timer_current_count();
    let start = reference.read();
    let tsc_start = arch::read_tsc();
    let (mut now, mut elapsed_ns);
    loop {
        now = reference.read();
        elapsed_ns = reference.ticks_to_ns(reference.elapsed(start, now));
        if elapsed_ns >= CALIBRATION_NS {
            break;
        }
        if arch::read_tsc().wrapping_sub(tsc_start) > CALIBRATION_GIVE_UP_CYCLES {
            return Err("it does not advance");
        }
        core::hint::spin_loop();
    }
    let tsc_end = arch::read_tsc();
    let apic_end = apic::timer_current_count();
    let tsc_hz = ((tsc_end - tsc_start) as u128 * 1_000_000_000 / elapsed_ns as u128) as u64;
    let apic_hz = ((apic_start - apic_end) as u128 * 1_000_000_000 / elapsed_ns as u128) as u64;
    TSC_HZ.store(tsc_hz.max(1), Ordering::Relaxed);
    NS_PER_TICK_FP32.store(((1_000_000_000u128 << 32) / tsc_hz.max(1) as u128) as u64, Ordering::Relaxed);
    APIC_TIMER_HZ.store(apic_hz.max(1), Ordering::Relaxed);
    log::info!(target: "time", "calibrated against the {}: TSC {} MHz, APIC timer {} kHz (/16)", reference.name(), tsc_hz / 1_000_000, apic_hz / 1000);
    Ok((tsc_hz, apic_hz))
}

/// Starts the periodic scheduler tick.
pub fn start_tick() {
    let apic_hz = APIC_TIMER_HZ.load(Ordering::Relaxed);
    apic::start_periodic_timer((apic_hz / TICK_HZ).clamp(1, u32::MAX as u64) as u32);
}

/// The timer interrupt.
pub fn timer_interrupt(frame: &mut arch::InterruptFrame) {
    TICKS.fetch_add(1, Ordering::Relaxed);
    crate::watchdog::check(frame);
    crate::task::on_timer_tick();
}

pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts a TSC difference to nanoseconds (0 before calibration).
pub fn tsc_to_ns(ticks: u64) -> u64 {
    ((ticks as u128 * NS_PER_TICK_FP32.load(Ordering::Relaxed) as u128) >> 32) as u64
}

/// Nanoseconds since kernel entry (monotonic).
pub fn now_ns() -> u64 {
    tsc_to_ns(arch::read_tsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed)))
}

/// Spins for at least `ns` nanoseconds (for drivers and early boot, before the scheduler).
pub fn busy_wait_ns(ns: u64) {
    if TSC_HZ.load(Ordering::Relaxed) == 0 {
        // Uncalibrated: a generous spin that cannot wait forever.
        for _ in 0..ns.min(1_000_000_000) / 10 {
            core::hint::spin_loop();
        }
        return;
    }
    let end = now_ns().saturating_add(ns);
    while now_ns() < end {
        core::hint::spin_loop();
    }
}

/// Records the wall-clock time read from the RTC at boot.
pub fn set_boot_wall_clock(unix_seconds_at_read: u64) {
    let uptime_s = now_ns() / 1_000_000_000;
    BOOT_UNIX_SECONDS.store(unix_seconds_at_read.saturating_sub(uptime_s), Ordering::Relaxed);
}

/// Seconds since 1970 (UTC), or 0 when the RTC could not be read.
pub fn unix_now() -> u64 {
    let boot = BOOT_UNIX_SECONDS.load(Ordering::Relaxed);
    if boot == 0 {
        return 0;
    }
    boot + now_ns() / 1_000_000_000
}
