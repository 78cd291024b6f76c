//! ACPI: the platform description (interrupt controllers, timers, PCI configuration space,
//! reset and power-off registers), read once at boot with the `acpi` crate, and the two
//! operations that need it: reboot and power-off.

use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;

use acpi::address::{AddressSpace, GenericAddress};
use acpi::sdt::fadt::Fadt;
use acpi::sdt::madt::{Madt, MadtEntry, Polarity, TriggerMode};
use acpi::sdt::mcfg::Mcfg;
use acpi::sdt::SdtHeader;
use acpi::{AcpiTables, HpetInfo, PciAddress, PhysicalMapping};
use spin::Once;

use crate::arch::{inb, inl, inw, outb, outl, outw};
use crate::mm;

/// An interrupt source override: ISA IRQ `irq` arrives on `gsi` with this trigger/polarity.
#[derive(Debug, Clone, Copy)]
pub struct IrqOverride {
    pub irq: u8,
    pub gsi: u32,
    pub level_triggered: bool,
    pub active_low: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct IoApicInfo {
    pub address_phys: u64,
    pub gsi_base: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct PciSegment {
    pub base_phys: u64,
    pub segment: u16,
    pub first_bus: u8,
    pub last_bus: u8,
}

/// A register named by a generic address, with the value to write.
#[derive(Debug, Clone, Copy)]
pub enum Register {
    Io(u16),
    Memory(u64),
}

/// What the firmware told us about the machine.
#[derive(Debug)]
pub struct Platform {
    pub revision: u8,
    pub local_apic_phys: u64,
    pub io_apics: Vec<IoApicInfo>,
    pub irq_overrides: Vec<IrqOverride>,
    pub hpet_phys: Option<u64>,
    /// ACPI PM timer I/O port and whether it is 32 bits wide.
    pub pm_timer: Option<(u16, bool)>,
    pub pm1a_control: Option<u16>,
    pub pm1b_control: Option<u16>,
    /// SLP_TYPa/SLP_TYPb for S5 (soft off), from the DSDT.
    pub s5_sleep_types: Option<(u8, u8)>,
    pub reset: Option<(Register, u8)>,
    /// A memory reset register, mapped at boot: `reboot` runs on the fatal path, where mapping
    /// (which takes the page-table and frame locks) could wait forever.
    reset_mapping: Option<u64>,
    pub pci_segments: Vec<PciSegment>,
    pub century_register: Option<u8>,
    pub has_8042: bool,
    pub processor_count: usize,
}

static PLATFORM: Once<Platform> = Once::new();

/// Maps ACPI tables through the direct map (they live in RAM the loader mapped), or through
/// an uncached window when the firmware put one elsewhere.
#[derive(Clone, Copy, Debug)]
struct KernelAcpiHandler;

impl acpi::Handler for KernelAcpiHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virt = table_bytes(physical_address as u64, size as u64).expect("cannot map an ACPI table");
        PhysicalMapping {
            physical_start: physical_address,
            virtual_start: NonNull::new(virt as *mut T).expect("mapped address is not null"),
            region_length: size,
            mapped_length: size,
            handler: *self,
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}

    fn read_u8(&self, address: usize) -> u8 {
        // SAFETY: the acpi crate reads registers named by firmware tables, direct-mapped.
        unsafe { core::ptr::read_volatile(mm::phys_to_virt(address as u64) as *const u8) }
    }
    fn read_u16(&self, address: usize) -> u16 {
        // SAFETY: as in read_u8.
        unsafe { core::ptr::read_volatile(mm::phys_to_virt(address as u64) as *const u16) }
    }
    fn read_u32(&self, address: usize) -> u32 {
        // SAFETY: as in read_u8.
        unsafe { core::ptr::read_volatile(mm::phys_to_virt(address as u64) as *const u32) }
    }
    fn read_u64(&self, address: usize) -> u64 {
        // SAFETY: as in read_u8.
        unsafe { core::ptr::read_volatile(mm::phys_to_virt(address as u64) as *const u64) }
    }
    fn write_u8(&self, address: usize, value: u8) {
        // SAFETY: as in read_u8.
        unsafe { core::ptr::write_volatile(mm::phys_to_virt(address as u64) as *mut u8, value) }
    }
    fn write_u16(&self, address: usize, value: u16) {
        // SAFETY: as in read_u8.
        unsafe { core::ptr::write_volatile(mm::phys_to_virt(address as u64) as *mut u16, value) }
    }
    fn write_u32(&self, address: usize, value: u32) {
        // SAFETY: as in read_u8.
        unsafe { core::ptr::write_volatile(mm::phys_to_virt(address as u64) as *mut u32, value) }
    }
    fn write_u64(&self, address: usize, value: u64) {
        // SAFETY: as in read_u8.
        unsafe { core::ptr::write_volatile(mm::phys_to_virt(address as u64) as *mut u64, value) }
    }
    fn read_io_u8(&self, port: u16) -> u8 {
        // SAFETY: ports named by firmware tables.
        unsafe { inb(port) }
    }
    fn read_io_u16(&self, port: u16) -> u16 {
        // SAFETY: as in read_io_u8.
        unsafe { inw(port) }
    }
    fn read_io_u32(&self, port: u16) -> u32 {
        // SAFETY: as in read_io_u8.
        unsafe { inl(port) }
    }
    fn write_io_u8(&self, port: u16, value: u8) {
        // SAFETY: as in read_io_u8.
        unsafe { outb(port, value) }
    }
    fn write_io_u16(&self, port: u16, value: u16) {
        // SAFETY: as in read_io_u8.
        unsafe { outw(port, value) }
    }
    fn write_io_u32(&self, port: u16, value: u32) {
        // SAFETY: as in read_io_u8.
        unsafe { outl(port, value) }
    }
    fn read_pci_u8(&self, address: PciAddress, offset: u16) -> u8 {
        crate::drivers::pci::read_config_u32(address.bus(), address.device(), address.function(), offset & !3)
            .map_or(0xFF, |v| (v >> ((offset & 3) * 8)) as u8)
    }
    fn read_pci_u16(&self, address: PciAddress, offset: u16) -> u16 {
        crate::drivers::pci::read_config_u32(address.bus(), address.device(), address.function(), offset & !3)
            .map_or(0xFFFF, |v| (v >> ((offset & 2) * 8)) as u16)
    }
    fn read_pci_u32(&self, address: PciAddress, offset: u16) -> u32 {
        crate::drivers::pci::read_config_u32(address.bus(), address.device(), address.function(), offset)
            .unwrap_or(u32::MAX)
    }
    fn write_pci_u8(&self, _address: PciAddress, _offset: u16, _value: u8) {}
    fn write_pci_u16(&self, _address: PciAddress, _offset: u16, _value: u16) {}
    fn write_pci_u32(&self, _address: PciAddress, _offset: u16, _value: u32) {}
    fn nanos_since_boot(&self) -> u64 {
        crate::time::now_ns()
    }
    fn stall(&self, microseconds: u64) {
        crate::time::busy_wait_ns(microseconds * 1000);
    }
    fn sleep(&self, milliseconds: u64) {
        crate::time::busy_wait_ns(milliseconds * 1_000_000);
    }
}

fn register_of(address: &GenericAddress) -> Option<Register> {
    match address.address_space {
        AddressSpace::SystemIo if address.address != 0 => Some(Register::Io(address.address as u16)),
        AddressSpace::SystemMemory if address.address != 0 => Some(Register::Memory(address.address)),
        _ => None,
    }
}

fn io_port_of(address: Option<GenericAddress>) -> Option<u16> {
    match address.as_ref().and_then(register_of) {
        Some(Register::Io(port)) => Some(port),
        _ => None,
    }
}

/// A kernel address for `len` bytes of firmware tables at `phys`: the direct map when every
/// page of them is in it, a new mapping otherwise.
fn table_bytes(phys: u64, len: u64) -> Option<u64> {
    let first_page = phys & !0xFFF;
    let end = phys.checked_add(len.max(1))?;
    let direct =
        (first_page..end).step_by(4096).all(|page| mm::map::translate(mm::phys_to_virt(page)).is_some());
    if direct {
        Some(mm::phys_to_virt(phys))
    } else {
        mm::map::map_mmio(phys, len).ok()
    }
}

/// The largest DSDT RayOS reads (real ones are tens to hundreds of KiB).
const MAX_DSDT_BYTES: usize = 4 << 20;

/// Reads the ACPI tables at `rsdp_phys`.
pub fn init(rsdp_phys: u64) -> Result<&'static Platform, String> {
    if rsdp_phys == 0 {
        return Err(String::from("the firmware gave no ACPI RSDP"));
    }
    // SAFETY: the loader took the RSDP address from the UEFI configuration table.
    let tables = unsafe { AcpiTables::from_rsdp(KernelAcpiHandler, rsdp_phys as usize) }
        .map_err(|e| alloc::format!("cannot read the ACPI tables: {e:?}"))?;

