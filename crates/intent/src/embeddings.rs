//! The WordPiece vocabulary and its int8 word-piece vectors.
//!
//! Sections:
//! - `VOCB`: `u32 count`, then `count` x (`u16 len`, `len` bytes of UTF-8): token `i` has id
//!   `i`; continuation pieces start with `##`; id 1 must be `[UNK]`.
//! - `EMBD`: `u32 rows` (= count), `u32 dim`, `rows` x `f32` scale, `rows * dim` x `i8`.
//!   Row `r` of the real matrix is `scale[r] * q[r][..]`.

use crate::format::{LoadError, Reader, Writer};
use crate::text::{Token, TokenKind};
use alloc::vec;
use alloc::vec::Vec;

const VOCB: [u8; 4] = *b"VOCB";
const EMBD: [u8; 4] = *b"EMBD";
/// Words longer than this many characters become `[UNK]`, as in BERT.
const MAX_WORD_CHARS: usize = 100;

/// Vocabulary plus vectors; immutable after load.
pub struct Embeddings {
    token_bytes: Vec<u8>,
    token_starts: Vec<u32>,
    slots: Vec<u32>,
    max_token_bytes: usize,
    unk_id: u32,
    dim: usize,
    scales: Vec<f32>,
    quantized: Vec<i8>,
}

