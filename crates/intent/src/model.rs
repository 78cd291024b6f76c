//! The classifier: a linear layer over [`Features`] plus a small hidden layer over the dense
//! part, followed by a softmax, and the two out-of-scope thresholds calibrated by the
//! training tool. The training tool also calibrates how readily the out-of-scope class wins,
//! by an offset it folds into that class's bias before storing: the engine needs no extra
//! step for it, and the float and integer paths see the same bias.
//!
//! `logits = bias + dense_weights · x + output · relu(hidden · x + hidden_bias) + sparse rows`,
//! where `x` is the dense feature vector (pooled embeddings) and every sparse feature adds
//! `value` times its bucket's row. The linear part reads exact phrasings and keywords; the
//! hidden layer lets the decision depend on combinations in embedding space ("restart" with
//! a household object is not "restart" with a machine), which a linear layer over a mean
//! vector cannot express.
//!
//! Section `CLSF`: `u32 classes`, `u32 dim`, `u32 bucket_count`, `u32 hidden`,
//! `u32 pooling` (see [`crate::features::Pooling`]), `f32 confidence_threshold`,
//! `f32 margin_threshold`, then `f32` arrays: bias (`classes`), dense weights
//! (`classes * dim`, class-major), hidden weights (`hidden * dim`, unit-major), hidden bias
//! (`hidden`), output weights (`classes * hidden`, class-major), then the sparse rows as
//! int8: one `f32` scale per bucket (`bucket_count`) and `bucket_count * classes` `i8`
//! (bucket-major, so one feature touches one contiguous row; weight = scale * q).

use alloc::vec;
use alloc::vec::Vec;

use crate::features::{Features, Pooling};
use crate::format::{LoadError, Reader, Writer};

const CLSF: [u8; 4] = *b"CLSF";
/// Largest hidden layer a blob may ask for: bounds the work of one read.
pub const MAX_HIDDEN: usize = 1024;

/// Weights and thresholds of the classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    /// Number of intents (rows of the intent table, in order).
    pub classes: usize,
    /// Dense feature dimension (embedding dimension times the pooled blocks).
    pub dim: usize,
    /// Number of hash buckets (a power of two).
    pub bucket_count: u32,
    /// Hidden units (0: a purely linear model).
    pub hidden: usize,
    /// How the dense features are pooled.
    pub pooling: Pooling,
    /// An in-scope winner below this probability is rejected as out of scope.
    pub confidence_threshold: f32,
    /// An in-scope winner less than this far ahead of the runner-up is rejected.
    pub margin_threshold: f32,
    /// Per-class bias.
    pub bias: Vec<f32>,
    /// `classes x dim`, class-major.
    pub dense: Vec<f32>,
    /// `hidden x dim`, unit-major.
    pub hidden_weights: Vec<f32>,
    /// `hidden`.
    pub hidden_bias: Vec<f32>,
    /// `classes x hidden`, class-major.
    pub output: Vec<f32>,
    /// `bucket_count x classes`, bucket-major (full precision while training; stored as int8).
    pub sparse: Vec<f32>,
}

impl Classifier {
    /// A model whose weights are zero, except the hidden layer, which `init` fills (the
    /// starting point of training; hidden weights must not start equal or they stay equal).
    pub fn new(
        classes: usize,
        dim: usize,
        bucket_count: u32,
        hidden: usize,
        pooling: Pooling,
        mut init: impl FnMut() -> f32,
    ) -> Classifier {
        Classifier {
            classes,
            dim,
            bucket_count,
            hidden,
            pooling,
            confidence_threshold: 0.0,
            margin_threshold: 0.0,
            bias: vec![0.0; classes],
            dense: vec![0.0; classes * dim],
            hidden_weights: (0..hidden * dim).map(|_| init()).collect(),
            hidden_bias: vec![0.0; hidden],
            output: vec![0.0; classes * hidden],
            sparse: vec![0.0; bucket_count as usize * classes],
        }
    }

    /// The section tag.
    pub const TAG: [u8; 4] = CLSF;

