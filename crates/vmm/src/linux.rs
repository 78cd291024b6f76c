//! The Linux x86 boot protocol, 64-bit entry: parse a bzImage, lay out guest RAM, and
//! produce the initial vCPU state.
//!
//! Guest-physical layout written by [`load`]:
//!
//! | range | contents |
//! |---|---|
//! | 0x500 | GDT: null, null, `__BOOT_CS` 0x10 (64-bit code), `__BOOT_DS` 0x18 (flat data) |
//! | 0x7000 | zero page (`struct boot_params`) |
//! | 0x8000-0x8FF0 | boot stack (RSP = 0x8FF0) |
//! | 0x9000 | PML4; 0xA000 PDPT; 0xB000-0xEFFF four PDs: 0-4 GiB identity-mapped, 2 MiB pages |
//! | 0x20000 | kernel command line (NUL-terminated) |
//! | 0x9FC00-0xFFFFF | reserved in e820 (EBDA, VGA hole, BIOS area); ACPI tables at 0xE0000 |
//! | 0x100000 | protected-mode kernel (the bzImage after its setup sectors) |
//! | top of RAM | initrd, page-aligned, below `initrd_addr_max` |
//!
//! The bzImage is data from a disk: every header field is bounds-checked and an image that
//! does not fit is refused with a [`LinuxError`] saying what to change.

use alloc::vec::Vec;
use core::fmt;

use crate::acpi::{self, AcpiLayout};
use crate::devices::ioapic::IOAPIC_BASE;
use crate::devices::lapic::LAPIC_BASE;
use crate::memory::{GuestMemory, MemoryError, CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME};

/// Where the protected-mode kernel is loaded.
pub const KERNEL_LOAD_GPA: u64 = 0x10_0000;
/// The zero page.
pub const ZERO_PAGE_GPA: u64 = 0x7000;
/// The GDT.
pub const GDT_GPA: u64 = 0x500;
/// Initial stack pointer.
pub const BOOT_STACK_TOP_GPA: u64 = 0x8FF0;
/// The PML4 (CR3).
pub const PML4_GPA: u64 = 0x9000;
/// The command line.
pub const CMDLINE_GPA: u64 = 0x2_0000;
/// Room for the command line, NUL included.
pub const CMDLINE_MAX_BYTES: u64 = 0x1_0000;
/// Start of the EBDA and the reserved area below 1 MiB.
pub const EBDA_GPA: u64 = 0x9_FC00;
/// Guest RAM may not reach into the 32-bit MMIO hole that starts here.
pub const RAM_LIMIT_BYTES: u64 = 0xC000_0000;
/// `__BOOT_CS`.
pub const BOOT_CS: u16 = 0x10;
/// `__BOOT_DS`.
pub const BOOT_DS: u16 = 0x18;

/// Oldest boot protocol with the 64-bit entry point and `xloadflags` (2.12).
pub const MIN_PROTOCOL_VERSION: u16 = 0x020C;
const LOADFLAGS_LOADED_HIGH: u8 = 1 << 0;
const XLF_KERNEL_64: u16 = 1 << 0;
/// The 64-bit entry is this far into the protected-mode kernel.
const ENTRY_64_OFFSET: u64 = 0x200;
/// Highest zero-page offset the copied setup header may reach (`edd_mbr_sig_buffer` follows).
const SETUP_HEADER_LIMIT: usize = 0x290;

/// Why a kernel could not be booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinuxError {
    /// The file is shorter than a setup header.
    TooShort {
        /// Its length.
        len_bytes: usize,
    },
    /// No 0xAA55 boot flag at 0x1FE: not a Linux kernel image.
    NoBootFlag,
    /// No "HdrS" at 0x202: a pre-2.0 image.
    NoHeaderMagic,
    /// Boot protocol older than 2.12.
    ProtocolTooOld {
        /// The image's version (e.g. 0x020F).
        version: u16,
    },
    /// LOADED_HIGH is clear: a zImage, not a bzImage.
    NotBzImage,
    /// XLF_KERNEL_64 is clear: the kernel has no 64-bit entry point.
    No64BitEntry,
    /// The setup sectors or the kernel run past the end of the file.
    Truncated {
        /// Bytes the header says exist.
        needed_bytes: u64,
        /// Bytes the file has.
        len_bytes: usize,
    },
    /// A header field has an impossible value.
    BadHeaderField {
        /// The field's name in the boot protocol.
        field: &'static str,
    },
    /// Guest RAM is too small for the kernel's decompression footprint.
    RamTooSmall {
        /// Bytes needed from 0.
        needed_bytes: u64,
        /// Guest RAM size.
        ram_bytes: u64,
    },
    /// Guest RAM reaches into the MMIO hole.
    RamTooLarge {
        /// Guest RAM size.
        ram_bytes: u64,
    },
    /// The command line is longer than the kernel accepts.
    CommandLineTooLong {
        /// Its length.
        len_bytes: usize,
        /// The maximum.
        max_bytes: u64,
    },
    /// The command line contains a NUL byte.
    CommandLineHasNul,
    /// The initrd does not fit between the kernel and the top of usable RAM.
    InitrdDoesNotFit {
        /// Its size.
        size_bytes: u64,
        /// Space available.
        available_bytes: u64,
    },
    /// Writing guest RAM failed (RAM smaller than declared).
    Memory(MemoryError),
}

