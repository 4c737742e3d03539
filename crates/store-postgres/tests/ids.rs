//! Ids on PostgreSQL (docs/SPEC.md): numbered from the writing transaction's id, so that
//! writers never wait for each other, and read below the store's horizon, so that a reader
//! never meets an entry behind one it has read. And a store of schema version 1 (a counter
//! row) upgraded at a writable open with nothing lost.

use store_core::{
    LogEntry, LogMaintenance, LogQuery, LogStore, LogTransfer, NewLogEntry, RunTransition,
    StoreError, WorkflowRunStatus,
};
use store_postgres::PgLogStore;
use store_postgres::harness::{options, raw, schema_of};

fn payloads(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|entry| entry.payload.as_str()).collect()
}

fn everything(store: &PgLogStore) -> Vec<LogEntry> {
    store
        .query(&LogQuery::new().limit(usize::MAX))
        .expect("the log")
}

/// A writer that has begun (it holds the log table and has its transaction id) and not yet
/// committed holds back every later entry from readers, even committed ones, until it ends;
/// then its entry comes before them, where its id puts it, and a cursor that read nothing
/// past the horizon meets every entry once.
#[test]
fn an_open_writer_holds_back_later_entries_until_it_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = PgLogStore::open_with(options(dir.path())).expect("a store");
    let s = format!("\"{}\"", schema_of(dir.path()));
    let first = store
        .append(NewLogEntry::new("s", "k", "first"))
        .expect("an entry before");

    // A writer of the store, as `write::begin` and the append statement write: the table
    // first, then its id, then its entry numbered from it.
    let mut other = raw();
    let mut open = other.transaction().expect("a writer's transaction");
    open.batch_execute(&format!(
        "LOCK TABLE {s}.logs IN ROW EXCLUSIVE MODE; \
         INSERT INTO {s}.logs (id, source, kind, payload, ts) \
         SELECT base + 1048576 * pg_current_xact_id()::text::bigint + 1, 's', 'k', 'slow', 0 \
         FROM {s}.log_ids"
    ))
    .expect("an entry, not yet committed");

    let later = store
        .append(NewLogEntry::new("s", "k", "later"))
        .expect("a later entry commits");
    assert!(
        payloads(&everything(&store)) == ["first"],
        "the later entry waits for the open writer"
    );
    let cursor = LogQuery::new().after(first.id);
    assert_eq!(store.query(&cursor).expect("after the first"), vec![]);

    open.commit().expect("the open writer commits");
    let log = everything(&store);
    assert_eq!(payloads(&log), ["first", "slow", "later"]);
    assert_eq!(log[2], later);
    assert_eq!(
        payloads(&store.query(&cursor).expect("after the first")),
        ["slow", "later"],
        "the cursor meets both, the slow one first"
    );
}

/// A transaction that writes elsewhere on the server (another store, another table) holds
/// back nothing: readers see the store's entries as soon as they are committed.
#[test]
fn a_transaction_elsewhere_holds_back_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = PgLogStore::open_with(options(dir.path())).expect("a store");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let neighbour = PgLogStore::open_with(options(elsewhere.path())).expect("another store");
    neighbour
        .append(NewLogEntry::new("s", "k", "there"))
        .expect("an entry there");
    let s = format!("\"{}\"", schema_of(elsewhere.path()));

    let mut other = raw();
    let mut open = other.transaction().expect("a transaction elsewhere");
    open.batch_execute(&format!(
        "LOCK TABLE {s}.logs IN ROW EXCLUSIVE MODE; SELECT pg_current_xact_id()"
    ))
    .expect("a writer of the other store, with its id");
    let here = store
        .append(NewLogEntry::new("s", "k", "here"))
        .expect("an entry here");
    neighbour
        .append(NewLogEntry::new("s", "k", "there, later"))
        .expect("a later entry there");
    assert_eq!(everything(&store), vec![here], "seen at once");
    assert_eq!(
        payloads(&everything(&neighbour)),
        ["there"],
        "while the other store's open writer holds back its own later entries"
    );
    open.rollback().expect("the writer elsewhere ends");
    assert_eq!(payloads(&everything(&neighbour)), ["there", "there, later"]);
}

/// The tables of schema version 1, as that version created them.
const VERSION_1: &str = r#"
CREATE TABLE {s}.store_identity (one bool PRIMARY KEY DEFAULT true CHECK (one),
    application text NOT NULL, schema_version int NOT NULL);
