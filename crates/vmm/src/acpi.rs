//! Minimal ACPI tables for the guest: RSDP, RSDT, XSDT, FADT, FACS, MADT, DSDT.
//!
//! They describe exactly the emulated platform: one x2APIC-capable CPU (APIC ID 0), one
//! I/O APIC at 0xFEC00000 with GSI base 0, IRQ 0 on GSI 2, the SCI on IRQ 9 (level,
//! active-low), the PM registers at 0x600/0x604/0x608, the reset register 0xCF9 (value 6), and
//! a DSDT with only `\_S5` (SLP_TYP 5) and the PCI root bridge `\_SB.PCI0`. The boot-architecture flags say: legacy
//! ISA devices present (UART, RTC, PIT, PIC), no 8042 (so Linux skips the keyboard-controller
//! probe), no VGA, and a CMOS RTC.
//!
//! The tables live in the BIOS area at [`ACPI_TABLES_GPA`] (inside 0xE0000-0xFFFFF, where
//! Linux's RSDP scan looks, and reserved in the e820 map); the RSDP address also goes into
//! `boot_params.acpi_rsdp_addr`.

use alloc::vec::Vec;

use crate::devices::ioapic::{IOAPIC_BASE, IOAPIC_ID};
use crate::devices::lapic::LAPIC_BASE;
use crate::devices::pm::{PM1A_CONTROL_PORT, PM1A_EVENT_PORT, PM_TIMER_PORT, S5_SLP_TYP, SCI_IRQ};
use crate::devices::rtc::REG_CENTURY;
use crate::memory::{GuestMemory, MemoryError};

/// Where the tables start (the RSDP is first).
pub const ACPI_TABLES_GPA: u64 = 0xE_0000;
/// The tables never grow past this many bytes.
pub const ACPI_TABLES_MAX_BYTES: u64 = 0x1_0000;
/// The RSDP's address.
pub const RSDP_GPA: u64 = ACPI_TABLES_GPA;

const OEM_ID: &[u8; 6] = b"RAYOS ";
const OEM_TABLE_ID: &[u8; 8] = b"RAYOSVM ";
const CREATOR_ID: &[u8; 4] = b"RAYO";
const HEADER_BYTES: usize = 36;

/// The DSDT body, hand-assembled AML for this ASL:
///
/// ```text
/// Name (\_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })
/// Scope (\_SB) {
///     Device (PCI0) {
///         Name (_HID, EisaId ("PNP0A03"))
///         Name (_UID, Zero)
///         Name (_BBN, Zero)
///         Name (_CRS, ResourceTemplate () {
///             WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
///                 0x0000, 0x0000, 0x00FF, 0x0000, 0x0100,,,)
///             IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08,)
///             WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
///                 0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8,,,, TypeStatic, DenseTranslation)
///             WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
///                 0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300,,,, TypeStatic, DenseTranslation)
///             DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
///                 0x00000000, 0xC0000000, 0xFEBFFFFF, 0x00000000, 0x3EC00000,,,,
///                 AddressRangeMemory, TypeStatic)
///         })
///     }
/// }
/// ```
///
/// `\_S5` gives the SLP_TYP for power-off. `PCI0` makes Linux scan PCI bus 0 through the
/// host bridge (without an ACPI root bridge it would not scan at all) and tells it where BARs
/// may go: the 32-bit hole below the I/O APIC.
pub const DSDT_AML: [u8; 145] = [
    // Name (_S5_, Package (4) { 5, 5, 0, 0 })
    0x08, b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0A, S5_SLP_TYP, 0x0A, S5_SLP_TYP, 0x00, 0x00,
    // Scope (_SB_), PkgLength 130 (two-byte encoding)
    0x10, 0x42, 0x08, b'_', b'S', b'B', b'_', // Device (PCI0), PkgLength 122
    0x5B, 0x82, 0x4A, 0x07, b'P', b'C', b'I', b'0',
    // Name (_HID, EisaId ("PNP0A03")) = DWord 0x030AD041
    0x08, b'_', b'H', b'I', b'D', 0x0C, 0x41, 0xD0, 0x0A, 0x03,
    // Name (_UID, Zero), Name (_BBN, Zero)
    0x08, b'_', b'U', b'I', b'D', 0x00, 0x08, b'_', b'B', b'B', b'N', 0x00,
    // Name (_CRS, Buffer (PkgLength 88) { BytePrefix 84, ... })
    0x08, b'_', b'C', b'R', b'S', 0x11, 0x48, 0x05, 0x0A, 0x54,
    // WordBusNumber: tag 0x88, len 13, type 2 (bus), MinFixed|MaxFixed, gran 0, 0..0xFF, len 0x100
    0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x01,
    // IO: 16-bit decode, 0xCF8..0xCF8, align 1, 8 ports
    0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08,
    // WordIO: type 1 (I/O), MinFixed|MaxFixed, EntireRange, 0x0000..0x0CF7, len 0x0CF8
    0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x00, 0xF7, 0x0C, 0x00, 0x00, 0xF8, 0x0C,
    // WordIO: 0x0D00..0xFFFF, len 0xF300
    0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x0D, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xF3,
    // DWordMemory: tag 0x87, len 23, type 0, MinFixed|MaxFixed, read-write non-cacheable,
    // 0xC0000000..0xFEBFFFFF, len 0x3EC00000
    0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0xFF, 0xFF, 0xBF,
    0xFE, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x3E,
    // EndTag with checksum 0 ("treat as correct")
    0x79, 0x00,
];

