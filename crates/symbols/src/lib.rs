//! The function symbols of an ELF file, sorted by address, and the lookup of an address in
//! them. The kernel reads its own file with it for backtraces (allocation-free lookups, so
//! the fault path can use them); `cargo xtask profile` reads the kernel file with it to name
//! the samples it takes from outside the machine.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use xmas_elf::sections::SectionData;
use xmas_elf::symbol_table::{Entry, Type};
use xmas_elf::ElfFile;

/// One function: where it starts, how many bytes it covers (at least 1) and its mangled name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub address: u64,
    pub size: u64,
    pub name: &'a str,
}

/// Why an ELF file's symbols could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolsError {
    NotElf,
    NoSymbolTable,
}

/// The function symbols of `elf`, sorted by address (functions at address 0 left out).
pub fn function_symbols(elf: &[u8]) -> Result<Vec<Symbol<'_>>, SymbolsError> {
    let file = ElfFile::new(elf).map_err(|_| SymbolsError::NotElf)?;
    let section = file.find_section_by_name(".symtab").ok_or(SymbolsError::NoSymbolTable)?;
    let mut symbols = Vec::new();
    if let Ok(SectionData::SymbolTable64(entries)) = section.get_data(&file) {
        for entry in entries {
            if entry.get_type() == Ok(Type::Func) && entry.value() != 0 {
                if let Ok(name) = entry.get_name(&file) {
                    symbols.push(Symbol { address: entry.value(), size: entry.size().max(1), name });
                }
            }
        }
    }
    symbols.sort_unstable_by_key(|s| s.address);
    Ok(symbols)
}

/// The symbol that starts last at or below `address`, whatever its size.
pub fn at_or_before<'s, 'a>(symbols: &'s [Symbol<'a>], address: u64) -> Option<&'s Symbol<'a>> {
    let index = symbols.partition_point(|s| s.address <= address).checked_sub(1)?;
    Some(&symbols[index])
}

/// The function containing `address` and the offset into it.
pub fn lookup<'s, 'a>(symbols: &'s [Symbol<'a>], address: u64) -> Option<(&'s Symbol<'a>, u64)> {
    let symbol = at_or_before(symbols, address)?;
    let offset = address - symbol.address;
    (offset < symbol.size).then_some((symbol, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_cover_a_function_only() {
        let symbols = [
            Symbol { address: 0x1000, size: 0x10, name: "a" },
            Symbol { address: 0x2000, size: 0x20, name: "b" },
        ];
        assert_eq!(lookup(&symbols, 0x1000).map(|(s, o)| (s.name, o)), Some(("a", 0)));
        assert_eq!(lookup(&symbols, 0x100f).map(|(s, o)| (s.name, o)), Some(("a", 0xf)));
        assert_eq!(lookup(&symbols, 0x1010), None);
        assert_eq!(at_or_before(&symbols, 0x1010).map(|s| s.name), Some("a"));
        assert_eq!(lookup(&symbols, 0x201f).map(|(s, _)| s.name), Some("b"));
        assert_eq!(lookup(&symbols, 0xfff), None);
    }

    #[test]
    fn non_elf_input_is_refused() {
        assert_eq!(function_symbols(b"not an elf file at all").err(), Some(SymbolsError::NotElf));
    }
}
