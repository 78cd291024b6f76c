//! The handoff from the RayOS UEFI loader to the kernel.
//!
//! The loader fills one [`BootInfo`] and jumps to the kernel with its address in `rdi`.
//! Both sides are compiled from this crate, but they are separate binaries that may come
//! from different builds, so the structure carries a magic number, a version and its own
//! size; the kernel refuses a handoff it does not understand instead of misreading it.
//!
//! # Invariants
//! - All types are `#[repr(C)]` with explicit padding and only integer fields, so the layout
//!   is the same for the UEFI target and the kernel target.
//! - Addresses named `*_phys` are physical. Everything else the kernel dereferences is
//!   reachable through the direct map: `virt = phys + physical_memory_offset`.
//! - A change of layout bumps [`BOOT_INFO_VERSION`].
#![no_std]
#![forbid(unsafe_code)]

/// `"RAYOSBI1"` as a little-endian integer.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"RAYOSBI1");
/// Layout version of [`BootInfo`].
pub const BOOT_INFO_VERSION: u32 = 2;

/// Where the loader maps all physical memory in the kernel's address space.
pub const PHYSICAL_MEMORY_OFFSET: u64 = 0xFFFF_8000_0000_0000;
/// The kernel is linked at and above this address (the top 2 GiB, `code-model=kernel`).
pub const KERNEL_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// Size of the boot stack the loader gives the kernel.
pub const BOOT_STACK_BYTES: u64 = 256 * 1024;

/// The kernel file's path on the partition the loader was started from.
pub const KERNEL_PATH: &str = "\\rayos\\kernel.elf";
/// The kernel's SHA-256 digest (64 lowercase hex digits) beside it.
pub const KERNEL_DIGEST_PATH: &str = "\\rayos\\kernel.sha256";
/// Every file in this directory is loaded and handed to the kernel as a [`Module`]
/// (guest kernels, initrds, test payloads).
pub const MODULES_DIRECTORY: &str = "\\rayos\\modules";
/// The most modules the loader passes.
pub const MAX_MODULES: usize = 32;
/// Longest module name, in bytes (the file name, NUL-padded).
pub const MODULE_NAME_BYTES: usize = 40;

/// Everything the kernel needs from the firmware and the loader.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    /// [`BOOT_INFO_VERSION`].
    pub version: u32,
    /// `size_of::<BootInfo>()` as the loader saw it.
    pub size: u32,
    /// Virtual address where physical address 0 is mapped ([`PHYSICAL_MEMORY_OFFSET`]).
    pub physical_memory_offset: u64,
    /// The physical memory map, converted from the UEFI one after `ExitBootServices`.
    pub memory_map: MemoryMap,
    /// The GOP framebuffer, or `width == 0` when the firmware gave none.
    pub framebuffer: Framebuffer,
    /// Physical address of the ACPI RSDP (2.0+ preferred), or 0.
    pub rsdp_phys: u64,
    /// The kernel ELF file as read from disk (kept for its symbol table).
    pub kernel_file_phys: u64,
    /// Length of the kernel file in bytes.
    pub kernel_file_len: u64,
    /// SHA-256 of the kernel file, verified by the loader.
    pub kernel_sha256: [u8; 32],
    /// Unique GUID of the GPT partition the loader was started from (all zero if unknown),
    /// in the mixed-endian byte order GPT stores on disk.
    pub boot_partition_guid: [u8; 16],
    /// Time-stamp counter value when the loader started.
    pub loader_start_tsc: u64,
    /// Time-stamp counter value just before the jump to the kernel.
    pub kernel_jump_tsc: u64,
    /// Files loaded from [`MODULES_DIRECTORY`].
    pub modules: ModuleList,
}

/// An array of [`Module`]s in physical memory.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ModuleList {
    pub entries_phys: u64,
    pub len: u64,
}

/// A file the loader read into memory for the kernel.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Module {
    /// File name, NUL-padded ASCII.
    pub name: [u8; MODULE_NAME_BYTES],
    pub phys: u64,
    pub len_bytes: u64,
}

impl Module {
    /// The name as text (`None` if it is not ASCII).
    pub fn name(&self) -> Option<&str> {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(MODULE_NAME_BYTES);
        core::str::from_utf8(&self.name[..end]).ok().filter(|n| n.is_ascii())
    }
}

impl BootInfo {
    /// Checks the header fields; returns why the handoff cannot be used.
    pub fn validate(&self) -> Result<(), HandoffError> {
        if self.magic != BOOT_INFO_MAGIC {
            return Err(HandoffError::BadMagic(self.magic));
        }
        if self.version != BOOT_INFO_VERSION {
            return Err(HandoffError::UnsupportedVersion(self.version));
        }
        if self.size as usize != core::mem::size_of::<BootInfo>() {
            return Err(HandoffError::SizeMismatch(self.size));
        }
        if self.physical_memory_offset != PHYSICAL_MEMORY_OFFSET {
            return Err(HandoffError::UnexpectedDirectMap(self.physical_memory_offset));
        }
        if self.memory_map.entries_phys == 0 || self.memory_map.len == 0 {
            return Err(HandoffError::EmptyMemoryMap);
        }
        Ok(())
    }
}

