//! Derives the engine's embedding blob (`crates/intent/weights/embeddings.bin`) from the
//! potion-base-2M static model shipped inside the crates.io crate `yantrikdb` 0.23.4.
//!
//! Steps: make sure cargo has the `.crate` file (`cargo info` downloads it into cargo's own
//! cache), copy it to `target/intent-cache/`, check its SHA-256, read the two model files
//! out of the archive, check their SHA-256 too, and quantise each vector row to int8 with its
//! own scale (`scale = max|x| / 127`, `q = round(x / scale)`).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use rayos_intent::format::LoadError;
use rayos_intent::Embeddings;
use sha2::{Digest, Sha256};

/// The crate that ships the model.
pub const SOURCE_CRATE: &str = "yantrikdb";
/// Its version.
pub const SOURCE_VERSION: &str = "0.23.4";
/// SHA-256 of `yantrikdb-0.23.4.crate` as served by crates.io.
pub const SOURCE_SHA256: &str = "4563469dda349e5e9fd103b885351ca61e0f73454e25e4c0b14d9358b632120a";
const MODEL_PATH: &str = "yantrikdb-0.23.4/assets/potion-base-2M/model.safetensors";
const TOKENIZER_PATH: &str = "yantrikdb-0.23.4/assets/potion-base-2M/tokenizer.json";

/// Why the derivation failed.
#[derive(Debug)]
pub enum DeriveError {
    /// Reading or writing a file, or running cargo.
    Io(String, std::io::Error),
    /// cargo could not download the crate.
    Download(String),
    /// The downloaded file is not the one this derivation was written for.
    Checksum { what: String, expected: String, found: String },
    /// The archive or a model file is not in the expected form.
    Format(String),
    /// The derived blob does not load.
    Load(LoadError),
}

impl fmt::Display for DeriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeriveError::Io(what, e) => write!(f, "{what}: {e}"),
            DeriveError::Download(why) => {
                write!(f, "could not download {SOURCE_CRATE} {SOURCE_VERSION} with cargo: {why}")
            }
            DeriveError::Checksum { what, expected, found } => {
                write!(f, "{what} has SHA-256 {found}, expected {expected}: refusing an unverified embedding source")
            }
            DeriveError::Format(why) => write!(f, "embedding source not in the expected form: {why}"),
            DeriveError::Load(e) => write!(f, "derived embedding blob does not load: {e}"),
        }
    }
}

impl std::error::Error for DeriveError {}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DeriveError {
    let what = what.into();
    move |e| DeriveError::Io(what, e)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn cargo_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cargo")
}

fn find_in_cargo_cache(file_name: &str) -> Option<PathBuf> {
    let cache = cargo_home().join("registry").join("cache");
    let mut registries: Vec<PathBuf> =
        std::fs::read_dir(cache).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    registries.sort();
    registries.into_iter().map(|r| r.join(file_name)).find(|p| p.is_file())
}

/// Puts the verified `.crate` file at `cache_dir/yantrikdb-0.23.4.crate` and returns its path.
pub fn fetch_source(cache_dir: &Path) -> Result<PathBuf, DeriveError> {
    let file_name = format!("{SOURCE_CRATE}-{SOURCE_VERSION}.crate");
    let target = cache_dir.join(&file_name);
    if !target.is_file() {
        std::fs::create_dir_all(cache_dir).map_err(io(format!("creating {}", cache_dir.display())))?;
        if find_in_cargo_cache(&file_name).is_none() {
            // `cargo info` fetches the package to read its manifest, which leaves the .crate in
            // cargo's cache: an ordinary-client download of exactly one package.
            let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["info", &format!("{SOURCE_CRATE}@{SOURCE_VERSION}"), "--registry", "crates-io"])
                .current_dir(cache_dir)
                .output()
                .map_err(io("running cargo info"))?;
            if !output.status.success() {
                return Err(DeriveError::Download(String::from_utf8_lossy(&output.stderr).into_owned()));
            }
        }
        let cached = find_in_cargo_cache(&file_name).ok_or_else(|| {
            DeriveError::Download(format!("{file_name} did not appear in cargo's registry cache"))
        })?;
        std::fs::copy(&cached, &target).map_err(io(format!("copying {}", cached.display())))?;
    }
    let bytes = std::fs::read(&target).map_err(io(format!("reading {}", target.display())))?;
    let found = sha256_hex(&bytes);
    if found != SOURCE_SHA256 {
        return Err(DeriveError::Checksum { what: file_name, expected: SOURCE_SHA256.into(), found });
    }
    Ok(target)
}

