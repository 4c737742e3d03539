//! Writes. Ids come from the writing transaction's own id (`xid8`): its entries are numbered
//! `origin + 1, origin + 2, …` with `origin = base + xid · 2^20`, so writers of one store,
//! in any number of processes, never wait for each other (docs/SPEC.md, ids on PostgreSQL).
//! A group of appends is one autocommit statement ([`commit_appends`]); any other group is
//! one transaction that first takes the log table's writer lock, then its runs' advisory
//! locks ([`begin`]).

use std::collections::HashMap;

use postgres::{Client, GenericClient};
use store_core::kit::{PreparedUnit, UnitResult, UnitTx, apply_group, fail_all};
use store_core::{
    LogEntry, LogId, StoreError, StoreResult, TransitionOutcome, WorkflowRun, Written,
};

use crate::connection::{PgConn, Statements};
use crate::error::Context;
use crate::ids::{IDS_PER_TRANSACTION, origin};
use crate::read::{RUN_COLUMNS, id_to_sql};

/// A writing transaction begun by hand, so that its `BEGIN` travels with its locks and the
/// reading of its ids' origin in one round trip ([`begin`]); rolled back when dropped
/// uncommitted (an error, a panic), so that no connection goes back to the pool inside a
/// transaction.
pub(crate) struct WriteTx<'c> {
    client: &'c mut Client,
    open: bool,
}

impl WriteTx<'_> {
    /// The client, inside the transaction.
    pub(crate) fn client(&mut self) -> &mut Client {
        self.client
    }

    /// Commits the transaction: durable when it returns, as `synchronous_commit` says.
    ///
    /// # Errors
    /// The server's; the transaction is over either way.
    pub(crate) fn commit(mut self, operation: &str) -> StoreResult<()> {
        self.open = false;
        self.client.batch_execute("COMMIT").context(operation)
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A connection whose rollback fails is broken, and the pool drops it.
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}

/// How a writing transaction holds the log table.
#[derive(Clone, Copy)]
pub(crate) enum LogLock {
    /// As every writer does (`ROW EXCLUSIVE`): writers do not wait for each other, and a
    /// reader sees that the transaction may still add entries.
    Writer,
    /// Alone (`SHARE ROW EXCLUSIVE`): after every writer that holds the table has ended, and
    /// before any other begins; what an import of ids of its own takes.
    Alone,
}

/// Begins a writing transaction on `client` in the schema `s`, in one round trip: takes the
/// log table as `lock` says before anything else (so that readers know, from the locks, that
/// the transaction may add entries before it has an id: `ids::horizon_sql`), then reads the
/// origin of its ids. Returns the transaction and that origin: the ids given out "so far",
/// as [`UnitTx::next_id`] counts.
pub(crate) fn begin<'c>(
    client: &'c mut Client,
    s: &str,
    lock: LogLock,
) -> StoreResult<(WriteTx<'c>, i64)> {
    let mode = match lock {
        LogLock::Writer => "ROW EXCLUSIVE",
        LogLock::Alone => "SHARE ROW EXCLUSIVE",
    };
    let answer = client.simple_query(&format!(
        "BEGIN; LOCK TABLE {s}.logs IN {mode} MODE; \
         SELECT base, pg_current_xact_id()::text FROM {s}.log_ids"
    ));
    // Whatever the answer, the transaction may be open: the guard ends it.
    let tx = WriteTx { client, open: true };
    let messages = answer.context("beginning a write")?;
    let origin = messages
        .iter()
        .find_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => Some((
                row.get(0).and_then(|text| text.parse::<i64>().ok()),
                row.get(1).and_then(|text| text.parse::<i64>().ok()),
            )),
            _ => None,
        })
        .and_then(|(base, xid)| Some(origin(base?, xid?)))
        .ok_or_else(|| StoreError::corrupt("log_ids", "base", "missing or not a number"))?;
    Ok((tx, origin))
}

/// How a group's write numbers its entries ([`GroupTx::finish`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ids {
    /// Under the ids they were planned with: the transaction's own, read at its `BEGIN`, or
    /// an import's.
    AsPlanned,
    /// Planned from 1, moved up by the origin of the statement's transaction.
    FromOrigin,
}

/// The context of the `Busy` a group's write fails with when a run it moves was created or
/// moved by another writer after the group read it: nothing of the group is written, and
/// [`commit_group`] plans it again from what the store then holds.
pub(crate) const RUN_MOVED: &str = "writing a group whose run another writer moved meanwhile";

/// Whether `err` is a group's write meeting a run another writer created (the runs' key) or
/// moved (the version check's division by zero) after the group read it.
fn run_moved_meanwhile(err: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    err.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::DIVISION_BY_ZERO
            || (*db.code() == SqlState::UNIQUE_VIOLATION && db.constraint() == Some("runs_pkey"))
    })
}

