//! The PS/2 keyboard behind the i8042 controller. Key presses become the same bytes a
//! terminal would send (arrows as `ESC [ A` ...), fed into the console input.

use pc_keyboard::{layouts, DecodedKey, HandleControl, KeyCode, PS2Keyboard as Keyboard, ScancodeSet1};

use crate::arch::{inb, outb};
use crate::sync::IrqMutex;

const DATA: u16 = 0x60;
const STATUS_COMMAND: u16 = 0x64;
const STATUS_OUTPUT_FULL: u8 = 1;
const STATUS_INPUT_FULL: u8 = 2;

static KEYBOARD: IrqMutex<Option<Keyboard<layouts::Us104Key, ScancodeSet1>>> = IrqMutex::new(None);

fn wait_input_empty() -> bool {
    for _ in 0..100_000 {
        // SAFETY: reading the i8042 status register has no side effects.
        if unsafe { inb(STATUS_COMMAND) } & STATUS_INPUT_FULL == 0 {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// Enables the keyboard interrupt in the controller (the firmware left the keyboard in scan
/// code set 2 with translation, so bytes arrive as set 1). Returns false without a controller.
pub fn init() -> bool {
    // SAFETY: the i8042 ports; a missing controller reads 0xFF.
    unsafe {
        if inb(STATUS_COMMAND) == 0xFF {
            return false;
        }
        for _ in 0..32 {
            if inb(STATUS_COMMAND) & STATUS_OUTPUT_FULL == 0 {
                break;
            }
            let _ = inb(DATA);
        }
        if !wait_input_empty() {
            return false;
        }
        outb(STATUS_COMMAND, 0x20); // read configuration byte
        let mut config = None;
        for _ in 0..100_000 {
            if inb(STATUS_COMMAND) & STATUS_OUTPUT_FULL != 0 {
                config = Some(inb(DATA));
                break;
            }
        }
        let Some(config) = config else { return false };
        // Port 1 interrupt on, port 1 clock on, translation on.
        let config = (config | 0x01 | 0x40) & !0x10;
        if !wait_input_empty() {
            return false;
        }
        outb(STATUS_COMMAND, 0x60);
        if !wait_input_empty() {
            return false;
        }
        outb(DATA, config);
    }
    *KEYBOARD.lock() =
        Some(Keyboard::new(ScancodeSet1::new(), layouts::Us104Key, HandleControl::MapLettersToUnicode));
    true
}

/// The bytes a terminal sends for `key`.
fn bytes_for(key: DecodedKey, out: &mut [u8; 8]) -> usize {
    let sequence: &[u8] = match key {
        DecodedKey::Unicode('\n') => b"\r",
        DecodedKey::Unicode('\u{8}') => b"\x7f",
        DecodedKey::Unicode(c) => {
            let len = c.encode_utf8(&mut out[..4]).len();
            return len;
        }
        DecodedKey::RawKey(KeyCode::ArrowUp) => b"\x1b[A",
        DecodedKey::RawKey(KeyCode::ArrowDown) => b"\x1b[B",
        DecodedKey::RawKey(KeyCode::ArrowRight) => b"\x1b[C",
        DecodedKey::RawKey(KeyCode::ArrowLeft) => b"\x1b[D",
        DecodedKey::RawKey(KeyCode::Home) => b"\x1b[H",
        DecodedKey::RawKey(KeyCode::End) => b"\x1b[F",
        DecodedKey::RawKey(KeyCode::Delete) => b"\x1b[3~",
        DecodedKey::RawKey(_) => b"",
    };
    out[..sequence.len()].copy_from_slice(sequence);
    sequence.len()
}

/// The keyboard interrupt.
pub fn interrupt(_frame: &mut crate::arch::InterruptFrame) {
    // SAFETY: reading the data port acknowledges the byte the controller holds.
    let scancode = unsafe { inb(DATA) };
    let mut out = [0u8; 8];
    let mut len = 0;
    if let Some(keyboard) = KEYBOARD.lock().as_mut() {
        if let Ok(Some(event)) = keyboard.add_byte(scancode) {
            if let Some(key) = keyboard.process_keyevent(event) {
                len = bytes_for(key, &mut out);
            }
        }
    }
    if len > 0 {
        crate::console::push_input(&out[..len]);
    }
}
