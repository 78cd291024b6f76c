//! Static ELF64 x86_64 executables as guests: validate the file, copy its `PT_LOAD` segments
//! into guest RAM, and produce the long-mode vCPU state that enters it.
//!
//! This is how RayOS runs its own small test guests (the hostile guest in `guests/hostile`).
//! It is not a general program loader: no dynamic linking, no relocation, no thread-local
//! storage, no arguments beyond one register. The file is data from a disk and is checked
//! field by field; anything this loader cannot honour exactly is refused with an
//! [`ElfError`] that says what to change in the build.
//!
//! Guest-physical layout written by [`load`] (the low part is the same as for Linux, see
//! [`crate::linux`]):
//!
//! | range | contents |
//! |---|---|
//! | 0x500 | GDT: null, null, code 0x10 (64-bit), data 0x18 (flat) |
//! | 0x8000-0x8FF0 | initial stack (RSP = 0x8FF0) |
//! | 0x9000-0xEFFF | PML4, PDPT, four PDs: 0-4 GiB identity-mapped with 2 MiB pages |
//! | [`ELF_LOAD_MIN_GPA`] and up | the `PT_LOAD` segments, at their physical addresses |
//!
//! The vCPU starts in 64-bit mode at the ELF entry point with interrupts off and an empty IDT,
//! `rdi` = the caller's argument (the hostile guest's case number) and `rsi` = the size of
//! guest RAM in bytes.
//!
//! # Invariants
//! - A segment is loaded only if it lies wholly inside `[ELF_LOAD_MIN_GPA, RAM size)`, below
//!   the MMIO hole, and overlaps no other segment; its file bytes lie inside the file.
//! - The entry point lies inside an executable segment.
//! - Nothing is written to guest RAM before the whole file has been validated, and nothing
//!   outside the segments, the GDT and the page tables is written at all.
//! - Work and allocation are bounded: at most [`MAX_PROGRAM_HEADERS`] headers are read, and
//!   zero-filling is done in fixed 4 KiB steps bounded by the size of guest RAM.

use alloc::vec::Vec;
use core::fmt;

use crate::linux::{self, VcpuSetup, RAM_LIMIT_BYTES};
use crate::memory::{GuestMemory, MemoryError};

/// The lowest guest-physical address a segment may occupy: below it live the GDT, the stack
/// and the page tables, and the legacy BIOS area.
pub const ELF_LOAD_MIN_GPA: u64 = 0x10_0000;
/// The most program headers a guest image may have (a linker emits fewer than ten).
pub const MAX_PROGRAM_HEADERS: u16 = 64;

const ELF_HEADER_BYTES: usize = 64;
const PROGRAM_HEADER_BYTES: u16 = 56;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u8 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_TLS: u32 = 7;
/// `p_flags` bit: executable.
pub const PF_X: u32 = 1;
/// `p_flags` bit: writable.
pub const PF_W: u32 = 2;
/// `p_flags` bit: readable.
pub const PF_R: u32 = 4;

