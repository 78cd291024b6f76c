//! The console: one text stream shown on the serial port and on the screen, and one input
//! stream fed by the serial port and the PS/2 keyboard.
//!
//! Output is written to the serial line at once and into the screen's cell grid; the screen
//! is redrawn by [`flush_screen`] (before the shell waits for input, and by the console thread
//! a few times per second), so printing many lines costs one redraw, not one per line.

use alloc::collections::VecDeque;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::drivers::fbcon::FbConsole;
use crate::drivers::serial::{Serial, COM1};
use crate::sync::IrqMutex;
use crate::task::WaitQueue;

struct Console {
    serial: Serial,
    screen: Option<FbConsole>,
    /// Whether the last byte written ended a line.
    at_line_start: bool,
}

static CONSOLE: IrqMutex<Console> =
    IrqMutex::new(Console { serial: Serial::new(COM1), screen: None, at_line_start: true });
static SCREEN_DIRTY: AtomicBool = AtomicBool::new(false);

/// Input bytes not yet read by the shell; beyond this many, new bytes are dropped.
const INPUT_CAPACITY: usize = 64 * 1024;
static INPUT: IrqMutex<VecDeque<u8>> = IrqMutex::new(VecDeque::new());
static INPUT_WAITERS: WaitQueue = WaitQueue::new();
static INPUT_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Sets up the serial port (the first thing the kernel does).
pub fn init_serial() {
    CONSOLE.lock().serial.init();
}

pub fn serial() -> Serial {
    CONSOLE.lock().serial
}

/// Starts mirroring the console on the screen.
pub fn attach_screen(screen: FbConsole) {
    let mut console = CONSOLE.lock();
    console.screen = Some(screen);
    SCREEN_DIRTY.store(true, Ordering::Relaxed);
}

struct Writer<'a>(&'a mut Console);

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(&last) = s.as_bytes().last() {
            self.0.at_line_start = last == b'\n';
        }
        self.0.serial.write_text(s.as_bytes());
        if let Some(screen) = self.0.screen.as_mut() {
            screen.write_bytes(s.as_bytes());
            SCREEN_DIRTY.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Prints formatted text on every console (used by `print!`).
pub fn print(args: fmt::Arguments<'_>) {
    let mut console = CONSOLE.lock();
    let _ = Writer(&mut console).write_fmt(args);
}

/// Prints a whole line on every console, starting a new line first if the cursor is not at
/// the start of one (output from background threads must not run into the prompt, and a
/// marker must start its line).
pub fn print_line(args: fmt::Arguments<'_>) {
    let mut console = CONSOLE.lock();
    if !console.at_line_start {
        let _ = Writer(&mut console).write_str("\n");
    }
    let _ = Writer(&mut console).write_fmt(args);
    let _ = Writer(&mut console).write_str("\n");
}

/// Writes raw bytes (already terminal-encoded, e.g. line-editor echo) to every console.
pub fn write_bytes(bytes: &[u8]) {
    let mut console = CONSOLE.lock();
    if let Some(&last) = bytes.last() {
        console.at_line_start = last == b'\n';
    }
    for &b in bytes {
        console.serial.write_byte(b);
    }
    if let Some(screen) = console.screen.as_mut() {
        screen.write_bytes(bytes);
        SCREEN_DIRTY.store(true, Ordering::Relaxed);
    }
}

/// Redraws what changed on the screen.
pub fn flush_screen() {
    if SCREEN_DIRTY.swap(false, Ordering::Relaxed) {
        if let Some(screen) = CONSOLE.lock().screen.as_mut() {
            screen.flush();
        }
    }
}

/// Clears the screen and the serial terminal.
pub fn clear() {
    let mut console = CONSOLE.lock();
    for &b in b"\x1b[2J\x1b[H" {
        console.serial.write_byte(b);
    }
    console.at_line_start = true;
    if let Some(screen) = console.screen.as_mut() {
        screen.clear();
        SCREEN_DIRTY.store(true, Ordering::Relaxed);
    }
}

/// A writer for the fatal-error path: it breaks the console lock (the holder will never run
/// again) and draws the screen after every line.
pub struct EmergencyWriter;

pub fn emergency_writer() -> EmergencyWriter {
    crate::arch::disable_interrupts();
    // SAFETY: called only on the fatal path with interrupts off; whoever held the lock was
    // interrupted for good, so nothing will touch the console concurrently.
    unsafe { crate::sync::break_lock(&CONSOLE) };
    if let Some(screen) = CONSOLE.lock().screen.as_mut() {
        screen.forget_what_is_drawn();
    }
    EmergencyWriter
}

impl Write for EmergencyWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut console = CONSOLE.lock();
        let _ = Writer(&mut console).write_str(s);
        if s.contains('\n') {
            if let Some(screen) = console.screen.as_mut() {
                screen.flush();
            }
        }
        Ok(())
    }
}

/// Adds input bytes (from interrupt handlers) and wakes the reader.
pub fn push_input(bytes: &[u8]) {
    {
        let mut input = INPUT.lock();
        for &b in bytes {
            if input.len() < INPUT_CAPACITY {
                input.push_back(b);
            } else {
                INPUT_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    INPUT_WAITERS.wake_all();
}

/// Blocks until input is available, then moves up to `buf.len()` bytes into `buf`.
pub fn read_input(buf: &mut [u8]) -> usize {
    read_input_unless(buf, || false)
}

/// Like [`read_input`], but returns 0 without input once `stop()` holds (whoever makes it
/// true calls [`wake_readers`]).
pub fn read_input_unless(buf: &mut [u8], mut stop: impl FnMut() -> bool) -> usize {
    crate::task::wait_until(&INPUT_WAITERS, || !INPUT.lock().is_empty() || stop());
    let mut input = INPUT.lock();
    let n = buf.len().min(input.len());
    for (slot, b) in buf.iter_mut().zip(input.drain(..n)) {
        *slot = b;
    }
    n
}

/// Wakes threads blocked in [`read_input_unless`] so that they check their stop condition.
pub fn wake_readers() {
    INPUT_WAITERS.wake_all();
}

/// The serial receive interrupt: drains the UART's FIFO.
pub fn serial_interrupt(_frame: &mut crate::arch::InterruptFrame) {
    let serial = COM1_READER;
    let mut bytes = [0u8; 64];
    let mut n = 0;
    while n < bytes.len() {
        match serial.read_byte() {
            Some(b) => {
                bytes[n] = b;
                n += 1;
            }
            None => break,
        }
    }
    if n > 0 {
        push_input(&bytes[..n]);
    }
}

/// A handle on COM1 for the receive path (register reads need no console lock).
const COM1_READER: Serial = Serial::present(COM1);

/// The console thread: keeps the screen current while nobody waits for input.
pub fn screen_thread() -> ! {
    loop {
        flush_screen();
        crate::task::sleep_ms(50);
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::print_line(format_args!($($arg)*)));
}
