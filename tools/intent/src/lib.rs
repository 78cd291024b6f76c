//! Host tools of the RayOS intent engine, for people and for checks.
//!
//! - [`run_query`]: one request per input line, one JSON reading per output line (what
//!   `cargo xtask intent` prints).
//! - [`run_eval`]: scores a labelled JSONL file (`cargo xtask intent --eval FILE`).
//! - [`run_bench_host`]: accuracy, out-of-scope recall, false rejects, entity F1, weights size
//!   and host latency (`cargo xtask bench intent`).
//! - [`train()`]: rebuilds the weights blob from the corpus, byte for byte
//!   (`cargo run -p rayos-intent-tools --release --bin rayos-intent-train -- train`); the
//!   out-of-scope decision is calibrated on the corpus lines themselves, each scored by a
//!   model trained without it (see [`TrainingInputs::build`]).
//! - [`cross_validate`]: grouped k-fold cross-validation over the corpus lines, the tool for
//!   choosing between model and corpus variants without touching any evaluation set
//!   (`... rayos-intent-train -- cv 5 [--misreads] [--scores FILE]`).
//! - [`derive::derive`]: rebuilds the embedding blob from its verified source
//!   (`... rayos-intent-train -- derive-embeddings`).
//!
//! Every function here runs the same `rayos-intent` code on the same committed weights
//! (`crates/intent/weights/intent.bin`) as the kernel. Entities are resolved against
//! [`HostWorld`], a fixed stand-in for live kernel state.
//!
//! # Invariants
//! - [`train()`] is deterministic: same corpus, same embeddings, same configuration, same bytes
//!   (checked across debug and release builds).
//! - Evaluation data (`data/probe*.jsonl`, `data/clinc/heldout.jsonl`, `data/heldout*.jsonl`)
//!   is read only by measurement functions, never by [`train()`] or [`cross_validate`].

pub mod data;
pub mod derive;
pub mod train;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayos_intent::entities::json_string;
use rayos_intent::{DiskInfo, Engine, LoadError, World};

use crate::data::{DataError, Example};
use crate::derive::DeriveError;
use crate::train::{TrainConfig, TrainError};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    root.canonicalize().unwrap_or(root)
}

/// Where every input and output of the tools lives.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `crates/intent`.
    pub engine_crate: PathBuf,
    /// Cache for downloads: `target/intent-cache`.
    pub cache: PathBuf,
    /// The raw CLINC150 file (`../shared/data/clinc150/clinc150_train_val.json`, or
    /// `$RAYOS_CLINC150`), read only by `import-clinc`.
    pub clinc_source: PathBuf,
}

impl Paths {
    /// The paths inside this workspace.
    pub fn workspace() -> Paths {
        let root = workspace_root();
        let clinc_source = std::env::var_os("RAYOS_CLINC150")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/data/clinc150/clinc150_train_val.json"));
        Paths {
            engine_crate: root.join("crates/intent"),
            cache: root.join("target/intent-cache"),
            clinc_source,
        }
    }
    /// The weights blob the kernel includes.
    pub fn weights(&self) -> PathBuf {
        self.engine_crate.join("weights/intent.bin")
    }
    /// The derived embedding blob.
    pub fn embeddings(&self) -> PathBuf {
        self.engine_crate.join("weights/embeddings.bin")
    }
    /// The intent table.
    pub fn table(&self) -> PathBuf {
        self.engine_crate.join("data/intents.tsv")
    }
    /// A file under `crates/intent/data`.
    pub fn data(&self, name: &str) -> PathBuf {
        self.engine_crate.join("data").join(name)
    }
    /// Training files, in the fixed order training reads them.
    pub fn training_files(&self) -> Vec<PathBuf> {
        vec![self.data("train.jsonl"), self.data("clinc/train.jsonl")]
    }
    /// Threshold-tuning files.
    pub fn tuning_files(&self) -> Vec<PathBuf> {
        vec![self.data("dev.jsonl"), self.data("clinc/calibration.jsonl")]
    }
}

