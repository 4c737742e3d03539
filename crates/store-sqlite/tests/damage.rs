//! Damaged values and damaged files: a typed error naming what is wrong, never a panic,
//! and nothing else lost.

use rusqlite::Connection;
use store_core::{LogQuery, LogStore, NewLogEntry, RunTransition, StoreError, WorkflowRunStatus};
use store_sqlite::SqliteLogStore;

#[test]
fn a_damaged_run_row_is_a_corrupt_value_naming_table_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let store = SqliteLogStore::open(&path).expect("open");
    store
        .transition_run(RunTransition::new(
            "run-1",
            "wf",
            WorkflowRunStatus::Started,
        ))
        .expect("a run");
    let conn = Connection::open(&path).expect("raw connection");
    conn.execute(
        "UPDATE runs SET status = 'paused' WHERE run_id = 'run-1'",
        [],
    )
    .expect("damage");
    let err = store.get_run("run-1").expect_err("an unknown status");
    assert!(
        matches!(&err, StoreError::CorruptValue { table: "runs", key, .. } if key == "run-1"),
        "{err}"
    );
    let err = store
        .transition_run(RunTransition::new(
            "run-1",
            "wf",
            WorkflowRunStatus::Completed,
        ))
        .expect_err("a transition of a damaged run");
    assert!(matches!(&err, StoreError::CorruptValue { .. }), "{err}");
}

#[test]
fn a_damaged_log_row_is_a_corrupt_value_and_other_rows_still_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let store = SqliteLogStore::open(&path).expect("open");
    let good = store
        .append(NewLogEntry::new("s", "k", "good").with_ref("a"))
        .expect("append");
    let bad = store
        .append(NewLogEntry::new("s", "k", "bad").with_ref("b"))
        .expect("append");
    let conn = Connection::open(&path).expect("raw connection");
    conn.execute(
        "UPDATE logs SET payload = x'ff00fe' WHERE id = ?1",
        [bad.id.0 as i64],
    )
    .expect("invalid UTF-8 as the payload");
    let by_ref = |r: &str| LogQuery {
        ref_id: Some(r.into()),
        ..LogQuery::default()
    };
    let err = store
        .query(&by_ref("b"))
        .expect_err("a payload that is not UTF-8");
    assert!(
        matches!(&err, StoreError::CorruptValue { table: "logs", key, .. } if *key == bad.id.to_string()),
        "{err}"
    );
    assert_eq!(store.query(&by_ref("a")).expect("the good row"), vec![good]);
}
