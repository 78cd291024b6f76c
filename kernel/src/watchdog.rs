//! The watchdog: if the kernel stops making progress, the machine resets itself.
//!
//! A kernel thread (`watchdog`) pets the watchdog every second. With the i6300esb present,
//! petting reloads its counter and a hung kernel is reset by the hardware. Without it, a
//! software watchdog watches the pets: the timer interrupt checks them (catching a CPU stuck
//! with preemption off), and so does an NMI raised 20 times a second by the PIT through the
//! IOAPIC (catching a CPU stuck with interrupts off). When it fires it writes a crash record
//! (with the registers of the stuck code) and resets through ACPI, the keyboard controller or
//! a triple fault.
//!
//! Armed by default at [`DEFAULT_TIMEOUT_S`] seconds. Disarming needs a confirmation token.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Once;

use crate::arch::{self, InterruptFrame};
use crate::drivers::i6300esb::I6300esb;
use crate::{println, time};

pub const DEFAULT_TIMEOUT_S: u64 = 30;
pub const MIN_TIMEOUT_S: u64 = 2;
pub const MAX_TIMEOUT_S: u64 = 3600;
/// The petting thread's period.
const PET_INTERVAL_MS: u64 = 1000;
/// The rate of the PIT-driven NMI that checks the software watchdog.
const NMI_HZ: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Hardware,
    Software,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Hardware => "hw",
            Source::Software => "sw",
        }
    }
}

static HARDWARE: Once<I6300esb> = Once::new();
static ARMED: AtomicBool = AtomicBool::new(false);
static TIMEOUT_S: AtomicU64 = AtomicU64::new(DEFAULT_TIMEOUT_S);
static LAST_PET_NS: AtomicU64 = AtomicU64::new(0);
static FIRED: AtomicBool = AtomicBool::new(false);
/// Set when the watchdog restarts a fatal path that got stuck.
static RESCUED: AtomicBool = AtomicBool::new(false);

/// Looks for the hardware watchdog; returns whether it reset the machine last time. Call
/// before the persistent log mounts, so that reset is recorded for the previous boot.
pub fn probe() -> bool {
    match I6300esb::probe() {
        Some(device) => {
            let previous = device.take_previous_reset();
            HARDWARE.call_once(|| device);
            crate::devices::register(
                "watchdog",
                alloc::string::String::from("Intel 6300ESB watchdog timer"),
                Some("watchdog"),
            );
            previous
        }
        None => false,
    }
}

pub fn source() -> Source {
    if HARDWARE.get().is_some() {
        Source::Hardware
    } else {
        Source::Software
    }
}

/// Arms the default watchdog, sets up the software watchdog's NMI and starts the petting thread.
pub fn init() {
    if source() == Source::Software && !crate::irq::route_isa_irq_as_nmi(0) {
        log::warn!(target: "watchdog", "no NMI source: the software watchdog cannot catch a CPU stuck with interrupts off");
    } else if source() == Source::Software {
        crate::drivers::pit::start_rate_generator(NMI_HZ);
    }
    arm(DEFAULT_TIMEOUT_S);
    let _ = crate::task::spawn("watchdog", || loop {
        if ARMED.load(Ordering::Relaxed) {
            pet();
        }
        crate::task::sleep_ms(PET_INTERVAL_MS);
    });
}

/// The longest timeout the active watchdog can count.
pub fn max_timeout_s() -> u64 {
    match HARDWARE.get() {
        Some(_) => MAX_TIMEOUT_S.min(crate::drivers::i6300esb::MAX_TIMEOUT_MS / 1000),
        None => MAX_TIMEOUT_S,
    }
}

/// Arms the watchdog at `timeout_s`, clamped to what it can count; the marker and the log
/// say the timeout actually set.
pub fn arm(timeout_s: u64) {
    let timeout_s = timeout_s.clamp(MIN_TIMEOUT_S, max_timeout_s());
    TIMEOUT_S.store(timeout_s, Ordering::Relaxed);
    LAST_PET_NS.store(time::now_ns(), Ordering::Relaxed);
    if let Some(device) = HARDWARE.get() {
        device.arm(timeout_s * 1000);
    }
    ARMED.store(true, Ordering::Release);
    log::info!(target: "watchdog", "armed: {timeout_s} s ({})", source().name());
    println!("{}", rayos_markers::WATCHDOG_ARMED.with(&[&timeout_s, &source().name()]));
}

/// Proof that a person confirmed disarming (only the shell's confirmation makes one).
pub struct DisarmConfirmed(pub(crate) ());

pub fn disarm(_confirmed: DisarmConfirmed) {
    ARMED.store(false, Ordering::Release);
    if let Some(device) = HARDWARE.get() {
        device.disarm();
    }
    log::warn!(target: "watchdog", "disarmed from the shell: a hang will no longer reset the machine");
    println!("{}", rayos_markers::WATCHDOG_DISARMED.with(&[]));
}

