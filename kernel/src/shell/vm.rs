//! The `vm` command.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::Ordering;

use super::{CommandError, CommandResult};
use crate::vm::{self, backend::Exit, State, Status, VmError};
use crate::{console, println, time};

fn error(e: VmError) -> CommandError {
    CommandError::new(e.code(), e.message())
}

pub fn vm(args: &[&str]) -> CommandResult {
    match args {
        ["list"] => {
            if let Err(why) = vm::support() {
                println!("note: {}", why.message());
            }
            println!("{:<10} {:<9} {:>9} {:>12}  ready", "name", "state", "memory", "uptime");
            for v in vm::vms() {
                let Status { state, since_ns: since, guest_ready: ready, .. } = v.shared.status();
                let uptime = if state == State::Stopped {
                    String::from("-")
                } else {
                    super::commands::format_duration(time::now_ns() - since)
                };
                println!(
                    "{:<10} {:<9} {:>5} MiB {:>12}  {}",
                    v.config.name,
                    state.name(),
                    v.config.memory_bytes >> 20,
                    uptime,
                    if ready { "yes" } else { "-" }
                );
            }
            Ok(())
        }
        ["start", name] => vm::start(name, None).map_err(error),
        ["start", name, case] => vm::start(name, Some(case)).map_err(error),
        ["stop", name] => {
            println!("asking {name} to power off (it is stopped by force after 30 s)...");
            vm::stop(name).map_err(error)?;
            let v = vm::lookup(name).map_err(error)?;
            println!("{name}: {}", v.shared.status().last_stop.unwrap_or_default());
            Ok(())
        }
        ["kill", name] => vm::kill(name).map_err(error),
        ["restart", name] => {
            let v = vm::lookup(name).map_err(error)?;
            if v.shared.state() != State::Stopped {
                vm::stop(name).map_err(error)?;
            }
            vm::start(name, None).map_err(error)
        }
        ["status", name] => {
            let v = vm::lookup(name).map_err(error)?;
            let Status { state, since_ns: since, last_stop: last, guest_ready: ready } = v.shared.status();
            println!("name       {}", v.config.name);
            println!("state      {}", state.name());
            if state != State::Stopped {
                println!("uptime     {}", super::commands::format_duration(time::now_ns() - since));
            }
            println!(
                "memory     {} MiB, {} vCPU, network: {}",
                v.config.memory_bytes >> 20,
                v.config.vcpus,
                if v.config.network { "on" } else { "off" }
            );
            println!("ready      {}", if ready { "yes (RAYOS_GUEST:READY seen)" } else { "no" });
            if let Some(last) = last {
                println!("last stop  {last}");
            }
            let mut total = 0;
            let mut line = String::new();
            for (name, counter) in Exit::NAMES.iter().zip(v.shared.exits.iter()) {
                let n = counter.load(Ordering::Relaxed);
                total += n;
                if n > 0 {
                    line.push_str(&format!(" {name}={n}"));
                }
            }
            println!("exits      {total}:{line}");
            let accesses = *v.shared.device_accesses.lock();
            let mut line = String::new();
            for (name, n) in accesses.named().iter().filter(|(_, n)| *n > 0) {
                line.push_str(&format!(" {name}={n}"));
            }
            println!("devices   {}", if line.is_empty() { " none yet" } else { &line });
            Ok(())
        }
        ["send", name, words @ ..] if !words.is_empty() => {
            let v = vm::lookup(name).map_err(error)?;
            if v.shared.state() == State::Stopped {
                return Err(error(VmError::NotRunning));
            }
            let mut line = words.join(" ");
            line.push('\n');
            let sent = v.shared.type_input(line.as_bytes());
            if sent < line.len() {
                return Err(CommandError::new(
                    "input-full",
                    "the guest is not reading its console; input was cut",
                ));
            }
            Ok(())
        }
        ["output", name] => output(name, None),
        ["output", name, "--tail", n] => {
            output(name, Some(n.parse().map_err(|_| CommandError::usage("vm"))?))
        }
        ["console", name] => console(name),
        _ => Err(CommandError::usage("vm")),
    }
}

fn output(name: &str, tail: Option<usize>) -> CommandResult {
    let v = vm::lookup(name).map_err(error)?;
    let bytes = v.shared.output();
    let text = String::from_utf8_lossy(&bytes);
    let lines: alloc::vec::Vec<&str> = text.lines().collect();
    let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
    for line in &lines[skip..] {
        // Guest output is untrusted: show only printable characters, and no line that would
        // pass for a RayOS marker.
        let clean: String = line.chars().map(|c| if c.is_control() && c != '\t' { '.' } else { c }).collect();
        let prefix =
            if rayos_markers::looks_like_marker(&clean) { rayos_markers::UNTRUSTED_LINE_PREFIX } else { "" };
        println!("{prefix}{clean}");
    }
    Ok(())
}

/// Attaches the console to the guest's until Ctrl-] is typed.
fn console(name: &str) -> CommandResult {
    let v = vm::lookup(name).map_err(error)?;
    if v.shared.state() == State::Stopped {
        return Err(error(VmError::NotRunning));
    }
    println!("attached to {name}'s console; type Ctrl-] to detach");
    v.shared.attach_console();
    let mut input = [0u8; 64];
    'attached: loop {
        if v.shared.state() == State::Stopped {
            break;
        }
        console::flush_screen();
        // Returns early when the guest stops (the VM thread detaches the console).
        let n = console::read_input_unless(&mut input, || !v.shared.attached.load(Ordering::Acquire));
        for (i, &b) in input[..n].iter().enumerate() {
            if b == 0x1D {
                v.shared.type_input(&input[..i]);
                break 'attached;
            }
        }
        v.shared.type_input(&input[..n]);
    }
    v.shared.attached.store(false, Ordering::Relaxed);
    println!();
    println!("detached from {name}");
    Ok(())
}
