//! The RayOS marker vocabulary.
//!
//! A marker is one ASCII line `RAYOS_<AREA>:<EVENT>[:<field>...]` that an operation prints
//! so that a machine can follow what happened without a person watching the screen. The
//! loader, the kernel and the QEMU test harness all take their markers from this crate, so a
//! marker a test waits for cannot drift from the one the kernel prints.
//!
//! # Invariants
//! - Every marker the system prints is declared here as a [`MarkerSpec`] and listed in
//!   [`VOCABULARY`].
//! - A rendered marker is a single line of printable ASCII: fields are sanitised so that a
//!   field can never contain `:`, a line break or a non-ASCII byte (each becomes `_`).
#![no_std]
#![forbid(unsafe_code)]

use core::fmt::{self, Display, Write};

/// One kind of marker: its fixed prefix, the names of its fields and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerSpec {
    /// The fixed part, e.g. `RAYOS_SHELL:OK`.
    pub prefix: &'static str,
    /// Field names, in order, e.g. `["command"]`.
    pub fields: &'static [&'static str],
    /// One line for people: when the marker is printed.
    pub meaning: &'static str,
}

impl MarkerSpec {
    /// Renders this marker with the given field values (sanitised).
    pub fn with<'a>(&'a self, values: &'a [&'a dyn Display]) -> Marker<'a> {
        Marker { spec: self, values }
    }

    /// If `line` is an instance of this marker, returns its fields.
    ///
    /// A marker without fields matches only the exact prefix; a marker with fields matches
    /// `prefix:` followed by anything, and [`Fields`] splits it. Leading and trailing
    /// whitespace (such as a `\r` left by a serial line) is ignored.
    pub fn parse<'l>(&self, line: &'l str) -> Option<Fields<'l>> {
        let line = line.trim();
        let rest = line.strip_prefix(self.prefix)?;
        if self.fields.is_empty() {
            return rest.is_empty().then_some(Fields { rest: "" });
        }
        let rest = rest.strip_prefix(':')?;
        Some(Fields { rest })
    }

    /// The pattern shown to people, e.g. `RAYOS_SHELL:OK:<command>`.
    pub fn pattern(&self) -> Pattern<'_> {
        Pattern(self)
    }
}

/// Display adapter for [`MarkerSpec::pattern`].
pub struct Pattern<'a>(&'a MarkerSpec);

impl Display for Pattern<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.prefix)?;
        for name in self.0.fields {
            write!(f, ":<{name}>")?;
        }
        Ok(())
    }
}

/// The fields of a parsed marker line.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'l> {
    rest: &'l str,
}

impl<'l> Fields<'l> {
    /// Field `index` (0-based), if present.
    pub fn get(&self, index: usize) -> Option<&'l str> {
        self.rest.split(':').nth(index)
    }

    /// All fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'l str> {
        let rest = self.rest;
        rest.split(':').filter(move |_| !rest.is_empty())
    }
}

/// A marker with its values, ready to print with `{}`; it renders without a line break.
pub struct Marker<'a> {
    spec: &'a MarkerSpec,
    values: &'a [&'a dyn Display],
}

impl Display for Marker<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec.prefix)?;
        for value in self.values {
            f.write_char(':')?;
            write!(Sanitize(f), "{value}")?;
        }
        Ok(())
    }
}

/// Replaces every byte that may not appear in a marker field with `_`.
struct Sanitize<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for Sanitize<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            self.0.write_char(sanitize_char(c))?;
        }
        Ok(())
    }
}

/// The character a marker field shows for `c`.
pub const fn sanitize_char(c: char) -> char {
    match c {
        ':' => '_',
        ' '..='~' => c,
        _ => '_',
    }
}

