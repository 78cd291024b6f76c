//! One guest's platform: the devices wired together, the MSRs, CPUID, interrupts and time.
//!
//! The kernel calls into a [`Machine`] from its #VMEXIT handler: port I/O, MMIO (through
//! [`crate::mmio::handle_mmio_exit`]), RDMSR/WRMSR, CPUID, HLT, and before each of them
//! [`Machine::advance_time`] with the current guest time. Before each VMRUN it asks
//! [`Machine::pending_interrupt`] and, when it injects that vector, calls
//! [`Machine::acknowledge`]. After each exit it drains [`Machine::take_exit_request`].

use core::fmt;

use crate::cpuid::{guest_cpuid, CpuidResult};
use crate::decode::DecodeError;
use crate::devices::i8042::{I8042Action, I8042};
use crate::devices::ioapic::{IoApic, IOAPIC_BASE, IOAPIC_SIZE_BYTES};
use crate::devices::lapic::{
    Lapic, LAPIC_BASE, MSR_APIC_BASE, MSR_TSC_DEADLINE, MSR_X2APIC_FIRST, MSR_X2APIC_LAST,
};
use crate::devices::pci::{PciAction, PciBus};
use crate::devices::pic::PicPair;
use crate::devices::pit::Pit;
use crate::devices::pm::{PmAction, PmRegisters, PM1A_EVENT_PORT, PM_LAST_PORT, SCI_IRQ};
use crate::devices::rtc::Rtc;
use crate::devices::uart::Uart;
use crate::memory::{GuestMemory, EFER_LMA, EFER_LME, EFER_NXE};
use crate::mmio::MmioError;
use crate::time::{TscClock, NS_PER_SECOND};

/// COM1's I/O ports and ISA IRQ.
pub const COM1_PORT: u16 = 0x3F8;
/// COM1's ISA IRQ.
pub const COM1_IRQ: u8 = 4;

/// kvmclock wall-clock MSR (KVM_FEATURE_CLOCKSOURCE2).
pub const MSR_KVM_WALL_CLOCK_NEW: u32 = 0x4B56_4D00;
/// kvmclock system-time MSR (KVM_FEATURE_CLOCKSOURCE2).
pub const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4B56_4D01;
/// EFER.
pub const MSR_EFER: u32 = 0xC000_0080;
/// PAT.
pub const MSR_PAT: u32 = 0x277;
/// MTRR capabilities.
pub const MSR_MTRR_CAP: u32 = 0xFE;
/// MTRR default type.
pub const MSR_MTRR_DEF_TYPE: u32 = 0x2FF;
/// TSC.
pub const MSR_TSC: u32 = 0x10;
/// AMD DE_CFG (LFENCE serialisation bit 1).
pub const MSR_AMD_DE_CFG: u32 = 0xC001_1029;
/// MSRs that read as zero and ignore writes: AMD patch level, SYSCFG, HWCR. Linux reads them
/// on AMD CPUs with plain (non-`_safe`) accessors, and zero is a truthful "nothing special".
pub const READ_AS_ZERO_MSRS: [u32; 3] = [0x8B, 0xC001_0010, 0xC001_0015];

const PAT_DEFAULT: u64 = 0x0007_0406_0007_0406;
const MTRR_DEF_TYPE_FIRMWARE: u64 = 0x806;
const PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;

/// An exception the guest must receive for the instruction that exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Inject #GP(0).
    GeneralProtection,
}

/// A request from the guest that the VMM must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitRequest {
    /// The guest entered ACPI S5.
    PowerOff,
    /// The guest asked for a reset (0xCF9, i8042 pulse).
    Reset,
    /// HLT with RFLAGS.IF clear and no NMI source: the guest will never run again.
    HaltedWithInterruptsDisabled,
    /// The VM cannot continue: `RAYOS_VM:FAULT:<fault.name()>:<fault>`.
    Fault(VmFault),
}

/// Anything that stops the VM, in one type for the kernel's fault marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmFault {
    /// A port, MMIO or interrupt-controller error.
    Machine(MachineError),
    /// An MMIO exit that could not be completed.
    Mmio(MmioError),
    /// The instruction at RIP is not the one the exit reported (or cannot be read).
    Instruction(DecodeError),
}

impl VmFault {
    /// A short stable name for markers.
    pub fn name(&self) -> &'static str {
        match self {
            VmFault::Machine(e) => e.name(),
            VmFault::Mmio(e) => e.name(),
            VmFault::Instruction(e) => e.name(),
        }
    }
}

impl fmt::Display for VmFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmFault::Machine(e) => write!(f, "{e}"),
            VmFault::Mmio(e) => write!(f, "{e}"),
            VmFault::Instruction(e) => write!(f, "{e}"),
        }
    }
}

impl From<MachineError> for VmFault {
    fn from(e: MachineError) -> Self {
        VmFault::Machine(e)
    }
}

impl From<MmioError> for VmFault {
    fn from(e: MmioError) -> Self {
        VmFault::Mmio(e)
    }
}

impl From<DecodeError> for VmFault {
    fn from(e: DecodeError) -> Self {
        VmFault::Instruction(e)
    }
}

/// What the vCPU should do after a HLT exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltAction {
    /// An interrupt is deliverable now: inject it and resume.
    Resume,
    /// Sleep until this guest time, or until console input arrives (`None`: only input wakes).
    SleepUntil(Option<u64>),
    /// Stop the VM; [`Machine::take_exit_request`] says why.
    Stop,
}

