//! The vCPU loop: enter the guest, handle its exit through `rayos_vmm::Machine`, repeat.
//!
//! Runs in the VM's own kernel thread. Physical interrupts end a guest run (they are
//! intercepted), so the scheduler can switch to other threads at any exit; HLT puts the thread
//! to sleep until the guest's next timer deadline or new console input.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use rayos_vmm::decode::{self, ExitInstruction, RegisterOperand, Registers};
use rayos_vmm::elf_guest;
use rayos_vmm::linux::{self, LinuxBoot};
use rayos_vmm::machine::{AccessCounters, ExitRequest, Fault, HaltAction, Machine, MachineConfig};
use rayos_vmm::memory::GuestRam;
use rayos_vmm::mmio;

use super::backend::{Exit, SvmVcpu, VcpuBackend};
use super::{Command, GuestKind, Shared, VmConfig};
use crate::arch::npt::NestedPageTables;
use crate::mm::PhysicalRun;
use crate::{arch, time};

/// How long a guest asked to power off may take before it is stopped by force.
pub const POWER_OFF_TIMEOUT_NS: u64 = 30_000_000_000;
/// A sleeping vCPU wakes at least this often to look at commands and input.
const MAX_SLEEP_NS: u64 = 100_000_000;
/// A guest that touches this many I/O ports no device answers, or MSRs no model knows, is
/// sweeping the machine rather than using it: it is stopped. A booting Linux touches a few
/// hundred of each.
const UNKNOWN_PORT_LIMIT: u64 = 65_536;
const REFUSED_MSR_LIMIT: u64 = 8192;

/// Why a VM stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The guest powered itself off (ACPI S5).
    PowerOff,
    /// The guest reset itself (0xCF9, keyboard controller).
    Reset,
    /// HLT with interrupts off: the guest can never run again.
    Halted,
    /// The guest triple-faulted.
    TripleFault,
    /// Stopped from RayOS (`vm kill`, or `vm stop` after the guest ignored the power button).
    Killed(&'static str),
    /// The VM did something RayOS does not allow or cannot emulate.
    Fault { name: String, message: String },
    /// The VM could not be started.
    Setup(String),
}

impl Stop {
    /// The reason field of `RAYOS_VM:STOPPED` / `RAYOS_VM:FAULT`.
    pub fn reason(&self) -> String {
        match self {
            Stop::PowerOff => String::from("poweroff"),
            Stop::Reset => String::from("reset"),
            Stop::Halted => String::from("halted"),
            Stop::TripleFault => String::from("triple-fault"),
            Stop::Killed(_) => String::from("killed"),
            Stop::Fault { name, .. } => name.clone(),
            Stop::Setup(_) => String::from("setup-failed"),
        }
    }

    /// A sentence for people.
    pub fn describe(&self) -> String {
        match self {
            Stop::PowerOff => String::from("the guest powered off"),
            Stop::Reset => String::from("the guest reset itself"),
            Stop::Halted => String::from("the guest halted with interrupts disabled"),
            Stop::TripleFault => String::from("the guest triple-faulted (shutdown)"),
            Stop::Killed(why) => format!("stopped by RayOS: {why}"),
            Stop::Fault { message, .. } => format!("stopped for a fault: {message}"),
            Stop::Setup(why) => format!("could not start: {why}"),
        }
    }

    /// Whether this is a fault (`RAYOS_VM:FAULT`) rather than an ordinary stop.
    pub fn is_fault(&self) -> bool {
        matches!(self, Stop::Fault { .. } | Stop::TripleFault | Stop::Setup(_))
    }
}

/// The host CPU's CPUID, as the device models take it.
pub fn host_cpuid(leaf: u32, subleaf: u32) -> rayos_vmm::cpuid::CpuidResult {
    let [eax, ebx, ecx, edx] = arch::cpu::cpuid(leaf, subleaf);
    rayos_vmm::cpuid::CpuidResult { eax, ebx, ecx, edx }
}

fn fault(name: &str, message: impl core::fmt::Display) -> Stop {
    Stop::Fault { name: String::from(name), message: format!("{message}") }
}

