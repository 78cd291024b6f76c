//! Guest-physical memory access and the guest page-table walker.
//!
//! Every access is bounds-checked against guest RAM; nothing here trusts an address that came
//! from the guest. The walker reads the guest's own page tables (as the guest left them in its
//! RAM) to turn a guest-virtual address into a guest-physical one; it never writes them, so it
//! does not set accessed/dirty bits (the hardware already did, for the instruction that exited).

use core::fmt;

/// An access outside guest RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryError {
    /// First guest-physical address of the refused access.
    pub gpa: u64,
    /// Length of the refused access in bytes.
    pub len_bytes: u64,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guest-physical range {:#x}+{:#x} is outside guest RAM (check the guest's memory map)",
            self.gpa, self.len_bytes
        )
    }
}

/// Byte access to guest-physical memory.
pub trait GuestMemory {
    /// Size of guest RAM: valid addresses are `0..size_bytes()`.
    fn size_bytes(&self) -> u64;
    /// Fills `buf` from `gpa..gpa + buf.len()`, or fails without reading if any byte is outside RAM.
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError>;
    /// Writes `data` at `gpa`, or fails without writing if any byte is outside RAM.
    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError>;

    /// Reads a little-endian `u16`.
    fn read_u16(&self, gpa: u64) -> Result<u16, MemoryError> {
        let mut b = [0u8; 2];
        self.read(gpa, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    /// Reads a little-endian `u32`.
    fn read_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        let mut b = [0u8; 4];
        self.read(gpa, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Reads a little-endian `u64`.
    fn read_u64(&self, gpa: u64) -> Result<u64, MemoryError> {
        let mut b = [0u8; 8];
        self.read(gpa, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Writes a little-endian `u16`.
    fn write_u16(&mut self, gpa: u64, value: u16) -> Result<(), MemoryError> {
        self.write(gpa, &value.to_le_bytes())
    }
    /// Writes a little-endian `u32`.
    fn write_u32(&mut self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.write(gpa, &value.to_le_bytes())
    }
    /// Writes a little-endian `u64`.
    fn write_u64(&mut self, gpa: u64, value: u64) -> Result<(), MemoryError> {
        self.write(gpa, &value.to_le_bytes())
    }
}

/// Guest RAM backed by one host slice mapped at guest-physical address 0.
pub struct GuestRam<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestRam<'a> {
    /// Wraps the slice the kernel maps into the guest at guest-physical 0.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Self { bytes }
    }

    fn range(&self, gpa: u64, len: usize) -> Result<core::ops::Range<usize>, MemoryError> {
        let err = MemoryError { gpa, len_bytes: len as u64 };
        let start = usize::try_from(gpa).map_err(|_| err)?;
        let end = start.checked_add(len).ok_or(err)?;
        if end > self.bytes.len() {
            return Err(err);
        }
        Ok(start..end)
    }
}

impl GuestMemory for GuestRam<'_> {
    fn size_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let range = self.range(gpa, buf.len())?;
        buf.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let range = self.range(gpa, data.len())?;
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }
}

/// CR0 bits the walker looks at.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.WP: supervisor writes honour read-only pages.
pub const CR0_WP: u64 = 1 << 16;
/// CR0.PG: paging enabled.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PSE: 4 MiB pages in 32-bit paging.
pub const CR4_PSE: u64 = 1 << 4;
/// CR4.PAE: physical address extension (required for long mode).
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.LA57: five-level paging.
pub const CR4_LA57: u64 = 1 << 12;
/// EFER.LME: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA: long mode active.
pub const EFER_LMA: u64 = 1 << 10;
/// EFER.NXE: no-execute bit enabled in page tables.
pub const EFER_NXE: u64 = 1 << 11;

/// The guest control state that decides how an address is translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PagingContext {
    /// Guest CR0.
    pub cr0: u64,
    /// Guest CR3.
    pub cr3: u64,
    /// Guest CR4.
    pub cr4: u64,
    /// Guest EFER.
    pub efer: u64,
    /// The guest's MAXPHYADDR (CPUID 0x80000008, EAX bits 7:0); page-table bits above it are reserved.
    pub phys_addr_bits: u8,
}

