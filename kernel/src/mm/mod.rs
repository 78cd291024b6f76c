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
