//! Entity slots: typed values found in a request and resolved against live state.
//!
//! Extraction is rule-based over the normalised words (plus the raw text for quoted search
//! terms, VM names and boot entry names), because the values are closed forms (numbers,
//! durations, device names, ordinals) that rules read exactly where a model would only
//! approximate. Keywords are matched on the typo-corrected words ("contianing" still marks a
//! search term); values a person typed (search terms, VM names) are copied from the words as
//! typed, since a name is not a typo of the nearest dictionary word ("nvme" is not "name").
//! Every slot is extracted independently; the engine then keeps only the slots the chosen
//! intent takes (see the intent table), so a number in "arm the watchdog for 2 min" cannot leak
//! into an unrelated slot.
//!
//! Conventions: a log level is read only when the request names one ("errors", "warnings",
//! "failures", "debug"): "why did the last boot fail" asks for the log of the previous boot,
//! not for its errors alone. A bare number names a boot after "boot", "crash" or "panic"
//! ("crash 5"), a line count after "tail" or "last", and a watchdog timeout in seconds after
//! "arm", "timeout" or "watchdog" ("arm wd 60").

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use crate::text::edit_distance_capped;

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Errors only.
    Error,
    /// Warnings and worse.
    Warn,
    /// Informational and worse.
    Info,
    /// Everything.
    Debug,
}

impl Level {
    /// `error`, `warn`, `info` or `debug`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// Parses the spellings people use ("errors", "warning", "err", ...).
    pub fn from_word(word: &str) -> Option<Level> {
        word_value!(word,
            "error" | "errors" | "err" | "errs" | "erros" | "eror" | "errror" | "fatal" | "critical"
            | "crit" | "failure" | "failures" => Level::Error,
            "warn" | "warning" | "warnings" | "warns" | "warnigns" | "warnign" => Level::Warn,
            "info" | "infos" | "informational" => Level::Info,
            "debug" | "verbose" | "trace" => Level::Debug,
        )
    }
}

/// One disk as the kernel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    /// Device name, e.g. `vda`.
    pub name: String,
    /// Capacity in bytes.
    pub size_bytes: u64,
    /// 1-based position in the kernel's disk list ("disk 2", "the second disk").
    pub index: u32,
}

/// Live kernel state that entities are resolved against.
pub trait World {
    /// Registered VM names, e.g. `["linux", "hostile"]`.
    fn vm_names(&self) -> Vec<String>;
    /// Attached disks.
    fn disks(&self) -> Vec<DiskInfo>;
    /// Boot manager entry names.
    fn boot_entries(&self) -> Vec<String>;
    /// The number of the running boot, when known.
    fn current_boot(&self) -> Option<u64>;
}

/// A world with nothing in it: only the built-in names (`linux`, `windows`) resolve.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyWorld;

impl World for EmptyWorld {
    fn vm_names(&self) -> Vec<String> {
        Vec::new()
    }
    fn disks(&self) -> Vec<DiskInfo> {
        Vec::new()
    }
    fn boot_entries(&self) -> Vec<String> {
        Vec::new()
    }
    fn current_boot(&self) -> Option<u64> {
        None
    }
}

/// The typed slots of a reading. Absent slots are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entities {
    /// A VM name (`linux`, `windows` or a registered name).
    pub vm: Option<String>,
    /// A resolved disk device name, e.g. `vda`.
    pub disk: Option<String>,
    /// A boot: positive = absolute boot number, negative = relative (-1 = the previous boot).
    pub boot: Option<i64>,
    /// A log level.
    pub level: Option<Level>,
    /// A duration in seconds.
    pub seconds: Option<u64>,
    /// A search term.
    pub text: Option<String>,
    /// A text the records shown must not contain: a search term the request negates ("logs
    /// not mentioning usb", "errors that don't say timeout", "except lines about usb").
    pub exclude: Option<String>,
    /// A boot manager entry.
    pub entry: Option<String>,
    /// A number of lines or records ("the last 20 lines").
    pub count: Option<u64>,
    /// A number of the oldest lines or records ("the first 20 lines", "the 10 oldest
    /// entries"): `count` counts the newest.
    pub head: Option<u64>,
    /// How many records before the newest ("the crash before the last one" is 1).
    pub back: Option<u64>,
    /// A target (slot `vm`, `disk` or `entry`, and the value) the request names only as one
    /// to leave out ("stop all vms except linux", "install on any disk but vda"): that slot is then
    /// empty, and no command should be made from the reading without asking which one.
    pub excluded: Option<(&'static str, String)>,
}

impl Entities {
    /// True when no slot is set.
    pub fn is_empty(&self) -> bool {
        *self == Entities::default()
    }

    /// The value of slot `name` as the command line spells it (quoted when it has spaces).
    pub fn value(&self, name: &str) -> Option<String> {
        match name {
            "vm" => self.vm.as_deref().map(quote_arg),
            "disk" => self.disk.as_deref().map(quote_arg),
            "boot" => self.boot.map(|b| b.to_string()),
            "level" => self.level.map(|l| String::from(l.as_str())),
            "seconds" => self.seconds.map(|s| s.to_string()),
            "text" => self.text.as_deref().map(quote_arg),
            "exclude" => self.exclude.as_deref().map(quote_arg),
            "entry" => self.entry.as_deref().map(quote_arg),
            "count" => self.count.map(|c| c.to_string()),
            "head" => self.head.map(|c| c.to_string()),
            "back" => self.back.map(|c| c.to_string()),
            _ => None,
        }
    }