/// A group's transaction as [`apply_group`] drives it. The runs the group moves are read
/// in one statement before it is planned ([`GroupTx::load_runs`]); its entries, thread rows,
/// runs and run counts are written in one statement when it is done ([`GroupTx::finish`]);
/// meta at once.
pub(crate) struct GroupTx<'t> {
    pub(crate) tx: &'t mut Client,
    pub(crate) statements: &'t mut Statements,
    pub(crate) s: &'t str,
    /// The last id the transaction gave out: its origin, then its latest entry's.
    pub(crate) last: i64,
    rows: Rows,
    /// Runs as the transaction holds them: read before the group is planned, then as its
    /// units move them (`None`: no such run).
    runs: HashMap<String, Option<WorkflowRun>>,
    /// The version (`xmin`, the transaction that wrote it) of each run row as it was read:
    /// the group writes a run over only that version, so that a run another writer moved
    /// meanwhile fails the group's write ([`RUN_MOVED`]) rather than being written over.
    versions: HashMap<String, String>,
    /// The runs the group moved, as they end.
    moved: HashMap<String, WorkflowRun>,
    /// How the group moves the count of runs in each status.
    counts: HashMap<&'static str, i64>,
}

impl<'t> GroupTx<'t> {
    pub(crate) fn new(
        tx: &'t mut Client,
        statements: &'t mut Statements,
        s: &'t str,
        last: i64,
    ) -> Self {
        GroupTx {
            tx,
            statements,
            s,
            last,
            rows: Rows::default(),
            runs: HashMap::new(),
            versions: HashMap::new(),
            moved: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    /// Reads the runs `run_ids` name, in one statement, for the group's planning.
    pub(crate) fn load_runs<'a>(
        &mut self,
        run_ids: impl Iterator<Item = &'a str>,
    ) -> StoreResult<()> {
        let mut wanted: Vec<&[u8]> = run_ids
            .filter(|run_id| !self.runs.contains_key(*run_id))
            .map(str::as_bytes)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let s = self.s;
        let select = self
            .statements
            .get(
                self.tx,
                &format!(
                    "SELECT {RUN_COLUMNS}, xmin::text FROM {s}.runs WHERE run_id = ANY($1::bytea[])"
                ),
            )
            .context("preparing the group's read of runs")?;
        let mut found: Vec<Vec<u8>> = Vec::new();
        for row in self
            .tx
            .query(&select, &[&wanted])
            .context("reading the group's runs")?
        {
            found.push(row.get(0));
            // A damaged row is left to the unit that reads it, which it refuses alone.
            if let Ok(run) = crate::read::run(&row) {
                if let Ok(version) = row.try_get::<_, String>(10) {
                    self.versions.insert(run.run_id.clone(), version);
                }
                self.runs.insert(run.run_id.clone(), Some(run));
            }
        }
        for run_id in wanted {
            if !found.iter().any(|found| found == run_id) {
                let run_id = String::from_utf8_lossy(run_id).into_owned();
                self.runs.entry(run_id).or_insert(None);
            }
        }
        Ok(())
    }

    /// Sends the group's entries, thread rows, runs and run counts, all in one statement: one
    /// round trip. `ids` says whether the entries' ids are theirs
    /// ([`Ids::AsPlanned`]) or were planned from 1 and move up by the origin of the
    /// statement's transaction ([`Ids::FromOrigin`]: the statement may be the whole
    /// transaction, autocommitted). Returns that origin (0 as planned), or `None`, with
    /// nothing written, when the ids left above it are too few.
    ///
    /// A run is inserted where the group found none, and updated only over the version it
    /// read: a run another writer created or moved meanwhile fails the whole statement with
    /// [`RUN_MOVED`] (a `Busy`), and the group may be planned again.
    pub(crate) fn finish(self, ids: Ids) -> StoreResult<Option<i64>> {
        let s = self.s;
        let n = i64::try_from(self.rows.entries.len()).unwrap_or(i64::MAX);
        let max = id_to_sql(store_core::MAX_LOG_ID);
        let entries = EntryColumns::of(&self.rows.entries);
        let threads = ThreadColumns::of(&self.rows.threads);
        let count = self.moved.len();
        let mut run_ids = Vec::with_capacity(count);
        let mut workflows = Vec::with_capacity(count);
        let mut run_threads: Vec<Option<Vec<u8>>> = Vec::with_capacity(count);
        let mut statuses = Vec::with_capacity(count);
        let mut attempts = Vec::with_capacity(count);
        let mut created = Vec::with_capacity(count);
        let mut updated = Vec::with_capacity(count);
        let mut started: Vec<Option<i64>> = Vec::with_capacity(count);
        let mut finished: Vec<Option<i64>> = Vec::with_capacity(count);
        let mut details: Vec<Option<Vec<u8>>> = Vec::with_capacity(count);
        let mut versions: Vec<Option<&str>> = Vec::with_capacity(count);
        let millis = |t: chrono::DateTime<chrono::Utc>| t.timestamp_millis();
        for run in self.moved.into_values() {
            versions.push(self.versions.get(&run.run_id).map(String::as_str));
            run_ids.push(run.run_id.into_bytes());
            workflows.push(run.workflow.into_bytes());
            run_threads.push(run.thread_id.map(String::into_bytes));
            statuses.push(run.status.as_str());
            attempts.push(i64::from(run.attempt));
            created.push(millis(run.created_at));
            updated.push(millis(run.updated_at));
            started.push(run.started_at.map(millis));
            finished.push(run.finished_at.map(millis));
            details.push(run.detail.map(String::into_bytes));
        }
        let (count_statuses, count_moves): (Vec<&str>, Vec<i64>) =
            self.counts.into_iter().filter(|(_, by)| *by != 0).unzip();
        let origin = match ids {
            Ids::AsPlanned => {
                "origin AS (SELECT 0::bigint AS id WHERE $26::bigint > 0 AND $11::bigint >= 0)"
                    .to_owned()
            }
            Ids::FromOrigin => origin_cte(s, "$11", "$26"),
        };
        let runs = "unnest($12::bytea[], $13::bytea[], $14::bytea[], $15::text[], $16::bigint[], \
             $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::bytea[], \
             $22::text[]) AS u(run_id, workflow, thread_id, status, attempt, created_at, \
             updated_at, started_at, finished_at, detail, version)";
        // The thread rows' foreign key is checked at the statement's end, when the entries
        // they name are in. Each run and each status comes once. The run counts go to this
        // server process's own rows, which no other writer updates. Nothing is written
        // without an origin; a run updated over another version than the one read leaves
        // `moved` short, and the division by zero fails the statement.
        let write = self
            .statements
            .get(
                self.tx,
                &format!(
                    "WITH {origin}, \
                     entries AS (INSERT INTO {s}.logs (id, source, kind, ref_id, payload, ts) \
                     SELECT origin.id + e.id, e.source, e.kind, e.ref_id, e.payload, e.ts \
                     FROM origin, unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[], \
                     $5::bytea[], $6::bigint[]) AS e(id, source, kind, ref_id, payload, ts)), \
                     threads AS (INSERT INTO {s}.thread_messages (log_id, thread_id, round, role) \
                     SELECT origin.id + t.id, t.thread_id, t.round, t.role FROM origin, \
                     unnest($7::bigint[], $8::bytea[], $9::bigint[], $10::bytea[]) \
                     AS t(id, thread_id, round, role)), \
                     created AS (INSERT INTO {s}.runs ({RUN_COLUMNS}) \
                     SELECT u.run_id, u.workflow, u.thread_id, u.status, u.attempt, \
                     u.created_at, u.updated_at, u.started_at, u.finished_at, u.detail \
                     FROM origin, {runs} WHERE u.version IS NULL), \
                     moved AS (UPDATE {s}.runs r SET workflow = u.workflow, \
                     thread_id = u.thread_id, status = u.status, attempt = u.attempt, \
                     created_at = u.created_at, updated_at = u.updated_at, \
                     started_at = u.started_at, finished_at = u.finished_at, detail = u.detail \
                     FROM origin, {runs} WHERE u.version IS NOT NULL \
                     AND r.run_id = u.run_id AND r.xmin::text = u.version RETURNING 1), \
                     counted AS (INSERT INTO {s}.run_counts (shard, status, n) \
                     SELECT pg_backend_pid(), c.status, c.n \
                     FROM origin, unnest($23::text[], $24::bigint[]) AS c(status, n) \
                     ON CONFLICT (shard, status) DO UPDATE SET n = {s}.run_counts.n + excluded.n), \
                     checked AS MATERIALIZED (SELECT origin.id, 1 / (CASE WHEN \
                     (SELECT count(*) FROM moved) = $25::bigint THEN 1 ELSE 0 END) AS ok \
                     FROM origin) \
                     SELECT id, ok FROM checked"
                ),
            )
            .context("preparing the group's write")?;
        let updates = i64::try_from(versions.iter().flatten().count()).unwrap_or(i64::MAX);
        let rows = self
            .tx
            .query(
                &write,
                &[
                    &entries.ids,
                    &entries.sources,
                    &entries.kinds,
                    &entries.refs,
                    &entries.payloads,
                    &entries.times,
                    &threads.ids,
                    &threads.threads,
                    &threads.rounds,
                    &threads.roles,
                    &n,
                    &run_ids,
                    &workflows,
                    &run_threads,
                    &statuses,
                    &attempts,
                    &created,
                    &updated,
                    &started,
                    &finished,
                    &details,
                    &versions,
                    &count_statuses,
                    &count_moves,
                    &updates,
                    &max,
                ],
            )
            .map_err(|err| {
                if run_moved_meanwhile(&err) {
                    StoreError::Busy {
                        context: RUN_MOVED.to_owned(),
                        source: std::sync::Arc::new(err),
                    }
                } else {
                    crate::error::engine_error("writing a group", err)
                }
            })?;
        Ok(rows.first().map(|row| row.get::<_, i64>(0)))
    }

    /// Queues an entry written under its own id (an import).
    pub(crate) fn import_entry(&mut self, entry: &LogEntry) {
        self.rows.entries.push(entry.clone());
    }

    /// Queues a thread row of an imported entry.
    pub(crate) fn import_thread(&mut self, id: LogId, thread_id: &str, round: u32, role: &str) {
        self.rows.thread(id, thread_id, round, role);
    }
}

/// The run `run_id` as the transaction (or client) `tx` sees it.
pub(crate) fn read_run(
    tx: &mut impl GenericClient,
    statements: &mut Statements,
    s: &str,
    run_id: &str,
) -> StoreResult<Option<WorkflowRun>> {
    let select = statements
        .get(
            tx,
            &format!("SELECT {RUN_COLUMNS} FROM {s}.runs WHERE run_id = $1"),
        )
        .context("preparing a run's read")?;
    tx.query_opt(&select, &[&run_id.as_bytes()])
        .context("reading a run")?
        .map(|row| crate::read::run(&row))
        .transpose()
}

/// Stores `value` under `key` in `tx`.
pub(crate) fn set_meta(
    tx: &mut impl GenericClient,
    statements: &mut Statements,
    s: &str,
    key: &str,
    value: &str,
) -> StoreResult<()> {
    let upsert = statements
        .get(
            tx,
            &format!(
                "INSERT INTO {s}.meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
        )
        .context("preparing a meta write")?;
    tx.execute(&upsert, &[&key.as_bytes(), &value.as_bytes()])
        .context("writing meta")?;
    Ok(())
}

impl UnitTx for GroupTx<'_> {
    fn run(&mut self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        if let Some(run) = self.runs.get(run_id) {
            return Ok(run.clone());
        }
        let run = read_run(self.tx, self.statements, self.s, run_id)?;
        self.runs.insert(run_id.to_owned(), run.clone());
        Ok(run)
    }

    fn next_id(&mut self) -> StoreResult<u64> {
        u64::try_from(self.last)
            .map(|last| last + 1)
            .map_err(|_| StoreError::corrupt("log_ids", "base", "negative"))
    }

    fn write_entry(&mut self, entry: &LogEntry) -> StoreResult<()> {
        self.last = self.last.max(id_to_sql(entry.id));
        self.rows.entries.push(entry.clone());
        Ok(())
    }

    fn index_thread(
        &mut self,
        id: LogId,
        thread_id: &str,
        round: u32,
        role: &str,
    ) -> StoreResult<()> {
        self.rows.thread(id, thread_id, round, role);
        Ok(())
    }

    fn write_run(&mut self, run: &WorkflowRun, stored: Option<&WorkflowRun>) -> StoreResult<()> {
        match stored {
            Some(old) if old.status == run.status => {}
            Some(old) => {
                *self.counts.entry(old.status.as_str()).or_default() -= 1;
                *self.counts.entry(run.status.as_str()).or_default() += 1;
            }
            None => *self.counts.entry(run.status.as_str()).or_default() += 1,
        }
        self.runs.insert(run.run_id.clone(), Some(run.clone()));
        self.moved.insert(run.run_id.clone(), run.clone());
        Ok(())
    }

    fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()> {
        set_meta(self.tx, self.statements, self.s, key, value)
    }

    /// Reached only in a transaction whose ids are as planned ([`commit_in_transaction`]):
    /// [`commit_part`] sends every unit that references blobs there.
    fn set_blob_refs(
        &mut self,
        holder: &store_core::BlobHolder,
        blobs: &[store_core::Digest],
    ) -> StoreResult<()> {
        crate::references::set_refs(self.tx, self.statements, self.s, holder, blobs)
    }

    fn delete_meta(&mut self, key: &str) -> StoreResult<bool> {
        let delete = self
            .statements
            .get(
                self.tx,
                &format!("DELETE FROM {}.meta WHERE key = $1", self.s),
            )
            .context("preparing a meta delete")?;
        let deleted = self
            .tx
            .execute(&delete, &[&key.as_bytes()])
            .context("deleting meta")?;
        Ok(deleted > 0)
    }
}

/// Commits the units of one group on `conn`: in one transaction, or in several when their
/// entries would not fit in one transaction's ids ([`IDS_PER_TRANSACTION`]); every call of a
/// transaction gets its error when it fails. A group of appends only is one statement
/// ([`commit_appends`]).
pub(crate) fn commit_group(
    conn: &mut PgConn,
    s: &str,
    units: Vec<PreparedUnit>,
) -> Vec<UnitResult> {
    let mut results = Vec::with_capacity(units.len());
    for part in parts_that_fit(units) {
        results.extend(commit_part(conn, s, part));
    }
    results
}

/// `units`, in order, in parts of at most [`IDS_PER_TRANSACTION`] entries each (a unit holds
/// at most as many writes: `MAX_UNIT_WRITES`).
fn parts_that_fit(units: Vec<PreparedUnit>) -> Vec<Vec<PreparedUnit>> {
    let limit = usize::try_from(IDS_PER_TRANSACTION).unwrap_or(usize::MAX);
    let mut parts: Vec<Vec<PreparedUnit>> = Vec::new();
    let mut room = 0usize;
    for unit in units {
        let entries = unit.most_entries();
        match parts.last_mut() {
            Some(part) if entries <= room => {
                room -= entries;
                part.push(unit);
            }
            _ => {
                room = limit.saturating_sub(entries);
                parts.push(vec![unit]);
            }
        }
    }
    parts
}

/// How many times a group is planned again after a run it moves was moved by another
/// writer in between ([`RUN_MOVED`]) before its calls get that `Busy`.
const REPLANS: usize = 16;

/// Commits `units`, whose entries fit in one transaction's ids, in one transaction: appends
/// alone in one statement ([`commit_appends`]); appends, thread messages and transitions in
/// two, the runs' read and the write that autocommits ([`commit_runs`]); a group with meta
/// in a transaction of four round trips ([`commit_in_transaction`]), as a group near the
/// last id is. A group whose run another writer moved after the group read it is planned
/// again from what the store then holds.
fn commit_part(conn: &mut PgConn, s: &str, units: Vec<PreparedUnit>) -> Vec<UnitResult> {
    let count = units.len();
    if units.iter().all(PreparedUnit::appends_only) {
        return commit_appends(conn, s, units).unwrap_or_else(|err| fail_all(err, count));
    }
    // A group with meta or blob references, or one near the last id, goes in a
    // transaction: its ids are known as it is planned, and references name them.
    let mut in_transaction = units
        .iter()
        .any(|unit| unit.writes_meta() || unit.references_blobs());
    let mut units = units;
    for _ in 1..REPLANS {
        let again = units.clone();
        let attempt = if in_transaction {
            commit_in_transaction(conn, s, units).map(Some)
        } else {
            commit_runs(conn, s, units)
        };
        match attempt {
            Ok(Some(results)) => return results,
            Ok(None) => {
                units = again;
                in_transaction = true;
            }
            Err(StoreError::Busy { context, .. }) if context == RUN_MOVED => units = again,
            Err(err) => return fail_all(err, count),
        }
    }
    commit_in_transaction(conn, s, units).unwrap_or_else(|err| fail_all(err, count))
}

/// Commits a group without meta in two round trips and no transaction of its own: reads
/// the runs it moves, plans it with ids from 1, and writes it in one autocommitted
/// statement that numbers the entries from its transaction's origin and writes each run
/// over the version read ([`GroupTx::finish`]). `None`, with nothing written, near the last
/// id, where the ids left above the origin are too few: [`commit_in_transaction`] then
/// refuses only the units that do not fit.
///
/// # Errors
/// The engine's, and [`RUN_MOVED`]: nothing of the group is written then.
fn commit_runs(
    conn: &mut PgConn,
    s: &str,
    units: Vec<PreparedUnit>,
) -> StoreResult<Option<Vec<UnitResult>>> {
    let (client, statements) = conn.split();
    let mut group = GroupTx::new(client, statements, s, 0);
    group.load_runs(units.iter().flat_map(PreparedUnit::run_ids))?;
    let results = apply_group(&mut group, units)?;
    Ok(group.finish(Ids::FromOrigin)?.map(|origin| {
        results
            .into_iter()
            .map(|result| moved_up(result, origin, 0))
            .collect()
    }))
}

/// Commits a group in one transaction: takes the log table and reads its ids' origin with
/// its `BEGIN`, reads the runs it moves, plans it under its own ids, writes meta as it goes
/// and the rest in one statement, and commits: four round trips.
///
/// # Errors
/// The engine's, and [`RUN_MOVED`]: nothing of the group is written then.
fn commit_in_transaction(
    conn: &mut PgConn,
    s: &str,
    units: Vec<PreparedUnit>,
) -> StoreResult<Vec<UnitResult>> {
    let (client, statements) = conn.split();
    let (mut tx, origin) = begin(client, s, LogLock::Writer)?;
    let mut group = GroupTx::new(tx.client(), statements, s, origin);
    group.load_runs(units.iter().flat_map(PreparedUnit::run_ids))?;
    let results = apply_group(&mut group, units)?;
    group.finish(Ids::AsPlanned)?;
    tx.commit("committing a group of writes")?;
    Ok(results)
}

/// Commits a group of units that only append entries as one statement on its own
/// (autocommit): the entries go in under their transaction's ids with their thread rows
/// beside them, the commit follows in the same round trip, and no other writer waits for
/// it: a lone append costs one round trip, as pgbench's one-INSERT transaction does. Ids
/// are planned from 1 and moved up by the origin the statement returns.
///
/// When the ids left above the transaction's origin are too few for the whole group, each
/// unit is sent on its own, so that only the units that do not fit are refused
/// (`IdsExhausted`), as on the other backends.
///
/// # Errors
/// The engine's: nothing of the group is written then.
fn commit_appends(
    conn: &mut PgConn,
    s: &str,
    units: Vec<PreparedUnit>,
) -> StoreResult<Vec<UnitResult>> {
    let mut planned = AppendsTx::default();
    let results = apply_group(&mut planned, units)?;
    // The planned entries are in the results, in order: sent from there, not copied.
    let entries: Vec<&LogEntry> = results
        .iter()
        .flatten()
        .flat_map(|written| written.iter().filter_map(Written::entry))
        .collect();
    if let Some(base) = send_appends(conn, s, &entries, &planned.threads)? {
        return Ok(results
            .into_iter()
            .map(|result| moved_up(result, base, 0))
            .collect());
    }
    let mut alone = Vec::with_capacity(results.len());
    for result in results {
        let Ok(written) = result else {
            alone.push(result);
            continue;
        };
        let entries: Vec<&LogEntry> = written.iter().filter_map(Written::entry).collect();
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            alone.push(Ok(written));
            continue;
        };
        let (first, last) = (id_to_sql(first.id), id_to_sql(last.id));
        let threads: Vec<ThreadRow> = planned
            .threads
            .iter()
            .filter(|(n, ..)| (first..=last).contains(n))
            .map(|(n, thread, round, role)| (n - first + 1, thread.clone(), *round, role.clone()))
            .collect();
        let sent = send_appends(conn, s, &entries, &threads)?;
        alone.push(match sent {
            Some(base) => moved_up(Ok(written), base, first - 1),
            None => Err(StoreError::IdsExhausted {
                last: store_core::MAX_LOG_ID,
            }),
        });
    }
    Ok(alone)
}

