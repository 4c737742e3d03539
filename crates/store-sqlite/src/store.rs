//! `SqliteLogStore`: the `LogStore` contract on SQLite.

use crate::read::log_query_sql;
use crate::read::refuse_strays;
use crate::read::run_query;
use crate::read::run_query_sql;
use crate::read::select_run;
use crate::read::thread_query;
use crate::write::LogCounters;
use crate::write::highest_id;
use crate::write::index_thread_row;
use crate::write::set_meta;
use crate::write::upsert_run;
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, TransactionBehavior, params, params_from_iter};
use store_core::{
    BlobHolder, BlobReference, DaySpan, Digest, GetThreadRoundsParams, ImportBatch, LogEntry,
    LogId, LogMaintenance, LogQuery, LogStore, LogTransfer, RestoreBatch, Restored, RunQuery,
    StoreResult, ThreadIndexRow, ThreadRoundRow, WorkflowRun, WriteUnit, Written,
    kit::{check_meta_pairs, now_millis, prepare_unit},
};

use crate::error::{Context, engine_error, on_file};
use crate::open::Connections;
use crate::options::SqliteOptions;
use crate::read::{
    self, LOG_COLUMNS, THREAD_INDEX_COLUMNS, THREAD_ROW_COLUMNS, id_to_sql, limit_to_sql,
};
use crate::schema::DAY_EXPR;

/// A [`LogStore`] in one SQLite file in WAL mode.
///
/// One connection writes (writes from threads of this process take turns); reads use a pool
/// of read-only connections and never wait for the writer. Another process may open the
/// same file and read or write at the same time: its writes wait up to the busy timeout for
/// the lock.
///
/// ```
/// use store_core::{LogQuery, LogStore, NewLogEntry};
/// use store_sqlite::SqliteLogStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let store = SqliteLogStore::open(dir.path().join("nerve.db"))?;
/// let entry = store.append(NewLogEntry::new("daemon", "started", "{}").with_ref("boot-1"))?;
/// let found = store.query(&LogQuery { ref_id: Some("boot-1".into()), ..LogQuery::default() })?;
/// assert_eq!(found, vec![entry]);
/// # Ok(())
/// # }
/// ```
pub struct SqliteLogStore {
    conns: Connections,
}

impl std::fmt::Debug for SqliteLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLogStore")
            .field("path", &self.conns.path())
            .finish_non_exhaustive()
    }
}

impl SqliteLogStore {
    /// Opens the store at `path` with [`SqliteOptions::default`], creating the file, its
    /// folders and the schema if missing.
    ///
    /// # Errors
    /// [`store_core::StoreError::NotAStore`] for a file that is not a nerve-store SQLite
    /// file, [`store_core::StoreError::SchemaTooNew`] for a newer schema,
    /// [`store_core::StoreError::SettingNotApplied`] when a pragma did not take, and I/O or
    /// engine errors. A refused file is left as it was.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the store at `path` with `options`; see [`SqliteLogStore::open`].
    ///
    /// # Errors
    /// As [`SqliteLogStore::open`].
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> StoreResult<Self> {
        let path = path.as_ref();
        Ok(SqliteLogStore {
            conns: Connections::open(path, options).map_err(|err| on_file(path, err))?,
        })
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        self.conns.path()
    }

    /// Runs `work` in one immediate write transaction and commits it; on error nothing of it
    /// stays. `operation` says what it does (`"delete days"`).
    fn write<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conns.writer(operation)?;
        let written = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_context(|| format!("starting a transaction to {operation}"))?;
            let value = work(&tx)?;
            tx.commit()
                .with_context(|| format!("committing a transaction to {operation}"))?;
            Ok(value)
        })();
        written.map_err(|err| on_file(self.path(), err))
    }

    fn read<T>(&self, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        store_core::kit::traced_read(self.path(), || self.read_now(work))
    }

    fn read_now<T>(&self, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let reader = self.conns.reader()?;
        work(&reader).map_err(|err| on_file(self.path(), err))
    }
}

