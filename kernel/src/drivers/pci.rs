//! PCI enumeration through the memory-mapped configuration space (ECAM) that the ACPI MCFG
//! table describes.

use alloc::vec::Vec;

use spin::Once;

use super::acpi::PciSegment;
use crate::mm;

/// One PCI function.
#[derive(Debug, Clone, Copy)]
pub struct PciFunction {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
    pub vendor_id: u16,
    pub device_id: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub revision: u8,
    pub header_type: u8,
    pub interrupt_line: u8,
}

struct Ecam {
    virt_base: u64,
    first_bus: u8,
    last_bus: u8,
}

static ECAM: Once<Ecam> = Once::new();
static FUNCTIONS: Once<Vec<PciFunction>> = Once::new();

/// The ECAM address of configuration register `offset` (naturally aligned to `size`).
fn config_address(bus: u8, device: u8, function: u8, offset: u16, size: u16) -> Option<u64> {
    let ecam = ECAM.get()?;
    if bus < ecam.first_bus || bus > ecam.last_bus || device >= 32 || function >= 8 || offset >= 4096 {
        return None;
    }
    if !offset.is_multiple_of(size) {
        return None;
    }
    let relative = ((bus - ecam.first_bus) as u64) << 20 | (device as u64) << 15 | (function as u64) << 12;
    Some(ecam.virt_base + relative + offset as u64)
}

/// Reads a configuration-space doubleword (None without ECAM, out of range or misaligned).
pub fn read_config_u32(bus: u8, device: u8, function: u8, offset: u16) -> Option<u32> {
    let address = config_address(bus, device, function, offset, 4)?;
    // SAFETY: the address lies in the mapped ECAM window (checked by config_address).
    Some(unsafe { core::ptr::read_volatile(address as *const u32) })
}

/// Reads a configuration-space word.
pub fn read_config_u16(bus: u8, device: u8, function: u8, offset: u16) -> Option<u16> {
    let address = config_address(bus, device, function, offset, 2)?;
    // SAFETY: as in read_config_u32.
    Some(unsafe { core::ptr::read_volatile(address as *const u16) })
}

/// Writes a configuration-space word with one 16-bit access (some devices decode the width).
pub fn write_config_u16(bus: u8, device: u8, function: u8, offset: u16, value: u16) {
    if let Some(address) = config_address(bus, device, function, offset, 2) {
        // SAFETY: as in read_config_u32.
        unsafe { core::ptr::write_volatile(address as *mut u16, value) }
    }
}

/// Writes a configuration-space byte with one 8-bit access.
pub fn write_config_u8(bus: u8, device: u8, function: u8, offset: u16, value: u8) {
    if let Some(address) = config_address(bus, device, function, offset, 1) {
        // SAFETY: as in read_config_u32.
        unsafe { core::ptr::write_volatile(address as *mut u8, value) }
    }
}

/// The memory address a function's BAR `index` decodes (None for I/O BARs or unassigned).
pub fn bar_address(function: &PciFunction, index: u8) -> Option<u64> {
    if index > 5 {
        return None;
    }
    let offset = 0x10 + 4 * index as u16;
    let low = read_config_u32(function.bus, function.device, function.function, offset)?;
    if low & 1 != 0 {
        return None;
    }
    let address = match (low >> 1) & 3 {
        0 => (low & !0xF) as u64,
        2 if index < 5 => {
            let high = read_config_u32(function.bus, function.device, function.function, offset + 4)?;
            ((high as u64) << 32) | (low & !0xF) as u64
        }
        _ => return None,
    };
    (address != 0).then_some(address)
}

/// Turns on memory decoding and bus mastering (DMA) for a function.
pub fn enable_memory_and_dma(function: &PciFunction) {
    let command = read_config_u16(function.bus, function.device, function.function, 0x04).unwrap_or(0);
    write_config_u16(function.bus, function.device, function.function, 0x04, command | 0x6);
}

/// Maps the first ECAM segment and enumerates every function on its buses.
pub fn init(segments: &[PciSegment]) -> usize {
    let Some(segment) = segments.iter().find(|s| s.segment == 0) else {
        log::warn!(target: "pci", "no ECAM configuration space in the ACPI tables; PCI devices are not enumerated");
        FUNCTIONS.call_once(Vec::new);
        return 0;
    };
    let buses = segment.last_bus as u64 - segment.first_bus as u64 + 1;
    let base = segment.base_phys + ((segment.first_bus as u64) << 20);
    match mm::map::map_mmio(base, buses << 20) {
        Ok(virt_base) => {
            ECAM.call_once(|| Ecam { virt_base, first_bus: segment.first_bus, last_bus: segment.last_bus });
        }
        Err(e) => {
            log::error!(target: "pci", "cannot map the ECAM window: {e:?}");
            FUNCTIONS.call_once(Vec::new);
            return 0;
        }
    }
    let mut found = Vec::new();
    for bus in segment.first_bus..=segment.last_bus {
        for device in 0..32 {
            let Some(id) = read_config_u32(bus, device, 0, 0) else { continue };
            if id & 0xFFFF == 0xFFFF {
                continue;
            }
            let header = read_config_u32(bus, device, 0, 0x0C).unwrap_or(0);
            let functions = if (header >> 16) & 0x80 != 0 { 8 } else { 1 };
            for function in 0..functions {
                let Some(id) = read_config_u32(bus, device, function, 0) else { continue };
                if id & 0xFFFF == 0xFFFF {
                    continue;
                }
                let class = read_config_u32(bus, device, function, 0x08).unwrap_or(0);
                let header = read_config_u32(bus, device, function, 0x0C).unwrap_or(0);
                let interrupt = read_config_u32(bus, device, function, 0x3C).unwrap_or(0);
                found.push(PciFunction {
                    bus,
                    device,
                    function,
                    vendor_id: id as u16,
                    device_id: (id >> 16) as u16,
                    class: (class >> 24) as u8,
                    subclass: (class >> 16) as u8,
                    prog_if: (class >> 8) as u8,
                    revision: class as u8,
                    header_type: ((header >> 16) & 0x7F) as u8,
                    interrupt_line: interrupt as u8,
                });
            }
        }
    }
    let count = found.len();
    FUNCTIONS.call_once(|| found);
    count
}

/// Every function found at boot.
pub fn functions() -> &'static [PciFunction] {
    FUNCTIONS.get().map(Vec::as_slice).unwrap_or(&[])
}
