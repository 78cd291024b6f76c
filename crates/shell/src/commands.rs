//! The command table: names, usage and help texts, and "did you mean" suggestions.

/// One shell command as the user sees it.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Arguments, in usage notation, e.g. `[--tail N]`.
    pub usage: &'static str,
    /// One line for `help`.
    pub summary: &'static str,
    /// Paragraph for `help <command>`.
    pub details: &'static str,
}

/// Every command the shell knows, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "help",
        usage: "[command]",
        summary: "list commands, or explain one",
        details: "Without an argument, lists every command with a one-line description. With a command \
                  name, shows its usage and what it does. Lines that do not start with a command (or \
                  start with one that takes no arguments, followed by plain words, when a request can \
                  run it) go to System 2, which reads them as requests in plain words (see intent and \
                  ask).",
    },
    CommandSpec {
        name: "version",
        usage: "",
        summary: "show the RayOS version and build",
        details: "Prints the kernel version, the target, and the SHA-256 of the kernel file the loader \
                  verified at boot.",
    },
    CommandSpec {
        name: "echo",
        usage: "[text...]",
        summary: "print the arguments",
        details: "Prints its arguments separated by single spaces. Quotes group words: echo \"a  b\".",
    },
    CommandSpec {
        name: "mem",
        usage: "",
        summary: "show physical memory and kernel heap usage",
        details: "Shows usable physical memory (total, used, free) from the frame allocator and the \
                  kernel heap (size, used, free).",
    },
    CommandSpec {
        name: "uptime",
        usage: "",
        summary: "time since the kernel started",
        details: "Time since kernel entry, from the monotonic clock (the TSC, calibrated at boot \
                  against the HPET or the ACPI PM timer).",
    },
    CommandSpec {
        name: "date",
        usage: "",
        summary: "current date and time (UTC)",
        details: "The wall-clock time: the RTC read at boot plus the monotonic time since then.",
    },
    CommandSpec {
        name: "cpu",
        usage: "",
        summary: "processor vendor, model, features and APIC id",
        details: "Shows what CPUID reports: vendor, brand string, family/model/stepping, feature flags, \
                  the local APIC id, and the calibrated TSC frequency.",
    },
    CommandSpec {
        name: "pci",
        usage: "",
        summary: "list PCI functions",
        details: "Lists every PCI function found through ECAM (from the ACPI MCFG table): \
                  bus:device.function, vendor:device, class and a name where known.",
    },
    CommandSpec {
        name: "devices",
        usage: "",
        summary: "list the devices RayOS found and drives",
        details: "Lists platform devices (interrupt controllers, timers, serial port, keyboard, \
                  framebuffer) and PCI devices, with whether RayOS has a driver for each.",
    },
    CommandSpec {
        name: "tasks",
        usage: "",
        summary: "list kernel threads",
        details: "Lists the kernel's threads with their state and how often each ran.",
    },
    CommandSpec {
        name: "markers",
        usage: "",
        summary: "list the marker vocabulary",
        details: "Lists every RAYOS_* marker line the system prints, with its fields and meaning. \
                  Markers let tests and tools follow the system without reading prose.",
    },
    CommandSpec {
        name: "dmesg",
        usage: "[--tail N]",
        summary: "show the kernel log kept in RAM",
        details: "Prints the kernel log ring (the newest records; older ones are dropped when it is \
                  full). --tail N shows only the last N records.",
    },
    CommandSpec {
        name: "disks",
        usage: "",
        summary: "list disks and their partitions",
        details: "Lists each disk (name, size, model, serial) and the partitions of its GPT (type, label, \
                  size). A GPT whose checksums do not match is reported and not used.",
    },
    CommandSpec {
        name: "log",
        usage: "show [--boot N|-1|-2] [--level error|warn|info|debug] [--grep TEXT] [--exclude TEXT] [--since 5m] [--tail N|--head N|--all] | boots | stats | format",
        summary: "the persistent kernel log: show records, list boots, statistics",
        details: "log show prints records from the log on the RAYOS-DATA partition, newest last: --boot picks \
                  a boot by number or relative (-1 is the previous boot), --level a minimum severity, --grep \
                  a text (case-insensitive), --exclude leaves out records with a text, --since a window (30s, 5m, 2h), --tail the newest N (100 by \
                  default; --head the oldest N; --all for everything). log boots lists boots and how each ended (clean shutdown, \
                  reboot, panic, watchdog, unknown: power loss or hang). log stats shows the log's size, \
                  oldest and newest records and how often it wrapped. Warnings and errors are on disk when \
                  they are logged; other records within 100 ms. log format formats a RAYOS-DATA partition \
                  that does not mount (blank, damaged or foreign; everything on it is erased, after you \
                  type yes) and moves the log onto it.",
    },
    CommandSpec {
        name: "crash",
        usage: "list | show [N|latest|--boot B|--back K] | clear",
        summary: "crash records: what panics, faults and watchdog resets left on disk",
        details: "crash list shows the crash records kept on RAYOS-DATA (the last 8); crash show prints one: \
                  the kind, message, registers, backtrace with symbols and the last log lines before it. \
                  Without an argument, or with latest, the newest; N is a record's number in crash list; \
                  --boot B the record of boot B (0 this boot, -1 the previous one); --back K the record K \
                  before the newest (1: the one before it). \
                  crash clear deletes them all after you confirm.",
    },
    CommandSpec {
        name: "watchdog",
        usage: "status | arm <seconds> | disarm | pet",
        summary: "the watchdog that resets a hung machine",
        details: "The watchdog resets the machine when the kernel stops making progress. It is armed at 30 \
                  seconds at boot and uses the i6300esb hardware timer when there is one, else a software \
                  watchdog. watchdog arm sets the timeout (2-3600 s); watchdog disarm turns it off after you \
                  confirm; watchdog pet restarts the countdown by hand.",
    },
    CommandSpec {
        name: "vm",
        usage: "list | start <name> [case] | stop <name> | kill <name> | restart <name> | status <name> | console <name> | send <name> <line> | output <name> [--tail N]",
        summary: "virtual machines: start, stop and talk to guests",
        details: "RayOS runs guests under its own hypervisor (AMD SVM with nested paging) and keeps \
                  authority over them: their memory, devices and console. vm list shows the guests; \
                  vm start boots one (the hostile test guest takes a case: oob, io, ops or triple); vm \
                  stop presses the guest's power button and stops it by force after 30 s; vm kill stops it \
                  at once; vm status shows state, uptime, memory and exits by reason; vm console attaches \
                  this console to the guest's (Ctrl-] detaches); vm send types a line into it; vm output \
                  shows what the guest printed. Guests have no network device. vm show and vm hide (a \
                  guest's screen in a RayOS window) are not built yet.",
    },
    CommandSpec {
        name: "intent",
        usage: "<text>",
        summary: "show how System 2 reads a request, without running it",
        details: "Lines that do not start with a command (or start with one that takes no arguments, \
                  followed by plain words, when a request can run it: reboot the linux vm) go to System \
                  2, the intent engine, which runs what they ask for. intent <text> shows its reading \
                  instead: the intent, how sure it is, the three closest intents, the entities it found \
                  (VM, disk, boot, level, duration, text, entry), the command it would run and how that \
                  would be confirmed.",
    },
    CommandSpec {
        name: "ask",
        usage: "<question>",
        summary: "answer a question from the RayOS manual",
        details: "Searches the manual compiled into the kernel (word matching and word vectors, fused) \
                  and shows the best passages with their section names.",
    },
    CommandSpec {
        name: "clear",
        usage: "",
        summary: "clear the screen",
        details: "Clears the screen console and sends the clear-screen sequence to the serial console.",
    },
    CommandSpec {
        name: "reboot",
        usage: "",
        summary: "restart the machine",
        details: "Restarts through the ACPI reset register, falling back to the keyboard controller \
                  and then a CPU reset.",
    },
    CommandSpec {
        name: "shutdown",
        usage: "",
        summary: "power the machine off",
        details: "Enters ACPI sleep state S5 (soft off). Under QEMU the emulator exits.",
    },
    CommandSpec {
        name: "debug",
        usage: "fault page|gp|div|ud|stack | panic | hang irq-off|spin|deadlock | logflood N | logbench | fputest",
        summary: "provoke failures on purpose, for tests",
        details: "debug fault page|gp|div|ud raises a page fault, a general-protection fault, a divide \
                  error or an invalid-opcode exception in the kernel; debug fault stack overflows the \
                  shell thread's stack into its guard page (a double fault); debug panic panics. Both print the \
                  fault report (registers, backtrace with symbols, RAYOS_PANIC marker), record a crash and \
                  restart after 10 seconds. debug hang hangs the kernel with interrupts off, with preemption \
                  off, or in a spin-lock deadlock, for the watchdog to catch. debug logflood N writes N log \
                  records as fast as it can, reporting every 500 that are on disk. debug logbench measures \
                  the disk's raw sequential write bandwidth in unpartitioned space beside RAYOS-DATA, the \
                  log's append throughput and the latency of a durable append (it writes to the disk). \
                  debug fputest checks that floating-point state survives thread switches.",
    },
];

