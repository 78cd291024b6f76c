//! PCI configuration mechanism #1 (0xCF8 address, 0xCFC-0xCFF data) with a host bridge at
//! 00:00.0, and the reset control register at 0xCF9.
//!
//! Bus 0 has 32 slots of one function each; empty slots, other functions and other buses
//! read as all-ones, which is how Linux sees "no device". Devices plug in through
//! [`PciDevice`]; virtio devices will be added that way (their BARs' MMIO dispatch comes with
//! them).

use alloc::boxed::Box;

/// One PCI function's configuration space.
pub trait PciDevice {
    /// Reads `size_bytes` (1, 2 or 4) at `offset` (0..256, naturally aligned).
    fn config_read(&mut self, offset: u8, size_bytes: u8) -> u32;
    /// Writes `size_bytes` (1, 2 or 4) at `offset` (0..256, naturally aligned).
    fn config_write(&mut self, offset: u8, size_bytes: u8, value: u32);
}

/// A 256-byte configuration space with a per-byte write mask, for simple devices.
#[derive(Debug, Clone)]
pub struct ConfigSpace {
    bytes: [u8; 256],
    writable: [u8; 256],
}

impl ConfigSpace {
    /// A type-0 header with the given identity and everything read-only.
    pub fn new(vendor_id: u16, device_id: u16, class_code: u32, revision: u8) -> Self {
        let mut space = Self { bytes: [0; 256], writable: [0; 256] };
        space.bytes[0..2].copy_from_slice(&vendor_id.to_le_bytes());
        space.bytes[2..4].copy_from_slice(&device_id.to_le_bytes());
        space.bytes[8] = revision;
        space.bytes[9..12].copy_from_slice(&class_code.to_le_bytes()[..3]);
        space
    }

    /// Lets the guest change the bits of `mask` in the byte at `offset`.
    pub fn set_writable(&mut self, offset: u8, mask: u8) {
        self.writable[usize::from(offset)] = mask;
    }
}

impl PciDevice for ConfigSpace {
    fn config_read(&mut self, offset: u8, size_bytes: u8) -> u32 {
        let mut value = 0u32;
        for i in 0..size_bytes {
            let byte = self.bytes[usize::from(offset.wrapping_add(i))];
            value |= u32::from(byte) << (8 * i);
        }
        value
    }

    fn config_write(&mut self, offset: u8, size_bytes: u8, value: u32) {
        for i in 0..size_bytes {
            let at = usize::from(offset.wrapping_add(i));
            let byte = (value >> (8 * i)) as u8;
            self.bytes[at] = (self.bytes[at] & !self.writable[at]) | (byte & self.writable[at]);
        }
    }
}

/// The host bridge's identity: Red Hat's generic PCIe host bridge ID (1b36:0008), which no
/// Linux quirk matches, class 06/00/00.
pub fn host_bridge() -> ConfigSpace {
    let mut space = ConfigSpace::new(0x1B36, 0x0008, 0x06_00_00, 0);
    // Command register: I/O, memory, bus master; interrupt line is scratch for the OS.
    space.set_writable(0x04, 0x07);
    space.set_writable(0x3C, 0xFF);
    space
}

/// What a write to the PCI ports asks of the VMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PciAction {
    /// Nothing beyond the register change.
    None,
    /// A write to 0xCF9 asked for a reset.
    Reset,
}

/// Bus 0 behind configuration mechanism #1.
pub struct PciBus {
    address: u32,
    reset_control: u8,
    slots: [Option<Box<dyn PciDevice>>; 32],
}

impl core::fmt::Debug for PciBus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let present = self.slots.iter().filter(|s| s.is_some()).count();
        f.debug_struct("PciBus").field("address", &self.address).field("devices", &present).finish()
    }
}

impl Default for PciBus {
    fn default() -> Self {
        Self::new()
    }
}

impl PciBus {
    /// A bus holding only the host bridge at slot 0.
    pub fn new() -> Self {
        let mut bus = Self { address: 0, reset_control: 0, slots: Default::default() };
        bus.slots[0] = Some(Box::new(host_bridge()));
        bus
    }

    /// Plugs `device` into `slot` (1..32); false if the slot is taken or out of range.
    pub fn attach(&mut self, slot: u8, device: Box<dyn PciDevice>) -> bool {
        match self.slots.get_mut(usize::from(slot)) {
            Some(entry @ None) if slot != 0 => {
                *entry = Some(device);
                true
            }
            _ => false,
        }
    }

    fn selected(&mut self) -> Option<(&mut Box<dyn PciDevice>, u8)> {
        if self.address & 0x8000_0000 == 0 {
            return None;
        }
        let bus = (self.address >> 16) & 0xFF;
        let slot = (self.address >> 11) & 0x1F;
        let function = (self.address >> 8) & 7;
        if bus != 0 || function != 0 {
            return None;
        }
        let register = (self.address & 0xFC) as u8;
        self.slots[slot as usize].as_mut().map(|d| (d, register))
    }

