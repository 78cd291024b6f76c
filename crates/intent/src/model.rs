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

/// The classifier prepared for fast, integer-heavy inference: the dense, hidden, output and
/// sparse weights as int8 with one scale per row, activations as int16 with one scale per
/// vector, products summed exactly in 64-bit integers. Under CPU emulation (QEMU's TCG
/// emulates floating point in software) this is about ten times faster than the float path;
/// the result differs from it by the rounding of the int8/int16 steps only, and is the same
/// on every machine (integer sums are exact, the few float steps run in a fixed order). The
/// biases stay in the float [`Classifier`] it was made from, which
/// [`QuantizedClassifier::logits`] is given.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedClassifier {
    classes: usize,
    dim: usize,
    hidden: usize,
    dense: QuantizedRows,
    hidden_weights: QuantizedRows,
    output: QuantizedRows,
    sparse: SparseRows,
}

/// Int8 rows, two weights to a `u64`, multiplied by a vector quantized to int16 and packed
/// two to a `u64` as well, so that one 64-bit multiply yields the sum of two products:
/// a pair `(x0, x1)` is held as `x0 + x1·2³²` and a pair of weights `(w0, w1)` swapped, as
/// `w1 + w0·2³²`; their product is `x0·w1 + (x0·w0 + x1·w1)·2³² + x1·w0·2⁶⁴`, whose last term
/// vanishes in 64 bits. Summed over up to [`PAIRS_PER_SUM`] pairs, the low terms stay under
/// 2³¹ and the wanted sums within 32 bits, so the sum is the upper half, rounded: exact.
///
/// Why: under QEMU's TCG every guest load goes through the soft MMU and every SSE
/// instruction but the simplest is a helper call, so loads and instructions, not
/// multiplies, set the cost. With the SSE2 code LLVM made of a plain loop over int16 slices
/// (a 64-bit load per four values of each side, widened and multiplied in helper calls), one
/// request read 200 times in a row took 316-321 us a read in the kernel; with this (and
/// [`SparseRows`]), 225-237 us. On the host's hardware the SSE2 loop is a little faster
/// (12.6 against 15.4 us a read); RayOS is tuned for the emulator its figures come from.
#[derive(Debug, Clone, PartialEq)]
struct QuantizedRows {
    /// Words (pairs) per row.
    words: usize,
    scales: Vec<f32>,
    packed: Vec<u64>,
}

/// Pairs summed in one 64-bit sum: `|x·w| <= 32767·127 < 2²²`, so 256 pairs keep the low
/// terms under 2³¹ and the sums of pairs under 2³¹ in magnitude.
const PAIRS_PER_SUM: usize = 256;

/// `first + second·2³²`, in 64-bit two's complement.
fn pair(first: i64, second: i64) -> u64 {
    first.wrapping_add(second << 32) as u64
}

/// The sum `Σ x0·w0 + x1·w1` of a packed vector slice and a packed row slice.
fn pair_dot(x: &[u64], row: &[u64]) -> i64 {
    let mut total = 0i64;
    for (x, row) in x.chunks(PAIRS_PER_SUM).zip(row.chunks(PAIRS_PER_SUM)) {
        let mut sum = 0u64;
        // Four pairs a step in one chain of additions: written as a plain loop, LLVM
        // vectorizes the 64-bit multiplies into SSE2 sequences that cost a helper call each
        // under TCG (twice as slow a read).
        let (xs, rows) = (x.chunks_exact(4), row.chunks_exact(4));
        for (&v, &w) in xs.remainder().iter().zip(rows.remainder()) {
            sum = sum.wrapping_add(v.wrapping_mul(w));
        }
        for (v, w) in xs.zip(rows) {
            sum = sum
                .wrapping_add(v[0].wrapping_mul(w[0]))
                .wrapping_add(v[1].wrapping_mul(w[1]))
                .wrapping_add(v[2].wrapping_mul(w[2]))
                .wrapping_add(v[3].wrapping_mul(w[3]));
        }
        total += (sum.wrapping_add(1 << 31) as i64) >> 32;
    }
    total
}

impl QuantizedRows {
    fn new(weights: &[f32], width: usize) -> QuantizedRows {
        let mut scales = Vec::new();
        let mut packed = Vec::with_capacity(weights.len() / 2 + 1);
        for row in weights.chunks_exact(width.max(1)) {
            let (scale, q) = quantize_row(row);
            scales.push(scale);
            packed.extend(
                q.chunks(2).map(|w| pair(i64::from(w.get(1).copied().unwrap_or(0)), i64::from(w[0]))),
            );
        }
        QuantizedRows { words: width.div_ceil(2), scales, packed }
    }

