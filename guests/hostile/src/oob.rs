//! Case `oob`: reads and writes guest-physical addresses outside RAM, round after round.
//!
//! A correct VMM stops the VM at the first one (the address just past the end of RAM); the
//! rest only run on a VMM that lets the guest continue, and each is announced before it is
//! tried, so the console shows which access ended the VM.

use crate::paging::{physical_address_bits, virtual_address};
use crate::{println, probe};

/// What the guest writes to addresses it does not own.
const GARBAGE: u64 = 0xBAD0_C0DE_DEAD_BEEF;
/// The highest RAM size the loader accepts (the MMIO hole starts at 3 GiB).
const RAM_LIMIT_BYTES: u64 = 0xC000_0000;

#[derive(Clone, Copy)]
enum Access {
    /// `mov` of 8 bytes.
    Plain64,
    /// `mov` of 4 bytes.
    Plain32,
    /// `rep movsb` from the address / `rep stosb` to it, 16 bytes.
    String,
}

unsafe extern "C" {
    /// One past the guest's last byte (linker script).
    static __stack_top: u8;
}

pub fn run(ram_bytes: u64) -> ! {
    println!("HOSTILE:oob:START:ram_bytes={ram_bytes:#x}");
    let image_end = &raw const __stack_top as u64;
    // A VMM that passed a wrong RAM size must not make the guest attack its own image.
    let ram_end = if ram_bytes >= image_end && ram_bytes <= RAM_LIMIT_BYTES && ram_bytes.is_multiple_of(4096)
    {
        Some(ram_bytes)
    } else {
        println!("HOSTILE:oob:BAD_RAM_SIZE:{ram_bytes:#x}");
        None
    };
    let phys_bits = physical_address_bits();
    let phys_top = if phys_bits < 52 { 1u64 << phys_bits } else { 1u64 << 52 };
    println!("HOSTILE:oob:PHYS_BITS:{phys_bits}");

    let mut targets: [(&str, u64, Access); 11] = [
        ("past_ram_end", 0, Access::Plain64),
        ("straddle_ram_end", 0, Access::Plain64),
        ("string_past_ram_end", 0, Access::String),
        ("mmio_hole", 0xC000_0000, Access::Plain32),
        ("xapic_id", 0xFEE0_0020, Access::Plain32),
        ("ioapic_page_end_straddle", 0xFEC0_0FFC, Access::Plain64),
        ("below_4g", 0xFFFF_F000, Access::Plain64),
        ("at_4g", 0x1_0000_0000, Access::Plain64),
        ("at_1t", 1 << 40, Access::Plain64),
        ("top_of_physical", phys_top - 0x1000, Access::Plain64),
        ("past_maxphyaddr", phys_top, Access::Plain64),
    ];
    if let Some(end) = ram_end {
        targets[0].1 = end;
        targets[1].1 = end - 4;
        targets[2].1 = end;
    }

    let mut round = 0u64;
    loop {
        round += 1;
        for &(name, gpa, access) in &targets {
            if gpa == 0 || (name == "past_maxphyaddr" && phys_bits >= 52) {
                continue;
            }
            let va = virtual_address(gpa);
            println!("HOSTILE:oob:READ:{name}:{gpa:#x}");
            let outcome = read(va, access);
            println!("HOSTILE:oob:READ_DONE:{name}:{outcome}");
            let va = virtual_address(gpa);
            println!("HOSTILE:oob:WRITE:{name}:{gpa:#x}");
            let outcome = write(va, access);
            println!("HOSTILE:oob:WRITE_DONE:{name}:{outcome}");
        }
        println!("HOSTILE:oob:ROUND:{round}:SURVIVED");
    }
}

fn read(va: u64, access: Access) -> crate::traps::Outcome {
    let mut buffer = [0u8; 16];
    match access {
        // SAFETY: reads an address outside guest RAM into a register; a fault resumes after it.
        Access::Plain64 => unsafe { probe!(["mov {value}, [{va}]"], va = in(reg) va, value = out(reg) _) },
        // SAFETY: as above, 4 bytes.
        Access::Plain32 => unsafe { probe!(["mov {value:e}, [{va}]"], va = in(reg) va, value = out(reg) _) },
        // SAFETY: copies 16 bytes from outside RAM into a local buffer of 16 bytes; rdi, rsi
        // and rcx are declared clobbered.
        Access::String => unsafe {
            probe!(
                ["cld", "rep movsb"],
                inout("rsi") va => _,
                inout("rdi") buffer.as_mut_ptr() => _,
                inout("rcx") buffer.len() => _,
            )
        },
    }
}

fn write(va: u64, access: Access) -> crate::traps::Outcome {
    match access {
        // SAFETY: writes an address outside guest RAM (never the guest's own memory).
        Access::Plain64 => unsafe {
            probe!(["mov [{va}], {value}"], va = in(reg) va, value = in(reg) GARBAGE)
        },
        // SAFETY: as above, 4 bytes.
        Access::Plain32 => unsafe {
            probe!(["mov [{va}], {value:e}"], va = in(reg) va, value = in(reg) GARBAGE as u32)
        },
        // SAFETY: stores 16 bytes outside guest RAM; rdi and rcx are declared clobbered.
        Access::String => unsafe {
            probe!(
                ["cld", "rep stosb"],
                inout("rdi") va => _,
                inout("rcx") 16usize => _,
                in("al") 0xA5u8,
            )
        },
    }
}
