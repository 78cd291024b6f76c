//! The physical frame allocator: a [`rayos_frames::FrameBitmap`] built from the memory map.

use rayos_bootinfo::{MemoryKind, MemoryRegion};
use rayos_frames::{FrameBitmap, FRAME_BYTES};
use spin::Once;

use super::phys_to_virt;
use crate::sync::IrqMutex;

static FRAMES: Once<IrqMutex<FrameBitmap<'static>>> = Once::new();
static TOTAL_USABLE_BYTES: Once<u64> = Once::new();

/// Frames below 1 MiB stay reserved (legacy BIOS areas, future CPU start-up trampolines).
const LOW_RESERVED_FRAMES: u64 = 256;

/// Builds the allocator. The bitmap itself lives in the first usable range big enough.
pub fn init(regions: &[MemoryRegion]) {
    let usable = |r: &&MemoryRegion| r.kind == MemoryKind::Usable;
    let top = regions.iter().filter(usable).map(|r| r.end_phys()).max().unwrap_or(0);
    let frame_count = top / FRAME_BYTES;
    let words = FrameBitmap::words_needed(frame_count);
    let bitmap_bytes = (words as u64 * 8).next_multiple_of(FRAME_BYTES);
    let home = regions
        .iter()
        .filter(usable)
        .find(|r| r.start_phys >= LOW_RESERVED_FRAMES * FRAME_BYTES && r.len_bytes >= bitmap_bytes)
        .expect("no usable memory range can hold the frame bitmap");
    // SAFETY: `home` is usable RAM nobody else owns yet, mapped in the direct map; it is
    // marked used below so it is never handed out.
    let storage =
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(home.start_phys) as *mut u64, words) };
    let mut bitmap = FrameBitmap::new_all_used(storage, frame_count);
    let mut total = 0;
    for region in regions.iter().filter(usable) {
        let first = region.start_phys.div_ceil(FRAME_BYTES);
        let end = region.end_phys() / FRAME_BYTES;
        if end > first {
            bitmap.mark_free(first, end - first);
            total += (end - first) * FRAME_BYTES;
        }
    }
    bitmap.mark_used(0, LOW_RESERVED_FRAMES);
    bitmap.mark_used(home.start_phys / FRAME_BYTES, bitmap_bytes / FRAME_BYTES);
    TOTAL_USABLE_BYTES.call_once(|| total);
    FRAMES.call_once(|| IrqMutex::new(bitmap));
}

fn frames() -> &'static IrqMutex<FrameBitmap<'static>> {
    FRAMES.get().expect("frames::init runs first")
}

/// One zeroed frame; returns its physical address.
pub fn allocate_zeroed() -> Option<u64> {
    let phys = frames().lock().allocate()? * FRAME_BYTES;
    // SAFETY: the frame was just allocated to us and is mapped in the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(phys) as *mut u8, 0, FRAME_BYTES as usize) };
    Some(phys)
}

/// `count` contiguous frames aligned to `align_bytes` (not zeroed); returns the physical address.
pub fn allocate_contiguous(count: u64, align_bytes: u64) -> Option<u64> {
    let align_frames = (align_bytes / FRAME_BYTES).max(1);
    Some(frames().lock().allocate_contiguous(count, align_frames)? * FRAME_BYTES)
}

/// Returns frames to the allocator.
pub fn free(phys: u64, count: u64) {
    if let Err(error) = frames().lock().free(phys / FRAME_BYTES, count) {
        log::error!(target: "mm", "refused to free frames at {phys:#x} (+{count}): {error:?}");
    }
}

/// (usable RAM in bytes, free bytes now).
pub fn stats() -> (u64, u64) {
    let free = frames().lock().free_frames() * FRAME_BYTES;
    (*TOTAL_USABLE_BYTES.get().unwrap_or(&0), free)
}
