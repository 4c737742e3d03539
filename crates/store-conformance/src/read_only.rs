//! SPEC 1, opening read-only: a store opened for reading answers every read as the store
//! itself would, refuses every write with `OpenedReadOnly` without changing anything,
//! creates nothing, and follows a writer that has the file open beside it.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

use super::harness::Harness;
use super::observable_state;
use store_core::{
    DaySpan, ImportBatch, LogBackend, LogId, NewLogEntry, RunTransition, StoreError, StoreResult,
    ThreadMessage, WorkflowRunStatus, WriteUnit,
};

/// Every file in `dir` with its length and contents, to compare a folder before and after.
fn folder_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("the store's folder")
        .map(|entry| {
            let entry = entry.expect("a folder entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).expect("a file of the store");
            (name, bytes)
        })
        .collect()
}

fn a_written_store(harness: &dyn Harness, dir: &Path) {
    let store = harness.open(dir).expect("create");
    store
        .append_batch(vec![
            NewLogEntry::new("s", "k", "one").with_ref("r"),
            NewLogEntry::new("s", "k", "two"),
        ])
        .expect("entries");
    store
        .transition_run(RunTransition::new(
            "run-1",
            "wf",
            WorkflowRunStatus::Started,
        ))
        .expect("a run");
    store
        .append_thread_message(ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 1,
            payload: "hi".into(),
            ts: None,
        })
        .expect("a message");
    store.meta_set("key", "value").expect("meta");
}

fn assert_refused<T: std::fmt::Debug>(what: &str, result: StoreResult<T>) {
    match result {
        Err(StoreError::OpenedReadOnly { .. }) => {}
        other => panic!("{what} on a read-only store: {other:?}"),
    }
}

/// A read-only open answers every read as the store does, and refuses every write, the
/// maintenance writes included, naming the store; nothing it refused was written.
pub fn a_read_only_store_reads_everything_and_refuses_every_write(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    a_written_store(harness, dir.path());
    let writable = harness.open(dir.path()).expect("reopen");
    let expected = observable_state(writable.as_ref(), &["t"]);
    let day: NaiveDate = writable
        .next_log_day(None)
        .expect("the first day")
        .expect("a day with entries");
    let expected_day = writable.day_entries(day, None, 100).expect("a day");
    drop(writable);

    let store = harness.open_read_only(dir.path()).expect("open read-only");
    assert_eq!(observable_state(store.as_ref(), &["t"]), expected);
    assert_eq!(store.next_log_day(None).expect("the first day"), Some(day));
    assert_eq!(
        store.day_entries(day, None, 100).expect("a day"),
        expected_day
    );

    assert_refused("append", store.append(NewLogEntry::new("s", "k", "new")));
    assert_refused(
        "append_batch",
        store.append_batch(vec![NewLogEntry::new("s", "k", "new")]),
    );
    assert_refused(
        "transition_run",
        store.transition_run(RunTransition::new(
            "run-1",
            "wf",
            WorkflowRunStatus::Completed,
        )),
    );
    assert_refused(
        "append_thread_message",
        store.append_thread_message(ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 2,
            payload: "again".into(),
            ts: None,
        }),
    );
    assert_refused("meta_set", store.meta_set("key", "other"));
    assert_refused("meta_delete", store.meta_delete("key"));
    assert_refused(
        "write_unit",
        store.write_unit(WriteUnit::new().append(NewLogEntry::new("s", "k", "unit"))),
    );
    assert_refused(
        "delete_days",
        store.delete_days(&[DaySpan::new(day, LogId(u64::MAX))], &[]),
    );
    assert_refused(
        "import",
        store.import(ImportBatch {
            meta: vec![("other".into(), "x".into())],
            ..ImportBatch::default()
        }),
    );
    assert_refused("compact", store.compact());
    if harness.checks_read_only() {
        assert_eq!(
            store.check().ok(),
            Some(store_core::Checked::Sound),
            "a read-only store checks itself"
        );
    } else {
        assert_refused("check", store.check());
    }
    assert_eq!(
        observable_state(store.as_ref(), &["t"]),
        expected,
        "the refusals wrote nothing"
    );
    drop(store);
    let writable = harness.open(dir.path()).expect("reopen for writing");
    assert_eq!(observable_state(writable.as_ref(), &["t"]), expected);
}

/// A read-only open creates nothing: where there is no store it fails with `NoStore` and
/// the folder stays empty; on a closed store it leaves every file as it was, byte for byte.
pub fn a_read_only_open_creates_nothing(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = harness
        .open_read_only(dir.path())
        .map(|_| ())
        .expect_err("no store there");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");
    assert!(folder_contents(dir.path()).is_empty(), "nothing created");

    a_written_store(harness, dir.path());
    let before = folder_contents(dir.path());
    let store = harness.open_read_only(dir.path()).expect("open read-only");
    let _ = observable_state(store.as_ref(), &["t"]);
    assert_eq!(folder_contents(dir.path()), before, "while open");
    drop(store);
    assert_eq!(folder_contents(dir.path()), before, "after closing");
}

/// An open that may not create (`create_if_missing(false)`) answers `NoStore` where there is
/// no store and creates nothing, not even the store's folder; where a store is, it opens it
/// for writing.
pub fn an_open_that_may_not_create_refuses_a_missing_store_and_opens_an_existing_one(
    harness: &dyn Harness,
) {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("not-yet");
    let err = harness
        .open_existing(&dir)
        .map(|_| ())
        .expect_err("no store there");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");
    assert!(!dir.exists(), "nothing created, not even the folder");
    let err = harness
        .open_read_only(&dir)
        .map(|_| ())
        .expect_err("still no store");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");

    a_written_store(harness, &dir);
    let store = harness
        .open_existing(&dir)
        .expect("an existing store opens");
    let before = super::all_entries(store.as_ref()).len();
    store
        .append(NewLogEntry::new("s", "k", "three"))
        .expect("it opened for writing");
    assert_eq!(super::all_entries(store.as_ref()).len(), before + 1);
    assert_eq!(store.meta_get("key").expect("meta"), Some("value".into()));
}

