//! `cargo xtask profile`: where the kernel spends its time while a shell command runs.
//!
//! A sampling profiler from outside the machine: RayOS boots in QEMU, the command is typed
//! at the shell, and until its result marker appears the machine is stopped, its registers
//! are read through QMP (`info registers`) and it is let go again, as fast as QMP answers.
//! Each
//! sample's RIP is looked up in the kernel ELF's symbol table; its caller is the return
//! address above the frame pointer (the kernel keeps frame pointers), or, for the
//! frame-less memory routines of compiler_builtins (`memcpy`, `memset`, ...), the first
//! kernel code address found on the stack.
//!
//! Caveats: a stop lands between translation blocks, so long blocks are sampled less often
//! than the time they take, and the stops slow the machine (disk and timer work done by QEMU
//! beside the vCPU looks cheaper than it is); percentages are a shape, not exact cycle
//! shares. Samples outside the kernel (a guest under the hypervisor, firmware) are counted
//! as such.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rayos_markers::{
    LOADER_START, LOG_RAM_ONLY, LOG_RECOVERED, PANIC, SHELL_CONFIRM, SHELL_ERR, SHELL_OK, SHELL_READY,
};

use crate::qemu::{Machine, MachineConfig, Qmp};

pub const USAGE: &str = "profile [--memory MIB] [--top N] <command line>";

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// The kernel's function symbols, sorted by address; names are given demangled.
struct Symbols<'k>(Vec<rayos_symbols::Symbol<'k>>);