/// `result` with the ids of its entries, planned from `planned_from + 1`, moved up to start
/// at `base + 1`.
fn moved_up(result: UnitResult, base: i64, planned_from: i64) -> UnitResult {
    let offset = u64::try_from(base - planned_from).unwrap_or(0);
    result.map(|written| {
        written
            .into_iter()
            .map(|mut written| {
                match &mut written {
                    Written::Appended(entry)
                    | Written::ThreadMessage(entry)
                    | Written::Transitioned(TransitionOutcome::Applied { audit: entry, .. }) => {
                        entry.id = LogId(entry.id.0 + offset);
                    }
                    _ => {}
                }
                written
            })
            .collect()
    })
}

/// The origin of an autocommit statement's ids (`origin.id`), as a CTE of the schema `s`:
/// no row when `$N` entries (`n` names the parameter) would go past `$M` (`max`, the
/// highest id) from it. The log table is locked before the statement runs, and so before
/// the transaction has an id, as every writer of it does.
fn origin_cte(s: &str, n: &str, max: &str) -> String {
    format!(
        "origin AS (SELECT b.base + {IDS_PER_TRANSACTION} * x.xid AS id \
         FROM {s}.log_ids b, (SELECT pg_current_xact_id()::text::bigint AS xid) x \
         WHERE x.xid <= ({max}::bigint - b.base - {n}::bigint) / {IDS_PER_TRANSACTION})"
    )
}

