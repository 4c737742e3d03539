//! What `SqliteLogStore::open` does beyond the conformance suite's cases: the durable
//! setting, the migration of schema 1, a setting SQLite would silently ignore, two stores
//! creating one schema.

use rusqlite::Connection;
use store_core::Durability;
use store_core::{LogMaintenance, LogStore, NewLogEntry, StoreError};
use store_sqlite::{SqliteLogStore, SqliteOptions};

#[test]
fn full_durability_opens_and_keeps_what_it_wrote() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let options = SqliteOptions::default().durability(Durability::PowerLoss);
    let entry = SqliteLogStore::open_with(&path, options.clone())
        .expect("open with FULL")
        .append(NewLogEntry::new("s", "k", "p"))
        .expect("append");
    let reopened = SqliteLogStore::open_with(&path, options).expect("reopen with FULL");
    let all = reopened
        .query(&store_core::LogQuery::default())
        .expect("query");
    assert_eq!(all, vec![entry]);
}

/// A file of schema 1 (no row checksums, no counters) is migrated when opened: every row
/// keeps its content, gains its checksum, and is read back checked; the counters count what
/// the file holds; the next open changes nothing.
#[test]
fn a_schema_1_file_is_migrated_to_row_checksums() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let store = SqliteLogStore::open(&path).expect("create");
    let entries: Vec<_> = (0..25_000)
        .map(|i| NewLogEntry::new("s", "k", format!("p{i}")).with_ref(format!("r{}", i % 7)))
        .collect();
    let entries = store.append_batch(entries).expect("a batch");
    store
        .transition_run(store_core::RunTransition::new(
            "run",
            "wf",
            store_core::WorkflowRunStatus::Started,
        ))
        .expect("a run");
    store
        .append_thread_message(store_core::ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 3,
            payload: "m".into(),
            ts: None,
        })
        .expect("a message");
    store.meta_set("k", "v").expect("meta");
    let (range, in_range) = store_core::conformance::append_late_entries(&store);
    let before = store_core::conformance::observable_state(&store, &["t"]);
    let stats = store.log_stats().expect("stats");
    drop(store);

    // What schema 1 was: the same tables without their checksums (and without counters).
    let conn = Connection::open(&path).expect("raw connection");
    conn.execute_batch(
        "DROP TRIGGER runs_count_insert; DROP TRIGGER runs_count_update;
         DROP TRIGGER runs_count_delete; DROP TABLE counts;
         DROP INDEX logs_late_by_ts; DROP INDEX logs_by_ts;
         CREATE INDEX logs_by_ts ON logs (ts, id); ALTER TABLE logs DROP COLUMN late;
         DROP INDEX logs_by_day; ALTER TABLE logs DROP COLUMN day;
         ALTER TABLE logs DROP COLUMN big_payload;
         CREATE INDEX logs_by_day ON logs
             ((ts - (ts % 86400000 + 86400000) % 86400000) / 86400000, id);
         ALTER TABLE logs DROP COLUMN crc; ALTER TABLE runs DROP COLUMN crc;
         ALTER TABLE thread_messages DROP COLUMN crc; ALTER TABLE meta DROP COLUMN crc;
         PRAGMA user_version = 1;",
    )
    .expect("make a schema 1 file");
    drop(conn);

    let store = SqliteLogStore::open(&path).expect("a schema 1 file opens");
    assert_eq!(
        store_core::conformance::observable_state(&store, &["t"]),
        before
    );
    assert_eq!(
        store_core::conformance::all_entries(&store)[..entries.len()],
        entries[..]
    );
    assert_eq!(
        store.log_stats().expect("stats"),
        stats,
        "the counters start from what the file holds"
    );
    assert_eq!(store.query(&range).expect("a range"), in_range);
    let descents = store_core::conformance::all_entries(&store)
        .windows(2)
        .filter(|pair| pair[1].ts < pair[0].ts)
        .count();
    assert!(descents > 0, "the file has late entries");
    drop(store);
    let conn = Connection::open(&path).expect("raw connection");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, 3);
    let unchecked: i64 = conn
        .query_row("SELECT count(*) FROM logs WHERE crc = 0", [], |row| {
            row.get(0)
        })
        .expect("count");
    assert_eq!(unchecked, 0, "every row has its checksum");
}

/// An in-memory database cannot be in WAL mode; SQLite says so only by answering the
/// pragma with another mode, and the store refuses to run without WAL.
#[test]
fn a_setting_that_does_not_take_is_refused_by_name() {
    let err = SqliteLogStore::open(":memory:").expect_err("WAL cannot take in memory");
    assert!(
        matches!(&err, StoreError::SettingNotApplied { setting: "journal_mode", wanted, .. } if wanted == "wal"),
        "{err}"
    );
}

#[test]
fn two_stores_open_at_once_create_the_schema_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let stores: Vec<SqliteLogStore> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| SqliteLogStore::open(&path)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("open"))
            .collect()
    });
    for (i, store) in stores.iter().enumerate() {
        store
            .append(NewLogEntry::new("s", "k", i.to_string()))
            .expect("append");
    }
    let all = stores[0]
        .query(&store_core::LogQuery::default())
        .expect("query");
    assert_eq!(all.len(), 4);
}
