//! What a store on a server meets in place of the file cases of the embedded backends: an
//! empty schema, daemons creating a store together, values damaged behind the store's back,
//! a damaged row that only `check` reads, a server that is not there.

use std::path::Path;

use store_conformance::Harness;
use store_core::{LogQuery, LogStore, NewLogEntry, StoreError};
use store_postgres::PgLogStore;
use store_postgres::harness::{PgHarness, options, raw, schema_of, session_setting};

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
    assert_eq!(
        store.query(&LogQuery::default()).expect("the log"),
        vec![entry]
    );
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

/// A server that refuses the connection fails the open at once (no pool retrying until its
/// time-out), as a retryable `Unavailable` naming the host and port and the cause, and
/// never showing the location's password.
#[test]
fn a_server_that_refuses_fails_the_open_at_once_as_unavailable() {
    let err = PgLogStore::open("postgres://nerve:hunter2@127.0.0.1:1/none?schema=nowhere")
        .map(|_| ())
        .expect_err("no server on port 1");
    assert!(
        matches!(
            err,
            StoreError::Unavailable {
                backend: "postgres",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable(), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
    assert!(shown.contains("refused"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// A server that accepts the connection but never answers (a hung host, a proxy with no
/// server behind it) fails the open once the login's bound has passed, as `Unavailable`.
#[test]
fn a_server_that_never_answers_fails_the_open_as_unavailable() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = silent.local_addr().expect("its address").port();
    // Accepts and holds every connection without a word.
    let held = std::thread::spawn(move || {
        let (connection, _) = silent.accept().expect("the store connects");
        connection
    });
    let options = store_postgres::PgOptions::from_location(&format!(
        "postgres://nerve@127.0.0.1:{port}/none?schema=nowhere"
    ))
    .expect("a location")
    .connect_timeout(std::time::Duration::from_millis(300))
    .lock_timeout(std::time::Duration::from_millis(300));
    let err = PgLogStore::open_with(options)
        .map(|_| ())
        .expect_err("nothing answers");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    drop(held.join().expect("the silent server"));
}

/// A server that goes down between calls: each call meanwhile is a retryable
/// `Unavailable`, nothing is written, and once the server is back the same store (its pool
/// reconnecting by itself) takes the next call, with every entry written before it there.
#[test]
fn a_store_rides_out_its_server_stopping_and_starting_again() {
    let mut server = store_postgres::harness::OwnServer::start();
    let options = store_postgres::PgOptions::new(server.url(), "restarts")
        .expect("options")
        .lock_timeout(std::time::Duration::from_secs(1));
    let store = PgLogStore::open_with(options).expect("a store");
    let before = store
        .append(NewLogEntry::new("s", "k", "before"))
        .expect("an entry");

    server.stop();
    for _ in 0..3 {
        let err = store
            .append(NewLogEntry::new("s", "k", "while down"))
            .expect_err("the server is down");
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
        assert!(err.is_retryable(), "{err}");
        let err = store.query(&LogQuery::default()).expect_err("down");
        assert!(err.is_retryable(), "{err}");
    }

    server.restart();
    let after = store
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("the store reconnects once the server is back");
    let all = store.query(&LogQuery::default()).expect("the log");
    assert_eq!(
        all,
        vec![before, after],
        "nothing of the calls made while it was down"
    );
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

/// A snapshot (what `migrate` and `backup` read the source through) only reads and holds no
/// lock a writer waits for: it outlives the idle timeout that ends a stalled writer's
/// transaction, so a copy whose target is slow between two reads of the source goes on.
/// The pause is three times the timeout the store was opened with, after which the server
/// would have ended an ordinary transaction.
#[test]
fn a_snapshot_outlives_the_idle_timeout_of_writers() {
    use store_core::LogTransfer;
    let dir = tempfile::tempdir().expect("temp dir");
    let written = append_some(dir.path());
    let mut opened = options(dir.path());
    opened.idle_in_transaction_timeout = std::time::Duration::from_millis(300);
    let store = PgLogStore::open_with(opened).expect("a store with a short idle timeout");
    let all = LogQuery {
        limit: Some(100),
        ..LogQuery::default()
    };
    store
        .with_snapshot(&mut |view| {
            let before = view.query(&all)?;
            std::thread::sleep(std::time::Duration::from_millis(900));
            let after = view.query(&all)?;
            assert_eq!(before, after);
            assert_eq!(
                before.len(),
                written.len() + 1,
                "the entries and the message"
            );
            Ok(())
        })
        .expect("the snapshot reads on after a pause longer than the idle timeout");
    // The connection went back to the pool with the store's own timeout.
    store
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("a write after the snapshot");
}

/// The shared options, as PostgreSQL honours them: the durability sets `synchronous_commit` in
/// every session whatever the server's default, and a page cache, which is the server's, is
/// refused by name rather than ignored.
#[test]
fn durability_sets_synchronous_commit_and_a_cache_size_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (durability, expected) in [
        (store_core::Durability::PowerLoss, "on"),
        (store_core::Durability::ProcessCrash, "on"),
        (store_core::Durability::Deferred, "off"),
    ] {
        let store =
            PgLogStore::open_with(options(dir.path()).durability(durability)).expect("a store");
        assert_eq!(
            session_setting(&store, "synchronous_commit"),
            expected,
            "{durability}"
        );
        store
            .append(NewLogEntry::new("s", "k", durability.as_str()))
            .expect("it writes");
    }
    let err = PgLogStore::open_with(options(dir.path()).cache_bytes(8 << 20))
        .map(|_| ())
        .expect_err("the cache is the server's");
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "cache_bytes",
                ..
            }
        ),
        "{err}"
    );
}

/// A write that fails inside its transaction (here: the log table held by another session
/// past `lock_timeout`) leaves its connection outside any transaction: on a pool of one
/// connection, the next transition and the next append, each the other kind of write, go
/// through on that same connection, and nothing of the failed ones is there.
#[test]
fn a_write_that_fails_in_its_transaction_gives_its_connection_back_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = PgLogStore::open_with(
        options(dir.path())
            .pool_size(1)
            .lock_timeout(std::time::Duration::from_millis(200)),
    )
    .expect("a store");
    let s = format!("\"{}\"", schema_of(dir.path()));
    let mut holder = raw();
    let mut held = holder.transaction().expect("a transaction");
    held.batch_execute(&format!("LOCK TABLE {s}.logs IN EXCLUSIVE MODE"))
        .expect("the log table, held");
    let transition = || {
        store.transition_run(store_core::RunTransition::new(
            "run",
            "wf",
            store_core::WorkflowRunStatus::Started,
        ))
    };
    let err = transition().expect_err("the log table is held");
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    let err = store
        .append(NewLogEntry::new("s", "k", "while held"))
        .expect_err("the log table is held");
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    held.rollback().expect("the log table, released");

    transition().expect("the same connection takes the next transition");
    store
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("and the next append");
    let all = store.query(&LogQuery::default()).expect("the log");
    let payloads: Vec<&str> = all.iter().map(|entry| entry.payload.as_str()).collect();
    assert_eq!(
        payloads.len(),
        2,
        "the transition's audit entry and the append: {payloads:?}"
    );
    assert_eq!(payloads[1], "after");
}
