//! `PgLogStore`: the traits of `store-core` on a pool of PostgreSQL connections.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use postgres::NoTls;
use r2d2::{Pool, PooledConnection};
use store_core::kit::{
    CommitQueue, check_meta_pairs, day_in_range, day_of_number, number_of_day, prepare_unit,
};
use store_core::{
    DaySpan, GetThreadRoundsParams, ImportBatch, LogBackend, LogEntry, LogId, LogMaintenance,
    LogQuery, LogStats, LogStore, LogTransfer, RestoreBatch, Restored, RunCounts, RunQuery,
    StoreError, StoreResult, ThreadIndexRow, ThreadRoundRow, WorkflowRun, WorkflowRunStatus,
    WriteUnit, Written,
};

use crate::connection::PgConn;
use crate::error::{Context, pool_error};
use crate::ids::IDS_PER_TRANSACTION;
use crate::options::PgOptions;
use crate::read::{self, LOG_COLUMNS, id_to_sql, limit_to_sql, params};
use crate::references;
use crate::runtime::{DropOffRuntime, off_runtime};
use crate::schema::{create_or_check, quoted};
use crate::write::{
    COUNT_MARK_EVERY, GroupTx, Ids, LogLock, begin, commit_group, move_count_mark, read_run,
    set_meta,
};

type Connection = PooledConnection<crate::connection::Manager>;

/// A log store in one PostgreSQL schema, shared by every process that opens it: see the
/// crate's documentation for how their writers share it without waiting for each other.
///
/// Every call takes a connection from the store's pool (at most
/// [`PgOptions::pool_size`]); writes from threads of one process that wait at the same time
/// commit together in one transaction.
pub struct PgLogStore {
    /// Dropped off any tokio runtime: closing its clients runs the sync client.
    pool: DropOffRuntime<Pool<crate::connection::Manager>>,
    /// The connection writes go through, one at a time (the commit queue's writer lock): its
    /// session runs every statement with the one plan made for it, where the reads' sessions
    /// keep PostgreSQL's default.
    writes: DropOffRuntime<Pool<crate::connection::Manager>>,
    /// The schema, quoted, as every statement names it.
    s: String,
    /// The location as it is shown: its password masked.
    location: String,
    /// The server's host and port, as errors name it.
    server: String,
    queue: CommitQueue<()>,
    /// A snapshot's view ([`LogTransfer::with_snapshot`]): every read on one connection in
    /// one `REPEATABLE READ` transaction, and no write.
    pinned: Option<std::sync::Mutex<Connection>>,
    read_only: bool,
    /// Entries this handle has written since it last moved the entry count's mark.
    since_mark: AtomicU64,
}

impl std::fmt::Debug for PgLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLogStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PgLogStore {
    /// Opens the store at `location` (`postgres://…?schema=NAME`) with the default pool and
    /// timeouts, creating its schema and tables if the schema holds none.
    ///
    /// # Errors
    /// As [`PgLogStore::open_with`].
    pub fn open(location: &str) -> StoreResult<Self> {
        Self::open_with(PgOptions::from_location(location)?)
    }

    /// Opens the store `options` name. The schema and its tables are created in one
    /// transaction under a lock when the schema holds no table, so daemons that open a new
    /// store together create it once.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] for a schema that holds another program's tables,
    /// [`StoreError::SchemaTooNew`] for a newer schema version, [`StoreError::Unavailable`]
    /// when the server refuses the connection or cannot be reached within the connect
    /// time-out (naming its host and port), [`StoreError::Backend`] for any other failure
    /// (a refused password, a database that does not exist). No message shows a password.
    ///
    /// Any thread may open and call the store, a tokio runtime's included: there the sync
    /// client runs on a thread of its own (see the crate's documentation).
    pub fn open_with(options: PgOptions) -> StoreResult<Self> {
        off_runtime(move || Self::open_here(options))
    }

