//! What `RedbLogStore::open` does beyond the conformance suite's cases: options that cannot
//! work together, deferred durability, a file held whole by one process.

use store_core::Durability;
use store_core::{LogQuery, LogStore, NewLogEntry, StoreError};
use store_redb::{RedbLogStore, RedbOptions};

#[test]
fn deferred_durability_with_a_shared_file_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RedbOptions::default().durability(Durability::Deferred);
    let err = RedbLogStore::open_with(dir.path().join("nerve.redb"), options).expect_err("refused");
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "durability",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn deferred_durability_alone_keeps_what_it_wrote_across_a_clean_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let options = RedbOptions::default()
        .durability(Durability::Deferred)
        .multi_process(false);
    let entry = RedbLogStore::open_with(&path, options.clone())
        .expect("open")
        .append(NewLogEntry::new("s", "k", "p"))
        .expect("append");
    let store = RedbLogStore::open_with(&path, options).expect("reopen");
    assert_eq!(
        store.query(&LogQuery::default()).expect("query"),
        vec![entry]
    );
}

#[test]
fn an_exclusive_store_refuses_a_second_opener_as_busy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let options = RedbOptions::default().multi_process(false);
    let _held = RedbLogStore::open_with(&path, options).expect("the first opener");
    let err = RedbLogStore::open(&path).expect_err("a second opener");
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
}