/// The paging mode a [`PagingContext`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingMode {
    /// CR0.PG = 0: linear addresses are physical (masked to 32 bits).
    None,
    /// Two-level 32-bit paging (4 KiB and, with CR4.PSE, 4 MiB pages).
    Bits32,
    /// Three-level PAE paging (4 KiB and 2 MiB pages).
    Pae,
    /// Four-level long-mode paging (4 KiB, 2 MiB, 1 GiB pages).
    Level4,
    /// Five-level long-mode paging (CR4.LA57).
    Level5,
}

impl PagingContext {
    /// The paging mode these registers select.
    pub fn mode(&self) -> PagingMode {
        if self.cr0 & CR0_PG == 0 {
            PagingMode::None
        } else if self.cr4 & CR4_PAE == 0 {
            PagingMode::Bits32
        } else if self.efer & EFER_LMA == 0 {
            PagingMode::Pae
        } else if self.cr4 & CR4_LA57 != 0 {
            PagingMode::Level5
        } else {
            PagingMode::Level4
        }
    }
}

/// What kind of access a translation is for (it decides which permission bits matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// A write (checks R/W).
    pub write: bool,
    /// An instruction fetch (checks NX).
    pub execute: bool,
    /// A CPL 3 access (checks U/S).
    pub user: bool,
}

impl Access {
    /// A supervisor instruction fetch.
    pub const FETCH: Access = Access { write: false, execute: true, user: false };
    /// A supervisor data read.
    pub const READ: Access = Access { write: false, execute: false, user: false };
    /// A supervisor data write.
    pub const WRITE: Access = Access { write: true, execute: false, user: false };
}

/// Page-fault error-code bits, as the CPU would report them.
pub mod pf {
    /// The page was present (a protection fault).
    pub const PRESENT: u32 = 1 << 0;
    /// The access was a write.
    pub const WRITE: u32 = 1 << 1;
    /// The access came from CPL 3.
    pub const USER: u32 = 1 << 2;
    /// A reserved bit was set in a paging-structure entry.
    pub const RESERVED: u32 = 1 << 3;
    /// The access was an instruction fetch.
    pub const FETCH: u32 = 1 << 4;
}

/// Why a guest-virtual address could not be translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranslateError {
    /// The guest would take a page fault: `error_code` uses the [`pf`] bits.
    PageFault {
        /// The faulting guest-virtual address.
        gva: u64,
        /// The #PF error code.
        error_code: u32,
    },
    /// The address is not canonical for the paging mode (the guest would take #GP).
    NonCanonical {
        /// The refused guest-virtual address.
        gva: u64,
    },
    /// A paging-structure entry points outside guest RAM.
    TableOutsideRam(MemoryError),
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TranslateError::PageFault { gva, error_code } => {
                write!(f, "guest page fault at {gva:#x} (error code {error_code:#x})")
            }
            TranslateError::NonCanonical { gva } => write!(f, "non-canonical guest address {gva:#x}"),
            TranslateError::TableOutsideRam(e) => write!(f, "guest page table entry points outside RAM: {e}"),
        }
    }
}

/// A successful translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// The guest-physical address.
    pub gpa: u64,
    /// Size of the page that maps it (4 KiB, 2 MiB, 4 MiB or 1 GiB).
    pub page_size_bytes: u64,
}

const PTE_P: u64 = 1 << 0;
const PTE_RW: u64 = 1 << 1;
const PTE_US: u64 = 1 << 2;
const PTE_PS: u64 = 1 << 7;
const PTE_NX: u64 = 1 << 63;

