//! Virtio structures in PCI configuration space (virtio 1.x, section 4.1.4).

use core::fmt;

/// PCI vendor id of virtio devices.
pub const VENDOR_ID: u16 = 0x1AF4;
/// Device id of a modern virtio-blk (0x1040 + 2) and of a transitional one.
pub const BLK_MODERN_ID: u16 = 0x1042;
pub const BLK_TRANSITIONAL_ID: u16 = 0x1001;

const CAP_VENDOR_SPECIFIC: u8 = 0x09;
const CFG_COMMON: u8 = 1;
const CFG_NOTIFY: u8 = 2;
const CFG_ISR: u8 = 3;
const CFG_DEVICE: u8 = 4;
/// More capabilities than this means the list loops or is garbage.
const MAX_CAPABILITIES: usize = 48;

/// A structure inside a BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub bar: u8,
    pub offset: u32,
    pub len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioPciCaps {
    pub common: Region,
    pub notify: Region,
    pub notify_multiplier: u32,
    pub isr: Region,
    pub device: Option<Region>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapError {
    /// The function has no capability list.
    NoCapabilities,
    /// A capability pointer is out of range or misaligned.
    BadPointer(u16),
    /// The list is longer than any real device's (it probably loops).
    TooManyCapabilities,
    /// A required structure is missing (a legacy-only device).
    Missing(&'static str),
    /// A structure names a BAR that does not exist.
    BadBar(u8),
    /// The common configuration is smaller than the driver needs.
    CommonTooSmall(u32),
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCapabilities => f.write_str("no PCI capability list"),
            Self::BadPointer(p) => write!(f, "capability pointer {p:#x} is invalid"),
            Self::TooManyCapabilities => f.write_str("the capability list does not end"),
            Self::Missing(what) => write!(f, "no virtio {what} structure (legacy-only device?)"),
            Self::BadBar(b) => write!(f, "a virtio structure names BAR {b}"),
            Self::CommonTooSmall(len) => write!(f, "common configuration is only {len} bytes"),
        }
    }
}

/// Walks the capability list; `read32(offset)` reads a dword of the function's configuration
/// space (offset aligned to 4).
pub fn parse_capabilities(read32: impl Fn(u16) -> u32) -> Result<VirtioPciCaps, CapError> {
    let status = (read32(0x04) >> 16) as u16;
    if status & (1 << 4) == 0 {
        return Err(CapError::NoCapabilities);
    }
    let byte = |offset: u16| (read32(offset & !3) >> ((offset & 3) * 8)) as u8;
    let mut pointer = (read32(0x34) & 0xFC) as u16;
    let (mut common, mut notify, mut isr, mut device) = (None, None, None, None);
    let mut multiplier = 0;
    let mut seen = 0;
    while pointer != 0 {
        if !(0x40..=0xF0).contains(&pointer) || !pointer.is_multiple_of(4) {
            return Err(CapError::BadPointer(pointer));
        }
        seen += 1;
        if seen > MAX_CAPABILITIES {
            return Err(CapError::TooManyCapabilities);
        }
        let id = byte(pointer);
        let next = byte(pointer + 1) as u16 & 0xFC;
        if id == CAP_VENDOR_SPECIFIC && pointer <= 0xF0 - 12 {
            let cfg_type = byte(pointer + 3);
            let bar = byte(pointer + 4);
            let region = Region { bar, offset: read32(pointer + 8), len: read32(pointer + 12) };
            // The first structure of each type is the one the driver should use.
            match cfg_type {
                CFG_COMMON if common.is_none() => common = Some(region),
                CFG_NOTIFY if notify.is_none() && pointer <= 0xF0 - 16 => {
                    notify = Some(region);
                    multiplier = read32(pointer + 16);
                }
                CFG_ISR if isr.is_none() => isr = Some(region),
                CFG_DEVICE if device.is_none() => device = Some(region),
                _ => {}
            }
        }
        pointer = next;
    }
    let caps = VirtioPciCaps {
        common: common.ok_or(CapError::Missing("common configuration"))?,
        notify: notify.ok_or(CapError::Missing("notification"))?,
        notify_multiplier: multiplier,
        isr: isr.ok_or(CapError::Missing("ISR"))?,
        device,
    };
    for region in [Some(caps.common), Some(caps.notify), Some(caps.isr), caps.device].into_iter().flatten() {
        if region.bar > 5 {
            return Err(CapError::BadBar(region.bar));
        }
    }
    if caps.common.len < crate::common::LEN {
        return Err(CapError::CommonTooSmall(caps.common.len));
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A configuration space as QEMU lays out a virtio-blk-pci function.
    fn qemu_like() -> [u8; 256] {
        let mut c = [0u8; 256];
        c[0x06] = 0x10; // status: capabilities
        c[0x34] = 0x40;
        let caps: [(u8, u8, u8, u32, u32, u8); 5] = [
            (0x40, 0x50, 1, 0x0000, 0x1000, 4),
            (0x50, 0x60, 3, 0x1000, 0x1000, 4),
            (0x60, 0x70, 4, 0x2000, 0x1000, 4),
            (0x70, 0x84, 2, 0x3000, 0x1000, 4),
            (0x84, 0x00, 5, 0, 4, 0),
        ];
        for (at, next, kind, offset, len, bar) in caps {
            let at = at as usize;
            c[at] = 0x09;
            c[at + 1] = next;
            c[at + 2] = if kind == 2 { 20 } else { 16 };
            c[at + 3] = kind;
            c[at + 4] = bar;
            c[at + 8..at + 12].copy_from_slice(&offset.to_le_bytes());
            c[at + 12..at + 16].copy_from_slice(&len.to_le_bytes());
            if kind == 2 {
                c[at + 16..at + 20].copy_from_slice(&4u32.to_le_bytes());
            }
        }
        c
    }

    fn reader(c: &[u8; 256]) -> impl Fn(u16) -> u32 + '_ {
        move |o| u32::from_le_bytes(c[o as usize..o as usize + 4].try_into().unwrap())
    }

    #[test]
    fn finds_the_structures() {
        let c = qemu_like();
        let caps = parse_capabilities(reader(&c)).unwrap();
        assert_eq!(caps.common, Region { bar: 4, offset: 0, len: 0x1000 });
        assert_eq!(caps.notify.offset, 0x3000);
        assert_eq!(caps.notify_multiplier, 4);
        assert_eq!(caps.isr.offset, 0x1000);
        assert_eq!(caps.device.unwrap().offset, 0x2000);
    }

    #[test]
    fn loops_and_legacy_devices_are_refused() {
        let mut c = qemu_like();
        c[0x71] = 0x40; // notify cap points back to the first
        c[0x85] = 0x40;
        assert!(matches!(parse_capabilities(reader(&c)), Ok(_) | Err(CapError::TooManyCapabilities)));
        let mut c = qemu_like();
        c[0x34] = 0x00;
        assert_eq!(parse_capabilities(reader(&c)), Err(CapError::Missing("common configuration")));
        let mut c = qemu_like();
        c[0x06] = 0;
        assert_eq!(parse_capabilities(reader(&c)), Err(CapError::NoCapabilities));
    }

    proptest! {
        #[test]
        fn arbitrary_config_space_never_panics(bytes in proptest::collection::vec(any::<u8>(), 256)) {
            let c: [u8; 256] = bytes.try_into().unwrap();
            let _ = parse_capabilities(reader(&c));
        }
    }
}
