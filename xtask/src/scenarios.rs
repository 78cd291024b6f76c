//! The QEMU scenarios: each boots the image the way a user or an outside check would and
//! drives it through the serial console, the keyboard and the screen.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rayos_markers as markers;

use crate::image;
use crate::qemu::{BootDisk, Machine};
use crate::test::{Ctx, BOOT_TIMEOUT, COMMAND_TIMEOUT};

pub struct Scenario {
    pub name: &'static str,
    pub run: fn(&Ctx) -> Result<()>,
}

pub fn all() -> Vec<Scenario> {
    // Longest first, so the parallel runs finish together.
    vec![
        Scenario { name: "vm-linux-lifecycle", run: vm_linux_lifecycle },
        Scenario { name: "log-survives-power-cuts", run: log_survives_power_cuts },
        Scenario { name: "vm-hostile-guests", run: vm_hostile_guests },
        Scenario { name: "watchdog-software", run: watchdog_software },
        Scenario { name: "boot-virtio-commands", run: boot_virtio_commands },
        Scenario { name: "shell-bad-input", run: shell_bad_input },
        Scenario { name: "boot-ahci-reboot", run: boot_ahci_reboot },
        Scenario { name: "boot-usb-keyboard-screen", run: boot_usb_keyboard_screen },
        Scenario { name: "fault-page", run: |ctx| fault(ctx, "page", "PAGE_FAULT", "debug::page_fault") },
        Scenario {
            name: "fault-gp",
            run: |ctx| fault(ctx, "gp", "GENERAL_PROTECTION", "debug::general_protection"),
        },
        Scenario { name: "fault-div", run: |ctx| fault(ctx, "div", "DIVIDE_ERROR", "debug::divide_error") },
        Scenario { name: "fault-ud", run: |ctx| fault(ctx, "ud", "INVALID_OPCODE", "debug::invalid_opcode") },
        Scenario { name: "fault-stack-overflow", run: stack_overflow },
        Scenario { name: "panic-report", run: panic_report },
        Scenario { name: "loader-rejects-corrupt-kernel", run: loader_rejects_corrupt_kernel },
        Scenario { name: "loader-rejects-missing-kernel", run: loader_rejects_missing_kernel },
        Scenario { name: "loader-rejects-bad-elf", run: loader_rejects_bad_elf },
        Scenario { name: "log-survives-reboot", run: log_survives_reboot },
        Scenario { name: "crash-recorded-after-panic", run: crash_recorded_after_panic },
        Scenario { name: "watchdog-hardware", run: watchdog_hardware },
        Scenario { name: "no-data-partition", run: no_data_partition },
        Scenario { name: "data-partition-unreadable-then-formatted", run: data_partition_unreadable },
        Scenario { name: "disks-with-bad-partition-tables", run: disks_with_bad_partition_tables },
        Scenario { name: "vm-unsupported-cpu", run: vm_unsupported_cpu },
        Scenario { name: "system2-shell", run: system2_shell },
    ]
}

fn expect_lines(output: &crate::qemu::CommandOutput, needles: &[&str]) -> Result<()> {
    for needle in needles {
        ensure!(output.contains(needle), "expected {needle:?} in the output:\n{}", output.text());
    }
    Ok(())
}

/// Boot from virtio-blk, check the boot markers, run every command, then power off.
fn boot_virtio_commands(ctx: &Ctx) -> Result<()> {
    let mut m = ctx.start(&ctx.config(""))?;
    m.expect_marker(&markers::LOADER_START, BOOT_TIMEOUT)?;
    let loaded = m.expect_marker(&markers::KERNEL_LOADED, BOOT_TIMEOUT)?;
    let fields = markers::KERNEL_LOADED.parse(&loaded.text).context("KERNEL_LOADED fields")?;
    ensure!(
        fields.get(0) == Some(ctx.kernel.len().to_string().as_str()),
        "KERNEL_LOADED size: {}",
        loaded.text
    );
    let digest = image::digest_text(&ctx.kernel);
    ensure!(fields.get(1) == Some(digest.trim()), "KERNEL_LOADED digest: {}", loaded.text);
    m.expect_marker(&markers::KERNEL_ENTRY, BOOT_TIMEOUT)?;
    m.expect_marker(&markers::SHELL_READY, BOOT_TIMEOUT)?;

    let help = m.run_ok("help", COMMAND_TIMEOUT)?;
    for spec in rayos_shell_names() {
        ensure!(help.contains(spec), "help does not list {spec}:\n{}", help.text());
    }
    expect_lines(&m.run_ok("help echo", COMMAND_TIMEOUT)?, &["usage: echo"])?;
    expect_lines(&m.run_ok("version", COMMAND_TIMEOUT)?, &["RayOS", digest.trim()])?;
    let echo = m.run_ok("echo hello   \"big world\"", COMMAND_TIMEOUT)?;
    ensure!(echo.lines.iter().any(|l| l == "hello big world"), "echo output:\n{}", echo.text());
    expect_lines(&m.run_ok("mem", COMMAND_TIMEOUT)?, &["physical:", "MiB usable", "heap:"])?;
    expect_lines(&m.run_ok("uptime", COMMAND_TIMEOUT)?, &["up "])?;
    let date = m.run_ok("date", COMMAND_TIMEOUT)?;
    ensure!(
        date.lines.iter().any(|l| l.starts_with("20") && l.ends_with("UTC")),
        "date output:\n{}",
        date.text()
    );
    expect_lines(&m.run_ok("cpu", COMMAND_TIMEOUT)?, &["vendor", "features", "sse2", "apic id"])?;
    expect_lines(
        &m.run_ok("pci", COMMAND_TIMEOUT)?,
        &["00:00.0 8086:29c0 host bridge", "1234:1111", "1af4:1001"],
    )?;
    expect_lines(
        &m.run_ok("devices", COMMAND_TIMEOUT)?,
        &["serial", "local-apic", "ioapic", "hpet", "framebuffer", "keyboard", "QEMU standard VGA"],
    )?;
    expect_lines(&m.run_ok("tasks", COMMAND_TIMEOUT)?, &["shell", "idle", "running"])?;
    expect_lines(
        &m.run_ok("markers", COMMAND_TIMEOUT)?,
        &["RAYOS_SHELL:OK:<command>", "RAYOS_PANIC:<kind>:<rip>"],
    )?;
    expect_lines(&m.run_ok("dmesg", COMMAND_TIMEOUT)?, &["calibrated against the HPET", "kernel ready in"])?;
    expect_lines(&m.run_ok("debug fputest", Duration::from_secs(120))?, &["agree bit for bit"])?;
    let tail = m.run_ok("dmesg --tail 1", COMMAND_TIMEOUT)?;
    ensure!(
        tail.lines.iter().filter(|l| l.starts_with('[')).count() == 1,
        "dmesg --tail 1:\n{}",
        tail.text()
    );
    m.run_ok("clear", COMMAND_TIMEOUT)?;
    // An option a command does not take is refused (plain words after it would be a
    // request for System 2: see system2-shell).
    let wrong = m.run("version --extra", COMMAND_TIMEOUT)?;
    ensure!(!wrong.ok && wrong.reason.as_deref() == Some("bad-args"), "version with an argument: {wrong:?}");

    m.send(b"shutdown\r")?;
    m.expect_text("powering off", COMMAND_TIMEOUT)?;
    let status = m.wait_exit(COMMAND_TIMEOUT).context("shutdown must make QEMU exit")?;
    ensure!(status.success(), "QEMU exit status after shutdown: {status}");
    Ok(())
}

