//! AMD SVM: detection, enabling, the VMCB, and entering a guest.
//!
//! Entering a guest ([`Vcpu::run`]) is: CLGI; swap the FPU/SSE state; VMSAVE the host's
//! FS/GS/TR/LDTR/syscall state; load the guest's general-purpose registers; VMLOAD + VMRUN +
//! VMSAVE the guest; restore the host's registers and VMLOAD its state; swap the FPU back;
//! STGI, at which point a physical interrupt that caused the exit is taken by the host's IDT as
//! usual. Interrupts and NMIs are intercepted, so the host keeps its timer, devices and
//! watchdog while a guest runs.
//!
//! QEMU's SVM has no nRIP save and no decode assists: the caller advances RIP itself.

use crate::mm;

/// Zeroed physical pages the CPU uses (VMCB, host save area, permission maps).
type Page = mm::PhysicalRun;

const EFER: u32 = 0xC000_0080;
pub const EFER_SVME: u64 = 1 << 12;
const VM_CR: u32 = 0xC001_0114;
const VM_CR_SVMDIS: u64 = 1 << 4;
const VM_HSAVE_PA: u32 = 0xC001_0117;

/// Why this CPU cannot run guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    NoSvm,
    NoNestedPaging,
    DisabledByFirmware,
}

impl Unsupported {
    pub fn code(self) -> &'static str {
        match self {
            Unsupported::NoSvm => "no-svm",
            Unsupported::NoNestedPaging => "no-nested-paging",
            Unsupported::DisabledByFirmware => "svm-disabled-by-firmware",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Unsupported::NoSvm => {
                "this CPU has no AMD SVM (hardware virtualization); RayOS cannot run guests on it"
            }
            Unsupported::NoNestedPaging => {
                "this CPU has SVM but no nested paging, which RayOS needs to isolate guests"
            }
            Unsupported::DisabledByFirmware => "SVM is disabled by the firmware (VM_CR.SVMDIS)",
        }
    }
}

/// Checks for SVM with nested paging.
pub fn detect() -> Result<(), Unsupported> {
    let info = super::cpu::info();
    if !info.has_svm {
        return Err(Unsupported::NoSvm);
    }
    if !info.has_npt {
        return Err(Unsupported::NoNestedPaging);
    }
    // SAFETY: VM_CR exists on every CPU that reports SVM.
    let vm_cr = unsafe { ::x86_64::registers::model_specific::Msr::new(VM_CR).read() };
    if vm_cr & VM_CR_SVMDIS != 0 {
        return Err(Unsupported::DisabledByFirmware);
    }
    Ok(())
}

/// Turns SVM on (EFER.SVME) and gives the CPU its host save area. Call once after [`detect`].
pub fn enable() -> Result<(), Unsupported> {
    detect()?;
    let host_save = mm::frames::allocate_zeroed().ok_or(Unsupported::NoSvm)?;
    // SAFETY: SVM is present and not disabled (detect); the host save area is a fresh
    // page the kernel keeps forever.
    unsafe {
        let mut efer = ::x86_64::registers::model_specific::Msr::new(EFER);
        efer.write(efer.read() | EFER_SVME);
        ::x86_64::registers::model_specific::Msr::new(VM_HSAVE_PA).write(host_save);
    }
    Ok(())
}

/// Offsets in the VMCB (AMD APM volume 2, appendix B).
pub mod vmcb {
    pub const INTERCEPT_EXCEPTIONS: usize = 0x008;
    pub const INTERCEPT_MISC1: usize = 0x00C;
    pub const INTERCEPT_MISC2: usize = 0x010;
    pub const IOPM_BASE: usize = 0x040;
    pub const MSRPM_BASE: usize = 0x048;
    pub const TSC_OFFSET: usize = 0x050;
    pub const GUEST_ASID: usize = 0x058;
    pub const TLB_CONTROL: usize = 0x05C;
    pub const INT_CONTROL: usize = 0x060;
    pub const INT_SHADOW: usize = 0x068;
    pub const EXIT_CODE: usize = 0x070;
    pub const EXIT_INFO1: usize = 0x078;
    pub const EXIT_INFO2: usize = 0x080;
    pub const EXIT_INT_INFO: usize = 0x088;
    pub const NP_ENABLE: usize = 0x090;
    pub const EVENT_INJECTION: usize = 0x0A8;
    pub const NESTED_CR3: usize = 0x0B0;