/// A guest access the machine refused; the VM stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineError {
    /// A port or MMIO access of a size the CPU cannot produce for it.
    InvalidAccessSize {
        /// The refused size.
        size_bytes: u8,
    },
    /// A port access running past port 0xFFFF.
    PortRangeWraps {
        /// First port.
        port: u16,
        /// Access size.
        size_bytes: u8,
    },
    /// MMIO to a guest-physical address where no device lives.
    NoDeviceAt {
        /// The address.
        gpa: u64,
    },
    /// MMIO to the xAPIC page: the guest runs in x2APIC mode and xAPIC is not emulated.
    XapicMmio {
        /// The address.
        gpa: u64,
    },
    /// The VMM acknowledged a vector that is not pending (a VMM bug, not a guest one).
    NotPending {
        /// The vector.
        vector: u8,
    },
}

impl MachineError {
    /// A short stable name for markers.
    pub fn name(&self) -> &'static str {
        match self {
            MachineError::InvalidAccessSize { .. } => "access_size",
            MachineError::PortRangeWraps { .. } => "port_range",
            MachineError::NoDeviceAt { .. } => "no_device",
            MachineError::XapicMmio { .. } => "xapic_mmio",
            MachineError::NotPending { .. } => "not_pending",
        }
    }
}

impl fmt::Display for MachineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineError::InvalidAccessSize { size_bytes } => write!(f, "access of {size_bytes} bytes"),
            MachineError::PortRangeWraps { port, size_bytes } => {
                write!(f, "{size_bytes}-byte access at port {port:#x} runs past 0xffff")
            }
            MachineError::NoDeviceAt { gpa } => write!(f, "no device at guest-physical {gpa:#x}"),
            MachineError::XapicMmio { gpa } => {
                write!(f, "xAPIC MMIO at {gpa:#x}; the guest must use x2APIC (do not pass nox2apic)")
            }
            MachineError::NotPending { vector } => {
                write!(f, "vector {vector:#x} acknowledged but not pending")
            }
        }
    }
}

/// What a [`Machine`] is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineConfig {
    /// The guest TSC frequency (the host's, measured by the kernel).
    pub tsc_frequency_hz: u64,
    /// Wall-clock time at guest time 0, in ns since the Unix epoch.
    pub wall_clock_unix_ns: u64,
}

/// Per-device access counts, for diagnosing exit storms.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessCounters {
    pub uart: u64,
    pub pic: u64,
    pub pit: u64,
    pub port61: u64,
    pub rtc: u64,
    pub i8042: u64,
    pub pci: u64,
    pub pm: u64,
    pub post: u64,
    pub delay_port: u64,
    pub unknown_port: u64,
    pub ioapic: u64,
    pub lapic_msr: u64,
    pub other_msr: u64,
    pub refused_msr: u64,
    pub cpuid: u64,
}