fn rayos_shell_names() -> Vec<&'static str> {
    vec![
        "help", "version", "echo", "mem", "uptime", "date", "cpu", "pci", "devices", "tasks", "markers",
        "dmesg", "clear", "reboot", "shutdown", "debug",
    ]
}

/// Bytes no command should survive: every case ends in a clear error or is ignored, and the
/// shell keeps answering.
fn shell_bad_input(ctx: &Ctx) -> Result<()> {
    let mut m = ctx.boot(&ctx.config(""))?;
    let check_rejected = |m: &mut Machine, bytes: &[u8], reason: &str| -> Result<()> {
        let out = m.run_bytes(bytes, "-", COMMAND_TIMEOUT)?;
        ensure!(
            !out.ok && out.reason.as_deref() == Some(reason),
            "{:?}: expected {reason}, got {out:?}",
            String::from_utf8_lossy(bytes)
        );
        ensure!(out.contains("error:"), "no error message for {reason}:\n{}", out.text());
        Ok(())
    };
    check_rejected(&mut m, b"echo \xff\xfe bad", "invalid-utf8")?;
    check_rejected(&mut m, b"ec\x00ho", "control-character")?;
    check_rejected(&mut m, &vec![b'a'; 10_000], "line-too-long")?;

    let unknown = m.run("hlep", COMMAND_TIMEOUT)?;
    ensure!(!unknown.ok && unknown.reason.as_deref() == Some("unknown-command"), "{unknown:?}");
    expect_lines(&unknown, &["Did you mean 'help'?"])?;
    let quote = m.run("echo \"open", COMMAND_TIMEOUT)?;
    ensure!(quote.reason.as_deref() == Some("bad-quoting"), "{quote:?}");

    // Cursor keys edit the line and never leak into it: "echo ab", left, "X" -> "echo aXb".
    let edited = m.run_bytes(b"echo ab\x1b[DX", "echo", COMMAND_TIMEOUT)?;
    ensure!(edited.ok && edited.lines.iter().any(|l| l == "aXb"), "cursor editing:\n{}", edited.text());
    // Up recalls the previous line; CRLF counts as one Enter.
    m.run_ok("echo first", COMMAND_TIMEOUT)?;
    let recalled = m.run_bytes(b"\x1b[A", "echo", COMMAND_TIMEOUT)?;
    ensure!(recalled.lines.iter().any(|l| l == "first"), "history:\n{}", recalled.text());
    m.send(b"echo crlf\r\n")?;
    m.expect_marker(&markers::SHELL_OK, COMMAND_TIMEOUT)?;
    let after = m.run_ok("echo after-crlf", COMMAND_TIMEOUT)?;
    ensure!(!after.lines.iter().any(|l| l.contains("RAYOS_SHELL")), "CRLF ran an extra empty command");

    // Noise: a deterministic stream of random bytes, then the shell must still answer.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<u8> = (0..4000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    m.send(&noise)?;
    m.send(b"\x03")?; // Ctrl-C abandons whatever half line the noise left
    let alive = m.run_ok("echo still-alive", COMMAND_TIMEOUT)?;
    ensure!(alive.lines.iter().any(|l| l == "still-alive"), "after noise:\n{}", alive.text());
    Ok(())
}

/// Boot from the AHCI disk, reboot, and reach the shell again.
fn boot_ahci_reboot(ctx: &Ctx) -> Result<()> {
    let mut config = ctx.config("");
    config.boot_disk = BootDisk::Ahci;
    let mut m = ctx.boot(&config)?;
    m.run_ok("version", COMMAND_TIMEOUT)?;
    m.send(b"reboot\r")?;
    m.expect_text("rebooting", COMMAND_TIMEOUT)?;
    m.expect_marker(&markers::LOADER_START, BOOT_TIMEOUT).context("the machine did not restart")?;
    m.expect_marker(&markers::SHELL_READY, BOOT_TIMEOUT)?;
    let uptime = m.run_ok("uptime", COMMAND_TIMEOUT)?;
    ensure!(uptime.contains("up 00:00:"), "uptime after reboot:\n{}", uptime.text());
    Ok(())
}

/// Boot from USB storage, type on the PS/2 keyboard, and check the screen shows the console,
/// also after it has scrolled.
fn boot_usb_keyboard_screen(ctx: &Ctx) -> Result<()> {
    let mut config = ctx.config("");
    config.boot_disk = BootDisk::Usb;
    let mut m = ctx.boot(&config)?;
    m.run_ok("clear", COMMAND_TIMEOUT)?;
    m.type_on_keyboard("echo typed-on-keyboard")?;
    let typed = m.expect_marker(&markers::SHELL_OK, COMMAND_TIMEOUT)?;
    ensure!(typed.text.ends_with(":echo"), "keyboard command ended with {}", typed.text);
    let lines = m.lines();
    ensure!(lines.iter().any(|l| l.text == "typed-on-keyboard"), "the keyboard line did not run echo");

    // The screen mirrors the console: after `clear`, text sits at the top and the bottom is empty.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (width, height, pixels) = m.screenshot()?;
    ensure!(width >= 640 && height >= 400, "screen is {width}x{height}");
    let background = [pixels[0], pixels[1], pixels[2]];
    let top = lit_pixels(&pixels, width, background, 0..width, 0..80);
    let bottom = lit_pixels(&pixels, width, background, 0..width, height - 80..height);
    ensure!(top > 500, "no text drawn at the top of the screen ({top} lit pixels)");
    ensure!(bottom == 0, "the bottom of the screen is not clear ({bottom} lit pixels)");

    // Scrolling redraws only the cells whose character changed: after long lines have
    // scrolled away under more than a screenful of short ones, nothing of them may be left.
    // Lines of the kernel's own that arrive meanwhile could be long: wait for them first.
    m.printed_or_wait(BOOT_TIMEOUT, |line| markers::SYSTEM2_READY.parse(line).is_some())
        .context("waiting for System 2")?;
    m.wait_for_the_log(BOOT_TIMEOUT)?;
    let long = "x".repeat(150);
    for _ in 0..20 {
        m.run_ok(&format!("echo {long}"), COMMAND_TIMEOUT)?;
    }
    // Each command takes three lines (the command, `ok`, its marker); 16-pixel rows.
    for _ in 0..height / 16 / 3 + 5 {
        m.run_ok("echo ok", COMMAND_TIMEOUT)?;
    }
    // The shell redraws the screen before it waits for the next line; give QEMU's display a
    // moment, and look again if the first picture came too early.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (left, right) = loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let (width, height, pixels) = m.screenshot()?;
        let left = lit_pixels(&pixels, width, background, 0..width / 4, 0..height);
        let right = lit_pixels(&pixels, width, background, width / 2..width, 0..height);
        if right == 0 || std::time::Instant::now() > deadline {
            break (left, right);
        }
    };
    ensure!(left > 5000, "no text on the left after scrolling ({left} lit pixels)");
    ensure!(right == 0, "the long lines that scrolled away left {right} lit pixels on the right half");
    Ok(())
}

/// How many pixels of the rectangle `xs` x `ys` of an RGB screenshot `width` pixels wide
/// differ from `background`.
fn lit_pixels(
    pixels: &[u8],
    width: usize,
    background: [u8; 3],
    xs: std::ops::Range<usize>,
    ys: std::ops::Range<usize>,
) -> usize {
    ys.map(|y| xs.clone().filter(|&x| pixels[(y * width + x) * 3..][..3] != background).count()).sum()
}