    /// A JSON object with only the present slots, e.g. `{"vm":"linux","boot":-1}`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        let mut field = |name: &str, value: String| {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "\"{name}\":{value}");
        };
        if let Some(v) = &self.vm {
            field("vm", json_string(v));
        }
        if let Some(v) = &self.disk {
            field("disk", json_string(v));
        }
        if let Some(v) = self.boot {
            field("boot", v.to_string());
        }
        if let Some(v) = self.level {
            field("level", json_string(v.as_str()));
        }
        if let Some(v) = self.seconds {
            field("seconds", v.to_string());
        }
        if let Some(v) = &self.text {
            field("text", json_string(v));
        }
        if let Some(v) = &self.exclude {
            field("exclude", json_string(v));
        }
        if let Some(v) = &self.entry {
            field("entry", json_string(v));
        }
        if let Some(v) = self.count {
            field("count", v.to_string());
        }
        if let Some(v) = self.head {
            field("head", v.to_string());
        }
        if let Some(v) = self.back {
            field("back", v.to_string());
        }
        out.push('}');
        out
    }
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A slot's value as one word of a shell command line: bare when it is plain, else in double
/// quotes with `"` and `\` escaped, which the shell's splitter (`rayos_shell::args::split`)
/// turns back into the value as typed.
fn quote_arg(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "-_./:".contains(c)) {
        return String::from(s);
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

const UNITS: [(&str, u64); 4] = [("zero", 0), ("a", 1), ("an", 1), ("no", 0)];

fn unit_word(word: &str) -> Option<u64> {
    word_value!(word,
        "zero" => 0,
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
    )
}

fn tens_word(word: &str) -> Option<u64> {
    word_value!(word,
        "twenty" => 20,
        "thirty" => 30,
        "forty" | "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
    )
}

fn digits(word: &str) -> Option<u64> {
    if word.is_empty() || word.len() > 12 || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// A number written with digits or words starting at `words[i]`: its value and word count.
pub fn number_at(words: &[&str], i: usize) -> Option<(u64, usize)> {
    let first = *words.get(i)?;
    if let Some(n) = digits(first) {
        return Some((n, 1));
    }
    let mut total = 0u64;
    let mut current = 0u64;
    let mut used = 0;
    let mut seen_number = false;
    while let Some(&w) = words.get(i + used) {
        if let Some(v) = unit_word(w).or_else(|| tens_word(w)) {
            current = current.saturating_add(v);
        } else if w == "hundred" && (seen_number || used == 0) {
            current = current.max(1).saturating_mul(100);
        } else if w == "thousand" && (seen_number || used == 0) {
            total = total.saturating_add(current.max(1).saturating_mul(1000));
            current = 0;
        } else if w == "and"
            && seen_number
            && words.get(i + used + 1).is_some_and(|n| unit_word(n).or_else(|| tens_word(n)).is_some())
        {
            // "two hundred and five"
        } else {
            break;
        }
        seen_number = true;
        used += 1;
    }
    if !seen_number {
        return None;
    }
    Some((total.saturating_add(current), used))
}

/// An ordinal ("second", "2nd") at `words[i]`.
pub fn ordinal_at(words: &[&str], i: usize) -> Option<u64> {
    let w = *words.get(i)?;
    let named = word_value!(w,
        "first" | "primary" => 1,
        "second" | "secondary" => 2,
        "third" => 3,
        "fourth" => 4,
        "fifth" => 5,
        "sixth" => 6,
        "seventh" => 7,
        "eighth" => 8,
        "ninth" => 9,
        "tenth" => 10,
    );
    if named.is_some() {
        return named;
    }
    for suffix in ["st", "nd", "rd", "th"] {
        if let Some(n) = w.strip_suffix(suffix).and_then(digits) {
            return Some(n);
        }
    }
    None
}

fn time_unit_seconds(word: &str) -> Option<u64> {
    word_value!(word,
        "s" | "sec" | "secs" | "second" | "seconds" | "seconde" | "secnds" | "seconsd" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" | "minuts" | "minites" | "mn" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" | "hous" | "hors" => 3600,
        "d" | "day" | "days" => 86_400,
    )
}

/// `"30s"`, `"2min"`, `"1h30m"` as seconds.
fn compact_duration(word: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut rest = word;
    let mut parts = 0;
    while !rest.is_empty() {
        let digit_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digit_end == 0 || digit_end > 9 {
            return None;
        }
        let n: u64 = rest[..digit_end].parse().ok()?;
        rest = &rest[digit_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = time_unit_seconds(&rest[..unit_end])?;
        total = total.saturating_add(n.saturating_mul(unit));
        rest = &rest[unit_end..];
        parts += 1;
    }
    (parts > 0).then_some(total)
}

/// One duration at `words[i]`: its seconds and word count.
fn duration_at(words: &[&str], i: usize) -> Option<(u64, usize)> {
    let w = *words.get(i)?;
    if let Some(s) = compact_duration(w) {
        return Some((s, 1));
    }
    // "a quarter of an hour", "quarter hour"
    if w == "quarter" {
        let mut at = i + 1;
        while words.get(at).is_some_and(|w| matches!(*w, "of" | "a" | "an")) {
            at += 1;
        }
        return time_unit_seconds(words.get(at)?).filter(|&u| u >= 60).map(|u| (u / 4, at + 1 - i));
    }
    if w == "half" {
        // "half an hour", "half hour"
        let next = *words.get(i + 1)?;
        if matches!(next, "a" | "an") {
            return time_unit_seconds(words.get(i + 2)?).map(|u| (u / 2, 3));
        }
        return time_unit_seconds(next).filter(|_| next.len() > 1).map(|u| (u / 2, 2));
    }
    let (n, used) = match UNITS.iter().find(|(name, _)| *name == w) {
        Some(&(_, v)) if v > 0 => (v, 1),
        _ => number_at(words, i)?,
    };
    let and_a_half = |at: usize| words.get(at..at + 3) == Some(&["and", "a", "half"][..]);
    // "2 and a half minutes"
    if and_a_half(i + used) {
        let unit = time_unit_seconds(words.get(i + used + 3)?)?;
        return Some((n.saturating_mul(2).saturating_add(1).saturating_mul(unit) / 2, used + 4));
    }
    let unit = time_unit_seconds(words.get(i + used)?)?;
    // "a minute and a half"
    if and_a_half(i + used + 1) {
        return Some((n.saturating_mul(unit).saturating_add(unit / 2), used + 4));
    }
    Some((n.saturating_mul(unit), used + 1))
}

/// The text with the thousands separators of its numbers taken out ("1,500 seconds" is
/// "1500 seconds"; the words would read "1" and "500"), or `None` when it has none.
fn without_thousands_separators(normalized: &str) -> Option<String> {
    let bytes = normalized.as_bytes();
    // Most requests have none: no copy is made for them.
    if !bytes.windows(3).any(|w| w[0].is_ascii_digit() && w[1] == b',' && w[2].is_ascii_digit()) {
        return None;
    }
    let group_at = |at: usize| {
        bytes.get(at) == Some(&b',')
            && bytes.get(at + 1..at + 4).is_some_and(|g| g.iter().all(u8::is_ascii_digit))
            && !bytes.get(at + 4).is_some_and(u8::is_ascii_digit)
    };
    let mut out = String::with_capacity(normalized.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let starts_number =
            bytes[i].is_ascii_digit() && (i == 0 || !matches!(bytes[i - 1], b'0'..=b'9' | b',' | b'.'));
        if !starts_number {
            let c = normalized[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let lead = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut end = i + lead;
        while lead <= 3 && group_at(end) {
            end += 4;
        }
        changed |= end > i + lead;
        out.extend(normalized[i..end].chars().filter(|&c| c != ','));
        i = end;
    }
    changed.then_some(out)
}

/// A duration written with a decimal point ("1.5 minutes", "0.5h", "arm wd 2.5") or as
/// minutes and seconds ("for 2:30"), in
/// seconds, rounded to the nearest. The words lose the point ("1", "5"), and read alone they
/// gave "5 minutes" for "1.5 minutes" and 5 seconds for "90.5 seconds", so it is read from
/// the normalised text. Version-like numbers ("1.2.3") are none.
fn decimal_seconds(normalized: &str) -> Option<u64> {
    use crate::text::TokenKind::{Punct, Word};
    let bytes = normalized.as_bytes();
    if !bytes
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && matches!(w[1], b'.' | b',' | b':') && w[2].is_ascii_digit())
    {
        return None;
    }
    let tokens = crate::text::split(normalized);
    let text = |i: usize| tokens.get(i).map_or("", |t| &normalized[t.start..t.end]);
    let touching = |i: usize| tokens.get(i + 1).is_some_and(|next| tokens[i].end == next.start);
    // A decimal comma too ("1,5 minutes"), where one or two digits follow it (three make a
    // thousands separator).
    let is_point = |i: usize| {
        tokens.get(i).is_some_and(|t| t.kind == Punct)
            && (text(i) == "."
                || text(i) == ","
                    && (1..=2).contains(&text(i + 1).bytes().take_while(u8::is_ascii_digit).count()))
    };
    for i in 0..tokens.len() {
        // "arm the watchdog for 2:30" (minutes and seconds; hours and minutes before "hours").
        // Only after a word that asks for a duration: "at 5:30" is a time of day.
        if let (Some(high), ":", Some(low)) = (digits(text(i)), text(i + 1), digits(text(i + 2))) {
            let before = if i > 0 { text(i - 1) } else { "" };
            let asks_duration = one_of!(before, "for" | "arm" | "timeout" | "watchdog" | "wd" | "to");
            if touching(i) && touching(i + 1) && text(i + 2).len() == 2 && low < 60 && asks_duration {
                let hours = time_unit_seconds(text(i + 3)) == Some(3600);
                return Some(if hours { high * 3600 + low * 60 } else { high * 60 + low });
            }
        }
        let (Some(whole), true, true) = (digits(text(i)), is_point(i + 1), touching(i) && touching(i + 1))
        else {
            continue;
        };
        let fraction_word = text(i + 2);
        let fraction_end = fraction_word.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction_word.len());
        let (fraction, attached_unit) = fraction_word.split_at(fraction_end);
        let version_like =
            (i >= 2 && is_point(i - 1) && touching(i - 2)) || (is_point(i + 3) && touching(i + 2));
        if fraction.is_empty() || fraction.len() > 9 || tokens[i + 2].kind != Word || version_like {
            continue;
        }
        let before = if i > 0 { text(i - 1) } else { "" };
        let unit = if !attached_unit.is_empty() {
            time_unit_seconds(attached_unit)
        } else {
            time_unit_seconds(text(i + 3))
                .or_else(|| one_of!(before, "arm" | "timeout" | "watchdog" | "wd" | "dog").then_some(1))
        };
        let Some(unit) = unit else { continue };
        if starts_a_boot(before) {
            continue;
        }
        let scale = 10u64.pow(fraction.len() as u32);
        let fraction: u64 = fraction.parse().ok()?;
        let part = (fraction.saturating_mul(unit).saturating_mul(2) + scale) / (2 * scale);
        return Some(whole.saturating_mul(unit).saturating_add(part));
    }
    None
}

/// Whether a request asks for its action later: "in 10 minutes", "after an hour", "within
/// 5 min", "in ten", "in a few minutes", "10 minutes from now", "wait 5 minutes then".
pub fn asks_for_later(words: &[&str]) -> bool {
    let vague = |at: usize| matches!(words.get(at..at + 2), Some([a, b]) if matches!(*a, "a" | "some") && one_of!(*b, "few" | "couple" | "bit" | "while"));
    (0..words.len()).any(|i| match words[i] {
        "in" | "after" | "within" => {
            duration_at(words, i + 1).is_some()
                || number_at(words, i + 1).is_some_and(|(n, _)| n <= 1000)
                || vague(i + 1)
        }
        "wait" => duration_at(words, i + 1).is_some(),
        // "10 minutes from now" (looked for only where "from now" is)
        _ => {
            let from_now = |at: usize| words.get(at..at + 2) == Some(&["from", "now"][..]);
            (from_now(i + 2) || from_now(i + 3))
                && duration_at(words, i).is_some_and(|(_, used)| from_now(i + used))
        }
    })
}

/// The first duration in `words` (adjacent parts summed: "1 hour 30 minutes").
pub fn find_seconds(words: &[&str]) -> Option<u64> {
    let mut i = 0;
    while i < words.len() {
        // "boot 10's log": a number after "boot" or "crash" names a boot, whatever follows.
        if i > 0 && one_of!(words[i - 1], "boot" | "boots" | "crash" | "panic" | "number") {
            i += 1;
            continue;
        }
        if let Some((mut total, mut used)) = duration_at(words, i) {
            loop {
                let mut next = i + used;
                if words.get(next) == Some(&"and") {
                    next += 1;
                }
                match duration_at(words, next) {
                    Some((more, more_used)) => {
                        total = total.saturating_add(more);
                        used = next - i + more_used;
                    }
                    None => break,
                }
            }
            // "the first 3 minutes" (and "the first 1 hour 30 minutes") of a boot are no span
            // back from now, which is what a duration fills (`--since`), and no command
            // takes them.
            // (Before the whole part of a decimal the words split: "the first 1.5 minutes".)
            let whole_part = i > 1 && digits(words[i - 1]).is_some();
            if i > 0 && (starts_a_boot(words[i - 1]) || whole_part && starts_a_boot(words[i - 2])) {
                i += used;
                continue;
            }
            // "from 30 seconds to 2 minutes": the value it goes to ("from 2 hours ago to 1
            // hour ago" is a window, which starts at the first).
            if i > 0 && words[i - 1] == "from" && words.get(i + used) == Some(&"to") {
                if let Some(to) = find_seconds(&words[i + used + 1..]) {
                    return Some(to);
                }
            }
            return Some(total);
        }
        // "in the last hour", "past day": one unit.
        if matches!(words[i], "last" | "past" | "previous") {
            if let Some(unit) = words.get(i + 1).and_then(|w| time_unit_seconds(w)) {
                if words[i + 1].len() > 1 {
                    // "the last hour and a half"
                    let half = words.get(i + 2..i + 5) == Some(&["and", "a", "half"][..]);
                    return Some(if half { unit + unit / 2 } else { unit });
                }
            }
        }
        i += 1;
    }
    bare_timeout_seconds(words)
}

/// Whether a duration after this word counts from the start of a boot ("the first 3 minutes").
fn starts_a_boot(word: &str) -> bool {
    one_of!(word, "first" | "initial" | "opening" | "earliest")
}

/// "arm wd 60", "watchdog arm 45", "timeout 90": a number without a unit right after a
/// watchdog word is the timeout in seconds, the unit of `watchdog arm <seconds>`.
fn bare_timeout_seconds(words: &[&str]) -> Option<u64> {
    let is_watchdog_word = |w: &str| one_of!(w, "arm" | "timeout" | "watchdog" | "wd" | "dog");
    for i in 1..words.len() {
        // Also after "for", "to" or "at" that follows a watchdog word: "arm the watchdog for
        // 600", "set the watchdog timeout to 90".
        let after_preposition = one_of!(words[i - 1], "for" | "to" | "at" | "with" | "be" | "of")
            && words[..i - 1].iter().rev().take(4).any(|w| is_watchdog_word(w));
        if !is_watchdog_word(words[i - 1]) && !after_preposition {
            continue;
        }
        if let Some((n, used)) = number_at(words, i) {
            let next = words.get(i + used).copied().unwrap_or("");
            if size_unit_bytes(next).is_none() && !one_of!(next, "boot" | "boots" | "lines" | "times") {
                return Some(n);
            }
        }
    }
    None
}

fn is_boot_word(word: &str) -> bool {
    one_of!(
        word,
        "boot"
            | "boots"
            | "bootup"
            | "startup"
            | "session"
            | "run"
            | "reboot"
            | "restart"
            | "start"
            | "boto"
            | "bot"
    )
}

/// The boot a request refers to: absolute (`boot 7`) or relative (`last boot` = -1).
pub fn find_boot(words: &[&str], world: &dyn World) -> Option<i64> {
    for i in 0..words.len() {
        let w = words[i];
        // "crash 5", "crash show 5", "panic 3": crash records are named by their boot.
        if one_of!(w, "crash" | "crashes" | "panic" | "panics") {
            let mut j = i + 1;
            while j < i + 3
                && words.get(j).is_some_and(|n| {
                    one_of!(
                        *n,
                        "show"
                            | "in"
                            | "of"
                            | "from"
                            | "for"
                            | "at"
                            | "on"
                            | "report"
                            | "record"
                            | "dump"
                            | "details"
                    )
                })
            {
                j += 1;
            }
            if words.get(j).is_some_and(|n| one_of!(*n, "boot" | "number" | "no" | "#")) {
                j += 1;
            }
            if let Some((n, used)) = number_at(words, j) {
                let next = words.get(j + used).copied().unwrap_or("");
                if time_unit_seconds(next).is_none() && !matches!(next, "times" | "crashes" | "boots") {
                    return Some(n.min(i64::MAX as u64) as i64);
                }
            }
        }
        if matches!(w, "boot" | "boots" | "boot#") {
            // "boot 7", "boot number 7", "boot no 7"
            let mut j = i + 1;
            if words.get(j).is_some_and(|n| one_of!(*n, "number" | "no" | "num" | "nr" | "id" | "#")) {
                j += 1;
            }
            if let Some((n, _)) = number_at(words, j) {
                return Some(n.min(i64::MAX as u64) as i64);
            }
        }
        // "2 boots ago", "two boots back"; dictated, "to boots ago" is "two boots ago".
        let spoken_two = matches!(w, "to" | "too").then_some((2, 1));
        if let Some((n, used)) = number_at(words, i).or(spoken_two) {
            if words.get(i + used).is_some_and(|b| matches!(*b, "boot" | "boots" | "reboots"))
                && words.get(i + used + 1).is_some_and(|a| matches!(*a, "ago" | "back" | "before"))
            {
                return Some(-(n.min(1000) as i64));
            }
        }
        if w == "penultimate" && words.get(i + 1).is_some_and(|b| is_boot_word(b)) {
            return Some(-2);
        }
        // "the boot before last", "the boot before the last one", "second to last boot"
        if is_boot_word(w)
            && words.get(i + 1) == Some(&"before")
            && (words.get(i + 2) == Some(&"last")
                || (words.get(i + 2) == Some(&"the") && words.get(i + 3) == Some(&"last")))
        {
            return Some(-2);
        }
        if w == "second" && words.get(i + 1) == Some(&"to") && words.get(i + 2) == Some(&"last") {
            return Some(-2);
        }
        // "errors from the boot before", "the boot before this one": the previous boot. Only
        // when nothing but such words follows: "the boot before linux started" is a time of
        // this boot, "the boot before the previous one" another boot.
        if matches!(w, "boot" | "boots")
            && words.get(i + 1) == Some(&"before")
            && words[i + 2..].iter().all(|rest| {
                one_of!(
                    *rest,
                    "this" | "that" | "one" | "please" | "pls" | "plz" | "thanks" | "thank" | "you"
                )
            })
        {
            return Some(-1);
        }
        if one_of!(w, "last" | "previous" | "prior" | "prev" | "earlier" | "preceding" | "former") {
            // "the last 3 boots" names several boots, which no single boot can stand for.
            let several = number_at(words, i + 1)
                .filter(|&(n, _)| n > 1)
                .map(|(_, used)| used)
                .or_else(|| {
                    words.get(i + 1).is_some_and(|w| one_of!(*w, "few" | "several" | "couple")).then_some(1)
                })
                .is_some_and(|used| words[i + 1 + used..].iter().take(2).any(|b| is_boot_word(b)));
            if several {
                continue;
            }
            let window = &words[i + 1..words.len().min(i + 3)];
            if window.iter().any(|b| is_boot_word(b)) {
                return Some(-1);
            }
        }
        // "the third boot", "the 3rd boot": boots are numbered from the first.
        if let Some(n) = ordinal_at(words, i) {
            if words.get(i + 1).is_some_and(|b| matches!(*b, "boot" | "bootup" | "startup"))
                && !words.get(i + 2).is_some_and(|a| {
                    // "the 2nd boot ago"; "the second boot today" counts within a day.
                    one_of!(*a, "ago" | "back" | "before" | "of" | "today" | "this" | "after" | "since")
                })
            {
                return Some(n.min(i64::MAX as u64) as i64);
            }
        }
        if matches!(w, "this" | "current" | "present") && words.get(i + 1).is_some_and(|b| is_boot_word(b)) {
            if let Some(current) = world.current_boot() {
                return Some(current.min(i64::MAX as u64) as i64);
            }
        }
    }
    // "why did it fail to boot last time", "it did not start right the previous time", "what
    // went wrong last time": the previous boot.
    if words.iter().any(|w| {
        one_of!(
            *w,
            "boot"
                | "booting"
                | "boot-up"
                | "booted"
                | "start"
                | "started"
                | "starting"
                | "startup"
                | "fail"
                | "failed"
                | "wrong"
                | "crashed"
                | "hung"
                | "froze"
        )
    }) && words.windows(2).any(|p| p == ["last", "time"] || p == ["previous", "time"])
    {
        return Some(-1);
    }
    None
}

/// A boot given as a command-line flag, as in `journalctl -b -1` or `log show --boot 3`:
/// `-b`/`--boot` followed by a number (negative: relative, 0: the running boot), or a bare
/// `-b`/`--boot` (the running boot, when known). Read from the normalised text, since the
/// words have lost the signs.
pub fn find_boot_flag(normalized: &str, world: &dyn World) -> Option<i64> {
    // "boot=-1", "crash(-1)", "crash -1": a negative number right after a boot or crash is
    // relative, as in `journalctl -b -1`.
    for (i, _) in normalized.match_indices('-') {
        let before =
            normalized[..i].trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '=' | '(' | ':'));
        let named = ["boot", "crash", "panic", "boot_id", "b"].iter().any(|w| {
            before.strip_suffix(w).is_some_and(|rest| !rest.ends_with(|c: char| c.is_alphanumeric()))
        });
        let n: &str = normalized[i + 1..].split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
        if named && before.len() < i && !n.is_empty() {
            if let Some(n) = digits(n).filter(|&n| n > 0) {
                return Some(-(n.min(1 << 40) as i64));
            }
        }
    }
    let tokens: Vec<&str> = normalized.split_whitespace().collect();
    let at = tokens.iter().position(|t| one_of!(*t, "-b" | "--boot" | "--boot=" | "-b="))?;
    let current = || world.current_boot().map(|b| b.min(i64::MAX as u64) as i64);
    let Some(next) = tokens.get(at + 1) else { return current() };
    let (negative, magnitude) = match next.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, *next),
    };
    match digits(magnitude) {
        Some(0) => current(),
        Some(n) => {
            let n = n.min(1 << 40) as i64;
            Some(if negative { -n } else { n })
        }
        None if next.starts_with('-') => current(),
        None => None,
    }
}

