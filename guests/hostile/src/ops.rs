//! Case `ops`: invalid, privileged and virtualization instructions, one probe each, ending with
//! `hlt` with interrupts off.
//!
//! Each probe prints `HOSTILE:ops:<name>:<outcome>`, where the outcome is the exception the
//! guest received (`#UD`, `#GP:0x0`, ...) or `ok`. On real AMD hardware with SVM hidden from
//! the guest, the SVM instructions must give #UD, the reserved-bit writes #GP. Probes that
//! would wreck the guest if a VMM wrongly accepted them come last, each followed by a restore.

use core::arch::asm;
use core::cell::UnsafeCell;

use crate::traps::{fault_count, gdt_pointer, idt_pointer, interrupt_count, DescriptorPointer, Outcome};
use crate::{halt_forever, println, probe};

const MSR_EFER: u32 = 0xC000_0080;
const EFER_SCE: u64 = 1 << 0;
const EFER_LME: u64 = 1 << 8;
const EFER_SVME: u64 = 1 << 12;
const MSR_X2APIC_ICR: u32 = 0x830;
/// ICR: delivery mode NMI, destination shorthand "self".
const ICR_SELF_NMI: u64 = (0b100 << 8) | (0b01 << 18);
const CR0_NW: u64 = 1 << 29;
const CR0_PG: u64 = 1 << 31;
const CR4_LA57: u64 = 1 << 12;
const CR4_VMXE: u64 = 1 << 13;
const CR4_OSXSAVE: u64 = 1 << 18;
/// How long `clgi` holds GIF clear if a VMM lets it through: long enough to show on the host.
const CLGI_SPIN_ITERATIONS: u64 = 20_000_000;

/// A page-aligned scratch buffer for instructions that take a physical address (vmrun,
/// vmload, vmsave, monitor, skinit): if a VMM lets one through, it touches only this.
#[repr(C, align(4096))]
struct Scratch(UnsafeCell<[u8; 8192]>);
// SAFETY: the guest has one vCPU; Rust never reads or writes the buffer, only probes name it.
unsafe impl Sync for Scratch {}
static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; 8192]));

fn report(name: &str, outcome: Outcome) {
    println!("HOSTILE:ops:{name}:{outcome}");
}

fn read_msr(msr: u32) -> Option<u64> {
    let (low, high): (u32, u32);
    // SAFETY: rdmsr only writes edx:eax; a #GP resumes after it.
    let outcome = unsafe { probe!(["rdmsr"], in("ecx") msr, out("eax") low, out("edx") high) };
    (!outcome.faulted()).then_some(u64::from(high) << 32 | u64::from(low))
}

fn write_msr(msr: u32, value: u64) -> Outcome {
    // SAFETY: callers write values whose effect they restore or that the CPU must refuse.
    unsafe { probe!(["wrmsr"], in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32) }
}