/// `debug fault <kind>`: a register dump, a symbolized backtrace and the panic marker.
fn fault(ctx: &Ctx, kind: &str, marker_kind: &str, symbol: &str) -> Result<()> {
    let mut m = ctx.boot(&ctx.config(""))?;
    m.send(format!("debug fault {kind}\r").as_bytes())?;
    m.expect_text("*** KERNEL FAULT", COMMAND_TIMEOUT)?;
    let rip = m.expect_text("    rip 0x", COMMAND_TIMEOUT)?;
    ensure!(rip.text.contains(symbol), "rip line lacks the symbol {symbol}: {}", rip.text);
    m.expect_text("rax 0x", COMMAND_TIMEOUT)?;
    m.expect_text("backtrace:", COMMAND_TIMEOUT)?;
    m.expect_text("rayos_kernel::shell::", COMMAND_TIMEOUT).context("the backtrace must reach the shell")?;
    let panic = m.expect_marker(&markers::PANIC, COMMAND_TIMEOUT)?;
    let fields = markers::PANIC.parse(&panic.text).context("panic fields")?;
    ensure!(fields.get(0) == Some(marker_kind), "panic kind: {}", panic.text);
    ensure!(fields.get(1).is_some_and(|rip| rip.starts_with("0xffffffff8")), "panic rip: {}", panic.text);
    if kind == "page" {
        let lines = m.lines();
        ensure!(lines.iter().any(|l| l.text.contains("cr2 0x0000000000000010")), "page fault without CR2");
        ensure!(lines.iter().any(|l| l.text.contains("null pointer")), "page fault not explained");
    }
    Ok(())
}

/// `debug fault stack`: a thread that runs into its guard page is named as a stack overflow.
fn stack_overflow(ctx: &Ctx) -> Result<()> {
    let mut m = ctx.boot(&ctx.config(""))?;
    m.send(b"debug fault stack\r")?;
    m.expect_text("*** KERNEL FAULT: double fault", COMMAND_TIMEOUT)?;
    m.expect_text("this thread overflowed its stack", COMMAND_TIMEOUT)?;
    let rip = m.expect_text("    rip 0x", COMMAND_TIMEOUT)?;
    ensure!(
        rip.text.contains("debug::stack_overflow"),
        "rip line lacks the recursing function: {}",
        rip.text
    );
    let panic = m.expect_marker(&markers::PANIC, COMMAND_TIMEOUT)?;
    ensure!(panic.text.starts_with("RAYOS_PANIC:DOUBLE_FAULT:0x"), "{}", panic.text);
    Ok(())
}

fn panic_report(ctx: &Ctx) -> Result<()> {
    let mut m = ctx.boot(&ctx.config(""))?;
    m.send(b"debug panic\r")?;
    let report = m.expect_text("*** KERNEL PANIC", COMMAND_TIMEOUT)?;
    ensure!(report.text.contains("'debug panic' was requested"), "panic message missing: {}", report.text);
    m.expect_text("rayos_kernel::shell::", COMMAND_TIMEOUT)?;
    let panic = m.expect_marker(&markers::PANIC, COMMAND_TIMEOUT)?;
    ensure!(panic.text.starts_with("RAYOS_PANIC:PANIC:0x"), "{}", panic.text);

    // A dead kernel runs nothing else while its report stays on screen: the panic is typed
    // as soon as the shell is ready, while System 2 still loads beside it, and no thread may
    // print after the report's own lines.
    m.expect_text("RayOS will restart", COMMAND_TIMEOUT)?;
    std::thread::sleep(std::time::Duration::from_secs(3));
    let lines = m.lines();
    let after_panic = lines.iter().skip_while(|l| l.text != panic.text).skip(1);
    let report = ["no crash record", "crash record #", "RAYOS_CRASH:", "RayOS will restart"];
    let strays: Vec<&str> =
        after_panic.map(|l| l.text.as_str()).filter(|t| !report.iter().any(|r| t.starts_with(r))).collect();
    ensure!(strays.is_empty(), "threads kept running after the panic and printed: {strays:?}");
    Ok(())
}

/// Writes an image whose ESP holds `kernel` with `digest` (None: no kernel at all).
fn variant_image(ctx: &Ctx, name: &str, kernel: Option<&[u8]>, digest: &[u8]) -> Result<std::path::PathBuf> {
    let path = ctx.scratch(&format!("{name}.img"));
    let mut partitions = image::esp_only(&ctx.loader, kernel.unwrap_or(&[]), digest);
    if kernel.is_none() {
        if let image::PartitionContents::Fat32 { files, .. } = &mut partitions[0].contents {
            files.retain(|f| f.path != "rayos/kernel.elf");
        }
    }
    image::write_image(&path, &partitions)?;
    Ok(path)
}

fn expect_rejection(ctx: &Ctx, image: &std::path::Path, why: &str) -> Result<()> {
    let mut config = ctx.config("");
    config.image = image.to_path_buf();
    let mut m = ctx.start(&config)?;
    m.expect_marker(&markers::LOADER_START, BOOT_TIMEOUT)?;
    let line = m.expect_marker(&markers::KERNEL_INVALID, BOOT_TIMEOUT)?;
    ensure!(
        line.text == markers::KERNEL_INVALID.with(&[&why]).to_string(),
        "expected reason {why}: {}",
        line.text
    );
    let lines = m.lines();
    ensure!(lines.iter().any(|l| l.text.contains("cannot start the kernel")), "no message for people");
    if lines.iter().any(|l| markers::KERNEL_ENTRY.parse(&l.text).is_some()) {
        bail!("the loader jumped into a kernel it rejected");
    }
    Ok(())
}

fn loader_rejects_corrupt_kernel(ctx: &Ctx) -> Result<()> {
    let digest = image::digest_text(&ctx.kernel);
    let mut corrupt = ctx.kernel.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x40;
    let image = variant_image(ctx, "corrupt", Some(&corrupt), digest.as_bytes())?;
    expect_rejection(ctx, &image, "digest-mismatch")
}

fn loader_rejects_missing_kernel(ctx: &Ctx) -> Result<()> {
    let digest = image::digest_text(&ctx.kernel);
    let image = variant_image(ctx, "missing", None, digest.as_bytes())?;
    expect_rejection(ctx, &image, "missing")
}

fn loader_rejects_bad_elf(ctx: &Ctx) -> Result<()> {
    // Not an ELF file, but with a matching digest: the ELF checks must catch it.
    let garbage: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let digest = image::digest_text(&garbage);
    let image = variant_image(ctx, "bad-elf", Some(&garbage), digest.as_bytes())?;
    expect_rejection(ctx, &image, "bad-elf")
}

// ---- Observability: persistent log, crash records, watchdog (issue 3) ----

/// The tag and the highest durable count among `RAYOS_LOG:DURABLE` lines.
fn durable_progress<'a>(lines: impl Iterator<Item = &'a str>) -> Option<(String, u64)> {
    let mut result: Option<(String, u64)> = None;
    for line in lines {
        if let Some(fields) = markers::LOG_DURABLE.parse(line) {
            let (Some(tag), Some(count)) = (fields.get(0), fields.get(1).and_then(|c| c.parse().ok())) else {
                continue;
            };
            if result.as_ref().is_none_or(|(_, best)| count > *best) {
                result = Some((tag.to_string(), count));
            }
        }
    }
    result
}

/// Types `line` and waits until the shell asks for confirmation.
fn until_confirm(m: &mut Machine, line: &[u8]) -> Result<()> {
    let mut bytes = line.to_vec();
    bytes.push(b'\r');
    m.send(&bytes)?;
    m.expect_marker(&markers::SHELL_CONFIRM, COMMAND_TIMEOUT)?;
    Ok(())
}

/// The boot number a `RAYOS_LOG:MOUNTED` line names.
fn mounted_boot(mounted: &crate::qemu::Line) -> Option<&str> {
    markers::LOG_MOUNTED.parse(&mounted.text).and_then(|f| f.get(1))
}

