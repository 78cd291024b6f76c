//! Tests of the engine with the committed weights: tokenizer, entities, classifier,
//! thresholds, commands, robustness, loading and retrieval.

use proptest::prelude::*;
use rayos_intent::entities::{self, DiskInfo};
use rayos_intent::format::{self, LoadError};
use rayos_intent::text::{edit_distance_capped, normalize, split, words, TokenKind};
use rayos_intent::{split_markdown, table, DocsIndex, Effect, Engine, Familiarity, Level, World};

const WEIGHTS: &[u8] = include_bytes!("../weights/intent.bin");

fn engine() -> &'static Engine {
    use std::sync::OnceLock;
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| match Engine::from_bytes(WEIGHTS) {
        Ok(e) => e,
        Err(e) => panic!("committed weights do not load: {e}"),
    })
}

struct FakeWorld;

impl World for FakeWorld {
    fn vm_names(&self) -> Vec<String> {
        vec!["linux".into(), "hostile".into()]
    }
    fn disks(&self) -> Vec<DiskInfo> {
        vec![
            DiskInfo { name: "vda".into(), size_bytes: 8 << 30, index: 1 },
            DiskInfo { name: "vdb".into(), size_bytes: 16_000_000_000, index: 2 },
            DiskInfo { name: "vdc".into(), size_bytes: 64 << 30, index: 3 },
        ]
    }
    fn boot_entries(&self) -> Vec<String> {
        vec!["RayOS A".into(), "RayOS B".into()]
    }
    fn current_boot(&self) -> Option<u64> {
        Some(42)
    }
}

fn words_of(text: &str) -> Vec<String> {
    words(&normalize(text)).into_iter().map(String::from).collect()
}

fn extract(text: &str) -> rayos_intent::Entities {
    let normalized = normalize(text);
    let w = words(&normalized);
    entities::extract(&w, text, &FakeWorld)
}

// ---------------------------------------------------------------- tokenizer

#[test]
fn normalizes_case_accents_and_scripts() {
    assert_eq!(normalize("Ünïcödé CAFÉ"), "unicode cafe");
    assert_eq!(normalize("ΣΟΦΙΑ"), "σοφια");
    assert_eq!(words_of("Redémarrer   la VM!!"), ["redemarrer", "la", "vm"]);
}

#[test]
fn splits_punctuation_and_cjk() {
    let n = normalize("stop,linux...now?!");
    let kinds: Vec<(String, TokenKind)> =
        split(&n).into_iter().map(|t| (n[t.start..t.end].to_string(), t.kind)).collect();
    assert_eq!(kinds[0], ("stop".into(), TokenKind::Word));
    assert_eq!(kinds[1], (",".into(), TokenKind::Punct));
    assert_eq!(kinds[2], ("linux".into(), TokenKind::Word));
    assert_eq!(words_of("启动虚拟机"), ["启", "动", "虚", "拟", "机"]);
    assert_eq!(words_of("what's up"), ["what", "s", "up"]);
}

#[test]
fn word_pieces_use_the_vocabulary() {
    let e = engine().embeddings();
    let mut ids = Vec::new();
    e.word_pieces("watchdog", &mut ids);
    let pieces: Vec<&str> = ids.iter().map(|&i| e.token_text(i)).collect();
    assert_eq!(pieces.concat().replace("##", ""), "watchdog");
    ids.clear();
    e.word_pieces(&"x".repeat(101), &mut ids);
    assert_eq!(ids.len(), 1);
    assert_eq!(e.token_text(ids[0]), "[UNK]");
}

#[test]
fn edit_distance_counts_swaps_as_one() {
    assert_eq!(edit_distance_capped("hlep", "help", 2), 1);
    assert_eq!(edit_distance_capped("linx", "linux", 2), 1);
    assert_eq!(edit_distance_capped("abc", "xyz", 1), 2);
}

#[test]
fn lexicon_corrects_typos_of_known_words_only() {
    let lexicon = engine().lexicon();
    assert_eq!(lexicon.correct("hlep"), Some("help"));
    assert_eq!(lexicon.correct("watchdgo"), Some("watchdog"));
    assert_eq!(lexicon.correct("help"), None);
    assert_eq!(lexicon.correct("zzzzqqqq"), None);
    assert_eq!(lexicon.correct("vm"), None, "short words are never corrected");
    assert_eq!(lexicon.correct("proccesor"), Some("processor"), "two edits in a long word");
    assert_eq!(lexicon.correct("wacthdog"), Some("watchdog"));
    assert_eq!(lexicon.correct("memroy"), Some("memory"));
    // Two edits from "version" but seen in other requests than it: a word of its own.
    assert_eq!(lexicon.correct("verizon"), None);
}

#[test]
fn real_words_are_not_taken_for_typos() {
    let e = engine();
    let normalized = normalize("cook the pasta");
    let words = rayos_intent::analyze(&normalized, e.lexicon(), e.embeddings());
    assert_eq!(words, ["cook", "the", "pasta"], "a vocabulary word stays as typed");
    let normalized = normalize("strat the wacthdog");
    let words = rayos_intent::analyze(&normalized, e.lexicon(), e.embeddings());
    assert_eq!(words, ["start", "the", "watchdog"]);
}

/// Asserts that each request reads as its command.
fn reads_as_commands(cases: &[(&str, &str)]) {
    for &(text, command) in cases {
        assert_eq!(engine().read(text, &FakeWorld).command.as_deref(), Some(command), "{text}");
    }
}

/// The words the engine classifies `text` by.
fn analysed(text: &str) -> Vec<String> {
    let e = engine();
    let normalized = normalize(text);
    rayos_intent::analyze_joined(&normalized, e.lexicon(), e.embeddings(), e.known_words())
        .into_iter()
        .map(String::from)
        .collect()
}

#[test]
fn split_words_are_joined_only_into_in_scope_words() {
    let e = engine();
    let joined = analysed;
    assert_eq!(joined("re boot now"), ["reboot", "now"], "a fragment joins its neighbour");
    assert_eq!(
        joined("watch dog status"),
        ["watchdog", "status"],
        "the whole is more frequent than its parts"
    );
    assert_eq!(joined("net work status"), ["network", "status"]);
    assert_eq!(joined("v m list"), ["vm", "list"]);
    assert_eq!(
        joined("shut down the box"),
        ["shut", "down", "the", "box"],
        "parts more frequent than the whole"
    );
    assert_eq!(joined("start up linux"), ["start", "up", "linux"]);
    assert_eq!(joined("arm wd 30 s"), ["arm", "wd", "30", "s"], "numbers are never joined");
    assert_eq!(joined("watch the movie"), ["watch", "the", "movie"], "no in-scope word to join into");
    // The same request, split or not, reads the same.
    for (split, whole) in [("re boot the computer", "reboot the computer"), ("watch dog off", "watchdog off")]
    {
        assert_eq!(e.read(split, &FakeWorld).label, e.read(whole, &FakeWorld).label, "{split}");
    }
}

#[test]
fn words_glued_by_a_missing_space_are_taken_apart_into_in_scope_words() {
    let e = engine();
    assert_eq!(analysed("listvms"), ["list", "vms"], "not corrected to the nearest long word");
    assert_eq!(analysed("showlinuxdesktop"), ["show", "linux", "desktop"], "three words");
    assert_eq!(analysed("please stopvm now"), ["please", "stop", "vm", "now"]);
    // Vocabulary and corpus words stay whole, and so do words whose parts are not all words
    // in-scope requests use.
    assert_eq!(analysed("shutdown"), ["shutdown"]);
    assert_eq!(analysed("password"), ["password"]);
    assert_eq!(analysed("bookaflight"), ["bookaflight"]);
    assert_eq!(analysed("wacthdog"), ["watchdog"], "a typo is still corrected");
    for (glued, spaced) in [
        ("listvms", "list vms"),
        ("memoryusage", "memory usage"),
        ("turnoffnetwork", "turn off network"),
        ("listcrashes", "list crashes"),
    ] {
        let (g, s) = (e.read(glued, &FakeWorld), e.read(spaced, &FakeWorld));
        assert_eq!((g.label, g.command), (s.label, s.command), "{glued}");
    }
    let mut parts = Vec::new();
    assert!(
        !rayos_intent::split_glued_word("Listvms", e.lexicon(), e.known_words(), &mut parts),
        "normalised words only"
    );
    let long = "vm".repeat(20);
    assert!(!rayos_intent::split_glued_word(&long, e.lexicon(), e.known_words(), &mut parts), "too long");
    assert!(parts.is_empty(), "nothing is pushed when the word is not taken apart");
}

#[test]
fn the_lexicon_finds_short_words_but_never_corrects_them() {
    let lexicon = engine().lexicon();
    assert_eq!(lexicon.word("vm"), Some("vm"));
    assert!(lexicon.contains("vm"));
    assert_eq!(lexicon.word("qqzz"), None);
    assert_eq!(lexicon.correct("vn"), None);
}

