//! Cost growth: what each operation costs in a store of 10k entries beside what it costs in
//! bigger ones, on each backend. Every query of SPEC 1 should cost O(log n + k): its cost at
//! the biggest size within 2.5× of its cost at the smallest, an open the same at any size.
//!
//! `cargo bench -p nerve-bench --bench growth [-- sqlite|redb] [--sizes=10k,1m,10m]`
//! (10k and 1M by default: a 10M store takes minutes to build and a few GB of disk).
//! `--keep=DIR` builds the stores in DIR and reuses them in later runs, for looking into one
//! operation at size (`--only=query` measures only the operations whose name holds `query`);
//! a kept store holds the earlier runs' appends and lost its archived days, so the figures
//! to report come from a run on fresh stores.
//!
//! The stores of all sizes are built first and kept open; then each operation runs in short
//! slices on each size in turn, slice after slice, so that the machine's drift falls on every
//! size alike. Each figure is the median of the slices' time per operation; the last column
//! is the biggest size's over the smallest's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use nerve_bench::{human, quantile, selected};
use store_core::{
    LogBackend, LogId, LogQuery, NewLogEntry, RunQuery, RunTransition, StoreResult,
    WorkflowRunStatus, WriteUnit,
};

/// Slices per operation and size, and operations per slice.
const SLICES: usize = 15;
const QUERIES: usize = 50;
const APPENDS: usize = 5;
const BATCH: usize = 1000;
/// One entry every this many milliseconds: 10M entries span 30 days.
const SPACING_MS: i64 = 260;
/// Entries per run (and per reference).
const PER_RUN: usize = 10;
/// Sources and kinds of the fixture: 4 × 4 pairs.
const SOURCES: [&str; 4] = ["worker", "scheduler", "api", "agent"];
const KINDS: [&str; 4] = ["tick", "start", "stop", "error"];

type Open = fn(&Path) -> StoreResult<Box<dyn LogBackend>>;

struct Backend {
    name: &'static str,
    file: &'static str,
    open: Open,
}

const BACKENDS: [Backend; 2] = [
    Backend {
        name: "sqlite",
        file: "nerve.db",
        open: |path| Ok(Box::new(store_sqlite::SqliteLogStore::open(path)?)),
    },
    Backend {
        name: "redb",
        file: "nerve.redb",
        open: |path| Ok(Box::new(store_redb::RedbLogStore::open(path)?)),
    },
];

/// A store of `entries` entries, open, with where it lives and when its log starts.
struct Sized {
    entries: usize,
    path: PathBuf,
    open: Open,
    store: Option<Box<dyn LogBackend>>,
    start: DateTime<Utc>,
    /// The workload's own counter, so that every call writes or reads something new.
    seq: usize,
}

impl Sized {
    fn store(&self) -> &dyn LogBackend {
        self.store.as_deref().expect("open")
    }

    fn span_ms(&self) -> i64 {
        i64::try_from(self.entries).unwrap_or(i64::MAX) * SPACING_MS
    }

    /// A number in `0..below`, spread over the range call after call.
    fn spread(&mut self, below: usize) -> usize {
        self.seq += 1;
        self.seq.wrapping_mul(2_654_435_761) % below.max(1)
    }
}

fn fixture_entry(i: usize, start: DateTime<Utc>) -> NewLogEntry {
    let offset = i64::try_from(i).unwrap_or(i64::MAX) * SPACING_MS;
    NewLogEntry::new(
        SOURCES[i % 4],
        KINDS[(i / 4) % 4],
        format!("{{\"seq\":{i},\"note\":\"a typical payload\"}}"),
    )
    .with_ref(format!("run-{}", i / PER_RUN))
    .at(start + chrono::Duration::milliseconds(offset))
}

/// Builds a store of `entries` entries (and one run per [`PER_RUN`] of them, one in a
/// hundred still started, the others completed) in batches, closes it, and opens it again.
fn build(backend: &Backend, dir: &Path, entries: usize) -> Sized {
    let path = dir.join(format!("{entries}")).join(backend.file);
    if let Some(kept) = kept(backend, &path, entries) {
        return kept;
    }
    let start = Utc::now()
        - chrono::Duration::milliseconds(
            i64::try_from(entries).unwrap_or(i64::MAX) * SPACING_MS + 86_400_000,
        );
    let began = Instant::now();
    let store = (backend.open)(&path).expect("create");
    for first in (0..entries).step_by(10_000) {
        let batch = (first..(first + 10_000).min(entries))
            .map(|i| fixture_entry(i, start))
            .collect();
        store.append_batch(batch).expect("a batch of the fixture");
    }
    let runs = entries / PER_RUN;
    for first in (0..runs).step_by(1000) {
        let mut unit = WriteUnit::new();
        for run in first..(first + 1000).min(runs) {
            let id = format!("run-{run}");
            unit = unit.transition(RunTransition::new(&id, "wf", WorkflowRunStatus::Started));
            if run % 100 != 0 {
                unit = unit.transition(RunTransition::new(&id, "wf", WorkflowRunStatus::Completed));
            }
        }
        store.write_unit(unit).expect("a unit of runs");
    }
    drop(store);
    std::fs::write(path.parent().expect("a folder").join("built"), "")
        .expect("mark the store built");
    eprintln!(
        "growth: built {} {} entries in {:.1?}",
        backend.name,
        thousands(entries),
        began.elapsed()
    );
    Sized {
        entries,
        store: Some((backend.open)(&path).expect("reopen")),
        path,
        open: backend.open,
        start,
        seq: 0,
    }
}

