//! Moving a store's content to another store, ids kept: what `migrate` is made of.

use crate::error::{StoreError, StoreResult};
use crate::id::LogId;
use crate::log::LogEntry;
use crate::references::{BlobHolder, BlobReference};
use crate::run::WorkflowRun;

/// Where a thread message sits: the thread, round and role of the log entry that holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ThreadIndexRow {
    /// The entry that holds the message.
    pub log_id: LogId,
    /// Its thread.
    pub thread_id: String,
    /// Its round.
    pub round: u32,
    /// Who said it.
    pub role: String,
}

/// Content copied from another store, for [`crate::LogTransfer::import`]: entries with their
/// ids, the thread-index rows of those entries, runs as they are, meta pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportBatch {
    /// Entries in increasing id order, every id above any the target has given out.
    pub entries: Vec<LogEntry>,
    /// Thread-index rows, each for an entry of `entries`.
    pub thread_rows: Vec<ThreadIndexRow>,
    /// Runs the target does not have yet.
    pub runs: Vec<WorkflowRun>,
    /// Meta pairs, written over any the target has.
    pub meta: Vec<(String, String)>,
    /// Blob references, added to what the target records (a copy carries every one).
    pub references: Vec<BlobReference>,
}

impl ImportBatch {
    /// Checks what can be checked without the target: entries valid, with ids and times a
    /// store keeps ([`crate::MAX_LOG_ID`], [`crate::kit::check_ts`]), in increasing id order, above
    /// `highest_given` (the target's highest id ever given out, 0 if none);
    /// thread rows naming entries of the batch; runs and meta keys well formed. Backends
    /// call it inside their write transaction, with the target's counter.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming the first thing at fault.
    pub fn check(&self, highest_given: u64) -> StoreResult<()> {
        check_entries(&self.entries, &self.thread_rows, highest_given)?;
        for run in &self.runs {
            if run.run_id.is_empty() || run.workflow.is_empty() {
                return Err(StoreError::invalid(
                    "runs",
                    "a run has an empty id or workflow",
                ));
            }
            if let Some(detail) = &run.detail {
                crate::limits::check_size("runs", detail, crate::MAX_DETAIL_BYTES)?;
            }
            for ts in [run.created_at, run.updated_at]
                .into_iter()
                .chain(run.started_at)
                .chain(run.finished_at)
            {
                crate::time::check_ts("runs", ts)?;
            }
        }
        for (key, _) in &self.meta {
            crate::limits::check_meta_key(key)?;
        }
        Ok(())
    }

    /// The highest id of the batch, if it has entries.
    pub fn last_id(&self) -> Option<LogId> {
        self.entries.last().map(|e| e.id)
    }
}

/// Entries valid, with ids and times a store keeps, in increasing id order above
/// `highest_given`; thread rows naming entries of `entries`, well formed.
fn check_entries(
    entries: &[LogEntry],
    thread_rows: &[ThreadIndexRow],
    highest_given: u64,
) -> StoreResult<()> {
    let mut previous = highest_given;
    for entry in entries {
        if entry.id.0 <= previous {
            let why = if previous == highest_given {
                "imported ids must increase past every id the store has given out"
            } else {
                "ids must increase"
            };
            return Err(StoreError::invalid(
                "entries",
                format!("id {} does not come after {previous}: {why}", entry.id),
            ));
        }
        crate::log::check_log_id("entries", entry.id)?;
        crate::time::check_ts("entries", entry.ts)?;
        crate::limits::check_size("entries", &entry.payload, crate::MAX_PAYLOAD_BYTES)?;
        if entry.source.is_empty() || entry.kind.is_empty() {
            return Err(StoreError::invalid(
                "entries",
                format!("entry {} has an empty source or kind", entry.id),
            ));
        }
        previous = entry.id.0;
    }
    for row in thread_rows {
        if entries.binary_search_by_key(&row.log_id, |e| e.id).is_err() {
            return Err(StoreError::invalid(
                "thread_rows",
                format!(
                    "the row of entry {} names no entry of the batch",
                    row.log_id
                ),
            ));
        }
        if row.thread_id.is_empty() || row.role.is_empty() {
            return Err(StoreError::invalid(
                "thread_rows",
                format!(
                    "the row of entry {} has an empty thread or role",
                    row.log_id
                ),
            ));
        }
    }
    Ok(())
}

/// The error for a run that the target already has.
pub fn existing_run(run_id: &str) -> StoreError {
    StoreError::invalid(
        "runs",
        format!("run {run_id:?} exists in the target; import only into an empty store"),
    )
}

/// Entries brought back into a store from its archive, for [`crate::LogTransfer::restore`]:
/// each with the id it had, with the thread-index rows of those that were thread messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreBatch {
    /// Entries in increasing id order.
    pub entries: Vec<LogEntry>,
    /// Thread-index rows, each for an entry of `entries`.
    pub thread_rows: Vec<ThreadIndexRow>,
    /// The blobs entries of `entries` reference, each held by its entry.
    pub references: Vec<BlobReference>,
}

impl RestoreBatch {
    /// Checks what can be checked without the target: entries valid, with ids and times a
    /// store keeps, in increasing id order; thread rows naming entries of the batch, well
    /// formed. Backends call it before their write transaction.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming the first thing at fault.
    pub fn check(&self) -> StoreResult<()> {
        check_entries(&self.entries, &self.thread_rows, 0)?;
        for reference in &self.references {
            let named = match reference.holder {
                BlobHolder::Entry(id) => self.entries.binary_search_by_key(&id, |e| e.id).is_ok(),
                _ => false,
            };
            if !named {
                return Err(StoreError::invalid(
                    "references",
                    format!(
                        "the reference of {} to blob {} names no entry of the batch",
                        reference.holder, reference.digest
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The blobs the batch's entry `entry` references, in digest order.
    pub fn blobs_of(&self, entry: LogId) -> Vec<crate::Digest> {
        let mut blobs: Vec<crate::Digest> = self
            .references
            .iter()
            .filter(|reference| reference.holder == BlobHolder::Entry(entry))
            .map(|reference| reference.digest)
            .collect();
        blobs.sort_unstable();
        blobs.dedup();
        blobs
    }

    /// The thread-index row of `entry`, if the batch has one.
    pub fn thread_row(&self, entry: LogId) -> Option<&ThreadIndexRow> {
        self.thread_rows.iter().find(|row| row.log_id == entry)
    }
}

/// What [`crate::LogTransfer::restore`] did with a batch. Serialises with camelCase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restored {
    /// Entries written back under their ids.
    pub written: u64,
    /// Entries the store held already, the same in every field: restored before, or never
    /// deleted (an archive run killed before its deletion). Nothing was written for them.
    pub present: u64,
}

/// The error for a restored entry whose id the store holds with other content.
pub fn restore_conflict(id: LogId) -> StoreError {
    StoreError::invalid(
        "entries",
        format!(
            "entry {id} is in the store with other content: the archive is not this store's, \
             or one of them was changed"
        ),
    )
}
