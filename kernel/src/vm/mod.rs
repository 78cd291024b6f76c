//! The VM manager: the guests RayOS knows, their lifecycle, their consoles.
//!
//! Each running VM has one kernel thread executing [`run::run`]; everything the shell and
//! other threads share with it is in [`Shared`] (state, console output kept by RayOS, console
//! input, a command slot, exit counters). Guests get no network device: RayOS's network is off
//! by default, and no guest network exists yet.

pub mod backend;
mod run;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use spin::Once;

use crate::arch::svm::{self, Unsupported};
use crate::sync::IrqMutex;
use crate::{boot, println, time};

/// What a guest boots.
pub enum GuestKind {
    /// A Linux bzImage with an initramfs and a command line (64-bit boot protocol).
    Linux { kernel: &'static [u8], initrd: &'static [u8], command_line: String },
    /// A static ELF64 program entered in long mode with an argument in `rdi`.
    Elf { image: &'static [u8] },
}

pub struct VmConfig {
    pub name: &'static str,
    pub kind: GuestKind,
    pub memory_bytes: u64,
    pub vcpus: u32,
    /// Network devices: none (RayOS's network is off by default).
    pub network: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Stopped,
    Starting,
    Running,
    Stopping,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::Starting => "starting",
            State::Running => "running",
            State::Stopping => "stopping",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    None,
    PowerOff,
    Kill,
}

/// Console output RayOS keeps per VM.
pub const OUTPUT_BYTES: usize = 64 * 1024;
const INPUT_BYTES: usize = 4096;
const READY_MARKER: &[u8] = rayos_markers::GUEST_READY.prefix.as_bytes();

#[derive(Clone)]
pub struct Status {
    pub state: State,
    pub since_ns: u64,
    pub last_stop: Option<String>,
    pub guest_ready: bool,
}

pub struct Shared {
    name: &'static str,
    status: IrqMutex<Status>,
    output: IrqMutex<VecDeque<u8>>,
    input: IrqMutex<VecDeque<u8>>,
    command: AtomicU8,
    pub attached: AtomicBool,
    /// Defuses marker-like guest lines on the way to the console (used by the VM thread).
    console_filter: crate::sync::Mutex<rayos_markers::UntrustedLines>,
    pub exits: [AtomicU64; backend::Exit::NAMES.len()],
    /// The guest's device accesses by device, as of its last exit (which devices cause the
    /// I/O and MSR exits).
    pub device_accesses: IrqMutex<rayos_vmm::machine::AccessCounters>,
    thread: AtomicU64,
    /// Set once a stopped VM's thread has printed its markers: a `vm stop` or `vm kill`
    /// returns only then, so its output holds `RAYOS_VM:STOPPED`.
    stop_reported: AtomicBool,
    /// How far into READY_MARKER the output has matched.
    ready_progress: AtomicU64,
}

impl Shared {
    fn new(name: &'static str) -> Shared {
        Shared {
            name,
            status: IrqMutex::new(Status {
                state: State::Stopped,
                since_ns: 0,
                last_stop: None,
                guest_ready: false,
            }),
            output: IrqMutex::new(VecDeque::new()),
            input: IrqMutex::new(VecDeque::new()),
            command: AtomicU8::new(0),
            attached: AtomicBool::new(false),
            console_filter: crate::sync::Mutex::new(rayos_markers::UntrustedLines::new()),
            exits: [const { AtomicU64::new(0) }; backend::Exit::NAMES.len()],
            device_accesses: IrqMutex::new(rayos_vmm::machine::AccessCounters::default()),
            thread: AtomicU64::new(0),
            stop_reported: AtomicBool::new(true),
            ready_progress: AtomicU64::new(0),
        }
    }

    pub fn status(&self) -> Status {
        self.status.lock().clone()
    }

    pub fn state(&self) -> State {
        self.status.lock().state
    }

