//! Writes: a group of units in one transaction that holds the store's counter row from its
//! first statement to its commit.

use postgres::{Client, GenericClient};
use store_core::kit::{PreparedUnit, UnitResult, UnitTx, apply_group, fail_all};
use store_core::{LogEntry, LogId, StoreError, StoreResult, WorkflowRun};

use crate::connection::{PgConn, Statements};
use crate::error::Context;
use crate::read::{RUN_COLUMNS, id_to_sql};

/// A writing transaction begun by hand, so that its `BEGIN` travels with the taking of the
/// counter in one round trip ([`begin`]); rolled back when dropped uncommitted (an error, a
/// panic), so that no connection goes back to the pool inside a transaction.
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

/// Begins a writing transaction on `client` in the schema `s` and takes the counter row,
/// in one round trip: from here to the commit no other writer of the store runs, in any
/// process. Returns the transaction and the last id given out.
pub(crate) fn begin<'c>(client: &'c mut Client, s: &str) -> StoreResult<(WriteTx<'c>, i64)> {
    let answer = client.simple_query(&format!(
        "BEGIN; SELECT last_id FROM {s}.log_counter FOR UPDATE"
    ));
    // Whatever the answer, the transaction may be open: the guard ends it.
    let tx = WriteTx { client, open: true };
    let messages = answer.context("taking the store's id counter")?;
    let last = messages
        .iter()
        .find_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| StoreError::corrupt("log_counter", "last_id", "missing or not a number"))?;
    Ok((tx, last))
}