impl LogStore for SqliteLogStore {
    fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        if unit.is_empty() {
            return Ok(Vec::new());
        }
        self.conns
            .submit(prepare_unit(unit, now_millis())?)
            .map_err(|err| on_file(self.path(), err))
    }

    fn write_units(&self, units: Vec<WriteUnit>) -> Vec<StoreResult<Vec<Written>>> {
        store_core::kit::submit_units(units, now_millis(), |prepared| {
            self.conns
                .submit_all(prepared)
                .into_iter()
                .map(|result| result.map_err(|err| on_file(self.path(), err)))
                .collect()
        })
    }

    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        query.validate()?;
        if query.effective_limit() == 0 {
            return Ok(Vec::new());
        }
        self.read(|conn| {
            // The ends of a time range and the walk between them see one snapshot; every
            // other query is one statement, a snapshot of its own.
            let time_range = read::is_time_range(query);
            let _snapshot = (time_range && conn.is_autocommit())
                .then(|| conn.unchecked_transaction())
                .transpose()
                .context("starting a read")?;
            let (sql, values) = if time_range {
                read::time_query_sql(query, read::in_order_span(conn, query)?)
            } else {
                log_query_sql(query)
            };
            let mut stmt = conn.prepare_cached(&sql).context("preparing a log query")?;
            let rows = stmt
                .query(params_from_iter(values))
                .context("querying the log")?;
            let entries = read::collect(conn, rows, "querying the log", read::log_entry)?;
            refuse_strays(
                entries,
                |entry| query.matches(entry),
                |_| "an index names this entry for a query it does not match".to_owned(),
            )
        })
    }

    fn activity(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<store_core::HourCount>> {
        let hours = store_core::kit::hours_between(since, until);
        self.read(|conn| crate::activity::read(conn, hours))
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        self.read(|conn| select_run(conn, run_id))
    }

    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        query.validate()?;
        self.read(|conn| {
            let cursor = query.cursor_run(|run_id| select_run(conn, run_id))?;
            if query.effective_limit() == 0 {
                return Ok(Vec::new());
            }
            let cursor = cursor
                .as_ref()
                .map(|run| (crate::read::to_millis(run.created_at), run.run_id.as_str()));
            let (sql, values) = run_query_sql(query, cursor);
            run_query(conn, &sql, values, "listing runs")
        })
    }

    fn thread_messages(
        &self,
        thread_id: &str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {THREAD_ROW_COLUMNS} FROM thread_messages t JOIN logs l ON l.id = t.log_id \
             WHERE t.thread_id = ?1 AND t.log_id > ?2 ORDER BY t.log_id LIMIT ?3"
        );
        let values = vec![
            Value::Text(thread_id.to_owned()),
            Value::Integer(after.map_or(0, id_to_sql)),
            Value::Integer(limit_to_sql(limit)),
        ];
        self.read(|conn| thread_query(conn, &sql, values))
    }

    fn thread_rounds(&self, params: &GetThreadRoundsParams) -> StoreResult<Vec<ThreadRoundRow>> {
        if params.effective_limit() == 0 {
            return Ok(Vec::new());
        }
        let mut values = vec![
            Value::Text(params.thread_id.clone()),
            Value::Integer(params.from_round.map_or(0, i64::from)),
            Value::Integer(limit_to_sql(params.effective_limit())),
        ];
        let role_filter = match &params.role {
            Some(role) => {
                values.push(Value::Text(role.clone()));
                " AND t.role = ?4"
            }
            None => "",
        };
        let sql = format!(
            "SELECT {THREAD_ROW_COLUMNS} FROM thread_messages t JOIN logs l ON l.id = t.log_id \
             WHERE t.thread_id = ?1 AND t.round >= ?2{role_filter} ORDER BY t.round, t.log_id LIMIT ?3"
        );
        self.read(|conn| thread_query(conn, &sql, values))
    }

    fn last_round(&self, thread_id: &str) -> StoreResult<Option<u32>> {
        self.read(|conn| {
            let max: Option<i64> = conn
                .prepare_cached("SELECT max(round) FROM thread_messages WHERE thread_id = ?1")
                .and_then(|mut stmt| stmt.query_row([thread_id], |row| row.get(0)))
                .map_err(|err| {
                    engine_error(format!("reading the last round of {thread_id:?}"), err)
                })?;
            max.map(|round| {
                u32::try_from(round).map_err(|_| {
                    store_core::StoreError::corrupt(
                        "thread_messages",
                        thread_id,
                        format!("round {round} is out of range"),
                    )
                })
            })
            .transpose()
        })
    }

    fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT key, value, crc FROM meta WHERE key = ?1")
                .with_context(|| format!("reading meta key {key:?}"))?;
            let rows = stmt
                .query([key])
                .with_context(|| format!("reading meta key {key:?}"))?;
            Ok(read::collect(conn, rows, "reading meta", read::meta_pair)?
                .pop()
                .map(|(_, value)| value))
        })
    }

    fn references(
        &self,
        digest: &Digest,
        after: Option<&BlobHolder>,
        limit: usize,
    ) -> StoreResult<Vec<BlobHolder>> {
        self.read(|conn| crate::references::references(conn, digest, after, limit))
    }

    fn blobs_of(&self, holder: &BlobHolder) -> StoreResult<Vec<Digest>> {
        self.read(|conn| crate::references::blobs_of(conn, holder))
    }
}

