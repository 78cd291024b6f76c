//! Typo correction against the corpus lexicon.
//!
//! A word the lexicon does not know, of four or more characters, is replaced by the closest
//! lexicon word: at one edit (insertion, deletion, substitution or swap of neighbours), or,
//! for words of [`TWO_EDIT_MIN_CHARS`] or more, at two edits; among equally close words the
//! most frequent wins. Character trigrams already absorb many typos, but not a swap in a
//! short word ("hlep" shares no trigram with "help"); this step does. The engine leaves real
//! words alone (whole tokens of the embedding vocabulary, see [`crate::analyze`]): "pasta"
//! is not a typo of "paste", and "correcting" it would only invent a meaning.
//!
//! Lookup uses single deletions (the SymSpell idea): two words at one edit share a
//! single-deletion variant or one is a deletion of the other, so a query only hashes its own
//! deletions and binary-searches a table precomputed at training time: no work linear in
//! the lexicon. Two words that share a single-deletion variant are at most two edits apart,
//! which finds the common two-edit slips ("proccesor") without a second deletion level.
//! Words too short to be corrections are indexed by their own hash only, so that
//! [`Lexicon::word`] finds every lexicon word (the engine joins split words with it).
//!
//! Section `LEXI`: `u32 count`, `count` x (`u16 len`, bytes) words, most frequent first;
//! `u32 entries`, `entries` x (`u64 hash`, `u32 word`) sorted by hash then word.

use alloc::string::String;
use alloc::vec::Vec;

use crate::format::{fnv1a64, LoadError, Reader, Writer};
use crate::text::edit_distance_capped;

const LEXI: [u8; 4] = *b"LEXI";
/// Shorter words are left alone: at one edit they collide with too many others.
pub const MIN_CORRECTED_CHARS: usize = 4;
/// Words this long may be corrected at two edits: long words have few neighbours.
pub const TWO_EDIT_MIN_CHARS: usize = 7;

/// The corpus lexicon with its deletion index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lexicon {
    words: Vec<String>,
    index: Vec<(u64, u32)>,
}

fn deletions(word: &str, mut each: impl FnMut(u64)) {
    each(fnv1a64(word.as_bytes()));
    let mut buf = String::with_capacity(word.len());
    for (at, c) in word.char_indices() {
        buf.clear();
        buf.push_str(&word[..at]);
        buf.push_str(&word[at + c.len_utf8()..]);
        each(fnv1a64(buf.as_bytes()));
    }
}

impl Lexicon {
    /// The section tag.
    pub const TAG: [u8; 4] = LEXI;

    /// Builds from words ordered most frequent first (duplicates after the first are ignored).
    pub fn build(words_by_frequency: &[&str]) -> Lexicon {
        let mut words: Vec<String> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for w in words_by_frequency {
            if !seen.contains(w) {
                seen.push(w);
                words.push(String::from(*w));
            }
        }
        let mut index = Vec::new();
        for (id, w) in words.iter().enumerate() {
            if w.chars().count() + 1 >= MIN_CORRECTED_CHARS {
                deletions(w, |h| index.push((h, id as u32)));
            } else {
                // Too short to be a correction, but still found by `word` and `contains`.
                index.push((fnv1a64(w.as_bytes()), id as u32));
            }
        }
        index.sort_unstable();
        index.dedup();
        Lexicon { words, index }
    }

    /// Parses the section body.
    pub fn from_section(body: &[u8]) -> Result<Lexicon, LoadError> {
        let mut r = Reader::new(LEXI, body);
        let count = r.u32()? as usize;
        if count > 1 << 20 {
            return Err(LoadError::Malformed { tag: LEXI, what: "word count out of range" });
        }
        let mut words = Vec::with_capacity(count);
        for _ in 0..count {
            let len = r.u16()? as usize;
            let word = core::str::from_utf8(r.take(len)?)
                .map_err(|_| LoadError::Malformed { tag: LEXI, what: "a word is not UTF-8" })?;
            words.push(String::from(word));
        }
        let entries = r.u32()? as usize;
        if entries > 1 << 24 {
            return Err(LoadError::Malformed { tag: LEXI, what: "index size out of range" });
        }
        let mut index = Vec::with_capacity(entries);
        for _ in 0..entries {
            let low = r.u32()? as u64;
            let high = r.u32()? as u64;
            let word = r.u32()?;
            if word as usize >= count {
                return Err(LoadError::Malformed {
                    tag: LEXI,
                    what: "index names a word that does not exist",
                });
            }
            index.push((low | high << 32, word));
        }
        r.finish()?;
        if index.windows(2).any(|p| p[0] > p[1]) {
            return Err(LoadError::Malformed { tag: LEXI, what: "index is not sorted" });
        }
        Ok(Lexicon { words, index })
    }