/// `debug logflood count`, which must acknowledge every record as durable; returns its tag.
fn log_flood(m: &mut Machine, count: u64) -> Result<String> {
    let flood = m.run_ok(&format!("debug logflood {count}"), COMMAND_TIMEOUT)?;
    let (tag, durable) =
        durable_progress(flood.lines.iter().map(String::as_str)).context("no DURABLE marker")?;
    ensure!(durable == count, "logflood acknowledged {durable} of {count}");
    Ok(tag)
}

/// The record numbers `debug logflood` wrote with `tag`, as `log show` printed them.
fn flood_numbers(output: &crate::qemu::CommandOutput, tag: &str) -> Result<Vec<u64>> {
    let needle = format!("flood: {tag} ");
    output
        .lines
        .iter()
        .filter_map(|l| l.find(&needle).map(|at| &l[at + needle.len()..]))
        .map(|n| n.trim().parse().with_context(|| format!("bad flood line number {n:?}")))
        .collect()
}

fn log_survives_reboot(ctx: &Ctx) -> Result<()> {
    let mut m = ctx.boot(&ctx.writable_disk("disk.img")?)?;
    let mounted = m.expect_marker(&markers::LOG_MOUNTED, BOOT_TIMEOUT)?;
    ensure!(mounted_boot(&mounted) == Some("1"), "first boot: {}", mounted.text);
    // The first boot has no previous one, and says so.
    expect_lines(
        &m.run_ok("log show --boot -1", COMMAND_TIMEOUT)?,
        &["there is no earlier boot: this is boot 1"],
    )?;
    let tag = log_flood(&mut m, 50)?;
    m.send(b"reboot\r")?;
    m.expect_marker(&markers::LOADER_START, BOOT_TIMEOUT)?;
    let mounted = m.expect_marker(&markers::LOG_MOUNTED, BOOT_TIMEOUT)?;
    ensure!(mounted_boot(&mounted) == Some("2"), "second boot: {}", mounted.text);
    let boots = m.run_ok("log boots", COMMAND_TIMEOUT)?;
    ensure!(
        boots.lines.iter().any(|l| l.trim_start().starts_with("1 ") && l.contains("reboot")),
        "log boots:\n{}",
        boots.text()
    );
    let shown = m.run_ok(&format!("log show --boot -1 --grep {tag} --all"), COMMAND_TIMEOUT)?;
    ensure!(
        flood_numbers(&shown, &tag)? == (0..50).collect::<Vec<_>>(),
        "previous boot's records:\n{}",
        shown.text()
    );
    expect_lines(&m.run_ok("log stats", COMMAND_TIMEOUT)?, &["records", "wraps", "0 discarded"])?;
    Ok(())
}

/// Pulls the power at random instants while `debug logflood` writes; after every cut the log
/// must mount, read back as a prefix of what was written, and hold every acknowledged record.
fn log_survives_power_cuts(ctx: &Ctx) -> Result<()> {
    const CUTS: usize = 10;
    let config = ctx.writable_disk("disk.img")?;
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64)
            | 1;
    let mut random_ms = |limit: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % limit
    };
    let mut previous: Option<(String, u64)> = None;
    let mut report = Vec::new();
    for round in 0..=CUTS {
        let mut config = config.clone();
        config.name = format!("{}-{round}", ctx.name);
        let mut m = ctx.start(&config)?;
        m.expect_marker(&markers::SHELL_READY, BOOT_TIMEOUT)?;
        m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
        if let Some((tag, durable)) = &previous {
            let shown =
                m.run_ok(&format!("log show --boot -1 --grep {tag} --all"), Duration::from_secs(120))?;
            let numbers = flood_numbers(&shown, tag)?;
            let expected: Vec<u64> = (0..numbers.len() as u64).collect();
            ensure!(
                numbers == expected,
                "round {round}: the records read back are not a prefix of those written"
            );
            ensure!(
                numbers.len() as u64 >= *durable,
                "round {round}: {} records read back, {durable} were acknowledged as durable",
                numbers.len()
            );
            report.push(format!("{}/{durable}", numbers.len()));
        }
        if round == CUTS {
            break;
        }
        m.send(b"debug logflood 20000\r")?;
        m.expect_marker(&markers::LOG_DURABLE, COMMAND_TIMEOUT)?;
        std::thread::sleep(Duration::from_millis(random_ms(250)));
        m.kill();
        let lines = m.lines();
        previous = durable_progress(lines.iter().map(|l| l.text.as_str()));
        ensure!(previous.is_some(), "round {round}: no durable acknowledgement before the cut");
    }
    println!("     {}: read back / acknowledged per cut: {}", ctx.name, report.join(" "));
    Ok(())
}

fn crash_recorded_after_panic(ctx: &Ctx) -> Result<()> {
    let mut m = ctx.boot(&ctx.writable_disk("disk.img")?)?;
    m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
    m.send(b"debug panic\r")?;
    let recorded = m.expect_marker(&markers::CRASH_RECORDED, COMMAND_TIMEOUT)?;
    ensure!(recorded.text.starts_with("RAYOS_CRASH:RECORDED:panic:"), "{}", recorded.text);
    m.expect_marker(&markers::LOADER_START, BOOT_TIMEOUT)
        .context("the kernel did not restart after the panic")?;
    m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
    let previous = m.expect_marker(&markers::CRASH_PREVIOUS, COMMAND_TIMEOUT)?;
    ensure!(previous.text == "RAYOS_CRASH:PREVIOUS:panic:1", "{}", previous.text);
    expect_lines(&m.run_ok("crash list", COMMAND_TIMEOUT)?, &["#1", "panic"])?;
    expect_lines(
        &m.run_ok("crash show latest", COMMAND_TIMEOUT)?,
        &["'debug panic' was requested", "rayos_kernel::shell::", "last log lines:", "rflags"],
    )?;
    // By boot: the previous boot's record, asked for in plain words too; this boot has none.
    let by_boot = m.run_ok("crash show --boot -1", COMMAND_TIMEOUT)?;
    expect_lines(&by_boot, &["'debug panic' was requested"])?;
    let asked = m.run_bytes(b"show the crash report from the previous boot", "crash", COMMAND_TIMEOUT)?;
    ensure!(asked.ok && asked.contains("RAYOS_INTENT:crash.show:"), "{}", asked.text());
    expect_lines(&asked, &["I read this as: crash show --boot -1", "'debug panic' was requested"])?;
    let none = m.run("crash show --boot 0", COMMAND_TIMEOUT)?;
    ensure!(none.reason.as_deref() == Some("no-crash"), "{none:?}");
    expect_lines(&none, &["boot 2 left no crash record"])?;
    expect_lines(&m.run_ok("log boots", COMMAND_TIMEOUT)?, &["panic", "running (this boot)"])?;
    // A second crash: --back counts records back from the newest.
    m.send(b"debug panic\r")?;
    m.expect_marker(&markers::CRASH_RECORDED, COMMAND_TIMEOUT)?;
    m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
    expect_lines(&m.run_ok("crash show --back 0", COMMAND_TIMEOUT)?, &["crash #2: panic"])?;
    expect_lines(&m.run_ok("crash show --back 1", COMMAND_TIMEOUT)?, &["crash #1: panic"])?;
    let beyond = m.run("crash show --back 2", COMMAND_TIMEOUT)?;
    ensure!(beyond.reason.as_deref() == Some("no-crash"), "{beyond:?}");
    expect_lines(&beyond, &["there are 2 crash records, so --back goes up to 1"])?;
    let huge = m.run("crash show --back 18446744073709551615", COMMAND_TIMEOUT)?;
    ensure!(huge.reason.as_deref() == Some("no-crash"), "{huge:?}");
    let asked = m.run_bytes(b"show the crash before the last one", "crash", COMMAND_TIMEOUT)?;
    ensure!(asked.ok, "{}", asked.text());
    expect_lines(&asked, &["I read this as: crash show --back 1", "crash #1: panic"])?;
    until_confirm(&mut m, b"crash clear")?;
    let refused = m.run_bytes(b"no", "crash", COMMAND_TIMEOUT)?;
    ensure!(refused.reason.as_deref() == Some("not-confirmed"), "crash clear answered 'no': {refused:?}");
    let kept = m.run_ok("crash list", COMMAND_TIMEOUT)?;
    ensure!(kept.contains("#1"), "crash clear without 'yes' deleted records");
    until_confirm(&mut m, b"crash clear")?;
    m.send(b"yes\r")?;
    m.expect_marker(&markers::SHELL_OK, COMMAND_TIMEOUT)?;
    expect_lines(&m.run_ok("crash list", COMMAND_TIMEOUT)?, &["no crash records"])?;
    Ok(())
}

