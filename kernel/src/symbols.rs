//! Kernel symbol lookup for backtraces, from the ELF symbol table of the kernel file that the
//! loader kept in memory.
//!
//! The table is sorted once at boot; lookups are a binary search and allocate nothing, so
//! the fault path can use them.

use alloc::vec::Vec;

use rayos_symbols::Symbol;
use spin::Once;

static SYMBOLS: Once<Vec<Symbol<'static>>> = Once::new();

/// Reads the function symbols of `kernel_file` (which must stay mapped forever).
pub fn init(kernel_file: &'static [u8]) -> usize {
    SYMBOLS.call_once(|| rayos_symbols::function_symbols(kernel_file).unwrap_or_default()).len()
}

/// The (mangled) name of the function containing `address` and the offset into it.
pub fn lookup(address: u64) -> Option<(&'static str, u64)> {
    rayos_symbols::lookup(SYMBOLS.get()?, address).map(|(symbol, offset)| (symbol.name, offset))
}

/// Formats `address` as `name+0xoffset` (demangled, without the hash) or `?`.
pub struct Symbolized(pub u64);

impl core::fmt::Display for Symbolized {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match lookup(self.0) {
            Some((name, offset)) => write!(f, "{:#}+{offset:#x}", rustc_demangle::demangle(name)),
            None => f.write_str("?"),
        }
    }
}

/// Walks the frame-pointer chain from `rbp`, calling `each` with every return address
/// (at most `max_frames`). Stops at a zero or unmapped frame pointer or one that does not
/// move up the stack, so a corrupted chain cannot fault or loop.
pub fn walk_frames(mut rbp: u64, max_frames: usize, mut each: impl FnMut(u64)) {
    for _ in 0..max_frames {
        if rbp == 0 || !rbp.is_multiple_of(8) {
            return;
        }
        let readable =
            crate::mm::map::translate(rbp).is_some() && crate::mm::map::translate(rbp + 8).is_some();
        if !readable {
            return;
        }
        // SAFETY: both words were just checked to be mapped.
        let (next, return_address) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        if return_address == 0 {
            return;
        }
        each(return_address);
        if next <= rbp {
            return;
        }
        rbp = next;
    }
}