/// Any failure of the tools, with the file or step it concerns.
#[derive(Debug)]
pub enum ToolError {
    /// Reading or writing a file.
    Io(PathBuf, io::Error),
    /// A data file.
    Data(DataError),
    /// The embedding derivation.
    Derive(DeriveError),
    /// Training.
    Train(TrainError),
    /// A weights file that does not load.
    Load(PathBuf, LoadError),
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            ToolError::Data(e) => write!(f, "{e}"),
            ToolError::Derive(e) => write!(f, "{e}"),
            ToolError::Train(e) => write!(f, "{e}"),
            ToolError::Load(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<DataError> for ToolError {
    fn from(e: DataError) -> ToolError {
        ToolError::Data(e)
    }
}
impl From<TrainError> for ToolError {
    fn from(e: TrainError) -> ToolError {
        ToolError::Train(e)
    }
}
impl From<DeriveError> for ToolError {
    fn from(e: DeriveError) -> ToolError {
        ToolError::Derive(e)
    }
}
impl From<ToolError> for io::Error {
    fn from(e: ToolError) -> io::Error {
        io::Error::other(e.to_string())
    }
}

/// The fixed stand-in for live kernel state that the host tools resolve entities against:
/// VMs `linux`, `windows`, `hostile`; disks `vda` (8 GiB, disk 1) and `vdb` (32 GiB, disk 2);
/// boot entries `recovery`, `rayos-1`, `rayos-2`, `rayos-3` (in that order); current boot 12.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostWorld;

impl World for HostWorld {
    fn vm_names(&self) -> Vec<String> {
        vec!["linux".into(), "windows".into(), "hostile".into()]
    }
    fn disks(&self) -> Vec<DiskInfo> {
        vec![
            DiskInfo { name: "vda".into(), size_bytes: 8 << 30, index: 1 },
            DiskInfo { name: "vdb".into(), size_bytes: 32 << 30, index: 2 },
        ]
    }
    fn boot_entries(&self) -> Vec<String> {
        vec!["recovery".into(), "rayos-1".into(), "rayos-2".into(), "rayos-3".into()]
    }
    fn current_boot(&self) -> Option<u64> {
        Some(12)
    }
}

/// Loads the committed weights.
pub fn load_engine(paths: &Paths) -> Result<(Engine, usize), ToolError> {
    let path = paths.weights();
    let bytes = std::fs::read(&path).map_err(|e| ToolError::Io(path.clone(), e))?;
    let engine = Engine::from_bytes(&bytes).map_err(|e| ToolError::Load(path, e))?;
    Ok((engine, bytes.len()))
}

/// One reading as a JSON object:
/// `{"text","intent","confidence","entities","command","effect","reply"}`.
pub fn reading_json(engine: &Engine, text: &str, world: &dyn World) -> String {
    let r = engine.read(text, world);
    let command = r.command.as_deref().map_or_else(|| "null".to_string(), json_string);
    let reply = r.reply.as_deref().map_or_else(|| "null".to_string(), json_string);
    format!(
        "{{\"text\":{},\"intent\":{},\"confidence\":{:.4},\"entities\":{},\"command\":{},\"effect\":{},\"reply\":{}}}",
        json_string(text),
        json_string(&r.label),
        r.confidence,
        r.entities.to_json(),
        command,
        json_string(r.effect.as_str()),
        reply
    )
}

/// Reads labelled requests (`{"text":..,"intent":..}` per line) and writes each with the
/// entities the engine reads for its label: `{"text","intent","entities"}` (for checking
/// and writing corpus annotations). A line with an unknown label is an error.
pub fn run_annotate(input: impl BufRead, mut output: impl Write) -> Result<(), ToolError> {
    let (engine, _) = load_engine(&Paths::workspace())?;
    let stdin = || PathBuf::from("<stdin>");
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| ToolError::Io(stdin(), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| ToolError::Data(DataError::Parse { path: stdin(), line: i + 1, why });
        let example: Example = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let entities = engine
            .slots_as(&example.intent, &example.text, &HostWorld)
            .ok_or_else(|| bad(format!("{:?} is not an intent label", example.intent)))?;
        writeln!(
            output,
            "{{\"text\":{},\"intent\":{},\"entities\":{}}}",
            json_string(&example.text),
            json_string(&example.intent),
            entities.to_json()
        )
        .map_err(|e| ToolError::Io(PathBuf::from("<stdout>"), e))?;
    }
    Ok(())
}

/// Reads one request per line and writes one JSON reading per line (`"command": null` for
/// out of scope). Blank lines are skipped.
pub fn run_query(mut input: impl BufRead, mut output: impl Write) -> io::Result<()> {
    let (engine, _) = load_engine(&Paths::workspace())?;
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        if input.read_until(b'\n', &mut bytes)? == 0 {
            return Ok(());
        }
        // Bytes that are not UTF-8 are read as U+FFFD, as the kernel's shell would never
        // pass them on: one bad line does not end the run.
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        writeln!(output, "{}", reading_json(&engine, line, &HostWorld))?;
    }
}

/// Scores of a labelled set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvalReport {
    /// Examples scored.
    pub examples: usize,
    /// In-scope examples.
    pub in_scope: usize,
    /// Out-of-scope examples.
    pub out_of_scope: usize,
    /// In-scope examples given their exact intent (rejections count as wrong).
    pub accuracy: f64,
    /// Out-of-scope examples rejected.
    pub oos_recall: f64,
    /// In-scope examples rejected as out of scope.
    pub false_reject_rate: f64,
    /// Slot-value F1, micro-averaged over all slots of all examples.
    pub entity_f1: f64,
    /// Entity precision and recall behind the F1.
    pub entity_precision: f64,
    /// See `entity_precision`.
    pub entity_recall: f64,
    /// The most frequent `(expected, predicted, count)` confusions.
    pub confusions: Vec<(String, String, usize)>,
    /// Up to 20 misread examples: `(text, expected, predicted)`.
    pub misreads: Vec<(String, String, String)>,
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "examples: {} ({} in scope, {} out of scope)",
            self.examples, self.in_scope, self.out_of_scope
        )?;
        writeln!(f, "accuracy (in scope): {:.2} %", 100.0 * self.accuracy)?;
        writeln!(f, "out-of-scope recall: {:.2} %", 100.0 * self.oos_recall)?;
        writeln!(f, "false-reject rate:   {:.2} %", 100.0 * self.false_reject_rate)?;
        writeln!(
            f,
            "entity F1 (micro):   {:.2} % (precision {:.2} %, recall {:.2} %)",
            100.0 * self.entity_f1,
            100.0 * self.entity_precision,
            100.0 * self.entity_recall
        )?;
        writeln!(f, "top confusions (expected -> predicted: count):")?;
        if self.confusions.is_empty() {
            writeln!(f, "  none")?;
        }
        for (expected, predicted, count) in &self.confusions {
            writeln!(f, "  {expected} -> {predicted}: {count}")?;
        }
        if !self.misreads.is_empty() {
            writeln!(f, "first misreads (text: expected -> predicted):")?;
        }
        for (text, expected, predicted) in &self.misreads {
            writeln!(f, "  {text:?}: {expected} -> {predicted}")?;
        }
        Ok(())
    }
}