    fn set_running(&self) {
        {
            let mut s = self.status.lock();
            // A `vm stop` during start-up has already made it Stopping: that stays.
            if s.state == State::Starting {
                s.state = State::Running;
            }
            s.since_ns = time::now_ns();
        }
        println!("{}", rayos_markers::VM_RUNNING.with(&[&self.name]));
    }

    /// Shows the guest's console output on RayOS's console from now on.
    pub fn attach_console(&self) {
        *self.console_filter.lock() = rayos_markers::UntrustedLines::new();
        self.attached.store(true, Ordering::Release);
    }

    fn take_command(&self) -> Command {
        match self.command.swap(0, Ordering::AcqRel) {
            1 => Command::PowerOff,
            2 => Command::Kill,
            _ => Command::None,
        }
    }

    fn send_command(&self, command: Command) {
        self.command.store(
            match command {
                Command::None => 0,
                Command::PowerOff => 1,
                Command::Kill => 2,
            },
            Ordering::Release,
        );
        self.wake();
    }

    fn wake(&self) {
        let thread = self.thread.load(Ordering::Acquire);
        if thread != 0 {
            crate::task::wake(thread);
        }
    }

    fn has_work(&self) -> bool {
        self.command.load(Ordering::Acquire) != 0 || !self.input.lock().is_empty()
    }

    fn take_input(&self) -> Vec<u8> {
        let mut input = self.input.lock();
        input.drain(..).collect()
    }

    /// Types bytes into the guest's console; returns how many fit.
    pub fn type_input(&self, bytes: &[u8]) -> usize {
        let accepted = {
            let mut input = self.input.lock();
            let room = INPUT_BYTES.saturating_sub(input.len()).min(bytes.len());
            input.extend(&bytes[..room]);
            room
        };
        self.wake();
        accepted
    }

    fn push_output(&self, bytes: &[u8]) {
        {
            let mut output = self.output.lock();
            for &b in bytes {
                if output.len() == OUTPUT_BYTES {
                    output.pop_front();
                }
                output.push_back(b);
            }
        }
        if self.attached.load(Ordering::Relaxed) {
            // Guest text must not pass for RayOS's markers on the console.
            self.console_filter.lock().filter(bytes, &mut |piece: &[u8]| crate::console::write_bytes(piece));
        }
        let mut progress = self.ready_progress.load(Ordering::Relaxed) as usize;
        for &b in bytes {
            progress = if b == READY_MARKER[progress] {
                progress + 1
            } else if b == READY_MARKER[0] {
                1
            } else {
                0
            };
            if progress == READY_MARKER.len() {
                progress = 0;
                let first = {
                    let mut s = self.status.lock();
                    !core::mem::replace(&mut s.guest_ready, true)
                };
                if first {
                    println!("{}", rayos_markers::VM_GUEST_READY.with(&[&self.name]));
                }
            }
        }
        self.ready_progress.store(progress as u64, Ordering::Relaxed);
    }

    /// The console output RayOS kept (the newest [`OUTPUT_BYTES`]).
    pub fn output(&self) -> Vec<u8> {
        self.output.lock().iter().copied().collect()
    }
}

pub struct Vm {
    pub config: VmConfig,
    pub shared: Arc<Shared>,
}

static VMS: Once<Vec<Vm>> = Once::new();
static SUPPORT: Once<Result<(), Unsupported>> = Once::new();

/// Enables SVM if the CPU has it and registers the guests the image carries.
pub fn init() {
    let support = *SUPPORT.call_once(svm::enable);
    match support {
        Ok(()) => log::info!(target: "vm", "AMD SVM with nested paging: guests can run"),
        Err(why) => {
            println!("note: {}", why.message());
            println!("{}", rayos_markers::VM_UNSUPPORTED.with(&[&why.code()]));
        }
    }
    let mut vms = Vec::new();
    if let (Some(kernel), Some(initrd), Some(command_line)) =
        (boot::module("linux-vmlinuz"), boot::module("linux-initrd"), boot::module("linux-cmdline"))
    {
        let command_line = String::from(core::str::from_utf8(command_line).unwrap_or("console=ttyS0").trim());
        vms.push(Vm {
            config: VmConfig {
                name: "linux",
                kind: GuestKind::Linux { kernel, initrd, command_line },
                memory_bytes: 256 << 20,
                vcpus: 1,
                network: false,
            },
            shared: Arc::new(Shared::new("linux")),
        });
    }
    if let Some(image) = boot::module("hostile.elf") {
        vms.push(Vm {
            config: VmConfig {
                name: "hostile",
                kind: GuestKind::Elf { image },
                memory_bytes: 64 << 20,
                vcpus: 1,
                network: false,
            },
            shared: Arc::new(Shared::new("hostile")),
        });
    }
    VMS.call_once(|| vms);
}

pub fn support() -> Result<(), Unsupported> {
    SUPPORT.get().copied().unwrap_or(Err(Unsupported::NoSvm))
}

pub fn vms() -> &'static [Vm] {
    VMS.get().map(Vec::as_slice).unwrap_or(&[])
}