    /// Every row times the packed quantized vector `x` (scale `x_scale`), into `out`; the
    /// products are summed exactly. (Rows of no width hold no rows at all: the caller skips
    /// them.)
    ///
    /// Words of `x` past its last nonzero one are left out of every row's sum: their products
    /// are zero, so the sums are the same, and the dense vector often ends in a whole block
    /// of zeros (the pooling of unfamiliar words, when every word is familiar): a third of
    /// the hidden layer's work.
    fn times(&self, x: &[u64], x_scale: f32, out: &mut [f32]) {
        let x = &x[..self.words.min(x.len())];
        let x = &x[..x.iter().rposition(|&v| v != 0).map_or(0, |last| last + 1)];
        for ((o, row), &scale) in
            out.iter_mut().zip(self.packed.chunks_exact(self.words.max(1))).zip(&self.scales)
        {
            *o = pair_dot(x, &row[..x.len()]) as f32 * (scale * x_scale);
        }
    }
}

/// The sparse rows as int8, eight classes to a `u64`, with one scale per bucket: what the
/// weights file stores. [`SparseRows::add`] sums them in integers: each feature's value times
/// its bucket's scale becomes one fixed-point factor (31 bits, relative to the largest factor
/// of the request), and eight classes at a time are summed exactly in 64-bit registers, one
/// load per eight weights. The float rows cost a load and two emulated float operations per
/// weight under TCG.
#[derive(Debug, Clone, PartialEq)]
struct SparseRows {
    /// Words per bucket.
    words: usize,
    scales: Vec<f32>,
    packed: Vec<u64>,
}

impl SparseRows {
    fn new(sparse: &[f32], classes: usize) -> SparseRows {
        let words = classes.div_ceil(8);
        let mut scales = Vec::with_capacity(sparse.len() / classes.max(1));
        let mut packed = Vec::with_capacity(scales.capacity() * words);
        for row in sparse.chunks_exact(classes.max(1)) {
            let (scale, q) = quantize_row(row);
            scales.push(scale);
            for chunk in q.chunks(8) {
                let mut word = 0u64;
                for (i, &v) in chunk.iter().enumerate() {
                    word |= u64::from(v as u8) << (8 * i);
                }
                packed.push(word);
            }
        }
        SparseRows { words, scales, packed }
    }

    /// Adds, for each sparse feature, its row of weights times its value to `logits`.
    fn add(&self, features: &Features, logits: &mut [f32]) {
        const ONE: f32 = (1u64 << 31) as f32;
        let buckets = self.scales.len();
        let factor = |&(bucket, value): &(u32, f32)| {
            let bucket = bucket as usize;
            (bucket < buckets).then(|| (bucket * self.words, value * self.scales[bucket]))
        };
        let largest = features.sparse.iter().filter_map(factor).fold(0.0f32, |m, (_, f)| m.max(f.abs()));
        if largest == 0.0 || !largest.is_finite() {
            return;
        }
        let to_fixed = ONE / largest;
        let fixed: Vec<(usize, i64)> =
            features.sparse.iter().filter_map(factor).map(|(at, f)| (at, (f * to_fixed) as i64)).collect();
        let unit = largest / ONE;
        for word in 0..self.words {
            let mut sums = [0i64; 8];
            for &(at, f) in &fixed {
                let w = self.packed[at + word];
                for (i, sum) in sums.iter_mut().enumerate() {
                    *sum += i64::from((w >> (8 * i)) as u8 as i8) * f;
                }
            }
            for (logit, &sum) in logits.iter_mut().skip(8 * word).take(8).zip(&sums) {
                *logit += sum as f32 * unit;
            }
        }
    }
}

