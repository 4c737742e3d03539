//! Group commit: what single writes from many threads reach beside batch writes on the same
//! store, what the pipeline buys against one commit per call, and the two backends beside
//! each other, every figure a ratio of two sides interleaved slice by slice in one run.
//!
//! `cargo bench -p nerve-bench --bench commit [-- sqlite|redb|pipeline|backends]`.
//!
//! A "rate ratio" is the first side's operations per second over the second side's (the
//! inverse of the ratio of their times), so above 1 means the first side is faster.

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use nerve_bench::workload::{self, WORKFLOW};
use nerve_bench::{Comparison, LogWork, human, quantile, sqlite::BareSqlite};
use store_core::{Durability, LogBackend, NewLogEntry, RunTransition, WorkflowRunStatus};

/// Slices per comparison.
const SLICES: usize = 21;
/// Entries per batch, and batches per slice of the batch side.
const BATCH: usize = 1000;
const BATCHES: usize = 2;
/// Calls per slice of the threaded side, shared out among its threads: 48 per thread at 16
/// threads, so that the slice's ramp (threads released by a barrier, the first one leading
/// alone) is a small part of it. At 12 per thread a third of the groups were ramp.
const CALLS: usize = 768;
const THREADS: [usize; 3] = [1, 4, 16];

type Open = fn(&Path) -> Box<dyn LogBackend>;

fn sqlite(path: &Path) -> Box<dyn LogBackend> {
    Box::new(store_sqlite::SqliteLogStore::open(path).expect("open sqlite"))
}

fn sqlite_alone(path: &Path) -> Box<dyn LogBackend> {
    let options = store_sqlite::SqliteOptions::default().group_commit(false);
    Box::new(store_sqlite::SqliteLogStore::open_with(path, options).expect("open sqlite"))
}

/// Today's behaviour before group commit: `synchronous=NORMAL`, one commit per call.
fn sqlite_normal_alone(path: &Path) -> Box<dyn LogBackend> {
    let options = store_sqlite::SqliteOptions::default()
        .group_commit(false)
        .durability(Durability::ProcessCrash);
    Box::new(store_sqlite::SqliteLogStore::open_with(path, options).expect("open sqlite"))
}

fn redb(path: &Path) -> Box<dyn LogBackend> {
    Box::new(store_redb::RedbLogStore::open(path).expect("open redb"))
}

fn redb_alone(path: &Path) -> Box<dyn LogBackend> {
    let options = store_redb::RedbOptions::default().group_commit(false);
    Box::new(store_redb::RedbLogStore::open_with(path, options).expect("open redb"))
}

/// The operation each thread of a threaded side repeats.
#[derive(Clone, Copy)]
enum Call {
    Append,
    Transition,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Append => "appends",
            Call::Transition => "transitions",
        }
    }

    /// Call number `n` of thread `thread`: an append, or one step of the thread's runs
    /// through queued, started, completed.
    fn run(self, store: &dyn LogBackend, thread: usize, n: usize) {
        match self {
            Call::Append => {
                store
                    .append(workload::entry(n).with_ref(format!("t{thread}")))
                    .expect("append");
            }
            Call::Transition => {
                let to = [
                    WorkflowRunStatus::Queued,
                    WorkflowRunStatus::Started,
                    WorkflowRunStatus::Completed,
                ][n % 3];
                let run = format!("t{thread}-r{}", n / 3);
                store
                    .transition_run(RunTransition::new(run, WORKFLOW, to))
                    .expect("transition");
            }
        }
    }
}

/// One side of a comparison: slice by slice, the time per operation.
trait Side {
    fn slice(&mut self, slice: usize) -> Duration;
}

/// Threads sharing one store, each making its share of `CALLS` calls per slice; the time
/// per call is the slice's wall time over its calls.
struct Threaded<'a> {
    start: &'a Barrier,
    done: &'a Barrier,
}

impl Side for Threaded<'_> {
    fn slice(&mut self, _slice: usize) -> Duration {
        let started = Instant::now();
        self.start.wait();
        self.done.wait();
        started.elapsed() / CALLS as u32
    }
}

/// Batch appends on one store: the time per entry.
struct Batches<'a>(&'a dyn LogBackend);

impl Side for Batches<'_> {
    fn slice(&mut self, slice: usize) -> Duration {
        let started = Instant::now();
        for b in 0..BATCHES {
            self.0
                .append_batch(workload::batch((slice * BATCHES + b) * BATCH, BATCH))
                .expect("append a batch");
        }
        started.elapsed() / (BATCHES * BATCH) as u32
    }
}