#[test]
fn typos_punctuation_extra_words_and_order_keep_the_intent() {
    let e = engine();
    for (text, label) in [
        ("watchdgo status", "watchdog.status"),
        ("STOP the Linux VM!!!", "vm.stop"),
        ("umm could you maybe please stop the linux vm for me thanks", "vm.stop"),
        ("the linux vm, stop it", "vm.stop"),
        ("dsiks", "disk.list"),
        ("rebot the machine", "system.reboot"),
        ("how much memroy is free", "system.memory"),
        ("enabel the network", "net.enable"),
    ] {
        assert_eq!(e.read(text, &FakeWorld).label, label, "{text}");
    }
}

// ---------------------------------------------------------------- entities

#[test]
fn word_order_decides_on_or_off() {
    // A bag of words reads these the wrong way round; the polarity feature does not.
    let e = engine();
    for (text, label) in [
        ("airplane mode off", "net.enable"),
        ("turn off airplane mode", "net.enable"),
        ("airplane mode on", "net.disable"),
        ("don't keep the network off, enable it", "net.enable"),
        ("enable networking, not disable", "net.enable"),
        ("the network is on and i never asked, turn it off", "net.disable"),
        ("arm the watchdog, don't disarm it", "watchdog.arm"),
    ] {
        assert_eq!(e.read(text, &FakeWorld).label, label, "{text}");
    }
}

#[test]
fn numbers_as_digits_and_words() {
    let w = ["twenty", "five"];
    assert_eq!(entities::number_at(&w, 0), Some((25, 2)));
    let w = ["two", "hundred", "and", "five"];
    assert_eq!(entities::number_at(&w, 0), Some((205, 4)));
    assert_eq!(entities::number_at(&["42"], 0), Some((42, 1)));
    assert_eq!(entities::number_at(&["linux"], 0), None);
    assert_eq!(entities::ordinal_at(&["third"], 0), Some(3));
    assert_eq!(entities::ordinal_at(&["2nd"], 0), Some(2));
}

#[test]
fn durations() {
    for (text, seconds) in [
        ("arm it for 30 seconds", 30),
        ("2 min", 120),
        ("1h", 3600),
        ("1h30m", 5400),
        ("half an hour", 1800),
        ("thirty seconds", 30),
        ("an hour", 3600),
        ("1 hour and 15 minutes", 4500),
        ("errors in the last hour", 3600),
        ("since ten minutes ago", 600),
        ("errors in the past half hour", 1800),
        ("arm wd 60", 60),
        ("watchdog arm 45", 45),
        ("watchdog on, five minutes", 300),
        ("the log since 15 mins ago", 900),
    ] {
        assert_eq!(extract(text).seconds, Some(seconds), "{text}");
    }
    assert_eq!(extract("arm the watchdog").seconds, None);
    assert_eq!(extract("search boot 10's log for gpt").seconds, None, "a boot number is no duration");
}

#[test]
fn several_levels_show_the_least_severe_and_journalctl_priorities_count() {
    // `--level` is a minimum: "errors and warnings" is --level warn (it was error).
    assert_eq!(extract("show errors and warnings").level, Some(Level::Warn));
    assert_eq!(extract("show errors no warnings").level, Some(Level::Error));
    assert_eq!(extract("journalctl -p 3").level, Some(Level::Error));
    assert_eq!(extract("journalctl -p 4").level, Some(Level::Warn));
    assert_eq!(extract("journalctl -p crit").level, Some(Level::Error));
    // "info" and "verbose" that mean details are no level beside another.
    assert_eq!(extract("show errors with more info").level, Some(Level::Error));
    assert_eq!(extract("show errors and info").level, Some(Level::Info));
    assert_eq!(extract("info messages").level, Some(Level::Info));
}

#[test]
fn a_quoted_search_term_is_no_filter() {
    // Its words once added --level error and --boot 5 to the search.
    let e = extract("search the log for \"error: boot 5\"");
    assert_eq!((e.text.as_deref(), e.level, e.boot), (Some("error: boot 5"), None, None));
    let e = extract("search the log for \"kernel panic at boot 3\"");
    assert_eq!(
        (e.text.as_deref(), e.boot),
        (Some("kernel panic at boot 3"), None),
        "a long term after 'for'"
    );
    // An unquoted term keeps the punctuation inside it.
    assert_eq!(extract("search logs for virtio_blk").text.as_deref(), Some("virtio_blk"));
    assert_eq!(extract("logs about rayos.kernel").text.as_deref(), Some("rayos.kernel"));
    // A quoted time is no search term.
    let e = extract("journalctl --since \"10 min ago\" -p warning");
    assert_eq!((e.text, e.seconds, e.level), (None, Some(600), Some(Level::Warn)));
    let e = extract("errors from the last 10 minutes mentioning \"virtio\"");
    assert_eq!((e.text.as_deref(), e.level, e.seconds), (Some("virtio"), Some(Level::Error), Some(600)));
    assert_eq!(extract("find 'EXT4-fs error' in the last boot").boot, Some(-1));
}

#[test]
fn a_negated_search_term_is_left_out() {
    // It was searched for: "logs not mentioning usb" ran `log show --grep usb`.
    for (text, exclude, level) in [
        ("logs not mentioning usb", "usb", None),
        ("errors that don't mention timeout", "timeout", Some(Level::Error)),
        ("log lines that do not contain disk", "disk", None),
        ("show logs without the word watchdog", "watchdog", None),
        ("log entries excluding virtio", "virtio", None),
        ("show the log except lines about usb", "usb", None),
        ("show log lines not containing \"virtio blk\"", "virtio blk", None),
        ("show me the log but leave out anything mentioning timer", "timer", None),
        ("the log with nothing mentioning dhcp", "dhcp", None),
        ("errors in the last hour excluding anything with usb", "usb", Some(Level::Error)),
    ] {
        let e = extract(text);
        assert_eq!(
            (e.text.as_deref(), e.exclude.as_deref(), e.level),
            (None, Some(exclude), level),
            "{text:?}"
        );
    }
    // A term to look for and one to leave out, in one request.
    for text in [
        "errors mentioning disk but not mentioning acpi",
        "errors mentioning disk but not acpi",
        "log lines mentioning disk, but leave out anything containing acpi",
        "messages containing disk but not ones mentioning acpi",
        "search the logs for disk and leave out acpi",
        "errors excluding acpi containing disk",
    ] {
        let e = extract(text);
        assert_eq!((e.text.as_deref(), e.exclude.as_deref()), (Some("disk"), Some("acpi")), "{text:?}");
    }
    // A term never runs on into the next cue, and "nothing but" asks for a term alone.
    assert_eq!(extract("errors except ones mentioning acpi").exclude.as_deref(), Some("acpi"));
    for text in ["show nothing but lines mentioning disk", "show me nothing except lines containing disk"] {
        let e = extract(text);
        assert_eq!((e.text.as_deref(), e.exclude.as_deref()), (Some("disk"), None), "{text:?}");
    }
    // A level after "but not" or "excluding" is no filter either, and a term stops at "but".
    let e = extract("search the logs for usb but not errors");
    assert_eq!((e.text.as_deref(), e.exclude.as_deref(), e.level), (Some("usb"), None, None));
    assert_eq!(extract("show logs excluding errors").level, None);
    assert_eq!(extract("show errors but not warnings").level, Some(Level::Error));
    assert_eq!(extract("are there no warnings").level, Some(Level::Warn), "asks about warnings");
    let r = engine().read("errors that don't mention timeout", &FakeWorld);
    assert_eq!(r.command.as_deref(), Some("log show --level error --exclude timeout"));
}

#[test]
fn the_newest_records_of_a_level_are_counted() {
    reads_as_commands(&[
        ("show the 10 most recent errors", "log show --level error --tail 10"),
        ("show the 5 latest warnings", "log show --level warn --tail 5"),
        // Boots are no records: every record of the three boots.
        ("errors of the 3 most recent boots", "log show --level error"),
    ]);
}

#[test]
fn the_first_lines_are_the_oldest() {
    // They were the newest: "first 20 lines of the log" ran `log show --tail 20`.
    for (text, head) in [
        ("first 20 lines of the log", 20),
        ("the earliest 5 records from the last boot", 5),
        ("show the 15 oldest log records", 15),
        ("show the oldest 10 log entries", 10),
        ("head 5 log", 5),
        ("the very first 3 lines of the log", 3),
    ] {
        let e = extract(text);
        assert_eq!((e.head, e.count), (Some(head), None), "{text:?}");
    }
    assert_eq!(
        (extract("last 20 lines of the log").count, extract("last 20 lines of the log").head),
        (Some(20), None)
    );
    assert_eq!(extract("show the log from the first boot").head, None);
    assert_eq!(extract("show the first 20 lines of the log, i mean 30").head, Some(30), "a bare correction");
    let r = engine().read("the first 10 lines of boot 3", &FakeWorld);
    assert_eq!(r.command.as_deref(), Some("log show --boot 3 --head 10"));
}

