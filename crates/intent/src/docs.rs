//! Retrieval over the RayOS manual: passages ranked by BM25 and by embedding cosine, the two
//! rankings fused by reciprocal rank fusion.
//!
//! BM25 finds passages that share the question's rare words ("watchdog", "rollback");
//! the embedding ranking finds passages that say the same thing in other words. Reciprocal
//! rank fusion combines ranks rather than scores, so neither scale has to be calibrated
//! against the other.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::embeddings::Embeddings;
use crate::text::{normalize, truncate, words};

const BM25_K1: f32 = 1.2;
const BM25_B: f32 = 0.75;
/// The usual constant of reciprocal rank fusion (Cormack et al. 2009).
const RRF_K: f32 = 60.0;
/// Excerpts are cut to about this many bytes.
const EXCERPT_BYTES: usize = 280;

/// Words that say nothing about what a question is after.
const STOPWORDS: [&str; 39] = [
    "a", "an", "the", "is", "are", "was", "were", "be", "to", "of", "in", "on", "at", "for", "and", "or",
    "it", "its", "do", "does", "did", "how", "what", "why", "when", "where", "which", "who", "i", "me", "my",
    "you", "can", "with", "this", "that", "by", "as", "from",
];

/// Words the whole manual is about, so too common to rank passages by, that a question is about
/// when it names nothing else ("what is rayos").
const EVERYWHERE: [&str; 1] = ["rayos"];

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The section the passage belongs to.
    pub section: String,
    /// The start of the passage, cut at a word boundary.
    pub excerpt: String,
    /// Index of the passage in the order given to [`DocsIndex::build`].
    pub passage: usize,
    /// Fused score (higher is better).
    pub score: f32,
}

struct Passage {
    section: String,
    text: String,
    length_terms: f32,
    vector: Vec<f32>,
}

/// An index over passages; immutable after build.
pub struct DocsIndex {
    passages: Vec<Passage>,
    postings: BTreeMap<String, Vec<(u32, u32)>>,
    average_length_terms: f32,
}

/// Folds plural, -ing/-ed and -ation endings so "disks" meets "disk", "booting" meets "boot",
/// "crashes" meets "crash" and "installation" meets "install". "-es" is an ending only after
/// s, x, z, ch and sh ("types" is "type" + "s"); "s" is none after s or u ("process",
/// "status").
fn stem(word: &str) -> &str {
    let sibilant = |stem: &str| ["s", "x", "z", "ch", "sh"].iter().any(|end| stem.ends_with(end));
    for (suffix, shortest_stem) in [("ations", 4), ("ation", 4), ("ing", 3), ("ed", 3), ("es", 3), ("s", 3)] {
        if let Some(stem) = word.strip_suffix(suffix) {
            let ending = match suffix {
                "es" => sibilant(stem),
                "s" => !stem.ends_with('s') && !stem.ends_with('u'),
                _ => true,
            };
            if stem.len() >= shortest_stem && ending {
                return stem;
            }
        }
    }
    word
}

/// The words of `text` that say what it is about: all but [`STOPWORDS`] and [`EVERYWHERE`],
/// or, when that leaves none, its words of [`EVERYWHERE`] ("what is rayos").
fn content_words(normalized: &str) -> Vec<&str> {
    let all = words(normalized);
    let content: Vec<&str> =
        all.iter().copied().filter(|w| !STOPWORDS.contains(w) && !EVERYWHERE.contains(w)).collect();
    if content.is_empty() {
        all.into_iter().filter(|w| EVERYWHERE.contains(w)).collect()
    } else {
        content
    }
}

/// Two neighbouring words the indexed text writes as one word ("roll back": "rollback", "shut
/// down": "shutdown"), as that word's term (stemmed whole: "set ups" is "setup"); `indexed`
/// says whether a term occurs in the text.
fn joined_terms(words: &[&str], indexed: impl Fn(&str) -> bool) -> Vec<String> {
    words
        .windows(2)
        .map(|pair| {
            let joined = alloc::format!("{}{}", pair[0], pair[1]);
            String::from(stem(&joined))
        })
        .filter(|term| indexed(term))
        .collect()
}