/// Translates `gva` for `access` through the guest's page tables in `memory`.
///
/// The walk does at most five table reads, so a hostile table cannot make it loop.
pub fn translate(
    memory: &dyn GuestMemory,
    ctx: &PagingContext,
    gva: u64,
    access: Access,
) -> Result<Translation, TranslateError> {
    match ctx.mode() {
        PagingMode::None => Ok(Translation { gpa: gva & 0xFFFF_FFFF, page_size_bytes: 4096 }),
        PagingMode::Bits32 => walk_32(memory, ctx, gva & 0xFFFF_FFFF, access),
        PagingMode::Pae => walk_pae(memory, ctx, gva & 0xFFFF_FFFF, access),
        PagingMode::Level4 => walk_long(memory, ctx, gva, access, 4),
        PagingMode::Level5 => walk_long(memory, ctx, gva, access, 5),
    }
}

fn base_error(access: Access) -> u32 {
    let mut code = 0;
    if access.write {
        code |= pf::WRITE;
    }
    if access.user {
        code |= pf::USER;
    }
    if access.execute {
        code |= pf::FETCH;
    }
    code
}

/// Accumulated permissions along a walk: a page is writable/user/executable only if every
/// level allows it.
struct Permissions {
    writable: bool,
    user: bool,
    executable: bool,
}

impl Permissions {
    fn new() -> Self {
        Self { writable: true, user: true, executable: true }
    }

    fn apply(&mut self, entry: u64, nx_enabled: bool) {
        self.writable &= entry & PTE_RW != 0;
        self.user &= entry & PTE_US != 0;
        if nx_enabled {
            self.executable &= entry & PTE_NX == 0;
        }
    }

    fn check(&self, ctx: &PagingContext, gva: u64, access: Access) -> Result<(), TranslateError> {
        let denied = (access.user && !self.user)
            || (access.write && !self.writable && (access.user || ctx.cr0 & CR0_WP != 0))
            || (access.execute && !self.executable);
        if denied {
            return Err(TranslateError::PageFault { gva, error_code: base_error(access) | pf::PRESENT });
        }
        Ok(())
    }
}

fn not_present(gva: u64, access: Access) -> TranslateError {
    TranslateError::PageFault { gva, error_code: base_error(access) }
}

fn reserved(gva: u64, access: Access) -> TranslateError {
    TranslateError::PageFault { gva, error_code: base_error(access) | pf::PRESENT | pf::RESERVED }
}

fn read_entry_u32(memory: &dyn GuestMemory, gpa: u64) -> Result<u64, TranslateError> {
    memory.read_u32(gpa).map(u64::from).map_err(TranslateError::TableOutsideRam)
}

fn read_entry_u64(memory: &dyn GuestMemory, gpa: u64) -> Result<u64, TranslateError> {
    memory.read_u64(gpa).map_err(TranslateError::TableOutsideRam)
}

/// Bits 51..MAXPHYADDR of a 64-bit entry, which must be zero.
fn high_reserved_mask(ctx: &PagingContext) -> u64 {
    let bits = u32::from(ctx.phys_addr_bits.clamp(32, 52));
    ((1u64 << 52) - 1) & !((1u64 << bits) - 1)
}

