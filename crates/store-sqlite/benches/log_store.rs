//! `SqliteLogStore` beside bare rusqlite doing the same work on the same schema, one
//! criterion group per operation, so the abstraction's overhead reads as a ratio of two
//! numbers from one run.
//!
//! The bare side opens the file the store created (so the schema is the store's own) with
//! the same pragmas as the store's defaults, and decodes rows into the same `LogEntry`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use store_core::{
    LogEntry, LogId, LogQuery, LogStore, NewLogEntry, RunTransition, WorkflowRunStatus,
    kit::now_millis,
};
use store_sqlite::SqliteLogStore;

const QUERY_ROWS: usize = 50;

/// A connection set up as the store sets up its own by default.
fn bare_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open bare connection");
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        .expect("WAL");
    conn.pragma_update(None, "synchronous", 1)
        .expect("synchronous=NORMAL");
    conn.pragma_update(None, "cache_size", -64 * 1024)
        .expect("cache_size");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

/// A new store file with the store's schema, and its path.
fn fresh_store_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    drop(SqliteLogStore::open(&path).expect("create the schema"));
    path
}

fn new_entry(i: usize) -> NewLogEntry {
    NewLogEntry::new(
        "worker",
        "tick",
        format!("{{\"seq\":{i},\"note\":\"a typical payload\"}}"),
    )
    .with_ref(format!("ref-{}", i % 64))
}

fn bare_insert(conn: &Connection, entry: &NewLogEntry, ts: DateTime<Utc>) -> i64 {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO logs (source, kind, ref_id, payload, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .expect("prepare insert");
    stmt.execute(params![
        entry.source,
        entry.kind,
        entry.ref_id,
        entry.payload,
        ts.timestamp_millis()
    ])
    .expect("insert");
    conn.last_insert_rowid()
}

fn bench_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteLogStore::open(fresh_store_file(dir.path(), "store.db")).expect("open");
    let mut bare = bare_connection(&fresh_store_file(dir.path(), "bare.db"));
    let mut group = c.benchmark_group("sqlite_append");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("store", |b| {
        b.iter(|| {
            i += 1;
            store.append(new_entry(i)).expect("append")
        })
    });
    group.bench_function("bare_rusqlite", |b| {
        b.iter(|| {
            i += 1;
            let tx = bare
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("begin");
            let id = bare_insert(&tx, &new_entry(i), now_millis());
            tx.commit().expect("commit");
            id
        })
    });
    group.finish();
}

