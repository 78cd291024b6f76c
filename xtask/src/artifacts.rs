//! Building the loader, the kernel and the firmware-floor app.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::toolchain::{project_root, UEFI_TARGET};

pub struct Artifacts {
    pub loader: PathBuf,
    pub kernel: PathBuf,
}

/// A `cargo` for nested builds: the rustup proxy from PATH, without the toolchain choice of
/// the cargo that runs xtask.
fn cargo() -> Command {
    let mut command = Command::new("cargo");
    command
        .current_dir(project_root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WRAPPER");
    command
}

fn run(mut command: Command, what: &str) -> Result<()> {
    let status = command.status().with_context(|| format!("cannot start cargo to build {what}"))?;
    if !status.success() {
        bail!("building {what} failed");
    }
    Ok(())
}

/// Builds a UEFI application package; returns the .efi path.
pub fn build_uefi(package: &str) -> Result<PathBuf> {
    let mut command = cargo();
    command.args(["build", "--release", "--package", package, "--target", UEFI_TARGET]);
    run(command, package)?;
    Ok(project_root().join("target").join(UEFI_TARGET).join("release").join(format!("{package}.efi")))
}

/// The kernel target specification.
pub fn kernel_target_spec() -> PathBuf {
    project_root().join("kernel").join("x86_64-rayos.json")
}

/// The nightly cargo invocation that builds (or lints) the kernel.
pub fn kernel_cargo(subcommand: &str) -> Command {
    let mut command = cargo();
    command.arg("+nightly").arg(subcommand).args(["--release", "--package", "rayos-kernel", "--target"]);
    command.arg(kernel_target_spec());
    command.args([
        "-Zbuild-std=core,alloc,compiler_builtins",
        "-Zbuild-std-features=compiler-builtins-mem",
        "-Zjson-target-spec",
    ]);
    command
}

/// Where [`build_kernel`] leaves the kernel.
pub fn kernel_path() -> PathBuf {
    project_root().join("target/x86_64-rayos/release/rayos-kernel")
}

pub fn build_kernel() -> Result<PathBuf> {
    run(kernel_cargo("build"), "the kernel")?;
    Ok(kernel_path())
}

pub fn build_all() -> Result<Artifacts> {
    crate::toolchain::ensure_rust()?;
    let loader = build_uefi("rayos-loader")?;
    let kernel = build_kernel()?;
    Ok(Artifacts { loader, kernel })
}