fn terms(text: &str) -> Vec<String> {
    let normalized = normalize(text);
    content_words(&normalized).into_iter().map(|w| String::from(stem(w))).collect()
}

fn embed(embeddings: &Embeddings, text: &str, ids: &mut Vec<u32>) -> Vec<f32> {
    let normalized = normalize(truncate(text, 4096));
    ids.clear();
    for w in content_words(&normalized) {
        embeddings.word_pieces(w, ids);
    }
    let mut v = alloc::vec![0.0; embeddings.dim()];
    embeddings.pool(ids, &mut v);
    v
}

impl DocsIndex {
    /// Passage `index` (in the order given to [`DocsIndex::build`]) as (section, text).
    pub fn passage(&self, index: usize) -> Option<(&str, &str)> {
        self.passages.get(index).map(|p| (p.section.as_str(), p.text.as_str()))
    }

    /// Indexes `(section, text)` passages. Linear in the size of the text.
    pub fn build(embeddings: &Embeddings, passages: &[(&str, &str)]) -> DocsIndex {
        let mut postings: BTreeMap<String, Vec<(u32, u32)>> = BTreeMap::new();
        let mut stored = Vec::with_capacity(passages.len());
        let mut total_terms = 0.0;
        let mut ids = Vec::new();
        for (p, (section, text)) in passages.iter().enumerate() {
            // The section name is part of what a passage is about.
            let mut counts: BTreeMap<String, u32> = BTreeMap::new();
            let all = terms(section).into_iter().chain(terms(text));
            let mut length = 0u32;
            for term in all {
                *counts.entry(term).or_insert(0) += 1;
                length += 1;
            }
            for (term, count) in counts {
                postings.entry(term).or_default().push((p as u32, count));
            }
            total_terms += length as f32;
            let mut joined = String::from(*section);
            joined.push_str(". ");
            joined.push_str(text);
            stored.push(Passage {
                section: String::from(*section),
                text: String::from(*text),
                length_terms: length as f32,
                vector: embed(embeddings, &joined, &mut ids),
            });
        }
        let average_length_terms =
            if stored.is_empty() { 1.0 } else { (total_terms / stored.len() as f32).max(1.0) };
        DocsIndex { passages: stored, postings, average_length_terms }
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.passages.len()
    }

    /// True when there are no passages.
    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// BM25 scores of every passage that shares a term with the question.
    fn bm25(&self, question: &str) -> Vec<(usize, f32)> {
        let mut scores = alloc::vec![0.0f32; self.passages.len()];
        let n = self.passages.len() as f32;
        let normalized = normalize(question);
        let words = content_words(&normalized);
        let mut query_terms: Vec<String> = words.iter().map(|w| String::from(stem(w))).collect();
        query_terms.extend(joined_terms(&words, |term| self.postings.contains_key(term)));
        query_terms.sort();
        query_terms.dedup();
        for term in &query_terms {
            let Some(list) = self.postings.get(term) else { continue };
            let df = list.len() as f32;
            let idf = libm::logf(1.0 + (n - df + 0.5) / (df + 0.5));
            for &(p, tf) in list {
                let tf = tf as f32;
                let norm = 1.0 - BM25_B
                    + BM25_B * self.passages[p as usize].length_terms / self.average_length_terms;
                scores[p as usize] += idf * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * norm);
            }
        }
        let mut ranked: Vec<(usize, f32)> =
            scores.into_iter().enumerate().filter(|(_, s)| *s > 0.0).collect();
        ranked
            .sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(core::cmp::Ordering::Equal).then(a.0.cmp(&b.0)));
        ranked
    }

    /// The `k` best passages for `question`, best first.
    pub fn search(&self, embeddings: &Embeddings, question: &str, k: usize) -> Vec<Hit> {
        let question = truncate(question, 4096);
        let lexical = self.bm25(question);
        let mut ids = Vec::new();
        let q = embed(embeddings, question, &mut ids);
        let mut semantic: Vec<(usize, f32)> = if q.iter().all(|v| *v == 0.0) {
            Vec::new()
        } else {
            self.passages
                .iter()
                .enumerate()
                .map(|(p, passage)| (p, passage.vector.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>()))
                .collect()
        };
        semantic
            .sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(core::cmp::Ordering::Equal).then(a.0.cmp(&b.0)));
        let mut fused = alloc::vec![0.0f32; self.passages.len()];
        for ranking in [&lexical, &semantic] {
            for (rank, &(p, _)) in ranking.iter().enumerate() {
                fused[p] += 1.0 / (RRF_K + rank as f32 + 1.0);
            }
        }
        let mut order: Vec<usize> = (0..self.passages.len()).filter(|&p| fused[p] > 0.0).collect();
        order.sort_by(|&a, &b| {
            fused[b].partial_cmp(&fused[a]).unwrap_or(core::cmp::Ordering::Equal).then(a.cmp(&b))
        });
        order
            .into_iter()
            .take(k)
            .map(|p| Hit {
                section: self.passages[p].section.clone(),
                excerpt: excerpt(&self.passages[p].text),
                passage: p,
                score: fused[p],
            })
            .collect()
    }
}

