//! Moving a whole store to another (the other backend, usually), ids kept, verified.

use std::ops::ControlFlow;

use serde::Serialize;
use store_core::{
    BlobReference, BlobStore, Digest, ImportBatch, LogBackend, LogId, LogQuery, LogStore, RunQuery,
    StoreError, StoreResult, ThreadIndexRow, WorkflowRun, kit::Hasher,
};

use crate::{Location, Store};

/// How many entries one import transaction carries.
const PAGE: usize = 10_000;

/// What a store holds, counted, and one digest of all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentSummary {
    /// Log entries.
    pub entries: u64,
    /// Thread-index rows.
    pub thread_rows: u64,
    /// Workflow runs.
    pub runs: u64,
    /// Meta pairs.
    pub meta: u64,
    /// Blobs.
    pub blobs: u64,
    /// Blob references (what holds which blob).
    pub references: u64,
    /// The sha256 of every entry, thread row, run, meta pair and blob reference in a
    /// canonical form, and of every blob's digest: equal for two stores that hold the same
    /// content, whatever their backends.
    pub digest: Digest,
}

impl std::fmt::Display for ContentSummary {
    /// `10 entries, 2 thread rows, 3 runs, 1 meta pair, 0 blobs, digest 5f…`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "{}, {}, {}, {}, {}, digest {}",
            plural(self.entries, "entry", "entries"),
            plural(self.thread_rows, "thread row", "thread rows"),
            plural(self.runs, "run", "runs"),
            plural(self.meta, "meta pair", "meta pairs"),
            plural(self.blobs, "blob", "blobs"),
            self.digest
        )
    }
}

/// Feeds values to a hasher as canonical JSON lines, counting them.
struct Canonical {
    hasher: Hasher,
    line: Vec<u8>,
}

impl Canonical {
    fn add(&mut self, tag: &str, value: &impl Serialize) -> StoreResult<()> {
        self.line.clear();
        self.line.extend_from_slice(tag.as_bytes());
        serde_json::to_writer(&mut self.line, value).map_err(|err| {
            StoreError::invalid("content", format!("cannot serialise a {tag}: {err}"))
        })?;
        self.line.push(b'\n');
        self.hasher.update(&self.line);
        Ok(())
    }
}

#[derive(Serialize)]
struct ThreadRowLine<'a> {
    log_id: u64,
    thread_id: &'a str,
    round: u32,
    role: &'a str,
}

/// Reads everything `store` holds, page by page, and summarises it.
///
/// # Errors
/// The stores' errors.
pub fn summarise(store: &Store) -> StoreResult<ContentSummary> {
    summarise_parts(store.log.as_ref(), &store.blobs.list()?, &mut || Ok(()))
}

/// The summary of the log `log` and the blobs named `blobs`. The mark of an incomplete copy
/// is not content: it is left out. `go_on` is asked after each page, and its error stops
/// the summary (a Ctrl-C during a verification).
fn summarise_parts(
    log: &dyn LogBackend,
    blobs: &[Digest],
    go_on: &mut dyn FnMut() -> StoreResult<()>,
) -> StoreResult<ContentSummary> {
    let mut canonical = Canonical {
        hasher: Hasher::new(),
        line: Vec::new(),
    };
    let (mut entries, mut thread_rows) = (0, 0);
    let mut after = None;
    loop {
        let page = log.query(&LogQuery {
            after,
            limit: Some(PAGE),
            ..LogQuery::default()
        })?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for entry in &page {
            canonical.add("entry", entry)?;
        }
        entries += page.len() as u64;
        go_on()?;
    }
    let mut after = None;
    loop {
        let page = log.thread_index(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.log_id);
        for row in &page {
            let line = ThreadRowLine {
                log_id: row.log_id.0,
                thread_id: &row.thread_id,
                round: row.round,
                role: &row.role,
            };
            canonical.add("thread", &line)?;
        }
        thread_rows += page.len() as u64;
        go_on()?;
    }
    let mut runs = 0;
    for_each_run_page(log, |page| {
        for run in &page {
            canonical.add("run", run)?;
        }
        runs += page.len() as u64;
        go_on()
    })?;
    let mut meta = 0;
    for_each_meta_page(log, |page| {
        for pair in page.iter().filter(|(key, _)| key != INCOMPLETE_KEY) {
            canonical.add("meta", pair)?;
            meta += 1;
        }
        Ok(())
    })?;
    let mut references = 0;
    let mut after: Option<BlobReference> = None;
    loop {
        let page = log.blob_references(after.as_ref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.clone());
        for reference in &page {
            canonical.add("reference", reference)?;
        }
        references += page.len() as u64;
        go_on()?;
    }
    for digest in blobs {
        canonical.add("blob", digest)?;
    }
    Ok(ContentSummary {
        entries,
        thread_rows,
        runs,
        meta,
        blobs: blobs.len() as u64,
        references,
        digest: canonical.hasher.finish(),
    })
}