impl AccessCounters {
    /// Every counter with its name, in declaration order (for `vm status`).
    pub fn named(&self) -> [(&'static str, u64); 16] {
        // Destructured without `..`: a counter added later must be named here too.
        let AccessCounters {
            uart,
            pic,
            pit,
            port61,
            rtc,
            i8042,
            pci,
            pm,
            post,
            delay_port,
            unknown_port,
            ioapic,
            lapic_msr,
            other_msr,
            refused_msr,
            cpuid,
        } = *self;
        [
            ("uart", uart),
            ("pic", pic),
            ("pit", pit),
            ("port61", port61),
            ("rtc", rtc),
            ("i8042", i8042),
            ("pci", pci),
            ("pm", pm),
            ("post", post),
            ("delay-port", delay_port),
            ("unknown-port", unknown_port),
            ("ioapic", ioapic),
            ("lapic-msr", lapic_msr),
            ("other-msr", other_msr),
            ("refused-msr", refused_msr),
            ("cpuid", cpuid),
        ]
    }
}

/// One guest's platform.
#[derive(Debug)]
pub struct Machine {
    config: MachineConfig,
    clock: TscClock,
    now_ns: u64,
    uart: Uart,
    ioapic: IoApic,
    lapic: Lapic,
    pic: PicPair,
    pit: Pit,
    rtc: Rtc,
    i8042: I8042,
    pci: PciBus,
    pm: PmRegisters,
    /// ISA IRQ line levels as last driven, bit n = IRQ n.
    isa_levels: u16,
    exit_request: Option<ExitRequest>,
    counters: AccessCounters,
    last_post_code: u8,
    efer: u64,
    pat: u64,
    mtrr_def_type: u64,
    de_cfg: u64,
    kvm_wall_clock: u64,
    kvm_system_time: u64,
    pvclock_version: u32,
}

impl Machine {
    /// A powered-on machine at guest time 0.
    pub fn new(config: MachineConfig) -> Self {
        Self {
            config,
            clock: TscClock::new(config.tsc_frequency_hz),
            now_ns: 0,
            uart: Uart::new(),
            ioapic: IoApic::new(),
            lapic: Lapic::new(),
            pic: PicPair::new(),
            pit: Pit::new(),
            rtc: Rtc::new(config.wall_clock_unix_ns),
            i8042: I8042::new(),
            pci: PciBus::new(),
            pm: PmRegisters::new(),
            isa_levels: 0,
            exit_request: None,
            counters: AccessCounters::default(),
            last_post_code: 0,
            efer: 0,
            pat: PAT_DEFAULT,
            // What firmware leaves: MTRRs enabled, default type write-back, no ranges. With
            // MTRRs disabled Linux would also disable PAT.
            mtrr_def_type: MTRR_DEF_TYPE_FIRMWARE,
            de_cfg: 0,
            kvm_wall_clock: 0,
            kvm_system_time: 0,
            pvclock_version: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// The guest TSC <-> ns conversion (the kernel uses it to turn deadlines into host TSC).
    pub fn tsc_clock(&self) -> &TscClock {
        &self.clock
    }

    /// Current guest time as last passed to [`Self::advance_time`].
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Per-device access counters.
    pub fn counters(&self) -> &AccessCounters {
        &self.counters
    }

    /// The PCI bus, to attach devices.
    pub fn pci_bus(&mut self) -> &mut PciBus {
        &mut self.pci
    }

    /// The last POST code written to port 0x80.
    pub fn last_post_code(&self) -> u8 {
        self.last_post_code
    }

    /// The guest PAT, for the VMCB's G_PAT.
    pub fn guest_pat(&self) -> u64 {
        self.pat
    }

    /// The guest EFER as last written through WRMSR (the SVM backend ORs in EFER.SVME).
    pub fn guest_efer(&self) -> u64 {
        self.efer
    }

    /// Tells the machine the EFER the vCPU starts with (e.g. [`crate::linux::VcpuSetup::efer`]).
    pub fn set_guest_efer(&mut self, efer: u64) {
        self.efer = efer;
    }

    /// Takes the pending request, if the guest made one.
    pub fn take_exit_request(&mut self) -> Option<ExitRequest> {
        self.exit_request.take()
    }

    /// Records that the VM must stop because of `fault` (from an exit handler's error), so the
    /// kernel's run loop has one place to look.
    pub fn request_fault(&mut self, fault: impl Into<VmFault>) {
        self.request(ExitRequest::Fault(fault.into()));
    }

    fn request(&mut self, request: ExitRequest) {
        // The first request wins: a reset after a power-off does not undo the power-off.
        if self.exit_request.is_none() {
            self.exit_request = Some(request);
        }
    }

    // ---- time and interrupts ----

    /// Moves guest time forward to `now_ns` (earlier values are ignored: time never runs
    /// backwards) and fires the timers that expired.
    pub fn advance_time(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        self.lapic.advance(self.now_ns);
        if self.pit.advance(self.now_ns) {
            self.set_isa_irq(0, true);
            self.set_isa_irq(0, false);
        }
        self.update_irq_lines();
    }

    /// When the vCPU must be woken for a timer, in guest ns.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        match (self.lapic.next_deadline_ns(), self.pit.next_deadline_ns()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The vector to inject next, if any (LAPIC first, then the 8259 through LINT0).
    pub fn pending_interrupt(&self) -> Option<u8> {
        self.lapic.pending_vector().or_else(|| {
            if self.lapic.accepts_extint() {
                self.pic.pending_vector()
            } else {
                None
            }
        })
    }

    /// The VMM injected `vector`: it moves to in-service.
    pub fn acknowledge(&mut self, vector: u8) -> Result<(), MachineError> {
        if self.lapic.pending_vector() == Some(vector) {
            self.lapic.acknowledge(vector);
        } else if self.lapic.accepts_extint() && self.pic.pending_vector() == Some(vector) {
            self.pic.acknowledge(vector);
        } else {
            return Err(MachineError::NotPending { vector });
        }
        Ok(())
    }

    /// A HLT exit. `interrupts_enabled` is the guest's RFLAGS.IF.
    pub fn on_hlt(&mut self, interrupts_enabled: bool) -> HaltAction {
        if !interrupts_enabled {
            self.request(ExitRequest::HaltedWithInterruptsDisabled);
            return HaltAction::Stop;
        }
        if self.pending_interrupt().is_some() {
            return HaltAction::Resume;
        }
        HaltAction::SleepUntil(self.next_deadline_ns())
    }

    fn set_isa_irq(&mut self, irq: u8, asserted: bool) {
        let bit = 1u16 << irq;
        if (self.isa_levels & bit != 0) == asserted {
            return;
        }
        self.isa_levels ^= bit;
        self.pic.set_irq(irq, asserted);
        let gsi = if irq == 0 { 2 } else { usize::from(irq) };
        self.ioapic.set_irq(gsi, asserted, &mut self.lapic);
    }

    fn update_irq_lines(&mut self) {
        self.set_isa_irq(COM1_IRQ, self.uart.irq_level());
        self.set_isa_irq(SCI_IRQ, self.pm.sci_level());
    }

    // ---- console and buttons ----

    /// Drains the bytes the guest wrote to COM1.
    pub fn console_output(&mut self) -> impl Iterator<Item = u8> + '_ {
        self.uart.take_output()
    }

    /// Types bytes into COM1; returns how many were accepted.
    pub fn console_input(&mut self, bytes: &[u8]) -> usize {
        let accepted = self.uart.push_input(bytes);
        self.update_irq_lines();
        accepted
    }

    /// True when typed bytes wait for the guest.
    pub fn has_pending_input(&self) -> bool {
        self.uart.has_pending_input()
    }

    /// Presses the ACPI power button (a polite shutdown request).
    pub fn press_power_button(&mut self) {
        self.pm.press_power_button();
        self.update_irq_lines();
    }

    // ---- port I/O ----

    fn check_port_access(port: u16, size_bytes: u8) -> Result<(), MachineError> {
        if !matches!(size_bytes, 1 | 2 | 4) {
            return Err(MachineError::InvalidAccessSize { size_bytes });
        }
        if u32::from(port) + u32::from(size_bytes) - 1 > 0xFFFF {
            return Err(MachineError::PortRangeWraps { port, size_bytes });
        }
        Ok(())
    }

    /// An IN of `size_bytes` (1, 2, 4) from `port`.
    pub fn io_in(&mut self, port: u16, size_bytes: u8) -> Result<u32, MachineError> {
        Self::check_port_access(port, size_bytes)?;
        let value = match port {
            0xCF8..=0xCFF => {
                self.counters.pci += 1;
                self.pci.read(port, size_bytes)
            }
            PM1A_EVENT_PORT..=PM_LAST_PORT => {
                self.counters.pm += 1;
                self.pm.read(port, size_bytes, self.now_ns)
            }
            _ => (0..u16::from(size_bytes))
                .fold(0u32, |v, i| v | (u32::from(self.read_port_byte(port + i)) << (8 * i))),
        };
        self.update_irq_lines();
        Ok(value)
    }

    /// An OUT of `size_bytes` (1, 2, 4) to `port`.
    pub fn io_out(&mut self, port: u16, size_bytes: u8, value: u32) -> Result<(), MachineError> {
        Self::check_port_access(port, size_bytes)?;
        match port {
            0xCF8..=0xCFF => {
                self.counters.pci += 1;
                if self.pci.write(port, size_bytes, value) == PciAction::Reset {
                    self.request(ExitRequest::Reset);
                }
            }
            PM1A_EVENT_PORT..=PM_LAST_PORT => {
                self.counters.pm += 1;
                if self.pm.write(port, size_bytes, value) == PmAction::PowerOff {
                    self.request(ExitRequest::PowerOff);
                }
            }
            _ => {
                for i in 0..u16::from(size_bytes) {
                    self.write_port_byte(port + i, (value >> (8 * i)) as u8);
                }
            }
        }
        self.update_irq_lines();
        Ok(())
    }

    fn read_port_byte(&mut self, port: u16) -> u8 {
        let now = self.now_ns;
        match port {
            0x20 | 0x21 | 0xA0 | 0xA1 | 0x4D0 | 0x4D1 => {
                self.counters.pic += 1;
                self.pic.read(port)
            }
            0x40..=0x43 => {
                self.counters.pit += 1;
                self.pit.read(port, now)
            }
            0x61 => {
                self.counters.port61 += 1;
                self.pit.read_port61(now)
            }
            0x60 | 0x64 => {
                self.counters.i8042 += 1;
                self.i8042.read(port)
            }
            0x70 | 0x71 => {
                self.counters.rtc += 1;
                self.rtc.read(port, now)
            }
            0x3F8..=0x3FF => {
                self.counters.uart += 1;
                self.uart.read((port - COM1_PORT) as u8)
            }
            0x80 => {
                self.counters.post += 1;
                self.last_post_code
            }
            0xED => {
                self.counters.delay_port += 1;
                0xFF
            }
            _ => {
                self.counters.unknown_port += 1;
                0xFF
            }
        }
    }

    fn write_port_byte(&mut self, port: u16, value: u8) {
        let now = self.now_ns;
        match port {
            0x20 | 0x21 | 0xA0 | 0xA1 | 0x4D0 | 0x4D1 => {
                self.counters.pic += 1;
                self.pic.write(port, value);
            }
            0x40..=0x43 => {
                self.counters.pit += 1;
                self.pit.write(port, value, now);
            }
            0x61 => {
                self.counters.port61 += 1;
                self.pit.write_port61(value, now);
            }
            0x60 | 0x64 => {
                self.counters.i8042 += 1;
                if self.i8042.write(port, value) == I8042Action::Reset {
                    self.request(ExitRequest::Reset);
                }
            }
            0x70 | 0x71 => {
                self.counters.rtc += 1;
                self.rtc.write(port, value, now);
            }
            0x3F8..=0x3FF => {
                self.counters.uart += 1;
                self.uart.write((port - COM1_PORT) as u8, value);
            }
            0x80 => {
                self.counters.post += 1;
                self.last_post_code = value;
            }
            0xED => self.counters.delay_port += 1,
            _ => self.counters.unknown_port += 1,
        }
    }

    // ---- MMIO ----

    fn check_mmio(gpa: u64, size_bytes: u8) -> Result<(), MachineError> {
        if !matches!(size_bytes, 1 | 2 | 4 | 8) {
            return Err(MachineError::InvalidAccessSize { size_bytes });
        }
        let in_page = |base: u64, len: u64| gpa >= base && gpa - base + u64::from(size_bytes) <= len;
        if in_page(IOAPIC_BASE, IOAPIC_SIZE_BYTES) {
            return Ok(());
        }
        if in_page(LAPIC_BASE, 0x1000) {
            return Err(MachineError::XapicMmio { gpa });
        }
        Err(MachineError::NoDeviceAt { gpa })
    }

    /// An MMIO read of `size_bytes` (1, 2, 4, 8) at `gpa`.
    pub fn mmio_read(&mut self, gpa: u64, size_bytes: u8) -> Result<u64, MachineError> {
        Self::check_mmio(gpa, size_bytes)?;
        self.counters.ioapic += 1;
        Ok(u64::from(self.ioapic.mmio_read(gpa - IOAPIC_BASE, size_bytes)))
    }

    /// An MMIO write of `size_bytes` (1, 2, 4, 8) at `gpa`.
    pub fn mmio_write(&mut self, gpa: u64, size_bytes: u8, value: u64) -> Result<(), MachineError> {
        Self::check_mmio(gpa, size_bytes)?;
        self.counters.ioapic += 1;
        self.ioapic.mmio_write(gpa - IOAPIC_BASE, size_bytes, value as u32, &mut self.lapic);
        self.update_irq_lines();
        Ok(())
    }

    // ---- CPUID and MSRs ----

    /// CPUID for the guest; `host` executes CPUID on the host.
    pub fn cpuid(&mut self, leaf: u32, subleaf: u32, host: &dyn Fn(u32, u32) -> CpuidResult) -> CpuidResult {
        self.counters.cpuid += 1;
        guest_cpuid(leaf, subleaf, host)
    }

    /// RDMSR. Unknown MSRs raise #GP (Linux's MSR accessors survive that), except the
    /// [`READ_AS_ZERO_MSRS`].
    pub fn rdmsr(&mut self, msr: u32) -> Result<u64, Fault> {
        let result = match msr {
            MSR_X2APIC_FIRST..=MSR_X2APIC_LAST => {
                self.counters.lapic_msr += 1;
                return self.lapic.read_msr(msr, self.now_ns);
            }
            MSR_APIC_BASE => Ok(self.lapic.apic_base()),
            MSR_TSC_DEADLINE => Ok(self.lapic.read_tsc_deadline()),
            MSR_TSC => Ok(self.clock.tsc_from_ns(self.now_ns)),
            MSR_EFER => Ok(self.efer),
            MSR_PAT => Ok(self.pat),
            MSR_MTRR_CAP => Ok(1 << 10), // write-combining type supported, no ranges, no fixed MTRRs
            MSR_MTRR_DEF_TYPE => Ok(self.mtrr_def_type),
            MSR_AMD_DE_CFG => Ok(self.de_cfg),
            MSR_KVM_WALL_CLOCK_NEW => Ok(self.kvm_wall_clock),
            MSR_KVM_SYSTEM_TIME_NEW => Ok(self.kvm_system_time),
            m if READ_AS_ZERO_MSRS.contains(&m) => Ok(0),
            _ => Err(Fault::GeneralProtection),
        };
        self.count_msr(&result);
        result
    }

    fn count_msr<T>(&mut self, result: &Result<T, Fault>) {
        if result.is_ok() {
            self.counters.other_msr += 1;
        } else {
            self.counters.refused_msr += 1;
        }
    }

    /// WRMSR. kvmclock registrations write their structures into `memory`.
    pub fn wrmsr(&mut self, msr: u32, value: u64, memory: &mut dyn GuestMemory) -> Result<(), Fault> {
        if (MSR_X2APIC_FIRST..=MSR_X2APIC_LAST).contains(&msr) {
            self.counters.lapic_msr += 1;
            let broadcast = self.lapic.write_msr(msr, value, self.now_ns)?;
            if let Some(vector) = broadcast {
                self.ioapic.end_of_interrupt(vector, &mut self.lapic);
            }
            return Ok(());
        }
        let result = self.write_other_msr(msr, value, memory);
        self.count_msr(&result);
        result
    }

    fn write_other_msr(&mut self, msr: u32, value: u64, memory: &mut dyn GuestMemory) -> Result<(), Fault> {
        match msr {
            MSR_APIC_BASE => self.lapic.write_apic_base(value),
            MSR_TSC_DEADLINE => {
                self.lapic.write_tsc_deadline(value, self.now_ns, &self.clock);
                Ok(())
            }
            MSR_EFER => {
                if value & !(1 | EFER_LME | EFER_LMA | EFER_NXE) != 0 {
                    return Err(Fault::GeneralProtection);
                }
                // LMA is read-only: the CPU sets it when paging turns on with LME.
                self.efer = (value & !EFER_LMA) | (self.efer & EFER_LMA);
                Ok(())
            }
            MSR_PAT => {
                let valid = value.to_le_bytes().iter().all(|t| matches!(t, 0 | 1 | 4 | 5 | 6 | 7));
                if !valid {
                    return Err(Fault::GeneralProtection);
                }
                self.pat = value;
                Ok(())
            }
            MSR_MTRR_DEF_TYPE => {
                let memory_type = value & 0xFF;
                // E (bit 11) and the type; FE (bit 10) is reserved without fixed-range MTRRs.
                if value & !0x8FF != 0 || !matches!(memory_type, 0 | 1 | 4 | 5 | 6) {
                    return Err(Fault::GeneralProtection);
                }
                self.mtrr_def_type = value;
                Ok(())
            }
            MSR_AMD_DE_CFG => {
                self.de_cfg = value & 0x2;
                Ok(())
            }
            MSR_KVM_WALL_CLOCK_NEW => {
                self.write_kvm_wall_clock(value, memory)?;
                self.kvm_wall_clock = value;
                Ok(())
            }
            MSR_KVM_SYSTEM_TIME_NEW => {
                if value & 1 != 0 {
                    self.write_kvm_system_time(value & !1, memory)?;
                }
                self.kvm_system_time = value;
                Ok(())
            }
            m if READ_AS_ZERO_MSRS.contains(&m) => Ok(()),
            _ => Err(Fault::GeneralProtection),
        }
    }

    fn next_pvclock_version(&mut self) -> u32 {
        // Even versions mean "consistent"; the structures are written in one go per exit.
        self.pvclock_version = self.pvclock_version.wrapping_add(2);
        self.pvclock_version
    }

    fn write_kvm_wall_clock(&mut self, gpa: u64, memory: &mut dyn GuestMemory) -> Result<(), Fault> {
        let wall = self.config.wall_clock_unix_ns;
        let mut record = [0u8; 12];
        record[0..4].copy_from_slice(&self.next_pvclock_version().to_le_bytes());
        record[4..8].copy_from_slice(&((wall / NS_PER_SECOND) as u32).to_le_bytes());
        record[8..12].copy_from_slice(&((wall % NS_PER_SECOND) as u32).to_le_bytes());
        memory.write(gpa, &record).map_err(|_| Fault::GeneralProtection)
    }

    fn write_kvm_system_time(&mut self, gpa: u64, memory: &mut dyn GuestMemory) -> Result<(), Fault> {
        // Guest TSC 0 is guest time 0, so the record never changes: tsc_timestamp = 0,
        // system_time = 0, and the clock's own scale factors.
        let mut record = [0u8; 32];
        record[0..4].copy_from_slice(&self.next_pvclock_version().to_le_bytes());
        record[24..28].copy_from_slice(&self.clock.multiplier().to_le_bytes());
        record[28] = self.clock.shift() as u8;
        record[29] = PVCLOCK_TSC_STABLE_BIT;
        memory.write(gpa, &record).map_err(|_| Fault::GeneralProtection)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::memory::GuestRam;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const GHZ: u64 = 1_000_000_000;

    fn machine() -> Machine {
        Machine::new(MachineConfig {
            tsc_frequency_hz: 2 * GHZ,
            wall_clock_unix_ns: 1_795_668_717 * NS_PER_SECOND,
        })
    }

    /// Programs the I/O APIC entry for `gsi` the way Linux does (edge, fixed, unmasked).
    fn route(m: &mut Machine, gsi: u32, vector: u8, level: bool) {
        let low = u64::from(vector) | if level { 1 << 15 } else { 0 };
        m.mmio_write(IOAPIC_BASE, 4, u64::from(0x10 + 2 * gsi)).unwrap();
        m.mmio_write(IOAPIC_BASE + 0x10, 4, low).unwrap();
    }

    #[test]
    fn uart_output_and_irq4_through_ioapic() {
        let mut m = machine();
        route(&mut m, 4, 0x24, false);
        for b in b"hi" {
            m.io_out(0x3F8, 1, u32::from(*b)).unwrap();
        }
        assert_eq!(m.console_output().collect::<Vec<u8>>(), b"hi");
        m.io_out(0x3FC, 1, 0x08).unwrap(); // OUT2
        m.io_out(0x3F9, 1, 0x01).unwrap(); // RX interrupt
        assert_eq!(m.pending_interrupt(), None);
        assert_eq!(m.console_input(b"x"), 1);
        assert_eq!(m.pending_interrupt(), Some(0x24));
        m.acknowledge(0x24).unwrap();
        assert_eq!(m.io_in(0x3F8, 1), Ok(u32::from(b'x')));
        m.wrmsr(0x80B, 0, &mut GuestRam::new(&mut [])).unwrap();
        assert_eq!(m.pending_interrupt(), None);
        assert_eq!(m.counters().uart, 5);
    }

    #[test]
    fn pit_irq0_arrives_on_gsi2() {
        let mut m = machine();
        route(&mut m, 2, 0x30, false);
        m.io_out(0x43, 1, 0x34).unwrap();
        m.io_out(0x40, 1, 0xA9).unwrap();
        m.io_out(0x40, 1, 0x04).unwrap();
        let deadline = m.next_deadline_ns().unwrap();
        m.advance_time(deadline);
        assert_eq!(m.pending_interrupt(), Some(0x30));
    }

    #[test]
    fn extint_through_lint0_until_linux_masks_the_pic() {
        let mut m = machine();
        for (port, value) in [(0x20u16, 0x11u32), (0x21, 0x30), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFE)] {
            m.io_out(port, 1, value).unwrap();
        }
        m.io_out(0x43, 1, 0x30).unwrap();
        m.io_out(0x40, 1, 10).unwrap();
        m.io_out(0x40, 1, 0).unwrap();
        m.advance_time(GHZ);
        assert_eq!(m.pending_interrupt(), Some(0x30));
        m.acknowledge(0x30).unwrap();
        assert_eq!(m.acknowledge(0x30), Err(MachineError::NotPending { vector: 0x30 }));
        // Masking LINT0 cuts the 8259 off.
        m.io_out(0x20, 1, 0x20).unwrap();
        m.wrmsr(0x835, 0x1_0700, &mut GuestRam::new(&mut [])).unwrap();
        m.io_out(0x43, 1, 0x30).unwrap();
        m.io_out(0x40, 1, 10).unwrap();
        m.io_out(0x40, 1, 0).unwrap();
        m.advance_time(2 * GHZ);
        assert_eq!(m.pending_interrupt(), None);
    }

    #[test]
    fn sci_is_level_and_power_button_reaches_the_guest() {
        let mut m = machine();
        route(&mut m, 9, 0x29, true);
        m.io_out(0x602, 2, 1 << 8).unwrap();
        m.press_power_button();
        assert_eq!(m.pending_interrupt(), Some(0x29));
        m.acknowledge(0x29).unwrap();
        m.io_out(0x600, 2, 1 << 8).unwrap(); // guest clears PWRBTN_STS
        m.wrmsr(0x80B, 0, &mut GuestRam::new(&mut [])).unwrap();
        assert_eq!(m.pending_interrupt(), None);
    }

    #[test]
    fn exit_requests() {
        let mut m = machine();
        m.io_out(0xCF9, 1, 0x06).unwrap();
        assert_eq!(m.take_exit_request(), Some(ExitRequest::Reset));
        m.io_out(0x64, 1, 0xFE).unwrap();
        assert_eq!(m.take_exit_request(), Some(ExitRequest::Reset));
        m.io_out(0x604, 2, (1 << 13) | (5 << 10)).unwrap();
        assert_eq!(m.take_exit_request(), Some(ExitRequest::PowerOff));
        assert_eq!(m.on_hlt(false), HaltAction::Stop);
        assert_eq!(m.take_exit_request(), Some(ExitRequest::HaltedWithInterruptsDisabled));
        assert_eq!(m.take_exit_request(), None);
        assert_eq!(m.on_hlt(true), HaltAction::SleepUntil(None));
        m.request_fault(MachineError::NoDeviceAt { gpa: 0x1000 });
        m.request_fault(DecodeError::Mismatch);
        let request = m.take_exit_request();
        let Some(ExitRequest::Fault(fault)) = request else { panic!("{request:?}") };
        assert_eq!(fault.name(), "no_device", "the first fault wins");
        assert_eq!(std::format!("{fault}"), "no device at guest-physical 0x1000");
    }

    #[test]
    fn access_checks() {
        let mut m = machine();
        assert_eq!(m.io_in(0x3F8, 3), Err(MachineError::InvalidAccessSize { size_bytes: 3 }));
        assert_eq!(m.io_in(0xFFFF, 2), Err(MachineError::PortRangeWraps { port: 0xFFFF, size_bytes: 2 }));
        assert_eq!(m.io_in(0x1234, 4), Ok(0xFFFF_FFFF));
        assert_eq!(m.counters().unknown_port, 4);
        assert_eq!(m.mmio_read(0xFEE0_0030, 4), Err(MachineError::XapicMmio { gpa: 0xFEE0_0030 }));
        assert_eq!(m.mmio_read(0xD000_0000, 4), Err(MachineError::NoDeviceAt { gpa: 0xD000_0000 }));
        assert_eq!(
            m.mmio_read(IOAPIC_BASE + 0xFFC, 8),
            Err(MachineError::NoDeviceAt { gpa: IOAPIC_BASE + 0xFFC })
        );
        assert!(m.mmio_read(IOAPIC_BASE, 4).is_ok());
        m.io_out(0x80, 1, 0x42).unwrap();
        assert_eq!(m.last_post_code(), 0x42);
    }

    #[test]
    fn msr_policy() {
        let mut m = machine();
        let mut backing = vec![0u8; 4096];
        let mut ram = GuestRam::new(&mut backing);
        assert_eq!(m.rdmsr(0x1B), Ok(0xFEE0_0D00));
        assert_eq!(m.rdmsr(0x3A), Err(Fault::GeneralProtection));
        assert_eq!(m.rdmsr(0x8B), Ok(0));
        assert_eq!(m.wrmsr(MSR_PAT, 0x0007_0406_0007_0402, &mut ram), Err(Fault::GeneralProtection));
        assert_eq!(m.wrmsr(MSR_PAT, 0x0007_0106_0007_0406, &mut ram), Ok(()));
        assert_eq!(m.guest_pat(), 0x0007_0106_0007_0406);
        assert_eq!(m.rdmsr(MSR_MTRR_DEF_TYPE), Ok(0x806));
        assert_eq!(m.wrmsr(MSR_MTRR_DEF_TYPE, 0x800, &mut ram), Ok(()));
        assert_eq!(m.rdmsr(MSR_MTRR_DEF_TYPE), Ok(0x800));
        assert_eq!(m.wrmsr(MSR_MTRR_DEF_TYPE, 0x802, &mut ram), Err(Fault::GeneralProtection));
        assert_eq!(
            m.wrmsr(MSR_MTRR_DEF_TYPE, 0xC06, &mut ram),
            Err(Fault::GeneralProtection),
            "no fixed MTRRs"
        );
        m.set_guest_efer(EFER_LME | EFER_LMA);
        assert_eq!(m.wrmsr(MSR_EFER, EFER_LME | EFER_NXE | 1, &mut ram), Ok(()));
        assert_eq!(m.rdmsr(MSR_EFER), Ok(EFER_LME | EFER_LMA | EFER_NXE | 1));
        assert_eq!(m.wrmsr(MSR_EFER, 1 << 12, &mut ram), Err(Fault::GeneralProtection), "SVME is hidden");
        assert_eq!(m.counters().refused_msr, 5);
    }

    #[test]
    fn kvmclock_matches_device_time() {
        let mut m = machine();
        let mut backing = vec![0u8; 16384];
        let mut ram = GuestRam::new(&mut backing);
        m.wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0x1000 | 1, &mut ram).unwrap();
        m.wrmsr(MSR_KVM_WALL_CLOCK_NEW, 0x2000, &mut ram).unwrap();
        assert_eq!(m.rdmsr(MSR_KVM_SYSTEM_TIME_NEW), Ok(0x1001));
        let version = ram.read_u32(0x1000).unwrap();
        assert_eq!(version % 2, 0);
        let mul = ram.read_u32(0x1000 + 24).unwrap();
        let mut shift_flags = [0u8; 2];
        ram.read(0x1000 + 28, &mut shift_flags).unwrap();
        // What the guest computes for one second of TSC ticks, as Linux's pvclock does.
        let tsc = 2 * GHZ;
        let shift = shift_flags[0] as i8;
        let shifted = if shift < 0 { tsc >> -shift } else { tsc << shift };
        let guest_ns = ((u128::from(shifted) * u128::from(mul)) >> 32) as u64;
        assert_eq!(guest_ns, m.tsc_clock().ns_from_tsc(tsc));
        assert!(guest_ns.abs_diff(NS_PER_SECOND) <= 1);
        assert_eq!(shift_flags[1], PVCLOCK_TSC_STABLE_BIT);
        assert_eq!(ram.read_u32(0x2004), Ok(1_795_668_717));
        // Registration outside RAM is refused.
        assert_eq!(m.wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0x10_0000 | 1, &mut ram), Err(Fault::GeneralProtection));
    }

