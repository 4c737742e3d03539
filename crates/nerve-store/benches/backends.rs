//! The same workload on SQLite and on redb, each with its default options, one criterion
//! group per operation: what choosing a backend means for speed. (Each backend's own
//! benches compare it with its bare engine.)

use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use store_core::{LogBackend, LogQuery, NewLogEntry, RunTransition, WorkflowRunStatus};

const QUERY_ROWS: usize = 50;
const QUERY_LOG: usize = 100_000;

fn backends(dir: &Path) -> [(&'static str, Box<dyn LogBackend>); 2] {
    [
        (
            "sqlite",
            Box::new(store_sqlite::SqliteLogStore::open(dir.join("nerve.db")).expect("sqlite")),
        ),
        (
            "redb",
            Box::new(store_redb::RedbLogStore::open(dir.join("nerve.redb")).expect("redb")),
        ),
    ]
}

fn entry(i: usize, refs: usize) -> NewLogEntry {
    NewLogEntry::new(
        "worker",
        "tick",
        format!("{{\"seq\":{i},\"note\":\"a typical payload\"}}"),
    )
    .with_ref(format!("ref-{}", i % refs))
}

fn bench_backends(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = backends(dir.path());

    let mut group = c.benchmark_group("backends_append");
    group.throughput(Throughput::Elements(1));
    for (name, store) in &stores {
        let mut i = 0;
        group.bench_function(*name, |b| {
            b.iter(|| {
                i += 1;
                store.append(entry(i, 64)).expect("append")
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("backends_append_batch_1000");
    group.throughput(Throughput::Elements(1000));
    for (name, store) in &stores {
        group.bench_function(*name, |b| {
            b.iter_batched(
                || (0..1000).map(|i| entry(i, 64)).collect::<Vec<_>>(),
                |batch| store.append_batch(batch).expect("batch"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("backends_transition_run_x3");
    group.throughput(Throughput::Elements(3));
    for (name, store) in &stores {
        let mut n = 0;
        group.bench_function(*name, |b| {
            b.iter(|| {
                n += 1;
                let run_id = format!("run-{n}");
                for to in [
                    WorkflowRunStatus::Queued,
                    WorkflowRunStatus::Started,
                    WorkflowRunStatus::Completed,
                ] {
                    store
                        .transition_run(RunTransition::new(&run_id, "wf", to))
                        .expect("transition");
                }
            })
        });
    }
    group.finish();

    let query_dir = tempfile::tempdir().expect("temp dir");
    let stores = backends(query_dir.path());
    let refs = QUERY_LOG / QUERY_ROWS;
    for (_, store) in &stores {
        for chunk in (0..QUERY_LOG).collect::<Vec<_>>().chunks(10_000) {
            store
                .append_batch(chunk.iter().map(|i| entry(*i, refs)).collect())
                .expect("fill");
        }
    }
    let mut group = c.benchmark_group("backends_query_by_ref_50_of_100000");
    group.throughput(Throughput::Elements(QUERY_ROWS as u64));
    for (name, store) in &stores {
        let mut i = 0usize;
        group.bench_function(*name, |b| {
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
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = bench_backends
}
criterion_main!(benches);
