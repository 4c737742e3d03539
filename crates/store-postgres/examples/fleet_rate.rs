//! The figures the README gives for PostgreSQL, beside SQLite's measured in the same run:
//! durable single appends and transitions per second from 1, 4 and 16 threads and from 4
//! processes, the batch rate, and a query by reference at 1M entries.
//!
//! `cargo run --release -p store-postgres --example fleet_rate` (a throwaway server of the
//! system's binaries, as the tests start one; SQLite in a temporary folder).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use store_conformance::Harness;
use store_core::{LogBackend, LogQuery, NewLogEntry, RunTransition, WorkflowRunStatus};

const CHILD_ENV: &str = "NERVE_FLEET_RATE_CHILD";

fn open(backend: &str, dir: &Path) -> Box<dyn LogBackend> {
    match backend {
        "postgres" => store_postgres::harness::PgHarness.open(dir),
        _ => store_sqlite::harness::SqliteHarness.open(dir),
    }
    .expect("a store")
}

/// Calls per second of `threads` threads making `each` calls of `call` at once.
fn rate(threads: usize, each: usize, call: impl Fn(usize, usize) + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let call = &call;
            scope.spawn(move || (0..each).for_each(|i| call(t, i)));
        }
    });
    (threads * each) as f64 / started.elapsed().as_secs_f64()
}

fn child(backend: &str, dir: &Path, each: usize, what: &str) {
    let store = open(backend, dir);
    let me = std::process::id();
    for i in 0..each {
        if what == "transitions" {
            store
                .transition_run(RunTransition::new(
                    format!("proc-{me}-{i}"),
                    "wf",
                    WorkflowRunStatus::Started,
                ))
                .expect("transition");
        } else {
            store
                .append(
                    NewLogEntry::new("proc", "append", i.to_string()).with_ref(format!("p{me}")),
                )
                .expect("append");
        }
    }
}

/// Calls per second of 4 processes making 400 calls of `what` each.
fn processes(exe: &Path, backend: &str, dir: &Path, what: &str) -> f64 {
    let started = Instant::now();
    let mut children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(exe)
                .args([backend, &dir.display().to_string(), "400", what])
                .env(CHILD_ENV, "1")
                .spawn()
                .expect("a writer process")
        })
        .collect();
    for child in &mut children {
        assert!(child.wait().expect("a child").success());
    }
    1600.0 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os(CHILD_ENV).is_some() {
        return child(
            &args[1],
            Path::new(&args[2]),
            args[3].parse().expect("a count"),
            &args[4],
        );
    }
    let exe = std::env::current_exe().expect("this example");
    for backend in ["sqlite", "postgres"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(backend, dir.path());
        let mut line = format!("{backend:<9}");
        for threads in [1, 4, 16] {
            let each = 1600 / threads;
            let r = rate(threads, each, |t, i| {
                store
                    .append(
                        NewLogEntry::new("bench", "append", "{}")
                            .with_ref(format!("t{t}-{}", i % 10)),
                    )
                    .expect("append");
            });
            line += &format!(" appends/{threads}t {r:>7.0}/s");
        }
        for threads in [1, 4, 16] {
            let each = 800 / threads;
            let r = rate(threads, each, |t, i| {
                store
                    .transition_run(RunTransition::new(
                        format!("run-{threads}-{t}-{i}"),
                        "wf",
                        WorkflowRunStatus::Started,
                    ))
                    .expect("transition");
            });
            line += &format!(" transitions/{threads}t {r:>6.0}/s");
        }
        line += &format!(
            " appends/4proc {:>6.0}/s transitions/4proc {:>6.0}/s",
            processes(&exe, backend, dir.path(), "appends"),
            processes(&exe, backend, dir.path(), "transitions")
        );
        let started = Instant::now();
        for b in 0..10 {
            let batch = (0..1000)
                .map(|i| NewLogEntry::new("batch", "k", "{}").with_ref(format!("b{b}-{}", i % 100)))
                .collect();
            store.append_batch(batch).expect("a batch");
        }
        line += &format!(
            " batch {:>7.0}/s",
            10_000.0 / started.elapsed().as_secs_f64()
        );
        println!("{line}");

        // A million entries, 100,000 references of 10 entries each, then queries by ref.
        let started = Instant::now();
        for b in 0..100 {
            let batch = (0..10_000)
                .map(|i| {
                    NewLogEntry::new("fill", "k", "{}")
                        .with_ref(format!("ref-{}", (b * 10_000 + i) % 100_000))
                })
                .collect();
            store.append_batch(batch).expect("a fill batch");
        }
        let filled = started.elapsed();
        let mut times: Vec<Duration> = (0..300)
            .map(|i| {
                let query = LogQuery {
                    ref_id: Some(format!("ref-{}", (i * 7919) % 100_000)),
                    ..LogQuery::default()
                };
                let started = Instant::now();
                let found = store.query(&query).expect("a query");
                let took = started.elapsed();
                assert_eq!(found.len(), 10);
                took
            })
            .collect();
        times.sort();
        println!(
            "{backend:<9} 1M entries written in {:.1} s; query by ref (10 rows) median {:.0} µs",
            filled.as_secs_f64(),
            times[times.len() / 2].as_secs_f64() * 1e6
        );
    }
}
