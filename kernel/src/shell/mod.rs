//! The shell: reads lines from the console, runs commands, and ends every command with one
//! marker line, `RAYOS_SHELL:OK:<command>` or `RAYOS_SHELL:ERR:<command>:<reason>`.

mod commands;
mod intent;
mod observe;
mod vm;

use alloc::string::String;
use alloc::vec::Vec;

use rayos_shell::editor::{Event, LineEditor};

use crate::{console, println};

pub const PROMPT: &str = "rayos> ";

/// Why a command failed: a short code for the marker and a message for people.
pub struct CommandError {
    pub code: &'static str,
    pub message: String,
}

impl CommandError {
    pub fn new(code: &'static str, message: impl Into<String>) -> CommandError {
        CommandError { code, message: message.into() }
    }

    /// Wrong arguments: shows the command's usage.
    pub fn usage(name: &str) -> CommandError {
        let usage = rayos_shell::commands::find(name).map_or("", |c| c.usage);
        CommandError::new("bad-args", alloc::format!("usage: {name} {usage}"))
    }
}

pub type CommandResult = Result<(), CommandError>;

/// One `RAYOS_BENCH:RESULT` marker, for `cargo xtask bench`.
pub fn bench_result(name: &str, value: impl core::fmt::Display, unit: &str) {
    println!("{}", rayos_markers::BENCH_RESULT.with(&[&name, &value, &unit]));
}

/// How strongly a command must be confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// `y` or `yes`.
    YesNo,
    /// The whole word `yes`: for destructive actions.
    TypeYes,
}

/// Asks the person at the console to confirm; returns whether they did. Prints
/// `RAYOS_SHELL:CONFIRM:<command>` so scripts know an answer is expected.
pub fn confirm(command: &str, question: &str, strength: Confirmation) -> bool {
    match strength {
        Confirmation::YesNo => println!("{question} [y/N]"),
        Confirmation::TypeYes => println!("{question} Type 'yes' to confirm."),
    }
    println!("{}", rayos_markers::SHELL_CONFIRM.with(&[&command]));
    crate::print!("confirm> ");
    let mut editor = LineEditor::new();
    let mut input = [0u8; 1];
    loop {
        console::flush_screen();
        if console::read_input(&mut input) == 0 {
            continue;
        }
        match editor.feed(input[0], &mut |echo| console::write_bytes(echo)) {
            None => continue,
            Some(Event::Line(answer)) => {
                let answer = answer.trim().to_ascii_lowercase();
                let yes = match strength {
                    Confirmation::YesNo => answer == "y" || answer == "yes",
                    Confirmation::TypeYes => answer == "yes",
                };
                if !yes {
                    println!("not confirmed; nothing was changed");
                }
                return yes;
            }
            Some(_) => {
                println!("not confirmed; nothing was changed");
                return false;
            }
        }
    }
}

/// The shell thread.
pub fn run() -> ! {
    let mut editor = LineEditor::new();
    println!("{}", rayos_markers::SHELL_READY.with(&[]));
    crate::print!("{PROMPT}");
    let mut input = [0u8; 256];
    loop {
        console::flush_screen();
        let n = console::read_input(&mut input);
        for &byte in &input[..n] {
            let Some(event) = editor.feed(byte, &mut |echo| console::write_bytes(echo)) else { continue };
            match event {
                Event::Line(line) => execute(&line),
                Event::Rejected(error) => {
                    println!("error: {error}");
                    println!("{}", rayos_markers::SHELL_ERR.with(&[&"-", &error.code()]));
                }
                Event::Cancelled => {}
            }
            crate::print!("{PROMPT}");
        }
    }
}

/// Runs one line: a command, or (when its first word is none) a request for System 2. A
/// command that takes no arguments, followed by words that are not options, is a request
/// too when System 2 can run that command: "reboot the linux vm" means the VM, "uptime
/// please" the uptime ("clear the screen" stays a usage error: no request clears it).
pub fn execute(line: &str) {
    // An empty line is no request: a new prompt, as in any shell.
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else { return };
    let command = rayos_shell::commands::find(first);
    let mut rest = words.peekable();
    let plain_words_after_bare_command = command.is_some_and(|spec| spec.usage.is_empty())
        && rest.peek().is_some()
        && rest.all(|w| !w.starts_with('-'))
        && crate::system2::runs_command(first);
    let is_command = command.is_some() && !plain_words_after_bare_command;
    let looks_like_typo =
        command.is_none() && !line.trim().contains(' ') && rayos_shell::commands::suggest(first).is_some();
    if is_command || looks_like_typo {
        execute_command(line);
    } else {
        intent::run_plain_language(line);
    }
}

/// Commands whose arguments are free text taken as typed: quotes and apostrophes are part of
/// what the person wrote, not shell syntax.
fn takes_free_text(line: &str) -> bool {
    let mut words = line.split_whitespace();
    matches!((words.next(), words.next()), (Some("intent" | "ask"), _) | (Some("vm"), Some("send")))
}

/// Runs one command line and prints its result marker.
pub fn execute_command(line: &str) {
    if intent::refused_as_not_built(line) {
        return;
    }
    let split = if takes_free_text(line) {
        Ok(line.split_whitespace().map(String::from).collect())
    } else {
        rayos_shell::args::split(line)
    };
    let words = match split {
        Ok(words) => words,
        Err(error) => {
            let first = line.split_whitespace().next().unwrap_or("-");
            println!("error: {error}");
            println!("{}", rayos_markers::SHELL_ERR.with(&[&first, &"bad-quoting"]));
            return;
        }
    };
    let Some(name) = words.first() else { return };
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let result = match commands::run(name, &args) {
        Some(result) => result,
        None => Err(unknown_command(name)),
    };
    match result {
        Ok(()) => println!("{}", rayos_markers::SHELL_OK.with(&[name])),
        Err(error) => {
            if !error.message.is_empty() {
                println!("error: {}", error.message);
            }
            println!("{}", rayos_markers::SHELL_ERR.with(&[name, &error.code]));
        }
    }
}

fn unknown_command(name: &str) -> CommandError {
    let shown: String = name.chars().take(40).collect();
    let hint = match rayos_shell::commands::suggest(name) {
        Some(spec) => alloc::format!(" Did you mean '{}'?", spec.name),
        None => String::new(),
    };
    CommandError::new(
        "unknown-command",
        alloc::format!("unknown command '{shown}'.{hint} Type 'help' to list the commands."),
    )
}
