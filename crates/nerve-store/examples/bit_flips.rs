//! Flips one random bit anywhere in a store's file, many times, on SQLite and redb, and
//! reads everything back each time through every way of opening: the normal open, the
//! read-only open, and the command line's reading commands. Every answer is compared with
//! what the undamaged store answers. A trial is "wrong" when any read returns a different
//! answer without an error, "refused" when a read (or the open) fails and none is wrong,
//! "unharmed" otherwise (the bit was in free space or in a part nothing read). A panic the
//! panic hook would print counts as "printed"; the command line must print at most one line
//! on stderr, and never a panic.
//!
//! redb is tried four ways: the file sealed as if the store had closed it cleanly (a failing
//! disk: same size, and the seal still matching, so the open trusts it) or not, each through
//! the normal and the read-only open. SQLite through both opens.
//!
//! ```text
//! cargo run --release -p nerve-store --example bit_flips -- /tmp/flips 1000 target/release/nerve-store
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use nerve_store::{
    GetThreadRoundsParams, LogBackend, LogQuery, NewLogEntry, RunQuery, RunTransition,
    ThreadMessage, WorkflowRunStatus,
};

/// Panics that reached the panic hook (those the store catches quietly do not).
static PRINTED: AtomicU64 = AtomicU64::new(0);

/// Everything the reads answer, as text to compare; an error is its own answer.
fn answers(store: &dyn LogBackend) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    let mut push = |answer: Result<String, nerve_store::StoreError>| {
        out.push(answer.map_err(|err| err.to_string()));
    };
    let all = LogQuery {
        limit: Some(usize::MAX),
        ..LogQuery::default()
    };
    push(store.query(&all).map(|v| format!("{v:?}")));
    for r in 0..10 {
        let by_ref = LogQuery {
            ref_id: Some(format!("ref-{r}")),
            limit: Some(usize::MAX),
            ..LogQuery::default()
        };
        push(store.query(&by_ref).map(|v| format!("{v:?}")));
    }
    let by_pair = LogQuery {
        source: Some("worker".into()),
        kind: Some("tick".into()),
        limit: Some(usize::MAX),
        ..LogQuery::default()
    };
    push(store.query(&by_pair).map(|v| format!("{v:?}")));
    let runs = RunQuery {
        limit: Some(usize::MAX),
        ..RunQuery::default()
    };
    push(store.list_runs(&runs).map(|v| format!("{v:?}")));
    for t in 0..5 {
        let thread = format!("thread-{t}");
        let rounds = GetThreadRoundsParams {
            thread_id: thread.clone(),
            limit: Some(usize::MAX),
            ..GetThreadRoundsParams::default()
        };
        push(store.thread_rounds(&rounds).map(|v| format!("{v:?}")));
        push(store.last_round(&thread).map(|v| format!("{v:?}")));
    }
    push(store.meta_entries().map(|v| format!("{v:?}")));
    push(store.get_run("run-3").map(|v| format!("{v:?}")));
    out
}

/// A store with entries, refs, runs, thread messages, meta and one big payload.
fn fill(location: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = nerve_store::open(location)?;
    let log = store.log.as_ref();
    let entries = (0..3000)
        .map(|i| {
            NewLogEntry::new(
                "worker",
                "tick",
                format!("{{\"seq\":{i},\"note\":\"the worker's note number {i} of many\"}}"),
            )
            .with_ref(format!("ref-{}", i % 10))
        })
        .collect();
    log.append_batch(entries)?;
    // Just over the size redb keeps in chunks.
    log.append(NewLogEntry::new("worker", "big", "x".repeat(1_100_000)))?;
    for r in 0..20 {
        let run = format!("run-{r}");
        log.transition_run(RunTransition::new(&run, "wf", WorkflowRunStatus::Started))?;
        if r % 2 == 0 {
            log.transition_run(RunTransition::new(&run, "wf", WorkflowRunStatus::Completed))?;
        }
    }
    for m in 0..40_u32 {
        log.append_thread_message(ThreadMessage {
            thread_id: format!("thread-{}", m % 5),
            role: if m % 2 == 0 { "user" } else { "assistant" }.into(),
            round: m / 10,
            payload: format!("message {m}"),
            ts: None,
        })?;
    }
    for k in 0..20 {
        log.meta_set(&format!("key-{k}"), &format!("value {k}"))?;
    }
    Ok(())
}