fn normalize_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.trim().to_lowercase(),
        serde_json::Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| format!("{f}")),
        other => other.to_string(),
    }
}

/// Whether a labelled entity value and a read one name the same thing: equal, or equal once
/// the label is resolved the way the engine resolves what people type, against the same
/// world. A label may name things as a person would: "disk 2", "2", "the 8 GB disk" (`vdb`,
/// `vda`), "entry 3" (`rayos-2`), "win10" (`windows`), "warnings" (`warn`), "last"
/// (boot -1), "2 min" (120 seconds).
fn same_entity(slot: &str, gold: &serde_json::Value, read: &serde_json::Value, world: &dyn World) -> bool {
    let (gold, read) = (normalize_value(gold), normalize_value(read));
    if gold == read {
        return true;
    }
    let resolves_to_read = |phrase: String| {
        let normalized = rayos_intent::text::normalize(&phrase);
        let words = rayos_intent::text::words(&normalized);
        use rayos_intent::entities as e;
        let resolved = match slot {
            "disk" => e::find_disk(&words, world),
            "entry" => e::find_entry(&words, &phrase, world),
            "vm" => e::find_vm(&words, &e::typed_tokens(&normalized, &words, &words), world),
            "level" => e::find_level(&words).map(|l| String::from(l.as_str())),
            "boot" => e::find_boot(&words, world).map(|b| b.to_string()),
            "seconds" => e::find_seconds(&words).map(|s| s.to_string()),
            _ => None,
        };
        resolved.is_some_and(|r| r.to_lowercase() == read)
    };
    [gold.clone(), format!("{slot} {gold}"), format!("the {gold} {slot}")].into_iter().any(resolves_to_read)
}

/// Scores examples with the engine against a world.
pub fn evaluate(engine: &Engine, examples: &[Example], world: &dyn World) -> EvalReport {
    let readings: Vec<(Example, rayos_intent::Reading)> =
        examples.iter().map(|e| (e.clone(), engine.read(&e.text, world))).collect();
    evaluate_readings(&readings, world)
}