impl LogMaintenance for SqliteLogStore {
    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
        check_meta_pairs(meta)?;
        self.write("delete days", |tx| {
            let mut deleted = 0;
            let mut activity = store_core::kit::ActivityTally::new();
            for span in spans {
                // Through the (day, id) index: the day's entries up to the span's last id.
                let (start, _) = span.bounds();
                let bounds = params![store_core::kit::day_number(start), id_to_sql(span.through)];
                let context = format!("deleting {} through id {}", span.day, span.through);
                crate::activity::tally_rows(
                    tx,
                    "logs INDEXED BY logs_by_day",
                    &format!("{DAY_EXPR} = ?1 AND id <= ?2"),
                    bounds,
                    &mut activity,
                    -1,
                )?;
                tx.prepare_cached(&format!(
                    "DELETE FROM thread_messages WHERE log_id IN \
                     (SELECT id FROM logs WHERE {DAY_EXPR} = ?1 AND id <= ?2)"
                ))
                .and_then(|mut stmt| stmt.execute(bounds))
                .context(&context)?;
                tx.prepare_cached(
                    &crate::references::DELETE_ENTRY_REFS
                        .replace("{}", &format!("{DAY_EXPR} = ?1 AND id <= ?2")),
                )
                .and_then(|mut stmt| stmt.execute(bounds))
                .context(&context)?;
                deleted += tx
                    .prepare_cached(&format!(
                        "DELETE FROM logs WHERE {DAY_EXPR} = ?1 AND id <= ?2"
                    ))
                    .and_then(|mut stmt| stmt.execute(bounds))
                    .context(&context)?;
            }
            tx.prepare_cached("UPDATE counts SET n = n - ?1 WHERE name = 'logs'")
                .and_then(|mut stmt| stmt.execute([deleted as i64]))
                .context("counting the deleted entries")?;
            crate::activity::save(tx, &activity)?;
            crate::write::drop_passed_marks(tx)?;
            for (key, value) in meta {
                set_meta(tx, key, value)?;
            }
            Ok(deleted as u64)
        })
    }

    fn day_entries(
        &self,
        day: chrono::NaiveDate,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        if limit == 0 || !store_core::kit::day_in_range(day) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM logs WHERE {DAY_EXPR} = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        );
        let values = params![
            store_core::kit::number_of_day(day),
            after.map_or(0, id_to_sql),
            limit_to_sql(limit)
        ];
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql).context("preparing a day query")?;
            let rows = stmt
                .query(values)
                .with_context(|| format!("reading the entries of {day}"))?;
            let entries = read::collect(conn, rows, "reading a day", read::log_entry)?;
            refuse_strays(
                entries,
                |entry| entry.ts.date_naive() == day,
                |stray| {
                    format!(
                        "indexed under {day}, but it is of {}",
                        stray.ts.date_naive()
                    )
                },
            )
        })
    }

    fn log_stats(&self) -> StoreResult<store_core::LogStats> {
        // One snapshot: the counters, and min and max as one seek of the day index each.
        let sql = format!(
            "SELECT (SELECT n FROM counts WHERE name = 'logs'), (SELECT min({DAY_EXPR}) FROM logs), \
             (SELECT max({DAY_EXPR}) FROM logs)"
        );
        let (entries, first, last, per_status) = self.read(|conn| {
            // Inside a snapshot's transaction already, or in one of its own.
            let _snapshot = conn
                .is_autocommit()
                .then(|| conn.unchecked_transaction())
                .transpose()
                .context("starting a read")?;
            let tx: &Connection = conn;
            let (entries, first, last): (Option<i64>, Option<i64>, Option<i64>) = tx
                .prepare_cached(&sql)
                .and_then(|mut stmt| {
                    stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                })
                .context("reading the log's counters")?;
            let per_status: Vec<(String, i64)> = tx
                .prepare_cached("SELECT name, n FROM counts WHERE name LIKE 'runs:%'")
                .and_then(|mut stmt| {
                    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                        .collect()
                })
                .context("reading the run counters")?;
            Ok((entries, first, last, per_status))
        })?;
        let mut runs = store_core::RunCounts::default();
        for (name, n) in per_status {
            let status = name
                .strip_prefix("runs:")
                .and_then(|status| status.parse::<store_core::WorkflowRunStatus>().ok())
                .ok_or_else(|| {
                    store_core::StoreError::corrupt("counts", &name, "no such status")
                })?;
            runs = runs.with(status, u64::try_from(n).unwrap_or_default());
        }
        let day = |number: Option<i64>| {
            number
                .map(|n| {
                    store_core::kit::day_of_number(n).ok_or_else(|| {
                        store_core::StoreError::corrupt("logs", n, "day number out of range")
                    })
                })
                .transpose()
        };
        Ok(store_core::LogStats {
            entries: entries
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or_default(),
            first_day: day(first)?,
            last_day: day(last)?,
            runs,
        })
    }

    fn entry_references(&self, ids: &[LogId]) -> StoreResult<Vec<BlobReference>> {
        self.read(|conn| crate::references::entry_references(conn, ids))
    }

    fn referenced(&self, digests: &[Digest]) -> StoreResult<Vec<Digest>> {
        self.read(|conn| crate::references::referenced(conn, digests))
    }

    fn thread_rows(&self, ids: &[LogId]) -> StoreResult<Vec<ThreadIndexRow>> {
        self.read(|conn| {
            // One statement for the page (an archive run asks a thousand ids at a time): the
            // ids as a JSON array, each looked up by its key inside SQLite.
            let ids: Vec<String> = ids.iter().map(|id| id_to_sql(*id).to_string()).collect();
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {THREAD_INDEX_COLUMNS} FROM thread_messages \
                     WHERE log_id IN (SELECT value FROM json_each(?1)) ORDER BY log_id"
                ))
                .context("preparing a thread-index read")?;
            let rows = stmt
                .query([format!("[{}]", ids.join(","))])
                .context("reading the thread index")?;
            read::collect(
                conn,
                rows,
                "reading the thread index",
                read::thread_index_row,
            )
        })
    }

    fn next_log_day(
        &self,
        after: Option<chrono::NaiveDate>,
    ) -> StoreResult<Option<chrono::NaiveDate>> {
        let sql = format!("SELECT min({DAY_EXPR}) FROM logs WHERE {DAY_EXPR} > ?1");
        let floor = after.map_or(i64::MIN, store_core::kit::number_of_day);
        let number: Option<i64> = self.read(|conn| {
            conn.prepare_cached(&sql)
                .and_then(|mut stmt| stmt.query_row([floor], |row| row.get(0)))
                .context("finding the next day of the log")
        })?;
        number
            .map(|n| {
                store_core::kit::day_of_number(n).ok_or_else(|| {
                    store_core::StoreError::corrupt("logs", n, "day number out of range")
                })
            })
            .transpose()
    }

    fn compact(&self) -> StoreResult<()> {
        let conn = self.conns.writer("compact")?;
        let context = || format!("compacting {}", self.path().display());
        conn.execute_batch("VACUUM").with_context(context)?;
        // VACUUM rewrites the file through the WAL, which holds all of it until a checkpoint:
        // the space comes back only once the WAL is copied in and cut short. A reader in
        // another process may keep part of it for later; that is not a failure.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .with_context(context)
    }

    fn check(&self) -> StoreResult<store_core::Checked> {
        /// The most problems SQLite lists before it stops looking.
        const PROBLEMS: u32 = 20;
        // `integrity_check` only reads: a store opened read-only checks itself too.
        let problems: Vec<String> = self.read(|conn| {
            let context = || format!("checking {}", self.path().display());
            let mut statement = conn
                .prepare(&format!("PRAGMA integrity_check({PROBLEMS})"))
                .with_context(context)?;
            let rows = statement
                .query_map([], |row| row.get::<_, String>(0))
                .with_context(context)?;
            rows.collect::<Result<_, _>>().with_context(context)
        })?;
        if problems == ["ok"] {
            return Ok(store_core::Checked::Sound);
        }
        Err(store_core::StoreError::Damaged {
            path: self.path().to_owned(),
            backend: "sqlite",
            detail: format!("integrity_check found: {}", problems.join("; ")),
        })
    }
}