#[test]
fn durations_with_a_decimal_point() {
    // Read from the words alone, "1.5 minutes" was 5 minutes and "90.5 seconds" 5 seconds.
    for (text, seconds) in [
        ("arm the watchdog for 1.5 minutes", 90),
        ("arm the watchdog for 90.5 seconds", 91),
        ("wd 0.5h", 1800),
        ("watchdog 2.5min", 150),
        ("arm wd 2.5", 3),
        ("errors in the past 0.25 days", 21_600),
    ] {
        assert_eq!(extract(text).seconds, Some(seconds), "{text}");
    }
    for (text, seconds) in [
        ("arm the watchdog for 1,500 seconds", 1500),
        ("arm the watchdog for 1,5 minutes", 90),
        ("arm the watchdog for 2 and a half minutes", 150),
        ("arm the watchdog for a minute and a half", 90),
        ("logs from the last hour and a half", 5400),
        // A number after "for", "to" or "at" that follows a watchdog word: the timeout.
        ("arm the watchdog for 3600", 3600),
        ("change the watchdog timeout to 200", 200),
        ("arm wd for sixty", 60),
        ("arm the watchdog for 2:30", 150),
        ("arm the watchdog for a quarter of an hour", 900),
        ("arm the watchdog with 60", 60),
        ("watchdog timeout should be 45", 45),
    ] {
        assert_eq!(extract(text).seconds, Some(seconds), "{text}");
    }
    assert_eq!(extract("show the last 2,500 lines").count, Some(2500));
    // "from X to Y" changes to Y; "from X ago to Y ago" is a window from X.
    assert_eq!(extract("change the watchdog timeout from 30 seconds to 2 minutes").seconds, Some(120));
    assert_eq!(extract("errors from 2 hours ago to 1 hour ago").seconds, Some(7200));
    let last = extract("logs from the last 1.5 hours");
    assert_eq!((last.seconds, last.count), (Some(5400), None), "'last 1' is no count of lines");
    assert_eq!(extract("after updating to 1.2.3 errors in the last 10 minutes").seconds, Some(600));
}

#[test]
fn boots_absolute_and_relative() {
    for (text, boot) in [
        ("logs of the last boot", -1),
        ("previous boot", -1),
        ("two boots ago", -2),
        ("the boot before last", -2),
        ("boot 7", 7),
        ("boot number five", 5),
        ("this boot", 42),
        ("crash 5", 5),
        ("crash show 3", 3),
        ("crash report 7", 7),
        ("log show boot 12 level warn", 12),
        ("errors from the boot before", -1),
        ("crash of the boot before please", -1),
        ("the log of the boot before this one", -1),
        ("why didn't it start right the previous time", -1),
    ] {
        assert_eq!(extract(text).boot, Some(boot), "{text}");
    }
    assert_eq!(extract("show the log").boot, None);
    // Ordinals count from the first boot, unless they count back or within a day.
    assert_eq!(extract("errors from the 3rd boot").boot, Some(3));
    assert_eq!(extract("logs of the third boot").boot, Some(3));
    assert_eq!(extract("the second boot today failed").boot, None);
    assert_eq!(extract("second to last boot").boot, Some(-2));
    assert_eq!(extract("crash 5 times").boot, None);
    assert_eq!(extract("errors at boot before linux started").boot, None, "a time of this boot");
    assert_eq!(extract("show the log from startup before the crash").boot, None);
    // Dictated "two" and the phrasings of beginners.
    assert_eq!(extract("errors from to boots ago").boot, Some(-2));
    assert_eq!(extract("the log of the boot before the last one").boot, Some(-2));
    assert_eq!(extract("why did it not start the last time").boot, Some(-1));
    assert_eq!(extract("what went wrong last time").boot, Some(-1));
    assert_eq!(extract("i go to the shop").boot, None);
    // Flags of journalctl and of `log show`.
    assert_eq!(extract("journalctl -b -1 -p err").boot, Some(-1));
    assert_eq!(extract("panic -1").boot, Some(-1));
    assert_eq!(extract("log show --boot 3").boot, Some(3));
    assert_eq!(extract("journalctl -b").boot, Some(42), "a bare -b is the running boot");
    assert_eq!(extract("journalctl -b 0").boot, Some(42));
    assert_eq!(extract("journalctl -n 50").count, Some(50));
    assert_eq!(extract("journalctl 50").count, None, "only after -n");
}

#[test]
fn disks_by_name_index_ordinal_and_size() {
    for (text, disk) in [
        ("install to vdb", "vdb"),
        ("install on /dev/vdc", "vdc"),
        ("disk 2", "vdb"),
        ("disk two", "vdb"),
        ("the second disk", "vdb"),
        ("the 8 GB disk", "vda"),
        ("the 16gb drive", "vdb"),
        ("the largest disk", "vdc"),
        ("nvme0n1", "nvme0n1"),
    ] {
        assert_eq!(extract(text).disk.as_deref(), Some(disk), "{text}");
    }
    assert_eq!(extract("disk 9").disk, None, "no disk 9 in the world");
    assert_eq!(extract("the 500 GB disk").disk, None);
    for (text, disk) in [
        ("install on the big disk", "vdc"),
        ("install on the small one", "vda"),
        ("the bigger one", "vdc"),
        ("install on the larger of the disks", "vdc"),
        ("install to the second one", "vdb"),
        ("list the discs", "none"),
        ("put it on the third disc", "vdc"),
        // Dictated "disk two".
        ("install rayos on disc to", "vdb"),
        ("install on disk too please", "vdb"),
        ("install rayos and format the disk too", "none"),
    ] {
        assert_eq!(extract(text).disk.as_deref().unwrap_or("none"), disk, "{text}");
    }
    assert_eq!(extract("a big thank you").disk, None, "a size word alone names no disk");
}

#[test]
fn entries_named_with_number_words() {
    struct Entries;
    impl World for Entries {
        fn vm_names(&self) -> Vec<String> {
            Vec::new()
        }
        fn disks(&self) -> Vec<DiskInfo> {
            Vec::new()
        }
        fn boot_entries(&self) -> Vec<String> {
            vec!["recovery".into(), "rayos-1".into(), "rayos-2".into()]
        }
        fn current_boot(&self) -> Option<u64> {
            None
        }
    }
    let entry = |text: &str| {
        let normalized = normalize(text);
        entities::extract(&words(&normalized), text, &Entries).entry
    };
    assert_eq!(entry("make rayos two the default").as_deref(), Some("rayos-2"));
    assert_eq!(entry("make rayos dash one the default").as_deref(), Some("rayos-1"));
    assert_eq!(entry("default rayos 1").as_deref(), Some("rayos-1"));
    assert_eq!(entry("boot into recovery by default").as_deref(), Some("recovery"));
    assert_eq!(entry("make rayos nine the default"), None);
    // A named entry that is not in the list is kept, so that the boot manager can say so.
    assert_eq!(entry("use rayos-test as default boot").as_deref(), Some("rayos-test"));
    assert_eq!(entry("set the default entry to \"my build\"").as_deref(), Some("my build"));
    assert_eq!(entry("change default boot to the previous install"), None);
    assert_eq!(entry("set default to 2"), None, "a bare number is no entry's name");
    assert_eq!(entry("set rayos as default"), None);
}

#[test]
fn levels_vms_texts_entries_counts() {
    assert_eq!(extract("show warnings").level, Some(Level::Warn));
    assert_eq!(extract("why did it fail").level, None, "'fail' names no level");
    assert_eq!(extract("what went wrong last boot").level, None);
    assert_eq!(extract("show failures from boot 3").level, Some(Level::Error));
    assert_eq!(extract("debug output").level, Some(Level::Debug));
    assert_eq!(extract("i'm debugging, show the log").level, None);
    assert_eq!(extract("start hostile").vm.as_deref(), Some("hostile"));
    assert_eq!(extract("start linx").vm.as_deref(), Some("linux"));
    assert_eq!(extract("start windows").vm.as_deref(), Some("windows"));
    assert_eq!(extract("search the log for \"Disk Full\"").text.as_deref(), Some("Disk Full"));
    assert_eq!(extract("logs containing virtio since 5 min").text.as_deref(), Some("virtio"));
    assert_eq!(extract("show lines that say timeout").text.as_deref(), Some("timeout"));
    assert_eq!(extract("you say you keep logs, so show me the log from the previous boot").text, None);
    // The term ends with its clause.
    assert_eq!(extract("grep the log for usb, my stick won't mount").text.as_deref(), Some("usb"));
    assert_eq!(extract("show log entries about the watchdog. it fired").text.as_deref(), Some("watchdog"));
    assert_eq!(extract("logs containing timeout , then errors").text.as_deref(), Some("timeout"));
    assert_eq!(extract("make rayos b the default").entry.as_deref(), Some("RayOS B"));
    assert_eq!(extract("use the second entry").entry.as_deref(), Some("RayOS B"));
    assert_eq!(extract("last 20 lines").count, Some(20));
    assert_eq!(extract("errors in the last 20 minutes").count, None);
    assert_eq!(extract("tail log 40").count, Some(40));
    assert_eq!(extract("give me the 100 newest log entries").count, Some(100));
    assert_eq!(extract("show the last hundred log lines").count, Some(100));
    assert_eq!(extract("journalctl -p warning -n 30").count, Some(30));
    assert_eq!(extract("boot 10 logs please").count, None);
    assert_eq!(extract("warnings in the boot before the last one").count, None);
    // A negative number after a boot or a crash is relative, as in journalctl -b -1.
    assert_eq!(extract("crash -1").boot, Some(-1));
    assert_eq!(extract("log.query(boot=-1, grep=panic)").boot, Some(-1));
    assert_eq!(extract("grep -i timeout in the log").text.as_deref(), Some("timeout"));
    assert_eq!(
        extract("look through the log for anything about the watchdog").text.as_deref(),
        Some("watchdog")
    );
}