    pub const ES: usize = 0x400;
    pub const CS: usize = 0x410;
    pub const SS: usize = 0x420;
    pub const DS: usize = 0x430;
    pub const FS: usize = 0x440;
    pub const GS: usize = 0x450;
    pub const GDTR: usize = 0x460;
    pub const LDTR: usize = 0x470;
    pub const IDTR: usize = 0x480;
    pub const TR: usize = 0x490;
    pub const CPL: usize = 0x4CB;
    pub const EFER: usize = 0x4D0;
    pub const CR4: usize = 0x548;
    pub const CR3: usize = 0x550;
    pub const CR0: usize = 0x558;
    pub const DR7: usize = 0x560;
    pub const DR6: usize = 0x568;
    pub const RFLAGS: usize = 0x570;
    pub const RIP: usize = 0x578;
    pub const RSP: usize = 0x5D8;
    pub const RAX: usize = 0x5F8;
    pub const G_PAT: usize = 0x668;

    // INTERCEPT_MISC1 bits.
    pub const INTERCEPT_INTR: u32 = 1 << 0;
    pub const INTERCEPT_NMI: u32 = 1 << 1;
    pub const INTERCEPT_SMI: u32 = 1 << 2;
    pub const INTERCEPT_INIT: u32 = 1 << 3;
    pub const INTERCEPT_VINTR: u32 = 1 << 4;
    pub const INTERCEPT_CPUID: u32 = 1 << 18;
    pub const INTERCEPT_RSM: u32 = 1 << 19;
    pub const INTERCEPT_INVD: u32 = 1 << 22;
    pub const INTERCEPT_HLT: u32 = 1 << 24;
    pub const INTERCEPT_INVLPGA: u32 = 1 << 26;
    pub const INTERCEPT_IOIO: u32 = 1 << 27;
    pub const INTERCEPT_MSR: u32 = 1 << 28;
    pub const INTERCEPT_TASK_SWITCH: u32 = 1 << 29;
    pub const INTERCEPT_SHUTDOWN: u32 = 1 << 31;
    // INTERCEPT_MISC2 bits.
    pub const INTERCEPT_VMRUN: u32 = 1 << 0;
    pub const INTERCEPT_VMMCALL: u32 = 1 << 1;
    pub const INTERCEPT_VMLOAD: u32 = 1 << 2;
    pub const INTERCEPT_VMSAVE: u32 = 1 << 3;
    pub const INTERCEPT_STGI: u32 = 1 << 4;
    pub const INTERCEPT_CLGI: u32 = 1 << 5;
    pub const INTERCEPT_SKINIT: u32 = 1 << 6;
    pub const INTERCEPT_RDTSCP: u32 = 1 << 7;
    pub const INTERCEPT_ICEBP: u32 = 1 << 8;
    pub const INTERCEPT_MONITOR: u32 = 1 << 10;
    pub const INTERCEPT_MWAIT: u32 = 1 << 11;
    pub const INTERCEPT_MWAIT_ARMED: u32 = 1 << 12;
    pub const INTERCEPT_XSETBV: u32 = 1 << 13;

    // INT_CONTROL bits.
    pub const V_IRQ: u64 = 1 << 8;
    pub const V_IGN_TPR: u64 = 1 << 20;
    pub const V_INTR_MASKING: u64 = 1 << 24;

    // EVENT_INJECTION fields.
    pub const EVENT_VALID: u64 = 1 << 31;
    pub const EVENT_ERROR_CODE_VALID: u64 = 1 << 11;
    pub const EVENT_TYPE_INTERRUPT: u64 = 0 << 8;
    pub const EVENT_TYPE_EXCEPTION: u64 = 3 << 8;
}