    fn open_here(options: PgOptions) -> StoreResult<Self> {
        let location = options.shown_location();
        let mut config: postgres::Config =
            options.url.parse().map_err(|err: postgres::Error| {
                StoreError::invalid("location", format!("{location}: {err}"))
            })?;
        if options.store.cache_bytes.is_some() {
            return Err(StoreError::invalid(
                "cache_bytes",
                "a PostgreSQL store's cache is the server's (shared_buffers), which a store \
                 cannot size: leave cache_bytes unset",
            ));
        }
        let synchronous_commit = match options.store.durability {
            store_core::Durability::Deferred => "off",
            _ => "on",
        };
        // No parallel plans and no JIT: every statement of the store reads a bounded part
        // of an index (or counts the few entries above the entry count's mark), which the
        // planner, not knowing the mark, may cost as millions of rows; starting workers took
        // 10 ms of the overview's 12 ms at a million entries, compiling 30 ms of its 38 at
        // ten million.
        let session = format!(
            "-c lock_timeout={} -c idle_in_transaction_session_timeout={} \
             -c synchronous_commit={synchronous_commit} -c max_parallel_workers_per_gather=0 \
             -c jit=off",
            options.lock_timeout.as_millis(),
            options.idle_in_transaction_timeout.as_millis()
        );
        config.options(&session);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        let server = crate::error::servers(&config);
        // The first connection is made here rather than by the pool, which would retry a
        // refused connection until its time-out and then say only that it timed out: a
        // server that refuses fails the open at once, one that cannot be reached after the
        // connect time-out, each naming the server and the cause.
        let login_within = options.connect_timeout + options.lock_timeout;
        let mut first = connect_within(&config, login_within, &server)?;
        if options.store.read_only {
            crate::schema::check_read_only(&mut first, &options.schema, &location)?;
        } else {
            if !options.store.create_if_missing {
                crate::schema::check_store_exists(&mut first, &options.schema, &location)?;
            }
            create_or_check(
                &mut first,
                &options.schema,
                &location,
                &options.store.meta_when_created,
            )?;
        }
        drop(first);
        // A group's write, whose arrays the planner cannot size, was planned again at every
        // call with PostgreSQL's default (130 µs of a lone append's 370 µs); a read keeps the
        // default, so that a time range is planned for the range it is.
        let mut write_config = config.clone();
        write_config.options(&format!("{session} -c plan_cache_mode=force_generic_plan"));
        // A call waits for a connection as long as a statement waits for a lock: while
        // every connection is busy, or while the server is down (then it is
        // `Unavailable`, and the pool connects again once the server is back).
        let pool = |config: postgres::Config, size: u32| {
            let manager = crate::connection::Manager(
                r2d2_postgres::PostgresConnectionManager::new(config, NoTls),
            );
            Pool::builder()
                .max_size(size)
                .min_idle(Some(0))
                .connection_timeout(options.lock_timeout.max(options.connect_timeout))
                .build_unchecked(manager)
        };
        Ok(PgLogStore {
            pool: DropOffRuntime::new(pool(config, options.pool_size)),
            writes: DropOffRuntime::new(pool(write_config, 1)),
            s: quoted(&options.schema),
            location,
            server,
            queue: CommitQueue::new((), options.store.group_commit),
            pinned: None,
            read_only: options.store.read_only,
            since_mark: AtomicU64::new(0),
        })
    }

    /// Removes the store that `options` name, its schema and everything in it: what a copy
    /// that made the store and then failed, or was stopped, does so that nothing is left.
    /// No store there is not an error. Close every handle on the store first: a statement
    /// waits at most `lock_timeout` for the locks they hold.
    ///
    /// # Errors
    /// The server's errors; [`StoreError::OpenedReadOnly`] for read-only options.
    pub fn remove(options: PgOptions) -> StoreResult<()> {
        if options.store.read_only {
            return Err(StoreError::OpenedReadOnly {
                path: options.shown_location().into(),
                operation: "remove the store",
            });
        }
        let store = match Self::open_with(options.create_if_missing(false)) {
            Ok(store) => store,
            Err(StoreError::NoStore { .. }) => return Ok(()),
            Err(err) => return Err(err),
        };
        off_runtime(|| {
            let mut conn = store.connection("removing the store")?;
            conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", store.s))
                .context("removing the store")
        })
    }

    /// The pool the store's calls take connections from.
    pub(crate) fn pool(&self) -> &Pool<crate::connection::Manager> {
        &self.pool
    }

    /// The server's host and port, as errors name it.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// The store's schema, quoted.
    pub(crate) fn schema(&self) -> &str {
        &self.s
    }