#[test]
fn unregistered_vm_names_are_read_where_the_text_marks_a_vm() {
    for (text, vm) in [
        ("start the sandbox vm", "sandbox"),
        ("stop vm devbox", "devbox"),
        ("kill vm arch", "arch"),
        ("restart the guest called builder", "builder"),
        ("hide the ci-runner vm please", "ci-runner"),
        ("start the worker2 vm thank you", "worker2"),
        ("shut windows down", "windows"),
        ("boot the linux vm", "linux"),
    ] {
        assert_eq!(extract(text).vm.as_deref(), Some(vm), "{text}");
    }
    for text in [
        "hide the vm window",
        "launch a vm right now",
        "start the vm",
        "list the vms",
        "open the vm manager",
        "reboot the vm not the computer",
        "stop teh vm",
        "the vm needs a reboot after its updates",
        "poweroff guest",
        "I need the guest gone",
    ] {
        assert_eq!(extract(text).vm, None, "{text}");
    }
    assert_eq!(extract("detach the display of devbox").vm.as_deref(), Some("devbox"));
    assert_eq!(extract("show the display of ubuntu").vm.as_deref(), Some("linux"));
    assert_eq!(extract("stop the builder v m").vm.as_deref(), Some("builder"));
    assert_eq!(extract("close the window of the vm").vm, None);
    assert_eq!(extract("the vm builder should start").vm.as_deref(), Some("builder"));
    assert_eq!(extract("start up the vm builder please").vm.as_deref(), Some("builder"));
    assert_eq!(extract("start the vm on vda").vm, None, "a disk is no VM");
    for (text, vm) in [
        ("start my-linux", "my-linux"),
        ("stop old-windows", "old-windows"),
        ("start \"my vm\"", "my vm"),
        ("restart the \"build box\" vm", "build box"),
        ("stop \u{201c}build box\u{201d}", "build box"),
    ] {
        assert_eq!(extract(text).vm.as_deref(), Some(vm), "{text}");
    }
    // A registered name that only begins the typed one is not the VM meant.
    for (text, vm) in [
        ("start vm linux-test", "linux-test"),
        ("stop linux_dev", "linux_dev"),
        ("restart the linux2 vm", "linux2"),
        ("stop windows-old", "windows-old"),
        ("stop linux's vm", "linux"),
        ("start linnux", "linux"),
    ] {
        assert_eq!(extract(text).vm.as_deref(), Some(vm), "{text}");
    }
    // The VM to keep as it is is not the one acted on.
    for (text, vm) in [
        ("linux is fine, stop hostile", "hostile"),
        ("leave hostile running, stop linux", "linux"),
        ("hands off linux, stop hostile", "hostile"),
        ("keep linux running and restart hostile", "hostile"),
    ] {
        assert_eq!(extract(text).vm.as_deref(), Some(vm), "{text}");
    }
    let e = extract("restart anything but linux");
    assert_eq!((e.vm, e.excluded), (None, Some(("vm", String::from("linux")))));
    // A quoted name of several words is the whole name (no VM found ran the command on linux).
    assert_eq!(extract("start the vm called \"my vm\"").vm.as_deref(), Some("my vm"));
    assert_eq!(extract("restart the guest named 'ci runner'").vm.as_deref(), Some("ci runner"));
    let quoted = engine().read("stop vm \"build box\"", &FakeWorld);
    assert_eq!(quoted.command.as_deref(), Some("vm stop \"build box\""));
    assert_eq!(extract("show the vm output containing \"two words\"").vm, None);
}

#[test]
fn a_bare_name_after_a_vm_verb_is_the_vm_not_the_default() {
    // Dropping the name would make "stop devbox" stop the default VM.
    for (text, vm) in [
        ("stop devbox", "devbox"),
        ("power on devbox please", "devbox"),
        ("shut down the builder now", "builder"),
        ("restart win vm", "windows"),
        ("start win", "windows"),
        ("turn on the virtual machine devbox", "devbox"),
        ("bounce the penguin vm", "linux"),
        ("virsh destroy devbox", "devbox"),
        ("display devbox pls", "devbox"),
        ("yo hide devbox's screen", "devbox"),
        ("pop up the builder vm's display", "builder"),
        ("put the penguin's window away", "linux"),
        ("bring up devbox", "devbox"),
        ("show me the devbox display", "devbox"),
        ("vm start --name buildbox", "buildbox"),
        ("switch to devbox", "devbox"),
        ("stop devbox immediately", "devbox"),
        ("i want to see devbox", "devbox"),
        // Other words for a VM command end with where it acts.
        ("pull the plug on devbox", "devbox"),
        ("take me to devbox", "devbox"),
        ("switch over to devbox please", "devbox"),
        ("switch the vm to devbox", "devbox"),
    ] {
        assert_eq!(extract(text).vm.as_deref(), Some(vm), "{text}");
    }
    for text in [
        "show desktop",
        "stop it",
        "start everything",
        "stop devbox and then list the disks",
        "stop showing the screen",
        "hide the mouse",
        "stop the download",
        "show my computer's screen",
        "stop the vm immediately",
        "stop the guest os",
        "reboot just the guest, rayos itself stays up",
        "boot the guest kernel",
        "show the main display",
        "kill the vm",
        "start 3",
        // Where it acts, but not a VM: "on" and "to" only after "plug" and "me".
        "start it on startup",
        "stop devbox, i'm on battery",
        "bring it back to life",
        // After the thing acted on, "to" says why.
        "restart the vm to test",
        "restart the vm to fix it",
        "hide the vm to the tray",
        "give the vm back to me",
    ] {
        assert_eq!(extract(text).vm, None, "{text}");
    }
}

#[test]
fn a_value_outside_a_negated_phrase_wins() {
    assert_eq!(extract("not disk 2, install to disk 1").disk.as_deref(), Some("vda"));
    assert_eq!(extract("put rayos on the biggest disk instead of the 8 gb one").disk.as_deref(), Some("vdc"));
    assert_eq!(
        extract("never mind the windows desktop, start the builder vm").vm.as_deref(),
        Some("builder")
    );
    assert_eq!(extract("boot up devbox, don't touch the others").vm.as_deref(), Some("devbox"));
    assert_eq!(extract("skip the info messages and show warnings").level, Some(Level::Warn));
    assert_eq!(extract("not warnings, just the errors from the last boot").level, Some(Level::Error));
    assert_eq!(extract("errors but no warnings").level, Some(Level::Error));
    assert_eq!(extract("no warnings, only errors").level, Some(Level::Error));
    assert_eq!(extract("why is linux not starting").vm.as_deref(), Some("linux"));
    // "don't" mostly negates the verb: the VM is still the one meant.
    assert_eq!(extract("i don't need the windows guest running anymore").vm.as_deref(), Some("windows"));
    assert_eq!(extract("dont show the linux vm anymore").vm.as_deref(), Some("linux"));
    assert_eq!(extract("i can't see the linux desktop, show it").vm.as_deref(), Some("linux"));
    // The phrase also ends at "then" and at a second command.
    assert_eq!(extract("not disk 2 install to disk 1").disk.as_deref(), Some("vda"));
    assert_eq!(extract("don't start windows then start linux").vm.as_deref(), Some("linux"));
    assert_eq!(extract("dont stop linux stop windows").vm.as_deref(), Some("windows"));
    // Negations after a self-correction count too.
    assert_eq!(extract("start windows, no wait, not windows, linux").vm.as_deref(), Some("linux"));
    // A target named only as one to leave out is no value, and says so.
    for (text, slot, value) in [
        ("stop all vms except linux", "vm", "linux"),
        ("kill every vm except windows", "vm", "windows"),
        ("install on any disk other than disk 1", "disk", "vda"),
        ("stop all vms but linux", "vm", "linux"),
    ] {
        let e = extract(text);
        assert_eq!((e.vm.as_deref(), e.disk.as_deref()), (None, None), "{text}");
        assert_eq!(e.excluded, Some((slot, String::from(value))), "{text}");
    }
    // A log filter: kept after "not"/"no", dropped after an excluding word.
    assert_eq!(extract("are there no warnings from the last boot").level, Some(Level::Warn));
    assert_eq!(extract("show the log without errors").level, None);
}

#[test]
fn a_request_that_only_leaves_its_target_out_runs_nothing_and_asks_which() {
    let r = engine().read("stop all vms except linux", &FakeWorld);
    assert_eq!(r.label, "vm.stop");
    assert_eq!(r.command, None);
    let reply = r.reply.expect("a reply says which VM is meant");
    assert!(reply.contains("linux") && reply.contains("vm stop <vm>"), "{reply}");
}

