//! The host tools on the committed data: JSON query output, the eval report, and the
//! reproducibility of the committed weights.

use std::io::Cursor;

use rayos_intent_tools::data::{read_jsonl, Example};
use rayos_intent_tools::train::TrainConfig;
use rayos_intent_tools::{evaluate, load_engine, run_query, train, HostWorld, Paths};

#[test]
fn query_writes_one_json_object_per_line() {
    let input = Cursor::new("stop the windows vm\n\nwhat's the weather in paris\n");
    let mut output = Vec::new();
    run_query(input, &mut output).expect("query runs");
    let text = String::from_utf8(output).expect("utf-8");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["intent"], "vm.stop");
    assert_eq!(lines[0]["entities"]["vm"], "windows");
    assert_eq!(lines[0]["command"], "vm stop windows");
    assert!(lines[0]["confidence"].as_f64().is_some_and(|c| (0.0..=1.0).contains(&c)));
    assert_eq!(lines[1]["intent"], "oos");
    assert!(lines[1]["command"].is_null());
}

#[test]
fn eval_counts_errors_and_entity_mistakes() {
    let (engine, _) = load_engine(&Paths::workspace()).expect("weights load");
    let example = |text: &str, intent: &str, entities: serde_json::Value| Example {
        text: text.into(),
        intent: intent.into(),
        entities: entities.as_object().cloned().unwrap_or_default(),
        source: None,
    };
    let examples = vec![
        example("stop the linux vm", "vm.stop", serde_json::json!({"vm": "linux"})),
        example("stop the linux vm", "vm.start", serde_json::json!({"vm": "windows"})),
        example("tell me a joke", "oos", serde_json::json!({})),
        example("tell me a joke", "system.help", serde_json::json!({})),
    ];
    let report = evaluate(&engine, &examples, &HostWorld);
    assert_eq!((report.in_scope, report.out_of_scope), (3, 1));
    assert!((report.accuracy - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(report.oos_recall, 1.0);
    assert!((report.false_reject_rate - 1.0 / 3.0).abs() < 1e-9);
    // Entities: tp 1 (linux), fp 1 (linux vs windows), fn 1 (windows).
    assert!((report.entity_f1 - 0.5).abs() < 1e-9);
    assert_eq!(report.confusions.len(), 2);
}

#[test]
fn dev_set_meets_the_targets() {
    let paths = Paths::workspace();
    let (engine, size_bytes) = load_engine(&paths).expect("weights load");
    assert!(size_bytes < 4 << 20, "weights are {size_bytes} bytes");
    let dev = read_jsonl(&paths.data("dev.jsonl")).expect("dev set");
    let report = evaluate(&engine, &dev, &HostWorld);
    assert!(report.accuracy >= 0.97, "{report}");
    assert!(report.oos_recall >= 0.95, "{report}");
    assert!(report.false_reject_rate <= 0.03, "{report}");
}

/// Retrains from the corpus and checks the committed blob is byte-identical. About 40 s
/// in a debug build, so it is ignored by default; run it with
/// `cargo test -p rayos-intent-tools --release -- --ignored` (a few seconds), or use
/// `rayos-intent-train check`.
#[test]
#[ignore]
fn committed_weights_reproduce() {
    let paths = Paths::workspace();
    let out = train(&paths, &TrainConfig::default()).expect("training runs");
    let committed = std::fs::read(paths.weights()).expect("committed weights");
    assert!(out.blob == committed, "retrained weights differ: run `rayos-intent-train train`");
}