/// Builds the VM and runs it until it stops.
pub fn run(shared: &Arc<Shared>, config: &VmConfig, argument: u64) -> Stop {
    let Some(mut ram) = PhysicalRun::allocate_zeroed(config.memory_bytes, 2 << 20) else {
        return Stop::Setup(format!(
            "no {} MiB of contiguous memory for the guest",
            config.memory_bytes >> 20
        ));
    };
    let setup = {
        let mut memory = GuestRam::new(ram.as_mut_slice());
        match &config.kind {
            GuestKind::Linux { kernel, initrd, command_line } => {
                let boot =
                    LinuxBoot { image: kernel, initrd: Some(initrd), command_line: command_line.as_bytes() };
                match linux::load(&mut memory, &boot) {
                    Ok(loaded) => loaded.vcpu,
                    Err(e) => return Stop::Setup(format!("{e}")),
                }
            }
            GuestKind::Elf { image } => match elf_guest::load(&mut memory, image, argument) {
                Ok(loaded) => loaded.vcpu,
                Err(e) => return Stop::Setup(format!("{e}")),
            },
        }
    };
    let Some(nested) = NestedPageTables::identity_offset(ram.phys(), ram.bytes()) else {
        return Stop::Setup(String::from("cannot build the nested page tables"));
    };
    let Some(mut vcpu) = SvmVcpu::new(nested.root_phys()) else {
        return Stop::Setup(String::from("no memory for the VMCB"));
    };
    let start_tsc = arch::read_tsc();
    vcpu.initialise(&setup, 0u64.wrapping_sub(start_tsc));
    let mut machine = Machine::new(MachineConfig {
        tsc_frequency_hz: time::tsc_hz(),
        wall_clock_unix_ns: time::unix_now().saturating_mul(1_000_000_000),
    });
    machine.set_guest_efer(setup.efer);
    shared.set_running();
    let guest_ns =
        |machine: &Machine| machine.tsc_clock().ns_from_tsc(arch::read_tsc().wrapping_sub(start_tsc));
    let mut memory = GuestRam::new(ram.as_mut_slice());
    let mut power_button_at = None;
    loop {
        match shared.take_command() {
            Command::None => {}
            Command::PowerOff => {
                machine.press_power_button();
                power_button_at = Some(time::now_ns());
            }
            Command::Kill => return Stop::Killed("vm kill"),
        }
        if power_button_at.is_some_and(|at| time::now_ns() - at > POWER_OFF_TIMEOUT_NS) {
            return Stop::Killed("the guest ignored the power button");
        }
        let input = shared.take_input();
        if !input.is_empty() {
            machine.console_input(&input);
        }
        machine.advance_time(guest_ns(&machine));

        match machine.pending_interrupt() {
            Some(vector) if vcpu.interruptible() => {
                if let Err(e) = machine.acknowledge(vector) {
                    return fault(e.name(), e);
                }
                vcpu.inject_interrupt(vector);
                vcpu.request_interrupt_window(false);
            }
            Some(_) => vcpu.request_interrupt_window(true),
            None => vcpu.request_interrupt_window(false),
        }

        let exit = vcpu.run();
        shared.exits[exit.index()].fetch_add(1, Ordering::Relaxed);
        machine.advance_time(guest_ns(&machine));
        let stop = handle(exit, &mut vcpu, &mut machine, &mut memory, shared, start_tsc)
            .or_else(|| flood(machine.counters()))
            .or_else(|| machine.take_exit_request().map(exit_request_stop));
        *shared.device_accesses.lock() = *machine.counters();
        drain_output(&mut machine, shared);
        if let Some(stop) = stop {
            return stop;
        }
    }
}

/// A stop for a guest that keeps touching ports or MSRs nothing answers.
fn flood(counters: &AccessCounters) -> Option<Stop> {
    if counters.unknown_port > UNKNOWN_PORT_LIMIT {
        return Some(fault(
            "io-flood",
            format!("the guest touched {UNKNOWN_PORT_LIMIT} I/O ports that no device answers"),
        ));
    }
    (counters.refused_msr > REFUSED_MSR_LIMIT)
        .then(|| fault("msr-flood", format!("the guest touched {REFUSED_MSR_LIMIT} MSRs that do not exist")))
}

fn exit_request_stop(request: ExitRequest) -> Stop {
    match request {
        ExitRequest::PowerOff => Stop::PowerOff,
        ExitRequest::Reset => Stop::Reset,
        ExitRequest::HaltedWithInterruptsDisabled => Stop::Halted,
        ExitRequest::Fault(f) => fault(f.name(), f),
    }
}

fn drain_output(machine: &mut Machine, shared: &Shared) {
    let mut chunk = [0u8; 256];
    let mut n = 0;
    for byte in machine.console_output() {
        chunk[n] = byte;
        n += 1;
        if n == chunk.len() {
            shared.push_output(&chunk);
            n = 0;
        }
    }
    if n > 0 {
        shared.push_output(&chunk[..n]);
    }
}

fn skip(
    vcpu: &mut SvmVcpu,
    memory: &GuestRam<'_>,
    registers: &mut Registers,
    instruction: ExitInstruction,
) -> Result<(), Stop> {
    mmio::skip_instruction(memory, registers, &vcpu.cpu_state(), instruction)
        .map(|_| ())
        .map_err(|e| fault(e.name(), e))
}

const GP: u8 = 13;
const UD: u8 = 6;

