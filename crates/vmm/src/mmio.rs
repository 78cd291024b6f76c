//! Completing an MMIO exit: fetch the instruction at RIP, decode it, perform the access
//! through the [`Machine`], update the registers, advance RIP. Also [`skip_instruction`] for
//! the other intercepted instructions, whose length QEMU's SVM (no nRIP save) does not report.
//!
//! The faulting guest-physical address comes from the nested-page-fault exit; the decoded
//! memory operand is translated through the guest's page tables too, and the two must agree
//! (so a guest cannot make the VMM emulate a different access than the one that faulted).
//! String instructions (MOVS, STOS) run one element per exit: with REP, RIP stays on the
//! instruction until rCX reaches zero, so the guest re-executes it and each element faults
//! again; the work per exit is bounded.

use core::fmt;

use crate::decode::{
    decode, exit_instruction_length, extend_loaded, size_mask, CpuMode, DecodeError, ExitInstruction,
    Operation, Registers, Segment, StoreSource, MAX_INSTRUCTION_BYTES, RFLAGS_DF,
};
use crate::machine::{Machine, MachineError};
use crate::memory::{
    read_virtual_prefix, translate, Access, GuestMemory, MemoryError, PagingContext, TranslateError,
};

/// Segment bases (only FS and GS count in 64-bit mode).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentBases {
    pub es: u64,
    pub cs: u64,
    pub ss: u64,
    pub ds: u64,
    pub fs: u64,
    pub gs: u64,
}

impl SegmentBases {
    fn base(&self, segment: Segment, mode: CpuMode) -> u64 {
        match (segment, mode) {
            (Segment::Fs, _) => self.fs,
            (Segment::Gs, _) => self.gs,
            (_, CpuMode::Bits64) => 0,
            (Segment::Es, _) => self.es,
            (Segment::Cs, _) => self.cs,
            (Segment::Ss, _) => self.ss,
            (Segment::Ds, _) => self.ds,
        }
    }
}

/// The guest CPU state the MMIO path needs besides the GPRs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestCpuState {
    /// CR0/CR3/CR4/EFER and MAXPHYADDR.
    pub paging: PagingContext,
    /// Code-segment mode.
    pub mode: CpuMode,
    /// Segment bases.
    pub segments: SegmentBases,
    /// Current privilege level (3 = user).
    pub cpl: u8,
}

/// Why an MMIO exit could not be completed; the VM stops with
/// `RAYOS_VM:FAULT:<name>:<reason>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmioError {
    /// The instruction at RIP could not be read.
    Fetch(TranslateError),
    /// The instruction is not an emulated memory access.
    Decode(DecodeError),
    /// The device refused the access.
    Device(MachineError),
    /// The decoded operand does not translate to the faulting address.
    OperandMismatch {
        /// The address from the exit.
        exit_gpa: u64,
        /// Where the decoded operand points.
        decoded_gpa: u64,
    },
    /// The decoded operand's address does not translate.
    Operand(TranslateError),
    /// The RAM side of a MOVS is outside guest RAM.
    StringMemory(MemoryError),
}

impl MmioError {
    /// A short stable name for markers.
    pub fn name(&self) -> &'static str {
        match self {
            MmioError::Fetch(_) => "mmio_fetch",
            MmioError::Decode(_) => "mmio_decode",
            MmioError::Device(e) => e.name(),
            MmioError::OperandMismatch { .. } => "mmio_operand_mismatch",
            MmioError::Operand(_) => "mmio_operand",
            MmioError::StringMemory(_) => "mmio_string_memory",
        }
    }
}

impl fmt::Display for MmioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmioError::Fetch(e) => write!(f, "cannot fetch the instruction at RIP: {e}"),
            MmioError::Decode(e) => write!(f, "cannot emulate the instruction at RIP: {e}"),
            MmioError::Device(e) => write!(f, "{e}"),
            MmioError::OperandMismatch { exit_gpa, decoded_gpa } => {
                write!(f, "instruction addresses {decoded_gpa:#x} but the exit reported {exit_gpa:#x}")
            }
            MmioError::Operand(e) => write!(f, "memory operand does not translate: {e}"),
            MmioError::StringMemory(e) => write!(f, "string instruction's memory side: {e}"),
        }
    }
}