/// The log level the request names (see the module's conventions: "fail" names none).
pub fn find_level(words: &[&str]) -> Option<Level> {
    // `journalctl -p 3`: syslog priorities 0-3 are errors, 4 warnings, 5-6 info, 7 debug.
    let priority = |i: usize| {
        let level = match *words.get(i + 1)? {
            "0" | "1" | "2" | "3" | "crit" | "alert" | "emerg" => Level::Error,
            "4" => Level::Warn,
            "5" | "6" | "notice" => Level::Info,
            "7" => Level::Debug,
            _ => return None,
        };
        matches!(words[i], "p" | "priority").then_some(level)
    };
    // "info" and "verbose" also mean details ("errors with more info"): a level only when
    // no other is named, or when they name messages or join a list ("info messages",
    // "errors and info").
    let ambiguous = |i: usize| {
        matches!(words[i], "info" | "infos" | "verbose")
            && !words.get(i + 1).is_some_and(|n| {
                one_of!(*n, "messages" | "message" | "lines" | "entries" | "logs" | "level" | "records")
            })
            && !(i > 0 && one_of!(words[i - 1], "and" | "or" | "plus" | "level"))
    };
    let named = |keep_ambiguous: bool| {
        (0..words.len())
            .filter(move |&i| keep_ambiguous || !ambiguous(i))
            .filter_map(move |i| Level::from_word(words[i]).or_else(|| priority(i)))
    };
    // A level is the least severe to show: "errors and warnings" shows warnings too, which
    // `--level warn` does (errors included).
    let verbosity = |level: &Level| *level as u8;
    named(false).max_by_key(verbosity).or_else(|| named(true).max_by_key(verbosity))
}

fn looks_like_device(word: &str) -> bool {
    if !word.is_ascii() {
        return false;
    }
    let b = word.as_bytes();
    let classic = b.len() == 3 && one_of!(&word[..2], "vd" | "sd" | "hd" | "xv") && b[2].is_ascii_lowercase();
    let xvd = b.len() == 4 && word.starts_with("xvd") && b[3].is_ascii_lowercase();
    let nvme = word.starts_with("nvme")
        && word.len() > 4
        && word[4..].bytes().all(|c| c.is_ascii_digit() || c == b'n');
    classic || xvd || nvme
}

fn is_disk_word(word: &str) -> bool {
    one_of!(
        word,
        "disk"
            | "disks"
            | "drive"
            | "drives"
            | "disc"
            | "discs"
            | "dsk"
            | "diks"
            | "volume"
            | "device"
            | "ssd"
            | "hdd"
            | "harddisk"
            | "harddrive"
    )
}

fn size_unit_bytes(word: &str) -> Option<(u64, u64)> {
    // (decimal, binary) multipliers: a person saying "8 GB" may mean either.
    word_value!(word,
        "gb" | "gig" | "gigs" | "gigabyte" | "gigabytes" | "g" | "gib" => (1_000_000_000, 1 << 30),
        "tb" | "terabyte" | "terabytes" | "t" | "tib" => (1_000_000_000_000, 1 << 40),
        "mb" | "megabyte" | "megabytes" | "m" | "mib" => (1_000_000, 1 << 20),
    )
}

fn size_at(words: &[&str], i: usize) -> Option<(u64, u64)> {
    let w = *words.get(i)?;
    let split = w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len());
    if split > 0 && split < w.len() {
        let n = digits(&w[..split])?;
        let (dec, bin) = size_unit_bytes(&w[split..])?;
        return Some((n.saturating_mul(dec), n.saturating_mul(bin)));
    }
    let (n, used) = number_at(words, i)?;
    let (dec, bin) = size_unit_bytes(words.get(i + used)?)?;
    Some((n.saturating_mul(dec), n.saturating_mul(bin)))
}

/// The disk a request names, resolved to a device name.
pub fn find_disk(words: &[&str], world: &dyn World) -> Option<String> {
    let disks = world.disks();
    for w in words {
        if let Some(d) = disks.iter().find(|d| d.name.eq_ignore_ascii_case(w)) {
            return Some(d.name.clone());
        }
    }
    for w in words {
        if looks_like_device(w) {
            return Some(String::from(*w));
        }
    }
    let by_index = |n: u64| disks.iter().find(|d| d.index as u64 == n).map(|d| d.name.clone());
    for i in 0..words.len() {
        // "disk 2", "drive number two"
        if is_disk_word(words[i]) {
            let mut j = i + 1;
            if words.get(j).is_some_and(|n| one_of!(*n, "number" | "no" | "num" | "nr" | "#")) {
                j += 1;
            }
            // Dictation hears "disk two" at the end of a request as "disc to" or "disk too";
            // after a determiner "too" means also ("format the disk too").
            let dictated_two = matches!(words.get(j), Some(&"to" | &"too"))
                && words[j + 1..].iter().all(|w| crate::text::is_filler(w))
                && !(i > 0 && one_of!(words[i - 1], "the" | "this" | "that" | "my" | "a" | "your" | "our"));
            if let Some(n) = number_at(words, j).map(|(n, _)| n).or(dictated_two.then_some(2)) {
                if let Some(name) = by_index(n) {
                    return Some(name);
                }
            }
        }
        // "the second disk", "the 2nd virtual drive", "install on the second one"
        if let Some(n) = ordinal_at(words, i) {
            if words[i + 1..words.len().min(i + 4)].iter().any(|w| is_disk_word(w))
                || words.get(i + 1) == Some(&"one")
            {
                if let Some(name) = by_index(n) {
                    return Some(name);
                }
            }
        }
        // "the 8 GB disk": the disk whose capacity is nearest, within 10 %.
        if let Some((decimal, binary)) = size_at(words, i) {
            let best = disks
                .iter()
                .filter_map(|d| {
                    let off = |target: u64| d.size_bytes.abs_diff(target) as f64 / target.max(1) as f64;
                    let rel = off(decimal).min(off(binary));
                    (rel <= 0.10).then_some((rel, d))
                })
                .min_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(core::cmp::Ordering::Equal));
            if let Some((_, d)) = best {
                return Some(d.name.clone());
            }
        }
    }
    // "the bigger disk", "the big one", "the smallest drive": by size among the disks.
    let pick = |largest: bool| {
        let iter = disks.iter();
        if largest { iter.max_by_key(|d| d.size_bytes) } else { iter.min_by_key(|d| d.size_bytes) }
            .map(|d| d.name.clone())
    };
    for (i, w) in words.iter().enumerate() {
        let (largest, graded) = match *w {
            "biggest" | "largest" | "bigger" | "larger" => (true, true),
            "smallest" | "smaller" => (false, true),
            "big" | "large" | "huge" => (true, false),
            "small" | "little" | "tiny" => (false, false),
            _ => continue,
        };
        // The adjective right before the disk ("the big one", "the small drive"); a graded
        // one anywhere in a request that names disks ("install on whichever disk is larger").
        let names_disk = words[i + 1..words.len().min(i + 3)].iter().any(|n| is_disk_word(n) || *n == "one");
        if names_disk || (graded && words.iter().any(|w| is_disk_word(w))) {
            return pick(largest);
        }
    }
    None
}

