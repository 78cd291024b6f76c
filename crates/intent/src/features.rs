//! Features of a request: pooled word-piece vectors (dense) and hashed word, word-bigram,
//! first-word, last-word and character-trigram indicators (sparse).
//!
//! Training (the host tool) and inference (the engine) both call [`featurize`], so the two
//! cannot drift apart. The dense part carries meaning across synonyms and paraphrases the
//! corpus never showed; the character trigrams carry robustness to typos; words and bigrams
//! carry the exact phrasings, the first and last word how a question differs from a command
//! ("is the network on" against "network on"); the unfamiliar-word block and counts (see
//! [`crate::known`]) carry what a request talks about that RayOS's requests never do. Two
//! indicators read word order that a bag of words loses: the direction a request orders or
//! asks about ([`crate::polarity`]), and the words a negation sets aside ("not the linux vm").

use alloc::vec::Vec;

use crate::embeddings::Embeddings;
use crate::known::{is_neutral, Familiarity};
use crate::polarity;

/// Which poolings of the word vectors make up the dense features, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pooling {
    /// The unit-length mean of all word-piece vectors: what the request is about overall.
    pub mean: bool,
    /// The element-wise maximum of the per-word vectors (each the unit-length mean of the
    /// word's pieces): keeps the strongest trace of every word, so one telling word ("tv",
    /// "carpet") is not averaged away by the others.
    pub max: bool,
    /// The unit-length mean of the word-piece vectors of the unfamiliar words only (zero
    /// when every word is familiar), plus sparse indicators of how many words are
    /// unfamiliar: what the request talks about that in-scope requests never do.
    pub unfamiliar: bool,
    /// Not a pooling: the scale of the sparse indicators. Each of the `n` indicators of a
    /// request weighs `1 / n^(1/4)` when set, `1 / sqrt(n)` (unit length) when not. With
    /// unit length, a long request (a story around the few words that say what it wants, and
    /// five character trigrams per word) weighs each of its words far less than a terse one,
    /// and the pooled vectors, whose scale does not depend on length, decide alone: that
    /// rejected long in-scope requests (cross-validation, round 4).
    pub fourth_root_sparse: bool,
    /// Not a pooling: a full-weight indicator of the direction the request turns something
    /// (see [`crate::polarity`]), which word order decides and a bag of words cannot see.
    pub polarity: bool,
    /// With `polarity`: a direction that a request describes or asks about ("is the network
    /// on") is a separate indicator from one it orders ("turn the network on"); see
    /// [`crate::polarity::directions`].
    pub states: bool,
    /// Words a negation sets aside ("not the linux vm", "rather than the whole os": the two
    /// words after the negation, past articles) are indicators of their own as well, so
    /// that "restart rayos, not the linux vm" does not count "vm" as the thing to restart.
    pub negated_words: bool,
    /// A word bigram across an article or possessive ([`crate::text::is_article`]) is an
    /// indicator too, the same as
    /// the two words side by side: "restart the vm", "restart my vm" and "restart vm" share
    /// "restart vm".
    pub across_articles: bool,
}

impl Pooling {
    /// The flags as stored in the weights: bit 0 mean, bit 1 max, bit 2 unfamiliar, bit 3
    /// the fourth-root scale of the sparse indicators, bit 4 the polarity indicator, bit 5
    /// states apart from orders in it, bit 6 the negated words, bit 7 bigrams across articles.
    pub fn bits(self) -> u32 {
        u32::from(self.mean)
            | u32::from(self.max) << 1
            | u32::from(self.unfamiliar) << 2
            | u32::from(self.fourth_root_sparse) << 3
            | u32::from(self.polarity) << 4
            | u32::from(self.states) << 5
            | u32::from(self.negated_words) << 6
            | u32::from(self.across_articles) << 7
    }

    /// Parses stored flags; `None` for unknown bits or no pooling at all.
    pub fn from_bits(bits: u32) -> Option<Pooling> {
        if bits & !255 != 0 || bits & 7 == 0 {
            return None;
        }
        Some(Pooling {
            mean: bits & 1 != 0,
            max: bits & 2 != 0,
            unfamiliar: bits & 4 != 0,
            fourth_root_sparse: bits & 8 != 0,
            polarity: bits & 16 != 0,
            states: bits & 32 != 0,
            negated_words: bits & 64 != 0,
            across_articles: bits & 128 != 0,
        })
    }

    /// Number of pooled blocks (the dense dimension is this times the embedding dimension).
    pub fn blocks(self) -> usize {
        usize::from(self.mean) + usize::from(self.max) + usize::from(self.unfamiliar)
    }
}

/// The features of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// The pooled word vectors, one block per enabled [`Pooling`] (all zero for a request
    /// without words).
    pub dense: Vec<f32>,
    /// `(bucket, value)` pairs, sorted by bucket, each bucket once.
    pub sparse: Vec<(u32, f32)>,
}

