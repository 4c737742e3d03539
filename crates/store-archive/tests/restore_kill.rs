//! A restoring process killed (SIGKILL) after each of a spread of its batches, ten times
//! per backend: a rerun leaves the store as it was before the archive run, with nothing
//! twice (docs/SPEC.md section 3, restore).
//!
//! In a binary of its own: a child is spawned by fork and exec, and between the two it holds
//! a copy of every descriptor the test process has open, the archive's lock included, so a
//! test beside it could find the lock held for an instant by a process that is not a run.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::ops::ControlFlow;
use std::path::Path;

use chrono::NaiveDate;
use common::{
    Backend, POSTGRES, REDB, SQLITE, assert_same, backend_named, fill, observed,
    observed_without_watermark, options, spawn_child,
};
use store_archive::{archive_logs, restore_days, restore_days_with_progress, verify_archive};

const EVERY_DAY: std::ops::RangeInclusive<NaiveDate> = NaiveDate::MIN..=NaiveDate::MAX;

const CHILD_DIR: &str = "NERVE_RESTORE_KILL_DIR";
const CHILD_BACKEND: &str = "NERVE_RESTORE_KILL_BACKEND";
const TEST_NAME: &str = "a_restoring_process_killed_at_any_moment_leaves_nothing_twice";
const KILLS_PER_BACKEND: usize = 10;
const DAYS: [i64; 4] = [5, 4, 3, 2];
const PER_DAY: usize = 2600;
/// The line the child prints after each batch.
const STEP: &str = "step";

/// The restoring process: opens the store and restores every day, announcing each batch.
fn restorer(dir: &Path, backend: &str) {
    let (_, open) = backend_named(backend);
    let store = open(dir).expect("the restorer opens the store");
    restore_days_with_progress(store.as_ref(), &options(dir).dir, EVERY_DAY, &mut |_| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{STEP}").and_then(|()| out.flush());
        ControlFlow::Continue(())
    })
    .expect("the restorer's run");
}

/// Runs a restorer and kills it as it announces its `kill_at`th batch (or lets it finish
/// with `None`); returns the batches it announced.
fn run_restorer(dir: &Path, backend: &str, kill_at: Option<usize>) -> usize {
    let mut child = spawn_child(TEST_NAME, backend, CHILD_DIR, dir, CHILD_BACKEND);
    let lines = BufReader::new(child.stdout.take().expect("the child's output")).lines();
    let mut steps = 0;
    for line in lines.map_while(Result::ok) {
        if line == STEP || line.ends_with(&format!(" {STEP}")) {
            steps += 1;
            if Some(steps) == kill_at {
                child.kill().expect("kill the restorer");
                break;
            }
        }
    }
    let status = child.wait().expect("reap the restorer");
    if kill_at.is_none() {
        assert!(status.success(), "{backend}: the restorer failed: {status}");
    }
    steps
}

/// A store filled and archived whole, closed; returns what the store showed before.
fn archived_store(backend: Backend, dir: &Path) -> String {
    let store = (backend.1)(dir).expect("open");
    fill(store.as_ref(), &DAYS, PER_DAY);
    let before = observed(store.as_ref());
    archive_logs(store.as_ref(), &options(dir)).expect("archive");
    before
}

fn a_restoring_process_killed_at_any_moment_leaves_nothing_twice(backend: Backend) {
    if let (Some(dir), Ok(name)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_BACKEND)) {
        return restorer(Path::new(&dir), &name);
    }
    let name = backend.0;
    let whole_run = {
        let dir = tempfile::tempdir().expect("temp dir");
        archived_store(backend, dir.path());
        run_restorer(dir.path(), name, None)
    };
    assert!(
        whole_run >= KILLS_PER_BACKEND,
        "{name}: {whole_run} batches"
    );
    for kill in 0..KILLS_PER_BACKEND {
        let dir = tempfile::tempdir().expect("temp dir");
        let before = archived_store(backend, dir.path());
        // The kill lands while the batch after the announced one is being written.
        let kill_at = 1 + kill * whole_run / KILLS_PER_BACKEND;
        run_restorer(dir.path(), name, Some(kill_at));
        let store = (backend.1)(dir.path()).expect("the store opens after the kill");
        let options = options(dir.path());
        let report = restore_days(store.as_ref(), &options.dir, EVERY_DAY).expect("rerun");
        assert_eq!(
            report.written + report.present,
            (DAYS.len() * (PER_DAY + 1)) as u64,
            "{name}: every line read"
        );
        assert!(
            report.present > 0,
            "{name}: the killed run had written some"
        );
        let after = observed_without_watermark(store.as_ref());
        assert_same(
            &before,
            &after,
            &format!("{name}, killed at batch {kill_at}"),
        );
        assert!(verify_archive(&options.dir).expect("verify").is_sound());
    }
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES },
    cases: {
        a_restoring_process_killed_at_any_moment_leaves_nothing_twice,
    }
);
