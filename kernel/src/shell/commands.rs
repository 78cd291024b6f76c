//! The commands themselves. Their names, usage and help texts live in `rayos_shell::commands`.

use alloc::string::String;

use rayos_hw::pci_names;
use rayos_hw::rtc::DateTime;

use super::{CommandError, CommandResult};
use crate::drivers::pci;
use crate::{arch, boot, console, devices, klog, mm, println, task, time};

/// Runs command `name`; `None` if there is no such command.
pub fn run(name: &str, args: &[&str]) -> Option<CommandResult> {
    Some(match name {
        "help" => help(args),
        "version" => no_args(name, args).and_then(|_| version()),
        "echo" => {
            println!("{}", args.join(" "));
            Ok(())
        }
        "mem" => no_args(name, args).map(|_| mem()),
        "uptime" => no_args(name, args).map(|_| uptime()),
        "date" => no_args(name, args).and_then(|_| date()),
        "cpu" => no_args(name, args).map(|_| cpu()),
        "pci" => no_args(name, args).map(|_| pci_list()),
        "devices" => no_args(name, args).map(|_| devices_list()),
        "tasks" => no_args(name, args).map(|_| tasks()),
        "markers" => no_args(name, args).map(|_| markers()),
        "dmesg" => dmesg(args),
        "clear" => no_args(name, args).map(|_| console::clear()),
        "reboot" => no_args(name, args).map(|_| reboot()),
        "shutdown" => no_args(name, args).and_then(|_| shutdown()),
        "debug" => debug(args),
        "disks" => no_args(name, args).map(|_| super::observe::disks()),
        "log" => super::observe::log(args),
        "crash" => super::observe::crash(args),
        "watchdog" => super::observe::watchdog(args),
        "vm" => super::vm::vm(args),
        "intent" => match args {
            ["--time", rest @ ..] => super::intent::intent_time(rest),
            _ => super::intent::intent(args),
        },
        "ask" => super::intent::ask(args),
        _ => return None,
    })
}

fn no_args(name: &str, args: &[&str]) -> CommandResult {
    if args.is_empty() {
        Ok(())
    } else {
        Err(CommandError::usage(name))
    }
}

fn help(args: &[&str]) -> CommandResult {
    match args {
        [] => {
            println!("Commands:");
            for spec in rayos_shell::commands::COMMANDS {
                println!("  {:<10} {}", spec.name, spec.summary);
            }
            println!("Type 'help <command>' for details.");
            Ok(())
        }
        [name] => match rayos_shell::commands::find(name) {
            Some(spec) => {
                println!("usage: {} {}", spec.name, spec.usage);
                println!("{}", spec.details);
                Ok(())
            }
            None => Err(CommandError::new("unknown-command", alloc::format!("there is no command '{name}'"))),
        },
        _ => Err(CommandError::usage("help")),
    }
}

fn version() -> CommandResult {
    let info = boot::info();
    println!("RayOS {} (x86_64, kernel with SSE2 floating point)", env!("CARGO_PKG_VERSION"));
    let mut hex = String::new();
    for b in info.kernel_sha256 {
        hex.push_str(&alloc::format!("{b:02x}"));
    }
    println!("kernel sha256 {hex} ({} bytes)", info.kernel_file_len);
    if info.boot_partition_guid != [0; 16] {
        println!("booted from GPT partition {}", format_guid(&info.boot_partition_guid));
    }
    Ok(())
}

/// A GPT GUID in its usual text form (the first three fields are stored little-endian).
fn format_guid(g: &[u8; 16]) -> String {
    alloc::format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
    )
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

fn mem() {
    let (usable, free) = mm::frames::stats();
    let (heap_size, heap_used) = mm::heap::stats();
    println!("physical: {} MiB usable, {} MiB used, {} MiB free", mib(usable), mib(usable - free), mib(free));
    println!(
        "heap:     {} MiB, {} KiB used, {} KiB free",
        mib(heap_size),
        heap_used / 1024,
        heap_size.saturating_sub(heap_used) / 1024
    );
}

/// A duration as `HH:MM:SS.mmm`, or `Nd HH:MM:SS` from a day on.
pub(super) fn format_duration(ns: u64) -> String {
    let total = ns / 1_000_000_000;
    let (days, hours, minutes, seconds) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60);
    let millis = ns / 1_000_000 % 1000;
    if days > 0 {
        alloc::format!("{days}d {hours:02}:{minutes:02}:{seconds:02}")
    } else {
        alloc::format!("{hours:02}:{minutes:02}:{seconds:02}.{millis:03}")
    }
}