/// Scores readings already made, against their examples.
pub fn evaluate_readings(readings: &[(Example, rayos_intent::Reading)], world: &dyn World) -> EvalReport {
    let mut report = EvalReport { examples: readings.len(), ..Default::default() };
    let (mut in_right, mut in_rejected, mut oos_right) = (0usize, 0usize, 0usize);
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut confusions: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (e, r) in readings {
        let is_oos = e.intent == rayos_intent::OOS_LABEL;
        if is_oos {
            report.out_of_scope += 1;
            oos_right += usize::from(r.is_oos());
        } else {
            report.in_scope += 1;
            in_right += usize::from(r.label == e.intent);
            in_rejected += usize::from(r.is_oos());
        }
        if r.label != e.intent {
            *confusions.entry((e.intent.clone(), r.label.clone())).or_default() += 1;
            if report.misreads.len() < 20 {
                report.misreads.push((e.text.clone(), e.intent.clone(), r.label.clone()));
            }
        }
        let predicted: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&r.entities.to_json()).unwrap_or_default();
        for (slot, value) in &predicted {
            match e.entities.get(slot) {
                Some(gold) if same_entity(slot, gold, value, world) => tp += 1,
                _ => fp += 1,
            }
        }
        for (slot, gold) in &e.entities {
            if predicted.get(slot).is_none_or(|v| !same_entity(slot, gold, v, world)) {
                fn_ += 1;
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    report.accuracy = ratio(in_right, report.in_scope);
    report.oos_recall = ratio(oos_right, report.out_of_scope);
    report.false_reject_rate =
        if report.in_scope == 0 { 0.0 } else { in_rejected as f64 / report.in_scope as f64 };
    report.entity_precision = ratio(tp, tp + fp);
    report.entity_recall = ratio(tp, tp + fn_);
    let (p, r) = (report.entity_precision, report.entity_recall);
    report.entity_f1 = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
    let mut sorted: Vec<((String, String), usize)> = confusions.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    report.confusions = sorted.into_iter().take(10).map(|((a, b), n)| (a, b, n)).collect();
    report
}

/// Scores a labelled JSONL file (`{"text":..,"intent":..,"entities":{..}}` per line) and
/// prints the report to `out`.
pub fn run_eval(path: &Path, mut out: impl Write) -> Result<EvalReport, ToolError> {
    let (engine, _) = load_engine(&Paths::workspace())?;
    let examples = data::read_jsonl(path)?;
    // A label the engine does not know would only count as a misread: say so instead.
    if let Some((line, e)) = examples.iter().enumerate().find(|(_, e)| engine.intent_id(&e.intent).is_none())
    {
        let known: Vec<&str> = engine.intents().iter().map(|spec| spec.label.as_str()).collect();
        return Err(ToolError::Data(DataError::Parse {
            path: path.to_path_buf(),
            line: line + 1,
            why: format!("{:?} is not an intent label; the labels are: {}", e.intent, known.join(", ")),
        }));
    }
    let report = evaluate(&engine, &examples, &HostWorld);
    let io_error = |e| ToolError::Io(path.to_path_buf(), e);
    writeln!(out, "intent eval: {}", path.display()).map_err(io_error)?;
    write!(out, "{report}").map_err(io_error)?;
    Ok(report)
}

/// How well `ask` finds the manual's answers: of questions labelled with the sections that
/// answer them, how many have their best passage (top 1), and one of the three passages `ask`
/// shows (top 3), from one of those sections. (A section may have several passages; the
/// count does not check which of them answers.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AskReport {
    /// Questions scored.
    pub questions: usize,
    /// Best passage from a right section.
    pub top1: usize,
    /// One of the three best from a right section.
    pub top3: usize,
}

impl AskReport {
    /// The figures as one line: the two shares, each with its count.
    pub fn summary(&self) -> String {
        let pct = |n: usize| 100.0 * n as f64 / self.questions.max(1) as f64;
        format!(
            "{} questions; the best passage is from a section that answers {:.1} % ({}), one of the three \
             shown {:.1} % ({})",
            self.questions,
            pct(self.top1),
            self.top1,
            pct(self.top3),
            self.top3
        )
    }
}

/// A question about the manual and the sections that answer it (`{"question": ...,
/// "sections": [...]}` per line).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ManualQuestion {
    /// The question as typed.
    pub question: String,
    /// Headings of the sections whose text answers it.
    pub sections: Vec<String>,
}

/// Reads labelled questions about the manual (see [`ManualQuestion`]).
pub fn read_manual_questions(path: &Path) -> Result<Vec<ManualQuestion>, ToolError> {
    Ok(data::read_json_lines(path)?)
}

/// The manual the kernel compiles in (`docs/manual.md`).
fn read_manual() -> Result<String, ToolError> {
    let path = workspace_root().join("docs").join("manual.md");
    std::fs::read_to_string(&path).map_err(|e| ToolError::Io(path, e))
}

/// The manual's section names (its second-level headings), which [`ManualQuestion::sections`]
/// must be.
pub fn manual_sections() -> Result<Vec<String>, ToolError> {
    let manual = read_manual()?;
    Ok(manual.lines().filter_map(|l| l.strip_prefix("## ")).map(|s| s.trim().to_string()).collect())
}

/// The manual as the kernel compiles it in, indexed the way the kernel indexes it.
pub fn manual_index(engine: &Engine) -> Result<rayos_intent::DocsIndex, ToolError> {
    let manual = read_manual()?;
    let passages = rayos_intent::split_markdown(&manual);
    let refs: Vec<(&str, &str)> = passages.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
    Ok(rayos_intent::DocsIndex::build(engine.embeddings(), &refs))
}