/// A store at an older schema version, which only an open for writing migrates, is
/// refused by a read-only open with both versions, and left as it was.
pub fn a_read_only_open_of_an_older_schema_is_refused_and_changes_nothing(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    a_written_store(harness, dir.path());
    let current = harness.schema_version();
    harness.set_schema_version(dir.path(), current - 1);
    let before = folder_contents(dir.path());
    let err = harness
        .open_read_only(dir.path())
        .map(|_| ())
        .expect_err("an older schema");
    assert!(
        matches!(&err, StoreError::SchemaTooOld { found, current: known, .. }
            if *found == current - 1 && *known == current),
        "{err}"
    );
    assert_eq!(folder_contents(dir.path()), before, "left as it was");
    harness.set_schema_version(dir.path(), current + 1);
    let err = harness
        .open_read_only(dir.path())
        .map(|_| ())
        .expect_err("a newer schema");
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
}

/// Entries a writer appends while a read-only store is open are read by it, whether the
/// writer opened the file before the read-only store or after it.
pub fn a_read_only_store_follows_a_writer_beside_it(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    a_written_store(harness, dir.path());
    let count = |store: &dyn LogBackend| store.log_stats().expect("stats").entries;

    // The reader first, on a store nobody has open; then a writer.
    let reader = harness.open_read_only(dir.path()).expect("open read-only");
    let before = count(reader.as_ref());
    let writer = harness.open(dir.path()).expect("a writer beside it");
    let appended = writer
        .append(NewLogEntry::new("s", "k", "while the reader is open"))
        .expect("append");
    assert_eq!(count(reader.as_ref()), before + 1, "the reader follows");
    let found = reader
        .query(&store_core::LogQuery {
            after: Some(LogId(appended.id.0 - 1)),
            ..store_core::LogQuery::default()
        })
        .expect("query after");
    assert_eq!(found, vec![appended]);
    drop(reader);

    // A writer first; then the reader.
    let reader = harness
        .open_read_only(dir.path())
        .expect("open beside a writer");
    writer
        .append(NewLogEntry::new("s", "k", "second"))
        .expect("append");
    assert_eq!(count(reader.as_ref()), before + 2);
    drop(writer);
    assert_eq!(
        count(reader.as_ref()),
        before + 2,
        "after the writer closed"
    );
}

/// A store opened read-only while nothing else had the file open sees what writers that
/// open the file, write and close it again (one `logs append` after another) committed,
/// at its next read after each: nothing it read before is kept as if the file could not
/// change.
pub fn a_read_only_store_sees_what_writers_that_came_and_went_wrote(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    a_written_store(harness, dir.path());
    let count = |store: &dyn LogBackend| store.log_stats().expect("stats").entries;
    let reader = harness.open_read_only(dir.path()).expect("open read-only");
    let before = count(reader.as_ref());
    for round in 1..=3u64 {
        let writer = harness.open(dir.path()).expect("a writer");
        let appended = writer
            .append(NewLogEntry::new("s", "k", format!("round {round}")))
            .expect("append");
        drop(writer);
        assert_eq!(count(reader.as_ref()), before + round, "round {round}");
        let found = reader
            .query(&store_core::LogQuery {
                after: Some(LogId(appended.id.0 - 1)),
                ..store_core::LogQuery::default()
            })
            .expect("query after");
        assert_eq!(found, vec![appended], "round {round}");
    }
}

/// A snapshot's view reads the store as it was when the view was taken, every call alike,
/// while this handle and a second one on the same file write on; writes through the view
/// are refused; after it, the store holds everything that was written.
pub fn a_snapshot_reads_the_store_as_it_was_while_writers_go_on(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    a_written_store(harness, dir.path());
    let store = harness.open(dir.path()).expect("reopen");
    let other = harness.open(dir.path()).expect("a second handle");
    let before = observable_state(store.as_ref(), &["t"]);
    let mut seen = Vec::new();
    store
        .with_snapshot(&mut |view| {
            seen.push(observable_state(view, &["t"]));
            store.append(NewLogEntry::new("s", "k", "after the snapshot"))?;
            other.transition_run(RunTransition::new(
                "run-1",
                "wf",
                WorkflowRunStatus::Completed,
            ))?;
            other.append_thread_message(ThreadMessage {
                thread_id: "t".into(),
                role: "assistant".into(),
                round: 1,
                payload: "later".into(),
                ts: None,
            })?;
            store.meta_set("key", "changed")?;
            store.meta_set("new key", "x")?;
            seen.push(observable_state(view, &["t"]));
            assert_refused("append", view.append(NewLogEntry::new("s", "k", "view")));
            assert_refused("meta_set", view.meta_set("key", "view"));
            assert_refused("compact", view.compact());
            Ok(())
        })
        .expect("work on a snapshot");
    assert_eq!(
        seen,
        vec![before.clone(), before.clone()],
        "one snapshot throughout"
    );
    let after = observable_state(store.as_ref(), &["t"]);
    assert_ne!(after, before);
    assert_eq!(
        store.meta_get("key").expect("meta").as_deref(),
        Some("changed")
    );
    assert_eq!(
        store.get_run("run-1").expect("run").map(|run| run.status),
        Some(WorkflowRunStatus::Completed)
    );
    drop(other);
    drop(store);
    let reopened = harness.open(dir.path()).expect("reopen");
    assert_eq!(observable_state(reopened.as_ref(), &["t"]), after);
}
