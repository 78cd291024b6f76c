//! x86 instruction decoding for the exits that need it.
//!
//! QEMU's SVM has no decode assists and no nRIP save, so the VMM reads the guest instruction
//! at RIP itself. Two things are needed:
//! - for a nested-page fault on MMIO, the full meaning of the memory move (which register, how
//!   many bytes, which way, how the effective address is formed): [`decode`];
//! - for the other intercepted instructions, only their length, after checking that the bytes
//!   really are that instruction: [`exit_instruction_length`].
//!
//! The decoder covers what Linux uses for `readb/w/l/q` and `writeb/w/l/q` and friends: MOV
//! 88/89/8A/8B/C6/C7/A0-A3, MOVZX 0F B6/B7, MOVSX 0F BE/BF, MOVS A4/A5 and STOS AA/AB, with the
//! legacy prefixes, REX, ModRM, SIB, displacements, RIP-relative addressing, 16-bit addressing,
//! and operand sizes 1/2/4/8. Anything else is a typed [`DecodeError`], never a guess.
//!
//! # Invariants
//! - A decoded length is at most [`MAX_INSTRUCTION_BYTES`] and at most the bytes supplied.
//! - Decoding reads only the slice it is given and never panics, whatever the bytes.

use core::fmt;

/// The architectural limit on the length of one x86 instruction.
pub const MAX_INSTRUCTION_BYTES: usize = 15;

/// The guest's general-purpose registers, RIP and RFLAGS, as the VMCB and the saved GPRs hold
/// them. Field order is the x86 register-number order (0 = RAX .. 15 = R15).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registers {
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rbx: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 1 << 9;
/// RFLAGS.DF: string instructions step downwards.
pub const RFLAGS_DF: u64 = 1 << 10;

impl Registers {
    /// General-purpose register `index` (0..16; higher indices wrap to 0..16).
    pub fn gpr(&self, index: u8) -> u64 {
        match index & 15 {
            0 => self.rax,
            1 => self.rcx,
            2 => self.rdx,
            3 => self.rbx,
            4 => self.rsp,
            5 => self.rbp,
            6 => self.rsi,
            7 => self.rdi,
            8 => self.r8,
            9 => self.r9,
            10 => self.r10,
            11 => self.r11,
            12 => self.r12,
            13 => self.r13,
            14 => self.r14,
            _ => self.r15,
        }
    }

    /// Mutable access to general-purpose register `index` (0..16; higher indices wrap).
    pub fn gpr_mut(&mut self, index: u8) -> &mut u64 {
        match index & 15 {
            0 => &mut self.rax,
            1 => &mut self.rcx,
            2 => &mut self.rdx,
            3 => &mut self.rbx,
            4 => &mut self.rsp,
            5 => &mut self.rbp,
            6 => &mut self.rsi,
            7 => &mut self.rdi,
            8 => &mut self.r8,
            9 => &mut self.r9,
            10 => &mut self.r10,
            11 => &mut self.r11,
            12 => &mut self.r12,
            13 => &mut self.r13,
            14 => &mut self.r14,
            _ => &mut self.r15,
        }
    }

    /// The value of a register operand, masked to its size.
    pub fn read_operand(&self, operand: RegisterOperand) -> u64 {
        let full = self.gpr(operand.index);
        if operand.high_byte {
            return (full >> 8) & 0xFF;
        }
        full & size_mask(operand.size_bytes)
    }

    /// Writes a register operand with x86 semantics: 8- and 16-bit writes keep the other bits,
    /// 32-bit writes zero the upper half, 64-bit writes replace the register.
    pub fn write_operand(&mut self, operand: RegisterOperand, value: u64) {
        let reg = self.gpr_mut(operand.index);
        *reg = match (operand.size_bytes, operand.high_byte) {
            (1, true) => (*reg & !0xFF00) | ((value & 0xFF) << 8),
            (1, false) => (*reg & !0xFF) | (value & 0xFF),
            (2, _) => (*reg & !0xFFFF) | (value & 0xFFFF),
            (4, _) => value & 0xFFFF_FFFF,
            _ => value,
        };
    }
}

/// All ones in the low `size_bytes` bytes.
pub fn size_mask(size_bytes: u8) -> u64 {
    match size_bytes {
        1 => 0xFF,
        2 => 0xFFFF,
        4 => 0xFFFF_FFFF,
        _ => u64::MAX,
    }
}

/// The code-segment mode the guest was executing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuMode {
    /// Real mode, or a 16-bit protected-mode code segment.
    Bits16,
    /// A 32-bit protected-mode or compatibility-mode code segment.
    Bits32,
    /// 64-bit mode (EFER.LMA and CS.L).
    Bits64,
}

/// A segment register.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Es,
    Cs,
    Ss,
    Ds,
    Fs,
    Gs,
}

/// A general-purpose register operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterOperand {
    /// Register number 0..16 (RAX = 0).
    pub index: u8,
    /// Operand size in bytes: 1, 2, 4 or 8.
    pub size_bytes: u8,
    /// AH/CH/DH/BH: bits 15:8 of register `index` (only without REX).
    pub high_byte: bool,
}

