//! Deterministic training of the classifier and calibration of its out-of-scope decision.
//!
//! Same inputs, same bytes: the example order is fixed (files in a fixed order, shuffled by a
//! seeded xorshift generator), arithmetic is plain `f32` in a fixed order, `exp` comes from
//! the `libm` crate (not the platform's C library), and the calibration walks a fixed grid
//! and keeps the first best point.
//!
//! Why the calibration uses held-apart corpus lines: a model is sure of the phrasings it was
//! trained on, so thresholds set on those (or on a small tuning set written by the corpus's
//! authors) reject too many requests phrased in a new way. Lines scored by a model that
//! never saw them show how sure the model is of a new phrasing, which is what a person
//! typing to RayOS brings.

use std::collections::BTreeMap;
use std::fmt;

use rayos_intent::model::softmax;
use rayos_intent::{
    table, text, Classifier, Embeddings, Familiarity, Features, KnownWords, Lexicon, Pooling,
};

use crate::data::Example;

/// Hyper-parameters (part of what makes the output reproducible: changing one changes the
/// weights).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Hash buckets for the sparse features (power of two).
    pub bucket_count: u32,
    /// Hidden units over the dense features (0: linear only).
    pub hidden: usize,
    /// Poolings of the word vectors that make up the dense features.
    pub pooling: Pooling,
    /// Learning rate of the hidden layer, relative to `learning_rate`.
    pub hidden_learning_rate: f32,
    /// Passes over the training data.
    pub epochs: usize,
    /// The model is the average of the weights at the end of this many last epochs.
    pub averaged_epochs: usize,
    /// Initial learning rate (decays linearly to a tenth of it).
    pub learning_rate: f32,
    /// L2 penalty on the dense weights, per step.
    pub dense_l2: f32,
    /// Shuffle seed.
    pub seed: u64,
    /// Extra weight of out-of-scope examples (on top of the class balancing).
    pub oos_weight: f32,
    /// Probability of dropping each word when an example is seen with word dropout (half of
    /// the time); 0 disables it.
    pub word_dropout: f32,
    /// Calibration folds: the out-of-scope decision is calibrated on requests each scored by
    /// a model trained without their corpus line (see [`calibrate`]); below 2, on the tuning
    /// set alone.
    pub calibration_folds: u32,
    /// Smallest out-of-scope recall the calibration accepts, on the held-apart corpus lines
    /// and on the tuning set each.
    pub min_oos_recall: f32,
    /// Training runs from the same start, each with its own order and word dropout, whose
    /// weights are averaged into the one classifier (1: a single run).
    pub runs: u32,
    /// Label smoothing: the share of each example's target spread evenly over all classes
    /// (0: the one-hot target).
    pub label_smoothing: f32,
}

impl Default for TrainConfig {
    fn default() -> TrainConfig {
        // Chosen by grouped cross-validation over the corpus lines (`rayos-intent-train cv`)
        // and the dev set; see PROVENANCE.md.
        TrainConfig {
            bucket_count: 1 << 13,
            hidden: 128,
            pooling: Pooling {
                mean: true,
                max: true,
                unfamiliar: true,
                fourth_root_sparse: true,
                polarity: true,
                states: true,
                negated_words: true,
                across_articles: true,
            },
            hidden_learning_rate: 0.25,
            epochs: 12,
            averaged_epochs: 6,
            learning_rate: 0.4,
            dense_l2: 1e-5,
            seed: 0x5241_594f_5332,
            oos_weight: 2.0,
            word_dropout: 0.25,
            calibration_folds: 4,
            min_oos_recall: 0.97,
            runs: 3,
            label_smoothing: LABEL_SMOOTHING,
        }
    }
}

/// The label smoothing of the committed weights (round 17). Training on one-hot targets
/// drives the logits of every corpus phrasing far apart, so the model grows sure of the
/// exact words it saw; a target that keeps a tenth of its weight spread over all classes
/// stops that push once the right class leads well, and the model leans less on single
/// words. Grouped cross-validation: see PROVENANCE.md, round 17.
pub const LABEL_SMOOTHING: f32 = 0.1;

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
    /// The analysed words (for word dropout).
    pub words: Vec<String>,
    /// Whether the request ends as a question (for word dropout).
    pub asks: bool,
    /// The words this example finds unfamiliar (for word dropout).
    pub unfamiliar: Vec<String>,
}

