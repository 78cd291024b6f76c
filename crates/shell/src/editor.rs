//! A line editor for a byte stream from a terminal.
//!
//! Understands: printable input (UTF-8 passes through), Enter as CR, LF or CRLF, backspace
//! (BS or DEL), Ctrl-C (cancel the line), Ctrl-U (erase the line), Ctrl-A/Ctrl-E (start/end),
//! the cursor keys as ANSI/VT sequences (`ESC [ A`, `ESC O A`, `ESC [ 3 ~` ...): left/right move
//! within the line, up/down walk the history, Home/End/Delete. Escape sequences never end up in
//! the line.
//!
//! Echo is written through a callback as bytes for a VT100-style terminal: the editor only
//! uses relative moves (`CSI n D`, `CSI n C`), erase-to-end-of-line (`CSI K`), `\r\n` and
//! backspace, so it works with any prompt in front of it.
//!
//! Lines that cannot be commands are reported when Enter is pressed, as a [`LineError`], and the
//! line is discarded: over [`MAX_LINE_BYTES`] bytes, invalid UTF-8, or control characters.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The longest line accepted; bytes beyond are dropped (not echoed) and the line is rejected.
pub const MAX_LINE_BYTES: usize = 4096;
/// How many lines the history keeps.
pub const HISTORY_LINES: usize = 64;
const MAX_ESCAPE_PARAMETER_BYTES: usize = 8;

/// Why a finished line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The line had `bytes` bytes, more than [`MAX_LINE_BYTES`].
    TooLong { bytes: usize },
    /// The line is not valid UTF-8 from byte offset `at`.
    InvalidUtf8 { at: usize },
    /// The line contained the control byte `byte` (first one, at byte offset `at`).
    ControlCharacter { byte: u8, at: usize },
}

impl LineError {
    /// A short code for markers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "line-too-long",
            Self::InvalidUtf8 { .. } => "invalid-utf8",
            Self::ControlCharacter { .. } => "control-character",
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { bytes } => {
                write!(f, "the line is {bytes} bytes long; the limit is {MAX_LINE_BYTES}. Nothing was run.")
            }
            Self::InvalidUtf8 { at } => {
                write!(f, "the line is not valid UTF-8 (from byte {}). Nothing was run.", at + 1)
            }
            Self::ControlCharacter { byte, at } => write!(
                f,
                "the line contains the control character 0x{byte:02x} at byte {}. Nothing was run.",
                at + 1
            ),
        }
    }
}

/// What a byte of input completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Enter was pressed on a good line (may be empty).
    Line(String),
    /// Enter was pressed on a line that cannot be run.
    Rejected(LineError),
    /// Ctrl-C: the line was abandoned.
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// Saw ESC.
    Start,
    /// Saw `ESC [` and `len` parameter bytes.
    Csi {
        params: [u8; MAX_ESCAPE_PARAMETER_BYTES],
        len: usize,
    },
    /// Saw `ESC O`.
    Ss3,
}

#[derive(Debug, Clone, Copy)]
enum Key {
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    Delete,
}

/// The editor's state for one terminal.
#[derive(Debug)]
pub struct LineEditor {
    line: Vec<u8>,
    cursor: usize,
    dropped_bytes: usize,
    first_control: Option<(u8, usize)>,
    escape: Escape,
    last_was_cr: bool,
    history: VecDeque<String>,
    history_position: Option<usize>,
    draft: Vec<u8>,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

impl LineEditor {
    pub fn new() -> LineEditor {
        LineEditor {
            line: Vec::new(),
            cursor: 0,
            dropped_bytes: 0,
            first_control: None,
            escape: Escape::None,
            last_was_cr: false,
            history: VecDeque::new(),
            history_position: None,
            draft: Vec::new(),
        }
    }

    /// The line being edited (bytes so far).
    pub fn current(&self) -> &[u8] {
        &self.line
    }

    /// Lines entered so far, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(String::as_str)
    }