CREATE TABLE {s}.log_counter (one bool PRIMARY KEY DEFAULT true CHECK (one),
    last_id bigint NOT NULL CHECK (last_id >= 0), entries bigint NOT NULL);
CREATE TABLE {s}.logs (id bigint PRIMARY KEY CHECK (id > 0), source bytea NOT NULL,
    kind bytea NOT NULL, ref_id bytea, payload bytea NOT NULL, ts bigint NOT NULL,
    day bigint GENERATED ALWAYS AS
        ((ts - (((ts % 86400000) + 86400000) % 86400000)) / 86400000) STORED);
CREATE INDEX logs_by_ref ON {s}.logs (ref_id, id);
CREATE INDEX logs_by_source_kind ON {s}.logs (source, kind, id);
CREATE INDEX logs_by_ts ON {s}.logs (ts, id);
CREATE INDEX logs_by_day ON {s}.logs (day, id);
CREATE TABLE {s}.runs (run_id bytea PRIMARY KEY, workflow bytea NOT NULL, thread_id bytea,
    status text NOT NULL, attempt bigint NOT NULL, created_at bigint NOT NULL,
    updated_at bigint NOT NULL, started_at bigint, finished_at bigint, detail bytea);
CREATE INDEX runs_by_created ON {s}.runs (created_at, run_id);
CREATE INDEX runs_by_status ON {s}.runs (status, created_at, run_id);
CREATE INDEX runs_by_workflow ON {s}.runs (workflow, created_at, run_id);
CREATE INDEX runs_by_thread ON {s}.runs (thread_id, created_at, run_id);
CREATE TABLE {s}.run_counts (status text PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE {s}.thread_messages (
    log_id bigint PRIMARY KEY REFERENCES {s}.logs (id) ON DELETE CASCADE,
    thread_id bytea NOT NULL, round bigint NOT NULL, role bytea NOT NULL);
CREATE INDEX thread_by_id ON {s}.thread_messages (thread_id, log_id);
CREATE INDEX thread_by_round ON {s}.thread_messages (thread_id, round, log_id);
CREATE TABLE {s}.meta (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE {s}.blobs (digest bytea PRIMARY KEY, blob_id bigint NOT NULL, size bigint NOT NULL);
CREATE TABLE {s}.blob_chunks (blob_id bigint NOT NULL, seq bigint NOT NULL, data bytea NOT NULL,
    PRIMARY KEY (blob_id, seq));
INSERT INTO {s}.store_identity (application, schema_version) VALUES ('nerve-store', 1);
INSERT INTO {s}.log_counter (last_id, entries) VALUES (7, 2);
INSERT INTO {s}.logs (id, source, kind, payload, ts) VALUES
    (3, 's', 'k', 'three', 1795503600000), (7, 's', 'k', 'seven', 1795503600001);
INSERT INTO {s}.runs VALUES ('run', 'wf', NULL, 'started', 1, 1795503600000, 1795503600000,
    1795503600000, NULL, NULL);
INSERT INTO {s}.run_counts VALUES ('started', 1);
"#;

/// A store of schema version 1 (ids from a counter row, 7 given out, entries 3 and 7 kept):
/// a read-only open refuses it as too old; a writable open upgrades it, and then its
/// entries, counts and runs are as they were, a new entry's id is above 7, and a run moves.
#[test]
fn a_version_1_store_is_upgraded_at_a_writable_open_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let schema = schema_of(dir.path());
    let s = format!("\"{schema}\"");
    raw()
        .batch_execute(&format!(
            "CREATE SCHEMA {s}; {}",
            VERSION_1.replace("{s}", &s)
        ))
        .expect("a store of version 1");

    let err = PgLogStore::open_with(options(dir.path()).read_only(true))
        .expect_err("a read-only open does not upgrade");
    assert!(
        matches!(
            err,
            StoreError::SchemaTooOld {
                found: 1,
                current: 5,
                ..
            }
        ),
        "{err}"
    );

    let store = PgLogStore::open_with(options(dir.path())).expect("upgraded");
    assert_eq!(payloads(&everything(&store)), ["three", "seven"]);
    let stats = store.log_stats().expect("stats");
    assert_eq!(stats.entries, 2);
    assert_eq!(stats.runs.get(WorkflowRunStatus::Started), 1);
    let next = store
        .append(NewLogEntry::new("s", "k", "next"))
        .expect("an append");
    assert!(next.id.0 > 7, "{next:?}");
    store
        .transition_run(RunTransition::new(
            "run",
            "wf",
            WorkflowRunStatus::Completed,
        ))
        .expect("the run moves on");
    let stats = store.log_stats().expect("stats");
    assert_eq!(stats.entries, 4, "the two, the append and the audit entry");
    assert_eq!(stats.runs.get(WorkflowRunStatus::Started), 0);
    assert_eq!(stats.runs.get(WorkflowRunStatus::Completed), 1);
    let version: i32 = raw()
        .query_one(
            &format!("SELECT schema_version FROM {s}.store_identity"),
            &[],
        )
        .expect("the version")
        .get(0);
    assert_eq!(
        version, 5,
        "upgraded through versions 2, 3 and 4 to the current one"
    );
    let indexes: Vec<String> = raw()
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 \
             AND tablename = 'logs' ORDER BY 1",
            &[&schema],
        )
        .expect("the log's indexes")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        indexes,
        [
            "logs_by_day",
            "logs_by_hour",
            "logs_by_ref",
            "logs_by_source_kind",
            "logs_by_source_kind_hour",
            "logs_pkey"
        ],
        "version 5 walks time ranges hour by hour, not by (ts, id)"
    );
    let counts = store
        .activity(store_core::min_ts(), store_core::max_ts())
        .expect("the activity");
    assert_eq!(
        counts,
        store_core::kit::count_entries(
            &everything(&store),
            store_core::min_ts(),
            store_core::max_ts()
        )
        .expect("a walk"),
        "the entries of version 1 counted by the hour"
    );
    drop(store);
    PgLogStore::open_with(options(dir.path()).read_only(true))
        .expect("a read-only open of the upgraded store");
}

