//! The guest payloads of RayOS's hypervisor, built on the host.
//!
//! - [`build_linux_guest`]: the `linux` guest, Debian's `linux-image-amd64` kernel and an
//!   initramfs around Debian's `busybox-static`, written to `target/rayos/guests/linux/`
//!   (`vmlinuz`, `initrd.img`, `cmdline`, `VERSIONS`). The packages come from apt
//!   (`apt-get download`, cached in `target/rayos/cache/debs/`) and are unpacked with
//!   `dpkg-deb -x`; the initramfs is a newc cpio archive written here, gzip-compressed.
//! - [`build_hostile_guest`]: the hostile test guest (`guests/hostile`), a static ELF built
//!   with the nightly toolchain for `guests/x86_64-guest.json`, copied to
//!   `target/rayos/guests/hostile/hostile.elf`.
//!
//! The Linux guest's `/init` mounts devtmpfs, proc and sysfs, loads the ACPI power-button
//! driver and the event-device driver (both modules in Debian's kernel), starts busybox
//! `acpid` and waits until it holds the power button's event device, prints
//! [`GUEST_READY_MARKER`] on a line of its own on `/dev/ttyS0`, and hands over to busybox
//! `init`, which keeps a login shell on ttyS0 (respawned when it exits). A press of the ACPI
//! power button (`Machine::press_power_button` in `crates/vmm`: PWRBTN_STS, SCI) reaches
//! `button.ko`, which reports KEY_POWER on its input device; `acpid` runs
//! `/etc/acpi/PWRF/00000080`, which runs `poweroff`; busybox init stops every process and the
//! kernel enters ACPI S5, which the VMM sees as a power-off.
//!
//! # Invariants
//! - The outputs are rebuilt only when the recipe (this file's constants and scripts), the
//!   package versions or the `.deb` files changed; otherwise the build only asks apt which
//!   versions are current.
//! - Outputs are written to a temporary name and renamed, so a reader never sees half a file.
//! - The initramfs is deterministic: entries in a fixed order, every mtime 0.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::toolchain::project_root;

/// The line the guest's `/init` prints on ttyS0 when the shell is about to start.
pub const GUEST_READY_MARKER: &str = "RAYOS_GUEST:READY";

/// The kernel command line for the `crates/vmm` platform: console on the 16550 at 0x3F8
/// (ttyS0); only warnings and errors printed (every console byte costs VM exits); only the
/// one UART probed; `no_timer_check` because the I/O APIC timer check is pointless with
/// TSC-deadline timers (Linux skips it anyway under the KVM signature, this makes it explicit
/// for other hypervisors); `panic=-1` so a guest panic resets at once, which the VMM reports
/// as a reset instead of a VM that hangs; `pci=noearly` because the guest sees an AMD family
/// 15 CPU (QEMU's `qemu64`), on which Linux looks for a K8 AGP/GART aperture by reading the
/// class register of every slot of all 256 PCI buses, twice, before the PCI subsystem
/// starts: 33,000 of the 38,000 VM exits of a boot (`vm status` shows them under
/// `devices  pci=`). The early PCI pass has nothing else to do on this platform (its
/// quirks are for chipsets and GPUs the guest does not have). x2APIC and kvmclock need no
/// option (`nox2apic` must not be given: the xAPIC MMIO page is not emulated).
pub const LINUX_COMMAND_LINE: &str =
    "console=ttyS0 loglevel=4 panic=-1 8250.nr_uarts=1 no_timer_check pci=noearly";

/// Guest RAM the Linux guest is meant to get (the kernel's decompression footprint is about
/// 60 MiB; the rest is page cache and the initramfs).
pub const LINUX_GUEST_MEMORY_MIB: u64 = 256;

/// The metapackage that names the current kernel package.
const KERNEL_METAPACKAGE: &str = "linux-image-amd64";
/// Busybox, statically linked, so the initramfs needs no C library.
const BUSYBOX_PACKAGE: &str = "busybox-static";
/// Kernel options that must be built in (`y`) or be modules (`m`) for the power button:
/// the ACPI button driver and the event-device interface acpid reads.
const POWER_BUTTON_OPTIONS: [(&str, &str); 2] =
    [("CONFIG_ACPI_BUTTON", "button"), ("CONFIG_INPUT_EVDEV", "evdev")];
/// Bump when the initramfs layout changes in a way the scripts below do not show.
const RECIPE_VERSION: u32 = 1;

/// Applets linked into the archive so that `/init` runs before `busybox --install`.
const BOOT_APPLETS: [&str; 16] = [
    "bin/sh",
    "bin/mount",
    "bin/mkdir",
    "bin/ls",
    "bin/grep",
    "bin/cat",
    "bin/echo",
    "bin/printf",
    "bin/usleep",
    "bin/sync",
    "sbin/init",
    "sbin/insmod",
    "sbin/acpid",
    "sbin/poweroff",
    "sbin/reboot",
    "sbin/halt",
];

/// `/init`. `@MODULES@` becomes one `load_module` line per module, dependencies first;
/// `@READY@` becomes [`GUEST_READY_MARKER`].
const INIT_SCRIPT: &str = r#"#!/bin/sh
# RayOS Linux guest: PID 1 until busybox init takes over (see xtask/src/guest.rs).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t devtmpfs -o mode=0755 devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
/bin/busybox --install -s

load_module() {
    insmod "$1" || echo "rayos-guest: insmod $1 failed: the power button will not work" > /dev/ttyS0
}
@MODULES@
# acpid runs /etc/acpi/PWRF/00000080 when the ACPI power button is pressed. Wait (at most
# 2 s) until it holds the button's event device, so a press right after READY is not lost.
acpid -f -c /etc/acpi -l /var/log/acpid.log &
acpid_pid=$!
tries=0
while ! ls -l /proc/$acpid_pid/fd 2>/dev/null | grep -q /dev/input/event; do
    tries=$((tries + 1))
    if [ $tries -gt 100 ]; then
        echo "rayos-guest: acpid has no input device: the power button will not work" > /dev/ttyS0
        break
    fi
    usleep 20000
