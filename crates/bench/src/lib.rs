//! The benches of nerve-store, written once: the work ([`LogWork`]), done by a store
//! ([`StoreSide`]) and by its bare engine on the store's own schema ([`sqlite::BareSqlite`],
//! [`redb::BareRedb`]), measured by [`interleave`] so that a ratio is read from one run.
//!
//! On a shared machine the load drifts by more than the differences a bench looks for, so a
//! run that does all of one side and then all of the other measures the drift. [`interleave`]
//! runs the two sides in short slices, alternately, many times, and reports the median of the
//! per-slice ratios with their spread.

pub mod redb;
pub mod sqlite;
pub mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use store_core::{LogBackend, LogQuery, NewLogEntry, RunTransition, WorkflowRunStatus};

/// The work a log bench measures. A store does it through its traits; a bare engine does the
/// same writes and reads by hand on the store's own tables, with nothing of the store around
/// them: the baseline a store's overhead is a ratio to.
pub trait LogWork {
    /// Appends one entry in a transaction of its own.
    fn append(&mut self, entry: NewLogEntry);
    /// Appends the entries in one transaction.
    fn append_batch(&mut self, entries: Vec<NewLogEntry>);
    /// Moves run `run_id` (of workflow `wf`, thread `t`) from `from` to `to`, with its audit
    /// entry, in one transaction.
    fn transition(&mut self, run_id: &str, from: Option<WorkflowRunStatus>, to: WorkflowRunStatus);
    /// The first `limit` entries with this `ref_id`, in id order; returns how many were read.
    fn query_by_ref(&mut self, ref_id: &str, limit: usize) -> usize;
}

/// A new store file at `dir/name`, created by `open` (so with the store's own schema) and
/// closed: what a bare side opens by hand.
pub fn fresh_store_file(
    dir: &std::path::Path,
    name: &str,
    open: impl FnOnce(&std::path::Path) -> store_core::StoreResult<Box<dyn LogBackend>>,
) -> std::path::PathBuf {
    let path = dir.join(name);
    drop(open(&path).expect("create the schema"));
    path
}

/// A store doing the work through its traits.
pub struct StoreSide(pub Box<dyn LogBackend>);

impl LogWork for StoreSide {
    fn append(&mut self, entry: NewLogEntry) {
        self.0.append(entry).expect("append");
    }

    fn append_batch(&mut self, entries: Vec<NewLogEntry>) {
        self.0.append_batch(entries).expect("append a batch");
    }

    fn transition(
        &mut self,
        run_id: &str,
        _from: Option<WorkflowRunStatus>,
        to: WorkflowRunStatus,
    ) {
        let transition =
            RunTransition::new(run_id, workload::WORKFLOW, to).in_thread(workload::THREAD);
        self.0.transition_run(transition).expect("transition");
    }

    fn query_by_ref(&mut self, ref_id: &str, limit: usize) -> usize {
        let query = LogQuery {
            ref_id: Some(ref_id.to_owned()),
            limit: Some(limit),
            ..LogQuery::default()
        };
        self.0.query(&query).expect("query").len()
    }
}

/// What the command line asks a bench to run: `selected("sqlite")` is true when no name
/// was given or `sqlite` was (`cargo bench` passes `--bench`, which is no name).
pub fn selected(name: &str) -> bool {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    wanted.is_empty() || wanted.iter().any(|w| w == name)
}

/// The per-operation times of two sides measured slice by slice, and their ratios.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// What was measured.
    pub name: String,
    /// Per-operation time of the first side, one per slice.
    pub first: Vec<Duration>,
    /// Per-operation time of the second side, one per slice.
    pub second: Vec<Duration>,
}

impl Comparison {
    /// The ratio first ÷ second of each slice pair.
    pub fn ratios(&self) -> Vec<f64> {
        self.first
            .iter()
            .zip(&self.second)
            .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE))
            .collect()
    }

    /// One line: the median per-operation time of each side, the median ratio, and the
    /// ratios' spread (25th to 75th percentile).
    pub fn summary(&self, first: &str, second: &str) -> String {
        let ratios = self.ratios();
        let median = |times: &[Duration]| {
            human(quantile(
                &times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                0.5,
            ))
        };
        format!(
            "{:<38} {first} {:>9}  {second} {:>9}  ratio {:.3} (IQR {:.3}–{:.3}, {} slices)",
            self.name,
            median(&self.first),
            median(&self.second),
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.25),
            quantile(&ratios, 0.75),
            ratios.len(),
        )
    }
}

/// `seconds` as people write a duration: `35.2 µs`, `5.44 ms`, `5.47 s`.
pub fn human(seconds: f64) -> String {
    match seconds {
        s if s >= 1.0 => format!("{s:.2} s"),
        s if s >= 1e-3 => format!("{:.2} ms", s * 1e3),
        s => format!("{:.1} µs", s * 1e6),
    }
}

/// The `q` quantile of `values` (0.5: the median), by linear interpolation; 0 for none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f64::total_cmp);
    let at = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (at - low as f64)
}

