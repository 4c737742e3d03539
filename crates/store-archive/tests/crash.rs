//! An archive run failed at each of its steps, on every backend: every file step through
//! the seam, and every store step (the deletion that records the watermark) failed before
//! or after it commits. After the failure nothing is lost; after a rerun every entry is in
//! the archive or the store exactly once, and the watermark names the last archived day.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use common::{
    Backend, POSTGRES, REDB, SQLITE, archived, assert_exactly_once, day, fill, options, watermark,
};
use store_archive::{archive_logs, archive_logs_with};
use store_conformance::{FailAt, Fault, Faulty, all_entries};
use store_core::{LogBackend, LogEntry, LogId, StoreError};

const DAYS: [i64; 3] = [4, 3, 2];

/// Nothing is lost: every original entry is in the archive or the store (maybe both).
fn assert_nothing_lost(
    store: &dyn LogBackend,
    options: &store_archive::ArchiveOptions,
    original: &[LogEntry],
) {
    let present: BTreeSet<LogId> = archived(options)
        .iter()
        .chain(&all_entries(store))
        .map(|e| e.id)
        .collect();
    let missing: Vec<LogId> = original
        .iter()
        .map(|e| e.id)
        .filter(|id| !present.contains(id))
        .collect();
    assert!(missing.is_empty(), "lost after a failure: {missing:?}");
}

fn assert_rerun_completes(
    store: &dyn LogBackend,
    options: &store_archive::ArchiveOptions,
    original: &[LogEntry],
) {
    let before = all_entries(store).len() as u64;
    let report = archive_logs(store, options).expect("the rerun completes");
    let after = all_entries(store).len() as u64;
    assert_eq!(
        report.rows,
        before - after,
        "the rerun counts every entry that left the store ({} of them already in their files)",
        report.recovered
    );
    assert!(report.recovered <= report.rows);
    assert_exactly_once(store, options, original);
    assert_eq!(
        watermark(store).as_deref(),
        Some(day(2).to_string().as_str())
    );
    let left: Vec<NaiveDate> = all_entries(store)
        .iter()
        .map(|e| e.ts.date_naive())
        .collect();
    assert!(
        left.is_empty(),
        "every eligible day left the store: {left:?}"
    );
}

/// Every file step of a run failed in turn (the day files' and the manifest's), with plain
/// and with compressed day files.
fn a_run_failing_at_any_file_step_loses_nothing_and_a_rerun_finishes_exactly_once(
    (backend, open): Backend,
) {
    for compress in [false, true] {
        let options_in = |dir: &std::path::Path| store_archive::ArchiveOptions {
            compress,
            ..options(dir)
        };
        let counting = std::sync::Arc::new(FailAt::new(usize::MAX));
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(dir.path()).expect("open");
        fill(store.as_ref(), &DAYS, 40);
        archive_logs_with(
            store.as_ref(),
            &options_in(dir.path()),
            &counting,
            &mut |_| std::ops::ControlFlow::Continue(()),
        )
        .expect("a clean run");
        let steps = counting.steps();
        assert!(
            steps > 5 * DAYS.len(),
            "{backend}: folder, then create, writes, sync, rename, sync a day: {steps}"
        );

        for fail_at in 1..=steps {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = open(dir.path()).expect("open");
            let original = fill(store.as_ref(), &DAYS, 40);
            let options = options_in(dir.path());
            let faults = std::sync::Arc::new(FailAt::new(fail_at));
            let err = archive_logs_with(store.as_ref(), &options, &faults, &mut |_| {
                std::ops::ControlFlow::Continue(())
            })
            .expect_err("the injected failure surfaces");
            assert!(
                matches!(err, StoreError::Io { .. }),
                "{backend} step {fail_at}: {err}"
            );
            assert_nothing_lost(store.as_ref(), &options, &original);
            drop(store);
            let store = open(dir.path()).expect("reopen after the failure");
            assert_rerun_completes(store.as_ref(), &options, &original);
        }
        eprintln!("{backend}: {steps} file steps failed in turn (compressed: {compress})");
    }
}

/// The decision of a store whose `delete_days` fails on its `fail_at`th call, before doing
/// anything or after committing (as when the commit reached the disk but its answer was
/// lost).
fn failing_delete(
    fail_at: usize,
    after_commit: bool,
) -> impl Fn(&'static str) -> Fault + Send + Sync {
    let calls = AtomicUsize::new(0);
    move |method| {
        if method != "delete_days" {
            return Fault::Pass;
        }
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call != fail_at {
            return Fault::Pass;
        }
        let err = StoreError::Io {
            path: None,
            context: format!("deleting days, call {call}"),
            source: std::io::Error::other("injected store failure").into(),
        };
        if after_commit {
            Fault::AfterCommit(err)
        } else {
            Fault::Before(err)
        }
    }
}

fn a_run_failing_at_any_store_step_loses_nothing_and_a_rerun_finishes_exactly_once(
    (backend, open): Backend,
) {
    let mut covered = 0;
    for fail_at in 1..=DAYS.len() {
        for after_commit in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = open(dir.path()).expect("open");
            let original = fill(store.as_ref(), &DAYS, 40);
            let options = options(dir.path());
            let failing = Faulty::new(store.as_ref(), failing_delete(fail_at, after_commit));
            let err = archive_logs(&failing, &options).expect_err("the injected failure surfaces");
            assert!(matches!(err, StoreError::Io { .. }), "{backend}: {err}");
            assert_nothing_lost(store.as_ref(), &options, &original);
            assert_rerun_completes(store.as_ref(), &options, &original);
            covered += 1;
        }
    }
    assert_eq!(covered, 2 * DAYS.len(), "{backend}");
}

/// A power cut right after a run, on a file system that loses every folder entry not
/// synced into its folder: the archive's new folders and its day files survive it, so every
/// entry the run took out of the store is still somewhere, and the rerun finishes.
fn a_power_cut_after_a_run_loses_no_entry((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &DAYS, 50);
    // The archive's folders do not exist yet: the run creates them.
    let options = options(dir.path());
    let files = store_conformance::LosesUnsynced::new();
    let report = archive_logs_with(store.as_ref(), &options, &files, &mut |_| {
        std::ops::ControlFlow::Continue(())
    })
    .expect("the run");
    assert_eq!(report.rows, original.len() as u64, "{backend}");
    let lost = files.cut_power();
    assert!(lost.is_empty(), "{backend}: left unsynced: {lost:?}");
    assert_nothing_lost(store.as_ref(), &options, &original);
    assert_rerun_completes(store.as_ref(), &options, &original);
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES },
    cases: {
        a_power_cut_after_a_run_loses_no_entry,
        a_run_failing_at_any_file_step_loses_nothing_and_a_rerun_finishes_exactly_once,
        a_run_failing_at_any_store_step_loses_nothing_and_a_rerun_finishes_exactly_once,
    }
);
