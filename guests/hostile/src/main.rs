//! RayOS's hostile test guest: a tiny bare-metal x86_64 program that attacks the hypervisor
//! from inside a VM, so that the VMM's refusals can be tested against a real guest.
//!
//! RayOS loads it with `rayos_vmm::elf_guest::load` (registered as guest `hostile`, started
//! with `vm start hostile <case>`). It is entered in 64-bit mode at its ELF entry point with
//! interrupts off, `rdi` = the case number and `rsi` = the size of guest RAM in bytes. It sets
//! up its own GDT, IDT, stack and page tables first, so that after the first instruction it
//! depends on nothing the loader left behind. Progress goes to the 16550 UART at 0x3F8 as
//! lines `HOSTILE:<case>:<event>[:<detail>]`.
//!
//! | rdi | case | what it does | how a correct VMM ends it |
//! |---|---|---|---|
//! | 0 | `oob` | reads and writes past the end of RAM, straddling it, in the MMIO hole, at the xAPIC page, across the I/O APIC page end, below 4 GiB, at 4 GiB, at the top of the physical address space, with plain and string instructions, in a loop | stops the VM at the first access with a fault naming the address (e.g. `no_device`) |
//! | 1 | `io` | in/out of every size on every port 0..=0xFFFF, rdmsr/wrmsr over ~29,000 MSR numbers, round after round; after round 2 also port accesses that run past 0xFFFF | survives the flood (its console keeps working), then refuses the wrapping access (`port_range`) or lets it run until RayOS stops the VM |
//! | 2 | `ops` | ud2 and other invalid opcodes, SVM instructions (vmrun, vmmcall, vmload, vmsave, stgi, clgi, invlpga, skinit), garbage lgdt/lidt, reserved CR0/CR4/CR8/DR7/EFER bits, a data breakpoint (#DB), and more; ends with `hlt` with interrupts off | injects the architectural fault for each (the guest prints what it got) and stops the VM when it halts with interrupts off |
//! | 3 | `triple` | loads an empty IDT and executes ud2: #UD, #GP, #DF all undeliverable | stops the VM on the shutdown (triple fault) |
//!
//! Every probe that may fault runs with a recovery address: the IDT's fault handlers record the
//! vector and error code and resume after the probe, so the guest prints one outcome per probe
//! (`ok`, `#UD`, `#GP:0x0`, ...). A fault outside a probe prints
//! `HOSTILE:UNEXPECTED_FAULT:<vector>:<error>:<rip>` and halts with interrupts off.
//!
//! This program is `unsafe` by nature (it is an attack on its own machine), so it cannot
//! forbid unsafe code like RayOS's library crates; every block says why it is sound *for the
//! guest itself*. It is not built by a plain `cargo test`: it is a workspace member but not a
//! default member, built by `cargo xtask` for `guests/x86_64-guest.json`.
//!
//! # Invariants
//! - Interrupts stay disabled (RFLAGS.IF = 0) from entry to the end.
//! - The guest never writes its own code, page tables, GDT or IDT through an address it attacks:
//!   every attacked address lies outside RAM, or in MMIO.
//! - Writes that would end the VM by design (reset and sleep registers, the guest's own UART)
//!   are left out of the I/O flood so that the flood tests the VMM, not the reset path.
#![no_std]
#![no_main]

mod console;
mod io;
mod oob;
mod ops;
mod paging;
mod port;
mod traps;

use core::arch::{asm, global_asm};

// The entry: a stack of our own, then Rust with the loader's rdi (case) and rsi (RAM size)
// still in place as the first two arguments.
global_asm!(
    ".section .text.entry, \"ax\"",
    ".global _start",
    "_start:",
    "    cli",
    "    lea rsp, [rip + __stack_top]",
    "    xor ebp, ebp",
    "    call hostile_main",
    "2:  cli",
    "    hlt",
    "    jmp 2b",
);

/// The case numbers the loader passes in RDI (`rayos_vmm::elf_guest::HostileCase::argument`).
const CASE_OOB: u64 = 0;
const CASE_IO: u64 = 1;
const CASE_OPS: u64 = 2;
const CASE_TRIPLE: u64 = 3;

#[unsafe(no_mangle)]
extern "C" fn hostile_main(case: u64, ram_bytes: u64) -> ! {
    traps::install_gdt();
    traps::install_idt();
    paging::install();
    match case {
        CASE_OOB => oob::run(ram_bytes),
        CASE_IO => io::run(),
        CASE_OPS => ops::run(),
        CASE_TRIPLE => triple_fault(),
        other => {
            println!("HOSTILE:BAD_CASE:{other}");
            halt_forever()
        }
    }
}

/// Loads an empty IDT and raises #UD: the CPU cannot deliver it, nor the #GP that follows, nor
/// the #DF after that, and shuts down.
fn triple_fault() -> ! {
    println!("HOSTILE:triple:START");
    let empty = traps::DescriptorPointer { limit: 0, base: 0 };
    // SAFETY: deliberately destroys the guest: with a zero-limit IDT the ud2 cannot be
    // delivered and the CPU shuts down; nothing after it runs.
    unsafe {
        asm!("lidt [{0}]", "ud2", in(reg) &empty, options(nostack));
    }
    println!("HOSTILE:triple:SURVIVED");
    halt_forever()
}

/// `cli; hlt` for ever: the VMM sees a halt with interrupts off and should stop the VM.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: halting with interrupts off only stops this vCPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => println!("HOSTILE:PANIC:{}:{}", at.file(), at.line()),
        None => println!("HOSTILE:PANIC"),
    }
    halt_forever()
}
