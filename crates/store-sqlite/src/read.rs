//! Reading: the queries' SQL, and rows to values. A column that does not decode (wrong type,
//! invalid UTF-8, an out-of-range time) is a [`StoreError::CorruptValue`] naming the table
//! and key.

use chrono::{DateTime, Utc};
use std::io::Read;

use rusqlite::types::Value;
use rusqlite::{Connection, MAIN_DB, OptionalExtension, Row, Rows, params_from_iter};
use store_core::kit::{bound_millis, time_from_millis};
use store_core::{
    LogEntry, LogId, LogQuery, MAX_LOG_ID, Order, RunQuery, StoreError, StoreResult,
    ThreadRoundRow, WorkflowRun, WorkflowRunStatus,
};

use crate::checksum;
use crate::error::Context;

/// The columns [`log_entry`] reads, in order.
///
/// A payload over [`BIG_PAYLOAD`], kept in `big_payload`, is selected as NULL, so that SQLite
/// does not load it whole into a value of its own; [`log_entry`] reads it through an
/// incremental blob handle straight into the entry's string.
pub(crate) const LOG_COLUMNS: &str = "id, source, kind, ref_id, \
     CASE WHEN big_payload IS NULL THEN payload END, ts, crc";

/// Payloads larger than this are written and read in place, through incremental blob I/O,
/// rather than bound and selected as one value: each way that saves a copy of the payload.
pub(crate) const BIG_PAYLOAD: usize = 1024 * 1024;

/// The columns [`workflow_run`] reads, in order.
pub(crate) const RUN_COLUMNS: &str = "run_id, workflow, thread_id, status, attempt, created_at, \
     updated_at, started_at, finished_at, detail, crc";

/// The columns [`thread_row`] reads, in order, over `thread_messages t JOIN logs l`: every
/// column of both rows, so that both checksums are checked.
pub(crate) const THREAD_ROW_COLUMNS: &str = "t.log_id, t.round, t.role, l.ts, \
     CASE WHEN l.big_payload IS NULL THEN l.payload END, \
     t.thread_id, t.crc, l.source, l.kind, l.ref_id, l.crc";

/// The columns [`thread_index_row`] reads, in order.
pub(crate) const THREAD_INDEX_COLUMNS: &str = "log_id, thread_id, round, role, crc";

/// A row whose content does not match its checksum: changed on the disk behind the store.
pub(crate) fn check_crc(
    table: &'static str,
    key: &dyn std::fmt::Display,
    stored: i64,
    computed: i64,
) -> StoreResult<()> {
    if stored == computed {
        return Ok(());
    }
    Err(StoreError::corrupt(
        table,
        key,
        format!(
            "the row does not match its checksum (stored {stored:#010x}, content {computed:#010x}): \
             the file was damaged or changed behind the store"
        ),
    ))
}

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
pub(crate) fn log_entry(conn: &Connection, row: &Row<'_>) -> StoreResult<LogEntry> {
    log_entry_at(conn, row, [0, 1, 2, 3, 4, 5, 6])
}

/// A `logs` row whose id, source, kind, ref_id, payload, ts and crc are at `at`, checked
/// against its checksum.
fn log_entry_at(conn: &Connection, row: &Row<'_>, at: [usize; 7]) -> StoreResult<LogEntry> {
    let raw_id: i64 = column(row, at[0], "logs", &"?")?;
    let key = &raw_id;
    let source: String = column(row, at[1], "logs", key)?;
    let kind: String = column(row, at[2], "logs", key)?;
    let ref_id: Option<String> = column(row, at[3], "logs", key)?;
    let payload = match column::<Option<String>>(row, at[4], "logs", key)? {
        Some(payload) => payload,
        None => big_payload(conn, raw_id)?,
    };
    let ts: i64 = column(row, at[5], "logs", key)?;
    let crc = checksum::log_row(raw_id, &source, &kind, ref_id.as_deref(), &payload, ts);
    check_crc("logs", key, column(row, at[6], "logs", key)?, crc)?;
    Ok(LogEntry {
        id: log_id(raw_id, "logs", key)?,
        source,
        kind,
        ref_id,
        payload,
        ts: time_from_millis(ts, "logs", key)?,
    })
}

/// The payload of entry `id`, kept in `big_payload`, read in place into a string of its size.
fn big_payload(conn: &Connection, id: i64) -> StoreResult<String> {
    let context = || format!("reading the payload of entry {id}");
    let mut blob = conn
        .blob_open(MAIN_DB, c"logs", c"big_payload", id, true)
        .context(context())?;
    let mut bytes = Vec::with_capacity(blob.len());
    blob.read_to_end(&mut bytes)
        .map_err(|err| StoreError::corrupt("logs", id, format!("payload: {err}")))?;
    String::from_utf8(bytes)
        .map_err(|err| StoreError::corrupt("logs", id, format!("payload: {err}")))
}