/// Appends `entries` (in order; their own ids are ignored) with their thread rows (each
/// naming its entry's place among them, from 1) in one autocommit statement; the origin of
/// their ids, or `None`, with nothing written, when the ids left above it are too few.
fn send_appends(
    conn: &mut PgConn,
    s: &str,
    entries: &[&LogEntry],
    threads: &[ThreadRow],
) -> StoreResult<Option<i64>> {
    let n = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    let max = id_to_sql(store_core::MAX_LOG_ID);
    let (client, statements) = conn.split();
    if let ([entry], []) = (entries, threads) {
        return send_one(client, statements, s, entry, max);
    }
    let write = statements
        .get(
            client,
            &format!(
                "WITH {}, \
                 entries AS (INSERT INTO {s}.logs (id, source, kind, ref_id, payload, ts) \
                 SELECT origin.id + e.n, e.source, e.kind, e.ref_id, e.payload, e.ts \
                 FROM origin, unnest($2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], \
                 $6::bigint[]) WITH ORDINALITY AS e(source, kind, ref_id, payload, ts, n)), \
                 threads AS (INSERT INTO {s}.thread_messages (log_id, thread_id, round, role) \
                 SELECT origin.id + t.n, t.thread_id, t.round, t.role \
                 FROM origin, unnest($7::bigint[], $8::bytea[], $9::bigint[], $10::bytea[]) \
                 AS t(n, thread_id, round, role)) \
                 SELECT id FROM origin",
                origin_cte(s, "$1", "$11"),
            ),
        )
        .context("preparing a group's appends")?;
    let (columns, places) = (
        EntryColumns::of(entries.iter().copied()),
        ThreadColumns::of(threads),
    );
    let rows = client
        .query(
            &write,
            &[
                &n,
                &columns.sources,
                &columns.kinds,
                &columns.refs,
                &columns.payloads,
                &columns.times,
                &places.ids,
                &places.threads,
                &places.rounds,
                &places.roles,
                &max,
            ],
        )
        .context("appending a group of entries")?;
    Ok(rows.first().map(|row| row.get::<_, i64>(0)))
}

