//! Memory: physical frames, the kernel heap, and kernel mappings (MMIO, thread stacks).
//!
//! Address space (higher half only once boot is done):
//!
//! | range                      | what                                              |
//! |----------------------------|---------------------------------------------------|
//! | `0xFFFF_8000_0000_0000`..  | direct map of all RAM (2 MiB pages, from the loader) |
//! | `0xFFFF_D000_0000_0000`..  | MMIO windows, uncached ([`map::map_mmio`])         |
//! | `0xFFFF_E000_0000_0000`..  | thread stacks with unmapped guard pages           |
//! | `0xFFFF_FFFF_8000_0000`..  | the kernel image                                  |

pub mod frames;
pub mod heap;
pub mod map;

use rayos_bootinfo::{BootInfo, MemoryRegion, PHYSICAL_MEMORY_OFFSET};

/// The direct-map address of a physical address.
pub const fn phys_to_virt(phys: u64) -> u64 {
    phys + PHYSICAL_MEMORY_OFFSET
}

/// The loader's memory map.
pub fn memory_regions(boot_info: &BootInfo) -> &'static [MemoryRegion] {
    // SAFETY: validated boot info: `entries_phys` points to `len` regions in boot-data memory,
    // which the frame allocator never hands out, mapped in the direct map.
    unsafe {
        core::slice::from_raw_parts(
            phys_to_virt(boot_info.memory_map.entries_phys) as *const MemoryRegion,
            boot_info.memory_map.len as usize,
        )
    }
}

/// Sets up frames, the heap and the kernel's mappings. After this, `alloc` works.
pub fn init(boot_info: &BootInfo) {
    let regions = memory_regions(boot_info);
    frames::init(regions);
    heap::init();
    map::init();
}

/// A run of contiguous physical frames owned by one user (guest RAM, VMCBs, DMA buffers),
/// freed when dropped.
pub struct PhysicalRun {
    phys: u64,
    bytes: u64,
}

impl PhysicalRun {
    /// `bytes` (a multiple of 4 KiB) of zeroed contiguous memory aligned to `align_bytes`.
    pub fn allocate_zeroed(bytes: u64, align_bytes: u64) -> Option<PhysicalRun> {
        let phys = frames::allocate_contiguous(bytes / 4096, align_bytes)?;
        // SAFETY: fresh frames, ours alone, mapped in the direct map.
        unsafe { core::ptr::write_bytes(phys_to_virt(phys) as *mut u8, 0, bytes as usize) };
        Some(PhysicalRun { phys, bytes })
    }

    pub fn phys(&self) -> u64 {
        self.phys
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Its address in the direct map.
    pub fn virt(&self) -> u64 {
        phys_to_virt(self.phys)
    }

    /// The memory as bytes. A guest may be writing it concurrently only while it runs, and
    /// the vCPU thread that owns this run does not run the guest while it holds the slice.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the frames are ours (allocated above) and mapped in the direct map.
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(self.phys) as *mut u8, self.bytes as usize) }
    }
}

impl Drop for PhysicalRun {
    fn drop(&mut self) {
        frames::free(self.phys, self.bytes / 4096);
    }
}

/// The loader's list of modules (at most `MAX_MODULES`; none when it wrote no list).
pub fn boot_modules(list: &rayos_bootinfo::ModuleList) -> &'static [rayos_bootinfo::Module] {
    let count = (list.len as usize).min(rayos_bootinfo::MAX_MODULES);
    if list.entries_phys == 0 || count == 0 {
        return &[];
    }
    // SAFETY: the loader wrote `len` entries (at most MAX_MODULES) into boot data it never
    // reuses, mapped in the direct map.
    unsafe {
        core::slice::from_raw_parts(phys_to_virt(list.entries_phys) as *const rayos_bootinfo::Module, count)
    }
}

/// A module the loader read (guest images), in memory the kernel never frees.
pub fn module_bytes(module: &rayos_bootinfo::Module) -> &'static [u8] {
    // SAFETY: the loader put the module in Module memory, which the frame allocator never hands
    // out, mapped in the direct map, for the kernel's lifetime.
    unsafe { core::slice::from_raw_parts(phys_to_virt(module.phys) as *const u8, module.len_bytes as usize) }
}
