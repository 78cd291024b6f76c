//! Makes sure the tools RayOS needs are installed, installing what is missing when possible:
//! rustup targets and components, and (as root, through apt-get) QEMU and OVMF.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub const UEFI_TARGET: &str = "x86_64-unknown-uefi";
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
pub const QEMU: &str = "qemu-system-x86_64";

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).env_remove("RUSTUP_TOOLCHAIN").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    eprintln!("xtask: running {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .env_remove("RUSTUP_TOOLCHAIN")
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The Rust side: the UEFI target on the default toolchain, and a nightly with `rust-src` for
/// the kernel's `-Zbuild-std`.
pub fn ensure_rust() -> Result<()> {
    let installed = output("rustup", &["target", "list", "--installed"]).context("rustup is required")?;
    if !installed.lines().any(|l| l.trim() == UEFI_TARGET) {
        run("rustup", &["target", "add", UEFI_TARGET])?;
    }
    match output("rustup", &["+nightly", "component", "list", "--installed"]) {
        Some(components) if components.lines().any(|l| l.starts_with("rust-src")) => {}
        Some(_) => run("rustup", &["component", "add", "rust-src", "--toolchain", "nightly"])?,
        None => run(
            "rustup",
            &["toolchain", "install", "nightly", "--profile", "minimal", "--component", "rust-src"],
        )?,
    }
    Ok(())
}

fn is_root() -> bool {
    output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// QEMU and the OVMF firmware, for running and testing.
pub fn ensure_qemu() -> Result<()> {
    let missing_qemu = !on_path(QEMU);
    let missing_ovmf = !Path::new(OVMF_CODE).is_file() || !Path::new(OVMF_VARS).is_file();
    if !missing_qemu && !missing_ovmf {
        return Ok(());
    }
    let packages: Vec<&str> = [(missing_qemu, "qemu-system-x86"), (missing_ovmf, "ovmf")]
        .iter()
        .filter(|(m, _)| *m)
        .map(|(_, p)| *p)
        .collect();
    if !is_root() {
        bail!(
            "RayOS needs these Debian packages to run: {}. Install them with: sudo apt-get install -y {}",
            packages.join(", "),
            packages.join(" ")
        );
    }
    run("apt-get", &["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&packages);
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("cannot run apt-get")?;
    if !status.success() {
        bail!("apt-get install {} failed", packages.join(" "));
    }
    if !on_path(QEMU) {
        bail!("{QEMU} is still missing after installing qemu-system-x86");
    }
    Ok(())
}

/// The repository root (the workspace xtask belongs to).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}
