//! The intent table: one row per intent with its effect class, the entity slots it takes,
//! its canonical command template and a one-line description.
//!
//! The table is data (`data/intents.tsv`, copied into the weights blob as section `TABL`), so
//! adding an intent is adding a row and examples, never code. Format: one row per line,
//! tab-separated `label, effect, slots, command, description`; `#` starts a comment line;
//! `-` stands for an empty slots list or for "no command".
//!
//! Command templates: literal text, placeholders `{slot}` or `{slot|default}`, and optional
//! groups `[...]` that are emitted only when every placeholder inside them has a value.
//! Slots: `vm disk boot level seconds text entry count` and `question` (the request itself).

use alloc::string::String;
use alloc::vec::Vec;

use crate::format::LoadError;

const TABL: [u8; 4] = *b"TABL";

/// What running an intent's command does, which decides how the shell confirms it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Only reads state: runs at once.
    Read,
    /// Changes state: the shell asks y/N.
    Change,
    /// Hard to undo (install, shutdown, rollback, ...): the command's own explicit confirmation.
    Destructive,
    /// Nothing runs (out of scope).
    NoAction,
}

impl Effect {
    /// The table's spelling: `read`, `change`, `destructive`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Change => "change",
            Effect::Destructive => "destructive",
            Effect::NoAction => "none",
        }
    }

    fn parse(word: &str) -> Option<Effect> {
        Some(match word {
            "read" => Effect::Read,
            "change" => Effect::Change,
            "destructive" => Effect::Destructive,
            "none" => Effect::NoAction,
            _ => return None,
        })
    }
}

pub use crate::entities::SLOT_NAMES;

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentSpec {
    /// The label, e.g. `vm.start`.
    pub label: String,
    /// The effect class.
    pub effect: Effect,
    /// Which of [`SLOT_NAMES`] this intent takes (entities outside this list are dropped).
    pub slots: Vec<String>,
    /// The command template, `None` for out of scope.
    pub command: Option<String>,
    /// One line for people.
    pub description: String,
}

/// Parses the table text; `what` in the error names the first problem found.
pub fn parse_table(text: &str) -> Result<Vec<IntentSpec>, LoadError> {
    let bad = |what| LoadError::Malformed { tag: TABL, what };
    let mut rows: Vec<IntentSpec> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 5 {
            return Err(bad("a row does not have 5 tab-separated fields"));
        }
        let label = fields[0].trim();
        if label.is_empty() || rows.iter().any(|r| r.label == label) {
            return Err(bad("an intent label is empty or repeated"));
        }
        let effect =
            Effect::parse(fields[1].trim()).ok_or(bad("unknown effect (read, change, destructive, none)"))?;
        let slots: Vec<String> = match fields[2].trim() {
            "-" | "" => Vec::new(),
            list => list.split(',').map(|s| String::from(s.trim())).collect(),
        };
        if slots.iter().any(|s| !SLOT_NAMES.contains(&s.as_str())) {
            return Err(bad("unknown slot name"));
        }
        let command = match fields[3].trim() {
            "-" | "" => None,
            template => {
                check_template(template).map_err(bad)?;
                Some(String::from(template))
            }
        };
        rows.push(IntentSpec {
            label: String::from(label),
            effect,
            slots,
            command,
            description: String::from(fields[4].trim()),
        });
    }
    if rows.len() < 2 || rows.len() > u16::MAX as usize {
        return Err(bad("the table must have between 2 and 65535 intents"));
    }
    match rows.iter().filter(|r| r.label == crate::OOS_LABEL).count() {
        1 => {}
        _ => return Err(bad("the table must have exactly one `oos` row")),
    }
    Ok(rows)
}

fn check_template(template: &str) -> Result<(), &'static str> {
    let mut in_group = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        match c {
            '[' if in_group => return Err("nested [ in a command template"),
            '[' => in_group = true,
            ']' if !in_group => return Err("unmatched ] in a command template"),
            ']' => in_group = false,
            '{' => {
                let end = rest.find('}').ok_or("unclosed { in a command template")?;
                let name = rest[1..end].split('|').next().unwrap_or("");
                if name != "question" && !SLOT_NAMES.contains(&name) {
                    return Err("unknown placeholder in a command template");
                }
                rest = &rest[end..];
            }
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    if in_group {
        return Err("unclosed [ in a command template");
    }
    Ok(())
}

/// Renders a checked template; `value` gives a slot's rendered value. `None` when a
/// placeholder outside any group has neither a value nor a default.
pub fn render(template: &str, value: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut group = String::new();
    let mut in_group = false;
    let mut group_ok = true;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        let target = if in_group { &mut group } else { &mut out };
        match c {
            '[' => {
                in_group = true;
                group_ok = true;
                group.clear();
            }
            ']' => {
                in_group = false;
                if group_ok {
                    out.push_str(&group);
                }
            }
            '{' => {
                let end = rest.find('}')?;
                let inner = &rest[1..end];
                let (name, default) = match inner.split_once('|') {
                    Some((n, d)) => (n, Some(d)),
                    None => (inner, None),
                };
                match value(name).or_else(|| default.map(String::from)) {
                    Some(v) => target.push_str(&v),
                    None if in_group => group_ok = false,
                    None => return None,
                }
                rest = &rest[end..];
            }
            other => target.push(other),
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}