fn mask_ip(value: u64, mode: CpuMode) -> u64 {
    match mode {
        CpuMode::Bits64 => value,
        CpuMode::Bits32 => value & 0xFFFF_FFFF,
        CpuMode::Bits16 => value & 0xFFFF,
    }
}

fn linear(cpu: &GuestCpuState, segment: Segment, offset: u64) -> u64 {
    let address = cpu.segments.base(segment, cpu.mode).wrapping_add(offset);
    if cpu.mode == CpuMode::Bits64 {
        address
    } else {
        address & 0xFFFF_FFFF
    }
}

fn data_access(cpu: &GuestCpuState, write: bool) -> Access {
    Access { write, execute: false, user: cpu.cpl == 3 }
}

/// Steps an index register (rSI/rDI) by one element, honouring the address size: a 16-bit
/// address size changes only the low 16 bits, a 32-bit one zero-extends.
fn step_index(register: &mut u64, element_bytes: u8, down: bool, address_size_bytes: u8) {
    let mask = size_mask(address_size_bytes);
    let delta = u64::from(element_bytes);
    let moved = if down { register.wrapping_sub(delta) } else { register.wrapping_add(delta) } & mask;
    *register = match address_size_bytes {
        2 => (*register & !0xFFFF) | moved,
        _ => moved,
    };
}

/// Reads up to 15 instruction bytes at the guest's RIP; returns the buffer and how many bytes
/// were readable (an instruction may end before an unmapped page).
pub fn fetch_instruction(
    memory: &dyn GuestMemory,
    regs: &Registers,
    cpu: &GuestCpuState,
) -> Result<([u8; MAX_INSTRUCTION_BYTES], usize), MmioError> {
    let mut bytes = [0u8; MAX_INSTRUCTION_BYTES];
    let rip_linear = linear(cpu, Segment::Cs, regs.rip);
    let fetch = Access { write: false, execute: true, user: cpu.cpl == 3 };
    let fetched =
        read_virtual_prefix(memory, &cpu.paging, rip_linear, fetch, &mut bytes).map_err(MmioError::Fetch)?;
    Ok((bytes, fetched))
}

/// Advances RIP past the intercepted instruction `expected` (CPUID, RDMSR, HLT, ...), after
/// checking that the bytes at RIP are that instruction; returns the new RIP. This is what
/// nRIP save would have given the kernel.
pub fn skip_instruction(
    memory: &dyn GuestMemory,
    regs: &mut Registers,
    cpu: &GuestCpuState,
    expected: ExitInstruction,
) -> Result<u64, MmioError> {
    let (bytes, fetched) = fetch_instruction(memory, regs, cpu)?;
    let length = exit_instruction_length(&bytes[..fetched], cpu.mode, expected).map_err(MmioError::Decode)?;
    regs.rip = mask_ip(regs.rip.wrapping_add(u64::from(length)), cpu.mode);
    Ok(regs.rip)
}

