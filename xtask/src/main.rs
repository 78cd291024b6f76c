//! `cargo xtask`: the one entry point for building, imaging, running, testing and
//! benchmarking RayOS. Run `cargo xtask help` for the commands.

mod artifacts;
mod bench;
mod guest;
mod image;
mod profile;
mod qemu;
mod scenarios;
mod test;
mod toolchain;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::qemu::{BootDisk, MachineConfig, SerialMode};
use crate::toolchain::project_root;

const HELP: &str = "\
cargo xtask <command>

  run [--ahci|--usb] [--gui] [--memory MIB]
                 build the image and boot it in QEMU, serial console on this terminal
                 (Ctrl-A X quits QEMU)
  test [FILTER]  host unit tests, then the QEMU scenario tests (those whose name
                 contains FILTER); RAYOS_TEST_JOBS sets how many QEMUs run at once
  image          build and write target/rayos/rayos.img
  build          build the loader and the kernel
  intent [--eval FILE]
                 read requests (one per line on stdin) with the kernel's intent engine and
                 print one JSON object per line; --eval scores a labelled JSONL file
  bench boot|log|vm|intent
                 figures beside a reference measured in the same run
  profile [--memory MIB] [--top N] <command line>
                 boot RayOS, type the command at its shell and sample where the kernel
                 spends its time until the command ends (self time by function, callers)
  lint           rustfmt check and clippy on every crate, kernel and loader included
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let rest = if args.is_empty() { &[][..] } else { &args[1..] };
    match args.first().map(String::as_str) {
        Some("build") => artifacts::build_all().map(|_| ()),
        Some("image") => {
            let path = build_image()?;
            println!("{}", path.display());
            Ok(())
        }
        Some("run") => run(rest),
        Some("test") => test::run(rest),
        Some("bench") => bench::run(rest),
        Some("lint") => lint(),
        Some("profile") => profile::run(rest),
        Some("intent") => intent(rest),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n{HELP}"),
    }
}

/// Where `cargo xtask image` writes the image.
pub fn image_path() -> PathBuf {
    project_root().join("target/rayos/rayos.img")
}

/// Builds everything and writes the bootable image.
pub fn build_image() -> Result<PathBuf> {
    let path = image_path();
    write_built_image(&path, 0)?;
    Ok(path)
}

/// Builds everything and writes an image like the bootable one, named `name` beside it, with
/// `free_bytes` of the disk left to no partition (for benchmarks that write raw sectors).
pub fn build_image_with_free_space(name: &str, free_bytes: u64) -> Result<PathBuf> {
    let path = image_path().with_file_name(name);
    write_built_image(&path, free_bytes)?;
    Ok(path)
}

fn write_built_image(path: &std::path::Path, free_bytes: u64) -> Result<()> {
    let built = artifacts::build_all()?;
    let loader =
        std::fs::read(&built.loader).with_context(|| format!("reading {}", built.loader.display()))?;
    let kernel =
        std::fs::read(&built.kernel).with_context(|| format!("reading {}", built.kernel.display()))?;
    let digest = image::digest_text(&kernel);
    std::fs::create_dir_all(path.parent().expect("image path has a parent"))?;
    let data = image::data_partition_image(&kernel)?;
    let modules = guest_modules()?;
    let module_refs: Vec<(String, &[u8])> = modules.iter().map(|(n, b)| (n.clone(), b.as_slice())).collect();
    image::write_image_with_free_space(
        path,
        &image::standard_partitions(&loader, &kernel, digest.as_bytes(), &data, &module_refs),
        free_bytes,
    )
}

/// The guests the image carries, as (module name, contents): the Linux guest (Debian's kernel
/// and a busybox initramfs, also left in target/rayos/guests/linux/) and the hostile test guest.
pub fn guest_modules() -> Result<Vec<(String, Vec<u8>)>> {
    let linux = guest::build_linux_guest()?;
    let hostile = guest::build_hostile_guest()?;
    let read = |p: &std::path::Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    Ok(vec![
        (String::from("linux-vmlinuz"), read(&linux.vmlinuz)?),
        (String::from("linux-initrd"), read(&linux.initrd)?),
        (String::from("linux-cmdline"), read(&linux.cmdline)?),
        (String::from("hostile.elf"), read(&hostile)?),
    ])
}

fn run(args: &[String]) -> Result<()> {
    let mut boot_disk = BootDisk::VirtioBlk;
    let mut gui = false;
    let mut memory_mib = 2048;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--ahci" => boot_disk = BootDisk::Ahci,
            "--usb" => boot_disk = BootDisk::Usb,
            "--gui" => gui = true,
            "--memory" => memory_mib = iter.next().context("--memory needs a size in MiB")?.parse()?,
            other => bail!("unknown option {other:?} for run"),
        }
    }
    toolchain::ensure_qemu()?;
    let image = build_image()?;
    let mut config = MachineConfig::new("run", &image);
    config.boot_disk = boot_disk;
    config.memory_mib = memory_mib;
    config.snapshot = false;
    let dir = qemu::scratch_dir("run")?;
    eprintln!("xtask: booting {} (Ctrl-A X quits QEMU)", image.display());
    let status = config.command(&dir, SerialMode::Terminal { gui }).status().context("cannot start QEMU")?;
    if !status.success() {
        bail!("QEMU exited with {status}");
    }
    Ok(())
}

fn intent(args: &[String]) -> Result<()> {
    match args {
        [] => rayos_intent_tools::run_query(std::io::stdin().lock(), std::io::stdout().lock())
            .context("reading queries"),
        [flag, file] if flag == "--eval" => {
            rayos_intent_tools::run_eval(std::path::Path::new(file), std::io::stdout().lock())
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
        _ => bail!("usage: cargo xtask intent [--eval FILE]"),
    }
}

fn lint() -> Result<()> {
    toolchain::ensure_rust()?;
    let root = project_root();
    let check = |mut command: std::process::Command, what: &str| -> Result<()> {
        let status = command.current_dir(&root).env_remove("RUSTUP_TOOLCHAIN").status()?;
        if !status.success() {
            bail!("{what} failed");
        }
        Ok(())
    };
    let mut fmt = std::process::Command::new("cargo");
    fmt.args(["fmt", "--all", "--check"]);
    check(fmt, "cargo fmt --check")?;
    let mut host = std::process::Command::new("cargo");
    host.args(["clippy", "--all-targets", "--", "-D", "warnings"]);
    check(host, "clippy on the host crates")?;
    for package in ["rayos-loader", "rayos-floor"] {
        let mut uefi = std::process::Command::new("cargo");
        uefi.args([
            "clippy",
            "--release",
            "--package",
            package,
            "--target",
            toolchain::UEFI_TARGET,
            "--",
            "-D",
            "warnings",
        ]);
        check(uefi, &format!("clippy on {package}"))?;
    }
    let mut kernel = artifacts::kernel_cargo("clippy");
    kernel.args(["--", "-D", "warnings"]);
    check(kernel, "clippy on the kernel")?;
    Ok(())
}