/// Runs `slices` rounds of `ops` operations on each side, alternating which side goes first,
/// and returns each side's per-operation time per round. `first` and `second` get the
/// number of the operation (counting on across rounds, so each side can make every
/// operation new work) and do one operation.
pub fn interleave(
    name: &str,
    slices: usize,
    ops: usize,
    mut first: impl FnMut(usize),
    mut second: impl FnMut(usize),
) -> Comparison {
    let timed = |side: &mut dyn FnMut(usize), op: usize| {
        let started = Instant::now();
        side(op);
        started.elapsed()
    };
    interleave_timed(
        name,
        slices,
        ops,
        |op| timed(&mut first, op),
        |op| timed(&mut second, op),
    )
}

/// [`interleave`] for operations that time themselves: each call returns how long the part
/// that counts took (a bench that clears up after an operation leaves the clearing out).
pub fn interleave_timed(
    name: &str,
    slices: usize,
    ops: usize,
    mut first: impl FnMut(usize) -> Duration,
    mut second: impl FnMut(usize) -> Duration,
) -> Comparison {
    let mut comparison = Comparison {
        name: name.to_owned(),
        first: Vec::with_capacity(slices),
        second: Vec::with_capacity(slices),
    };
    let per_op = |total: Duration| total / u32::try_from(ops.max(1)).unwrap_or(u32::MAX);
    let time = |side: &mut dyn FnMut(usize) -> Duration, slice: usize| {
        per_op((slice * ops..(slice + 1) * ops).map(&mut *side).sum())
    };
    for slice in 0..slices {
        if slice % 2 == 0 {
            let a = time(&mut first, slice);
            let b = time(&mut second, slice);
            comparison.first.push(a);
            comparison.second.push(b);
        } else {
            let b = time(&mut second, slice);
            let a = time(&mut first, slice);
            comparison.first.push(a);
            comparison.second.push(b);
        }
    }
    comparison
}

/// `base` with its first eight bytes replaced by `n`, so that each write of a bench is new
/// content.
pub fn unique(base: &[u8], n: usize) -> Vec<u8> {
    let mut data = base.to_vec();
    let prefix = (n as u64).to_le_bytes();
    let k = prefix.len().min(data.len());
    data[..k].copy_from_slice(&prefix[..k]);
    data
}

/// What `work` returns, and how long it took.
pub fn timed<T>(work: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = work();
    (value, started.elapsed())
}

/// The time the archive benches count from: a fixed day, so that a fixture built once keeps
/// its days old enough.
pub fn archive_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_795_521_600, 0).expect("a valid time")
}

/// A SQLite store of `entries` entries spread over `days` days ending 31 days before
/// [`archive_now`] (every one old enough for an archive keeping 30), built once under
/// `target` (a bench's `CARGO_TARGET_TMPDIR`) as `bench-data/<name>.db` and kept.
pub fn archive_fixture(target: &Path, name: &str, entries: usize, days: usize) -> PathBuf {
    use store_core::LogStore;
    let dir = target.join("bench-data");
    std::fs::create_dir_all(&dir).expect("bench data folder");
    let path = dir.join(format!("{name}.db"));
    let done = dir.join(format!("{name}.complete"));
    if path.exists() && done.exists() {
        // A fixture of an older schema is migrated once here, not in every measured copy.
        drop(store_sqlite::SqliteLogStore::open(&path).expect("the fixture opens"));
        return path;
    }
    let _ = std::fs::remove_file(&path);
    let store = store_sqlite::SqliteLogStore::open(&path).expect("create the fixture");
    let start = (archive_now() - chrono::Duration::days(40))
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let per_day = entries / days;
    for chunk in (0..entries).collect::<Vec<_>>().chunks(10_000) {
        let batch = chunk
            .iter()
            .map(|i| {
                let day = (i / per_day) as i64;
                let second = (i % per_day) as i64 % 86_000;
                NewLogEntry::new(
                    "worker",
                    "tick",
                    format!("{{\"seq\":{i},\"note\":\"a typical payload\"}}"),
                )
                .with_ref(format!("ref-{}", i % 5000))
                .at(start + chrono::Duration::days(day) + chrono::Duration::seconds(second))
            })
            .collect();
        store.append_batch(batch).expect("fill");
    }
    drop(store);
    std::fs::write(&done, b"").expect("mark complete");
    path
}

/// A fresh copy of the store file `fixture`, as `nerve.db` in a new folder.
pub fn copy_of(fixture: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture, dir.path().join("nerve.db")).expect("copy the store");
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(human(5.469), "5.47 s");
        assert_eq!(human(0.005_436), "5.44 ms");
        assert_eq!(human(0.000_035_2), "35.2 µs");
    }

    #[test]
    fn quantiles_interpolate_between_sorted_values() {
        let values = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&values, 0.0), 1.0);
        assert_eq!(quantile(&values, 1.0), 4.0);
        assert_eq!(quantile(&values, 0.5), 2.5);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn interleaving_runs_every_operation_of_both_sides_once_in_order() {
        let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
        let comparison = interleave("count", 3, 2, |op| seen_a.push(op), |op| seen_b.push(op));
        assert_eq!(seen_a, [0, 1, 2, 3, 4, 5]);
        assert_eq!(seen_b, [0, 1, 2, 3, 4, 5]);
        assert_eq!(comparison.ratios().len(), 3);
    }
}
