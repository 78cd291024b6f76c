//! Text normalisation and splitting into word and punctuation tokens.
//!
//! The rules follow the BERT "uncased" pre-tokenizer that the embedding vocabulary was built
//! with: accents stripped (NFD, combining marks dropped), lowercased, control characters
//! removed, whitespace-separated, every punctuation or symbol character a token of its own and
//! every CJK ideograph a token of its own. Words are runs of alphanumeric characters in any
//! script.

use alloc::string::String;
use alloc::vec::Vec;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// Inputs longer than this many bytes are cut (at a character boundary) before analysis:
/// a request to an operating system is a sentence, and the cut bounds the time of `read`.
pub const MAX_INPUT_BYTES: usize = 1024;

/// Cuts `text` to at most `max_bytes` bytes at a character boundary.
pub fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Lowercases, strips accents and replaces control characters by spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || c == '\u{fffd}' {
            out.push(' ');
            continue;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        decompose_canonical(c, |d| {
            if !is_combining_mark(d) {
                for l in d.to_lowercase() {
                    out.push(l);
                }
            }
        });
    }
    out
}

/// What kind of token a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of alphanumeric characters.
    Word,
    /// One punctuation or symbol character.
    Punct,
}

/// A token: a byte range of the normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Start byte in the normalised text.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// Word or punctuation.
    pub kind: TokenKind,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// Splits normalised text into tokens.
pub fn split(normalized: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word_start: Option<usize> = None;
    for (at, c) in normalized.char_indices() {
        let single = !c.is_alphanumeric() || is_cjk(c);
        if c.is_whitespace() || single {
            if let Some(start) = word_start.take() {
                tokens.push(Token { start, end: at, kind: TokenKind::Word });
            }
            if !c.is_whitespace() {
                let kind = if is_cjk(c) { TokenKind::Word } else { TokenKind::Punct };
                tokens.push(Token { start: at, end: at + c.len_utf8(), kind });
            }
        } else if word_start.is_none() {
            word_start = Some(at);
        }
    }
    if let Some(start) = word_start {
        tokens.push(Token { start, end: normalized.len(), kind: TokenKind::Word });
    }
    tokens
}

/// The words of `normalized` (punctuation dropped), as slices.
pub fn words(normalized: &str) -> Vec<&str> {
    split(normalized)
        .into_iter()
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| &normalized[t.start..t.end])
        .collect()
}

/// Edit distance with adjacent transpositions (optimal string alignment), capped: returns
/// `cap + 1` as soon as the distance exceeds `cap`. Typos are mostly one insertion, deletion,
/// substitution or swap of neighbours, which this counts as one edit each.
pub fn edit_distance_capped(a: &str, b: &str, cap: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let width = b.len() + 1;
    let mut before: Vec<usize> = alloc::vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current: Vec<usize> = alloc::vec![0; width];
    for i in 0..a.len() {
        current[0] = i + 1;
        let mut row_min = current[0];
        for j in 0..b.len() {
            let cost = usize::from(a[i] != b[j]);
            let mut best = (previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                best = best.min(before[j - 1] + 1);
            }
            current[j + 1] = best;
            row_min = row_min.min(best);
        }
        if row_min > cap {
            return cap + 1;
        }
        core::mem::swap(&mut before, &mut previous);
        core::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()].min(cap + 1)
}

/// Whether normalised text ends as a question: its last question mark (or full-width one)
/// or alphanumeric character is a question mark, so that closing quotes, brackets, "!" and
/// emoji after it do not count ("wifi on?!", "net up? 🙂").
pub fn ends_as_question(normalized: &str) -> bool {
    normalized
        .trim_end_matches(|c: char| !c.is_alphanumeric() && !matches!(c, '?' | '\u{ff1f}'))
        .ends_with(['?', '\u{ff1f}'])
}

/// Articles and the words that stand where one does ("my", "this"): what bigrams read
/// across ([`crate::features::Pooling::across_articles`]), and what shows an "on" after a
/// copula to be a preposition ("what is on the disk").
pub fn is_article(word: &str) -> bool {
    one_of!(word, "the" | "a" | "an" | "my" | "this" | "that" | "your" | "our" | "its")
}

/// Words that add politeness or urgency and nothing else, at the end of a request ("stop
/// devbox please", "network on now").
pub fn is_filler(word: &str) -> bool {
    one_of!(word, "please" | "pls" | "plz" | "now" | "thanks" | "thx" | "asap" | "again")
}