/// Familiarity fixed per example: the words it found unfamiliar when prepared.
struct Unfamiliar<'a>(&'a [String]);

impl Familiarity for Unfamiliar<'_> {
    fn is_familiar(&self, word: &str) -> bool {
        !self.0.iter().any(|w| w == word)
    }
}

/// An in-scope word is familiar once this many in-scope examples use it.
pub const FAMILIAR_MIN_EXAMPLES: usize = 2;

/// Which words in-scope training examples use, counted per corpus source line, so that each
/// training example can be featurised as if its own line had never been written (see
/// [`rayos_intent::known`]).
pub struct InScopeWords {
    /// In-scope examples using each word.
    total: BTreeMap<String, usize>,
    /// The same, per source: `(source, word)`.
    by_source: BTreeMap<(u64, String), usize>,
}

/// The source group of example `index`: its corpus line, or itself when it has none.
fn source_of(example: &Example, index: usize) -> u64 {
    example.source.map_or((1 << 40) + index as u64, u64::from)
}

/// The analysed words of a request, as the engine sees them.
fn analysed_words(embeddings: &Embeddings, lexicon: &Lexicon, raw: &str) -> Vec<String> {
    let normalized = text::normalize(text::truncate(raw, text::MAX_INPUT_BYTES));
    rayos_intent::analyze(&normalized, lexicon, embeddings).into_iter().map(String::from).collect()
}

/// The words of a request as the engine classifies them (analysed, then split words
/// joined), and whether it ends as a question.
fn joined_words(
    embeddings: &Embeddings,
    lexicon: &Lexicon,
    known: &KnownWords,
    raw: &str,
) -> (Vec<String>, bool) {
    let normalized = text::normalize(text::truncate(raw, text::MAX_INPUT_BYTES));
    let words = rayos_intent::analyze_joined(&normalized, lexicon, embeddings, known)
        .into_iter()
        .map(String::from)
        .collect();
    (words, text::ends_as_question(&normalized))
}

impl InScopeWords {
    /// Counts the words of the in-scope examples of `examples`.
    pub fn count(embeddings: &Embeddings, lexicon: &Lexicon, examples: &[Example]) -> InScopeWords {
        let mut total = BTreeMap::new();
        let mut by_source = BTreeMap::new();
        for (index, e) in examples.iter().enumerate() {
            if e.intent == rayos_intent::OOS_LABEL {
                continue;
            }
            let mut words = analysed_words(embeddings, lexicon, &e.text);
            words.sort();
            words.dedup();
            let source = source_of(e, index);
            for w in words {
                *by_source.entry((source, w.clone())).or_insert(0usize) += 1;
                *total.entry(w).or_insert(0usize) += 1;
            }
        }
        InScopeWords { total, by_source }
    }

    /// The familiar words as the engine stores them: used by enough in-scope examples.
    pub fn known_words(&self) -> KnownWords {
        KnownWords::build(
            self.total.iter().filter(|(_, &n)| n >= FAMILIAR_MIN_EXAMPLES).map(|(w, _)| w.as_str()),
        )
    }
}

/// Familiarity for one training example: its own source's uses do not count.
struct LeaveSourceOut<'a> {
    words: &'a InScopeWords,
    source: Option<u64>,
}

impl Familiarity for LeaveSourceOut<'_> {
    fn is_familiar(&self, word: &str) -> bool {
        if rayos_intent::known::is_neutral(word) {
            return true;
        }
        let total = self.words.total.get(word).copied().unwrap_or(0);
        let own =
            self.source.map_or(0, |s| self.words.by_source.get(&(s, word.to_string())).copied().unwrap_or(0));
        total - own >= FAMILIAR_MIN_EXAMPLES
    }
}

