//! The schema of a redb store: its tables and the encoding of their rows. Creating,
//! checking and upgrading it when a file is opened is `upgrade`'s.
//!
//! Main tables hold postcard-encoded rows; every secondary index is a table whose key ends
//! in what the query orders by (the log id, or a run's creation time and id), with an
//! empty value unless noted, so a query is a range walk in order: O(log n + k).

use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use store_core::{
    LogEntry, LogId, StoreError, StoreResult, WorkflowRun, WorkflowRunStatus, kit::time_from_millis,
};

use crate::checksum::{checked, chunk_key, id_key, with_checksum};

/// id → [`LogRow`].
pub const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
/// (ref_id, id) → the entry's [`LogRow`] again, or nothing when the row is over
/// [`ROW_COPY_LIMIT`]: a query by reference reads its entries where it finds them, from a few
/// neighbouring pages, instead of one page of [`LOGS`] per entry (schema version 3).
pub const LOGS_BY_REF: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("log_rows_by_ref");
/// (source, kind, id) → the entry's [`LogRow`] again, as [`LOGS_BY_REF`].
pub const LOGS_BY_SOURCE_KIND: TableDefinition<(&str, &str, u64), &[u8]> =
    TableDefinition::new("log_rows_by_source_kind");
/// Rows over this many bytes are not copied into [`LOGS_BY_REF`] and [`LOGS_BY_SOURCE_KIND`]:
/// their index value is empty (no row encodes to nothing), and the row is read from [`LOGS`].
/// A copy costs as much as the row; past a page or so it saves no page read.
pub const ROW_COPY_LIMIT: usize = 2048;
/// The index by reference of schema versions 1 and 2: (ref_id, id) only.
pub const KEYS_BY_REF: TableDefinition<(&str, u64), ()> = TableDefinition::new("logs_by_ref");
/// The index by (source, kind) of schema versions 1 and 2: keys only.
pub const KEYS_BY_SOURCE_KIND: TableDefinition<(&str, &str, u64), ()> =
    TableDefinition::new("logs_by_source_kind");

/// The value an index by reference or by (source, kind) keeps for `row` (its encoded bytes).
pub fn row_copy(row: &[u8]) -> &[u8] {
    if row.len() <= ROW_COPY_LIMIT {
        row
    } else {
        &[]
    }
}
/// (UTC day number, id): a day's entries in id order.
pub const LOGS_BY_DAY: TableDefinition<(i64, u64), ()> = TableDefinition::new("logs_by_day");
/// (ts in ms, id) of the entries that were not late, up to schema version 6: deleted by the
/// upgrade to version 7, which finds them by [`TIME_MARKS`] instead.
pub const LOGS_BY_TS: TableDefinition<(i64, u64), ()> = TableDefinition::new("logs_by_ts");

/// time mark (a second of the log's time) → the id of the first entry appended at or past it
/// ([`store_core::kit::TimeOrder`]; schema version 7): what a query by time finds the range
/// of ids of its in-order entries by. At most one row a second of the log's time.
pub const TIME_MARKS: TableDefinition<i64, u64> = TableDefinition::new("time_marks");

/// (id, chunk number) → up to [`PAYLOAD_CHUNK`] bytes of the payload of entry `id`, for a
/// payload over [`BIG_PAYLOAD`] (its row in [`LOGS`] holds an empty payload then). Kept apart
/// so that no value of the log is larger than a chunk: redb holds a whole value in memory
/// more than once while it writes it.
pub const LOG_PAYLOAD_CHUNKS: TableDefinition<(u64, u32), &[u8]> =
    TableDefinition::new("log_payload_chunks");

/// Payloads over this many bytes are stored in [`LOG_PAYLOAD_CHUNKS`].
pub const BIG_PAYLOAD: usize = 1024 * 1024;

/// The size of a chunk of a big payload.
pub const PAYLOAD_CHUNK: usize = 256 * 1024;

/// How many chunks the largest accepted payload takes.
pub const MAX_PAYLOAD_CHUNKS: usize = store_core::MAX_PAYLOAD_BYTES.div_ceil(PAYLOAD_CHUNK);

/// run_id → [`RunRow`].
pub const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
/// (created_at, run_id).
pub const RUNS_BY_CREATED: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("runs_by_created");
/// (status, created_at, run_id).
pub const RUNS_BY_STATUS: RunIndex = TableDefinition::new("runs_by_status");
/// (workflow, created_at, run_id).
pub const RUNS_BY_WORKFLOW: RunIndex = TableDefinition::new("runs_by_workflow");
/// (thread_id, created_at, run_id), for runs with a thread.
pub const RUNS_BY_THREAD: RunIndex = TableDefinition::new("runs_by_thread");
/// The shape of the three run indexes above: (a run field, created_at, run_id).
pub type RunIndex = TableDefinition<'static, (&'static str, i64, &'static str), ()>;

