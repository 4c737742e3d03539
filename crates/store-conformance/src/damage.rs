//! SPEC 4 and 5, what is stored changed behind the store's back: a damaged row is a typed
//! error naming its table and key, never a panic or a guess, and the rows around it still
//! read; another program's database and a newer schema are refused and left as they were.

use super::{Harness, all_entries};
use store_core::{LogQuery, NewLogEntry, RunTransition, StoreError, WorkflowRunStatus};

fn corrupt_at<T: std::fmt::Debug>(result: store_core::StoreResult<T>, table: &str, key: &str) {
    match result {
        Err(StoreError::CorruptValue {
            table: found_table,
            key: found_key,
            ..
        }) if found_table == table && found_key == key => {}
        other => panic!("expected a corrupt value in {table} at {key}, got {other:?}"),
    }
}

/// A run whose stored row no longer decodes is a `CorruptValue` naming the table and the
/// run, read directly or by a transition of it.
pub fn a_damaged_run_row_is_a_corrupt_value_naming_table_and_key(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = harness.open(dir.path()).expect("open");
    store
        .transition_run(RunTransition::new(
            "run-1",
            "wf",
            WorkflowRunStatus::Started,
        ))
        .expect("a run");
    harness.damage_run(dir.path(), "run-1");
    corrupt_at(store.get_run("run-1"), "runs", "run-1");
    let transition = RunTransition::new("run-1", "wf", WorkflowRunStatus::Completed);
    corrupt_at(store.transition_run(transition), "runs", "run-1");
}

/// An entry whose stored row no longer decodes is a `CorruptValue` naming the table and
/// the id; a query that does not reach it still answers whole. (A query reaches the entries
/// of its range and, where the backend fences its walks, the one entry on each side: a
/// damaged neighbour may be one of the range's own entries whose key was damaged. So the
/// good row here has a whole neighbour, `a-2`, between it and the damaged one.)
pub fn a_damaged_log_row_is_a_corrupt_value_and_other_rows_still_read(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = harness.open(dir.path()).expect("open");
    let good = store
        .append(NewLogEntry::new("s", "k", "good").with_ref("a"))
        .expect("append");
    let bad = store
        .append(NewLogEntry::new("s", "k", "bad").with_ref("b"))
        .expect("append");
    store
        .append(NewLogEntry::new("s", "k", "neighbour").with_ref("a-2"))
        .expect("append");
    harness.damage_entry(dir.path(), bad.id);
    let by_ref = |ref_id: &str| LogQuery {
        ref_id: Some(ref_id.into()),
        ..LogQuery::default()
    };
    corrupt_at(store.query(&by_ref("b")), "logs", &bad.id.to_string());
    assert_eq!(store.query(&by_ref("a")).expect("the good row"), vec![good]);
}

/// Another program's database of the same engine where the store should be is refused as
/// not a store, naming what it found, and left as it was (see
/// [`Harness::foreign_store_contents`]).
pub fn another_programs_database_is_refused_and_left_alone(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    harness.put_foreign_store(dir.path());
    let before = harness.foreign_store_contents(dir.path());
    let err = harness
        .open(dir.path())
        .map(|_| ())
        .expect_err("another program's database");
    assert!(matches!(&err, StoreError::NotAStore { .. }), "{err}");
    assert!(
        err.to_string().contains("accounts"),
        "names what it found: {err}"
    );
    assert!(
        harness.foreign_store_contents(dir.path()) == before,
        "the refusal changed the foreign database"
    );
}

/// A store whose schema version is newer than this build's is refused with both versions,
/// and loses nothing: back at this build's version it opens with every entry.
pub fn a_newer_schema_is_refused_with_both_versions_and_nothing_is_lost(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    let supported = harness.schema_version();
    let store = harness.open(dir.path()).expect("create");
    let entry = store
        .append(NewLogEntry::new("s", "k", "kept"))
        .expect("append");
    drop(store);
    harness.set_schema_version(dir.path(), supported + 5);
    let err = harness
        .open(dir.path())
        .map(|_| ())
        .expect_err("a newer schema");
    assert!(
        matches!(
            &err,
            StoreError::SchemaTooNew { found, supported: known, .. }
                if *found == supported + 5 && *known == supported
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
    harness.set_schema_version(dir.path(), supported);
    let store = harness
        .open(dir.path())
        .expect("opens again at its own version");
    assert_eq!(
        all_entries(store.as_ref()),
        vec![entry],
        "the refusal lost nothing"
    );
}