/// Four handles on one store (four writer connections, as four daemons have) race the same
/// runs through queued, started and completed: each status of each run is applied exactly
/// once, with one audit entry, whoever wins; the others are told `Unchanged` or refused.
/// (A group reads its runs before it writes them, without a lock: a run another writer moved
/// in between fails that write, and the group is planned again.)
#[test]
fn handles_racing_on_the_same_runs_apply_each_status_once() {
    const HANDLES: usize = 4;
    const RUNS: usize = 40;
    let dir = tempfile::tempdir().expect("temp dir");
    let stores: Vec<PgLogStore> = (0..HANDLES)
        .map(|_| PgLogStore::open_with(options(dir.path())).expect("a handle"))
        .collect();
    let statuses = [
        WorkflowRunStatus::Queued,
        WorkflowRunStatus::Started,
        WorkflowRunStatus::Completed,
    ];
    let applied: Vec<(String, WorkflowRunStatus)> = std::thread::scope(|scope| {
        let racers: Vec<_> = stores
            .iter()
            .map(|store| {
                scope.spawn(move || {
                    let mut applied = Vec::new();
                    for run in 0..RUNS {
                        let run_id = format!("run-{run}");
                        for status in statuses {
                            match store.transition_run(RunTransition::new(&run_id, "wf", status)) {
                                Ok(store_core::TransitionOutcome::Applied { .. }) => {
                                    applied.push((run_id.clone(), status));
                                }
                                Ok(_) | Err(StoreError::InvalidTransition { .. }) => {}
                                Err(other) => panic!("{run_id} {status:?}: {other}"),
                            }
                        }
                    }
                    applied
                })
            })
            .collect();
        racers
            .into_iter()
            .flat_map(|racer| racer.join().expect("a racer"))
            .collect()
    });
    let mut seen = applied.clone();
    seen.sort_by(|a, b| (&a.0, a.1 as u8).cmp(&(&b.0, b.1 as u8)));
    seen.dedup();
    assert_eq!(seen.len(), applied.len(), "no status applied twice");
    assert_eq!(applied.len(), RUNS * statuses.len(), "each status applied");
    let store = &stores[0];
    let audits = store
        .query(&LogQuery::new().source("workflow").limit(usize::MAX))
        .expect("the audit entries");
    assert_eq!(audits.len(), RUNS * statuses.len(), "one audit entry each");
    let stats = store.log_stats().expect("stats");
    assert_eq!(stats.runs.get(WorkflowRunStatus::Completed), RUNS as u64);
    assert_eq!(stats.runs.get(WorkflowRunStatus::Queued), 0);
    assert_eq!(stats.runs.get(WorkflowRunStatus::Started), 0);
}