/// Why an ELF guest image was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    /// The file is shorter than an ELF header.
    TooShort {
        /// Its length.
        len_bytes: usize,
    },
    /// No `\x7fELF` magic.
    NotElf,
    /// Not a 64-bit, little-endian, version-1 ELF file.
    NotElf64LittleEndian,
    /// A shared object or position-independent executable: it would need relocating.
    PositionIndependent,
    /// Not an executable (`e_type` is neither `ET_EXEC` nor `ET_DYN`).
    NotExecutable {
        /// The file's `e_type`.
        elf_type: u16,
    },
    /// Built for another machine.
    WrongMachine {
        /// The file's `e_machine` (62 is x86_64).
        machine: u16,
    },
    /// `e_phentsize` is not 56 or the header table runs past the end of the file.
    BadProgramHeaderTable,
    /// More program headers than [`MAX_PROGRAM_HEADERS`] (or extended numbering).
    TooManyProgramHeaders {
        /// `e_phnum`.
        count: u16,
    },
    /// A `PT_INTERP` or `PT_DYNAMIC` header: the program wants a dynamic linker.
    DynamicallyLinked,
    /// A `PT_TLS` header: the program wants thread-local storage set up.
    ThreadLocalStorage,
    /// No `PT_LOAD` segment with bytes in memory.
    NoLoadableSegment,
    /// A segment's file bytes run past the end of the file.
    SegmentOutsideFile {
        /// Index of the program header.
        index: u16,
    },
    /// A segment has more bytes in the file than in memory.
    FileSizeExceedsMemorySize {
        /// Index of the program header.
        index: u16,
    },
    /// A segment's virtual and physical addresses differ (the guest is identity-mapped).
    NotIdentityMapped {
        /// Index of the program header.
        index: u16,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_paddr`.
        paddr: u64,
    },
    /// A segment reaches below [`ELF_LOAD_MIN_GPA`] or into the MMIO hole.
    SegmentOutsideLoadArea {
        /// Index of the program header.
        index: u16,
        /// First byte.
        start_gpa: u64,
        /// Memory size.
        size_bytes: u64,
    },
    /// Two segments overlap.
    SegmentsOverlap {
        /// Index of the first program header.
        first: u16,
        /// Index of the second.
        second: u16,
    },
    /// The entry point is not inside an executable segment.
    EntryNotExecutable {
        /// `e_entry`.
        entry: u64,
    },
    /// A segment ends past the end of guest RAM.
    RamTooSmall {
        /// Bytes of RAM the image needs from 0.
        needed_bytes: u64,
        /// Guest RAM size.
        ram_bytes: u64,
    },
    /// Guest RAM reaches into the MMIO hole.
    RamTooLarge {
        /// Guest RAM size.
        ram_bytes: u64,
    },
    /// Writing guest RAM failed.
    Memory(MemoryError),
}

impl ElfError {
    /// A short stable name for markers.
    pub fn name(&self) -> &'static str {
        match self {
            ElfError::TooShort { .. } => "elf_too_short",
            ElfError::NotElf => "not_elf",
            ElfError::NotElf64LittleEndian => "not_elf64_le",
            ElfError::PositionIndependent => "elf_pie",
            ElfError::NotExecutable { .. } => "elf_not_executable",
            ElfError::WrongMachine { .. } => "elf_wrong_machine",
            ElfError::BadProgramHeaderTable => "elf_bad_phdrs",
            ElfError::TooManyProgramHeaders { .. } => "elf_too_many_phdrs",
            ElfError::DynamicallyLinked => "elf_dynamic",
            ElfError::ThreadLocalStorage => "elf_tls",
            ElfError::NoLoadableSegment => "elf_no_segment",
            ElfError::SegmentOutsideFile { .. } => "elf_segment_truncated",
            ElfError::FileSizeExceedsMemorySize { .. } => "elf_filesz_gt_memsz",
            ElfError::NotIdentityMapped { .. } => "elf_not_identity",
            ElfError::SegmentOutsideLoadArea { .. } => "elf_segment_placement",
            ElfError::SegmentsOverlap { .. } => "elf_segments_overlap",
            ElfError::EntryNotExecutable { .. } => "elf_bad_entry",
            ElfError::RamTooSmall { .. } => "ram_too_small",
            ElfError::RamTooLarge { .. } => "ram_too_large",
            ElfError::Memory(_) => "guest_memory",
        }
    }
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::TooShort { len_bytes } => {
                write!(f, "guest image is {len_bytes} bytes, too short for an ELF header")
            }
            ElfError::NotElf => f.write_str("guest image has no ELF magic: not an ELF executable"),
            ElfError::NotElf64LittleEndian => {
                f.write_str("guest image is not a 64-bit little-endian ELF file; build it for x86_64")
            }
            ElfError::PositionIndependent => f.write_str(
                "guest image is position-independent; link it static and non-PIE (relocation-model static)",
            ),
            ElfError::NotExecutable { elf_type } => {
                write!(f, "guest image has ELF type {elf_type}, not an executable")
            }
            ElfError::WrongMachine { machine } => {
                write!(f, "guest image is for ELF machine {machine}, not x86_64 (62)")
            }
            ElfError::BadProgramHeaderTable => {
                f.write_str("guest image's program header table is malformed or truncated")
            }
            ElfError::TooManyProgramHeaders { count } => write!(
                f,
                "guest image has {count} program headers, at most {MAX_PROGRAM_HEADERS} are accepted"
            ),
            ElfError::DynamicallyLinked => {
                f.write_str("guest image is dynamically linked; link it statically")
            }
            ElfError::ThreadLocalStorage => f.write_str(
                "guest image uses thread-local storage, which the ELF guest loader does not set up",
            ),
            ElfError::NoLoadableSegment => f.write_str("guest image has no loadable segment"),
            ElfError::SegmentOutsideFile { index } => {
                write!(f, "segment {index} runs past the end of the guest image: the file is truncated")
            }
            ElfError::FileSizeExceedsMemorySize { index } => {
                write!(f, "segment {index} has more bytes in the file than in memory")
            }
            ElfError::NotIdentityMapped { index, vaddr, paddr } => write!(
                f,
                "segment {index} is linked at {vaddr:#x} but loaded at {paddr:#x}; \
                 the guest is identity-mapped, so link it with equal addresses"
            ),
            ElfError::SegmentOutsideLoadArea { index, start_gpa, size_bytes } => write!(
                f,
                "segment {index} ({start_gpa:#x}+{size_bytes:#x}) must lie between {ELF_LOAD_MIN_GPA:#x} \
                 and {RAM_LIMIT_BYTES:#x}; link the guest higher (e.g. at 2 MiB)"
            ),
            ElfError::SegmentsOverlap { first, second } => {
                write!(f, "segments {first} and {second} overlap")
            }
            ElfError::EntryNotExecutable { entry } => {
                write!(f, "entry point {entry:#x} is not inside an executable segment")
            }
            ElfError::RamTooSmall { needed_bytes, ram_bytes } => write!(
                f,
                "the guest image needs {} MiB of guest RAM, the VM has {} MiB; give the VM more memory",
                needed_bytes.div_ceil(1 << 20),
                ram_bytes >> 20
            ),
            ElfError::RamTooLarge { ram_bytes } => write!(
                f,
                "guest RAM of {} MiB reaches the MMIO hole at 3 GiB; use at most 3072 MiB",
                ram_bytes >> 20
            ),
            ElfError::Memory(e) => write!(f, "{e}"),
        }
    }
}

impl From<MemoryError> for ElfError {
    fn from(e: MemoryError) -> Self {
        ElfError::Memory(e)
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from(u32_at(b, o)) | (u64::from(u32_at(b, o + 4)) << 32)
}

/// One validated `PT_LOAD` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSegment {
    /// Index of its program header.
    pub index: u16,
    /// Where its file bytes start in the image.
    pub file_offset: u64,
    /// Bytes taken from the file.
    pub file_size_bytes: u64,
    /// Guest-physical (= virtual) address of its first byte.
    pub gpa: u64,
    /// Bytes in memory; those past `file_size_bytes` are zero.
    pub memory_size_bytes: u64,
    /// `p_flags` ([`PF_R`], [`PF_W`], [`PF_X`]).
    pub flags: u32,
}

impl LoadSegment {
    /// One past its last byte.
    pub fn end_gpa(&self) -> u64 {
        self.gpa + self.memory_size_bytes
    }
}

/// A validated static x86_64 executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfImage<'a> {
    bytes: &'a [u8],
    /// The entry point.
    pub entry: u64,
    /// The segments, in program-header order (at most [`MAX_PROGRAM_HEADERS`]).
    pub segments: Vec<LoadSegment>,
}

impl<'a> ElfImage<'a> {
    /// Checks `bytes` as a static, non-PIE ELF64 x86_64 executable whose segments fit the
    /// guest layout; reads nothing outside `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ElfError> {
        if bytes.len() < ELF_HEADER_BYTES {
            return Err(ElfError::TooShort { len_bytes: bytes.len() });
        }
        if bytes[..4] != *b"\x7fELF" {
            return Err(ElfError::NotElf);
        }
        if bytes[4] != ELFCLASS64 || bytes[5] != ELFDATA2LSB || bytes[6] != EV_CURRENT {
            return Err(ElfError::NotElf64LittleEndian);
        }
        match u16_at(bytes, 16) {
            ET_EXEC => {}
            ET_DYN => return Err(ElfError::PositionIndependent),
            elf_type => return Err(ElfError::NotExecutable { elf_type }),
        }
        let machine = u16_at(bytes, 18);
        if machine != EM_X86_64 {
            return Err(ElfError::WrongMachine { machine });
        }
        let entry = u64_at(bytes, 24);
        let table_offset = u64_at(bytes, 32);
        let entry_size = u16_at(bytes, 54);
        let count = u16_at(bytes, 56);
        if count > MAX_PROGRAM_HEADERS {
            return Err(ElfError::TooManyProgramHeaders { count });
        }
        if entry_size != PROGRAM_HEADER_BYTES {
            return Err(ElfError::BadProgramHeaderTable);
        }
        let table_end = table_offset
            .checked_add(u64::from(count) * u64::from(PROGRAM_HEADER_BYTES))
            .ok_or(ElfError::BadProgramHeaderTable)?;
        if table_end > bytes.len() as u64 {
            return Err(ElfError::BadProgramHeaderTable);
        }

        let mut segments = Vec::with_capacity(usize::from(count));
        for index in 0..count {
            // In range: table_end <= bytes.len() was checked above.
            let at = (table_offset + u64::from(index) * u64::from(PROGRAM_HEADER_BYTES)) as usize;
            let header = &bytes[at..at + usize::from(PROGRAM_HEADER_BYTES)];
            match u32_at(header, 0) {
                PT_LOAD => {}
                PT_INTERP | PT_DYNAMIC => return Err(ElfError::DynamicallyLinked),
                PT_TLS => return Err(ElfError::ThreadLocalStorage),
                _ => continue,
            }
            let segment = LoadSegment {
                index,
                flags: u32_at(header, 4),
                file_offset: u64_at(header, 8),
                gpa: u64_at(header, 24),
                file_size_bytes: u64_at(header, 32),
                memory_size_bytes: u64_at(header, 40),
            };
            let vaddr = u64_at(header, 16);
            if segment.memory_size_bytes == 0 {
                continue;
            }
            let file_end = segment.file_offset.checked_add(segment.file_size_bytes);
            if file_end.is_none_or(|end| end > bytes.len() as u64) {
                return Err(ElfError::SegmentOutsideFile { index });
            }
            if segment.file_size_bytes > segment.memory_size_bytes {
                return Err(ElfError::FileSizeExceedsMemorySize { index });
            }
            if vaddr != segment.gpa {
                return Err(ElfError::NotIdentityMapped { index, vaddr, paddr: segment.gpa });
            }
            let end = segment.gpa.checked_add(segment.memory_size_bytes);
            if segment.gpa < ELF_LOAD_MIN_GPA || end.is_none_or(|end| end > RAM_LIMIT_BYTES) {
                return Err(ElfError::SegmentOutsideLoadArea {
                    index,
                    start_gpa: segment.gpa,
                    size_bytes: segment.memory_size_bytes,
                });
            }
            if let Some(other) = segments
                .iter()
                .find(|o: &&LoadSegment| o.gpa < segment.end_gpa() && segment.gpa < o.end_gpa())
            {
                return Err(ElfError::SegmentsOverlap { first: other.index, second: index });
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            return Err(ElfError::NoLoadableSegment);
        }
        let entry_ok = segments.iter().any(|s| s.flags & PF_X != 0 && s.gpa <= entry && entry < s.end_gpa());
        if !entry_ok {
            return Err(ElfError::EntryNotExecutable { entry });
        }
        Ok(Self { bytes, entry, segments })
    }

    /// One past the highest byte any segment occupies.
    pub fn end_gpa(&self) -> u64 {
        self.segments.iter().map(LoadSegment::end_gpa).max().unwrap_or(ELF_LOAD_MIN_GPA)
    }

    /// The file bytes of `segment` (validated by [`ElfImage::parse`]).
    fn file_bytes(&self, segment: &LoadSegment) -> &'a [u8] {
        let start = segment.file_offset as usize;
        &self.bytes[start..start + segment.file_size_bytes as usize]
    }
}