/// Hands every run of `log` to `each`, a page of 10,000 at a time, oldest first: a walk
/// over all runs (a copy, a count) whose memory does not grow with them.
///
/// # Errors
/// The store's, and the first error `each` returns (the walk stops there).
pub fn for_each_run_page(
    log: &dyn LogStore,
    mut each: impl FnMut(Vec<WorkflowRun>) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut after = None;
    loop {
        let page = log.list_runs(&RunQuery {
            after: after.take(),
            limit: Some(PAGE),
            ..RunQuery::default()
        })?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.run_id.clone());
        let done = page.len() < PAGE;
        each(page)?;
        if done {
            return Ok(());
        }
    }
}

/// Calls `each` with the meta pairs of `log`, a page at a time, in key order.
fn for_each_meta_page(
    log: &dyn LogBackend,
    mut each: impl FnMut(Vec<(String, String)>) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut after: Option<String> = None;
    loop {
        let page = log.meta_page(after.as_deref(), PAGE)?;
        let done = page.len() < PAGE;
        after = page.last().map(|(key, _)| key.clone());
        if !page.is_empty() {
            each(page)?;
        }
        if done {
            return Ok(());
        }
    }
}

fn is_empty(store: &Store) -> StoreResult<bool> {
    Ok(store
        .log
        .query(&LogQuery {
            limit: Some(1),
            ..LogQuery::default()
        })?
        .is_empty()
        && store
            .log
            .list_runs(&RunQuery {
                limit: Some(1),
                ..RunQuery::default()
            })?
            .is_empty()
        && store
            .log
            .meta_page(None, 2)?
            .iter()
            .all(|(key, _)| key == INCOMPLETE_KEY)
        && store.blobs.list()?.is_empty())
}

/// The meta key that marks a store as an incomplete copy: set by [`migrate`] before it
/// copies anything, removed once the copy is verified. [`crate::open`] refuses a store that
/// holds it ([`StoreError::IncompleteCopy`]); its value names the source.
pub const INCOMPLETE_KEY: &str = "nerve.migrate.incomplete";