    let mut platform = Platform {
        revision: tables.rsdp_revision,
        local_apic_phys: crate::arch::apic::local_apic_phys(),
        io_apics: Vec::new(),
        irq_overrides: Vec::new(),
        hpet_phys: None,
        pm_timer: None,
        pm1a_control: None,
        pm1b_control: None,
        s5_sleep_types: None,
        reset: None,
        reset_mapping: None,
        pci_segments: Vec::new(),
        century_register: None,
        has_8042: true,
        processor_count: 0,
    };

    if let Some(madt) = tables.find_table::<Madt>() {
        let madt = madt.get();
        platform.local_apic_phys = madt.local_apic_address as u64;
        for entry in madt.entries() {
            match entry {
                MadtEntry::LocalApic(cpu) if cpu.flags & 1 != 0 => platform.processor_count += 1,
                MadtEntry::IoApic(io) => platform.io_apics.push(IoApicInfo {
                    address_phys: io.io_apic_address as u64,
                    gsi_base: io.global_system_interrupt_base,
                }),
                MadtEntry::InterruptSourceOverride(o) => {
                    let flags = o.flags;
                    let (polarity, trigger) = acpi::sdt::madt::parse_mps_inti_flags(flags)
                        .unwrap_or((Polarity::SameAsBus, TriggerMode::SameAsBus));
                    platform.irq_overrides.push(IrqOverride {
                        irq: o.irq,
                        gsi: o.global_system_interrupt,
                        level_triggered: trigger == TriggerMode::Level,
                        active_low: polarity == Polarity::ActiveLow,
                    });
                }
                MadtEntry::LocalApicAddressOverride(o) => platform.local_apic_phys = o.local_apic_address,
                _ => {}
            }
        }
    }