/// Scores `ask` on labelled questions; `misses` receives each question whose best passage is
/// from another section, with the sections of the three best passages.
pub fn evaluate_ask(
    engine: &Engine,
    index: &rayos_intent::DocsIndex,
    questions: &[ManualQuestion],
    mut misses: impl FnMut(&ManualQuestion, &[String]),
) -> AskReport {
    let mut report = AskReport { questions: questions.len(), top1: 0, top3: 0 };
    for q in questions {
        let hits = index.search(engine.embeddings(), &q.question, 3);
        // A hit's section is its heading path; the labels name the second-level heading.
        let found: Vec<String> =
            hits.iter().map(|h| h.section.split(" > ").nth(1).unwrap_or(&h.section).to_string()).collect();
        let right = |s: &String| q.sections.contains(s);
        report.top1 += usize::from(found.first().is_some_and(right));
        report.top3 += usize::from(found.iter().any(right));
        if !found.first().is_some_and(right) {
            misses(q, &found);
        }
    }
    report
}

/// Host latency of [`Engine::read`] over `queries` (cycled to at least 1000 calls).
pub fn measure_latency(engine: &Engine, queries: &[String]) -> (f64, f64, usize) {
    if queries.is_empty() {
        return (0.0, 0.0, 0);
    }
    for q in queries.iter().take(200) {
        std::hint::black_box(engine.read(q, &HostWorld));
    }
    let calls = queries.len().max(1000);
    let mut micros: Vec<f64> = Vec::with_capacity(calls);
    for q in queries.iter().cycle().take(calls) {
        let start = Instant::now();
        std::hint::black_box(engine.read(std::hint::black_box(q), &HostWorld));
        micros.push(start.elapsed().as_secs_f64() * 1e6);
    }
    micros.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.95), calls)
}

