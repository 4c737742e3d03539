//! Damaged values and damaged files: a typed error naming what is wrong, never a panic.

use store_core::{LogQuery, LogStore, NewLogEntry, RunTransition, StoreError, WorkflowRunStatus};
use store_redb::RedbLogStore;

fn raw(path: &std::path::Path) -> redb::Database {
    redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(path)
        .expect("raw open")
}

#[test]
fn an_undecodable_run_row_is_a_corrupt_value_naming_table_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let store = RedbLogStore::open(&path).expect("open");
    store
        .transition_run(RunTransition::new(
            "run-1",
            "wf",
            WorkflowRunStatus::Started,
        ))
        .expect("a run");
    let runs: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("runs");
    let db = raw(&path);
    let tx = db.begin_write().expect("begin");
    tx.open_table(runs)
        .expect("runs")
        .insert("run-1", [0xff_u8, 0xff, 0xff].as_slice())
        .expect("damage");
    tx.commit().expect("commit");
    drop(db);
    let err = store.get_run("run-1").expect_err("a damaged row");
    assert!(
        matches!(&err, StoreError::CorruptValue { table: "runs", key, .. } if key == "run-1"),
        "{err}"
    );
}

#[test]
fn an_undecodable_log_row_is_a_corrupt_value_and_other_rows_still_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let store = RedbLogStore::open(&path).expect("open");
    let good = store
        .append(NewLogEntry::new("s", "k", "good").with_ref("a"))
        .expect("append");
    let bad = store
        .append(NewLogEntry::new("s", "k", "bad").with_ref("b"))
        .expect("append");
    let logs: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("logs");
    let db = raw(&path);
    let tx = db.begin_write().expect("begin");
    tx.open_table(logs)
        .expect("logs")
        .insert(bad.id.0, [1_u8].as_slice())
        .expect("damage");
    tx.commit().expect("commit");
    drop(db);
    let by_ref = |r: &str| LogQuery {
        ref_id: Some(r.into()),
        ..LogQuery::default()
    };
    let err = store.query(&by_ref("b")).expect_err("a damaged row");
    assert!(
        matches!(&err, StoreError::CorruptValue { table: "logs", key, .. } if *key == bad.id.to_string()),
        "{err}"
    );
    assert_eq!(store.query(&by_ref("a")).expect("the good row"), vec![good]);
}
