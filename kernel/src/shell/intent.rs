//! Plain-language lines: System 2 reads them, the shell says how, and runs the reading through
//! the same path as a typed command, asking first when the effect calls for it.

use alloc::format;
use alloc::string::String;

use rayos_intent::{Effect, Reading};

use super::{confirm, CommandError, CommandResult, Confirmation};
use crate::{println, system2};

/// Subsystems the intent table names that RayOS does not have yet.
fn not_available(command: &str) -> Option<&'static str> {
    let mut words = command.split_whitespace();
    match (words.next(), words.next()) {
        (Some("install"), _) => Some("the installer is not built yet"),
        (Some("bootmgr"), _) => Some("the boot manager is not built yet"),
        (Some("recovery"), _) => Some("recovery and rollback are not built yet"),
        (Some("net"), _) => Some("networking is not built yet (the network is off)"),
        (Some("policy"), _) => Some("the policy engine is not built yet"),
        (Some("vm"), Some("show" | "hide")) => {
            Some("showing a guest's screen in a RayOS window is not built yet")
        }
        _ => None,
    }
}

/// Refuses `command` when it belongs to a part that is not built yet, saying so with the
/// `not-available` marker; true when refused. Every command line passes here, typed (`vm show
/// linux`) or read by System 2 (which asks before it confirms anything).
pub(super) fn refused_as_not_built(command: &str) -> bool {
    let Some(why) = not_available(command) else { return false };
    let name = command.split_whitespace().next().unwrap_or("-");
    println!("RayOS cannot do that yet: {why}.");
    println!("{}", rayos_markers::SHELL_ERR.with(&[&name, &"not-available"]));
    true
}

fn marker(reading: &Reading) -> String {
    let command = reading.command.clone().unwrap_or_else(|| String::from("-"));
    let confidence = format!("{:.2}", reading.confidence);
    format!("{}", rayos_markers::INTENT.with(&[&reading.label, &confidence, &command]))
}

/// Handles a line whose first word is not a command.
pub fn run_plain_language(line: &str) {
    let first = line.split_whitespace().next().unwrap_or("-");
    let (reading, _) = match system2::read(line) {
        Ok(r) => r,
        Err(why) => {
            println!("error: {why}");
            println!("{}", rayos_markers::SHELL_ERR.with(&[&first, &"no-intent-engine"]));
            return;
        }
    };
    println!("{}", marker(&reading));
    let Some(command) = reading.command.clone() else {
        println!("{}", reading.reply.as_deref().unwrap_or("That is not something RayOS can do."));
        // In scope but without a command: the request named its target only as one to leave
        // out ("stop all vms except linux") or named every VM, and the reply asks which one is
        // meant; or it asked for the command later ("reboot in 10 minutes").
        let reason = if reading.is_oos() { "out-of-scope" } else { "not-run" };
        println!("{}", rayos_markers::SHELL_ERR.with(&[&first, &reason]));
        return;
    };
    println!("I read this as: {command}  ({}, {:.0}% sure)", reading.label, reading.confidence * 100.0);
    if refused_as_not_built(&command) {
        return;
    }
    let name = command.split_whitespace().next().unwrap_or("-");
    let confirmed = match reading.effect {
        // The command asks itself; one question is enough.
        _ if confirms_itself(&command) => true,
        Effect::Read => true,
        Effect::Change => confirm(name, &format!("Run '{command}'?"), Confirmation::YesNo),
        Effect::Destructive => {
            confirm(name, &format!("'{command}' is hard to undo. Run it?"), Confirmation::TypeYes)
        }
        Effect::NoAction => false,
    };
    if !confirmed {
        println!("{}", rayos_markers::SHELL_ERR.with(&[&name, &"not-confirmed"]));
        return;
    }
    super::execute_command(&command);
}

/// Commands that ask for their own confirmation (`observe.rs`), so the plain-language path
/// does not ask a second time.
fn confirms_itself(command: &str) -> bool {
    let mut words = command.split_whitespace();
    matches!(
        (words.next(), words.next()),
        (Some("crash"), Some("clear")) | (Some("watchdog"), Some("disarm"))
    )
}

