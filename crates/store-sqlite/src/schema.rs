//! The file: its identity, its schema version, the tables and the pragmas each connection
//! runs with.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use store_core::{StoreError, StoreResult};

use crate::error::{Context, engine_error};

/// `PRAGMA application_id` of a nerve-store file: "nerv" in ASCII. A file with another id is
/// another program's database.
pub(crate) const APPLICATION_ID: i64 = 0x6e65_7276;

/// `PRAGMA user_version` of the schema this build creates and understands. Versions 1 (the
/// same tables without row checksums), 2 (without counters), 3 (without page checksums),
/// 4 (without blob references and write times), 5 (without activity counts,
/// [`crate::activity::SCHEMA_V6`]) and 6 (with a time index of the entries in order instead
/// of time marks, [`SCHEMA_V7`]) are migrated when opened for writing.
pub(crate) const SCHEMA_VERSION: i64 = 7;

/// What schema version 7 changes: the entries of a time range that are in order are found
/// between two time marks (`docs/SPEC.md` section 1, queries by time;
/// [`store_core::kit::TimeOrder`]), not by a time index of every such entry, and an entry is
/// late only when its `ts` is more than [`store_core::kit::LATE_AFTER_MILLIS`] below the
/// highest written before it (or it is restored below the log's end): a log whose writers lag
/// a little has no late entries. `time_marks` holds the first id appended at or past each
/// second the log's time reached, at most one row a second whatever the rate of writes.
/// [`crate::migrate::place_entries`] then decides `late` again and writes the marks.
pub(crate) const SCHEMA_V7: &str = "
DROP INDEX logs_by_ts;
CREATE TABLE time_marks (
    mark     INTEGER PRIMARY KEY,
    first_id INTEGER NOT NULL
);
";

/// What schema version 5 adds: the blob references a write records
/// (`docs/SPEC.md` section 2), keyed by digest (what references a blob) and indexed by
/// holder (what a holder references), each row with its checksum; and when each blob was
/// last written, which garbage collection ages it by. Blobs written before version 5 have
/// no time (`NULL`): the collector never removes them.
const SCHEMA_V5: &str = "
CREATE TABLE blob_refs (
    digest BLOB NOT NULL,
    holder TEXT NOT NULL,
    crc    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (digest, holder)
) WITHOUT ROWID;
CREATE INDEX blob_refs_by_holder ON blob_refs (holder, digest);
ALTER TABLE blobs ADD COLUMN written_at INTEGER;
";

/// The first schema whose pages carry checksums ([`checksum_pages`]). A build that does not
/// keep them must not write such a file, so they are a schema version of their own: older
/// builds refuse the file as newer than theirs.
const PAGE_CHECKSUMS_SINCE: i64 = 4;

/// What schema version 3 adds to version 2, in two parts around the marking of late
/// entries ([`crate::migrate::mark_late_entries`]).
///
/// `counts` holds the number of entries (`logs`), of runs of each status (`runs:STATUS`) and
/// the highest `ts` ever written (`max_ts`), in the transaction of every write, so that
/// `log_stats` reads counters instead of counting rows. The runs' are kept by triggers (a
/// run's write is a transition: one more row write is little beside it); the log's by the
/// writes themselves ([`crate::write::LogCounters`]), once per transaction rather than per
/// entry, since a trigger per entry made a batch half as fast again.
///
/// An entry is `late` when its `ts` is below the highest `ts` written before it (schema 7
/// allows a lag). Entries that are not late come in `ts` order in id order, so the entries of
/// a time range among them are one range of ids, whose ends one seek each of `logs_by_ts`
/// finds (schema 7: of `time_marks`); the late ones (explicit times in the past, clock steps)
/// have their own index, `logs_late_by_ts`, and are the only part of a time range that is
/// read whole (`read::time_query_sql`).
pub(crate) const SCHEMA_V3_COLUMNS: &str = "
ALTER TABLE logs ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
";