fn watchdog_software(ctx: &Ctx) -> Result<()> {
    let mut m = ctx.boot(&ctx.writable_disk("disk.img")?)?;
    ensure!(
        m.lines().iter().any(|l| l.text == "RAYOS_WATCHDOG:ARMED:30:sw"),
        "the watchdog is not armed at boot"
    );
    m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
    expect_lines(
        &m.run_ok("watchdog status", COMMAND_TIMEOUT)?,
        &["armed     yes", "sw (timer interrupt and NMI)"],
    )?;
    for (boot, (mode, stuck_in)) in
        [("irq-off", "watchdog::hang"), ("spin", "watchdog::hang"), ("deadlock", "IrqSpinLock")]
            .into_iter()
            .enumerate()
    {
        expect_lines(&m.run_ok("watchdog arm 3", COMMAND_TIMEOUT)?, &["RAYOS_WATCHDOG:ARMED:3:sw"])?;
        m.send(format!("debug hang {mode}\r").as_bytes())?;
        let fired = m.expect_marker(&markers::WATCHDOG_FIRED, Duration::from_secs(40))?;
        ensure!(fired.text.starts_with("RAYOS_WATCHDOG:FIRED:sw:0x"), "{}", fired.text);
        m.expect_marker(&markers::CRASH_RECORDED, COMMAND_TIMEOUT)?;
        m.expect_marker(&markers::SHELL_READY, BOOT_TIMEOUT)
            .context("no restart after the watchdog fired")?;
        m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
        let previous = m.expect_marker(&markers::CRASH_PREVIOUS, COMMAND_TIMEOUT)?;
        ensure!(
            previous.text == format!("RAYOS_CRASH:PREVIOUS:watchdog:{}", boot + 1),
            "{mode}: {}",
            previous.text
        );
        expect_lines(
            &m.run_ok("crash show latest", COMMAND_TIMEOUT)?,
            &["software watchdog", stuck_in, "last log lines:"],
        )?;
    }
    expect_lines(&m.run_ok("log boots", COMMAND_TIMEOUT)?, &["watchdog"])?;
    until_confirm(&mut m, b"watchdog disarm")?;
    m.send(b"yes\r")?;
    m.expect_marker(&markers::WATCHDOG_DISARMED, COMMAND_TIMEOUT)?;
    m.expect_marker(&markers::SHELL_OK, COMMAND_TIMEOUT)?;
    expect_lines(&m.run_ok("watchdog status", COMMAND_TIMEOUT)?, &["armed     no"])?;
    Ok(())
}

fn watchdog_hardware(ctx: &Ctx) -> Result<()> {
    let mut config = ctx.writable_disk("disk.img")?;
    config.extra_args = ["-device", "i6300esb", "-action", "watchdog=reset"].map(String::from).to_vec();
    let mut m = ctx.boot(&config)?;
    ensure!(
        m.lines().iter().any(|l| l.text == "RAYOS_WATCHDOG:ARMED:30:hw"),
        "the i6300esb is not armed at boot"
    );
    m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
    expect_lines(&m.run_ok("watchdog status", COMMAND_TIMEOUT)?, &["hw (i6300esb)"])?;
    m.run_ok("watchdog arm 3", COMMAND_TIMEOUT)?;
    m.send(b"debug hang irq-off\r")?;
    m.expect_marker(&markers::LOADER_START, Duration::from_secs(60))
        .context("the hardware watchdog did not reset")?;
    ensure!(
        !m.lines().iter().any(|l| markers::WATCHDOG_FIRED.parse(&l.text).is_some()),
        "the software watchdog fired instead"
    );
    m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
    let previous = m.expect_marker(&markers::CRASH_PREVIOUS, COMMAND_TIMEOUT)?;
    ensure!(previous.text == "RAYOS_CRASH:PREVIOUS:watchdog:1", "{}", previous.text);
    expect_lines(
        &m.run_ok("crash show latest", COMMAND_TIMEOUT)?,
        &["hardware watchdog", "hanging the kernel on purpose"],
    )?;
    Ok(())
}

fn no_data_partition(ctx: &Ctx) -> Result<()> {
    let digest = image::digest_text(&ctx.kernel);
    let path = ctx.scratch("esp-only.img");
    image::write_image(&path, &image::esp_only(&ctx.loader, &ctx.kernel, digest.as_bytes()))?;
    let mut config = ctx.config("");
    config.image = path;
    let mut m = ctx.boot(&config)?;
    let ram = m.expect_marker(&markers::LOG_RAM_ONLY, BOOT_TIMEOUT)?;
    ensure!(ram.text == "RAYOS_LOG:RAM_ONLY:no-data-partition", "{}", ram.text);
    expect_lines(&m.run_ok("log show --tail 5", COMMAND_TIMEOUT)?, &["RAM only"])?;
    let boots = m.run("log boots", COMMAND_TIMEOUT)?;
    ensure!(boots.reason.as_deref() == Some("no-persistent-log"), "{boots:?}");
    expect_lines(&m.run_ok("disks", COMMAND_TIMEOUT)?, &["vda1", "EFI system", "RAYOS_STORAGE:DISK:vda:"])?;
    Ok(())
}

