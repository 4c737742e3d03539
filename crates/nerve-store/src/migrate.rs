//! Moving a whole store to another (the other backend, usually), ids kept, verified.

use serde::Serialize;
use store_core::{
    BlobStore, Digest, ImportBatch, LogQuery, LogStore, RunQuery, StoreError, StoreResult,
    ThreadIndexRow, WorkflowRun, kit::Hasher,
};

use crate::Store;

/// How many entries one import transaction carries.
const PAGE: usize = 10_000;

/// What a store holds, counted, and one digest of all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The sha256 of every entry, thread row, run and meta pair in a canonical form, and of
    /// every blob's digest: equal for two stores that hold the same content, whatever their
    /// backends.
    pub digest: Digest,
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
    let mut canonical = Canonical {
        hasher: Hasher::new(),
        line: Vec::new(),
    };
    let (mut entries, mut thread_rows) = (0, 0);
    let mut after = None;
    loop {
        let page = store.log.query(&LogQuery {
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
    }
    let mut after = None;
    loop {
        let page = store.log.thread_index(after, PAGE)?;
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
    }
    let mut runs = 0;
    for_each_run_page(store.log.as_ref(), |page| {
        for run in &page {
            canonical.add("run", run)?;
        }
        runs += page.len() as u64;
        Ok(())
    })?;
    let meta = store.log.meta_entries()?;
    for pair in &meta {
        canonical.add("meta", pair)?;
    }
    let blobs = store.blobs.list()?;
    for digest in &blobs {
        canonical.add("blob", digest)?;
    }
    Ok(ContentSummary {
        entries,
        thread_rows,
        runs,
        meta: meta.len() as u64,
        blobs: blobs.len() as u64,
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
        && store.log.meta_entries()?.is_empty()
        && store.blobs.list()?.is_empty())
}

/// Copies every log entry (ids kept), thread-index row, run, meta pair and blob of `from`
/// into `to`, which must be empty, then summarises both and fails unless they hold the same
/// content. `progress` hears the number of entries copied so far.
///
/// Entries go over in transactions of 10,000 with their thread rows, then runs in pages of
/// 10,000, so memory does not grow with the store; a failure part way leaves `to` with part
/// of `from` (remove it and start again).
///
/// # Errors
/// [`StoreError::InvalidInput`] when `to` is not empty, [`StoreError::CopyMismatch`] when
/// the copy does not match; the stores' errors.
pub fn migrate(
    from: &Store,
    to: &Store,
    progress: &mut dyn FnMut(u64),
) -> StoreResult<ContentSummary> {
    if !is_empty(to)? {
        return Err(StoreError::invalid(
            "target",
            format!(
                "{} is not empty: migrate only into a new store",
                to.location
            ),
        ));
    }
    let mut meta = from.log.meta_entries()?;
    let mut rows: Vec<ThreadIndexRow> = Vec::new();
    let mut rows_after = None;
    let mut rows_done = false;
    let mut after = None;
    let mut copied = 0;
    loop {
        let entries = from.log.query(&LogQuery {
            after,
            limit: Some(PAGE),
            ..LogQuery::default()
        })?;
        let Some(last) = entries.last().map(|e| e.id) else {
            break;
        };
        // The thread rows of this page's entries: rows come in id order too.
        while !rows_done && rows.last().is_none_or(|row| row.log_id <= last) {
            let page = from.log.thread_index(rows_after, PAGE)?;
            rows_done = page.len() < PAGE;
            rows_after = page.last().map(|row| row.log_id).or(rows_after);
            rows.extend(page);
        }
        let split = rows.partition_point(|row| row.log_id <= last);
        let batch = ImportBatch {
            thread_rows: rows.drain(..split).collect(),
            entries,
            meta: std::mem::take(&mut meta),
            ..ImportBatch::default()
        };
        copied += batch.entries.len() as u64;
        to.log.import(batch)?;
        after = Some(last);
        progress(copied);
    }
    if !meta.is_empty() {
        to.log.import(ImportBatch {
            meta,
            ..ImportBatch::default()
        })?;
    }
    // Runs after the entries, a page per transaction.
    for_each_run_page(from.log.as_ref(), |runs| {
        to.log.import(ImportBatch {
            runs,
            ..ImportBatch::default()
        })
    })?;
    copy_blobs(from.blobs.as_ref(), to.blobs.as_ref())?;
    let (source, target) = (summarise(from)?, summarise(to)?);
    if source != target {
        return Err(StoreError::CopyMismatch {
            target: to.location.to_string(),
            source_summary: format!("{source:?}"),
            target_summary: format!("{target:?}"),
        });
    }
    Ok(target)
}

fn copy_blobs(from: &dyn BlobStore, to: &dyn BlobStore) -> StoreResult<()> {
    for digest in from.list()? {
        let Some(mut reader) = from.open(&digest)? else {
            continue;
        };
        let written = to.write_from(&mut reader).map_err(|err| match err {
            StoreError::Io { source, .. } => StoreError::from_blob_read(source, &digest.to_hex()),
            other => other,
        })?;
        if written != digest {
            return Err(StoreError::Corrupt { digest });
        }
    }
    Ok(())
}