/// IA-PC boot architecture flags.
pub mod boot_arch {
    /// Legacy ISA devices (the UART, RTC, PIT, PIC) are present.
    pub const LEGACY_DEVICES: u16 = 1 << 0;
    /// An 8042 is present (not set: Linux then skips its probe).
    pub const I8042: u16 = 1 << 1;
    /// No VGA.
    pub const VGA_NOT_PRESENT: u16 = 1 << 2;
}

/// FADT feature flags the guest sees.
pub mod fadt_flags {
    /// WBINVD works.
    pub const WBINVD: u32 = 1 << 0;
    /// No sleep button (the power button is a fixed-feature button: bit 4 clear).
    pub const SLP_BUTTON: u32 = 1 << 5;
    /// The PM timer is 32 bits wide.
    pub const TMR_VAL_EXT: u32 = 1 << 8;
    /// RESET_REG is valid.
    pub const RESET_REG_SUP: u32 = 1 << 10;
}

fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)))
}

/// A table under construction: header first, length and checksum fixed on `finish`.
struct Table(Vec<u8>);

impl Table {
    fn new(signature: &[u8; 4], revision: u8) -> Self {
        let mut t = Vec::with_capacity(256);
        t.extend_from_slice(signature);
        t.extend_from_slice(&[0; 4]); // length
        t.push(revision);
        t.push(0); // checksum
        t.extend_from_slice(OEM_ID);
        t.extend_from_slice(OEM_TABLE_ID);
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(CREATOR_ID);
        t.extend_from_slice(&1u32.to_le_bytes());
        debug_assert_eq!(t.len(), HEADER_BYTES);
        Self(t)
    }

    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    /// A Generic Address Structure for an I/O port register.
    fn io_gas(&mut self, port: u16, bit_width: u8, access_size: u8) -> &mut Self {
        self.u8(1).u8(bit_width).u8(0).u8(access_size).u64(u64::from(port))
    }
    fn null_gas(&mut self) -> &mut Self {
        self.bytes(&[0; 12])
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[4..8].copy_from_slice(&len.to_le_bytes());
        self.0[9] = checksum(&self.0);
        self.0
    }
}