/// Featurises examples against the table's labels. Training examples (`held_apart` false)
/// see familiarity without their own source line; tuning examples see it as the engine will.
/// Split words are joined with `known`, the in-scope vocabulary the engine will store.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    embeddings: &Embeddings,
    lexicon: &Lexicon,
    known: &KnownWords,
    in_scope: &InScopeWords,
    labels: &[String],
    examples: &[Example],
    held_apart: bool,
    config: &TrainConfig,
) -> Result<Vec<Prepared>, TrainError> {
    examples
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let label = labels
                .iter()
                .position(|l| *l == e.intent)
                .ok_or_else(|| TrainError::UnknownLabel { label: e.intent.clone(), text: e.text.clone() })?;
            let source = (!held_apart && e.intent != rayos_intent::OOS_LABEL).then(|| source_of(e, index));
            let familiar = LeaveSourceOut { words: in_scope, source };
            // The words once, then the features from them (what `features_of` does in one).
            let (words, asks) = joined_words(embeddings, lexicon, known, &e.text);
            let word_refs: Vec<&str> = words.iter().map(String::as_str).collect();
            let mut features = Features::default();
            rayos_intent::features::featurize(
                embeddings,
                &word_refs,
                asks,
                config.bucket_count,
                config.pooling,
                &familiar,
                &mut Vec::new(),
                &mut features,
            );
            let unfamiliar = words.iter().filter(|w| !familiar.is_familiar(w)).cloned().collect();
            Ok(Prepared { features, label, words, asks, unfamiliar })
        })
        .collect()
}

/// Trains the classifier on `train` (softmax cross-entropy, SGD, class-balanced example
/// weights; the hidden layer by backpropagation).
pub fn fit(
    embeddings: &Embeddings,
    labels: &[String],
    train: &[Prepared],
    config: &TrainConfig,
) -> Result<Classifier, TrainError> {
    let embedding_dim = embeddings.dim();
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
    let oos = labels.iter().position(|l| l == rayos_intent::OOS_LABEL);
    let weights: Vec<f32> = counts
        .iter()
        .enumerate()
        .map(|(c, &n)| libm::sqrtf(mean / n as f32) * if Some(c) == oos { config.oos_weight } else { 1.0 })
        .collect();

    let dim = embedding_dim * config.pooling.blocks();
    let mut rng = Xorshift(config.seed | 1);
    // Glorot-uniform start for the hidden layer, from the same seeded generator.
    let limit = libm::sqrtf(6.0 / (dim + config.hidden).max(1) as f32);
    let mut init = || {
        let unit = (rng.next() >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * unit - 1.0) * limit
    };
    let start = Classifier::new(classes, dim, config.bucket_count, config.hidden, config.pooling, &mut init);
    // The first run goes on with the generator that drew the start (a single run is what
    // training was before runs were averaged); each further run shuffles and drops words
    // with a generator of its own. The runs' weights are averaged: from one start, they
    // stay close enough for their mean to be a model of its own (a "model soup"), read as
    // fast as one run's, and steadier (grouped cross-validation: see PROVENANCE.md, round 16).
    // (Run r of n draws from a generator seeded with n - r: another `runs` reseeds every run
    // after the first.)
    let runs = config.runs.max(1);
    let mut soup = fit_run(embeddings, train, config, &weights, start.clone(), &mut rng);
    for run in 1..runs {
        let mut rng = Xorshift((config.seed ^ (u64::from(runs - run) * 0x9e37_79b9_7f4a_7c15)) | 1);
        add_weights(&mut soup, &fit_run(embeddings, train, config, &weights, start.clone(), &mut rng));
    }
    if runs > 1 {
        scale_weights(&mut soup, 1.0 / runs as f32);
    }
    Ok(soup)
}