/// Exception vectors RayOS intercepts.
pub mod exception {
    pub const DEBUG: u32 = 1;
    pub const ALIGNMENT_CHECK: u32 = 17;
    pub const MACHINE_CHECK: u32 = 18;
}

/// #VMEXIT codes.
pub mod exit {
    pub const EXCEPTION_BASE: u64 = 0x40;
    pub const INTR: u64 = 0x60;
    pub const NMI: u64 = 0x61;
    pub const SMI: u64 = 0x62;
    pub const INIT: u64 = 0x63;
    pub const VINTR: u64 = 0x64;
    pub const CPUID: u64 = 0x72;
    pub const RSM: u64 = 0x73;
    pub const INVD: u64 = 0x76;
    pub const HLT: u64 = 0x78;
    pub const INVLPGA: u64 = 0x7A;
    pub const IOIO: u64 = 0x7B;
    pub const MSR: u64 = 0x7C;
    pub const TASK_SWITCH: u64 = 0x7D;
    pub const SHUTDOWN: u64 = 0x7F;
    pub const VMRUN: u64 = 0x80;
    pub const VMMCALL: u64 = 0x81;
    pub const VMLOAD: u64 = 0x82;
    pub const VMSAVE: u64 = 0x83;
    pub const STGI: u64 = 0x84;
    pub const CLGI: u64 = 0x85;
    pub const SKINIT: u64 = 0x86;
    pub const RDTSCP: u64 = 0x87;
    pub const ICEBP: u64 = 0x88;
    pub const MONITOR: u64 = 0x8A;
    pub const MWAIT: u64 = 0x8B;
    pub const MWAIT_ARMED: u64 = 0x8C;
    pub const XSETBV: u64 = 0x8D;
    pub const NPF: u64 = 0x400;
    pub const INVALID: u64 = u64::MAX;
}

/// The guest's general-purpose registers that the VMCB does not hold (RAX, RSP, RIP and
/// RFLAGS live in the VMCB save area). Field order is used by the assembly below.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct GuestRegisters {
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

#[repr(C, align(16))]
struct FxArea([u8; 512]);

impl FxArea {
    fn initial() -> FxArea {
        FxArea(super::interrupts::INITIAL_FX_STATE)
    }
}

/// One virtual CPU: its VMCB, a host state area for VMSAVE/VMLOAD, the permission maps and
/// the registers the VMCB does not hold.
pub struct Vcpu {
    vmcb: Page,
    host_state: Page,
    _io_permissions: Page,
    _msr_permissions: Page,
    pub registers: GuestRegisters,
    guest_fpu: FxArea,
    host_fpu: FxArea,
}

/// MSRs the guest reads and writes directly: VMLOAD/VMSAVE switch them.
const PASSTHROUGH_MSRS: [u32; 10] = [
    0xC000_0100, // FS_BASE
    0xC000_0101, // GS_BASE
    0xC000_0102, // KERNEL_GS_BASE
    0xC000_0081, // STAR
    0xC000_0082, // LSTAR
    0xC000_0083, // CSTAR
    0xC000_0084, // SFMASK
    0x0000_0174, // SYSENTER_CS
    0x0000_0175, // SYSENTER_ESP
    0x0000_0176, // SYSENTER_EIP
];

