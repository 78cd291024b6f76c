//! Features of a request: a pooled word-piece vector (dense) and hashed word, word-bigram and
//! character-trigram indicators (sparse).
//!
//! Training (the host tool) and inference (the engine) both call [`featurize`], so the two
//! cannot drift apart. The dense part carries meaning across synonyms and paraphrases the
//! corpus never showed; the character trigrams carry robustness to typos; words and bigrams
//! carry the exact phrasings.

use alloc::vec::Vec;

use crate::embeddings::Embeddings;

/// The features of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Unit-length mean of the word-piece vectors (all zero for a request without words).
    pub dense: Vec<f32>,
    /// `(bucket, value)` pairs, sorted by bucket, each bucket once.
    pub sparse: Vec<(u32, f32)>,
}

const KIND_WORD: u8 = 1;
const KIND_BIGRAM: u8 = 2;
const KIND_TRIGRAM: u8 = 3;

struct Fnv(u64);

impl Fnv {
    fn new(kind: u8) -> Fnv {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.byte(kind);
        h
    }
    fn byte(&mut self, b: u8) {
        self.0 ^= b as u64;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }
    fn bucket(&self, mask: u32) -> u32 {
        // Fold the high bits in: FNV's low bits alone mix poorly for short keys.
        ((self.0 ^ (self.0 >> 29) ^ (self.0 >> 47)) as u32) & mask
    }
}

fn is_number_word(w: &str) -> bool {
    matches!(
        w,
        "one"
            | "two"
            | "three"
            | "four"
            | "five"
            | "six"
            | "seven"
            | "eight"
            | "nine"
            | "ten"
            | "eleven"
            | "twelve"
            | "fifteen"
            | "twenty"
            | "thirty"
            | "forty"
            | "fifty"
            | "sixty"
            | "ninety"
            | "hundred"
    )
}

/// The words features are built from: numbers become `#`, and a token such as `30s` or
/// `8gb` becomes `#` plus its unit, so that "30 s" and "30s" read the same.
fn feature_words<'t>(words: &[&'t str], out: &mut Vec<&'t str>) {
    for &w in words {
        let digit_end = w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len());
        if digit_end > 0 {
            out.push("#");
            if digit_end < w.len() {
                out.push(&w[digit_end..]);
            }
        } else if is_number_word(w) {
            out.push("#");
        } else {
            out.push(w);
        }
    }
}

/// Computes the features of a request's words (normalised, typo-corrected; see
/// [`crate::analyze`]). `bucket_count` must be a power of two. `scratch` is reused between
/// calls to spare allocations.
pub fn featurize(
    embeddings: &Embeddings,
    request_words: &[&str],
    bucket_count: u32,
    scratch: &mut Vec<u32>,
    out: &mut Features,
) {
    let mask = bucket_count.wrapping_sub(1);
    out.dense.clear();
    out.dense.resize(embeddings.dim(), 0.0);
    scratch.clear();
    for w in request_words {
        embeddings.word_pieces(w, scratch);
    }
    embeddings.pool(scratch, &mut out.dense);

    let mut words: Vec<&str> = Vec::with_capacity(request_words.len() + 4);
    feature_words(request_words, &mut words);
    scratch.clear();
    let mut chars: Vec<char> = Vec::with_capacity(32);
    for (i, w) in words.iter().enumerate() {
        let mut h = Fnv::new(KIND_WORD);
        h.bytes(w.as_bytes());
        scratch.push(h.bucket(mask));
        if let Some(next) = words.get(i + 1) {
            let mut h = Fnv::new(KIND_BIGRAM);
            h.bytes(w.as_bytes());
            h.byte(b' ');
            h.bytes(next.as_bytes());
            scratch.push(h.bucket(mask));
        }
        if *w == "#" {
            continue;
        }
        // Character trigrams of "<word>", over chars so that any script works.
        chars.clear();
        chars.push('<');
        chars.extend(w.chars());
        chars.push('>');
        for tri in chars.windows(3) {
            let mut h = Fnv::new(KIND_TRIGRAM);
            for ch in tri {
                let mut buf = [0u8; 4];
                h.bytes(ch.encode_utf8(&mut buf).as_bytes());
            }
            scratch.push(h.bucket(mask));
        }
    }
    scratch.sort_unstable();
    out.sparse.clear();
    let value = if scratch.is_empty() { 0.0 } else { 1.0 / libm::sqrtf(scratch.len() as f32) };
    for &bucket in scratch.iter() {
        match out.sparse.last_mut() {
            Some((b, v)) if *b == bucket => *v += value,
            _ => out.sparse.push((bucket, value)),
        }
    }
}