/// Where each table went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcpiLayout {
    /// RSDP.
    pub rsdp: u64,
    /// RSDT.
    pub rsdt: u64,
    /// XSDT.
    pub xsdt: u64,
    /// FADT ("FACP").
    pub fadt: u64,
    /// FACS.
    pub facs: u64,
    /// MADT ("APIC").
    pub madt: u64,
    /// DSDT.
    pub dsdt: u64,
    /// One past the last byte written.
    pub end: u64,
}

fn align(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

fn fadt(facs: u64, dsdt: u64) -> Vec<u8> {
    let mut t = Table::new(b"FACP", 6);
    t.u32(facs as u32) // FIRMWARE_CTRL
        .u32(dsdt as u32) // DSDT
        .u8(0) // reserved (INT_MODEL)
        .u8(0) // Preferred_PM_Profile: unspecified
        .u16(u16::from(SCI_IRQ))
        .u32(0) // SMI_CMD: none, always in ACPI mode
        .u8(0) // ACPI_ENABLE
        .u8(0) // ACPI_DISABLE
        .u8(0) // S4BIOS_REQ
        .u8(0) // PSTATE_CNT
        .u32(u32::from(PM1A_EVENT_PORT))
        .u32(0) // PM1b_EVT_BLK
        .u32(u32::from(PM1A_CONTROL_PORT))
        .u32(0) // PM1b_CNT_BLK
        .u32(0) // PM2_CNT_BLK
        .u32(u32::from(PM_TIMER_PORT))
        .u32(0) // GPE0_BLK
        .u32(0) // GPE1_BLK
        .u8(4) // PM1_EVT_LEN
        .u8(2) // PM1_CNT_LEN
        .u8(0) // PM2_CNT_LEN
        .u8(4) // PM_TMR_LEN
        .u8(0) // GPE0_BLK_LEN
        .u8(0) // GPE1_BLK_LEN
        .u8(0) // GPE1_BASE
        .u8(0) // CST_CNT
        .u16(101) // P_LVL2_LAT > 100: no C2
        .u16(1001) // P_LVL3_LAT > 1000: no C3
        .u16(0) // FLUSH_SIZE
        .u16(0) // FLUSH_STRIDE
        .u8(0) // DUTY_OFFSET
        .u8(0) // DUTY_WIDTH
        .u8(0) // DAY_ALRM
        .u8(0) // MON_ALRM
        .u8(REG_CENTURY)
        .u16(boot_arch::LEGACY_DEVICES | boot_arch::VGA_NOT_PRESENT)
        .u8(0) // reserved
        .u32(
            fadt_flags::WBINVD | fadt_flags::SLP_BUTTON | fadt_flags::TMR_VAL_EXT | fadt_flags::RESET_REG_SUP,
        )
        .io_gas(0xCF9, 8, 1) // RESET_REG
        .u8(0x06) // RESET_VALUE
        .u16(0) // ARM_BOOT_ARCH
        .u8(0) // FADT minor version
        .u64(facs) // X_FIRMWARE_CTRL
        .u64(dsdt) // X_DSDT
        .io_gas(PM1A_EVENT_PORT, 32, 2)
        .null_gas() // X_PM1b_EVT_BLK
        .io_gas(PM1A_CONTROL_PORT, 16, 2)
        .null_gas() // X_PM1b_CNT_BLK
        .null_gas() // X_PM2_CNT_BLK
        .io_gas(PM_TIMER_PORT, 32, 3)
        .null_gas() // X_GPE0_BLK
        .null_gas() // X_GPE1_BLK
        .null_gas() // SLEEP_CONTROL_REG
        .null_gas() // SLEEP_STATUS_REG
        .u64(0); // hypervisor vendor identity
    t.finish()
}

fn facs() -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(b"FACS");
    f.extend_from_slice(&64u32.to_le_bytes());
    f.extend_from_slice(&[0; 4]); // hardware signature
    f.extend_from_slice(&[0; 4]); // firmware waking vector
    f.extend_from_slice(&[0; 4]); // global lock
    f.extend_from_slice(&[0; 4]); // flags
    f.extend_from_slice(&[0; 8]); // X firmware waking vector
    f.push(2); // version
    f.resize(64, 0);
    f
}