const KIND_WORD: u8 = 1;
const KIND_BIGRAM: u8 = 2;
const KIND_TRIGRAM: u8 = 3;
const KIND_UNFAMILIAR_COUNT: u8 = 4;
const KIND_UNFAMILIAR_SHARE: u8 = 5;
const KIND_EDGE: u8 = 6;
const KIND_POLARITY: u8 = 7;
const KIND_NEGATED: u8 = 8;

/// Where the words a negation sets aside start and end: after "not", "don't", "doesn't" and
/// the like, "never", "no", "nor", "without", "except", "rather than" and "instead of", the
/// next two words past articles, "my", "this", "that", "just", "only" and "even" ("not the
/// linux vm", "don't just check it"), up to "and", "but", "then" or "so". Not after "never
/// mind", "doesn't matter" or "why don't you", which set nothing aside.
fn negated_scope(words: &[&str], i: usize) -> Option<core::ops::Range<usize>> {
    let sets_aside = || !matches!(words.get(i + 1), Some(&"mind") | Some(&"matter"));
    let cue = match words[i] {
        "not" | "dont" | "doesnt" | "didnt" | "isnt" | "arent" | "wont" | "shouldnt" | "never" | "no"
        | "without" | "except" | "nor" => sets_aside(),
        "t" => {
            i > 0
                && one_of!(words[i - 1], "don" | "doesn" | "didn" | "isn" | "aren" | "won" | "shouldn")
                && !(i > 1 && words[i - 2] == "why")
                && sets_aside()
        }
        "than" => i > 0 && words[i - 1] == "rather",
        "of" => i > 0 && words[i - 1] == "instead",
        _ => false,
    };
    if !cue {
        return None;
    }
    let mut start = i + 1;
    while start < words.len()
        && one_of!(words[start], "the" | "a" | "an" | "just" | "only" | "even" | "my" | "this" | "that")
    {
        start += 1;
    }
    let mut end = start;
    while end < words.len() && end < start + 2 && !one_of!(words[end], "and" | "but" | "then" | "so" | "just")
    {
        end += 1;
    }
    (end > start).then_some(start..end)
}

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
    one_of!(
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
/// [`crate::analyze`]). `bucket_count` must be a power of two. `familiar` decides which words
/// are familiar (used only with [`Pooling::unfamiliar`]). `asks` says whether the request
/// ends as a question (see [`crate::text::ends_as_question`]; used only with
/// [`Pooling::states`]). `scratch` is reused between calls to spare allocations.
#[allow(clippy::too_many_arguments)]
pub fn featurize(
    embeddings: &Embeddings,
    request_words: &[&str],
    asks: bool,
    bucket_count: u32,
    pooling: Pooling,
    familiar: &dyn Familiarity,
    scratch: &mut Vec<u32>,
    out: &mut Features,
) {
    let mask = bucket_count.wrapping_sub(1);
    let dim = embeddings.dim();
    out.dense.clear();
    out.dense.resize(dim * pooling.blocks(), 0.0);
    let mut at = 0;
    if pooling.mean {
        scratch.clear();
        for w in request_words {
            embeddings.word_pieces(w, scratch);
        }
        embeddings.pool(scratch, &mut out.dense[..dim]);
        at += dim;
    }
    if pooling.max && !request_words.is_empty() {
        let mut word_vector = alloc::vec![0.0; dim];
        let block = &mut out.dense[at..at + dim];
        block.iter_mut().for_each(|v| *v = f32::NEG_INFINITY);
        for w in request_words {
            scratch.clear();
            embeddings.word_pieces(w, scratch);
            embeddings.pool(scratch, &mut word_vector);
            for (m, &v) in block.iter_mut().zip(&word_vector) {
                *m = m.max(v);
            }
        }
        at += dim;
    }
    let mut unfamiliar = 0usize;
    let mut counted = 0usize;
    if pooling.unfamiliar {
        scratch.clear();
        for w in request_words.iter().filter(|w| !is_neutral(w)) {
            counted += 1;
            if !familiar.is_familiar(w) {
                unfamiliar += 1;
                embeddings.word_pieces(w, scratch);
            }
        }
        embeddings.pool(scratch, &mut out.dense[at..at + dim]);
    }

    let mut words: Vec<&str> = Vec::with_capacity(request_words.len() + 4);
    feature_words(request_words, &mut words);
    scratch.clear();
    let mut chars: Vec<char> = Vec::with_capacity(32);
    // How the request starts and ends ("is ...", "... on"): questions and commands differ
    // there more than anywhere.
    if let (Some(first), Some(last)) = (words.first(), words.last()) {
        let mut h = Fnv::new(KIND_EDGE);
        h.byte(b'^');
        h.bytes(first.as_bytes());
        scratch.push(h.bucket(mask));
        let mut h = Fnv::new(KIND_EDGE);
        h.bytes(last.as_bytes());
        h.byte(b'$');
        scratch.push(h.bucket(mask));
    }
    if pooling.negated_words {
        for i in 0..words.len() {
            for w in negated_scope(&words, i).map_or(&[][..], |r| &words[r]) {
                let mut h = Fnv::new(KIND_NEGATED);
                h.bytes(w.as_bytes());
                scratch.push(h.bucket(mask));
            }
        }
    }
    for (i, w) in words.iter().enumerate() {
        let mut h = Fnv::new(KIND_WORD);
        h.bytes(w.as_bytes());
        scratch.push(h.bucket(mask));
        let bigram = |second: &str| {
            let mut h = Fnv::new(KIND_BIGRAM);
            h.bytes(w.as_bytes());
            h.byte(b' ');
            h.bytes(second.as_bytes());
            h.bucket(mask)
        };
        if let Some(next) = words.get(i + 1) {
            scratch.push(bigram(next));
            // The pair across an article too: "restart the vm" also reads "restart vm".
            if pooling.across_articles && crate::text::is_article(next) {
                if let Some(after) = words.get(i + 2) {
                    scratch.push(bigram(after));
                }
            }
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
    let value = match scratch.len() {
        0 => 0.0,
        n if pooling.fourth_root_sparse => 1.0 / libm::sqrtf(libm::sqrtf(n as f32)),
        n => 1.0 / libm::sqrtf(n as f32),
    };
    for &bucket in scratch.iter() {
        match out.sparse.last_mut() {
            Some((b, v)) if *b == bucket => *v += value,
            _ => out.sparse.push((bucket, value)),
        }
    }
    // Full-weight indicators, so that a long request does not dilute them.
    let mut add_full_weight = |bucket: u32| match out.sparse.binary_search_by_key(&bucket, |&(b, _)| b) {
        Ok(at) => out.sparse[at].1 += 1.0,
        Err(at) => out.sparse.insert(at, (bucket, 1.0)),
    };
    if pooling.unfamiliar {
        // How many words are unfamiliar (0, 1, 2, 3 or more) and what share of the words
        // (none, up to a third, up to two thirds, more).
        let mut count = Fnv::new(KIND_UNFAMILIAR_COUNT);
        count.byte(unfamiliar.min(3) as u8);
        let share = if unfamiliar == 0 { 0 } else { 1 + (3 * unfamiliar).saturating_sub(1) / counted.max(1) };
        let mut part = Fnv::new(KIND_UNFAMILIAR_SHARE);
        part.byte(share.min(3) as u8);
        add_full_weight(count.bucket(mask));
        add_full_weight(part.bucket(mask));
    }
    if pooling.polarity {
        let mut indicate = |direction: Option<polarity::Polarity>, described: bool| {
            if let Some(direction) = direction {
                let mut h = Fnv::new(KIND_POLARITY);
                h.byte(
                    match direction {
                        polarity::Polarity::On => 0,
                        polarity::Polarity::Off => 1,
                    } + if described { 2 } else { 0 },
                );
                add_full_weight(h.bucket(mask));
            }
        };
        if pooling.states {
            let found = polarity::directions(request_words, asks);
            indicate(polarity::Directions::of(found.ordered), false);
            indicate(polarity::Directions::of(found.described), true);
        } else {
            indicate(polarity::polarity(request_words), false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::negated_scope;

    fn set_aside(text: &str) -> alloc::vec::Vec<&str> {
        let words: alloc::vec::Vec<&str> = text.split(' ').collect();
        (0..words.len())
            .filter_map(|i| negated_scope(&words, i))
            .flat_map(|r| words[r].iter().copied())
            .collect()
    }

    #[test]
    fn negations_set_aside_the_next_two_words() {
        assert_eq!(set_aside("not the linux vm restart rayos itself"), ["linux", "vm"]);
        assert_eq!(set_aside("reboot the host rather than the whole os"), ["whole", "os"]);
        assert_eq!(set_aside("don t just check it"), ["check", "it"]);
        assert_eq!(set_aside("restart all the system not only one vm"), ["one", "vm"]);
        assert_eq!(set_aside("no actions"), ["actions"]);
        assert_eq!(set_aside("use the disk instead of vda"), ["vda"]);
    }

    #[test]
    fn some_negations_set_nothing_aside() {
        assert!(set_aside("never mind the logs show memory").is_empty());
        assert!(set_aside("restart the vm").is_empty());
        assert!(set_aside("not").is_empty());
        assert!(set_aside("not and then reboot").is_empty());
        assert!(set_aside("it doesn t matter restart the vm").is_empty());
        assert!(set_aside("why don t you restart the vm").is_empty());
    }
}