    /// Parses the section body.
    pub fn from_section(body: &[u8]) -> Result<Classifier, LoadError> {
        let bad = |what| LoadError::Malformed { tag: CLSF, what };
        let mut r = Reader::new(CLSF, body);
        let classes = r.u32()? as usize;
        let dim = r.u32()? as usize;
        let bucket_count = r.u32()?;
        let hidden = r.u32()? as usize;
        let pooling = Pooling::from_bits(r.u32()?).ok_or(bad("unknown pooling flags"))?;
        if classes < 2 || classes > u16::MAX as usize || dim == 0 || dim > 4096 {
            return Err(bad("class count or dimension out of range"));
        }
        if !bucket_count.is_power_of_two() || bucket_count > 1 << 22 {
            return Err(bad("bucket count is not a power of two up to 2^22"));
        }
        if hidden > MAX_HIDDEN {
            return Err(bad("hidden layer larger than MAX_HIDDEN"));
        }
        let confidence_threshold = r.f32()?;
        let margin_threshold = r.f32()?;
        if !(0.0..=1.0).contains(&confidence_threshold) || !(0.0..=1.0).contains(&margin_threshold) {
            return Err(bad("a threshold is outside [0, 1]"));
        }
        let bias = r.f32s(classes)?;
        let dense = r.f32s(classes * dim)?;
        let hidden_weights = r.f32s(hidden * dim)?;
        let hidden_bias = r.f32s(hidden)?;
        let output = r.f32s(classes * hidden)?;
        let scales = r.f32s(bucket_count as usize)?;
        let quantized = r.take(bucket_count as usize * classes)?;
        r.finish()?;
        let all = [&bias, &dense, &hidden_weights, &hidden_bias, &output, &scales];
        if all.iter().any(|v| v.iter().any(|x| !x.is_finite())) {
            return Err(bad("a weight is not a finite number"));
        }
        let mut sparse = Vec::with_capacity(quantized.len());
        for (row, &scale) in quantized.chunks_exact(classes).zip(&scales) {
            sparse.extend(row.iter().map(|&q| scale * (q as i8) as f32));
        }
        Ok(Classifier {
            classes,
            dim,
            bucket_count,
            hidden,
            pooling,
            confidence_threshold,
            margin_threshold,
            bias,
            dense,
            hidden_weights,
            hidden_bias,
            output,
            sparse,
        })
    }

    /// Encodes the section body (sparse rows as int8 with one scale per bucket).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.classes as u32);
        w.u32(self.dim as u32);
        w.u32(self.bucket_count);
        w.u32(self.hidden as u32);
        w.u32(self.pooling.bits());
        w.f32(self.confidence_threshold);
        w.f32(self.margin_threshold);
        w.f32s(&self.bias);
        w.f32s(&self.dense);
        w.f32s(&self.hidden_weights);
        w.f32s(&self.hidden_bias);
        w.f32s(&self.output);
        let mut scales = Vec::with_capacity(self.bucket_count as usize);
        let mut quantized = Vec::with_capacity(self.sparse.len());
        for row in self.sparse.chunks_exact(self.classes) {
            let (scale, q) = quantize_row(row);
            scales.push(scale);
            quantized.extend(q.into_iter().map(|v| v as u8));
        }
        w.f32s(&scales);
        w.bytes.extend_from_slice(&quantized);
        w.bytes
    }

    /// Hidden activations of `features` into `hidden` (length `self.hidden`).
    pub fn hidden_activations(&self, features: &Features, hidden: &mut [f32]) {
        for (u, h) in hidden.iter_mut().enumerate() {
            let row = &self.hidden_weights[u * self.dim..(u + 1) * self.dim];
            let z = self.hidden_bias[u] + dot(row, &features.dense);
            *h = if z > 0.0 { z } else { 0.0 };
        }
    }

    /// Raw class scores of `features` into `logits` (length `classes`), given the hidden
    /// activations from [`Classifier::hidden_activations`].
    pub fn logits_with(&self, features: &Features, hidden: &[f32], logits: &mut [f32]) {
        logits.copy_from_slice(&self.bias);
        for (c, logit) in logits.iter_mut().enumerate() {
            let row = &self.dense[c * self.dim..(c + 1) * self.dim];
            *logit += dot(row, &features.dense);
            *logit += dot(&self.output[c * self.hidden..(c + 1) * self.hidden], hidden);
        }
        self.add_sparse(features, logits);
    }

    /// Adds, for each sparse feature, its row of weights times its value to `logits`.
    fn add_sparse(&self, features: &Features, logits: &mut [f32]) {
        for &(bucket, value) in &features.sparse {
            let start = bucket as usize * self.classes;
            if let Some(row) = self.sparse.get(start..start + self.classes) {
                for (logit, w) in logits.iter_mut().zip(row) {
                    *logit += w * value;
                }
            }
        }
    }
}

/// The classifier prepared for fast, integer-heavy inference: the dense, hidden and output
/// weights as int8 with one scale per row (held as int16), activations as int16 with one
/// scale per vector, products summed exactly in 32-bit integers. Under CPU emulation (QEMU's
/// TCG emulates floating point in software) this is about ten times faster than the float
/// path; the result differs from it by the rounding of the int8/int16 steps only, and is the
/// same on every machine (integer sums are exact, the few float steps run in a fixed order).
/// The biases and the sparse rows stay in the float [`Classifier`] it was made from, which
/// [`QuantizedClassifier::logits`] is given.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedClassifier {
    classes: usize,
    dim: usize,
    hidden: usize,
    dense: QuantizedRows,
    hidden_weights: QuantizedRows,
    output: QuantizedRows,
}

