//! The seam between the VMM loop and the CPU's virtualization extension. SVM implements it
//! today; a VMX backend would implement the same trait.

use rayos_vmm::decode::{CpuMode, Registers, RFLAGS_IF};
use rayos_vmm::linux::VcpuSetup;
use rayos_vmm::memory::{PagingContext, CR0_PE, EFER_LMA};
use rayos_vmm::mmio::{GuestCpuState, SegmentBases};

use crate::arch::svm::{self, exit, vmcb, EFER_SVME};

/// Why the guest stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Cpuid,
    MsrRead,
    MsrWrite,
    /// Port I/O; `next_rip` is given by the hardware.
    PortIo {
        port: u16,
        size_bytes: u8,
        input: bool,
        string: bool,
        next_rip: u64,
    },
    /// A guest-physical access nothing maps.
    NestedPageFault {
        gpa: u64,
        write: bool,
    },
    Hlt,
    /// A physical interrupt or NMI for RayOS: nothing to do for the guest.
    HostInterrupt,
    /// The guest can take an interrupt now.
    InterruptWindow,
    /// Triple fault.
    Shutdown,
    /// An instruction the guest may not use (virtualization, SMM, cache control): it gets #UD.
    Forbidden(&'static str),
    /// The VMCB state was invalid (VMRUN refused it).
    InvalidState,
    /// A machine check while the guest ran.
    MachineCheck,
    /// An exception of the guest's own that RayOS intercepts so that its delivery cannot loop
    /// inside the CPU (#DB, #AC); it goes back to the guest.
    GuestException {
        vector: u8,
        error_code: Option<u32>,
    },
    Unknown(u64),
}

impl Exit {
    /// Names for `vm status` (exit counts by reason).
    pub const NAMES: [&'static str; 14] = [
        "cpuid",
        "msr-read",
        "msr-write",
        "io",
        "npf",
        "hlt",
        "interrupt",
        "window",
        "shutdown",
        "forbidden",
        "invalid",
        "machine-check",
        "exception",
        "unknown",
    ];

    pub fn index(&self) -> usize {
        match self {
            Exit::Cpuid => 0,
            Exit::MsrRead => 1,
            Exit::MsrWrite => 2,
            Exit::PortIo { .. } => 3,
            Exit::NestedPageFault { .. } => 4,
            Exit::Hlt => 5,
            Exit::HostInterrupt => 6,
            Exit::InterruptWindow => 7,
            Exit::Shutdown => 8,
            Exit::Forbidden(_) => 9,
            Exit::InvalidState => 10,
            Exit::MachineCheck => 11,
            Exit::GuestException { .. } => 12,
            Exit::Unknown(_) => 13,
        }
    }
}

/// An intercepted exception to give back to the guest, unless an interrupted event is being
/// delivered again (then the exit needs nothing more: [`Exit::HostInterrupt`]).
fn guest_exception(interrupted: u64, vector: u8, error_code: Option<u32>) -> Exit {
    if interrupted & vmcb::EVENT_VALID != 0 {
        Exit::HostInterrupt
    } else {
        Exit::GuestException { vector, error_code }
    }
}

/// One virtual CPU of some hardware virtualization extension.
pub trait VcpuBackend {
    fn initialise(&mut self, setup: &VcpuSetup, tsc_offset: u64);
    fn run(&mut self) -> Exit;
    fn registers(&self) -> Registers;
    fn set_registers(&mut self, registers: &Registers);
    fn cpu_state(&self) -> GuestCpuState;
    /// Whether an external interrupt can be delivered now (IF set, no interrupt shadow, no
    /// event already being injected).
    fn interruptible(&self) -> bool;
    fn inject_interrupt(&mut self, vector: u8);
    fn inject_exception(&mut self, vector: u8, error_code: Option<u32>);
    /// Asks for an [`Exit::InterruptWindow`] as soon as the guest can take an interrupt.
    fn request_interrupt_window(&mut self, on: bool);
    /// EFER and PAT as the guest's MSR writes set them.
    fn set_efer(&mut self, efer: u64);
    fn set_pat(&mut self, pat: u64);
}

/// The SVM backend.
pub struct SvmVcpu {
    vcpu: svm::Vcpu,
    phys_addr_bits: u8,
}

impl SvmVcpu {
    pub fn new(nested_cr3: u64) -> Option<SvmVcpu> {
        let phys_addr_bits = rayos_vmm::cpuid::guest_phys_addr_bits(&super::run::host_cpuid);
        Some(SvmVcpu { vcpu: svm::Vcpu::new(nested_cr3)?, phys_addr_bits })
    }
}