/// Why the kernel rejected a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffError {
    BadMagic(u64),
    UnsupportedVersion(u32),
    SizeMismatch(u32),
    UnexpectedDirectMap(u64),
    EmptyMemoryMap,
}

impl core::fmt::Display for HandoffError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "boot info magic {m:#x} is not RayOS's"),
            Self::UnsupportedVersion(v) => {
                write!(f, "boot info version {v}, this kernel understands {BOOT_INFO_VERSION}")
            }
            Self::SizeMismatch(s) => {
                write!(f, "boot info is {s} bytes, expected {}", core::mem::size_of::<BootInfo>())
            }
            Self::UnexpectedDirectMap(o) => {
                write!(f, "direct map at {o:#x}, expected {PHYSICAL_MEMORY_OFFSET:#x}")
            }
            Self::EmptyMemoryMap => f.write_str("the memory map is empty"),
        }
    }
}

/// An array of [`MemoryRegion`]s in physical memory.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MemoryMap {
    pub entries_phys: u64,
    pub len: u64,
}

/// One physical memory range.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start_phys: u64,
    pub len_bytes: u64,
    pub kind: MemoryKind,
    pub _reserved: u32,
}

impl MemoryRegion {
    pub fn end_phys(&self) -> u64 {
        self.start_phys.saturating_add(self.len_bytes)
    }
}

/// What a physical range holds. `u32` values are stable across versions.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    /// Free RAM the kernel may use (including the loader's and boot services' memory).
    Usable = 1,
    /// Firmware or hardware reserved; never touch.
    Reserved = 2,
    /// ACPI tables; usable once the kernel has read them.
    AcpiReclaimable = 3,
    /// ACPI non-volatile storage; never touch.
    AcpiNvs = 4,
    /// UEFI runtime services code or data.
    FirmwareRuntime = 5,
    /// Memory-mapped I/O.
    Mmio = 6,
    /// The kernel's loaded segments.
    KernelImage = 7,
    /// The kernel ELF file (symbol table for backtraces).
    KernelFile = 8,
    /// Boot info, memory map array, initial page tables and the boot stack.
    BootData = 9,
    /// RAM the firmware reported as failing.
    Unusable = 10,
    /// Persistent memory.
    Persistent = 11,
    /// Module files (guest images) the loader read.
    Module = 12,
}

/// Pixel layouts of a GOP framebuffer.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Byte order in memory: blue, green, red, reserved.
    Bgr = 1,
    /// Byte order in memory: red, green, blue, reserved.
    Rgb = 2,
}

/// A linear 32-bit-per-pixel framebuffer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Framebuffer {
    pub base_phys: u64,
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    /// Pixels per scan line (at least `width`).
    pub stride_pixels: u32,
    pub format: PixelFormat,
}

impl Framebuffer {
    pub const NONE: Framebuffer = Framebuffer {
        base_phys: 0,
        size_bytes: 0,
        width: 0,
        height: 0,
        stride_pixels: 0,
        format: PixelFormat::Bgr,
    };

    pub fn is_present(&self) -> bool {
        self.width != 0 && self.height != 0 && self.base_phys != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BootInfo {
        BootInfo {
            magic: BOOT_INFO_MAGIC,
            version: BOOT_INFO_VERSION,
            size: core::mem::size_of::<BootInfo>() as u32,
            physical_memory_offset: PHYSICAL_MEMORY_OFFSET,
            memory_map: MemoryMap { entries_phys: 0x1000, len: 3 },
            framebuffer: Framebuffer::NONE,
            rsdp_phys: 0,
            kernel_file_phys: 0,
            kernel_file_len: 0,
            kernel_sha256: [0; 32],
            boot_partition_guid: [0; 16],
            loader_start_tsc: 0,
            kernel_jump_tsc: 0,
            modules: ModuleList { entries_phys: 0, len: 0 },
        }
    }

    #[test]
    fn valid_handoff_is_accepted() {
        assert_eq!(sample().validate(), Ok(()));
    }

    #[test]
    fn mismatches_are_rejected_with_reasons() {
        let mut b = sample();
        b.magic = 1;
        assert_eq!(b.validate(), Err(HandoffError::BadMagic(1)));
        let mut b = sample();
        b.version = 9;
        assert_eq!(b.validate(), Err(HandoffError::UnsupportedVersion(9)));
        let mut b = sample();
        b.size -= 8;
        assert!(matches!(b.validate(), Err(HandoffError::SizeMismatch(_))));
        let mut b = sample();
        b.memory_map.len = 0;
        assert_eq!(b.validate(), Err(HandoffError::EmptyMemoryMap));
    }

    #[test]
    fn layout_is_stable() {
        // The loader and the kernel are built for different targets; pin the layout.
        assert_eq!(core::mem::size_of::<MemoryRegion>(), 24);
        assert_eq!(core::mem::size_of::<Framebuffer>(), 32);
        assert_eq!(core::mem::size_of::<BootInfo>(), 176);
        assert_eq!(core::mem::size_of::<Module>(), 56);
    }

    #[test]
    fn module_names() {
        let mut m = Module { name: [0; MODULE_NAME_BYTES], phys: 0, len_bytes: 0 };
        m.name[..7].copy_from_slice(b"vmlinuz");
        assert_eq!(m.name(), Some("vmlinuz"));
        m.name[0] = 0xFF;
        assert_eq!(m.name(), None);
    }
}
