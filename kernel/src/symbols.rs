//! Kernel symbol lookup for backtraces, from the ELF symbol table of the kernel file that the
//! loader kept in memory.
//!
//! The table is sorted once at boot; lookups are a binary search and allocate nothing, so
//! the fault path can use them.

use alloc::vec::Vec;

use spin::Once;
use xmas_elf::sections::SectionData;
use xmas_elf::symbol_table::{Entry, Type};
use xmas_elf::ElfFile;

struct Symbol {
    address: u64,
    size: u64,
    name: &'static str,
}

static SYMBOLS: Once<Vec<Symbol>> = Once::new();

/// Reads the function symbols of `kernel_file` (which must stay mapped forever).
pub fn init(kernel_file: &'static [u8]) -> usize {
    let symbols = SYMBOLS.call_once(|| {
        let mut symbols = Vec::new();
        let Ok(elf) = ElfFile::new(kernel_file) else { return symbols };
        let Some(section) = elf.find_section_by_name(".symtab") else { return symbols };
        if let Ok(SectionData::SymbolTable64(entries)) = section.get_data(&elf) {
            for entry in entries {
                if entry.get_type() == Ok(Type::Func) && entry.value() != 0 {
                    if let Ok(name) = entry.get_name(&elf) {
                        symbols.push(Symbol { address: entry.value(), size: entry.size(), name });
                    }
                }
            }
        }
        symbols.sort_unstable_by_key(|s| s.address);
        symbols
    });
    symbols.len()
}

/// The (mangled) name of the function containing `address` and the offset into it.
pub fn lookup(address: u64) -> Option<(&'static str, u64)> {
    let symbols = SYMBOLS.get()?;
    let index = symbols.partition_point(|s| s.address <= address).checked_sub(1)?;
    let symbol = &symbols[index];
    let offset = address - symbol.address;
    (offset < symbol.size.max(1)).then_some((symbol.name, offset))
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
