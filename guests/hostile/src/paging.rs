//! The guest's own page tables: 0-4 GiB identity-mapped with 2 MiB pages (as the loader's),
//! plus a one-page window at 512 GiB that can be pointed at any guest-physical address, so
//! that the attacks can reach addresses above 4 GiB.

use core::arch::asm;
use core::cell::UnsafeCell;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const LARGE: u64 = 1 << 7;
const LARGE_PAGE_BYTES: u64 = 2 << 20;
/// The window's virtual address (PML4 slot 1).
const WINDOW_VA: u64 = 1 << 39;
/// Below this, guest-physical addresses are reached through the identity map.
pub const IDENTITY_LIMIT: u64 = 4 << 30;

const PML4: usize = 0;
const LOW_PDPT: usize = 1;
const FIRST_LOW_PD: usize = 2;
const WINDOW_PDPT: usize = 6;
const WINDOW_PD: usize = 7;

#[repr(C, align(4096))]
struct Tables(UnsafeCell<[[u64; 512]; 8]>);
// SAFETY: the guest has one vCPU; the tables are only written by `install` and `window`.
unsafe impl Sync for Tables {}
static TABLES: Tables = Tables(UnsafeCell::new([[0; 512]; 8]));

fn table_address(index: usize) -> u64 {
    TABLES.0.get() as u64 + (index as u64) * 4096
}

/// Builds the tables and loads CR3 with them.
pub fn install() {
    let tables = TABLES.0.get();
    // SAFETY: nothing references the tables yet (CR3 still names the loader's); every index
    // is in range by construction.
    unsafe {
        (*tables)[PML4][0] = table_address(LOW_PDPT) | PRESENT | WRITABLE;
        (*tables)[PML4][1] = table_address(WINDOW_PDPT) | PRESENT | WRITABLE;
        (*tables)[WINDOW_PDPT][0] = table_address(WINDOW_PD) | PRESENT | WRITABLE;
        for pd in 0..4 {
            (*tables)[LOW_PDPT][pd] = table_address(FIRST_LOW_PD + pd) | PRESENT | WRITABLE;
            for entry in 0..512 {
                let address = ((pd * 512 + entry) as u64) * LARGE_PAGE_BYTES;
                (*tables)[FIRST_LOW_PD + pd][entry] = address | PRESENT | WRITABLE | LARGE;
            }
        }
    }
    // SAFETY: the new tables identity-map 0-4 GiB like the loader's, which covers this code,
    // its stack and its data, so execution continues unchanged.
    unsafe { asm!("mov cr3, {0}", in(reg) table_address(PML4), options(nostack, preserves_flags)) };
}

/// A virtual address that reaches guest-physical `gpa`: the identity map below 4 GiB, the
/// window (re-pointed, uncached) above.
pub fn virtual_address(gpa: u64) -> u64 {
    if gpa < IDENTITY_LIMIT {
        return gpa;
    }
    let offset = gpa & (LARGE_PAGE_BYTES - 1);
    let entry = (gpa - offset) | PRESENT | WRITABLE | LARGE | WRITE_THROUGH | CACHE_DISABLE;
    // SAFETY: the window PD maps only the window, which no Rust object lives in.
    unsafe { (*TABLES.0.get())[WINDOW_PD][0] = entry };
    // SAFETY: drops the stale translation of the window page; no memory is changed.
    unsafe { asm!("invlpg [{0}]", in(reg) WINDOW_VA, options(nostack, preserves_flags)) };
    WINDOW_VA + offset
}

/// The guest's MAXPHYADDR (CPUID 0x80000008), 36 if the leaf is missing.
pub fn physical_address_bits() -> u8 {
    let max_extended = cpuid(0x8000_0000)[0];
    if max_extended < 0x8000_0008 {
        return 36;
    }
    (cpuid(0x8000_0008)[0] & 0xFF) as u8
}

/// CPUID leaf `leaf`, subleaf 0: [eax, ebx, ecx, edx].
pub fn cpuid(leaf: u32) -> [u32; 4] {
    let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
    // SAFETY: CPUID only writes the four registers (rbx is saved around it for LLVM).
    unsafe {
        asm!(
            "mov {saved:r}, rbx",
            "cpuid",
            "xchg {saved:r}, rbx",
            saved = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") 0u32 => ecx,
            out("edx") edx,
            options(nomem, nostack, preserves_flags),
        );
    }
    [eax, ebx, ecx, edx]
}