/// [`send_appends`] of one entry without a thread row, the daemon's most common write:
/// its values bound as they are, not as arrays, which the server plans and runs faster
/// (about 40 µs of a lone append's 270 µs).
fn send_one(
    client: &mut Client,
    statements: &mut Statements,
    s: &str,
    entry: &LogEntry,
    max: i64,
) -> StoreResult<Option<i64>> {
    let write = statements
        .get(
            client,
            &format!(
                "WITH {} \
                 INSERT INTO {s}.logs (id, source, kind, ref_id, payload, ts) \
                 SELECT origin.id + 1, $1::bytea, $2::bytea, $3::bytea, $4::bytea, $5::bigint \
                 FROM origin RETURNING id - 1",
                origin_cte(s, "1", "$6"),
            ),
        )
        .context("preparing an append")?;
    let rows = client
        .query(
            &write,
            &[
                &entry.source.as_bytes(),
                &entry.kind.as_bytes(),
                &entry.ref_id.as_deref().map(str::as_bytes),
                &entry.payload.as_bytes(),
                &entry.ts.timestamp_millis(),
                &max,
            ],
        )
        .context("appending an entry")?;
    Ok(rows.first().map(|row| row.get::<_, i64>(0)))
}

/// A group of appends planned with ids from 1: how many entries it has planned, and the
/// thread rows, each naming its entry by that planned id. The entries themselves are the
/// group's results.
#[derive(Default)]
struct AppendsTx {
    planned: u64,
    threads: Vec<ThreadRow>,
}