/// A small deterministic generator, so that a run can be repeated.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[derive(Default, Debug)]
struct Tally {
    wrong: u64,
    refused: u64,
    unharmed: u64,
}

impl Tally {
    fn add(&mut self, pristine: &[Result<String, String>], found: &[Result<String, String>]) {
        let wrong = pristine.iter().zip(found).any(|(p, f)| f.is_ok() && f != p);
        if wrong {
            if std::env::var_os("BIT_FLIPS_VERBOSE").is_some() {
                for (i, (p, f)) in pristine.iter().zip(found).enumerate() {
                    if f.is_ok() && f != p {
                        let cut = |a: &Result<String, String>| {
                            let text = format!("{a:?}");
                            let at = text
                                .bytes()
                                .zip(format!("{p:?}").bytes())
                                .position(|(x, y)| x != y)
                                .unwrap_or(0);
                            text.chars()
                                .skip(at.saturating_sub(60))
                                .take(160)
                                .collect::<String>()
                        };
                        println!("  answer {i} differs: {} / pristine {}", cut(f), cut(p));
                    }
                }
            }
            self.wrong += 1;
        } else if found.iter().any(Result::is_err) {
            self.refused += 1;
        } else {
            self.unharmed += 1;
        }
    }
}

/// What the command line prints for the reading commands, with whether it kept to one line
/// of error and printed no panic.
fn cli_answers(cli: &Path, location: &str) -> (Vec<Option<String>>, bool) {
    let mut well_behaved = true;
    let mut out = Vec::new();
    // `stats` names the store's files, so only how it fails is looked at.
    for args in [
        &["--json", "logs", "query", "--limit", "100000"][..],
        &["--json", "runs", "list", "--limit", "1000"][..],
        &["--json", "meta", "ls"][..],
        &["stats"][..],
    ] {
        let compared = args[0] == "--json";
        let Ok(output) = Command::new(cli)
            .args(args)
            .env("NERVE_STORE", location)
            .env("RUST_BACKTRACE", "1")
            .output()
        else {
            return (out, false);
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("panicked") || stderr.lines().count() > 1 {
            well_behaved = false;
        }
        if compared {
            out.push(
                output
                    .status
                    .success()
                    .then(|| String::from_utf8_lossy(&output.stdout).into_owned()),
            );
        }
    }
    (out, well_behaved)
}

/// The name of the blob file beside a store's `file`.
fn blob_file(file: &str) -> String {
    match file.rsplit_once('.') {
        Some((stem, extension)) => format!("{stem}.blobs.{extension}"),
        None => format!("{file}.blobs"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::panic::set_hook(Box::new(|_| {
        PRINTED.fetch_add(1, Ordering::Relaxed);
    }));
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "./data/flips".to_owned()));
    let trials: u64 = args.next().map_or(Ok(1000), |n| n.parse())?;
    let cli = args.next().map(PathBuf::from);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    for (backend, file, ways) in [("redb", "nerve.redb", 4_u64), ("sqlite", "nerve.db", 2)] {
        let pristine_dir = dir.join(format!("{backend}-pristine"));
        std::fs::create_dir_all(&pristine_dir)?;
        let pristine_file = pristine_dir.join(file);
        let pristine_location = format!("{backend}:{}", pristine_file.display());
        fill(&pristine_location)?;
        let pristine = answers(nerve_store::open(&pristine_location)?.log.as_ref());
        assert!(
            pristine.iter().all(Result::is_ok),
            "the pristine store reads"
        );
        let pristine_cli = cli
            .as_deref()
            .map(|cli| cli_answers(cli, &pristine_location).0);
        let size = std::fs::metadata(&pristine_file)?.len();
        let mut tallies: Vec<Tally> = (0..ways).map(|_| Tally::default()).collect();
        let mut cli_tally = Tally::default();
        let mut cli_misbehaved = 0;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let printed_before = PRINTED.load(Ordering::Relaxed);
        for trial in 0..trials {
            let way = trial % ways;
            let trial_dir = dir.join(format!("{backend}-{trial}"));
            std::fs::create_dir_all(&trial_dir)?;
            let path = trial_dir.join(file);
            std::fs::copy(&pristine_file, &path)?;
            // The blob file goes along undamaged: the store is opened with it.
            let blobs = blob_file(file);
            std::fs::copy(pristine_dir.join(&blobs), trial_dir.join(&blobs))?;
            let mut bytes = std::fs::read(&path)?;
            let bit = rng.below(size * 8);
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
            std::fs::write(&path, &bytes)?;
            // redb ways 0 and 2: the seal matches the damaged file, as after a failing disk.
            if backend == "redb" && way % 2 == 0 {
                store_redb::harness::seal_as_closed_cleanly(&path);
            }
            let location = format!("{backend}:{}", path.display());
            let read_only = if backend == "redb" {
                way >= 2
            } else {
                way == 1
            };
            let opened = if read_only {
                nerve_store::open_read_only(&location)
            } else {
                nerve_store::open(&location)
            };
            let found = match opened {
                Ok(store) => answers(store.log.as_ref()),
                Err(err) => vec![Err(err.to_string())],
            };
            if std::env::var_os("BIT_FLIPS_VERBOSE").is_some() {
                let errors: Vec<_> = found.iter().filter_map(|a| a.as_ref().err()).collect();
                println!("{backend} trial {trial} way {way} bit {bit}: {errors:?}");
            }
            tallies[way as usize].add(&pristine, &found);
            if let (Some(cli), Some(pristine_cli)) = (&cli, &pristine_cli) {
                // A fresh copy, since the open above may have repaired or changed the file.
                std::fs::write(&path, &bytes)?;
                if backend == "redb" && way % 2 == 0 {
                    store_redb::harness::seal_as_closed_cleanly(&path);
                }
                let _ = std::fs::remove_file(trial_dir.join(format!("{file}-wal")));
                let (answers, well_behaved) = cli_answers(cli, &location);
                cli_misbehaved += u64::from(!well_behaved);
                let as_results: Vec<Result<String, String>> = answers
                    .into_iter()
                    .map(|a| a.ok_or_else(|| "failed".to_owned()))
                    .collect();
                let pristine_results: Vec<Result<String, String>> = pristine_cli
                    .iter()
                    .map(|a| a.clone().ok_or_else(|| "failed".to_owned()))
                    .collect();
                cli_tally.add(&pristine_results, &as_results);
            }
            std::fs::remove_dir_all(&trial_dir)?;
        }
        let printed = PRINTED.load(Ordering::Relaxed) - printed_before;
        for (way, tally) in tallies.iter().enumerate() {
            let name = match (backend, way) {
                ("redb", 0) => "sealed, normal open",
                ("redb", 1) => "unsealed, normal open",
                ("redb", 2) => "sealed, read-only open",
                ("redb", _) => "unsealed, read-only open",
                (_, 0) => "normal open",
                _ => "read-only open",
            };
            println!(
                "{backend} {name}: {} wrong, {} refused, {} unharmed",
                tally.wrong, tally.refused, tally.unharmed
            );
        }
        if cli.is_some() {
            println!(
                "{backend} command line: {} wrong, {} refused, {} unharmed; {} with a panic or \
                 more than one line of error",
                cli_tally.wrong, cli_tally.refused, cli_tally.unharmed, cli_misbehaved
            );
        }
        println!("{backend}: {printed} panics printed in {trials} trials");
    }
    Ok(())
}