/// A memory operand: `segment:[base + index << scale + displacement]` or RIP-relative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryOperand {
    /// The segment used (the override, or DS/SS by default).
    pub segment: Segment,
    /// Base register number, if any.
    pub base: Option<u8>,
    /// Index register number, if any.
    pub index: Option<u8>,
    /// log2 of the index scale (0..=3).
    pub scale_log2: u8,
    /// Sign-extended displacement (or the absolute offset of MOV moffs).
    pub displacement: i64,
    /// Relative to the address of the next instruction.
    pub rip_relative: bool,
    /// Address size in bytes: 2, 4 or 8.
    pub address_size_bytes: u8,
}

impl MemoryOperand {
    /// The effective address (the offset within the segment), given the registers and the
    /// address of the next instruction.
    pub fn effective_address(&self, regs: &Registers, next_rip: u64) -> u64 {
        let mut ea = self.displacement as u64;
        if self.rip_relative {
            ea = ea.wrapping_add(next_rip);
        }
        if let Some(base) = self.base {
            ea = ea.wrapping_add(regs.gpr(base));
        }
        if let Some(index) = self.index {
            ea = ea.wrapping_add(regs.gpr(index) << self.scale_log2);
        }
        ea & size_mask(self.address_size_bytes)
    }
}

/// How a loaded value is widened into the destination register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    /// Same size (MOV).
    None,
    /// MOVZX.
    Zero,
    /// MOVSX.
    Sign,
}

/// What a store writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreSource {
    /// A register.
    Register(RegisterOperand),
    /// An immediate, already sign-extended to the access size.
    Immediate(u64),
}

/// What the instruction does to memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Memory to register.
    Load {
        /// Bytes read from memory.
        access_size_bytes: u8,
        /// Where the value goes.
        destination: RegisterOperand,
        /// How it is widened.
        extension: Extension,
        /// The memory operand.
        memory: MemoryOperand,
    },
    /// Register or immediate to memory.
    Store {
        /// Bytes written to memory.
        access_size_bytes: u8,
        /// What is written.
        source: StoreSource,
        /// The memory operand.
        memory: MemoryOperand,
    },
    /// MOVS: `[segment:rSI]` to `[ES:rDI]`.
    Movs {
        /// Element size in bytes.
        access_size_bytes: u8,
        /// With a REP prefix (count in rCX).
        rep: bool,
        /// Width of rSI/rDI/rCX in bytes.
        address_size_bytes: u8,
        /// Source segment (DS unless overridden).
        source_segment: Segment,
    },
    /// STOS: rAX to `[ES:rDI]`.
    Stos {
        /// Element size in bytes.
        access_size_bytes: u8,
        /// With a REP prefix (count in rCX).
        rep: bool,
        /// Width of rDI/rCX in bytes.
        address_size_bytes: u8,
    },
}

/// A decoded memory-access instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    /// Length in bytes, prefixes included.
    pub length: u8,
    /// What it does.
    pub operation: Operation,
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes are needed than were supplied (the instruction crosses into an unreadable page,
    /// or the caller passed too few).
    Truncated,
    /// The instruction would be longer than 15 bytes (the CPU raises #GP).
    TooLong,
    /// An opcode this decoder does not handle.
    Unsupported {
        /// The first opcode byte (after prefixes).
        opcode: u8,
        /// The second opcode byte for 0F-escaped opcodes, else 0.
        second: u8,
    },
    /// A MOV with a register ModRM operand, which cannot have caused a memory exit.
    NotMemoryOperand,
    /// An encoding the CPU itself rejects (#UD), such as LOCK on MOV or a bad ModRM /reg.
    Invalid,
    /// The bytes are a different instruction than the exit reported.
    Mismatch,
}

impl DecodeError {
    /// A short stable name for markers.
    pub fn name(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::TooLong => "too_long",
            DecodeError::Unsupported { .. } => "unsupported_opcode",
            DecodeError::NotMemoryOperand => "not_memory_operand",
            DecodeError::Invalid => "invalid_encoding",
            DecodeError::Mismatch => "instruction_mismatch",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("instruction bytes end before the instruction does"),
            DecodeError::TooLong => f.write_str("instruction longer than 15 bytes"),
            DecodeError::Unsupported { opcode, second } => {
                write!(f, "opcode {opcode:#04x} {second:#04x} is not an emulated memory access")
            }
            DecodeError::NotMemoryOperand => f.write_str("instruction has no memory operand"),
            DecodeError::Invalid => f.write_str("invalid instruction encoding"),
            DecodeError::Mismatch => f.write_str("instruction bytes do not match the exit reason"),
        }
    }
}

/// Prefixes seen before the opcode.
#[derive(Debug, Clone, Copy, Default)]
struct Prefixes {
    operand_size: bool,
    address_size: bool,
    rep: bool,
    lock: bool,
    segment: Option<Segment>,
    /// The REX byte, or 0.
    rex: u8,
}

impl Prefixes {
    fn rex_w(&self) -> bool {
        self.rex & 8 != 0
    }
    fn rex_r(&self) -> u8 {
        (self.rex >> 2) & 1
    }
    fn rex_x(&self) -> u8 {
        (self.rex >> 1) & 1
    }
    fn rex_b(&self) -> u8 {
        self.rex & 1
    }
}

