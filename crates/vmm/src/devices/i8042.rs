//! A minimal i8042 keyboard controller (ports 0x60/0x64) with no keyboard or mouse attached.
//!
//! The FADT tells Linux there is no 8042, so Linux skips the probe entirely; this model exists
//! so that anything else that pokes the ports (a bootloader, a reboot path) gets quick,
//! consistent answers: controller self-test passes, port tests report a clock-line fault (no
//! device), commands to a device time out, and pulse-reset (0xFE, or an output-port write
//! with bit 0 clear) asks the VMM to reset the VM.

use alloc::collections::VecDeque;

const STATUS_OUTPUT_FULL: u8 = 1 << 0;
const STATUS_SYSTEM: u8 = 1 << 2;
const STATUS_COMMAND: u8 = 1 << 3;
const STATUS_UNLOCKED: u8 = 1 << 4;
const STATUS_TIMEOUT: u8 = 1 << 6;
const OUTPUT_QUEUE_BYTES: usize = 16;

/// What a write to the controller asks of the VMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I8042Action {
    /// Nothing beyond the register change.
    None,
    /// The guest pulsed the CPU reset line.
    Reset,
}

/// The controller state.
#[derive(Debug, Clone)]
pub struct I8042 {
    output: VecDeque<u8>,
    command_byte: u8,
    output_port: u8,
    /// The command whose data byte the next write to 0x60 carries.
    pending_command: Option<u8>,
    last_was_command: bool,
    timeout: bool,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    /// After firmware initialisation: translation on, both ports disabled, interrupts off.
    pub fn new() -> Self {
        Self {
            output: VecDeque::new(),
            command_byte: 0x74,
            output_port: 0x03,
            pending_command: None,
            last_was_command: false,
            timeout: false,
        }
    }

    fn push(&mut self, byte: u8) {
        if self.output.len() < OUTPUT_QUEUE_BYTES {
            self.output.push_back(byte);
        }
    }

    /// Reads port 0x60 (data) or 0x64 (status).
    pub fn read(&mut self, port: u16) -> u8 {
        if port == 0x60 {
            return self.output.pop_front().unwrap_or(0);
        }
        let mut status = STATUS_SYSTEM | STATUS_UNLOCKED;
        if !self.output.is_empty() {
            status |= STATUS_OUTPUT_FULL;
        }
        if self.last_was_command {
            status |= STATUS_COMMAND;
        }
        if self.timeout {
            status |= STATUS_TIMEOUT;
        }
        status
    }

    /// Writes port 0x60 (data) or 0x64 (command).
    pub fn write(&mut self, port: u16, value: u8) -> I8042Action {
        if port == 0x64 {
            self.last_was_command = true;
            self.timeout = false;
            return self.command(value);
        }
        self.last_was_command = false;
        match self.pending_command.take() {
            Some(0x60) => self.command_byte = value,
            Some(0xD1) => {
                self.output_port = value;
                if value & 1 == 0 {
                    return I8042Action::Reset;
                }
            }
            // Write-to-output-buffer commands echo the byte back as if a device sent it.
            Some(0xD2 | 0xD3) => self.push(value),
            // 0xD4 (to the mouse) and plain data (to the keyboard): no device answers.
            _ => self.timeout = true,
        }
        I8042Action::None
    }

    fn command(&mut self, command: u8) -> I8042Action {
        match command {
            0x20 => self.push(self.command_byte),
            0x60 | 0xD1 | 0xD2 | 0xD3 | 0xD4 => self.pending_command = Some(command),
            0xA7 => self.command_byte |= 0x20,
            0xA8 => self.command_byte &= !0x20,
            0xAD => self.command_byte |= 0x10,
            0xAE => self.command_byte &= !0x10,
            0xA9 | 0xAB => self.push(0x02), // port test: clock line stuck low, nothing attached
            0xAA => self.push(0x55),        // controller self-test passed
            0xD0 => self.push(self.output_port),
            0xFE => return I8042Action::Reset,
            0xF0..=0xFD if command & 1 == 0 => return I8042Action::Reset,
            _ => {}
        }
        I8042Action::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers() {
        let mut k = I8042::new();
        assert_eq!(k.read(0x64) & STATUS_OUTPUT_FULL, 0);
        k.write(0x64, 0xAA);
        assert_ne!(k.read(0x64) & STATUS_OUTPUT_FULL, 0);
        assert_eq!(k.read(0x60), 0x55);
        k.write(0x64, 0x20);
        assert_eq!(k.read(0x60), 0x74);
        k.write(0x64, 0x60);
        k.write(0x60, 0x47);
        k.write(0x64, 0x20);
        assert_eq!(k.read(0x60), 0x47);
        k.write(0x64, 0xAB);
        assert_eq!(k.read(0x60), 0x02);
        k.write(0x60, 0xFF); // keyboard reset: nobody answers
        assert_ne!(k.read(0x64) & STATUS_TIMEOUT, 0);
        assert_eq!(k.read(0x64) & STATUS_OUTPUT_FULL, 0);
    }

    #[test]
    fn reset_paths() {
        let mut k = I8042::new();
        assert_eq!(k.write(0x64, 0xFE), I8042Action::Reset);
        assert_eq!(k.write(0x64, 0xD1), I8042Action::None);
        assert_eq!(k.write(0x60, 0x02), I8042Action::Reset);
        assert_eq!(k.write(0x64, 0xFF), I8042Action::None, "0xFF pulses nothing");
    }

    #[test]
    fn output_queue_is_bounded() {
        let mut k = I8042::new();
        for _ in 0..100 {
            k.write(0x64, 0xAA);
        }
        assert_eq!(k.output.len(), OUTPUT_QUEUE_BYTES);
    }
}
