//! `SqliteLogStore`: the `LogStore` contract on SQLite.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, TransactionBehavior, params, params_from_iter};
use store_core::{
    DaySpan, GetThreadRoundsParams, ImportBatch, LogEntry, LogId, LogMaintenance, LogQuery,
    LogStore, LogTransfer, MAX_LOG_ID, NewLogEntry, Order, RunQuery, RunTransition, StoreResult,
    ThreadIndexRow, ThreadMessage, ThreadRoundRow, TransitionOutcome, WorkflowRun,
    kit::{
        PreparedEntry, TransitionPlan, bound_millis, check_meta_key, check_meta_pairs, now_millis,
        plan_transition, prepare_batch,
    },
};

use crate::checksum;
use crate::connections::Connections;
use crate::error::{Context, engine_error};
use crate::options::SqliteOptions;
use crate::rows::{
    self, BIG_PAYLOAD, LOG_COLUMNS, RUN_COLUMNS, THREAD_INDEX_COLUMNS, THREAD_ROW_COLUMNS,
    id_to_sql, limit_to_sql, to_millis,
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
        Ok(SqliteLogStore {
            conns: Connections::open(path.as_ref(), options)?,
        })
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        self.conns.path()
    }

    /// Runs `work` in one immediate write transaction and commits it; on error nothing of it
    /// stays.
    fn write<T>(
        &self,
        context: &str,
        work: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conns.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .with_context(|| format!("starting a transaction for {context}"))?;
        let value = work(&tx)?;
        tx.commit()
            .with_context(|| format!("committing {context}"))?;
        Ok(value)
    }

    fn read<T>(&self, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let reader = self.conns.reader()?;
        work(&reader)
    }
}

/// The highest id ever given out, 0 for none: `AUTOINCREMENT` keeps it in `sqlite_sequence`,
/// deleted or not.
fn highest_id(tx: &Transaction<'_>) -> StoreResult<i64> {
    tx.prepare_cached(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'logs'), 0), \
                    coalesce((SELECT max(id) FROM logs), 0))",
    )
    .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
    .context("reading the id counter")
}

/// The id the next appended entry gets: one above every id ever given out.
fn next_id(tx: &Transaction<'_>) -> StoreResult<i64> {
    highest_id(tx)?
        .checked_add(1)
        .ok_or(store_core::StoreError::IdsExhausted { last: MAX_LOG_ID })
}

/// Appends `entries` under consecutive ids, each row with its checksum (which covers the id,
/// so the id is chosen here rather than by SQLite).
fn insert_entries(tx: &Transaction<'_>, entries: Vec<PreparedEntry>) -> StoreResult<Vec<LogEntry>> {
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
fn insert_entry(tx: &Transaction<'_>, entry: PreparedEntry) -> StoreResult<LogEntry> {
    insert_entries(tx, vec![entry])?
        .pop()
        .ok_or_else(|| store_core::StoreError::invalid("entry", "was not appended"))
}

/// `entries` as read, unless one of them does not `belong` to what was asked: a damaged index
/// named it, which is [`store_core::StoreError::CorruptValue`] with `why` it does not belong.
fn refuse_strays(
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

/// Writes `entry` under its own id, with its checksum.
fn write_entry(tx: &Transaction<'_>, entry: &LogEntry) -> StoreResult<()> {
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
        rows::write_big_payload(tx, id, &entry.payload)?;
    }
    Ok(())
}

/// Indexes the entry `log_id` as a message of `thread_id`, `round`, `role`.
fn index_thread_row(
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

fn set_meta(tx: &Transaction<'_>, key: &str, value: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value, crc) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, crc = excluded.crc",
    )
    .and_then(|mut stmt| stmt.execute(params![key, value, checksum::meta_row(key, value)]))
    .with_context(|| format!("writing meta key {key:?}"))?;
    Ok(())
}

fn select_run(conn: &Connection, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"))
        .context("preparing the run lookup")?;
    let rows = stmt
        .query([run_id])
        .with_context(|| format!("reading run {run_id:?}"))?;
    Ok(rows::collect(conn, rows, "reading a run", rows::workflow_run)?.pop())
}

fn upsert_run(tx: &Transaction<'_>, run: &WorkflowRun) -> StoreResult<()> {
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

/// The SQL of a log query and its parameters. Equality on `ref_id` or `source` lets SQLite
/// walk the matching index in id order; a query bounded only by time is pointed at the `ts`
/// index, which SQLite would otherwise pass over for a full walk in id order.
fn log_query_sql(query: &LogQuery) -> (String, Vec<Value>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
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
    let time_only = query.ref_id.is_none()
        && query.source.is_none()
        && (query.since.is_some() || query.until.is_some());
    let index = if time_only {
        " INDEXED BY logs_by_ts"
    } else {
        ""
    };
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let order = match query.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    };
    values.push(Value::Integer(limit_to_sql(query.effective_limit())));
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM logs{index}{filter} ORDER BY id {order} LIMIT ?{}",
        values.len()
    );
    (sql, values)
}

