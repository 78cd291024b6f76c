//! Case `io`: floods the VMM with port I/O and MSR accesses, round after round.
//!
//! Each round does in and out of 1, 2 and 4 bytes on every port 0..=0xFFFF (about 390,000
//! exits), then rdmsr on about 29,000 MSR numbers with a wrmsr after each (the value read back,
//! or garbage when the read faulted, and garbage again for a list of MSRs whose values a VMM
//! must check). After round [`WRAP_AFTER_ROUNDS`] it also makes the port accesses that run past
//! port 0xFFFF, which RayOS's VMM refuses.
//!
//! Left out, so that the flood is not cut short by design: writes to the reset and sleep
//! registers (0x64, 0x92, 0xCF9, PM1a control 0x604-0x605) and to the guest's own console
//! (0x3F8-0x3FF).

use crate::console::{COM1, COM1_LAST};
use crate::traps::{fault_count, interrupt_count, Outcome};
use crate::{println, probe};

/// Rounds before the wrapping port accesses.
const WRAP_AFTER_ROUNDS: u64 = 2;

/// Port ranges the flood never writes (inclusive).
const WRITE_PROTECTED_PORTS: [(u16, u16); 5] =
    [(0x64, 0x64), (0x92, 0x92), (COM1, COM1_LAST), (0x604, 0x605), (0xCF9, 0xCF9)];

/// MSR numbers swept: (first, last, step).
const MSR_SWEEPS: [(u32, u32, u32); 6] = [
    (0x0000_0000, 0x0000_1FFF, 1),
    (0x4000_0000, 0x4000_01FF, 1),
    (0x4B56_4D00, 0x4B56_4D0F, 1),
    (0xC000_0000, 0xC000_1FFF, 1),
    (0xC001_0000, 0xC001_1FFF, 1),
    (0x0000_2000, 0xFFFF_FFFF, 0x0010_0001),
];

/// MSRs that also get a garbage write even when their read succeeded, because a VMM that
/// emulates them must validate what it is given: TSC, PAT, MTRR default type, TSC deadline,
/// x2APIC TPR/SVR/LVT timer/initial count/divide, kvmclock wall clock and system time, VM_CR,
/// VM_HSAVE_PA. EFER is not here: garbage there would kill the guest, not test the VMM (the
/// `ops` case tries its reserved bits).
const GARBAGE_MSRS: [u32; 13] = [
    0x10,
    0x277,
    0x2FF,
    0x6E0,
    0x808,
    0x80F,
    0x832,
    0x838,
    0x83E,
    0x4B56_4D00,
    0x4B56_4D01,
    0xC001_0114,
    0xC001_0117,
];

fn writable(first: u16, size_bytes: u16) -> bool {
    let last = u32::from(first) + u32::from(size_bytes) - 1;
    WRITE_PROTECTED_PORTS
        .iter()
        .all(|&(low, high)| last < u32::from(low) || u32::from(first) > u32::from(high))
}

pub fn run() -> ! {
    println!("HOSTILE:io:START");
    let mut round = 0u64;
    loop {
        round += 1;
        let faults_before = fault_count();
        sweep_ports(round);
        println!("HOSTILE:io:ROUND:{round}:PORTS_DONE:faults={}", fault_count() - faults_before);
        let (read_faults, write_faults) = sweep_msrs(round);
        println!(
            "HOSTILE:io:ROUND:{round}:MSRS_DONE:rdmsr_faults={read_faults}:wrmsr_faults={write_faults}:interrupts={}",
            interrupt_count()
        );
        if round >= WRAP_AFTER_ROUNDS {
            wrapping_port_accesses();
        }
    }
}

fn sweep_ports(round: u64) {
    for port in 0..=0xFFFFu16 {
        let value = u32::from(port).wrapping_mul(0x9E37_79B9) ^ (round as u32).rotate_left(16);
        // SAFETY: (all six) port I/O at CPL 0 touches device state only; a fault resumes after
        // the instruction; rax is declared clobbered.
        unsafe {
            probe!(["in al, dx"], in("dx") port, out("al") _);
            if port <= 0xFFFE {
                probe!(["in ax, dx"], in("dx") port, out("ax") _);
            }
            if port <= 0xFFFC {
                probe!(["in eax, dx"], in("dx") port, out("eax") _);
            }
            if writable(port, 1) {
                probe!(["out dx, al"], in("dx") port, in("al") value as u8);
            }
            if port <= 0xFFFE && writable(port, 2) {
                probe!(["out dx, ax"], in("dx") port, in("ax") value as u16);
            }
            if port <= 0xFFFC && writable(port, 4) {
                probe!(["out dx, eax"], in("dx") port, in("eax") value);
            }
        }
    }
}

fn rdmsr(msr: u32) -> (Outcome, u64) {
    let (low, high): (u32, u32);
    // SAFETY: rdmsr only writes edx:eax; a #GP resumes after it.
    let outcome = unsafe { probe!(["rdmsr"], in("ecx") msr, out("eax") low, out("edx") high) };
    (outcome, u64::from(high) << 32 | u64::from(low))
}

fn wrmsr(msr: u32, value: u64) -> Outcome {
    // SAFETY: the values written are either what the MSR just read (no change) or garbage for
    // MSRs that do not hold the guest's own paging, segmentation or interrupt state (see
    // GARBAGE_MSRS); a #GP resumes after it.
    unsafe { probe!(["wrmsr"], in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32) }
}

fn sweep_msrs(round: u64) -> (u64, u64) {
    let mut read_faults = 0;
    let mut write_faults = 0;
    let garbage_for = |msr: u32| 0xDEAD_BEEF_0000_0000 | u64::from(msr) << 8 | (round & 0xFF);
    for (first, last, step) in MSR_SWEEPS {
        let mut msr = first;
        loop {
            let (read, value) = rdmsr(msr);
            let write = if read.faulted() {
                read_faults += 1;
                wrmsr(msr, garbage_for(msr))
            } else {
                wrmsr(msr, value)
            };
            write_faults += u64::from(write.faulted());
            match msr.checked_add(step) {
                Some(next) if next <= last => msr = next,
                _ => break,
            }
        }
    }
    for msr in GARBAGE_MSRS {
        let outcome = wrmsr(msr, garbage_for(msr));
        write_faults += u64::from(outcome.faulted());
    }
    (read_faults, write_faults)
}

/// Accesses that run past port 0xFFFF; printed one by one, since a VMM may stop on any.
fn wrapping_port_accesses() {
    for (port, size_bytes) in [(0xFFFFu16, 2u8), (0xFFFF, 4), (0xFFFE, 4), (0xFFFD, 4)] {
        println!("HOSTILE:io:WRAP:in:{port:#x}:{size_bytes}");
        // SAFETY: as in sweep_ports.
        let outcome = unsafe {
            match size_bytes {
                2 => probe!(["in ax, dx"], in("dx") port, out("ax") _),
                _ => probe!(["in eax, dx"], in("dx") port, out("eax") _),
            }
        };
        println!("HOSTILE:io:WRAP_DONE:in:{port:#x}:{size_bytes}:{outcome}");
        println!("HOSTILE:io:WRAP:out:{port:#x}:{size_bytes}");
        // SAFETY: as in sweep_ports.
        let outcome = unsafe {
            match size_bytes {
                2 => probe!(["out dx, ax"], in("dx") port, in("ax") 0u16),
                _ => probe!(["out dx, eax"], in("dx") port, in("eax") 0u32),
            }
        };
        println!("HOSTILE:io:WRAP_DONE:out:{port:#x}:{size_bytes}:{outcome}");
    }
}