fn handle(
    exit: Exit,
    vcpu: &mut SvmVcpu,
    machine: &mut Machine,
    memory: &mut GuestRam<'_>,
    shared: &Shared,
    start_tsc: u64,
) -> Option<Stop> {
    let mut r = vcpu.registers();
    let result: Result<(), Stop> = match exit {
        Exit::Cpuid => {
            let out = machine.cpuid(r.rax as u32, r.rcx as u32, &host_cpuid);
            r.rax = out.eax as u64;
            r.rbx = out.ebx as u64;
            r.rcx = out.ecx as u64;
            r.rdx = out.edx as u64;
            skip(vcpu, memory, &mut r, ExitInstruction::Cpuid)
        }
        Exit::MsrRead => match machine.rdmsr(r.rcx as u32) {
            Ok(value) => {
                r.rax = value & 0xFFFF_FFFF;
                r.rdx = value >> 32;
                skip(vcpu, memory, &mut r, ExitInstruction::Rdmsr)
            }
            Err(Fault::GeneralProtection) => {
                vcpu.inject_exception(GP, Some(0));
                Ok(())
            }
        },
        Exit::MsrWrite => {
            let msr = r.rcx as u32;
            let value = (r.rdx << 32) | (r.rax & 0xFFFF_FFFF);
            match machine.wrmsr(msr, value, memory) {
                Ok(()) => {
                    match msr {
                        rayos_vmm::machine::MSR_EFER => vcpu.set_efer(machine.guest_efer()),
                        rayos_vmm::machine::MSR_PAT => vcpu.set_pat(machine.guest_pat()),
                        _ => {}
                    }
                    skip(vcpu, memory, &mut r, ExitInstruction::Wrmsr)
                }
                Err(Fault::GeneralProtection) => {
                    vcpu.inject_exception(GP, Some(0));
                    Ok(())
                }
            }
        }
        Exit::PortIo { string: true, port, .. } => {
            Err(fault("string-io", format!("string I/O on port {port:#x} is not emulated")))
        }
        Exit::PortIo { port, size_bytes, input, next_rip, .. } => {
            let outcome = if input {
                machine.io_in(port, size_bytes).map(|value| {
                    let rax = RegisterOperand { index: 0, size_bytes, high_byte: false };
                    r.write_operand(rax, u64::from(value));
                })
            } else {
                machine.io_out(port, size_bytes, (r.rax & decode::size_mask(size_bytes)) as u32)
            };
            r.rip = next_rip;
            outcome.map_err(|e| fault(e.name(), e))
        }
        Exit::NestedPageFault { gpa, .. } => {
            let cpu = vcpu.cpu_state();
            mmio::handle_mmio_exit(machine, memory, &mut r, &cpu, gpa)
                .map(|_| ())
                .map_err(|e| fault(e.name(), e))
        }
        Exit::Hlt => match skip(vcpu, memory, &mut r, ExitInstruction::Hlt) {
            Err(stop) => Err(stop),
            Ok(()) => {
                vcpu.set_registers(&r);
                match machine.on_hlt(r.rflags & rayos_vmm::decode::RFLAGS_IF != 0) {
                    HaltAction::Resume => {}
                    HaltAction::Stop => {}
                    HaltAction::SleepUntil(deadline) => {
                        let wait_ns = match deadline {
                            Some(guest_deadline) => {
                                let deadline_tsc =
                                    start_tsc.wrapping_add(machine.tsc_clock().tsc_from_ns(guest_deadline));
                                time::tsc_to_ns(deadline_tsc.saturating_sub(arch::read_tsc()))
                                    .min(MAX_SLEEP_NS)
                            }
                            None => MAX_SLEEP_NS,
                        };
                        crate::task::sleep_ns_unless(wait_ns, || shared.has_work());
                    }
                }
                return None;
            }
        },
        // The loop sets the interrupt window again before the next run.
        Exit::HostInterrupt | Exit::InterruptWindow => Ok(()),
        Exit::Shutdown => return Some(Stop::TripleFault),
        Exit::Forbidden(_) => {
            vcpu.inject_exception(UD, None);
            Ok(())
        }
        Exit::GuestException { vector, error_code } => {
            vcpu.inject_exception(vector, error_code);
            Ok(())
        }
        Exit::InvalidState => {
            return Some(fault("invalid-state", "the CPU refused the guest state (VMRUN failed)"))
        }
        Exit::MachineCheck => {
            return Some(fault("machine-check", "a machine check occurred while the guest ran"))
        }
        Exit::Unknown(code) => return Some(fault("unknown-exit", format!("unhandled exit code {code:#x}"))),
    };
    match result {
        Ok(()) => {
            vcpu.set_registers(&r);
            None
        }
        Err(stop) => Some(stop),
    }
}