/// Runs `body` with a threaded side of `threads` threads making `call` on `store`; the
/// threads live as long as `body` and work one slice each time the side is asked for one.
fn with_threads<T>(
    store: &dyn LogBackend,
    threads: usize,
    call: Call,
    body: impl FnOnce(&mut dyn Side) -> T,
) -> T {
    let start = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    let slices = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (start, done, slices) = (&start, &done, &slices);
            scope.spawn(move || {
                let share = CALLS / threads;
                let mut n = 0;
                loop {
                    start.wait();
                    if !slices.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    for _ in 0..share {
                        call.run(store, thread, n);
                        n += 1;
                    }
                    done.wait();
                }
            });
        }
        let result = body(&mut Threaded {
            start: &start,
            done: &done,
        });
        slices.store(false, std::sync::atomic::Ordering::SeqCst);
        start.wait();
        result
    })
}

/// Interleaves two sides for `SLICES` slices, alternating which goes first.
fn interleave(name: &str, first: &mut dyn Side, second: &mut dyn Side) -> Comparison {
    nerve_bench::interleave_timed(name, SLICES, 1, |op| first.slice(op), |op| second.slice(op))
}

/// One line: both sides' median time per operation and the median rate ratio (first over
/// second) with its interquartile range.
fn report(comparison: &Comparison, first: &str, second: &str) -> f64 {
    let rates: Vec<f64> = comparison.ratios().iter().map(|r| 1.0 / r).collect();
    let median = |times: &[Duration]| {
        quantile(
            &times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            0.5,
        )
    };
    let ratio = quantile(&rates, 0.5);
    println!(
        "{}: {first} {}/op ({:.0}/s), {second} {}/op ({:.0}/s), rate ratio {ratio:.3} (IQR {:.3}-{:.3})",
        comparison.name,
        human(median(&comparison.first)),
        1.0 / median(&comparison.first),
        human(median(&comparison.second)),
        1.0 / median(&comparison.second),
        quantile(&rates, 0.25),
        quantile(&rates, 0.75),
    );
    ratio
}

/// Single calls from 1, 4 and 16 threads beside batch appends, on one store.
fn single_against_batch(name: &str, open: Open) {
    for call in [Call::Append, Call::Transition] {
        for threads in THREADS {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let store = open(&dir.path().join("nerve.store"));
            let label = format!("{name} {} from {threads} threads vs batch", call.name());
            with_threads(store.as_ref(), threads, call, |single| {
                let comparison = interleave(&label, single, &mut Batches(store.as_ref()));
                report(&comparison, "single", "batch");
            });
        }
    }
}

/// Two stores, each with `threads` threads making `call`: the rate of the first over the
/// second's.
fn threaded_pair(label: &str, names: [&str; 2], opens: [Open; 2], threads: usize, call: Call) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let a = opens[0](&dir.path().join("a.store"));
    let b = opens[1](&dir.path().join("b.store"));
    with_threads(a.as_ref(), threads, call, |first| {
        with_threads(b.as_ref(), threads, call, |second| {
            let comparison = interleave(
                &format!("{label} {} from {threads} threads", call.name()),
                first,
                second,
            );
            report(&comparison, names[0], names[1]);
        })
    });
}

/// The pipeline against one commit per call, per backend; and a lone caller against the bare
/// engine's own durable commit.
fn pipeline() {
    for (name, grouped, alone) in [
        ("sqlite", sqlite as Open, sqlite_alone as Open),
        ("redb", redb, redb_alone),
    ] {
        for threads in [1, 16] {
            threaded_pair(
                &format!("{name} pipeline vs none"),
                ["pipeline", "none"],
                [grouped, alone],
                threads,
                Call::Append,
            );
        }
    }
    threaded_pair(
        "sqlite durable pipeline vs NORMAL without (the old default)",
        ["full+pipeline", "normal"],
        [sqlite, sqlite_normal_alone],
        16,
        Call::Append,
    );
    // A lone caller: the store's append (through the pipeline) against a bare rusqlite
    // append with `synchronous=FULL`, on the same file.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = nerve_bench::fresh_store_file(dir.path(), "nerve.db", |p| Ok(sqlite(p)));
    let store = sqlite(&path);
    let mut bare = BareSqlite::open(&path);
    let comparison = nerve_bench::interleave(
        "sqlite lone append, store vs bare FULL",
        SLICES,
        40,
        |op| {
            store
                .append(workload::entry(op).with_ref("lone"))
                .expect("append");
        },
        |op| bare.append(NewLogEntry::new("bare", "k", op.to_string())),
    );
    report(&comparison, "store", "bare");
}

fn backends() {
    for call in [Call::Append, Call::Transition] {
        for threads in [1, 16] {
            threaded_pair(
                "sqlite vs redb",
                ["sqlite", "redb"],
                [sqlite, redb],
                threads,
                call,
            );
        }
    }
}

fn main() {
    let runs = nerve_bench::selected;
    if runs("sqlite") {
        single_against_batch("sqlite", sqlite);
    }
    if runs("redb") {
        single_against_batch("redb", redb);
    }
    if runs("pipeline") {
        pipeline();
    }
    if runs("backends") {
        backends();
    }
}