impl UnitTx for AppendsTx {
    fn run(&mut self, _: &str) -> StoreResult<Option<WorkflowRun>> {
        Err(StoreError::invalid(
            "write_unit",
            "a group of appends reads no run",
        ))
    }

    fn next_id(&mut self) -> StoreResult<u64> {
        Ok(self.planned + 1)
    }

    fn write_entry(&mut self, _: &LogEntry) -> StoreResult<()> {
        self.planned += 1;
        Ok(())
    }

    fn index_thread(
        &mut self,
        id: LogId,
        thread_id: &str,
        round: u32,
        role: &str,
    ) -> StoreResult<()> {
        self.threads.push(thread_row(id, thread_id, round, role));
        Ok(())
    }

    fn write_run(&mut self, _: &WorkflowRun, _: Option<&WorkflowRun>) -> StoreResult<()> {
        Err(StoreError::invalid(
            "write_unit",
            "a group of appends writes no run",
        ))
    }

    fn set_meta(&mut self, _: &str, _: &str) -> StoreResult<()> {
        Err(StoreError::invalid(
            "write_unit",
            "a group of appends writes no meta",
        ))
    }

    fn delete_meta(&mut self, _: &str) -> StoreResult<bool> {
        Err(StoreError::invalid(
            "write_unit",
            "a group of appends deletes no meta",
        ))
    }