pub fn pet() {
    LAST_PET_NS.store(time::now_ns(), Ordering::Relaxed);
    if let Some(device) = HARDWARE.get() {
        device.pet();
    }
}

pub struct Status {
    pub armed: bool,
    pub timeout_s: u64,
    pub source: Source,
    pub since_last_pet_ns: u64,
}

pub fn status() -> Status {
    Status {
        armed: ARMED.load(Ordering::Relaxed),
        timeout_s: TIMEOUT_S.load(Ordering::Relaxed),
        source: source(),
        since_last_pet_ns: time::now_ns().saturating_sub(LAST_PET_NS.load(Ordering::Relaxed)),
    }
}

fn overdue() -> bool {
    ARMED.load(Ordering::Relaxed)
        && source() == Source::Software
        && time::now_ns().saturating_sub(LAST_PET_NS.load(Ordering::Relaxed))
            > TIMEOUT_S.load(Ordering::Relaxed) * 1_000_000_000
}

/// How long the fatal path may take (report, crash record, the pause before the restart)
/// before the software watchdog restarts the machine itself: the path may be stuck on a lock
/// the dead context held.
const FATAL_PATH_LIMIT_NS: u64 = 60_000_000_000;

/// The software watchdog's check, from the timer interrupt and from the NMI.
pub fn check(frame: &InterruptFrame) {
    if let Some(dying_ns) = crate::fault::dying_for_ns() {
        if dying_ns > FATAL_PATH_LIMIT_NS && !RESCUED.swap(true, Ordering::SeqCst) {
            let mut out = crate::console::emergency_writer();
            use core::fmt::Write as _;
            let _ = writeln!(out, "\n*** WATCHDOG: the crash report did not finish; restarting now");
            crate::drivers::acpi::reboot();
        }
        return;
    }
    if overdue() && !FIRED.swap(true, Ordering::SeqCst) {
        fire(frame);
    }
}

/// On the fatal path, before the pause that keeps the report on screen: gives the hardware
/// watchdog (if armed) time for the pause, so that it does not reset the machine during it
/// and label the crash a hang. It still resets the machine if the restart itself hangs.
pub fn hold_off_for_restart(pause_ms: u64) {
    if ARMED.load(Ordering::Relaxed) {
        if let Some(device) = HARDWARE.get() {
            device.arm(pause_ms + 30_000);
        }
    }
}

fn fire(frame: &InterruptFrame) -> ! {
    arch::disable_interrupts();
    crate::fault::mark_dying();
    let since = time::now_ns().saturating_sub(LAST_PET_NS.load(Ordering::Relaxed)) / 1_000_000;
    let mut out = crate::console::emergency_writer();
    let symbol = crate::symbols::Symbolized(frame.rip);
    use core::fmt::Write as _;
    let _ = writeln!(
        out,
        "\n*** WATCHDOG: the kernel made no progress for {since} ms; it was at {:#x} <{symbol}>",
        frame.rip
    );
    let _ =
        writeln!(out, "{}", rayos_markers::WATCHDOG_FIRED.with(&[&"sw", &format_args!("{:#x}", frame.rip)]));
    let context = crate::crash::Context {
        kind: rayos_plog::CrashKind::Watchdog,
        message: format_args!(
            "software watchdog: no progress for {since} ms, the CPU was at {:#x} <{symbol}>",
            frame.rip
        ),
        frame: Some(frame),
        rbp: frame.rbp,
        rip: frame.rip,
        cr2: 0,
        error_code: 0,
    };
    crate::fault::record_crash(&mut out, &context);
    let _ = writeln!(out, "resetting the machine");
    crate::drivers::acpi::reboot()
}

/// What `debug hang` can do.
#[derive(Debug, Clone, Copy)]
pub enum Hang {
    /// Interrupts off, spin forever.
    InterruptsOff,
    /// Preemption off, interrupts on, spin forever.
    Spin,
    /// Take a spin lock twice (with interrupts off, as a real deadlock on one would be).
    Deadlock,
}

pub fn hang(kind: Hang) -> ! {
    log::warn!(target: "watchdog", "hanging the kernel on purpose ({kind:?})");
    let _ = crate::persist::flush();
    crate::console::flush_screen();
    match kind {
        Hang::InterruptsOff => {
            arch::disable_interrupts();
            loop {
                core::hint::spin_loop();
            }
        }
        Hang::Spin => {
            crate::task::disable_preemption();
            loop {
                core::hint::spin_loop();
            }
        }
        Hang::Deadlock => {
            static LOCK: crate::sync::IrqMutex<()> = crate::sync::IrqMutex::new(());
            let first = LOCK.lock();
            let second = LOCK.lock();
            drop(second);
            drop(first);
            unreachable!("a spin lock was taken twice");
        }
    }
}