/// The SQL of a run listing and its parameters.
fn run_query_sql(query: &RunQuery) -> (String, Vec<Value>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if !query.statuses.is_empty() {
        let mut placeholders = Vec::new();
        for status in &query.statuses {
            values.push(Value::Text(status.as_str().to_owned()));
            placeholders.push(format!("?{}", values.len()));
        }
        conditions.push(format!("status IN ({})", placeholders.join(", ")));
    }
    if let Some(workflow) = &query.workflow {
        values.push(Value::Text(workflow.clone()));
        conditions.push(format!("workflow = ?{}", values.len()));
    }
    if let Some(thread_id) = &query.thread_id {
        values.push(Value::Text(thread_id.clone()));
        conditions.push(format!("thread_id = ?{}", values.len()));
    }
    if let Some(after) = &query.after {
        values.push(Value::Text(after.clone()));
        let n = values.len();
        conditions.push(format!(
            "(created_at, run_id) > (SELECT created_at, run_id FROM runs WHERE run_id = ?{n})"
        ));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    values.push(Value::Integer(limit_to_sql(query.effective_limit())));
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs{filter} ORDER BY created_at, run_id LIMIT ?{}",
        values.len()
    );
    (sql, values)
}

fn run_query(
    conn: &Connection,
    sql: &str,
    values: Vec<Value>,
    context: &str,
) -> StoreResult<Vec<WorkflowRun>> {
    let mut stmt = conn
        .prepare_cached(sql)
        .with_context(|| format!("preparing {context}"))?;
    let rows = stmt.query(params_from_iter(values)).context(context)?;
    rows::collect(conn, rows, context, rows::workflow_run)
}

fn thread_query(
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
    rows::collect(conn, rows, "reading a thread", rows::thread_row)
}

impl LogStore for SqliteLogStore {
    fn append(&self, entry: NewLogEntry) -> StoreResult<LogEntry> {
        let entry = entry.prepare(now_millis())?;
        self.write("an append", |tx| insert_entry(tx, entry))
    }

    fn append_batch(&self, entries: Vec<NewLogEntry>) -> StoreResult<Vec<LogEntry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let entries = prepare_batch(entries, now_millis())?;
        self.write("a batch append", |tx| insert_entries(tx, entries))
    }

    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        query.validate()?;
        if query.effective_limit() == 0 {
            return Ok(Vec::new());
        }
        let (sql, values) = log_query_sql(query);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql).context("preparing a log query")?;
            let rows = stmt
                .query(params_from_iter(values))
                .context("querying the log")?;
            let entries = rows::collect(conn, rows, "querying the log", rows::log_entry)?;
            refuse_strays(
                entries,
                |entry| query.matches(entry),
                |_| "an index names this entry for a query it does not match".to_owned(),
            )
        })
    }

    fn transition_run(&self, transition: RunTransition) -> StoreResult<TransitionOutcome> {
        let now = now_millis();
        self.write("a run transition", |tx| {
            let current = select_run(tx, &transition.run_id)?;
            match plan_transition(current.as_ref(), &transition, now)? {
                TransitionPlan::Unchanged(run) => Ok(TransitionOutcome::Unchanged { run }),
                TransitionPlan::Apply {
                    run,
                    previous,
                    audit,
                } => {
                    upsert_run(tx, &run)?;
                    let audit = insert_entry(tx, audit.prepare(now)?)?;
                    Ok(TransitionOutcome::Applied {
                        run,
                        previous,
                        audit,
                    })
                }
            }
        })
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        self.read(|conn| select_run(conn, run_id))
    }

    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        self.read(|conn| {
            if let Some(after) = &query.after
                && select_run(conn, after)?.is_none()
            {
                return Err(store_core::StoreError::UnknownRun {
                    run_id: after.clone(),
                });
            }
            if query.effective_limit() == 0 {
                return Ok(Vec::new());
            }
            let (sql, values) = run_query_sql(query);
            run_query(conn, &sql, values, "listing runs")
        })
    }

    fn append_thread_message(&self, message: ThreadMessage) -> StoreResult<LogEntry> {
        let entry = message.to_log_entry()?.prepare(now_millis())?;
        self.write("a thread message", |tx| {
            let entry = insert_entry(tx, entry)?;
            index_thread_row(
                tx,
                entry.id,
                &message.thread_id,
                message.round,
                &message.role,
            )?;
            Ok(entry)
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
            Ok(rows::collect(conn, rows, "reading meta", rows::meta_pair)?
                .pop()
                .map(|(_, value)| value))
        })
    }

    fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        check_meta_key(key)?;
        self.write("a meta write", |tx| set_meta(tx, key, value))
    }

    fn meta_delete(&self, key: &str) -> StoreResult<bool> {
        self.write("a meta delete", |tx| {
            let deleted = tx
                .prepare_cached("DELETE FROM meta WHERE key = ?1")
                .and_then(|mut stmt| stmt.execute([key]))
                .with_context(|| format!("deleting meta key {key:?}"))?;
            Ok(deleted > 0)
        })
    }
}

