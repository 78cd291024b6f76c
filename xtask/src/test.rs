//! `cargo xtask test`: host unit tests, then QEMU scenarios in parallel.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::qemu::{strip_terminal_codes, Machine, MachineConfig};
use crate::scenarios::{self, Scenario};
use crate::toolchain::{self, project_root};

/// What scenarios get: the image and the files it was built from.
pub struct Ctx {
    pub image: PathBuf,
    pub loader: Vec<u8>,
    pub kernel: Vec<u8>,
    /// The scenario's name; machine names start with it.
    pub name: String,
    machines: Mutex<Vec<String>>,
}

/// How long the firmware plus RayOS may take to reach the shell under TCG on a loaded machine.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one shell command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl Ctx {
    /// A machine config named after this scenario (plus `suffix`).
    pub fn config(&self, suffix: &str) -> MachineConfig {
        let name = if suffix.is_empty() { self.name.clone() } else { format!("{}-{suffix}", self.name) };
        MachineConfig::new(&name, &self.image)
    }

    /// Starts a machine; its serial log is reported if the scenario fails.
    pub fn start(&self, config: &MachineConfig) -> Result<Machine> {
        self.machines.lock().expect("not poisoned").push(config.name.clone());
        Machine::start(config)
    }

    /// Starts a machine and waits for the shell.
    pub fn boot(&self, config: &MachineConfig) -> Result<Machine> {
        let mut machine = self.start(config)?;
        machine.expect_marker(&rayos_markers::SHELL_READY, BOOT_TIMEOUT)?;
        Ok(machine)
    }

    /// A writable copy of the image for this scenario (machines otherwise write to a throw-away
    /// overlay), and a machine config that boots from it.
    pub fn writable_disk(&self, file: &str) -> Result<MachineConfig> {
        let path = self.scratch(file);
        std::fs::copy(&self.image, &path)
            .with_context(|| format!("copying the image to {}", path.display()))?;
        let mut config = self.config("");
        config.image = path;
        config.snapshot = false;
        Ok(config)
    }

    /// A scratch file path for this scenario.
    pub fn scratch(&self, file: &str) -> PathBuf {
        let dir = project_root().join("target/rayos/scratch").join(&self.name);
        let _ = std::fs::create_dir_all(&dir);
        dir.join(file)
    }
}

fn host_tests() -> Result<()> {
    println!("== host unit tests (cargo test)");
    let status = Command::new("cargo")
        .arg("test")
        .current_dir(project_root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .status()
        .context("cannot run cargo test")?;
    if !status.success() {
        bail!("host unit tests failed");
    }
    Ok(())
}

fn log_tail(machine: &str, lines: usize) -> String {
    let path = project_root().join("target/rayos/test-logs").join(format!("{machine}.serial.log"));
    let raw = std::fs::read(&path).unwrap_or_default();
    let text = strip_terminal_codes(&raw);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = format!(
        "  serial log of {machine} (last {} lines; full log: {}):\n",
        all.len() - start,
        path.display()
    );
    for line in &all[start..] {
        out.push_str("    | ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

pub fn run(args: &[String]) -> Result<()> {
    let filter = args.first().cloned();
    toolchain::ensure_rust()?;
    toolchain::ensure_qemu()?;
    let started = Instant::now();
    if filter.is_none() {
        host_tests()?;
    }
    println!("== building the image");
    let image = crate::build_image()?;
    let loader = std::fs::read(crate::artifacts::build_uefi("rayos-loader")?)?;
    let kernel = std::fs::read(crate::artifacts::kernel_path())?;

    let selected: Vec<Scenario> = scenarios::all()
        .into_iter()
        .filter(|s| filter.as_ref().is_none_or(|f| s.name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        bail!("no scenario matches {filter:?}");
    }
    let jobs: usize = std::env::var("RAYOS_TEST_JOBS").ok().and_then(|j| j.parse().ok()).unwrap_or(2).max(1);
    println!("== {} QEMU scenarios, {jobs} at a time", selected.len());

    let queue = Arc::new(Mutex::new(selected.into_iter().collect::<std::collections::VecDeque<_>>()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::new((image, loader, kernel));
    let workers: Vec<_> = (0..jobs)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let failures = Arc::clone(&failures);
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || loop {
                let Some(scenario) = queue.lock().expect("not poisoned").pop_front() else { return };
                let ctx = Ctx {
                    image: shared.0.clone(),
                    loader: shared.1.clone(),
                    kernel: shared.2.clone(),
                    name: scenario.name.to_string(),
                    machines: Mutex::new(Vec::new()),
                };
                let begun = Instant::now();
                let result = (scenario.run)(&ctx);
                let seconds = begun.elapsed().as_secs_f64();
                match result {
                    Ok(()) => println!("ok   {:<40} {seconds:6.1}s", scenario.name),
                    Err(error) => {
                        let mut report = format!("FAIL {:<40} {seconds:6.1}s\n  {error:#}\n", scenario.name);
                        for machine in ctx.machines.lock().expect("not poisoned").iter() {
                            report.push_str(&log_tail(machine, 40));
                        }
                        println!("{report}");
                        failures.lock().expect("not poisoned").push(scenario.name);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let failures = failures.lock().expect("not poisoned");
    println!("== {:.0}s in all", started.elapsed().as_secs_f64());
    if !failures.is_empty() {
        bail!("{} scenario(s) failed: {}", failures.len(), failures.join(", "));
    }
    println!("== all tests passed");
    Ok(())
}