impl LinuxError {
    /// A short stable name for markers.
    pub fn name(&self) -> &'static str {
        match self {
            LinuxError::TooShort { .. } => "image_too_short",
            LinuxError::NoBootFlag => "no_boot_flag",
            LinuxError::NoHeaderMagic => "no_hdrs",
            LinuxError::ProtocolTooOld { .. } => "protocol_too_old",
            LinuxError::NotBzImage => "not_bzimage",
            LinuxError::No64BitEntry => "no_64bit_entry",
            LinuxError::Truncated { .. } => "image_truncated",
            LinuxError::BadHeaderField { .. } => "bad_header_field",
            LinuxError::RamTooSmall { .. } => "ram_too_small",
            LinuxError::RamTooLarge { .. } => "ram_too_large",
            LinuxError::CommandLineTooLong { .. } => "cmdline_too_long",
            LinuxError::CommandLineHasNul => "cmdline_nul",
            LinuxError::InitrdDoesNotFit { .. } => "initrd_does_not_fit",
            LinuxError::Memory(_) => "guest_memory",
        }
    }
}

impl fmt::Display for LinuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinuxError::TooShort { len_bytes } => {
                write!(f, "kernel image is {len_bytes} bytes, too short for a setup header")
            }
            LinuxError::NoBootFlag => f.write_str("no 0xAA55 boot flag: not a Linux bzImage"),
            LinuxError::NoHeaderMagic => f.write_str("no HdrS signature: not a Linux bzImage"),
            LinuxError::ProtocolTooOld { version } => write!(
                f,
                "boot protocol {}.{:02} is older than 2.12; use a kernel from 3.8 or later",
                version >> 8,
                version & 0xFF
            ),
            LinuxError::NotBzImage => f.write_str("image is a zImage (LOADED_HIGH clear); use a bzImage"),
            LinuxError::No64BitEntry => {
                f.write_str("kernel has no 64-bit entry point (XLF_KERNEL_64 clear); use an x86_64 kernel")
            }
            LinuxError::Truncated { needed_bytes, len_bytes } => {
                write!(f, "kernel image is {len_bytes} bytes but its header needs {needed_bytes}: the file is truncated")
            }
            LinuxError::BadHeaderField { field } => {
                write!(f, "setup header field {field} has an impossible value")
            }
            LinuxError::RamTooSmall { needed_bytes, ram_bytes } => write!(
                f,
                "the kernel needs {} MiB of guest RAM, the VM has {} MiB; give the VM more memory",
                needed_bytes.div_ceil(1 << 20),
                ram_bytes >> 20
            ),
            LinuxError::RamTooLarge { ram_bytes } => write!(
                f,
                "guest RAM of {} MiB reaches the MMIO hole at 3 GiB; use at most 3072 MiB",
                ram_bytes >> 20
            ),
            LinuxError::CommandLineTooLong { len_bytes, max_bytes } => {
                write!(f, "command line is {len_bytes} bytes, the kernel accepts {max_bytes}")
            }
            LinuxError::CommandLineHasNul => f.write_str("command line contains a NUL byte"),
            LinuxError::InitrdDoesNotFit { size_bytes, available_bytes } => write!(
                f,
                "initrd of {} KiB does not fit in the {} KiB above the kernel; give the VM more memory",
                size_bytes.div_ceil(1024),
                available_bytes / 1024
            ),
            LinuxError::Memory(e) => write!(f, "{e}"),
        }
    }
}

impl From<MemoryError> for LinuxError {
    fn from(e: MemoryError) -> Self {
        LinuxError::Memory(e)
    }
}

fn u8_at(b: &[u8], o: usize) -> u8 {
    b[o]
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

/// The facts of a bzImage the loader uses, all validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BzImage<'a> {
    image: &'a [u8],
    /// Boot protocol version (0x020F = 2.15).
    pub protocol_version: u16,
    /// Bytes of real-mode setup code (the protected-mode kernel follows).
    pub setup_bytes: usize,
    /// `init_size`: memory the kernel needs from its load address while decompressing.
    pub init_size_bytes: u64,
    /// `pref_address`: where the kernel prefers to run (LOAD_PHYSICAL_ADDR).
    pub pref_address: u64,
    /// `kernel_alignment`.
    pub kernel_alignment_bytes: u64,
    /// `relocatable_kernel`.
    pub relocatable: bool,
    /// `cmdline_size`: longest command line, NUL excluded.
    pub cmdline_max_bytes: u64,
    /// `initrd_addr_max`: highest address the initrd's last byte may have.
    pub initrd_addr_max: u64,
    /// End of the setup header within the image (0x202 + the jump's offset byte).
    header_end: usize,
}

