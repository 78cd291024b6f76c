//! The 8254 programmable interval timer: only channel 0 as a periodic interrupt source (the
//! software watchdog's NMI tick); nothing else in RayOS uses the PIT.

use crate::arch;

/// The PIT's input clock.
const PIT_HZ: u64 = 1_193_182;

/// Channel 0 as a rate generator (mode 2) at `hz`, clamped to what its divisor can count.
pub fn start_rate_generator(hz: u64) {
    let divisor = (PIT_HZ / hz).clamp(1, 65535) as u16;
    // SAFETY: the PIT's mode and channel-0 data ports; nothing else in RayOS uses the PIT.
    unsafe {
        arch::outb(0x43, 0b0011_0100); // channel 0, low then high byte, mode 2
        arch::outb(0x40, divisor as u8);
        arch::outb(0x40, (divisor >> 8) as u8);
    }
}