/// Prints the benchmark figures: accuracy, out-of-scope recall, false rejects and entity F1 on
/// each evaluation set (the project's dev and probe sets, the CLINC held-out slice and, when
/// present, the independent held-out set), how often `ask` finds the manual's answer to the
/// labelled questions of `ask-dev.jsonl` and `ask-probe.jsonl`, the weights size and host
/// latency p50/p95. Only aggregates are printed, never single requests.
pub fn run_bench_host(mut out: impl Write) -> Result<(), ToolError> {
    let paths = Paths::workspace();
    let (engine, weights_bytes) = load_engine(&paths)?;
    let io_error = |e| ToolError::Io(PathBuf::from("<output>"), e);
    writeln!(out, "intent bench (host): weights {weights_bytes} bytes (budget 4194304)").map_err(io_error)?;
    let mut queries = Vec::new();
    for (name, file) in [
        ("dev (tuning set)", paths.data("dev.jsonl")),
        ("probe (project-written, never tuned on)", paths.data("probe.jsonl")),
        ("probe-b (project-written in round 3's registers, never tuned on)", paths.data("probe-b.jsonl")),
        ("probe-c (project-written in round 4's registers, never tuned on)", paths.data("probe-c.jsonl")),
        ("probe-d (project-written for confusable intents, never tuned on)", paths.data("probe-d.jsonl")),
        ("probe-e (independent writer, round 6's checks)", paths.data("probe-e.jsonl")),
        ("probe-f (independent writer, round 6's checks)", paths.data("probe-f.jsonl")),
        ("probe-g (independent writer, round 6's checks)", paths.data("probe-g.jsonl")),
        ("probe-h (independent writer, round 6's checks)", paths.data("probe-h.jsonl")),
        ("probe-i (independent writer, kept apart in round 6)", paths.data("probe-i.jsonl")),
        ("probe-j (independent writer given only the issue, round 7's checks)", paths.data("probe-j.jsonl")),
        ("probe-k (independent writer given only the issue, round 7's checks)", paths.data("probe-k.jsonl")),
        (
            "probe-l (independent writer given only the issue, kept apart in round 7)",
            paths.data("probe-l.jsonl"),
        ),
        (
            "probe-m (independent writer given only the issue, kept apart in round 7)",
            paths.data("probe-m.jsonl"),
        ),
        (
            "probe-n (outside-evaluator writer given only the issue, kept apart in round 8-9)",
            paths.data("probe-n.jsonl"),
        ),
        (
            "probe-o (outside-evaluator writer given only the issue, kept apart in round 8-9)",
            paths.data("probe-o.jsonl"),
        ),
        (
            "probe-p (outside-evaluator writer given only the issue, kept apart in round 8-9)",
            paths.data("probe-p.jsonl"),
        ),
        (
            "probe-q (outside-evaluator writer given only the issue, kept apart in round 10)",
            paths.data("probe-q.jsonl"),
        ),
        (
            "probe-r (outside-evaluator writer given only the issue, kept apart in round 10)",
            paths.data("probe-r.jsonl"),
        ),
        (
            "probe-s (outside-evaluator writer given only the issue, kept apart in round 10)",
            paths.data("probe-s.jsonl"),
        ),
        (
            "probe-t (outside-evaluator writer given only the issue, kept apart in round 11)",
            paths.data("probe-t.jsonl"),
        ),
        (
            "probe-u (outside-evaluator writer given only the issue, kept apart in round 11)",
            paths.data("probe-u.jsonl"),
        ),
        (
            "probe-v (outside-evaluator writer given only the issue, kept apart in round 11)",
            paths.data("probe-v.jsonl"),
        ),
        (
            "probe-w (outside-evaluator writer given only the issue, written in round 20)",
            paths.data("probe-w.jsonl"),
        ),
        (
            "probe-x (outside-evaluator writer given only the issue, written in round 20)",
            paths.data("probe-x.jsonl"),
        ),
        (
            "probe-y (outside-evaluator writer given only the issue, written in round 20)",
            paths.data("probe-y.jsonl"),
        ),
        ("clinc held-out slice", paths.data("clinc/heldout.jsonl")),
        ("independent held-out", paths.data("heldout.jsonl")),
        ("second independent held-out", paths.data("heldout-b.jsonl")),
        ("third independent held-out", paths.data("heldout-c.jsonl")),
        ("fourth independent held-out", paths.data("heldout-d.jsonl")),
        ("fifth independent held-out", paths.data("heldout-e.jsonl")),
    ] {
        if !file.is_file() {
            writeln!(out, "{name}: {} absent, skipped", file.display()).map_err(io_error)?;
            continue;
        }
        let examples = data::read_jsonl(&file)?;
        let r = evaluate(&engine, &examples, &HostWorld);
        let gold_slots: usize = examples.iter().map(|e| e.entities.len()).sum();
        let entity_f1 = if gold_slots == 0 {
            "n/a (no annotated slots)".to_string()
        } else {
            format!("{:.2} % over {gold_slots} annotated slots", 100.0 * r.entity_f1)
        };
        writeln!(
            out,
            "{name}: n={} ({} in scope, {} oos) accuracy {:.2} % (target >= 97) | oos recall {:.2} % (target >= 95) | \
             false rejects {:.2} % (target <= 3) | entity F1 {entity_f1}",
            r.examples,
            r.in_scope,
            r.out_of_scope,
            100.0 * r.accuracy,
            100.0 * r.oos_recall,
            100.0 * r.false_reject_rate,
        )
        .map_err(io_error)?;
        queries.extend(examples.into_iter().map(|e| e.text));
    }
    let index = manual_index(&engine)?;
    for (name, file) in [
        ("ask, questions the retrieval was tuned on", paths.data("ask-dev.jsonl")),
        ("ask, questions by an independent writer", paths.data("ask-probe.jsonl")),
    ] {
        if !file.is_file() {
            writeln!(out, "{name}: {} absent, skipped", file.display()).map_err(io_error)?;
            continue;
        }
        let r = evaluate_ask(&engine, &index, &read_manual_questions(&file)?, |_, _| {});
        writeln!(out, "{name}, over the manual's {} passages: {}", index.len(), r.summary())
            .map_err(io_error)?;
    }
    let (p50, p95, calls) = measure_latency(&engine, &queries);
    writeln!(
        out,
        "host latency per query over {calls} reads: p50 {p50:.1} us, p95 {p95:.1} us (aim: well under 50 us)"
    )
    .map_err(io_error)?;
    Ok(())
}

/// What [`train()`] produced.
#[derive(Debug, Clone)]
pub struct TrainOutput {
    /// The weights blob.
    pub blob: Vec<u8>,
    /// Training examples used.
    pub train_examples: usize,
    /// Tuning examples used.
    pub tuning_examples: usize,
    /// The calibrated out-of-scope decision and its rates on the calibration data.
    pub calibration: train::Calibration,
}

/// The fixed inputs of training: embeddings, intent table, corpus and tuning examples.
pub struct TrainingInputs {
    embeddings: rayos_intent::Embeddings,
    vocab_section: Vec<u8>,
    vectors_section: Vec<u8>,
    embedding_meta: String,
    table_text: String,
    labels: Vec<String>,
    /// The training examples (project corpus, then the CLINC slice).
    pub train_examples: Vec<Example>,
    /// The threshold-tuning examples (dev set, CLINC calibration slice).
    pub tuning_examples: Vec<Example>,
    corpus_sha256: String,
}