    #[test]
    fn lapic_tsc_deadline_through_msrs() {
        let mut m = machine();
        let mut ram = GuestRam::new(&mut []);
        m.wrmsr(0x832, (2 << 17) | 0xEC, &mut ram).unwrap();
        m.wrmsr(MSR_TSC_DEADLINE, 2 * GHZ, &mut ram).unwrap(); // 1 s at 2 GHz
        assert_eq!(m.next_deadline_ns(), Some(NS_PER_SECOND));
        assert_eq!(m.on_hlt(true), HaltAction::SleepUntil(Some(NS_PER_SECOND)));
        m.advance_time(NS_PER_SECOND);
        assert_eq!(m.on_hlt(true), HaltAction::Resume);
        assert_eq!(m.pending_interrupt(), Some(0xEC));
        m.advance_time(5); // earlier time is ignored
        assert_eq!(m.now_ns(), NS_PER_SECOND);
    }

    #[derive(Debug, Clone)]
    enum Op {
        In(u16, u8),
        Out(u16, u8, u32),
        MmioRead(u64, u8),
        MmioWrite(u64, u8, u64),
        Rdmsr(u32),
        Wrmsr(u32, u64),
        Advance(u32),
        Input(Vec<u8>),
        Inject,
        Hlt(bool),
        Cpuid(u32, u32),
    }