fn bench_append_batch(c: &mut Criterion) {
    const BATCH: usize = 1000;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteLogStore::open(fresh_store_file(dir.path(), "store.db")).expect("open");
    let mut bare = bare_connection(&fresh_store_file(dir.path(), "bare.db"));
    let batch = || (0..BATCH).map(new_entry).collect::<Vec<_>>();
    let mut group = c.benchmark_group("sqlite_append_batch_1000");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("store", |b| {
        b.iter_batched(
            batch,
            |entries| store.append_batch(entries).expect("batch"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bare_rusqlite", |b| {
        b.iter_batched(
            batch,
            |entries| {
                let now = now_millis();
                let tx = bare
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .expect("begin");
                let ids: Vec<i64> = entries.iter().map(|e| bare_insert(&tx, e, now)).collect();
                tx.commit().expect("commit");
                ids
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A store file of `rows` entries with 50 entries per reference, built once by the store
/// (so that every row carries its checksum) and kept under `target/` between runs.
fn query_fixture(rows: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&dir).expect("bench data folder");
    let path = dir.join(format!("sqlite-{rows}.db"));
    if path.exists() {
        let conn = bare_connection(&path);
        let count: i64 = conn
            .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
            .unwrap_or(-1);
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version");
        if usize::try_from(count).ok() == Some(rows) && version == 2 {
            return path;
        }
        drop(conn);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let store = SqliteLogStore::open(&path).expect("create the store");
    let refs = rows / QUERY_ROWS;
    let start = now_millis() - chrono::Duration::days(30);
    for first in (0..rows).step_by(10_000) {
        let batch = (first..(first + 10_000).min(rows))
            .map(|i| {
                let offset = i64::try_from(i).expect("fits");
                NewLogEntry::new(
                    "worker",
                    ["tick", "start", "stop"][i % 3],
                    format!("{{\"seq\":{i}}}"),
                )
                .with_ref(format!("ref-{}", i % refs))
                .at(start + chrono::Duration::milliseconds(offset * 2000))
            })
            .collect();
        store.append_batch(batch).expect("a batch of the fixture");
    }
    drop(store);
    bare_connection(&path)
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    path
}

fn bare_query_by_ref(conn: &Connection, ref_id: &str) -> Vec<LogEntry> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, source, kind, ref_id, payload, ts FROM logs WHERE ref_id = ?1 ORDER BY id ASC LIMIT ?2",
        )
        .expect("prepare query");
    stmt.query_map(params![ref_id, QUERY_ROWS as i64], |row| {
        Ok(LogEntry {
            id: LogId(row.get::<_, i64>(0)? as u64),
            source: row.get(1)?,
            kind: row.get(2)?,
            ref_id: row.get(3)?,
            payload: row.get(4)?,
            ts: DateTime::from_timestamp_millis(row.get(5)?).unwrap_or_default(),
        })
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn bench_query_by_ref(c: &mut Criterion) {
    for rows in [10_000, 1_000_000] {
        let path = query_fixture(rows);
        // Read once, so that neither side pays for a cold operating-system cache: criterion's
        // warm-up does not read a file of a million rows through.
        drop(std::fs::read(&path).expect("read the fixture"));
        let store = SqliteLogStore::open(&path).expect("open");
        let bare = bare_connection(&path);
        let refs = rows / QUERY_ROWS;
        let mut group = c.benchmark_group(format!("sqlite_query_by_ref_50_of_{rows}"));
        group.throughput(Throughput::Elements(QUERY_ROWS as u64));
        let mut i = 0usize;
        group.bench_function("store", |b| {
            b.iter(|| {
                i = (i + 7919) % refs;
                let query = LogQuery {
                    ref_id: Some(format!("ref-{i}")),
                    limit: Some(QUERY_ROWS),
                    ..LogQuery::default()
                };
                let found = store.query(&query).expect("query");
                assert_eq!(found.len(), QUERY_ROWS);
                found
            })
        });
        group.bench_function("bare_rusqlite", |b| {
            b.iter(|| {
                i = (i + 7919) % refs;
                let found = bare_query_by_ref(&bare, &format!("ref-{i}"));
                assert_eq!(found.len(), QUERY_ROWS);
                found
            })
        });
        group.finish();
    }
}

/// A run's whole life, queued → started → completed: three checked transitions, each one
/// write transaction with its audit entry.
fn bench_transition_run(c: &mut Criterion) {
    use WorkflowRunStatus::{Completed, Queued, Started};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteLogStore::open(fresh_store_file(dir.path(), "store.db")).expect("open");
    let mut bare = bare_connection(&fresh_store_file(dir.path(), "bare.db"));
    let mut group = c.benchmark_group("sqlite_transition_run_x3");
    group.throughput(Throughput::Elements(3));
    let mut n = 0u64;
    group.bench_function("store", |b| {
        b.iter(|| {
            n += 1;
            let run_id = format!("run-{n}");
            for to in [Queued, Started, Completed] {
                store
                    .transition_run(RunTransition::new(&run_id, "wf", to).in_thread("t"))
                    .expect("transition");
            }
        })
    });
    group.bench_function("bare_rusqlite", |b| {
        b.iter(|| {
            n += 1;
            let run_id = format!("run-{n}");
            for (from, to) in [
                (None, Queued),
                (Some(Queued), Started),
                (Some(Started), Completed),
            ] {
                bare_transition(&mut bare, &run_id, from, to);
            }
        })
    });
    group.finish();
}

/// The same transaction the store runs, by hand: read the run, check the move, upsert the
/// run, append the audit entry.
fn bare_transition(
    conn: &mut Connection,
    run_id: &str,
    expected_from: Option<WorkflowRunStatus>,
    to: WorkflowRunStatus,
) {
    let now = now_millis().timestamp_millis();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("begin");
    let current: Option<(String, i64)> = tx
        .prepare_cached("SELECT status, attempt FROM runs WHERE run_id = ?1")
        .expect("prepare")
        .query_row([run_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .expect("select");
    assert_eq!(
        current.as_ref().map(|c| c.0.as_str()),
        expected_from.map(|s| s.as_str())
    );
    tx.prepare_cached(
        "INSERT INTO runs (run_id, workflow, thread_id, status, attempt, created_at, updated_at, started_at, finished_at, detail)
         VALUES (?1, 'wf', 't', ?2, 1, ?3, ?3, NULL, NULL, NULL)
         ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
    )
    .expect("prepare")
    .execute(params![run_id, to.as_str(), now])
    .expect("upsert");
    let payload = format!(
        "{{\"runId\":\"{run_id}\",\"from\":{},\"to\":\"{}\"}}",
        expected_from.map_or("null".to_owned(), |s| format!("\"{s}\"")),
        to
    );
    tx.prepare_cached("INSERT INTO logs (source, kind, ref_id, payload, ts) VALUES ('workflow', 'run.status', ?1, ?2, ?3)")
        .expect("prepare")
        .execute(params![run_id, payload, now])
        .expect("audit");
    tx.commit().expect("commit");
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = bench_append, bench_append_batch, bench_query_by_ref, bench_transition_run
}
criterion_main!(benches);