fn walk_32(
    memory: &dyn GuestMemory,
    ctx: &PagingContext,
    gva: u64,
    access: Access,
) -> Result<Translation, TranslateError> {
    let mut perms = Permissions::new();
    let pde_addr = (ctx.cr3 & 0xFFFF_F000) + ((gva >> 22) & 0x3FF) * 4;
    let pde = read_entry_u32(memory, pde_addr)?;
    if pde & PTE_P == 0 {
        return Err(not_present(gva, access));
    }
    perms.apply(pde, false);
    if pde & PTE_PS != 0 && ctx.cr4 & CR4_PSE != 0 {
        // PSE-36: PDE bits 20:13 are physical address bits 39:32; bit 21 is reserved.
        if pde & (1 << 21) != 0 {
            return Err(reserved(gva, access));
        }
        let high = ((pde >> 13) & 0xFF) << 32;
        if high & !((1u64 << ctx.phys_addr_bits.clamp(32, 40)) - 1) != 0 {
            return Err(reserved(gva, access));
        }
        perms.check(ctx, gva, access)?;
        let gpa = high | (pde & 0xFFC0_0000) | (gva & 0x3F_FFFF);
        return Ok(Translation { gpa, page_size_bytes: 4 << 20 });
    }
    let pte_addr = (pde & 0xFFFF_F000) + ((gva >> 12) & 0x3FF) * 4;
    let pte = read_entry_u32(memory, pte_addr)?;
    if pte & PTE_P == 0 {
        return Err(not_present(gva, access));
    }
    perms.apply(pte, false);
    perms.check(ctx, gva, access)?;
    Ok(Translation { gpa: (pte & 0xFFFF_F000) | (gva & 0xFFF), page_size_bytes: 4096 })
}

fn walk_pae(
    memory: &dyn GuestMemory,
    ctx: &PagingContext,
    gva: u64,
    access: Access,
) -> Result<Translation, TranslateError> {
    let nx = ctx.efer & EFER_NXE != 0;
    let high = high_reserved_mask(ctx);
    let nx_reserved = if nx { 0 } else { PTE_NX };
    let pdpte_addr = (ctx.cr3 & 0xFFFF_FFE0) + ((gva >> 30) & 3) * 8;
    let pdpte = read_entry_u64(memory, pdpte_addr)?;
    if pdpte & PTE_P == 0 {
        return Err(not_present(gva, access));
    }
    // PAE PDPTEs have no permission bits: bits 1, 2, 5..8 and 63 are reserved.
    if pdpte & (0b1_1110_0110 | high | PTE_NX) != 0 {
        return Err(reserved(gva, access));
    }
    let mut perms = Permissions::new();
    let pde_addr = (pdpte & 0x000F_FFFF_FFFF_F000) + ((gva >> 21) & 0x1FF) * 8;
    let pde = read_entry_u64(memory, pde_addr)?;
    if pde & PTE_P == 0 {
        return Err(not_present(gva, access));
    }
    if pde & (high | nx_reserved) != 0 {
        return Err(reserved(gva, access));
    }
    perms.apply(pde, nx);
    if pde & PTE_PS != 0 {
        if pde & 0x1F_E000 != 0 {
            return Err(reserved(gva, access));
        }
        perms.check(ctx, gva, access)?;
        let gpa = (pde & 0x000F_FFFF_FFE0_0000) | (gva & 0x1F_FFFF);
        return Ok(Translation { gpa, page_size_bytes: 2 << 20 });
    }
    let pte_addr = (pde & 0x000F_FFFF_FFFF_F000) + ((gva >> 12) & 0x1FF) * 8;
    let pte = read_entry_u64(memory, pte_addr)?;
    if pte & PTE_P == 0 {
        return Err(not_present(gva, access));
    }
    if pte & (high | nx_reserved) != 0 {
        return Err(reserved(gva, access));
    }
    perms.apply(pte, nx);
    perms.check(ctx, gva, access)?;
    Ok(Translation { gpa: (pte & 0x000F_FFFF_FFFF_F000) | (gva & 0xFFF), page_size_bytes: 4096 })
}