/// Completes the MMIO access that faulted at `gpa`; returns the new RIP (also stored in
/// `regs.rip`).
pub fn handle_mmio_exit(
    machine: &mut Machine,
    memory: &mut dyn GuestMemory,
    regs: &mut Registers,
    cpu: &GuestCpuState,
    gpa: u64,
) -> Result<u64, MmioError> {
    let (bytes, fetched) = fetch_instruction(memory, regs, cpu)?;
    let instruction = decode(&bytes[..fetched], cpu.mode).map_err(MmioError::Decode)?;
    let next_rip = mask_ip(regs.rip.wrapping_add(u64::from(instruction.length)), cpu.mode);
    let translate_operand = |memory: &dyn GuestMemory, segment: Segment, offset: u64, write: bool| {
        translate(memory, &cpu.paging, linear(cpu, segment, offset), data_access(cpu, write))
            .map(|t| t.gpa)
            .map_err(MmioError::Operand)
    };
    let check = |decoded_gpa: u64| {
        if decoded_gpa == gpa {
            Ok(())
        } else {
            Err(MmioError::OperandMismatch { exit_gpa: gpa, decoded_gpa })
        }
    };

    let mut advance = true;
    match instruction.operation {
        Operation::Load { access_size_bytes, destination, extension, memory: operand } => {
            let ea = operand.effective_address(regs, next_rip);
            check(translate_operand(memory, operand.segment, ea, false)?)?;
            let value = machine.mmio_read(gpa, access_size_bytes).map_err(MmioError::Device)?;
            let value = extend_loaded(value, access_size_bytes, destination.size_bytes, extension);
            regs.write_operand(destination, value);
        }
        Operation::Store { access_size_bytes, source, memory: operand } => {
            let ea = operand.effective_address(regs, next_rip);
            check(translate_operand(memory, operand.segment, ea, true)?)?;
            let value = match source {
                StoreSource::Register(r) => regs.read_operand(r),
                StoreSource::Immediate(v) => v,
            };
            machine.mmio_write(gpa, access_size_bytes, value).map_err(MmioError::Device)?;
        }
        Operation::Stos { access_size_bytes, rep, address_size_bytes } => {
            let count_mask = size_mask(address_size_bytes);
            if rep && regs.rcx & count_mask == 0 {
                // REP with a zero count does nothing (and cannot have faulted; finish it anyway).
            } else {
                let destination = translate_operand(memory, Segment::Es, regs.rdi & count_mask, true)?;
                check(destination)?;
                let value = regs.rax & size_mask(access_size_bytes);
                machine.mmio_write(gpa, access_size_bytes, value).map_err(MmioError::Device)?;
                step_index(
                    &mut regs.rdi,
                    access_size_bytes,
                    regs.rflags & RFLAGS_DF != 0,
                    address_size_bytes,
                );
                if rep {
                    step_index(&mut regs.rcx, 1, true, address_size_bytes);
                    advance = regs.rcx & count_mask == 0;
                }
            }
        }
        Operation::Movs { access_size_bytes, rep, address_size_bytes, source_segment } => {
            let count_mask = size_mask(address_size_bytes);
            if !(rep && regs.rcx & count_mask == 0) {
                let source = translate_operand(memory, source_segment, regs.rsi & count_mask, false)?;
                let destination = translate_operand(memory, Segment::Es, regs.rdi & count_mask, true)?;
                let size = usize::from(access_size_bytes);
                if destination == gpa {
                    let mut buf = [0u8; 8];
                    let value = match memory.read(source, &mut buf[..size]) {
                        Ok(()) => u64::from_le_bytes(buf),
                        Err(_) => machine.mmio_read(source, access_size_bytes).map_err(MmioError::Device)?,
                    };
                    machine.mmio_write(gpa, access_size_bytes, value).map_err(MmioError::Device)?;
                } else if source == gpa {
                    let value = machine.mmio_read(gpa, access_size_bytes).map_err(MmioError::Device)?;
                    memory
                        .write(destination, &value.to_le_bytes()[..size])
                        .map_err(MmioError::StringMemory)?;
                } else {
                    return Err(MmioError::OperandMismatch { exit_gpa: gpa, decoded_gpa: destination });
                }
                let down = regs.rflags & RFLAGS_DF != 0;
                step_index(&mut regs.rsi, access_size_bytes, down, address_size_bytes);
                step_index(&mut regs.rdi, access_size_bytes, down, address_size_bytes);
                if rep {
                    step_index(&mut regs.rcx, 1, true, address_size_bytes);
                    advance = regs.rcx & count_mask == 0;
                }
            }
        }
    }
    if advance {
        regs.rip = next_rip;
    }
    Ok(regs.rip)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::devices::ioapic::IOAPIC_BASE;
    use crate::linux::vcpu_setup;
    use crate::machine::MachineConfig;
    use crate::memory::GuestRam;
    use proptest::prelude::*;
    use std::vec;

    const MIB: usize = 1 << 20;
    const CODE: u64 = 0x40_0000;

    /// Identity-mapped long mode (the Linux boot page tables) with code at `CODE`.
    fn setup(code: &[u8]) -> (std::vec::Vec<u8>, GuestCpuState, Registers) {
        let mut backing = vec![0u8; 8 * MIB];
        {
            let mut ram = GuestRam::new(&mut backing);
            linux_tables(&mut ram);
            ram.write(CODE, code).unwrap();
        }
        let v = vcpu_setup();
        let cpu = GuestCpuState {
            paging: PagingContext { cr0: v.cr0, cr3: v.cr3, cr4: v.cr4, efer: v.efer, phys_addr_bits: 40 },
            mode: CpuMode::Bits64,
            segments: SegmentBases::default(),
            cpl: 0,
        };
        let regs = Registers { rip: CODE, ..Registers::default() };
        (backing, cpu, regs)
    }

    /// Writes the same identity page tables `linux::load` writes (4 GiB, 2 MiB pages).
    fn linux_tables(ram: &mut GuestRam<'_>) {
        ram.write_u64(0x9000, 0xA000 | 3).unwrap();
        for i in 0..4u64 {
            ram.write_u64(0xA000 + i * 8, (0xB000 + i * 0x1000) | 3).unwrap();
            for j in 0..512u64 {
                ram.write_u64(0xB000 + i * 0x1000 + j * 8, ((i * 512 + j) << 21) | 0x83).unwrap();
            }
        }
    }

    fn machine() -> Machine {
        Machine::new(MachineConfig { tsc_frequency_hz: 1_000_000_000, wall_clock_unix_ns: 0 })
    }

    #[test]
    fn ioapic_register_select_and_window_read() {
        // mov dword [rdi], esi ; mov eax, [rdi+0x10]
        let (mut backing, cpu, mut regs) = setup(&[0x89, 0x37, 0x8B, 0x47, 0x10]);
        let mut ram = GuestRam::new(&mut backing);
        let mut m = machine();
        regs.rdi = IOAPIC_BASE;
        regs.rsi = 1; // version register
        regs.rax = 0xFFFF_FFFF_FFFF_FFFF;
        let rip = handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE).unwrap();
        assert_eq!(rip, CODE + 2);
        let rip = handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE + 0x10).unwrap();
        assert_eq!(rip, CODE + 5);
        assert_eq!(regs.rax, 0x0017_0020, "32-bit load zero-extends");
    }

    #[test]
    fn operand_must_match_the_faulting_address() {
        let (mut backing, cpu, mut regs) = setup(&[0x8B, 0x07]);
        let mut ram = GuestRam::new(&mut backing);
        let mut m = machine();
        regs.rdi = IOAPIC_BASE + 0x10;
        let e = handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE).unwrap_err();
        assert_eq!(e, MmioError::OperandMismatch { exit_gpa: IOAPIC_BASE, decoded_gpa: IOAPIC_BASE + 0x10 });
        assert_eq!(regs.rip, CODE, "RIP unchanged on failure");
    }

    #[test]
    fn errors_are_typed() {
        let (mut backing, cpu, mut regs) = setup(&[0x0F, 0x0B]);
        let mut ram = GuestRam::new(&mut backing);
        let mut m = machine();
        let e = handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE).unwrap_err();
        assert_eq!(e.name(), "mmio_decode");
        // RIP outside the mapped 4 GiB.
        regs.rip = 0x1_0000_0000;
        let e = handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE).unwrap_err();
        assert!(matches!(e, MmioError::Fetch(TranslateError::PageFault { .. })));
        // Access to a page with no device.
        let (mut backing, cpu, mut regs) = setup(&[0x8B, 0x07]);
        let mut ram = GuestRam::new(&mut backing);
        regs.rdi = 0xD000_0000;
        let e = handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, 0xD000_0000).unwrap_err();
        assert_eq!(e, MmioError::Device(MachineError::NoDeviceAt { gpa: 0xD000_0000 }));
        assert_eq!(e.name(), "no_device");
    }

    #[test]
    fn rep_stos_runs_one_element_per_exit() {
        // rep stosd
        let (mut backing, cpu, mut regs) = setup(&[0xF3, 0xAB]);
        let mut ram = GuestRam::new(&mut backing);
        let mut m = machine();
        regs.rdi = IOAPIC_BASE;
        regs.rcx = 2;
        regs.rax = 0x10;
        assert_eq!(handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE), Ok(CODE));
        assert_eq!((regs.rdi, regs.rcx), (IOAPIC_BASE + 4, 1));
        // The second element goes to offset 4, which the I/O APIC ignores.
        assert_eq!(handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE + 4), Ok(CODE + 2));
        assert_eq!(regs.rcx, 0);
        // IOREGSEL got 0x10 from the first element.
        assert_eq!(m.mmio_read(IOAPIC_BASE, 4), Ok(0x10));
    }

    #[test]
    fn movs_from_ram_to_mmio_and_back() {
        // movsd (a4 would be bytes; a5 is dwords)
        let (mut backing, cpu, mut regs) = setup(&[0xA5]);
        let mut ram = GuestRam::new(&mut backing);
        let mut m = machine();
        ram.write_u32(0x5000, 1).unwrap(); // select the version register
        regs.rsi = 0x5000;
        regs.rdi = IOAPIC_BASE;
        assert_eq!(handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE), Ok(CODE + 1));
        regs.rip = CODE;
        regs.rsi = IOAPIC_BASE + 0x10;
        regs.rdi = 0x6000;
        handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE + 0x10).unwrap();
        assert_eq!(ram.read_u32(0x6000), Ok(0x0017_0020));
        assert_eq!((regs.rsi, regs.rdi), (IOAPIC_BASE + 0x14, 0x6004));
    }

    #[test]
    fn skip_instruction_checks_and_advances() {
        // cpuid ; ds wrmsr (prefixed) ; hlt
        let (mut backing, cpu, mut regs) = setup(&[0x0F, 0xA2, 0x3E, 0x0F, 0x30, 0xF4]);
        let ram = GuestRam::new(&mut backing);
        assert_eq!(skip_instruction(&ram, &mut regs, &cpu, ExitInstruction::Cpuid), Ok(CODE + 2));
        assert_eq!(skip_instruction(&ram, &mut regs, &cpu, ExitInstruction::Wrmsr), Ok(CODE + 5));
        assert_eq!(
            skip_instruction(&ram, &mut regs, &cpu, ExitInstruction::Cpuid),
            Err(MmioError::Decode(DecodeError::Mismatch))
        );
        assert_eq!(regs.rip, CODE + 5);
        assert_eq!(skip_instruction(&ram, &mut regs, &cpu, ExitInstruction::Hlt), Ok(CODE + 6));
    }

    #[test]
    fn index_stepping_respects_address_size_and_df() {
        let mut r = 0xFFFF_FFFF_0000_FFFEu64;
        step_index(&mut r, 4, false, 2);
        assert_eq!(r, 0xFFFF_FFFF_0000_0002);
        let mut r = 0x1_0000_0000u64;
        step_index(&mut r, 1, true, 4);
        assert_eq!(r, 0xFFFF_FFFF);
        let mut r = 8u64;
        step_index(&mut r, 8, true, 8);
        assert_eq!(r, 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
        #[test]
        fn any_instruction_bytes_and_registers_never_panic(
            code in proptest::collection::vec(any::<u8>(), 0..16),
            gprs in proptest::array::uniform16(any::<u64>()),
            gpa_offset in 0u64..0x2000,
        ) {
            let (mut backing, cpu, mut regs) = setup(&code);
            let mut ram = GuestRam::new(&mut backing);
            let mut m = machine();
            for (i, v) in gprs.iter().enumerate() {
                *regs.gpr_mut(i as u8) = *v;
            }
            regs.rip = CODE;
            let before = regs.rip;
            match handle_mmio_exit(&mut m, &mut ram, &mut regs, &cpu, IOAPIC_BASE - 0x1000 + gpa_offset) {
                Ok(rip) => prop_assert!(rip >= before && rip <= before + 15),
                Err(_) => prop_assert_eq!(regs.rip, before),
            }
        }
    }
}
