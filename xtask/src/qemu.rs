//! Running RayOS in QEMU and talking to it: the serial console over a Unix socket (with a
//! timestamped line log), QMP for keys, screenshots and power, and hard kills.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rayos_markers::{MarkerSpec, SHELL_ERR, SHELL_OK};

use crate::toolchain::{project_root, OVMF_CODE, OVMF_VARS, QEMU};

/// How the boot disk is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDisk {
    VirtioBlk,
    Ahci,
    Usb,
}

#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// Names the machine's scratch directory and logs.
    pub name: String,
    pub image: PathBuf,
    pub boot_disk: BootDisk,
    pub memory_mib: u32,
    pub cpu: String,
    /// Writes go to a throw-away overlay, so machines can share one image.
    pub snapshot: bool,
    pub extra_args: Vec<String>,
}

impl MachineConfig {
    pub fn new(name: &str, image: &Path) -> MachineConfig {
        MachineConfig {
            name: name.to_string(),
            image: image.to_path_buf(),
            boot_disk: BootDisk::VirtioBlk,
            memory_mib: 512,
            cpu: String::from("qemu64,+svm,+npt"),
            snapshot: true,
            extra_args: Vec::new(),
        }
    }

    fn accel() -> String {
        // KVM fails on these machines; it is opt-in only.
        std::env::var("RAYOS_QEMU_ACCEL").unwrap_or_else(|_| String::from("tcg"))
    }

    /// The QEMU command line, with the serial console and QMP on sockets in `dir`.
    pub fn command(&self, dir: &Path, serial: SerialMode) -> Command {
        let mut command = Command::new(QEMU);
        let drive_options = if self.snapshot { ",snapshot=on" } else { "" };
        command
            .args(["-machine", "q35", "-accel", &Self::accel(), "-cpu", &self.cpu])
            .args(["-m", &self.memory_mib.to_string(), "-smp", "1", "-nodefaults", "-vga", "std"])
            .args(["-drive", &format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}")])
            .args([
                "-drive",
                &format!("if=pflash,format=raw,unit=1,file={}", dir.join("ovmf-vars.fd").display()),
            ])
            .args(["-rtc", "base=utc", "-nic", "none"])
            .args([
                "-drive",
                &format!("file={},if=none,id=boot,format=raw{drive_options}", self.image.display()),
            ]);
        match self.boot_disk {
            BootDisk::VirtioBlk => command.args(["-device", "virtio-blk-pci,drive=boot,bootindex=0"]),
            BootDisk::Ahci => command.args(["-device", "ide-hd,drive=boot,bus=ide.0,bootindex=0"]),
            BootDisk::Usb => command.args([
                "-device",
                "qemu-xhci,id=xhci",
                "-device",
                "usb-storage,bus=xhci.0,drive=boot,bootindex=0",
            ]),
        };
        match serial {
            SerialMode::Socket => {
                command
                    .args([
                        "-chardev",
                        &format!(
                            "socket,id=serial0,path={},server=on,wait=on",
                            dir.join("serial.sock").display()
                        ),
                    ])
                    .args(["-serial", "chardev:serial0", "-display", "none"])
                    .args(["-qmp", &format!("unix:{},server=on,wait=off", dir.join("qmp.sock").display())]);
            }
            SerialMode::Terminal { gui } => {
                command.args(["-serial", "mon:stdio"]);
                if !gui {
                    command.args(["-display", "none"]);
                }
            }
        }
        command.args(&self.extra_args);
        command
    }
}

#[derive(Debug, Clone, Copy)]
pub enum SerialMode {
    Socket,
    Terminal { gui: bool },
}

/// Prepares a machine's scratch directory with its own copy of the firmware variables.
pub fn scratch_dir(name: &str) -> Result<PathBuf> {
    let dir = project_root().join("target/rayos/machines").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::copy(OVMF_VARS, dir.join("ovmf-vars.fd")).context("cannot copy the OVMF variable store")?;
    Ok(dir)
}

/// One line of serial output and when it arrived.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Duration,
    pub text: String,
}

#[derive(Default)]
struct SerialLog {
    lines: Vec<Line>,
    partial: Vec<u8>,
    raw: Vec<u8>,
    closed: bool,
}

/// Removes ANSI escape sequences (the firmware's console uses them) and carriage returns.
pub fn strip_terminal_codes(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x1B => {
                i += 1;
                if bytes.get(i) == Some(&b'[') {
                    i += 1;
                    while i < bytes.len() && !(0x40..=0x7E).contains(&bytes[i]) {
                        i += 1;
                    }
                }
                i += 1;
            }
            b'\r' => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a shell command printed and how it ended.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub ok: bool,
    pub reason: Option<String>,
    /// Lines printed between the command and its marker (the echoed command line included).
    pub lines: Vec<String>,
}