fn uptime() {
    println!("up {}", format_duration(time::now_ns()));
    println!(
        "{} timer ticks, {} context switches; interrupts: serial {}, keyboard {}",
        time::ticks(),
        task::context_switches(),
        arch::interrupts::count(arch::interrupts::vectors::SERIAL),
        arch::interrupts::count(arch::interrupts::vectors::KEYBOARD)
    );
}

fn date() -> CommandResult {
    match time::unix_now() {
        0 => Err(CommandError::new("no-clock", "the real-time clock could not be read at boot")),
        now => {
            println!("{}", DateTime::from_unix(now));
            Ok(())
        }
    }
}

fn cpu() {
    let info = arch::cpu::info();
    println!("vendor   {}", info.vendor);
    println!("model    {}", info.brand);
    println!("family   {:#x}  model {:#x}  stepping {}", info.family, info.model, info.stepping);
    println!("apic id  {}", arch::apic::id());
    println!("tsc      {} MHz (calibrated)", time::tsc_hz() / 1_000_000);
    println!(
        "svm      {}",
        if info.has_svm {
            if info.has_npt {
                "yes, with nested paging"
            } else {
                "yes, without nested paging"
            }
        } else {
            "no"
        }
    );
    println!("features {}", info.features.join(" "));
}

fn pci_list() {
    let functions = pci::functions();
    if functions.is_empty() {
        println!("no PCI functions found");
    }
    for f in functions {
        let name = pci_names::device_name(f.vendor_id, f.device_id).unwrap_or("");
        let irq = if f.interrupt_line == 0xFF {
            String::new()
        } else {
            alloc::format!(" irq {}", f.interrupt_line)
        };
        let bridge = if f.header_type == 1 { " (bridge)" } else { "" };
        println!(
            "{:02x}:{:02x}.{} {:04x}:{:04x} {} [{:02x}.{:02x}.{:02x} rev {:02x}{irq}]{bridge} {}",
            f.bus,
            f.device,
            f.function,
            f.vendor_id,
            f.device_id,
            pci_names::class_name(f.class, f.subclass),
            f.class,
            f.subclass,
            f.prog_if,
            f.revision,
            name
        );
    }
}

fn devices_list() {
    println!("platform:");
    for device in devices::list() {
        println!(
            "  {:<12} {:<50} driver: {}",
            device.name,
            device.description,
            device.driver.unwrap_or("none")
        );
    }
    println!("pci:");
    for f in pci::functions() {
        let name = pci_names::device_name(f.vendor_id, f.device_id).map(String::from).unwrap_or_else(|| {
            let vendor = pci_names::vendor_name(f.vendor_id).unwrap_or("unknown vendor");
            alloc::format!("{vendor} {}", pci_names::class_name(f.class, f.subclass))
        });
        println!("  {:02x}:{:02x}.{}      {:<50} driver: none", f.bus, f.device, f.function, name);
    }
}

fn tasks() {
    println!("{:>4}  {:<12} {:<10} {:>8}", "id", "name", "state", "runs");
    for (id, name, state, runs) in task::snapshot() {
        let state = match state {
            task::State::Running => "running",
            task::State::Ready => "ready",
            task::State::Blocked => "blocked",
            task::State::Sleeping(_) => "sleeping",
            task::State::Dead => "dead",
        };
        println!("{id:>4}  {name:<12} {state:<10} {runs:>8}");
    }
}

fn markers() {
    for spec in rayos_markers::VOCABULARY {
        println!("{:<48} {}", alloc::format!("{}", spec.pattern()), spec.meaning);
    }
}

fn dmesg(args: &[&str]) -> CommandResult {
    let tail = match args {
        [] => None,
        ["--tail", n] => Some(n.parse::<usize>().map_err(|_| CommandError::usage("dmesg"))?),
        _ => return Err(CommandError::usage("dmesg")),
    };
    let dropped = klog::dropped();
    if dropped > 0 && tail.is_none() {
        println!("({dropped} older records were dropped from the RAM ring)");
    }
    for record in klog::records(tail) {
        println!("{record}");
    }
    Ok(())
}