impl TrainingInputs {
    /// Reads every input from the workspace.
    pub fn load(paths: &Paths) -> Result<TrainingInputs, ToolError> {
        let read = |path: PathBuf| std::fs::read(&path).map_err(|e| ToolError::Io(path, e));
        let embedding_blob = read(paths.embeddings())?;
        let (embeddings, vocab_section, vectors_section, embedding_meta) =
            derive::load_embeddings(&embedding_blob).map_err(|e| ToolError::Load(paths.embeddings(), e))?;
        let table_text = String::from_utf8_lossy(&read(paths.table())?).into_owned();
        let labels = train::table_labels(&table_text)?;
        let mut train_examples = Vec::new();
        for file in paths.training_files() {
            train_examples.extend(data::read_jsonl(&file)?);
        }
        let mut tuning_examples = Vec::new();
        for file in paths.tuning_files() {
            tuning_examples.extend(data::read_jsonl(&file)?);
        }
        let corpus_sha256 = derive::sha256_hex(&read(paths.data("train.jsonl"))?);
        Ok(TrainingInputs {
            embeddings,
            vocab_section,
            vectors_section,
            embedding_meta,
            table_text,
            labels,
            train_examples,
            tuning_examples,
            corpus_sha256,
        })
    }

    /// Trains on `train_examples` (a subset of, or all of, the corpus) and assembles an
    /// engine blob whose out-of-scope decision is not calibrated yet (offset and thresholds
    /// zero). Returns the blob's parts for [`TrainingInputs::assemble`].
    fn fit(&self, train_examples: &[Example], config: &TrainConfig) -> Result<Fitted, ToolError> {
        let embeddings = &self.embeddings;
        let lexicon = train::build_lexicon(train_examples, embeddings);
        let in_scope = train::InScopeWords::count(embeddings, &lexicon, train_examples);
        let known = in_scope.known_words();
        let prepared = train::prepare(
            embeddings,
            &lexicon,
            &known,
            &in_scope,
            &self.labels,
            train_examples,
            false,
            config,
        )?;
        let model = train::fit(embeddings, &self.labels, &prepared, config)?;
        Ok(Fitted { lexicon, known, model })
    }

    fn assemble(&self, fitted: &Fitted, meta: &str) -> Result<(Vec<u8>, Engine), ToolError> {
        let blob = Engine::encode(
            &self.vocab_section,
            &self.vectors_section,
            &self.table_text,
            &fitted.lexicon,
            &fitted.known,
            &fitted.model,
            meta,
        );
        let engine =
            Engine::from_bytes(&blob).map_err(|e| ToolError::Load(PathBuf::from("<trained model>"), e))?;
        Ok((blob, engine))
    }

    fn scored(&self, engine: &Engine, examples: &[Example]) -> Vec<train::Scored> {
        examples
            .iter()
            .filter_map(|e| {
                let label = self.labels.iter().position(|l| *l == e.intent)?;
                Some((engine.scores(&e.text).probabilities, label))
            })
            .collect()
    }

    /// Trains on `train_examples` (a subset of, or all of, the corpus), calibrates the
    /// out-of-scope decision and assembles the blob. Deterministic.
    ///
    /// Calibration data: every corpus request of `train_examples`, each scored by one of
    /// `config.calibration_folds` models trained without its corpus line (grouped as in
    /// [`calibration_split`]), and the tuning examples scored by the final model. Scores come
    /// from [`Engine::scores`], the integer path [`Engine::read`] uses.
    pub fn build(&self, train_examples: &[Example], config: &TrainConfig) -> Result<TrainOutput, ToolError> {
        let oos = self.labels.iter().position(|l| l == rayos_intent::OOS_LABEL).unwrap_or(0);
        let mut held_apart = Vec::new();
        let folds = config.calibration_folds;
        if folds >= 2 {
            for k in 0..folds {
                let (test, train) = calibration_split(train_examples, folds, k);
                if test.is_empty() || train.is_empty() {
                    continue;
                }
                let (_, engine) = self.assemble(&self.fit(&train, config)?, "")?;
                held_apart.extend(self.scored(&engine, &test));
            }
        }
        let mut fitted = self.fit(train_examples, config)?;
        let (_, engine) = self.assemble(&fitted, "")?;
        let tuning = self.scored(&engine, &self.tuning_examples);
        let calibration = train::calibrate(&held_apart, &tuning, oos, config.min_oos_recall);
        fitted.model.bias[oos] -= calibration.oos_offset;
        fitted.model.confidence_threshold = calibration.confidence;
        fitted.model.margin_threshold = calibration.margin;
        let meta = format!(
            "RayOS intent weights. Embeddings: {}. Corpus: {} training examples (train.jsonl sha256 {}), \
             {} tuning examples, lexicon of {} words, {} familiar in-scope words. Config: {config:?}. \
             Calibration: {calibration:?}.",
            self.embedding_meta,
            train_examples.len(),
            self.corpus_sha256,
            self.tuning_examples.len(),
            fitted.lexicon.len(),
            fitted.known.len(),
        );
        let (blob, _) = self.assemble(&fitted, &meta)?;
        Ok(TrainOutput {
            blob,
            train_examples: train_examples.len(),
            tuning_examples: self.tuning_examples.len(),
            calibration,
        })
    }
}

