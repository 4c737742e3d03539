//! `RedbLogStore` beside bare redb doing the same work on the same tables, one criterion
//! group per operation, so the abstraction's overhead reads as a ratio from one run.
//!
//! The bare side declares the store's tables itself and opens the file the store created:
//! if a definition drifted from the store's, redb would refuse it with a type mismatch. It
//! uses the store's defaults: `ConcurrencyMode::MultiWriter`, `Durability::Immediate`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::DateTime;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use store_core::Durability;
use store_core::{
    LogEntry, LogId, LogMaintenance, LogQuery, LogStore, NewLogEntry, RunTransition,
    WorkflowRunStatus, kit::now_millis,
};
use store_redb::{RedbLogStore, RedbOptions};

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const LOGS_BY_REF: TableDefinition<(&str, u64), ()> = TableDefinition::new("logs_by_ref");
const LOGS_BY_SOURCE_KIND: TableDefinition<(&str, &str, u64), ()> =
    TableDefinition::new("logs_by_source_kind");
const LOGS_BY_TS: TableDefinition<(i64, u64), ()> = TableDefinition::new("logs_by_ts");
const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
const RUNS_BY_CREATED: TableDefinition<(i64, &str), ()> = TableDefinition::new("runs_by_created");
const RUNS_BY_STATUS: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("runs_by_status");
const RUNS_BY_WORKFLOW: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("runs_by_workflow");
const RUNS_BY_THREAD: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("runs_by_thread");
const STORE_INFO: TableDefinition<&str, u64> = TableDefinition::new("nerve_store");
const QUERY_ROWS: usize = 50;

#[derive(Serialize, Deserialize)]
struct LogRow<'a> {
    source: &'a str,
    kind: &'a str,
    ref_id: Option<&'a str>,
    payload: &'a str,
    ts: i64,
}

#[derive(Serialize, Deserialize)]
struct RunRow<'a> {
    workflow: &'a str,
    thread_id: Option<&'a str>,
    status: &'a str,
    attempt: u32,
    created_at: i64,
    updated_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    detail: Option<&'a str>,
}

fn bare_database(path: &Path) -> Database {
    Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .set_cache_size(64 * 1024 * 1024)
        .create(path)
        .expect("open bare database")
}

fn fresh_store_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    drop(RedbLogStore::open(&path).expect("create the schema"));
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

/// The store's append, by hand: take the counter, write the row and its three index rows,
/// put the counter back.
fn bare_append(tx: &WriteTransaction, entries: &[NewLogEntry], ts: i64) -> Vec<u64> {
    let mut info = tx.open_table(STORE_INFO).expect("info");
    let mut next = info
        .get("next_log_id")
        .expect("get")
        .map_or(1, |v| v.value());
    let mut logs = tx.open_table(LOGS).expect("logs");
    let mut by_ref = tx.open_table(LOGS_BY_REF).expect("by_ref");
    let mut by_source_kind = tx.open_table(LOGS_BY_SOURCE_KIND).expect("by_source_kind");
    let mut by_ts = tx.open_table(LOGS_BY_TS).expect("by_ts");
    let mut ids = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = next;
        next += 1;
        let row = LogRow {
            source: &entry.source,
            kind: &entry.kind,
            ref_id: entry.ref_id.as_deref(),
            payload: &entry.payload,
            ts,
        };
        let bytes = postcard::to_allocvec(&row).expect("encode");
        logs.insert(id, bytes.as_slice()).expect("insert");
        if let Some(r) = &entry.ref_id {
            by_ref.insert((r.as_str(), id), ()).expect("insert");
        }
        by_source_kind
            .insert((entry.source.as_str(), entry.kind.as_str(), id), ())
            .expect("insert");
        by_ts.insert((ts, id), ()).expect("insert");
        ids.push(id);
    }
    info.insert("next_log_id", next).expect("counter");
    ids
}

