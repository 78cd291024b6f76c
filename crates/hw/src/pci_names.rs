//! Human names for PCI classes and for devices commonly seen under QEMU and on PCs.

/// The name of a class/subclass pair.
pub fn class_name(class: u8, subclass: u8) -> &'static str {
    match (class, subclass) {
        (0x00, _) => "unclassified device",
        (0x01, 0x00) => "SCSI storage controller",
        (0x01, 0x01) => "IDE controller",
        (0x01, 0x06) => "SATA controller",
        (0x01, 0x08) => "NVMe controller",
        (0x01, _) => "storage controller",
        (0x02, 0x00) => "Ethernet controller",
        (0x02, _) => "network controller",
        (0x03, 0x00) => "VGA-compatible display controller",
        (0x03, _) => "display controller",
        (0x04, _) => "multimedia controller",
        (0x05, _) => "memory controller",
        (0x06, 0x00) => "host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x04) => "PCI-to-PCI bridge",
        (0x06, _) => "bridge",
        (0x07, 0x00) => "serial controller",
        (0x07, _) => "communication controller",
        (0x08, _) => "system peripheral",
        (0x09, _) => "input device controller",
        (0x0C, 0x03) => "USB controller",
        (0x0C, 0x05) => "SMBus controller",
        (0x0C, _) => "serial bus controller",
        (0x0D, _) => "wireless controller",
        (0x10, _) => "encryption controller",
        (0xFF, _) => "vendor-specific device",
        _ => "other device",
    }
}

/// A name for well-known vendor/device pairs.
pub fn device_name(vendor: u16, device: u16) -> Option<&'static str> {
    Some(match (vendor, device) {
        (0x8086, 0x29C0) => "Intel 82G33/G31/P35/P31 DRAM controller (Q35 host bridge)",
        (0x8086, 0x2918) => "Intel 82801IB (ICH9) LPC interface",
        (0x8086, 0x2922) => "Intel 82801IR/IO/IH (ICH9) SATA AHCI controller",
        (0x8086, 0x2930) => "Intel 82801I (ICH9) SMBus controller",
        (0x8086, 0x25AB) => "Intel 6300ESB watchdog timer",
        (0x8086, 0x10D3) => "Intel 82574L gigabit Ethernet",
        (0x8086, 0x100E) => "Intel 82540EM gigabit Ethernet",
        (0x1234, 0x1111) => "QEMU standard VGA",
        (0x1B36, 0x000D) => "QEMU XHCI USB controller",
        (0x1B36, 0x0008) => "QEMU PCIe host bridge",
        (0x1B36, 0x000C) => "QEMU PCIe root port",
        (0x1AF4, 0x1000) => "virtio network (legacy)",
        (0x1AF4, 0x1001) => "virtio block (legacy)",
        (0x1AF4, 0x1041) => "virtio network",
        (0x1AF4, 0x1042) => "virtio block",
        (0x1AF4, 0x1050) => "virtio GPU",
        (0x1AF4, 0x1052) => "virtio input",
        (0x1AF4, 0x1043) => "virtio console",
        (0x1AF4, 0x1044) => "virtio entropy",
        _ => return None,
    })
}

/// A name for a vendor id.
pub fn vendor_name(vendor: u16) -> Option<&'static str> {
    Some(match vendor {
        0x8086 => "Intel",
        0x1022 => "AMD",
        0x10DE => "NVIDIA",
        0x1AF4 => "Red Hat (virtio)",
        0x1B36 => "Red Hat (QEMU)",
        0x1234 => "QEMU",
        0x15AD => "VMware",
        0x10EC => "Realtek",
        0x14E4 => "Broadcom",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_devices_and_classes() {
        assert_eq!(device_name(0x1234, 0x1111), Some("QEMU standard VGA"));
        assert_eq!(device_name(0xDEAD, 0xBEEF), None);
        assert_eq!(class_name(0x01, 0x06), "SATA controller");
        assert_eq!(class_name(0x42, 0x42), "other device");
        assert_eq!(vendor_name(0x1AF4), Some("Red Hat (virtio)"));
    }
}
