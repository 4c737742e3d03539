//! WAL in practice: readers never wait for a writer, a second handle on the same file (as
//! a second process would hold) sees committed writes, and a lock held too long is a
//! typed, retryable error that writes nothing.

use std::time::Duration;

use rusqlite::TransactionBehavior;
use store_core::{LogQuery, LogStore, NewLogEntry, RunTransition, StoreError, WorkflowRunStatus};
use store_sqlite::{SqliteLogStore, SqliteOptions};

fn all(store: &SqliteLogStore) -> Vec<store_core::LogEntry> {
    store
        .query(&LogQuery {
            limit: Some(usize::MAX),
            ..LogQuery::default()
        })
        .expect("query")
}

#[test]
fn an_open_read_transaction_does_not_block_appends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let store = SqliteLogStore::open(&path).expect("open");
    store
        .append(NewLogEntry::new("s", "k", "first"))
        .expect("append");
    let mut reader = store_sqlite::harness::raw_connection(&path);
    let snapshot = reader
        .transaction_with_behavior(TransactionBehavior::Deferred)
        .expect("begin");
    let seen: i64 = snapshot
        .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
        .expect("read");
    // The reader holds its snapshot open while the store writes.
    store
        .append(NewLogEntry::new("s", "k", "second"))
        .expect("append beside a reader");
    let still: i64 = snapshot
        .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
        .expect("read");
    assert_eq!((seen, still), (1, 1), "the reader keeps its snapshot");
    drop(snapshot);
    assert_eq!(all(&store).len(), 2);
}

#[test]
fn two_handles_on_one_file_see_each_others_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let daemon = SqliteLogStore::open(&path).expect("daemon's handle");
    let cli = SqliteLogStore::open(&path).expect("CLI's handle");
    let a = daemon
        .append(NewLogEntry::new("daemon", "k", "a"))
        .expect("daemon appends");
    let b = cli
        .append(NewLogEntry::new("cli", "k", "b"))
        .expect("CLI appends");
    daemon
        .transition_run(RunTransition::new("r", "wf", WorkflowRunStatus::Started))
        .expect("daemon starts a run");
    cli.transition_run(RunTransition::new("r", "wf", WorkflowRunStatus::Crashed))
        .expect("the CLI sees the run and moves it");
    assert!(a.id < b.id);
    assert_eq!(all(&daemon), all(&cli));
    let run = daemon.get_run("r").expect("get_run").expect("the run");
    assert_eq!(run.status, WorkflowRunStatus::Crashed);
}

#[test]
fn a_lock_held_past_the_busy_timeout_is_busy_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let options = SqliteOptions::default().busy_timeout(Duration::from_millis(50));
    let store = SqliteLogStore::open_with(&path, options).expect("open");
    let kept = store
        .append(NewLogEntry::new("s", "k", "kept"))
        .expect("append");
    let mut other = store_sqlite::harness::raw_connection(&path);
    let lock = other
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("take the write lock");
    let err = store
        .append(NewLogEntry::new("s", "k", "blocked"))
        .expect_err("the lock is held");
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    assert_eq!(
        all(&store),
        vec![kept.clone()],
        "reads go on while the lock is held"
    );
    drop(lock);
    let next = store
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("append once released");
    assert_eq!(all(&store), vec![kept, next]);
}

/// While another connection holds the write lock past the busy timeout, every call of every
/// group waiting for it fails with the same retryable `Busy`, and none of them is written;
/// once the lock is free the same calls go through.
#[test]
fn a_lock_held_elsewhere_fails_every_call_of_the_waiting_groups_and_writes_nothing() {
    const THREADS: usize = 6;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let options = SqliteOptions::default().busy_timeout(Duration::from_millis(200));
    let store = SqliteLogStore::open_with(&path, options).expect("open");
    let mut holder = store_sqlite::harness::raw_connection(&path);
    let lock = holder
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("take the write lock");
    let answers: Vec<_> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..THREADS)
            .map(|i| {
                let store = &store;
                scope.spawn(move || store.append(NewLogEntry::new("s", "k", i.to_string())))
            })
            .collect();
        calls
            .into_iter()
            .map(|call| call.join().expect("no panic"))
            .collect()
    });
    for answer in answers {
        let err = answer.expect_err("the lock is held");
        assert!(
            matches!(err, StoreError::Busy { .. }) && err.is_retryable(),
            "{err}"
        );
    }
    drop(lock);
    assert!(all(&store).is_empty(), "nothing of the failed groups");
    let entry = store
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("the lock is free");
    assert_eq!(all(&store), vec![entry]);
}