fn bench_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbLogStore::open(fresh_store_file(dir.path(), "store.redb")).expect("open");
    let bare = bare_database(&fresh_store_file(dir.path(), "bare.redb"));
    let mut group = c.benchmark_group("redb_append");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("store", |b| {
        b.iter(|| {
            i += 1;
            store.append(new_entry(i)).expect("append")
        })
    });
    group.bench_function("bare_redb", |b| {
        b.iter(|| {
            i += 1;
            let tx = bare.begin_write().expect("begin");
            let ids = bare_append(&tx, &[new_entry(i)], now_millis().timestamp_millis());
            tx.commit().expect("commit");
            ids
        })
    });
    group.finish();
}

fn bench_append_batch(c: &mut Criterion) {
    const BATCH: usize = 1000;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbLogStore::open(fresh_store_file(dir.path(), "store.redb")).expect("open");
    let bare = bare_database(&fresh_store_file(dir.path(), "bare.redb"));
    let batch = || (0..BATCH).map(new_entry).collect::<Vec<_>>();
    let mut group = c.benchmark_group("redb_append_batch_1000");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("store", |b| {
        b.iter_batched(
            batch,
            |entries| store.append_batch(entries).expect("batch"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bare_redb", |b| {
        b.iter_batched(
            batch,
            |entries| {
                let tx = bare.begin_write().expect("begin");
                let ids = bare_append(&tx, &entries, now_millis().timestamp_millis());
                tx.commit().expect("commit");
                ids
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A store file of `rows` entries with 50 entries per reference, built once and kept under
/// `target/` between runs.
fn query_fixture(rows: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&dir).expect("bench data folder");
    let path = dir.join(format!("redb-{rows}.redb"));
    let complete = dir.join(format!("redb-{rows}.complete"));
    if path.exists() && complete.exists() {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    let refs = rows / QUERY_ROWS;
    let start = now_millis() - chrono::Duration::days(30);
    let options = RedbOptions::default()
        .durability(Durability::Deferred)
        .multi_process(false);
    let store = RedbLogStore::open_with(&path, options).expect("create the fixture");
    for chunk in (0..rows).collect::<Vec<_>>().chunks(10_000) {
        let batch = chunk
            .iter()
            .map(|i| {
                let offset = i64::try_from(*i).expect("fits");
                NewLogEntry::new(
                    "worker",
                    ["tick", "start", "stop"][i % 3],
                    format!("{{\"seq\":{i}}}"),
                )
                .with_ref(format!("ref-{}", i % refs))
                .at(start + chrono::Duration::milliseconds(offset * 2000))
            })
            .collect();
        store.append_batch(batch).expect("fill the fixture");
    }
    // A deletion of nothing commits immediately, making the eventual commits durable.
    store.delete_days(&[], &[]).expect("flush");
    drop(store);
    std::fs::write(&complete, b"").expect("mark the fixture complete");
    path
}

fn bare_query_by_ref(db: &Database, ref_id: &str) -> Vec<LogEntry> {
    let tx = db.begin_read().expect("begin read");
    let index = tx.open_table(LOGS_BY_REF).expect("index");
    let logs = tx.open_table(LOGS).expect("logs");
    let mut out = Vec::with_capacity(QUERY_ROWS);
    for item in index
        .range((ref_id, 0)..(ref_id, u64::MAX))
        .expect("range")
        .take(QUERY_ROWS)
    {
        let id = item.expect("key").0.value().1;
        let bytes = logs.get(id).expect("get").expect("row");
        let row: LogRow<'_> = postcard::from_bytes(bytes.value()).expect("decode");
        out.push(LogEntry {
            id: LogId(id),
            source: row.source.to_owned(),
            kind: row.kind.to_owned(),
            ref_id: row.ref_id.map(str::to_owned),
            payload: row.payload.to_owned(),
            ts: DateTime::from_timestamp_millis(row.ts).unwrap_or_default(),
        });
    }
    out
}

fn bench_query_by_ref(c: &mut Criterion) {
    for rows in [10_000, 1_000_000] {
        let path = query_fixture(rows);
        let store = RedbLogStore::open(&path).expect("open");
        let bare = bare_database(&path);
        let refs = rows / QUERY_ROWS;
        let mut group = c.benchmark_group(format!("redb_query_by_ref_50_of_{rows}"));
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
        group.bench_function("bare_redb", |b| {
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

/// The store's transition, by hand: read the run, check the move, write the run and its
/// index rows, append the audit entry.
fn bare_transition(
    db: &Database,
    run_id: &str,
    from: Option<WorkflowRunStatus>,
    to: WorkflowRunStatus,
) {
    let now = now_millis().timestamp_millis();
    let tx = db.begin_write().expect("begin");
    let (created, attempt) = {
        let runs = tx.open_table(RUNS).expect("runs");
        let current = runs.get(run_id).expect("get");
        let row = current
            .as_ref()
            .map(|bytes| postcard::from_bytes::<RunRow<'_>>(bytes.value()).expect("decode"));
        assert_eq!(row.as_ref().map(|r| r.status), from.map(|s| s.as_str()));
        row.map_or((now, 1), |r| (r.created_at, r.attempt))
    };
    let row = RunRow {
        workflow: "wf",
        thread_id: Some("t"),
        status: to.as_str(),
        attempt,
        created_at: created,
        updated_at: now,
        started_at: None,
        finished_at: None,
        detail: None,
    };
    let bytes = postcard::to_allocvec(&row).expect("encode");
    tx.open_table(RUNS)
        .expect("runs")
        .insert(run_id, bytes.as_slice())
        .expect("insert");
    let mut by_status = tx.open_table(RUNS_BY_STATUS).expect("by_status");
    match from {
        Some(old) => {
            by_status
                .remove((old.as_str(), created, run_id))
                .expect("remove");
        }
        None => {
            tx.open_table(RUNS_BY_CREATED)
                .expect("t")
                .insert((created, run_id), ())
                .expect("insert");
            tx.open_table(RUNS_BY_WORKFLOW)
                .expect("t")
                .insert(("wf", created, run_id), ())
                .expect("insert");
            tx.open_table(RUNS_BY_THREAD)
                .expect("t")
                .insert(("t", created, run_id), ())
                .expect("insert");
        }
    }
    by_status
        .insert((to.as_str(), created, run_id), ())
        .expect("insert");
    drop(by_status);
    let payload = format!(
        "{{\"runId\":\"{run_id}\",\"from\":{},\"to\":\"{to}\"}}",
        from.map_or("null".to_owned(), |s| format!("\"{s}\""))
    );
    let audit = NewLogEntry::new("workflow", "run.status", payload).with_ref(run_id);
    bare_append(&tx, &[audit], now);
    tx.commit().expect("commit");
}

fn bench_transition_run(c: &mut Criterion) {
    use WorkflowRunStatus::{Completed, Queued, Started};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbLogStore::open(fresh_store_file(dir.path(), "store.redb")).expect("open");
    let bare = bare_database(&fresh_store_file(dir.path(), "bare.redb"));
    let mut group = c.benchmark_group("redb_transition_run_x3");
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
    group.bench_function("bare_redb", |b| {
        b.iter(|| {
            n += 1;
            let run_id = format!("run-{n}");
            for (from, to) in [
                (None, Queued),
                (Some(Queued), Started),
                (Some(Started), Completed),
            ] {
                bare_transition(&bare, &run_id, from, to);
            }
        })
    });
    group.finish();
}

/// What sharing the file with other processes costs a single-entry commit: the store with
/// its default `ConcurrencyMode::MultiWriter` beside the store locking the file whole.
fn bench_multi_writer_cost(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let shared = RedbLogStore::open(dir.path().join("shared.redb")).expect("open");
    let options = RedbOptions::default().multi_process(false);
    let exclusive =
        RedbLogStore::open_with(dir.path().join("exclusive.redb"), options).expect("open");
    let mut group = c.benchmark_group("redb_append_multi_writer_cost");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("multi_writer", |b| {
        b.iter(|| {
            i += 1;
            shared.append(new_entry(i)).expect("append")
        })
    });
    group.bench_function("exclusive_writer", |b| {
        b.iter(|| {
            i += 1;
            exclusive.append(new_entry(i)).expect("append")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = bench_append, bench_append_batch, bench_query_by_ref, bench_transition_run, bench_multi_writer_cost
}
criterion_main!(benches);