/// A bounded reader over the instruction bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    fn next(&mut self) -> Result<u8, DecodeError> {
        if self.position >= MAX_INSTRUCTION_BYTES {
            return Err(DecodeError::TooLong);
        }
        let b = *self.bytes.get(self.position).ok_or(DecodeError::Truncated)?;
        self.position += 1;
        Ok(b)
    }

    fn le(&mut self, size_bytes: usize) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..size_bytes {
            value |= u64::from(self.next()?) << (8 * i);
        }
        Ok(value)
    }

    fn signed(&mut self, size_bytes: usize) -> Result<i64, DecodeError> {
        let raw = self.le(size_bytes)?;
        let shift = 64 - 8 * size_bytes as u32;
        Ok(((raw << shift) as i64) >> shift)
    }
}

fn read_prefixes(cursor: &mut Cursor<'_>, mode: CpuMode) -> Result<(Prefixes, u8), DecodeError> {
    let mut p = Prefixes::default();
    loop {
        let b = cursor.next()?;
        match b {
            0x66 => p.operand_size = true,
            0x67 => p.address_size = true,
            0xF2 | 0xF3 => p.rep = true,
            0xF0 => p.lock = true,
            0x26 => p.segment = Some(Segment::Es),
            0x2E => p.segment = Some(Segment::Cs),
            0x36 => p.segment = Some(Segment::Ss),
            0x3E => p.segment = Some(Segment::Ds),
            0x64 => p.segment = Some(Segment::Fs),
            0x65 => p.segment = Some(Segment::Gs),
            0x40..=0x4F if mode == CpuMode::Bits64 => {
                p.rex = b;
                continue;
            }
            _ => return Ok((p, b)),
        }
        // A REX prefix only counts when it immediately precedes the opcode.
        p.rex = 0;
    }
}

fn operand_size(p: &Prefixes, mode: CpuMode) -> u8 {
    match mode {
        CpuMode::Bits64 if p.rex_w() => 8,
        CpuMode::Bits64 | CpuMode::Bits32 => {
            if p.operand_size {
                2
            } else {
                4
            }
        }
        CpuMode::Bits16 => {
            if p.operand_size {
                4
            } else {
                2
            }
        }
    }
}

fn address_size(p: &Prefixes, mode: CpuMode) -> u8 {
    match (mode, p.address_size) {
        (CpuMode::Bits64, false) => 8,
        (CpuMode::Bits64, true) | (CpuMode::Bits32, false) | (CpuMode::Bits16, true) => 4,
        (CpuMode::Bits32, true) | (CpuMode::Bits16, false) => 2,
    }
}

fn register(p: &Prefixes, number: u8, size_bytes: u8) -> RegisterOperand {
    if size_bytes == 1 && p.rex == 0 && (4..8).contains(&number) {
        return RegisterOperand { index: number - 4, size_bytes, high_byte: true };
    }
    RegisterOperand { index: number, size_bytes, high_byte: false }
}

/// Decodes ModRM (+SIB, displacement); returns the /reg field (with REX.R) and the memory operand.
fn modrm(cursor: &mut Cursor<'_>, p: &Prefixes, mode: CpuMode) -> Result<(u8, MemoryOperand), DecodeError> {
    let m = cursor.next()?;
    let md = m >> 6;
    let reg = ((m >> 3) & 7) | (p.rex_r() << 3);
    let rm = m & 7;
    if md == 3 {
        return Err(DecodeError::NotMemoryOperand);
    }
    let asize = address_size(p, mode);
    let mut op = MemoryOperand {
        segment: Segment::Ds,
        base: None,
        index: None,
        scale_log2: 0,
        displacement: 0,
        rip_relative: false,
        address_size_bytes: asize,
    };
    let mut stack_based = false;
    if asize == 2 {
        // 16-bit addressing: fixed base/index pairs.
        const BX: u8 = 3;
        const BP: u8 = 5;
        const SI: u8 = 6;
        const DI: u8 = 7;
        let (base, index) = match rm {
            0 => (Some(BX), Some(SI)),
            1 => (Some(BX), Some(DI)),
            2 => (Some(BP), Some(SI)),
            3 => (Some(BP), Some(DI)),
            4 => (Some(SI), None),
            5 => (Some(DI), None),
            6 if md == 0 => (None, None),
            6 => (Some(BP), None),
            _ => (Some(BX), None),
        };
        op.base = base;
        op.index = index;
        stack_based = base == Some(BP);
        op.displacement = match md {
            0 if rm == 6 => cursor.signed(2)?,
            1 => cursor.signed(1)?,
            2 => cursor.signed(2)?,
            _ => 0,
        };
    } else {
        let mut no_base_disp32 = false;
        if rm == 4 {
            let sib = cursor.next()?;
            let index = ((sib >> 3) & 7) | (p.rex_x() << 3);
            let base_low = sib & 7;
            op.scale_log2 = sib >> 6;
            if index != 4 {
                op.index = Some(index);
            }
            if base_low == 5 && md == 0 {
                no_base_disp32 = true;
            } else {
                let base = base_low | (p.rex_b() << 3);
                op.base = Some(base);
                stack_based = base == 4 || base == 5;
            }
        } else if rm == 5 && md == 0 {
            no_base_disp32 = true;
            op.rip_relative = mode == CpuMode::Bits64;
        } else {
            let base = rm | (p.rex_b() << 3);
            op.base = Some(base);
            stack_based = base == 4 || base == 5;
        }
        op.displacement = match md {
            0 if no_base_disp32 => cursor.signed(4)?,
            1 => cursor.signed(1)?,
            2 => cursor.signed(4)?,
            _ => 0,
        };
    }
    op.segment = p.segment.unwrap_or(if stack_based { Segment::Ss } else { Segment::Ds });
    Ok((reg, op))
}