/// A `runs` row, selected as [`RUN_COLUMNS`], checked against its checksum.
pub(crate) fn workflow_run(_conn: &Connection, row: &Row<'_>) -> StoreResult<WorkflowRun> {
    let run = workflow_run_v1(row)?;
    let key = &run.run_id;
    check_crc(
        "runs",
        key,
        column(row, 10, "runs", key)?,
        checksum::run_row(&run),
    )?;
    Ok(run)
}

/// The columns of a `runs` row before its checksum, as schema 1 had them.
pub(crate) fn workflow_run_v1(row: &Row<'_>) -> StoreResult<WorkflowRun> {
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
pub(crate) fn thread_row(conn: &Connection, row: &Row<'_>) -> StoreResult<ThreadRoundRow> {
    let index = thread_index_row_at(row, [0, 5, 1, 2, 6])?;
    let entry = log_entry_at(conn, row, [0, 7, 8, 9, 4, 3, 10])?;
    Ok(ThreadRoundRow {
        log_id: entry.id,
        round: index.round,
        role: index.role,
        ts: entry.ts,
        payload: entry.payload,
    })
}

/// A `thread_messages` row, selected as [`THREAD_INDEX_COLUMNS`].
pub(crate) fn thread_index_row(
    _conn: &Connection,
    row: &Row<'_>,
) -> StoreResult<store_core::ThreadIndexRow> {
    thread_index_row_at(row, [0, 1, 2, 3, 4])
}

/// A `thread_messages` row whose log_id, thread_id, round, role and crc are at `at`, checked
/// against its checksum.
fn thread_index_row_at(row: &Row<'_>, at: [usize; 5]) -> StoreResult<store_core::ThreadIndexRow> {
    let table = "thread_messages";
    let raw_id: i64 = column(row, at[0], table, &"?")?;
    let key = &raw_id;
    let thread_id: String = column(row, at[1], table, key)?;
    let raw_round: i64 = column(row, at[2], table, key)?;
    let role: String = column(row, at[3], table, key)?;
    let crc = checksum::thread_row(raw_id, &thread_id, raw_round, &role);
    check_crc(table, key, column(row, at[4], table, key)?, crc)?;
    Ok(store_core::ThreadIndexRow {
        log_id: log_id(raw_id, table, key)?,
        thread_id,
        round: round(raw_round, table, key)?,
        role,
    })
}

/// A `meta` row, selected as `key, value, crc`.
pub(crate) fn meta_pair(_conn: &Connection, row: &Row<'_>) -> StoreResult<(String, String)> {
    let key: String = column(row, 0, "meta", &"?")?;
    let value: String = column(row, 1, "meta", &key)?;
    let crc = checksum::meta_row(&key, &value);
    check_crc("meta", &key, column(row, 2, "meta", &key)?, crc)?;
    Ok((key, value))
}

/// Every row of `rows`, decoded by `decode` (which may read more through `conn`).
pub(crate) fn collect<T>(
    conn: &Connection,
    mut rows: Rows<'_>,
    context: &str,
    decode: fn(&Connection, &Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().context(context)? {
        out.push(decode(conn, row)?);
    }
    Ok(out)
}

/// `entries` as read, unless one of them does not `belong` to what was asked: a damaged index
/// named it, which is [`store_core::StoreError::CorruptValue`] with `why` it does not belong.
pub(crate) fn refuse_strays(
    entries: Vec<LogEntry>,
    belongs: impl Fn(&LogEntry) -> bool,
    why: impl Fn(&LogEntry) -> String,
) -> StoreResult<Vec<LogEntry>> {
    match entries.iter().find(|entry| !belongs(entry)) {
        Some(stray) => Err(store_core::StoreError::corrupt(
            "logs",
            stray.id,
            why(stray),
        )),
        None => Ok(entries),
    }
}

pub(crate) fn select_run(conn: &Connection, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"))
        .context("preparing the run lookup")?;
    let rows = stmt
        .query([run_id])
        .with_context(|| format!("reading run {run_id:?}"))?;
    Ok(collect(conn, rows, "reading a run", workflow_run)?.pop())
}

/// The SQL of a log query that is not a time range ([`is_time_range`]) and its parameters.
/// Equality on `ref_id` or `source` lets SQLite walk the matching index in id order.
pub(crate) fn log_query_sql(query: &LogQuery) -> (String, Vec<Value>) {
    let mut values = Vec::new();
    let conditions = log_conditions(query, &mut values);
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    values.push(Value::Integer(limit_to_sql(query.effective_limit())));
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM logs{filter} ORDER BY id {} LIMIT ?{}",
        order_sql(query),
        values.len()
    );
    (sql, values)
}

/// Whether `query` is answered as a time range ([`time_query_sql`]): a range with no
/// `ref_id` (a reference's entries are few, and walked by its own index).
pub(crate) fn is_time_range(query: &LogQuery) -> bool {
    query.ref_id.is_none() && (query.since.is_some() || query.until.is_some())
}

/// The first id of the first time mark at or past a mark (`?1`).
pub(crate) const FIRST_ID_FROM_MARK: &str =
    "SELECT first_id FROM time_marks WHERE mark >= ?1 ORDER BY mark LIMIT 1";

/// The first and the last id between which the in-order entries of the query's time range
/// lie ([`store_core::kit::MarkSpan`]): from the first id of the first time mark at or past
/// the range's start, to just before that of the first at or past its widened end
/// ([`store_core::kit::MarkSpan::ids`]); `None` when no in-order entry can be in the range.
/// One seek of `time_marks` for each end the range has.
pub(crate) fn in_order_span(
    conn: &Connection,
    query: &LogQuery,
) -> StoreResult<Option<(i64, i64)>> {
    let seek = |mark: i64| -> StoreResult<Option<u64>> {
        let first: Option<i64> = conn
            .prepare_cached(FIRST_ID_FROM_MARK)
            .and_then(|mut stmt| stmt.query_row([mark], |row| row.get(0)).optional())
            .context("finding the ends of a time range")?;
        first
            .map(|id| {
                u64::try_from(id)
                    .map_err(|_| StoreError::corrupt("time_marks", mark, "a negative first id"))
            })
            .transpose()
    };
    // Past the highest id a store keeps is all the same to SQLite: `i64::MAX`.
    let as_sql = |id: u64| i64::try_from(id).unwrap_or(i64::MAX);
    Ok(store_core::kit::MarkSpan::of(query.since, query.until)
        .ids(seek)?
        .map(|(first, last)| (as_sql(first), as_sql(last))))
}

/// The SQL of a time-range query and its values: the in-order entries walked in id order
/// between the ends `span` gives (by rowid, or by `logs_by_source_kind` with a source and
/// kind), merged in id order with the late entries of the range, the only part that is read
/// whole and sorted (`logs_late_by_ts`). O(log n + k + the late entries of the range + the
/// in-order entries the walk passes within [`store_core::kit::LATE_AFTER_MILLIS`] of its
/// ends that are outside it).
pub(crate) fn time_query_sql(query: &LogQuery, span: Option<(i64, i64)>) -> (String, Vec<Value>) {
    let mut values = Vec::new();
    let mut arms = Vec::new();
    if let Some((first, last)) = span {
        let mut conditions = log_conditions(query, &mut values);
        values.push(Value::Integer(first));
        conditions.push(format!("id >= ?{}", values.len()));
        values.push(Value::Integer(last));
        conditions.push(format!("id <= ?{}", values.len()));
        arms.push(format!(
            "SELECT {LOG_COLUMNS} FROM logs WHERE late = 0 AND {}",
            conditions.join(" AND ")
        ));
    }
    let conditions = log_conditions(query, &mut values);
    arms.push(format!(
        "SELECT {LOG_COLUMNS} FROM logs INDEXED BY logs_late_by_ts WHERE late = 1 AND {}",
        conditions.join(" AND ")
    ));
    values.push(Value::Integer(limit_to_sql(query.effective_limit())));
    let sql = format!(
        "{} ORDER BY id {} LIMIT ?{}",
        arms.join(" UNION ALL "),
        order_sql(query),
        values.len()
    );
    (sql, values)
}

fn order_sql(query: &LogQuery) -> &'static str {
    match query.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    }
}

