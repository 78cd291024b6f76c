//! Deterministic training of the linear classifier and calibration of its thresholds.
//!
//! Same inputs, same bytes: the example order is fixed (files in a fixed order, shuffled by a
//! seeded xorshift generator), arithmetic is plain `f32` in a fixed order, `exp` comes from
//! the `libm` crate (not the platform's C library), and the threshold search walks a fixed
//! grid and keeps the first best point.

use std::fmt;

use rayos_intent::model::softmax;
use rayos_intent::{features_of, table, text, Embeddings, Features, Lexicon, LinearModel};

use crate::data::Example;

/// Hyper-parameters (part of what makes the output reproducible: changing one changes the
/// weights).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Hash buckets for the sparse features (power of two).
    pub bucket_count: u32,
    /// Passes over the training data.
    pub epochs: usize,
    /// Initial learning rate (decays linearly to a tenth of it).
    pub learning_rate: f32,
    /// L2 penalty on the dense weights, per step.
    pub dense_l2: f32,
    /// Shuffle seed.
    pub seed: u64,
    /// Largest false-reject rate the threshold search accepts on the tuning set.
    pub max_false_reject_rate: f32,
}

impl Default for TrainConfig {
    fn default() -> TrainConfig {
        TrainConfig {
            bucket_count: 1 << 13,
            epochs: 12,
            learning_rate: 0.4,
            dense_l2: 1e-5,
            seed: 0x5241_594f_5332,
            max_false_reject_rate: 0.02,
        }
    }
}

/// Why training failed.
#[derive(Debug)]
pub enum TrainError {
    /// An example's label is not in the intent table.
    UnknownLabel { label: String, text: String },
    /// An intent of the table has no training example.
    NoExamples(String),
    /// The intent table does not parse.
    Table(rayos_intent::LoadError),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::UnknownLabel { label, text } => {
                write!(f, "example {text:?} has label {label:?}, which is not in data/intents.tsv")
            }
            TrainError::NoExamples(label) => {
                write!(f, "intent {label} has no training examples: add some to the corpus")
            }
            TrainError::Table(e) => write!(f, "intent table: {e}"),
        }
    }
}

impl std::error::Error for TrainError {}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// One featurised example.
pub struct Prepared {
    /// Features.
    pub features: Features,
    /// Class index.
    pub label: usize,
}

/// Featurises examples against the table's labels.
pub fn prepare(
    embeddings: &Embeddings,
    lexicon: &Lexicon,
    labels: &[String],
    examples: &[Example],
    bucket_count: u32,
) -> Result<Vec<Prepared>, TrainError> {
    examples
        .iter()
        .map(|e| {
            let label = labels
                .iter()
                .position(|l| *l == e.intent)
                .ok_or_else(|| TrainError::UnknownLabel { label: e.intent.clone(), text: e.text.clone() })?;
            Ok(Prepared { features: features_of(embeddings, lexicon, &e.text, bucket_count), label })
        })
        .collect()
}

/// Trains the classifier on `train` (softmax regression, SGD, class-balanced example weights).
pub fn fit(
    labels: &[String],
    dim: usize,
    train: &[Prepared],
    config: &TrainConfig,
) -> Result<LinearModel, TrainError> {
    let classes = labels.len();
    let mut counts = vec![0usize; classes];
    for p in train {
        counts[p.label] += 1;
    }
    if let Some(empty) = counts.iter().position(|&c| c == 0) {
        return Err(TrainError::NoExamples(labels[empty].clone()));
    }
    // Balanced weights, softened by a square root: the out-of-scope class has many more
    // examples than any intent and should count more, but not as much as its raw share.
    let mean = train.len() as f32 / classes as f32;
    let weights: Vec<f32> = counts.iter().map(|&c| libm::sqrtf(mean / c as f32)).collect();

    let mut model = LinearModel::zeros(classes, dim, config.bucket_count);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = Xorshift(config.seed | 1);
    let total_steps = (config.epochs * train.len()).max(1) as f32;
    let mut step = 0usize;
    let mut probabilities = vec![0.0f32; classes];
    for _ in 0..config.epochs {
        for i in (1..order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for &index in &order {
            let example = &train[index];
            let lr = config.learning_rate * (1.0 - 0.9 * step as f32 / total_steps) * weights[example.label];
            step += 1;
            model.logits(&example.features, &mut probabilities);
            softmax(&mut probabilities);
            probabilities[example.label] -= 1.0;
            let decay = 1.0 - config.learning_rate * config.dense_l2;
            for (c, &gradient) in probabilities.iter().enumerate() {
                model.bias[c] -= lr * gradient;
                let row = &mut model.dense[c * dim..(c + 1) * dim];
                for (w, &x) in row.iter_mut().zip(&example.features.dense) {
                    *w = *w * decay - lr * gradient * x;
                }
            }
            for &(bucket, value) in &example.features.sparse {
                let row = &mut model.sparse[bucket as usize * classes..(bucket as usize + 1) * classes];
                for (w, &gradient) in row.iter_mut().zip(&probabilities) {
                    *w -= lr * gradient * value;
                }
            }
        }
    }
    Ok(model)
}

/// Rates of a decision rule on a labelled set.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rates {
    /// In-scope examples classified right (rejections count as wrong).
    pub in_scope_accuracy: f32,
    /// Out-of-scope examples rejected.
    pub oos_recall: f32,
    /// In-scope examples rejected as out of scope.
    pub false_reject_rate: f32,
}