/// Quantizes `x` to int16 with one scale, `x ≈ q * scale` (truncated: one emulated float
/// operation less per value than rounding, under TCG), packed two to a word into `out` (see
/// [`QuantizedRows`]).
fn quantize_vector(x: &[f32], out: &mut Vec<u64>) -> f32 {
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    out.clear();
    if max == 0.0 || !max.is_finite() {
        out.resize(x.len().div_ceil(2), 0);
        return 0.0;
    }
    let inverse = 32767.0 / max;
    let q = |v: f32| i64::from((v * inverse) as i16);
    out.extend(x.chunks(2).map(|p| pair(q(p[0]), p.get(1).map_or(0, |&v| q(v)))));
    max / 32767.0
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
            sparse: SparseRows::new(&model.sparse, model.classes),
        }
    }

    /// Raw class scores of `features` into `logits` (length `classes`); `model` is the
    /// classifier this was made from.
    pub fn logits(&self, model: &Classifier, features: &Features, logits: &mut [f32]) {
        let mut x = Vec::with_capacity(self.dim.div_ceil(2));
        let dense = features.dense.get(..self.dim).unwrap_or(&features.dense);
        let x_scale = quantize_vector(dense, &mut x);
        x.resize(self.dim.div_ceil(2), 0);
        let mut hidden = vec![0.0f32; self.hidden];
        self.hidden_weights.times(&x, x_scale, &mut hidden);
        for (h, &b) in hidden.iter_mut().zip(&model.hidden_bias) {
            let z = b + *h;
            *h = if z > 0.0 { z } else { 0.0 };
        }
        let mut h = Vec::with_capacity(self.hidden.div_ceil(2));
        let h_scale = quantize_vector(&hidden, &mut h);
        let classes = self.classes.min(logits.len());
        self.dense.times(&x, x_scale, &mut logits[..classes]);
        let mut from_hidden = vec![0.0f32; classes];
        if self.hidden > 0 {
            self.output.times(&h, h_scale, &mut from_hidden);
        }
        for ((logit, &b), &o) in logits.iter_mut().zip(&model.bias).zip(&from_hidden) {
            *logit = b + *logit + o;
        }
        self.sparse.add(features, logits);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic sequence in [-1, 1).
    fn numbers(seed: u32) -> impl FnMut() -> f32 {
        let mut state = seed;
        move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        }
    }

    /// The pair products are exact at the extremes of both sides and over more pairs than
    /// one 64-bit sum holds.
    #[test]
    fn pair_products_are_exact() {
        for (x, w) in [(i16::MAX, 127i8), (i16::MIN + 1, 127), (i16::MAX, -127), (-1, -1), (0, 5)] {
            for n in [1, 2, 255, 256, 257, 1000] {
                let xs: Vec<i64> =
                    (0..2 * n).map(|i| if i % 3 == 0 { -i64::from(x) } else { i64::from(x) }).collect();
                let ws: Vec<i64> =
                    (0..2 * n).map(|i| if i % 5 == 0 { -i64::from(w) } else { i64::from(w) }).collect();
                let exact: i64 = xs.iter().zip(&ws).map(|(a, b)| a * b).sum();
                let packed_x: Vec<u64> = xs.chunks(2).map(|p| pair(p[0], p[1])).collect();
                let packed_w: Vec<u64> = ws.chunks(2).map(|p| pair(p[1], p[0])).collect();
                assert_eq!(pair_dot(&packed_x, &packed_w), exact, "x {x}, w {w}, {n} pairs");
            }
        }
    }

    /// Leaving out the zero words at the end of the vector changes no row's sum, wherever
    /// the zeros start (in the middle of a four-pair step, at a step, or not at all) and
    /// whatever the rows' width.
    #[test]
    fn trailing_zeros_of_the_vector_change_no_sum() {
        let mut next = numbers(7);
        for width in [1usize, 7, 8, 192, 600] {
            let weights: Vec<f32> = (0..5 * width).map(|_| next()).collect();
            let rows = QuantizedRows::new(&weights, width);
            for nonzero in [0, 1, width / 3, width / 2 + 1, width] {
                let dense: Vec<f32> = (0..width).map(|i| if i < nonzero { next() } else { 0.0 }).collect();
                let mut x = Vec::new();
                let scale = quantize_vector(&dense, &mut x);
                let mut out = vec![0.0f32; 5];
                rows.times(&x, scale, &mut out);
                let full: Vec<f32> = rows
                    .packed
                    .chunks_exact(rows.words)
                    .zip(&rows.scales)
                    .map(|(row, &s)| pair_dot(&x, row) as f32 * (s * scale))
                    .collect();
                assert_eq!(out, full, "width {width}, {nonzero} nonzero");
            }
        }
    }

    /// The integer path agrees with the float path up to its rounding, on shapes that are
    /// not multiples of the four lanes or the two rows it works with, with sparse features
    /// that repeat a bucket's value, and with one outside the table (ignored by both).
    #[test]
    fn integer_logits_follow_the_float_logits() {
        for (classes, dim, hidden) in [(5, 13, 7), (34, 194, 128), (3, 4, 0), (2, 1, 1)] {
            let mut next = numbers(classes as u32 * 31 + dim as u32);
            let pooling = Pooling::from_bits(1).unwrap();
            let mut model = Classifier::new(classes, dim, 16, hidden, pooling, &mut next);
            for w in model.bias.iter_mut().chain(&mut model.dense).chain(&mut model.output) {
                *w = next();
            }
            for w in model.hidden_bias.iter_mut().chain(&mut model.sparse) {
                *w = next() * 0.5;
            }
            let features = Features {
                dense: (0..dim).map(|_| next()).collect(),
                sparse: vec![(0, 0.25), (3, 0.25), (7, 0.5), (15, 1.0), (99, 1.0)],
            };
            let mut hidden_values = vec![0.0; hidden];
            model.hidden_activations(&features, &mut hidden_values);
            let mut float = vec![0.0; classes];
            model.logits_with(&features, &hidden_values, &mut float);
            let mut integer = vec![0.0; classes];
            QuantizedClassifier::new(&model).logits(&model, &features, &mut integer);
            let largest = float.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (c, (f, i)) in float.iter().zip(&integer).enumerate() {
                assert!(
                    (f - i).abs() < 0.02 * largest,
                    "{classes}x{dim}x{hidden} class {c}: float {f}, integer {i}"
                );
            }
        }
    }

    #[test]
    fn a_request_without_features_scores_the_biases() {
        let pooling = Pooling::from_bits(1).unwrap();
        let mut model = Classifier::new(3, 6, 8, 5, pooling, numbers(7));
        model.bias = vec![0.5, -1.0, 2.0];
        let features = Features { dense: vec![0.0; 6], sparse: Vec::new() };
        let mut logits = vec![0.0; 3];
        QuantizedClassifier::new(&model).logits(&model, &features, &mut logits);
        assert_eq!(logits, model.bias);
    }
}