/// A group's transaction as [`apply_group`] drives it. Entries and thread rows are sent in
/// one statement each when the group is done ([`GroupTx::finish`]); runs and meta at once,
/// since later units of the group read them.
pub(crate) struct GroupTx<'t> {
    pub(crate) tx: &'t mut Client,
    pub(crate) statements: &'t mut Statements,
    pub(crate) s: &'t str,
    /// The last id given out, this group's included.
    pub(crate) last: i64,
    entries: Vec<LogEntry>,
    threads: Vec<(i64, String, u32, String)>,
    /// The largest id among entries written under their own ids (an import).
    imported_max: i64,
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
            entries: Vec::new(),
            threads: Vec::new(),
            imported_max: 0,
        }
    }

    /// Sends the group's entries and thread rows and moves the counter past the ids given
    /// out (and past every imported id), all in one statement: one round trip.
    pub(crate) fn finish(self) -> StoreResult<()> {
        let s = self.s;
        let n = i64::try_from(self.entries.len()).unwrap_or(i64::MAX);
        let count = self.entries.len();
        let mut ids = Vec::with_capacity(count);
        let mut sources = Vec::with_capacity(count);
        let mut kinds = Vec::with_capacity(count);
        let mut refs: Vec<Option<Vec<u8>>> = Vec::with_capacity(count);
        let mut payloads = Vec::with_capacity(count);
        let mut times = Vec::with_capacity(count);
        for entry in self.entries {
            ids.push(id_to_sql(entry.id));
            sources.push(entry.source.into_bytes());
            kinds.push(entry.kind.into_bytes());
            refs.push(entry.ref_id.map(String::into_bytes));
            payloads.push(entry.payload.into_bytes());
            times.push(entry.ts.timestamp_millis());
        }
        let count = self.threads.len();
        let mut thread_ids = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        let mut rounds = Vec::with_capacity(count);
        let mut roles = Vec::with_capacity(count);
        for (id, thread, round, role) in self.threads {
            thread_ids.push(id);
            threads.push(thread.into_bytes());
            rounds.push(i64::from(round));
            roles.push(role.into_bytes());
        }
        let last = self.last.max(self.imported_max);
        // The thread rows' foreign key is checked at the statement's end, when the entries
        // they name are in.
        let write = self
            .statements
            .get(
                self.tx,
                &format!(
                    "WITH entries AS (INSERT INTO {s}.logs (id, source, kind, ref_id, payload, ts) \
                     SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[], \
                     $5::bytea[], $6::bigint[])), \
                     threads AS (INSERT INTO {s}.thread_messages (log_id, thread_id, round, role) \
                     SELECT * FROM unnest($7::bigint[], $8::bytea[], $9::bigint[], $10::bytea[])) \
                     UPDATE {s}.log_counter SET last_id = $11, entries = entries + $12"
                ),
            )
            .context("preparing the group's write")?;
        self.tx
            .execute(
                &write,
                &[
                    &ids,
                    &sources,
                    &kinds,
                    &refs,
                    &payloads,
                    &times,
                    &thread_ids,
                    &threads,
                    &rounds,
                    &roles,
                    &last,
                    &n,
                ],
            )
            .context("writing log entries")?;
        Ok(())
    }

    /// Queues an entry written under its own id (an import).
    pub(crate) fn import_entry(&mut self, entry: &LogEntry) {
        self.imported_max = self.imported_max.max(id_to_sql(entry.id));
        self.entries.push(entry.clone());
    }

    /// Queues a thread row of an imported entry.
    pub(crate) fn import_thread(&mut self, id: LogId, thread_id: &str, round: u32, role: &str) {
        self.threads
            .push((id_to_sql(id), thread_id.to_owned(), round, role.to_owned()));
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

/// Writes `run` in `tx`, replacing `stored`, and moves the run counters, in one statement.
pub(crate) fn write_run(
    tx: &mut impl GenericClient,
    statements: &mut Statements,
    s: &str,
    run: &WorkflowRun,
    stored: Option<&WorkflowRun>,
) -> StoreResult<()> {
    let millis = |t: chrono::DateTime<chrono::Utc>| t.timestamp_millis();
    // The counts of the statuses the run leaves and enters.
    let (statuses, moves): (Vec<&str>, Vec<i64>) = match stored {
        Some(old) if old.status == run.status => (Vec::new(), Vec::new()),
        Some(old) => (vec![old.status.as_str(), run.status.as_str()], vec![-1, 1]),
        None => (vec![run.status.as_str()], vec![1]),
    };
    let upsert = statements
        .get(
            tx,
            &format!(
                "WITH counted AS (INSERT INTO {s}.run_counts (status, n) \
                 SELECT * FROM unnest($11::text[], $12::bigint[]) \
                 ON CONFLICT (status) DO UPDATE SET n = {s}.run_counts.n + excluded.n) \
                 INSERT INTO {s}.runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (run_id) DO UPDATE SET workflow = excluded.workflow, \
                 thread_id = excluded.thread_id, status = excluded.status, \
                 attempt = excluded.attempt, created_at = excluded.created_at, \
                 updated_at = excluded.updated_at, started_at = excluded.started_at, \
                 finished_at = excluded.finished_at, detail = excluded.detail"
            ),
        )
        .context("preparing a run's write")?;
    tx.execute(
        &upsert,
        &[
            &run.run_id.as_bytes(),
            &run.workflow.as_bytes(),
            &run.thread_id.as_ref().map(|t| t.as_bytes()),
            &run.status.as_str(),
            &i64::from(run.attempt),
            &millis(run.created_at),
            &millis(run.updated_at),
            &run.started_at.map(millis),
            &run.finished_at.map(millis),
            &run.detail.as_ref().map(|d| d.as_bytes()),
            &statuses,
            &moves,
        ],
    )
    .context("writing a run")?;
    Ok(())
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
        read_run(self.tx, self.statements, self.s, run_id)
    }

    fn next_id(&mut self) -> StoreResult<u64> {
        u64::try_from(self.last)
            .map(|last| last + 1)
            .map_err(|_| StoreError::corrupt("log_counter", "last_id", "negative"))
    }

    fn write_entry(&mut self, entry: &LogEntry) -> StoreResult<()> {
        self.last = self.last.max(id_to_sql(entry.id));
        self.entries.push(entry.clone());
        Ok(())
    }

    fn index_thread(
        &mut self,
        id: LogId,
        thread_id: &str,
        round: u32,
        role: &str,
    ) -> StoreResult<()> {
        self.threads
            .push((id_to_sql(id), thread_id.to_owned(), round, role.to_owned()));
        Ok(())
    }

    fn write_run(&mut self, run: &WorkflowRun, stored: Option<&WorkflowRun>) -> StoreResult<()> {
        write_run(self.tx, self.statements, self.s, run, stored)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()> {
        set_meta(self.tx, self.statements, self.s, key, value)
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

/// Commits the units of one group in one transaction on `conn`; every call gets the
/// group's error when the transaction fails.
pub(crate) fn commit_group(
    conn: &mut PgConn,
    s: &str,
    units: Vec<PreparedUnit>,
) -> Vec<UnitResult> {
    let count = units.len();
    let attempt = (|| {
        let (client, statements) = conn.split();
        let (mut tx, last) = begin(client, s)?;
        let mut group = GroupTx::new(tx.client(), statements, s, last);
        let results = apply_group(&mut group, units)?;
        group.finish()?;
        tx.commit("committing a group of writes")?;
        Ok(results)
    })();
    match attempt {
        Ok(results) => results,
        Err(err) => fail_all(err, count),
    }
}