/// A trained model with the lexicon and in-scope vocabulary it was trained with.
struct Fitted {
    lexicon: rayos_intent::Lexicon,
    known: rayos_intent::KnownWords,
    model: rayos_intent::Classifier,
}

/// Calibration fold `k` of `folds`: `(held apart, train)`. Corpus lines are spread over the
/// folds by a hash of their source number (not by its remainder, so that the split also
/// works inside a cross-validation fold, which holds one remainder only); decorated copies
/// of a line share its number and fall together; examples without a line number (CLINC)
/// always train.
pub fn calibration_split(examples: &[Example], folds: u32, k: u32) -> (Vec<Example>, Vec<Example>) {
    let fold_of = |source: u32| {
        // SplitMix64's finaliser: consecutive line numbers land in unrelated folds.
        let mut z = u64::from(source).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % u64::from(folds.max(1))) as u32
    };
    examples.iter().cloned().partition(|e| e.source.is_some_and(|s| fold_of(s) == k))
}

/// Rebuilds the weights blob from the committed embedding blob, intent table and corpus.
/// Deterministic; writes nothing.
pub fn train(paths: &Paths, config: &TrainConfig) -> Result<TrainOutput, ToolError> {
    let inputs = TrainingInputs::load(paths)?;
    inputs.build(&inputs.train_examples, config)
}

/// Fold `k` of `folds`: `(test, train)`. The test part is every example whose corpus line
/// number is `k` modulo `folds` (decorated copies of a line share its number, so they fall
/// together); examples without a line number (CLINC) always train.
pub fn fold_split(examples: &[Example], folds: u32, k: u32) -> (Vec<Example>, Vec<Example>) {
    examples.iter().cloned().partition(|e| e.source.is_some_and(|s| s % folds.max(1) == k))
}

/// What [`cross_validate`] found: one report per fold, the pooled report, every reading.
pub type CrossValidation = (Vec<EvalReport>, EvalReport, Vec<CrossValidated>);

/// One held-out corpus request of a cross-validation: the example, the fold model's reading
/// and its probabilities before the out-of-scope decision ([`Engine::scores`]).
#[derive(Debug, Clone)]
pub struct CrossValidated {
    /// The corpus example.
    pub example: Example,
    /// What the fold's engine read.
    pub reading: rayos_intent::Reading,
    /// The fold's probabilities, one per intent in table order.
    pub probabilities: Vec<f32>,
}

/// Grouped k-fold cross-validation over the project corpus, for choosing between model and
/// corpus variants: fold `k` holds out every corpus line whose source number is `k` modulo
/// `folds` (with all its decorated copies, so a test line is never a copy of a training
/// line), trains on the rest (CLINC included; calibration as in [`TrainingInputs::build`],
/// on the training part only) and scores the held-out lines. Returns one report per fold,
/// their pooled report and every reading. Touches no held-out file.
pub fn cross_validate(paths: &Paths, config: &TrainConfig, folds: u32) -> Result<CrossValidation, ToolError> {
    let inputs = TrainingInputs::load(paths)?;
    let folds = folds.max(2);
    let mut reports = Vec::new();
    let mut pooled: Vec<CrossValidated> = Vec::new();
    for k in 0..folds {
        let (test, train) = fold_split(&inputs.train_examples, folds, k);
        let out = inputs.build(&train, config)?;
        let engine =
            Engine::from_bytes(&out.blob).map_err(|e| ToolError::Load(PathBuf::from("<fold>"), e))?;
        let readings: Vec<(Example, rayos_intent::Reading)> = test
            .into_iter()
            .map(|e| {
                let r = engine.read(&e.text, &HostWorld);
                (e, r)
            })
            .collect();
        reports.push(evaluate_readings(&readings, &HostWorld));
        pooled.extend(readings.into_iter().map(|(example, reading)| {
            let probabilities = engine.scores(&example.text).probabilities;
            CrossValidated { example, reading, probabilities }
        }));
    }
    let readings: Vec<(Example, rayos_intent::Reading)> =
        pooled.iter().map(|c| (c.example.clone(), c.reading.clone())).collect();
    let report = evaluate_readings(&readings, &HostWorld);
    Ok((reports, report, pooled))
}