/// Words that can stand next to "vm" or "guest" without being a VM's name.
fn is_vm_name_stopword(word: &str) -> bool {
    one_of!(
        word,
        "the"
            | "a"
            | "an"
            | "this"
            | "that"
            | "my"
            | "your"
            | "our"
            | "its"
            | "new"
            | "old"
            | "every"
            | "all"
            | "any"
            | "each"
            | "other"
            | "another"
            | "one"
            | "some"
            | "which"
            | "what"
            | "first"
            | "second"
            | "third"
            | "last"
            | "next"
            | "previous"
            | "current"
            | "default"
            | "same"
            | "whole"
            | "running"
            | "stopped"
            | "virtual"
            | "vm"
            | "vms"
            | "guest"
            | "guests"
            | "machine"
            | "list"
            | "ls"
            | "start"
            | "stop"
            | "restart"
            | "reboot"
            | "show"
            | "hide"
            | "status"
            | "state"
            | "named"
            | "called"
            | "is"
            | "are"
            | "was"
            | "to"
            | "on"
            | "off"
            | "up"
            | "down"
            | "for"
            | "of"
            | "in"
            | "and"
            | "or"
            | "it"
            | "please"
            | "now"
            | "screen"
            | "window"
            | "console"
            | "display"
            | "desktop"
            | "again"
            | "too"
            | "single"
            | "only"
            | "then"
            | "so"
            | "but"
            | "with"
            | "from"
            | "into"
            | "onto"
            | "at"
            | "by"
            | "i"
            | "me"
            | "you"
            | "we"
            | "can"
            | "could"
            | "would"
            | "will"
            | "should"
            | "just"
            | "pls"
            | "plz"
            | "thanks"
            | "thank"
            | "thx"
            | "when"
            | "if"
            | "right"
            | "real"
            | "quick"
            | "asap"
            | "here"
            | "there"
            | "instead"
            | "not"
            | "teh"
            | "without"
            | "be"
            | "been"
            | "has"
            | "have"
            | "had"
            | "does"
            | "did"
            | "do"
            | "need"
            | "needs"
            | "gone"
            | "stuck"
            | "hung"
            | "froze"
            | "frozen"
            | "crashed"
            | "anymore"
            | "going"
            | "away"
            | "forward"
            | "foreground"
            | "background"
            | "fullscreen"
            | "poweroff"
            | "shutdown"
            | "itself"
            | "hte"
            | "os"
            | "immediately"
            | "gracefully"
            | "forcefully"
            | "later"
            | "ok"
            | "okay"
            | "soon"
            | "quickly"
            | "fast"
            | "safely"
            | "cleanly"
            | "properly"
            | "completely"
            | "already"
            | "rayos"
            | "still"
            | "kernel"
            | "main"
            | "full"
            | "entire"
    )
}

/// Parts and properties of a VM: after "the vm" they describe it ("the vm manager").
fn is_vm_part_word(word: &str) -> bool {
    one_of!(
        word,
        "manager"
            | "settings"
            | "setting"
            | "config"
            | "configuration"
            | "network"
            | "networking"
            | "image"
            | "images"
            | "disk"
            | "disks"
            | "memory"
            | "ram"
            | "cpu"
            | "name"
            | "names"
            | "session"
            | "output"
            | "view"
            | "logs"
            | "log"
            | "files"
            | "file"
            | "storage"
            | "snapshot"
            | "snapshots"
            | "host"
            | "software"
            | "system"
            | "feature"
            | "features"
            | "support"
            | "thing"
            | "stuff"
    )
}

/// Verbs and words of the VM commands: what stands next to "vm" in "kill vm arch".
fn is_vm_command_word(word: &str) -> bool {
    one_of!(
        word,
        "boot"
            | "launch"
            | "kill"
            | "run"
            | "halt"
            | "bounce"
            | "reset"
            | "power"
            | "spin"
            | "fire"
            | "minimise"
            | "minimize"
            | "focus"
            | "view"
            | "open"
            | "close"
            | "terminate"
            | "end"
            | "shut"
            | "turn"
            | "switch"
            | "bring"
            | "put"
            | "get"
            | "send"
            | "take"
            | "display"
            | "use"
            | "create"
            | "delete"
            | "resume"
            | "pause"
            | "cycle"
            | "destroy"
            | "force"
            | "give"
            | "let"
            | "see"
            | "look"
            | "want"
            | "need"
            | "like"
            | "make"
            | "set"
            | "go"
            | "jump"
            | "start"
            | "stop"
            | "restart"
            | "reboot"
            | "show"
            | "hide"
    )
}

/// One whitespace-separated token of the request as typed (normalised, outer punctuation
/// trimmed), with the typo-corrected words it spans.
#[derive(Debug, Clone, Copy)]
pub struct TypedToken<'a> {
    /// The token as typed, e.g. `ci-runner`.
    pub text: &'a str,
    /// The corrected words inside it (one for most tokens; `ci`, `runner` for `ci-runner`).
    pub corrected: &'a [&'a str],
}

/// The whitespace tokens of `normalized`, each with its slice of `words` (the corrected
/// words of the same text). When `words` does not line up with the text, each token's own
/// words stand in for the corrected ones.
pub fn typed_tokens<'a>(
    normalized: &'a str,
    words: &'a [&'a str],
    typed: &'a [&'a str],
) -> Vec<TypedToken<'a>> {
    let aligned = words.len() == typed.len();
    let source = if aligned { words } else { typed };
    let mut out = Vec::new();
    let mut at = 0;
    for raw in normalized.split_whitespace() {
        let count = crate::text::words(raw).len();
        let end = (at + count).min(source.len());
        let text = raw.trim_matches(|c: char| !c.is_alphanumeric());
        if !text.is_empty() {
            out.push(TypedToken { text, corrected: &source[at.min(end)..end] });
        }
        at = end;
    }
    out
}

/// A VM name as typed: a word with a letter in it, made of letters, digits, `-`, `_`, `.`,
/// that is neither a filler word nor (after typo correction) a command word.
fn plausible_vm_name(token: &TypedToken) -> bool {
    let word = token.text;
    !word.is_empty()
        && word.len() <= 64
        && word.chars().any(|c| c.is_alphabetic())
        && word.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c))
        && !is_vm_name_stopword(word)
        && !is_vm_command_word(word)
        && (token.corrected.len() != 1
            || !token.corrected.iter().any(|w| is_vm_name_stopword(w) || is_vm_command_word(w)))
}

/// The name a request marks as a VM's even when no VM of that name is registered:
/// "the sandbox vm", "the guest called sandbox", "sandbox guest", "stop vm sandbox".
fn marked_vm_name(tokens: &[TypedToken]) -> Option<String> {
    let is = |i: usize, f: &dyn Fn(&str) -> bool| tokens.get(i).is_some_and(|t| f(t.text));
    let marker = |w: &str| matches!(w, "vm" | "guest");
    let screen_word = |w: &str| one_of!(w, "screen" | "desktop" | "display" | "window" | "console" | "face");
    for i in 0..tokens.len() {
        // A name before a screen: "the devbox display", "devbox's screen", "the builder vm's
        // display".
        let text = tokens[i].text;
        if i > 0
            && matches!(tokens[i - 1].text, "the" | "my" | "our")
            && is(i + 1, &screen_word)
            && plausible_vm_name(&tokens[i])
            && !is_not_a_vm_name(text)
            && !screen_word(text)
        {
            return Some(String::from(text));
        }
        // A name after a screen: "the display of devbox", "detach the screen of builder" (a
        // short form or distribution is left to find_vm: "the display of ubuntu" is linux).
        if screen_word(text)
            && is(i + 1, &|w| w == "of")
            && tokens
                .get(i + 2)
                .is_some_and(|t| plausible_vm_name(t) && !is_not_a_vm_name(t.text) && !is_vm_alias(t.text))
        {
            return Some(String::from(tokens[i + 2].text));
        }
        if let Some(stem) = text.strip_suffix("'s").or_else(|| text.strip_suffix("\u{2019}s")) {
            if is(i + 1, &screen_word) {
                if marker(stem) && i > 0 && plausible_vm_name(&tokens[i - 1]) {
                    return Some(String::from(tokens[i - 1].text));
                }
                if plausible_vm_name(&TypedToken { text: stem, corrected: &[] }) && !is_not_a_vm_name(stem) {
                    return Some(String::from(stem));
                }
            }
        }
        // "vm", "guest", "virtual machine", and "v m" as dictation or haste splits it.
        let marks = marker(tokens[i].text)
            || (tokens[i].text == "virtual" && is(i + 1, &|n| matches!(n, "machine" | "machines")))
            || (tokens[i].text == "v" && is(i + 1, &|n| n == "m"));
        if !marks {
            if matches!(tokens[i].text, "named" | "called") {
                if let Some(t) = tokens.get(i + 1).filter(|t| plausible_vm_name(t)) {
                    return Some(String::from(t.text));
                }
            }
            continue;
        }
        // "<name> vm" first: "the sandbox vm", "worker2 guest".
        if i > 0 && plausible_vm_name(&tokens[i - 1]) {
            return Some(String::from(tokens[i - 1].text));
        }
        // "kill vm arch", "vm start sandbox", "the vm builder should start"; but after a
        // determiner a word for a part of a VM describes it ("the vm manager") rather than
        // naming it.
        let determiner =
            |w: &str| one_of!(w, "the" | "a" | "an" | "this" | "that" | "my" | "your" | "our" | "its");
        if !marker(tokens[i].text) {
            continue;
        }
        let after_determiner = i > 0 && determiner(tokens[i - 1].text);
        let mut j = i + 1;
        // "vm start sandbox", "vm start --name sandbox".
        while !after_determiner
            && j <= i + 2
            && is(j, &|n| {
                one_of!(
                    n,
                    "start" | "stop" | "restart" | "show" | "hide" | "reboot" | "named" | "called" | "name"
                )
            })
        {
            j += 1;
        }
        if let Some(t) = tokens.get(j).filter(|t| plausible_vm_name(t) && !is_not_a_vm_name(t.text)) {
            if !after_determiner || !is_vm_part_word(t.text) {
                return Some(String::from(t.text));
            }
        }
    }
    None
}

/// The VM names a request may use: the registered ones, lowercased, and `linux` and
/// `windows`.
pub fn vm_names(world: &dyn World) -> Vec<String> {
    let mut names: Vec<String> = world.vm_names().into_iter().map(|n| n.to_lowercase()).collect();
    for builtin in ["linux", "windows"] {
        if !names.iter().any(|n| n == builtin) {
            names.push(String::from(builtin));
        }
    }
    names
}

/// The VM a request names: a registered name, `linux` or `windows` (typos of one edit
/// allowed), else a name the wording marks as a VM's ("start the sandbox vm"), else an alias
/// ("win10" for windows), else a name that ends a VM command ("stop devbox"). `tokens` are
/// the request's tokens as typed (see [`typed_tokens`]), so names keep their `-` and `_`.
pub fn find_vm(words: &[&str], tokens: &[TypedToken], world: &dyn World) -> Option<String> {
    let names = vm_names(world);
    // A word that is only part of a name as typed ("linux" of "linux-test", "linux_dev",
    // "my-linux") is not that name: the VM meant is the whole one.
    let begins_longer_name = |w: &str| {
        tokens.iter().any(|t| {
            let part_of = t.text != w && t.text.split(['-', '_', '.']).any(|part| part == w);
            part_of
                || t.text
                    .strip_prefix(w)
                    .is_some_and(|rest| rest.starts_with(|c: char| "-_.".contains(c) || c.is_ascii_digit()))
        })
    };
    for w in tokens.iter().map(|t| t.text).chain(words.iter().copied().filter(|w| !begins_longer_name(w))) {
        if let Some(n) = names.iter().find(|n| n.as_str() == w) {
            return Some(n.clone());
        }
    }
    // One typo of a name ("linx", "widnows"), but "window" is a word of its own, and a digit
    // is no typo ("linux2" is another VM).
    for w in tokens.iter().map(|t| t.text) {
        if w.chars().count() >= 4 && w != "window" && !w.contains(|c: char| c.is_ascii_digit()) {
            if let Some(n) =
                names.iter().find(|n| n.chars().count() >= 4 && edit_distance_capped(w, n, 1) <= 1)
            {
                return Some(n.clone());
            }
        }
    }
    // A name glued to its command by a missing space: "stopdevbox" (without this, the VM
    // acted on would be the default one). The engine's analysis already takes apart words
    // glued from in-scope words ("restartwindows" arrives as "restart windows"), but it
    // knows no world: a registered VM's name is no in-scope word.
    for w in tokens.iter().map(|t| t.text) {
        if let Some(n) = names.iter().find(|n| is_glued_to_vm_command(w, n)) {
            return Some(n.clone());
        }
    }
    let alias_of = |w: &str, distributions_too: bool| {
        VM_SHORT_FORMS
            .iter()
            .chain(VM_DISTRIBUTIONS.iter().filter(|_| distributions_too))
            .find(|(alias, target)| *alias == w && names.iter().any(|n| n == target))
            .map(|(_, target)| String::from(*target))
    };
    // A marked name may be a short form of a built-in one: "restart win vm" is windows
    // (but "the ubuntu vm" may be a VM registered under that name).
    if let Some(name) = marked_vm_name(tokens) {
        return Some(alias_of(&name, false).unwrap_or(name));
    }
    if let Some(target) = tokens.iter().find_map(|t| alias_of(t.text, true)) {
        return Some(target);
    }
    named_after_vm_verb(tokens)
}

