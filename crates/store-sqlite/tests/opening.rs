//! What `SqliteLogStore::open` does beyond the conformance suite's cases: the durable
//! setting, the migrations of schema 1 and 3 (page checksums), a damaged header, a setting
//! SQLite would silently ignore, two stores
//! creating one schema.

use std::path::Path;

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
    let (range, in_range) = store_conformance::append_late_entries(&store);
    let before = store_conformance::observable_state(&store, &["t"]);
    let stats = store.log_stats().expect("stats");
    drop(store);

    // What schema 1 was: the same tables without their checksums (and without counters).
    let conn = store_sqlite::harness::raw_connection(&path);
    conn.execute_batch(
        "DROP TABLE time_marks; CREATE INDEX logs_by_ts ON logs (ts, id) WHERE late = 0;
         DROP TABLE activity; DROP TABLE blob_refs; ALTER TABLE blobs DROP COLUMN written_at;
         DROP TRIGGER runs_count_insert; DROP TRIGGER runs_count_update;
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
    assert_eq!(store_conformance::observable_state(&store, &["t"]), before);
    assert_eq!(
        store_conformance::all_entries(&store)[..entries.len()],
        entries[..]
    );
    assert_eq!(
        store.log_stats().expect("stats"),
        stats,
        "the counters start from what the file holds"
    );
    assert_eq!(store.query(&range).expect("a range"), in_range);
    let descents = store_conformance::all_entries(&store)
        .windows(2)
        .filter(|pair| pair[1].ts < pair[0].ts)
        .count();
    assert!(descents > 0, "the file has late entries");
    drop(store);
    let conn = store_sqlite::harness::raw_connection(&path);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, 7);
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

/// A copy of the store file at `from` as schema 3 wrote it: the same schema and rows, in a
/// file written by plain SQLite, without room for page checksums.
fn as_schema_3_without_page_checksums(from: &Path, to: &Path) {
    let conn = rusqlite::Connection::open(to).expect("a plain file");
    conn.execute("ATTACH ?1 AS old", [from.to_str().expect("UTF-8 path")])
        .expect("attach");
    let objects = |kind: &str| -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT name, sql FROM old.sqlite_schema
                 WHERE type = ?1 AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%'",
            )
            .expect("schema");
        stmt.query_map([kind], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("schema rows")
    };
    for (name, sql) in objects("table") {
        conn.execute_batch(&sql).expect("a table");
        conn.execute_batch(&format!(
            "INSERT INTO main.\"{name}\" SELECT * FROM old.\"{name}\""
        ))
        .expect("its rows");
    }
    for kind in ["index", "trigger"] {
        for (_, sql) in objects(kind) {
            conn.execute_batch(&sql).expect("an index or a trigger");
        }
    }
    conn.execute_batch(
        "DETACH old; PRAGMA application_id = 1852142198; PRAGMA user_version = 3;
         DROP TABLE activity; DROP TABLE blob_refs; ALTER TABLE blobs DROP COLUMN written_at;
         DROP TABLE time_marks; CREATE INDEX logs_by_ts ON logs (ts, id) WHERE late = 0;
         PRAGMA journal_mode = WAL;",
    )
    .expect("identity");
}

#[test]
fn a_schema_3_file_gains_page_checksums_at_its_first_writable_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("source.db");
    let store = SqliteLogStore::open(&source).expect("open");
    for i in 0..500 {
        store
            .append(
                NewLogEntry::new("s", "k", format!("entry {i}")).with_ref(format!("r{}", i % 7)),
            )
            .expect("append");
    }
    store.meta_set("k", "v").expect("meta");
    let before = store_conformance::observable_state(&store, &[]);
    drop(store);
    let path = dir.path().join("nerve.db");
    as_schema_3_without_page_checksums(&source, &path);
    let header = std::fs::read(&path).expect("read");
    assert_eq!(header[20], 0, "plain SQLite reserves nothing");

    match SqliteLogStore::open_with(&path, SqliteOptions::default().read_only(true)) {
        Err(StoreError::SchemaTooOld {
            found: 3,
            current: 7,
            ..
        }) => {}
        other => panic!("a read-only open cannot migrate: {other:?}"),
    }
    let store = SqliteLogStore::open(&path).expect("a schema 3 file opens");
    assert_eq!(store_conformance::observable_state(&store, &[]), before);
    store
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("append");
    drop(store);

    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(bytes[20], sqlite_page_checksums::RESERVED_BYTES);
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    for (i, page) in bytes.chunks(page_size).enumerate() {
        assert!(
            sqlite_page_checksums::page_is_intact(page),
            "page {} has its sums",
            i + 1
        );
    }
    let store = SqliteLogStore::open_with(&path, SqliteOptions::default().read_only(true))
        .expect("read-only once migrated");
    assert_eq!(store.log_stats().expect("stats").entries, 501);
}

/// A file of schema 6 (a time index of the entries in order; an entry late when below any
/// `ts` written before it) is placed in the time order again at its first writable open:
/// only the entries more than the allowance below the log's time stay late, and every time
/// range answers as before, as the reference does, and goes on doing so as entries are added.
#[test]
fn a_schema_6_file_keeps_late_only_the_entries_past_the_allowance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let store = SqliteLogStore::open(&path).expect("create");
    let lagging = store_conformance::time_order::write_lagging_entries(&store);
    drop(store);
    let conn = store_sqlite::harness::raw_connection(&path);
    conn.execute_batch(
        "DROP TABLE time_marks; CREATE INDEX logs_by_ts ON logs (ts, id) WHERE late = 0;
         UPDATE logs SET late = ts < coalesce(
             (SELECT max(ts) FROM logs AS before WHERE before.id < logs.id), ts);
         PRAGMA user_version = 6;",
    )
    .expect("make a schema 6 file");
    let late = |conn: &rusqlite::Connection| -> usize {
        let late: i64 = conn
            .query_row("SELECT count(*) FROM logs WHERE late = 1", [], |row| {
                row.get(0)
            })
            .expect("count");
        late as usize
    };
    assert_eq!(late(&conn), lagging.late_before, "schema 6's late entries");
    drop(conn);

    let store = SqliteLogStore::open(&path).expect("a schema 6 file opens");
    lagging.check_migrated(&store);
    drop(store);
    let conn = store_sqlite::harness::raw_connection(&path);
    assert_eq!(
        late(&conn),
        lagging.late_after,
        "the entries 40 minutes behind, and only they"
    );
}

#[test]
fn deleting_days_drops_their_time_marks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let store = SqliteLogStore::open(&path).expect("create");
    let conn = store_sqlite::harness::raw_connection(&path);
    store_conformance::time_order::deleting_days_drops_their_time_marks(&store, || {
        let marks: i64 = conn
            .query_row("SELECT count(*) FROM time_marks", [], |row| row.get(0))
            .expect("count");
        marks as usize
    });
}

/// A store file whose header lost its reserved bytes (a flipped bit in byte 20) is damaged,
/// not a store without page checksums to be quietly read unchecked.
#[test]
fn a_header_that_lost_its_reserved_bytes_is_damaged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let store = SqliteLogStore::open(&path).expect("open");
    store
        .append(NewLogEntry::new("s", "k", "p"))
        .expect("append");
    drop(store);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[20] ^= 0x08;
    std::fs::write(&path, &bytes).expect("write");
    for read_only in [false, true] {
        match SqliteLogStore::open_with(&path, SqliteOptions::default().read_only(read_only)) {
            Err(StoreError::Damaged { .. }) => {}
            other => panic!("read_only {read_only}: {other:?}"),
        }
    }
}