#[test]
fn spoken_self_corrections_take_the_later_value() {
    assert_eq!(extract("start the hostile no the linux vm").vm.as_deref(), Some("linux"));
    assert_eq!(extract("restart linux, actually restart hostile").vm.as_deref(), Some("hostile"));
    let e = extract("show the errors from boot seven no wait boot eight");
    assert_eq!((e.boot, e.level), (Some(8), Some(Level::Error)), "the level named once is kept");
    assert_eq!(extract("install on disk one, no wait, disk two").disk.as_deref(), Some("vdb"));
    assert_eq!(extract("arm the watchdog for 30 seconds, i mean 2 minutes").seconds, Some(120));
    // A bare number corrects the one number named before it, in its unit.
    assert_eq!(extract("arm the watchdog for 60, make that 120").seconds, Some(120));
    assert_eq!(extract("errors in the last 5 minutes, i mean 15").seconds, Some(900));
    assert_eq!(extract("show the last 50 lines, actually 100").count, Some(100));
    assert_eq!(extract("logs for boot 3, no, 4").boot, Some(4));
    // A "no" of its own after a full stop, "scratch that", "make that", "oops".
    assert_eq!(extract("stop linux. no, hostile").vm.as_deref(), Some("hostile"));
    assert_eq!(extract("set default to rayos a, scratch that, rayos b").entry.as_deref(), Some("RayOS B"));
    assert_eq!(extract("stop linux, make that hostile").vm.as_deref(), Some("hostile"));
    assert_eq!(extract("show errors. no, warnings").level, Some(Level::Warn));
    assert_eq!(extract("no, stop linux").vm.as_deref(), Some("linux"));
    // Words that do not correct: negations, "no" as a number, comparisons, a search term.
    assert_eq!(extract("no errors from boot 3 please").boot, Some(3));
    assert_eq!(extract("start linux, no rush").vm.as_deref(), Some("linux"));
    assert_eq!(extract("start linux, no need to start hostile").vm.as_deref(), Some("linux"));
    assert_eq!(extract("start linux rather than hostile").vm.as_deref(), Some("linux"));
    assert_eq!(extract("show errors no warnings").level, Some(Level::Error));
    assert_eq!(extract("errors from boot 3, actually boot no 7").boot, Some(7));
    assert_eq!(extract("show warnings from boot 2 mentioning \"no error handler\"").level, Some(Level::Warn));
}
#[test]
fn search_terms_are_copied_as_typed_not_as_corrected() {
    let e = engine();
    let r = e.read("log messages about the nvme driver", &FakeWorld);
    assert_eq!(r.entities.text.as_deref(), Some("nvme driver"));
    assert_eq!(extract("failures mentioning out of memory").text.as_deref(), Some("out of memory"));
    assert_eq!(extract("grep log interrupt").text.as_deref(), Some("interrupt"));
    assert_eq!(extract("logs that mention panic when you can").text.as_deref(), Some("panic"));
    assert_eq!(extract("find segfault in the logs").text.as_deref(), Some("segfault"));
}