/// Applies thresholds to precomputed probabilities.
pub fn rates(probabilities: &[(Vec<f32>, usize)], oos: usize, confidence: f32, margin: f32) -> Rates {
    let (mut in_total, mut in_right, mut in_rejected, mut oos_total, mut oos_right) = (0, 0, 0, 0, 0);
    for (p, label) in probabilities {
        let mut best = 0;
        for (i, &v) in p.iter().enumerate() {
            if v > p[best] {
                best = i;
            }
        }
        let runner_up =
            p.iter().enumerate().filter(|&(i, _)| i != best).map(|(_, &v)| v).fold(0.0f32, f32::max);
        let predicted =
            if best != oos && (p[best] < confidence || p[best] - runner_up < margin) { oos } else { best };
        if *label == oos {
            oos_total += 1;
            oos_right += usize::from(predicted == oos);
        } else {
            in_total += 1;
            in_right += usize::from(predicted == *label);
            in_rejected += usize::from(predicted == oos);
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f32 / b as f32 };
    Rates {
        in_scope_accuracy: ratio(in_right, in_total),
        oos_recall: ratio(oos_right, oos_total),
        false_reject_rate: if in_total == 0 { 0.0 } else { in_rejected as f32 / in_total as f32 },
    }
}

/// Picks the thresholds that maximise in-scope accuracy plus out-of-scope recall on the tuning
/// set, among those whose false-reject rate stays within the limit.
pub fn calibrate(
    model: &LinearModel,
    tuning: &[Prepared],
    oos: usize,
    max_false_reject_rate: f32,
) -> (f32, f32) {
    let probabilities: Vec<(Vec<f32>, usize)> = tuning
        .iter()
        .map(|p| {
            let mut v = vec![0.0; model.classes];
            model.logits(&p.features, &mut v);
            softmax(&mut v);
            (v, p.label)
        })
        .collect();
    let mut best = (0.0f32, 0.0f32);
    let mut best_score = f32::NEG_INFINITY;
    for c in 0..=95 {
        for m in 0..=50 {
            let (confidence, margin) = (c as f32 / 100.0, m as f32 / 100.0);
            let r = rates(&probabilities, oos, confidence, margin);
            if r.false_reject_rate > max_false_reject_rate {
                continue;
            }
            let score = r.in_scope_accuracy + r.oos_recall;
            if score > best_score {
                best_score = score;
                best = (confidence, margin);
            }
        }
    }
    best
}

/// The labels of the intent table, in order.
pub fn table_labels(table_text: &str) -> Result<Vec<String>, TrainError> {
    Ok(table::parse_table(table_text).map_err(TrainError::Table)?.into_iter().map(|r| r.label).collect())
}

/// Words seen at least this often in the training data enter the typo lexicon; rarer ones are
/// left out because the corpus itself contains deliberate typos.
pub const LEXICON_MIN_COUNT: usize = 3;

/// The typo lexicon of the training examples: words seen at least [`LEXICON_MIN_COUNT`] times,
/// most frequent first (ties in byte order).
pub fn build_lexicon(examples: &[Example]) -> Lexicon {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for e in examples {
        let normalized = text::normalize(text::truncate(&e.text, text::MAX_INPUT_BYTES));
        for w in text::words(&normalized) {
            *counts.entry(w.to_string()).or_default() += 1;
        }
    }
    let mut frequent: Vec<(&String, usize)> =
        counts.iter().filter(|(_, &c)| c >= LEXICON_MIN_COUNT).map(|(w, &c)| (w, c)).collect();
    frequent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let words: Vec<&str> = frequent.iter().map(|(w, _)| w.as_str()).collect();
    Lexicon::build(&words)
}
