//! What the kernel keeps from the loader's boot information.

use alloc::string::String;
use alloc::vec::Vec;

use rayos_bootinfo::BootInfo;
use spin::Once;

use crate::mm;

#[derive(Debug, Clone)]
pub struct BootSummary {
    pub kernel_sha256: [u8; 32],
    pub kernel_file_phys: u64,
    pub kernel_file_len: u64,
    pub boot_partition_guid: [u8; 16],
    /// Files the loader read from `\\rayos\\modules`: (name, contents).
    pub modules: Vec<(String, &'static [u8])>,
}

impl BootSummary {
    /// The kernel ELF file as the loader read it (kept in memory the kernel never frees).
    pub fn kernel_file(&self) -> &'static [u8] {
        // SAFETY: the loader placed the file in KernelFile memory, which the frame allocator
        // never hands out, mapped in the direct map.
        unsafe {
            core::slice::from_raw_parts(
                mm::phys_to_virt(self.kernel_file_phys) as *const u8,
                self.kernel_file_len as usize,
            )
        }
    }
}

static SUMMARY: Once<BootSummary> = Once::new();

pub fn init(info: &BootInfo) -> &'static BootSummary {
    SUMMARY.call_once(|| BootSummary {
        kernel_sha256: info.kernel_sha256,
        kernel_file_phys: info.kernel_file_phys,
        kernel_file_len: info.kernel_file_len,
        boot_partition_guid: info.boot_partition_guid,
        modules: modules(info),
    })
}

pub fn info() -> &'static BootSummary {
    SUMMARY.get().expect("boot::init runs first")
}

fn modules(info: &BootInfo) -> Vec<(String, &'static [u8])> {
    mm::boot_modules(&info.modules)
        .iter()
        .filter_map(|m| Some((String::from(m.name()?), mm::module_bytes(m))))
        .collect()
}

/// A module's contents by name.
pub fn module(name: &str) -> Option<&'static [u8]> {
    info().modules.iter().find(|(n, _)| n == name).map(|(_, bytes)| *bytes)
}