    if let Ok(hpet) = HpetInfo::new(&tables) {
        platform.hpet_phys = Some(hpet.base_address as u64);
    }

    if let Some(fadt) = tables.find_table::<Fadt>() {
        let fadt = fadt.get();
        let flags = fadt.flags;
        let boot_arch = fadt.iapc_boot_arch;
        platform.pm1a_control = io_port_of(fadt.pm1a_control_block().ok());
        platform.pm1b_control = io_port_of(fadt.pm1b_control_block().ok().flatten());
        platform.pm_timer =
            io_port_of(fadt.pm_timer_block().ok().flatten()).map(|p| (p, flags.pm_timer_is_32_bit()));
        if flags.supports_system_reset_via_fadt() {
            if let Ok(reset) = fadt.reset_register() {
                platform.reset = register_of(&reset).map(|r| (r, fadt.reset_value));
                if let Some((Register::Memory(phys), _)) = platform.reset {
                    platform.reset_mapping = mm::map::map_mmio(phys, 1).ok();
                }
            }
        }
        let century = fadt.century;
        platform.century_register = (century != 0).then_some(century);
        // Revision 1 FADTs have no boot-architecture flags: assume a PC with a keyboard controller.
        platform.has_8042 = fadt.header.revision < 2 || boot_arch.motherboard_implements_8042();
    }

