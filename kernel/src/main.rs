//! The RayOS kernel.
//!
//! Entered from the UEFI loader (`boot/loader`) with a [`BootInfo`]; sets up the CPU, memory,
//! interrupts, clocks and devices, then runs the shell and background services as threads.
//! The logic that does not touch hardware lives in the host-tested crates under `crates/`;
//! this binary is glue plus hardware. CPU-specific code is under `arch/`.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod boot;
mod console;
mod crash;
mod devices;
mod drivers;
mod fault;
mod irq;
mod klog;
mod mm;
mod persist;
mod shell;
mod storage;
mod symbols;
mod sync;
mod system2;
mod task;
mod time;
mod vm;
mod watchdog;

use alloc::format;

use arch::interrupts::vectors;
use rayos_bootinfo::BootInfo;

/// The kernel's Rust entry point, called by `arch::entry` with the loader's boot information.
#[unsafe(no_mangle)]
pub extern "C" fn kernel_main(boot_info: &'static BootInfo) -> ! {
    time::mark_boot();
    console::init_serial();
    println!("{}", rayos_markers::KERNEL_ENTRY.with(&[]));
    if let Err(error) = boot_info.validate() {
        println!("RayOS: the loader's boot information is unusable: {error}. Stopping.");
        arch::halt_forever();
    }
    arch::gdt::init();
    arch::idt::init();
    mm::init(boot_info);
    klog::init();
    let boot = boot::init(boot_info);
    let symbol_count = symbols::init(boot.kernel_file());
    log::info!(target: "boot", "kernel {} bytes, {symbol_count} symbols", boot.kernel_file_len);
    start_screen(boot_info);

    let platform = match drivers::acpi::init(boot_info.rsdp_phys) {
        Ok(platform) => Some(platform),
        Err(why) => {
            log::warn!(target: "acpi", "{why}; using PC defaults");
            None
        }
    };
    irq::init(platform);
    start_clocks(platform);
    start_input(platform);
    let pci_count = drivers::pci::init(platform.map_or(&[][..], |p| &p.pci_segments));
    register_platform_devices(platform, pci_count);

    let reset_by_hardware_watchdog = watchdog::probe();
    vm::init();

    task::init();
    task::spawn("shell", || shell::run()).expect("cannot start the shell");
    task::spawn("console", || console::screen_thread()).expect("cannot start the console thread");
    watchdog::init();
    // Disks and the persistent log come up beside the shell: mounting reads the whole log.
    task::spawn("storage", move || {
        let disks = storage::init();
        log::info!(target: "storage", "{disks} disk(s)");
        persist::init(reset_by_hardware_watchdog);
    })
    .expect("cannot start the storage thread");
    system2::start();
    time::start_tick();
    log::info!(target: "boot", "kernel ready in {} us", time::now_ns() / 1000);
    arch::enable_interrupts();
    task::idle_loop()
}

fn start_screen(boot_info: &BootInfo) {
    let fb = boot_info.framebuffer;
    if !fb.is_present() {
        log::warn!(target: "screen", "no framebuffer from the firmware; the console is serial only");
        return;
    }
    let virt = match mm::map::map_mmio(fb.base_phys, fb.size_bytes) {
        Ok(virt) => virt,
        Err(error) => {
            log::warn!(target: "screen", "cannot map the framebuffer: {error:?}");
            return;
        }
    };
    // SAFETY: `virt` maps the whole framebuffer for the kernel's lifetime.
    match unsafe { drivers::fbcon::FbConsole::new(&fb, virt) } {
        Ok(screen) => {
            let (columns, rows) = screen.size();
            console::attach_screen(screen);
            devices::register(
                "framebuffer",
                format!("{}x{} at {:#x}, {columns}x{rows} text", fb.width, fb.height, fb.base_phys),
                Some("fbcon"),
            );
        }
        Err(why) => {
            log::warn!(target: "screen", "the firmware's framebuffer cannot hold the console ({why}); the console is serial only")
        }
    }
}

fn start_clocks(platform: Option<&drivers::acpi::Platform>) {
    let references = [
        platform.and_then(|p| p.hpet_phys).and_then(time::hpet_reference),
        platform.and_then(|p| p.pm_timer).map(|(port, wide)| time::Reference::PmTimer { port, wide }),
    ];
    let calibrated = references.into_iter().flatten().any(|reference| match time::calibrate(reference) {
        Ok(_) => true,
        Err(why) => {
            log::warn!(target: "time", "cannot calibrate against the {}: {why}", reference.name());
            false
        }
    });
    if !calibrated {
        panic!("no working HPET or ACPI PM timer: the clocks cannot be calibrated");
    }
    arch::interrupts::register(vectors::TIMER, time::timer_interrupt);
    match time::rtc::read(platform.and_then(|p| p.century_register)) {
        Some(now) => time::set_boot_wall_clock(now.to_unix()),
        None => log::warn!(target: "time", "the RTC gave no valid date; wall-clock time is unknown"),
    }
}

fn start_input(platform: Option<&drivers::acpi::Platform>) {
    arch::interrupts::register(vectors::SERIAL, console::serial_interrupt);
    if console::serial().is_present() && irq::route_isa_irq(4, vectors::SERIAL) {
        console::serial().enable_receive_interrupt();
    }
    if platform.is_none_or(|p| p.has_8042) && drivers::keyboard::init() {
        arch::interrupts::register(vectors::KEYBOARD, drivers::keyboard::interrupt);
        irq::route_isa_irq(1, vectors::KEYBOARD);
        devices::register(
            "keyboard",
            String::from("PS/2 keyboard on the i8042 controller, IRQ 1"),
            Some("keyboard"),
        );
    }
}

use alloc::string::String;

fn register_platform_devices(platform: Option<&drivers::acpi::Platform>, pci_count: usize) {
    if console::serial().is_present() {
        devices::register(
            "serial",
            String::from("16550 UART COM1 (0x3f8), IRQ 4, 115200 8N1"),
            Some("console"),
        );
    }
    devices::register(
        "local-apic",
        format!("local APIC id {} (xAPIC), timer {} Hz", arch::apic::id(), time::TICK_HZ),
        Some("apic"),
    );
    for (gsi_base, pins) in irq::io_apic_summary() {
        devices::register("ioapic", format!("IOAPIC GSI {gsi_base}..{}", gsi_base + pins - 1), Some("irq"));
    }
    if let Some(p) = platform {
        if let Some(hpet) = p.hpet_phys {
            devices::register("hpet", format!("HPET at {hpet:#x}"), Some("time"));
        }
        if let Some((port, _)) = p.pm_timer {
            devices::register("pm-timer", format!("ACPI PM timer at port {port:#x}"), None);
        }
        devices::register(
            "acpi",
            format!(
                "ACPI {}, {} processor(s)",
                if p.revision >= 2 { "2.0+" } else { "1.0" },
                p.processor_count
            ),
            Some("acpi"),
        );
        for s in &p.pci_segments {
            devices::register(
                "pci-ecam",
                format!(
                    "PCI segment {} buses {}-{} at {:#x}, {pci_count} functions",
                    s.segment, s.first_bus, s.last_bus, s.base_phys
                ),
                Some("pci"),
            );
        }
    }
    devices::register("rtc", String::from("CMOS real-time clock"), Some("time"));
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fault::panic(info)
}