/// Decodes the memory-access instruction at the start of `bytes`.
pub fn decode(bytes: &[u8], mode: CpuMode) -> Result<Instruction, DecodeError> {
    let mut cursor = Cursor { bytes, position: 0 };
    let (p, opcode) = read_prefixes(&mut cursor, mode)?;
    let osize = operand_size(&p, mode);
    let mut second = 0u8;
    let operation = match opcode {
        0x88..=0x8B => {
            let size = if opcode & 1 == 0 { 1 } else { osize };
            let (reg, memory) = modrm(&mut cursor, &p, mode)?;
            let operand = register(&p, reg, size);
            if opcode & 2 == 0 {
                Operation::Store { access_size_bytes: size, source: StoreSource::Register(operand), memory }
            } else {
                Operation::Load {
                    access_size_bytes: size,
                    destination: operand,
                    extension: Extension::None,
                    memory,
                }
            }
        }
        0xC6 | 0xC7 => {
            let size = if opcode == 0xC6 { 1 } else { osize };
            let (reg, memory) = modrm(&mut cursor, &p, mode)?;
            if reg & 7 != 0 {
                return Err(DecodeError::Invalid);
            }
            let imm_bytes = usize::from(size.min(4));
            let immediate = (cursor.signed(imm_bytes)? as u64) & size_mask(size);
            Operation::Store { access_size_bytes: size, source: StoreSource::Immediate(immediate), memory }
        }
        0xA0..=0xA3 => {
            let size = if opcode & 1 == 0 { 1 } else { osize };
            let asize = address_size(&p, mode);
            let offset = cursor.le(usize::from(asize))?;
            let memory = MemoryOperand {
                segment: p.segment.unwrap_or(Segment::Ds),
                base: None,
                index: None,
                scale_log2: 0,
                displacement: offset as i64,
                rip_relative: false,
                address_size_bytes: asize,
            };
            let accumulator = RegisterOperand { index: 0, size_bytes: size, high_byte: false };
            if opcode & 2 == 0 {
                Operation::Load {
                    access_size_bytes: size,
                    destination: accumulator,
                    extension: Extension::None,
                    memory,
                }
            } else {
                Operation::Store {
                    access_size_bytes: size,
                    source: StoreSource::Register(accumulator),
                    memory,
                }
            }
        }
        0xA4 | 0xA5 => Operation::Movs {
            access_size_bytes: if opcode == 0xA4 { 1 } else { osize },
            rep: p.rep,
            address_size_bytes: address_size(&p, mode),
            source_segment: p.segment.unwrap_or(Segment::Ds),
        },
        0xAA | 0xAB => Operation::Stos {
            access_size_bytes: if opcode == 0xAA { 1 } else { osize },
            rep: p.rep,
            address_size_bytes: address_size(&p, mode),
        },
        0x0F => {
            second = cursor.next()?;
            match second {
                0xB6 | 0xB7 | 0xBE | 0xBF => {
                    let access = if second & 1 == 0 { 1 } else { 2 };
                    let (reg, memory) = modrm(&mut cursor, &p, mode)?;
                    Operation::Load {
                        access_size_bytes: access,
                        destination: register(&p, reg, osize),
                        extension: if second < 0xBE { Extension::Zero } else { Extension::Sign },
                        memory,
                    }
                }
                _ => return Err(DecodeError::Unsupported { opcode, second }),
            }
        }
        _ => return Err(DecodeError::Unsupported { opcode, second }),
    };
    if p.lock {
        // LOCK is only valid on read-modify-write instructions; on MOV the CPU raises #UD.
        return Err(DecodeError::Invalid);
    }
    Ok(Instruction { length: cursor.position as u8, operation })
}

/// Widens a value loaded from memory into its destination register's size.
pub fn extend_loaded(
    value: u64,
    access_size_bytes: u8,
    destination_size_bytes: u8,
    extension: Extension,
) -> u64 {
    let value = value & size_mask(access_size_bytes);
    let widened = match extension {
        Extension::Sign => {
            let shift = 64 - 8 * u32::from(access_size_bytes.clamp(1, 8));
            (((value << shift) as i64) >> shift) as u64
        }
        Extension::None | Extension::Zero => value,
    };
    widened & size_mask(destination_size_bytes)
}

/// An intercepted instruction whose length the VMM must compute to advance RIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInstruction {
    /// CPUID (0F A2).
    Cpuid,
    /// RDMSR (0F 32).
    Rdmsr,
    /// WRMSR (0F 30).
    Wrmsr,
    /// RDTSC (0F 31).
    Rdtsc,
    /// RDTSCP (0F 01 F9).
    Rdtscp,
    /// HLT (F4).
    Hlt,
    /// PAUSE (F3 90).
    Pause,
    /// VMMCALL (0F 01 D9).
    Vmmcall,
    /// XSETBV (0F 01 D1).
    Xsetbv,
    /// WBINVD (0F 09).
    Wbinvd,
    /// INVD (0F 08).
    Invd,
    /// MONITOR (0F 01 C8).
    Monitor,
    /// MWAIT (0F 01 C9).
    Mwait,
    /// IN/OUT/INS/OUTS (E4-E7, EC-EF, 6C-6F). SVM reports the next RIP for I/O exits even
    /// without nRIP save, so this is a cross-check.
    PortIo,
}