impl<'a> BzImage<'a> {
    /// Validates the setup header of `image`.
    pub fn parse(image: &'a [u8]) -> Result<Self, LinuxError> {
        if image.len() < 0x270 {
            return Err(LinuxError::TooShort { len_bytes: image.len() });
        }
        if u16_at(image, 0x1FE) != 0xAA55 {
            return Err(LinuxError::NoBootFlag);
        }
        if &image[0x202..0x206] != b"HdrS" {
            return Err(LinuxError::NoHeaderMagic);
        }
        let protocol_version = u16_at(image, 0x206);
        if protocol_version < MIN_PROTOCOL_VERSION {
            return Err(LinuxError::ProtocolTooOld { version: protocol_version });
        }
        if u8_at(image, 0x211) & LOADFLAGS_LOADED_HIGH == 0 {
            return Err(LinuxError::NotBzImage);
        }
        if u16_at(image, 0x236) & XLF_KERNEL_64 == 0 {
            return Err(LinuxError::No64BitEntry);
        }
        let setup_sects = match u8_at(image, 0x1F1) {
            0 => 4,
            n => usize::from(n),
        };
        let setup_bytes = (setup_sects + 1) * 512;
        let syssize_bytes = u64::from(u32_at(image, 0x1F4)) * 16;
        let needed_bytes = setup_bytes as u64 + syssize_bytes;
        if needed_bytes > image.len() as u64 || setup_bytes >= image.len() {
            return Err(LinuxError::Truncated {
                needed_bytes: needed_bytes.max(setup_bytes as u64 + 1),
                len_bytes: image.len(),
            });
        }
        let kernel_bytes = (image.len() - setup_bytes) as u64;
        let header_end = 0x202 + usize::from(u8_at(image, 0x201));
        if !(0x26C..=SETUP_HEADER_LIMIT).contains(&header_end) || header_end > setup_bytes {
            return Err(LinuxError::BadHeaderField { field: "jump" });
        }
        let init_size_bytes = u64::from(u32_at(image, 0x260));
        if init_size_bytes < kernel_bytes {
            return Err(LinuxError::BadHeaderField { field: "init_size" });
        }
        let kernel_alignment_bytes = u64::from(u32_at(image, 0x230));
        if !kernel_alignment_bytes.is_power_of_two() || kernel_alignment_bytes > 1 << 30 {
            return Err(LinuxError::BadHeaderField { field: "kernel_alignment" });
        }
        let pref_address = u64_at(image, 0x258);
        if pref_address >= RAM_LIMIT_BYTES {
            return Err(LinuxError::BadHeaderField { field: "pref_address" });
        }
        let cmdline_max_bytes = u64::from(u32_at(image, 0x238));
        Ok(Self {
            image,
            protocol_version,
            setup_bytes,
            init_size_bytes,
            pref_address,
            kernel_alignment_bytes,
            relocatable: u8_at(image, 0x234) != 0,
            cmdline_max_bytes,
            initrd_addr_max: u64::from(u32_at(image, 0x22C)),
            header_end,
        })
    }

    /// The protected-mode kernel: what goes at 1 MiB.
    pub fn kernel(&self) -> &'a [u8] {
        &self.image[self.setup_bytes..]
    }

    /// The setup header bytes (0x1F1 up to its end) to copy into the zero page.
    pub fn setup_header(&self) -> &'a [u8] {
        &self.image[0x1F1..self.header_end]
    }

    /// The highest address the kernel's decompression may touch, exclusive.
    pub fn footprint_end(&self) -> u64 {
        let aligned_load =
            KERNEL_LOAD_GPA.div_ceil(self.kernel_alignment_bytes) * self.kernel_alignment_bytes;
        // The decompressor runs at max(aligned load address, LOAD_PHYSICAL_ADDR).
        let run_at = aligned_load.max(self.pref_address).max(KERNEL_LOAD_GPA);
        run_at.saturating_add(self.init_size_bytes)
    }
}

/// What to boot.
#[derive(Debug, Clone, Copy)]
pub struct LinuxBoot<'a> {
    /// The bzImage file.
    pub image: &'a [u8],
    /// The initrd/initramfs file, if any.
    pub initrd: Option<&'a [u8]>,
    /// The kernel command line (no NUL).
    pub command_line: &'a [u8],
}

/// One e820 entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// 1 = RAM, 2 = reserved, 3 = ACPI reclaimable.
    pub kind: u32,
}

/// e820 RAM.
pub const E820_RAM: u32 = 1;
/// e820 reserved.
pub const E820_RESERVED: u32 = 2;

/// The memory map the guest sees for `ram_bytes` of RAM.
pub fn e820_map(ram_bytes: u64) -> Vec<E820Entry> {
    let mut map = Vec::with_capacity(5);
    map.push(E820Entry { addr: 0, size: EBDA_GPA, kind: E820_RAM });
    map.push(E820Entry { addr: EBDA_GPA, size: KERNEL_LOAD_GPA - EBDA_GPA, kind: E820_RESERVED });
    if ram_bytes > KERNEL_LOAD_GPA {
        map.push(E820Entry { addr: KERNEL_LOAD_GPA, size: ram_bytes - KERNEL_LOAD_GPA, kind: E820_RAM });
    }
    map.push(E820Entry { addr: IOAPIC_BASE, size: 0x1000, kind: E820_RESERVED });
    map.push(E820Entry { addr: LAPIC_BASE, size: 0x1000, kind: E820_RESERVED });
    map
}