/// A RAYOS-DATA partition whose superblocks are garbage: the log stays in RAM and nothing on
/// the partition is touched until `log format` is confirmed with `yes`; then the log lives
/// there and survives a reboot.
fn data_partition_unreadable(ctx: &Ctx) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let config = ctx.writable_disk("disk.img")?;
    let garbage: Vec<u8> = (0..64 * 512u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(&config.image)?;
    file.seek(SeekFrom::Start(image::STANDARD_DATA_OFFSET))?;
    file.write_all(&garbage)?;
    drop(file);
    let data_bytes = || -> Result<Vec<u8>> {
        let mut file = std::fs::File::open(&config.image)?;
        file.seek(SeekFrom::Start(image::STANDARD_DATA_OFFSET))?;
        let mut bytes = vec![0u8; 1 << 20];
        file.read_exact(&mut bytes)?;
        Ok(bytes)
    };
    let before = data_bytes()?;

    let mut m = ctx.boot(&config)?;
    let ram = m.expect_marker(&markers::LOG_RAM_ONLY, BOOT_TIMEOUT)?;
    ensure!(ram.text == "RAYOS_LOG:RAM_ONLY:mount-failed", "{}", ram.text);
    until_confirm(&mut m, b"log format")?;
    let refused = m.run_bytes(b"no", "log", COMMAND_TIMEOUT)?;
    ensure!(refused.reason.as_deref() == Some("not-confirmed"), "log format answered 'no': {refused:?}");
    expect_lines(&m.run_ok("log stats", COMMAND_TIMEOUT)?, &["RAM only"])?;
    ensure!(data_bytes()? == before, "RAYOS-DATA changed although the format was refused");

    until_confirm(&mut m, b"log format")?;
    m.send(b"yes\r")?;
    let mounted = m.expect_marker(&markers::LOG_MOUNTED, COMMAND_TIMEOUT)?;
    ensure!(mounted.text == "RAYOS_LOG:MOUNTED:0:1", "{}", mounted.text);
    m.expect_marker(&markers::SHELL_OK, COMMAND_TIMEOUT)?;
    let tag = log_flood(&mut m, 20)?;
    let again = m.run("log format", COMMAND_TIMEOUT)?;
    ensure!(
        again.reason.as_deref() == Some("nothing-to-format"),
        "a mounted log offered a format: {again:?}"
    );

    m.send(b"reboot\r")?;
    m.expect_marker(&markers::LOADER_START, BOOT_TIMEOUT)?;
    let mounted = m.expect_marker(&markers::LOG_MOUNTED, BOOT_TIMEOUT)?;
    ensure!(mounted_boot(&mounted) == Some("2"), "after the format and a reboot: {}", mounted.text);
    let shown = m.run_ok(&format!("log show --boot -1 --grep {tag} --all"), COMMAND_TIMEOUT)?;
    ensure!(
        flood_numbers(&shown, &tag)? == (0..20).collect::<Vec<_>>(),
        "boot 1's records:\n{}",
        shown.text()
    );
    Ok(())
}

/// Extra disks: one blank, one whose GPT headers are both damaged (the firmware repairs a
/// table when one copy is good, so only a fully damaged one reaches RayOS). Both are reported
/// and not trusted; the boot disk's log still mounts.
fn disks_with_bad_partition_tables(ctx: &Ctx) -> Result<()> {
    let mut config = ctx.writable_disk("disk.img")?;
    let blank = ctx.scratch("blank.img");
    std::fs::File::create(&blank)?.set_len(8 << 20)?;
    let damaged = ctx.scratch("damaged.img");
    let payload = vec![0x5Au8; 4096];
    image::write_image(
        &damaged,
        &[image::PartitionSpec {
            name: "DAMAGED",
            type_guid: rayos_partition::RAYOS_DATA_TYPE,
            unique_guid: gpt_disk_io::gpt_disk_types::guid!("5241594f-5300-4d00-8000-0000000000dd"),
            size_bytes: 2 << 20,
            contents: image::PartitionContents::Raw(&payload),
        }],
    )?;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&damaged)?;
        let sectors = file.metadata()?.len() / 512;
        for lba in [1, sectors - 1] {
            file.seek(SeekFrom::Start(lba * 512 + 0x38))?; // the disk GUID, covered by the header CRC
            file.write_all(&[0xFF, 0x00, 0xFF])?;
        }
    }
    for (id, path) in [("blank", &blank), ("damaged", &damaged)] {
        config.extra_args.extend([
            "-drive".to_string(),
            format!("file={},if=none,id={id},format=raw", path.display()),
            "-device".to_string(),
            format!("virtio-blk-pci,drive={id}"),
        ]);
    }
    let mut m = ctx.boot(&config)?;
    m.expect_marker(&markers::LOG_RECOVERED, BOOT_TIMEOUT)?;
    let disks = m.run_ok("disks", COMMAND_TIMEOUT)?;
    expect_lines(
        &disks,
        &["RAYOS_STORAGE:DISK:vda:", "RAYOS_STORAGE:DISK:vdb:8388608", "RAYOS_STORAGE:DISK:vdc:"],
    )?;
    // The blank disk is said to be blank, the damaged one to be damaged.
    let blank = disks.lines.iter().filter(|l| l.contains("no GPT partition table (a blank disk")).count();
    let damaged = disks.lines.iter().filter(|l| l.contains("no usable partition table")).count();
    ensure!(
        blank == 1 && damaged == 1,
        "the blank and the damaged disk must be told apart:\n{}",
        disks.text()
    );
    ensure!(disks.contains("CRC"), "the damaged table's CRC failure is not named:\n{}", disks.text());
    ensure!(!disks.contains("vdc1"), "a partition of the damaged table was trusted:\n{}", disks.text());
    let stats = m.run_ok("log stats", COMMAND_TIMEOUT)?;
    ensure!(stats.contains("log on vda"), "the log must stay on the boot disk:\n{}", stats.text());
    Ok(())
}

// ---- The hypervisor and managed guests (issue 5) ----

const GUEST_BOOT_TIMEOUT: Duration = Duration::from_secs(240);

/// A machine with SVM and room for guests.
fn vm_host(ctx: &Ctx) -> Result<Machine> {
    let mut config = ctx.config("");
    config.memory_mib = 2048;
    ctx.boot(&config)
}

/// Polls `vm output` until a line contains `needle`.
fn wait_for_guest_output(m: &mut Machine, vm: &str, needle: &str, timeout: Duration) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let out = m.run_ok(&format!("vm output {vm} --tail 20"), COMMAND_TIMEOUT)?;
        if out.lines.iter().any(|l| l.contains(needle)) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("{vm} never printed {needle:?}; its last output:\n{}", out.text());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn vm_linux_lifecycle(ctx: &Ctx) -> Result<()> {
    let mut m = vm_host(ctx)?;
    expect_lines(&m.run_ok("vm list", COMMAND_TIMEOUT)?, &["linux", "hostile", "stopped"])?;
    m.run_ok("vm start linux", COMMAND_TIMEOUT)?;
    m.expect_marker(&markers::VM_RUNNING, GUEST_BOOT_TIMEOUT)?;
    // RayOS answers while the guest boots, and keeps petting its watchdog.
    expect_lines(&m.run_ok("uptime", COMMAND_TIMEOUT)?, &["up "])?;
    let ready = m.expect_marker(&markers::VM_GUEST_READY, GUEST_BOOT_TIMEOUT)?;
    ensure!(ready.text == "RAYOS_VM:GUEST_READY:linux", "{}", ready.text);
    // The petter (every second) keeps running beside the guest's vCPU: the last pet is at
    // most a little over one interval old (not 0.x s: a status taken just as a pet is due,
    // with the vCPU thread busy, reads 1.0x s).
    let status = m.run_ok("watchdog status", COMMAND_TIMEOUT)?;
    let last_pet_s: f64 = status
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("last pet  ")?.strip_suffix(" s ago")?.parse().ok())
        .with_context(|| format!("no last pet in:\n{}", status.text()))?;
    ensure!(last_pet_s < 2.5, "the watchdog was last petted {last_pet_s} s ago while the guest booted");
    m.run_ok("vm send linux uname -r", COMMAND_TIMEOUT)?;
    wait_for_guest_output(&mut m, "linux", "6.1.0", Duration::from_secs(60))?;
    expect_lines(
        &m.run_ok("vm status linux", COMMAND_TIMEOUT)?,
        &["state      running", "ready      yes", "io=", "network: off", "devices    uart="],
    )?;

    // A polite stop: the guest sees the ACPI power button and powers off.
    let stop = m.run_ok("vm stop linux", Duration::from_secs(90))?;
    ensure!(stop.contains("RAYOS_VM:STOPPED:linux:poweroff"), "vm stop:\n{}", stop.text());
    // It starts again.
    m.run_ok("vm start linux", COMMAND_TIMEOUT)?;
    m.expect_marker(&markers::VM_GUEST_READY, GUEST_BOOT_TIMEOUT)?;
    // A guest that ignores the power button is stopped by force with vm kill.
    m.run_ok("vm send linux killall acpid", COMMAND_TIMEOUT)?;
    std::thread::sleep(Duration::from_secs(1));
    let kill = m.run_ok("vm kill linux", COMMAND_TIMEOUT)?;
    ensure!(kill.contains("RAYOS_VM:STOPPED:linux:killed"), "vm kill:\n{}", kill.text());
    expect_lines(&m.run_ok("vm list", COMMAND_TIMEOUT)?, &["linux      stopped"])?;
    // vm stop on a guest that ignores the power button stops it by force after 30 s.
    m.run_ok("vm start linux", COMMAND_TIMEOUT)?;
    m.expect_marker(&markers::VM_GUEST_READY, GUEST_BOOT_TIMEOUT)?;
    m.run_ok("vm send linux killall acpid", COMMAND_TIMEOUT)?;
    std::thread::sleep(Duration::from_secs(1));
    let forced = m.run_ok("vm stop linux", Duration::from_secs(90))?;
    ensure!(
        forced.contains("RAYOS_VM:STOPPED:linux:killed")
            && forced.contains("stopped by RayOS: the guest ignored the power button"),
        "vm stop of a guest ignoring the power button:\n{}",
        forced.text()
    );
    Ok(())
}

