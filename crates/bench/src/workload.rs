//! The workload of the log benches, written once for every side.

use chrono::{DateTime, Utc};
use store_core::{LogBackend, NewLogEntry, WorkflowRunStatus};

/// The workflow of the benches' runs.
pub const WORKFLOW: &str = "wf";
/// The thread of the benches' runs.
pub const THREAD: &str = "t";
/// Entries per reference in a query fixture, and what a query by reference reads.
pub const QUERY_ROWS: usize = 50;

/// The `i`th entry of a write bench: a typical small JSON payload, one of 64 references.
pub fn entry(i: usize) -> NewLogEntry {
    NewLogEntry::new(
        "worker",
        "tick",
        format!("{{\"seq\":{i},\"note\":\"a typical payload\"}}"),
    )
    .with_ref(format!("ref-{}", i % 64))
}

/// The `i`th batch of `size` entries.
pub fn batch(i: usize, size: usize) -> Vec<NewLogEntry> {
    (i * size..(i + 1) * size).map(entry).collect()
}

/// The `i`th transition: run `i / 3` goes queued → started → completed.
pub fn transition(i: usize) -> (String, Option<WorkflowRunStatus>, WorkflowRunStatus) {
    use WorkflowRunStatus::{Completed, Queued, Started};
    let (from, to) = [
        (None, Queued),
        (Some(Queued), Started),
        (Some(Started), Completed),
    ][i % 3];
    (format!("run-{}", i / 3), from, to)
}

/// The audit entry a bare side writes for a transition of `run_id` from `from` to `to`: a
/// small JSON payload, as the store's is.
pub fn audit_entry(
    run_id: &str,
    from: Option<WorkflowRunStatus>,
    to: WorkflowRunStatus,
) -> NewLogEntry {
    let from = from.map_or("null".to_owned(), |status| format!("\"{status}\""));
    NewLogEntry::new(
        store_core::AUDIT_SOURCE,
        store_core::AUDIT_KIND,
        format!("{{\"runId\":\"{run_id}\",\"from\":{from},\"to\":\"{to}\"}}"),
    )
    .with_ref(run_id)
}

/// The reference the `i`th query of a fixture of `rows` entries reads: spread over all of
/// them, so that the cache holds no more of the answer than it would in use.
pub fn query_ref(i: usize, rows: usize) -> String {
    let refs = (rows / QUERY_ROWS).max(1);
    format!("ref-{}", i.wrapping_mul(7919) % refs)
}

/// Fills `store` with `rows` entries, [`QUERY_ROWS`] per reference, 2 s apart over the days
/// before `start`, in batches of 10,000: what the query benches read.
pub fn fill_query_fixture(store: &dyn LogBackend, rows: usize, start: DateTime<Utc>) {
    let refs = (rows / QUERY_ROWS).max(1);
    for first in (0..rows).step_by(10_000) {
        let batch = (first..(first + 10_000).min(rows))
            .map(|i| {
                let offset = i64::try_from(i).unwrap_or(i64::MAX);
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
}