impl Vcpu {
    /// A vCPU whose guest-physical memory is translated by the nested page tables at
    /// `nested_cr3`. Every I/O port and MSR access exits, except the MSRs VMLOAD switches.
    pub fn new(nested_cr3: u64) -> Option<Vcpu> {
        let vmcb = Page::allocate_zeroed(4096, 4096)?;
        let host_state = Page::allocate_zeroed(4096, 4096)?;
        let mut io = Page::allocate_zeroed(3 * 4096, 4096)?;
        let mut msr = Page::allocate_zeroed(2 * 4096, 4096)?;
        io.as_mut_slice().fill(0xFF);
        let msr_map = msr.as_mut_slice();
        msr_map.fill(0xFF);
        for msr_number in PASSTHROUGH_MSRS {
            let (base, index) = match msr_number {
                n @ 0..=0x1FFF => (0, n),
                n @ 0xC000_0000..=0xC000_1FFF => (0x800, n - 0xC000_0000),
                _ => continue,
            };
            let bit = index as usize * 2;
            msr_map[base + bit / 8] &= !(0b11 << (bit % 8));
        }
        let (io_phys, msr_phys) = (io.phys(), msr.phys());
        let mut vcpu = Vcpu {
            vmcb,
            host_state,
            _io_permissions: io,
            _msr_permissions: msr,
            registers: GuestRegisters::default(),
            guest_fpu: FxArea::initial(),
            host_fpu: FxArea::initial(),
        };
        use vmcb::*;
        vcpu.write32(
            INTERCEPT_MISC1,
            INTERCEPT_INTR
                | INTERCEPT_NMI
                | INTERCEPT_SMI
                | INTERCEPT_INIT
                | INTERCEPT_CPUID
                | INTERCEPT_RSM
                | INTERCEPT_INVD
                | INTERCEPT_HLT
                | INTERCEPT_INVLPGA
                | INTERCEPT_IOIO
                | INTERCEPT_MSR
                | INTERCEPT_TASK_SWITCH
                | INTERCEPT_SHUTDOWN,
        );
        vcpu.write32(
            INTERCEPT_MISC2,
            INTERCEPT_VMRUN
                | INTERCEPT_VMMCALL
                | INTERCEPT_VMLOAD
                | INTERCEPT_VMSAVE
                | INTERCEPT_STGI
                | INTERCEPT_CLGI
                | INTERCEPT_SKINIT
                | INTERCEPT_RDTSCP
                | INTERCEPT_ICEBP
                | INTERCEPT_MONITOR
                | INTERCEPT_MWAIT
                | INTERCEPT_MWAIT_ARMED
                | INTERCEPT_XSETBV,
        );
        // Machine checks stop the guest. #DB and #AC are intercepted and given back to the guest:
        // a guest can make their delivery raise them again, and without an exit in between the
        // CPU would loop inside the guest forever with the host's interrupts held off
        // (CVE-2015-8104, CVE-2015-5307). Every other exception is the guest's own.
        vcpu.write32(
            INTERCEPT_EXCEPTIONS,
            1 << exception::DEBUG | 1 << exception::ALIGNMENT_CHECK | 1 << exception::MACHINE_CHECK,
        );
        vcpu.write64(IOPM_BASE, io_phys);
        vcpu.write64(MSRPM_BASE, msr_phys);
        vcpu.write32(GUEST_ASID, 1);
        vcpu.write64(INT_CONTROL, V_INTR_MASKING);
        vcpu.write64(NP_ENABLE, 1);
        vcpu.write64(NESTED_CR3, nested_cr3);
        Some(vcpu)
    }

    fn field(&self, offset: usize) -> u64 {
        self.vmcb.virt() + offset as u64
    }

    pub fn read64(&self, offset: usize) -> u64 {
        // SAFETY: offsets are VMCB fields inside the page (constants in `vmcb`).
        unsafe { core::ptr::read_volatile(self.field(offset) as *const u64) }
    }

    pub fn write64(&mut self, offset: usize, value: u64) {
        // SAFETY: as in read64.
        unsafe { core::ptr::write_volatile(self.field(offset) as *mut u64, value) }
    }

    pub fn read32(&self, offset: usize) -> u32 {
        // SAFETY: as in read64.
        unsafe { core::ptr::read_volatile(self.field(offset) as *const u32) }
    }

    pub fn write32(&mut self, offset: usize, value: u32) {
        // SAFETY: as in read64.
        unsafe { core::ptr::write_volatile(self.field(offset) as *mut u32, value) }
    }

    pub fn read8(&self, offset: usize) -> u8 {
        // SAFETY: as in read64.
        unsafe { core::ptr::read_volatile(self.field(offset) as *const u8) }
    }