/// log id → [`ThreadRow`], for the entries that hold thread messages.
pub const THREAD_MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("thread_messages");
/// (thread_id, log id).
pub const THREADS_BY_ID: TableDefinition<(&str, u64), ()> = TableDefinition::new("threads_by_id");
/// (thread_id, round, log id) → role.
pub const THREADS_BY_ROUND: TableDefinition<(&str, u32, u64), &str> =
    TableDefinition::new("threads_by_round");
/// (thread_id, role, round, log id).
pub const THREADS_BY_ROLE: TableDefinition<(&str, &str, u32, u64), ()> =
    TableDefinition::new("threads_by_role");

/// digest (32 bytes) → (blob id, size in bytes).
pub const BLOBS: TableDefinition<&[u8], (u64, u64)> = TableDefinition::new("blobs");
/// (blob id, chunk number) → up to 256 KiB of the blob's content.
pub const BLOB_CHUNKS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("blob_chunks");

/// key → value, the store's `meta`: the value's UTF-8 bytes and their checksum.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The meta table of schema versions 1 to 3: values without a checksum.
pub const META_WITHOUT_CHECKSUMS: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// The store's own bookkeeping: [`SCHEMA_VERSION_KEY`], [`NEXT_LOG_ID_KEY`].
pub const STORE_INFO: TableDefinition<&str, u64> = TableDefinition::new("nerve_store");

/// Under [`STORE_INFO`]: the id the next blob write stages its chunks under.
pub const NEXT_BLOB_ID_KEY: &str = "next_blob_id";
/// Under [`STORE_INFO`]: the schema version the file was written with.
pub const SCHEMA_VERSION_KEY: &str = "schema_version";
/// Under [`STORE_INFO`]: the id the next appended entry gets. Kept apart from the log so
/// that deleting the newest entries never lets their ids come back.
pub const NEXT_LOG_ID_KEY: &str = "next_log_id";

/// (ts, id) of the entries that are late: written with a `ts` more than
/// [`store_core::kit::LATE_AFTER_MILLIS`] below that of an entry written before them (an
/// explicit time in the past, a clock step), or restored below the log's end. Before
/// version 7, any `ts` below one written before; [`LOGS_BY_TS`] held
/// the others, which therefore come in `ts` order in id order (schema version 2).
pub const LOGS_LATE_BY_TS: TableDefinition<(i64, u64), ()> =
    TableDefinition::new("logs_late_by_ts");

/// Under [`STORE_INFO`]: the highest `ts` ever written, as [`encode_ts`] makes it: what a new
/// entry must reach not to be late.
pub const MAX_TS_KEY: &str = "max_ts";

/// A `ts` as a `u64` of the same order, for [`STORE_INFO`].
pub fn encode_ts(ts: i64) -> u64 {
    (ts as u64) ^ (1 << 63)
}

/// The `ts` [`encode_ts`] made `value` of.
pub fn decode_ts(value: u64) -> i64 {
    (value ^ (1 << 63)) as i64
}

/// status → how many runs have it, kept by every write of a run, so that counting the runs
/// of each status reads a few rows instead of the status index (schema version 2).
pub const RUN_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("run_counts");

/// The schema this build creates and understands. Versions 1 (without [`RUN_COUNTS`]), 2
/// (indexes of keys only, [`KEYS_BY_REF`] and [`KEYS_BY_SOURCE_KIND`]), 3 (values without
/// checksums), 4 (without blob references and write times), 5 (without [`ACTIVITY`]) and 6
/// (with [`LOGS_BY_TS`] instead of [`TIME_MARKS`]) are migrated when opened; an older build
/// refuses a file of version 7, whose time marks it would not keep.
pub const SCHEMA_VERSION: u64 = 7;

/// (hour number, series name) → how many entries of the series the hour holds
/// ([`store_core::kit::ActivityTally`]; schema version 6). A row that reaches zero is
/// removed.
pub const ACTIVITY: TableDefinition<(i64, &str), i64> = TableDefinition::new("activity");

/// digest (32 bytes) → when the blob was last written, in milliseconds since the epoch
/// (schema version 5): what garbage collection ages it by. A blob without a row was
/// written before version 5, and is never collected.
pub const BLOB_TIMES: TableDefinition<&[u8], i64> = TableDefinition::new("blob_times");

/// A log entry as stored under its id.
#[derive(Serialize, Deserialize)]
pub struct LogRow<'a> {
    /// The entry's `source`.
    pub source: &'a str,
    /// The entry's `kind`.
    pub kind: &'a str,
    /// The entry's `ref_id`.
    pub ref_id: Option<&'a str>,
    /// The payload, or empty when it is big (then in [`LOG_PAYLOAD_CHUNKS`]).
    pub payload: &'a str,
    /// Milliseconds since 1970, UTC.
    pub ts: i64,
}