    /// Where the store is: its URL with the `schema` parameter, any password masked.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn connection(&self, context: &str) -> StoreResult<Connection> {
        self.pool
            .get()
            .map_err(|err| pool_error(context, &self.server, err))
    }

    /// The connection of writes; the caller holds the commit queue's writer.
    fn write_connection(&self, context: &str) -> StoreResult<Connection> {
        self.writes
            .get()
            .map_err(|err| pool_error(context, &self.server, err))
    }

    fn writable(&self, operation: &'static str) -> StoreResult<()> {
        if self.pinned.is_some() || self.read_only {
            return Err(StoreError::OpenedReadOnly {
                path: self.location.clone().into(),
                operation,
            });
        }
        Ok(())
    }

    /// Commits one group of the commit queue on the write connection; after every
    /// [`COUNT_MARK_EVERY`] entries this handle has written, moves the entry count's mark
    /// too, so that `log_stats` counts few entries one by one.
    fn commit_group(
        &self,
        units: Vec<store_core::kit::PreparedUnit>,
    ) -> Vec<store_core::kit::UnitResult> {
        off_runtime(|| {
            let mut conn = match self.write_connection("writing") {
                Ok(conn) => conn,
                Err(err) => return store_core::kit::fail_all(err, units.len()),
            };
            let results = commit_group(&mut conn, &self.s, units);
            let written: u64 = results
                .iter()
                .flatten()
                .map(|written| written.iter().filter(|w| w.entry().is_some()).count() as u64)
                .sum();
            self.count_toward_mark(&mut conn, written);
            results
        })
    }

    /// Adds `written` committed entries to those this handle has written since it last moved
    /// the entry count's mark, and moves it (on `conn`) once they reach [`COUNT_MARK_EVERY`]:
    /// every way of adding entries (appends, imports) calls it, so that no read counts more
    /// than about that many entries one by one per handle that wrote them.
    fn count_toward_mark(&self, conn: &mut Connection, written: u64) {
        let since = self.since_mark.fetch_add(written, Ordering::Relaxed) + written;
        if since >= COUNT_MARK_EVERY {
            self.since_mark.store(0, Ordering::Relaxed);
            // A mark that does not move leaves the count right: more is counted when
            // asked, and the next write tries again.
            if let Err(err) = move_count_mark(conn, &self.s) {
                self.since_mark.store(since, Ordering::Relaxed);
                tracing::debug!(error = %err, "the entry count's mark did not move");
            }
        }
    }

    /// Whether reads are bounded by the store's horizon: every read but a snapshot's.
    fn bounded(&self) -> bool {
        self.pinned.is_none()
    }

    /// ` AND {column} <= $n` for a bounded read ([`PgLogStore::bounded`]), else nothing:
    /// the horizon is the read's `n`-th and last value ([`PgLogStore::bounded_params`]).
    fn horizon_condition(&self, column: &str, n: usize) -> String {
        if self.bounded() {
            format!(" AND {column} <= ${n}")
        } else {
            String::new()
        }
    }

    /// `values` as the client takes them, with the store's horizon, read on `conn` just
    /// before, last when the read is bounded.
    fn bounded_params<'v>(
        &self,
        conn: &mut PgConn,
        values: &'v read::Values,
        horizon: &'v mut i64,
    ) -> StoreResult<Vec<&'v (dyn postgres::types::ToSql + Sync)>> {
        let mut all = params(values);
        if self.bounded() {
            *horizon = crate::ids::horizon(conn, &self.s)?;
            all.push(&*horizon);
        }
        Ok(all)
    }

    /// Runs `work` on a connection: the snapshot's own, or one of the pool's.
    fn read<T: Send>(
        &self,
        work: impl FnOnce(&mut PgConn) -> StoreResult<T> + Send,
    ) -> StoreResult<T> {
        off_runtime(|| {
            store_core::kit::traced_read(std::path::Path::new(&self.location), || {
                match &self.pinned {
                    Some(pinned) => {
                        let mut conn = pinned.lock().unwrap_or_else(|p| p.into_inner());
                        work(&mut conn)
                    }
                    None => {
                        let mut conn = self.connection("reading")?;
                        work(&mut conn)
                    }
                }
            })
        })
    }

    /// Runs `work` in one writing transaction that holds the log table as `lock` says, and
    /// commits it.
    fn write<T: Send>(
        &self,
        operation: &'static str,
        lock: LogLock,
        work: impl FnOnce(&mut GroupTx<'_>) -> StoreResult<T> + Send,
    ) -> StoreResult<T> {
        self.writable(operation)?;
        off_runtime(|| {
            let _between_groups = self.queue.writer();
            let mut conn = self.write_connection(operation)?;
            let (client, statements) = conn.split();
            let (mut tx, origin) = begin(client, &self.s, lock)?;
            let mut group = GroupTx::new(tx.client(), statements, &self.s, origin);
            let value = work(&mut group)?;
            group.finish(Ids::AsPlanned)?;
            tx.commit(operation)?;
            Ok(value)
        })
    }

    fn query_logs(
        &self,
        sql: &str,
        values: &read::Values,
        context: &str,
    ) -> StoreResult<Vec<LogEntry>> {
        self.read(|conn| {
            let mut horizon = 0;
            let values = self.bounded_params(conn, values, &mut horizon)?;
            conn.query_cached(sql, &values)
                .context(context)?
                .iter()
                .map(read::log_entry)
                .collect()
        })
    }

    /// A query bounded in time, walked hour by hour ([`crate::hours`]): in a snapshot of its
    /// own when it takes more than one statement (a pinned snapshot's is its own already),
    /// the horizon read before it.
    fn query_by_hours(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.read(|conn| {
            let horizon = if self.bounded() {
                Some(crate::ids::horizon(conn, &self.s)?)
            } else {
                None
            };
            let (client, statements) = conn.split();
            if self.pinned.is_some() || crate::hours::fits_one_statement(query) {
                return crate::hours::walk(client, statements, &self.s, query, horizon);
            }
            in_snapshot(client, |tx| {
                crate::hours::walk(tx, statements, &self.s, query, horizon)
            })
        })
    }

    fn thread_query(
        &self,
        sql: &str,
        values: &read::Values,
        thread_id: &str,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        self.read(|conn| {
            let mut horizon = 0;
            let values = self.bounded_params(conn, values, &mut horizon)?;
            conn.query_cached(sql, &values)
                .context("reading a thread")?
                .iter()
                .map(|row| read::thread_row(row, thread_id))
                .collect()
        })
    }
}

