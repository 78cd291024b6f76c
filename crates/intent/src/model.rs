//! The classifier: one linear layer over [`Features`] followed by a softmax, plus the two
//! out-of-scope thresholds calibrated by the training tool.
//!
//! Section `LINR`: `u32 classes`, `u32 dim`, `u32 bucket_count`, `f32 confidence_threshold`,
//! `f32 margin_threshold`, `classes` x `f32` bias, `classes * dim` x `f32` dense weights
//! (class-major), `bucket_count * classes` x `f32` sparse weights (bucket-major, so one
//! feature touches one contiguous row).

use alloc::vec;
use alloc::vec::Vec;

use crate::features::Features;
use crate::format::{LoadError, Reader, Writer};

const LINR: [u8; 4] = *b"LINR";

/// Weights and thresholds of the linear classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// Number of intents (rows of the intent table, in order).
    pub classes: usize,
    /// Dense feature dimension (the embedding dimension).
    pub dim: usize,
    /// Number of hash buckets (a power of two).
    pub bucket_count: u32,
    /// An in-scope winner below this probability is rejected as out of scope.
    pub confidence_threshold: f32,
    /// An in-scope winner less than this far ahead of the runner-up is rejected.
    pub margin_threshold: f32,
    /// Per-class bias.
    pub bias: Vec<f32>,
    /// `classes x dim`, class-major.
    pub dense: Vec<f32>,
    /// `bucket_count x classes`, bucket-major.
    pub sparse: Vec<f32>,
}

impl LinearModel {
    /// A model of zeros (the starting point of training).
    pub fn zeros(classes: usize, dim: usize, bucket_count: u32) -> LinearModel {
        LinearModel {
            classes,
            dim,
            bucket_count,
            confidence_threshold: 0.0,
            margin_threshold: 0.0,
            bias: vec![0.0; classes],
            dense: vec![0.0; classes * dim],
            sparse: vec![0.0; bucket_count as usize * classes],
        }
    }

    /// The section tag.
    pub const TAG: [u8; 4] = LINR;

    /// Parses the section body.
    pub fn from_section(body: &[u8]) -> Result<LinearModel, LoadError> {
        let mut r = Reader::new(LINR, body);
        let classes = r.u32()? as usize;
        let dim = r.u32()? as usize;
        let bucket_count = r.u32()?;
        if classes < 2 || classes > u16::MAX as usize || dim == 0 || dim > 1024 {
            return Err(LoadError::Malformed { tag: LINR, what: "class count or dimension out of range" });
        }
        if !bucket_count.is_power_of_two() || bucket_count > 1 << 22 {
            return Err(LoadError::Malformed {
                tag: LINR,
                what: "bucket count is not a power of two up to 2^22",
            });
        }
        let confidence_threshold = r.f32()?;
        let margin_threshold = r.f32()?;
        if !(0.0..=1.0).contains(&confidence_threshold) || !(0.0..=1.0).contains(&margin_threshold) {
            return Err(LoadError::Malformed { tag: LINR, what: "a threshold is outside [0, 1]" });
        }
        let bias = r.f32s(classes)?;
        let dense = r.f32s(classes * dim)?;
        let sparse = r.f32s(bucket_count as usize * classes)?;
        r.finish()?;
        Ok(LinearModel {
            classes,
            dim,
            bucket_count,
            confidence_threshold,
            margin_threshold,
            bias,
            dense,
            sparse,
        })
    }

    /// Encodes the section body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.classes as u32);
        w.u32(self.dim as u32);
        w.u32(self.bucket_count);
        w.f32(self.confidence_threshold);
        w.f32(self.margin_threshold);
        w.f32s(&self.bias);
        w.f32s(&self.dense);
        w.f32s(&self.sparse);
        w.bytes
    }

    /// Raw class scores of `features` into `logits` (length `classes`).
    pub fn logits(&self, features: &Features, logits: &mut [f32]) {
        logits.copy_from_slice(&self.bias);
        for (c, logit) in logits.iter_mut().enumerate() {
            let row = &self.dense[c * self.dim..(c + 1) * self.dim];
            *logit += row.iter().zip(&features.dense).map(|(w, x)| w * x).sum::<f32>();
        }
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
