//! Writing rows: entries under ids the store picks, with their checksums; runs; thread-index
//! rows; meta.

use std::io::Write;

use rusqlite::{Connection, MAIN_DB, Transaction, TransactionBehavior, params};
use store_core::kit::{PreparedUnit, TimeOrder, UnitResult, UnitTx, apply_group, fail_all};
use store_core::{BlobHolder, Digest, LogEntry, LogId, StoreError, StoreResult, WorkflowRun};

use crate::checksum;
use crate::error::Context;
use crate::read::{BIG_PAYLOAD, id_to_sql, select_run, to_millis};

/// Commits one group of units in one immediate transaction: each unit's own result, or, when
/// the engine fails (the lock, the disk), that failure for every unit with nothing written.
pub(crate) fn commit_group(conn: &mut Connection, units: Vec<PreparedUnit>) -> Vec<UnitResult> {
    let count = units.len();
    let tx = match conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting the transaction of a group of writes")
    {
        Ok(tx) => tx,
        Err(err) => return fail_all(err, count),
    };
    let mut group = GroupTx::new(&tx);
    let results = match apply_group(&mut group, units) {
        Ok(results) => results,
        // Dropping the transaction rolls back what the group had written.
        Err(err) => return fail_all(err, count),
    };
    if results.iter().all(Result::is_err) {
        return results;
    }
    if let Err(err) = group.counters.save(&tx) {
        return fail_all(err, count);
    }
    match tx.commit().context("committing a group of writes") {
        Ok(()) => results,
        Err(err) => fail_all(err, count),
    }
}

/// A group's write transaction as [`apply_group`] uses it. The id counter is read once per
/// group and kept here as entries are written.
struct GroupTx<'a, 'c> {
    tx: &'a Transaction<'c>,
    next_id: Option<u64>,
    counters: LogCounters,
}

impl<'a, 'c> GroupTx<'a, 'c> {
    fn new(tx: &'a Transaction<'c>) -> Self {
        GroupTx {
            tx,
            next_id: None,
            counters: LogCounters::default(),
        }
    }
}

impl UnitTx for GroupTx<'_, '_> {
    fn run(&mut self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        select_run(self.tx, run_id)
    }

    fn next_id(&mut self) -> StoreResult<u64> {
        if let Some(next) = self.next_id {
            return Ok(next);
        }
        // At most `i64::MAX`, so one more fits a `u64`.
        let next = u64::try_from(highest_id(self.tx)?).unwrap_or(0) + 1;
        self.next_id = Some(next);
        Ok(next)
    }

    fn write_entry(&mut self, entry: &LogEntry) -> StoreResult<()> {
        self.counters.write(self.tx, entry, true)?;
        let after = entry.id.0.saturating_add(1);
        self.next_id = Some(self.next_id.map_or(after, |next| next.max(after)));
        Ok(())
    }

    fn index_thread(
        &mut self,
        id: LogId,
        thread_id: &str,
        round: u32,
        role: &str,
    ) -> StoreResult<()> {
        index_thread_row(self.tx, id, thread_id, round, role)
    }