    fn port() -> impl Strategy<Value = u16> {
        prop_oneof![
            prop::sample::select(
                &[
                    0x20u16, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x60, 0x64, 0x70,
                    0x71, 0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0xCF8, 0xCF9, 0xCFC, 0xCFE,
                    0x600, 0x602, 0x604, 0x605, 0x608, 0x80, 0xED
                ][..]
            ),
            any::<u16>(),
        ]
    }

    fn msr() -> impl Strategy<Value = u32> {
        prop_oneof![
            0x800u32..0x840,
            prop::sample::select(
                &[
                    0x1Bu32,
                    0x6E0,
                    0x10,
                    0x277,
                    0x2FF,
                    0xFE,
                    MSR_EFER,
                    MSR_KVM_SYSTEM_TIME_NEW,
                    MSR_KVM_WALL_CLOCK_NEW,
                    0x8B
                ][..]
            ),
            any::<u32>()
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let size = prop::sample::select(&[1u8, 2, 4, 8, 3, 0][..]);
        prop_oneof![
            (port(), size.clone()).prop_map(|(p, s)| Op::In(p, s)),
            (port(), size.clone(), any::<u32>()).prop_map(|(p, s, v)| Op::Out(p, s, v)),
            (prop_oneof![IOAPIC_BASE..IOAPIC_BASE + 0x1010, any::<u64>()], size.clone())
                .prop_map(|(a, s)| Op::MmioRead(a, s)),
            (prop_oneof![IOAPIC_BASE..IOAPIC_BASE + 0x50, any::<u64>()], size, any::<u64>())
                .prop_map(|(a, s, v)| Op::MmioWrite(a, s, v)),
            msr().prop_map(Op::Rdmsr),
            (msr(), any::<u64>()).prop_map(|(m, v)| Op::Wrmsr(m, v)),
            any::<u32>().prop_map(Op::Advance),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Op::Input),
            Just(Op::Inject),
            any::<bool>().prop_map(Op::Hlt),
            (any::<u32>(), any::<u32>()).prop_map(|(l, s)| Op::Cpuid(l, s)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn random_guest_traffic_never_panics_and_stays_bounded(ops in proptest::collection::vec(op(), 0..300)) {
            let mut m = machine();
            let mut backing = vec![0u8; 64 * 1024];
            let mut ram = GuestRam::new(&mut backing);
            let mut now = 0u64;
            let host = |_l: u32, _s: u32| CpuidResult { eax: u32::MAX, ebx: u32::MAX, ecx: u32::MAX, edx: u32::MAX };
            for op in ops {
                match op {
                    Op::In(p, s) => { let _ = m.io_in(p, s); }
                    Op::Out(p, s, v) => { let _ = m.io_out(p, s, v); }
                    Op::MmioRead(a, s) => { let _ = m.mmio_read(a, s); }
                    Op::MmioWrite(a, s, v) => { let _ = m.mmio_write(a, s, v); }
                    Op::Rdmsr(r) => { let _ = m.rdmsr(r); }
                    Op::Wrmsr(r, v) => { let _ = m.wrmsr(r, v, &mut ram); }
                    Op::Advance(dt) => { now += u64::from(dt); m.advance_time(now); }
                    Op::Input(bytes) => { let _ = m.console_input(&bytes); }
                    Op::Inject => {
                        if let Some(v) = m.pending_interrupt() {
                            prop_assert!(m.acknowledge(v).is_ok());
                        }
                    }
                    Op::Hlt(enabled) => { let _ = m.on_hlt(enabled); }
                    Op::Cpuid(l, s) => { let _ = m.cpuid(l, s, &host); }
                }
                // Expired timers fire when time advances, so a deadline is always in the future.
                if let Some(deadline) = m.next_deadline_ns() {
                    prop_assert!(deadline > m.now_ns(), "deadline {} at {}", deadline, m.now_ns());
                }
                let _ = m.take_exit_request();
            }
            prop_assert!(m.console_output().count() <= crate::devices::uart::OUTPUT_CAPACITY_BYTES);
        }
    }
}
