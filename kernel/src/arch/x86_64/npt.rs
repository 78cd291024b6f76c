//! Nested page tables: the guest-physical to host-physical mapping of one VM.
//!
//! Guest RAM is one host-contiguous run mapped from guest-physical 0 with 2 MiB pages, all
//! present and writable; nothing else is mapped, so every other guest-physical access (device
//! pages, addresses past the end of RAM, RayOS's own memory) is a nested page fault the VMM
//! decides about.

use alloc::vec::Vec;

use crate::mm;

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
/// Nested page walks are user accesses: every level must allow them.
const USER: u64 = 1 << 2;
const HUGE: u64 = 1 << 7;
const TWO_MIB: u64 = 2 << 20;

pub struct NestedPageTables {
    root: u64,
    frames: Vec<u64>,
}

impl NestedPageTables {
    /// Maps guest-physical `[0, bytes)` to host-physical `[host_base, host_base + bytes)`.
    /// `host_base` and `bytes` must be multiples of 2 MiB, `bytes` at most 512 GiB.
    pub fn identity_offset(host_base: u64, bytes: u64) -> Option<NestedPageTables> {
        if !host_base.is_multiple_of(TWO_MIB) || !bytes.is_multiple_of(TWO_MIB) || bytes > 512 << 30 {
            return None;
        }
        let mut tables = NestedPageTables { root: 0, frames: Vec::new() };
        tables.root = tables.frame()?;
        let pdpt = tables.frame()?;
        tables.set(tables.root, 0, pdpt | PRESENT | WRITABLE | USER);
        let mut gpa = 0;
        while gpa < bytes {
            let pdpt_index = (gpa >> 30) as usize;
            let pd = match tables.get(pdpt, pdpt_index) {
                0 => {
                    let pd = tables.frame()?;
                    tables.set(pdpt, pdpt_index, pd | PRESENT | WRITABLE | USER);
                    pd
                }
                entry => entry & 0x000F_FFFF_FFFF_F000,
            };
            tables.set(
                pd,
                ((gpa >> 21) & 511) as usize,
                (host_base + gpa) | PRESENT | WRITABLE | USER | HUGE,
            );
            gpa += TWO_MIB;
        }
        Some(tables)
    }

    fn frame(&mut self) -> Option<u64> {
        let frame = mm::frames::allocate_zeroed()?;
        self.frames.push(frame);
        Some(frame)
    }

    fn get(&self, table: u64, index: usize) -> u64 {
        // SAFETY: `table` is one of our zeroed frames, mapped in the direct map; index < 512.
        unsafe { core::ptr::read_volatile((mm::phys_to_virt(table) as *const u64).add(index)) }
    }

    fn set(&self, table: u64, index: usize, value: u64) {
        // SAFETY: as in `get`.
        unsafe { core::ptr::write_volatile((mm::phys_to_virt(table) as *mut u64).add(index), value) }
    }

    /// The nested CR3 value.
    pub fn root_phys(&self) -> u64 {
        self.root
    }
}

impl Drop for NestedPageTables {
    fn drop(&mut self) {
        for &frame in &self.frames {
            mm::frames::free(frame, 1);
        }
    }
}
