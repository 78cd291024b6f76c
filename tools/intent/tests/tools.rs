//! The host tools on the committed data: JSON query output, the eval report, and the
//! reproducibility of the committed weights.

use std::io::Cursor;

use rayos_intent_tools::data::{read_jsonl, Example};
use rayos_intent_tools::train::TrainConfig;
use rayos_intent_tools::{evaluate, load_engine, run_eval, run_query, train, HostWorld, Paths};

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
fn query_reads_past_a_line_that_is_not_utf8() {
    let input = Cursor::new(b"start linux\n\xff\xfe bad bytes\r\nstop linux\r\n".to_vec());
    let mut output = Vec::new();
    run_query(input, &mut output).expect("query runs");
    let text = String::from_utf8(output).expect("utf-8");
    let intents: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("each line is JSON")["intent"].to_string()
        })
        .collect();
    assert_eq!(intents, ["\"vm.start\"", "\"oos\"", "\"vm.stop\""]);
}

#[test]
fn eval_rejects_a_label_that_is_not_an_intent() {
    let path = std::env::temp_dir().join(format!("rayos-eval-bad-label-{}.jsonl", std::process::id()));
    std::fs::write(
        &path,
        "{\"text\":\"start linux\",\"intent\":\"vm.start\"}\n{\"text\":\"stop it\",\"intent\":\"vm.halt\"}\n",
    )
    .expect("temp file");
    let error = run_eval(&path, Vec::new()).expect_err("an unknown label is an error").to_string();
    let _ = std::fs::remove_file(&path);
    assert!(error.contains(":2:") && error.contains("\"vm.halt\" is not an intent label"), "{error}");
}

/// A labelled example as an evaluation file would hold it.
fn example(text: &str, intent: &str, entities: serde_json::Value) -> Example {
    Example {
        text: text.into(),
        intent: intent.into(),
        entities: entities.as_object().cloned().unwrap_or_default(),
        source: None,
    }
}

#[test]
fn eval_counts_errors_and_entity_mistakes() {
    let (engine, _) = load_engine(&Paths::workspace()).expect("weights load");
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
fn eval_compares_entities_as_the_engine_resolves_them() {
    let (engine, _) = load_engine(&Paths::workspace()).expect("weights load");
    // Labels written as a person would, against the engine's resolved values.
    let examples = vec![
        example("install rayos on the second disk", "install.run", serde_json::json!({"disk": "disk 2"})),
        example(
            "warnings from the last boot",
            "log.show",
            serde_json::json!({"level": "warnings", "boot": "last"}),
        ),
        example("restart the win10 vm", "vm.restart", serde_json::json!({"vm": "win10"})),
        example("arm the watchdog for 2 min", "watchdog.arm", serde_json::json!({"seconds": "2 min"})),
    ];
    let report = evaluate(&engine, &examples, &HostWorld);
    assert_eq!(report.accuracy, 1.0, "{report}");
    assert_eq!(report.entity_f1, 1.0, "{report}");
    // But a different disk is a different disk.
    let wrong = vec![example(
        "install rayos on the second disk",
        "install.run",
        serde_json::json!({"disk": "disk 1"}),
    )];
    assert_eq!(evaluate(&engine, &wrong, &HostWorld).entity_f1, 0.0);
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
    assert!(report.entity_f1 >= 0.95, "{report}");
}

#[test]
fn corpus_annotations_agree_with_the_extraction_rules() {
    // Every 8th line of the generated corpus: the annotations the generator wrote and the
    // slots the engine reads (with the intent as annotated) must agree.
    let paths = Paths::workspace();
    let (engine, _) = load_engine(&paths).expect("weights load");
    let corpus = read_jsonl(&paths.data("train.jsonl")).expect("corpus");
    let (mut agree, mut total) = (0usize, 0usize);
    for e in corpus.iter().step_by(8).filter(|e| !e.entities.is_empty()) {
        let Some(found) = engine.slots_as(&e.intent, &e.text, &HostWorld) else { continue };
        let found: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&found.to_json()).expect("entities render as JSON");
        total += 1;
        agree += usize::from(found == e.entities);
    }
    assert!(total > 300, "{total} annotated lines sampled");
    assert!(agree as f64 >= 0.97 * total as f64, "{agree} of {total} annotated lines agree");
}

#[test]
fn the_host_world_is_the_documented_one() {
    use rayos_intent::World;
    let disks = HostWorld.disks();
    assert_eq!((disks[0].name.as_str(), disks[0].size_bytes, disks[0].index), ("vda", 8 << 30, 1));
    assert_eq!((disks[1].name.as_str(), disks[1].size_bytes, disks[1].index), ("vdb", 32 << 30, 2));
    assert_eq!(HostWorld.boot_entries(), ["recovery", "rayos-1", "rayos-2", "rayos-3"]);
    assert_eq!(HostWorld.vm_names(), ["linux", "windows", "hostile"]);
    assert_eq!(HostWorld.current_boot(), Some(12));
}

#[test]
fn cross_validation_folds_never_split_a_source_line() {
    let example = |text: &str, source: Option<u32>| Example {
        text: text.into(),
        intent: "oos".into(),
        entities: Default::default(),
        source,
    };
    let examples = vec![
        example("a", Some(1)),
        example("a!", Some(1)),
        example("b", Some(2)),
        example("c", Some(3)),
        example("clinc", None),
    ];
    for k in 0..3 {
        let (test, train) = rayos_intent_tools::fold_split(&examples, 3, k);
        assert_eq!(test.len() + train.len(), examples.len());
        for t in &test {
            assert!(t.source.is_some(), "examples without a source always train");
            assert!(train.iter().all(|e| e.source != t.source), "fold {k} splits source {:?}", t.source);
        }
    }
}