/// The store of `entries` entries that an earlier run left at `path` (with `--keep=DIR`),
/// opened, with the time of its first entry as its start; none when it is not there or not
/// whole (a run stopped while building it leaves no `built` mark).
fn kept(backend: &Backend, path: &Path, entries: usize) -> Option<Sized> {
    let folder = path.parent()?;
    if !folder.join("built").exists() {
        return None;
    }
    let store = (backend.open)(path).ok()?;
    let first = store
        .query(&LogQuery {
            limit: Some(1),
            ..LogQuery::default()
        })
        .ok()?;
    let start = first.first()?.ts;
    eprintln!(
        "growth: kept {} {} entries from {}",
        backend.name,
        thousands(entries),
        folder.display()
    );
    Some(Sized {
        entries,
        store: Some(store),
        path: path.to_path_buf(),
        open: backend.open,
        start,
        seq: 0,
    })
}

/// What one slice of an operation does, and how many operations it counts.
type Slice = fn(&mut Sized) -> usize;

/// Makes `QUERIES` calls of `call`; returns how many.
fn queries(sized: &mut Sized, mut call: impl FnMut(&mut Sized)) -> usize {
    for _ in 0..QUERIES {
        call(sized);
    }
    QUERIES
}

fn by_ref(sized: &mut Sized) -> usize {
    queries(sized, |sized| {
        let run = sized.spread(sized.entries / PER_RUN);
        let query = LogQuery {
            ref_id: Some(format!("run-{run}")),
            ..LogQuery::default()
        };
        sized.store().query(&query).expect("by ref");
    })
}

fn by_source_kind(sized: &mut Sized) -> usize {
    queries(sized, |sized| {
        let pair = sized.spread(16);
        let after = sized.spread(sized.entries) as u64;
        let query = LogQuery {
            source: Some(SOURCES[pair % 4].into()),
            kind: Some(KINDS[pair / 4].into()),
            after: Some(LogId(after)),
            limit: Some(100),
            ..LogQuery::default()
        };
        sized.store().query(&query).expect("by source and kind");
    })
}

fn by_time(sized: &mut Sized) -> usize {
    queries(sized, |sized| {
        let span = sized.span_ms();
        let from = sized.spread(usize::try_from(span).unwrap_or(usize::MAX));
        let since = sized.start + chrono::Duration::milliseconds(from as i64);
        let query = LogQuery {
            since: Some(since),
            until: Some(since + chrono::Duration::hours(24)),
            limit: Some(100),
            ..LogQuery::default()
        };
        sized.store().query(&query).expect("by a time range");
    })
}

/// The first 10 started runs: one run in a hundred is started, so 10 at the smallest size,
/// and every size answers as many.
fn runs_by_status(sized: &mut Sized) -> usize {
    queries(sized, |sized| {
        let query = RunQuery {
            statuses: vec![WorkflowRunStatus::Started],
            limit: Some(10),
            ..RunQuery::default()
        };
        sized.store().list_runs(&query).expect("runs by status");
    })
}

fn log_stats(sized: &mut Sized) -> usize {
    queries(sized, |sized| {
        sized.store().log_stats().expect("log stats");
    })
}

fn append(sized: &mut Sized) -> usize {
    for _ in 0..APPENDS {
        let i = sized.spread(sized.entries);
        sized
            .store()
            .append(NewLogEntry::new("worker", "tick", format!("{{\"n\":{i}}}")).with_ref("new"))
            .expect("append");
    }
    APPENDS
}

fn batch(sized: &mut Sized) -> usize {
    let entries = (0..BATCH)
        .map(|i| NewLogEntry::new("worker", "tick", format!("{{\"n\":{i}}}")).with_ref("new"))
        .collect();
    sized.store().append_batch(entries).expect("a batch");
    BATCH
}

/// Closes and opens the store: the open alone is timed by the slice.
fn reopen(sized: &mut Sized) -> usize {
    drop(sized.store.take());
    sized.store = Some(open_again(sized));
    1
}

/// Closes the store, opens it, and makes one query by ref: what a CLI command pays.
fn reopen_and_query(sized: &mut Sized) -> usize {
    drop(sized.store.take());
    sized.store = Some(open_again(sized));
    let run = sized.spread(sized.entries / PER_RUN);
    let query = LogQuery {
        ref_id: Some(format!("run-{run}")),
        ..LogQuery::default()
    };
    sized.store().query(&query).expect("the first query");
    1
}