    if let Ok(dsdt) = tables.dsdt() {
        let aml_start = dsdt.phys_address as u64 + core::mem::size_of::<SdtHeader>() as u64;
        let aml_len = (dsdt.length as usize).saturating_sub(core::mem::size_of::<SdtHeader>());
        if aml_len > MAX_DSDT_BYTES {
            log::warn!(target: "acpi", "the DSDT claims {aml_len} bytes; not reading it (no S5 power-off)");
        } else if let Some(virt) = table_bytes(aml_start, aml_len as u64) {
            // SAFETY: `table_bytes` made all `aml_len` bytes readable; the firmware does not
            // change its tables while RayOS runs.
            let aml = unsafe { core::slice::from_raw_parts(virt as *const u8, aml_len) };
            platform.s5_sleep_types = rayos_hw::acpi_sleep::find_s5(aml);
        }
    }

    if let Some(mcfg) = tables.find_table::<Mcfg>() {
        for entry in mcfg.get().entries() {
            platform.pci_segments.push(PciSegment {
                base_phys: entry.base_address,
                segment: entry.pci_segment_group,
                first_bus: entry.bus_number_start,
                last_bus: entry.bus_number_end,
            });
        }
    }
    Ok(PLATFORM.call_once(|| platform))
}

pub fn platform() -> Option<&'static Platform> {
    PLATFORM.get()
}

/// The GSI and trigger mode for ISA IRQ `irq`.
pub fn isa_irq_route(irq: u8) -> IrqOverride {
    platform().and_then(|p| p.irq_overrides.iter().find(|o| o.irq == irq).copied()).unwrap_or(IrqOverride {
        irq,
        gsi: irq as u32,
        level_triggered: false,
        active_low: false,
    })
}

/// Restarts the machine: the ACPI reset register, then the keyboard controller, then a CPU
/// reset by triple fault.
pub fn reboot() -> ! {
    crate::arch::disable_interrupts();
    if let Some((register, value)) = platform().and_then(|p| p.reset) {
        match register {
            // SAFETY: the firmware's reset register; writing its value resets the machine.
            Register::Io(port) => unsafe { outb(port, value) },
            Register::Memory(_) => {
                if let Some(virt) = platform().and_then(|p| p.reset_mapping) {
                    // SAFETY: as above, through the uncached mapping made at boot.
                    unsafe { core::ptr::write_volatile(virt as *mut u8, value) };
                }
            }
        }
        crate::time::busy_wait_ns(100_000_000);
    }
    // SAFETY: 0xFE on the 8042 command port pulses the CPU reset line.
    unsafe { outb(0x64, 0xFE) };
    crate::time::busy_wait_ns(100_000_000);
    crate::arch::triple_fault()
}

/// Whether the firmware told RayOS how to power off (S5 and the PM1a control register).
pub fn can_power_off() -> Result<(), &'static str> {
    power_off_registers().map(|_| ())
}

fn power_off_registers() -> Result<(&'static Platform, (u8, u8), u16), &'static str> {
    let platform = platform().ok_or("no ACPI tables")?;
    let s5 = platform.s5_sleep_types.ok_or("the firmware declares no S5 sleep state")?;
    let pm1a = platform.pm1a_control.ok_or("the firmware declares no PM1a control register")?;
    Ok((platform, s5, pm1a))
}

/// Enters S5 (soft off). Returns only if the machine is still running afterwards.
pub fn power_off() -> Result<(), &'static str> {
    let (platform, (typ_a, typ_b), pm1a) = power_off_registers()?;
    const SLP_EN: u16 = 1 << 13;
    crate::arch::disable_interrupts();
    // SAFETY: the PM1 control registers named by the FADT; SLP_TYP|SLP_EN enters S5.
    unsafe {
        let value = inw(pm1a) & !(0b111 << 10);
        outw(pm1a, value | ((typ_a as u16 & 7) << 10) | SLP_EN);
        if let Some(pm1b) = platform.pm1b_control {
            let value = inw(pm1b) & !(0b111 << 10);
            outw(pm1b, value | ((typ_b as u16 & 7) << 10) | SLP_EN);
        }
    }
    crate::time::busy_wait_ns(500_000_000);
    crate::arch::enable_interrupts();
    Err("the machine did not power off")
}