/// The second part of schema 3: the indexes and counters, on a `logs` whose `late` is right.
pub(crate) const SCHEMA_V3_COUNTS: &str = "
DROP INDEX logs_by_ts;
CREATE INDEX logs_by_ts ON logs (ts, id) WHERE late = 0;
CREATE INDEX logs_late_by_ts ON logs (ts, id) WHERE late = 1;
CREATE TABLE counts (
    name TEXT PRIMARY KEY NOT NULL,
    n    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counts (name, n) SELECT 'logs', count(*) FROM logs;
INSERT INTO counts (name, n) SELECT 'max_ts', coalesce(max(ts), -9223372036854775808) FROM logs;
INSERT INTO counts (name, n) SELECT 'runs:' || status, count(*) FROM runs GROUP BY status;
CREATE TRIGGER runs_count_insert AFTER INSERT ON runs BEGIN
    INSERT INTO counts (name, n) VALUES ('runs:' || NEW.status, 1)
        ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER runs_count_update AFTER UPDATE OF status ON runs
    WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE counts SET n = n - 1 WHERE name = 'runs:' || OLD.status;
    INSERT INTO counts (name, n) VALUES ('runs:' || NEW.status, 1)
        ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER runs_count_delete AFTER DELETE ON runs BEGIN
    UPDATE counts SET n = n - 1 WHERE name = 'runs:' || OLD.status;
END;
";

/// Schema version 2.
///
/// `logs.id` is `AUTOINCREMENT` so that an id is never reused, not even the highest one after
/// it was deleted. Each secondary index ends with `id`, so a filtered query walks the index
/// in id order and stops at its limit: O(log n + k). `thread_messages` is keyed by the id of
/// the log entry that holds the message (its rowid), and every index of it ends in that id
/// implicitly: by thread alone it is in id order, by (thread, round) in round-then-id order.
/// A blob is a `blobs` row naming its chunks, `blob_chunks` rows of at most 256 KiB, so
/// that no read needs the whole blob in memory. `crc` is each row's checksum (`checksum.rs`);
/// its default, 0, is what a row written behind the store's back gets, and fails the check.
const SCHEMA_V2: &str = "
CREATE TABLE logs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    source  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    ref_id  TEXT,
    payload TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    crc     INTEGER NOT NULL DEFAULT 0,
    day     INTEGER NOT NULL DEFAULT 0,
    big_payload BLOB
);
CREATE INDEX logs_by_ref ON logs (ref_id, id);
CREATE INDEX logs_by_source_kind ON logs (source, kind, id);
CREATE INDEX logs_by_ts ON logs (ts, id);
CREATE INDEX logs_by_day ON logs (day, id);

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY NOT NULL,
    workflow    TEXT NOT NULL,
    thread_id   TEXT,
    status      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    detail      TEXT,
    crc         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_created ON runs (created_at, run_id);
CREATE INDEX runs_by_status ON runs (status, created_at, run_id);
CREATE INDEX runs_by_workflow ON runs (workflow, created_at, run_id);
CREATE INDEX runs_by_thread ON runs (thread_id, created_at, run_id);