impl CommandOutput {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }
}

/// The first line from `cursor` on for which `matches` holds (the cursor moves past it); an
/// error once the console has closed without one.
fn next_match(
    log: &SerialLog,
    cursor: &mut usize,
    matches: &mut impl FnMut(&str) -> bool,
) -> Result<Option<Line>> {
    while *cursor < log.lines.len() {
        let line = &log.lines[*cursor];
        *cursor += 1;
        if matches(&line.text) {
            return Ok(Some(line.clone()));
        }
    }
    if log.closed {
        bail!("the serial console closed (QEMU exited)");
    }
    Ok(None)
}

/// A running QEMU with RayOS.
pub struct Machine {
    pub name: String,
    child: Child,
    serial: UnixStream,
    log: Arc<(Mutex<SerialLog>, Condvar)>,
    cursor: usize,
    qmp: Option<Qmp>,
    pub dir: PathBuf,
}

impl Machine {
    pub fn start(config: &MachineConfig) -> Result<Machine> {
        let dir = scratch_dir(&config.name)?;
        let stderr = std::fs::File::create(dir.join("qemu.stderr")).context("cannot create the QEMU log")?;
        let started = Instant::now();
        let mut child = config
            .command(&dir, SerialMode::Socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {QEMU}"))?;
        let socket = dir.join("serial.sock");
        let serial = loop {
            match UnixStream::connect(&socket) {
                Ok(stream) => break stream,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    if let Some(status) = child.try_wait()? {
                        let log = std::fs::read_to_string(dir.join("qemu.stderr")).unwrap_or_default();
                        bail!("QEMU exited at start ({status}): {log}");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => bail!("cannot connect to QEMU's serial socket: {e}"),
            }
        };
        let log = Arc::new((Mutex::new(SerialLog::default()), Condvar::new()));
        let reader = serial.try_clone()?;
        let reader_log = Arc::clone(&log);
        std::thread::spawn(move || read_serial(reader, reader_log, started));
        let qmp = Qmp::connect(&dir.join("qmp.sock")).ok();
        Ok(Machine { name: config.name.clone(), child, serial, log, cursor: 0, qmp, dir })
    }

    /// Waits for the next line (after the last one matched) for which `matches` holds.
    pub fn wait_for(&mut self, timeout: Duration, mut matches: impl FnMut(&str) -> bool) -> Result<Line> {
        let deadline = Instant::now() + timeout;
        let (lock, condvar) = &*self.log;
        let mut log = lock.lock().map_err(|_| anyhow!("serial log poisoned"))?;
        loop {
            if let Some(line) = next_match(&log, &mut self.cursor, &mut matches)? {
                return Ok(line);
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("timed out after {:.0?}", timeout);
            }
            log = condvar.wait_timeout(log, deadline - now).map_err(|_| anyhow!("serial log poisoned"))?.0;
        }
    }

    /// The next line (after the last one matched) for which `matches` holds, if the
    /// console has printed it already; does not wait.
    pub fn take_line(&mut self, mut matches: impl FnMut(&str) -> bool) -> Result<Option<Line>> {
        let (lock, _) = &*self.log;
        let log = lock.lock().map_err(|_| anyhow!("serial log poisoned"))?;
        next_match(&log, &mut self.cursor, &mut matches)
    }

    /// Waits for an instance of `marker`; returns the whole line.
    pub fn expect_marker(&mut self, marker: &MarkerSpec, timeout: Duration) -> Result<Line> {
        self.wait_for(timeout, |line| marker.parse(line).is_some())
            .with_context(|| format!("waiting for {}", marker.pattern()))
    }

    /// Waits until each marker has been printed once, in any order (threads of the kernel
    /// print them independently); returns their lines' text in the order of `markers`.
    pub fn expect_markers(&mut self, markers: &[&MarkerSpec], timeout: Duration) -> Result<Vec<String>> {
        let mut seen: Vec<Option<String>> = vec![None; markers.len()];
        self.wait_for(timeout, |line| {
            for (marker, slot) in markers.iter().zip(seen.iter_mut()) {
                if slot.is_none() && marker.parse(line).is_some() {
                    *slot = Some(line.to_string());
                }
            }
            seen.iter().all(Option::is_some)
        })
        .with_context(|| {
            let names: Vec<String> = markers.iter().map(|m| m.pattern().to_string()).collect();
            format!("waiting for {}", names.join(" and "))
        })?;
        Ok(seen.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Waits until the kernel's storage thread has put the kernel log on disk
    /// (`RAYOS_LOG:MOUNTED`) or said why it stays in RAM (`RAYOS_LOG:RAM_ONLY`), whether that
    /// line came already or comes later. Mounting reads the whole log partition beside the
    /// shell, seconds under TCG: work timed meanwhile shares the CPU with it, and its lines
    /// arrive on the console in the middle of whatever runs (round 19 of the intent engine: a
    /// read that ran beside the mount took 1,359 us, the same request read again 250 us).
    pub fn wait_for_the_log(&mut self, timeout: Duration) -> Result<()> {
        let settled = |line: &str| {
            rayos_markers::LOG_MOUNTED.parse(line).is_some()
                || rayos_markers::LOG_RAM_ONLY.parse(line).is_some()
        };
        self.printed_or_wait(timeout, settled)
            .context("waiting for the kernel log to be mounted (or to stay in RAM)")
    }

    /// Returns at once if any line printed so far matches (wherever the last match left the
    /// cursor), else waits for the next matching line.
    pub fn printed_or_wait(
        &mut self,
        timeout: Duration,
        mut matches: impl FnMut(&str) -> bool,
    ) -> Result<()> {
        if self.lines().iter().any(|line| matches(&line.text)) {
            return Ok(());
        }
        self.wait_for(timeout, matches)?;
        Ok(())
    }

    /// Waits for a line containing `needle`.
    pub fn expect_text(&mut self, needle: &str, timeout: Duration) -> Result<Line> {
        self.wait_for(timeout, |line| line.contains(needle))
            .with_context(|| format!("waiting for {needle:?}"))
    }

    /// Sends raw bytes to the serial console.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.serial.write_all(bytes).context("writing to the serial console")
    }

    /// Types a command line, waits for its result marker and returns what it printed.
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<CommandOutput> {
        let name = command.split_whitespace().next().unwrap_or("-").to_string();
        self.run_bytes(command.as_bytes(), &name, timeout)
    }

    /// Sends `line` plus Enter and waits for the `RAYOS_SHELL` marker naming `marker_command`.
    pub fn run_bytes(
        &mut self,
        line: &[u8],
        marker_command: &str,
        timeout: Duration,
    ) -> Result<CommandOutput> {
        let mut bytes = line.to_vec();
        bytes.push(b'\r');
        self.send(&bytes)?;
        let mut lines = Vec::new();
        let mut result = None;
        let found = self.wait_for(timeout, |text| {
            if let Some(fields) = SHELL_OK.parse(text) {
                if fields.get(0) == Some(marker_command) {
                    result = Some((true, None));
                    return true;
                }
            }
            if let Some(fields) = SHELL_ERR.parse(text) {
                if fields.get(0) == Some(marker_command) {
                    result = Some((false, fields.get(1).map(String::from)));
                    return true;
                }
            }
            lines.push(text.to_string());
            false
        });
        found.with_context(|| format!("running {:?}", String::from_utf8_lossy(line)))?;
        let (ok, reason) = result.unwrap_or((false, None));
        Ok(CommandOutput { ok, reason, lines })
    }

    /// Runs a command that must succeed.
    pub fn run_ok(&mut self, command: &str, timeout: Duration) -> Result<CommandOutput> {
        let output = self.run(command, timeout)?;
        if !output.ok {
            bail!("{command:?} failed ({:?}):\n{}", output.reason, output.text());
        }
        Ok(output)
    }

    pub fn qmp(&mut self) -> Result<&mut Qmp> {
        self.qmp.as_mut().context("no QMP connection")
    }

    /// Types `text` on the PS/2 keyboard, then Enter.
    pub fn type_on_keyboard(&mut self, text: &str) -> Result<()> {
        for c in text.chars() {
            let keys = qcodes_for(c).with_context(|| format!("no key for {c:?}"))?;
            let keys: Vec<serde_json::Value> =
                keys.iter().map(|k| serde_json::json!({"type": "qcode", "data": k})).collect();
            self.qmp()?.execute("send-key", serde_json::json!({ "keys": keys }))?;
            std::thread::sleep(Duration::from_millis(15));
        }
        self.qmp()?.execute("send-key", serde_json::json!({"keys": [{"type": "qcode", "data": "ret"}]}))?;
        Ok(())
    }

    /// Takes a screenshot; returns (width, height, RGB bytes).
    pub fn screenshot(&mut self) -> Result<(usize, usize, Vec<u8>)> {
        let path = self.dir.join("screen.ppm");
        let _ = std::fs::remove_file(&path);
        let filename = path.display().to_string();
        self.qmp()?.execute("screendump", serde_json::json!({ "filename": filename }))?;
        let bytes = std::fs::read(&path).context("reading the screenshot")?;
        parse_ppm(&bytes)
    }

    /// Pulls the power: kills QEMU at once.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for QEMU to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("QEMU did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Line> {
        self.log.0.lock().map(|l| l.lines.clone()).unwrap_or_default()
    }

    /// Saves the raw serial output next to the test logs; returns its path.
    pub fn save_log(&self) -> PathBuf {
        let dir = project_root().join("target/rayos/test-logs");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{}.serial.log", self.name));
        let raw = self.log.0.lock().map(|l| l.raw.clone()).unwrap_or_default();
        let _ = std::fs::write(&path, raw);
        path
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.kill();
        self.save_log();
    }
}

fn read_serial(mut stream: UnixStream, log: Arc<(Mutex<SerialLog>, Condvar)>, started: Instant) {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        let (lock, condvar) = &*log;
        let Ok(mut log) = lock.lock() else { return };
        if n == 0 {
            if !log.partial.is_empty() {
                let text = strip_terminal_codes(&std::mem::take(&mut log.partial));
                log.lines.push(Line { at: started.elapsed(), text });
            }
            log.closed = true;
            condvar.notify_all();
            return;
        }
        log.raw.extend_from_slice(&buf[..n]);
        for &b in &buf[..n] {
            if b == b'\n' {
                let text = strip_terminal_codes(&std::mem::take(&mut log.partial));
                log.lines.push(Line { at: started.elapsed(), text });
            } else {
                log.partial.push(b);
            }
        }
        condvar.notify_all();
    }
}

/// A QMP (QEMU Machine Protocol) connection.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(path: &Path) -> Result<Qmp> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => bail!("cannot connect to QMP: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut qmp = Qmp { reader: BufReader::new(stream.try_clone()?), writer: stream };
        let mut greeting = String::new();
        qmp.reader.read_line(&mut greeting)?;
        qmp.execute("qmp_capabilities", serde_json::json!({}))?;
        Ok(qmp)
    }

    /// Runs a QMP command and returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: serde_json::Value) -> Result<serde_json::Value> {
        let request = serde_json::json!({ "execute": command, "arguments": arguments });
        writeln!(self.writer, "{request}")?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("QMP connection closed");
            }
            let reply: serde_json::Value = serde_json::from_str(&line).context("bad QMP reply")?;
            if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = reply.get("error") {
                bail!("QMP {command} failed: {error}");
            }
        }
    }
}