impl VcpuBackend for SvmVcpu {
    fn initialise(&mut self, setup: &VcpuSetup, tsc_offset: u64) {
        let v = &mut self.vcpu;
        for (offset, segment) in [
            (vmcb::ES, &setup.es),
            (vmcb::CS, &setup.cs),
            (vmcb::SS, &setup.ss),
            (vmcb::DS, &setup.ds),
            (vmcb::FS, &setup.fs),
            (vmcb::GS, &setup.gs),
            (vmcb::LDTR, &setup.ldtr),
            (vmcb::TR, &setup.tr),
        ] {
            v.write_segment(offset, segment.selector, segment.vmcb_attributes(), segment.limit, segment.base);
        }
        v.write_segment(vmcb::GDTR, 0, 0, setup.gdtr.limit as u32, setup.gdtr.base);
        v.write_segment(vmcb::IDTR, 0, 0, setup.idtr.limit as u32, setup.idtr.base);
        v.write8(vmcb::CPL, 0);
        v.write64(vmcb::EFER, setup.efer | EFER_SVME);
        v.write64(vmcb::CR0, setup.cr0);
        v.write64(vmcb::CR3, setup.cr3);
        v.write64(vmcb::CR4, setup.cr4);
        v.write64(vmcb::DR6, 0xFFFF_0FF0);
        v.write64(vmcb::DR7, 0x400);
        v.write64(vmcb::RFLAGS, setup.rflags | 2);
        v.write64(vmcb::RIP, setup.rip);
        v.write64(vmcb::RSP, setup.rsp);
        v.write64(vmcb::RAX, 0);
        v.write64(vmcb::G_PAT, 0x0007_0406_0007_0406);
        v.write64(vmcb::TSC_OFFSET, tsc_offset);
        v.write8(vmcb::TLB_CONTROL, 1);
        v.registers = svm::GuestRegisters { rsi: setup.rsi, rdi: setup.rdi, ..Default::default() };
    }

    fn run(&mut self) -> Exit {
        let v = &mut self.vcpu;
        let code = v.run();
        v.write8(vmcb::TLB_CONTROL, 0);
        let info1 = v.read64(vmcb::EXIT_INFO1);
        let info2 = v.read64(vmcb::EXIT_INFO2);
        // An event the exit interrupted must be delivered again; otherwise nothing is pending.
        let interrupted = v.read64(vmcb::EXIT_INT_INFO);
        v.write64(vmcb::EVENT_INJECTION, if interrupted & vmcb::EVENT_VALID != 0 { interrupted } else { 0 });
        match code {
            exit::CPUID => Exit::Cpuid,
            exit::MSR if info1 & 1 == 0 => Exit::MsrRead,
            exit::MSR => Exit::MsrWrite,
            exit::IOIO => {
                let size_bytes = if info1 & (1 << 4) != 0 {
                    1
                } else if info1 & (1 << 5) != 0 {
                    2
                } else {
                    4
                };
                Exit::PortIo {
                    port: (info1 >> 16) as u16,
                    size_bytes,
                    input: info1 & 1 != 0,
                    string: info1 & (1 << 2) != 0,
                    next_rip: info2,
                }
            }
            exit::NPF => Exit::NestedPageFault { gpa: info2, write: info1 & 2 != 0 },
            exit::HLT => Exit::Hlt,
            exit::INTR | exit::NMI | exit::SMI | exit::INIT => Exit::HostInterrupt,
            exit::VINTR => Exit::InterruptWindow,
            exit::SHUTDOWN => Exit::Shutdown,
            c if c == exit::EXCEPTION_BASE + svm::exception::MACHINE_CHECK as u64 => Exit::MachineCheck,
            // #DB and #AC are benign: when one interrupted the delivery of another event, that
            // event (already put back above) goes first and the condition recurs, or is a
            // single-step trap the guest loses; the interrupt model stays consistent either way.
            c if c == exit::EXCEPTION_BASE + svm::exception::DEBUG as u64 => {
                guest_exception(interrupted, svm::exception::DEBUG as u8, None)
            }
            c if c == exit::EXCEPTION_BASE + svm::exception::ALIGNMENT_CHECK as u64 => {
                guest_exception(interrupted, svm::exception::ALIGNMENT_CHECK as u8, Some(0))
            }
            exit::VMRUN => Exit::Forbidden("vmrun"),
            exit::VMMCALL => Exit::Forbidden("vmmcall"),
            exit::VMLOAD => Exit::Forbidden("vmload"),
            exit::VMSAVE => Exit::Forbidden("vmsave"),
            exit::STGI => Exit::Forbidden("stgi"),
            exit::CLGI => Exit::Forbidden("clgi"),
            exit::SKINIT => Exit::Forbidden("skinit"),
            exit::RDTSCP => Exit::Forbidden("rdtscp"),
            exit::ICEBP => Exit::Forbidden("icebp"),
            exit::MONITOR => Exit::Forbidden("monitor"),
            exit::MWAIT | exit::MWAIT_ARMED => Exit::Forbidden("mwait"),
            exit::XSETBV => Exit::Forbidden("xsetbv"),
            exit::INVLPGA => Exit::Forbidden("invlpga"),
            exit::INVD => Exit::Forbidden("invd"),
            exit::RSM => Exit::Forbidden("rsm"),
            exit::TASK_SWITCH => Exit::Forbidden("task-switch"),
            // VMRUN refused the state; QEMU reports the code in 32 bits.
            exit::INVALID | 0xFFFF_FFFF => Exit::InvalidState,
            other => Exit::Unknown(other),
        }
    }

