//! The CMOS real-time clock (read once at boot).

use rayos_hw::rtc::{DateTime, RtcRegisters};

use crate::arch::{inb, outb};

fn read_register(register: u8) -> u8 {
    // SAFETY: the CMOS index/data ports; bit 7 of the index (NMI disable) stays clear.
    unsafe {
        outb(0x70, register & 0x7F);
        inb(0x71)
    }
}

fn update_in_progress() -> bool {
    read_register(0x0A) & 0x80 != 0
}

fn snapshot(century_register: Option<u8>) -> RtcRegisters {
    RtcRegisters {
        seconds: read_register(0x00),
        minutes: read_register(0x02),
        hours: read_register(0x04),
        day: read_register(0x07),
        month: read_register(0x08),
        year: read_register(0x09),
        century: century_register.map(read_register),
        status_b: read_register(0x0B),
    }
}

/// Reads the date and time, retrying until two reads agree outside an update cycle.
pub fn read(century_register: Option<u8>) -> Option<DateTime> {
    for _ in 0..10 {
        let mut spins = 0;
        while update_in_progress() && spins < 1_000_000 {
            spins += 1;
            core::hint::spin_loop();
        }
        let first = snapshot(century_register);
        let second = snapshot(century_register);
        if first == second {
            return first.decode();
        }
    }
    None
}
