//! Lines on the 16550 UART at 0x3F8 (COM1), which the VMM forwards to RayOS.

use core::fmt;

use crate::port::{inb, outb};

/// COM1's transmit register.
pub const COM1: u16 = 0x3F8;
/// COM1's last register; the I/O flood leaves 0x3F8..=0x3FF alone.
pub const COM1_LAST: u16 = COM1 + 7;
const LINE_STATUS: u16 = COM1 + 5;
const TRANSMIT_EMPTY: u8 = 1 << 5;
/// How often to poll for an empty transmitter before writing anyway: a VMM whose UART never
/// reports empty must not hang the guest.
const POLL_LIMIT: u32 = 1000;

/// The console; `println!` writes here.
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                put(b'\r');
            }
            put(byte);
        }
        Ok(())
    }
}

fn put(byte: u8) {
    for _ in 0..POLL_LIMIT {
        if inb(LINE_STATUS) & TRANSMIT_EMPTY != 0 {
            break;
        }
    }
    outb(COM1, byte);
}

/// Prints one line on the console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Console, $($arg)*);
    }};
}