    /// Feeds one input byte; `echo` receives what to show. Returns an event when a line ends.
    pub fn feed(&mut self, byte: u8, echo: &mut dyn FnMut(&[u8])) -> Option<Event> {
        let after_cr = core::mem::replace(&mut self.last_was_cr, false);
        match self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = match byte {
                    b'[' => Escape::Csi { params: [0; MAX_ESCAPE_PARAMETER_BYTES], len: 0 },
                    b'O' => Escape::Ss3,
                    _ => Escape::None,
                };
                if self.escape != Escape::None {
                    return None;
                }
                // A lone ESC: drop it and treat this byte normally.
            }
            Escape::Csi { mut params, len } => match byte {
                b'0'..=b'9' | b';' => {
                    if len < MAX_ESCAPE_PARAMETER_BYTES {
                        params[len] = byte;
                        self.escape = Escape::Csi { params, len: len + 1 };
                    } else {
                        self.escape = Escape::Csi { params, len };
                    }
                    return None;
                }
                0x40..=0x7E => {
                    self.escape = Escape::None;
                    let key = match (byte, &params[..len]) {
                        (b'A', _) => Some(Key::Up),
                        (b'B', _) => Some(Key::Down),
                        (b'C', _) => Some(Key::Right),
                        (b'D', _) => Some(Key::Left),
                        (b'H', _) => Some(Key::Home),
                        (b'F', _) => Some(Key::End),
                        (b'~', b"1" | b"7") => Some(Key::Home),
                        (b'~', b"4" | b"8") => Some(Key::End),
                        (b'~', b"3") => Some(Key::Delete),
                        _ => None,
                    };
                    if let Some(key) = key {
                        self.key(key, echo);
                    }
                    return None;
                }
                _ => {
                    // Not a valid sequence: abandon it, handle this byte normally.
                    self.escape = Escape::None;
                }
            },
            Escape::Ss3 => {
                self.escape = Escape::None;
                let key = match byte {
                    b'A' => Some(Key::Up),
                    b'B' => Some(Key::Down),
                    b'C' => Some(Key::Right),
                    b'D' => Some(Key::Left),
                    b'H' => Some(Key::Home),
                    b'F' => Some(Key::End),
                    _ => None,
                };
                if let Some(key) = key {
                    self.key(key, echo);
                }
                return None;
            }
        }

        match byte {
            b'\r' => {
                self.last_was_cr = true;
                Some(self.finish(echo))
            }
            b'\n' if after_cr => None,
            b'\n' => Some(self.finish(echo)),
            0x1B => {
                self.escape = Escape::Start;
                None
            }
            0x08 | 0x7F => {
                self.backspace(echo);
                None
            }
            0x03 => {
                echo(b"^C\r\n");
                self.reset();
                Some(Event::Cancelled)
            }
            0x15 => {
                self.replace_line(Vec::new(), echo);
                None
            }
            0x01 => {
                self.key(Key::Home, echo);
                None
            }
            0x05 => {
                self.key(Key::End, echo);
                None
            }
            b'\t' => {
                self.insert(b' ', echo);
                None
            }
            0x00..=0x1F => {
                if self.first_control.is_none() {
                    self.first_control = Some((byte, self.line.len() + self.dropped_bytes));
                }
                None
            }
            _ => {
                self.insert(byte, echo);
                None
            }
        }
    }

    fn columns(bytes: &[u8]) -> usize {
        bytes.iter().filter(|&&b| !is_continuation(b)).count()
    }

    fn move_left(echo: &mut dyn FnMut(&[u8]), columns: usize) {
        if columns > 0 {
            let mut buf = [0u8; 24];
            echo(format_csi(&mut buf, columns, b'D'));
        }
    }

    fn move_right(echo: &mut dyn FnMut(&[u8]), columns: usize) {
        if columns > 0 {
            let mut buf = [0u8; 24];
            echo(format_csi(&mut buf, columns, b'C'));
        }
    }

    fn insert(&mut self, byte: u8, echo: &mut dyn FnMut(&[u8])) {
        if self.line.len() >= MAX_LINE_BYTES {
            self.dropped_bytes += 1;
            return;
        }
        self.line.insert(self.cursor, byte);
        self.cursor += 1;
        let tail = &self.line[self.cursor..];
        echo(&[byte]);
        if !tail.is_empty() {
            // Keep the cursor after a whole character: continuation bytes complete it.
            let tail_start = tail.iter().position(|&b| !is_continuation(b)).unwrap_or(tail.len());
            echo(tail);
            Self::move_left(echo, Self::columns(&tail[tail_start..]));
        }
    }

    fn previous_boundary(&self, from: usize) -> usize {
        let mut at = from.saturating_sub(1);
        let mut steps = 0;
        while at > 0 && is_continuation(self.line[at]) && steps < 3 {
            at -= 1;
            steps += 1;
        }
        at
    }

    fn next_boundary(&self, from: usize) -> usize {
        let mut at = (from + 1).min(self.line.len());
        while at < self.line.len() && is_continuation(self.line[at]) {
            at += 1;
        }
        at
    }

    fn backspace(&mut self, echo: &mut dyn FnMut(&[u8])) {
        if self.cursor == 0 {
            return;
        }
        let start = self.previous_boundary(self.cursor);
        self.line.drain(start..self.cursor);
        self.cursor = start;
        let tail = &self.line[self.cursor..];
        echo(b"\x08");
        echo(tail);
        echo(b" ");
        Self::move_left(echo, Self::columns(tail) + 1);
    }

    fn delete(&mut self, echo: &mut dyn FnMut(&[u8])) {
        if self.cursor >= self.line.len() {
            return;
        }
        let end = self.next_boundary(self.cursor);
        self.line.drain(self.cursor..end);
        let tail = &self.line[self.cursor..];
        echo(tail);
        echo(b" ");
        Self::move_left(echo, Self::columns(tail) + 1);
    }

    fn replace_line(&mut self, new: Vec<u8>, echo: &mut dyn FnMut(&[u8])) {
        Self::move_left(echo, Self::columns(&self.line[..self.cursor]));
        echo(&new);
        echo(b"\x1b[K");
        self.cursor = new.len();
        self.line = new;
    }

    fn key(&mut self, key: Key, echo: &mut dyn FnMut(&[u8])) {
        match key {
            Key::Left => {
                if self.cursor > 0 {
                    self.cursor = self.previous_boundary(self.cursor);
                    Self::move_left(echo, 1);
                }
            }
            Key::Right => {
                if self.cursor < self.line.len() {
                    self.cursor = self.next_boundary(self.cursor);
                    Self::move_right(echo, 1);
                }
            }
            Key::Home => {
                Self::move_left(echo, Self::columns(&self.line[..self.cursor]));
                self.cursor = 0;
            }
            Key::End => {
                Self::move_right(echo, Self::columns(&self.line[self.cursor..]));
                self.cursor = self.line.len();
            }
            Key::Delete => self.delete(echo),
            Key::Up => {
                if self.history.is_empty() {
                    return;
                }
                let position = match self.history_position {
                    None => {
                        self.draft = self.line.clone();
                        self.history.len() - 1
                    }
                    Some(p) => p.saturating_sub(1),
                };
                self.history_position = Some(position);
                let line = self.history[position].as_bytes().to_vec();
                self.replace_line(line, echo);
            }
            Key::Down => {
                let Some(position) = self.history_position else { return };
                let line = if position + 1 < self.history.len() {
                    self.history_position = Some(position + 1);
                    self.history[position + 1].as_bytes().to_vec()
                } else {
                    self.history_position = None;
                    core::mem::take(&mut self.draft)
                };
                self.replace_line(line, echo);
            }
        }
    }

    fn reset(&mut self) {
        self.line.clear();
        self.cursor = 0;
        self.dropped_bytes = 0;
        self.first_control = None;
        self.escape = Escape::None;
        self.history_position = None;
        self.draft.clear();
    }

    fn finish(&mut self, echo: &mut dyn FnMut(&[u8])) -> Event {
        echo(b"\r\n");
        let event = if self.dropped_bytes > 0 {
            Event::Rejected(LineError::TooLong { bytes: self.line.len() + self.dropped_bytes })
        } else if let Some((byte, at)) = self.first_control {
            Event::Rejected(LineError::ControlCharacter { byte, at })
        } else {
            match core::str::from_utf8(&self.line) {
                Ok(text) => {
                    let text = String::from(text);
                    let trimmed = text.trim();
                    if !trimmed.is_empty() && self.history.back().map(String::as_str) != Some(trimmed) {
                        if self.history.len() == HISTORY_LINES {
                            self.history.pop_front();
                        }
                        self.history.push_back(String::from(trimmed));
                    }
                    Event::Line(text)
                }
                Err(error) => Event::Rejected(LineError::InvalidUtf8 { at: error.valid_up_to() }),
            }
        };
        self.reset();
        event
    }
}

