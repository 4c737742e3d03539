//! redb by hand: redb doing the store's writes and reads on the file the store created,
//! through the store's own table definitions and row encodings (`store_redb::schema`), so
//! that the bare side writes every table the store writes (the day index included) and
//! nothing drifts from the schema. The bare side writes and reads its rows without the
//! store's checksums (redb alone has none on a read), so the ratio shows what they cost.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};
use store_core::kit::{day_number, now_millis};
use store_core::{LogEntry, LogId, NewLogEntry, WorkflowRun, WorkflowRunStatus};
use store_redb::schema::{
    LOGS, LOGS_BY_DAY, LOGS_BY_REF, LOGS_BY_SOURCE_KIND, LOGS_BY_TS, LogRow, NEXT_LOG_ID_KEY, RUNS,
    RUNS_BY_CREATED, RUNS_BY_STATUS, RUNS_BY_THREAD, RUNS_BY_WORKFLOW, RunRow, STORE_INFO, encode,
    row_copy,
};

use crate::LogWork;
use crate::workload::{THREAD, WORKFLOW};

/// A raw handle on a store's file, opened as the store opens it by default (several
/// processes, 64 MiB of cache, `Immediate` commits), doing the work by hand.
pub struct BareRedb {
    db: Database,
}

impl BareRedb {
    /// A bare handle on the store file at `path`.
    pub fn open(path: &Path) -> Self {
        let db = Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .set_cache_size(64 * 1024 * 1024)
            .create(path)
            .expect("open a bare handle");
        BareRedb { db }
    }
}

/// Appends `entries` at `ts` as the store does: take the counter, write each row and its four
/// index rows (a copy of the row in two of them), put the counter back.
fn append(tx: &WriteTransaction, entries: &[NewLogEntry], ts: i64) {
    let mut info = tx.open_table(STORE_INFO).expect("info");
    let mut next = info
        .get(NEXT_LOG_ID_KEY)
        .expect("the counter")
        .map_or(1, |v| v.value());
    let mut logs = tx.open_table(LOGS).expect("logs");
    let mut by_ref = tx.open_table(LOGS_BY_REF).expect("by ref");
    let mut by_source_kind = tx.open_table(LOGS_BY_SOURCE_KIND).expect("by source");
    let mut by_ts = tx.open_table(LOGS_BY_TS).expect("by ts");
    let mut by_day = tx.open_table(LOGS_BY_DAY).expect("by day");
    for entry in entries {
        let id = next;
        next += 1;
        let row = LogRow {
            source: &entry.source,
            kind: &entry.kind,
            ref_id: entry.ref_id.as_deref(),
            payload: &entry.payload,
            ts,
        };
        let bytes = encode("logs", &id, &row).expect("encode");
        logs.insert(id, bytes.as_slice()).expect("insert");
        let copy = row_copy(&bytes);
        if let Some(ref_id) = &entry.ref_id {
            by_ref.insert((ref_id.as_str(), id), copy).expect("index");
        }
        by_source_kind
            .insert((entry.source.as_str(), entry.kind.as_str(), id), copy)
            .expect("index");
        by_ts.insert((ts, id), ()).expect("index");
        by_day.insert((day_number(ts), id), ()).expect("index");
    }
    info.insert(NEXT_LOG_ID_KEY, next).expect("the counter");
}

impl LogWork for BareRedb {
    fn append(&mut self, entry: NewLogEntry) {
        self.append_batch(vec![entry]);
    }

    fn append_batch(&mut self, entries: Vec<NewLogEntry>) {
        let tx = self.db.begin_write().expect("begin");
        append(&tx, &entries, now_millis().timestamp_millis());
        tx.commit().expect("commit");
    }

    fn transition(&mut self, run_id: &str, from: Option<WorkflowRunStatus>, to: WorkflowRunStatus) {
        let now = now_millis();
        let tx = self.db.begin_write().expect("begin");
        let previous = tx
            .open_table(RUNS)
            .expect("runs")
            .get(run_id)
            .expect("read the run")
            .map(|bytes| RunRow::run_from_body(run_id, bytes.value()).expect("decode the run"));
        assert_eq!(previous.as_ref().map(|run| run.status), from);
        let run = WorkflowRun {
            run_id: run_id.to_owned(),
            workflow: WORKFLOW.to_owned(),
            thread_id: Some(THREAD.to_owned()),
            status: to,
            attempt: previous.as_ref().map_or(1, |run| run.attempt),
            created_at: previous.as_ref().map_or(now, |run| run.created_at),
            updated_at: now,
            started_at: None,
            finished_at: None,
            detail: None,
        };
        let created = run.created_at.timestamp_millis();
        let row = encode("runs", &run_id, &RunRow::of(&run)).expect("encode");
        tx.open_table(RUNS)
            .expect("runs")
            .insert(run_id, row.as_slice())
            .expect("write the run");
        {
            let mut by_status = tx.open_table(RUNS_BY_STATUS).expect("by status");
            if let Some(old) = &previous {
                by_status
                    .remove((old.status.as_str(), created, run_id))
                    .expect("unindex");
            } else {
                tx.open_table(RUNS_BY_CREATED)
                    .expect("by created")
                    .insert((created, run_id), ())
                    .expect("index");
                tx.open_table(RUNS_BY_WORKFLOW)
                    .expect("by workflow")
                    .insert((WORKFLOW, created, run_id), ())
                    .expect("index");
                tx.open_table(RUNS_BY_THREAD)
                    .expect("by thread")
                    .insert((THREAD, created, run_id), ())
                    .expect("index");
            }
            by_status
                .insert((to.as_str(), created, run_id), ())
                .expect("index");
        }
        let audit = crate::workload::audit_entry(run_id, from, to);
        append(&tx, &[audit], now.timestamp_millis());
        tx.commit().expect("commit");
    }

    fn query_by_ref(&mut self, ref_id: &str, limit: usize) -> usize {
        let tx = self.db.begin_read().expect("begin a read");
        let index = tx.open_table(LOGS_BY_REF).expect("by ref");
        let logs = tx.open_table(LOGS).expect("logs");
        let mut found: Vec<LogEntry> = Vec::with_capacity(limit);
        for item in index
            .range((ref_id, 0)..=(ref_id, u64::MAX))
            .expect("range")
            .take(limit)
        {
            let (key, copy) = item.expect("an index row");
            let id = key.value().1;
            let from_log = copy
                .value()
                .is_empty()
                .then(|| logs.get(id).expect("get").expect("the row"));
            let bytes = from_log.as_ref().map_or(copy.value(), |row| row.value());
            let row = LogRow::decode_body(id, bytes).expect("decode");
            found.push(LogEntry {
                id: LogId(id),
                source: row.source.to_owned(),
                kind: row.kind.to_owned(),
                ref_id: row.ref_id.map(str::to_owned),
                payload: row.payload.to_owned(),
                ts: chrono::DateTime::from_timestamp_millis(row.ts).unwrap_or_default(),
            });
        }
        found.len()
    }
}