/// The command named `name`, if any.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The command whose name is closest to `word`, if it is close enough to be a likely typo.
pub fn suggest(word: &str) -> Option<&'static CommandSpec> {
    if word.len() > 32 {
        return None;
    }
    let best = COMMANDS.iter().map(|c| (edit_distance(word, c.name), c)).min_by_key(|(d, _)| *d)?;
    let limit = if word.len() <= 3 { 1 } else { 2 };
    (best.0 <= limit).then_some(best.1)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), on chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    const MAX: usize = 33;
    let a: heapless_chars::Chars<MAX> = heapless_chars::Chars::new(a);
    let b: heapless_chars::Chars<MAX> = heapless_chars::Chars::new(b);
    let (n, m) = (a.len(), b.len());
    let mut d = [[0usize; MAX + 1]; MAX + 1];
    for (i, row) in d.iter_mut().enumerate().take(n + 1) {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate().take(m + 1) {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a.get(i - 1) != b.get(j - 1));
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[n][m]
}

/// A fixed-capacity char buffer so distances need no allocation (inputs are truncated).
mod heapless_chars {
    pub struct Chars<const N: usize> {
        chars: [char; N],
        len: usize,
    }

    impl<const N: usize> Chars<N> {
        pub fn new(s: &str) -> Self {
            let mut chars = ['\0'; N];
            let mut len = 0;
            for c in s.chars().take(N) {
                chars[len] = c;
                len += 1;
            }
            Chars { chars, len }
        }

        pub fn len(&self) -> usize {
            self.len
        }

        pub fn get(&self, i: usize) -> char {
            self.chars[i]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert!(!c.summary.is_empty() && !c.details.is_empty(), "{}", c.name);
            assert!(c.name.bytes().all(|b| b.is_ascii_lowercase()), "{}", c.name);
            assert!(COMMANDS[i + 1..].iter().all(|o| o.name != c.name), "duplicate {}", c.name);
        }
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("hlep").map(|c| c.name), Some("help"));
        assert_eq!(suggest("verison").map(|c| c.name), Some("version"));
        assert_eq!(suggest("uptme").map(|c| c.name), Some("uptime"));
        assert!(suggest("banana").is_none());
        assert!(suggest(&"x".repeat(1000)).is_none());
    }

    #[test]
    fn distance_basics() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