pub fn find(name: &str) -> Option<&'static Vm> {
    vms().iter().find(|vm| vm.config.name == name)
}

/// Why a VM command could not be done.
#[derive(Debug)]
pub enum VmError {
    Unsupported(Unsupported),
    NoSuchVm(String),
    AlreadyRunning,
    NotRunning,
    BadArgument(String),
    NoThread,
}

impl VmError {
    pub fn code(&self) -> &'static str {
        match self {
            VmError::Unsupported(u) => u.code(),
            VmError::NoSuchVm(_) => "no-such-vm",
            VmError::AlreadyRunning => "already-running",
            VmError::NotRunning => "not-running",
            VmError::BadArgument(_) => "bad-args",
            VmError::NoThread => "no-memory",
        }
    }

    pub fn message(&self) -> String {
        match self {
            VmError::Unsupported(u) => String::from(u.message()),
            VmError::NoSuchVm(name) => {
                let known: Vec<&str> = vms().iter().map(|v| v.config.name).collect();
                format!("there is no VM named '{name}' (known: {})", known.join(", "))
            }
            VmError::AlreadyRunning => String::from("it is already running"),
            VmError::NotRunning => String::from("it is not running"),
            VmError::BadArgument(why) => why.clone(),
            VmError::NoThread => String::from("cannot start its thread"),
        }
    }
}

pub fn lookup(name: &str) -> Result<&'static Vm, VmError> {
    find(name).ok_or_else(|| VmError::NoSuchVm(String::from(name)))
}

/// The hostile guest's test cases, by name.
fn hostile_cases() -> String {
    rayos_vmm::elf_guest::HostileCase::ALL.map(|c| c.name()).join(", ")
}

