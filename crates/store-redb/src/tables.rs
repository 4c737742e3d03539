//! The tables of a redb store and the encoding of their rows.
//!
//! Main tables hold postcard-encoded rows; every secondary index is a table whose key ends
//! in what the query orders by (the log id, or a run's creation time and id), with an
//! empty value unless noted, so a query is a range walk in order: O(log n + k).

use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use store_core::{
    LogEntry, LogId, StoreError, StoreResult, WorkflowRun, WorkflowRunStatus, kit::time_from_millis,
};

/// id → [`LogRow`].
pub(crate) const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
/// (ref_id, id).
pub(crate) const LOGS_BY_REF: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("logs_by_ref");
/// (source, kind, id).
pub(crate) const LOGS_BY_SOURCE_KIND: TableDefinition<(&str, &str, u64), ()> =
    TableDefinition::new("logs_by_source_kind");
/// (UTC day number, id): a day's entries in id order.
pub(crate) const LOGS_BY_DAY: TableDefinition<(i64, u64), ()> = TableDefinition::new("logs_by_day");
/// (ts in ms, id).
pub(crate) const LOGS_BY_TS: TableDefinition<(i64, u64), ()> = TableDefinition::new("logs_by_ts");

/// (id, chunk number) → up to [`PAYLOAD_CHUNK`] bytes of the payload of entry `id`, for a
/// payload over [`BIG_PAYLOAD`] (its row in [`LOGS`] holds an empty payload then). Kept apart
/// so that no value of the log is larger than a chunk: redb holds a whole value in memory
/// more than once while it writes it.
pub(crate) const LOG_PAYLOAD_CHUNKS: TableDefinition<(u64, u32), &[u8]> =
    TableDefinition::new("log_payload_chunks");

/// Payloads over this many bytes are stored in [`LOG_PAYLOAD_CHUNKS`].
pub(crate) const BIG_PAYLOAD: usize = 1024 * 1024;

/// The size of a chunk of a big payload.
pub(crate) const PAYLOAD_CHUNK: usize = 256 * 1024;

/// How many chunks the largest accepted payload takes.
pub(crate) const MAX_PAYLOAD_CHUNKS: usize = store_core::MAX_PAYLOAD_BYTES.div_ceil(PAYLOAD_CHUNK);

/// run_id → [`RunRow`].
pub(crate) const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
/// (created_at, run_id).
pub(crate) const RUNS_BY_CREATED: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("runs_by_created");
/// (status, created_at, run_id); (workflow, ...); (thread_id, ...) for runs with a thread.
pub(crate) const RUNS_BY_STATUS: RunIndex = TableDefinition::new("runs_by_status");
pub(crate) const RUNS_BY_WORKFLOW: RunIndex = TableDefinition::new("runs_by_workflow");
pub(crate) const RUNS_BY_THREAD: RunIndex = TableDefinition::new("runs_by_thread");
/// The shape of the three run indexes above: (a run field, created_at, run_id).
pub(crate) type RunIndex = TableDefinition<'static, (&'static str, i64, &'static str), ()>;

/// log id → [`ThreadRow`], for the entries that hold thread messages.
pub(crate) const THREAD_MESSAGES: TableDefinition<u64, &[u8]> =
    TableDefinition::new("thread_messages");
/// (thread_id, log id).
pub(crate) const THREADS_BY_ID: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("threads_by_id");
/// (thread_id, round, log id) → role.
pub(crate) const THREADS_BY_ROUND: TableDefinition<(&str, u32, u64), &str> =
    TableDefinition::new("threads_by_round");
/// (thread_id, role, round, log id).
pub(crate) const THREADS_BY_ROLE: TableDefinition<(&str, &str, u32, u64), ()> =
    TableDefinition::new("threads_by_role");

/// digest (32 bytes) → (blob id, size in bytes).
pub(crate) const BLOBS: TableDefinition<&[u8], (u64, u64)> = TableDefinition::new("blobs");
/// (blob id, chunk number) → up to 256 KiB of the blob's content.
pub(crate) const BLOB_CHUNKS: TableDefinition<(u64, u32), &[u8]> =
    TableDefinition::new("blob_chunks");

/// key → value, the store's `meta`.
pub(crate) const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// The store's own bookkeeping: [`SCHEMA_VERSION_KEY`], [`NEXT_LOG_ID_KEY`].
pub(crate) const STORE_INFO: TableDefinition<&str, u64> = TableDefinition::new("nerve_store");

/// Under [`STORE_INFO`]: the id the next blob write stages its chunks under.
pub(crate) const NEXT_BLOB_ID_KEY: &str = "next_blob_id";
/// Under [`STORE_INFO`]: the schema version the file was written with.
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";
/// Under [`STORE_INFO`]: the id the next appended entry gets. Kept apart from the log so
/// that deleting the newest entries never lets their ids come back.
pub(crate) const NEXT_LOG_ID_KEY: &str = "next_log_id";