CREATE TABLE thread_messages (
    log_id    INTEGER PRIMARY KEY,
    thread_id TEXT NOT NULL,
    round     INTEGER NOT NULL,
    role      TEXT NOT NULL,
    crc       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX thread_messages_by_thread ON thread_messages (thread_id);
CREATE INDEX thread_messages_by_round ON thread_messages (thread_id, round);
CREATE INDEX thread_messages_by_role ON thread_messages (thread_id, role, round);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    crc   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE blobs (
    digest  BLOB PRIMARY KEY NOT NULL,
    blob_id INTEGER NOT NULL UNIQUE,
    size    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE blob_chunks (
    blob_id INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
";

/// The UTC day number of an entry: the column `day`, `ts` (milliseconds) floored to whole
/// days before 1970 too ([`store_core::kit::day_number`]), written with the row, which the
/// `logs_by_day` index orders. A column rather than an index on the expression (schema 1),
/// because SQLite refuses to write a column of a table in place (incremental blob I/O, how
/// large payloads are written) while the table has an expression index or a generated
/// column.
pub(crate) const DAY_EXPR: &str = "day";

/// What the file says it is.
struct Identity {
    application_id: i64,
    user_version: i64,
    objects: i64,
}

/// Reads the three in one statement, so in one snapshot: another process creating the
/// schema at the same moment is seen before or after, never half.
fn read_identity(conn: &Connection, path: &Path) -> StoreResult<Identity> {
    conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id), \
                (SELECT user_version FROM pragma_user_version), \
                (SELECT count(*) FROM sqlite_schema)",
        [],
        |row| {
            Ok(Identity {
                application_id: row.get(0)?,
                user_version: row.get(1)?,
                objects: row.get(2)?,
            })
        },
    )
    .map_err(|err| match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path: path.to_owned(),
            backend: "sqlite",
            reason: "the file is not a SQLite database".into(),
        },
        _ => engine_error(format!("reading the header of {}", path.display()), err),
    })
}

/// Makes sure every page of the file carries its checksum (schema 4): a new, empty file is
/// given [`sqlite_page_checksums::RESERVED_BYTES`] per page before its first page is written;
/// a file of an older schema is rewritten once by `VACUUM`, in one transaction (a crash
/// leaves it as it was), before anything else of the migration; a file of schema 4 without
/// them has a damaged header, and is refused as [`StoreError::Damaged`].
pub(crate) fn checksum_pages(conn: &Connection, path: &Path) -> StoreResult<()> {
    let id = read_identity(conn, path)?;
    let reserved = sqlite_page_checksums::reserved_bytes(conn)
        .context("reading the reserved bytes per page")?;
    if reserved == sqlite_page_checksums::RESERVED_BYTES {
        return Ok(());
    }
    if id.user_version >= PAGE_CHECKSUMS_SINCE {
        return Err(pages_missing(path, reserved));
    }
    sqlite_page_checksums::request_checksums(conn).context("reserving room for page checksums")?;
    if id.objects > 0 {
        tracing::info!(
            path = %path.display(),
            "adding page checksums: rewriting the file once (VACUUM)"
        );
        conn.execute_batch("VACUUM").with_context(|| {
            format!(
                "rewriting {} with page checksums (schema 4)",
                path.display()
            )
        })?;
        let reserved = sqlite_page_checksums::reserved_bytes(conn)
            .context("reading the reserved bytes per page")?;
        if reserved != sqlite_page_checksums::RESERVED_BYTES {
            return Err(pages_missing(path, reserved));
        }
    }
    Ok(())
}

/// A file of schema 4 or later whose header does not reserve room for page checksums.
fn pages_missing(path: &Path, reserved: u8) -> StoreError {
    StoreError::Damaged {
        path: path.to_owned(),
        backend: "sqlite",
        detail: format!(
            "its header reserves {reserved} bytes per page where a store of schema \
             {PAGE_CHECKSUMS_SINCE} or later reserves {} for page checksums",
            sqlite_page_checksums::RESERVED_BYTES
        ),
    }
}

/// What a read-only open accepts: a nerve-store of this schema version, and nothing a
/// read-only open cannot use as it is (an empty file, an older schema that needs migrating).
pub(crate) fn check_readable(conn: &Connection, path: &Path) -> StoreResult<()> {
    check_identity(conn, path)?;
    let id = read_identity(conn, path)?;
    if id.application_id == 0 && id.user_version == 0 {
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
            backend: "sqlite",
            reason: "it is empty: no store was created in it yet".into(),
        });
    }
    if id.user_version < SCHEMA_VERSION {
        return Err(StoreError::SchemaTooOld {
            path: path.to_owned(),
            found: id.user_version,
            current: SCHEMA_VERSION,
        });
    }
    let reserved = sqlite_page_checksums::reserved_bytes(conn)
        .context("reading the reserved bytes per page")?;
    if reserved != sqlite_page_checksums::RESERVED_BYTES {
        return Err(pages_missing(path, reserved));
    }
    Ok(())
}

