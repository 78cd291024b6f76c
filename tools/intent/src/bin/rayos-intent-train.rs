//! `rayos-intent-train`: rebuilds the intent engine's data files.
//!
//! ```text
//! rayos-intent-train derive-embeddings   # crates/intent/weights/embeddings.bin from yantrikdb 0.23.4
//! rayos-intent-train import-clinc        # crates/intent/data/clinc/*.jsonl from shared CLINC150
//! rayos-intent-train train               # crates/intent/weights/intent.bin (deterministic)
//! rayos-intent-train check               # retrains in memory and compares with the committed blob
//! rayos-intent-train query               # stdin -> JSON readings
//! rayos-intent-train eval FILE           # scores a labelled JSONL file
//! rayos-intent-train bench               # host figures
//! ```

use std::process::ExitCode;

use rayos_intent_tools::derive::sha256_hex;
use rayos_intent_tools::train::TrainConfig;
use rayos_intent_tools::{data, derive, run_bench_host, run_eval, run_query, train, Paths, ToolError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths = Paths::workspace();
    let result: Result<(), ToolError> = match args.first().map(String::as_str) {
        Some("derive-embeddings") => derive::derive(&paths.cache, &paths.embeddings()).map(|digest| {
            println!("wrote {} (sha256 {digest})", paths.embeddings().display());
        }).map_err(ToolError::from),
        Some("import-clinc") => data::import_clinc(&paths.clinc_source, &paths.data("clinc"))
            .map(|[t, c, h]| println!("clinc: {t} training, {c} calibration, {h} held-out examples"))
            .map_err(ToolError::from),
        Some("train") => train(&paths, &TrainConfig::default()).and_then(|out| {
            std::fs::write(paths.weights(), &out.blob).map_err(|e| ToolError::Io(paths.weights(), e))?;
            println!(
                "wrote {} ({} bytes, sha256 {}) from {} training and {} tuning examples; thresholds confidence {} margin {}",
                paths.weights().display(),
                out.blob.len(),
                sha256_hex(&out.blob),
                out.train_examples,
                out.tuning_examples,
                out.thresholds.0,
                out.thresholds.1
            );
            Ok(())
        }),
        Some("check") => train(&paths, &TrainConfig::default()).and_then(|out| {
            let committed = std::fs::read(paths.weights()).map_err(|e| ToolError::Io(paths.weights(), e))?;
            if committed == out.blob {
                println!("weights reproduce: sha256 {}", sha256_hex(&committed));
                Ok(())
            } else {
                Err(ToolError::Io(
                    paths.weights(),
                    std::io::Error::other(format!(
                        "committed weights (sha256 {}) differ from a retrain (sha256 {}): run `rayos-intent-train train`",
                        sha256_hex(&committed),
                        sha256_hex(&out.blob)
                    )),
                ))
            }
        }),
        Some("query") => run_query(std::io::stdin().lock(), std::io::stdout().lock())
            .map_err(|e| ToolError::Io("<stdin>".into(), e)),
        Some("eval") => match args.get(1) {
            Some(file) => run_eval(std::path::Path::new(file), std::io::stdout().lock()).map(|_| ()),
            None => {
                eprintln!("usage: rayos-intent-train eval FILE");
                return ExitCode::from(2);
            }
        },
        Some("bench") => run_bench_host(std::io::stdout().lock()),
        _ => {
            eprintln!("usage: rayos-intent-train derive-embeddings | import-clinc | train | check | query | eval FILE | bench");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rayos-intent-train: {e}");
            ExitCode::FAILURE
        }
    }
}