#[test]
fn entities_render_as_json_with_present_slots_only() {
    let e = engine().read("show errors from the last boot", &FakeWorld);
    assert_eq!(e.entities.to_json(), r#"{"boot":-1,"level":"error"}"#);
    let e = engine().read("start the sandbox vm", &FakeWorld);
    assert_eq!(e.entities.to_json(), r#"{"vm":"sandbox"}"#);
    let e = engine().read("what time is it", &FakeWorld);
    assert_eq!(e.entities.to_json(), "{}");
}

// ---------------------------------------------------------------- classifier and commands

#[test]
fn canonical_commands() {
    let e = engine();
    for (text, label, command, effect) in [
        ("stop the hostile vm", "vm.stop", "vm stop hostile", Effect::Change),
        ("start a vm", "vm.start", "vm start linux", Effect::Change),
        ("any errors since 10 minutes ago", "log.show", "log show --level error --since 600s", Effect::Read),
        ("why did the last boot fail", "log.show", "log show --boot -1", Effect::Read),
        ("crash 5", "crash.show", "crash show --boot 5", Effect::Read),
        ("start the sandbox vm", "vm.start", "vm start sandbox", Effect::Change),
        ("arm the watchdog for 2 min", "watchdog.arm", "watchdog arm 120", Effect::Change),
        ("arm the watchdog", "watchdog.arm", "watchdog arm 30", Effect::Change),
        ("disarm the watchdog", "watchdog.disarm", "watchdog disarm", Effect::Destructive),
        ("install rayos on the second disk", "install.run", "install vdb", Effect::Destructive),
        ("install rayos", "install.run", "install", Effect::Destructive),
        ("show the latest crash", "crash.show", "crash show", Effect::Read),
        ("what is the watchdog", "docs.ask", "ask what is the watchdog", Effect::Read),
        ("shut down the machine", "system.shutdown", "shutdown", Effect::Destructive),
        ("what's the date", "system.time", "date", Effect::Read),
    ] {
        let r = e.read(text, &FakeWorld);
        assert_eq!(
            (r.label.as_str(), r.command.as_deref(), r.effect),
            (label, Some(command), effect),
            "{text}"
        );
    }
}

#[test]
fn same_input_same_bits() {
    let e = engine();
    let again = Engine::from_bytes(WEIGHTS).expect("weights load");
    for text in ["stop linux", "what's the weather in paris", "", "log show --boot -1"] {
        let a = e.read(text, &FakeWorld);
        let b = again.read(text, &FakeWorld);
        assert_eq!(a.confidence.to_bits(), b.confidence.to_bits());
        assert_eq!(a, b);
        let sa = e.scores(text).probabilities.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        let sb = again.scores(text).probabilities.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        assert_eq!(sa, sb);
    }
}

#[test]
fn out_of_scope_is_rejected_with_a_reply_and_in_scope_accepted() {
    let e = engine();
    for text in ["what's the weather in paris", "book me a flight", "tell me a joke", "order a pizza"] {
        let r = e.read(text, &FakeWorld);
        assert!(r.is_oos(), "{text} read as {}", r.label);
        assert_eq!(r.command, None);
        assert_eq!(r.effect, Effect::NoAction);
        let reply = r.reply.expect("oos has a reply");
        // Nothing RayOS does is close to these: no command is offered, only `help`.
        assert!(reply.contains("`help`") && reply.matches('`').count() == 2, "{reply}");
    }
    // A near miss in RayOS's own words is offered the commands close to it.
    let r = e.read("format disk 2", &FakeWorld);
    assert!(r.is_oos(), "read as {}", r.label);
    let reply = r.reply.expect("oos has a reply");
    assert!(reply.contains("Closest commands: `install`"), "{reply}");
    for text in ["list the vms", "show memory usage", "is the network up"] {
        let r = e.read(text, &FakeWorld);
        assert!(!r.is_oos() && r.reply.is_none(), "{text}");
    }
}

#[test]
fn thresholds_reject_low_confidence_and_small_margins() {
    let e = engine();
    let n = e.intents().len();
    let vm_list = e.intent_id("vm.list").expect("vm.list exists");
    let vm_start = e.intent_id("vm.start").expect("vm.start exists");
    let mut p = vec![0.0f32; n];
    p[vm_list.0 as usize] = 0.5;
    p[vm_start.0 as usize] = 0.45;
    assert_eq!(e.decide(&p, 0.4, 0.0).0, vm_list);
    assert_eq!(e.decide(&p, 0.6, 0.0).0, e.oos(), "below the confidence threshold");
    assert_eq!(e.decide(&p, 0.4, 0.1).0, e.oos(), "below the margin threshold");
    let (id, confidence) = e.decide(&p, 0.6, 0.0);
    assert_eq!(id, e.oos());
    assert!((confidence - 0.5).abs() < 1e-6);
}

#[test]
fn empty_and_punctuation_only_input_is_oos_but_a_question_mark_asks_for_help() {
    for text in ["", "   ", "?!?", "!", "\u{0}\u{7}"] {
        let r = engine().read(text, &FakeWorld);
        assert!(r.is_oos(), "{text:?}");
        assert_eq!(r.confidence, 1.0);
    }
    for text in ["?", " ?? ", "? ?", "\u{ff1f}"] {
        let r = engine().read(text, &FakeWorld);
        assert_eq!((r.label.as_str(), r.command.as_deref()), ("system.help", Some("help")), "{text:?}");
    }
}

#[test]
fn every_vm_where_a_command_takes_one_runs_nothing() {
    // A VM command without a VM acts on linux: "stop all vms" stopped linux alone.
    for (text, example) in
        [("stop all vms", "`vm stop <vm>`"), ("please restart both guests", "`vm restart <vm>`")]
    {
        let r = engine().read(text, &FakeWorld);
        assert_eq!(r.command, None, "{text}");
        assert!(r.reply.as_deref().is_some_and(|reply| reply.contains(example)), "{r:?}");
    }
    // Two VMs side by side: the command acted on the first alone.
    assert_eq!(engine().read("stop linux and hostile", &FakeWorld).command, None);
    assert_eq!(
        engine().read("leave linux running and stop hostile", &FakeWorld).command.as_deref(),
        Some("vm stop hostile")
    );
    assert_eq!(engine().read("list all vms", &FakeWorld).command.as_deref(), Some("vm list"));
    assert_eq!(engine().read("stop all the linux vms", &FakeWorld).command.as_deref(), Some("vm stop linux"));
}

#[test]
fn a_request_that_only_forbids_an_action_runs_nothing() {
    // The classifier proposed the very action forbidden (a shutdown, asking for yes).
    for text in
        ["don't shut down", "please do not roll back!", "never install on vdb", "dont stop the linux vm"]
    {
        let r = engine().read(text, &FakeWorld);
        assert!(r.is_oos() && r.command.is_none(), "{text}: {r:?}");
        assert_eq!(r.reply.as_deref(), Some(rayos_intent::PROHIBITION_REPLY), "{text}");
    }
    // A condition or a second clause says what is wanted.
    for (text, label) in [
        ("don't reboot when it hangs", "watchdog.disarm"),
        ("don't reboot automatically on hang anymore", "watchdog.disarm"),
        ("don't arm it, disarm it", "watchdog.disarm"),
        ("don't reboot, power it off", "system.shutdown"),
        ("dont show hostile", "vm.hide"),
    ] {
        assert_eq!(engine().read(text, &FakeWorld).label, label, "{text}");
    }
}

#[test]
fn a_command_asked_for_later_does_not_run_now() {
    // "reboot in 10 minutes" proposed an immediate reboot.
    for (text, command) in [
        ("reboot in 10 minutes", "`reboot`"),
        ("start linux in 30 seconds", "`vm start linux`"),
        ("reboot in ten", "`reboot`"),
        ("wait 10 minutes then reboot", "`reboot`"),
        ("reboot 10 minutes from now", "`reboot`"),
    ] {
        let r = engine().read(text, &FakeWorld);
        assert_eq!(r.command, None, "{text}");
        assert!(r.reply.as_deref().is_some_and(|reply| reply.contains(command)), "{r:?}");
    }
    // A duration a command takes, and one that is part of the question, stay.
    assert_eq!(
        engine().read("arm the watchdog in 5 minutes", &FakeWorld).command.as_deref(),
        Some("watchdog arm 300")
    );
    assert_eq!(
        engine().read("errors in the last 10 minutes", &FakeWorld).command.as_deref(),
        Some("log show --level error --since 600s")
    );
    assert_eq!(engine().read("reboot now", &FakeWorld).command.as_deref(), Some("reboot"));
    assert!(
        engine().read("show the crash in 2024", &FakeWorld).command.is_some(),
        "a read asks about a time"
    );
}

#[test]
fn a_question_about_a_state_reads_the_state() {
    // "is linux running?" proposed starting it.
    for (text, label) in [
        ("is linux running?", "vm.list"),
        ("is the linux vm stopped?", "vm.list"),
        ("is recovery the default", "bootmgr.list"),
        ("is the watchdog armed", "watchdog.status"),
    ] {
        assert_eq!(engine().read(text, &FakeWorld).label, label, "{text}");
    }
    // Asking for it is an order.
    assert_eq!(engine().read("is it possible to stop linux", &FakeWorld).label, "vm.stop");
}

#[test]
fn an_answer_with_no_question_and_a_lone_letter_run_nothing() {
    // The classifier alone read "n" as a reboot, "p" as a shutdown and "no" as turning the
    // network off.
    for text in ["n", "y", "No", "yes please", "ok!", "Cancel", "nope, thanks"] {
        let r = engine().read(text, &FakeWorld);
        assert!(r.is_oos(), "{text:?}");
        assert_eq!(r.reply.as_deref(), Some(rayos_intent::LONE_ANSWER_REPLY), "{text:?}");
    }
    for text in ["p", "b", "m", "r", "7"] {
        let r = engine().read(text, &FakeWorld);
        assert!(r.is_oos() && r.command.is_none(), "{text:?}");
        assert_ne!(r.reply.as_deref(), Some(rayos_intent::LONE_ANSWER_REPLY), "{text:?}");
    }
    // Letters that are requests, and answers inside a request, are read as before.
    assert_eq!(engine().read("h", &FakeWorld).label, "system.help");
    assert_eq!(engine().read("w", &FakeWorld).label, "system.uptime");
    assert_eq!(engine().read("yes, restart the linux vm", &FakeWorld).label, "vm.restart");
    assert_eq!(engine().read("no network please", &FakeWorld).label, "net.disable");
}

fn assert_valid(r: &rayos_intent::Reading) {
    let e = engine();
    assert!(e.intent_id(&r.label).is_some());
    assert!(r.confidence.is_finite() && (0.0..=1.0).contains(&r.confidence), "{}", r.confidence);
    // No command when out of scope, when the target was only left out or is every VM; then
    // a reply says why.
    let nothing_to_run = r.command.is_none();
    assert!(!r.is_oos() || nothing_to_run, "{r:?}");
    assert!(r.entities.excluded.is_none() || nothing_to_run, "{r:?}");
    assert_eq!(nothing_to_run, r.reply.is_some(), "{r:?}");
    for (id, p) in r.alternatives {
        assert!((id.0 as usize) < e.intents().len() && p.is_finite());
    }
}

#[test]
fn huge_input_is_bounded() {
    let text = "stop the linux vm ".repeat(6000);
    assert!(text.len() > 100_000);
    let start = std::time::Instant::now();
    let r = engine().read(&text, &FakeWorld);
    assert_valid(&r);
    assert!(start.elapsed().as_secs() < 5);
    let r = engine().read(&"é".repeat(60_000), &FakeWorld);
    assert_valid(&r);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn any_string_gives_a_valid_reading(text in any::<String>()) {
        assert_valid(&engine().read(&text, &FakeWorld));
    }

    #[test]
    fn a_slot_value_reaches_the_shell_as_typed(value in "[a-z \"'\\\\-]{1,20}|\\PC{1,20}") {
        // The command line System 2 renders is split by the shell: a search term with quotes or
        // backslashes must come back whole (a trailing backslash once opened a quote that
        // never closed).
        let entities = entities::Entities { text: Some(value.clone()), ..Default::default() };
        let word = entities.value("text").unwrap();
        prop_assert_eq!(rayos_shell::args::split(&word), Ok(vec![value]));
    }

    #[test]
    fn any_wordy_string_gives_a_valid_reading(text in "[a-z0-9 \"'\\-/#.]{0,200}") {
        assert_valid(&engine().read(&text, &FakeWorld));
    }

    /// Sentences made of the words the entity rules react to (negations, corrections,
    /// clause ends, VM verbs, numbers): every one must come back, with all slots read.
    #[test]
    fn rule_word_salad_gives_a_valid_reading(
        words in proptest::collection::vec(
            proptest::sample::select(vec![
                "but", "all", "any", "not", "don't", "dont", "t", "no", "never", "except", "without", "instead",
                "of", "rather", "than", "other", "and", "then", "just", "only", "stop", "start", "show", "the",
                "vm", "guest", "linux", "devbox", "devbox's", "screen", "disk", "2", "-1", "boot", "crash", "last",
                "one", "hundred", "n", "errors", "warnings", "grep", "for", "say", "actually", "wait", "sorry",
                ",", ".", "?", "entry", "rayos-2", "to", "as", "default", "\"x\"",
            ]),
            0..24,
        )
    ) {
        let text = words.join(" ");
        assert_valid(&engine().read(&text, &FakeWorld));
        let normalized = normalize(&text);
        let _ = entities::extract(&rayos_intent::text::words(&normalized), &text, &FakeWorld);
    }

    #[test]
    fn lossy_bytes_give_a_valid_reading(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        assert_valid(&engine().read(&text, &FakeWorld));
    }

    #[test]
    fn truncated_weights_are_refused(len in 0usize..WEIGHTS.len()) {
        prop_assert!(Engine::from_bytes(&WEIGHTS[..len]).is_err());
    }

    #[test]
    fn flipped_weights_are_refused(at in 0usize..WEIGHTS.len(), bit in 0u8..8) {
        let mut corrupt = WEIGHTS.to_vec();
        corrupt[at] ^= 1 << bit;
        prop_assert!(Engine::from_bytes(&corrupt).is_err());
    }

    #[test]
    fn random_blobs_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        prop_assert!(Engine::from_bytes(&bytes).is_err());
    }

    #[test]
    fn parsing_containers_with_valid_checksums_never_panics(
        sections in proptest::collection::vec((prop_oneof![Just(*b"VOCB"), Just(*b"EMBD"), Just(*b"TABL"), Just(*b"CLSF"), Just(*b"LEXI"), Just(*b"KNOW")], proptest::collection::vec(any::<u8>(), 0..64)), 0..6)
    ) {
        let parts: Vec<([u8; 4], &[u8])> = sections.iter().map(|(t, b)| (*t, b.as_slice())).collect();
        let blob = format::encode(&parts);
        prop_assert!(Engine::from_bytes(&blob).is_err());
    }
}

// ---------------------------------------------------------------- loading

#[test]
fn load_errors_say_what_is_wrong() {
    assert_eq!(Engine::from_bytes(&[]).err(), Some(LoadError::TooShort { len_bytes: 0 }));
    let mut bad_magic = WEIGHTS.to_vec();
    bad_magic[0] = b'X';
    assert_eq!(Engine::from_bytes(&bad_magic).err(), Some(LoadError::BadMagic));
    let mut bad_version = WEIGHTS.to_vec();
    bad_version[8] = 99;
    assert!(matches!(Engine::from_bytes(&bad_version), Err(LoadError::UnsupportedVersion { found: 99, .. })));
    let mut truncated = WEIGHTS.to_vec();
    truncated.pop();
    assert!(matches!(Engine::from_bytes(&truncated), Err(LoadError::LengthMismatch { .. })));
    let mut flipped = WEIGHTS.to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let err = Engine::from_bytes(&flipped).err().expect("refused");
    assert!(matches!(err, LoadError::ChecksumMismatch { .. }));
    assert!(err.to_string().contains("corrupted"));
    let missing = format::encode(&[(*b"TABL", b"x".as_slice())]);
    assert!(matches!(Engine::from_bytes(&missing), Err(LoadError::MissingSection { .. })));
}

#[test]
fn the_table_is_data() {
    let text = "a.b\tread\tvm\tdo {vm|linux}[ --x {seconds}]\tdoes\noos\tnone\t-\t-\tno\n";
    let rows = table::parse_table(text).expect("valid table");
    assert_eq!(rows.len(), 2);
    let template = rows[0].command.as_deref().expect("command");
    assert_eq!(table::render(template, &|_| None).as_deref(), Some("do linux"));
    let value = |n: &str| (n == "seconds").then(|| "5".to_string());
    assert_eq!(table::render(template, &value).as_deref(), Some("do linux --x 5"));
    for bad in [
        "a\tread\t-\tx\n",
        "a\tsometimes\t-\tx\td\noos\tnone\t-\t-\tno\n",
        "a\tread\tcolour\tx\td\noos\tnone\t-\t-\tno\n",
        "a\tread\t-\tx {nope}\td\noos\tnone\t-\t-\tno\n",
        "a\tread\t-\tx [y\td\noos\tnone\t-\t-\tno\n",
        "a\tread\t-\tx\td\n",
    ] {
        assert!(table::parse_table(bad).is_err(), "{bad:?}");
    }
    let labels: Vec<&str> = engine().intents().iter().map(|i| i.label.as_str()).collect();
    assert_eq!(labels.len(), 34);
    assert!(labels.contains(&"bootmgr.set_default") && labels.contains(&"oos"));
}

// ---------------------------------------------------------------- retrieval

const MANUAL: &str = "# Watchdog\n\nThe watchdog reboots the machine when the kernel stops answering. Arm it with \
`watchdog arm <seconds>`; disarm it with `watchdog disarm`.\n\n# Recovery\n\nIf an update fails to boot three \
times, the boot manager falls back to the previous installation. `recovery rollback` does it by hand.\n\n\
# Networking\n\nThe network is off by default. `net enable` turns it on after a confirmation.\n\n\
## Policy\n\nEvery guest's network access is governed by the policy engine.\n\n# Virtual machines\n\n\
RayOS runs Linux and Windows guests under its own hypervisor; `vm start linux` boots one.";

#[test]
fn markdown_splits_into_sectioned_passages() {
    let passages = split_markdown(MANUAL);
    assert_eq!(passages.len(), 5);
    assert_eq!(passages[3].0, "Networking > Policy");
}

#[test]
fn retrieval_finds_the_right_passage() {
    let passages = split_markdown(MANUAL);
    let refs: Vec<(&str, &str)> = passages.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
    let start = std::time::Instant::now();
    let index = DocsIndex::build(engine().embeddings(), &refs);
    let build_time = start.elapsed();
    for (question, section) in [
        ("how do I arm the watchdog", "Watchdog"),
        ("what happens when an update does not boot", "Recovery"),
        ("is networking enabled by default", "Networking"),
        ("how do I run a windows guest", "Virtual machines"),
        ("who controls the network access of guests", "Networking > Policy"),
    ] {
        let hits = index.search(engine().embeddings(), question, 3);
        assert_eq!(hits.first().map(|h| h.section.as_str()), Some(section), "{question}: {hits:?}");
        assert!(hits.windows(2).all(|p| p[0].score >= p[1].score));
    }
    assert!(index.search(engine().embeddings(), "", 3).is_empty());
    assert!(build_time.as_secs() < 2);
}

// ---------------------------------------------------------------- model and vocabulary sections

#[test]
fn os_words_with_another_meaning_are_out_of_scope() {
    // Lines of the training corpus (a regression check on the committed weights).
    for text in [
        "crash course in spanish",
        "arm the burglar alarm tonight",
        "refund policy of my gym",
        "buy new work boots",
    ] {
        let r = engine().read(text, &FakeWorld);
        assert!(r.is_oos(), "{text} read as {}", r.label);
    }
}

#[test]
fn classifier_section_round_trips_with_int8_sparse_rows() {
    use rayos_intent::{Classifier, Pooling};
    let pooling = Pooling {
        mean: true,
        max: false,
        unfamiliar: true,
        fourth_root_sparse: true,
        polarity: true,
        states: true,
        negated_words: true,
        across_articles: true,
    };
    let mut next = 0.0f32;
    let mut model = Classifier::new(3, 8, 4, 2, pooling, || {
        next += 0.25;
        next
    });
    model.sparse.iter_mut().enumerate().for_each(|(i, w)| *w = (i as f32 - 5.0) * 0.1);
    model.confidence_threshold = 0.5;
    let parsed = Classifier::from_section(&model.encode()).expect("round trip");
    assert_eq!(parsed.hidden_weights, model.hidden_weights);
    assert_eq!(parsed.pooling, pooling);
    assert_eq!(parsed.confidence_threshold, 0.5);
    for (a, b) in parsed.sparse.iter().zip(&model.sparse) {
        assert!((a - b).abs() <= 0.6 / 127.0, "int8 rounding is within half a step: {a} vs {b}");
    }
    let mut bad = model.clone();
    bad.bias[0] = f32::NAN;
    assert!(Classifier::from_section(&bad.encode()).is_err(), "non-finite weights are refused");
}

#[test]
fn known_words_round_trip_and_refuse_unsorted_tables() {
    use rayos_intent::known::{is_neutral, KnownWords};
    let known = KnownWords::build(["watchdog", "disk", "watchdog"]);
    assert_eq!(known.len(), 2);
    let parsed = KnownWords::from_section(&known.encode()).expect("round trip");
    assert!(parsed.is_familiar("disk") && !parsed.is_familiar("lawnmower"));
    assert!(is_neutral("42") && is_neutral("a") && parsed.is_familiar("7"));
    let mut body = known.encode();
    body[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(KnownWords::from_section(&body).is_err());
}

#[test]
fn dot_product_matches_a_plain_sum() {
    let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
    let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.25).collect();
    let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    assert!((rayos_intent::model::dot(&a, &b) - plain).abs() < 1e-4);
    assert_eq!(rayos_intent::model::dot(&[], &[]), 0.0);
}

#[test]
fn pooling_flags_round_trip() {
    use rayos_intent::Pooling;
    for bits in (1..256).filter(|b| b & 7 != 0) {
        let p = Pooling::from_bits(bits).expect("valid flags");
        assert_eq!(p.bits(), bits);
        assert_eq!(p.blocks(), (bits & 7).count_ones() as usize);
    }
    assert!(
        Pooling::from_bits(0).is_none()
            && Pooling::from_bits(8).is_none()
            && Pooling::from_bits(16).is_none()
            && Pooling::from_bits(32).is_none()
            && Pooling::from_bits(256 | 1).is_none()
    );
}

#[test]
fn unfamiliar_words_fill_their_own_block() {
    let e = engine();
    let dim = e.embeddings().dim();
    let blocks = e.model().pooling.blocks();
    let familiar = e.features("show the log");
    let last = &familiar.dense[(blocks - 1) * dim..];
    assert!(last.iter().all(|v| *v == 0.0), "every word is familiar: the block is zero");
    let strange = e.features("restart my lawnmower");
    let last = &strange.dense[(blocks - 1) * dim..];
    assert!(last.iter().any(|v| *v != 0.0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn section_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = rayos_intent::Classifier::from_section(&bytes);
        let _ = rayos_intent::KnownWords::from_section(&bytes);
        let _ = rayos_intent::Lexicon::from_section(&bytes);
    }

    #[test]
    fn known_words_find_exactly_their_members(
        members in proptest::collection::vec("[a-z]{2,9}", 0..60),
        others in proptest::collection::vec("[a-z]{2,9}", 0..60),
    ) {
        let known = rayos_intent::KnownWords::build(members.iter().map(String::as_str));
        let parsed = rayos_intent::KnownWords::from_section(&known.encode()).expect("round trip");
        for w in &members {
            prop_assert!(known.is_familiar(w) && parsed.is_familiar(w));
        }
        for w in others.iter().filter(|w| !members.contains(w)) {
            prop_assert!(!known.is_familiar(w) && !parsed.is_familiar(w), "{}", w);
        }
    }

    #[test]
    fn a_pair_is_familiar_exactly_when_the_joined_word_is(a in "[a-z]{1,8}", b in "[a-z]{1,8}") {
        let known = engine().known_words();
        let joined = format!("{a}{b}");
        prop_assert_eq!(known.is_familiar_pair(&a, &b), known.is_familiar(&joined));
        let parts = ["watch", "dog", "re", "boot", "net", "work"];
        for pair in parts.chunks(2) {
            prop_assert_eq!(known.is_familiar_pair(pair[0], pair[1]), known.is_familiar(&pair.concat()));
        }
    }

    #[test]
    fn typed_text_extraction_never_panics(text in "[a-z0-9 \\-_.,'\"]{0,80}") {
        let _ = extract(&text);
    }
}

#[test]
fn bigrams_read_across_articles() {
    // Every indicator of "restart vm" (its words, their pair, how it starts and ends, its
    // character trigrams) is one of "restart the vm" too: the pair across "the" included.
    let e = engine();
    assert!(e.model().pooling.across_articles);
    let bare = e.features("restart vm");
    let with_article = e.features("restart the vm");
    for (bucket, _) in &bare.sparse {
        assert!(with_article.sparse.iter().any(|(b, _)| b == bucket), "bucket {bucket} missing");
    }
    let other = e.features("restart this linux vm");
    assert!(bare.sparse.iter().any(|(b, _)| !other.sparse.iter().any(|(o, _)| o == b)));
}

#[test]
fn every_intent_description_and_self_check_request_is_read_as_its_own_intent() {
    let engine = engine();
    let misread: Vec<String> = engine
        .self_check(&FakeWorld)
        .into_iter()
        .map(|m| {
            format!(
                "{:?} read as {}, not {:?}",
                m.text,
                engine.label(m.read_as),
                m.expected.map(|e| engine.label(e))
            )
        })
        .collect();
    assert!(misread.is_empty(), "{misread:?}");
    // Also with no VMs, disks or boots known, as in a kernel that has found none.
    assert!(engine.self_check(&rayos_intent::EmptyWorld).is_empty());
}

#[test]
fn a_request_read_as_another_intent_or_under_an_unknown_label_is_a_misread() {
    let engine = engine();
    let misread = engine.misreads([("tell me a joke", "vm.start"), ("list the vms", "vm.list")], &FakeWorld);
    assert_eq!(misread.len(), 1, "{misread:?}");
    assert_eq!((misread[0].text, misread[0].expected), ("tell me a joke", engine.intent_id("vm.start")));
    assert_eq!(engine.label(misread[0].read_as), "oos");
    let unknown = engine.misreads([("list the vms", "vm.lsit")], &FakeWorld);
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].expected, None);
}