impl<'k> Symbols<'k> {
    fn read(kernel: &'k [u8]) -> Result<Symbols<'k>> {
        let symbols = rayos_symbols::function_symbols(kernel).map_err(|e| match e {
            rayos_symbols::SymbolsError::NotElf => anyhow::anyhow!("the kernel is not an ELF file"),
            rayos_symbols::SymbolsError::NoSymbolTable => anyhow::anyhow!("the kernel has no symbol table"),
        })?;
        if symbols.is_empty() {
            bail!("the kernel's symbol table has no functions");
        }
        Ok(Symbols(symbols))
    }

    /// Whether `address` lies between the first and the last function.
    fn contains(&self, address: u64) -> bool {
        let (first, last) = (&self.0[0], &self.0[self.0.len() - 1]);
        (first.address..last.address + last.size).contains(&address)
    }

    /// The function that starts last at or below `address`, whatever its size.
    fn before(&self, address: u64) -> Option<String> {
        rayos_symbols::at_or_before(&self.0, address).map(|s| demangled(s.name))
    }

    /// Whether a function starts exactly at `address`.
    fn starts_at(&self, address: u64) -> bool {
        self.0.binary_search_by_key(&address, |s| s.address).is_ok()
    }

    fn lookup(&self, address: u64) -> Option<String> {
        rayos_symbols::lookup(&self.0, address).map(|(s, _)| demangled(s.name))
    }
}

fn demangled(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// Functions that set up no frame: their caller is found on the stack instead.
fn frameless(name: &str) -> bool {
    matches!(name, "memcpy" | "memmove" | "memset" | "memcmp" | "bcmp")
        || name.starts_with("compiler_builtins::")
}

/// The 64-bit register `name` (e.g. `RIP`) in QEMU's `info registers` text.
fn register(text: &str, name: &str) -> Option<u64> {
    let at = text.find(&format!("{name}="))? + name.len() + 1;
    u64::from_str_radix(text.get(at..at + 16)?, 16).ok()
}

/// The 64-bit words at guest virtual `address` (QEMU's `x` command).
fn read_words(qmp: &mut Qmp, address: u64, count: usize) -> Result<Vec<u64>> {
    let text = hmp(qmp, &format!("x /{count}gx {address:#x}"))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .flat_map(|(_, words)| {
            words.split_whitespace().filter_map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
        })
        .collect())
}

fn hmp(qmp: &mut Qmp, command: &str) -> Result<String> {
    let reply = qmp.execute("human-monitor-command", serde_json::json!({ "command-line": command }))?;
    Ok(reply.as_str().unwrap_or_default().to_string())
}

/// One sample: the function it landed in and the function that called it. The machine is
/// stopped for it: TCG writes a vCPU's RIP back only when it leaves its translated code, so
/// reading the registers of a running vCPU would see where it last left (an I/O access, an
/// interrupt), not where it is.
fn sample(qmp: &mut Qmp, symbols: &Symbols) -> Result<(String, String)> {
    qmp.execute("stop", serde_json::json!({}))?;
    let taken = sample_stopped(qmp, symbols);
    qmp.execute("cont", serde_json::json!({}))?;
    taken
}

fn sample_stopped(qmp: &mut Qmp, symbols: &Symbols) -> Result<(String, String)> {
    let text = hmp(qmp, "info registers")?;
    let (Some(rip), Some(rsp), Some(rbp)) =
        (register(&text, "RIP"), register(&text, "RSP"), register(&text, "RBP"))
    else {
        // QEMU prints EIP/ESP for 32-bit and real-mode code: a guest or firmware.
        return Ok((String::from("[outside the kernel: a guest or firmware]"), String::new()));
    };
    let Some(function) = symbols.lookup(rip) else {
        let place = if symbols.contains(rip) {
            format!("[kernel code without a symbol near {}]", symbols.before(rip).as_deref().unwrap_or("?"))
        } else {
            String::from("[outside the kernel: a guest or firmware]")
        };
        return Ok((place, String::new()));
    };
    let caller = if symbols.starts_at(rip) {
        // Before `push rbp`: the return address is on top of the stack.
        read_words(qmp, rsp, 1)?.first().and_then(|&w| symbols.lookup(w))
    } else if frameless(&function) {
        read_words(qmp, rsp, 8)?.into_iter().find_map(|w| symbols.lookup(w).filter(|c| *c != function))
    } else {
        read_words(qmp, rbp.wrapping_add(8), 1)?.first().and_then(|&w| symbols.lookup(w))
    };
    Ok((function, caller.unwrap_or_else(|| String::from("?"))))
}

pub fn run(args: &[String]) -> Result<()> {
    let mut memory_mib = 2048;
    let mut top = 25;
    // Options come first; everything from the first other word on is the command line.
    let mut rest = args;
    loop {
        match rest {
            [flag, value, tail @ ..] if flag == "--memory" => {
                memory_mib = value.parse().context("--memory needs MiB")?;
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "--top" => {
                top = value.parse().context("--top needs a count")?;
                rest = tail;
            }
            _ => break,
        }
    }
    let command = rest.join(" ");
    if command.trim().is_empty() {
        bail!("usage: cargo xtask {USAGE}");
    }
    crate::toolchain::ensure_qemu()?;
    let image = crate::build_image_with_free_space("profile.img", 64 << 20)?;
    let kernel = std::fs::read(crate::artifacts::kernel_path())?;
    let symbols = Symbols::read(&kernel)?;
    let mut config = MachineConfig::new("profile", &image);
    config.memory_mib = memory_mib;
    let mut m = Machine::start(&config)?;
    m.expect_marker(&SHELL_READY, BOOT_TIMEOUT)?;
    m.wait_for(BOOT_TIMEOUT, |l| LOG_RECOVERED.parse(l).is_some() || LOG_RAM_ONLY.parse(l).is_some())
        .context("waiting for the log to mount")?;
    let name = command.split_whitespace().next().unwrap_or("-").to_string();
    m.send(format!("{command}\r").as_bytes())?;
    eprintln!("xtask: sampling while `{command}` runs");
    let started = Instant::now();
    let mut samples: HashMap<String, (u64, HashMap<String, u64>)> = HashMap::new();
    let mut total = 0u64;
    let mut result = None;
    while result.is_none() {
        if started.elapsed() > COMMAND_TIMEOUT {
            bail!("`{command}` did not finish within {COMMAND_TIMEOUT:?}");
        }
        let (function, caller) = sample(m.qmp()?, &symbols)?;
        let entry = samples.entry(function).or_default();
        entry.0 += 1;
        *entry.1.entry(caller).or_default() += 1;
        total += 1;
        result = m.take_line(|l| {
            SHELL_OK.parse(l).is_some_and(|f| f.get(0) == Some(&name))
                || SHELL_ERR.parse(l).is_some_and(|f| f.get(0) == Some(&name))
                || SHELL_CONFIRM.parse(l).is_some()
                || PANIC.parse(l).is_some()
                || LOADER_START.parse(l).is_some()
        })?;
        // Let the machine run a little between two stops, so samples are not all taken
        // right after a `cont`.
        std::thread::sleep(Duration::from_micros(500 + 97 * (total % 16)));
    }
    let ended =
        |l: &crate::qemu::Line| SHELL_OK.parse(&l.text).is_some() || SHELL_ERR.parse(&l.text).is_some();
    if let Some(line) = result.as_ref().filter(|l| !ended(l)) {
        eprintln!("xtask: sampling stopped early: {}", line.text);
    }
    let elapsed = started.elapsed();
    let mut rows: Vec<_> = samples.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    println!(
        "`{command}`: {total} samples in {:.1} s (QEMU TCG; self time by function, with its main callers)",
        elapsed.as_secs_f64()
    );
    for (function, (count, callers)) in rows.iter().take(top) {
        println!("{:5.1} % {count:>6}  {function}", *count as f64 * 100.0 / total as f64);
        let mut callers: Vec<_> = callers.iter().filter(|(c, _)| !c.is_empty()).collect();
        callers.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (caller, n) in callers.iter().take(3) {
            println!("{:16}{:4.0} % from {caller}", "", **n as f64 * 100.0 / *count as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_read_from_qemu_text() {
        let text = "RAX=0000000000000001 RBX=0000000000000002\nRSI=0 RDI=0 RBP=ffffffff80001230 RSP=ffff800000010000\nRIP=ffffffff802a1d20 RFL=00000046";
        assert_eq!(register(text, "RIP"), Some(0xffff_ffff_802a_1d20));
        assert_eq!(register(text, "RBP"), Some(0xffff_ffff_8000_1230));
        assert_eq!(register(text, "RSP"), Some(0xffff_8000_0001_0000));
        assert_eq!(register(text, "R99"), None);
    }

    #[test]
    fn symbols_cover_their_size_only() {
        use rayos_symbols::Symbol;
        let symbols = Symbols(vec![
            Symbol { address: 0x1000, size: 0x10, name: "a" },
            Symbol { address: 0x2000, size: 0x20, name: "b" },
        ]);
        assert_eq!(symbols.lookup(0x1000).as_deref(), Some("a"));
        assert_eq!(symbols.lookup(0x100f).as_deref(), Some("a"));
        assert_eq!(symbols.lookup(0x1010), None);
        assert_eq!(symbols.lookup(0x201f).as_deref(), Some("b"));
        assert_eq!(symbols.lookup(0xfff), None);
    }
}