fn excerpt(text: &str) -> String {
    if text.len() <= EXCERPT_BYTES {
        return String::from(text);
    }
    let cut = truncate(text, EXCERPT_BYTES);
    let cut = cut.rfind(char::is_whitespace).map_or(cut, |at| &cut[..at]);
    let mut out = String::from(cut.trim_end());
    out.push_str(" ...");
    out
}

/// Splits a Markdown document into `(section, passage)` pairs: the section is the heading path
/// (`"Watchdog > Arming"`), a passage is one paragraph or list.
pub fn split_markdown(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut headings: Vec<String> = Vec::new();
    let mut paragraph = String::new();
    let flush = |paragraph: &mut String, headings: &[String], out: &mut Vec<(String, String)>| {
        let text = paragraph.trim();
        if !text.is_empty() {
            out.push((headings.join(" > "), String::from(text)));
        }
        paragraph.clear();
    };
    let mut in_code = false;
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_code = !in_code;
            paragraph.push_str(line);
            paragraph.push('\n');
            continue;
        }
        if !in_code && trimmed.starts_with('#') {
            flush(&mut paragraph, &headings, &mut out);
            let level = trimmed.chars().take_while(|&c| c == '#').count();
            headings.truncate(level.saturating_sub(1));
            headings.push(String::from(trimmed[level..].trim()));
            continue;
        }
        if !in_code && trimmed.is_empty() {
            flush(&mut paragraph, &headings, &mut out);
            continue;
        }
        paragraph.push_str(line);
        paragraph.push('\n');
    }
    flush(&mut paragraph, &headings, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::{content_words, joined_terms, stem, terms};

    #[test]
    fn endings_fold_to_one_stem() {
        for (a, b) in [
            ("disks", "disk"),
            ("booting", "boot"),
            ("crashes", "crash"),
            ("types", "type"),
            ("lines", "line"),
            ("installation", "install"),
            ("installations", "install"),
            ("processes", "process"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
    }

    #[test]
    fn different_words_keep_different_stems() {
        for (a, b) in
            [("header", "head"), ("loader", "load"), ("status", "stat"), ("user", "us"), ("yes", "ye")]
        {
            assert_ne!(stem(a), stem(b), "{a} / {b}");
        }
    }

    #[test]
    fn a_question_about_rayos_alone_keeps_that_word() {
        assert_eq!(terms("what is rayos"), ["rayo"]);
        assert_eq!(terms("what is the watchdog in rayos"), ["watchdog"]);
        // Nothing to search for: no passage is better than another.
        assert!(terms("what is it").is_empty());
        assert!(terms("the").is_empty());
    }

    #[test]
    fn two_words_the_text_writes_as_one_are_joined() {
        let words = content_words("how do i roll back");
        assert_eq!(joined_terms(&words, |t| t == "rollback"), ["rollback"]);
        assert!(joined_terms(&words, |t| t == "setup").is_empty());
        // The joined word is stemmed as one: "set ups" is "setup".
        let words = content_words("list the set ups");
        assert_eq!(joined_terms(&words, |t| t == "setup"), ["setup"]);
    }
}
