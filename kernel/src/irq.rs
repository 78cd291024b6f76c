//! Interrupt routing: the legacy PICs off, the local APIC on, ISA IRQs through the IOAPIC.

use alloc::vec::Vec;

use spin::Once;

use crate::arch::apic::{self, IoApic};
use crate::drivers::acpi::{self, Platform};
use crate::mm;

static IO_APICS: Once<Vec<IoApic>> = Once::new();

/// The standard IOAPIC address, used when the firmware gave no MADT.
const DEFAULT_IOAPIC_PHYS: u64 = 0xFEC0_0000;

pub fn init(platform: Option<&Platform>) {
    apic::disable_legacy_pic();
    let lapic_phys = platform.map_or_else(apic::local_apic_phys, |p| p.local_apic_phys);
    let lapic = mm::map::map_mmio(lapic_phys, 4096).expect("cannot map the local APIC");
    apic::init_local(lapic);
    let infos: Vec<(u64, u32)> = match platform {
        Some(p) if !p.io_apics.is_empty() => {
            p.io_apics.iter().map(|i| (i.address_phys, i.gsi_base)).collect()
        }
        _ => alloc::vec![(DEFAULT_IOAPIC_PHYS, 0)],
    };
    let io_apics = infos
        .into_iter()
        .filter_map(|(phys, gsi_base)| {
            let virt = mm::map::map_mmio(phys, 4096).ok()?;
            // SAFETY: `virt` maps this IOAPIC's registers uncached, for good.
            Some(unsafe { IoApic::new(virt, gsi_base) })
        })
        .collect();
    IO_APICS.call_once(|| io_apics);
}

/// The IOAPIC serving global system interrupt `gsi`.
fn io_apic_for(gsi: u32) -> Option<&'static IoApic> {
    IO_APICS.get()?.iter().find(|io| io.handles(gsi))
}

/// Routes ISA IRQ `irq` (with the firmware's overrides) to `vector` on this CPU.
pub fn route_isa_irq(irq: u8, vector: u8) -> bool {
    let route = acpi::isa_irq_route(irq);
    match io_apic_for(route.gsi) {
        Some(io) => {
            io.route(route.gsi, vector, apic::id(), route.level_triggered, route.active_low);
            true
        }
        None => {
            log::warn!(target: "irq", "no IOAPIC serves GSI {} (ISA IRQ {irq})", route.gsi);
            false
        }
    }
}

/// Routes ISA IRQ `irq` to this CPU as a non-maskable interrupt (the software watchdog's
/// heartbeat, which must arrive even when interrupts are off).
pub fn route_isa_irq_as_nmi(irq: u8) -> bool {
    let route = acpi::isa_irq_route(irq);
    io_apic_for(route.gsi).map(|io| io.route_nmi(route.gsi, apic::id())).is_some()
}

/// (IOAPIC count, total pins) for `devices`.
pub fn io_apic_summary() -> Vec<(u32, u32)> {
    IO_APICS
        .get()
        .map(|l| l.iter().map(|io| (io.gsi_base, io.redirection_entries)).collect())
        .unwrap_or_default()
}