/// Copies every log entry (ids kept), thread-index row, run, meta pair and blob of `from`
/// into `to`, which must be empty, then summarises both and fails unless they hold the same
/// content. `progress` hears the number of entries copied so far, after each page, and
/// stops the copy when it answers [`ControlFlow::Break`] (on Ctrl-C, say).
///
/// The copy reads one snapshot of `from` ([`store_core::LogTransfer::with_snapshot`]), so a daemon
/// may go on writing it: the copy holds `from` as it was when the copy began, and is
/// verified against that snapshot. Blobs, immutable by their names, are those `from` held
/// then; one deleted since is left out of the copy and of its check.
///
/// Until the copy is verified, `to` carries the mark [`INCOMPLETE_KEY`], and
/// [`crate::open`] refuses it: a copy cut short (an error, Ctrl-C, a crash) is never taken
/// for a store. Entries go over in transactions of 10,000 with their thread rows, then runs
/// in pages of 10,000, so memory does not grow with the store.
///
/// # Errors
/// [`StoreError::InvalidInput`] when `to` is not empty or shares a file with `from`,
/// [`StoreError::IncompleteCopy`] when
/// it is the leftover of a copy that did not finish (which [`resume_migrate`] finishes),
/// [`StoreError::Interrupted`] when `progress` stopped it, [`StoreError::CopyMismatch`]
/// when the copy does not match; the stores' errors. `to` is left marked incomplete after
/// each.
pub fn migrate(
    from: &Store,
    to: &Store,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> StoreResult<ContentSummary> {
    refuse_same_files(from, to)?;
    if !is_empty(to)? {
        // The leftover of an earlier copy that did not finish is named as such.
        if let Some(source) = to.log.meta_get(INCOMPLETE_KEY)? {
            return Err(StoreError::IncompleteCopy {
                path: to.location.shown_path(),
                source_location: source,
            });
        }
        return Err(StoreError::invalid(
            "target",
            format!(
                "{} is not empty: migrate only into a new store",
                to.location
            ),
        ));
    }
    to.log
        .meta_set(INCOMPLETE_KEY, &from.location.to_string())?;
    copy_verified(from, to, None, progress)
}

/// Finishes a copy of `from` into `to` that did not finish (killed, stopped, failed): `to`
/// carries the mark [`INCOMPLETE_KEY`] naming `from`. Entries go on after the last one `to`
/// holds (each went over in one transaction with its thread rows), then meta (written over),
/// the runs `to` does not hold yet and the blobs; then both stores are summarised, from a new
/// snapshot of `from`, as [`migrate`] does. A source that changed since the first attempt in
/// what was already copied (a run moved on, a day archived) fails the verification: then
/// the copy must start over into a new store.
///
/// # Errors
/// [`StoreError::InvalidInput`] when `to` is not an incomplete copy, or one of another
/// store; otherwise as [`migrate`]. `to` stays marked incomplete after each.
pub fn resume_migrate(
    from: &Store,
    to: &Store,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> StoreResult<ContentSummary> {
    refuse_same_files(from, to)?;
    let Some(source) = to.log.meta_get(INCOMPLETE_KEY)? else {
        return Err(StoreError::invalid(
            "target",
            format!(
                "{} is not an incomplete copy: there is nothing to resume",
                to.location
            ),
        ));
    };
    if source != from.location.to_string() {
        return Err(StoreError::invalid(
            "source",
            format!(
                "{} is an incomplete copy of {source}, not of {}: resume it from {source}",
                to.location, from.location
            ),
        ));
    }
    let last = to
        .log
        .query(&LogQuery {
            limit: Some(1),
            order: store_core::Order::Descending,
            ..LogQuery::default()
        })?
        .first()
        .map(|entry| entry.id);
    tracing::info!(
        target: "nerve_store::migrate",
        from = %from.location,
        to = %to.location,
        after = ?last,
        "resuming a copy"
    );
    copy_verified(from, to, Some(last), progress)
}

/// Refuses a copy of a store into its own files ([`crate::Location::shares_files_with`]).
fn refuse_same_files(from: &Store, to: &Store) -> StoreResult<()> {
    check_copy_target(&from.location, &to.location)
}

/// Refuses a copy of the store at `from` into `to` when the two share a file (or are the
/// same store on a server): the copy would write over what it reads. [`migrate`] checks it
/// once both stores are open; a program calls it before it opens (and so creates) `to`.
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `target`.
pub fn check_copy_target(from: &Location, to: &Location) -> StoreResult<()> {
    if from.shares_files_with(to) {
        return Err(StoreError::invalid(
            "target",
            format!("{from} and {to} are the same files: copy into a new store"),
        ));
    }
    Ok(())
}

/// The copy of [`migrate`] and [`resume_migrate`]: from the start (`resume` `None`), or after
/// the entry `resume` names (`Some(None)`: none went over yet), with the runs `to` holds
/// already left out. Then the verification, and the mark's removal.
fn copy_verified(
    from: &Store,
    to: &Store,
    resume: Option<Option<LogId>>,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> StoreResult<ContentSummary> {
    tracing::info!(
        target: "nerve_store::migrate",
        from = %from.location,
        to = %to.location,
        "copying a snapshot"
    );
    let blobs = from.blobs.list()?;
    let mut summary = None;
    from.log.with_snapshot(&mut |view| {
        let entries = copy_log(view, to, resume, progress)?;
        let copied = copy_blobs(from.blobs.as_ref(), to.blobs.as_ref(), &blobs, &mut || {
            progress(entries)
        })?;
        let (source, target) = (
            summarise_parts(view, &copied, &mut || unless_stopped(progress(entries)))?,
            summarise_parts(to.log.as_ref(), &to.blobs.list()?, &mut || {
                unless_stopped(progress(entries))
            })?,
        );
        if source != target {
            return Err(StoreError::CopyMismatch {
                target: to.location.to_string(),
                source_summary: source.to_string(),
                target_summary: target.to_string(),
            });
        }
        summary = Some(target);
        Ok(())
    })?;
    to.log.meta_delete(INCOMPLETE_KEY)?;
    if let Some(summary) = &summary {
        tracing::info!(target: "nerve_store::migrate", to = %to.location, %summary, "copy verified");
    }
    summary.ok_or_else(|| StoreError::invalid("snapshot", "the copy did not run"))
}

/// Whether a long step goes on: its caller's answer as a result.
fn unless_stopped(asked: ControlFlow<()>) -> StoreResult<()> {
    if asked.is_break() {
        Err(interrupted())
    } else {
        Ok(())
    }
}

fn interrupted() -> StoreError {
    StoreError::Interrupted {
        operation: "migrate",
    }
}

/// Copies the log of `from` (a snapshot) into `to`: entries with their thread rows, then
/// meta, then runs, a page per transaction; when resuming, from after the entry named, and
/// only the runs `to` does not hold. Returns the number of entries copied by this call.
fn copy_log(
    from: &dyn LogBackend,
    to: &Store,
    resume: Option<Option<LogId>>,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> StoreResult<u64> {
    let mut rows: Vec<ThreadIndexRow> = Vec::new();
    // An entry's thread rows went over in its transaction: they go on after it too.
    let mut after = resume.flatten();
    let mut rows_after = after;
    let mut rows_done = false;
    let mut copied = 0;
    loop {
        let entries = from.query(&LogQuery {
            after,
            limit: Some(PAGE),
            ..LogQuery::default()
        })?;
        let Some(last) = entries.last().map(|e| e.id) else {
            break;
        };
        // The thread rows of this page's entries: rows come in id order too.
        while !rows_done && rows.last().is_none_or(|row| row.log_id <= last) {
            let page = from.thread_index(rows_after, PAGE)?;
            rows_done = page.len() < PAGE;
            rows_after = page.last().map(|row| row.log_id).or(rows_after);
            rows.extend(page);
        }
        let split = rows.partition_point(|row| row.log_id <= last);
        let batch = ImportBatch {
            thread_rows: rows.drain(..split).collect(),
            entries,
            ..ImportBatch::default()
        };
        copied += batch.entries.len() as u64;
        to.log.import(batch)?;
        after = Some(last);
        tracing::debug!(target: "nerve_store::migrate", entries = copied, "copied a page");
        unless_stopped(progress(copied))?;
    }
    for_each_meta_page(from, |meta| {
        to.log.import(ImportBatch {
            meta,
            ..ImportBatch::default()
        })
    })?;
    // Runs after the entries, a page per transaction.
    for_each_run_page(from, |mut runs| {
        if resume.is_some() {
            let mut missing = Vec::with_capacity(runs.len());
            for run in runs {
                if to.log.get_run(&run.run_id)?.is_none() {
                    missing.push(run);
                }
            }
            runs = missing;
        }
        to.log.import(ImportBatch {
            runs,
            ..ImportBatch::default()
        })?;
        unless_stopped(progress(copied))
    })?;
    // References last, a page per transaction: a copy resumed adds them again, once.
    let mut after: Option<BlobReference> = None;
    loop {
        let references = from.blob_references(after.as_ref(), PAGE)?;
        let Some(last) = references.last() else { break };
        after = Some(last.clone());
        to.log.import(ImportBatch {
            references,
            ..ImportBatch::default()
        })?;
        unless_stopped(progress(copied))?;
    }
    Ok(copied)
}

/// Copies the blobs named `digests` that `from` still holds, asking `go_on` before each;
/// returns those it copied.
fn copy_blobs(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    digests: &[Digest],
    go_on: &mut dyn FnMut() -> ControlFlow<()>,
) -> StoreResult<Vec<Digest>> {
    let mut copied = Vec::with_capacity(digests.len());
    for digest in digests {
        unless_stopped(go_on())?;
        let Some(mut reader) = from.open(digest)? else {
            continue;
        };
        // A damaged source blob fails the read with its own error (`Corrupt`), carried
        // through the target's write as the I/O error's inner error.
        let written = to.write_from(&mut reader).map_err(|err| match &err {
            StoreError::Io { source, .. } => source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<StoreError>())
                .cloned()
                .unwrap_or(err),
            _ => err,
        })?;
        if written != *digest {
            return Err(StoreError::Corrupt { digest: *digest });
        }
        copied.push(*digest);
    }
    Ok(copied)
}