/// Int8 rows, held widened to int16 (the weights file keeps int8), so that a read does not
/// widen each weight again: under TCG, where every SSE instruction is a call, that widening
/// took about a quarter of a read (the dense part went from 220 to 139 us of a 333 us read).
#[derive(Debug, Clone, PartialEq)]
struct QuantizedRows {
    width: usize,
    scales: Vec<f32>,
    values: Vec<i16>,
}

impl QuantizedRows {
    fn new(weights: &[f32], width: usize) -> QuantizedRows {
        let mut scales = Vec::new();
        let mut values = Vec::with_capacity(weights.len());
        for row in weights.chunks_exact(width.max(1)) {
            let (scale, q) = quantize_row(row);
            scales.push(scale);
            values.extend(q.into_iter().map(i16::from));
        }
        QuantizedRows { width, scales, values }
    }

    /// Row `r` times the quantized vector `x` (scale `x_scale`).
    fn dot(&self, r: usize, x: &[i16], x_scale: f32) -> f32 {
        let row = &self.values[r * self.width..(r + 1) * self.width];
        let mut sum = 0i32;
        for (&w, &v) in row.iter().zip(x) {
            sum += i32::from(w) * i32::from(v);
        }
        sum as f32 * (self.scales[r] * x_scale)
    }
}

/// Quantizes `x` to int16 with one scale: `x ≈ q * scale`.
fn quantize_vector(x: &[f32], out: &mut Vec<i16>) -> f32 {
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    out.clear();
    if max == 0.0 || !max.is_finite() {
        out.resize(x.len(), 0);
        return 0.0;
    }
    let scale = max / 32767.0;
    let inverse = 32767.0 / max;
    out.extend(x.iter().map(|v| {
        let scaled = v * inverse;
        (if scaled >= 0.0 { scaled + 0.5 } else { scaled - 0.5 }) as i16
    }));
    scale
}

impl QuantizedClassifier {
    pub fn new(model: &Classifier) -> QuantizedClassifier {
        QuantizedClassifier {
            classes: model.classes,
            dim: model.dim,
            hidden: model.hidden,
            dense: QuantizedRows::new(&model.dense, model.dim),
            hidden_weights: QuantizedRows::new(&model.hidden_weights, model.dim),
            output: QuantizedRows::new(&model.output, model.hidden),
        }
    }

    /// Raw class scores of `features` into `logits` (length `classes`); `model` is the
    /// classifier this was made from.
    pub fn logits(&self, model: &Classifier, features: &Features, logits: &mut [f32]) {
        let mut x = Vec::with_capacity(self.dim);
        let dense = features.dense.get(..self.dim).unwrap_or(&features.dense);
        let x_scale = quantize_vector(dense, &mut x);
        x.resize(self.dim, 0);
        let mut hidden = vec![0.0f32; self.hidden];
        for (u, h) in hidden.iter_mut().enumerate() {
            let z = model.hidden_bias[u] + self.hidden_weights.dot(u, &x, x_scale);
            *h = if z > 0.0 { z } else { 0.0 };
        }
        let mut h = Vec::with_capacity(self.hidden);
        let h_scale = quantize_vector(&hidden, &mut h);
        for (c, logit) in logits.iter_mut().enumerate().take(self.classes) {
            *logit = model.bias[c] + self.dense.dot(c, &x, x_scale);
            if self.hidden > 0 {
                *logit += self.output.dot(c, &h, h_scale);
            }
        }
        model.add_sparse(features, logits);
    }
}

/// Dot product in a fixed order with eight running sums: the same bits on every machine
/// (no reassociation is left to the compiler), and independent sums that the compiler can
/// keep in vector registers instead of waiting on one long chain of additions.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let (rest_a, rest_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        if let (Ok(ca), Ok(cb)) = (<&[f32; 8]>::try_from(ca), <&[f32; 8]>::try_from(cb)) {
            for i in 0..8 {
                lanes[i] += ca[i] * cb[i];
            }
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in rest_a.iter().zip(rest_b) {
        tail += x * y;
    }
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7])) + tail
}

/// One int8 row and its scale: `scale = max|w| / 127`, `q = round(w / scale)`.
fn quantize_row(row: &[f32]) -> (f32, Vec<i8>) {
    let max = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    if max == 0.0 || !max.is_finite() {
        return (0.0, vec![0; row.len()]);
    }
    let scale = max / 127.0;
    let q = row.iter().map(|w| libm::roundf(w / scale).clamp(-127.0, 127.0) as i8).collect();
    (scale, q)
}

/// In-place softmax.
pub fn softmax(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in values.iter_mut() {
        *v = libm::expf(*v - max);
        sum += *v;
    }
    if sum > 0.0 && sum.is_finite() {
        values.iter_mut().for_each(|v| *v /= sum);
    }
}
