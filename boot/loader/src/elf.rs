//! Validation and loading of the kernel ELF file.

use core::fmt;

use rayos_bootinfo::KERNEL_BASE;
use xmas_elf::header::{Class, Machine, Type};
use xmas_elf::program::{ProgramHeader, Type as SegmentType};
use xmas_elf::ElfFile;

/// The kernel must fit in this window above [`KERNEL_BASE`].
const KERNEL_WINDOW_BYTES: u64 = 1 << 30;
const MAX_SEGMENTS: usize = 16;

#[derive(Clone, Copy)]
pub struct Segment {
    pub virt_start: u64,
    pub file_offset: u64,
    pub file_len: u64,
    pub mem_len: u64,
    pub writable: bool,
    pub executable: bool,
}

/// The page-aligned virtual range covering all loadable segments.
#[derive(Clone, Copy)]
pub struct Span {
    pub virt_start: u64,
    pub len_bytes: u64,
}

pub struct KernelElf {
    segments: [Option<Segment>; MAX_SEGMENTS],
    entry: u64,
}

pub enum ElfError {
    Header(&'static str),
    NotX86_64Executable,
    TooManySegments,
    SegmentOutsideFile(u64),
    SegmentOutsideWindow(u64),
    SegmentsOverlap(u64),
    NoSegments,
    EntryNotExecutable(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(why) => write!(f, "not a valid ELF file: {why}"),
            Self::NotX86_64Executable => f.write_str("not a 64-bit x86_64 executable ELF file"),
            Self::TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
            Self::SegmentOutsideFile(v) => write!(f, "segment at {v:#x} reaches past the end of the file"),
            Self::SegmentOutsideWindow(v) => {
                write!(f, "segment at {v:#x} is outside the kernel address window")
            }
            Self::SegmentsOverlap(v) => write!(f, "segment at {v:#x} overlaps another one"),
            Self::NoSegments => f.write_str("no loadable segments"),
            Self::EntryNotExecutable(e) => {
                write!(f, "entry point {e:#x} is not inside an executable segment")
            }
        }
    }
}

impl KernelElf {
    pub fn parse(file: &[u8]) -> Result<KernelElf, ElfError> {
        let elf = ElfFile::new(file).map_err(ElfError::Header)?;
        let header = &elf.header;
        let ok = header.pt1.class() == Class::SixtyFour
            && matches!(header.pt2.machine().as_machine(), Machine::X86_64)
            && matches!(header.pt2.type_().as_type(), Type::Executable);
        if !ok {
            return Err(ElfError::NotX86_64Executable);
        }
        let mut segments = [None; MAX_SEGMENTS];
        let mut count = 0;
        for header in elf.program_iter() {
            let ProgramHeader::Ph64(ph) = header else { return Err(ElfError::NotX86_64Executable) };
            if !matches!(ph.get_type(), Ok(SegmentType::Load)) || ph.mem_size == 0 {
                continue;
            }
            let file_end =
                ph.offset.checked_add(ph.file_size).ok_or(ElfError::SegmentOutsideFile(ph.virtual_addr))?;
            if file_end > file.len() as u64 || ph.file_size > ph.mem_size {
                return Err(ElfError::SegmentOutsideFile(ph.virtual_addr));
            }
            let end = ph
                .virtual_addr
                .checked_add(ph.mem_size)
                .ok_or(ElfError::SegmentOutsideWindow(ph.virtual_addr))?;
            if ph.virtual_addr < KERNEL_BASE || end > KERNEL_BASE + KERNEL_WINDOW_BYTES {
                return Err(ElfError::SegmentOutsideWindow(ph.virtual_addr));
            }
            let segment = Segment {
                virt_start: ph.virtual_addr,
                file_offset: ph.offset,
                file_len: ph.file_size,
                mem_len: ph.mem_size,
                writable: ph.flags.is_write(),
                executable: ph.flags.is_execute(),
            };
            for other in segments.iter().flatten() {
                let other: &Segment = other;
                if segment.virt_start < other.virt_start + other.mem_len
                    && other.virt_start < segment.virt_start + segment.mem_len
                {
                    return Err(ElfError::SegmentsOverlap(segment.virt_start));
                }
            }
            *segments.get_mut(count).ok_or(ElfError::TooManySegments)? = Some(segment);
            count += 1;
        }
        if count == 0 {
            return Err(ElfError::NoSegments);
        }
        let entry = header.pt2.entry_point();
        let kernel = KernelElf { segments, entry };
        if !kernel
            .segments()
            .any(|s| s.executable && entry >= s.virt_start && entry < s.virt_start + s.mem_len)
        {
            return Err(ElfError::EntryNotExecutable(entry));
        }
        Ok(kernel)
    }

    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        self.segments.iter().flatten().copied()
    }

    pub fn entry(&self) -> u64 {
        self.entry
    }

    pub fn image_span(&self) -> Span {
        let start = self.segments().map(|s| s.virt_start).min().unwrap_or(KERNEL_BASE) & !0xFFF;
        let end = self.segments().map(|s| s.virt_start + s.mem_len).max().unwrap_or(start);
        Span { virt_start: start, len_bytes: (end - start).div_ceil(4096) * 4096 }
    }

    /// Copies each segment's file bytes to its place in `image` (which covers `image_span()`
    /// and is zeroed, so the rest of each segment is its zero-initialised part).
    pub fn copy_segments(&self, file: &[u8], image: &mut [u8]) {
        let span = self.image_span();
        for s in self.segments() {
            let at = (s.virt_start - span.virt_start) as usize;
            let from = s.file_offset as usize;
            image[at..at + s.file_len as usize].copy_from_slice(&file[from..from + s.file_len as usize]);
        }
    }
}