fn walk_long(
    memory: &dyn GuestMemory,
    ctx: &PagingContext,
    gva: u64,
    access: Access,
    levels: u32,
) -> Result<Translation, TranslateError> {
    let va_bits = 12 + 9 * levels;
    let shift = 64 - va_bits;
    if (((gva << shift) as i64) >> shift) as u64 != gva {
        return Err(TranslateError::NonCanonical { gva });
    }
    let nx = ctx.efer & EFER_NXE != 0;
    let high = high_reserved_mask(ctx);
    let nx_reserved = if nx { 0 } else { PTE_NX };
    let mut perms = Permissions::new();
    let mut table = ctx.cr3 & 0x000F_FFFF_FFFF_F000;
    for level in (1..=levels).rev() {
        let index_shift = 12 + 9 * (level - 1);
        let entry = read_entry_u64(memory, table + ((gva >> index_shift) & 0x1FF) * 8)?;
        if entry & PTE_P == 0 {
            return Err(not_present(gva, access));
        }
        if entry & (high | nx_reserved) != 0 {
            return Err(reserved(gva, access));
        }
        perms.apply(entry, nx);
        let large = entry & PTE_PS != 0;
        if large && level >= 4 {
            // PS is reserved in PML4E and PML5E.
            return Err(reserved(gva, access));
        }
        if large && level > 1 {
            let page_size_bytes = 1u64 << index_shift;
            // Bits 12 (PAT) .. index_shift-1 of a large-page entry other than PAT must be zero.
            let low_reserved = (page_size_bytes - 1) & !0x1FFF;
            if entry & low_reserved != 0 {
                return Err(reserved(gva, access));
            }
            perms.check(ctx, gva, access)?;
            let frame = entry & 0x000F_FFFF_FFFF_F000 & !(page_size_bytes - 1);
            return Ok(Translation { gpa: frame | (gva & (page_size_bytes - 1)), page_size_bytes });
        }
        table = entry & 0x000F_FFFF_FFFF_F000;
    }
    perms.check(ctx, gva, access)?;
    Ok(Translation { gpa: table | (gva & 0xFFF), page_size_bytes: 4096 })
}