done

printf '\n@READY@\n' > /dev/ttyS0
exec /sbin/init
"#;

/// busybox init's table: a login shell on ttyS0, respawned; a line on the way down.
const INITTAB: &str = "\
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/echo rayos-guest: powering off
";

/// The power-button action acpid runs (busybox acpid maps KEY_POWER to `PWRF/00000080`).
const POWER_BUTTON_ACTION: &str = "\
#!/bin/sh
# ACPI power button (RayOS `vm stop`): power off cleanly through init.
echo 'rayos-guest: power button pressed, powering off' > /dev/console
exec /sbin/poweroff
";

const PROFILE: &str = "\
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PS1='guest:\\w# '
";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n";
const GROUP: &str = "root:x:0:\n";

/// One Debian package in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebPackage {
    /// Package name, e.g. `linux-image-6.1.0-56-amd64`.
    pub name: String,
    /// Version, e.g. `6.1.192-2`.
    pub version: String,
    /// SHA-256 of the `.deb`, hex.
    pub sha256: String,
    /// The `.deb` in the cache.
    pub path: PathBuf,
}

/// The built Linux guest.
#[derive(Debug, Clone)]
pub struct LinuxGuest {
    /// `target/rayos/guests/linux`.
    pub dir: PathBuf,
    /// The bzImage.
    pub vmlinuz: PathBuf,
    /// The gzip-compressed newc initramfs.
    pub initrd: PathBuf,
    /// The command line file (no trailing newline).
    pub cmdline: PathBuf,
    /// Package names, versions and digests.
    pub versions: PathBuf,
    /// The command line.
    pub command_line: String,
    /// Guest RAM the guest is meant to get ([`LINUX_GUEST_MEMORY_MIB`]).
    pub memory_mib: u64,
    /// The kernel release, e.g. `6.1.0-56-amd64`.
    pub kernel_release: String,
    /// The kernel package.
    pub kernel_package: DebPackage,
    /// The busybox package.
    pub busybox_package: DebPackage,
    /// Size of `initrd.img`.
    pub initrd_size_bytes: u64,
    /// False when the outputs were up to date and nothing was written.
    pub rebuilt: bool,
}

impl std::fmt::Display for LinuxGuest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let package = |p: &DebPackage| format!("{} {} (sha256 {})", p.name, p.version, p.sha256);
        writeln!(
            f,
            "Linux guest in {}{}",
            self.dir.display(),
            if self.rebuilt { "" } else { " (up to date)" }
        )?;
        writeln!(f, "  kernel   {} ({})", self.vmlinuz.display(), self.kernel_release)?;
        writeln!(f, "  initrd   {} ({} bytes)", self.initrd.display(), self.initrd_size_bytes)?;
        writeln!(f, "  cmdline  {} ({})", self.cmdline.display(), self.command_line)?;
        writeln!(f, "  memory   {} MiB, 1 vCPU, no network", self.memory_mib)?;
        writeln!(f, "  versions {}", self.versions.display())?;
        writeln!(f, "  package  {}", package(&self.kernel_package))?;
        write!(f, "  package  {}", package(&self.busybox_package))
    }
}

fn run_output(command: &mut Command, what: &str) -> Result<std::process::Output> {
    command.output().with_context(|| format!("cannot run {what}"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// apt's candidate stanzas for `packages` (`apt-cache show --no-all-versions`), by package
/// name; a package apt does not know is missing from the map.
fn apt_show(packages: &[&str]) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let out = run_output(
        Command::new("apt-cache").args(["show", "--no-all-versions"]).args(packages),
        "apt-cache (the Linux guest is built from Debian packages: run on Debian or Ubuntu)",
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(parse_control_stanzas(&text)
        .into_iter()
        .filter_map(|fields| Some((fields.get("Package")?.clone(), fields)))
        .collect())
}

/// The `Field: value` stanzas of a Debian control text (continuation lines are appended to
/// their field, with a newline).
fn parse_control_stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut stanzas = Vec::new();
    let mut fields = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !fields.is_empty() {
                stanzas.push(std::mem::take(&mut fields));
            }
            last = None;
        } else if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(value) = last.as_ref().and_then(|key| fields.get_mut(key)) {
                let value: &mut String = value;
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            fields.insert(key.trim().to_string(), value.trim().to_string());
            last = Some(key.trim().to_string());
        }
    }
    if !fields.is_empty() {
        stanzas.push(fields);
    }
    stanzas
}

/// The first stanza of a Debian control text.
fn parse_control_fields(text: &str) -> BTreeMap<String, String> {
    parse_control_stanzas(text).into_iter().next().unwrap_or_default()
}

/// apt's candidates for `packages`; runs `apt-get update` once if apt does not know one of
/// them and we are root.
fn apt_candidates(
    packages: &[&str],
    updated: &mut bool,
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let missing = |found: &BTreeMap<String, BTreeMap<String, String>>| {
        packages.iter().find(|name| !found.contains_key(**name)).map(|name| name.to_string())
    };
    let found = apt_show(packages)?;
    let Some(unknown) = missing(&found) else { return Ok(found) };
    if !*updated && is_root() {
        eprintln!("xtask: apt does not know {unknown}; running apt-get update");
        let status = Command::new("apt-get").arg("update").status().context("cannot run apt-get update")?;
        if !status.success() {
            bail!("apt-get update failed ({status}); the Linux guest needs Debian's package lists");
        }
        *updated = true;
        let found = apt_show(packages)?;
        match missing(&found) {
            None => return Ok(found),
            Some(unknown) => bail!(
                "apt has no package {unknown} even after apt-get update; is this Debian (bookworm or later) with the main component?"
            ),
        }
    }
    bail!("apt has no package {unknown}; run `sudo apt-get update` and build again")
}