#[test]
fn every_vm_as_the_object_of_a_shutdown_or_reboot_means_the_vms() {
    let engine = engine();
    for (text, label) in [("halt all VMs", "vm.stop"), ("reboot every guest", "vm.restart")] {
        let r = engine.read(text, &FakeWorld);
        assert_eq!(engine.label(r.intent), label, "{text}");
        // More than one VM: a question, no command.
        assert_eq!(r.command, None, "{text}");
    }
    for text in [
        "shut the host down, vms and all",
        "could you switch everything off, vms included?",
        "stop all vms and shut down",
        "shut down all vms then power off",
    ] {
        let r = engine.read(text, &FakeWorld);
        assert_eq!(engine.label(r.intent), "system.shutdown", "{text}");
    }
}

#[test]
fn a_vm_name_glued_to_its_command_is_that_vm() {
    // "restartwindows" restarted linux, the default VM.
    reads_as_commands(&[
        ("restartwindows", "vm restart windows"),
        ("hidewindowsscreen", "vm hide windows"),
        ("startlinux", "vm start linux"),
    ]);
}

#[test]
fn how_a_request_feels_is_no_vm_name() {
    reads_as_commands(&[
        ("restart the guest, ugh", "vm restart linux"),
        ("hide the display, leave the vm alone", "vm hide linux"),
        ("make invisible the desktop of the guest", "vm hide linux"),
        ("stop devbox", "vm stop devbox"),
    ]);
}