/// QEMU key codes that type `c` on a US keyboard.
fn qcodes_for(c: char) -> Option<Vec<String>> {
    let plain = |k: &str| Some(vec![k.to_string()]);
    let shifted = |k: &str| Some(vec!["shift".to_string(), k.to_string()]);
    match c {
        'a'..='z' | '0'..='9' => plain(&c.to_string()),
        'A'..='Z' => shifted(&c.to_ascii_lowercase().to_string()),
        ' ' => plain("spc"),
        '-' => plain("minus"),
        '.' => plain("dot"),
        '/' => plain("slash"),
        '_' => shifted("minus"),
        ':' => shifted("semicolon"),
        '"' => shifted("apostrophe"),
        _ => None,
    }
}

fn parse_ppm(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>)> {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 && i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
    }
    i += 1;
    if fields.len() < 4 || fields[0] != "P6" || fields[3] != "255" {
        bail!("not a binary PPM screenshot");
    }
    let width: usize = fields[1].parse()?;
    let height: usize = fields[2].parse()?;
    let data = bytes.get(i..i + width * height * 3).context("truncated screenshot")?.to_vec();
    Ok((width, height, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_codes_are_stripped() {
        assert_eq!(strip_terminal_codes(b"\x1b[0m\x1b[37;40mRAYOS_X\r"), "RAYOS_X");
        assert_eq!(strip_terminal_codes(b"a\x1b[2Jb"), "ab");
    }

    #[test]
    fn ppm_parses() {
        let mut ppm = b"P6\n2 1\n255\n".to_vec();
        ppm.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(parse_ppm(&ppm).unwrap(), (2, 1, vec![1, 2, 3, 4, 5, 6]));
    }
}