fn read_cr0() -> u64 {
    let value;
    // SAFETY: reading CR0 has no effect.
    unsafe { asm!("mov {0}, cr0", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

fn read_cr3() -> u64 {
    let value;
    // SAFETY: reading CR3 has no effect.
    unsafe { asm!("mov {0}, cr3", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

fn read_cr4() -> u64 {
    let value;
    // SAFETY: reading CR4 has no effect.
    unsafe { asm!("mov {0}, cr4", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

fn try_write_cr0(value: u64) -> Outcome {
    // SAFETY: callers pass values the CPU must refuse, and restore CR0 if it did not.
    unsafe { probe!(["mov cr0, {value}"], value = in(reg) value) }
}

fn try_write_cr4(value: u64) -> Outcome {
    // SAFETY: as for try_write_cr0.
    unsafe { probe!(["mov cr4, {value}"], value = in(reg) value) }
}

pub fn run() -> ! {
    println!("HOSTILE:ops:START");
    let scratch = SCRATCH.0.get() as u64;
    invalid_opcodes();
    data_breakpoint();
    svm_instructions(scratch);
    other_privileged(scratch);
    descriptor_tables();
    control_registers();
    efer_bits();
    self_nmi();

    // Last the probes that leave the guest unable to continue if a VMM wrongly accepts them.
    let cr0 = read_cr0();
    let outcome = try_write_cr0(cr0 & !CR0_PG);
    report("cr0_clear_pg_in_long_mode", outcome);
    let cr3 = read_cr3();
    // SAFETY: CR3 with a reserved bit must be refused; if not, the tables are the same.
    let outcome = unsafe { probe!(["mov cr3, {value}"], value = in(reg) cr3 | 1 << 63) };
    report("cr3_reserved_bit63", outcome);
    // SAFETY: vmload with the zeroed scratch page; if a VMM lets it run, it loads null FS, GS,
    // TR and LDTR, which this guest (ring 0 only, no IST) does not use.
    let outcome = unsafe { probe!([".byte 0x0f, 0x01, 0xda"], in("rax") scratch) };
    report("vmload", outcome);
    // SAFETY: clgi must give #UD; if a VMM lets it through, GIF stays clear for the spin and
    // stgi sets it again.
    let outcome = unsafe {
        probe!(
            [".byte 0x0f, 0x01, 0xdd", "3:", "pause", "dec {count}", "jnz 3b", ".byte 0x0f, 0x01, 0xdc"],
            count = inout(reg) CLGI_SPIN_ITERATIONS => _,
        )
    };
    report("clgi_spin_stgi", outcome);

    println!("HOSTILE:ops:END:faults={}:interrupts={}", fault_count(), interrupt_count());
    println!("HOSTILE:ops:HLT");
    halt_forever()
}

fn invalid_opcodes() {
    // SAFETY: invalid and undefined opcodes change nothing; breakpoints and int 0x80 go to
    // handlers that return; syscall/sysret run only with EFER.SCE clear, where they raise #UD;
    // each fault resumes after its probe.
    unsafe {
        report("ud2", probe!(["ud2"]));
        report("ud0", probe!([".byte 0x0f, 0xff, 0xc0"]));
        report("ud1", probe!([".byte 0x0f, 0xb9, 0xc0"]));
        report("push_es_in_64bit", probe!([".byte 0x06"]));
        report("into_in_64bit", probe!([".byte 0xce"]));
        report("lock_nop", probe!([".byte 0xf0, 0x90"]));
        report("mov_from_cr1", probe!([".byte 0x0f, 0x20, 0xc8"], out("rax") _));
        report("rsm_outside_smm", probe!([".byte 0x0f, 0xaa"]));
        // 15 operand-size prefixes + nop = 16 bytes, one more than an instruction may have: #GP.
        report(
            "instruction_too_long",
            probe!([".byte 0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x90"]),
        );
        report("int3", probe!(["int3"]));
        report("icebp", probe!([".byte 0xf1"]));
        report("int_0x80", probe!(["int 0x80"]));
        report("vmcall_intel", probe!([".byte 0x0f, 0x01, 0xc1"]));
        let efer = read_msr(MSR_EFER).unwrap_or(0);
        if efer & EFER_SCE == 0 {
            // With EFER.SCE clear both raise #UD; with it set they would leave ring 0 for good.
            report("syscall_without_sce", probe!(["syscall"], out("rcx") _, out("r11") _));
            report("sysret_without_sce", probe!(["sysretq"], out("rcx") _, out("r11") _));
        } else {
            println!("HOSTILE:ops:syscall_without_sce:skipped_sce_set");
        }
    }
}

fn svm_instructions(scratch: u64) {
    // SAFETY: the SVM instructions must raise #UD in a guest that is told it
    // has no SVM; the address operands name the scratch page, so one that a VMM lets through
    // touches nothing else (vmrun would need a valid VMCB there, which zeroes are not).
    unsafe {
        report("vmrun", probe!([".byte 0x0f, 0x01, 0xd8"], in("rax") scratch));
        report("vmmcall", probe!([".byte 0x0f, 0x01, 0xd9"], inout("rax") 0xFFFF_FFFFu64 => _));
        report("vmsave", probe!([".byte 0x0f, 0x01, 0xdb"], in("rax") scratch));
        report("stgi", probe!([".byte 0x0f, 0x01, 0xdc"]));
        report("invlpga", probe!([".byte 0x0f, 0x01, 0xdf"], in("rax") 0u64, in("ecx") 0u32));
        report("skinit", probe!([".byte 0x0f, 0x01, 0xde"], in("eax") scratch as u32));
    }
}

fn other_privileged(scratch: u64) {
    // SAFETY: each instruction either faults (resuming after it) or has only
    // the architectural effect noted; the registers it writes are declared.
    // monitor on the scratch page, then mwait: hidden by CPUID, so #UD; if let through,
    // mwait returns on the next interrupt or store.
    unsafe {
        report(
            "monitor",
            probe!([".byte 0x0f, 0x01, 0xc8"], in("rax") scratch, in("ecx") 0u32, in("edx") 0u32),
        );
        report("mwait", probe!([".byte 0x0f, 0x01, 0xc9"], in("eax") 0u32, in("ecx") 0u32));
        report(
            "monitorx",
            probe!([".byte 0x0f, 0x01, 0xfa"], in("rax") scratch, in("ecx") 0u32, in("edx") 0u32),
        );
        report("mwaitx", probe!([".byte 0x0f, 0x01, 0xfb"], in("eax") 0u32, in("ecx") 0u32));
        // XSAVE is hidden and CR4.OSXSAVE clear: #UD.
        report("xgetbv", probe!([".byte 0x0f, 0x01, 0xd0"], in("ecx") 0u32, out("eax") _, out("edx") _));
        report("xsetbv", probe!([".byte 0x0f, 0x01, 0xd1"], in("ecx") 0u32, in("eax") 7u32, in("edx") 0u32));
        // RDTSCP is hidden: a VMM that does not intercept it leaks the host's TSC_AUX.
        report("rdtscp", probe!([".byte 0x0f, 0x01, 0xf9"], out("eax") _, out("edx") _, out("ecx") _));
        report("rdpmc_bad_counter", probe!(["rdpmc"], in("ecx") 0xFFFFu32, out("eax") _, out("edx") _));
        // INVD would throw away dirty cache lines of the host if not intercepted.
        report("invd", probe!([".byte 0x0f, 0x08"]));
        report("wbinvd", probe!(["wbinvd"]));
        report("invpcid", probe!([".byte 0x66, 0x0f, 0x38, 0x82, 0x06"], in("rax") 2u64, in("rsi") scratch));
        report("invlpg_noncanonical", probe!(["invlpg [{va}]"], va = in(reg) 0x8000_0000_0000_0000u64));
        report("swapgs_twice", probe!(["swapgs", "swapgs"]));
        report(
            "cpuid_0x400000ff",
            probe!(["mov {saved}, rbx", "cpuid", "mov rbx, {saved}"], saved = out(reg) _, inout("eax") 0x4000_00FFu32 => _, inout("ecx") 0u32 => _, out("edx") _),
        );
        report(
            "cpuid_0xffffffff",
            probe!(["mov {saved}, rbx", "cpuid", "mov rbx, {saved}"], saved = out(reg) _, inout("eax") 0xFFFF_FFFFu32 => _, inout("ecx") 0u32 => _, out("edx") _),
        );
    }
}

fn descriptor_tables() {
    let good_gdt = gdt_pointer();
    let good_idt = idt_pointer();
    let noncanonical = DescriptorPointer { limit: 0x17, base: 0x8000_0000_0000_0000 };
    let garbage = DescriptorPointer { limit: 0xFFFF, base: 0x1234_5000 };
    // SAFETY: a non-canonical base must raise #GP; a canonical garbage table is
    // replaced by the good one in the next instruction, before anything can use it (interrupts
    // are off and nothing faults in between). Selectors beyond the GDT limit raise #GP.
    unsafe {
        report(
            "lgdt_noncanonical",
            probe!(["lgdt [{bad}]", "lgdt [{good}]"], bad = in(reg) &noncanonical, good = in(reg) &good_gdt),
        );
        report(
            "lgdt_garbage_then_restore",
            probe!(["lgdt [{bad}]", "lgdt [{good}]"], bad = in(reg) &garbage, good = in(reg) &good_gdt),
        );
        report(
            "lidt_noncanonical",
            probe!(["lidt [{bad}]", "lidt [{good}]"], bad = in(reg) &noncanonical, good = in(reg) &good_idt),
        );
        report(
            "lidt_garbage_then_restore",
            probe!(["lidt [{bad}]", "lidt [{good}]"], bad = in(reg) &garbage, good = in(reg) &good_idt),
        );
        report("ltr_beyond_gdt", probe!(["ltr {selector:x}"], selector = in(reg) 0x48u16));
        report("lldt_beyond_gdt", probe!(["lldt {selector:x}"], selector = in(reg) 0x50u16));
        report("mov_ss_garbage", probe!(["mov ss, {selector:x}"], selector = in(reg) 0x1234u16));
    }
    // iretq to a code selector beyond the GDT: #GP with the frame still on the stack, so RSP is
    // saved and restored by hand around the probe.
    // SAFETY: the frame is built on the current stack and RSP is restored from a register
    // that the fault handler preserves, whether iretq faults or not.
    let outcome = unsafe {
        crate::traps::arm();
        asm!(
            "lea {tmp}, [rip + 2f]",
            "mov [rip + {recovery}], {tmp}",
            "mov {saved}, rsp",
            "push 0x18",
            "push {saved}",
            "pushfq",
            "push 0x33",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "iretq",
            "2:",
            "mov rsp, {saved}",
            "mov qword ptr [rip + {recovery}], 0",
            recovery = sym crate::traps::RECOVERY_RIP,
            tmp = out(reg) _,
            saved = out(reg) _,
        );
        Outcome::last()
    };
    report("iretq_bad_cs", outcome);
}

fn control_registers() {
    let cr0 = read_cr0();
    let cr4 = read_cr4();
    for (name, value) in [("cr0_nw_without_cd", cr0 | CR0_NW), ("cr0_reserved_bit32", cr0 | 1 << 32)] {
        let outcome = try_write_cr0(value);
        report(name, outcome);
        if !outcome.faulted() {
            try_write_cr0(cr0);
        }
    }
    for (name, value) in [
        ("cr4_reserved_bit63", cr4 | 1 << 63),
        ("cr4_vmxe_on_amd", cr4 | CR4_VMXE),
        ("cr4_osxsave_hidden", cr4 | CR4_OSXSAVE),
        ("cr4_toggle_la57", cr4 ^ CR4_LA57),
    ] {
        let outcome = try_write_cr4(value);
        report(name, outcome);
        if !outcome.faulted() {
            try_write_cr4(cr4);
        }
    }
    // SAFETY: CR8 bits 63:4 are reserved: #GP. If accepted, TPR is ignored with IF clear.
    report("cr8_reserved", unsafe { probe!(["mov cr8, {value}"], value = in(reg) 0x10u64) });
    // SAFETY: DR7 bits 63:32 are reserved: #GP. If accepted, no breakpoint is enabled.
    report("dr7_reserved", unsafe { probe!(["mov dr7, {value}"], value = in(reg) 1u64 << 32) });
    // SAFETY: DR6 bits 63:32 are reserved: #GP. DR6 is only status.
    report("dr6_reserved", unsafe { probe!(["mov dr6, {value}"], value = in(reg) 1u64 << 32) });
}

fn efer_bits() {
    let Some(efer) = read_msr(MSR_EFER) else {
        println!("HOSTILE:ops:efer_read:#GP");
        return;
    };
    println!("HOSTILE:ops:EFER:{efer:#x}");
    for (name, value) in [
        ("efer_reserved_bit63", efer | 1 << 63),
        ("efer_reserved_bit3", efer | 1 << 3),
        ("efer_svme_hidden", efer | EFER_SVME),
        ("efer_clear_lme_in_long_mode", efer & !EFER_LME),
    ] {
        let outcome = write_msr(MSR_EFER, value);
        report(name, outcome);
        if !outcome.faulted() {
            write_msr(MSR_EFER, efer);
        }
    }
}

/// A self-NMI through the x2APIC ICR: the NMI stub counts it and returns.
fn self_nmi() {
    let before = interrupt_count();
    let outcome = write_msr(MSR_X2APIC_ICR, ICR_SELF_NMI);
    report("x2apic_self_nmi", outcome);
    println!("HOSTILE:ops:x2apic_self_nmi:interrupts_taken={}", interrupt_count() - before);
}

/// A data breakpoint (DR0/DR7) on a variable, then a write to it: the guest must receive #DB
/// (RayOS intercepts #DB so that its delivery cannot loop inside the CPU, and gives it back).
fn data_breakpoint() {
    static TARGET: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
    /// L0 = 1, R/W0 = 01 (data writes), LEN0 = 11 (4 bytes).
    const DR7_L0_WRITE_4: u64 = 1 | 0b01 << 16 | 0b11 << 18;
    let address = TARGET.as_ptr() as u64;
    // SAFETY: DR0/DR7 only arm a breakpoint on TARGET; the write is to TARGET itself; the
    // #DB trap resumes after the probe, and DR7 is cleared right after either way.
    let outcome = unsafe {
        asm!("mov dr0, {0}", in(reg) address, options(nostack));
        asm!("mov dr7, {0}", in(reg) DR7_L0_WRITE_4, options(nostack));
        let outcome = probe!(["mov dword ptr [{target}], 1", "nop"], target = in(reg) address);
        asm!("mov dr7, {0}", in(reg) 0x400u64, options(nostack));
        outcome
    };
    report("data_breakpoint", outcome);
}
