//! Writing rows: entries under ids the store picks, with their checksums; runs; thread-index
//! rows; meta.

use std::io::Write;

use rusqlite::{Connection, MAIN_DB, Transaction, params};
use store_core::kit::PreparedEntry;
use store_core::{LogEntry, LogId, MAX_LOG_ID, StoreError, StoreResult, WorkflowRun};

use crate::checksum;
use crate::error::Context;
use crate::read::{BIG_PAYLOAD, id_to_sql, to_millis};

/// The highest id ever given out, 0 for none: `AUTOINCREMENT` keeps it in `sqlite_sequence`,
/// deleted or not.
pub(crate) fn highest_id(tx: &Transaction<'_>) -> StoreResult<i64> {
    tx.prepare_cached(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'logs'), 0), \
                    coalesce((SELECT max(id) FROM logs), 0))",
    )
    .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
    .context("reading the id counter")
}

/// The id the next appended entry gets: one above every id ever given out.
pub(crate) fn next_id(tx: &Transaction<'_>) -> StoreResult<i64> {
    highest_id(tx)?
        .checked_add(1)
        .ok_or(store_core::StoreError::IdsExhausted { last: MAX_LOG_ID })
}

/// Appends `entries` under consecutive ids, each row with its checksum (which covers the id,
/// so the id is chosen here rather than by SQLite).
pub(crate) fn insert_entries(
    tx: &Transaction<'_>,
    entries: Vec<PreparedEntry>,
) -> StoreResult<Vec<LogEntry>> {
    let first = next_id(tx)?;
    let room = id_to_sql(MAX_LOG_ID) - first;
    if i64::try_from(entries.len()).is_ok_and(|count| count > room.saturating_add(1)) {
        return Err(store_core::StoreError::IdsExhausted { last: MAX_LOG_ID });
    }
    let mut next = first as u64;
    entries
        .into_iter()
        .map(|entry| {
            let entry = entry.with_id(LogId(next));
            next += 1;
            write_entry(tx, &entry)?;
            Ok(entry)
        })
        .collect()
}

/// Appends one entry (see [`insert_entries`]).
pub(crate) fn insert_entry(tx: &Transaction<'_>, entry: PreparedEntry) -> StoreResult<LogEntry> {
    insert_entries(tx, vec![entry])?
        .pop()
        .ok_or_else(|| store_core::StoreError::invalid("entry", "was not appended"))
}

/// Writes `entry` under its own id, with its checksum.
pub(crate) fn write_entry(tx: &Transaction<'_>, entry: &LogEntry) -> StoreResult<()> {
    let id = id_to_sql(entry.id);
    let ts = to_millis(entry.ts);
    let crc = checksum::log_row(
        id,
        &entry.source,
        &entry.kind,
        entry.ref_id.as_deref(),
        &entry.payload,
        ts,
    );
    let big = entry.payload.len() > BIG_PAYLOAD;
    // A big payload is inserted as a zero-filled blob of its size in the last column (SQLite
    // writes the zeros into the pages without building the value) and then written in place.
    let sql = if big {
        "INSERT INTO logs (id, source, kind, ref_id, payload, ts, crc, day, big_payload) \
         VALUES (?1, ?2, ?3, ?4, '', ?6, ?7, ?8, zeroblob(?5))"
    } else {
        "INSERT INTO logs (id, source, kind, ref_id, payload, ts, crc, day) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    };
    let payload = if big {
        rusqlite::types::ToSqlOutput::from(entry.payload.len() as i64)
    } else {
        rusqlite::types::ToSqlOutput::from(entry.payload.as_str())
    };
    tx.prepare_cached(sql)
        .and_then(|mut insert| {
            insert.execute(params![
                id,
                entry.source,
                entry.kind,
                entry.ref_id,
                payload,
                ts,
                crc,
                store_core::kit::day_number(ts)
            ])
        })
        .with_context(|| format!("writing log entry {}", entry.id))?;
    if big {
        write_big_payload(tx, id, &entry.payload)?;
    }
    Ok(())
}

/// Indexes the entry `log_id` as a message of `thread_id`, `round`, `role`.
pub(crate) fn index_thread_row(
    tx: &Transaction<'_>,
    log_id: LogId,
    thread_id: &str,
    round: u32,
    role: &str,
) -> StoreResult<()> {
    let id = id_to_sql(log_id);
    let crc = checksum::thread_row(id, thread_id, i64::from(round), role);
    tx.prepare_cached(
        "INSERT INTO thread_messages (log_id, thread_id, round, role, crc) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut insert| insert.execute(params![id, thread_id, round, role, crc]))
    .with_context(|| format!("indexing the thread message {log_id}"))?;
    Ok(())
}

pub(crate) fn set_meta(tx: &Transaction<'_>, key: &str, value: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value, crc) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, crc = excluded.crc",
    )
    .and_then(|mut stmt| stmt.execute(params![key, value, checksum::meta_row(key, value)]))
    .with_context(|| format!("writing meta key {key:?}"))?;
    Ok(())
}

pub(crate) fn upsert_run(tx: &Transaction<'_>, run: &WorkflowRun) -> StoreResult<()> {
    // An upsert, never `INSERT OR REPLACE`, which deletes the row first.
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO runs (run_id, workflow, thread_id, status, attempt, created_at, updated_at, \
                               started_at, finished_at, detail, crc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (run_id) DO UPDATE SET
                status = excluded.status, attempt = excluded.attempt,
                updated_at = excluded.updated_at, started_at = excluded.started_at,
                finished_at = excluded.finished_at, detail = excluded.detail,
                crc = excluded.crc",
        )
        .context("preparing the run upsert")?;
    stmt.execute(params![
        run.run_id,
        run.workflow,
        run.thread_id,
        run.status.as_str(),
        run.attempt,
        to_millis(run.created_at),
        to_millis(run.updated_at),
        run.started_at.map(to_millis),
        run.finished_at.map(to_millis),
        run.detail,
        checksum::run_row(run),
    ])
    .with_context(|| format!("writing run {:?}", run.run_id))?;
    Ok(())
}

/// Writes `payload` in place into the zero-filled `big_payload` of its size that entry `id`
/// holds.
pub(crate) fn write_big_payload(conn: &Connection, id: i64, payload: &str) -> StoreResult<()> {
    let context = || format!("writing the payload of entry {id}");
    let mut blob = conn
        .blob_open(MAIN_DB, c"logs", c"big_payload", id, false)
        .context(context())?;
    blob.write_all(payload.as_bytes())
        .map_err(|err| StoreError::Backend {
            backend: "sqlite",
            context: context(),
            source: Box::new(err),
        })
}
