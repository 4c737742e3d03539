//! A collecting process killed (SIGKILL) again and again, then run to the end, on every
//! kind of store: after each kill no referenced blob is missing and every blob left is
//! whole; at the end exactly the old unreferenced ones are gone.
//!
//! The test binary runs itself again as the collecting process, selected by its exact test
//! name. The child prints `ready` before it collects and `step` after each step; the parent
//! kills it as it reads the line it chose, so the kills are spread by what the child has
//! done, not by a clock. `NERVE_GC_BLOBS` and `NERVE_GC_KILLS` scale it up (the README's
//! figures: 100,000 blobs, 50 kills); it prints what it measured.

mod gc_common;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Command, Stdio};

use gc_common::{
    FILES, Kind, POSTGRES, REDB, S3, SQLITE, assert_referenced_present, kind_named, plant,
    start_after_cutoff, store_of,
};
use nerve_store::{Digest, GcOptions, collect_garbage_with_progress};

const CHILD_DIR: &str = "NERVE_GC_KILL_DIR";
const CHILD_KIND: &str = "NERVE_GC_KILL_KIND";
const CHILD_CUTOFF: &str = "NERVE_GC_KILL_CUTOFF";
const TEST_NAME: &str = "a_collector_killed_again_and_again_never_loses_a_referenced_blob";

fn scale(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn options(dir: &Path, cutoff: chrono::DateTime<chrono::Utc>) -> GcOptions {
    GcOptions {
        archive_dir: Some(dir.join("archive")),
        now: cutoff + chrono::Duration::days(1),
        ..GcOptions::default()
    }
}

/// The collecting process: announces itself, then collects, announcing each step.
fn collector(dir: &Path, kind: Kind, cutoff: chrono::DateTime<chrono::Utc>) {
    let store = store_of(kind, dir);
    let say = |line: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    };
    say("ready");
    collect_garbage_with_progress(&store, &options(dir, cutoff), &mut |_| {
        say("step");
        ControlFlow::Continue(())
    })
    .expect("the collector's run");
}

/// Runs a collector; kills it as it prints its `kill_after`th `step` (0: as it is
/// ready), or lets it finish with `None`. Returns whether the kill landed while it ran.
fn run_collector(
    dir: &Path,
    kind: Kind,
    cutoff: chrono::DateTime<chrono::Utc>,
    kill_after: Option<usize>,
) -> bool {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            &format!("{}::{TEST_NAME}", kind.name),
            "--exact",
            "--test-threads",
            "1",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_KIND, kind.name)
        .env(CHILD_CUTOFF, cutoff.to_rfc3339())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the collector");
    let lines = BufReader::new(child.stdout.take().expect("the child's output")).lines();
    let mut steps = None;
    for line in lines.map_while(Result::ok) {
        if line.ends_with("ready") {
            steps = Some(0);
        } else if line.ends_with("step") {
            steps = steps.map(|n| n + 1);
        }
        if steps.is_some() && steps == kill_after {
            let _ = child.kill();
            break;
        }
    }
    let status = child.wait().expect("reap the collector");
    if kill_after.is_none() {
        assert!(
            status.success(),
            "{}: the collector failed: {status}",
            kind.name
        );
    }
    !status.success()
}

fn a_collector_killed_again_and_again_never_loses_a_referenced_blob(kind: Kind) {
    if let (Some(dir), Ok(name), Ok(cutoff)) = (
        std::env::var_os(CHILD_DIR),
        std::env::var(CHILD_KIND),
        std::env::var(CHILD_CUTOFF),
    ) {
        let cutoff = chrono::DateTime::parse_from_rfc3339(&cutoff)
            .expect("a cutoff")
            .to_utc();
        return collector(Path::new(&dir), kind_named(&name), cutoff);
    }
    let (blobs, kills) = (scale("NERVE_GC_BLOBS", 2000), scale("NERVE_GC_KILLS", 10));
    let dir = tempfile::tempdir().expect("temp dir");
    let planted;
    let cutoff;
    {
        let store = store_of(kind, dir.path());
        planted = plant(&store, dir.path(), blobs);
        cutoff = start_after_cutoff(&store);
    }
    let mut landed = 0;
    for kill in 0..kills {
        // Killed as it is ready (during its inventory or first step), or after a step of
        // 256 blobs.
        let kill_after = kill % 2;
        landed += usize::from(run_collector(dir.path(), kind, cutoff, Some(kill_after)));
        let store = store_of(kind, dir.path());
        assert_referenced_present(
            &store,
            &dir.path().join("archive"),
            &format!("{}, kill {kill}", kind.name),
        );
    }
    assert!(
        landed * 2 >= kills,
        "{}: {landed} of {kills} kills landed while the collector ran",
        kind.name
    );
    let started = std::time::Instant::now();
    run_collector(dir.path(), kind, cutoff, None);
    let last_run = started.elapsed();
    let store = store_of(kind, dir.path());
    let referenced = assert_referenced_present(&store, &dir.path().join("archive"), kind.name);
    let present: BTreeSet<Digest> = store.blobs.list().expect("list").into_iter().collect();
    let unreferenced = planted.old_unreferenced();
    assert!(
        present.is_disjoint(&unreferenced),
        "{}: every old unreferenced blob is gone",
        kind.name
    );
    assert!(referenced.is_subset(&present));
    let report = store.blobs.verify_all().expect("verify");
    assert!(
        report.corrupt.is_empty(),
        "{}: every blob left is whole",
        kind.name
    );
    println!(
        "{}: {blobs} blobs planted, {landed} of {kills} kills landed, the last run took \
         {last_run:?}; {} blobs left, all whole",
        kind.name,
        present.len()
    );
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES, files => FILES, s3 => S3 },
    cases: {
        a_collector_killed_again_and_again_never_loses_a_referenced_blob,
    }
);
