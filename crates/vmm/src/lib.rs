//! The host-testable half of the RayOS hypervisor: the emulated platform, instruction
//! decoding, and the Linux boot protocol.
//!
//! The kernel owns the hardware side (VMCB, VMRUN, nested page tables, event injection, the
//! TSC offset) and turns each #VMEXIT into a call here: [`machine::Machine`] for port I/O,
//! MSRs, CPUID, HLT, interrupts and time; [`mmio::handle_mmio_exit`] for nested-page faults on
//! device pages; [`decode::exit_instruction_length`] to advance RIP (QEMU's SVM has no nRIP
//! save and no decode assists); [`linux::load`] once, to lay out guest RAM and get the first
//! [`linux::VcpuSetup`]. This crate is not a VMM loop, does no hardware access, and holds no
//! `unsafe`.
//!
//! Nothing here trusts the guest. Port numbers, MMIO addresses and sizes, MSR numbers and
//! values, register contents, page-table entries, instruction bytes, bzImage headers: every
//! one is validated, and a hostile guest gets a typed error (the VM stops with
//! `RAYOS_VM:FAULT:<name>:<reason>`, using each error's `name()` and `Display`) or an
//! architectural #GP, never a panic, an unbounded loop, an unbounded allocation, or an access
//! outside guest RAM.
//!
//! # The emulated platform
//!
//! | device | where | interrupt | notes |
//! |---|---|---|---|
//! | 8259A pair | ports 0x20-0x21, 0xA0-0xA1; ELCR 0x4D0-0x4D1 | output to LINT0 (ExtINT) | starts initialised (bases 0x08/0x70), all masked |
//! | 8254 PIT | ports 0x40-0x43; port 0x61 (gate 2, OUT2, refresh) | IRQ 0 = GSI 2 | channel 0 edges from guest time |
//! | i8042 | ports 0x60, 0x64 | none | no devices; 0xFE pulse = reset; the FADT says "no 8042" |
//! | CMOS RTC | ports 0x70-0x71 | none (IRQ 8 never raised) | BCD/binary, 12/24 h, UIP, century at 0x32, NMI mask |
//! | POST / delay | ports 0x80, 0xED | - | ignored, counted |
//! | 16550A UART (COM1) | ports 0x3F8-0x3FF | IRQ 4 = GSI 4 | output drained by the caller, bounded input queue |
//! | PCI config #1 | ports 0xCF8 (dword), 0xCFC-0xCFF | - | host bridge 00:00.0 (1b36:0008), other slots absent |
//! | reset control | port 0xCF9 (byte) | - | RST_CPU rising edge = reset; FADT RESET_REG, value 6 |
//! | ACPI PM | PM1a_EVT 0x600, PM1a_CNT 0x604, PM_TMR 0x608 | SCI = IRQ 9 = GSI 9, level | 32-bit 3.579545 MHz timer; S5 (SLP_TYP 5) = power off |
//! | I/O APIC | MMIO 0xFEC00000-0xFEC00FFF | 24 pins, GSI base 0 | version 0x20 (EOI register at +0x40) |
//! | local APIC | x2APIC MSRs 0x800-0x8FF, TSC deadline 0x6E0 | timer, self-IPI, error | starts in x2APIC mode; xAPIC MMIO at 0xFEE00000 is refused |
//! | kvmclock | MSRs 0x4B564D00/01 | - | stable-TSC pvclock; CPUID 0x40000001 |
//! | ACPI tables | 0xE0000 (RSDP first) | - | RSDP, RSDT, XSDT, FADT, FACS, MADT, DSDT (`\_S5`, root bridge `\_SB.PCI0`, no `_PRT` yet) |
//!
//! Every other port reads as all-ones and ignores writes (counted in
//! [`machine::AccessCounters::unknown_port`]). Guest RAM is one range from 0, at most 3 GiB;
//! 0xC0000000-0xFFFFFFFF is the MMIO hole.
//!
//! # CPUID policy ([`cpuid::guest_cpuid`])
//!
//! - Vendor, family/model/stepping and brand string come from the host.
//! - Forced on: hypervisor bit, x2APIC, TSC-deadline, APIC, MTRR (emulated as "enabled, no ranges,
//!   default write-back", so Linux sets up PAT), PAT, ARAT (leaf 6).
//! - Passed through when the host has them: FPU, TSC, MSR, PAE, PSE, PGE, CMOV, CX8/CX16,
//!   CLFLUSH, MMX, FXSR, SSE-SSE4.2, SSSE3, POPCNT, MOVBE, AES, PCLMULQDQ, RDRAND, and in leaf 7
//!   FSGSBASE, BMI1/2, SMEP, SMAP, ERMS, RDSEED, ADX, CLFLUSHOPT, CLWB, SHA; in 0x80000001
//!   SYSCALL, NX, LM, 1 GiB pages, LAHF, LZCNT, SSE4A, PREFETCHW.
//! - Hidden: SVM, VMX, MONITOR/MWAIT, MCE/MCA, PCID/INVPCID, RDTSCP (TSC_AUX is not switched),
//!   every speculation-control bit, perfmon, and the whole XSAVE family: XSAVE, OSXSAVE, AVX,
//!   AVX2, AVX-512, FMA, F16C, PKU (leaf 0xD is all zero). The guest therefore uses
//!   FXSAVE/FXRSTOR only, and the kernel need not intercept XSETBV or switch XCR0; it must
//!   switch the legacy FPU/SSE state around VMRUN.
//! - Topology: one thread, one core, APIC ID 0 (leaf 1, leaf 0xB, 0x80000008).
//! - Hypervisor leaves: 0x40000000 carries the KVM signature `KVMKVMKVM\0\0\0`, and 0x40000001
//!   advertises only KVM_FEATURE_CLOCKSOURCE2, CLOCKSOURCE_STABLE_BIT and NOP_IO_DELAY (the
//!   devices need no port-0x80 delays, which would each cost an exit). The KVM signature is
//!   needed because Linux keeps x2APIC on without interrupt remapping only under a hypervisor it
//!   recognises (`x86_init.hyper.x2apic_available`); it also makes Linux skip the I/O APIC
//!   timer check (`no_timer_check`). None of KVM's other paravirtual interfaces (async PF,
//!   steal time, PV EOI, PV IPIs) are offered, so Linux uses none.
//!
//! # Timekeeping
//!
//! The guest TSC is the host TSC plus the VMCB TSC offset, chosen so that the guest TSC reads 0
//! when the guest starts; RDTSC is not intercepted. Guest time in ns is
//! [`time::TscClock::ns_from_tsc`] of the guest TSC (kvmclock's fixed-point scale of the host
//! TSC frequency the kernel measured), and the kernel passes it to
//! [`machine::Machine::advance_time`] before handling each exit. Linux learns the TSC frequency
//! from kvmclock (`kvm_get_tsc_khz`: no calibration loop, which would be unreliable with slow
//! nested exits); the ACPI PM timer and the PIT derive from the same guest time, so Linux's
//! fallback calibrations agree with it. Deadlines ([`machine::Machine::next_deadline_ns`]) are
//! in guest ns; [`time::TscClock::tsc_from_ns`] turns them back into guest TSC values.
//! Linux uses the LAPIC timer in TSC-deadline mode; the one-shot/periodic modes run on a
//! 1 GHz bus clock.
//!
//! # Invariants
//! - No `unsafe`, no panics on guest input; every loop is bounded by a constant or by the size
//!   of a caller-owned buffer.
//! - Guest-controlled buffers are bounded: console output 64 KiB, console input 4 KiB,
//!   i8042 output 16 bytes; excess is dropped and counted.
//! - Devices never read a clock: time only moves forward through `advance_time`.
//! - Guest memory is only touched through [`memory::GuestMemory`], which checks every range.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod acpi;
pub mod cpuid;
pub mod decode;
pub mod devices;
pub mod elf_guest;
pub mod linux;
pub mod machine;
pub mod memory;
pub mod mmio;
pub mod time;