/// Where an ELF guest went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedElf {
    /// The initial vCPU state: RIP = entry, RDI = the argument, RSI = RAM size.
    pub vcpu: VcpuSetup,
    /// The segments as loaded.
    pub segments: Vec<LoadSegment>,
    /// One past the highest byte the image occupies.
    pub image_end_gpa: u64,
}

/// Loads the executable `image` into guest RAM (at guest-physical 0) with the GDT and identity
/// page tables of [`crate::linux`], and returns the vCPU state that enters it with `argument`
/// in RDI and the RAM size in RSI.
pub fn load(memory: &mut dyn GuestMemory, image: &[u8], argument: u64) -> Result<LoadedElf, ElfError> {
    let ram_bytes = memory.size_bytes();
    if ram_bytes > RAM_LIMIT_BYTES {
        return Err(ElfError::RamTooLarge { ram_bytes });
    }
    let elf = ElfImage::parse(image)?;
    let image_end_gpa = elf.end_gpa();
    if image_end_gpa > ram_bytes {
        return Err(ElfError::RamTooSmall { needed_bytes: image_end_gpa, ram_bytes });
    }

    linux::write_boot_gdt(memory)?;
    linux::write_page_tables(memory)?;
    const ZEROS: [u8; 4096] = [0; 4096];
    for segment in &elf.segments {
        memory.write(segment.gpa, elf.file_bytes(segment))?;
        let mut at = segment.gpa + segment.file_size_bytes;
        while at < segment.end_gpa() {
            let chunk_bytes = (segment.end_gpa() - at).min(ZEROS.len() as u64);
            memory.write(at, &ZEROS[..chunk_bytes as usize])?;
            at += chunk_bytes;
        }
    }

    let mut vcpu = linux::vcpu_setup();
    vcpu.rip = elf.entry;
    vcpu.rdi = argument;
    vcpu.rsi = ram_bytes;
    Ok(LoadedElf { vcpu, segments: elf.segments, image_end_gpa })
}