    fn set_blob_refs(
        &mut self,
        _: &store_core::BlobHolder,
        _: &[store_core::Digest],
    ) -> StoreResult<()> {
        Err(StoreError::invalid(
            "write_unit",
            "a group of appends references no blob",
        ))
    }
}

/// A thread-index row as a group sends it: the entry's id (or its place in the group), the
/// thread, the round, the role.
type ThreadRow = (i64, String, u32, String);

/// The entries and thread rows a group writes, gathered as it is planned.
#[derive(Default)]
struct Rows {
    entries: Vec<LogEntry>,
    threads: Vec<ThreadRow>,
}

impl Rows {
    fn thread(&mut self, id: LogId, thread_id: &str, round: u32, role: &str) {
        self.threads.push(thread_row(id, thread_id, round, role));
    }
}

/// The thread-index row of the entry `id`.
fn thread_row(id: LogId, thread_id: &str, round: u32, role: &str) -> ThreadRow {
    (id_to_sql(id), thread_id.to_owned(), round, role.to_owned())
}

/// Entries as the arrays a statement binds, column by column.
struct EntryColumns<'a> {
    ids: Vec<i64>,
    sources: Vec<&'a [u8]>,
    kinds: Vec<&'a [u8]>,
    refs: Vec<Option<&'a [u8]>>,
    payloads: Vec<&'a [u8]>,
    times: Vec<i64>,
}