/// Starts `name` (for the hostile guest, `argument` is its test case).
pub fn start(name: &str, case: Option<&str>) -> Result<(), VmError> {
    support().map_err(VmError::Unsupported)?;
    let vm = lookup(name)?;
    let argument = match (&vm.config.kind, case) {
        (GuestKind::Elf { .. }, Some(case)) => rayos_vmm::elf_guest::HostileCase::from_name(case)
            .map(|c| c.argument())
            .ok_or_else(|| VmError::BadArgument(format!("unknown case '{case}' ({})", hostile_cases())))?,
        (GuestKind::Elf { .. }, None) => {
            return Err(VmError::BadArgument(format!("say which case: {}", hostile_cases())));
        }
        (GuestKind::Linux { .. }, Some(extra)) => {
            return Err(VmError::BadArgument(format!("'{name}' takes no argument ('{extra}')")));
        }
        (GuestKind::Linux { .. }, None) => 0,
    };
    // A VM that has just stopped is still printing its markers: let it finish first.
    let deadline = time::now_ns() + 1_000_000_000;
    while !vm.shared.stop_reported.load(Ordering::Acquire) && time::now_ns() < deadline {
        if vm.shared.state() != State::Stopped {
            return Err(VmError::AlreadyRunning);
        }
        crate::task::sleep_ms(5);
    }
    {
        let mut s = vm.shared.status.lock();
        if s.state != State::Stopped || !vm.shared.stop_reported.load(Ordering::Acquire) {
            return Err(VmError::AlreadyRunning);
        }
        s.state = State::Starting;
        s.since_ns = time::now_ns();
        s.guest_ready = false;
    }
    vm.shared.command.store(0, Ordering::Release);
    vm.shared.input.lock().clear();
    vm.shared.output.lock().clear();
    vm.shared.ready_progress.store(0, Ordering::Relaxed);
    for counter in &vm.shared.exits {
        counter.store(0, Ordering::Relaxed);
    }
    *vm.shared.device_accesses.lock() = Default::default();
    println!("{}", rayos_markers::VM_STARTING.with(&[&name]));
    log::info!(target: "vm", "starting {name} ({} MiB)", vm.config.memory_bytes >> 20);
    let shared = Arc::clone(&vm.shared);
    let config: &'static VmConfig = &vm.config;
    vm.shared.stop_reported.store(false, Ordering::Release);
    let thread = crate::task::spawn(&format!("vm-{name}"), move || {
        let stop = run::run(&shared, config, argument);
        let reason = stop.reason();
        {
            let mut s = shared.status.lock();
            s.state = State::Stopped;
            s.guest_ready = false;
            s.last_stop = Some(stop.describe());
        }
        // A shell attached to the console returns to its prompt.
        shared.attached.store(false, Ordering::Release);
        crate::console::wake_readers();
        shared.thread.store(0, Ordering::Release);
        if stop.is_fault() {
            log::warn!(target: "vm", "{}: {}", config.name, stop.describe());
            println!("{}", rayos_markers::VM_FAULT.with(&[&config.name, &reason]));
        } else {
            log::info!(target: "vm", "{}: {}", config.name, stop.describe());
        }
        println!("{}", rayos_markers::VM_STOPPED.with(&[&config.name, &reason]));
        shared.stop_reported.store(true, Ordering::Release);
    });
    match thread {
        Ok(id) => {
            vm.shared.thread.store(id, Ordering::Release);
            Ok(())
        }
        Err(_) => {
            vm.shared.status.lock().state = State::Stopped;
            vm.shared.stop_reported.store(true, Ordering::Release);
            Err(VmError::NoThread)
        }
    }
}

/// Waits (yielding) until `vm` is stopped or `timeout_ns` passes; returns whether it stopped.
pub fn wait_stopped(vm: &Vm, timeout_ns: u64) -> bool {
    let deadline = time::now_ns() + timeout_ns;
    while time::now_ns() < deadline {
        if vm.shared.state() == State::Stopped && vm.shared.stop_reported.load(Ordering::Acquire) {
            return true;
        }
        crate::task::sleep_ms(20);
    }
    false
}

/// Asks the guest to power off (ACPI power button) and waits; stops it by force after the
/// timeout.
pub fn stop(name: &str) -> Result<(), VmError> {
    let vm = lookup(name)?;
    {
        let mut s = vm.shared.status.lock();
        if s.state != State::Running && s.state != State::Starting {
            return Err(VmError::NotRunning);
        }
        s.state = State::Stopping;
    }
    vm.shared.send_command(Command::PowerOff);
    if !wait_stopped(vm, run::POWER_OFF_TIMEOUT_NS + 5_000_000_000) {
        vm.shared.send_command(Command::Kill);
        wait_stopped(vm, 10_000_000_000);
    }
    Ok(())
}

/// Stops the guest at once.
pub fn kill(name: &str) -> Result<(), VmError> {
    let vm = lookup(name)?;
    if vm.shared.status.lock().state == State::Stopped {
        return Err(VmError::NotRunning);
    }
    vm.shared.send_command(Command::Kill);
    wait_stopped(vm, 10_000_000_000);
    Ok(())
}