fn vm_hostile_guests(ctx: &Ctx) -> Result<()> {
    let mut m = vm_host(ctx)?;
    for (case, reasons) in [
        ("oob", &["no_device"][..]),
        ("io", &["io-flood"][..]),
        // QEMU's SVM refuses the illegal CR0 the guest writes; a CPU that #GPs instead lets the
        // guest reach its final HLT with interrupts off.
        ("ops", &["invalid-state", "halted"][..]),
        ("triple", &["triple-fault"][..]),
    ] {
        m.run_ok(&format!("vm start hostile {case}"), COMMAND_TIMEOUT)?;
        let stopped = m.expect_marker(&markers::VM_STOPPED, Duration::from_secs(180))?;
        let reason =
            markers::VM_STOPPED.parse(&stopped.text).and_then(|f| f.get(1)).unwrap_or("").to_string();
        ensure!(
            reasons.contains(&reason.as_str()),
            "hostile {case} stopped with {reason}, expected one of {reasons:?}"
        );
        // RayOS is unharmed and answers.
        expect_lines(&m.run_ok("uptime", COMMAND_TIMEOUT)?, &["up "])?;
        expect_lines(
            &m.run_ok("vm output hostile --tail 50", COMMAND_TIMEOUT)?,
            &[&format!("HOSTILE:{case}:")],
        )?;
        if case == "ops" {
            // #DB is intercepted (so that its delivery cannot loop in the CPU) and given back:
            // the guest's own handler sees its data breakpoint.
            expect_lines(
                &m.run_ok("vm output hostile --tail 200", COMMAND_TIMEOUT)?,
                &["HOSTILE:ops:data_breakpoint:#DB", "HOSTILE:ops:vmrun:#UD"],
            )?;
        }
    }
    let bad = m.run("vm start hostile nonsense", COMMAND_TIMEOUT)?;
    ensure!(bad.reason.as_deref() == Some("bad-args"), "{bad:?}");
    let unknown = m.run("vm start windows", COMMAND_TIMEOUT)?;
    ensure!(unknown.reason.as_deref() == Some("no-such-vm"), "{unknown:?}");
    Ok(())
}

fn vm_unsupported_cpu(ctx: &Ctx) -> Result<()> {
    let mut config = ctx.config("");
    config.cpu = String::from("qemu64,-svm");
    let mut m = ctx.boot(&config)?;
    ensure!(
        m.lines().iter().any(|l| l.text == "RAYOS_VM:UNSUPPORTED:no-svm"),
        "no RAYOS_VM:UNSUPPORTED:no-svm at boot"
    );
    let start = m.run("vm start linux", COMMAND_TIMEOUT)?;
    ensure!(start.reason.as_deref() == Some("no-svm"), "{start:?}");
    expect_lines(&start, &["no AMD SVM"])?;
    Ok(())
}

// ---- System 2: plain-language requests at the shell (issue 4) ----

fn intent_marker(output: &crate::qemu::CommandOutput) -> Option<(String, f64, String)> {
    output.lines.iter().find_map(|l| {
        let f = markers::INTENT.parse(l)?;
        Some((f.get(0)?.to_string(), f.get(1)?.parse().ok()?, f.get(2)?.to_string()))
    })
}