/// One run of SGD from `start` (see [`fit`]): the weights averaged over its later epochs.
fn fit_run(
    embeddings: &Embeddings,
    train: &[Prepared],
    config: &TrainConfig,
    weights: &[f32],
    start: Classifier,
    rng: &mut Xorshift,
) -> Classifier {
    let classes = start.classes;
    let dim = start.dim;
    let mut model = start;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let total_steps = (config.epochs * train.len()).max(1) as f32;
    let mut step = 0usize;
    let mut probabilities = vec![0.0f32; classes];
    let mut hidden = vec![0.0f32; config.hidden];
    let mut hidden_gradient = vec![0.0f32; config.hidden];
    let mut kept: Vec<&str> = Vec::new();
    let mut scratch = Vec::new();
    let mut dropped_features = Features::default();
    let decay = 1.0 - config.learning_rate * config.dense_l2;
    // The weights are averaged over the ends of the later epochs: the last SGD iterate
    // depends on the last few examples seen, the average much less (Polyak averaging, per
    // epoch), which makes the result steadier from one corpus edit to the next.
    let averaged_from = config.epochs - config.averaged_epochs.clamp(1, config.epochs);
    let mut average: Option<Classifier> = None;
    for epoch in 0..config.epochs {
        for i in (1..order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for &index in &order {
            let example = &train[index];
            // Word dropout: now and then the example is seen with some words missing, so
            // that no single word carries a decision the rest of the request does not
            // support, as with a new phrasing that lacks the word.
            let dropped =
                config.word_dropout > 0.0 && example.words.len() > 1 && rng.next().is_multiple_of(2) && {
                    kept.clear();
                    for w in &example.words {
                        let draw = (rng.next() >> 40) as f32 / (1u64 << 24) as f32;
                        if draw >= config.word_dropout {
                            kept.push(w.as_str());
                        }
                    }
                    !kept.is_empty() && kept.len() < example.words.len()
                };
            if dropped {
                let familiar = Unfamiliar(&example.unfamiliar);
                rayos_intent::features::featurize(
                    embeddings,
                    &kept,
                    example.asks,
                    config.bucket_count,
                    config.pooling,
                    &familiar,
                    &mut scratch,
                    &mut dropped_features,
                );
            }
            let features = if dropped { &dropped_features } else { &example.features };
            let x = &features.dense;
            let lr = config.learning_rate * (1.0 - 0.9 * step as f32 / total_steps) * weights[example.label];
            step += 1;
            model.hidden_activations(features, &mut hidden);
            model.logits_with(features, &hidden, &mut probabilities);
            softmax(&mut probabilities);
            // The gradient of the cross-entropy against the smoothed target (one-hot when
            // the smoothing is 0: nothing is taken from the other classes).
            let share = config.label_smoothing / classes as f32;
            probabilities.iter_mut().for_each(|p| *p -= share);
            probabilities[example.label] -= 1.0 - config.label_smoothing;
            // Backpropagate into the hidden layer with the output weights before this step.
            hidden_gradient.iter_mut().for_each(|g| *g = 0.0);
            for (c, &gradient) in probabilities.iter().enumerate() {
                let out = &model.output[c * config.hidden..(c + 1) * config.hidden];
                for (g, &w) in hidden_gradient.iter_mut().zip(out) {
                    *g += gradient * w;
                }
            }
            for (c, &gradient) in probabilities.iter().enumerate() {
                model.bias[c] -= lr * gradient;
                let row = &mut model.dense[c * dim..(c + 1) * dim];
                for (w, &v) in row.iter_mut().zip(x) {
                    *w = *w * decay - lr * gradient * v;
                }
                let out = &mut model.output[c * config.hidden..(c + 1) * config.hidden];
                for (w, &h) in out.iter_mut().zip(&hidden) {
                    *w = *w * decay - lr * gradient * h;
                }
            }
            let hidden_lr = lr * config.hidden_learning_rate;
            for (u, (&g, &h)) in hidden_gradient.iter().zip(&hidden).enumerate() {
                if h <= 0.0 {
                    continue;
                }
                model.hidden_bias[u] -= hidden_lr * g;
                let row = &mut model.hidden_weights[u * dim..(u + 1) * dim];
                for (w, &v) in row.iter_mut().zip(x) {
                    *w = *w * decay - hidden_lr * g * v;
                }
            }
            for &(bucket, value) in &features.sparse {
                let row = &mut model.sparse[bucket as usize * classes..(bucket as usize + 1) * classes];
                for (w, &gradient) in row.iter_mut().zip(&probabilities) {
                    *w -= lr * gradient * value;
                }
            }
        }
        if epoch >= averaged_from {
            match average.as_mut() {
                None => average = Some(model.clone()),
                Some(sum) => add_weights(sum, &model),
            }
        }
    }
    let mut average = average.unwrap_or(model);
    scale_weights(&mut average, 1.0 / config.averaged_epochs.clamp(1, config.epochs) as f32);
    average
}

fn weights_mut(model: &mut Classifier) -> [&mut Vec<f32>; 6] {
    [
        &mut model.bias,
        &mut model.dense,
        &mut model.hidden_weights,
        &mut model.hidden_bias,
        &mut model.output,
        &mut model.sparse,
    ]
}

fn weights(model: &Classifier) -> [&Vec<f32>; 6] {
    [&model.bias, &model.dense, &model.hidden_weights, &model.hidden_bias, &model.output, &model.sparse]
}

fn add_weights(sum: &mut Classifier, model: &Classifier) {
    for (s, m) in weights_mut(sum).into_iter().zip(weights(model)) {
        s.iter_mut().zip(m.iter()).for_each(|(a, b)| *a += b);
    }
}

fn scale_weights(model: &mut Classifier, factor: f32) {
    for w in weights_mut(model) {
        w.iter_mut().for_each(|v| *v *= factor);
    }
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

/// One scored request for calibration: the engine's probabilities (before thresholds) and
/// the request's class.
pub type Scored = (Vec<f32>, usize);

/// The top class, its probability and the runner-up's, after the out-of-scope logit is
/// lowered by `oos_offset` (the softmax of the shifted log-probabilities).
fn shifted_top(probabilities: &[f32], oos: usize, oos_offset: f32) -> (usize, f32, f32) {
    let scale = libm::expf(-oos_offset);
    let mut sum = 0.0f32;
    let (mut best, mut first, mut second) = (0usize, f32::NEG_INFINITY, f32::NEG_INFINITY);
    for (i, &p) in probabilities.iter().enumerate() {
        let v = if i == oos { p * scale } else { p };
        sum += v;
        if v > first {
            second = first;
            first = v;
            best = i;
        } else if v > second {
            second = v;
        }
    }
    if sum <= 0.0 || !sum.is_finite() {
        return (oos, 1.0, 0.0);
    }
    (best, first / sum, second.max(0.0) / sum)
}

/// Applies an out-of-scope offset and thresholds (the engine's decision rule, see
/// `rayos_intent::Engine::decide`) to scored requests.
pub fn rates(scored: &[Scored], oos: usize, oos_offset: f32, confidence: f32, margin: f32) -> Rates {
    let tops: Vec<(usize, f32, f32, usize)> = scored
        .iter()
        .map(|(p, label)| {
            let (best, p1, p2) = shifted_top(p, oos, oos_offset);
            (best, p1, p2, *label)
        })
        .collect();
    rates_of_tops(&tops, oos, confidence, margin)
}

fn rates_of_tops(tops: &[(usize, f32, f32, usize)], oos: usize, confidence: f32, margin: f32) -> Rates {
    let (mut in_total, mut in_right, mut in_rejected, mut oos_total, mut oos_right) = (0, 0, 0, 0, 0);
    for &(best, p1, p2, label) in tops {
        let predicted = if best != oos && (p1 < confidence || p1 - p2 < margin) { oos } else { best };
        if label == oos {
            oos_total += 1;
            oos_right += usize::from(predicted == oos);
        } else {
            in_total += 1;
            in_right += usize::from(predicted == label);
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

/// The calibrated out-of-scope decision and what it gives on the calibration data.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Calibration {
    /// Subtracted from the out-of-scope logit (stored in the model's bias).
    pub oos_offset: f32,
    /// An in-scope winner below this probability is rejected.
    pub confidence: f32,
    /// An in-scope winner less than this far ahead of the runner-up is rejected.
    pub margin: f32,
    /// Rates on the held-apart corpus requests (each scored by a model that never saw its line).
    pub held_apart: Rates,
    /// Rates on the tuning set.
    pub tuning: Rates,
}

/// Chooses the out-of-scope offset and thresholds on a fixed grid: among the points where
/// both `held_apart` and `tuning` reject at least `min_oos_recall` of their out-of-scope
/// requests, the one with the best in-scope accuracy over both sets together (ties: the
/// first in grid order). When no point qualifies, the one with the best worse-of-the-two
/// out-of-scope recall.
///
/// `held_apart` are corpus requests scored by models trained without their corpus line: they
/// look to the model as a new person's phrasing does, which the training requests
/// themselves never can. The tuning set keeps the decision honest on hand-written requests
/// and on CLINC's general questions.
pub fn calibrate(held_apart: &[Scored], tuning: &[Scored], oos: usize, min_oos_recall: f32) -> Calibration {
    let in_scope = |set: &[Scored]| set.iter().filter(|(_, l)| *l != oos).count() as f32;
    let (in_held, in_tuning) = (in_scope(held_apart), in_scope(tuning));
    let mut best: Option<(bool, f32, Calibration)> = None;
    for step in -8..=16 {
        let oos_offset = step as f32 * 0.25;
        let tops = |set: &[Scored]| -> Vec<(usize, f32, f32, usize)> {
            set.iter()
                .map(|(p, label)| {
                    let (b, p1, p2) = shifted_top(p, oos, oos_offset);
                    (b, p1, p2, *label)
                })
                .collect()
        };
        let (held_tops, tuning_tops) = (tops(held_apart), tops(tuning));
        for c in 0..=19 {
            for m in 0..=10 {
                let (confidence, margin) = (c as f32 * 0.05, m as f32 * 0.05);
                let h = rates_of_tops(&held_tops, oos, confidence, margin);
                let t = rates_of_tops(&tuning_tops, oos, confidence, margin);
                let feasible = h.oos_recall >= min_oos_recall && t.oos_recall >= min_oos_recall;
                let score = if feasible {
                    (h.in_scope_accuracy * in_held + t.in_scope_accuracy * in_tuning)
                        / (in_held + in_tuning).max(1.0)
                } else {
                    h.oos_recall.min(t.oos_recall)
                };
                let better = match &best {
                    None => true,
                    Some((was_feasible, was_score, _)) => {
                        (feasible && !was_feasible) || (feasible == *was_feasible && score > *was_score)
                    }
                };
                if better {
                    let point = Calibration { oos_offset, confidence, margin, held_apart: h, tuning: t };
                    best = Some((feasible, score, point));
                }
            }
        }
    }
    best.map(|(_, _, point)| point).unwrap_or_default()
}

/// The labels of the intent table, in order.
pub fn table_labels(table_text: &str) -> Result<Vec<String>, TrainError> {
    Ok(table::parse_table(table_text).map_err(TrainError::Table)?.into_iter().map(|r| r.label).collect())
}

/// Words seen at least this often in the training data may enter the typo lexicon.
pub const LEXICON_MIN_COUNT: usize = 3;
/// A word outside the embedding vocabulary that has a lexicon word it could be corrected to
/// (one edit; two for long words, when the two are mostly seen under the same intent) this
/// many times more frequent is taken for a typo of it and left out of the lexicon (the
/// corpus contains deliberate typos; as lexicon words they would never be corrected).
pub const TYPO_FREQUENCY_RATIO: usize = 10;

/// The typo lexicon of the training examples: words seen at least [`LEXICON_MIN_COUNT`]
/// times, minus the typos (see [`TYPO_FREQUENCY_RATIO`]), most frequent first (ties in byte
/// order).
pub fn build_lexicon(examples: &[Example], embeddings: &Embeddings) -> Lexicon {
    use std::collections::BTreeMap;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut labels: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
    for e in examples {
        let normalized = text::normalize(text::truncate(&e.text, text::MAX_INPUT_BYTES));
        for w in text::words(&normalized) {
            *counts.entry(w.to_string()).or_default() += 1;
            *labels.entry(w.to_string()).or_default().entry(e.intent.as_str()).or_default() += 1;
        }
    }
    // The label a word is most often seen under (ties: the first in byte order).
    let main_label = |w: &str| {
        labels.get(w).and_then(|by_label| {
            by_label.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(label, _)| *label)
        })
    };
    // A typo means what its word means: one edit away is close enough on its own, but two
    // edits apart ("verizon", "version") the two must also be seen in requests of the same
    // intent ("proccesor" and "processor" both in system.cpu).
    let count_of = |w: &str| counts.get(w).copied().unwrap_or(0);
    let typo_of = |w: &str, candidate: &str| {
        count_of(candidate) >= TYPO_FREQUENCY_RATIO * count_of(w)
            && (text::edit_distance_capped(w, candidate, 1) <= 1 || main_label(w) == main_label(candidate))
    };
    let mut frequent: Vec<(&String, usize)> =
        counts.iter().filter(|(_, &c)| c >= LEXICON_MIN_COUNT).map(|(w, &c)| (w, c)).collect();
    frequent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let all: Vec<&str> = frequent.iter().map(|(w, _)| w.as_str()).collect();
    let candidates = Lexicon::build(&all);
    let words: Vec<&str> = frequent
        .iter()
        .filter(|(w, _)| {
            // Real words, short words and plurals of lexicon words are never typos here.
            let plural = w.strip_suffix('s').is_some_and(|stem| count_of(stem) >= LEXICON_MIN_COUNT);
            embeddings.is_known_word(w)
                || w.chars().count() < rayos_intent::spell::MIN_CORRECTED_CHARS
                || w.bytes().any(|b| b.is_ascii_digit())
                || plural
                || !candidates.correction_candidates(w).any(|n| typo_of(w, n))
        })
        .map(|(w, _)| w.as_str())
        .collect();
    Lexicon::build(&words)
}