/// Formats `ESC [ n <final>` into `buf`.
fn format_csi(buf: &mut [u8; 24], n: usize, final_byte: u8) -> &[u8] {
    buf[0] = 0x1B;
    buf[1] = b'[';
    let mut digits = [0u8; 20];
    let mut count = 0;
    let mut value = n;
    loop {
        digits[count] = b'0' + (value % 10) as u8;
        count += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for i in 0..count {
        buf[2 + i] = digits[count - 1 - i];
    }
    buf[2 + count] = final_byte;
    &buf[..3 + count]
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    fn run(editor: &mut LineEditor, input: &[u8]) -> (Vec<Event>, Vec<u8>) {
        let mut events = Vec::new();
        let mut echoed = Vec::new();
        for &b in input {
            if let Some(e) = editor.feed(b, &mut |bytes| echoed.extend_from_slice(bytes)) {
                events.push(e);
            }
        }
        (events, echoed)
    }

    fn lines(input: &[u8]) -> Vec<Event> {
        run(&mut LineEditor::new(), input).0
    }

    fn line(s: &str) -> Event {
        Event::Line(String::from(s))
    }

    #[test]
    fn cr_lf_and_crlf_each_end_one_line() {
        assert_eq!(lines(b"a\rb\nc\r\nd\n\r"), vec![line("a"), line("b"), line("c"), line("d"), line("")]);
    }

    #[test]
    fn backspace_and_delete_edit_utf8_characters() {
        assert_eq!(lines(b"abc\x08d\r"), vec![line("abd")]);
        assert_eq!(lines("h\u{e9}\x7f\x7fx\r".as_bytes()), vec![line("x")]);
        assert_eq!(lines(b"\x08\x08ok\r"), vec![line("ok")]);
        // Left twice, delete, end, append.
        assert_eq!(lines(b"abcd\x1b[D\x1b[D\x1b[3~\x1b[Fz\r"), vec![line("abdz")]);
    }

    #[test]
    fn cursor_keys_move_and_insert() {
        assert_eq!(lines(b"ac\x1b[Db\r"), vec![line("abc")]);
        assert_eq!(lines(b"bc\x01a\x05d\r"), vec![line("abcd")]);
        assert_eq!(lines(b"bc\x1bOHa\r"), vec![line("abc")]);
    }

    #[test]
    fn escape_sequences_never_leak_into_the_line() {
        assert_eq!(lines(b"ab\x1b[A\x1b[B\x1b[5~\x1b[1;5C\x1b[99999999999Z\r"), vec![line("ab")]);
        // A lone ESC followed by a normal byte keeps the byte.
        assert_eq!(lines(b"\x1bxy\r"), vec![line("xy")]);
    }

    #[test]
    fn history_walks_up_and_down() {
        let mut editor = LineEditor::new();
        let (events, _) = run(&mut editor, b"one\rtwo\r\x1b[A\x1b[A\r");
        assert_eq!(events, vec![line("one"), line("two"), line("one")]);
        let (events, _) = run(&mut editor, b"dr\x1b[A\x1b[B\r");
        assert_eq!(events, vec![line("dr")]);
        assert_eq!(editor.history().collect::<Vec<_>>(), vec!["one", "two", "one", "dr"]);
    }

    #[test]
    fn bad_lines_are_rejected_with_reasons() {
        assert_eq!(
            lines(b"ab\x00c\r"),
            vec![Event::Rejected(LineError::ControlCharacter { byte: 0, at: 2 })]
        );
        assert_eq!(lines(b"a\xff\xfe\r"), vec![Event::Rejected(LineError::InvalidUtf8 { at: 1 })]);
        let long = vec![b'x'; 10_000];
        let mut input = long.clone();
        input.push(b'\r');
        input.extend_from_slice(b"ok\r");
        assert_eq!(lines(&input), vec![Event::Rejected(LineError::TooLong { bytes: 10_000 }), line("ok")]);
    }

    #[test]
    fn ctrl_c_cancels() {
        assert_eq!(lines(b"abc\x03x\r"), vec![Event::Cancelled, line("x")]);
    }

    #[test]
    fn echo_shows_typed_text_and_erasures() {
        let (_, echoed) = run(&mut LineEditor::new(), b"ab\x08\r");
        assert_eq!(echoed, b"ab\x08 \x1b[1D\r\n");
    }

    proptest! {
        #[test]
        fn any_bytes_are_handled(input in proptest::collection::vec(any::<u8>(), 0..6000)) {
            let mut editor = LineEditor::new();
            let (events, _) = run(&mut editor, &input);
            prop_assert!(editor.current().len() <= MAX_LINE_BYTES);
            prop_assert!(editor.history().count() <= HISTORY_LINES);
            for event in events {
                if let Event::Line(text) = event {
                    prop_assert!(text.len() <= MAX_LINE_BYTES);
                    prop_assert!(!text.bytes().any(|b| b < 0x20 || b == 0x7f), "{:?}", text);
                }
            }
        }
    }
}
