//! `restore_days` (docs/SPEC.md section 3): archived days come back into the store under
//! their ids, thread index included, exactly once, refused whole when the archive is not
//! what its manifest records. (`restore_kill.rs` kills a restoring process.)

mod common;

use std::ops::ControlFlow;

use chrono::NaiveDate;
use common::{
    Backend, POSTGRES, REDB, SQLITE, archived, assert_same, day, fill, observed,
    observed_without_watermark, options,
};
use store_archive::{
    archive_logs, drop_days, restore_days, restore_days_with_progress, verify_archive,
};
use store_conformance::all_entries;
use store_core::StoreError;

const EVERY_DAY: std::ops::RangeInclusive<NaiveDate> = NaiveDate::MIN..=NaiveDate::MAX;

/// Archived days restored are the store as it was before the archive run, the thread
/// index included; the archive keeps them, verified; a second restore writes nothing; the
/// next archive run moves them out again without writing a line twice.
fn archived_days_restored_are_the_store_as_it_was((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    fill(store.as_ref(), &[5, 4, 3], 1500);
    // The meta the archive run writes (its watermark) is the run's, and stays.
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    let watermark = store.meta_get(store_archive::WATERMARK_KEY).expect("meta");
    let files_before = archived(&options);
    assert_eq!(all_entries(store.as_ref()).len(), 0, "{backend}: all moved");

    let report = restore_days(store.as_ref(), &options.dir, EVERY_DAY).expect("restore");
    assert_eq!(report.written, 4503, "{backend}: {report:?}");
    assert_eq!(
        (report.present, report.unindexed, report.interrupted),
        (0, 0, false)
    );
    assert_eq!(
        report.days.iter().map(|d| d.day).collect::<Vec<_>>(),
        vec![day(5), day(4), day(3)]
    );
    assert_eq!(all_entries(store.as_ref()), files_before, "{backend}");
    let restored = observed(store.as_ref());
    let again = restore_days(store.as_ref(), &options.dir, EVERY_DAY).expect("again");
    assert_eq!((again.written, again.present), (0, 4503), "{backend}");
    assert_eq!(
        observed(store.as_ref()),
        restored,
        "{backend}: nothing twice"
    );
    assert!(verify_archive(&options.dir).expect("verify").is_sound());

    let rerun = archive_logs(store.as_ref(), &options).expect("archive again");
    assert_eq!(
        (rerun.rows, rerun.recovered),
        (4503, 4503),
        "{backend}: every entry was in its file already"
    );
    assert_eq!(archived(&options), files_before, "{backend}: no line twice");
    assert_eq!(
        store.meta_get(store_archive::WATERMARK_KEY).expect("meta"),
        watermark
    );
    assert!(verify_archive(&options.dir).expect("verify").is_sound());
}

/// The round trip is exact: a store filled, archived and restored answers every listing as
/// before the archive run (thread rounds, last rounds, stats), ids included.
fn the_round_trip_keeps_every_listing_and_id((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    fill(store.as_ref(), &[9, 8, 7, 6, 5, 4], 40);
    let before = observed(store.as_ref());
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    assert_ne!(observed(store.as_ref()), before);
    let report =
        restore_days(store.as_ref(), &options.dir, day(8)..=day(5)).expect("a range restored");
    assert_eq!(report.days.len(), 4, "{backend}: the range's days only");
    restore_days(store.as_ref(), &options.dir, day(9)..=day(9)).expect("one day");
    restore_days(store.as_ref(), &options.dir, day(4)..=day(4)).expect("one day");
    let after = observed_without_watermark(store.as_ref());
    assert_same(&before, &after, backend);
}

/// A day file changed or missing is named, and nothing of the range is restored; a range
/// with no archived day is refused by name; dropped days are reported, not restored.
fn a_damaged_or_missing_day_is_named_and_nothing_is_restored((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    fill(store.as_ref(), &[6, 5, 4, 3], 30);
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    let file = |d: i64| options.dir.join("logs").join(format!("{}.jsonl", day(d)));
    // A byte of a payload changed: the file still reads, and is not what was archived.
    common::change_byte_after(&file(4), b"\"payload\":\"{\\\"");
    std::fs::remove_file(file(3)).expect("a missing day");

    let err = restore_days(store.as_ref(), &options.dir, EVERY_DAY).expect_err("refused");
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::ArchiveMismatch { .. }),
        "{backend}: {err}"
    );
    assert!(
        text.contains(&format!("{} (changed)", day(4)))
            && text.contains(&format!("{} (missing)", day(3))),
        "{text}"
    );
    assert!(!text.contains(&day(5).to_string()), "{text}");
    assert!(all_entries(store.as_ref()).is_empty(), "nothing restored");

    let err = restore_days(store.as_ref(), &options.dir, day(30)..=day(20)).expect_err("none");
    assert!(
        matches!(&err, StoreError::InvalidInput { field, .. } if *field == "days"),
        "{err}"
    );
    drop_days(&options.dir, day(5)).expect("drop the first day");
    let report = restore_days(store.as_ref(), &options.dir, day(6)..=day(5)).expect("the range");
    assert_eq!(report.dropped, vec![day(6)], "{backend}");
    assert_eq!(report.days.len(), 1);
    assert_eq!(report.written, 31);
}

/// A restore asked to stop stops after the batch it is on; a rerun writes the rest, and
/// nothing twice.
fn a_restore_asked_to_stop_goes_on_from_there((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &[4, 3], 2500);
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    let mut calls = 0;
    let report = restore_days_with_progress(store.as_ref(), &options.dir, EVERY_DAY, &mut |p| {
        calls += 1;
        assert_eq!(p.days_total, 2);
        if calls == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect("a first part");
    assert!(report.interrupted, "{backend}");
    assert_eq!(report.written, 2000, "{backend}: two batches");
    let rest = restore_days(store.as_ref(), &options.dir, EVERY_DAY).expect("the rest");
    assert_eq!((rest.written, rest.present), (3002, 2000), "{backend}");
    let mut ids: Vec<_> = all_entries(store.as_ref()).iter().map(|e| e.id).collect();
    ids.sort();
    let mut expected: Vec<_> = original.iter().map(|e| e.id).collect();
    expected.sort();
    assert_eq!(ids, expected, "{backend}: each entry once");
}

/// A restore while an archive run holds the archive is busy and writes nothing.
fn a_restore_while_the_archive_is_held_is_busy((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    fill(store.as_ref(), &[3], 20);
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    let held = std::fs::File::create(options.dir.join("logs").join(".archive.lock"))
        .expect("the lock file");
    held.lock().expect("another run holds the archive");
    let err = restore_days(store.as_ref(), &options.dir, EVERY_DAY).expect_err("busy");
    assert!(matches!(err, StoreError::Busy { .. }), "{backend}: {err}");
    assert!(all_entries(store.as_ref()).is_empty());
    drop(held);
    restore_days(store.as_ref(), &options.dir, EVERY_DAY).expect("free again");
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES },
    cases: {
        archived_days_restored_are_the_store_as_it_was,
        the_round_trip_keeps_every_listing_and_id,
        a_damaged_or_missing_day_is_named_and_nothing_is_restored,
        a_restore_asked_to_stop_goes_on_from_there,
        a_restore_while_the_archive_is_held_is_busy,
    }
);