impl<'a> LogRow<'a> {
    /// The row of `entry`: its payload inline, or empty when it is big (stored in chunks).
    pub fn of(entry: &'a LogEntry) -> Self {
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

    /// The value stored under `id` for this row (in [`LOGS`], and copied into the indexes
    /// that keep copies): its encoding and checksum.
    pub fn encode(&self, id: u64) -> StoreResult<Vec<u8>> {
        Ok(with_checksum(
            "logs",
            &id_key(id),
            encode("logs", &id, self)?,
        ))
    }

    /// The row stored under `id` (or a copy of it), its checksum checked; otherwise
    /// [`StoreError::CorruptValue`] naming it.
    pub fn decode(id: u64, value: &'a [u8]) -> StoreResult<Self> {
        Self::decode_body(id, checked("logs", &id_key(id), &id, value)?)
    }

    /// The row from its encoding alone, without a checksum (schema versions 1 to 3).
    pub fn decode_body(id: u64, body: &'a [u8]) -> StoreResult<Self> {
        postcard::from_bytes(body).map_err(|err| StoreError::corrupt("logs", id, err.to_string()))
    }

    /// The entry this row of `id` holds (its payload inline).
    pub fn into_entry(self, id: u64) -> StoreResult<LogEntry> {
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
pub struct RunRow<'a> {
    /// The run's workflow.
    pub workflow: &'a str,
    /// The run's thread.
    pub thread_id: Option<&'a str>,
    /// Its status, as [`WorkflowRunStatus::as_str`] spells it.
    pub status: &'a str,
    /// How many times it started.
    pub attempt: u32,
    /// Milliseconds since 1970 of its first transition.
    pub created_at: i64,
    /// Milliseconds since 1970 of its last transition.
    pub updated_at: i64,
    /// Milliseconds since 1970 of its first start.
    pub started_at: Option<i64>,
    /// Milliseconds since 1970 of its final status.
    pub finished_at: Option<i64>,
    /// The detail of its last transition.
    pub detail: Option<&'a str>,
}

impl<'a> RunRow<'a> {
    /// The row of `run`.
    pub fn of(run: &'a WorkflowRun) -> Self {
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

    /// The value stored under the run's id: its encoding and checksum.
    pub fn encode(&self, run_id: &str) -> StoreResult<Vec<u8>> {
        let body = encode("runs", &run_id, self)?;
        Ok(with_checksum("runs", run_id.as_bytes(), body))
    }

    /// The run stored under `run_id`, its checksum checked; otherwise
    /// [`StoreError::CorruptValue`] naming it.
    pub fn decode_run(run_id: &str, value: &[u8]) -> StoreResult<WorkflowRun> {
        Self::run_from_body(run_id, checked("runs", run_id.as_bytes(), &run_id, value)?)
    }

    /// The run from its encoding alone, without a checksum.
    pub fn run_from_body(run_id: &str, bytes: &[u8]) -> StoreResult<WorkflowRun> {
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
pub struct ThreadRow<'a> {
    /// The thread.
    pub thread_id: &'a str,
    /// The round within the thread.
    pub round: u32,
    /// Who wrote the message.
    pub role: &'a str,
}

impl<'a> ThreadRow<'a> {
    /// The value stored under `id` for this row: its encoding and checksum.
    pub fn encode(&self, id: u64) -> StoreResult<Vec<u8>> {
        let body = encode("thread_messages", &id, self)?;
        Ok(with_checksum("thread_messages", &id_key(id), body))
    }

    /// The row stored under `id`, its checksum checked; otherwise
    /// [`StoreError::CorruptValue`] naming it.
    pub fn decode(id: u64, value: &'a [u8]) -> StoreResult<Self> {
        let bytes = checked("thread_messages", &id_key(id), &id, value)?;
        postcard::from_bytes(bytes)
            .map_err(|err| StoreError::corrupt("thread_messages", id, err.to_string()))
    }
}

/// The value [`LOG_PAYLOAD_CHUNKS`] holds for chunk `seq` of entry `id`'s payload.
pub fn chunk_value(id: u64, seq: u32, chunk: &[u8]) -> Vec<u8> {
    with_checksum("log_payload_chunks", &chunk_key(id, seq), chunk.to_vec())
}

/// The bytes of chunk `seq` of entry `id`'s payload, their checksum checked.
pub fn chunk_bytes(id: u64, seq: u32, value: &[u8]) -> StoreResult<&[u8]> {
    checked("log_payload_chunks", &chunk_key(id, seq), &id, value)
}

/// The value [`META`] holds for `value` under `key`.
pub fn meta_value(key: &str, value: &str) -> Vec<u8> {
    with_checksum("meta", key.as_bytes(), value.as_bytes().to_vec())
}

/// The meta value stored under `key`, its checksum checked.
pub fn meta_text(key: &str, value: &[u8]) -> StoreResult<String> {
    let bytes = checked("meta", key.as_bytes(), &key, value)?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| StoreError::corrupt("meta", key, "the value is not UTF-8"))
}

/// Encodes a row; postcard into a `Vec` fails only on a serializer bug, reported as such.
pub fn encode<T: Serialize>(
    table: &'static str,
    key: &dyn std::fmt::Display,
    row: &T,
) -> StoreResult<Vec<u8>> {
    postcard::to_allocvec(row)
        .map_err(|err| StoreError::corrupt(table, key, format!("encoding: {err}")))
}
