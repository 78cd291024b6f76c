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

fn config_address(bus: u8, device: u8, function: u8, offset: u16) -> Option<*mut u32> {
    let ecam = ECAM.get()?;
    if bus < ecam.first_bus || bus > ecam.last_bus || device >= 32 || function >= 8 || offset >= 4096 {
        return None;
    }
    let offset = ((bus - ecam.first_bus) as u64) << 20
        | (device as u64) << 15
        | (function as u64) << 12
        | (offset & !3) as u64;
    Some((ecam.virt_base + offset) as *mut u32)
}

/// Reads a configuration-space doubleword (None without ECAM or out of range).
pub fn read_config_u32(bus: u8, device: u8, function: u8, offset: u16) -> Option<u32> {
    let address = config_address(bus, device, function, offset)?;
    // SAFETY: the address lies in the mapped ECAM window (checked by config_address).
    Some(unsafe { core::ptr::read_volatile(address) })
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
