//! Rows as the store's types, and the SQL of its listings.

use postgres::Row;
use postgres::types::ToSql;
use store_core::kit::{bound_millis, time_from_millis};
use store_core::{
    LogEntry, LogId, LogQuery, MAX_LOG_ID, Order, RunQuery, StoreError, StoreResult,
    ThreadRoundRow, WorkflowRun, WorkflowRunStatus,
};

/// A statement's values, boxed so that one list holds every type.
pub(crate) type Values = Vec<Box<dyn ToSql + Sync + Send>>;

/// `values` as the slice the client takes.
pub(crate) fn params(values: &Values) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// The columns of a log row, in the order [`log_entry`] reads them.
pub(crate) const LOG_COLUMNS: &str = "id, source, kind, ref_id, payload, ts";

/// The columns of a run row, in the order [`run`] reads them.
pub(crate) const RUN_COLUMNS: &str = "run_id, workflow, thread_id, status, attempt, created_at, \
     updated_at, started_at, finished_at, detail";

/// A stored string: bytes that must be UTF-8.
fn text(
    row: &Row,
    column: usize,
    table: &'static str,
    key: &dyn std::fmt::Display,
) -> StoreResult<String> {
    let bytes: Vec<u8> = row
        .try_get(column)
        .map_err(|err| StoreError::corrupt(table, key, err.to_string()))?;
    String::from_utf8(bytes)
        .map_err(|_| StoreError::corrupt(table, key, "a string that is not UTF-8"))
}

fn optional_text(
    row: &Row,
    column: usize,
    table: &'static str,
    key: &dyn std::fmt::Display,
) -> StoreResult<Option<String>> {
    let bytes: Option<Vec<u8>> = row
        .try_get(column)
        .map_err(|err| StoreError::corrupt(table, key, err.to_string()))?;
    bytes
        .map(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| StoreError::corrupt(table, key, "a string that is not UTF-8"))
        })
        .transpose()
}

fn number(
    row: &Row,
    column: usize,
    table: &'static str,
    key: &dyn std::fmt::Display,
) -> StoreResult<i64> {
    row.try_get(column)
        .map_err(|err| StoreError::corrupt(table, key, err.to_string()))
}

/// A log row (columns [`LOG_COLUMNS`]) as an entry.
pub(crate) fn log_entry(row: &Row) -> StoreResult<LogEntry> {
    let id = number(row, 0, "logs", &"a row")?;
    let key = &id;
    let id = u64::try_from(id).map_err(|_| StoreError::corrupt("logs", id, "a negative id"))?;
    Ok(LogEntry {
        id: LogId(id),
        source: text(row, 1, "logs", key)?,
        kind: text(row, 2, "logs", key)?,
        ref_id: optional_text(row, 3, "logs", key)?,
        payload: text(row, 4, "logs", key)?,
        ts: time_from_millis(number(row, 5, "logs", key)?, "logs", key)?,
    })
}

/// A run row (columns [`RUN_COLUMNS`]) as a run.
pub(crate) fn run(row: &Row) -> StoreResult<WorkflowRun> {
    let run_id = text(row, 0, "runs", &"a row")?;
    let key: &dyn std::fmt::Display = &run_id;
    let status: String = row
        .try_get(3)
        .map_err(|err| StoreError::corrupt("runs", key, err.to_string()))?;
    let status: WorkflowRunStatus = status
        .parse()
        .map_err(|_| StoreError::corrupt("runs", key, format!("unknown status {status:?}")))?;
    let attempt = number(row, 4, "runs", key)?;
    let attempt = u32::try_from(attempt)
        .map_err(|_| StoreError::corrupt("runs", key, format!("attempt {attempt} out of range")))?;
    let time = |column| -> StoreResult<_> {
        time_from_millis(number(row, column, "runs", key)?, "runs", key)
    };
    let optional_time = |column| -> StoreResult<_> {
        let millis: Option<i64> = row
            .try_get(column)
            .map_err(|err| StoreError::corrupt("runs", key, err.to_string()))?;
        millis.map(|m| time_from_millis(m, "runs", key)).transpose()
    };
    Ok(WorkflowRun {
        workflow: text(row, 1, "runs", key)?,
        thread_id: optional_text(row, 2, "runs", key)?,
        status,
        attempt,
        created_at: time(5)?,
        updated_at: time(6)?,
        started_at: optional_time(7)?,
        finished_at: optional_time(8)?,
        detail: optional_text(row, 9, "runs", key)?,
        run_id: run_id.clone(),
    })
}