/// Retrains from the corpus and checks the committed blob is byte-identical. About 4.5
/// minutes in a debug build, so it is ignored by default; run it with
/// `cargo test -p rayos-intent-tools --release -- --ignored` (about 10 s), or use
/// `rayos-intent-train check`.
#[test]
#[ignore]
fn committed_weights_reproduce() {
    let paths = Paths::workspace();
    let out = train(&paths, &TrainConfig::default()).expect("training runs");
    let committed = std::fs::read(paths.weights()).expect("committed weights");
    assert!(out.blob == committed, "retrained weights differ: run `rayos-intent-train train`");
}

#[test]
fn calibration_folds_keep_lines_together_and_spread_a_cross_validation_fold() {
    let example = |source: Option<u32>| Example {
        text: format!("line {source:?}"),
        intent: "oos".into(),
        entities: Default::default(),
        source,
    };
    // The lines one cross-validation fold trains on: every source that is not 0 modulo 5.
    let examples: Vec<Example> =
        (1..2000u32).filter(|s| s % 5 != 0).flat_map(|s| [example(Some(s)), example(Some(s))]).collect();
    let mut sizes = Vec::new();
    for k in 0..4 {
        let (held, train) = rayos_intent_tools::calibration_split(&examples, 4, k);
        assert_eq!(held.len() + train.len(), examples.len());
        for h in &held {
            assert!(train.iter().all(|t| t.source != h.source), "fold {k} splits source {:?}", h.source);
        }
        sizes.push(held.len());
    }
    // Unlike `fold_split`, no calibration fold is empty inside a cross-validation fold.
    assert!(sizes.iter().all(|&n| n > examples.len() / 6), "{sizes:?}");
    let (held, _) = rayos_intent_tools::calibration_split(&[example(None)], 4, 0);
    assert!(held.is_empty(), "examples without a source always train");
}

#[test]
fn calibration_meets_the_recall_floor_with_the_fewest_rejections() {
    use rayos_intent_tools::train::{calibrate, rates};
    // Three classes, oos = 2. In-scope requests are sure of their class; out-of-scope ones
    // lean to class 0 by varying amounts, so only a lower oos offset rejects them all.
    let oos = 2;
    let mut scored: Vec<(Vec<f32>, usize)> = Vec::new();
    for i in 0..50 {
        scored.push((vec![0.9, 0.05, 0.05], 0));
        scored.push((vec![0.05, 0.9, 0.05], 1));
        let lean = 0.3 + 0.01 * i as f32;
        scored.push((vec![lean, 0.0, 1.0 - lean], oos));
    }
    let tuning = scored.clone();
    let c = calibrate(&scored, &tuning, oos, 0.9);
    assert!(c.held_apart.oos_recall >= 0.9 && c.tuning.oos_recall >= 0.9, "{c:?}");
    assert_eq!(c.held_apart.false_reject_rate, 0.0, "the floor is met without rejecting in-scope requests");
    assert_eq!(rates(&scored, oos, c.oos_offset, c.confidence, c.margin), c.held_apart);
    // An unreachable floor still gives the point with the best recall.
    let strict = calibrate(&scored, &tuning, oos, 1.01);
    assert!(strict.held_apart.oos_recall >= c.held_apart.oos_recall);
}

#[test]
fn calibration_rates_follow_the_engines_decision_rule() {
    use rayos_intent_tools::train::rates;
    let (engine, _) = load_engine(&Paths::workspace()).expect("weights load");
    let oos = engine.oos().0 as usize;
    let requests = ["stop the linux vm", "what's the weather in paris", "network?", "re boot", "hmm"];
    let scored: Vec<(Vec<f32>, usize)> =
        requests.iter().map(|t| (engine.scores(t).probabilities, 0)).collect();
    for (confidence, margin) in [(0.0, 0.0), (0.5, 0.1), (0.9, 0.3)] {
        let rejected =
            scored.iter().filter(|(p, _)| engine.decide(p, confidence, margin).0 == engine.oos()).count();
        let r = rates(&scored, oos, 0.0, confidence, margin);
        let by_rates = (r.false_reject_rate * scored.len() as f32).round() as usize;
        assert_eq!(by_rates, rejected, "thresholds {confidence} {margin}");
    }
}

#[test]
fn ask_shows_a_passage_of_the_section_that_answers_each_development_question() {
    let paths = Paths::workspace();
    let (engine, _) = load_engine(&paths).expect("weights load");
    let index = rayos_intent_tools::manual_index(&engine).expect("the manual is indexed");
    let questions =
        rayos_intent_tools::read_manual_questions(&paths.data("ask-dev.jsonl")).expect("questions parse");
    let mut wrong_first = Vec::new();
    let report = rayos_intent_tools::evaluate_ask(&engine, &index, &questions, |q, found| {
        wrong_first.push(format!("{:?} wants {:?}, got {found:?}", q.question, q.sections));
    });
    assert!(report.questions >= 38);
    let sections = rayos_intent_tools::manual_sections().expect("the manual reads");
    for q in &questions {
        assert!(
            q.sections.iter().all(|s| sections.contains(s)),
            "{:?} names no section of the manual",
            q.sections
        );
    }
    // Every question has its answer among the three passages `ask` shows, and most as the first.
    assert_eq!(report.top3, report.questions, "{wrong_first:#?}");
    assert!(report.top1 * 5 >= report.questions * 4, "{wrong_first:#?}");
}
