//! `rayos-intent-train`: rebuilds the intent engine's data files.
//!
//! ```text
//! rayos-intent-train derive-embeddings   # crates/intent/weights/embeddings.bin from yantrikdb 0.23.4
//! rayos-intent-train import-clinc        # crates/intent/data/clinc/*.jsonl from shared CLINC150
//! rayos-intent-train train               # crates/intent/weights/intent.bin (deterministic)
//! rayos-intent-train check               # retrains in memory and compares with the committed blob
//! rayos-intent-train query               # stdin -> JSON readings
//! rayos-intent-train eval FILE           # scores a labelled JSONL file
//! rayos-intent-train annotate            # stdin {"text","intent"} lines -> the entities read for that intent
//! rayos-intent-train bench               # host figures
//! rayos-intent-train cv [FOLDS] [--misreads] [--scores FILE]  # grouped cross-validation over the corpus lines
//! rayos-intent-train latency FILE         # host latency of reads over a file's requests
//! rayos-intent-train ask-eval FILE [--misses]  # how often `ask` finds the section that answers a question
//! ```

use std::process::ExitCode;

use rayos_intent::entities::json_string;
use rayos_intent_tools::derive::sha256_hex;
use rayos_intent_tools::train::TrainConfig;
use rayos_intent_tools::{
    cross_validate, data, derive, run_annotate, run_bench_host, run_eval, run_query, train, CrossValidated,
    Paths, ToolError,
};

/// Writes one JSON line per cross-validated request: label, the fold model's reading, corpus
/// line, text, the entities read and annotated, and the fold model's probabilities (table
/// order), for studying the out-of-scope decision offline.
fn write_scores(path: &std::path::Path, readings: &[CrossValidated]) -> Result<(), ToolError> {
    use std::io::Write as _;
    let io_error = |e| ToolError::Io(path.to_path_buf(), e);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io_error)?);
    for c in readings {
        let probabilities: Vec<String> = c.probabilities.iter().map(|p| format!("{p:.6}")).collect();
        writeln!(
            out,
            "{{\"l\":{},\"r\":{},\"s\":{},\"t\":{},\"e\":{},\"g\":{},\"p\":[{}]}}",
            json_string(&c.example.intent),
            json_string(&c.reading.label),
            c.example.source.unwrap_or(0),
            json_string(&c.example.text),
            c.reading.entities.to_json(),
            serde_json::to_string(&c.example.entities).unwrap_or_else(|_| "{}".into()),
            probabilities.join(",")
        )
        .map_err(io_error)?;
    }
    out.flush().map_err(io_error)
}

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
            let c = out.calibration;
            println!(
                "wrote {} ({} bytes, sha256 {}) from {} training and {} tuning examples; out-of-scope offset {}, \
                 confidence {}, margin {}",
                paths.weights().display(),
                out.blob.len(),
                sha256_hex(&out.blob),
                out.train_examples,
                out.tuning_examples,
                c.oos_offset,
                c.confidence,
                c.margin
            );
            for (name, r) in [("held-apart corpus lines", c.held_apart), ("tuning set", c.tuning)] {
                println!(
                    "calibration on {name}: accuracy {:.2} % | oos recall {:.2} % | false rejects {:.2} %",
                    100.0 * r.in_scope_accuracy,
                    100.0 * r.oos_recall,
                    100.0 * r.false_reject_rate
                );
            }
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
        Some("annotate") => run_annotate(std::io::stdin().lock(), std::io::stdout().lock()),
        Some("eval") => match args.get(1) {
            Some(file) => run_eval(std::path::Path::new(file), std::io::stdout().lock()).map(|_| ()),
            None => {
                eprintln!("usage: rayos-intent-train eval FILE");
                return ExitCode::from(2);
            }
        },
        Some("bench") => run_bench_host(std::io::stdout().lock()),
        Some("latency") => match args.get(1) {
            Some(file) => rayos_intent_tools::load_engine(&paths).and_then(|(engine, size_bytes)| {
                let examples = data::read_jsonl(std::path::Path::new(file))?;
                let queries: Vec<String> = examples.into_iter().map(|e| e.text).collect();
                let (p50, p95, calls) = rayos_intent_tools::measure_latency(&engine, &queries);
                println!("weights {size_bytes} bytes; {calls} reads: p50 {p50:.1} us, p95 {p95:.1} us");
                Ok(())
            }),
            None => {
                eprintln!("usage: rayos-intent-train latency FILE");
                return ExitCode::from(2);
            }
        },
        Some("ask-eval") => match args.iter().skip(1).find(|a| !a.starts_with("--")) {
            Some(file) => rayos_intent_tools::load_engine(&paths).and_then(|(engine, _)| {
                let questions = rayos_intent_tools::read_manual_questions(std::path::Path::new(file))?;
                let index = rayos_intent_tools::manual_index(&engine)?;
                let show = args.iter().any(|a| a == "--misses");
                let r = rayos_intent_tools::evaluate_ask(&engine, &index, &questions, |q, found| {
                    if show {
                        println!("miss: {:?} wants {:?}, got {:?}", q.question, q.sections, found);
                    }
                });
                println!("ask over the manual's {} passages: {}", index.len(), r.summary());
                Ok(())
            }),
            None => {
                eprintln!("usage: rayos-intent-train ask-eval FILE [--misses]");
                return ExitCode::from(2);
            }
        },
        Some("cv") => {
            let folds = args.get(1).and_then(|f| f.parse().ok()).unwrap_or(5);
            let misreads = args.iter().any(|a| a == "--misreads");
            let scores_file = args.iter().position(|a| a == "--scores").and_then(|i| args.get(i + 1));
            cross_validate(&paths, &TrainConfig::default(), folds).and_then(|(reports, pooled, readings)| {
                if misreads {
                    for c in readings.iter().filter(|c| c.example.intent != c.reading.label) {
                        println!(
                            "misread: {} -> {} ({:.2}): {}",
                            c.example.intent, c.reading.label, c.reading.confidence, c.example.text
                        );
                    }
                }
                if let Some(file) = scores_file {
                    write_scores(std::path::Path::new(file), &readings)?;
                }
                for (k, r) in reports.iter().enumerate() {
                    println!(
                        "fold {k}: n={} accuracy {:.2} % | oos recall {:.2} % | false rejects {:.2} %",
                        r.examples,
                        100.0 * r.accuracy,
                        100.0 * r.oos_recall,
                        100.0 * r.false_reject_rate
                    );
                }
                let rejected: Vec<&rayos_intent::Reading> = readings
                    .iter()
                    .filter(|c| c.example.intent != rayos_intent::OOS_LABEL && c.reading.is_oos())
                    .map(|c| &c.reading)
                    .collect();
                let by_class = rejected.iter().filter(|r| r.alternatives[0].0 == r.intent).count();
                println!(
                    "false rejects: {} by the out-of-scope class, {} by the thresholds",
                    by_class,
                    rejected.len() - by_class
                );
                print!("pooled over {folds} folds: {pooled}");
                Ok(())
            })
        }
        _ => {
            eprintln!(
                "usage: rayos-intent-train derive-embeddings | import-clinc | train | check | query | eval FILE | bench | \
                 cv [FOLDS] [--misreads] [--scores FILE] | latency FILE"
            );
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