fn reboot() {
    crate::persist::end_boot(rayos_plog::EndReason::Reboot);
    println!("rebooting...");
    console::flush_screen();
    crate::drivers::acpi::reboot()
}

fn shutdown() -> CommandResult {
    let failed = |why| CommandError::new("power-off-failed", why);
    crate::drivers::acpi::can_power_off().map_err(failed)?;
    crate::persist::end_boot(rayos_plog::EndReason::CleanShutdown);
    println!("powering off...");
    console::flush_screen();
    crate::drivers::acpi::power_off()
        .inspect_err(|_| {
            // Still running after all: the boot has not ended.
            crate::persist::end_boot(rayos_plog::EndReason::Running);
        })
        .map_err(failed)
}

fn debug(args: &[&str]) -> CommandResult {
    match args {
        ["fault", kind] if ["page", "gp", "div", "ud", "stack"].contains(kind) => {
            println!("provoking a {kind} fault on purpose; the kernel will stop");
            console::flush_screen();
            match *kind {
                "page" => {
                    arch::debug::page_fault();
                }
                "gp" => {
                    arch::debug::general_protection();
                }
                "div" => {
                    arch::debug::divide_error();
                }
                "ud" => arch::debug::invalid_opcode(),
                "stack" => {
                    arch::debug::stack_overflow(0);
                }
                _ => return Err(CommandError::usage("debug")),
            }
            Err(CommandError::new("no-fault", "the fault did not happen"))
        }
        ["panic"] => panic!("'debug panic' was requested"),
        ["hang", kind] => {
            let hang = match *kind {
                "irq-off" => crate::watchdog::Hang::InterruptsOff,
                "spin" => crate::watchdog::Hang::Spin,
                "deadlock" => crate::watchdog::Hang::Deadlock,
                _ => return Err(CommandError::usage("debug")),
            };
            println!("hanging the kernel on purpose ({kind}); the watchdog should reset the machine");
            crate::watchdog::hang(hang)
        }
        ["logflood", count] => super::observe::logflood(count),
        ["logbench"] => super::observe::logbench(),
        ["fputest"] => fpu_test(),
        _ => Err(CommandError::usage("debug")),
    }
}

/// A float computation long enough to be preempted many times; every step depends on the
/// last, so any FPU/SSE register clobbered by a thread switch changes the result.
#[inline(never)]
fn float_series(seed: f64, steps: u32, yield_every: u32) -> f64 {
    let mut x = seed;
    let mut total = 0.0f64;
    for i in 0..steps {
        x = x * 1.000_000_1 + 0.5 / (i as f64 + 1.0);
        total += x / (1.0 + (i % 7) as f64);
        if yield_every != 0 && i % yield_every == 0 {
            task::yield_now();
        }
    }
    total
}

/// `debug fputest`: threads computing the same float series while being switched must agree
/// bit for bit with one computed without yielding.
fn fpu_test() -> CommandResult {
    use alloc::sync::Arc;
    const THREADS: usize = 4;
    const STEPS: u32 = 200_000;
    let expected = float_series(1.5, STEPS, 0).to_bits();
    let results = Arc::new(crate::sync::IrqMutex::new(alloc::vec::Vec::new()));
    let switches_before = task::context_switches();
    for t in 0..THREADS {
        let results = Arc::clone(&results);
        task::spawn("fputest", move || {
            let value = float_series(1.5, STEPS, 97 + t as u32 * 13).to_bits();
            results.lock().push(value);
        })
        .map_err(|_| CommandError::new("no-memory", "cannot start the test threads"))?;
    }
    let deadline = time::now_ns() + 60_000_000_000;
    while results.lock().len() < THREADS {
        if time::now_ns() > deadline {
            return Err(CommandError::new("timeout", "the test threads did not finish"));
        }
        task::sleep_ms(10);
    }
    let switches = task::context_switches() - switches_before;
    let wrong = results.lock().iter().filter(|&&v| v != expected).count();
    if wrong > 0 {
        return Err(CommandError::new(
            "fpu-corrupted",
            alloc::format!(
                "{wrong} of {THREADS} threads computed a different result: FPU/SSE state was not preserved"
            ),
        ));
    }
    println!("{THREADS} threads agree bit for bit ({:#x}) across {switches} thread switches", expected);
    Ok(())
}