/// The query's filters as SQL conditions, each bound as a new value in `values`.
fn log_conditions(query: &LogQuery, values: &mut Vec<Value>) -> Vec<String> {
    let mut conditions = Vec::new();
    let mut push = |condition: &str, value: Value| {
        values.push(value);
        conditions.push(format!("{condition} ?{}", values.len()));
    };
    if let Some(ref_id) = &query.ref_id {
        push("ref_id =", Value::Text(ref_id.clone()));
    }
    if let Some(source) = &query.source {
        push("source =", Value::Text(source.clone()));
    }
    if let Some(kind) = &query.kind {
        push("kind =", Value::Text(kind.clone()));
    }
    // Bounds finer than the stored millisecond compare as `LogQuery::matches` does.
    if let Some(since) = query.since {
        push("ts >=", Value::Integer(bound_millis(since)));
    }
    if let Some(until) = query.until {
        push("ts <", Value::Integer(bound_millis(until)));
    }
    if let Some(after) = query.after {
        push("id >", Value::Integer(id_to_sql(after)));
    }
    // Every id is below a `before` past the highest id a store keeps: no condition then.
    if let Some(before) = query.before.filter(|before| *before <= MAX_LOG_ID) {
        push("id <", Value::Integer(id_to_sql(before)));
    }
    conditions
}