fn open_again(sized: &Sized) -> Box<dyn LogBackend> {
    (sized.open)(&sized.path).expect("reopen")
}

/// The median time per operation of `slice` at each size, the sizes taken in turn.
fn measure(sizes: &mut [Sized], slice: Slice) -> Vec<f64> {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); sizes.len()];
    for round in 0..SLICES {
        for offset in 0..sizes.len() {
            // Alternate which size goes first.
            let at = (offset + round) % sizes.len();
            let started = Instant::now();
            let ops = slice(&mut sizes[at]);
            times[at].push(started.elapsed().as_secs_f64() / ops as f64);
        }
    }
    times.iter().map(|t| quantile(t, 0.5)).collect()
}

fn file_bytes(path: &Path) -> u64 {
    let folder = path.parent().expect("a folder");
    std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Moves the oldest day out to an archive, timed, per entry moved.
fn archive_one_day(sized: &Sized, dir: &Path) -> (f64, u64) {
    let first = sized
        .store()
        .log_stats()
        .expect("stats")
        .first_day
        .expect("a day");
    let options = store_archive::ArchiveOptions {
        dir: dir.join(format!("archive-{}", sized.entries)),
        retain_days: 0,
        now: first
            .succ_opt()
            .expect("a next day")
            .and_hms_opt(12, 0, 0)
            .expect("noon")
            .and_utc(),
        ..store_archive::ArchiveOptions::default()
    };
    let started = Instant::now();
    let report = store_archive::archive_logs(sized.store(), &options).expect("archive");
    (started.elapsed().as_secs_f64(), report.rows)
}

fn thousands(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

fn sizes_from_args() -> Vec<usize> {
    let given = std::env::args()
        .find_map(|arg| arg.strip_prefix("--sizes=").map(str::to_owned))
        .unwrap_or_else(|| "10k,1m".into());
    given
        .split(',')
        .map(|size| {
            let size = size.trim().to_lowercase();
            let (digits, scale) = match size.strip_suffix('m') {
                Some(d) => (d.to_owned(), 1_000_000),
                None => match size.strip_suffix('k') {
                    Some(d) => (d.to_owned(), 1000),
                    None => (size.clone(), 1),
                },
            };
            digits
                .parse::<usize>()
                .expect("a size such as 10k, 1m or 250000")
                * scale
        })
        .collect()
}

fn row(name: &str, figures: &[f64], show: impl Fn(f64) -> String) {
    let cells: Vec<String> = figures
        .iter()
        .map(|f| format!("{:>11}", show(*f)))
        .collect();
    let growth =
        figures.last().unwrap_or(&0.0) / figures.first().unwrap_or(&1.0).max(f64::MIN_POSITIVE);
    println!("  {name:<28}{} {growth:>7.2}×", cells.join(""));
}

fn main() {
    // `cargo bench` passes --bench; the sizes and backends are ours.
    let sizes = sizes_from_args();
    let root = tempfile::tempdir().expect("temp dir");
    // `--keep=DIR` builds the stores there, or reuses the ones a run left there.
    let keep = std::env::args()
        .find_map(|arg| arg.strip_prefix("--keep=").map(PathBuf::from))
        .unwrap_or_else(|| root.path().to_path_buf());
    // `--only=TEXT` measures only the operations whose name holds TEXT.
    let only = std::env::args().find_map(|arg| arg.strip_prefix("--only=").map(str::to_owned));
    for backend in &BACKENDS {
        if !selected(backend.name) {
            continue;
        }
        let dir = keep.join(backend.name);
        let mut stores: Vec<Sized> = sizes.iter().map(|n| build(backend, &dir, *n)).collect();
        let header: Vec<String> = sizes
            .iter()
            .map(|n| format!("{:>11}", thousands(*n)))
            .collect();
        println!(
            "{} growth, median per operation{} {:>8}",
            backend.name,
            header.join(""),
            "growth"
        );
        let timed = |s: f64| human(s);
        for (name, slice) in [
            ("open (clean shutdown)", reopen as Slice),
            ("open + first query by ref", reopen_and_query),
            ("query by ref", by_ref),
            ("query by (source, kind)", by_source_kind),
            ("query by 24 h range, 100", by_time),
            ("list_runs by status, 10", runs_by_status),
            ("log_stats", log_stats),
            ("append (durable)", append),
            ("batch of 1,000, per entry", batch),
        ] {
            if only.as_deref().is_none_or(|only| name.contains(only)) {
                row(name, &measure(&mut stores, slice), timed);
            }
        }
        if only.is_some() {
            continue;
        }
        let bytes: Vec<f64> = stores
            .iter()
            .map(|s| file_bytes(&s.path) as f64 / s.entries as f64)
            .collect();
        row("file bytes per entry", &bytes, |b| format!("{b:.0} B"));
        let archive: Vec<f64> = stores
            .iter()
            .map(|s| {
                let (seconds, moved) = archive_one_day(s, &dir);
                seconds / moved.max(1) as f64
            })
            .collect();
        row("archive of a day, per entry", &archive, timed);
    }
}
