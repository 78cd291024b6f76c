//! The guest's own GDT and IDT, and probes: instructions that may fault, run with a recovery
//! address so that a fault resumes after them with its vector and error code recorded.

use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// 64-bit code selector (same layout as the loader's GDT).
pub const CODE_SELECTOR: u16 = 0x10;
/// Flat data selector.
pub const DATA_SELECTOR: u16 = 0x18;

/// null, null, 64-bit code, flat data; accessed bits preset so the CPU never writes it.
static GDT: [u64; 4] = [0, 0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF];

/// "No fault since the probe was armed."
pub const NO_FAULT: u64 = u64::MAX;

/// Where a fault resumes; 0 outside a probe. Written by probes, read by the fault handler.
#[unsafe(no_mangle)]
pub(crate) static HOSTILE_RECOVERY_RIP: AtomicU64 = AtomicU64::new(0);
/// The vector of the last fault, or [`NO_FAULT`].
#[unsafe(no_mangle)]
static HOSTILE_LAST_VECTOR: AtomicU64 = AtomicU64::new(NO_FAULT);
/// The error code of the last fault (0 for vectors without one).
#[unsafe(no_mangle)]
static HOSTILE_LAST_ERROR_CODE: AtomicU64 = AtomicU64::new(0);
/// Faults taken since start.
#[unsafe(no_mangle)]
static HOSTILE_FAULT_COUNT: AtomicU64 = AtomicU64::new(0);
/// NMIs and other interrupts taken since start (none are expected: IF stays 0).
#[unsafe(no_mangle)]
static HOSTILE_INTERRUPT_COUNT: AtomicU64 = AtomicU64::new(0);

// Fault entry stubs for vectors 0-31 (a zero is pushed where the CPU pushes no error code),
// the common handler, and the stub for NMIs and interrupts. The handler saves and restores
// every register it uses, so a probe's registers are as they were at the fault.
global_asm!(
    ".section .text.traps, \"ax\"",
    ".macro FAULT_NO_CODE vector",
    "hostile_fault_\\vector:",
    "    push 0",
    "    push \\vector",
    "    jmp hostile_fault_common",
    ".endm",
    ".macro FAULT_WITH_CODE vector",
    "hostile_fault_\\vector:",
    "    push \\vector",
    "    jmp hostile_fault_common",
    ".endm",
    ".irp vector, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31",
    "    FAULT_NO_CODE \\vector",
    ".endr",
    ".irp vector, 8,10,11,12,13,14,17,21,29,30",
    "    FAULT_WITH_CODE \\vector",
    ".endr",
    "hostile_fault_common:",
    // Stack: rax, vector, error code, RIP, CS, RFLAGS, RSP, SS.
    "    push rax",
    "    mov rax, [rsp + 8]",
    "    mov [rip + HOSTILE_LAST_VECTOR], rax",
    "    mov rax, [rsp + 16]",
    "    mov [rip + HOSTILE_LAST_ERROR_CODE], rax",
    "    add qword ptr [rip + HOSTILE_FAULT_COUNT], 1",
    "    mov rax, [rip + HOSTILE_RECOVERY_RIP]",
    "    test rax, rax",
    "    jz 3f",
    "    mov [rsp + 24], rax",
    "    pop rax",
    "    add rsp, 16",
    "    iretq",
    "3:  mov rdi, [rsp + 8]",
    "    mov rsi, [rsp + 16]",
    "    mov rdx, [rsp + 24]",
    "    and rsp, -16",
    "    call hostile_unexpected_fault",
    "4:  cli",
    "    hlt",
    "    jmp 4b",
    ".global hostile_interrupt_stub",
    "hostile_interrupt_stub:",
    "    add qword ptr [rip + HOSTILE_INTERRUPT_COUNT], 1",
    "    iretq",
    ".section .rodata.traps, \"a\"",
    ".balign 8",
    ".global HOSTILE_FAULT_STUBS",
    "HOSTILE_FAULT_STUBS:",
    ".irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    .quad hostile_fault_\\vector",
    ".endr",
);

unsafe extern "C" {
    static HOSTILE_FAULT_STUBS: [u64; 32];
    fn hostile_interrupt_stub();
}

/// A fault with no probe armed: the guest itself (or a VMM that corrupted its state) is
/// broken; say so and stop.
#[unsafe(no_mangle)]
extern "C" fn hostile_unexpected_fault(vector: u64, error_code: u64, rip: u64) -> ! {
    crate::println!("HOSTILE:UNEXPECTED_FAULT:{vector}:{error_code:#x}:{rip:#x}");
    crate::halt_forever()
}

/// The operand of lgdt/lidt.
#[repr(C, packed)]
pub struct DescriptorPointer {
    /// Size minus one.
    pub limit: u16,
    /// Linear address.
    pub base: u64,
}

/// Loads our GDT and reloads every segment register from it.
pub fn install_gdt() {
    let pointer =
        DescriptorPointer { limit: (core::mem::size_of_val(&GDT) - 1) as u16, base: GDT.as_ptr() as u64 };
    // SAFETY: the GDT is a static with the same selectors the loader used, so the far return
    // and the data-segment loads find valid descriptors; no stack memory is left changed.
    unsafe {
        asm!(
            "lgdt [{pointer}]",
            "push {code}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov {tmp:e}, {data}",
            "mov ds, {tmp:e}",
            "mov es, {tmp:e}",
            "mov ss, {tmp:e}",
            "mov fs, {tmp:e}",
            "mov gs, {tmp:e}",
            pointer = in(reg) &pointer,
            code = const CODE_SELECTOR as u64,
            data = const DATA_SELECTOR as u32,
            tmp = out(reg) _,
        );
    }
}