/// The SQL of a run listing and its parameters.
/// The SQL of a run listing and its values. Every shape walks one index in (created_at,
/// run_id) order and stops at the limit; several statuses are one walk each of the status
/// index, merged in order (a `UNION ALL` under one `ORDER BY`, which SQLite runs as a merge
/// of its arms), so no shape sorts its matches.
///
/// `cursor` is the (created_at, run_id) of the run named by `query.after`, which the caller
/// has read: bound as values, the walk starts at it (a subquery in the condition would be
/// evaluated for every row walked past).
pub(crate) fn run_query_sql(query: &RunQuery, cursor: Option<(i64, &str)>) -> (String, Vec<Value>) {
    let mut values = Vec::new();
    let mut statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    values.push(Value::Integer(limit_to_sql(query.effective_limit())));
    let order = match query.order {
        Order::Ascending => "ORDER BY created_at, run_id LIMIT ?1",
        Order::Descending => "ORDER BY created_at DESC, run_id DESC LIMIT ?1",
    };
    if statuses.len() <= 1 {
        let filter = run_filter(query, statuses.first().copied(), cursor, &mut values);
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs{filter} {order}");
        return (sql, values);
    }
    let arms: Vec<String> = statuses
        .into_iter()
        .map(|status| {
            let filter = run_filter(query, Some(status), cursor, &mut values);
            format!("SELECT {RUN_COLUMNS} FROM runs{filter}")
        })
        .collect();
    (format!("{} {order}", arms.join(" UNION ALL ")), values)
}

/// The `WHERE` clause of one walk of a run listing: `status` (one of the query's), and the
/// query's other filters, each bound as a new value.
fn run_filter(
    query: &RunQuery,
    status: Option<&str>,
    cursor: Option<(i64, &str)>,
    values: &mut Vec<Value>,
) -> String {
    let mut conditions = Vec::new();
    let bind = |value: String, values: &mut Vec<Value>| {
        values.push(Value::Text(value));
        values.len()
    };
    if let Some(status) = status {
        conditions.push(format!("status = ?{}", bind(status.to_owned(), values)));
    }
    if let Some(workflow) = &query.workflow {
        conditions.push(format!("workflow = ?{}", bind(workflow.clone(), values)));
    }
    if let Some(thread_id) = &query.thread_id {
        conditions.push(format!("thread_id = ?{}", bind(thread_id.clone(), values)));
    }
    let (from, to) = query.created_millis();
    if query.created_since.is_some() {
        values.push(Value::Integer(from));
        conditions.push(format!("created_at >= ?{}", values.len()));
    }
    if query.created_until.is_some() {
        values.push(Value::Integer(to));
        conditions.push(format!("created_at < ?{}", values.len()));
    }
    if let Some((created_at, run_id)) = cursor {
        values.push(Value::Integer(created_at));
        let created = values.len();
        let run = bind(run_id.to_owned(), values);
        let after = match query.order {
            Order::Ascending => ">",
            Order::Descending => "<",
        };
        conditions.push(format!("(created_at, run_id) {after} (?{created}, ?{run})"));
    }
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

pub(crate) fn run_query(
    conn: &Connection,
    sql: &str,
    values: Vec<Value>,
    context: &str,
) -> StoreResult<Vec<WorkflowRun>> {
    let mut stmt = conn
        .prepare_cached(sql)
        .with_context(|| format!("preparing {context}"))?;
    let rows = stmt.query(params_from_iter(values)).context(context)?;
    collect(conn, rows, context, workflow_run)
}

pub(crate) fn thread_query(
    conn: &Connection,
    sql: &str,
    values: Vec<Value>,
) -> StoreResult<Vec<ThreadRoundRow>> {
    let mut stmt = conn
        .prepare_cached(sql)
        .context("preparing a thread query")?;
    let rows = stmt
        .query(params_from_iter(values))
        .context("reading a thread")?;
    collect(conn, rows, "reading a thread", thread_row)
}