impl<'a> EntryColumns<'a> {
    fn of(entries: impl IntoIterator<Item = &'a LogEntry>) -> Self {
        let mut columns = EntryColumns {
            ids: Vec::new(),
            sources: Vec::new(),
            kinds: Vec::new(),
            refs: Vec::new(),
            payloads: Vec::new(),
            times: Vec::new(),
        };
        for entry in entries {
            columns.ids.push(id_to_sql(entry.id));
            columns.sources.push(entry.source.as_bytes());
            columns.kinds.push(entry.kind.as_bytes());
            columns
                .refs
                .push(entry.ref_id.as_deref().map(str::as_bytes));
            columns.payloads.push(entry.payload.as_bytes());
            columns.times.push(entry.ts.timestamp_millis());
        }
        columns
    }
}

/// Thread rows as the arrays a statement binds, column by column.
struct ThreadColumns<'a> {
    ids: Vec<i64>,
    threads: Vec<&'a [u8]>,
    rounds: Vec<i64>,
    roles: Vec<&'a [u8]>,
}

impl<'a> ThreadColumns<'a> {
    fn of(rows: &'a [ThreadRow]) -> Self {
        ThreadColumns {
            ids: rows.iter().map(|(id, ..)| *id).collect(),
            threads: rows
                .iter()
                .map(|(_, thread, ..)| thread.as_bytes())
                .collect(),
            rounds: rows
                .iter()
                .map(|(_, _, round, _)| i64::from(*round))
                .collect(),
            roles: rows.iter().map(|(.., role)| role.as_bytes()).collect(),
        }
    }
}

/// How many entries a handle writes between two moves of the entry count's mark
/// ([`move_count_mark`]): what `log_stats` counts row by row is at most about this many per
/// writing handle.
pub(crate) const COUNT_MARK_EVERY: u64 = 16_384;

/// Moves the entry count's mark (`log_tally.through`) up to the store's horizon, counting
/// the entries between into `log_tally.n`, in one transaction on `conn`. It takes the log
/// table as a writer does (so an import, which takes it alone, is counted whole or not yet)
/// and the count's row before it reads the horizon and counts, so that a deletion that
/// counted out under the old mark has committed first, and one that comes after counts out
/// under the new one.
///
/// # Errors
/// The engine's; the count is right either way, only its mark stays where it was.
pub(crate) fn move_count_mark(conn: &mut PgConn, s: &str) -> StoreResult<()> {
    let horizon_sql = crate::ids::horizon_sql(s);
    let (client, statements) = conn.split();
    let answer = client.simple_query(&format!(
        "BEGIN; LOCK TABLE {s}.logs IN ROW EXCLUSIVE MODE; \
         SELECT through FROM {s}.log_tally FOR UPDATE"
    ));
    let mut tx = WriteTx { client, open: true };
    answer.context("taking the entry count")?;
    let horizon = statements
        .get(tx.client(), &horizon_sql)
        .context("preparing the store's horizon")?;
    let horizon: i64 = tx
        .client()
        .query_one(&horizon, &[])
        .context("reading the store's horizon")?
        .get(0);
    let count = statements
        .get(
            tx.client(),
            &format!(
                "UPDATE {s}.log_tally SET n = n + (SELECT count(*) FROM {s}.logs \
                 WHERE id > through AND id <= $1), through = $1 WHERE through < $1"
            ),
        )
        .context("preparing the entry count")?;
    crate::activity::count_up_to(tx.client(), s, horizon)?;
    tx.client()
        .execute(&count, &[&horizon])
        .context("counting entries up to the horizon")?;
    tx.commit("moving the entry count's mark")
}