/// A segment register's hidden state in plain form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segment {
    /// Selector.
    pub selector: u16,
    /// Base address.
    pub base: u64,
    /// Limit in bytes (already scaled by G).
    pub limit: u32,
    /// Descriptor type (4 bits).
    pub segment_type: u8,
    /// S: code/data (true) or system (false).
    pub code_or_data: bool,
    /// DPL.
    pub dpl: u8,
    /// P.
    pub present: bool,
    /// AVL.
    pub available: bool,
    /// L: 64-bit code.
    pub long_mode: bool,
    /// D/B.
    pub default_big: bool,
    /// G.
    pub granularity: bool,
}

impl Segment {
    /// The attributes in AMD VMCB format: bits 3:0 type, 4 S, 6:5 DPL, 7 P, 8 AVL, 9 L,
    /// 10 D/B, 11 G.
    pub fn vmcb_attributes(&self) -> u16 {
        u16::from(self.segment_type & 0xF)
            | u16::from(self.code_or_data) << 4
            | u16::from(self.dpl & 3) << 5
            | u16::from(self.present) << 7
            | u16::from(self.available) << 8
            | u16::from(self.long_mode) << 9
            | u16::from(self.default_big) << 10
            | u16::from(self.granularity) << 11
    }

    /// The plain form of VMCB-format attributes (selector, base and limit left at zero).
    pub fn from_vmcb_attributes(attributes: u16) -> Self {
        Self {
            segment_type: (attributes & 0xF) as u8,
            code_or_data: attributes & (1 << 4) != 0,
            dpl: ((attributes >> 5) & 3) as u8,
            present: attributes & (1 << 7) != 0,
            available: attributes & (1 << 8) != 0,
            long_mode: attributes & (1 << 9) != 0,
            default_big: attributes & (1 << 10) != 0,
            granularity: attributes & (1 << 11) != 0,
            ..Self::default()
        }
    }
}

/// A descriptor-table register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DescriptorTable {
    /// Base address.
    pub base: u64,
    /// Limit (size - 1).
    pub limit: u16,
}

/// The initial vCPU state, independent of SVM or VMX.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcpuSetup {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    /// LME and LMA; an SVM backend must also set EFER.SVME in the VMCB.
    pub efer: u64,
    pub cs: Segment,
    pub ds: Segment,
    pub es: Segment,
    pub fs: Segment,
    pub gs: Segment,
    pub ss: Segment,
    pub tr: Segment,
    pub ldtr: Segment,
    pub gdtr: DescriptorTable,
    pub idtr: DescriptorTable,
    pub rip: u64,
    pub rsp: u64,
    /// The zero page, per the 64-bit boot protocol; guest RAM size for an ELF guest.
    pub rsi: u64,
    /// The first integer argument (System V): 0 for Linux, the case number for an ELF guest.
    pub rdi: u64,
    pub rflags: u64,
}

/// Where things went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedLinux {
    /// The initial vCPU state.
    pub vcpu: VcpuSetup,
    /// The protected-mode kernel's first byte.
    pub kernel_gpa: u64,
    /// End of the kernel's decompression footprint.
    pub kernel_footprint_end: u64,
    /// The initrd's address and size (0, 0 without one).
    pub initrd: (u64, u64),
    /// The ACPI tables.
    pub acpi: AcpiLayout,
    /// The memory map given to the guest.
    pub e820: Vec<E820Entry>,
}

const GDT: [u64; 4] = [0, 0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF];

fn flat_data_segment() -> Segment {
    Segment {
        selector: BOOT_DS,
        base: 0,
        limit: 0xFFFF_FFFF,
        segment_type: 0x3,
        code_or_data: true,
        dpl: 0,
        present: true,
        available: false,
        long_mode: false,
        default_big: true,
        granularity: true,
    }
}

/// The vCPU state for the 64-bit entry of a kernel loaded by [`load`].
pub fn vcpu_setup() -> VcpuSetup {
    let data = flat_data_segment();
    VcpuSetup {
        cr0: CR0_PE | (1 << 4) | (1 << 5) | CR0_PG, // PE, ET, NE, PG
        cr3: PML4_GPA,
        cr4: CR4_PAE,
        efer: EFER_LME | EFER_LMA,
        cs: Segment { selector: BOOT_CS, segment_type: 0xB, long_mode: true, default_big: false, ..data },
        ds: data,
        es: data,
        fs: data,
        gs: data,
        ss: data,
        tr: Segment {
            selector: 0,
            base: 0,
            limit: 0xFFFF,
            segment_type: 0xB, // busy 64-bit TSS
            present: true,
            ..Segment::default()
        },
        ldtr: Segment {
            selector: 0,
            base: 0,
            limit: 0xFFFF,
            segment_type: 0x2,
            present: true,
            ..Segment::default()
        },
        gdtr: DescriptorTable { base: GDT_GPA, limit: (GDT.len() * 8 - 1) as u16 },
        idtr: DescriptorTable { base: 0, limit: 0 },
        rip: KERNEL_LOAD_GPA + ENTRY_64_OFFSET,
        rsp: BOOT_STACK_TOP_GPA,
        rsi: ZERO_PAGE_GPA,
        rdi: 0,
        rflags: 0x2,
    }
}