/// Whether `word` is a VM command glued to the VM name `name`, with at most a screen word or
/// "vm" glued after it: "startlinux", "restartwindows", "showlinuxdesktop", "stoplinuxvm".
fn is_glued_to_vm_command(word: &str, name: &str) -> bool {
    let Some(at) = word.find(name).filter(|_| name.len() >= 4 && word.len() > name.len()) else {
        return false;
    };
    let (command, after) = (&word[..at], &word[at + name.len()..]);
    is_vm_command_word(command)
        && (after.is_empty()
            || one_of!(after, "vm" | "desktop" | "screen" | "display" | "window" | "console"))
}

/// Whether the word is a short form or a distribution standing for a built-in VM.
fn is_vm_alias(word: &str) -> bool {
    VM_SHORT_FORMS.iter().chain(VM_DISTRIBUTIONS.iter()).any(|(alias, _)| *alias == word)
}

/// Short forms and nicknames of the built-in VMs' names.
const VM_SHORT_FORMS: [(&str, &str); 5] =
    [("win", "windows"), ("win10", "windows"), ("win11", "windows"), ("tux", "linux"), ("penguin", "linux")];
/// Systems that, unmarked, stand for the built-in linux VM ("boot debian").
const VM_DISTRIBUTIONS: [(&str, &str); 3] = [("ubuntu", "linux"), ("debian", "linux"), ("busybox", "linux")];

/// A name that ends a VM command with nothing but filler after it: "stop devbox", "power on
/// devbox please", "shut down the builder now", "pull the plug on devbox". Without this the
/// name would be dropped and the command would act on the default VM instead of the one the
/// user named; with it the shell answers "there is no VM named 'devbox'" when none is
/// registered.
fn named_after_vm_verb(tokens: &[TypedToken]) -> Option<String> {
    let verb =
        |w: &str| is_vm_command_word(w) || one_of!(w, "stp" | "strt" | "unhide" | "relaunch" | "unpause");
    let particle = |w: &str| {
        one_of!(
            w,
            "up" | "down"
                | "on"
                | "off"
                | "the"
                | "my"
                | "vm"
                | "guest"
                | "virtual"
                | "machine"
                | "to"
                | "into"
                | "back"
                | "over"
        )
    };
    let name_at = |j: usize| {
        let name = tokens.get(j).filter(|t| {
            plausible_vm_name(t)
                && !is_not_a_vm_name(t.text)
                && !is_vm_part_word(t.text)
                && !t.text.chars().all(|c| c.is_ascii_digit())
        })?;
        tokens[j + 1..].iter().all(|t| is_vm_name_stopword(t.text)).then(|| String::from(name.text))
    };
    // The last verb first: in "i want to see devbox" the name follows "see".
    let after_verb = tokens.iter().enumerate().rev().filter(|(_, t)| verb(t.text)).find_map(|(v, _)| {
        let mut j = v + 1;
        while tokens.get(j).is_some_and(|t| particle(t.text)) {
            // "switch to devbox" and "switch the vm to devbox", but not "restart the vm to
            // test it": after the thing acted on, "to" says why, unless the verb moves the
            // screen somewhere.
            let says_why = matches!(tokens[j].text, "to" | "into")
                && !one_of!(tokens[v].text, "switch" | "change" | "move" | "flip" | "swap" | "go" | "jump")
                && tokens[v + 1..j].iter().any(|t| matches!(t.text, "vm" | "guest" | "machine"));
            if says_why {
                return None;
            }
            j += 1;
        }
        name_at(j)
    });
    // A VM request in other words ends with where it goes: "pull the plug on devbox", "take
    // me to devbox". Not "start it on startup" nor "restart the vm to fix it".
    after_verb.or_else(|| {
        let last = tokens.iter().rposition(|t| !crate::text::is_filler(t.text))?;
        let back = |n: usize| last.checked_sub(n).map_or("", |i| tokens[i].text);
        let goes = (back(1) == "on" && back(2) == "plug")
            || (matches!(back(1), "to" | "into" | "onto")
                && one_of!(
                    back(2),
                    "me" | "us" | "go" | "switch" | "over" | "jump" | "move" | "flip" | "swap"
                ));
        goes.then(|| name_at(last)).flatten()
    })
}

/// Things a VM command can name that are not VMs: "stop the download", "hide the mouse",
/// "restart everything", "show my computer's screen", "give the vm back".
fn is_not_a_vm_name(word: &str) -> bool {
    // A disk's device name ("start the vm on vda") is no VM's.
    looks_like_device(word)
        || one_of!(
            word,
            "everything"
                | "anything"
                | "something"
                | "whichever"
                | "whatever"
                | "both"
                | "them"
                | "everyone"
                | "computer"
                | "pc"
                | "server"
                | "box"
                | "host"
                | "system"
                | "hypervisor"
                | "emulator"
                | "process"
                | "thing"
                | "us"
                | "user"
                | "showing"
                | "mouse"
                | "cursor"
                | "pointer"
                | "keyboard"
                | "download"
                | "upload"
                | "build"
                | "terminal"
                | "shell"
                | "device"
                | "file"
                | "files"
                | "folder"
                | "app"
                | "apps"
                | "program"
                | "browser"
                | "music"
                | "video"
                | "game"
                | "update"
                | "updates"
                | "backup"
                | "job"
                | "task"
                | "service"
                | "timer"
                | "alarm"
                | "back"
                | "over"
                | "again"
                | "too"
                | "also"
                // How, and what the user feels: "leave the vm alone", "restart the guest, ugh",
                // "make invisible the desktop".
                | "alone"
                | "already"
                | "anyway"
                | "quickly"
                | "immediately"
                | "invisible"
                | "visible"
                | "hidden"
                | "fullscreen"
                | "ugh"
                | "argh"
                | "uh"
                | "um"
                | "hmm"
                | "sigh"
                | "lol"
                | "ok"
                | "okay"
                | "damn"
                | "dammit"
                | "geez"
                | "jeez"
        )
}

/// A quoted name after "called", "named", "vm", "guest" or a VM command's verb, or before
/// "vm" ('the vm called "build box"', 'start "my vm"', 'restart the "build box" vm'):
/// the VM meant, even with a space in its name. Before, no VM was found in such a request,
/// and a VM command without one acts on linux.
fn quoted_vm_name(raw: &str) -> Option<String> {
    let (span, name) = quoted_span(raw)?;
    let before = word_before(raw, span.start);
    let marked_before =
        ["called", "named", "vm", "guest", "start", "stop", "restart", "reboot", "show", "hide", "boot"]
            .iter()
            .any(|m| before.eq_ignore_ascii_case(m));
    // 'restart the "build box" vm'
    let after = word_after(raw, span.end);
    let marked_after = ["vm", "guest", "virtual"].iter().any(|m| after.eq_ignore_ascii_case(m));
    ((marked_before || marked_after) && name.chars().count() <= 64).then(|| String::from(name))
}

/// The word that ends right before byte `at` of `text` (punctuation and spaces skipped), or
/// "" at the start.
fn word_before(text: &str, at: usize) -> &str {
    let before = text[..at].trim_end_matches(|c: char| !c.is_alphanumeric());
    before.rsplit(|c: char| !c.is_alphanumeric()).next().unwrap_or("")
}

/// The word that starts right after byte `at` of `text`, or "" at the end.
fn word_after(text: &str, at: usize) -> &str {
    let after = text[at..].trim_start_matches(|c: char| !c.is_alphanumeric());
    after.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("")
}

/// A quoted span of the raw text: "...", '...', “...” or ‘...’.
fn quoted(raw: &str) -> Option<String> {
    quoted_span(raw).map(|(_, inner)| String::from(inner))
}

/// The first quoted span of the raw text: its byte range, quotes included, and what is
/// inside (trimmed, not empty).
fn quoted_span(raw: &str) -> Option<(core::ops::Range<usize>, &str)> {
    let pairs = [('"', '"'), ('\u{201c}', '\u{201d}'), ('\u{2018}', '\u{2019}'), ('\'', '\''), ('`', '`')];
    for (open, close) in pairs {
        let mut search_from = 0;
        while let Some(rel) = raw[search_from..].find(open) {
            let start = search_from + rel;
            let boundary_before =
                raw[..start].chars().next_back().is_none_or(|c| c.is_whitespace() || "([:=".contains(c));
            // `--since "10 min ago"`: a time, not a quoted name or term.
            let before = word_before(raw, start);
            let a_time = ["since", "until", "after", "before"].iter().any(|w| before.eq_ignore_ascii_case(w));
            let inner_start = start + open.len_utf8();
            if boundary_before && !a_time {
                if let Some(len) = raw[inner_start..].find(close) {
                    let inner = raw[inner_start..inner_start + len].trim();
                    if !inner.is_empty() {
                        return Some((start..inner_start + len + close.len_utf8(), inner));
                    }
                }
            }
            search_from = inner_start;
        }
    }
    None
}

const TEXT_STOP: [&str; 39] = [
    "since", "from", "in", "during", "on", "at", "of", "ago", "and", "or", "level", "please", "today", "for",
    "the", "boot", "last", "after", "before", "within", "over", "messages", "lines", "logs", "now", "pls",
    "plz", "thanks", "thx", "thank", "asap", "log", "right", "again", "if", "when", "whenever", "ok", "but",
];

/// For each word of `normalized`, whether a clause ends after it: a comma, semicolon, `!`,
/// `?`, a bracket, or a full stop before a space. All false when the text does not have
/// `word_count` words (split words were joined).
fn clause_ends(normalized: &str, word_count: usize) -> Vec<bool> {
    use crate::text::TokenKind;
    let tokens = crate::text::split(normalized);
    let ends: Vec<bool> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == TokenKind::Word)
        .map(|(i, word)| {
            tokens.get(i + 1).is_some_and(|next| {
                next.kind == TokenKind::Punct
                    && match &normalized[next.start..next.end] {
                        "," | ";" | "!" | "?" | "(" | ")" => true,
                        "." => {
                            next.start == word.end
                                && normalized[next.end..].chars().next().is_none_or(char::is_whitespace)
                        }
                        _ => false,
                    }
            })
        })
        .collect();
    if ends.len() == word_count {
        ends
    } else {
        alloc::vec![false; word_count]
    }
}

/// Words that, up to three words before a search term's cue, make it a term to leave out:
/// "not mentioning", "that don't say", "without the word", "except lines about".
fn negates_search(word: &str) -> bool {
    one_of!(
        word,
        "not"
            | "dont"
            | "doesnt"
            | "didnt"
            | "never"
            | "without"
            | "excluding"
            | "except"
            | "ignoring"
            | "minus"
    ) || word == "t" // the "t" of "don't", split at the apostrophe
}

/// Whether `words[k]` is the "out" of "leave out", "filter out" and the like.
fn leaves_out(words: &[&str], k: usize) -> bool {
    words[k] == "out"
        && k > 0
        && one_of!(words[k - 1], "leave" | "leaving" | "filter" | "filtering" | "strip" | "cut")
}