    pub fn write8(&mut self, offset: usize, value: u8) {
        // SAFETY: as in read64.
        unsafe { core::ptr::write_volatile(self.field(offset) as *mut u8, value) }
    }

    /// A segment register in the save area: (selector, attributes, limit, base).
    pub fn write_segment(&mut self, offset: usize, selector: u16, attributes: u16, limit: u32, base: u64) {
        let low = selector as u64 | (attributes as u64) << 16 | (limit as u64) << 32;
        self.write64(offset, low);
        self.write64(offset + 8, base);
    }

    pub fn segment_base(&self, offset: usize) -> u64 {
        self.read64(offset + 8)
    }

    pub fn segment_attributes(&self, offset: usize) -> u16 {
        (self.read64(offset) >> 16) as u16
    }

    /// Runs the guest until the next #VMEXIT; returns the exit code.
    pub fn run(&mut self) -> u64 {
        let vmcb = self.vmcb.phys();
        let host = self.host_state.phys();
        // SAFETY: the VMCB and host-state pages are ours and set up by `new`; SVM was enabled
        // by `enable`. CLGI keeps every interrupt pending until STGI; the FPU state is swapped
        // inside that window so the host's interrupt handlers never see the guest's. It is one
        // asm block, declared to clobber everything the C ABI lets a call clobber (XMM, x87,
        // MXCSR included), so the compiler keeps nothing in those registers across it; the
        // FPU area pointers live in callee-saved registers, which the call preserves.
        unsafe {
            core::arch::asm!(
                "clgi",
                "fxsave64 [r12]",
                "fxrstor64 [r13]",
                "call {run}",
                "fxsave64 [r13]",
                "fxrstor64 [r12]",
                "stgi",
                run = sym rayos_svm_run,
                in("rdi") vmcb,
                in("rsi") host,
                in("rdx") &mut self.registers as *mut GuestRegisters,
                in("r12") self.host_fpu.0.as_mut_ptr(),
                in("r13") self.guest_fpu.0.as_mut_ptr(),
                clobber_abi("C"),
            );
        }
        self.read64(vmcb::EXIT_CODE)
    }
}

unsafe extern "C" {
    /// VMSAVE host, load guest GPRs, VMLOAD/VMRUN/VMSAVE guest, store guest GPRs, VMLOAD host.
    fn rayos_svm_run(vmcb_phys: u64, host_state_phys: u64, registers: *mut GuestRegisters);
}

core::arch::global_asm!(
    r#"
.section .text.rayos_svm_run, "ax"
.global rayos_svm_run
rayos_svm_run:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    push rdx                # [rsp+16]: registers
    push rdi                # [rsp+8]: guest VMCB
    push rsi                # [rsp+0]: host state
    mov rax, rsi
    vmsave rax
    mov rbx, [rdx + 0]
    mov rcx, [rdx + 8]
    mov rsi, [rdx + 24]
    mov rdi, [rdx + 32]
    mov rbp, [rdx + 40]
    mov r8,  [rdx + 48]
    mov r9,  [rdx + 56]
    mov r10, [rdx + 64]
    mov r11, [rdx + 72]
    mov r12, [rdx + 80]
    mov r13, [rdx + 88]
    mov r14, [rdx + 96]
    mov r15, [rdx + 104]
    mov rdx, [rdx + 16]
    mov rax, [rsp + 8]
    vmload rax
    vmrun rax
    vmsave rax
    push rbx                # the guest's rbx; now registers are at [rsp+24]
    mov rbx, [rsp + 24]
    mov [rbx + 8], rcx
    mov [rbx + 16], rdx
    mov [rbx + 24], rsi
    mov [rbx + 32], rdi
    mov [rbx + 40], rbp
    mov [rbx + 48], r8
    mov [rbx + 56], r9
    mov [rbx + 64], r10
    mov [rbx + 72], r11
    mov [rbx + 80], r12
    mov [rbx + 88], r13
    mov [rbx + 96], r14
    mov [rbx + 104], r15
    pop rcx
    mov [rbx + 0], rcx
    mov rax, [rsp]
    vmload rax
    add rsp, 24
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
"#
);
