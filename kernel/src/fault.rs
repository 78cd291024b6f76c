//! What happens when the kernel cannot go on: CPU exceptions and Rust panics.
//!
//! Both print a report on every console (the console lock is broken if a dead context held
//! it): what happened, the registers, a backtrace with symbol names, and the marker
//! `RAYOS_PANIC:<kind>:<rip>`. Then the CPU halts.

use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::{self, InterruptFrame};
use crate::console;
use crate::symbols::{walk_frames, Symbolized};

const MAX_BACKTRACE_FRAMES: usize = 32;

/// Set once a fatal report has started: a fault inside the report must not recurse.
static DYING: AtomicBool = AtomicBool::new(false);
/// When the fatal path started ([`crate::time::now_ns`]).
static DYING_SINCE_NS: AtomicU64 = AtomicU64::new(0);

/// How long a crashed kernel shows its report before restarting the machine.
const RESTART_DELAY_NS: u64 = 10_000_000_000;

/// Whether the kernel is on its fatal path.
pub fn is_dying() -> bool {
    DYING.load(Ordering::SeqCst)
}

/// Enters the fatal path (for the watchdog, which reports on its own).
pub fn mark_dying() {
    begin_dying();
}

/// Enters the fatal path; returns whether it had already been entered.
fn begin_dying() -> bool {
    let already = DYING.swap(true, Ordering::SeqCst);
    if !already {
        DYING_SINCE_NS.store(crate::time::now_ns(), Ordering::SeqCst);
    }
    already
}

/// How long the fatal path has been running, if it has started.
pub fn dying_for_ns() -> Option<u64> {
    is_dying().then(|| crate::time::now_ns().saturating_sub(DYING_SINCE_NS.load(Ordering::SeqCst)))
}

/// Writes the crash record and says on the console whether it worked.
pub fn record_crash(out: &mut console::EmergencyWriter, context: &crate::crash::Context<'_>) {
    match crate::crash::record(context) {
        Ok(written) => {
            let _ = writeln!(
                out,
                "crash record #{} written to RAYOS-DATA (slot {})",
                written.crash_seq, written.slot
            );
            let _ =
                writeln!(out, "{}", rayos_markers::CRASH_RECORDED.with(&[&context.kind, &written.crash_seq]));
        }
        Err(why) => {
            let _ = writeln!(out, "no crash record: {why}");
            let _ = writeln!(out, "{}", rayos_markers::CRASH_NOT_RECORDED.with(&[&why]));
        }
    }
}

/// After a fatal report: the crash record, then a restart after a pause (the watchdog would
/// restart a halted machine anyway; doing it here keeps the report on screen for a while).
fn record_and_restart(out: &mut console::EmergencyWriter, context: &crate::crash::Context<'_>) -> ! {
    record_crash(out, context);
    let _ = writeln!(out, "RayOS will restart in {} seconds.", RESTART_DELAY_NS / 1_000_000_000);
    crate::watchdog::hold_off_for_restart(RESTART_DELAY_NS / 1_000_000);
    crate::time::busy_wait_ns(RESTART_DELAY_NS);
    crate::drivers::acpi::reboot()
}

fn crash_kind(vector: u64) -> rayos_plog::CrashKind {
    use rayos_plog::CrashKind;
    match vector {
        0 => CrashKind::DivideError,
        6 => CrashKind::InvalidOpcode,
        8 => CrashKind::DoubleFault,
        12 => CrashKind::StackFault,
        13 => CrashKind::GeneralProtection,
        14 => CrashKind::PageFault,
        18 => CrashKind::MachineCheck,
        v => CrashKind::Exception(v as u8),
    }
}

/// The marker name and description of an exception vector.
pub fn exception_kind(vector: u64) -> (&'static str, &'static str) {
    match vector {
        0 => ("DIVIDE_ERROR", "divide error"),
        1 => ("DEBUG", "debug exception"),
        2 => ("NMI", "non-maskable interrupt"),
        3 => ("BREAKPOINT", "breakpoint"),
        4 => ("OVERFLOW", "overflow"),
        5 => ("BOUND_RANGE", "bound range exceeded"),
        6 => ("INVALID_OPCODE", "invalid opcode"),
        7 => ("DEVICE_NOT_AVAILABLE", "device not available"),
        8 => ("DOUBLE_FAULT", "double fault"),
        10 => ("INVALID_TSS", "invalid TSS"),
        11 => ("SEGMENT_NOT_PRESENT", "segment not present"),
        12 => ("STACK_SEGMENT_FAULT", "stack-segment fault"),
        13 => ("GENERAL_PROTECTION", "general-protection fault"),
        14 => ("PAGE_FAULT", "page fault"),
        16 => ("X87_FLOATING_POINT", "x87 floating-point error"),
        17 => ("ALIGNMENT_CHECK", "alignment check"),
        18 => ("MACHINE_CHECK", "machine check"),
        19 => ("SIMD_FLOATING_POINT", "SIMD floating-point exception"),
        20 => ("VIRTUALIZATION", "virtualization exception"),
        21 => ("CONTROL_PROTECTION", "control-protection exception"),
        30 => ("SECURITY", "security exception"),
        _ => ("RESERVED_EXCEPTION", "reserved exception"),
    }
}