/// Refuses another program's database and a newer schema; accepts an empty file (a new
/// store) and a nerve-store of this version.
pub(crate) fn check_identity(conn: &Connection, path: &Path) -> StoreResult<()> {
    let id = read_identity(conn, path)?;
    let fresh = id.application_id == 0 && id.user_version == 0 && id.objects == 0;
    if fresh {
        return Ok(());
    }
    if id.application_id != APPLICATION_ID {
        let tables: String = conn
            .query_row(
                "SELECT coalesce(group_concat(name, ', '), '') FROM \
                 (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name)",
                [],
                |row| row.get(0),
            )
            .with_context(|| format!("listing the tables of {}", path.display()))?;
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
            backend: "sqlite",
            reason: format!(
                "it is a SQLite database of another program (application_id {:#x}, tables: \
                 {tables})",
                id.application_id
            ),
        });
    }
    if id.user_version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: id.user_version,
            supported: SCHEMA_VERSION,
        });
    }
    if id.user_version < 1 {
        return Err(StoreError::NotAStore {
            path: path.to_owned(),
            backend: "sqlite",
            reason: format!("its schema version {} is unknown", id.user_version),
        });
    }
    Ok(())
}

/// Creates the schema in a new file, or migrates a file of version 1. Runs in one immediate
/// transaction that checks again inside, so two processes opening a new file at once create
/// it once. A file that has the current schema is only read: opening a store never waits
/// for another process's writer.
pub(crate) fn create_schema(
    conn: &mut Connection,
    path: &Path,
    meta_when_created: &[(String, String)],
) -> StoreResult<()> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("reading user_version")?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting the schema transaction")?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context("reading user_version")?;
    if version == 0 {
        tx.execute_batch(SCHEMA_V2).map_err(|err| {
            engine_error(format!("creating the schema in {}", path.display()), err)
        })?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .context("writing application_id")?;
        for (key, value) in meta_when_created {
            crate::write::set_meta(&tx, key, value)?;
        }
    } else if version == 1 {
        crate::migrate::v1_to_v2(&tx).map_err(|err| {
            engine_error(format!("migrating {} to schema 2", path.display()), err)
        })?;
    }
    if version < 3 {
        let to_v3 = || {
            tx.execute_batch(SCHEMA_V3_COLUMNS)?;
            crate::migrate::mark_late_entries(&tx)?;
            tx.execute_batch(SCHEMA_V3_COUNTS)
        };
        to_v3().map_err(|err| {
            engine_error(format!("migrating {} to schema 3", path.display()), err)
        })?;
    }
    if version < 5 {
        tx.execute_batch(SCHEMA_V5).map_err(|err| {
            engine_error(format!("migrating {} to schema 5", path.display()), err)
        })?;
    }
    if version < 6 {
        let to_v6 = || {
            tx.execute_batch(crate::activity::SCHEMA_V6)
                .context("creating the activity table")?;
            crate::activity::backfill(&tx)
        };
        to_v6().map_err(|err| match err {
            StoreError::Backend { .. } | StoreError::Busy { .. } => err,
            other => StoreError::Damaged {
                path: path.to_owned(),
                backend: "sqlite",
                detail: format!("counting its entries for schema 6: {other}"),
            },
        })?;
    }
    if version < 7 {
        let to_v7 = || {
            tx.execute_batch(SCHEMA_V7)?;
            crate::migrate::place_entries(&tx)
        };
        to_v7().map_err(|err| {
            engine_error(format!("migrating {} to schema 7", path.display()), err)
        })?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .context("writing user_version")?;
    }
    tx.commit().context("committing the schema")
}