/// The length of the intercepted instruction at the start of `bytes`, after checking that it
/// is `expected` (prefixes included; a REX prefix is accepted in 64-bit mode).
pub fn exit_instruction_length(
    bytes: &[u8],
    mode: CpuMode,
    expected: ExitInstruction,
) -> Result<u8, DecodeError> {
    let mut cursor = Cursor { bytes, position: 0 };
    let (p, opcode) = read_prefixes(&mut cursor, mode)?;
    let matches = match expected {
        ExitInstruction::Hlt => opcode == 0xF4,
        ExitInstruction::Pause => opcode == 0x90 && p.rep && p.rex & 1 == 0,
        ExitInstruction::PortIo => match opcode {
            0xE4..=0xE7 => {
                cursor.next()?;
                true
            }
            0xEC..=0xEF | 0x6C..=0x6F => true,
            _ => false,
        },
        _ if opcode == 0x0F => {
            let second = cursor.next()?;
            match (expected, second) {
                (ExitInstruction::Cpuid, 0xA2)
                | (ExitInstruction::Rdmsr, 0x32)
                | (ExitInstruction::Wrmsr, 0x30)
                | (ExitInstruction::Rdtsc, 0x31)
                | (ExitInstruction::Wbinvd, 0x09)
                | (ExitInstruction::Invd, 0x08) => true,
                (_, 0x01) => {
                    let third = cursor.next()?;
                    matches!(
                        (expected, third),
                        (ExitInstruction::Rdtscp, 0xF9)
                            | (ExitInstruction::Vmmcall, 0xD9)
                            | (ExitInstruction::Xsetbv, 0xD1)
                            | (ExitInstruction::Monitor, 0xC8)
                            | (ExitInstruction::Mwait, 0xC9)
                    )
                }
                _ => false,
            }
        }
        _ => false,
    };
    if !matches {
        return Err(DecodeError::Mismatch);
    }
    if p.lock {
        return Err(DecodeError::Invalid);
    }
    Ok(cursor.position as u8)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;

    fn reg(index: u8, size_bytes: u8) -> RegisterOperand {
        RegisterOperand { index, size_bytes, high_byte: false }
    }

    fn mem(base: Option<u8>, index: Option<u8>, scale_log2: u8, displacement: i64) -> MemoryOperand {
        MemoryOperand {
            segment: Segment::Ds,
            base,
            index,
            scale_log2,
            displacement,
            rip_relative: false,
            address_size_bytes: 8,
        }
    }

    fn load(size: u8, dest: RegisterOperand, ext: Extension, memory: MemoryOperand) -> Operation {
        Operation::Load { access_size_bytes: size, destination: dest, extension: ext, memory }
    }

    fn store_reg(size: u8, src: RegisterOperand, memory: MemoryOperand) -> Operation {
        Operation::Store { access_size_bytes: size, source: StoreSource::Register(src), memory }
    }

    fn store_imm(size: u8, imm: u64, memory: MemoryOperand) -> Operation {
        Operation::Store { access_size_bytes: size, source: StoreSource::Immediate(imm), memory }
    }

    const RAX: u8 = 0;
    const RCX: u8 = 1;
    const RDX: u8 = 2;
    const RBX: u8 = 3;
    const RSP: u8 = 4;
    const RSI: u8 = 6;
    const RDI: u8 = 7;
    const R8: u8 = 8;
    const R9: u8 = 9;
    const R13: u8 = 13;

    /// Real encodings with their expected meaning, 64-bit mode. The bytes were checked against
    /// GNU as 2.40 (`as` + `objdump -d -M intel`) for the mnemonics in the comments.
    #[test]
    fn table_of_64_bit_encodings() {
        let di = mem(Some(RDI), None, 0, 0);
        let cases: &[(&[u8], u8, Operation)] = &[
            // mov eax,[rdi]
            (&[0x8B, 0x07], 2, load(4, reg(RAX, 4), Extension::None, di)),
            // mov [rax],edx
            (&[0x89, 0x10], 2, store_reg(4, reg(RDX, 4), mem(Some(RAX), None, 0, 0))),
            // mov rax,[rbx+0x10]
            (
                &[0x48, 0x8B, 0x43, 0x10],
                4,
                load(8, reg(RAX, 8), Extension::None, mem(Some(RBX), None, 0, 0x10)),
            ),
            // mov al,[rdi]
            (&[0x8A, 0x07], 2, load(1, reg(RAX, 1), Extension::None, di)),
            // mov [rdi],ax
            (&[0x66, 0x89, 0x07], 3, store_reg(2, reg(RAX, 2), di)),
            // mov dword [rdi],0x12345678
            (&[0xC7, 0x07, 0x78, 0x56, 0x34, 0x12], 6, store_imm(4, 0x1234_5678, di)),
            // mov qword [rdi],-1
            (&[0x48, 0xC7, 0x07, 0xFF, 0xFF, 0xFF, 0xFF], 7, store_imm(8, u64::MAX, di)),
            // mov byte [rdi],0xab
            (&[0xC6, 0x07, 0xAB], 3, store_imm(1, 0xAB, di)),
            // mov word [rdi],0x1234
            (&[0x66, 0xC7, 0x07, 0x34, 0x12], 5, store_imm(2, 0x1234, di)),
            // movzx eax,byte [rdi]
            (&[0x0F, 0xB6, 0x07], 3, load(1, reg(RAX, 4), Extension::Zero, di)),
            // movzx eax,word [rdi]
            (&[0x0F, 0xB7, 0x07], 3, load(2, reg(RAX, 4), Extension::Zero, di)),
            // movsx rax,byte [rdi]
            (&[0x48, 0x0F, 0xBE, 0x07], 4, load(1, reg(RAX, 8), Extension::Sign, di)),
            // movsx eax,word [rdi]
            (&[0x0F, 0xBF, 0x07], 3, load(2, reg(RAX, 4), Extension::Sign, di)),
            // mov r8d,[rsp]
            (
                &[0x44, 0x8B, 0x04, 0x24],
                4,
                load(
                    4,
                    reg(R8, 4),
                    Extension::None,
                    MemoryOperand { segment: Segment::Ss, ..mem(Some(RSP), None, 0, 0) },
                ),
            ),
            // mov eax,[r9*4+0x1000]
            (
                &[0x42, 0x8B, 0x04, 0x8D, 0x00, 0x10, 0x00, 0x00],
                8,
                load(4, reg(RAX, 4), Extension::None, mem(None, Some(R9), 2, 0x1000)),
            ),
            // mov eax,[rax+rcx*8+0x100]
            (
                &[0x8B, 0x84, 0xC8, 0x00, 0x01, 0x00, 0x00],
                7,
                load(4, reg(RAX, 4), Extension::None, mem(Some(RAX), Some(RCX), 3, 0x100)),
            ),
            // mov [rdi+1],ah
            (
                &[0x88, 0x67, 0x01],
                3,
                store_reg(
                    1,
                    RegisterOperand { index: RAX, size_bytes: 1, high_byte: true },
                    mem(Some(RDI), None, 0, 1),
                ),
            ),
            // mov [rdi+1],sil
            (&[0x40, 0x88, 0x77, 0x01], 4, store_reg(1, reg(RSI, 1), mem(Some(RDI), None, 0, 1))),
            // mov [r13+0x0],ecx
            (&[0x41, 0x89, 0x4D, 0x00], 4, store_reg(4, reg(RCX, 4), mem(Some(R13), None, 0, 0))),
            // mov rax,gs:0x28
            (
                &[0x65, 0x48, 0x8B, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00],
                9,
                load(
                    8,
                    reg(RAX, 8),
                    Extension::None,
                    MemoryOperand { segment: Segment::Gs, ..mem(None, None, 0, 0x28) },
                ),
            ),
            // mov ebx,[rdi-0x80]
            (&[0x8B, 0x5F, 0x80], 3, load(4, reg(RBX, 4), Extension::None, mem(Some(RDI), None, 0, -0x80))),
            // mov eax,[edi] (address-size override)
            (
                &[0x67, 0x8B, 0x07],
                3,
                load(4, reg(RAX, 4), Extension::None, MemoryOperand { address_size_bytes: 4, ..di }),
            ),
            // movabs eax,[0xfec00010]
            (
                &[0xA1, 0x10, 0x00, 0xC0, 0xFE, 0x00, 0x00, 0x00, 0x00],
                9,
                load(4, reg(RAX, 4), Extension::None, mem(None, None, 0, 0xFEC0_0010)),
            ),
            // rep stos dword [rdi],eax
            (&[0xF3, 0xAB], 2, Operation::Stos { access_size_bytes: 4, rep: true, address_size_bytes: 8 }),
            // stosb
            (&[0xAA], 1, Operation::Stos { access_size_bytes: 1, rep: false, address_size_bytes: 8 }),
            // movsq
            (
                &[0x48, 0xA5],
                2,
                Operation::Movs {
                    access_size_bytes: 8,
                    rep: false,
                    address_size_bytes: 8,
                    source_segment: Segment::Ds,
                },
            ),
            // rep movsb
            (
                &[0xF3, 0xA4],
                2,
                Operation::Movs {
                    access_size_bytes: 1,
                    rep: true,
                    address_size_bytes: 8,
                    source_segment: Segment::Ds,
                },
            ),
        ];
        for (bytes, length, operation) in cases {
            let decoded = decode(bytes, CpuMode::Bits64).unwrap_or_else(|e| panic!("{bytes:02x?}: {e}"));
            assert_eq!(decoded.length, *length, "{bytes:02x?}");
            assert_eq!(decoded.operation, *operation, "{bytes:02x?}");
        }
    }

    #[test]
    fn rip_relative_effective_address() {
        // mov eax,[rip+0x10]
        let i = decode(&[0x8B, 0x05, 0x10, 0x00, 0x00, 0x00], CpuMode::Bits64).unwrap();
        assert_eq!(i.length, 6);
        let Operation::Load { memory, .. } = i.operation else { panic!() };
        assert!(memory.rip_relative);
        let regs = Registers { rip: 0x1000, ..Default::default() };
        assert_eq!(memory.effective_address(&regs, regs.rip + 6), 0x1016);
    }

    #[test]
    fn effective_address_with_sib() {
        let i = decode(&[0x8B, 0x84, 0xC8, 0x00, 0x01, 0x00, 0x00], CpuMode::Bits64).unwrap();
        let Operation::Load { memory, .. } = i.operation else { panic!() };
        let regs = Registers { rax: 0xFEC0_0000, rcx: 2, ..Default::default() };
        assert_eq!(memory.effective_address(&regs, 0), 0xFEC0_0110);
    }

    #[test]
    fn table_of_32_and_16_bit_encodings() {
        // 32-bit: mov eax,[0xfee00030] (mod 00 rm 101 is an absolute disp32 outside 64-bit mode)
        let i = decode(&[0x8B, 0x05, 0x30, 0x00, 0xE0, 0xFE], CpuMode::Bits32).unwrap();
        assert_eq!(i.length, 6);
        let Operation::Load { memory, destination, .. } = i.operation else { panic!() };
        assert!(!memory.rip_relative);
        assert_eq!(memory.effective_address(&Registers::default(), 0), 0xFEE0_0030);
        assert_eq!(destination, reg(RAX, 4));
        // What GNU as emits for the same load: the moffs form, 4-byte offset in 32-bit mode.
        let i = decode(&[0xA1, 0x30, 0x00, 0xE0, 0xFE], CpuMode::Bits32).unwrap();
        assert_eq!(i.length, 5);
        let Operation::Load { memory, .. } = i.operation else { panic!() };
        assert_eq!(memory.effective_address(&Registers::default(), 0), 0xFEE0_0030);
        // 16-bit moffs: 2-byte offset.
        assert_eq!(decode(&[0xA1, 0x34, 0x12], CpuMode::Bits16).unwrap().length, 3);
        // 32-bit: REX bytes are INC/DEC opcodes, not prefixes.
        assert!(matches!(decode(&[0x48, 0x8B, 0x07], CpuMode::Bits32), Err(DecodeError::Unsupported { .. })));
        // 32-bit with 0x67: 16-bit addressing, mov eax,[bx+si+0x10]
        let i = decode(&[0x67, 0x8B, 0x40, 0x10], CpuMode::Bits32).unwrap();
        assert_eq!(i.length, 4);
        let Operation::Load { memory, .. } = i.operation else { panic!() };
        let regs = Registers { rbx: 0xFFF0, rsi: 0x10, ..Default::default() };
        assert_eq!(memory.effective_address(&regs, 0), 0x0010); // wraps at 64 KiB
                                                                // 16-bit: mov ax,[0x1234]
        let i = decode(&[0x8B, 0x06, 0x34, 0x12], CpuMode::Bits16).unwrap();
        assert_eq!(i.length, 4);
        let Operation::Load { memory, destination, .. } = i.operation else { panic!() };
        assert_eq!(destination, reg(RAX, 2));
        assert_eq!(memory.effective_address(&Registers::default(), 0), 0x1234);
        // 16-bit: mov [bp+2],al uses SS.
        let i = decode(&[0x88, 0x46, 0x02], CpuMode::Bits16).unwrap();
        let Operation::Store { memory, .. } = i.operation else { panic!() };
        assert_eq!(memory.segment, Segment::Ss);
        // 16-bit with 0x66: 32-bit operand.
        let i = decode(&[0x66, 0x89, 0x07], CpuMode::Bits16).unwrap();
        assert!(matches!(i.operation, Operation::Store { access_size_bytes: 4, .. }));
    }

    #[test]
    fn rejected_encodings() {
        assert_eq!(decode(&[0x89, 0xC0], CpuMode::Bits64), Err(DecodeError::NotMemoryOperand));
        assert_eq!(decode(&[0xF0, 0x89, 0x07], CpuMode::Bits64), Err(DecodeError::Invalid));
        assert_eq!(decode(&[0xC7, 0x0F, 0, 0, 0, 0], CpuMode::Bits64), Err(DecodeError::Invalid));
        assert_eq!(
            decode(&[0x0F, 0x0B], CpuMode::Bits64),
            Err(DecodeError::Unsupported { opcode: 0x0F, second: 0x0B })
        );
        assert_eq!(decode(&[0x8B], CpuMode::Bits64), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0x8B, 0x84, 0xC8, 0x00], CpuMode::Bits64), Err(DecodeError::Truncated));
        assert_eq!(decode(&[], CpuMode::Bits64), Err(DecodeError::Truncated));
        let mut long = [0x66u8; 16];
        long[14] = 0x89;
        long[15] = 0x07;
        assert_eq!(decode(&long, CpuMode::Bits64), Err(DecodeError::TooLong));
        // Exactly 15 bytes is fine.
        let mut fifteen = [0x66u8; 15];
        fifteen[13] = 0x89;
        fifteen[14] = 0x07;
        assert_eq!(decode(&fifteen, CpuMode::Bits64).unwrap().length, 15);
    }

    #[test]
    fn rex_before_legacy_prefix_is_ignored() {
        // 48 66 89 07: the REX.W is cancelled by the following 0x66, so this is a 16-bit store.
        let i = decode(&[0x48, 0x66, 0x89, 0x07], CpuMode::Bits64).unwrap();
        assert!(matches!(i.operation, Operation::Store { access_size_bytes: 2, .. }));
    }

    #[test]
    fn register_write_semantics() {
        let mut regs = Registers { rax: 0x1122_3344_5566_7788, ..Default::default() };
        regs.write_operand(RegisterOperand { index: 0, size_bytes: 1, high_byte: true }, 0xAB);
        assert_eq!(regs.rax, 0x1122_3344_5566_AB88);
        regs.write_operand(reg(0, 1), 0xCD);
        assert_eq!(regs.rax, 0x1122_3344_5566_ABCD);
        regs.write_operand(reg(0, 2), 0xBEEF);
        assert_eq!(regs.rax, 0x1122_3344_5566_BEEF);
        regs.write_operand(reg(0, 4), 0xDEAD_BEEF);
        assert_eq!(regs.rax, 0xDEAD_BEEF);
        regs.write_operand(reg(15, 8), 7);
        assert_eq!(regs.r15, 7);
        assert_eq!(extend_loaded(0x80, 1, 8, Extension::Sign), 0xFFFF_FFFF_FFFF_FF80);
        assert_eq!(extend_loaded(0x80, 1, 4, Extension::Sign), 0xFFFF_FF80);
        assert_eq!(extend_loaded(0x8000, 2, 4, Extension::Zero), 0x8000);
        assert_eq!(extend_loaded(0x1_2345, 2, 2, Extension::None), 0x2345);
    }

    #[test]
    fn exit_instruction_lengths() {
        use ExitInstruction::*;
        let m = CpuMode::Bits64;
        assert_eq!(exit_instruction_length(&[0x0F, 0xA2], m, Cpuid), Ok(2));
        assert_eq!(exit_instruction_length(&[0x0F, 0x32], m, Rdmsr), Ok(2));
        assert_eq!(exit_instruction_length(&[0x0F, 0x30], m, Wrmsr), Ok(2));
        assert_eq!(exit_instruction_length(&[0xF4], m, Hlt), Ok(1));
        assert_eq!(exit_instruction_length(&[0x0F, 0x01, 0xD9], m, Vmmcall), Ok(3));
        assert_eq!(exit_instruction_length(&[0x0F, 0x01, 0xF9], m, Rdtscp), Ok(3));
        assert_eq!(exit_instruction_length(&[0xF3, 0x90], m, Pause), Ok(2));
        assert_eq!(exit_instruction_length(&[0x3E, 0x0F, 0xA2], m, Cpuid), Ok(3));
        assert_eq!(exit_instruction_length(&[0x48, 0x0F, 0x30], m, Wrmsr), Ok(3));
        assert_eq!(exit_instruction_length(&[0xE6, 0x80], m, PortIo), Ok(2));
        assert_eq!(exit_instruction_length(&[0x66, 0xED], m, PortIo), Ok(2));
        assert_eq!(exit_instruction_length(&[0xF3, 0x6E], m, PortIo), Ok(2));
        assert_eq!(exit_instruction_length(&[0x0F, 0x32], m, Wrmsr), Err(DecodeError::Mismatch));
        assert_eq!(exit_instruction_length(&[0x90], m, Pause), Err(DecodeError::Mismatch));
        assert_eq!(exit_instruction_length(&[0x0F], m, Cpuid), Err(DecodeError::Truncated));
        assert_eq!(exit_instruction_length(&[0xF0, 0xF4], m, Hlt), Err(DecodeError::Invalid));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..24), mode in 0u8..3) {
            let mode = [CpuMode::Bits16, CpuMode::Bits32, CpuMode::Bits64][usize::from(mode)];
            if let Ok(i) = decode(&bytes, mode) {
                prop_assert!(usize::from(i.length) <= MAX_INSTRUCTION_BYTES);
                prop_assert!(usize::from(i.length) <= bytes.len());
            }
            for kind in [ExitInstruction::Cpuid, ExitInstruction::PortIo, ExitInstruction::Vmmcall, ExitInstruction::Pause] {
                if let Ok(n) = exit_instruction_length(&bytes, mode, kind) {
                    prop_assert!(usize::from(n) <= MAX_INSTRUCTION_BYTES.min(bytes.len()));
                }
            }
        }

        #[test]
        fn decoding_ignores_trailing_bytes(
            prefix in proptest::sample::select(std::vec![std::vec![0x8Bu8, 0x07], std::vec![0x48, 0x8B, 0x43, 0x10], std::vec![0xC7, 0x07, 1, 2, 3, 4]]),
            tail in proptest::collection::vec(any::<u8>(), 0..10),
        ) {
            let mut bytes = prefix;
            let plain = decode(&bytes, CpuMode::Bits64).unwrap();
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(decode(&bytes, CpuMode::Bits64).unwrap(), plain);
        }

        #[test]
        fn prefixed_mov_lengths(prefixes in proptest::collection::vec(proptest::sample::select(&[0x66u8, 0x67, 0x2E, 0x3E, 0x26, 0x64, 0x65, 0x36, 0xF3]), 0..16)) {
            let mut bytes = prefixes.clone();
            bytes.extend_from_slice(&[0x89, 0x07]);
            let result = decode(&bytes, CpuMode::Bits64);
            if bytes.len() <= MAX_INSTRUCTION_BYTES {
                prop_assert_eq!(result.unwrap().length as usize, bytes.len());
            } else {
                prop_assert_eq!(result, Err(DecodeError::TooLong));
            }
        }
    }
}