/// The two model files read out of the `.crate` archive.
pub struct ModelFiles {
    /// `model.safetensors`.
    pub safetensors: Vec<u8>,
    /// `tokenizer.json`.
    pub tokenizer: Vec<u8>,
}

/// Reads the model files out of the verified archive.
pub fn extract(crate_file: &Path) -> Result<ModelFiles, DeriveError> {
    let file = std::fs::File::open(crate_file).map_err(io(format!("opening {}", crate_file.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let (mut safetensors, mut tokenizer) = (None, None);
    for entry in archive.entries().map_err(io("reading the crate archive"))? {
        let mut entry = entry.map_err(io("reading the crate archive"))?;
        let path = entry.path().map_err(io("reading an archive path"))?.to_string_lossy().into_owned();
        let slot = match path.as_str() {
            MODEL_PATH => &mut safetensors,
            TOKENIZER_PATH => &mut tokenizer,
            _ => continue,
        };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(io(format!("reading {path}")))?;
        *slot = Some(bytes);
    }
    match (safetensors, tokenizer) {
        (Some(safetensors), Some(tokenizer)) => Ok(ModelFiles { safetensors, tokenizer }),
        _ => Err(DeriveError::Format(format!("{MODEL_PATH} or {TOKENIZER_PATH} missing from the archive"))),
    }
}

/// Reads the `[rows, dim]` F32 tensor named `embeddings` from a safetensors file.
pub fn read_safetensors(bytes: &[u8]) -> Result<(usize, usize, Vec<f32>), DeriveError> {
    let bad = |why: &str| DeriveError::Format(format!("safetensors: {why}"));
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .ok_or_else(|| bad("too short"))?;
    let header_end =
        usize::try_from(header_len).ok().and_then(|n| n.checked_add(8)).filter(|&e| e <= bytes.len());
    let header_end = header_end.ok_or_else(|| bad("header length out of range"))?;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..header_end]).map_err(|e| bad(&e.to_string()))?;
    let tensor = header.get("embeddings").ok_or_else(|| bad("no tensor named embeddings"))?;
    if tensor.get("dtype").and_then(|d| d.as_str()) != Some("F32") {
        return Err(bad("embeddings are not F32"));
    }
    let shape: Vec<usize> = tensor
        .get("shape")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_u64().map(|n| n as usize)).collect())
        .unwrap_or_default();
    let offsets: Vec<usize> = tensor
        .get("data_offsets")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_u64().map(|n| n as usize)).collect())
        .unwrap_or_default();
    let (&[rows, dim], &[start, end]) = (&shape[..], &offsets[..]) else {
        return Err(bad("shape or data_offsets is not a pair"));
    };
    let data = bytes.get(header_end + start..header_end + end).ok_or_else(|| bad("data outside the file"))?;
    if data.len() != rows * dim * 4 {
        return Err(bad("data length differs from the shape"));
    }
    let values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok((rows, dim, values))
}