/// The entry count's mark (`log_tally.through`) of the store in the schema `s`, quoted.
fn count_mark(s: &str) -> i64 {
    raw()
        .query_one(&format!("SELECT through FROM {s}.log_tally"), &[])
        .expect("the mark")
        .get(0)
}

/// The entry count is the log's size through every way entries come and go: counted up to
/// a mark that writers move now and then (after every 16,384 entries a handle writes, and
/// at `compact`), plus the entries above it, counted when asked; a deletion counts out what
/// was under the mark, an import counts in what lands under it.
#[test]
fn the_entry_count_stays_the_logs_size_around_its_mark() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = PgLogStore::open_with(options(dir.path())).expect("a store");
    let s = format!("\"{}\"", schema_of(dir.path()));
    let mark = || count_mark(&s);
    let counted = |store: &PgLogStore| {
        let stats = store.log_stats().expect("stats").entries;
        assert_eq!(
            stats,
            everything(store).len() as u64,
            "the count is the log's size"
        );
        stats
    };
    let day = |d: i64| {
        chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .expect("a time")
            .with_timezone(&chrono::Utc)
            + chrono::Duration::days(d)
    };
    let batch = |n: usize, d: i64| -> Vec<NewLogEntry> {
        (0..n)
            .map(|i| NewLogEntry::new("s", "k", i.to_string()).at(day(d)))
            .collect()
    };
    store.append_batch(batch(16_384, 0)).expect("a large batch");
    assert!(mark() > 0, "the writer moved the mark after 16,384 entries");
    assert_eq!(counted(&store), 16_384);
    store
        .append_batch(batch(100, 1))
        .expect("entries above the mark");
    assert_eq!(counted(&store), 16_484);
    store.compact().expect("compact moves the mark");
    let moved = mark();
    let top = store
        .append_batch(batch(50, 1))
        .expect("more above the mark")
        .last()
        .map(|entry| entry.id)
        .expect("the highest id");
    let deleted = store
        .delete_days(
            &[store_core::DaySpan::new(
                day(1).date_naive(),
                store_core::MAX_LOG_ID,
            )],
            &[],
        )
        .expect("a day under and above the mark");
    assert_eq!(deleted, 150);
    assert_eq!(counted(&store), 16_384);
    assert_eq!(mark(), moved);
    store
        .compact()
        .expect("the mark moves past every id given out");
    let mut imported = everything(&store).last().cloned().expect("an entry");
    imported.id = store_core::LogId(top.0 + 1);
    assert!(
        mark() >= imported.id.0 as i64,
        "the import lands under the mark"
    );
    store
        .import(store_core::ImportBatch {
            entries: vec![imported],
            ..store_core::ImportBatch::default()
        })
        .expect("an import under the mark");
    assert_eq!(counted(&store), 16_385);
    store.compact().expect("compact");
    assert_eq!(counted(&store), 16_385);
}

/// A store filled by imports (what `migrate` and a backup's restore do) has its entries
/// counted under the mark as one filled by appends does, not one by one at every read: the
/// importing handle moves the mark once it has imported 16,384 entries.
#[test]
fn imports_move_the_entry_counts_mark_as_appends_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = PgLogStore::open_with(options(dir.path())).expect("a store");
    let s = format!("\"{}\"", schema_of(dir.path()));
    let mark = || count_mark(&s);
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .expect("a time")
        .with_timezone(&chrono::Utc);
    let entries = |from: u64, n: u64| -> Vec<store_core::LogEntry> {
        (from..from + n)
            .map(|id| store_core::LogEntry {
                id: store_core::LogId(id),
                source: "s".into(),
                kind: "k".into(),
                ref_id: None,
                payload: id.to_string(),
                ts: at,
            })
            .collect()
    };
    let import = |from: u64, n: u64| {
        store
            .import(store_core::ImportBatch {
                entries: entries(from, n),
                ..store_core::ImportBatch::default()
            })
            .expect("an import");
    };
    import(1, 10_000);
    assert_eq!(mark(), 0, "fewer than 16,384 imported: counted when asked");
    import(10_001, 10_000);
    assert!(mark() >= 20_000, "the mark moved over every entry imported");
    assert_eq!(store.log_stats().expect("stats").entries, 20_000);
}