/// Whether `words[k]` is "nothing" meaning "only": "nothing but", "nothing except", "nothing
/// other than".
fn nothing_but(words: &[&str], k: usize) -> bool {
    words[k] == "nothing"
        && words.get(k + 1).is_some_and(|n| one_of!(*n, "but" | "except" | "other" | "besides"))
}

/// Whether one of the three words before `words[at]` (after `from`, where the clause of the
/// previous term ended) negates the search: "not mentioning usb", "leave out anything
/// mentioning timer", "nothing mentioning dhcp". Unless the clause asks for the term alone
/// ("nothing but lines mentioning usb"): see [`asks_alone`].
fn negated_before(words: &[&str], at: usize, from: usize) -> bool {
    (at.saturating_sub(3).max(from)..at)
        .any(|k| negates_search(words[k]) || leaves_out(words, k) || words[k] == "nothing")
}

/// Whether the words from `from` to `at` ask for a term alone: "nothing but", "nothing
/// except".
fn asks_alone(words: &[&str], from: usize, at: usize) -> bool {
    (from..at).any(|k| nothing_but(words, k))
}

/// Words that announce a search term ("containing", "mentioning", "grep", ...): a term never
/// runs on into one ("excluding acpi containing disk" holds two terms).
fn is_search_cue(word: &str) -> bool {
    one_of!(
        word,
        "containing"
            | "contains"
            | "contain"
            | "mentioning"
            | "mention"
            | "mentions"
            | "matching"
            | "match"
            | "matches"
            | "grep"
            | "saying"
            | "regarding"
            | "excluding"
            | "except"
            | "ignoring"
    )
}

/// The search terms of a request: the first to look for and the first to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchTerms {
    /// A term the records shown must contain.
    pub text: Option<String>,
    /// A term the records shown must not contain.
    pub exclude: Option<String>,
}

/// The search terms of a request, each with whether the request asks to leave it out ("not",
/// "don't", "without", "excluding", "leave out", "nothing" and the like up to three words
/// before its cue, within its clause; "excluding", "except", "ignoring", "but not" and "leave
/// out" also start a term themselves; "nothing but" and "nothing except" ask for a term
/// alone): quoted, or after "containing", "mentioning", "grep", "search ... for". One of each
/// kind at most ("errors mentioning disk but not acpi" has both); a quoted term is the only
/// one read. Keywords are read from `words` (typo-corrected); a term itself is copied from
/// `typed` (the same words as typed), which must be as long as `words`. `normalized` is `raw`
/// normalised (where a term's clause ends).
pub fn find_text(words: &[&str], typed: &[&str], raw: &str, normalized: &str) -> SearchTerms {
    let mut terms = SearchTerms::default();
    if let Some((span, inner)) = quoted_span(raw) {
        let typed_before = crate::text::normalize(&raw[..span.start]);
        let before = crate::text::words(&typed_before);
        let left_out = !asks_alone(&before, 0, before.len()) && negated_before(&before, before.len(), 0);
        let slot = if left_out { &mut terms.exclude } else { &mut terms.text };
        *slot = Some(String::from(inner));
        return terms;
    }
    let request = SearchRequest {
        words,
        typed,
        normalized,
        searching: words
            .iter()
            .any(|w| one_of!(*w, "search" | "grep" | "find" | "look" | "filter" | "check" | "scan")),
        clause_ends: clause_ends(normalized, words.len()),
    };
    let mut at = 0;
    while let Some((term, left_out, next)) = find_term(&request, at) {
        let slot = if left_out { &mut terms.exclude } else { &mut terms.text };
        slot.get_or_insert(term);
        if terms.text.is_some() && terms.exclude.is_some() {
            break;
        }
        at = next;
    }
    terms
}

/// A request as [`find_term`] reads it, with what holds for all of its terms.
struct SearchRequest<'a> {
    words: &'a [&'a str],
    typed: &'a [&'a str],
    normalized: &'a str,
    /// Whether a word asks to search ("search ... for").
    searching: bool,
    /// See [`clause_ends`].
    clause_ends: Vec<bool>,
}

/// The first search term whose cue is at or after `from` (see [`find_text`]): the term,
/// whether it is left out, and where the search for the next one starts.
fn find_term(request: &SearchRequest, from: usize) -> Option<(String, bool, usize)> {
    let SearchRequest { words, typed, normalized, searching, ref clause_ends } = *request;
    for i in from..words.len() {
        let w = words[i];
        let mut start = match w {
            "containing" | "contains" | "contain" | "mentioning" | "mention" | "mentions" | "matching"
            | "match" | "matches" | "grep" | "saying" | "about" | "regarding" => i + 1,
            // "lines that say timeout", but not "you say you keep logs".
            "say" | "says"
                if i > 0
                    && one_of!(
                        words[i - 1],
                        "that"
                            | "which"
                            | "what"
                            | "it"
                            | "line"
                            | "lines"
                            | "message"
                            | "messages"
                            | "entries"
                    ) =>
            {
                i + 1
            }
            "word" | "words" | "string" | "term" | "keyword" | "pattern" | "text" if i > 0 => i + 1,
            "for" if searching => i + 1,
            "excluding" | "except" | "ignoring" => i + 1,
            // "disk but not acpi", "grep disk and leave out acpi"
            "not" if i > 0 && words[i - 1] == "but" => i + 1,
            "out" if leaves_out(words, i) => i + 1,
            // "find segfault in the logs"
            "find" if words.iter().any(|w| matches!(*w, "log" | "logs" | "journal")) => i + 1,
            _ => continue,
        };
        while words.get(start).is_some_and(|n| {
            one_of!(
                *n,
                "the"
                    | "anything"
                    | "something"
                    | "everything"
                    | "stuff"
                    | "entries"
                    | "lines"
                    | "i"
                    | "word"
                    | "words"
                    | "string"
                    | "term"
                    | "text"
                    | "for"
                    | "a"
                    | "an"
                    | "log"
                    | "logs"
                    | "about"
                    | "with"
                    | "ones"
                    | "that"
                    | "which"
            ) || is_search_cue(n)
        }) {
            start += 1;
        }
        let mut end = start;
        let stops = |w: &str| TEXT_STOP.contains(&w) || Level::from_word(w).is_some() || digits(w).is_some();
        while end < words.len() && end - start < 4 {
            // "out of memory": "of" between two words of the term belongs to it.
            let inner_of = words[end] == "of" && end > start && words.get(end + 1).is_some_and(|n| !stops(n));
            if (TEXT_STOP.contains(&words[end]) && !inner_of)
                || Level::from_word(words[end]).is_some()
                || is_search_cue(words[end])
            {
                break;
            }
            end += 1;
            if clause_ends.get(end - 1).copied().unwrap_or(false) {
                break;
            }
        }
        if end > start {
            // As typed, with the punctuation inside it ("virtio_blk", "rayos.kernel"): a
            // search for "virtio blk" finds nothing.
            let tokens = word_tokens(normalized);
            // "nothing except lines containing disk" asks for those lines alone.
            let left_out = !asks_alone(words, from, i)
                && (negated_before(words, i, from)
                    || matches!(w, "excluding" | "except" | "ignoring" | "not" | "out"));
            if tokens.len() == words.len() {
                let term = String::from(&normalized[tokens[start].start..tokens[end - 1].end]);
                return Some((term, left_out, end));
            }
            let source = if typed.len() == words.len() { typed } else { words };
            return Some((source[start..end].join(" "), left_out, end));
        }
    }
    None
}