fn madt() -> Vec<u8> {
    let mut t = Table::new(b"APIC", 5);
    t.u32(LAPIC_BASE as u32).u32(1); // PCAT_COMPAT: an 8259 pair is present (Linux masks it)
                                     // Processor local APIC: UID 0, APIC ID 0, enabled.
    t.u8(0).u8(8).u8(0).u8(0).u32(1);
    // I/O APIC.
    t.u8(1).u8(12).u8(IOAPIC_ID).u8(0).u32(IOAPIC_BASE as u32).u32(0);
    // ISA IRQ 0 -> GSI 2, bus-default polarity and trigger.
    t.u8(2).u8(10).u8(0).u8(0).u32(2).u16(0);
    // ISA IRQ 9 (SCI) -> GSI 9, level-triggered, active-low.
    t.u8(2).u8(10).u8(0).u8(SCI_IRQ).u32(u32::from(SCI_IRQ)).u16(0x000F);
    // LINT1 is NMI on all processors.
    t.u8(4).u8(6).u8(0xFF).u16(0).u8(1);
    t.finish()
}

fn dsdt() -> Vec<u8> {
    let mut t = Table::new(b"DSDT", 2);
    t.bytes(&DSDT_AML);
    t.finish()
}

fn rsdp(rsdt: u64, xsdt: u64) -> [u8; 36] {
    let mut r = [0u8; 36];
    r[0..8].copy_from_slice(b"RSD PTR ");
    r[9..15].copy_from_slice(OEM_ID);
    r[15] = 2; // ACPI 2.0+
    r[16..20].copy_from_slice(&(rsdt as u32).to_le_bytes());
    r[20..24].copy_from_slice(&36u32.to_le_bytes());
    r[24..32].copy_from_slice(&xsdt.to_le_bytes());
    r[8] = checksum(&r[..20]);
    r[32] = checksum(&r);
    r
}

