//! Interrupt entry, the saved CPU state, and dispatch.
//!
//! Every vector enters through the same path: the stub pushes the vector (and a zero error
//! code where the CPU pushes none), `isr_common` pushes the general-purpose registers and the
//! FPU/SSE state (`fxsave`), and calls [`interrupt_dispatch`] with a pointer to that
//! [`InterruptFrame`]. Dispatch returns the frame to resume, which may belong to another
//! thread: that is how the scheduler switches threads (see `task`). Because the FPU/SSE state
//! is part of every frame, it is correct across interrupts and thread switches without lazy
//! switching.
//!
//! # Invariants
//! - Handlers run with interrupts disabled and are never nested (except for exceptions
//!   raised by a handler itself, which are fatal).
//! - A handler registered for a device vector must acknowledge its device; dispatch sends the
//!   local APIC end-of-interrupt for every vector at or above [`FIRST_DEVICE_VECTOR`] except
//!   the spurious vector.

use core::sync::atomic::{AtomicU64, Ordering};

use super::apic;

/// The CPU state saved on interrupt entry, in stack order (lowest address first).
#[repr(C, align(16))]
pub struct InterruptFrame {
    /// `fxsave` image: x87, MMX and SSE state.
    pub fx_state: [u8; 512],
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// The FXSAVE image of a freshly reset FPU: x87 control word 0x037F (defaults), MXCSR 0x1F80
/// (every SIMD exception masked), everything else zero. New threads and new vCPUs start with it.
pub const INITIAL_FX_STATE: [u8; 512] = {
    let mut image = [0u8; 512];
    image[0] = 0x7F;
    image[1] = 0x03;
    image[24] = 0x80;
    image[25] = 0x1F;
    image
};

impl InterruptFrame {
    /// A frame that starts a new kernel thread at `entry(argument)` on a fresh stack.
    pub fn new_thread(entry: extern "C" fn(u64) -> !, argument: u64, stack_top: u64) -> InterruptFrame {
        let selectors = super::gdt::selectors();
        InterruptFrame {
            fx_state: INITIAL_FX_STATE,
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rbp: 0,
            rdi: argument,
            rsi: 0,
            rdx: 0,
            rcx: 0,
            rbx: 0,
            rax: 0,
            vector: 0,
            error_code: 0,
            rip: entry as usize as u64,
            cs: selectors.kernel_code.0 as u64,
            rflags: 0x202, // IF set
            // As if `entry` had been called: rsp+8 is 16-byte aligned.
            rsp: (stack_top & !15) - 8,
            ss: selectors.kernel_data.0 as u64,
        }
    }
}

pub mod vectors {
    pub const NMI: u64 = 2;
    pub const LAST_EXCEPTION: u64 = 31;
    pub const TIMER: u8 = 0x20;
    pub const KEYBOARD: u8 = 0x21;
    pub const SERIAL: u8 = 0x24;
    /// Software interrupt a thread raises to give up the CPU.
    pub const YIELD: u8 = 0x81;
    /// The 8259 PICs are remapped here and fully masked.
    pub const LEGACY_PIC_BASE: u8 = 0xE0;
    pub const SPURIOUS: u8 = 0xFF;
}

/// Vectors below this are CPU exceptions (and the unused range up to 31).
pub const FIRST_DEVICE_VECTOR: u64 = 32;

core::arch::global_asm!(include_str!(concat!(env!("OUT_DIR"), "/isr_stubs.s")));

core::arch::global_asm!(
    r#"
.section .text.isr_common, "ax"
.global isr_common
isr_common:
    cld
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    sub rsp, 512
    fxsave64 [rsp]
    mov rdi, rsp
    call interrupt_dispatch
    mov rsp, rax
    fxrstor64 [rsp]
    add rsp, 512
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq
"#
);

type Handler = fn(&mut InterruptFrame);

/// Device handlers by vector (index = vector - 32), as function addresses (0 = none).
static HANDLERS: [AtomicU64; 224] = [const { AtomicU64::new(0) }; 224];
/// How many times each vector fired.
static COUNTS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];

/// Installs `handler` for device vector `vector` (>= 32).
pub fn register(vector: u8, handler: Handler) {
    assert!(vector as u64 >= FIRST_DEVICE_VECTOR);
    HANDLERS[vector as usize - 32].store(handler as usize as u64, Ordering::Release);
}

/// How many times `vector` has fired since boot.
pub fn count(vector: u8) -> u64 {
    COUNTS[vector as usize].load(Ordering::Relaxed)
}

#[unsafe(no_mangle)]
extern "C" fn interrupt_dispatch(frame: &mut InterruptFrame) -> *mut InterruptFrame {
    let vector = frame.vector;
    COUNTS[(vector & 0xFF) as usize].fetch_add(1, Ordering::Relaxed);
    if vector == vectors::NMI {
        // NMIs run on their own stack and may interrupt anything: never switch threads here.
        crate::fault::cpu_exception(frame);
        return frame;
    }
    if vector <= vectors::LAST_EXCEPTION {
        crate::fault::cpu_exception(frame);
    } else if vector == vectors::SPURIOUS as u64 {
        // Spurious interrupts get no end-of-interrupt.
    } else {
        let handler = HANDLERS[(vector - 32) as usize].load(Ordering::Acquire);
        if handler != 0 {
            // SAFETY: only `register` stores into HANDLERS, always a `Handler` function address.
            let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(handler as usize) };
            handler(frame);
        }
        if vector != vectors::YIELD as u64
            && !(vectors::LEGACY_PIC_BASE as u64..vectors::LEGACY_PIC_BASE as u64 + 16).contains(&vector)
        {
            apic::end_of_interrupt();
        }
    }
    crate::task::switch_point(frame)
}

/// Whether interrupts are enabled on this CPU.
pub fn are_enabled() -> bool {
    ::x86_64::instructions::interrupts::are_enabled()
}

pub fn enable() {
    ::x86_64::instructions::interrupts::enable();
}

pub fn disable() {
    ::x86_64::instructions::interrupts::disable();
}

/// Runs `f` with interrupts disabled, restoring the previous state afterwards.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    ::x86_64::instructions::interrupts::without_interrupts(f)
}

/// Gives up the CPU: the scheduler picks the next thread (possibly this one).
pub fn raise_yield() {
    // SAFETY: the YIELD vector's gate exists; the software interrupt saves and restores the
    // full state like any other interrupt.
    unsafe { core::arch::asm!("int 0x81") };
}