    fn registers(&self) -> Registers {
        let v = &self.vcpu;
        let g = &v.registers;
        Registers {
            rax: v.read64(vmcb::RAX),
            rcx: g.rcx,
            rdx: g.rdx,
            rbx: g.rbx,
            rsp: v.read64(vmcb::RSP),
            rbp: g.rbp,
            rsi: g.rsi,
            rdi: g.rdi,
            r8: g.r8,
            r9: g.r9,
            r10: g.r10,
            r11: g.r11,
            r12: g.r12,
            r13: g.r13,
            r14: g.r14,
            r15: g.r15,
            rip: v.read64(vmcb::RIP),
            rflags: v.read64(vmcb::RFLAGS),
        }
    }

    fn set_registers(&mut self, r: &Registers) {
        let v = &mut self.vcpu;
        v.write64(vmcb::RAX, r.rax);
        v.write64(vmcb::RSP, r.rsp);
        v.write64(vmcb::RIP, r.rip);
        v.write64(vmcb::RFLAGS, r.rflags);
        v.registers = svm::GuestRegisters {
            rbx: r.rbx,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            rbp: r.rbp,
            r8: r.r8,
            r9: r.r9,
            r10: r.r10,
            r11: r.r11,
            r12: r.r12,
            r13: r.r13,
            r14: r.r14,
            r15: r.r15,
        };
    }

    fn cpu_state(&self) -> GuestCpuState {
        let v = &self.vcpu;
        let efer = v.read64(vmcb::EFER) & !EFER_SVME;
        let cs = v.segment_attributes(vmcb::CS);
        let long = cs & (1 << 9) != 0;
        let big = cs & (1 << 10) != 0;
        let protected = v.read64(vmcb::CR0) & CR0_PE != 0;
        let mode = if efer & EFER_LMA != 0 && long {
            CpuMode::Bits64
        } else if protected && big {
            CpuMode::Bits32
        } else {
            CpuMode::Bits16
        };
        GuestCpuState {
            paging: PagingContext {
                cr0: v.read64(vmcb::CR0),
                cr3: v.read64(vmcb::CR3),
                cr4: v.read64(vmcb::CR4),
                efer,
                phys_addr_bits: self.phys_addr_bits,
            },
            mode,
            segments: SegmentBases {
                es: v.segment_base(vmcb::ES),
                cs: v.segment_base(vmcb::CS),
                ss: v.segment_base(vmcb::SS),
                ds: v.segment_base(vmcb::DS),
                fs: v.segment_base(vmcb::FS),
                gs: v.segment_base(vmcb::GS),
            },
            cpl: v.read8(vmcb::CPL),
        }
    }

    fn interruptible(&self) -> bool {
        let v = &self.vcpu;
        v.read64(vmcb::RFLAGS) & RFLAGS_IF != 0
            && v.read64(vmcb::INT_SHADOW) & 1 == 0
            && v.read64(vmcb::EVENT_INJECTION) & vmcb::EVENT_VALID == 0
    }

    fn inject_interrupt(&mut self, vector: u8) {
        self.vcpu
            .write64(vmcb::EVENT_INJECTION, vector as u64 | vmcb::EVENT_TYPE_INTERRUPT | vmcb::EVENT_VALID);
    }

    fn inject_exception(&mut self, vector: u8, error_code: Option<u32>) {
        let mut event = vector as u64 | vmcb::EVENT_TYPE_EXCEPTION | vmcb::EVENT_VALID;
        if let Some(code) = error_code {
            event |= vmcb::EVENT_ERROR_CODE_VALID | (code as u64) << 32;
        }
        self.vcpu.write64(vmcb::EVENT_INJECTION, event);
    }

    fn request_interrupt_window(&mut self, on: bool) {
        let v = &mut self.vcpu;
        let control = v.read64(vmcb::INT_CONTROL);
        let misc = v.read32(vmcb::INTERCEPT_MISC1);
        if on {
            v.write64(vmcb::INT_CONTROL, control | vmcb::V_IRQ | vmcb::V_IGN_TPR);
            v.write32(vmcb::INTERCEPT_MISC1, misc | vmcb::INTERCEPT_VINTR);
        } else {
            v.write64(vmcb::INT_CONTROL, control & !(vmcb::V_IRQ | vmcb::V_IGN_TPR));
            v.write32(vmcb::INTERCEPT_MISC1, misc & !vmcb::INTERCEPT_VINTR);
        }
    }

    fn set_efer(&mut self, efer: u64) {
        // LMA is the CPU's to set (when paging turns on with LME); keep what it says.
        let current = self.vcpu.read64(vmcb::EFER);
        self.vcpu.write64(vmcb::EFER, (efer & !EFER_LMA) | (current & EFER_LMA) | EFER_SVME);
    }

    fn set_pat(&mut self, pat: u64) {
        self.vcpu.write64(vmcb::G_PAT, pat);
    }
}
