//! The global descriptor table and the task-state segment with its interrupt stacks.
//!
//! Double faults, NMIs and machine checks run on their own stacks (IST) so that a kernel
//! stack overflow, or an NMI that arrives on a nearly full stack, still gets reported.

use ::x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use ::x86_64::instructions::tables::load_tss;
use ::x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use ::x86_64::structures::tss::TaskStateSegment;
use ::x86_64::VirtAddr;
use spin::Once;

use super::stack::Stack;

pub const DOUBLE_FAULT_IST: u16 = 1;
pub const NMI_IST: u16 = 2;
pub const MACHINE_CHECK_IST: u16 = 3;

const IST_STACK_BYTES: usize = 32 * 1024;

static mut DOUBLE_FAULT_STACK: Stack<IST_STACK_BYTES> = Stack::new();
static mut NMI_STACK: Stack<IST_STACK_BYTES> = Stack::new();
static mut MACHINE_CHECK_STACK: Stack<IST_STACK_BYTES> = Stack::new();

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

#[derive(Debug, Clone, Copy)]
pub struct Selectors {
    pub kernel_code: SegmentSelector,
    pub kernel_data: SegmentSelector,
    pub tss: SegmentSelector,
}

fn stack_top<const N: usize>(stack: *mut Stack<N>) -> VirtAddr {
    VirtAddr::from_ptr(stack) + N as u64
}

/// Loads the GDT and TSS and reloads the segment registers. Call once, early.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[(DOUBLE_FAULT_IST - 1) as usize] = stack_top(&raw mut DOUBLE_FAULT_STACK);
        tss.interrupt_stack_table[(NMI_IST - 1) as usize] = stack_top(&raw mut NMI_STACK);
        tss.interrupt_stack_table[(MACHINE_CHECK_IST - 1) as usize] = stack_top(&raw mut MACHINE_CHECK_STACK);
        tss
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { kernel_code, kernel_data, tss })
    });
    gdt.load();
    // SAFETY: the selectors index the descriptors just loaded.
    unsafe {
        CS::set_reg(selectors.kernel_code);
        SS::set_reg(selectors.kernel_data);
        DS::set_reg(selectors.kernel_data);
        ES::set_reg(selectors.kernel_data);
        load_tss(selectors.tss);
    }
}

/// The selectors, after [`init`].
pub fn selectors() -> Selectors {
    GDT.get().expect("gdt::init runs first").1
}