/// Builds all tables at [`ACPI_TABLES_GPA`] in guest memory.
pub fn write_tables(memory: &mut dyn GuestMemory) -> Result<AcpiLayout, MemoryError> {
    let base = ACPI_TABLES_GPA;
    let rsdt = base + 0x40;
    let xsdt = rsdt + 0x40;
    let fadt_gpa = xsdt + 0x40;
    let facs_gpa = align(fadt_gpa + 0x200, 64);
    let madt_gpa = facs_gpa + 0x40;
    let dsdt_gpa = madt_gpa + 0x100;

    let fadt_bytes = fadt(facs_gpa, dsdt_gpa);
    let madt_bytes = madt();
    let dsdt_bytes = dsdt();
    debug_assert!(fadt_bytes.len() <= 0x200 && madt_bytes.len() <= 0x100);

    let mut rsdt_table = Table::new(b"RSDT", 1);
    rsdt_table.u32(fadt_gpa as u32).u32(madt_gpa as u32);
    let mut xsdt_table = Table::new(b"XSDT", 1);
    xsdt_table.u64(fadt_gpa).u64(madt_gpa);

    memory.write(base, &rsdp(rsdt, xsdt))?;
    memory.write(rsdt, &rsdt_table.finish())?;
    memory.write(xsdt, &xsdt_table.finish())?;
    memory.write(fadt_gpa, &fadt_bytes)?;
    memory.write(facs_gpa, &facs())?;
    memory.write(madt_gpa, &madt_bytes)?;
    memory.write(dsdt_gpa, &dsdt_bytes)?;
    let end = dsdt_gpa + dsdt_bytes.len() as u64;
    debug_assert!(end <= base + ACPI_TABLES_MAX_BYTES);
    Ok(AcpiLayout {
        rsdp: base,
        rsdt,
        xsdt,
        fadt: fadt_gpa,
        facs: facs_gpa,
        madt: madt_gpa,
        dsdt: dsdt_gpa,
        end,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::memory::GuestRam;
    use std::collections::BTreeMap;
    use std::vec;

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
    }

    fn read(ram: &GuestRam<'_>, gpa: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        ram.read(gpa, &mut v).unwrap();
        v
    }

    /// Reads a table back and checks its length and checksum, as ACPICA does.
    fn table(ram: &GuestRam<'_>, gpa: u64) -> Vec<u8> {
        let len = ram.read_u32(gpa + 4).unwrap() as usize;
        assert!(len >= HEADER_BYTES);
        let t = read(ram, gpa, len);
        assert_eq!(sum(&t), 0, "checksum of {}", std::string::String::from_utf8_lossy(&t[..4]));
        t
    }

    /// Linux's legacy RSDP scan: 16-byte steps through 0xE0000-0xFFFFF.
    fn find_rsdp(ram: &GuestRam<'_>) -> Option<u64> {
        (0xE_0000u64..0x10_0000).step_by(16).find(|&a| {
            let r = read(ram, a, 36);
            &r[..8] == b"RSD PTR " && sum(&r[..20]) == 0 && sum(&r) == 0
        })
    }

    fn parse(ram: &GuestRam<'_>) -> BTreeMap<[u8; 4], Vec<u8>> {
        let rsdp_gpa = find_rsdp(ram).expect("RSDP found by the legacy scan");
        let rsdp = read(ram, rsdp_gpa, 36);
        assert_eq!(rsdp[15], 2);
        let xsdt = table(ram, u64::from_le_bytes(rsdp[24..32].try_into().unwrap()));
        let rsdt = table(ram, u64::from(u32::from_le_bytes(rsdp[16..20].try_into().unwrap())));
        let mut tables = BTreeMap::new();
        for (i, entry) in xsdt[HEADER_BYTES..].chunks(8).enumerate() {
            let gpa = u64::from_le_bytes(entry.try_into().unwrap());
            let rsdt_entry = u32::from_le_bytes(rsdt[HEADER_BYTES + 4 * i..][..4].try_into().unwrap());
            assert_eq!(u64::from(rsdt_entry), gpa, "RSDT and XSDT agree");
            let t = table(ram, gpa);
            tables.insert(t[..4].try_into().unwrap(), t);
        }
        tables
    }

    fn gas(bytes: &[u8]) -> (u8, u8, u64) {
        (bytes[0], bytes[1], u64::from_le_bytes(bytes[4..12].try_into().unwrap()))
    }

    #[test]
    fn tables_parse_back() {
        let mut backing = vec![0u8; 1 << 20];
        let mut ram = GuestRam::new(&mut backing);
        let layout = write_tables(&mut ram).unwrap();
        assert!(layout.end <= ACPI_TABLES_GPA + ACPI_TABLES_MAX_BYTES);
        let tables = parse(&ram);
        assert_eq!(tables.len(), 2);

        let fadt = &tables[b"FACP"];
        assert_eq!(fadt.len(), 276);
        assert_eq!(fadt[8], 6, "revision");
        let u16_at = |o: usize| u16::from_le_bytes(fadt[o..o + 2].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(fadt[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(fadt[o..o + 8].try_into().unwrap());
        assert_eq!(u16_at(46), 9, "SCI_INT");
        assert_eq!(u32_at(48), 0, "no SMI_CMD");
        assert_eq!(u32_at(56), 0x600);
        assert_eq!(u32_at(64), 0x604);
        assert_eq!(u32_at(76), 0x608);
        assert_eq!((fadt[88], fadt[89], fadt[91]), (4, 2, 4));
        assert_eq!(fadt[108], 0x32, "century register");
        assert_eq!(u16_at(109) & boot_arch::I8042, 0, "no 8042");
        assert_ne!(u16_at(109) & boot_arch::LEGACY_DEVICES, 0);
        let flags = u32_at(112);
        assert_ne!(flags & fadt_flags::RESET_REG_SUP, 0);
        assert_ne!(flags & fadt_flags::TMR_VAL_EXT, 0);
        assert_eq!(flags & (1 << 4), 0, "fixed-feature power button");
        assert_eq!(gas(&fadt[116..128]), (1, 8, 0xCF9));
        assert_eq!(fadt[128], 6);
        assert_eq!(u64_at(140), u64::from(u32_at(40)), "X_DSDT == DSDT");
        assert_eq!(u64_at(132), u64::from(u32_at(36)), "X_FIRMWARE_CTRL == FIRMWARE_CTRL");
        assert_eq!(gas(&fadt[148..160]), (1, 32, 0x600));
        assert_eq!(gas(&fadt[172..184]), (1, 16, 0x604));
        assert_eq!(gas(&fadt[208..220]), (1, 32, 0x608));

        let facs = read(&ram, u64_at(132), 64);
        assert_eq!(&facs[..4], b"FACS");
        assert_eq!(u64_at(132) % 64, 0, "FACS is 64-byte aligned");

        let dsdt = table(&ram, u64_at(140));
        assert_eq!(&dsdt[..4], b"DSDT");
        // iasl 20200925 (`iasl -p dsdt` on the ASL in DSDT_AML's comment) emits exactly these bytes.
        let iasl = "085F53355F1208040A050A0500001042085F53425F5B824A0750434930085F48\
                    49440C41D00A03085F55494400085F42424E00085F4352531148050A54880D00\
                    020C0000000000FF00000000014701F80CF80C0108880D00010C0300000000F7\
                    0C0000F80C880D00010C030000000DFFFF000000F3871700000C010000000000\
                    0000C0FFFFBFFE000000000000C03E7900";
        let expected: std::vec::Vec<u8> =
            (0..iasl.len() / 2).map(|i| u8::from_str_radix(&iasl[2 * i..2 * i + 2], 16).unwrap()).collect();
        assert_eq!(&dsdt[HEADER_BYTES..], &expected[..]);
        // The Scope's and the Device's PkgLengths reach exactly to the end of the table.
        let body = &dsdt[HEADER_BYTES..];
        let pkg_len = |at: usize| usize::from(body[at] & 0x0F) | (usize::from(body[at + 1]) << 4);
        assert_eq!(15 + pkg_len(15), body.len());
        assert_eq!(23 + pkg_len(23), body.len());

        let madt = &tables[b"APIC"];
        assert_eq!(u32::from_le_bytes(madt[36..40].try_into().unwrap()), 0xFEE0_0000);
        assert_eq!(u32::from_le_bytes(madt[40..44].try_into().unwrap()) & 1, 1);
        let mut entries = std::vec::Vec::new();
        let mut at = 44;
        while at < madt.len() {
            let (kind, len) = (madt[at], usize::from(madt[at + 1]));
            assert!(len >= 2 && at + len <= madt.len());
            entries.push((kind, madt[at..at + len].to_vec()));
            at += len;
        }
        assert_eq!(entries.iter().map(|e| e.0).collect::<std::vec::Vec<_>>(), [0, 1, 2, 2, 4]);
        assert_eq!(entries[0].1, [0, 8, 0, 0, 1, 0, 0, 0]);
        assert_eq!(entries[1].1, [1, 12, 1, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0]);
        assert_eq!(entries[2].1, [2, 10, 0, 0, 2, 0, 0, 0, 0, 0]);
        assert_eq!(entries[3].1, [2, 10, 0, 9, 9, 0, 0, 0, 0x0F, 0]);
    }

    #[test]
    fn refuses_too_little_ram() {
        let mut backing = vec![0u8; 0xE_0010];
        let mut ram = GuestRam::new(&mut backing);
        assert!(write_tables(&mut ram).is_err());
    }
}