/// The WordPiece vocabulary of a `tokenizer.json`, in id order.
pub fn read_vocab(tokenizer: &[u8]) -> Result<Vec<String>, DeriveError> {
    let json: serde_json::Value =
        serde_json::from_slice(tokenizer).map_err(|e| DeriveError::Format(format!("tokenizer.json: {e}")))?;
    let model = &json["model"];
    if model["type"].as_str() != Some("WordPiece") {
        return Err(DeriveError::Format("tokenizer.json: model is not WordPiece".into()));
    }
    let vocab =
        model["vocab"].as_object().ok_or_else(|| DeriveError::Format("tokenizer.json: no vocab".into()))?;
    let mut tokens = vec![None; vocab.len()];
    for (token, id) in vocab {
        let id = id.as_u64().map(|i| i as usize).filter(|&i| i < tokens.len());
        let id = id.ok_or_else(|| DeriveError::Format(format!("tokenizer.json: bad id for {token:?}")))?;
        tokens[id] = Some(token.clone());
    }
    tokens
        .into_iter()
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| DeriveError::Format("tokenizer.json: vocabulary ids are not contiguous".into()))
}

/// Per-row symmetric int8 quantisation.
pub fn quantize(rows: usize, dim: usize, values: &[f32]) -> (Vec<f32>, Vec<i8>) {
    let mut scales = Vec::with_capacity(rows);
    let mut quantized = Vec::with_capacity(rows * dim);
    for row in values.chunks_exact(dim) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        quantized.extend(row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
    }
    (scales, quantized)
}

/// Builds the embedding blob (sections META, VOCB, EMBD) from the model files.
pub fn derive_blob(files: &ModelFiles) -> Result<Vec<u8>, DeriveError> {
    let (rows, dim, values) = read_safetensors(&files.safetensors)?;
    let vocab = read_vocab(&files.tokenizer)?;
    if vocab.len() != rows {
        return Err(DeriveError::Format(format!("{} tokens but {rows} vector rows", vocab.len())));
    }
    let (scales, quantized) = quantize(rows, dim, &values);
    let tokens: Vec<&str> = vocab.iter().map(String::as_str).collect();
    let (vocab_section, vectors_section) = Embeddings::encode_sections(&tokens, dim, &scales, &quantized);
    let meta = format!(
        "potion-base-2M (MIT, Minish Lab) from crates.io {SOURCE_CRATE} {SOURCE_VERSION} (sha256 {SOURCE_SHA256}); \
         model.safetensors sha256 {}; tokenizer.json sha256 {}; {rows} x {dim}, int8 per-row scale",
        sha256_hex(&files.safetensors),
        sha256_hex(&files.tokenizer)
    );
    let (vocab_tag, vectors_tag) = Embeddings::TAGS;
    let blob = rayos_intent::format::encode(&[
        (rayos_intent::META_TAG, meta.as_bytes()),
        (vocab_tag, &vocab_section),
        (vectors_tag, &vectors_section),
    ]);
    load_embeddings(&blob).map_err(DeriveError::Load)?;
    Ok(blob)
}

/// Loads an embedding blob written by [`derive_blob`]: returns the embeddings, the raw
/// vocabulary and vector sections (copied into the weights blob unchanged) and the note.
pub fn load_embeddings(blob: &[u8]) -> Result<(Embeddings, Vec<u8>, Vec<u8>, String), LoadError> {
    let parsed = rayos_intent::format::Blob::parse(blob)?;
    let (vocab_tag, vectors_tag) = Embeddings::TAGS;
    let vocab = parsed.section(vocab_tag)?;
    let vectors = parsed.section(vectors_tag)?;
    let meta = String::from_utf8_lossy(parsed.section(rayos_intent::META_TAG)?).into_owned();
    Ok((Embeddings::from_sections(vocab, vectors)?, vocab.to_vec(), vectors.to_vec(), meta))
}

/// The whole derivation: fetch, verify, extract, quantise; writes `out` and returns the
/// SHA-256 of what it wrote.
pub fn derive(cache_dir: &Path, out: &Path) -> Result<String, DeriveError> {
    let source = fetch_source(cache_dir)?;
    let files = extract(&source)?;
    let blob = derive_blob(&files)?;
    std::fs::write(out, &blob).map_err(io(format!("writing {}", out.display())))?;
    Ok(sha256_hex(&blob))
}