impl LogTransfer for SqliteLogStore {
    fn thread_index(&self, after: Option<LogId>, limit: usize) -> StoreResult<Vec<ThreadIndexRow>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {THREAD_INDEX_COLUMNS} FROM thread_messages \
                     WHERE log_id > ?1 ORDER BY log_id LIMIT ?2"
                ))
                .context("preparing the thread index export")?;
            let rows = stmt
                .query(params![after.map_or(0, id_to_sql), limit_to_sql(limit)])
                .context("reading the thread index")?;
            read::collect(
                conn,
                rows,
                "reading the thread index",
                read::thread_index_row,
            )
        })
    }

    fn blob_references(
        &self,
        after: Option<&BlobReference>,
        limit: usize,
    ) -> StoreResult<Vec<BlobReference>> {
        self.read(|conn| crate::references::blob_references(conn, after, limit))
    }

    fn meta_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, value, crc FROM meta WHERE ?1 IS NULL OR key > ?1 \
                     ORDER BY key LIMIT ?2",
                )
                .context("listing meta")?;
            let rows = stmt
                .query(rusqlite::params![after, limit])
                .context("listing meta")?;
            read::collect(conn, rows, "listing meta", read::meta_pair)
        })
    }

    fn with_snapshot(
        &self,
        work: &mut dyn FnMut(&dyn store_core::LogBackend) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let view = SqliteLogStore {
            conns: self
                .conns
                .snapshot()
                .map_err(|err| on_file(self.path(), err))?,
        };
        work(&view)
    }

    fn import(&self, batch: ImportBatch) -> StoreResult<()> {
        self.write("import", |tx| {
            batch.check(u64::try_from(highest_id(tx)?).unwrap_or(0))?;
            for run in &batch.runs {
                if select_run(tx, &run.run_id)?.is_some() {
                    return Err(store_core::kit::existing_run(&run.run_id));
                }
                upsert_run(tx, run)?;
            }
            let mut counters = LogCounters::default();
            for entry in &batch.entries {
                // Above every id given (the batch's check): appended at the log's end.
                counters.write(tx, entry, true)?;
            }
            counters.save(tx)?;
            for row in &batch.thread_rows {
                index_thread_row(tx, row.log_id, &row.thread_id, row.round, &row.role)?;
            }
            for (key, value) in &batch.meta {
                set_meta(tx, key, value)?;
            }
            for reference in &batch.references {
                crate::references::insert_ref(tx, &reference.digest, &reference.holder.key())
                    .context("importing a blob reference")?;
            }
            Ok(())
        })
    }

    fn restore(&self, batch: RestoreBatch) -> StoreResult<Restored> {
        batch.check()?;
        self.write("restore", |tx| {
            let mut restored = Restored::default();
            let mut counters = LogCounters::default();
            // An entry restored below the log's end is late; past it, appended there.
            let log_end = highest_id(tx)?;
            for entry in &batch.entries {
                let mut stmt = tx
                    .prepare_cached(&format!("SELECT {LOG_COLUMNS} FROM logs WHERE id = ?1"))
                    .context("preparing a log read")?;
                let rows = stmt
                    .query([id_to_sql(entry.id)])
                    .context("reading a log entry")?;
                let held = read::collect(tx, rows, "reading a log entry", read::log_entry)?;
                drop(stmt);
                match held.first() {
                    Some(held) if held == entry => restored.present += 1,
                    Some(_) => return Err(store_core::kit::restore_conflict(entry.id)),
                    None => {
                        counters.write(tx, entry, id_to_sql(entry.id) > log_end)?;
                        if let Some(row) = batch.thread_row(entry.id) {
                            index_thread_row(tx, row.log_id, &row.thread_id, row.round, &row.role)?;
                        }
                        let blobs = batch.blobs_of(entry.id);
                        if !blobs.is_empty() {
                            crate::references::set_refs(tx, &BlobHolder::Entry(entry.id), &blobs)?;
                        }
                        restored.written += 1;
                    }
                }
            }
            counters.save(tx)?;
            Ok(restored)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_core::{Order, WorkflowRunStatus};

    /// The plan SQLite picks for `sql` with `values`, one line per step.
    fn plan(conn: &Connection, sql: &str, values: Vec<Value>) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let steps: Vec<String> = stmt
            .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        steps.join("; ")
    }

    /// Every `list_runs` shape of SPEC 1 searches an index in (created_at, run_id) order and
    /// stops at its limit: no scan of the runs, no sort of every match.
    #[test]
    fn run_listings_search_an_index_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteLogStore::open(dir.path().join("plans.db")).expect("open");
        let reader = store.conns.reader().expect("reader");
        let shapes = [
            (
                "one status",
                RunQuery {
                    statuses: vec![WorkflowRunStatus::Queued],
                    ..RunQuery::default()
                },
            ),
            (
                "the active statuses",
                RunQuery {
                    statuses: vec![WorkflowRunStatus::Queued, WorkflowRunStatus::Started],
                    ..RunQuery::default()
                },
            ),
            (
                "a workflow",
                RunQuery {
                    workflow: Some("wf".into()),
                    ..RunQuery::default()
                },
            ),
            (
                "a thread",
                RunQuery {
                    thread_id: Some("t".into()),
                    ..RunQuery::default()
                },
            ),
            (
                "a cursor alone",
                RunQuery {
                    after: Some("r".into()),
                    ..RunQuery::default()
                },
            ),
            (
                "a status after a cursor",
                RunQuery {
                    statuses: vec![WorkflowRunStatus::Started],
                    after: Some("r".into()),
                    ..RunQuery::default()
                },
            ),
        ];
        for (name, query) in shapes {
            let cursor = query.after.as_deref().map(|run| (0, run));
            let (sql, values) = run_query_sql(&query, cursor);
            let plan = plan(&reader, &sql, values);
            assert!(
                plan.contains("USING INDEX runs_by")
                    || plan.contains("USING COVERING INDEX runs_by"),
                "{name}: {plan}"
            );
            assert!(!plan.contains("SCAN runs"), "{name} scans the runs: {plan}");
            assert!(
                !plan.contains("TEMP B-TREE"),
                "{name} sorts every match: {plan}"
            );
        }
    }

    /// The plan SQLite picks for each query shape of SPEC 1 that must cost O(log n + k):
    /// it must search an index, not scan the table, and must not sort the whole result.
    #[test]
    fn indexed_queries_search_an_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteLogStore::open(dir.path().join("plans.db")).expect("open");
        let shapes = [
            (
                "ref_id",
                LogQuery {
                    ref_id: Some("r".into()),
                    ..LogQuery::default()
                },
                "logs_by_ref",
            ),
            (
                "source and kind",
                LogQuery {
                    source: Some("s".into()),
                    kind: Some("k".into()),
                    ..LogQuery::default()
                },
                "logs_by_source_kind",
            ),
            (
                "ref_id descending after a cursor",
                LogQuery {
                    ref_id: Some("r".into()),
                    before: Some(LogId(10)),
                    order: Order::Descending,
                    ..LogQuery::default()
                },
                "logs_by_ref",
            ),
        ];
        let reader = store.conns.reader().expect("reader");
        for (sql, index) in [
            (
                format!("SELECT id FROM logs WHERE {DAY_EXPR} = 7 AND id > 0 ORDER BY id LIMIT 10"),
                "logs_by_day",
            ),
            (
                format!("SELECT min({DAY_EXPR}) FROM logs WHERE {DAY_EXPR} > 7"),
                "logs_by_day",
            ),
            // What `delete_days` deletes, and the thread rows it deletes with them.
            (
                format!("DELETE FROM logs WHERE {DAY_EXPR} = 7 AND id <= 100"),
                "logs_by_day",
            ),
            (
                format!(
                    "DELETE FROM thread_messages WHERE log_id IN \
                     (SELECT id FROM logs WHERE {DAY_EXPR} = 7 AND id <= 100)"
                ),
                "logs_by_day",
            ),
        ] {
            let plan = plan(&reader, &sql, Vec::new());
            assert!(
                plan.contains(index)
                    && !plan.contains("SCAN logs")
                    && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
        }
        for (name, query, index) in shapes {
            let (sql, values) = log_query_sql(&query);
            let plan = plan(&reader, &sql, values);
            assert!(
                plan.contains(&format!("SEARCH logs USING INDEX {index}")),
                "{name}: {plan}"
            );
            assert!(
                !plan.contains("TEMP B-TREE"),
                "{name} sorts its result: {plan}"
            );
        }
        let range = |query: LogQuery| LogQuery {
            since: Some(now_millis()),
            until: Some(now_millis() + chrono::Duration::hours(24)),
            ..query
        };
        let time_shapes = [
            ("a range", range(LogQuery::default())),
            (
                "since alone",
                LogQuery {
                    since: Some(now_millis()),
                    ..LogQuery::default()
                },
            ),
            (
                "until alone",
                LogQuery {
                    until: Some(now_millis()),
                    ..LogQuery::default()
                },
            ),
            (
                "a range descending after a cursor",
                range(LogQuery {
                    before: Some(LogId(10)),
                    order: Order::Descending,
                    ..LogQuery::default()
                }),
            ),
            (
                "a range of a source and kind",
                range(LogQuery {
                    source: Some("s".into()),
                    kind: Some("k".into()),
                    ..LogQuery::default()
                }),
            ),
        ];
        for (name, query) in time_shapes {
            assert!(read::is_time_range(&query), "{name}");
            // The ends: one seek each of the time marks, by their key.
            let seek = plan(&reader, read::FIRST_ID_FROM_MARK, vec![Value::Integer(0)]);
            assert!(
                seek.contains("SEARCH time_marks USING INTEGER PRIMARY KEY")
                    && !seek.contains("TEMP B-TREE"),
                "{name}: {seek}"
            );
            // The walk between them is searched, in id order; only the late entries of the
            // range are sorted.
            let (sql, values) = read::time_query_sql(&query, Some((1, 1000)));
            let plan = plan(&reader, &sql, values);
            assert!(!plan.contains("SCAN logs"), "{name} scans: {plan}");
            assert!(
                plan.contains("SEARCH logs USING INDEX logs_late_by_ts"),
                "{name}: {plan}"
            );
            assert_eq!(
                plan.matches("TEMP B-TREE").count(),
                1,
                "{name}: only the late entries are sorted: {plan}"
            );
        }
    }
}