    fn write_run(&mut self, run: &WorkflowRun, _stored: Option<&WorkflowRun>) -> StoreResult<()> {
        upsert_run(self.tx, run)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()> {
        set_meta(self.tx, key, value)
    }

    fn set_blob_refs(&mut self, holder: &BlobHolder, blobs: &[Digest]) -> StoreResult<()> {
        crate::references::set_refs(self.tx, holder, blobs)
    }

    fn delete_meta(&mut self, key: &str) -> StoreResult<bool> {
        let deleted = self
            .tx
            .prepare_cached("DELETE FROM meta WHERE key = ?1")
            .and_then(|mut stmt| stmt.execute([key]))
            .with_context(|| format!("deleting meta key {key:?}"))?;
        Ok(deleted > 0)
    }
}

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

/// The log's counters (`counts`: entries, the highest `ts`; the activity counts) and its time
/// order (which entries are late, the time marks) as one transaction changes them: read when
/// first needed, the counters written back once by [`LogCounters::save`].
#[derive(Default)]
pub(crate) struct LogCounters {
    /// The log's time order, once read.
    order: Option<TimeOrder>,
    /// Entries written by this transaction.
    added: i64,
    /// What they add to the activity counts.
    activity: store_core::kit::ActivityTally,
}

impl LogCounters {
    /// Writes `entry` (see [`write_entry`]) where the time order places it: `at_end` when
    /// its id is above every id the log has given before it (docs/SPEC.md section 1,
    /// queries by time); starts a time mark when it is the first entry at a new second of
    /// the log's time.
    pub(crate) fn write(
        &mut self,
        tx: &Transaction<'_>,
        entry: &LogEntry,
        at_end: bool,
    ) -> StoreResult<()> {
        let order = match &mut self.order {
            Some(order) => order,
            None => self.order.insert(read_time_order(tx)?),
        };
        let placed = order.place(to_millis(entry.ts), at_end);
        write_entry(tx, entry, placed.late)?;
        if let Some(mark) = placed.starts_mark {
            tx.prepare_cached("INSERT INTO time_marks (mark, first_id) VALUES (?1, ?2)")
                .and_then(|mut stmt| stmt.execute(params![mark, id_to_sql(entry.id)]))
                .with_context(|| format!("writing the time mark of entry {}", entry.id))?;
        }
        self.added += 1;
        self.activity.entry(entry, 1);
        Ok(())
    }

    /// Stores the counters, before the transaction commits.
    pub(crate) fn save(self, tx: &Transaction<'_>) -> StoreResult<()> {
        let Some(highest) = self.order.and_then(|order| order.highest()) else {
            return Ok(());
        };
        tx.prepare_cached(
            "UPDATE counts SET n = CASE name WHEN 'logs' THEN n + ?1 ELSE ?2 END \
             WHERE name IN ('logs', 'max_ts')",
        )
        .and_then(|mut stmt| stmt.execute(params![self.added, highest]))
        .context("saving the log's counters")?;
        crate::activity::save(tx, &self.activity)
    }
}

/// The log's time order as stored: the highest `ts` written (`counts`, `i64::MIN` for none)
/// and the last time mark.
fn read_time_order(tx: &Transaction<'_>) -> StoreResult<TimeOrder> {
    tx.prepare_cached(
        "SELECT (SELECT n FROM counts WHERE name = 'max_ts'), (SELECT max(mark) FROM time_marks)",
    )
    .and_then(|mut stmt| {
        stmt.query_row([], |row| {
            let highest: i64 = row.get(0)?;
            Ok(TimeOrder::new(
                (highest != i64::MIN).then_some(highest),
                row.get(1)?,
            ))
        })
    })
    .context("reading the log's time order")
}

/// Drops the time marks below the log's first entry but the last of them
/// ([`store_core::kit::marks_to_drop`]), after a deletion.
pub(crate) fn drop_passed_marks(tx: &Transaction<'_>) -> StoreResult<()> {
    tx.prepare_cached(
        "DELETE FROM time_marks WHERE mark < (SELECT max(mark) FROM time_marks \
         WHERE first_id <= coalesce((SELECT min(id) FROM logs), 9223372036854775807))",
    )
    .and_then(|mut stmt| stmt.execute([]))
    .context("dropping the time marks below the log's first entry")?;
    Ok(())
}

/// Writes `entry` under its own id, with its checksum; `late` says whether the time order
/// places it among the late entries (schema 7; schema 3 before it).
fn write_entry(tx: &Transaction<'_>, entry: &LogEntry, late: bool) -> StoreResult<()> {
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
        "INSERT INTO logs (id, source, kind, ref_id, payload, ts, crc, day, late, big_payload) \
         VALUES (?1, ?2, ?3, ?4, '', ?6, ?7, ?8, ?9, zeroblob(?5))"
    } else {
        "INSERT INTO logs (id, source, kind, ref_id, payload, ts, crc, day, late) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
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
                store_core::kit::day_number(ts),
                late
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
            source: std::sync::Arc::new(err),
        })
}