/// The cases of RayOS's hostile test guest (`guests/hostile`), as `vm start hostile <case>`
/// names them; [`HostileCase::argument`] is the number the guest receives in RDI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileCase {
    /// Reads and writes outside guest RAM.
    OutOfBounds,
    /// Floods I/O ports and MSRs.
    IoFlood,
    /// Invalid, privileged and virtualization instructions, ending with HLT with interrupts off.
    Opcodes,
    /// An empty IDT and an exception: a triple fault.
    TripleFault,
}

impl HostileCase {
    /// Every case, in argument order.
    pub const ALL: [HostileCase; 4] =
        [HostileCase::OutOfBounds, HostileCase::IoFlood, HostileCase::Opcodes, HostileCase::TripleFault];

    /// The name a user types.
    pub fn name(self) -> &'static str {
        match self {
            HostileCase::OutOfBounds => "oob",
            HostileCase::IoFlood => "io",
            HostileCase::Opcodes => "ops",
            HostileCase::TripleFault => "triple",
        }
    }

    /// The value passed in RDI.
    pub fn argument(self) -> u64 {
        match self {
            HostileCase::OutOfBounds => 0,
            HostileCase::IoFlood => 1,
            HostileCase::Opcodes => 2,
            HostileCase::TripleFault => 3,
        }
    }

    /// The case a user named, if any.
    pub fn from_name(name: &str) -> Option<HostileCase> {
        HostileCase::ALL.into_iter().find(|case| case.name() == name)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::linux::{BOOT_STACK_TOP_GPA, GDT_GPA, PML4_GPA};
    use crate::memory::{translate, Access, GuestRam, PagingContext};
    use proptest::prelude::*;
    use std::vec;

    const MIB: usize = 1 << 20;

    struct Phdr {
        kind: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        paddr: u64,
        filesz: u64,
        memsz: u64,
    }

    fn load_header(flags: u32, offset: u64, gpa: u64, filesz: u64, memsz: u64) -> Phdr {
        Phdr { kind: PT_LOAD, flags, offset, vaddr: gpa, paddr: gpa, filesz, memsz }
    }

    fn build(entry: u64, phdrs: &[Phdr], payload_bytes: usize) -> Vec<u8> {
        let table_bytes = phdrs.len() * 56;
        let mut elf = vec![0u8; 64 + table_bytes + payload_bytes];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = ELFCLASS64;
        elf[5] = ELFDATA2LSB;
        elf[6] = EV_CURRENT;
        elf[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        elf[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf[24..32].copy_from_slice(&entry.to_le_bytes());
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[52..54].copy_from_slice(&64u16.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, p) in phdrs.iter().enumerate() {
            let h = &mut elf[64 + i * 56..][..56];
            h[0..4].copy_from_slice(&p.kind.to_le_bytes());
            h[4..8].copy_from_slice(&p.flags.to_le_bytes());
            h[8..16].copy_from_slice(&p.offset.to_le_bytes());
            h[16..24].copy_from_slice(&p.vaddr.to_le_bytes());
            h[24..32].copy_from_slice(&p.paddr.to_le_bytes());
            h[32..40].copy_from_slice(&p.filesz.to_le_bytes());
            h[40..48].copy_from_slice(&p.memsz.to_le_bytes());
            h[48..56].copy_from_slice(&0x1000u64.to_le_bytes());
        }
        for (i, b) in elf[64 + table_bytes..].iter_mut().enumerate() {
            *b = (i % 253) as u8 + 1;
        }
        elf
    }

    /// Text at 2 MiB (R X) from file offset 0x1000, data + bss at 2 MiB + 64 KiB (R W).
    fn two_segment_image() -> Vec<u8> {
        build(
            0x20_0010,
            &[
                load_header(PF_R | PF_X, 0x1000, 0x20_0000, 0x800, 0x800),
                load_header(PF_R | PF_W, 0x1800, 0x21_0000, 0x100, 0x3000),
                Phdr {
                    kind: 0x6474_E551,
                    flags: PF_R | PF_W,
                    offset: 0,
                    vaddr: 0,
                    paddr: 0,
                    filesz: 0,
                    memsz: 0,
                },
            ],
            0x1900,
        )
    }

    #[test]
    fn parses_and_loads_a_two_segment_image() {
        let elf = two_segment_image();
        let image = ElfImage::parse(&elf).unwrap();
        assert_eq!(image.entry, 0x20_0010);
        assert_eq!(image.segments.len(), 2, "GNU_STACK is ignored");
        assert_eq!(image.end_gpa(), 0x21_3000);

        let mut backing = vec![0xEEu8; 4 * MIB];
        let mut ram = GuestRam::new(&mut backing);
        let loaded = load(&mut ram, &elf, 3).unwrap();
        assert_eq!(loaded.image_end_gpa, 0x21_3000);
        let mut text = vec![0u8; 0x800];
        ram.read(0x20_0000, &mut text).unwrap();
        assert_eq!(text, &elf[0x1000..0x1800]);
        let mut data = vec![0u8; 0x3000];
        ram.read(0x21_0000, &mut data).unwrap();
        assert_eq!(&data[..0x100], &elf[0x1800..0x1900]);
        assert!(data[0x100..].iter().all(|&b| b == 0), "bss is zeroed");
        let mut after = [0u8; 16];
        ram.read(0x21_3000, &mut after).unwrap();
        assert_eq!(after, [0xEE; 16], "nothing written past the last segment");

        let v = loaded.vcpu;
        assert_eq!(v.rip, 0x20_0010);
        assert_eq!(v.rdi, 3);
        assert_eq!(v.rsi, 4 * MIB as u64);
        assert_eq!(v.rsp, BOOT_STACK_TOP_GPA);
        assert_eq!(v.rflags & (1 << 9), 0, "interrupts start disabled");
        assert_eq!(v.cr3, PML4_GPA);
        assert_eq!(v.gdtr.base, GDT_GPA);
        assert_eq!(ram.read_u64(GDT_GPA + 0x10), Ok(0x00AF_9B00_0000_FFFF));
        let ctx = PagingContext { cr0: v.cr0, cr3: v.cr3, cr4: v.cr4, efer: v.efer, phys_addr_bits: 40 };
        for gva in [0x20_0010u64, 0x21_2FFF, BOOT_STACK_TOP_GPA - 8, 0xFEC0_0000] {
            assert_eq!(translate(&ram, &ctx, gva, Access::WRITE).unwrap().gpa, gva);
        }
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let good = two_segment_image();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut elf = good.clone();
            f(&mut elf);
            ElfImage::parse(&elf).err()
        };
        let phdr = |i: usize, field: usize| 64 + i * 56 + field;
        assert_eq!(ElfImage::parse(&good[..40]).err(), Some(ElfError::TooShort { len_bytes: 40 }));
        assert_eq!(with(&|e| e[1] = b'X'), Some(ElfError::NotElf));
        assert_eq!(with(&|e| e[4] = 1), Some(ElfError::NotElf64LittleEndian));
        assert_eq!(with(&|e| e[5] = 2), Some(ElfError::NotElf64LittleEndian));
        assert_eq!(with(&|e| e[16] = 3), Some(ElfError::PositionIndependent));
        assert_eq!(with(&|e| e[16] = 1), Some(ElfError::NotExecutable { elf_type: 1 }));
        assert_eq!(with(&|e| e[18] = 3), Some(ElfError::WrongMachine { machine: 3 }));
        assert_eq!(with(&|e| e[54] = 32), Some(ElfError::BadProgramHeaderTable));
        assert_eq!(with(&|e| e[33] = 0xF0), Some(ElfError::BadProgramHeaderTable));
        assert_eq!(with(&|e| e[39] = 0xFF), Some(ElfError::BadProgramHeaderTable));
        assert_eq!(with(&|e| e[56..58].fill(0xFF)), Some(ElfError::TooManyProgramHeaders { count: 0xFFFF }));
        assert_eq!(with(&|e| e[phdr(0, 0)] = 3), Some(ElfError::DynamicallyLinked));
        assert_eq!(
            with(&|e| e[phdr(2, 0)..phdr(2, 4)].copy_from_slice(&2u32.to_le_bytes())),
            Some(ElfError::DynamicallyLinked)
        );
        assert_eq!(with(&|e| e[phdr(1, 0)] = 7), Some(ElfError::ThreadLocalStorage));
        assert_eq!(with(&|e| e[phdr(1, 9)] = 0x20), Some(ElfError::SegmentOutsideFile { index: 1 }));
        assert_eq!(with(&|e| e[phdr(1, 15)] = 0xFF), Some(ElfError::SegmentOutsideFile { index: 1 }));
        assert_eq!(with(&|e| e[phdr(0, 41)] = 0x07), Some(ElfError::FileSizeExceedsMemorySize { index: 0 }));
        assert_eq!(
            with(&|e| e[phdr(0, 18)] = 0x30),
            Some(ElfError::NotIdentityMapped { index: 0, vaddr: 0x30_0000, paddr: 0x20_0000 })
        );
        let low = |e: &mut Vec<u8>| {
            e[phdr(1, 16)..phdr(1, 32)]
                .copy_from_slice(&[0, 0, 0x0F, 0, 0, 0, 0, 0, 0, 0, 0x0F, 0, 0, 0, 0, 0]);
        };
        assert!(matches!(with(&low), Some(ElfError::SegmentOutsideLoadArea { index: 1, .. })));
        let hole = |e: &mut Vec<u8>| {
            let at = 0xBFFF_F000u64.to_le_bytes();
            e[phdr(1, 16)..phdr(1, 24)].copy_from_slice(&at);
            e[phdr(1, 24)..phdr(1, 32)].copy_from_slice(&at);
        };
        assert!(matches!(with(&hole), Some(ElfError::SegmentOutsideLoadArea { index: 1, .. })));
        let wraps = |e: &mut Vec<u8>| e[phdr(1, 40)..phdr(1, 48)].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(with(&wraps), Some(ElfError::SegmentOutsideLoadArea { index: 1, .. })));
        let overlap = |e: &mut Vec<u8>| {
            let at = 0x20_0400u64.to_le_bytes();
            e[phdr(1, 16)..phdr(1, 24)].copy_from_slice(&at);
            e[phdr(1, 24)..phdr(1, 32)].copy_from_slice(&at);
        };
        assert_eq!(with(&overlap), Some(ElfError::SegmentsOverlap { first: 0, second: 1 }));
        assert_eq!(with(&|e| e[26] = 0x21), Some(ElfError::EntryNotExecutable { entry: 0x21_0010 }));
        assert_eq!(with(&|e| e[25] = 0x10), Some(ElfError::EntryNotExecutable { entry: 0x20_1010 }));
        assert_eq!(
            with(&|e| e[phdr(0, 4)] = PF_R as u8),
            Some(ElfError::EntryNotExecutable { entry: 0x20_0010 })
        );
        let no_loads = |e: &mut Vec<u8>| {
            e[phdr(0, 0)] = 4;
            e[phdr(1, 0)] = 4;
        };
        assert_eq!(with(&no_loads), Some(ElfError::NoLoadableSegment));
    }

    #[test]
    fn refuses_ram_that_does_not_fit() {
        let elf = two_segment_image();
        let mut small = vec![0u8; 2 * MIB + 0x1_0000];
        let mut ram = GuestRam::new(&mut small);
        assert_eq!(
            load(&mut ram, &elf, 0).err(),
            Some(ElfError::RamTooSmall { needed_bytes: 0x21_3000, ram_bytes: 2 * MIB as u64 + 0x1_0000 })
        );
        assert_eq!(small[..0x1_0000].iter().filter(|&&b| b != 0).count(), 0, "nothing written on refusal");
    }

    #[test]
    fn hostile_case_names_round_trip() {
        for (i, case) in HostileCase::ALL.into_iter().enumerate() {
            assert_eq!(case.argument(), i as u64);
            assert_eq!(HostileCase::from_name(case.name()), Some(case));
        }
        assert_eq!(HostileCase::from_name("OOB"), None);
        assert_eq!(HostileCase::from_name(""), None);
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let e = ElfError::SegmentOutsideLoadArea { index: 0, start_gpa: 0x1000, size_bytes: 0x10 };
        assert!(std::format!("{e}").contains("link the guest higher"));
        assert!(std::format!("{}", ElfError::PositionIndependent).contains("non-PIE"));
        assert_eq!(ElfError::RamTooLarge { ram_bytes: 1 << 32 }.name(), "ram_too_large");
    }

    /// Guest RAM that records every range written.
    struct Recording<'a> {
        ram: GuestRam<'a>,
        writes: Vec<(u64, u64)>,
    }

    impl GuestMemory for Recording<'_> {
        fn size_bytes(&self) -> u64 {
            self.ram.size_bytes()
        }
        fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
            self.ram.read(gpa, buf)
        }
        fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
            self.writes.push((gpa, data.len() as u64));
            self.ram.write(gpa, data)
        }
    }

    fn check_load(elf: &[u8], ram_bytes: usize) -> Result<(), TestCaseError> {
        let mut backing = vec![0u8; ram_bytes];
        let mut ram = Recording { ram: GuestRam::new(&mut backing), writes: Vec::new() };
        match load(&mut ram, elf, 7) {
            Ok(loaded) => {
                let v = loaded.vcpu;
                prop_assert!(loaded
                    .segments
                    .iter()
                    .any(|s| s.flags & PF_X != 0 && s.gpa <= v.rip && v.rip < s.end_gpa()));
                prop_assert_eq!(v.rdi, 7);
                prop_assert!(loaded.image_end_gpa <= ram_bytes as u64);
                for &(gpa, len) in &ram.writes {
                    let in_tables = gpa + len <= ELF_LOAD_MIN_GPA;
                    let in_segment = loaded.segments.iter().any(|s| s.gpa <= gpa && gpa + len <= s.end_gpa());
                    prop_assert!(in_tables || in_segment, "write {:#x}+{:#x} outside the image", gpa, len);
                }
                for pair in loaded.segments.windows(2) {
                    prop_assert!(pair[0].end_gpa() <= pair[1].gpa || pair[1].end_gpa() <= pair[0].gpa);
                }
            }
            Err(_) => prop_assert!(ram.writes.is_empty(), "a refused image wrote guest RAM"),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = ElfImage::parse(&bytes);
            check_load(&bytes, 4 * MIB)?;
        }

        #[test]
        fn mutated_images_load_only_inside_their_segments(
            edits in proptest::collection::vec((0usize..64 + 3 * 56, any::<u8>()), 0..10),
            truncate in 0usize..0x2000,
        ) {
            let mut elf = two_segment_image();
            for (at, value) in edits {
                elf[at] = value;
            }
            elf.truncate(truncate.max(1));
            check_load(&elf, 3 * MIB)?;
        }

        #[test]
        fn arbitrary_segment_tables_are_checked(
            headers in proptest::collection::vec(
                (0u32..8, 0u32..8, 0u64..0x3000, 0x0F_0000u64..0x40_0000, 0u64..0x2000, 0u64..0x40_0000, any::<bool>()),
                1..6,
            ),
            entry in 0x0F_0000u64..0x40_0000,
        ) {
            let phdrs: Vec<Phdr> = headers
                .iter()
                .map(|&(kind, flags, offset, gpa, filesz, memsz, identity)| Phdr {
                    kind: if kind < 5 { PT_LOAD } else { kind },
                    flags,
                    offset,
                    vaddr: if identity { gpa } else { gpa ^ 0x1000 },
                    paddr: gpa,
                    filesz,
                    memsz,
                })
                .collect();
            let elf = build(entry, &phdrs, 0x2000);
            check_load(&elf, 3 * MIB)?;
        }
    }

    /// Loads the real hostile guest built by `cargo xtask` (or the file named by
    /// `RAYOS_HOSTILE_ELF`).
    #[test]
    #[ignore = "needs the hostile guest built by xtask (build_hostile_guest)"]
    fn loads_the_built_hostile_guest() {
        let path = std::env::var("RAYOS_HOSTILE_ELF").unwrap_or_else(|_| {
            std::string::String::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/rayos/guests/hostile/hostile.elf"
            ))
        });
        let bytes = std::fs::read(&path).expect("build the hostile guest first or set RAYOS_HOSTILE_ELF");
        let image = ElfImage::parse(&bytes).unwrap();
        std::println!("{path}: entry {:#x}, end {:#x}", image.entry, image.end_gpa());
        for s in &image.segments {
            std::println!(
                "  segment {}: {:#x}+{:#x} (file {:#x}) flags {:#x}",
                s.index,
                s.gpa,
                s.memory_size_bytes,
                s.file_size_bytes,
                s.flags
            );
        }
        let mut backing = vec![0u8; 16 * MIB];
        let mut ram = GuestRam::new(&mut backing);
        let loaded = load(&mut ram, &bytes, HostileCase::Opcodes.argument()).unwrap();
        assert_eq!(loaded.vcpu.rdi, 2);
        assert!(loaded.image_end_gpa < 16 * MIB as u64);
    }
}
