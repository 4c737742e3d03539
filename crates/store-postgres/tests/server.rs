//! What a store on a server meets in place of the file cases of the embedded backends: an
//! empty schema, daemons creating a store together, values damaged behind the store's back,
//! a damaged row that only `check` reads, a server that is not there.

use std::path::Path;

use store_core::conformance::Harness;
use store_core::{LogId, LogQuery, LogStore, NewLogEntry, StoreError};
use store_postgres::PgLogStore;
use store_postgres::harness::{PgHarness, options, raw, schema_of};

fn append_some(dir: &Path) -> Vec<store_core::LogEntry> {
    let store = PgHarness.open(dir).expect("a store");
    let entries = store
        .append_batch(
            (0..5)
                .map(|i| NewLogEntry::new("s", "k", i.to_string()))
                .collect(),
        )
        .expect("entries");
    store
        .append_thread_message(store_core::ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 1,
            payload: "hi".into(),
            ts: None,
        })
        .expect("a message");
    entries
}

/// A schema that exists but holds nothing (an operator made it ahead of the daemons)
/// becomes a store at the first open.
#[test]
fn an_empty_schema_becomes_a_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let schema = schema_of(dir.path());
    raw()
        .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
        .expect("an empty schema");
    let store = PgHarness
        .open(dir.path())
        .expect("the empty schema becomes a store");
    let entry = store
        .append(NewLogEntry::new("s", "k", "first"))
        .expect("append");
    assert_eq!(entry.id, LogId(1));
}

/// Daemons that open a new store at the same moment create it once, and all of them use it.
#[test]
fn daemons_opening_a_new_store_together_create_it_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = options(dir.path());
    let opened: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| PgLogStore::open_with(options.clone())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a thread"))
            .collect()
    });
    for store in &opened {
        let store = store.as_ref().expect("every daemon opens it");
        store
            .append(NewLogEntry::new("s", "k", "p"))
            .expect("and writes");
    }
    let identities: i64 = raw()
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{}\".store_identity",
                schema_of(dir.path())
            ),
            &[],
        )
        .expect("count")
        .get(0);
    assert_eq!(identities, 1);
    let store = PgHarness.open(dir.path()).expect("reopen");
    assert_eq!(store.log_stats().expect("stats").entries, 6);
}

/// Values changed behind the store's back into what it never writes (a time out of range, a
/// negative round, bytes that are not UTF-8) are `CorruptValue` errors naming the table,
/// never a panic, and the rows around them still read.
#[test]
fn damaged_values_are_errors_naming_the_table_not_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = append_some(dir.path());
    let s = schema_of(dir.path());
    raw()
        .batch_execute(&format!(
            "UPDATE \"{s}\".logs SET ts = 9223372036854775807 WHERE id = {}; \
             UPDATE \"{s}\".thread_messages SET round = -3;",
            entries[2].id.0
        ))
        .expect("damage");
    let store = PgHarness.open(dir.path()).expect("it opens");
    let err = store
        .query(&LogQuery {
            limit: Some(100),
            ..LogQuery::default()
        })
        .expect_err("a damaged time");
    assert!(
        matches!(err, StoreError::CorruptValue { table: "logs", .. }),
        "{err}"
    );
    let err = store.last_round("t").expect_err("a damaged round");
    assert!(
        matches!(
            err,
            StoreError::CorruptValue {
                table: "thread_messages",
                ..
            }
        ),
        "{err}"
    );
    let before = store
        .query(&LogQuery {
            before: Some(entries[2].id),
            ..LogQuery::default()
        })
        .expect("the rows before it");
    assert_eq!(before, entries[..2].to_vec());
}

/// `check` reads every row: a row no query has reached yet is found there.
#[test]
fn check_finds_a_damaged_row_that_no_query_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = append_some(dir.path());
    let store = PgHarness.open(dir.path()).expect("a store");
    assert!(store.check().is_ok(), "sound before the damage");
    PgHarness.damage_entry(dir.path(), entries[4].id);
    let err = store.check().expect_err("the damaged row");
    assert!(
        matches!(err, StoreError::CorruptValue { table: "logs", .. }),
        "{err}"
    );
}

/// A server that cannot be reached is an error that names what the store was doing and
/// the engine, not a hang and not a panic.
#[test]
fn a_server_that_is_not_there_is_an_error() {
    let err = PgLogStore::open("postgres://nerve@127.0.0.1:1/none?schema=nowhere")
        .map(|_| ())
        .expect_err("no server on port 1");
    assert!(
        matches!(
            err,
            StoreError::Backend {
                backend: "postgres",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("opening"), "{err}");
}

/// The harness keeps thousands of generated cases within the server's disk: the schema of a
/// case whose folder is gone is dropped when the next store is made.
#[test]
fn the_schema_of_an_ended_case_is_dropped() {
    let schema_exists = |schema: &str| -> bool {
        raw()
            .query_one(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .expect("the catalog")
            .get::<_, i64>(0)
            == 1
    };
    let ended = tempfile::tempdir().expect("temp dir");
    let ended_schema = schema_of(ended.path());
    drop(append_some(ended.path()));
    assert!(
        schema_exists(&ended_schema),
        "the case's store is on the server"
    );
    drop(ended);

    let next = tempfile::tempdir().expect("temp dir");
    let next_schema = schema_of(next.path());
    drop(append_some(next.path()));
    assert!(
        !schema_exists(&ended_schema),
        "the ended case's schema was dropped"
    );
    assert!(schema_exists(&next_schema), "the live case's schema stays");
}