/// `read` in a read-only snapshot of its own on `client` (repeatable read), ended after it:
/// the statements of one answer see one state of the store.
fn in_snapshot<T>(
    client: &mut postgres::Client,
    read: impl FnOnce(&mut postgres::Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .context("starting a read")?;
    let answer = read(&mut tx)?;
    tx.commit().context("ending a read")?;
    Ok(answer)
}

/// The counters and day bounds `log_stats` reads, and the run counts.
type StatsRows = (Option<i64>, Option<i64>, Option<i64>, Vec<(String, i64)>);

fn stats_rows(
    conn: &mut impl postgres::GenericClient,
    sql: &str,
    counts: &str,
) -> StoreResult<StatsRows> {
    let row = conn
        .query_one(sql, &[])
        .context("reading the log's counters")?;
    let per_status = conn
        .query(counts, &[])
        .context("reading the run counters")?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    Ok((row.get(0), row.get(1), row.get(2), per_status))
}

const THREAD_ROW_COLUMNS: &str = "t.round, t.role, l.id, l.ts, l.payload";

/// `config.connect`, bounded as a whole by `limit`: the client bounds the TCP connection
/// (`connect_timeout`) but not the login after it, so a server that accepts and never
/// answers would hold the open forever. Past `limit` the open is `Unavailable`; the attempt's
/// thread is left to end by itself when the connection does.
fn connect_within(
    config: &postgres::Config,
    limit: std::time::Duration,
    server: &str,
) -> StoreResult<postgres::Client> {
    let context = || format!("connecting to {server}");
    let (sender, receiver) = std::sync::mpsc::channel();
    let config = config.clone();
    std::thread::Builder::new()
        .name("nerve-store-pg-connect".into())
        .spawn(move || {
            let _ = sender.send(config.connect(NoTls));
        })
        .map_err(|err| StoreError::Io {
            path: None,
            context: format!("starting a thread for {}", context()),
            source: err.into(),
        })?;
    match receiver.recv_timeout(limit) {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(err)) => Err(crate::error::engine_error(context(), err)),
        Err(_) => Err(StoreError::Unavailable {
            backend: "postgres",
            context: context(),
            source: store_core::kit::engine_message(format!(
                "the server did not complete the login within {limit:?}"
            )),
        }),
    }
}

impl LogStore for PgLogStore {
    fn write_units(&self, units: Vec<WriteUnit>) -> Vec<StoreResult<Vec<Written>>> {
        if let Err(err) = self.writable("write") {
            return store_core::kit::fail_all(err, units.len());
        }
        store_core::kit::submit_units(units, store_core::kit::now_millis(), |prepared| {
            self.queue
                .submit_all(prepared, |_, units| self.commit_group(units))
        })
    }

    fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        if unit.is_empty() {
            return Ok(Vec::new());
        }
        self.writable("write")?;
        let unit = prepare_unit(unit, store_core::kit::now_millis())?;
        // Only the call that leads a group needs a connection, and only while it commits.
        self.queue.submit(unit, |_, units| self.commit_group(units))
    }

    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        query.validate()?;
        if query.effective_limit() == 0 {
            return Ok(Vec::new());
        }
        if crate::hours::answers(query) {
            return self.query_by_hours(query);
        }
        let (sql, values) = read::log_query_sql(&self.s, query, self.bounded());
        self.query_logs(&sql, &values, "querying the log")
    }

    fn activity(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<store_core::HourCount>> {
        let hours = store_core::kit::hours_between(since, until);
        self.read(|conn| {
            // The counted rows and the entries above the mark from one snapshot.
            if self.pinned.is_some() {
                return crate::activity::read(&mut **conn, &self.s, hours.clone());
            }
            in_snapshot(conn, |tx| crate::activity::read(tx, &self.s, hours.clone()))
        })
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        self.read(|conn| {
            let (client, statements) = conn.split();
            read_run(client, statements, &self.s, run_id)
        })
    }

    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        query.validate()?;
        let cursor = query.cursor_run(|run_id| self.get_run(run_id))?;
        if query.effective_limit() == 0 {
            return Ok(Vec::new());
        }
        let cursor = cursor
            .as_ref()
            .map(|run| (run.created_at.timestamp_millis(), run.run_id.as_str()));
        let (sql, values) = read::run_query_sql(&self.s, query, cursor);
        self.read(|conn| {
            conn.query_cached(&sql, &params(&values))
                .context("listing runs")?
                .iter()
                .map(read::run)
                .collect()
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
        let s = &self.s;
        let sql = format!(
            "SELECT {THREAD_ROW_COLUMNS} FROM {s}.thread_messages t JOIN {s}.logs l \
             ON l.id = t.log_id WHERE t.thread_id = $1 AND t.log_id > $2{} ORDER BY t.log_id \
             LIMIT $3",
            self.horizon_condition("t.log_id", 4)
        );
        let values: read::Values = vec![
            Box::new(thread_id.as_bytes().to_vec()),
            Box::new(after.map_or(0, id_to_sql)),
            Box::new(limit_to_sql(limit)),
        ];
        self.thread_query(&sql, &values, thread_id)
    }

    fn thread_rounds(&self, params_: &GetThreadRoundsParams) -> StoreResult<Vec<ThreadRoundRow>> {
        if params_.effective_limit() == 0 {
            return Ok(Vec::new());
        }
        let s = &self.s;
        let mut values: read::Values = vec![
            Box::new(params_.thread_id.as_bytes().to_vec()),
            Box::new(params_.from_round.map_or(0, i64::from)),
            Box::new(limit_to_sql(params_.effective_limit())),
        ];
        let role = match &params_.role {
            Some(role) => {
                values.push(Box::new(role.as_bytes().to_vec()));
                " AND t.role = $4"
            }
            None => "",
        };
        let sql = format!(
            "SELECT {THREAD_ROW_COLUMNS} FROM {s}.thread_messages t JOIN {s}.logs l \
             ON l.id = t.log_id WHERE t.thread_id = $1 AND t.round >= $2{role}{} \
             ORDER BY t.round, t.log_id LIMIT $3",
            self.horizon_condition("t.log_id", values.len() + 1)
        );
        self.thread_query(&sql, &values, &params_.thread_id)
    }

    fn last_round(&self, thread_id: &str) -> StoreResult<Option<u32>> {
        let sql = format!(
            "SELECT max(round) FROM {}.thread_messages WHERE thread_id = $1",
            self.s
        );
        self.read(|conn| {
            let max: Option<i64> = conn
                .query_cached(&sql, &[&thread_id.as_bytes()])
                .context("reading a thread's last round")?
                .first()
                .and_then(|row| row.get(0));
            max.map(|round| {
                u32::try_from(round).map_err(|_| {
                    StoreError::corrupt(
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
        let sql = format!("SELECT value FROM {}.meta WHERE key = $1", self.s);
        self.read(|conn| {
            conn.query_cached(&sql, &[&key.as_bytes()])
                .context("reading meta")?
                .first()
                .map(|row| {
                    String::from_utf8(row.get::<_, Vec<u8>>(0))
                        .map_err(|_| StoreError::corrupt("meta", key, "a value that is not UTF-8"))
                })
                .transpose()
        })
    }

    fn references(
        &self,
        digest: &store_core::Digest,
        after: Option<&store_core::BlobHolder>,
        limit: usize,
    ) -> StoreResult<Vec<store_core::BlobHolder>> {
        let sql = references::references_sql(&self.s);
        let after = after.map(|holder| holder.key().into_bytes());
        self.read(|conn| {
            conn.query_cached(
                &sql,
                &[&digest.as_bytes().as_slice(), &after, &limit_to_sql(limit)],
            )
            .context("reading a blob's references")?
            .iter()
            .map(|row| references::reference(row).map(|r| r.holder))
            .collect()
        })
    }

    fn blobs_of(&self, holder: &store_core::BlobHolder) -> StoreResult<Vec<store_core::Digest>> {
        let sql = references::blobs_of_sql(&self.s);
        self.read(|conn| {
            conn.query_cached(&sql, &[&holder.key().as_bytes()])
                .context("reading a holder's blob references")?
                .iter()
                .map(|row| references::reference(row).map(|r| r.digest))
                .collect()
        })
    }
}

impl LogMaintenance for PgLogStore {
    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
        check_meta_pairs(meta)?;
        let s = self.s.clone();
        self.write("delete days", LogLock::Writer, |group| {
            let mut deleted = 0i64;
            // The count's row first: its mark stays where it is until the commit, so the
            // entries under it are the ones counted out.
            group
                .tx
                .execute(
                    &format!("SELECT through FROM {s}.log_tally FOR UPDATE"),
                    &[],
                )
                .context("taking the entry count")?;
            let mut activity = store_core::kit::ActivityTally::new();
            for span in spans {
                crate::activity::tally_rows(
                    group.tx,
                    &s,
                    &format!("day = $1 AND id <= $2 AND id <= (SELECT through FROM {s}.log_tally)"),
                    &[&number_of_day(span.day), &id_to_sql(span.through)],
                    &mut activity,
                    -1,
                )?;
                // The highest id deleted stays given out: an import goes above it. The
                // entries counted under the mark are counted out.
                let row = group
                    .tx
                    .query_one(
                        &format!(
                            "WITH gone AS (DELETE FROM {s}.logs WHERE day = $1 AND id <= $2 \
                             RETURNING id), \
                             unreferenced AS (DELETE FROM {s}.blob_refs WHERE holder IN \
                             (SELECT {holder} FROM gone)), \
                             given AS (UPDATE {s}.log_ids SET given = GREATEST(given, \
                             (SELECT max(id) FROM gone)) WHERE EXISTS (SELECT FROM gone)), \
                             counted AS (UPDATE {s}.log_tally c SET n = c.n - \
                             (SELECT count(*) FROM gone WHERE id <= c.through) \
                             WHERE EXISTS (SELECT FROM gone)) \
                             SELECT count(*) FROM gone",
                            holder = references::entry_holder_sql("id")
                        ),
                        &[&number_of_day(span.day), &id_to_sql(span.through)],
                    )
                    .context("deleting a day")?;
                deleted += row.get::<_, i64>(0);
            }
            crate::activity::save(group.tx, &s, &activity)?;
            for (key, value) in meta {
                set_meta(group.tx, group.statements, &s, key, value)?;
            }
            Ok(u64::try_from(deleted).unwrap_or(0))
        })
    }

    fn entry_references(&self, ids: &[LogId]) -> StoreResult<Vec<store_core::BlobReference>> {
        let sql = references::entry_references_sql(&self.s);
        let keys = references::entry_keys(ids);
        self.read(|conn| {
            conn.query_cached(&sql, &[&keys])
                .context("reading entries' blob references")?
                .iter()
                .map(references::reference)
                .collect()
        })
    }

    fn referenced(&self, digests: &[store_core::Digest]) -> StoreResult<Vec<store_core::Digest>> {
        let sql = references::referenced_sql(&self.s);
        let bytes: Vec<&[u8]> = digests.iter().map(|d| d.as_bytes().as_slice()).collect();
        self.read(|conn| {
            let mut found: Vec<store_core::Digest> = conn
                .query_cached(&sql, &[&bytes])
                .context("reading blob references")?
                .iter()
                .map(|row| {
                    let digest: Vec<u8> = row.get(0);
                    <[u8; 32]>::try_from(digest.as_slice())
                        .map(store_core::Digest::from_bytes)
                        .map_err(|_| StoreError::corrupt("blob_refs", "a digest", "not 32 bytes"))
                })
                .collect::<StoreResult<_>>()?;
            found.dedup();
            Ok(found)
        })
    }

    fn thread_rows(&self, ids: &[LogId]) -> StoreResult<Vec<ThreadIndexRow>> {
        let sql = format!(
            "SELECT log_id, thread_id, round, role FROM {}.thread_messages \
             WHERE log_id = ANY($1) ORDER BY log_id",
            self.s
        );
        let ids: Vec<i64> = ids.iter().map(|id| id_to_sql(*id)).collect();
        self.read(|conn| {
            conn.query_cached(&sql, &[&ids])
                .context("reading the thread index")?
                .iter()
                .map(thread_index_row)
                .collect()
        })
    }

    fn day_entries(
        &self,
        day: NaiveDate,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        if limit == 0 || !day_in_range(day) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM {}.logs WHERE day = $1 AND id > $2{} \
             ORDER BY day, id LIMIT $3",
            self.s,
            self.horizon_condition("id", 4)
        );
        let values: read::Values = vec![
            Box::new(number_of_day(day)),
            Box::new(after.map_or(0, id_to_sql)),
            Box::new(limit_to_sql(limit)),
        ];
        let entries = self.query_logs(&sql, &values, "reading a day")?;
        if let Some(stray) = entries.iter().find(|entry| entry.ts.date_naive() != day) {
            return Err(StoreError::corrupt(
                "logs",
                stray.id,
                format!(
                    "indexed under {day}, but it is of {}",
                    stray.ts.date_naive()
                ),
            ));
        }
        Ok(entries)
    }

    fn next_log_day(&self, after: Option<NaiveDate>) -> StoreResult<Option<NaiveDate>> {
        let sql = format!("SELECT min(day) FROM {}.logs WHERE day > $1", self.s);
        let after = after.map_or(i64::MIN, number_of_day);
        let number: Option<i64> = self.read(|conn| {
            Ok(conn
                .query_one(&sql, &[&after])
                .context("finding the next day")?
                .get(0))
        })?;
        number
            .map(|n| {
                day_of_number(n)
                    .ok_or_else(|| StoreError::corrupt("logs", n, "day number out of range"))
            })
            .transpose()
    }

    fn log_stats(&self) -> StoreResult<LogStats> {
        let s = &self.s;
        let sql = format!(
            "SELECT (SELECT c.n + (SELECT count(*) FROM {s}.logs WHERE id > c.through) \
             FROM {s}.log_tally c), \
             (SELECT min(day) FROM {s}.logs), (SELECT max(day) FROM {s}.logs)"
        );
        let counts = format!("SELECT status, sum(n)::bigint FROM {s}.run_counts GROUP BY status");
        let (entries, first, last, per_status) = self.read(|conn| {
            // One snapshot: a snapshot's view is one already.
            if self.pinned.is_some() {
                return stats_rows(&mut **conn, &sql, &counts);
            }
            in_snapshot(conn, |tx| stats_rows(tx, &sql, &counts))
        })?;
        let mut runs = RunCounts::default();
        for (name, n) in per_status {
            let status: WorkflowRunStatus = name
                .parse()
                .map_err(|_| StoreError::corrupt("run_counts", &name, "no such status"))?;
            runs = runs.with(status, u64::try_from(n).unwrap_or_default());
        }
        let day = |number: Option<i64>| {
            number
                .map(|n| {
                    day_of_number(n)
                        .ok_or_else(|| StoreError::corrupt("logs", n, "day number out of range"))
                })
                .transpose()
        };
        Ok(LogStats {
            entries: entries.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            first_day: day(first)?,
            last_day: day(last)?,
            runs,
        })
    }

    /// Moves the entry count's mark to the horizon and folds the run counts of every server
    /// process into one row each, then `VACUUM (ANALYZE)` of the store's tables: the space
    /// of deleted rows becomes reusable by the store (it is not given back to the operating
    /// system, which would take the tables' exclusive lock: `VACUUM FULL`).
    fn compact(&self) -> StoreResult<()> {
        self.writable("compact")?;
        off_runtime(|| {
            let mut conn = self.connection("compacting")?;
            move_count_mark(&mut conn, &self.s)?;
            let s = &self.s;
            conn.batch_execute(&format!(
                "WITH gone AS (DELETE FROM {s}.run_counts WHERE shard <> 0 RETURNING status, n) \
                 INSERT INTO {s}.run_counts (shard, status, n) \
                 SELECT 0, status, sum(n) FROM gone GROUP BY status \
                 ON CONFLICT (shard, status) DO UPDATE SET n = {s}.run_counts.n + excluded.n"
            ))
            .context("folding the store's counts")?;
            for table in [
                "logs",
                "thread_messages",
                "runs",
                "meta",
                "log_ids",
                "log_tally",
                "run_counts",
                "activity",
            ] {
                conn.batch_execute(&format!("VACUUM (ANALYZE) {}.{table}", self.s))
                    .context("vacuuming")?;
            }
            Ok(())
        })
    }

    /// PostgreSQL checks its pages as it reads them (with data checksums on, their
    /// checksums too); `check` reads every row of the store and decodes it.
    fn check(&self) -> StoreResult<store_core::Checked> {
        // Reading and decoding every row: a store opened read-only checks itself too.
        let s = &self.s;
        let logs =
            format!("SELECT {LOG_COLUMNS} FROM {s}.logs WHERE id > $1 ORDER BY id LIMIT 10000");
        let mut after = 0i64;
        loop {
            let rows = self.read(|conn| {
                conn.query(&logs, &[&after])
                    .context("checking the log")?
                    .iter()
                    .map(read::log_entry)
                    .collect::<StoreResult<Vec<_>>>()
            })?;
            let Some(last) = rows.last() else { break };
            after = id_to_sql(last.id);
        }
        let runs = format!("SELECT {} FROM {s}.runs", read::RUN_COLUMNS);
        self.read(|conn| {
            for row in conn.query(&runs, &[]).context("checking the runs")? {
                read::run(&row)?;
            }
            Ok(())
        })?;
        Ok(store_core::Checked::Sound)
    }
}

/// Accounts for `entries` written under their own ids (in increasing order), `what` they
/// are (`imported`, `restored`) for errors: those under the count's mark are counted in,
/// in the entry count and the activity counts, and the ids' origin moves above the last,
/// whose transactions from the oldest still running on come above it.
fn account_for_own_ids(
    tx: &mut postgres::Client,
    s: &str,
    entries: &[&LogEntry],
    what: &str,
) -> StoreResult<()> {
    let ids: Vec<i64> = entries.iter().map(|entry| id_to_sql(entry.id)).collect();
    let through: i64 = tx
        .query_one(
            &format!("SELECT through FROM {s}.log_tally FOR UPDATE"),
            &[],
        )
        .context("taking the entry count")?
        .get(0);
    let mut activity = store_core::kit::ActivityTally::new();
    for entry in entries
        .iter()
        .filter(|entry| id_to_sql(entry.id) <= through)
    {
        activity.entry(entry, 1);
    }
    crate::activity::save(tx, s, &activity)?;
    tx.execute(
        &format!(
            "UPDATE {s}.log_tally SET n = n + \
             (SELECT count(*) FROM unnest($1::bigint[]) AS id WHERE id <= through)"
        ),
        &[&ids],
    )
    .context(&format!("counting the {what} entries under the mark"))?;
    if let Some(last) = ids.last() {
        tx.execute(
            &format!(
                "UPDATE {s}.log_ids SET given = GREATEST(given, $1), \
                 base = GREATEST(base, $1 - {IDS_PER_TRANSACTION} * \
                 pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
            ),
            &[last],
        )
        .context(&format!("moving the ids' origin above the {what} entries"))?;
    }
    Ok(())
}

/// A `thread_messages` row, selected as `log_id, thread_id, round, role`.
fn thread_index_row(row: &postgres::Row) -> StoreResult<ThreadIndexRow> {
    let id: i64 = row.get(0);
    let thread: Vec<u8> = row.get(1);
    let round: i64 = row.get(2);
    let role: Vec<u8> = row.get(3);
    let bad = |reason: &str| StoreError::corrupt("thread_messages", id, reason);
    Ok(ThreadIndexRow {
        log_id: LogId(u64::try_from(id).map_err(|_| bad("a negative id"))?),
        thread_id: String::from_utf8(thread).map_err(|_| bad("not UTF-8"))?,
        round: u32::try_from(round).map_err(|_| bad("a round out of range"))?,
        role: String::from_utf8(role).map_err(|_| bad("not UTF-8"))?,
    })
}

impl LogTransfer for PgLogStore {
    fn thread_index(&self, after: Option<LogId>, limit: usize) -> StoreResult<Vec<ThreadIndexRow>> {
        let sql = format!(
            "SELECT log_id, thread_id, round, role FROM {}.thread_messages WHERE log_id > $1 \
             ORDER BY log_id LIMIT $2",
            self.s
        );
        self.read(|conn| {
            conn.query_cached(&sql, &[&after.map_or(0, id_to_sql), &limit_to_sql(limit)])
                .context("reading the thread index")?
                .iter()
                .map(thread_index_row)
                .collect()
        })
    }

    fn blob_references(
        &self,
        after: Option<&store_core::BlobReference>,
        limit: usize,
    ) -> StoreResult<Vec<store_core::BlobReference>> {
        let sql = references::page_sql(&self.s, after.is_none());
        let limit = limit_to_sql(limit);
        self.read(|conn| {
            let rows = match after {
                None => conn.query_cached(&sql, &[&limit]),
                Some(after) => conn.query_cached(
                    &sql,
                    &[
                        &after.digest.as_bytes().as_slice(),
                        &after.holder.key().as_bytes(),
                        &limit,
                    ],
                ),
            }
            .context("reading blob references")?;
            rows.iter().map(references::reference).collect()
        })
    }

    fn meta_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>> {
        let sql = format!(
            "SELECT key, value FROM {}.meta WHERE $1::bytea IS NULL OR key > $1 \
             ORDER BY key LIMIT $2",
            self.s
        );
        let after = after.map(str::as_bytes);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            conn.query_cached(&sql, &[&after, &limit])
                .context("listing meta")?
                .iter()
                .map(|row| {
                    let key = String::from_utf8(row.get::<_, Vec<u8>>(0))
                        .map_err(|_| StoreError::corrupt("meta", "a key", "not UTF-8"))?;
                    let value = String::from_utf8(row.get::<_, Vec<u8>>(1))
                        .map_err(|_| StoreError::corrupt("meta", &key, "not UTF-8"))?;
                    Ok((key, value))
                })
                .collect()
        })
    }

    fn import(&self, batch: ImportBatch) -> StoreResult<()> {
        let s = self.s.clone();
        let written = batch.entries.len() as u64;
        // Alone: every writer that might still add an id below the batch's has ended, and
        // none begins until the new base is committed with the batch.
        self.write("import", LogLock::Alone, |group| {
            let given: i64 = group
                .tx
                .query_one(
                    &format!(
                        "SELECT GREATEST(given, coalesce((SELECT max(id) FROM {s}.logs), 0)) \
                         FROM {s}.log_ids"
                    ),
                    &[],
                )
                .context("reading the last id given out")?
                .get(0);
            batch.check(u64::try_from(given).unwrap_or(0))?;
            group.load_runs(batch.runs.iter().map(|run| run.run_id.as_str()))?;
            for run in &batch.runs {
                if store_core::kit::UnitTx::run(group, &run.run_id)?.is_some() {
                    return Err(store_core::kit::existing_run(&run.run_id));
                }
            }
            for entry in &batch.entries {
                group.import_entry(entry);
            }
            for row in &batch.thread_rows {
                group.import_thread(row.log_id, &row.thread_id, row.round, &row.role);
            }
            for run in &batch.runs {
                store_core::kit::UnitTx::write_run(group, run, None)?;
            }
            for (key, value) in &batch.meta {
                set_meta(group.tx, group.statements, &s, key, value)?;
            }
            references::insert_refs(group.tx, &s, &batch.references)?;
            let entries: Vec<&LogEntry> = batch.entries.iter().collect();
            account_for_own_ids(group.tx, &s, &entries, "imported")?;
            Ok(())
        })?;
        // A store filled by imports (a migrate, a restore from a backup) is counted under the
        // mark as one filled by appends is, not entry by entry at every read.
        // The import has committed: a mark that cannot move now moves later, never an error.
        off_runtime(
            || match self.write_connection("moving the entry count's mark") {
                Ok(mut conn) => self.count_toward_mark(&mut conn, written),
                Err(err) => tracing::debug!(error = %err, "the entry count's mark did not move"),
            },
        );
        Ok(())
    }

    fn restore(&self, batch: RestoreBatch) -> StoreResult<Restored> {
        batch.check()?;
        let s = self.s.clone();
        // Alone, as an import: an id above every one given out moves the base, and two
        // restores of the same entries take turns.
        self.write("restore", LogLock::Alone, |group| {
            let ids: Vec<i64> = batch.entries.iter().map(|e| id_to_sql(e.id)).collect();
            let held: Vec<LogEntry> = group
                .tx
                .query(
                    &format!("SELECT {LOG_COLUMNS} FROM {s}.logs WHERE id = ANY($1) ORDER BY id"),
                    &[&ids],
                )
                .context("reading the entries a restore brings back")?
                .iter()
                .map(read::log_entry)
                .collect::<StoreResult<_>>()?;
            let mut held = held.iter().peekable();
            let mut restored = Restored::default();
            let mut written = Vec::new();
            for entry in &batch.entries {
                match held.next_if(|h| h.id == entry.id) {
                    Some(h) if h == entry => restored.present += 1,
                    Some(_) => return Err(store_core::kit::restore_conflict(entry.id)),
                    None => {
                        group.import_entry(entry);
                        if let Some(row) = batch.thread_row(entry.id) {
                            group.import_thread(row.log_id, &row.thread_id, row.round, &row.role);
                        }
                        let blobs = batch.blobs_of(entry.id);
                        if !blobs.is_empty() {
                            references::set_refs(
                                group.tx,
                                group.statements,
                                &s,
                                &store_core::BlobHolder::Entry(entry.id),
                                &blobs,
                            )?;
                        }
                        written.push(entry);
                        restored.written += 1;
                    }
                }
            }
            account_for_own_ids(group.tx, &s, &written, "restored")?;
            Ok(restored)
        })
    }

    fn with_snapshot(
        &self,
        work: &mut dyn FnMut(&dyn LogBackend) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let conn = off_runtime(|| {
            let mut conn = self.connection("taking a snapshot")?;
            // A snapshot only reads and takes no lock a writer waits for: the idle timeout
            // that frees writers from a stalled transaction does not apply to it, so that a
            // copy may take as long as its target needs between two reads of the source.
            conn.batch_execute(
                "SET idle_in_transaction_session_timeout = 0; \
                 BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1",
            )
            .context("starting a snapshot")?;
            Ok::<_, StoreError>(conn)
        })?;
        let view = PgLogStore {
            pool: DropOffRuntime::new((*self.pool).clone()),
            writes: DropOffRuntime::new((*self.writes).clone()),
            s: self.s.clone(),
            location: self.location.clone(),
            server: self.server.clone(),
            queue: CommitQueue::new((), false),
            pinned: Some(std::sync::Mutex::new(conn)),
            read_only: true,
            since_mark: AtomicU64::new(0),
        };
        let result = work(&view);
        if let Some(pinned) = view.pinned {
            let mut conn = pinned.into_inner().unwrap_or_else(|p| p.into_inner());
            off_runtime(|| {
                // Back to the store's own timeout before the connection serves a writer.
                let _ = conn.batch_execute("ROLLBACK; RESET idle_in_transaction_session_timeout");
            });
        }
        result
    }
}