/// Copies guest-virtual memory at `gva` into `buf`, page by page, stopping at the first page
/// that does not translate or is outside RAM. Returns how many bytes were copied, or the error
/// if not even the first byte could be read.
pub fn read_virtual_prefix(
    memory: &dyn GuestMemory,
    ctx: &PagingContext,
    gva: u64,
    access: Access,
    buf: &mut [u8],
) -> Result<usize, TranslateError> {
    let mut done = 0usize;
    while done < buf.len() {
        let address = gva.wrapping_add(done as u64);
        let translation = match translate(memory, ctx, address, access) {
            Ok(t) => t,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let in_page = 4096 - (translation.gpa & 0xFFF) as usize;
        let chunk = in_page.min(buf.len() - done);
        match memory.read(translation.gpa, &mut buf[done..done + chunk]) {
            Ok(()) => done += chunk,
            Err(e) if done == 0 => return Err(TranslateError::TableOutsideRam(e)),
            Err(_) => break,
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const MIB: usize = 1 << 20;

    fn ctx_long(cr3: u64) -> PagingContext {
        PagingContext {
            cr0: CR0_PE | CR0_PG | CR0_WP,
            cr3,
            cr4: CR4_PAE,
            efer: EFER_LME | EFER_LMA | EFER_NXE,
            phys_addr_bits: 40,
        }
    }

    #[test]
    fn ram_bounds_are_checked() {
        let mut backing = vec![0u8; 4096];
        let mut ram = GuestRam::new(&mut backing);
        assert!(ram.write_u32(4092, 0xDEAD_BEEF).is_ok());
        assert_eq!(ram.read_u32(4092), Ok(0xDEAD_BEEF));
        assert_eq!(ram.read_u32(4093), Err(MemoryError { gpa: 4093, len_bytes: 4 }));
        assert!(ram.write(u64::MAX, &[1]).is_err());
        assert!(ram.read(u64::MAX - 1, &mut [0; 4]).is_err());
    }

    #[test]
    fn no_paging_is_identity_masked_to_32_bits() {
        let mut backing = vec![0u8; 4096];
        let ram = GuestRam::new(&mut backing);
        let ctx = PagingContext { cr0: CR0_PE, ..Default::default() };
        let t = translate(&ram, &ctx, 0x1_2345_6789, Access::READ).unwrap();
        assert_eq!(t.gpa, 0x2345_6789);
    }

    #[test]
    fn long_mode_4k_2m_1g_pages() {
        let mut backing = vec![0u8; 2 * MIB];
        let mut ram = GuestRam::new(&mut backing);
        // PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000, PT at 0x4000.
        ram.write_u64(0x1000, 0x2000 | 3).unwrap();
        // PDPT[0] -> PD; PDPT[1] = 1 GiB page at 0x4000_0000.
        ram.write_u64(0x2000, 0x3000 | 3).unwrap();
        ram.write_u64(0x2008, 0x4000_0000 | PTE_PS | 3).unwrap();
        // PD[0] -> PT; PD[1] = 2 MiB page at 0x60_0000.
        ram.write_u64(0x3000, 0x4000 | 3).unwrap();
        ram.write_u64(0x3008, 0x60_0000 | PTE_PS | 3).unwrap();
        // PT[5] -> 0x9000.
        ram.write_u64(0x4000 + 5 * 8, 0x9000 | 3).unwrap();
        let ctx = ctx_long(0x1000);
        let t = translate(&ram, &ctx, 0x5123, Access::FETCH).unwrap();
        assert_eq!(t, Translation { gpa: 0x9123, page_size_bytes: 4096 });
        let t = translate(&ram, &ctx, 0x20_0000 + 0x1234, Access::WRITE).unwrap();
        assert_eq!(t, Translation { gpa: 0x60_1234, page_size_bytes: 2 << 20 });
        let t = translate(&ram, &ctx, 0x4000_0000 + 0x12_3456, Access::READ).unwrap();
        assert_eq!(t, Translation { gpa: 0x4012_3456, page_size_bytes: 1 << 30 });
        // Not present PT entry.
        let e = translate(&ram, &ctx, 0x6000, Access::FETCH).unwrap_err();
        assert_eq!(e, TranslateError::PageFault { gva: 0x6000, error_code: pf::FETCH });
    }

    #[test]
    fn long_mode_hostile_tables() {
        let mut backing = vec![0u8; 64 * 1024];
        let mut ram = GuestRam::new(&mut backing);
        let ctx = ctx_long(0x1000);
        // PML4 entry pointing far outside RAM.
        ram.write_u64(0x1000, (0x80_0000_0000 - 0x1000) | 3).unwrap();
        assert!(matches!(translate(&ram, &ctx, 0, Access::READ), Err(TranslateError::TableOutsideRam(_))));
        // Reserved bit above MAXPHYADDR (40).
        ram.write_u64(0x1000, (1 << 45) | 0x2000 | 3).unwrap();
        let e = translate(&ram, &ctx, 0, Access::READ).unwrap_err();
        assert_eq!(e, TranslateError::PageFault { gva: 0, error_code: pf::PRESENT | pf::RESERVED });
        // PS in a PML4E is reserved.
        ram.write_u64(0x1000, 0x2000 | PTE_PS | 3).unwrap();
        assert!(matches!(translate(&ram, &ctx, 0, Access::READ), Err(TranslateError::PageFault { .. })));
        // Reserved low bits in a 2 MiB page.
        ram.write_u64(0x1000, 0x2000 | 3).unwrap();
        ram.write_u64(0x2000, 0x3000 | 3).unwrap();
        ram.write_u64(0x3000, 0x20_0000 | (1 << 13) | PTE_PS | 3).unwrap();
        let e = translate(&ram, &ctx, 0x10, Access::READ).unwrap_err();
        assert_eq!(e, TranslateError::PageFault { gva: 0x10, error_code: pf::PRESENT | pf::RESERVED });
        // NX when NXE is off is a reserved bit.
        ram.write_u64(0x3000, 0x20_0000 | PTE_NX | PTE_PS | 3).unwrap();
        let mut no_nx = ctx;
        no_nx.efer &= !EFER_NXE;
        assert!(matches!(translate(&ram, &no_nx, 0, Access::READ), Err(TranslateError::PageFault { .. })));
        // With NXE on, an NX page refuses fetches but allows reads.
        assert!(translate(&ram, &ctx, 0, Access::READ).is_ok());
        let e = translate(&ram, &ctx, 0, Access::FETCH).unwrap_err();
        assert_eq!(e, TranslateError::PageFault { gva: 0, error_code: pf::PRESENT | pf::FETCH });
        // Read-only page with CR0.WP refuses supervisor writes; user access needs U/S.
        ram.write_u64(0x3000, 0x20_0000 | PTE_PS | PTE_P).unwrap();
        assert!(translate(&ram, &ctx, 0, Access::WRITE).is_err());
        let user = Access { write: false, execute: false, user: true };
        assert!(translate(&ram, &ctx, 0, user).is_err());
        // Non-canonical.
        assert_eq!(
            translate(&ram, &ctx, 0x0000_8000_0000_0000, Access::READ),
            Err(TranslateError::NonCanonical { gva: 0x0000_8000_0000_0000 })
        );
    }

    #[test]
    fn self_referencing_table_terminates() {
        let mut backing = vec![0u8; 8192];
        let mut ram = GuestRam::new(&mut backing);
        // Every level points back at the same table: the walk ends after four reads.
        ram.write_u64(0x1000, 0x1000 | 3).unwrap();
        let t = translate(&ram, &ctx_long(0x1000), 0x0, Access::READ).unwrap();
        assert_eq!(t.gpa, 0x1000);
    }

    #[test]
    fn five_level_paging() {
        let mut backing = vec![0u8; 64 * 1024];
        let mut ram = GuestRam::new(&mut backing);
        for (table, next) in [(0x1000u64, 0x2000u64), (0x2000, 0x3000), (0x3000, 0x4000), (0x4000, 0x5000)] {
            ram.write_u64(table, next | 3).unwrap();
        }
        ram.write_u64(0x5000, 0x8000 | 3).unwrap();
        let mut ctx = ctx_long(0x1000);
        ctx.cr4 |= CR4_LA57;
        assert_eq!(translate(&ram, &ctx, 0x42, Access::READ).unwrap().gpa, 0x8042);
        // 0x0000_8000_0000_0000 is canonical with 57 bits.
        assert!(!matches!(
            translate(&ram, &ctx, 0x0000_8000_0000_0000, Access::READ),
            Err(TranslateError::NonCanonical { .. })
        ));
    }

    #[test]
    fn paging_32_bit_4k_and_4m() {
        let mut backing = vec![0u8; 64 * 1024];
        let mut ram = GuestRam::new(&mut backing);
        // PD at 0x1000: PDE[0] -> PT at 0x2000; PDE[1] = 4 MiB page at 0x80_0000 with PSE-36 bits.
        ram.write_u32(0x1000, 0x2000 | 3).unwrap();
        ram.write_u32(0x1004, 0x80_0000 | (1 << 13) | PTE_PS as u32 | 3).unwrap();
        ram.write_u32(0x2000 + 3 * 4, 0x7000 | 3).unwrap();
        let ctx =
            PagingContext { cr0: CR0_PE | CR0_PG, cr3: 0x1000, cr4: CR4_PSE, efer: 0, phys_addr_bits: 40 };
        assert_eq!(translate(&ram, &ctx, 0x3456, Access::READ).unwrap().gpa, 0x7456);
        let t = translate(&ram, &ctx, 0x40_0000 + 0x1234, Access::READ).unwrap();
        assert_eq!(t, Translation { gpa: 0x1_0080_1234, page_size_bytes: 4 << 20 });
        // Without CR4.PSE the PS bit is ignored and the PDE points at a page table.
        let no_pse = PagingContext { cr4: 0, ..ctx };
        assert!(translate(&ram, &no_pse, 0x40_0000, Access::READ).is_err());
    }

    #[test]
    fn paging_pae() {
        let mut backing = vec![0u8; 64 * 1024];
        let mut ram = GuestRam::new(&mut backing);
        ram.write_u64(0x1020, 0x2000 | 1).unwrap(); // PDPTE[0] at CR3 = 0x1020
        ram.write_u64(0x2000, 0x3000 | 3).unwrap();
        ram.write_u64(0x2008, 0xA0_0000 | PTE_PS | 3).unwrap();
        ram.write_u64(0x3008, 0x9000 | 3).unwrap();
        let ctx =
            PagingContext { cr0: CR0_PE | CR0_PG, cr3: 0x1020, cr4: CR4_PAE, efer: 0, phys_addr_bits: 36 };
        assert_eq!(translate(&ram, &ctx, 0x1ABC, Access::READ).unwrap().gpa, 0x9ABC);
        assert_eq!(translate(&ram, &ctx, 0x20_0000 + 5, Access::READ).unwrap().gpa, 0xA0_0005);
        // PDPTE with a reserved bit (RW is reserved in PAE PDPTEs).
        ram.write_u64(0x1020, 0x2000 | 3).unwrap();
        let e = translate(&ram, &ctx, 0, Access::READ).unwrap_err();
        assert_eq!(e, TranslateError::PageFault { gva: 0, error_code: pf::PRESENT | pf::RESERVED });
    }

    #[test]
    fn read_virtual_prefix_stops_at_unmapped_page() {
        let mut backing = vec![0u8; 64 * 1024];
        let mut ram = GuestRam::new(&mut backing);
        ram.write_u64(0x1000, 0x2000 | 3).unwrap();
        ram.write_u64(0x2000, 0x3000 | 3).unwrap();
        ram.write_u64(0x3000, 0x4000 | 3).unwrap();
        ram.write_u64(0x4000, 0x8000 | 3).unwrap(); // only the first 4 KiB page is mapped
        ram.write(0x8FFC, &[1, 2, 3, 4]).unwrap();
        let mut buf = [0u8; 15];
        let n = read_virtual_prefix(&ram, &ctx_long(0x1000), 0xFFC, Access::FETCH, &mut buf).unwrap();
        assert_eq!(n, 4);
        assert_eq!(&buf[..4], &[1, 2, 3, 4]);
    }

    proptest! {
        #[test]
        fn walker_never_panics_on_random_tables(
            table in proptest::collection::vec(any::<u64>(), 64),
            cr3 in any::<u64>(), gva in any::<u64>(), cr0 in any::<u64>(), cr4 in any::<u64>(),
            efer in any::<u64>(), phys in any::<u8>(), w in any::<bool>(), x in any::<bool>(), u in any::<bool>(),
        ) {
            let mut backing = vec![0u8; 0x4000];
            let mut ram = GuestRam::new(&mut backing);
            // Scatter entries that mostly point back into the small RAM.
            for (i, e) in table.iter().enumerate() {
                let entry = if i % 2 == 0 { (e & 0x3FFF & !0xFFF) | (e & 0x8000_0000_0000_01FF) } else { *e };
                ram.write_u64((i as u64 * 0x100) & 0x3FF8, entry).unwrap();
            }
            let ctx = PagingContext { cr0, cr3: cr3 & 0x3FFF, cr4, efer, phys_addr_bits: phys };
            let access = Access { write: w, execute: x, user: u };
            let _ = translate(&ram, &ctx, gva, access);
            let mut buf = [0u8; 15];
            if let Ok(n) = read_virtual_prefix(&ram, &ctx, gva, access, &mut buf) {
                prop_assert!(n <= 15);
            }
            let _ = Vec::<u8>::new();
        }
    }
}
