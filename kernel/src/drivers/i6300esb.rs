//! The Intel 6300ESB watchdog timer (QEMU `-device i6300esb`), PCI 8086:25ab.
//!
//! Two stages count down at about 1 kHz (PCI clock / 2^15); when the second expires the
//! machine is reset. Writing the reload register (after the two-byte unlock sequence) restarts
//! stage one. A flag in the reload register survives that reset and tells the next boot the
//! watchdog caused it. Registers are never locked, so RayOS can disarm it again.

use crate::drivers::pci::{self, PciFunction};
use crate::mm;

const VENDOR: u16 = 0x8086;
const DEVICE: u16 = 0x25AB;
/// PCI configuration registers.
const CONFIG: u16 = 0x60;
const LOCK: u16 = 0x68;
/// Memory-mapped registers.
const PRELOAD_1: usize = 0x00;
const PRELOAD_2: usize = 0x04;
const RELOAD: usize = 0x0C;
const UNLOCK_1: u16 = 0x80;
const UNLOCK_2: u16 = 0x86;
const RELOAD_PING: u16 = 1 << 8;
const RELOAD_TIMEOUT_FLAG: u16 = 1 << 9;
const LOCK_ENABLE: u8 = 1 << 1;
/// Config: reboot on expiry (bit 5 clear), 1 kHz clock (bit 2 clear), no stage-1 interrupt.
const CONFIG_VALUE: u16 = 0b11;
/// One tick at the 1 kHz setting: 2^15 periods of the 33 MHz PCI clock, in microseconds.
const TICK_US: u64 = 983;
const MAX_PRELOAD: u32 = 0xF_FFFF;
/// The longest timeout the two 20-bit stages can count (about 2061 s).
pub const MAX_TIMEOUT_MS: u64 = 2 * MAX_PRELOAD as u64 * TICK_US / 1000;

#[derive(Debug, Clone, Copy)]
pub struct I6300esb {
    function: PciFunction,
    registers: u64,
}

impl I6300esb {
    /// Finds and maps the device.
    pub fn probe() -> Option<I6300esb> {
        let function = *pci::functions().iter().find(|f| f.vendor_id == VENDOR && f.device_id == DEVICE)?;
        let base = pci::bar_address(&function, 0)?;
        pci::enable_memory_and_dma(&function);
        let registers = mm::map::map_mmio(base, 16).ok()?;
        Some(I6300esb { function, registers })
    }

    fn write16(&self, offset: usize, value: u16) {
        // SAFETY: `registers` maps the device's 16-byte register window.
        unsafe { core::ptr::write_volatile((self.registers as usize + offset) as *mut u16, value) }
    }

    fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as in write16.
        unsafe { core::ptr::write_volatile((self.registers as usize + offset) as *mut u32, value) }
    }

    fn read16(&self, offset: usize) -> u16 {
        // SAFETY: as in write16.
        unsafe { core::ptr::read_volatile((self.registers as usize + offset) as *const u16) }
    }

    /// Unlocks the registers for one write and makes it. The two steps run with interrupts off:
    /// a thread switch in between could let another unlock-then-write (the petting thread's)
    /// consume the unlock, and this write would be silently ignored.
    fn unlocked_write(&self, offset: usize, value: u32, width_bytes: u8) {
        crate::arch::without_interrupts(|| {
            self.write16(RELOAD, UNLOCK_1);
            self.write16(RELOAD, UNLOCK_2);
            match width_bytes {
                2 => self.write16(offset, value as u16),
                _ => self.write32(offset, value),
            }
        })
    }

    /// Whether the watchdog reset the machine last time; clears the flag.
    pub fn take_previous_reset(&self) -> bool {
        let fired = self.read16(RELOAD) & RELOAD_TIMEOUT_FLAG != 0;
        if fired {
            self.unlocked_write(RELOAD, RELOAD_TIMEOUT_FLAG as u32, 2);
        }
        fired
    }

    /// Starts counting: the machine resets `timeout_ms` (at most [`MAX_TIMEOUT_MS`]) after the
    /// last [`Self::pet`].
    pub fn arm(&self, timeout_ms: u64) {
        let f = &self.function;
        let stage_ticks = ((timeout_ms * 1000 / 2) / TICK_US).clamp(1, MAX_PRELOAD as u64) as u32;
        crate::arch::without_interrupts(|| {
            pci::write_config_u8(f.bus, f.device, f.function, LOCK, 0);
            pci::write_config_u16(f.bus, f.device, f.function, CONFIG, CONFIG_VALUE);
            self.unlocked_write(PRELOAD_1, stage_ticks, 4);
            self.unlocked_write(PRELOAD_2, stage_ticks, 4);
            pci::write_config_u8(f.bus, f.device, f.function, LOCK, LOCK_ENABLE);
            self.pet();
        })
    }

    /// Restarts the countdown.
    pub fn pet(&self) {
        self.unlocked_write(RELOAD, RELOAD_PING as u32, 2);
    }

    pub fn disarm(&self) {
        let f = &self.function;
        pci::write_config_u8(f.bus, f.device, f.function, LOCK, 0);
    }
}