#[test]
fn an_order_for_every_vm_read_as_listing_them_is_the_order() {
    let engine = engine();
    for (text, label) in [
        ("halt all the virtual machines", "vm.stop"),
        ("restart all the vms", "vm.restart"),
        ("start every vm", "vm.start"),
        ("switch off all vms", "vm.stop"),
        ("switch on all guests", "vm.start"),
    ] {
        let r = engine.read(text, &FakeWorld);
        assert_eq!(engine.label(r.intent), label, "{text}");
        assert_eq!(r.command, None, "{text}: every VM is a question");
    }
    // What the classifier had read is kept when the words corrected it, and is never the
    // reading itself.
    for text in ["halt all the virtual machines", "is linux running?", "restart the shell", "list all vms"] {
        let r = engine.read(text, &FakeWorld);
        assert_ne!(r.corrected_from, Some(r.intent), "{text}");
    }
    // Asking about every VM, or listing them, stays a listing; so does an order not given
    // (negated, for later, asked about) or acting on something else.
    for text in [
        "list all vms",
        "did all the vms restart?",
        "are all vms stopped",
        "don't restart all the vms, just list them",
        "can you list all vms before I restart all vms",
        "should i restart all the vms?",
        "restart all services and list all vms",
    ] {
        let r = engine.read(text, &FakeWorld);
        assert_eq!(engine.label(r.intent), "vm.list", "{text}");
    }
}

#[test]
fn restarting_a_program_is_not_a_reboot() {
    let engine = engine();
    for text in ["restart the shell", "restart this session", "relaunch this session"] {
        let r = engine.read(text, &FakeWorld);
        assert!(r.is_oos() && r.command.is_none(), "{text}: {}", engine.label(r.intent));
    }
    // The machine named beside the program, or stopped after it: the machine's own.
    let r = engine.read("the shell is frozen, restart the whole machine", &FakeWorld);
    assert_eq!(engine.label(r.intent), "system.reboot");
    let r = engine.read("close the browser and shut down", &FakeWorld);
    assert_eq!(engine.label(r.intent), "system.shutdown");
    // A program stopped beside a request RayOS can run: that request.
    for (text, label) in [
        ("close the terminal and show the latest crash", "crash.show"),
        ("reload the app logs", "log.show"),
        ("stop the app vm", "vm.stop"),
    ] {
        assert_eq!(engine.label(engine.read(text, &FakeWorld).intent), label, "{text}");
    }
}

#[test]
fn a_vm_started_on_a_disk_is_a_vm_start_not_an_install() {
    let engine = engine();
    let r = engine.read("start linux on the big disk", &FakeWorld);
    assert_eq!(engine.label(r.intent), "vm.start");
    assert_eq!(r.command.as_deref(), Some("vm start linux"));
    for text in [
        "install rayos on the big disk",
        "start the install on the second disk",
        "reinstall rayos on disk 2, then start the vm",
        "put rayos on disk 2 then start linux",
    ] {
        let r = engine.read(text, &FakeWorld);
        assert_eq!(engine.label(r.intent), "install.run", "{text}");
    }
}

#[test]
fn the_first_minutes_of_a_boot_are_no_span_back_from_now() {
    let first = engine().read("errors in the first 5 minutes of boot 3", &FakeWorld);
    assert_eq!(first.command.as_deref(), Some("log show --boot 3 --level error"));
    for text in ["errors in the first 5 min and 30 s", "errors in the first 1.5 minutes"] {
        assert_eq!(
            engine().read(text, &FakeWorld).command.as_deref(),
            Some("log show --level error"),
            "{text}"
        );
    }
    let last = engine().read("errors in the last 5 minutes", &FakeWorld);
    assert_eq!(last.command.as_deref(), Some("log show --level error --since 300s"));
}

#[test]
fn several_last_boots_are_not_the_last_one() {
    let several = engine().read("errors from the last 3 boots", &FakeWorld);
    assert_eq!(several.command.as_deref(), Some("log show --level error"));
    let few = engine().read("errors from the last few boots", &FakeWorld);
    assert_eq!(few.command.as_deref(), Some("log show --level error"));
    let one = engine().read("errors from the last boot", &FakeWorld);
    assert_eq!(one.command.as_deref(), Some("log show --boot -1 --level error"));
}

#[test]
fn crashes_counted_back_from_the_newest() {
    reads_as_commands(&[
        ("show the crash before the last one", "crash show --back 1"),
        ("second to last crash", "crash show --back 1"),
        ("third latest crash", "crash show --back 2"),
        // A boot counted back is a boot.
        ("open the crash from the boot before last", "crash show --boot -2"),
        ("show the last crash", "crash show"),
        ("show the crash before the most recent one", "crash show --back 1"),
        ("the penultimate crash", "crash show --back 1"),
        ("the second to last crash, no, the third to last crash", "crash show --back 2"),
        ("the crash two before the newest one", "crash show --back 2"),
    ]);
}
