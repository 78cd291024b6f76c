//! Labelled examples: the project's corpus files and the CLINC150 slices.
//!
//! CLINC150 (CC BY 3.0) is split once, by a fixed rule, into three files under
//! `crates/intent/data/clinc/` by [`import_clinc`]:
//! - `train.jsonl`: the first 40 `train` queries of each of the 150 intents, and all 100
//!   `oos_train` queries. Used for training only.
//! - `calibration.jsonl`: the `val` queries at even positions within each intent (10 per
//!   intent) and the even-position `oos_val` queries (50). Used for threshold tuning only.
//! - `heldout.jsonl`: the `val` queries at odd positions (10 per intent) and the odd-position
//!   `oos_val` queries (50). Never used for training or tuning: measurement only.
//!
//! Labels: `time` and `date` become `system.time`, `what_can_i_ask_you` becomes
//! `system.help`, everything else (the other 147 intents and CLINC's own oos) becomes `oos`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One labelled request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The request.
    pub text: String,
    /// The expected intent label.
    pub intent: String,
    /// The expected slots (`{"vm": "linux", "boot": -1}`); absent means none.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub entities: serde_json::Map<String, serde_json::Value>,
    /// The corpus line this example was made from (decorated copies of one line share it);
    /// absent: the example is its own source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<u32>,
}

/// Why a data file could not be used.
#[derive(Debug)]
pub enum DataError {
    /// The file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// A line is not a valid example (or question, see [`read_json_lines`]).
    Parse { path: PathBuf, line: usize, why: String },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            DataError::Parse { path, line, why } => {
                write!(
                    f,
                    "{}:{line}: not a valid line of this file (one JSON object per line): {why}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for DataError {}

/// Reads a JSONL file of examples; blank lines and lines starting with `//` are skipped.
pub fn read_jsonl(path: &Path) -> Result<Vec<Example>, DataError> {
    read_json_lines(path)
}

/// Reads one JSON object per line into `T`; blank lines and `//` comments are skipped.
pub fn read_json_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::Io(path.to_path_buf(), e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let value: T = serde_json::from_str(line).map_err(|e| DataError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            why: e.to_string(),
        })?;
        out.push(value);
    }
    Ok(out)
}

/// Writes examples as JSONL.
pub fn write_jsonl(path: &Path, examples: &[Example]) -> Result<(), DataError> {
    let mut text = String::new();
    for e in examples {
        text.push_str(&serde_json::to_string(e).map_err(|err| DataError::Parse {
            path: path.to_path_buf(),
            line: 0,
            why: err.to_string(),
        })?);
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| DataError::Io(path.to_path_buf(), e))
}

/// The RayOS label of a CLINC150 intent.
pub fn clinc_label(intent: &str) -> &'static str {
    match intent {
        "time" | "date" => "system.time",
        "what_can_i_ask_you" => "system.help",
        _ => "oos",
    }
}

/// Training queries taken from each CLINC150 intent.
pub const CLINC_TRAIN_PER_INTENT: usize = 40;

/// Splits `clinc150_train_val.json` into the three files described in the module docs.
pub fn import_clinc(source: &Path, out_dir: &Path) -> Result<[usize; 3], DataError> {
    let text = std::fs::read_to_string(source).map_err(|e| DataError::Io(source.to_path_buf(), e))?;
    let bad = |why: String| DataError::Parse { path: source.to_path_buf(), line: 0, why };
    let json: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let part = |name: &str| json.get(name).cloned().ok_or_else(|| bad(format!("no part named {name}")));
    let example = |(text, intent): &(String, String)| Example {
        text: text.clone(),
        intent: clinc_label(intent).into(),
        entities: Default::default(),
        source: None,
    };
    let by_intent = |rows: Vec<(String, String)>| {
        let mut map: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for row in rows {
            map.entry(row.1.clone()).or_default().push(row);
        }
        map
    };
    let mut train = Vec::new();
    for rows in by_intent(part("train")?).values() {
        train.extend(rows.iter().take(CLINC_TRAIN_PER_INTENT).map(example));
    }
    train.extend(part("oos_train")?.iter().map(example));
    let (mut calibration, mut heldout) = (Vec::new(), Vec::new());
    let mut val_groups: Vec<Vec<(String, String)>> = by_intent(part("val")?).into_values().collect();
    val_groups.push(part("oos_val")?);
    for rows in val_groups {
        for (i, row) in rows.iter().enumerate() {
            if i % 2 == 0 { &mut calibration } else { &mut heldout }.push(example(row));
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| DataError::Io(out_dir.to_path_buf(), e))?;
    write_jsonl(&out_dir.join("train.jsonl"), &train)?;
    write_jsonl(&out_dir.join("calibration.jsonl"), &calibration)?;
    write_jsonl(&out_dir.join("heldout.jsonl"), &heldout)?;
    Ok([train.len(), calibration.len(), heldout.len()])
}