    /// Encodes the section body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.words.len() as u32);
        for word in &self.words {
            w.u16(word.len() as u16);
            w.bytes.extend_from_slice(word.as_bytes());
        }
        w.u32(self.index.len() as u32);
        for &(hash, word) in &self.index {
            w.u32(hash as u32);
            w.u32((hash >> 32) as u32);
            w.u32(word);
        }
        w.bytes
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when empty (no correction happens).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// True when `word` is in the lexicon.
    pub fn contains(&self, word: &str) -> bool {
        self.rank(word).is_some()
    }

    /// The lexicon's copy of `word`, if it has one.
    pub fn word(&self, word: &str) -> Option<&str> {
        self.rank(word).map(|id| self.words[id as usize].as_str())
    }

    /// The frequency rank of `word` in the corpus (0: the most frequent), if it is a lexicon
    /// word.
    pub fn rank(&self, word: &str) -> Option<u32> {
        let h = fnv1a64(word.as_bytes());
        self.candidates(h).find(|&id| self.words[id as usize] == word)
    }

    fn candidates(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let start = self.index.partition_point(|&(h, _)| h < hash);
        self.index[start..].iter().take_while(move |&&(h, _)| h == hash).map(|&(_, id)| id)
    }

    /// The lexicon words at exactly one edit from `word` (any order, possibly repeated).
    pub fn neighbours<'s>(&'s self, word: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.neighbours_within(word, 1)
    }

    /// The other lexicon words [`Lexicon::correct`] could correct `word` to: at one edit, or
    /// at two for a word of [`TWO_EDIT_MIN_CHARS`] or more (any order, possibly repeated).
    pub fn correction_candidates<'s>(&'s self, word: &'s str) -> impl Iterator<Item = &'s str> + 's {
        let max_edits = if word.chars().count() >= TWO_EDIT_MIN_CHARS { 2 } else { 1 };
        self.neighbours_within(word, max_edits)
    }

    fn neighbours_within<'s>(
        &'s self,
        word: &'s str,
        max_edits: usize,
    ) -> impl Iterator<Item = &'s str> + 's {
        let mut hashes = Vec::new();
        deletions(word, |h| hashes.push(h));
        hashes
            .into_iter()
            .flat_map(move |h| self.candidates(h))
            .map(|id| self.words[id as usize].as_str())
            .filter(move |candidate| {
                *candidate != word
                    && (1..=max_edits).contains(&edit_distance_capped(word, candidate, max_edits))
            })
    }

    /// The correction of `word`: `None` when it is known, too short, or has no lexicon word
    /// close enough. The closest wins; among equally close, the most frequent (lowest id).
    pub fn correct(&self, word: &str) -> Option<&str> {
        let chars = word.chars().count();
        if chars < MIN_CORRECTED_CHARS || word.bytes().any(|b| b.is_ascii_digit()) || self.contains(word) {
            return None;
        }
        let max_edits = if chars >= TWO_EDIT_MIN_CHARS { 2 } else { 1 };
        let mut best: Option<(usize, u32)> = None;
        deletions(word, |h| {
            for id in self.candidates(h) {
                let distance = edit_distance_capped(word, &self.words[id as usize], max_edits);
                if distance <= max_edits && best.is_none_or(|b| (distance, id) < b) {
                    best = Some((distance, id));
                }
            }
        });
        best.map(|(_, id)| self.words[id as usize].as_str())
    }
}
