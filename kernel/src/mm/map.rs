//! Kernel mappings beyond the direct map: uncached MMIO windows and guarded thread stacks.

use alloc::vec::Vec;

use rayos_bootinfo::PHYSICAL_MEMORY_OFFSET;
use spin::Once;
use x86_64::structures::paging::mapper::{MapToError, Translate};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as Flags, PhysFrame, Size2MiB,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

use super::frames;
use crate::sync::IrqMutex;

const MMIO_BASE: u64 = 0xFFFF_D000_0000_0000;
const STACKS_BASE: u64 = 0xFFFF_E000_0000_0000;
/// Virtual space per stack slot: the largest stack plus at least one unmapped guard page.
const STACK_SLOT_BYTES: u64 = 2 << 20;
const PAGE: u64 = 4096;

struct KernelSpace {
    mapper: OffsetPageTable<'static>,
    next_mmio: u64,
    free_stack_slots: Vec<u64>,
    next_stack_slot: u64,
}

static SPACE: Once<IrqMutex<KernelSpace>> = Once::new();

struct Frames;

// SAFETY: `frames::allocate_zeroed` returns frames owned by nobody else.
unsafe impl FrameAllocator<Size4KiB> for Frames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        frames::allocate_zeroed().map(|phys| PhysFrame::containing_address(PhysAddr::new(phys)))
    }
}

/// Removes the loader's identity map and takes over the page tables.
pub fn init() {
    let (root_frame, _) = x86_64::registers::control::Cr3::read();
    let root_virt = super::phys_to_virt(root_frame.start_address().as_u64());
    // SAFETY: CR3's table is mapped in the direct map and owned by the kernel from now on;
    // every access goes through the SPACE lock.
    let root = unsafe { &mut *(root_virt as *mut PageTable) };
    for entry in root.iter_mut().take(256) {
        entry.set_unused();
    }
    x86_64::instructions::tlb::flush_all();
    // SAFETY: see above; PHYSICAL_MEMORY_OFFSET maps all physical memory (loader invariant).
    let mapper = unsafe { OffsetPageTable::new(root, VirtAddr::new(PHYSICAL_MEMORY_OFFSET)) };
    SPACE.call_once(|| {
        IrqMutex::new(KernelSpace {
            mapper,
            next_mmio: MMIO_BASE,
            free_stack_slots: Vec::new(),
            next_stack_slot: 0,
        })
    });
}

fn space() -> &'static IrqMutex<KernelSpace> {
    SPACE.get().expect("mm::map::init runs first")
}

#[derive(Debug)]
pub enum MapError {
    OutOfMemory,
    AlreadyMapped,
}

fn convert<S: x86_64::structures::paging::PageSize>(error: MapToError<S>) -> MapError {
    match error {
        MapToError::FrameAllocationFailed => MapError::OutOfMemory,
        _ => MapError::AlreadyMapped,
    }
}

/// Maps `size` bytes of device memory at `phys` uncached; returns the virtual address of `phys`.
pub fn map_mmio(phys: u64, size: u64) -> Result<u64, MapError> {
    let mut space = space().lock();
    let first = phys & !(PAGE - 1);
    let end = (phys + size.max(1)).next_multiple_of(PAGE);
    let flags = Flags::PRESENT | Flags::WRITABLE | Flags::NO_CACHE | Flags::WRITE_THROUGH | Flags::NO_EXECUTE;
    let huge = 2 << 20;
    let use_huge = first.is_multiple_of(huge) && (end - first) >= huge;
    let align = if use_huge { huge } else { PAGE };
    let virt_first = space.next_mmio.next_multiple_of(align);
    space.next_mmio = virt_first + (end - first).next_multiple_of(align) + PAGE;
    let mut offset = 0;
    while first + offset < end {
        let remaining = end - (first + offset);
        if use_huge && remaining >= huge {
            let page = Page::<Size2MiB>::containing_address(VirtAddr::new(virt_first + offset));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(first + offset));
            // SAFETY: a fresh virtual range mapped to device memory nothing else maps.
            unsafe { space.mapper.map_to(page, frame, flags | Flags::HUGE_PAGE, &mut Frames) }
                .map_err(convert)?
                .flush();
            offset += huge;
        } else {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt_first + offset));
            let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(first + offset));
            // SAFETY: as above.
            unsafe { space.mapper.map_to(page, frame, flags, &mut Frames) }.map_err(convert)?.flush();
            offset += PAGE;
        }
    }
    Ok(virt_first + (phys - first))
}