/// A boot manager entry: a known entry named in the text, the n-th entry, or the word after
/// "to" / "entry" when the kernel lists no entries.
pub fn find_entry(words: &[&str], raw: &str, world: &dyn World) -> Option<String> {
    let entries = world.boot_entries();
    let normalized_raw = crate::text::normalize(raw);
    // Numbers as digits and dictated dashes dropped, so that "rayos two" and "ray os dash
    // two" name the entry `rayos-2`.
    let spoken: Vec<String> = words
        .iter()
        .filter(|w| !matches!(**w, "dash" | "hyphen"))
        .map(|w| match unit_word(w).or_else(|| tens_word(w)) {
            Some(n) => n.to_string(),
            None => String::from(*w),
        })
        .collect();
    let (text, spoken) = (words.join(" "), spoken.join(" "));
    for entry in &entries {
        let entry_words = crate::text::words(&crate::text::normalize(entry)).join(" ");
        if !entry_words.is_empty()
            && (contains_words(&text, &entry_words) || contains_words(&spoken, &entry_words))
        {
            return Some(entry.clone());
        }
    }
    for i in 0..words.len() {
        if matches!(words[i], "entry" | "option" | "slot") {
            if let Some((n, _)) = number_at(words, i + 1) {
                if let Some(e) = entries.get((n as usize).wrapping_sub(1)) {
                    return Some(e.clone());
                }
            }
        }
        if let Some(n) = ordinal_at(words, i) {
            if words[i + 1..words.len().min(i + 3)]
                .iter()
                .any(|w| one_of!(*w, "entry" | "option" | "slot" | "one"))
            {
                if let Some(e) = entries.get((n as usize).wrapping_sub(1)) {
                    return Some(e.clone());
                }
            }
        }
    }
    if let Some(q) = quoted(raw) {
        return Some(q);
    }
    // The entry named after "to" or "entry", or before "as default" ("use rayos-test as
    // default"). Against a list of entries, only a token shaped like an entry's name (letters
    // with a digit, "-", "_" or ".": "rayos-test", "build2"; not "2" or "rayos") counts, so
    // that the boot manager can say there is no such entry; without a list, any word that is
    // not filler is the best reading.
    let name_like = |token: &str| {
        entries.is_empty()
            || (token.chars().any(char::is_alphabetic)
                && token.chars().any(|c| c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    };
    let raw_words: Vec<&str> = normalized_raw.split_whitespace().collect();
    for (i, w) in raw_words.iter().enumerate() {
        let candidate = match *w {
            "to" | "entry" => raw_words.get(i + 1),
            "as" if raw_words.get(i + 1).is_some_and(|n| n.starts_with("default")) && i > 0 => {
                raw_words.get(i - 1)
            }
            _ => None,
        };
        if let Some(next) = candidate {
            let token = next.trim_matches(|c: char| !c.is_alphanumeric());
            if !token.is_empty()
                && !one_of!(
                    token,
                    "the" | "a" | "boot" | "default" | "be" | "entry" | "use" | "it" | "this" | "that"
                )
                && name_like(token)
            {
                return Some(String::from(token));
            }
        }
    }
    None
}

fn contains_words(haystack: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(rel) = haystack[from..].find(needle) {
        let start = from + rel;
        let end = start + needle.len();
        let before_ok = start == 0 || haystack.as_bytes()[start - 1] == b' ';
        let after_ok = end == haystack.len() || haystack.as_bytes()[end] == b' ';
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
        while !haystack.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// A count of lines or records: "20 lines", "the last 50 entries", "tail 10"; and whether it
/// counts the oldest ("the first 20 lines", "the 10 oldest entries", "head 5").
pub fn find_count(words: &[&str]) -> Option<(u64, bool)> {
    let oldest = |w: &str| one_of!(w, "first" | "oldest" | "earliest" | "head");
    for i in 0..words.len() {
        if let Some((n, used)) = number_at(words, i) {
            let next = words.get(i + used).copied().unwrap_or("");
            let previous = if i > 0 { words[i - 1] } else { "" };
            let from_oldest = oldest(next)
                || oldest(previous)
                || (matches!(previous, "the" | "very") && i > 1 && oldest(words[i - 2]));
            // "boot 10 logs" names a boot; "the last one" is no count.
            if one_of!(previous, "boot" | "crash" | "entry" | "number") || (words[i] == "one" && used == 1) {
                continue;
            }
            // "-n 30", "count=100", "limit 50", "Get-WinEvent -MaxEvents 100"
            if one_of!(previous, "n" | "count" | "limit" | "maxevents" | "head")
                && time_unit_seconds(next).is_none()
            {
                return Some((n, from_oldest));
            }
            if one_of!(
                next,
                "lines"
                    | "line"
                    | "entries"
                    | "entry"
                    | "messages"
                    | "message"
                    | "records"
                    | "events"
                    | "logs"
            ) {
                return Some((n, from_oldest));
            }
            // "the 100 newest log entries"
            if one_of!(
                next,
                "newest" | "latest" | "last" | "recent" | "most" | "oldest" | "earliest" | "first"
            ) && words[i + used + 1..words.len().min(i + used + 4)].iter().any(|w| {
                // "the 10 most recent errors": records of a level are records.
                one_of!(*w, "lines" | "line" | "entries" | "messages" | "records" | "events")
                    || (w.ends_with('s') && Level::from_word(w).is_some())
            }) {
                return Some((n, from_oldest));
            }
            // "last 20", "tail 40", "tail log 40", "log --tail 10"
            let mut k = i;
            while k > 0 && i - k < 2 && one_of!(words[k - 1], "log" | "logs" | "the" | "n") {
                k -= 1;
            }
            let before = if k > 0 { words[k - 1] } else { "" };
            // "journalctl -n 50": `-n` counts lines there too.
            let journal_lines = before == "journalctl" && k < i;
            // A number followed by another ("last 1 5 hours": 1.5 hours as words) is no count.
            if (journal_lines
                || one_of!(
                    before,
                    "last"
                        | "latest"
                        | "recent"
                        | "tail"
                        | "newest"
                        | "top"
                        | "first"
                        | "oldest"
                        | "earliest"
                ))
                && time_unit_seconds(next).is_none()
                && digits(next).is_none()
                && !matches!(next, "boots" | "boot" | "crashes")
            {
                return Some((n, from_oldest));
            }
        }
    }
    None
}

/// Whether `words[i]` starts a spoken self-correction: "actually", "wait", "i mean", "sorry"
/// after something was said, or "no" followed by "wait", "the", "sorry", "actually" or "i"
/// ("start the windows, no, the linux vm"; "boot seven, no wait, boot eight"). A bare "no"
/// before anything else is a negation or a number ("no need to start windows", "no
/// warnings", "boot no 7"), and "rather" compares ("linux rather than windows"): neither
/// corrects.
fn starts_correction(words: &[&str], i: usize) -> bool {
    match words[i] {
        "actually" | "wait" | "sorry" | "oops" | "correction" => i > 0,
        // "set the default to recovery, scratch that, rayos-3"; "stop linux, make that windows"
        "scratch" | "make" => i > 0 && words.get(i + 1) == Some(&"that"),
        "mean" => i > 0 && words[i - 1] == "i",
        "no" => {
            words.get(i + 1).is_some_and(|next| one_of!(*next, "wait" | "the" | "sorry" | "actually" | "i"))
        }
        _ => false,
    }
}

/// Every slot found in the request, before the intent's slot list is applied. `words` are
/// the request's words after typo correction ([`crate::analyze`] of `raw`).
pub fn extract(words: &[&str], raw: &str, world: &dyn World) -> Entities {
    extract_slots(words, raw, world, &|_| true)
}

/// The slots `wanted` names, found in the request (the others stay `None` and cost nothing:
/// the engine asks only for the slots of the intent it read, and most intents take none).
///
/// A self-correction is honoured: when a slot is named both before and after the last
/// correction ("show the windows no the linux desktop"), the value after it wins. A slot
/// named on one side only keeps the value of the whole request.
pub fn extract_slots(
    words: &[&str],
    raw: &str,
    world: &dyn World,
    wanted: &dyn Fn(&str) -> bool,
) -> Entities {
    if !SLOT_NAMES.iter().any(|name| wanted(name)) {
        return Entities::default();
    }
    let whole = outside_negations(words, raw, world, wanted);
    // (Most requests correct nothing: the text is looked at only when one may.)
    if !(0..words.len()).any(|i| starts_correction(words, i) || words[i] == "no") {
        return whole;
    }
    // The first word of the last correction (in "no wait", the "no").
    let normalized = crate::text::normalize(raw);
    // Also a "no" that is a clause of its own: "stop linux. no, windows".
    let ends = if words.contains(&"no") {
        clause_ends(&normalized, words.len())
    } else {
        alloc::vec![false; words.len()]
    };
    let corrects =
        |i: usize| starts_correction(words, i) || (words[i] == "no" && i > 0 && ends[i - 1] && ends[i]);
    let Some(mut at) = (0..words.len()).rev().find(|&i| corrects(i)) else { return whole };
    while at > 0 && corrects(at - 1) {
        at -= 1;
    }
    // Where that word is in the text: the words must be the typed ones, one for one (no
    // split words joined), so that the typed word at the same place is the one corrected.
    let typed = word_tokens(&normalized);
    if typed.len() != words.len() {
        return whole;
    }
    let (cut, resume) = (typed[at].start, typed[at].end);
    // A correction word inside the search term ("warnings saying \"no error handler\"") is
    // part of the term, not a correction.
    if whole
        .text
        .as_deref()
        .is_some_and(|term| crate::text::normalize(term).contains(&normalized[cut..resume]))
    {
        return whole;
    }
    let before = outside_negations(&words[..at], &normalized[..cut], world, wanted);
    let after = outside_negations(&words[at + 1..], &normalized[resume..], world, wanted);
    fn corrected<T>(whole: Option<T>, before: Option<T>, after: Option<T>) -> Option<T> {
        match (before, after) {
            (Some(_), Some(later)) => Some(later),
            _ => whole,
        }
    }
    // Which numbers the correction may be about, before the values move into `out`.
    let corrects_number = (
        before.seconds.is_some() && after.seconds.is_none(),
        before.count.is_some() && after.count.is_none(),
        before.boot.is_some() && after.boot.is_none(),
        before.head.is_some() && after.head.is_none(),
    );
    let mut out = Entities {
        vm: corrected(whole.vm, before.vm, after.vm),
        disk: corrected(whole.disk, before.disk, after.disk),
        boot: corrected(whole.boot, before.boot, after.boot),
        level: corrected(whole.level, before.level, after.level),
        seconds: corrected(whole.seconds, before.seconds, after.seconds),
        text: whole.text,
        exclude: whole.exclude,
        entry: corrected(whole.entry, before.entry, after.entry),
        count: corrected(whole.count, before.count, after.count),
        head: corrected(whole.head, before.head, after.head),
        back: corrected(whole.back, before.back, after.back),
        excluded: None,
    };
    // A bare number as the correction ("arm the watchdog for 60, make that 120", "the last 50
    // lines, actually 100", "boot 3, no, 4") corrects the one number named before it, in its
    // unit.
    if let Some(n) = bare_number(&words[at + 1..]) {
        match corrects_number {
            (true, false, false, false) => out.seconds = Some(n.saturating_mul(last_unit(&words[..at]))),
            (false, true, false, false) => out.count = Some(n),
            (false, false, true, false) => out.boot = Some(n.min(i64::MAX as u64) as i64),
            (false, false, false, true) => out.head = Some(n),
            _ => {}
        }
    }
    // Left out, unless the correction named the slot after all.
    out.excluded = after.excluded.or(whole.excluded).filter(|(slot, _)| out.value(slot).is_none());
    out
}

/// The one number a correction is made of, past its correction words: "make that 120", "i
/// mean 15", "no, 4".
fn bare_number(words: &[&str]) -> Option<u64> {
    let start = words.iter().position(|w| {
        !one_of!(
            *w,
            "that"
                | "make"
                | "to"
                | "i"
                | "mean"
                | "meant"
                | "actually"
                | "no"
                | "wait"
                | "sorry"
                | "oops"
                | "scratch"
                | "please"
                | "instead"
                | "correction"
        )
    })?;
    let (n, used) = number_at(words, start)?;
    words[start + used..].iter().all(|w| matches!(*w, "please" | "instead" | "thanks")).then_some(n)
}

/// The unit of the last duration in `words` (seconds per unit; 1 where none is named, as in
/// "arm wd 60").
fn last_unit(words: &[&str]) -> u64 {
    (1..words.len())
        .rev()
        .find_map(|i| time_unit_seconds(words[i]).filter(|_| number_at(words, i - 1).is_some()))
        .unwrap_or(1)
}

/// The word tokens of normalised text, with their byte ranges.
fn word_tokens(normalized: &str) -> Vec<crate::text::Token> {
    crate::text::split(normalized).into_iter().filter(|t| t.kind == crate::text::TokenKind::Word).collect()
}

/// How a negated phrase leaves out what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Negation {
    /// "not", "don't", "never", "no warnings": usually negates the verb ("don't show linux
    /// anymore"), so a value named inside still counts when no other is named.
    Not,
    /// "except", "without", "skip", "instead of", "rather than", "other than": also for a
    /// log filter (a level or a time named inside is not to be shown).
    Exclude,
}

/// The negated phrase starting at `words[i]`, if one does: "not", "don't" (split at the
/// apostrophe: its "t" after "don"), "dont", "never (mind)", "no" before a level, and the
/// excluding "except", "without", "skip", "instead of", "rather than", "other than", and
/// "but" after "all", "any" or "every" ("all vms but linux").
/// "can't", "isn't", "won't" state a problem ("i can't see the linux desktop, show it"),
/// not what to leave out.
fn starts_negation(words: &[&str], i: usize) -> Option<Negation> {
    let next = words.get(i + 1).copied();
    // "not mentioning errors", "usb but not errors": what is named is to be left out.
    let search_cue = |w: &str| {
        one_of!(
            w,
            "mentioning" | "mention" | "containing" | "contain" | "saying" | "say" | "matching" | "about"
        )
    };
    match words[i] {
        "not" if next.is_some_and(search_cue) || (i > 0 && words[i - 1] == "but") => Some(Negation::Exclude),
        "not" | "dont" | "never" => Some(Negation::Not),
        "t" if i > 0 && words[i - 1] == "don" => Some(Negation::Not),
        // "no warnings, only errors" (but "no" is also a correction or a number sign).
        "no" if next.is_some_and(|n| Level::from_word(n).is_some()) => Some(Negation::Not),
        "except" | "without" | "skip" | "non" | "excluding" | "ignoring" | "minus" => Some(Negation::Exclude),
        // What to keep as it is: "leave windows running, stop linux", "keep linux up and
        // restart windows", "hands off linux".
        "leave" | "keep" if i + 1 < words.len() => Some(Negation::Not),
        "hands" if next == Some("off") => Some(Negation::Not),
        // "all vms but linux", "any disk but vda", "anything but linux"
        "but"
            if words[i.saturating_sub(3)..i]
                .iter()
                .any(|w| one_of!(*w, "all" | "any" | "every" | "everything" | "anything")) =>
        {
            Some(Negation::Exclude)
        }
        "instead" if next == Some("of") => Some(Negation::Exclude),
        "rather" | "other" if next == Some("than") => Some(Negation::Exclude),
        _ => None,
    }
}

/// Whether "is fine" (or "is ok", "is good") starts at `words[i]`.
fn is_kept_as_it_is(words: &[&str], i: usize) -> bool {
    i > 0
        && matches!(words[i], "is" | "s")
        && words.get(i + 1).is_some_and(|w| one_of!(*w, "fine" | "ok" | "okay" | "good" | "alright"))
}

/// Which words are inside a negated phrase, and of what kind. A phrase runs from its first
/// word to the end of its clause (see [`clause_ends`]), or to "and", "but", "just", "only",
/// "then", or to a command verb two or more words in ("not disk 2 install to disk 1").
fn negated_phrases(words: &[&str], clause_ends: &[bool]) -> Vec<Option<Negation>> {
    let ends_phrase = |w: &str| one_of!(w, "and" | "but" | "just" | "only" | "then");
    let command_verb = |w: &str| {
        one_of!(
            w,
            "install"
                | "start"
                | "stop"
                | "restart"
                | "show"
                | "hide"
                | "arm"
                | "disarm"
                | "enable"
                | "disable"
                | "set"
                | "make"
                | "use"
                | "put"
                | "kill"
                | "launch"
                | "run"
                | "open"
                | "close"
        )
    };
    let mut negated = alloc::vec![None; words.len()];
    // "linux is fine, stop windows": what comes before "is fine" in its clause is kept as it is.
    for i in 1..words.len() {
        if is_kept_as_it_is(words, i) {
            let mut j = i;
            while j > 0 && !clause_ends[j - 1] {
                j -= 1;
            }
            negated[j..i + 2].iter_mut().for_each(|n| *n = Some(Negation::Not));
        }
    }
    let mut i = 0;
    while i < words.len() {
        let Some(kind) = starts_negation(words, i) else {
            i += 1;
            continue;
        };
        if words[i] == "t" {
            negated[i - 1] = Some(kind); // the "don" of "don't"
        }
        // The cue word itself always belongs to the phrase (so the scan moves on even when
        // the cue is a word that ends other phrases, such as "but").
        let start = i;
        negated[i] = Some(kind);
        i += 1;
        let phrase_ends = |i: usize| {
            i >= words.len()
                || clause_ends[i - 1]
                || ends_phrase(words[i])
                || (i >= start + 2 && command_verb(words[i]))
        };
        while !phrase_ends(i) {
            negated[i] = Some(kind);
            i += 1;
        }
    }
    negated
}

/// The slots of the request, where a value named outside a negated phrase wins over one
/// named inside it: "not disk 2, install to disk 1" is disk 1, "boot rayos-3 by default
/// instead of rayos-2" is rayos-3, "never mind the windows desktop, start the builder vm" is
/// builder. A value named only inside negated phrases is kept after "not" or "don't", which
/// usually negate the verb ("i don't need the windows guest anymore" stops windows, "are
/// there no warnings" asks about warnings), and dropped after an excluding word: "show the
/// log without errors" filters nothing, and a target (VM, disk, boot entry) left out that
/// way is no value but [`Entities::excluded`] ("stop all vms except linux"). The search term
/// is always the whole request's.
fn outside_negations(
    words: &[&str],
    raw: &str,
    world: &dyn World,
    wanted: &dyn Fn(&str) -> bool,
) -> Entities {
    let whole = find_slots(words, raw, world, wanted);
    let has_negation = |words: &[&str]| {
        (0..words.len()).any(|i| starts_negation(words, i).is_some() || is_kept_as_it_is(words, i))
    };
    if !has_negation(words) {
        return whole;
    }
    // The negated words are blanked in the text by their byte ranges, so the rest keeps its
    // exact form (names such as "ci-runner"). When the engine joined split words ("don t" is
    // "dont"), its words no longer line up with the typed ones, and the typed words stand in.
    let normalized = crate::text::normalize(raw);
    let typed = word_tokens(&normalized);
    let typed_words: Vec<&str> = typed.iter().map(|t| &normalized[t.start..t.end]).collect();
    let words = if typed.len() == words.len() { words } else { &typed_words[..] };
    if !has_negation(words) {
        return whole;
    }
    let negated = negated_phrases(words, &clause_ends(&normalized, words.len()));
    // The slots read with some of the negated words blanked out.
    let without = |drop: &dyn Fn(Option<Negation>) -> bool| {
        let mut text = normalized.clone().into_bytes();
        for (token, _) in typed.iter().zip(&negated).filter(|(_, &n)| drop(n)) {
            text[token.start..token.end].fill(b' ');
        }
        let text = String::from_utf8(text).unwrap_or_default();
        let kept: Vec<&str> =
            words.iter().zip(&negated).filter(|(_, &n)| !drop(n)).map(|(w, _)| *w).collect();
        find_slots(&kept, &text, world, &|name| name != "text" && wanted(name))
    };
    let outside = without(&|n| n.is_some());
    let not_excluded = without(&|n| n == Some(Negation::Exclude));
    let (vm, disk, entry) = (
        outside.vm.or(not_excluded.vm),
        outside.disk.or(not_excluded.disk),
        outside.entry.or(not_excluded.entry),
    );
    let excluded = [("vm", &whole.vm, &vm), ("disk", &whole.disk, &disk), ("entry", &whole.entry, &entry)]
        .into_iter()
        .find_map(|(slot, inside, kept)| match (inside, kept) {
            (Some(value), None) => Some((slot, value.clone())),
            _ => None,
        });
    Entities {
        vm,
        disk,
        boot: outside.boot.or(not_excluded.boot),
        level: outside.level.or(not_excluded.level),
        seconds: outside.seconds.or(not_excluded.seconds),
        text: whole.text,
        exclude: whole.exclude,
        entry,
        count: outside.count.or(not_excluded.count),
        head: outside.head.or(not_excluded.head),
        back: outside.back.or(not_excluded.back),
        excluded,
    }
}

/// The slot names, in the order of [`Entities`]' fields.
pub const SLOT_NAMES: [&str; 11] =
    ["vm", "disk", "boot", "level", "seconds", "text", "exclude", "entry", "count", "head", "back"];

fn find_slots(words: &[&str], raw: &str, world: &dyn World, wanted: &dyn Fn(&str) -> bool) -> Entities {
    // A quoted search term is the term alone: its words are no level, boot, time or count
    // ('search the log for "error: boot 5"' filters neither errors nor boot 5). Those filters
    // are read from the rest of the text, as typed.
    let is_filter = |name: &str| one_of!(name, "boot" | "level" | "seconds" | "count" | "head" | "back");
    // (Not when the quote is most of the request and follows no word of searching: then it
    // quotes what someone said.)
    let searched_for = |span: &core::ops::Range<usize>| {
        2 * span.len() < raw.len()
            || one_of!(
                word_before(raw, span.start).to_lowercase().as_str(),
                "for"
                    | "containing"
                    | "contains"
                    | "mentioning"
                    | "grep"
                    | "find"
                    | "search"
                    | "saying"
                    | "says"
                    | "matching"
                    | "about"
                    | "word"
                    | "string"
                    | "text"
                    | "term"
                    | "keyword"
                    | "pattern"
            )
    };
    if let Some((span, _)) = quoted_span(raw).filter(|(span, _)| wanted("text") && searched_for(span)) {
        let mut rest = String::from(&raw[..span.start]);
        rest.push(' ');
        rest.push_str(&raw[span.end..]);
        let rest_normalized = crate::text::normalize(&rest);
        let rest_words = crate::text::words(&rest_normalized);
        let filters = find_slots_as_typed(&rest_words, &rest, world, &|name| is_filter(name) && wanted(name));
        let others = find_slots_as_typed(words, raw, world, &|name| !is_filter(name) && wanted(name));
        return Entities {
            boot: filters.boot,
            level: filters.level,
            seconds: filters.seconds,
            count: filters.count,
            head: filters.head,
            back: filters.back,
            ..others
        };
    }
    find_slots_as_typed(words, raw, world, wanted)
}

/// [`find_slots`] without the treatment of a quoted search term.
fn find_slots_as_typed(
    words: &[&str],
    raw: &str,
    world: &dyn World,
    wanted: &dyn Fn(&str) -> bool,
) -> Entities {
    let normalized = crate::text::normalize(raw);
    let typed = crate::text::words(&normalized);
    // Durations and counts are read from the words as typed, with "1,500" as one number.
    let plain_numbers = without_thousands_separators(&normalized);
    let number_words = plain_numbers.as_deref().map_or_else(|| typed.clone(), crate::text::words);
    // The oldest records where a command can show them, else the count as the newest.
    let counted = wanted("count")
        .then(|| if plain_numbers.is_some() { find_count(&number_words) } else { find_count(words) })
        .flatten()
        .map(|(n, oldest)| (n, oldest && wanted("head")));
    let back = wanted("back").then(|| find_back(words)).flatten();
    let search = if wanted("text") || wanted("exclude") {
        find_text(words, &typed, raw, &normalized)
    } else {
        SearchTerms::default()
    };
    Entities {
        vm: wanted("vm")
            .then(|| {
                // A quoted name of several words is the VM's whole name; one word is found as typed.
                quoted_vm_name(raw)
                    .filter(|name| name.contains(char::is_whitespace))
                    .or_else(|| find_vm(words, &typed_tokens(&normalized, words, &typed), world))
            })
            .flatten(),
        disk: wanted("disk").then(|| find_disk(words, world)).flatten(),
        // Counted back from the newest record, it names no boot ("the second to last crash").
        boot: (wanted("boot") && back.is_none())
            .then(|| find_boot_flag(&normalized, world).or_else(|| find_boot(words, world)))
            .flatten(),
        // Also as typed: the lexicon takes "crit" for another word.
        level: wanted("level")
            .then(|| {
                if typed.as_slice() == words {
                    find_level(words)
                } else {
                    find_level(&[words, &typed[..]].concat())
                }
            })
            .flatten(),
        // Units as typed first: "mins" is a unit even where the lexicon would correct it.
        seconds: wanted("seconds")
            .then(|| {
                decimal_seconds(&normalized)
                    .or_else(|| find_seconds(&number_words))
                    .or_else(|| find_seconds(words))
            })
            .flatten(),
        text: search.text.filter(|_| wanted("text")),
        exclude: search.exclude.filter(|_| wanted("exclude")),
        entry: wanted("entry").then(|| find_entry(words, raw, world)).flatten(),
        count: counted.filter(|&(_, oldest)| !oldest).map(|(n, _)| n),
        head: counted.filter(|&(_, oldest)| oldest).map(|(n, _)| n),
        back,
        excluded: None,
    }
}

/// A crash record counted back from the newest: "the crash before the last one", "the panic
/// prior to the most recent one", "the one before the last crash", "the penultimate crash",
/// "the second to last crash", "the second most recent crash" (1), "the third latest crash"
/// (2). Only where a crash is what is counted: "the crash from the boot before last" names a
/// boot.
pub fn find_back(words: &[&str]) -> Option<u64> {
    let is_crash =
        |w: &str| one_of!(w, "crash" | "crashes" | "panic" | "panics" | "record" | "report" | "dump");
    let newest = |w: &str| one_of!(w, "last" | "latest" | "newest" | "recent" | "previous");
    // The first word past "the", "most" and "very" from `at`, and where it is.
    let past_fillers = |at: usize| {
        (at..words.len()).find(|&k| !one_of!(words[k], "the" | "most" | "very")).map(|k| (k, words[k]))
    };
    if words.iter().any(|w| is_boot_word(w)) {
        return None;
    }
    for i in 0..words.len() {
        if words[i] == "penultimate" && words.get(i + 1).is_some_and(|w| is_crash(w)) {
            return Some(1);
        }
        // "crash before the last one", "one before the latest crash", "panic prior to the
        // most recent one"
        let before = match (words[i], words.get(i + 1).copied()) {
            ("before", _) => Some(i + 1),
            ("prior", Some("to")) => Some(i + 2),
            _ => None,
        };
        if let Some((k, w)) = before.and_then(past_fillers) {
            // What is counted stands up to three words before ("the crash that happened
            // before"), as a crash or as "one" with the crash after the count.
            let lead = &words[i.saturating_sub(3)..i];
            let crash_before = lead.iter().any(|w| is_crash(w));
            let crash_after = lead.contains(&"one") && words.get(k + 1).is_some_and(|w| is_crash(w));
            if newest(w) && (crash_before || crash_after) {
                // "the crash two before the newest one"
                let counted = i
                    .checked_sub(1)
                    .and_then(|c| number_at(words, c))
                    .filter(|&(n, used)| used == 1 && (1..=1000).contains(&n))
                    .map(|(n, _)| n);
                return Some(counted.unwrap_or(1));
            }
        }
        // "second to last crash", "second most recent crash", "third latest crash"
        let Some(n) = ordinal_at(words, i).filter(|&n| n > 1) else { continue };
        let mut j = i + 1;
        if words.get(j) == Some(&"to") {
            j += 1;
        }
        if let Some((k, w)) = past_fillers(j) {
            if newest(w) && words.get(k + 1).is_some_and(|w| is_crash(w)) {
                return Some(n - 1);
            }
        }
    }
    None
}
