//! The kernel's initial page tables, built while the firmware's identity map is still active.
//!
//! Layout (4-level paging):
//! - all physical memory the firmware reported (except MMIO) at `PHYSICAL_MEMORY_OFFSET`
//!   with 2 MiB pages, read-write and never executable;
//! - identity, executable: only the loader code that switches to these tables, so it keeps
//!   running across the CR3 switch; the kernel removes the lower half once it runs;
//! - the kernel's segments at their link addresses with 4 KiB pages and their own
//!   permissions (read-only, writable, no-execute).

use core::fmt;

use rayos_bootinfo::PHYSICAL_MEMORY_OFFSET;
use x86_64::structures::paging::{PageTable, PageTableFlags as Flags};

const TWO_MIB: u64 = 2 * 1024 * 1024;
const PAGE: u64 = 4096;

pub struct OutOfFrames;

impl fmt::Display for OutOfFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("out of memory for page tables")
    }
}

pub struct PageTableBuilder<A: FnMut() -> Option<u64>> {
    root: u64,
    allocate_frame: A,
}

impl<A: FnMut() -> Option<u64>> PageTableBuilder<A> {
    /// `allocate_frame` returns zeroed, identity-mapped 4 KiB frames.
    pub fn new(mut allocate_frame: A) -> Result<Self, OutOfFrames> {
        let root = allocate_frame().ok_or(OutOfFrames)?;
        Ok(PageTableBuilder { root, allocate_frame })
    }

    pub fn root_phys(&self) -> u64 {
        self.root
    }

    fn table(phys: u64) -> &'static mut PageTable {
        // SAFETY: page-table frames come from `allocate_frame` (zeroed, identity mapped, ours).
        unsafe { &mut *(phys as *mut PageTable) }
    }

    /// Returns the table that entry `index` of `table` points to, creating it if needed.
    fn next_table(&mut self, table: u64, index: usize) -> Result<u64, OutOfFrames> {
        let entry = &mut Self::table(table)[index];
        if entry.is_unused() {
            let frame = (self.allocate_frame)().ok_or(OutOfFrames)?;
            // Upper levels are permissive; the leaf entries decide writability and execution.
            Self::table(table)[index]
                .set_addr(x86_64::PhysAddr::new(frame), Flags::PRESENT | Flags::WRITABLE);
            return Ok(frame);
        }
        Ok(entry.addr().as_u64())
    }

    /// Maps each physical range (rounded out to 2 MiB) at the direct-map offset and identity.
    pub fn map_direct(&mut self, ranges: impl Iterator<Item = (u64, u64)>) -> Result<(), OutOfFrames> {
        for (start, end) in ranges {
            let mut chunk = start & !(TWO_MIB - 1);
            while chunk < end {
                let virt = PHYSICAL_MEMORY_OFFSET + chunk;
                let pdpt = self.next_table(self.root, pml4_index(virt))?;
                let pd = self.next_table(pdpt, pdpt_index(virt))?;
                let entry = &mut Self::table(pd)[pd_index(virt)];
                if entry.is_unused() {
                    entry.set_addr(
                        x86_64::PhysAddr::new(chunk),
                        Flags::PRESENT | Flags::WRITABLE | Flags::HUGE_PAGE | Flags::NO_EXECUTE,
                    );
                }
                chunk += TWO_MIB;
            }
        }
        Ok(())
    }

    /// Identity-maps, executable, the 2 MiB pages holding `[code, code + len)`: the loader code
    /// that switches page tables must still be mapped at the next instruction.
    pub fn map_identity_code(&mut self, code: u64, len: u64) -> Result<(), OutOfFrames> {
        let mut chunk = code & !(TWO_MIB - 1);
        while chunk < code + len {
            let pdpt = self.next_table(self.root, pml4_index(chunk))?;
            let pd = self.next_table(pdpt, pdpt_index(chunk))?;
            Self::table(pd)[pd_index(chunk)]
                .set_addr(x86_64::PhysAddr::new(chunk), Flags::PRESENT | Flags::WRITABLE | Flags::HUGE_PAGE);
            chunk += TWO_MIB;
        }
        Ok(())
    }

    /// Maps `[virt, virt+len)` to `[phys, ...)` with 4 KiB pages. Pages shared with an
    /// earlier segment get the union of the permissions.
    pub fn map_kernel_segment(
        &mut self,
        virt: u64,
        phys: u64,
        len: u64,
        writable: bool,
        executable: bool,
    ) -> Result<(), OutOfFrames> {
        let first = virt & !(PAGE - 1);
        let delta = virt - first;
        let phys_first = phys - delta;
        let mut offset = 0;
        while first + offset < virt + len {
            let page = first + offset;
            let pdpt = self.next_table(self.root, pml4_index(page))?;
            let pd = self.next_table(pdpt, pdpt_index(page))?;
            let pt = self.next_table(pd, pd_index(page))?;
            let entry = &mut Self::table(pt)[pt_index(page)];
            let mut flags = Flags::PRESENT | Flags::GLOBAL;
            if writable {
                flags |= Flags::WRITABLE;
            }
            if !executable {
                flags |= Flags::NO_EXECUTE;
            }
            if !entry.is_unused() {
                let old = entry.flags();
                if old.contains(Flags::WRITABLE) {
                    flags |= Flags::WRITABLE;
                }
                if !old.contains(Flags::NO_EXECUTE) {
                    flags.remove(Flags::NO_EXECUTE);
                }
            }
            entry.set_addr(x86_64::PhysAddr::new(phys_first + offset), flags);
            offset += PAGE;
        }
        Ok(())
    }
}

fn pml4_index(v: u64) -> usize {
    ((v >> 39) & 511) as usize
}
fn pdpt_index(v: u64) -> usize {
    ((v >> 30) & 511) as usize
}
fn pd_index(v: u64) -> usize {
    ((v >> 21) & 511) as usize
}
fn pt_index(v: u64) -> usize {
    ((v >> 12) & 511) as usize
}

/// Switches to the new page tables and jumps to the kernel. Never returns.
///
/// # Safety
/// `root` must be a complete PML4 that identity-maps the running loader and maps the stack,
/// the boot info and the kernel entry point; boot services must have been exited.
pub unsafe fn enter_kernel(root: u64, stack_top: u64, entry: u64, boot_info: u64) -> ! {
    // SAFETY: the caller guarantees the tables; NXE is enabled first because the new
    // tables use the no-execute bit, and interrupts stay off until the kernel has its IDT.
    unsafe {
        x86_64::instructions::interrupts::disable();
        let efer = x86_64::registers::model_specific::Efer::read();
        x86_64::registers::model_specific::Efer::write(
            efer | x86_64::registers::model_specific::EferFlags::NO_EXECUTE_ENABLE,
        );
        core::arch::asm!(
            "mov cr3, {root}",
            "mov rsp, {stack}",
            "xor ebp, ebp",
            "push 0",          // a zero return address ends the kernel's backtraces
            "jmp {entry}",
            root = in(reg) root,
            stack = in(reg) stack_top,
            entry = in(reg) entry,
            in("rdi") boot_info,
            options(noreturn)
        )
    }
}