/// A thread row (`t.round, t.role, l.id, l.ts, l.payload`) as a round row.
pub(crate) fn thread_row(row: &Row, thread_id: &str) -> StoreResult<ThreadRoundRow> {
    let round = number(row, 0, "thread_messages", &thread_id)?;
    let id = number(row, 2, "thread_messages", &thread_id)?;
    Ok(ThreadRoundRow {
        round: u32::try_from(round).map_err(|_| {
            StoreError::corrupt(
                "thread_messages",
                thread_id,
                format!("round {round} out of range"),
            )
        })?,
        role: text(row, 1, "thread_messages", &thread_id)?,
        log_id: LogId(
            u64::try_from(id).map_err(|_| {
                StoreError::corrupt("thread_messages", thread_id, "a negative log id")
            })?,
        ),
        ts: time_from_millis(number(row, 3, "logs", &id)?, "logs", &id)?,
        payload: text(row, 4, "logs", &id)?,
    })
}

/// An id as PostgreSQL keeps it (a `bigint`); ids past `i64::MAX` do not exist.
pub(crate) fn id_to_sql(id: LogId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

/// A limit as a `bigint`.
pub(crate) fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The SQL of a log query in the schema `s`, and its values: the filters, by id in the
/// query's order, at most its limit; at most the store's horizon ([`crate::ids::horizon`])
/// when `bounded` (every read but a snapshot's, which sees a fixed past), which is then the
/// last value, for the caller to add.
pub(crate) fn log_query_sql(s: &str, query: &LogQuery, bounded: bool) -> (String, Values) {
    let mut values: Values = Vec::new();
    let mut conditions = Vec::new();
    let mut push = |condition: &str, value: Box<dyn ToSql + Sync + Send>, values: &mut Values| {
        values.push(value);
        conditions.push(format!("{condition} ${}", values.len()));
    };
    if let Some(ref_id) = &query.ref_id {
        push(
            "ref_id =",
            Box::new(ref_id.clone().into_bytes()),
            &mut values,
        );
    }
    if let Some(source) = &query.source {
        push(
            "source =",
            Box::new(source.clone().into_bytes()),
            &mut values,
        );
    }
    if let Some(kind) = &query.kind {
        push("kind =", Box::new(kind.clone().into_bytes()), &mut values);
    }
    if let Some(since) = query.since {
        push("ts >=", Box::new(bound_millis(since)), &mut values);
    }
    if let Some(until) = query.until {
        push("ts <", Box::new(bound_millis(until)), &mut values);
    }
    if let Some(after) = query.after {
        push("id >", Box::new(id_to_sql(after)), &mut values);
    }
    if let Some(before) = query.before.filter(|before| *before <= MAX_LOG_ID) {
        push("id <", Box::new(id_to_sql(before)), &mut values);
    }
    if bounded {
        // After the limit, the last value.
        conditions.push(format!("id <= ${}", values.len() + 2));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    values.push(Box::new(limit_to_sql(query.effective_limit())));
    let order = match query.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    };
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM {s}.logs{filter} ORDER BY id {order} LIMIT ${}",
        values.len()
    );
    (sql, values)
}

/// The SQL of a run listing in the schema `s` and its values, oldest first by
/// (created_at, run_id), after `cursor` (the created_at and id of the `after` run).
pub(crate) fn run_query_sql(
    s: &str,
    query: &RunQuery,
    cursor: Option<(i64, &str)>,
) -> (String, Values) {
    let mut values: Values = Vec::new();
    let mut conditions = Vec::new();
    let mut statuses: Vec<String> = query
        .statuses
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    statuses.sort_unstable();
    statuses.dedup();
    if !statuses.is_empty() {
        values.push(Box::new(statuses));
        conditions.push(format!("status = ANY(${})", values.len()));
    }
    if let Some(workflow) = &query.workflow {
        values.push(Box::new(workflow.clone().into_bytes()));
        conditions.push(format!("workflow = ${}", values.len()));
    }
    if let Some(thread_id) = &query.thread_id {
        values.push(Box::new(thread_id.clone().into_bytes()));
        conditions.push(format!("thread_id = ${}", values.len()));
    }
    let (from, to) = query.created_millis();
    if query.created_since.is_some() {
        values.push(Box::new(from));
        conditions.push(format!("created_at >= ${}", values.len()));
    }
    if query.created_until.is_some() {
        values.push(Box::new(to));
        conditions.push(format!("created_at < ${}", values.len()));
    }
    let (after, direction) = match query.order {
        store_core::Order::Ascending => (">", ""),
        store_core::Order::Descending => ("<", " DESC"),
    };
    if let Some((created_at, run_id)) = cursor {
        values.push(Box::new(created_at));
        let created = values.len();
        values.push(Box::new(run_id.as_bytes().to_vec()));
        conditions.push(format!(
            "(created_at, run_id) {after} (${created}, ${})",
            values.len()
        ));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    values.push(Box::new(limit_to_sql(query.effective_limit())));
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM {s}.runs{filter} \
         ORDER BY created_at{direction}, run_id{direction} LIMIT ${}",
        values.len()
    );
    (sql, values)
}
