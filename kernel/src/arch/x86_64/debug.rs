//! Deliberate CPU faults for the `debug fault` command, to test the fault path. Never
//! inlined, so a fault report names the function that faulted.

/// Reads through a null pointer: a page fault (the first page is never mapped).
#[inline(never)]
pub fn page_fault() -> u64 {
    let address = core::hint::black_box(0x10usize);
    // SAFETY: deliberately faults; the fault handler stops the kernel.
    unsafe { core::ptr::read_volatile(address as *const u64) }
}

/// Reads a non-canonical address: a general-protection fault.
#[inline(never)]
pub fn general_protection() -> u64 {
    let address = core::hint::black_box(0x8000_0000_0000_0000usize);
    // SAFETY: deliberately faults; the fault handler stops the kernel.
    unsafe { core::ptr::read_volatile(address as *const u64) }
}

/// Divides by zero with the `div` instruction (Rust's own check would panic instead).
#[inline(never)]
pub fn divide_error() -> u64 {
    let divisor = core::hint::black_box(0u64);
    let quotient: u64;
    // SAFETY: deliberately raises #DE; the fault handler stops the kernel.
    unsafe {
        core::arch::asm!("div {d}", d = in(reg) divisor, inout("rax") 1u64 => quotient, inout("rdx") 0u64 => _);
    }
    quotient
}

/// Executes `ud2`: an invalid-opcode exception.
#[inline(never)]
pub fn invalid_opcode() {
    // SAFETY: deliberately raises #UD; the fault handler stops the kernel.
    unsafe { core::arch::asm!("ud2") };
}

/// Recurses until the thread's stack runs into its guard page: the #PF cannot push its frame
/// there, so it becomes a double fault on the fault stack.
#[inline(never)]
#[allow(unconditional_recursion)]
pub fn stack_overflow(depth: u64) -> u64 {
    let mut frame = [0u8; 512];
    core::hint::black_box(&mut frame);
    stack_overflow(core::hint::black_box(depth + 1)).wrapping_add(frame[depth as usize % 512] as u64)
}