fn system2_shell(ctx: &Ctx) -> Result<()> {
    let mut config = ctx.config("");
    config.memory_mib = 2048;
    let mut m = ctx.boot(&config)?;
    // System 2 loads beside the shell and reads every intent's own description as that
    // intent (the weights and the table agree); the log mounts meanwhile, in either order.
    let ready = m.expect_markers(&[&markers::LOG_RECOVERED, &markers::SYSTEM2_READY], BOOT_TIMEOUT)?;
    let misread = markers::SYSTEM2_READY.parse(&ready[1]).and_then(|f| f.get(2)).map(String::from);
    ensure!(misread.as_deref() == Some("0"), "System 2's self-check misread {misread:?} requests");
    // A read-only request runs at once, through the same command the person could have typed.
    let memory = m.run_bytes(b"how much memory is free", "mem", COMMAND_TIMEOUT)?;
    let (intent, confidence, command) = intent_marker(&memory).context("no RAYOS_INTENT marker")?;
    ensure!(intent == "system.memory" && command == "mem" && (0.0..=1.0).contains(&confidence), "{memory:?}");
    ensure!(
        memory.ok && memory.contains("I read this as: mem") && memory.contains("physical:"),
        "{}",
        memory.text()
    );
    // Out of scope: a helpful reply, nothing runs.
    let weather = m.run_bytes(b"what's the weather in paris", "what's", COMMAND_TIMEOUT)?;
    ensure!(weather.reason.as_deref() == Some("out-of-scope"), "{weather:?}");
    ensure!(intent_marker(&weather).is_some_and(|(i, _, c)| i == "oos" && c == "-"), "{}", weather.text());
    expect_lines(&weather, &["Type `help`"])?;
    // A lone question mark asks what can be typed.
    let question = m.run_bytes(b"?", "help", COMMAND_TIMEOUT)?;
    ensure!(
        question.ok && intent_marker(&question).is_some_and(|(i, _, c)| i == "system.help" && c == "help"),
        "{}",
        question.text()
    );
    // `intent` shows the reading without running it.
    let reading = m.run_ok("intent could you start the linux vm", COMMAND_TIMEOUT)?;
    expect_lines(&reading, &["vm.start", "{\"vm\":\"linux\"}", "command     vm start linux", "asks y/N"])?;
    ensure!(!reading.contains("RAYOS_VM:STARTING"), "intent must not run anything");
    // Every VM is stopped, not listed; the command acts on one VM, so nothing would run.
    let every_vm = m.run_ok("intent halt all the virtual machines", COMMAND_TIMEOUT)?;
    expect_lines(&every_vm, &["intent      vm.stop", "command     - (nothing would run)"])?;
    // Words a missing space glued together are read apart (this was read as turning the
    // network on).
    let glued = m.run_ok("intent turnoffnetwork", COMMAND_TIMEOUT)?;
    expect_lines(&glued, &["intent      net.disable", "command     net disable"])?;
    // A change asks y/N; "n" runs nothing.
    until_confirm(&mut m, b"start linux")?;
    let declined = m.run_bytes(b"n", "vm", COMMAND_TIMEOUT)?;
    ensure!(declined.reason.as_deref() == Some("not-confirmed"), "{declined:?}");
    // A destructive request needs the word yes.
    until_confirm(&mut m, b"please reboot the machine")?;
    let refused = m.run_bytes(b"y", "reboot", COMMAND_TIMEOUT)?;
    ensure!(refused.reason.as_deref() == Some("not-confirmed"), "'y' must not confirm a reboot: {refused:?}");
    // A command that takes no arguments, followed by plain words, is a request: "reboot the
    // linux vm" means the VM, not the machine.
    // (The answer's marker names the command it declined: vm, not reboot.)
    until_confirm(&mut m, b"reboot the linux vm")?;
    let vm_restart = m.run_bytes(b"n", "vm", COMMAND_TIMEOUT)?;
    ensure!(vm_restart.reason.as_deref() == Some("not-confirmed"), "{vm_restart:?}");
    let uptime = m.run_bytes(b"uptime please", "uptime", COMMAND_TIMEOUT)?;
    ensure!(uptime.ok && uptime.contains("RAYOS_INTENT:system.uptime:"), "{}", uptime.text());
    // No request clears the screen: there the words stay a usage error.
    let clear = m.run("clear the screen", COMMAND_TIMEOUT)?;
    ensure!(clear.reason.as_deref() == Some("bad-args"), "{clear:?}");
    // An answer typed when no question waits runs nothing and says so ("n" alone once read as
    // a reboot, "no" as turning the network off).
    for answer in ["n", "no"] {
        let stray = m.run_bytes(answer.as_bytes(), answer, COMMAND_TIMEOUT)?;
        ensure!(stray.reason.as_deref() == Some("out-of-scope"), "{stray:?}");
        ensure!(!stray.lines.iter().any(|l| markers::SHELL_CONFIRM.parse(l).is_some()), "{}", stray.text());
        expect_lines(&stray, &["Nothing is waiting for an answer"])?;
    }
    // Forbidding an action runs nothing (the shutdown it names was proposed).
    let forbidden = m.run_bytes(b"don't shut down", "don't", COMMAND_TIMEOUT)?;
    ensure!(forbidden.reason.as_deref() == Some("out-of-scope"), "{forbidden:?}");
    expect_lines(&forbidden, &["That asks RayOS not to do something, so nothing runs"])?;
    // A command asked for later does not run now (an immediate reboot was proposed).
    let later = m.run_bytes(b"reboot in 10 minutes", "reboot", COMMAND_TIMEOUT)?;
    ensure!(later.reason.as_deref() == Some("not-run"), "{later:?}");
    expect_lines(&later, &["cannot schedule it for later, so nothing runs"])?;
    // Subsystems that are not built yet say so.
    let install = m.run_bytes(b"install rayos on the second disk", "install", COMMAND_TIMEOUT)?;
    ensure!(install.reason.as_deref() == Some("not-available"), "{install:?}");
    expect_lines(&install, &["not built yet"])?;
    // So does the planned command typed as such.
    let show = m.run_bytes(b"vm show linux", "vm", COMMAND_TIMEOUT)?;
    ensure!(show.reason.as_deref() == Some("not-available"), "{show:?}");
    expect_lines(&show, &["showing a guest's screen in a RayOS window is not built yet"])?;
    // Log questions become log queries.
    let why = m.run_bytes(b"why did the last boot fail", "log", COMMAND_TIMEOUT)?;
    ensure!(
        intent_marker(&why).is_some_and(|(i, _, c)| i == "log.show" && c.contains("--boot -1")),
        "{}",
        why.text()
    );
    // A search term the request negates is left out, not searched for (`--grep virtio` ran):
    // the log has virtio records, and the request shows none of them.
    let records = |out: &crate::qemu::CommandOutput| -> Vec<String> {
        out.lines.iter().filter(|l| l.starts_with("boot ")).cloned().collect()
    };
    let with = m.run_ok("log show --grep virtio --all", COMMAND_TIMEOUT)?;
    ensure!(!records(&with).is_empty(), "no virtio record to leave out: {}", with.text());
    let without = m.run_bytes(b"show log lines not mentioning virtio", "log", COMMAND_TIMEOUT)?;
    ensure!(
        without.ok
            && intent_marker(&without)
                .is_some_and(|(i, _, c)| i == "log.show" && c == "log show --exclude virtio"),
        "{}",
        without.text()
    );
    let shown = records(&without);
    ensure!(
        !shown.is_empty() && !shown.iter().any(|l| l.to_lowercase().contains("virtio")),
        "{}",
        without.text()
    );
    // The first lines are the oldest records (the newest were shown).
    let first = m.run_bytes(b"show the first 3 lines of the log", "log", COMMAND_TIMEOUT)?;
    ensure!(
        first.ok
            && intent_marker(&first).is_some_and(|(i, _, c)| i == "log.show" && c == "log show --head 3"),
        "{}",
        first.text()
    );
    let all = m.run_ok("log show --all", COMMAND_TIMEOUT)?;
    let (first, all) = (records(&first), records(&all));
    ensure!(
        first.len() == 3 && all.len() > 3 && first[..] == all[..3],
        "{first:?} against {:?}",
        &all[..3.min(all.len())]
    );
    // Questions about RayOS are answered from the manual.
    let ask = m.run_ok("ask how does the watchdog work", COMMAND_TIMEOUT)?;
    expect_lines(&ask, &["The watchdog", "armed at 30 seconds"])?;
    // A confirmed change runs: the VM starts.
    until_confirm(&mut m, b"start linux")?;
    m.send(b"y\r")?;
    m.expect_marker(&markers::VM_STARTING, COMMAND_TIMEOUT)?;
    m.run_ok("vm kill linux", COMMAND_TIMEOUT)?;
    // A VM named in the request is the one acted on, not the default one, even when no VM
    // of that name exists.
    until_confirm(&mut m, b"stop devbox")?;
    let unknown = m.run_bytes(b"y", "vm", COMMAND_TIMEOUT)?;
    ensure!(unknown.reason.as_deref() == Some("no-such-vm"), "{unknown:?}");
    expect_lines(&unknown, &["there is no VM named 'devbox'"])?;
    // A VM named only as one to leave out: nothing runs, the reply asks which VM.
    let except = m.run_bytes(b"stop all vms except linux", "stop", COMMAND_TIMEOUT)?;
    ensure!(except.reason.as_deref() == Some("not-run"), "{except:?}");
    expect_lines(&except, &["say which VM you mean"])?;
    ensure!(!except.contains("RAYOS_VM:"), "nothing may run: {}", except.text());
    // Every VM, where `vm stop` takes one: nothing runs (it stopped linux alone).
    let every = m.run_bytes(b"stop all vms", "stop", COMMAND_TIMEOUT)?;
    ensure!(every.reason.as_deref() == Some("not-run"), "{every:?}");
    expect_lines(&every, &["That asks for more than one VM", "`vm stop <vm>`"])?;
    ensure!(!every.contains("RAYOS_VM:"), "nothing may run: {}", every.text());
    let shown = m.run_ok("intent stop all vms except linux", COMMAND_TIMEOUT)?;
    expect_lines(
        &shown,
        &["command     - (nothing would run)", "why         That names linux only as the VM"],
    )?;
    // Word order decides the direction: airplane mode off is the network on.
    let airplane = m.run_ok("intent turn off airplane mode", COMMAND_TIMEOUT)?;
    expect_lines(&airplane, &["net.enable", "command     net enable"])?;
    // A question mark asks about the state instead of changing it.
    let asked = m.run_ok("intent net up?", COMMAND_TIMEOUT)?;
    expect_lines(&asked, &["net.status", "command     net status"])?;
    // A mistyped command is still a typo, not a request.
    let typo = m.run("hlep", COMMAND_TIMEOUT)?;
    ensure!(typo.reason.as_deref() == Some("unknown-command"), "{typo:?}");
    Ok(())
}
