//! The in-scope vocabulary: the words RayOS's own requests are made of.
//!
//! A request that uses RayOS's verbs with words outside this set ("restart my lawnmower",
//! "arm the burglar alarm") is often about something else. The classifier gets, as features,
//! how many of the request's words are unfamiliar and what those words mean (their pooled
//! embedding; see [`crate::features`]), so it can learn which kinds of unfamiliar words make
//! a request out of scope and which are harmless ("cheers", "mate").
//!
//! The training tool decides familiarity differently for its own examples: a word is
//! familiar to a training example only if in-scope examples made from *other* corpus lines
//! use it. Otherwise every word of every in-scope training example would be familiar by
//! construction, and the classifier would learn that any unfamiliar word means out of scope,
//! which is false for new phrasings of in-scope requests.
//!
//! Section `KNOW`: `u32 count`, then `count` x `u64` FNV-1a hashes of the words, sorted and
//! distinct. A hash collision can only make an unfamiliar word look familiar.

use alloc::vec::Vec;

use crate::format::{fnv1a64, LoadError, Reader, Writer};

const KNOW: [u8; 4] = *b"KNOW";

/// Where a hash starts probing: FNV's high bits folded into the low ones, which alone mix
/// poorly for short keys.
fn slot_of(hash: u64) -> usize {
    (hash ^ (hash >> 29) ^ (hash >> 47)) as usize
}

/// Tells whether a word is familiar (part of in-scope requests).
pub trait Familiarity {
    /// True when `word` (normalised, typo-corrected) is familiar.
    fn is_familiar(&self, word: &str) -> bool;
}

/// Words a request's familiarity is never questioned for: numbers and single characters
/// carry no topic.
pub fn is_neutral(word: &str) -> bool {
    word.chars().count() < 2 || word.chars().all(|c| c.is_ascii_digit())
}

/// The familiar words, as sorted hashes, and the same hashes in an open-addressing table:
/// the engine asks about every word and every pair of neighbouring words of a request, and a
/// probe of the table costs a fraction of a binary search's cache misses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KnownWords {
    hashes: Vec<u64>,
    /// Power-of-two length, at most half full; 0 marks an empty slot (a word whose hash is
    /// 0 is found by binary search instead).
    slots: Vec<u64>,
}

impl KnownWords {
    /// The section tag.
    pub const TAG: [u8; 4] = KNOW;

    /// Builds the set from words (any order, repeats allowed).
    pub fn build<'w>(words: impl IntoIterator<Item = &'w str>) -> KnownWords {
        let mut hashes: Vec<u64> = words.into_iter().map(|w| fnv1a64(w.as_bytes())).collect();
        hashes.sort_unstable();
        hashes.dedup();
        KnownWords::from_sorted(hashes)
    }

    fn from_sorted(hashes: Vec<u64>) -> KnownWords {
        let mut slots =
            alloc::vec![0u64; if hashes.is_empty() { 0 } else { (hashes.len() * 2).next_power_of_two() }];
        let mask = slots.len().wrapping_sub(1);
        for &h in hashes.iter().filter(|&&h| h != 0) {
            let mut i = slot_of(h) & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = h;
        }
        KnownWords { hashes, slots }
    }

    fn contains(&self, hash: u64) -> bool {
        if hash == 0 || self.slots.is_empty() {
            return self.hashes.binary_search(&hash).is_ok();
        }
        let mask = self.slots.len() - 1;
        let mut i = slot_of(hash) & mask;
        loop {
            match self.slots[i] {
                0 => return false,
                h if h == hash => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Parses the section body.
    pub fn from_section(body: &[u8]) -> Result<KnownWords, LoadError> {
        let mut r = Reader::new(KNOW, body);
        let count = r.u32()? as usize;
        if count > 1 << 20 {
            return Err(LoadError::Malformed { tag: KNOW, what: "word count out of range" });
        }
        let mut hashes = Vec::with_capacity(count);
        for _ in 0..count {
            let low = r.u32()? as u64;
            let high = r.u32()? as u64;
            hashes.push(low | high << 32);
        }
        r.finish()?;
        if hashes.windows(2).any(|p| p[0] >= p[1]) {
            return Err(LoadError::Malformed { tag: KNOW, what: "hashes are not sorted and distinct" });
        }
        Ok(KnownWords::from_sorted(hashes))
    }

    /// Encodes the section body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.hashes.len() as u32);
        for &h in &self.hashes {
            w.u32(h as u32);
            w.u32((h >> 32) as u32);
        }
        w.bytes
    }

    /// True when the word made of `first` then `second` is familiar, without building it
    /// (the engine asks this of every pair of neighbouring words; see
    /// [`crate::join_split_words`]).
    pub fn is_familiar_pair(&self, first: &str, second: &str) -> bool {
        self.contains(crate::format::fnv1a64_of(first.bytes().chain(second.bytes())))
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl Familiarity for KnownWords {
    fn is_familiar(&self, word: &str) -> bool {
        is_neutral(word) || self.contains(fnv1a64(word.as_bytes()))
    }
}