/// Writes the boot GDT at [`GDT_GPA`] (the selectors [`vcpu_setup`] names).
pub(crate) fn write_boot_gdt(memory: &mut dyn GuestMemory) -> Result<(), MemoryError> {
    let mut gdt = [0u8; GDT.len() * 8];
    for (slot, entry) in gdt.chunks_exact_mut(8).zip(GDT) {
        slot.copy_from_slice(&entry.to_le_bytes());
    }
    memory.write(GDT_GPA, &gdt)
}

/// Writes the PML4 at [`PML4_GPA`], its PDPT and four PDs: 0-4 GiB identity-mapped, 2 MiB pages.
pub(crate) fn write_page_tables(memory: &mut dyn GuestMemory) -> Result<(), MemoryError> {
    const PRESENT_WRITABLE: u64 = 0x3;
    const PAGE_SIZE_2M: u64 = 1 << 7;
    let pdpt = PML4_GPA + 0x1000;
    let first_pd = pdpt + 0x1000;
    let mut page = [0u8; 4096];
    page[..8].copy_from_slice(&(pdpt | PRESENT_WRITABLE).to_le_bytes());
    memory.write(PML4_GPA, &page)?;
    page = [0u8; 4096];
    for i in 0..4u64 {
        let entry = (first_pd + i * 0x1000) | PRESENT_WRITABLE;
        page[(i * 8) as usize..][..8].copy_from_slice(&entry.to_le_bytes());
    }
    memory.write(pdpt, &page)?;
    for pd in 0..4u64 {
        for (j, slot) in page.chunks_exact_mut(8).enumerate() {
            let address = (pd * 512 + j as u64) << 21;
            slot.copy_from_slice(&(address | PRESENT_WRITABLE | PAGE_SIZE_2M).to_le_bytes());
        }
        memory.write(first_pd + pd * 0x1000, &page)?;
    }
    Ok(())
}