/// `intent <text>`: the reading, without running anything.
pub fn intent(args: &[&str]) -> CommandResult {
    if args.is_empty() {
        return Err(CommandError::usage("intent"));
    }
    let text = args.join(" ");
    let (reading, elapsed_ns) = system2::read(&text).map_err(no_engine)?;
    let engine = system2::engine().map_err(no_engine)?;
    println!("{}", marker(&reading));
    match reading.corrected_from {
        Some(before) => println!(
            "intent      {} (the words corrected the classifier's reading, {} {:.2})",
            reading.label,
            engine.label(before),
            reading.alternatives.iter().find(|(id, _)| *id == before).map_or(reading.confidence, |a| a.1)
        ),
        None => println!("intent      {} ({:.2})", reading.label, reading.confidence),
    }
    let alternatives: alloc::vec::Vec<String> =
        reading.alternatives.iter().map(|(id, p)| format!("{} {:.2}", engine.label(*id), p)).collect();
    println!("closest     {}", alternatives.join(", "));
    println!("entities    {}", reading.entities.to_json());
    println!("command     {}", reading.command.as_deref().unwrap_or("- (nothing would run)"));
    if let (false, Some(reply)) = (reading.is_oos(), reading.reply.as_deref()) {
        println!("why         {reply}");
    }
    let effect = match reading.effect {
        Effect::Read => "read: runs at once",
        Effect::Change => "change: asks y/N first",
        Effect::Destructive => "destructive: needs 'yes' typed",
        Effect::NoAction => "none",
    };
    println!("effect      {effect}");
    if let Some(why) = reading.command.as_deref().and_then(not_available) {
        println!("available   no: {why}");
    }
    println!("read in     {} us", elapsed_ns / 1000);
    Ok(())
}

/// `intent --time <text>` for benchmarks: the reading's marker and the kernel-measured read
/// time, then where the time goes: the features alone, features + classifier, and the whole
/// read once more. Under QEMU's TCG the read typed at the shell costs more than the read
/// repeated at once (the emulator's translated-code and memory lookups are colder after the
/// shell's own work between commands); the repeat shows the engine's warm speed.
pub fn intent_time(args: &[&str]) -> CommandResult {
    let text = args.join(" ");
    let (reading, elapsed_ns) = system2::read(&text).map_err(no_engine)?;
    println!("{}", marker(&reading));
    super::bench_result("intent_read", elapsed_ns, "ns");
    let engine = system2::engine().map_err(no_engine)?;
    let t = crate::time::now_ns();
    let _ = engine.features(&text);
    let features_ns = crate::time::now_ns() - t;
    let t = crate::time::now_ns();
    let _ = engine.scores(&text);
    let scores_ns = crate::time::now_ns() - t;
    let (_, again_ns) = system2::read(&text).map_err(no_engine)?;
    super::bench_result("intent_features", features_ns, "ns");
    super::bench_result("intent_scores", scores_ns, "ns");
    super::bench_result("intent_read_again", again_ns, "ns");
    Ok(())
}

/// `ask <question>`: the best passages of the manual.
pub fn ask(args: &[&str]) -> CommandResult {
    if args.is_empty() {
        return Err(CommandError::usage("ask"));
    }
    let question = args.join(" ");
    let hits = system2::ask(&question, 3).map_err(no_engine)?;
    if hits.is_empty() {
        println!("the manual has nothing on that");
    }
    for (i, (section, text, _)) in hits.iter().enumerate() {
        println!("[{}] {section}", i + 1);
        for line in wrap(text, 96) {
            println!("    {line}");
        }
    }
    Ok(())
}

fn wrap(text: &str, width: usize) -> alloc::vec::Vec<String> {
    let mut lines = alloc::vec::Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(core::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The error of a command that needs System 2 when its engine did not load.
fn no_engine(why: &'static str) -> CommandError {
    CommandError::new("no-intent-engine", why)
}