macro_rules! markers {
    ($( $(#[$doc:meta])* $name:ident = $prefix:literal [$($field:literal),*] $meaning:literal; )*) => {
        $( $(#[$doc])* pub const $name: MarkerSpec = MarkerSpec {
            prefix: $prefix,
            fields: &[$($field),*],
            meaning: $meaning,
        }; )*
        /// Every marker RayOS prints, in the order they are documented.
        pub const VOCABULARY: &[MarkerSpec] = &[$($name),*];
    };
}

markers! {
    LOADER_START = "RAYOS_BOOT_MARKER:LOADER_START" []
        "the UEFI loader started";
    KERNEL_LOADED = "RAYOS_BOOT_MARKER:KERNEL_LOADED" ["bytes", "sha256"]
        "the loader read and verified the kernel file";
    KERNEL_INVALID = "RAYOS_BOOT_MARKER:KERNEL_INVALID" ["why"]
        "the kernel file is missing or corrupt; the loader stops";
    KERNEL_ENTRY = "RAYOS_BOOT_MARKER:KERNEL_ENTRY" []
        "the kernel took over from the loader";
    SHELL_READY = "RAYOS_BOOT_MARKER:SHELL_READY" []
        "the shell prints its first prompt";
    FLOOR = "RAYOS_BOOT_MARKER:FLOOR" []
        "the firmware-floor benchmark app started (not part of RayOS)";
    SHELL_OK = "RAYOS_SHELL:OK" ["command"]
        "a shell command finished successfully";
    SHELL_ERR = "RAYOS_SHELL:ERR" ["command", "reason"]
        "a shell command failed; reason is a short code";
    SHELL_CONFIRM = "RAYOS_SHELL:CONFIRM" ["command"]
        "a command waits for the user to confirm (type yes, or y for [y/N] questions)";
    PANIC = "RAYOS_PANIC" ["kind", "rip"]
        "the kernel stopped on a panic or a fatal CPU exception";
    STORAGE_DISK = "RAYOS_STORAGE:DISK" ["name", "bytes"]
        "`disks` lists a disk";
    LOG_MOUNTED = "RAYOS_LOG:MOUNTED" ["records", "boot"]
        "the persistent log on RAYOS-DATA is mounted; this boot's number";
    LOG_RECOVERED = "RAYOS_LOG:RECOVERED" ["valid", "discarded"]
        "records read back at mount, and records discarded as damaged or incomplete";
    LOG_RAM_ONLY = "RAYOS_LOG:RAM_ONLY" ["why"]
        "no usable RAYOS-DATA partition: the kernel log stays in RAM";
    LOG_DURABLE = "RAYOS_LOG:DURABLE" ["tag", "count"]
        "`debug logflood`: the first <count> records tagged <tag> are on disk";
    CRASH_PREVIOUS = "RAYOS_CRASH:PREVIOUS" ["kind", "boot"]
        "the previous boot ended in a crash or a watchdog reset";
    CRASH_RECORDED = "RAYOS_CRASH:RECORDED" ["kind", "crash"]
        "a crash record was written to RAYOS-DATA";
    CRASH_NOT_RECORDED = "RAYOS_CRASH:NOT_RECORDED" ["why"]
        "a crash could not be recorded on disk";
    WATCHDOG_ARMED = "RAYOS_WATCHDOG:ARMED" ["seconds", "source"]
        "the watchdog is armed (source hw: i6300esb, sw: software)";
    WATCHDOG_DISARMED = "RAYOS_WATCHDOG:DISARMED" []
        "the watchdog was disarmed";
    WATCHDOG_FIRED = "RAYOS_WATCHDOG:FIRED" ["source", "rip"]
        "the software watchdog found the kernel hung and resets the machine";
    INTENT = "RAYOS_INTENT" ["intent", "confidence", "command"]
        "System 2 read a plain-language line: intent label, confidence 0..1, canonical command or -";
    SYSTEM2_READY = "RAYOS_SYSTEM2:READY" ["load_ms", "check_ms", "misread"]
        "System 2 loaded at boot and read every intent's own description; misread counts those read as another intent";
    VM_UNSUPPORTED = "RAYOS_VM:UNSUPPORTED" ["why"]
        "this CPU cannot run guests (no SVM, no nested paging, or disabled)";
    VM_STARTING = "RAYOS_VM:STARTING" ["name"]
        "a VM is being set up";
    VM_RUNNING = "RAYOS_VM:RUNNING" ["name"]
        "a VM's guest code runs";
    VM_GUEST_READY = "RAYOS_VM:GUEST_READY" ["name"]
        "the guest printed RAYOS_GUEST:READY on its console";
    VM_STOPPED = "RAYOS_VM:STOPPED" ["name", "reason"]
        "a VM stopped (poweroff, reset, halted, killed, triple-fault or a fault name)";
    VM_FAULT = "RAYOS_VM:FAULT" ["name", "reason"]
        "a VM was stopped because it did something RayOS does not allow or cannot emulate";
    GUEST_READY = "RAYOS_GUEST:READY" []
        "printed by the Linux guest's init on its own console (seen in `vm output`)";
    BENCH_RESULT = "RAYOS_BENCH:RESULT" ["name", "value", "unit"]
        "a benchmark command measured one figure";
}

/// What is put before a line of guest (untrusted) output that starts like a marker, so that
/// a guest cannot print lines that scripts and tests would take for RayOS's own markers.
pub const UNTRUSTED_LINE_PREFIX: &str = "guest| ";

/// The start every marker line has.
const MARKER_START: &[u8] = b"RAYOS_";

/// Whether a line of untrusted text would pass for a marker.
pub fn looks_like_marker(line: &str) -> bool {
    line.as_bytes().starts_with(MARKER_START)
}

fn is_line_break(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Defuses marker lines in a stream of untrusted bytes (a guest's console), chunk by chunk:
/// a line that starts with `RAYOS_` gets [`UNTRUSTED_LINE_PREFIX`] in front; everything else
/// passes unchanged. Bytes that may begin such a line are held until the next chunk decides.
#[derive(Debug, Clone)]
pub struct UntrustedLines {
    /// How many bytes of [`MARKER_START`] the current line has matched and held back, or
    /// `None` once the line can no longer be one.
    matched: Option<usize>,
}

impl Default for UntrustedLines {
    fn default() -> Self {
        Self::new()
    }
}

impl UntrustedLines {
    pub const fn new() -> Self {
        UntrustedLines { matched: Some(0) }
    }

    /// Passes `input` on to `out` (in one or more pieces).
    pub fn filter(&mut self, input: &[u8], out: &mut impl FnMut(&[u8])) {
        let mut start = 0;
        for (i, &b) in input.iter().enumerate() {
            match self.matched {
                Some(n) if b == MARKER_START[n] => {
                    out(&input[start..i]);
                    start = i + 1;
                    if n + 1 == MARKER_START.len() {
                        out(UNTRUSTED_LINE_PREFIX.as_bytes());
                        out(MARKER_START);
                        self.matched = None;
                    } else {
                        self.matched = Some(n + 1);
                    }
                }
                Some(n) => {
                    // Not a marker after all: give back what was held, then carry on.
                    out(&input[start..i]);
                    out(&MARKER_START[..n]);
                    start = i;
                    self.matched = is_line_break(b).then_some(0);
                }
                None if is_line_break(b) => self.matched = Some(0),
                None => {}
            }
        }
        out(&input[start..]);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn filtered(chunks: &[&[u8]]) -> std::string::String {
        let mut filter = UntrustedLines::new();
        let mut out = std::vec::Vec::new();
        for chunk in chunks {
            filter.filter(chunk, &mut |piece: &[u8]| out.extend_from_slice(piece));
        }
        std::string::String::from_utf8(out).unwrap()
    }

    #[test]
    fn untrusted_marker_lines_are_prefixed_even_across_chunks() {
        assert_eq!(filtered(&[b"RAYOS_VM:STOPPED:linux\n"]), "guest| RAYOS_VM:STOPPED:linux\n");
        assert_eq!(filtered(&[b"ok\r\nRAY", b"OS_SHELL:OK:x\n"]), "ok\r\nguest| RAYOS_SHELL:OK:x\n");
        assert_eq!(filtered(&[b"R", b"A", b"YOS_"]), "guest| RAYOS_");
    }

    #[test]
    fn other_text_passes_unchanged() {
        for text in ["Reading\nRAYO\n", "RRAYOS_x\n", "say RAYOS_X\n", "RAYOSx", "", "\n\nR"] {
            let all_but_held = filtered(&[text.as_bytes(), b"\n"]);
            assert_eq!(all_but_held, std::format!("{text}\n"), "{text:?}");
        }
        // Bytes held at the end of a chunk come out with the next one.
        assert_eq!(filtered(&[b"RA", b"M\n"]), "RAM\n");
    }
    use std::string::ToString;

    #[test]
    fn renders_and_parses_back() {
        let line = SHELL_ERR.with(&[&"echo", &"bad-args"]).to_string();
        assert_eq!(line, "RAYOS_SHELL:ERR:echo:bad-args");
        let fields = SHELL_ERR.parse(&line).unwrap();
        assert_eq!(fields.get(0), Some("echo"));
        assert_eq!(fields.get(1), Some("bad-args"));
        assert!(SHELL_OK.parse(&line).is_none());
    }

    #[test]
    fn fieldless_marker_matches_exactly() {
        assert!(SHELL_READY.parse("RAYOS_BOOT_MARKER:SHELL_READY\r").is_some());
        assert!(SHELL_READY.parse("RAYOS_BOOT_MARKER:SHELL_READY_NOT").is_none());
        assert_eq!(SHELL_READY.parse("RAYOS_BOOT_MARKER:SHELL_READY").unwrap().iter().count(), 0);
    }

    #[test]
    fn fields_are_sanitised_to_one_ascii_line() {
        let line = SHELL_ERR.with(&[&"a:b\nc\u{e9}", &"x\ry"]).to_string();
        assert_eq!(line, "RAYOS_SHELL:ERR:a_b_c_:x_y");
        assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)));
    }

    #[test]
    fn patterns_name_their_fields() {
        assert_eq!(KERNEL_LOADED.pattern().to_string(), "RAYOS_BOOT_MARKER:KERNEL_LOADED:<bytes>:<sha256>");
    }

    #[test]
    fn vocabulary_prefixes_are_unique_and_well_formed() {
        for (i, a) in VOCABULARY.iter().enumerate() {
            assert!(a.prefix.starts_with("RAYOS_"), "{}", a.prefix);
            assert!(a
                .prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b':'));
            for b in &VOCABULARY[i + 1..] {
                assert_ne!(a.prefix, b.prefix);
            }
        }
    }
}