    /// Reads `size_bytes` at `port` (0xCF8-0xCFF).
    pub fn read(&mut self, port: u16, size_bytes: u8) -> u32 {
        if !matches!(size_bytes, 1 | 2 | 4) {
            return u32::MAX;
        }
        let all_ones = (u64::from(u32::MAX) >> (32 - 8 * u32::from(size_bytes))) as u32;
        match (port, size_bytes) {
            (0xCF8, 4) => self.address,
            (0xCF9, 1) => u32::from(self.reset_control),
            (0xCFC..=0xCFF, _) => {
                let byte_offset = (port - 0xCFC) as u8;
                if !byte_offset.is_multiple_of(size_bytes) {
                    return all_ones;
                }
                match self.selected() {
                    Some((device, register)) => device.config_read(register + byte_offset, size_bytes),
                    None => all_ones,
                }
            }
            _ => all_ones,
        }
    }

    /// Writes `size_bytes` of `value` at `port` (0xCF8-0xCFF).
    pub fn write(&mut self, port: u16, size_bytes: u8, value: u32) -> PciAction {
        if !matches!(size_bytes, 1 | 2 | 4) {
            return PciAction::None;
        }
        match (port, size_bytes) {
            (0xCF8, 4) => self.address = value & 0x80FF_FFFC,
            (0xCF9, 1) => {
                let value = value as u8;
                // RST_CPU rising edge resets; SYS_RST (bit 1) picks hard vs soft, same for us.
                let fire = value & 0x04 != 0 && self.reset_control & 0x04 == 0;
                self.reset_control = value & 0x0A;
                if fire {
                    return PciAction::Reset;
                }
            }
            (0xCFC..=0xCFF, _) => {
                let byte_offset = (port - 0xCFC) as u8;
                if byte_offset.is_multiple_of(size_bytes) {
                    if let Some((device, register)) = self.selected() {
                        device.config_write(register + byte_offset, size_bytes, value);
                    }
                }
            }
            _ => {}
        }
        PciAction::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_type1_check_and_host_bridge() {
        let mut bus = PciBus::new();
        // pci_check_type1: byte write to 0xCFB is not the address register.
        bus.write(0xCFB, 1, 0x01);
        bus.write(0xCF8, 4, 0x8000_0000);
        assert_eq!(bus.read(0xCF8, 4), 0x8000_0000);
        assert_eq!(bus.read(0xCFC, 4), 0x0008_1B36);
        assert_eq!(bus.read(0xCFE, 2), 0x0008);
        bus.write(0xCF8, 4, 0x8000_0008);
        assert_eq!(bus.read(0xCFC, 4) >> 8, 0x06_00_00);
        // Command register is writable (bits 0-2 only).
        bus.write(0xCF8, 4, 0x8000_0004);
        bus.write(0xCFC, 2, 0xFFFF);
        assert_eq!(bus.read(0xCFC, 2), 0x0007);
        // Vendor ID is read-only.
        bus.write(0xCF8, 4, 0x8000_0000);
        bus.write(0xCFC, 4, 0);
        assert_eq!(bus.read(0xCFC, 2), 0x1B36);
    }

    #[test]
    fn absent_devices_read_all_ones() {
        let mut bus = PciBus::new();
        bus.write(0xCF8, 4, 0x8000_0800); // slot 1
        assert_eq!(bus.read(0xCFC, 4), 0xFFFF_FFFF);
        assert_eq!(bus.read(0xCFC, 2), 0xFFFF);
        bus.write(0xCF8, 4, 0x8001_0000); // bus 1
        assert_eq!(bus.read(0xCFC, 4), 0xFFFF_FFFF);
        bus.write(0xCF8, 4, 0x8000_0100); // function 1
        assert_eq!(bus.read(0xCFD, 1), 0xFF);
        bus.write(0xCF8, 4, 0x0000_0000); // enable bit clear
        assert_eq!(bus.read(0xCFC, 4), 0xFFFF_FFFF);
        assert_eq!(bus.read(0xCFD, 2), 0xFFFF, "misaligned");
    }

    #[test]
    fn attach_and_reset_register() {
        let mut bus = PciBus::new();
        assert!(bus.attach(3, Box::new(ConfigSpace::new(0x1AF4, 0x1042, 0x01_80_00, 1))));
        assert!(!bus.attach(3, Box::new(ConfigSpace::new(0, 0, 0, 0))));
        assert!(!bus.attach(0, Box::new(ConfigSpace::new(0, 0, 0, 0))));
        assert!(!bus.attach(40, Box::new(ConfigSpace::new(0, 0, 0, 0))));
        bus.write(0xCF8, 4, 0x8000_1800);
        assert_eq!(bus.read(0xCFC, 4), 0x1042_1AF4);
        assert_eq!(bus.write(0xCF9, 1, 0x02), PciAction::None);
        assert_eq!(bus.write(0xCF9, 1, 0x06), PciAction::Reset);
        assert_eq!(bus.read(0xCF9, 1), 0x02);
    }
}
