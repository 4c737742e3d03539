//! Rows to values and back. A column that does not decode (wrong type, invalid UTF-8, an
//! out-of-range time) is a [`StoreError::CorruptValue`] naming the table and key.

use chrono::{DateTime, Utc};
use rusqlite::{Row, Rows};
use store_core::{
    LogEntry, LogId, StoreError, StoreResult, ThreadRoundRow, WorkflowRun, WorkflowRunStatus,
    time_from_millis,
};

use crate::schema::engine_error;

/// The columns [`log_entry`] reads, in order.
pub(crate) const LOG_COLUMNS: &str = "id, source, kind, ref_id, payload, ts";

/// The columns [`workflow_run`] reads, in order.
pub(crate) const RUN_COLUMNS: &str = "run_id, workflow, thread_id, status, attempt, created_at, \
     updated_at, started_at, finished_at, detail";

/// The columns [`thread_row`] reads, in order, over `thread_messages t JOIN logs l`.
pub(crate) const THREAD_ROW_COLUMNS: &str = "t.log_id, t.round, t.role, l.ts, l.payload";

pub(crate) fn to_millis(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_millis()
}

/// The SQL value of an id. Ids come from SQLite's `INTEGER PRIMARY KEY`, so they fit; one
/// that does not (past `i64::MAX`) matches nothing and is clamped.
pub(crate) fn id_to_sql(id: LogId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

/// The SQL value of a limit (`usize::MAX` means everything).
pub(crate) fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn column<T: rusqlite::types::FromSql>(
    row: &Row<'_>,
    index: usize,
    table: &'static str,
    key: &dyn std::fmt::Display,
) -> StoreResult<T> {
    row.get(index).map_err(|err| {
        let name = row.as_ref().column_name(index).unwrap_or("?");
        StoreError::corrupt(table, key, format!("column {name}: {err}"))
    })
}

fn log_id(raw: i64, table: &'static str, key: &dyn std::fmt::Display) -> StoreResult<LogId> {
    u64::try_from(raw)
        .map(LogId)
        .map_err(|_| StoreError::corrupt(table, key, format!("negative log id {raw}")))
}

fn round(raw: i64, table: &'static str, key: &dyn std::fmt::Display) -> StoreResult<u32> {
    u32::try_from(raw)
        .map_err(|_| StoreError::corrupt(table, key, format!("round {raw} is out of range")))
}

/// A `logs` row, selected as [`LOG_COLUMNS`].
pub(crate) fn log_entry(row: &Row<'_>) -> StoreResult<LogEntry> {
    let raw_id: i64 = column(row, 0, "logs", &"?")?;
    let key = &raw_id;
    Ok(LogEntry {
        id: log_id(raw_id, "logs", key)?,
        source: column(row, 1, "logs", key)?,
        kind: column(row, 2, "logs", key)?,
        ref_id: column(row, 3, "logs", key)?,
        payload: column(row, 4, "logs", key)?,
        ts: time_from_millis(column(row, 5, "logs", key)?, "logs", key)?,
    })
}

/// A `runs` row, selected as [`RUN_COLUMNS`].
pub(crate) fn workflow_run(row: &Row<'_>) -> StoreResult<WorkflowRun> {
    let run_id: String = column(row, 0, "runs", &"?")?;
    let key = &run_id.clone();
    let status: String = column(row, 3, "runs", key)?;
    let status = status
        .parse::<WorkflowRunStatus>()
        .map_err(|_| StoreError::corrupt("runs", key, format!("unknown status {status:?}")))?;
    let attempt: i64 = column(row, 4, "runs", key)?;
    let optional_time = |index| -> StoreResult<Option<DateTime<Utc>>> {
        column::<Option<i64>>(row, index, "runs", key)?
            .map(|millis| time_from_millis(millis, "runs", key))
            .transpose()
    };
    Ok(WorkflowRun {
        run_id,
        workflow: column(row, 1, "runs", key)?,
        thread_id: column(row, 2, "runs", key)?,
        status,
        attempt: u32::try_from(attempt).map_err(|_| {
            StoreError::corrupt("runs", key, format!("attempt {attempt} is out of range"))
        })?,
        created_at: time_from_millis(column(row, 5, "runs", key)?, "runs", key)?,
        updated_at: time_from_millis(column(row, 6, "runs", key)?, "runs", key)?,
        started_at: optional_time(7)?,
        finished_at: optional_time(8)?,
        detail: column(row, 9, "runs", key)?,
    })
}

/// A thread message, selected as [`THREAD_ROW_COLUMNS`].
pub(crate) fn thread_row(row: &Row<'_>) -> StoreResult<ThreadRoundRow> {
    let raw_id: i64 = column(row, 0, "thread_messages", &"?")?;
    let key = &raw_id;
    Ok(ThreadRoundRow {
        log_id: log_id(raw_id, "thread_messages", key)?,
        round: round(
            column(row, 1, "thread_messages", key)?,
            "thread_messages",
            key,
        )?,
        role: column(row, 2, "thread_messages", key)?,
        ts: time_from_millis(column(row, 3, "logs", key)?, "logs", key)?,
        payload: column(row, 4, "logs", key)?,
    })
}

/// A `thread_messages` row, selected as `log_id, thread_id, round, role`.
pub(crate) fn thread_index_row(row: &Row<'_>) -> StoreResult<store_core::ThreadIndexRow> {
    let raw_id: i64 = column(row, 0, "thread_messages", &"?")?;
    let key = &raw_id;
    Ok(store_core::ThreadIndexRow {
        log_id: log_id(raw_id, "thread_messages", key)?,
        thread_id: column(row, 1, "thread_messages", key)?,
        round: round(
            column(row, 2, "thread_messages", key)?,
            "thread_messages",
            key,
        )?,
        role: column(row, 3, "thread_messages", key)?,
    })
}

/// Every row of `rows`, decoded by `decode`.
pub(crate) fn collect<T>(
    mut rows: Rows<'_>,
    context: &str,
    decode: fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|err| engine_error(context, err))? {
        out.push(decode(row)?);
    }
    Ok(out)
}
