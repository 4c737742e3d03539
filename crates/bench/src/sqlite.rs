//! SQLite by hand: rusqlite doing the store's writes and reads on the file the store created,
//! so that the schema (tables, indexes, the `crc` and `day` columns) is the store's own.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use store_core::kit::{day_number, now_millis};
use store_core::{LogId, NewLogEntry, WorkflowRun, WorkflowRunStatus};
use store_sqlite::checksum;

use crate::LogWork;
use crate::workload::{THREAD, WORKFLOW};

/// A connection to a store's file set up as the store sets up its own by default (WAL,
/// `synchronous=FULL`, 64 MiB of cache, a busy timeout), doing the work by hand.
pub struct BareSqlite {
    conn: Connection,
}

impl BareSqlite {
    /// A bare connection to the store file at `path`, synced as the store's default
    /// (`synchronous=FULL`).
    pub fn open(path: &Path) -> Self {
        Self::open_synced(path, 2)
    }

    /// A bare connection to the store file at `path` with `PRAGMA synchronous = level`
    /// (2: `FULL`, 1: `NORMAL`).
    pub fn open_synced(path: &Path, level: i64) -> Self {
        let conn = Connection::open(path).expect("open a bare connection");
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .expect("WAL");
        conn.pragma_update(None, "synchronous", level)
            .expect("synchronous");
        conn.pragma_update(None, "cache_size", -64 * 1024)
            .expect("cache_size");
        conn.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        BareSqlite { conn }
    }

    fn immediate(&mut self) -> Transaction<'_> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("begin")
    }
}

/// The id the next entry gets, as the store finds it.
fn next_id(tx: &Transaction<'_>) -> i64 {
    tx.prepare_cached(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'logs'), 0), \
                    coalesce((SELECT max(id) FROM logs), 0))",
    )
    .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)))
    .expect("the id counter")
        + 1
}

/// Inserts one row of `logs` under `id`, with its checksum and day.
fn insert_entry(tx: &Transaction<'_>, id: i64, entry: &NewLogEntry, ts: i64) {
    let crc = checksum::log_row(
        id,
        &entry.source,
        &entry.kind,
        entry.ref_id.as_deref(),
        &entry.payload,
        ts,
    );
    tx.prepare_cached(
        "INSERT INTO logs (id, source, kind, ref_id, payload, ts, crc, day) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            id,
            entry.source,
            entry.kind,
            entry.ref_id,
            entry.payload,
            ts,
            crc,
            day_number(ts)
        ])
    })
    .expect("insert an entry");
}

impl LogWork for BareSqlite {
    fn append(&mut self, entry: NewLogEntry) {
        self.append_batch(vec![entry]);
    }

    fn append_batch(&mut self, entries: Vec<NewLogEntry>) {
        let ts = now_millis().timestamp_millis();
        let tx = self.immediate();
        let first = next_id(&tx);
        for (id, entry) in (first..).zip(&entries) {
            insert_entry(&tx, id, entry, ts);
        }
        tx.commit().expect("commit");
    }

    fn transition(&mut self, run_id: &str, from: Option<WorkflowRunStatus>, to: WorkflowRunStatus) {
        let now = now_millis();
        let tx = self.immediate();
        let current: Option<(String, u32, i64)> = tx
            .prepare_cached("SELECT status, attempt, created_at FROM runs WHERE run_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([run_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                    .optional()
            })
            .expect("read the run");
        assert_eq!(
            current.as_ref().map(|c| c.0.as_str()),
            from.map(|s| s.as_str())
        );
        let (attempt, created) = current.map_or((1, now.timestamp_millis()), |c| (c.1, c.2));
        let run = WorkflowRun {
            run_id: run_id.to_owned(),
            workflow: WORKFLOW.to_owned(),
            thread_id: Some(THREAD.to_owned()),
            status: to,
            attempt,
            created_at: chrono::DateTime::from_timestamp_millis(created).unwrap_or(now),
            updated_at: now,
            started_at: None,
            finished_at: None,
            detail: None,
        };
        tx.prepare_cached(
            "INSERT INTO runs (run_id, workflow, thread_id, status, attempt, created_at, \
                               updated_at, started_at, finished_at, detail, crc) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, NULL, ?8) \
             ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, \
                attempt = excluded.attempt, updated_at = excluded.updated_at, \
                crc = excluded.crc",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                run_id,
                WORKFLOW,
                THREAD,
                to.as_str(),
                attempt,
                created,
                now.timestamp_millis(),
                checksum::run_row(&run)
            ])
        })
        .expect("write the run");
        let audit = crate::workload::audit_entry(run_id, from, to);
        let id = next_id(&tx);
        insert_entry(&tx, id, &audit, now.timestamp_millis());
        tx.commit().expect("commit");
    }

    fn query_by_ref(&mut self, ref_id: &str, limit: usize) -> usize {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, source, kind, ref_id, payload, ts FROM logs \
                 WHERE ref_id = ?1 ORDER BY id LIMIT ?2",
            )
            .expect("prepare the query");
        let rows = stmt
            .query_map(
                params![ref_id, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| {
                    Ok(store_core::LogEntry {
                        id: LogId(u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0)),
                        source: row.get(1)?,
                        kind: row.get(2)?,
                        ref_id: row.get(3)?,
                        payload: row.get(4)?,
                        ts: chrono::DateTime::from_timestamp_millis(row.get(5)?)
                            .unwrap_or_default(),
                    })
                },
            )
            .expect("query");
        let found: Vec<store_core::LogEntry> = rows.map(|row| row.expect("a row")).collect();
        found.len()
    }
}