/// The schema this build creates and understands.
pub(crate) const SCHEMA_VERSION: u64 = 1;

/// A log entry as stored under its id.
#[derive(Serialize, Deserialize)]
pub(crate) struct LogRow<'a> {
    pub(crate) source: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) ref_id: Option<&'a str>,
    pub(crate) payload: &'a str,
    pub(crate) ts: i64,
}

impl<'a> LogRow<'a> {
    /// The row of `entry`: its payload inline, or empty when it is big (stored in chunks).
    pub(crate) fn of(entry: &'a LogEntry) -> Self {
        LogRow {
            source: &entry.source,
            kind: &entry.kind,
            ref_id: entry.ref_id.as_deref(),
            payload: if entry.payload.len() > BIG_PAYLOAD {
                ""
            } else {
                &entry.payload
            },
            ts: entry.ts.timestamp_millis(),
        }
    }

    pub(crate) fn decode(id: u64, bytes: &'a [u8]) -> StoreResult<Self> {
        postcard::from_bytes(bytes).map_err(|err| StoreError::corrupt("logs", id, err.to_string()))
    }

    pub(crate) fn into_entry(self, id: u64) -> StoreResult<LogEntry> {
        Ok(LogEntry {
            id: LogId(id),
            source: self.source.to_owned(),
            kind: self.kind.to_owned(),
            ref_id: self.ref_id.map(str::to_owned),
            payload: self.payload.to_owned(),
            ts: time_from_millis(self.ts, "logs", &id)?,
        })
    }
}

/// A workflow run as stored under its id.
#[derive(Serialize, Deserialize)]
pub(crate) struct RunRow<'a> {
    pub(crate) workflow: &'a str,
    pub(crate) thread_id: Option<&'a str>,
    pub(crate) status: &'a str,
    pub(crate) attempt: u32,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
    pub(crate) detail: Option<&'a str>,
}

impl<'a> RunRow<'a> {
    pub(crate) fn of(run: &'a WorkflowRun) -> Self {
        RunRow {
            workflow: &run.workflow,
            thread_id: run.thread_id.as_deref(),
            status: run.status.as_str(),
            attempt: run.attempt,
            created_at: run.created_at.timestamp_millis(),
            updated_at: run.updated_at.timestamp_millis(),
            started_at: run.started_at.map(|t| t.timestamp_millis()),
            finished_at: run.finished_at.map(|t| t.timestamp_millis()),
            detail: run.detail.as_deref(),
        }
    }

    pub(crate) fn decode_run(run_id: &str, bytes: &[u8]) -> StoreResult<WorkflowRun> {
        let row: RunRow<'_> = postcard::from_bytes(bytes)
            .map_err(|err| StoreError::corrupt("runs", run_id, err.to_string()))?;
        let status = row.status.parse::<WorkflowRunStatus>().map_err(|_| {
            StoreError::corrupt("runs", run_id, format!("unknown status {:?}", row.status))
        })?;
        let optional = |millis: Option<i64>| {
            millis
                .map(|m| time_from_millis(m, "runs", &run_id))
                .transpose()
        };
        Ok(WorkflowRun {
            run_id: run_id.to_owned(),
            workflow: row.workflow.to_owned(),
            thread_id: row.thread_id.map(str::to_owned),
            status,
            attempt: row.attempt,
            created_at: time_from_millis(row.created_at, "runs", &run_id)?,
            updated_at: time_from_millis(row.updated_at, "runs", &run_id)?,
            started_at: optional(row.started_at)?,
            finished_at: optional(row.finished_at)?,
            detail: row.detail.map(str::to_owned),
        })
    }
}

/// Where a thread message sits: stored under the id of the entry that holds it.
#[derive(Serialize, Deserialize)]
pub(crate) struct ThreadRow<'a> {
    pub(crate) thread_id: &'a str,
    pub(crate) round: u32,
    pub(crate) role: &'a str,
}

impl<'a> ThreadRow<'a> {
    pub(crate) fn decode(id: u64, bytes: &'a [u8]) -> StoreResult<Self> {
        postcard::from_bytes(bytes)
            .map_err(|err| StoreError::corrupt("thread_messages", id, err.to_string()))
    }
}

/// Encodes a row; postcard into a `Vec` fails only on a serializer bug, reported as such.
pub(crate) fn encode<T: Serialize>(
    table: &'static str,
    key: &dyn std::fmt::Display,
    row: &T,
) -> StoreResult<Vec<u8>> {
    postcard::to_allocvec(row)
        .map_err(|err| StoreError::corrupt(table, key, format!("encoding: {err}")))
}