/// The version a `Depends` field pins `package` to (`package (= version)`), if it does.
fn pinned_version(depends: &str, package: &str) -> Option<String> {
    depends.split([',', '|']).find_map(|alternative| {
        let rest = alternative.trim().strip_prefix(package)?.trim_start();
        let version = rest.strip_prefix('(')?.trim_start().strip_prefix('=')?.trim();
        Some(version.strip_suffix(')')?.trim().to_string())
    })
}

/// The versioned kernel package the metapackage depends on, e.g. `linux-image-6.1.0-56-amd64`.
fn kernel_package_name(metapackage_fields: &BTreeMap<String, String>) -> Result<String> {
    let depends = metapackage_fields
        .get("Depends")
        .ok_or_else(|| anyhow!("{KERNEL_METAPACKAGE} has no Depends field"))?;
    depends
        .split([',', '|'])
        .map(|alternative| alternative.split_whitespace().next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-") && name.ends_with("-amd64"))
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{KERNEL_METAPACKAGE} depends on no linux-image-*-amd64 package ({depends})"))
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Package` and `Version` of a `.deb`, from `dpkg-deb -f`.
fn deb_identity(deb: &Path) -> Result<(String, String)> {
    let out =
        run_output(Command::new("dpkg-deb").arg("-f").arg(deb).args(["Package", "Version"]), "dpkg-deb")?;
    if !out.status.success() {
        bail!("{} is not a readable .deb: {}", deb.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let fields = parse_control_fields(&String::from_utf8_lossy(&out.stdout));
    match (fields.get("Package"), fields.get("Version")) {
        (Some(name), Some(version)) => Ok((name.clone(), version.clone())),
        _ => bail!("{} has no Package/Version fields", deb.display()),
    }
}

/// The cached `.deb` of `name` at `version`, downloaded with `apt-get download` if missing.
fn ensure_deb(cache: &Path, name: &str, version: &str) -> Result<PathBuf> {
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let find = || -> Result<Option<PathBuf>> {
        for entry in fs::read_dir(cache)? {
            let path = entry?.path();
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if file_name.starts_with(&format!("{name}_")) && file_name.ends_with(".deb") {
                let (package, package_version) = deb_identity(&path)?;
                if package == name && package_version == version {
                    return Ok(Some(path));
                }
            }
        }
        Ok(None)
    };
    if let Some(path) = find()? {
        return Ok(path);
    }
    eprintln!("xtask: downloading {name} {version}");
    let out = run_output(
        Command::new("apt-get").current_dir(cache).arg("download").arg(format!("{name}={version}")),
        "apt-get download",
    )?;
    if !out.status.success() {
        bail!(
            "apt-get download {name}={version} failed: {}; run `apt-get update` if the version is stale",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    find()?.ok_or_else(|| {
        anyhow!("apt-get download {name}={version} wrote no matching .deb in {}", cache.display())
    })
}

/// `dpkg-deb -x` of `deb` into `target/rayos/cache/extract/<file stem>`, once.
fn extract_deb(extract_root: &Path, deb: &Path) -> Result<PathBuf> {
    let stem = deb.file_stem().ok_or_else(|| anyhow!("{} has no file name", deb.display()))?;
    let dir = extract_root.join(stem);
    let complete = dir.join(".rayos-extracted");
    if complete.exists() {
        return Ok(dir);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .with_context(|| format!("removing the partial extraction {}", dir.display()))?;
    }
    fs::create_dir_all(&dir)?;
    let out = run_output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&dir), "dpkg-deb -x")?;
    if !out.status.success() {
        bail!("dpkg-deb -x {} failed: {}", deb.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    fs::write(&complete, b"")?;
    Ok(dir)
}

/// The value of `option` in a kernel `.config` (`y`, `m`, or `None` when unset).
fn kernel_config_value<'a>(config: &'a str, option: &str) -> Option<&'a str> {
    config.lines().find_map(|line| line.strip_prefix(option)?.strip_prefix('=').map(str::trim))
}

/// The NUL-separated `key=value` strings of a kernel module's `.modinfo` section.
fn module_info(ko: &[u8]) -> Result<Vec<(String, String)>> {
    let section = elf_section(ko, ".modinfo")?.ok_or_else(|| anyhow!("no .modinfo section"))?;
    Ok(section
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let text = std::str::from_utf8(entry).ok()?;
            let (key, value) = text.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect())
}

/// The bytes of the section named `name` in a little-endian ELF64 file.
fn elf_section<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    let get = |at: usize, len: usize| -> Result<&'a [u8]> {
        elf.get(at..at.checked_add(len).ok_or_else(|| anyhow!("offset overflow"))?)
            .ok_or_else(|| anyhow!("truncated ELF file"))
    };
    let u16_at =
        |at: usize| -> Result<usize> { Ok(usize::from(u16::from_le_bytes(get(at, 2)?.try_into()?))) };
    let u64_at =
        |at: usize| -> Result<usize> { Ok(usize::try_from(u64::from_le_bytes(get(at, 8)?.try_into()?))?) };
    if get(0, 4)? != b"\x7fELF" || get(4, 2)? != [2, 1] {
        bail!("not a little-endian ELF64 file");
    }
    let section_table = u64_at(0x28)?;
    let entry_size = u16_at(0x3A)?;
    let count = u16_at(0x3C)?;
    let names_index = u16_at(0x3E)?;
    if entry_size < 0x40 {
        bail!("bad section header size {entry_size}");
    }
    let header = |index: usize| -> Result<(usize, usize, usize)> {
        let at = section_table + index * entry_size;
        Ok((u32::from_le_bytes(get(at, 4)?.try_into()?) as usize, u64_at(at + 0x18)?, u64_at(at + 0x20)?))
    };
    let (_, names_offset, names_size) = header(names_index)?;
    let names = get(names_offset, names_size)?;
    for index in 0..count {
        let (name_offset, offset, size) = header(index)?;
        let section_name =
            names.get(name_offset..).and_then(|rest| rest.split(|&b| b == 0).next()).unwrap_or(&[]);
        if section_name == name.as_bytes() {
            return Ok(Some(get(offset, size)?));
        }
    }
    Ok(None)
}

/// `wanted` modules and their dependencies (from `.modinfo`), dependencies first, as
/// (name, path) pairs found under `modules_dir`.
fn resolve_modules(modules_dir: &Path, wanted: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let mut by_name = BTreeMap::new();
    let mut pending = vec![modules_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Some(stem) =
                path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".ko"))
            {
                by_name.insert(stem.replace('-', "_"), path);
            }
        }
    }
    let mut ordered: Vec<(String, PathBuf)> = Vec::new();
    // Depth-first with an explicit bound: a module graph deeper than this is corrupt.
    fn visit(
        name: &str,
        by_name: &BTreeMap<String, PathBuf>,
        ordered: &mut Vec<(String, PathBuf)>,
        depth: usize,
    ) -> Result<()> {
        let name = name.replace('-', "_");
        if ordered.iter().any(|(done, _)| *done == name) {
            return Ok(());
        }
        if depth > 32 {
            bail!("module dependencies nest deeper than 32 at {name}: a cycle?");
        }
        let path =
            by_name.get(&name).ok_or_else(|| anyhow!("kernel module {name}.ko is not in the package"))?;
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let info = module_info(&bytes).with_context(|| format!("reading .modinfo of {}", path.display()))?;
        for (key, value) in &info {
            if key == "depends" {
                for dependency in value.split(',').filter(|d| !d.is_empty()) {
                    visit(dependency, by_name, ordered, depth + 1)?;
                }
            }
        }
        ordered.push((name, path.clone()));
        Ok(())
    }
    for name in wanted {
        visit(name, &by_name, &mut ordered, 0)?;
    }
    Ok(ordered)
}

/// A newc ("070701") cpio archive, as the Linux initramfs unpacker reads it.
#[derive(Debug, Default)]
pub struct CpioWriter {
    bytes: Vec<u8>,
    next_inode: u32,
}

/// File-type bits of a cpio mode.
pub mod cpio_mode {
    /// Directory.
    pub const DIRECTORY: u32 = 0o040000;
    /// Regular file.
    pub const FILE: u32 = 0o100000;
    /// Symbolic link.
    pub const SYMLINK: u32 = 0o120000;
    /// Character device.
    pub const CHAR_DEVICE: u32 = 0o020000;
}

impl CpioWriter {
    /// An empty archive.
    pub fn new() -> Self {
        Self { bytes: Vec::new(), next_inode: 1 }
    }

    fn pad4(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> Result<()> {
        if name.is_empty() || name.starts_with('/') || name.contains('\0') {
            bail!("bad cpio entry name {name:?}: relative, non-empty, no NUL");
        }
        let size =
            u32::try_from(data.len()).map_err(|_| anyhow!("{name} is too large for a newc archive"))?;
        let name_size = u32::try_from(name.len() + 1).map_err(|_| anyhow!("name too long"))?;
        let inode = self.next_inode;
        self.next_inode += 1;
        let nlink = if mode & 0o170000 == cpio_mode::DIRECTORY { 2 } else { 1 };
        let fields = [inode, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, name_size, 0];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad4();
        self.bytes.extend_from_slice(data);
        self.pad4();
        Ok(())
    }

    /// A directory with permissions `permissions` (e.g. 0o755).
    pub fn directory(&mut self, name: &str, permissions: u32) -> Result<()> {
        self.entry(name, cpio_mode::DIRECTORY | (permissions & 0o7777), (0, 0), &[])
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, permissions: u32, data: &[u8]) -> Result<()> {
        self.entry(name, cpio_mode::FILE | (permissions & 0o7777), (0, 0), data)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) -> Result<()> {
        self.entry(name, cpio_mode::SYMLINK | 0o777, (0, 0), target.as_bytes())
    }

    /// A character device node.
    pub fn char_device(&mut self, name: &str, permissions: u32, major: u32, minor: u32) -> Result<()> {
        self.entry(name, cpio_mode::CHAR_DEVICE | (permissions & 0o7777), (major, minor), &[])
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        Ok(self.bytes)
    }
}

/// Everything that decides the initramfs besides the package files: a change here rebuilds.
fn recipe_digest(packages: &[&DebPackage], modules: &[(String, PathBuf)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(RECIPE_VERSION.to_le_bytes());
    hasher.update(LINUX_GUEST_MEMORY_MIB.to_le_bytes());
    for text in [
        LINUX_COMMAND_LINE,
        INIT_SCRIPT,
        INITTAB,
        POWER_BUTTON_ACTION,
        PROFILE,
        PASSWD,
        GROUP,
        GUEST_READY_MARKER,
    ] {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    for applet in BOOT_APPLETS {
        hasher.update(applet.as_bytes());
        hasher.update([0]);
    }
    for package in packages {
        hasher
            .update(format!("{} {} {}\n", package.name, package.version, package.path.display()).as_bytes());
    }
    for (name, _) in modules {
        hasher.update(name.as_bytes());
        hasher.update([0]);
    }
    hex(&hasher.finalize())
}

/// The `/init` script with its placeholders filled.
fn init_script(modules: &[(String, PathBuf)]) -> String {
    let loads: String =
        modules.iter().map(|(name, _)| format!("load_module /lib/modules/{name}.ko\n")).collect();
    INIT_SCRIPT.replace("@MODULES@\n", &loads).replace("@READY@", GUEST_READY_MARKER)
}

/// The uncompressed initramfs.
fn initramfs(busybox: &[u8], modules: &[(String, Vec<u8>)], init: &str) -> Result<Vec<u8>> {
    let mut cpio = CpioWriter::new();
    for dir in [
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "dev",
        "proc",
        "sys",
        "etc",
        "etc/acpi",
        "etc/acpi/PWRF",
        "lib",
        "lib/modules",
        "root",
        "run",
        "var",
        "var/log",
    ] {
        cpio.directory(dir, 0o755)?;
    }
    cpio.directory("tmp", 0o1777)?;
    // The kernel opens /dev/console for init before anything mounts devtmpfs.
    cpio.char_device("dev/console", 0o600, 5, 1)?;
    cpio.file("bin/busybox", 0o755, busybox)?;
    for applet in BOOT_APPLETS {
        cpio.symlink(applet, "/bin/busybox")?;
    }
    cpio.file("init", 0o755, init.as_bytes())?;
    cpio.file("etc/inittab", 0o644, INITTAB.as_bytes())?;
    cpio.file("etc/acpi/PWRF/00000080", 0o755, POWER_BUTTON_ACTION.as_bytes())?;
    cpio.file("etc/profile", 0o644, PROFILE.as_bytes())?;
    cpio.file("etc/passwd", 0o644, PASSWD.as_bytes())?;
    cpio.file("etc/group", 0o644, GROUP.as_bytes())?;
    for (name, bytes) in modules {
        cpio.file(&format!("lib/modules/{name}.ko"), 0o644, bytes)?;
    }
    cpio.finish()
}

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

/// Writes `data` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let temporary = path.with_extension("rayos-partial");
    fs::write(&temporary, data).with_context(|| format!("writing {}", temporary.display()))?;
    fs::rename(&temporary, path)
        .with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The `VERSIONS` file.
fn versions_text(
    recipe: &str,
    kernel_release: &str,
    packages: &[&DebPackage],
    modules: &[(String, PathBuf)],
    initrd_size_bytes: u64,
) -> String {
    let mut text = String::from("# RayOS Linux guest, built by cargo xtask (xtask/src/guest.rs)\n");
    text.push_str(&format!("recipe {recipe}\n"));
    text.push_str(&format!("kernel_release {kernel_release}\n"));
    for package in packages {
        let file = package.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        text.push_str(&format!(
            "package {} {} sha256 {} file {file}\n",
            package.name, package.version, package.sha256
        ));
    }
    for (name, _) in modules {
        text.push_str(&format!("module {name}\n"));
    }
    text.push_str(&format!("initrd_bytes {initrd_size_bytes}\n"));
    text.push_str(&format!("cmdline {LINUX_COMMAND_LINE}\n"));
    text.push_str(&format!("memory_mib {LINUX_GUEST_MEMORY_MIB}\n"));
    text
}

/// The `package` lines of a `VERSIONS` file: (name, version, sha256).
fn versions_packages(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["package", name, version, "sha256", sha, ..] => {
                    Some((name.to_string(), version.to_string(), sha.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// Builds (or finds up to date) `target/rayos/guests/linux/{vmlinuz, initrd.img, cmdline,
/// VERSIONS}` from Debian's current `linux-image-amd64` and `busybox-static`.
pub fn build_linux_guest() -> Result<LinuxGuest> {
    let target = project_root().join("target/rayos");
    let debs = target.join("cache/debs");
    let extract_root = target.join("cache/extract");
    let dir = target.join("guests/linux");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut updated = false;
    let candidates = apt_candidates(&[KERNEL_METAPACKAGE, BUSYBOX_PACKAGE], &mut updated)?;
    let metapackage = &candidates[KERNEL_METAPACKAGE];
    let kernel_name = kernel_package_name(metapackage)?;
    let kernel_version = match metapackage.get("Depends").and_then(|d| pinned_version(d, &kernel_name)) {
        Some(version) => version,
        None => apt_candidates(&[kernel_name.as_str()], &mut updated)?[&kernel_name]
            .get("Version")
            .ok_or_else(|| anyhow!("apt shows no Version for {kernel_name}"))?
            .clone(),
    };
    let busybox_version = candidates[BUSYBOX_PACKAGE]
        .get("Version")
        .ok_or_else(|| anyhow!("apt shows no Version for {BUSYBOX_PACKAGE}"))?
        .clone();
    let mut packages = Vec::new();
    for (name, version) in [(kernel_name.as_str(), kernel_version), (BUSYBOX_PACKAGE, busybox_version)] {
        let path = ensure_deb(&debs, name, &version)?;
        packages.push(DebPackage { name: name.to_string(), version, sha256: String::new(), path });
    }
    let kernel_dir = extract_deb(&extract_root, &packages[0].path)?;
    let busybox_dir = extract_deb(&extract_root, &packages[1].path)?;

    let boot = kernel_dir.join("boot");
    let vmlinuz_source = fs::read_dir(&boot)
        .with_context(|| format!("reading {}", boot.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .ok_or_else(|| anyhow!("{} has no boot/vmlinuz-*", packages[0].path.display()))?;
    let kernel_release = vmlinuz_source
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .ok_or_else(|| anyhow!("odd kernel file name {}", vmlinuz_source.display()))?
        .to_string();
    let config_path = boot.join(format!("config-{kernel_release}"));
    let config =
        fs::read_to_string(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let mut wanted = Vec::new();
    for (option, module) in POWER_BUTTON_OPTIONS {
        match kernel_config_value(&config, option) {
            Some("y") => {}
            Some("m") => wanted.push(module),
            other => bail!(
                "the kernel {kernel_release} has {option}={}: without it the ACPI power button cannot stop the guest",
                other.unwrap_or("unset")
            ),
        }
    }
    let modules_dir = kernel_dir.join("lib/modules").join(&kernel_release).join("kernel");
    let modules = resolve_modules(&modules_dir, &wanted)?;

    let vmlinuz = dir.join("vmlinuz");
    let initrd = dir.join("initrd.img");
    let cmdline = dir.join("cmdline");
    let versions = dir.join("VERSIONS");
    let recipe = recipe_digest(&packages.iter().collect::<Vec<_>>(), &modules);

    let newest_input = packages.iter().filter_map(|p| modified(&p.path)).max();
    let outputs = [&vmlinuz, &initrd, &cmdline, &versions];
    let oldest_output =
        outputs.iter().map(|p| modified(p)).collect::<Option<Vec<_>>>().and_then(|t| t.into_iter().min());
    let previous = fs::read_to_string(&versions).unwrap_or_default();
    let up_to_date = previous.lines().any(|l| l == format!("recipe {recipe}"))
        && matches!((oldest_output, newest_input), (Some(out), Some(input)) if out >= input);
    if up_to_date {
        let recorded = versions_packages(&previous);
        for package in &mut packages {
            if let Some((_, _, sha)) =
                recorded.iter().find(|(n, v, _)| *n == package.name && *v == package.version)
            {
                package.sha256 = sha.clone();
            }
        }
        if packages.iter().all(|p| !p.sha256.is_empty()) {
            let initrd_size_bytes = fs::metadata(&initrd)?.len();
            let [kernel_package, busybox_package]: [DebPackage; 2] =
                packages.try_into().map_err(|_| anyhow!("two packages expected"))?;
            return Ok(LinuxGuest {
                dir,
                vmlinuz,
                initrd,
                cmdline,
                versions,
                command_line: LINUX_COMMAND_LINE.to_string(),
                memory_mib: LINUX_GUEST_MEMORY_MIB,
                kernel_release,
                kernel_package,
                busybox_package,
                initrd_size_bytes,
                rebuilt: false,
            });
        }
    }

    for package in &mut packages {
        package.sha256 = sha256_file(&package.path)?;
    }
    let busybox_path = busybox_dir.join("bin/busybox");
    let busybox = fs::read(&busybox_path).with_context(|| format!("reading {}", busybox_path.display()))?;
    let module_bytes = modules
        .iter()
        .map(|(name, path)| {
            Ok((name.clone(), fs::read(path).with_context(|| format!("reading {}", path.display()))?))
        })
        .collect::<Result<Vec<_>>>()?;
    let archive = gzip(&initramfs(&busybox, &module_bytes, &init_script(&modules))?)?;
    let kernel_image =
        fs::read(&vmlinuz_source).with_context(|| format!("reading {}", vmlinuz_source.display()))?;

    write_atomically(&vmlinuz, &kernel_image)?;
    write_atomically(&initrd, &archive)?;
    write_atomically(&cmdline, LINUX_COMMAND_LINE.as_bytes())?;
    let package_refs: Vec<&DebPackage> = packages.iter().collect();
    write_atomically(
        &versions,
        versions_text(&recipe, &kernel_release, &package_refs, &modules, archive.len() as u64).as_bytes(),
    )?;
    let [kernel_package, busybox_package]: [DebPackage; 2] =
        packages.try_into().map_err(|_| anyhow!("two packages expected"))?;
    Ok(LinuxGuest {
        dir,
        vmlinuz,
        initrd,
        cmdline,
        versions,
        command_line: LINUX_COMMAND_LINE.to_string(),
        memory_mib: LINUX_GUEST_MEMORY_MIB,
        kernel_release,
        kernel_package,
        busybox_package,
        initrd_size_bytes: archive.len() as u64,
        rebuilt: true,
    })
}

/// The guest target specification.
pub fn guest_target_spec() -> PathBuf {
    project_root().join("guests").join("x86_64-guest.json")
}

/// Builds the hostile guest with the nightly toolchain and copies it to
/// `target/rayos/guests/hostile/hostile.elf`; returns that path.
pub fn build_hostile_guest() -> Result<PathBuf> {
    let mut command = Command::new("cargo");
    command
        .current_dir(project_root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WRAPPER")
        .args(["+nightly", "build", "--release", "--package", "rayos-hostile-guest", "--target"])
        .arg(guest_target_spec())
        .args([
            "-Zbuild-std=core,compiler_builtins",
            "-Zbuild-std-features=compiler-builtins-mem",
            "-Zjson-target-spec",
        ]);
    let status = command.status().context("cannot start cargo to build the hostile guest")?;
    if !status.success() {
        bail!("building the hostile guest failed");
    }
    let built = project_root().join("target/x86_64-guest/release/rayos-hostile-guest");
    let dir = project_root().join("target/rayos/guests/hostile");
    fs::create_dir_all(&dir)?;
    let elf = dir.join("hostile.elf");
    let bytes = fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    if fs::read(&elf).ok().as_deref() != Some(&bytes[..]) {
        write_atomically(&elf, &bytes)?;
    }
    Ok(elf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One parsed newc entry.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Entry {
        name: String,
        mode: u32,
        rdev: (u32, u32),
        data: Vec<u8>,
    }

    /// A strict newc reader: magic, hex fields, NUL-terminated names, 4-byte padding, trailer.
    fn parse_newc(mut bytes: &[u8]) -> Result<Vec<Entry>, String> {
        let total = bytes.len();
        let mut entries = Vec::new();
        let mut inodes = std::collections::BTreeSet::new();
        loop {
            let offset = total - bytes.len();
            if bytes.len() < 110 {
                return Err(format!("truncated header at {offset}"));
            }
            if &bytes[..6] != b"070701" {
                return Err(format!("bad magic at {offset}"));
            }
            let field = |i: usize| -> Result<u32, String> {
                let text = std::str::from_utf8(&bytes[6 + i * 8..14 + i * 8]).map_err(|e| e.to_string())?;
                u32::from_str_radix(text, 16).map_err(|e| format!("field {i} at {offset}: {e}"))
            };
            let (inode, mode, size, rdev, name_size) =
                (field(0)?, field(1)?, field(6)?, (field(9)?, field(10)?), field(11)?);
            let name_end = 110 + name_size as usize;
            let name_bytes = bytes.get(110..name_end).ok_or("name past end")?;
            if name_bytes.last() != Some(&0) {
                return Err(format!("name not NUL-terminated at {offset}"));
            }
            let name = std::str::from_utf8(&name_bytes[..name_bytes.len() - 1])
                .map_err(|e| e.to_string())?
                .to_string();
            let data_start = name_end.next_multiple_of(4);
            let data_end = data_start + size as usize;
            let data = bytes.get(data_start..data_end).ok_or("data past end")?.to_vec();
            if bytes.get(name_end..data_start).is_some_and(|pad| pad.iter().any(|&b| b != 0)) {
                return Err("non-zero padding".into());
            }
            let next = data_end.next_multiple_of(4).min(bytes.len());
            bytes = &bytes[next..];
            if name == "TRAILER!!!" {
                if !bytes.is_empty() {
                    return Err("bytes after the trailer".into());
                }
                return Ok(entries);
            }
            if !inodes.insert(inode) {
                return Err(format!("inode {inode} reused"));
            }
            entries.push(Entry { name, mode, rdev, data });
        }
    }

    #[test]
    fn cpio_round_trips_every_entry_kind() {
        let mut cpio = CpioWriter::new();
        cpio.directory("etc", 0o755).unwrap();
        cpio.file("etc/a", 0o644, b"hello").unwrap();
        cpio.file("empty", 0o600, b"").unwrap();
        cpio.symlink("bin/sh", "/bin/busybox").unwrap();
        cpio.char_device("dev/console", 0o600, 5, 1).unwrap();
        let bytes = cpio.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let entries = parse_newc(&bytes).unwrap();
        let expected = [
            ("etc", cpio_mode::DIRECTORY | 0o755, (0, 0), &b""[..]),
            ("etc/a", cpio_mode::FILE | 0o644, (0, 0), b"hello"),
            ("empty", cpio_mode::FILE | 0o600, (0, 0), b""),
            ("bin/sh", cpio_mode::SYMLINK | 0o777, (0, 0), b"/bin/busybox"),
            ("dev/console", cpio_mode::CHAR_DEVICE | 0o600, (5, 1), b""),
        ];
        assert_eq!(entries.len(), expected.len());
        for (entry, (name, mode, rdev, data)) in entries.iter().zip(expected) {
            assert_eq!(
                (entry.name.as_str(), entry.mode, entry.rdev, entry.data.as_slice()),
                (name, mode, rdev, data)
            );
        }
    }

    #[test]
    fn cpio_refuses_bad_names() {
        let mut cpio = CpioWriter::new();
        assert!(cpio.file("/abs", 0o644, b"").is_err());
        assert!(cpio.file("", 0o644, b"").is_err());
        assert!(cpio.file("a\0b", 0o644, b"").is_err());
    }

    #[test]
    fn initramfs_has_what_init_needs_and_gzip_round_trips() {
        let modules =
            vec![("evdev".to_string(), b"EVDEV".to_vec()), ("button".to_string(), b"BUTTON".to_vec())];
        let paths: Vec<(String, PathBuf)> =
            modules.iter().map(|(n, _)| (n.clone(), PathBuf::new())).collect();
        let init = init_script(&paths);
        let archive = initramfs(b"BUSYBOX", &modules, &init).unwrap();
        let compressed = gzip(&archive).unwrap();
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut decoded).unwrap();
        assert_eq!(decoded, archive);
        let entries = parse_newc(&decoded).unwrap();
        let find =
            |name: &str| entries.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(find("init").mode, cpio_mode::FILE | 0o755);
        assert!(find("init").data.starts_with(b"#!/bin/sh\n"));
        assert_eq!(find("bin/busybox").data, b"BUSYBOX");
        assert_eq!(find("dev/console").rdev, (5, 1));
        assert_eq!(find("sbin/init").data, b"/bin/busybox");
        assert_eq!(find("lib/modules/button.ko").data, b"BUTTON");
        assert_eq!(find("etc/acpi/PWRF/00000080").mode, cpio_mode::FILE | 0o755);
        // Every directory an entry lives in comes before it.
        for (i, entry) in entries.iter().enumerate() {
            if let Some((parent, _)) = entry.name.rsplit_once('/') {
                assert!(entries[..i].iter().any(|e| e.name == parent), "{} before its directory", entry.name);
            }
        }
        // Every applet the scripts run is linked before busybox --install runs.
        for applet in ["mount", "mkdir", "insmod", "acpid", "usleep", "ls", "grep", "poweroff", "init"] {
            assert!(BOOT_APPLETS.iter().any(|a| a.ends_with(&format!("/{applet}"))), "{applet} not linked");
        }
    }

    #[test]
    fn init_script_loads_modules_in_order_and_prints_the_marker_alone() {
        let modules = [("evdev".to_string(), PathBuf::new()), ("button".to_string(), PathBuf::new())];
        let init = init_script(&modules);
        assert!(!init.contains('@'), "a placeholder was left: {init}");
        let evdev = init.find("load_module /lib/modules/evdev.ko").unwrap();
        let button = init.find("load_module /lib/modules/button.ko").unwrap();
        let acpid = init.find("acpid -f").unwrap();
        let ready = init.find("printf '\\nRAYOS_GUEST:READY\\n' > /dev/ttyS0").unwrap();
        let exec_init = init.find("exec /sbin/init").unwrap();
        assert!(evdev < button && button < acpid && acpid < ready && ready < exec_init);
    }

    #[test]
    fn reads_kernel_config_and_apt_fields() {
        let config = "# comment\nCONFIG_ACPI=y\nCONFIG_ACPI_BUTTON=m\n# CONFIG_INPUT_EVDEV is not set\nCONFIG_ACPI_BUTTON_X=y\n";
        assert_eq!(kernel_config_value(config, "CONFIG_ACPI"), Some("y"));
        assert_eq!(kernel_config_value(config, "CONFIG_ACPI_BUTTON"), Some("m"));
        assert_eq!(kernel_config_value(config, "CONFIG_INPUT_EVDEV"), None);
        let fields = parse_control_fields(
            "Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\nDescription: x\n more\n\nPackage: other\n",
        );
        assert_eq!(fields["Version"], "6.1.192-2");
        assert_eq!(fields["Description"], "x\nmore");
        assert!(!fields.contains_key("other"));
        assert_eq!(kernel_package_name(&fields).unwrap(), "linux-image-6.1.0-56-amd64");
        assert_eq!(
            pinned_version(&fields["Depends"], "linux-image-6.1.0-56-amd64").as_deref(),
            Some("6.1.192-2")
        );
        assert_eq!(pinned_version("a (>= 1), b", "b"), None);
        assert_eq!(pinned_version("a (>= 1), b ( = 2:3 )", "b").as_deref(), Some("2:3"));
        let stanzas = parse_control_stanzas("Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n");
        assert_eq!(stanzas.len(), 2);
        assert_eq!(stanzas[1]["Package"], "b");
        let mut odd = fields.clone();
        odd.insert(
            "Depends".into(),
            "linux-image-6.1.0-56-amd64-unsigned | linux-image-6.1.0-9-amd64".into(),
        );
        assert_eq!(kernel_package_name(&odd).unwrap(), "linux-image-6.1.0-9-amd64");
        odd.insert("Depends".into(), "libc6".into());
        assert!(kernel_package_name(&odd).is_err());
    }

    #[test]
    fn versions_file_round_trips_its_packages() {
        let kernel = DebPackage {
            name: "linux-image-6.1.0-56-amd64".into(),
            version: "6.1.192-2".into(),
            sha256: "ab".repeat(32),
            path: PathBuf::from("/c/linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb"),
        };
        let busybox = DebPackage {
            name: "busybox-static".into(),
            version: "1:1.35.0-4+deb12u1+b1".into(),
            sha256: "cd".repeat(32),
            path: PathBuf::from("/c/busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb"),
        };
        let text = versions_text("r", "6.1.0-56-amd64", &[&kernel, &busybox], &[], 1234);
        assert_eq!(
            versions_packages(&text),
            vec![
                (kernel.name.clone(), kernel.version.clone(), kernel.sha256.clone()),
                (busybox.name.clone(), busybox.version.clone(), busybox.sha256.clone())
            ]
        );
        assert!(text.contains("initrd_bytes 1234\n"));
        assert_ne!(recipe_digest(&[&kernel], &[]), recipe_digest(&[&busybox], &[]));
    }

    #[test]
    fn elf_section_reader_survives_garbage() {
        assert!(elf_section(b"", ".modinfo").is_err());
        assert!(elf_section(b"\x7fELF\x02\x01", ".modinfo").is_err());
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        header[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        header[0x3A] = 0x40;
        header[0x3C] = 1;
        assert!(elf_section(&header, ".modinfo").is_err());
    }

    proptest! {
        #[test]
        fn cpio_round_trips_arbitrary_files(
            files in proptest::collection::vec(
                ("[a-z0-9_.-]{1,20}(/[a-z0-9_.-]{1,20}){0,3}", 0u32..0o7777, proptest::collection::vec(any::<u8>(), 0..300)),
                0..20,
            )
        ) {
            let mut cpio = CpioWriter::new();
            for (name, permissions, data) in &files {
                cpio.file(name, *permissions, data).unwrap();
            }
            let entries = parse_newc(&cpio.finish().unwrap()).unwrap();
            prop_assert_eq!(entries.len(), files.len());
            for (entry, (name, permissions, data)) in entries.iter().zip(&files) {
                prop_assert_eq!(&entry.name, name);
                prop_assert_eq!(entry.mode, cpio_mode::FILE | permissions);
                prop_assert_eq!(&entry.data, data);
            }
        }

        #[test]
        fn elf_section_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = elf_section(&bytes, ".modinfo");
            let _ = module_info(&bytes);
        }
    }

    /// Builds the real guest from Debian packages (downloads about 72 MB once).
    #[test]
    #[ignore = "downloads Debian packages and writes target/rayos/guests/linux"]
    fn builds_the_linux_guest() {
        let guest = build_linux_guest().unwrap();
        println!("{guest:#?}");
        let entries = {
            let compressed = fs::read(&guest.initrd).unwrap();
            let mut decoded = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut decoded)
                .unwrap();
            parse_newc(&decoded).unwrap()
        };
        assert!(entries.iter().any(|e| e.name == "lib/modules/button.ko"));
        assert_eq!(fs::read_to_string(&guest.cmdline).unwrap(), LINUX_COMMAND_LINE);
        let again = build_linux_guest().unwrap();
        assert!(!again.rebuilt, "a second build with nothing changed rebuilds");
        assert_eq!(again.kernel_package, guest.kernel_package);
    }
}
