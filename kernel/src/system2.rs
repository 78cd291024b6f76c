//! System 2: the intent engine in the kernel, and retrieval over the manual.
//!
//! The engine (`rayos_intent`) and its weights are the same the host tools use; the weights are
//! compiled into the kernel and parsed at boot by [`start`] (or on first use, should its thread
//! not start). The manual (`docs/manual.md`) is compiled
//! in too and indexed on the first question.

use alloc::string::String;
use alloc::vec::Vec;

use rayos_intent::{DiskInfo, DocsIndex, Engine, Reading, World};
use spin::Once;

use crate::{persist, println, storage, time, vm};

static WEIGHTS: &[u8] = include_bytes!("../../crates/intent/weights/intent.bin");
static MANUAL: &str = include_str!("../../docs/manual.md");

static ENGINE: Once<Result<Engine, String>> = Once::new();
/// The manual's index (which keeps its passages).
static DOCS: Once<Option<DocsIndex>> = Once::new();

/// The engine, loaded by [`start`]'s thread or on first use, whichever comes first.
pub fn engine() -> Result<&'static Engine, &'static str> {
    ENGINE
        .call_once(|| {
            Engine::from_bytes(WEIGHTS).map_err(|e| alloc::format!("the intent weights do not load: {e}"))
        })
        .as_ref()
        .map_err(String::as_str)
}

/// Loads the engine at boot, in a thread beside the shell, and runs its self-check
/// ([`Engine::self_check`]); prints `RAYOS_SYSTEM2:READY` when done.
///
/// Loading here rather than on the first request spares that request the wait (tens of
/// milliseconds under QEMU). The self-check's reads matter under QEMU's software emulation too:
/// QEMU translates each block of guest code the first time it runs (about 7 µs a block on the
/// machines this was measured on), and the first reading of each kind of request used to wait
/// for hundreds of them. Read once here, most of the engine's code is translated before anyone
/// types. On hardware the reads take about two milliseconds.
pub fn start() {
    let spawned = crate::task::spawn("system2", || {
        let started = time::now_ns();
        let engine = match engine() {
            Ok(engine) => engine,
            Err(why) => {
                log::error!(target: "system2", "{why}");
                return;
            }
        };
        let loaded = time::now_ns();
        let misread = engine.self_check(&KernelWorld);
        let checked = time::now_ns();
        for m in &misread {
            log::warn!(
                target: "system2",
                "self-check: {:?} is read as {}, not {}",
                m.text,
                engine.label(m.read_as),
                m.expected.map_or("(an intent the table lacks)", |e| engine.label(e))
            );
        }
        let (load_ms, check_ms) = ((loaded - started) / 1_000_000, (checked - loaded) / 1_000_000);
        log::info!(
            target: "system2",
            "engine loaded in {load_ms} ms; self-check of {} requests in {check_ms} ms, {} misread",
            engine.intents().len() + rayos_intent::SELF_CHECK_REQUESTS.len(),
            misread.len()
        );
        println!("{}", rayos_markers::SYSTEM2_READY.with(&[&load_ms, &check_ms, &misread.len()]));
    });
    if let Err(why) = spawned {
        log::warn!(target: "system2", "cannot start the System 2 thread ({why:?}); it loads on first use");
    }
}

/// Whether some intent runs the command `name`, so that System 2 can read a request that
/// starts with that word ("reboot the linux vm"). False when the engine does not load.
pub fn runs_command(name: &str) -> bool {
    engine().is_ok_and(|engine| {
        engine
            .intents()
            .iter()
            .any(|spec| spec.command.as_deref().and_then(|c| c.split_whitespace().next()) == Some(name))
    })
}

/// What the engine resolves entities against: this machine's VMs, disks and boots.
pub struct KernelWorld;

impl World for KernelWorld {
    fn vm_names(&self) -> Vec<String> {
        vm::vms().iter().map(|v| String::from(v.config.name)).collect()
    }

    fn disks(&self) -> Vec<DiskInfo> {
        storage::disks()
            .iter()
            .enumerate()
            .map(|(i, d)| DiskInfo {
                name: d.name.clone(),
                size_bytes: d.capacity_bytes,
                index: i as u32 + 1,
            })
            .collect()
    }

    fn boot_entries(&self) -> Vec<String> {
        Vec::new() // no boot manager yet
    }

    fn current_boot(&self) -> Option<u64> {
        persist::current_boot().map(u64::from)
    }
}

/// Reads `text`; returns the reading and how long it took (ns, by the kernel's clock).
pub fn read(text: &str) -> Result<(Reading, u64), &'static str> {
    let engine = engine()?;
    let started = time::now_ns();
    let reading = engine.read(text, &KernelWorld);
    Ok((reading, time::now_ns() - started))
}

fn docs() -> Option<&'static DocsIndex> {
    DOCS.call_once(|| {
        let engine = engine().ok()?;
        let passages = rayos_intent::split_markdown(MANUAL);
        let refs: Vec<(&str, &str)> = passages.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
        Some(DocsIndex::build(engine.embeddings(), &refs))
    })
    .as_ref()
}

/// The best passages of the manual for `question`: (section, passage text, score).
pub fn ask(question: &str, k: usize) -> Result<Vec<(String, String, f32)>, &'static str> {
    let engine = engine()?;
    let index = docs().ok_or("the manual could not be indexed")?;
    Ok(index
        .search(engine.embeddings(), question, k)
        .into_iter()
        .map(|hit| {
            let text = index.passage(hit.passage).map_or(hit.excerpt.clone(), |(_, t)| String::from(t));
            (hit.section, text, hit.score)
        })
        .collect())
}