impl LogMaintenance for SqliteLogStore {
    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
        check_meta_pairs(meta)?;
        self.write("deleting days", |tx| {
            let mut deleted = 0;
            for span in spans {
                let (start, end) = span.bounds();
                let bounds = params![start, end, id_to_sql(span.through)];
                let context = format!("deleting {} through id {}", span.day, span.through);
                tx.prepare_cached(
                    "DELETE FROM thread_messages WHERE log_id IN \
                     (SELECT id FROM logs WHERE ts >= ?1 AND ts < ?2 AND id <= ?3)",
                )
                .and_then(|mut stmt| stmt.execute(bounds))
                .context(&context)?;
                deleted += tx
                    .prepare_cached("DELETE FROM logs WHERE ts >= ?1 AND ts < ?2 AND id <= ?3")
                    .and_then(|mut stmt| stmt.execute(bounds))
                    .context(&context)?;
            }
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
            let entries = rows::collect(conn, rows, "reading a day", rows::log_entry)?;
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
        // Three subqueries, so that min and max are each one seek of the day index.
        let sql = format!(
            "SELECT (SELECT count(*) FROM logs), (SELECT min({DAY_EXPR}) FROM logs), \
             (SELECT max({DAY_EXPR}) FROM logs)"
        );
        let (entries, first, last): (i64, Option<i64>, Option<i64>) = self.read(|conn| {
            conn.prepare_cached(&sql)
                .and_then(|mut stmt| {
                    stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                })
                .context("counting the log")
        })?;
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
            entries: u64::try_from(entries).unwrap_or_default(),
            first_day: day(first)?,
            last_day: day(last)?,
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
        let conn = self.conns.writer();
        conn.execute_batch("VACUUM")
            .with_context(|| format!("compacting {}", self.path().display()))
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
            rows::collect(
                conn,
                rows,
                "reading the thread index",
                rows::thread_index_row,
            )
        })
    }

    fn meta_entries(&self) -> StoreResult<Vec<(String, String)>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT key, value, crc FROM meta ORDER BY key")
                .context("listing meta")?;
            let rows = stmt.query([]).context("listing meta")?;
            rows::collect(conn, rows, "listing meta", rows::meta_pair)
        })
    }

    fn import(&self, batch: ImportBatch) -> StoreResult<()> {
        self.write("an import", |tx| {
            batch.check(u64::try_from(highest_id(tx)?).unwrap_or(0))?;
            for run in &batch.runs {
                if select_run(tx, &run.run_id)?.is_some() {
                    return Err(store_core::kit::existing_run(&run.run_id));
                }
                upsert_run(tx, run)?;
            }
            for entry in &batch.entries {
                write_entry(tx, entry)?;
            }
            for row in &batch.thread_rows {
                index_thread_row(tx, row.log_id, &row.thread_id, row.round, &row.role)?;
            }
            for (key, value) in &batch.meta {
                set_meta(tx, key, value)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                "ts range",
                LogQuery {
                    since: Some(now_millis()),
                    until: Some(now_millis()),
                    ..LogQuery::default()
                },
                "logs_by_ts",
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
        ] {
            let plan: Vec<String> = reader
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain")
                .query_map([], |row| row.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            let plan = plan.join("; ");
            assert!(
                plan.contains(index)
                    && !plan.contains("SCAN logs")
                    && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
        }
        for (name, query, index) in shapes {
            let (sql, values) = log_query_sql(&query);
            let mut stmt = reader
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain");
            let plan: Vec<String> = stmt
                .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            let plan = plan.join("; ");
            assert!(
                plan.contains(&format!("SEARCH logs USING INDEX {index}")),
                "{name}: {plan}"
            );
            if name != "ts range" {
                assert!(
                    !plan.contains("TEMP B-TREE"),
                    "{name} sorts its result: {plan}"
                );
            }
        }
    }
}