/// 256 gates of 16 bytes.
#[repr(C, align(16))]
struct Idt(UnsafeCell<[u64; 512]>);
// SAFETY: the guest has one vCPU and writes the table once, before loading it.
unsafe impl Sync for Idt {}
static IDT: Idt = Idt(UnsafeCell::new([0; 512]));

/// A 64-bit interrupt gate (present, DPL 0, IST 0) to `handler`.
fn gate(handler: u64) -> [u64; 2] {
    let low = (handler & 0xFFFF)
        | (u64::from(CODE_SELECTOR) << 16)
        | (0x8E << 40)
        | (((handler >> 16) & 0xFFFF) << 48);
    [low, handler >> 32]
}

/// Fills and loads the IDT: vectors 0-31 except the NMI go to the recovering fault handler,
/// the NMI and 32-255 to a stub that counts and returns.
pub fn install_idt() {
    // SAFETY: the stub table is defined in the global_asm above, 32 entries.
    let fault_stubs = unsafe { HOSTILE_FAULT_STUBS };
    let interrupt_stub = hostile_interrupt_stub as *const () as u64;
    let table = IDT.0.get();
    for vector in 0..256usize {
        let handler = match fault_stubs.get(vector) {
            Some(&stub) if vector != 2 => stub,
            _ => interrupt_stub,
        };
        let [low, high] = gate(handler);
        // SAFETY: vector < 256, so both slots lie inside the 512-entry table, which nothing
        // else references yet.
        unsafe {
            (*table)[vector * 2] = low;
            (*table)[vector * 2 + 1] = high;
        }
    }
    let pointer = DescriptorPointer { limit: 4095, base: table as u64 };
    // SAFETY: the table is complete and static.
    unsafe { asm!("lidt [{0}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) };
}

/// The IDT pointer [`install_idt`] loads, for probes that must restore it.
pub fn idt_pointer() -> DescriptorPointer {
    DescriptorPointer { limit: 4095, base: IDT.0.get() as u64 }
}

/// The GDT pointer [`install_gdt`] loads, for probes that must restore it.
pub fn gdt_pointer() -> DescriptorPointer {
    DescriptorPointer { limit: (core::mem::size_of_val(&GDT) - 1) as u16, base: GDT.as_ptr() as u64 }
}

/// Clears the record of the last fault before a probe.
pub fn arm() {
    HOSTILE_LAST_VECTOR.store(NO_FAULT, Relaxed);
    HOSTILE_LAST_ERROR_CODE.store(0, Relaxed);
}

/// What the last probe did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The vector it raised, if any.
    pub vector: Option<u8>,
    /// Its error code.
    pub error_code: u64,
}

impl Outcome {
    /// The outcome recorded since [`arm`].
    pub fn last() -> Outcome {
        let vector = HOSTILE_LAST_VECTOR.load(Relaxed);
        Outcome {
            vector: (vector != NO_FAULT).then_some(vector as u8),
            error_code: HOSTILE_LAST_ERROR_CODE.load(Relaxed),
        }
    }

    /// True when the probe faulted.
    pub fn faulted(self) -> bool {
        self.vector.is_some()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(vector) = self.vector else { return f.write_str("ok") };
        let name = match vector {
            0 => "#DE",
            1 => "#DB",
            3 => "#BP",
            4 => "#OF",
            5 => "#BR",
            6 => "#UD",
            7 => "#NM",
            8 => "#DF",
            10 => "#TS",
            11 => "#NP",
            12 => "#SS",
            13 => "#GP",
            14 => "#PF",
            16 => "#MF",
            17 => "#AC",
            18 => "#MC",
            19 => "#XM",
            _ => return write!(f, "vector{vector}"),
        };
        match vector {
            8 | 10..=14 | 17 | 21 | 29 | 30 => write!(f, "{name}:{:#x}", self.error_code),
            _ => f.write_str(name),
        }
    }
}

/// Faults taken since start.
pub fn fault_count() -> u64 {
    HOSTILE_FAULT_COUNT.load(Relaxed)
}

/// Interrupts (NMIs included) taken since start.
pub fn interrupt_count() -> u64 {
    HOSTILE_INTERRUPT_COUNT.load(Relaxed)
}

/// Runs assembly that may fault, inside an `unsafe` block of the caller's: the recovery
/// address is the end of the block, so a fault resumes there with registers as they were at
/// the fault. The templates must not use label `2`, must leave RSP as they found it when they
/// complete, and must not fault with RSP changed (or restore it after label `2` themselves,
/// which this macro does not allow: write such probes by hand).
#[macro_export]
macro_rules! probe {
    ([$($template:literal),+ $(,)?] $(, $($operands:tt)*)?) => {{
        $crate::traps::arm();
        core::arch::asm!(
            "lea {recovery_rip}, [rip + 2f]",
            "mov [rip + {recovery}], {recovery_rip}",
            $($template,)+
            "2:",
            "mov qword ptr [rip + {recovery}], 0",
            recovery = sym $crate::traps::RECOVERY_RIP,
            recovery_rip = out(reg) _,
            $($($operands)*)?
        );
        $crate::traps::Outcome::last()
    }};
}

/// The recovery address, under a name the `probe!` macro can reach.
pub(crate) use self::HOSTILE_RECOVERY_RIP as RECOVERY_RIP;