/// Handles CPU exception `frame.vector`. NMIs go to the watchdog; every other exception is
/// fatal for now.
pub fn cpu_exception(frame: &mut InterruptFrame) {
    if frame.vector == 2 {
        crate::watchdog::check(frame);
        return;
    }
    if begin_dying() {
        arch::halt_forever();
    }
    let (kind, description) = exception_kind(frame.vector);
    let mut out = console::emergency_writer();
    let _ = write!(out, "\n*** KERNEL FAULT: {description} (vector {}) in thread \"", frame.vector);
    crate::task::current_name(&mut |name| {
        let _ = out.write_str(name);
    });
    let _ = writeln!(out, "\"");
    // A thread that overflows into its guard page takes a #PF it cannot push a frame for, so it
    // arrives as a #DF (on its own stack); CR2 still holds the faulting address then.
    let cr2 = matches!(frame.vector, 8 | 14).then(arch::read_cr2);
    if let Some(cr2) = cr2 {
        if frame.vector == 14 {
            let e = frame.error_code;
            let _ = writeln!(
                out,
                "    cr2 {cr2:#018x}  ({} {} in {} mode{})",
                if e & 1 != 0 { "protection violation on" } else { "not-present page on" },
                if e & 16 != 0 {
                    "instruction fetch"
                } else if e & 2 != 0 {
                    "write"
                } else {
                    "read"
                },
                if e & 4 != 0 { "user" } else { "kernel" },
                if e & 8 != 0 { ", reserved bit set" } else { "" },
            );
        } else {
            let _ = writeln!(out, "    cr2 {cr2:#018x}  (the last page fault's address)");
        }
        if crate::task::is_current_stack_guard(cr2) || crate::mm::map::is_stack_guard(cr2) {
            let _ = writeln!(out, "    the address is a stack guard page: this thread overflowed its stack");
        } else if cr2 < 4096 && frame.vector == 14 {
            let _ = writeln!(out, "    the address is in the first page: a null pointer was followed");
        }
    }
    report_frame(&mut out, frame);
    let _ = writeln!(out, "{}", rayos_markers::PANIC.with(&[&kind, &format_args!("{:#x}", frame.rip)]));
    let context = crate::crash::Context {
        kind: crash_kind(frame.vector),
        message: format_args!("{description} (vector {}, error code {:#x})", frame.vector, frame.error_code),
        frame: Some(frame),
        rbp: frame.rbp,
        rip: frame.rip,
        cr2: cr2.unwrap_or(0),
        error_code: frame.error_code,
    };
    record_and_restart(&mut out, &context)
}

fn report_frame(out: &mut console::EmergencyWriter, f: &InterruptFrame) {
    let _ = writeln!(out, "    error code {:#x}", f.error_code);
    let _ = writeln!(out, "    rip {:#018x}  <{}>", f.rip, Symbolized(f.rip));
    let _ = writeln!(
        out,
        "    cs {:#06x}  ss {:#06x}  rflags {:#010x}  rsp {:#018x}",
        f.cs, f.ss, f.rflags, f.rsp
    );
    let registers = [
        ("rax", f.rax),
        ("rbx", f.rbx),
        ("rcx", f.rcx),
        ("rdx", f.rdx),
        ("rsi", f.rsi),
        ("rdi", f.rdi),
        ("rbp", f.rbp),
        ("r8 ", f.r8),
        ("r9 ", f.r9),
        ("r10", f.r10),
        ("r11", f.r11),
        ("r12", f.r12),
        ("r13", f.r13),
        ("r14", f.r14),
        ("r15", f.r15),
    ];
    for row in registers.chunks(4) {
        let _ = write!(out, "   ");
        for (name, value) in row {
            let _ = write!(out, " {name} {value:#018x}");
        }
        let _ = writeln!(out);
    }
    let cr3 = ::x86_64::registers::control::Cr3::read_raw().0.start_address().as_u64();
    let _ = writeln!(out, "    cr2 {:#018x}  cr3 {cr3:#018x}", arch::read_cr2());
    let _ = writeln!(out, "backtrace:");
    let _ = writeln!(out, "    #0  {:#018x} {}", f.rip, Symbolized(f.rip));
    let mut depth = 1;
    walk_frames(f.rbp, MAX_BACKTRACE_FRAMES, |return_address| {
        // The call instruction is just before the return address.
        let _ = writeln!(out, "    #{depth:<2} {return_address:#018x} {}", Symbolized(return_address - 1));
        depth += 1;
    });
}

/// The Rust panic handler: report and halt.
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    arch::disable_interrupts();
    if begin_dying() {
        arch::halt_forever();
    }
    let mut out = console::emergency_writer();
    let _ = write!(out, "\n*** KERNEL PANIC in thread \"");
    crate::task::current_name(&mut |name| {
        let _ = out.write_str(name);
    });
    let _ = writeln!(out, "\": {}", info.message());
    if let Some(location) = info.location() {
        let _ = writeln!(out, "    at {}:{}:{}", location.file(), location.line(), location.column());
    }
    let rbp: u64;
    // SAFETY: reads the frame pointer register only.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp) };
    let _ = writeln!(out, "backtrace:");
    let mut first_return = 0;
    let mut depth = 0;
    walk_frames(rbp, MAX_BACKTRACE_FRAMES, |return_address| {
        if first_return == 0 {
            first_return = return_address;
        }
        let _ = writeln!(out, "    #{depth:<2} {return_address:#018x} {}", Symbolized(return_address - 1));
        depth += 1;
    });
    let _ = writeln!(out, "{}", rayos_markers::PANIC.with(&[&"PANIC", &format_args!("{first_return:#x}")]));
    let location = info.location();
    let context = crate::crash::Context {
        kind: rayos_plog::CrashKind::Panic,
        message: format_args!(
            "{} (at {}:{})",
            info.message(),
            location.map_or("?", |l| l.file()),
            location.map_or(0, |l| l.line())
        ),
        frame: None,
        rbp,
        rip: first_return,
        cr2: 0,
        error_code: 0,
    };
    record_and_restart(&mut out, &context)
}