/// A kernel stack with an unmapped guard page below it.
pub struct KernelStack {
    slot: u64,
    pages: u64,
}

impl KernelStack {
    /// Highest address (exclusive): the initial stack pointer.
    pub fn top(&self) -> u64 {
        self.slot + STACK_SLOT_BYTES
    }

    /// Lowest mapped address.
    pub fn bottom(&self) -> u64 {
        self.top() - self.pages * PAGE
    }

    /// Whether `address` is in this stack's guard page(s).
    pub fn guard_contains(&self, address: u64) -> bool {
        (self.slot..self.bottom()).contains(&address)
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        let mut space = space().lock();
        for i in 0..self.pages {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(self.bottom() + i * PAGE));
            if let Ok((frame, flush)) = space.mapper.unmap(page) {
                flush.flush();
                drop(space);
                frames::free(frame.start_address().as_u64(), 1);
                space = self::space().lock();
            }
        }
        space.free_stack_slots.push(self.slot);
    }
}

/// Allocates a stack of `bytes` (rounded to pages, at most 2 MiB minus the guard).
pub fn allocate_stack(bytes: u64) -> Result<KernelStack, MapError> {
    let pages = bytes.div_ceil(PAGE).clamp(1, STACK_SLOT_BYTES / PAGE - 1);
    let mut space = space().lock();
    let slot = match space.free_stack_slots.pop() {
        Some(slot) => slot,
        None => {
            let slot = STACKS_BASE + space.next_stack_slot * STACK_SLOT_BYTES;
            space.next_stack_slot += 1;
            slot
        }
    };
    let stack = KernelStack { slot, pages };
    for i in 0..pages {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(stack.bottom() + i * PAGE));
        let mapped = match Frames.allocate_frame() {
            None => Err(MapError::OutOfMemory),
            Some(frame) => {
                let flags = Flags::PRESENT | Flags::WRITABLE | Flags::NO_EXECUTE;
                // SAFETY: a stack slot is used by one stack at a time; its pages are fresh frames.
                match unsafe { space.mapper.map_to(page, frame, flags, &mut Frames) } {
                    Ok(flush) => {
                        flush.flush();
                        Ok(())
                    }
                    Err(e) => {
                        frames::free(frame.start_address().as_u64(), 1);
                        Err(convert(e))
                    }
                }
            }
        };
        if let Err(e) = mapped {
            // Dropping the stack unmaps the pages mapped so far and takes the lock itself.
            drop(space);
            drop(stack);
            return Err(e);
        }
    }
    Ok(stack)
}

/// The physical address `virt` maps to, if any (used to check pointers before a crash dump
/// follows them).
pub fn translate(virt: u64) -> Option<u64> {
    let space = SPACE.get()?;
    // A crash may happen while the lock is held; a dump must not deadlock on it.
    let space = space.try_lock()?;
    space.mapper.translate_addr(VirtAddr::try_new(virt).ok()?).map(|p| p.as_u64())
}

/// Whether `virt` is an unmapped address in the thread-stack region: a guard page, so a
/// fault there is a stack overflow.
pub fn is_stack_guard(virt: u64) -> bool {
    (STACKS_BASE..STACKS_BASE + (1 << 40)).contains(&virt) && translate(virt).is_none()
}
