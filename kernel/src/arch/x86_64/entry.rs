//! The kernel's first instructions.
//!
//! The loader jumps here with the kernel's page tables active, interrupts off, `rdi` = the
//! boot information (direct-map address) and `rsp` = the top of the boot stack. SSE must be
//! switched on before the first line of Rust, which may use SSE registers.

core::arch::global_asm!(
    r#"
.section .text.entry, "ax"
.global kernel_entry
kernel_entry:
    mov rax, cr0
    and rax, ~(1 << 2)                  # EM: no FPU emulation
    or  rax, (1 << 1) | (1 << 5) | (1 << 16)  # MP, NE (native FPU errors), WP
    mov cr0, rax
    mov rax, cr4
    or  rax, (1 << 9) | (1 << 10)       # OSFXSR, OSXMMEXCPT: SSE and its exceptions
    mov cr4, rax
    fninit
    and rsp, -16
    xor ebp, ebp                        # the end of every backtrace
    call kernel_main
2:  cli
    hlt
    jmp 2b
"#
);