fn hash_piece(prefix: &[u8], piece: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in prefix.iter().chain(piece) {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl Embeddings {
    /// Parses the `VOCB` and `EMBD` section bodies.
    pub fn from_sections(vocab: &[u8], vectors: &[u8]) -> Result<Embeddings, LoadError> {
        let mut r = Reader::new(VOCB, vocab);
        let count = r.u32()? as usize;
        if !(2..=1 << 22).contains(&count) {
            return Err(LoadError::Malformed { tag: VOCB, what: "token count out of range" });
        }
        let mut token_bytes = Vec::with_capacity(vocab.len());
        let mut token_starts = Vec::with_capacity(count + 1);
        let mut max_token_bytes = 0;
        for _ in 0..count {
            let len = r.u16()? as usize;
            let bytes = r.take(len)?;
            if core::str::from_utf8(bytes).is_err() {
                return Err(LoadError::Malformed { tag: VOCB, what: "a token is not UTF-8" });
            }
            token_starts.push(token_bytes.len() as u32);
            token_bytes.extend_from_slice(bytes);
            max_token_bytes = max_token_bytes.max(len);
        }
        token_starts.push(token_bytes.len() as u32);
        r.finish()?;

        let mut r = Reader::new(EMBD, vectors);
        let rows = r.u32()? as usize;
        let dim = r.u32()? as usize;
        if rows != count {
            return Err(LoadError::Malformed {
                tag: EMBD,
                what: "row count differs from the vocabulary size",
            });
        }
        if dim == 0 || dim > 1024 {
            return Err(LoadError::Malformed { tag: EMBD, what: "vector dimension out of range" });
        }
        let scales = r.f32s(rows)?;
        let quantized: Vec<i8> = r.take(rows * dim)?.iter().map(|&b| b as i8).collect();
        r.finish()?;

        let mut embeddings = Embeddings {
            token_bytes,
            token_starts,
            slots: vec![0; (count * 2).next_power_of_two()],
            max_token_bytes,
            unk_id: 0,
            dim,
            scales,
            quantized,
        };
        let mask = embeddings.slots.len() - 1;
        for id in 0..count {
            let token = embeddings.token(id as u32);
            let mut slot = hash_piece(b"", token) as usize & mask;
            loop {
                let occupant = embeddings.slots[slot];
                if occupant == 0 {
                    embeddings.slots[slot] = id as u32 + 1;
                    break;
                }
                if embeddings.token(occupant - 1) == token {
                    break; // Duplicate token: the first id wins, as in a Python dict built in order.
                }
                slot = (slot + 1) & mask;
            }
        }
        embeddings.unk_id = embeddings
            .lookup(b"", b"[UNK]")
            .ok_or(LoadError::Malformed { tag: VOCB, what: "the vocabulary has no [UNK] token" })?;
        Ok(embeddings)
    }

    /// Encodes the two sections (the derivation tool's side of [`Embeddings::from_sections`]).
    pub fn encode_sections(
        tokens: &[&str],
        dim: usize,
        scales: &[f32],
        quantized: &[i8],
    ) -> (Vec<u8>, Vec<u8>) {
        let mut vocab = Writer::default();
        vocab.u32(tokens.len() as u32);
        for token in tokens {
            vocab.u16(token.len() as u16);
            vocab.bytes.extend_from_slice(token.as_bytes());
        }
        let mut vectors = Writer::default();
        vectors.u32(tokens.len() as u32);
        vectors.u32(dim as u32);
        vectors.f32s(scales);
        vectors.bytes.extend(quantized.iter().map(|&q| q as u8));
        (vocab.bytes, vectors.bytes)
    }

    /// The section tags, for the container.
    pub const TAGS: ([u8; 4], [u8; 4]) = (VOCB, EMBD);

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.token_starts.len() - 1
    }

    /// True when the vocabulary is empty (never, after a successful load).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn token(&self, id: u32) -> &[u8] {
        let start = self.token_starts[id as usize] as usize;
        let end = self.token_starts[id as usize + 1] as usize;
        &self.token_bytes[start..end]
    }

    /// The text of token `id` (empty for an id out of range).
    pub fn token_text(&self, id: u32) -> &str {
        if id as usize >= self.len() {
            return "";
        }
        core::str::from_utf8(self.token(id)).unwrap_or("")
    }

    /// The id of `prefix ++ piece`, if it is a token.
    fn lookup(&self, prefix: &[u8], piece: &[u8]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut slot = hash_piece(prefix, piece) as usize & mask;
        loop {
            let occupant = self.slots[slot];
            if occupant == 0 {
                return None;
            }
            let token = self.token(occupant - 1);
            if token.len() == prefix.len() + piece.len()
                && token.starts_with(prefix)
                && token.ends_with(piece)
            {
                return Some(occupant - 1);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Appends the WordPiece ids of one word (greedy longest match first, as BERT does).
    pub fn word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        if word.chars().count() > MAX_WORD_CHARS {
            out.push(self.unk_id);
            return;
        }
        let bytes = word.as_bytes();
        let first = out.len();
        let mut start = 0;
        while start < bytes.len() {
            let prefix: &[u8] = if start == 0 { b"" } else { b"##" };
            let mut end = bytes.len().min(start + self.max_token_bytes);
            let mut found = None;
            while end > start {
                if word.is_char_boundary(end) {
                    if let Some(id) = self.lookup(prefix, &bytes[start..end]) {
                        found = Some(id);
                        break;
                    }
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(first);
                    out.push(self.unk_id);
                    return;
                }
            }
        }
    }

    /// True when `word` is one whole token of the vocabulary.
    pub fn is_known_word(&self, word: &str) -> bool {
        self.lookup(b"", word.as_bytes()).is_some()
    }

    /// Token ids of a normalised, split text.
    pub fn encode(&self, normalized: &str, tokens: &[Token], out: &mut Vec<u32>) {
        for token in tokens {
            let text = &normalized[token.start..token.end];
            match token.kind {
                TokenKind::Word => self.word_pieces(text, out),
                TokenKind::Punct => out.push(self.lookup(b"", text.as_bytes()).unwrap_or(self.unk_id)),
            }
        }
    }

    /// Mean of the vectors of `ids`, scaled to unit length (zero when `ids` is empty).
    pub fn pool(&self, ids: &[u32], out: &mut [f32]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        for &id in ids {
            let row = id as usize;
            let scale = self.scales[row];
            let q = &self.quantized[row * self.dim..(row + 1) * self.dim];
            for (o, &v) in out.iter_mut().zip(q) {
                *o += scale * v as f32;
            }
        }
        let norm_sq: f32 = out.iter().map(|v| v * v).sum();
        if norm_sq > 0.0 {
            let inv = 1.0 / libm::sqrtf(norm_sq);
            out.iter_mut().for_each(|v| *v *= inv);
        }
    }
}