/// Loads `boot` into guest RAM (`ram_bytes` of it, at guest-physical 0): kernel, initrd,
/// command line, zero page, page tables, GDT and ACPI tables.
pub fn load(memory: &mut dyn GuestMemory, boot: &LinuxBoot<'_>) -> Result<LoadedLinux, LinuxError> {
    let ram_bytes = memory.size_bytes();
    if ram_bytes > RAM_LIMIT_BYTES {
        return Err(LinuxError::RamTooLarge { ram_bytes });
    }
    let image = BzImage::parse(boot.image)?;
    let footprint_end = image.footprint_end();
    if footprint_end > ram_bytes {
        return Err(LinuxError::RamTooSmall { needed_bytes: footprint_end, ram_bytes });
    }

    let max_cmdline = image.cmdline_max_bytes.min(CMDLINE_MAX_BYTES - 1);
    if boot.command_line.len() as u64 > max_cmdline {
        return Err(LinuxError::CommandLineTooLong {
            len_bytes: boot.command_line.len(),
            max_bytes: max_cmdline,
        });
    }
    if boot.command_line.contains(&0) {
        return Err(LinuxError::CommandLineHasNul);
    }

    let (initrd_gpa, initrd_size) = match boot.initrd {
        Some(initrd) if !initrd.is_empty() => {
            let size = initrd.len() as u64;
            let top = ram_bytes.min(image.initrd_addr_max.saturating_add(1));
            let available = top.saturating_sub(footprint_end);
            if size > available {
                return Err(LinuxError::InitrdDoesNotFit { size_bytes: size, available_bytes: available });
            }
            let gpa = (top - size) & !0xFFF;
            if gpa < footprint_end {
                return Err(LinuxError::InitrdDoesNotFit { size_bytes: size, available_bytes: available });
            }
            memory.write(gpa, initrd)?;
            (gpa, size)
        }
        _ => (0, 0),
    };

    memory.write(KERNEL_LOAD_GPA, image.kernel())?;
    let mut cmdline = Vec::with_capacity(boot.command_line.len() + 1);
    cmdline.extend_from_slice(boot.command_line);
    cmdline.push(0);
    memory.write(CMDLINE_GPA, &cmdline)?;

    write_boot_gdt(memory)?;
    write_page_tables(memory)?;
    let acpi_layout = acpi::write_tables(memory)?;

    let e820 = e820_map(ram_bytes);
    let mut zero_page = [0u8; 4096];
    let header = image.setup_header();
    zero_page[0x1F1..0x1F1 + header.len()].copy_from_slice(header);
    zero_page[0x1FA..0x1FC].copy_from_slice(&0xFFFFu16.to_le_bytes()); // vid_mode: normal
    zero_page[0x210] = 0xFF; // type_of_loader: undefined
    zero_page[0x218..0x21C].copy_from_slice(&(initrd_gpa as u32).to_le_bytes());
    zero_page[0x21C..0x220].copy_from_slice(&(initrd_size as u32).to_le_bytes());
    zero_page[0x228..0x22C].copy_from_slice(&(CMDLINE_GPA as u32).to_le_bytes());
    zero_page[0x23C..0x240].copy_from_slice(&0u32.to_le_bytes()); // hardware_subarch: PC
    zero_page[0x250..0x258].copy_from_slice(&0u64.to_le_bytes()); // no setup_data
    zero_page[0x070..0x078].copy_from_slice(&acpi_layout.rsdp.to_le_bytes());
    zero_page[0x1E8] = e820.len() as u8;
    for (i, entry) in e820.iter().enumerate() {
        let at = 0x2D0 + i * 20;
        zero_page[at..at + 8].copy_from_slice(&entry.addr.to_le_bytes());
        zero_page[at + 8..at + 16].copy_from_slice(&entry.size.to_le_bytes());
        zero_page[at + 16..at + 20].copy_from_slice(&entry.kind.to_le_bytes());
    }
    memory.write(ZERO_PAGE_GPA, &zero_page)?;

    Ok(LoadedLinux {
        vcpu: vcpu_setup(),
        kernel_gpa: KERNEL_LOAD_GPA,
        kernel_footprint_end: footprint_end,
        initrd: (initrd_gpa, initrd_size),
        acpi: acpi_layout,
        e820,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::memory::{translate, Access, GuestRam, PagingContext};
    use proptest::prelude::*;
    use std::vec;

    const MIB: usize = 1 << 20;

    /// A synthetic bzImage: 4 setup sectors + boot sector, then `kernel_bytes` of payload.
    fn synthetic(kernel_bytes: usize) -> Vec<u8> {
        let setup_bytes = 5 * 512;
        let mut img = vec![0u8; setup_bytes + kernel_bytes];
        img[0x1F1] = 4;
        img[0x1F4..0x1F8].copy_from_slice(&((kernel_bytes / 16) as u32).to_le_bytes());
        img[0x1FE..0x200].copy_from_slice(&0xAA55u16.to_le_bytes());
        img[0x200] = 0xEB;
        img[0x201] = 0x6A; // header ends at 0x26C
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
        img[0x211] = LOADFLAGS_LOADED_HIGH;
        img[0x22C..0x230].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        img[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
        img[0x234] = 1;
        img[0x236..0x238].copy_from_slice(&0x7Fu16.to_le_bytes());
        img[0x238..0x23C].copy_from_slice(&2047u32.to_le_bytes());
        img[0x258..0x260].copy_from_slice(&0x100_0000u64.to_le_bytes());
        img[0x260..0x264].copy_from_slice(&((4 * MIB) as u32).to_le_bytes());
        for (i, b) in img[setup_bytes..].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        img
    }

    #[test]
    fn parses_a_synthetic_image() {
        let img = synthetic(64 * 1024);
        let bz = BzImage::parse(&img).unwrap();
        assert_eq!(bz.protocol_version, 0x020F);
        assert_eq!(bz.setup_bytes, 2560);
        assert_eq!(bz.kernel().len(), 64 * 1024);
        assert_eq!(bz.setup_header().len(), 0x26C - 0x1F1);
        assert_eq!(bz.footprint_end(), 0x100_0000 + 4 * MIB as u64);
        assert!(bz.relocatable);
    }

    #[test]
    fn rejects_bad_headers() {
        let good = synthetic(4096);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut img = good.clone();
            f(&mut img);
            BzImage::parse(&img).err()
        };
        assert_eq!(BzImage::parse(&good[..0x100]).err(), Some(LinuxError::TooShort { len_bytes: 0x100 }));
        assert_eq!(with(&|i| i[0x1FE] = 0), Some(LinuxError::NoBootFlag));
        assert_eq!(with(&|i| i[0x202] = b'X'), Some(LinuxError::NoHeaderMagic));
        assert_eq!(with(&|i| i[0x206] = 0x0B), Some(LinuxError::ProtocolTooOld { version: 0x020B }));
        assert_eq!(with(&|i| i[0x211] = 0), Some(LinuxError::NotBzImage));
        assert_eq!(with(&|i| i[0x236] = 0), Some(LinuxError::No64BitEntry));
        assert!(matches!(with(&|i| i[0x1F1] = 200), Some(LinuxError::Truncated { .. })));
        assert!(matches!(with(&|i| i[0x1F4] = 0xFF), Some(LinuxError::Truncated { .. })));
        assert_eq!(with(&|i| i[0x201] = 0xFF), Some(LinuxError::BadHeaderField { field: "jump" }));
        assert_eq!(
            with(&|i| i[0x260..0x264].fill(0)),
            Some(LinuxError::BadHeaderField { field: "init_size" })
        );
        assert_eq!(with(&|i| i[0x230] = 3), Some(LinuxError::BadHeaderField { field: "kernel_alignment" }));
        assert_eq!(with(&|i| i[0x25F] = 0x80), Some(LinuxError::BadHeaderField { field: "pref_address" }));
    }

    #[test]
    fn loads_kernel_initrd_cmdline_zero_page() {
        let img = synthetic(64 * 1024);
        let initrd = vec![0x5Au8; 100_000];
        let mut backing = vec![0u8; 64 * MIB];
        let mut ram = GuestRam::new(&mut backing);
        let boot =
            LinuxBoot { image: &img, initrd: Some(&initrd), command_line: b"console=ttyS0 no_timer_check" };
        let loaded = load(&mut ram, &boot).unwrap();

        // Kernel at 1 MiB.
        let mut k = vec![0u8; 64 * 1024];
        ram.read(KERNEL_LOAD_GPA, &mut k).unwrap();
        assert_eq!(k, &img[2560..]);
        // Initrd at the top, page-aligned, above the kernel footprint.
        let (initrd_gpa, initrd_size) = loaded.initrd;
        assert_eq!(initrd_size, 100_000);
        assert_eq!(initrd_gpa % 4096, 0);
        assert!(initrd_gpa >= loaded.kernel_footprint_end);
        assert!(initrd_gpa + initrd_size <= 64 * MIB as u64);
        assert_eq!(ram.read_u32(initrd_gpa), Ok(0x5A5A_5A5A));
        // Zero page fields.
        let zp = ZERO_PAGE_GPA;
        assert_eq!(ram.read_u16(zp + 0x1FE), Ok(0xAA55));
        assert_eq!(ram.read_u32(zp + 0x202), Ok(u32::from_le_bytes(*b"HdrS")));
        let mut loader = [0u8; 1];
        ram.read(zp + 0x210, &mut loader).unwrap();
        assert_eq!(loader[0], 0xFF);
        assert_eq!(ram.read_u32(zp + 0x218), Ok(initrd_gpa as u32));
        assert_eq!(ram.read_u32(zp + 0x21C), Ok(100_000));
        assert_eq!(ram.read_u32(zp + 0x228), Ok(CMDLINE_GPA as u32));
        assert_eq!(ram.read_u64(zp + 0x70), Ok(acpi::RSDP_GPA));
        let mut cmd = vec![0u8; 29];
        ram.read(CMDLINE_GPA, &mut cmd).unwrap();
        assert_eq!(&cmd, b"console=ttyS0 no_timer_check\0");
        // e820 as written.
        let mut count = [0u8; 1];
        ram.read(zp + 0x1E8, &mut count).unwrap();
        assert_eq!(usize::from(count[0]), loaded.e820.len());
        let entry = |i: u64| {
            (
                ram.read_u64(zp + 0x2D0 + i * 20).unwrap(),
                ram.read_u64(zp + 0x2D0 + i * 20 + 8).unwrap(),
                ram.read_u32(zp + 0x2D0 + i * 20 + 16).unwrap(),
            )
        };
        assert_eq!(entry(0), (0, EBDA_GPA, E820_RAM));
        assert_eq!(entry(1), (EBDA_GPA, 0x10_0000 - EBDA_GPA, E820_RESERVED));
        assert_eq!(entry(2), (0x10_0000, 63 * MIB as u64, E820_RAM));
        assert_eq!(entry(3), (0xFEC0_0000, 0x1000, E820_RESERVED));
        // ACPI tables sit in a reserved range.
        assert!(loaded.acpi.rsdp >= EBDA_GPA && loaded.acpi.end <= 0x10_0000);
    }

    #[test]
    fn identity_map_and_vcpu_state() {
        let img = synthetic(4096);
        let mut backing = vec![0u8; 32 * MIB];
        let mut ram = GuestRam::new(&mut backing);
        let loaded = load(&mut ram, &LinuxBoot { image: &img, initrd: None, command_line: b"" }).unwrap();
        let v = loaded.vcpu;
        let ctx = PagingContext { cr0: v.cr0, cr3: v.cr3, cr4: v.cr4, efer: v.efer, phys_addr_bits: 40 };
        for gva in [0u64, 0x7000, 0x10_0200, 0x1234_5678, 0xFEC0_0000, 0xFFFF_FFFF] {
            assert_eq!(translate(&ram, &ctx, gva, Access::FETCH).unwrap().gpa, gva);
        }
        assert!(translate(&ram, &ctx, 0x1_0000_0000, Access::READ).is_err(), "only 4 GiB are mapped");
        assert_eq!(v.rip, 0x10_0200);
        assert_eq!(v.rsi, ZERO_PAGE_GPA);
        assert_eq!(v.rdi, 0);
        assert_eq!(v.cs.selector, 0x10);
        assert_eq!(v.cs.vmcb_attributes(), 0xA9B);
        assert_eq!(v.ds.vmcb_attributes(), 0xC93);
        assert_eq!(v.ss.selector, 0x18);
        assert!(Segment::from_vmcb_attributes(0xA9B).long_mode);
        assert_eq!(Segment::from_vmcb_attributes(0xC93).vmcb_attributes(), 0xC93);
        assert_eq!(loaded.initrd, (0, 0));
        // The GDT entries the selectors name match the hidden state.
        assert_eq!(ram.read_u64(GDT_GPA + 0x10), Ok(0x00AF_9B00_0000_FFFF));
        assert_eq!(ram.read_u64(GDT_GPA + 0x18), Ok(0x00CF_9300_0000_FFFF));
        assert_eq!(v.gdtr, DescriptorTable { base: GDT_GPA, limit: 31 });
        // Descriptor bits 40-55 are the VMCB attributes with the limit nibble squeezed out.
        let desc_attr = |d: u64| (((d >> 40) & 0xFF) | ((d >> 44) & 0xF00)) as u16;
        assert_eq!(desc_attr(0x00AF_9B00_0000_FFFF), v.cs.vmcb_attributes());
        assert_eq!(desc_attr(0x00CF_9300_0000_FFFF), v.ds.vmcb_attributes());
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let img = synthetic(4096);
        let mut small = vec![0u8; 16 * MIB];
        let mut ram = GuestRam::new(&mut small);
        let boot = LinuxBoot { image: &img, initrd: None, command_line: b"" };
        assert!(matches!(load(&mut ram, &boot), Err(LinuxError::RamTooSmall { .. })));

        let mut backing = vec![0u8; 24 * MIB];
        let mut ram = GuestRam::new(&mut backing);
        let initrd = vec![0u8; 8 * MIB];
        let boot = LinuxBoot { image: &img, initrd: Some(&initrd), command_line: b"" };
        assert!(matches!(load(&mut ram, &boot), Err(LinuxError::InitrdDoesNotFit { .. })));
        let long = vec![b'a'; 2048];
        let boot = LinuxBoot { image: &img, initrd: None, command_line: &long };
        assert_eq!(
            load(&mut ram, &boot).err(),
            Some(LinuxError::CommandLineTooLong { len_bytes: 2048, max_bytes: 2047 })
        );
        let boot = LinuxBoot { image: &img, initrd: None, command_line: b"a\0b" };
        assert_eq!(load(&mut ram, &boot).err(), Some(LinuxError::CommandLineHasNul));
    }

    #[test]
    fn initrd_respects_initrd_addr_max() {
        let mut img = synthetic(4096);
        img[0x22C..0x230].copy_from_slice(&(24 * MIB as u32 - 1).to_le_bytes());
        let mut backing = vec![0u8; 64 * MIB];
        let mut ram = GuestRam::new(&mut backing);
        let initrd = vec![1u8; 5000];
        let boot = LinuxBoot { image: &img, initrd: Some(&initrd), command_line: b"" };
        let (gpa, size) = load(&mut ram, &boot).unwrap().initrd;
        assert!(gpa + size <= 24 * MIB as u64);
        assert_eq!(gpa, (24 * MIB as u64 - 5000) & !0xFFF);
    }

    /// Parses a real Debian kernel. Fetch one with
    /// `apt-get download linux-image-6.1.0-<abi>-amd64 && dpkg-deb -x linux-image-*.deb target/debian-kernel`
    /// from the workspace root, or set `RAYOS_VMM_BZIMAGE` to a bzImage path.
    #[test]
    #[ignore = "needs a real bzImage on disk"]
    fn parses_a_real_debian_kernel() {
        let path = std::env::var("RAYOS_VMM_BZIMAGE").ok().or_else(|| {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debian-kernel/boot");
            std::fs::read_dir(root)
                .ok()?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
                .map(|p| p.to_string_lossy().into_owned())
        });
        let path = path
            .expect("no bzImage: set RAYOS_VMM_BZIMAGE or extract a Debian kernel into target/debian-kernel");
        let bytes = std::fs::read(&path).unwrap();
        let bz = BzImage::parse(&bytes).unwrap();
        std::println!(
            "{path}: protocol {:#06x}, setup {} B, kernel {} B, init_size {} MiB, pref {:#x}, align {:#x}, cmdline max {}",
            bz.protocol_version,
            bz.setup_bytes,
            bz.kernel().len(),
            bz.init_size_bytes >> 20,
            bz.pref_address,
            bz.kernel_alignment_bytes,
            bz.cmdline_max_bytes
        );
        assert!(bz.protocol_version >= MIN_PROTOCOL_VERSION);
        let mut backing = vec![0u8; 256 * MIB];
        let mut ram = GuestRam::new(&mut backing);
        let loaded = load(
            &mut ram,
            &LinuxBoot { image: &bytes, initrd: Some(&[0u8; 4096]), command_line: b"console=ttyS0" },
        )
        .unwrap();
        assert!(loaded.kernel_footprint_end < 256 * MIB as u64);
    }

    proptest! {
        #[test]
        fn parser_survives_any_mutation(
            edits in proptest::collection::vec((0x1F0usize..0x270, any::<u8>()), 0..12),
            truncate in 0usize..8000,
        ) {
            let mut img = synthetic(4096);
            for (at, value) in edits {
                img[at] = value;
            }
            img.truncate(truncate.max(1));
            if let Ok(bz) = BzImage::parse(&img) {
                prop_assert!(bz.setup_bytes < img.len());
                prop_assert!(bz.kernel().len() as u64 <= bz.init_size_bytes);
                let mut backing = vec![0u8; 8 * MIB];
                let mut ram = GuestRam::new(&mut backing);
                let _ = load(&mut ram, &LinuxBoot { image: &img, initrd: Some(&[1, 2, 3]), command_line: b"x" });
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = BzImage::parse(&bytes);
        }
    }
}
