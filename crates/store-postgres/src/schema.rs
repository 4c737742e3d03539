//! The store's tables in its schema: created at the first open, checked at every open, under
//! a lock so that daemons opening a new store together create it once.

use std::path::PathBuf;

use postgres::Client;
use store_core::{StoreError, StoreResult};

use crate::error::Context;
use crate::ids::IDS_PER_TRANSACTION;

/// The schema version this build writes and reads: 5 indexes the log by hour for time
/// ranges ([`crate::hours`]) in place of its `(ts, id)` index; 4 keeps activity counts (`activity`) up
/// to the entry count's mark, and renames the count `log_tally`, so that a writer of an
/// older build, which would move the mark without counting, fails instead; 3 keeps blob
/// references (`blob_refs`)
/// and when each blob was last written (`blobs.written_at`); 2 numbers ids from the writing
/// transaction's id (`log_ids`), counts entries up to a mark (`entry_count`) and runs per
/// server process (`run_counts`); 1 took a counter row (`log_counter`). Older versions are
/// upgraded at a writable open.
pub(crate) const SCHEMA_VERSION: i32 = 5;

/// What version 3 adds to version 2: blob references, keyed by digest (what references a
/// blob) and indexed by holder (what a holder references; `holder` is the UTF-8 of
/// [`store_core::BlobHolder::key`]), and each blob's last write time in UTC milliseconds
/// (`NULL` for a blob written before version 3, which garbage collection never removes).
const TABLES_V3: &str = r#"
CREATE TABLE {s}.blob_refs (
    digest bytea NOT NULL,
    holder bytea NOT NULL,
    PRIMARY KEY (digest, holder));
CREATE INDEX blob_refs_by_holder ON {s}.blob_refs (holder, digest);
ALTER TABLE {s}.blobs ADD COLUMN written_at bigint;
"#;

/// What version 5 changes in version 4: the log's time index by `(ts, id)` gives way to
/// indexes by hour and id, and by source, kind, hour and id ([`crate::hours`]), which answer
/// a time range hour by hour in id order. Idempotent.
fn tables_v5(s: &str) -> String {
    let hour = crate::hours::HOUR_OF_TS;
    format!(
        "DROP INDEX IF EXISTS {s}.logs_by_ts; \
         CREATE INDEX IF NOT EXISTS logs_by_hour ON {s}.logs ({hour}, id); \
         CREATE INDEX IF NOT EXISTS logs_by_source_kind_hour ON {s}.logs \
         (source, kind, {hour}, id);"
    )
}

/// What `store_identity.application` holds in a nerve-store schema.
pub(crate) const APPLICATION: &str = "nerve-store";

/// The tables of schema version 2, in the schema `{s}`. Strings are `bytea` (`text` refuses
/// NUL); times are UTC milliseconds; `day` is the UTC day number of `ts` (floor division).
///
/// `log_ids` holds what ids are numbered from (`base`, raised by an import of ids above the
/// writers' own) and the highest id an import or a deletion has seen (`given`: an import
/// goes above it). `entry_count` holds how many entries have ids up to `through`, a mark
/// moved now and then to the horizon (the entries above it are counted when asked), so that
/// no append updates it. `run_counts` holds what each server process's writes added to each
/// status (`shard` is its `pg_backend_pid()`, 0 for what `compact` folded), so that no two
/// writers update one row.
const TABLES: &str = r#"
CREATE TABLE {s}.store_identity (
    one bool PRIMARY KEY DEFAULT true CHECK (one),
    application text NOT NULL,
    schema_version int NOT NULL);
CREATE TABLE {s}.log_ids (
    one bool PRIMARY KEY DEFAULT true CHECK (one),
    base bigint NOT NULL CHECK (base >= 0),
    given bigint NOT NULL CHECK (given >= 0));
CREATE TABLE {s}.entry_count (
    one bool PRIMARY KEY DEFAULT true CHECK (one),
    n bigint NOT NULL,
    through bigint NOT NULL);
CREATE TABLE {s}.logs (
    id bigint PRIMARY KEY CHECK (id > 0),
    source bytea NOT NULL,
    kind bytea NOT NULL,
    ref_id bytea,
    payload bytea NOT NULL,
    ts bigint NOT NULL,
    day bigint GENERATED ALWAYS AS
        ((ts - (((ts % 86400000) + 86400000) % 86400000)) / 86400000) STORED);
CREATE INDEX logs_by_ref ON {s}.logs (ref_id, id);
CREATE INDEX logs_by_source_kind ON {s}.logs (source, kind, id);
CREATE INDEX logs_by_ts ON {s}.logs (ts, id);
CREATE INDEX logs_by_day ON {s}.logs (day, id);
CREATE TABLE {s}.runs (
    run_id bytea PRIMARY KEY,
    workflow bytea NOT NULL,
    thread_id bytea,
    status text NOT NULL,
    attempt bigint NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    detail bytea);
CREATE INDEX runs_by_created ON {s}.runs (created_at, run_id);
CREATE INDEX runs_by_status ON {s}.runs (status, created_at, run_id);
CREATE INDEX runs_by_workflow ON {s}.runs (workflow, created_at, run_id);
CREATE INDEX runs_by_thread ON {s}.runs (thread_id, created_at, run_id);
CREATE TABLE {s}.run_counts (
    shard int NOT NULL,
    status text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (shard, status));
CREATE TABLE {s}.thread_messages (
    log_id bigint PRIMARY KEY REFERENCES {s}.logs (id) ON DELETE CASCADE,
    thread_id bytea NOT NULL,
    round bigint NOT NULL,
    role bytea NOT NULL);
CREATE INDEX thread_by_id ON {s}.thread_messages (thread_id, log_id);
CREATE INDEX thread_by_round ON {s}.thread_messages (thread_id, round, log_id);
CREATE TABLE {s}.meta (
    key bytea PRIMARY KEY,
    value bytea NOT NULL);
CREATE TABLE {s}.blobs (
    digest bytea PRIMARY KEY,
    blob_id bigint NOT NULL,
    size bigint NOT NULL);
CREATE TABLE {s}.blob_chunks (
    blob_id bigint NOT NULL,
    seq bigint NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (blob_id, seq));
"#;

/// `name` as a quoted identifier (the name is checked to need no escaping).
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// Creates the store in `schema` when the schema holds no table, and otherwise checks that
/// it is a nerve-store of this version; one transaction, under an advisory lock on the
/// schema's name. `location` names the store in errors.
pub(crate) fn create_or_check(
    client: &mut Client,
    schema: &str,
    location: &str,
    meta_when_created: &[(String, String)],
) -> StoreResult<()> {
    let context = "checking the store's schema";
    let mut tx = client.transaction().context(context)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('nerve-store schema ' || $1, 0))",
        &[&schema],
    )
    .context(context)?;
    let tables: Vec<String> = tx
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
             ORDER BY table_name",
            &[&schema],
        )
        .context(context)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let not_a_store = |reason: String| StoreError::NotAStore {
        path: PathBuf::from(location),
        backend: "postgres",
        reason,
    };
    if tables.is_empty() {
        let s = quoted(schema);
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s};"))
            .context("creating the store's schema")?;
        tx.batch_execute(&TABLES.replace("{s}", &s))
            .context("creating the store's tables")?;
        tx.batch_execute(&TABLES_V3.replace("{s}", &s))
            .context("creating the store's tables")?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.store_identity (application, schema_version) VALUES ($1, $2)"
            ),
            &[&APPLICATION, &SCHEMA_VERSION],
        )
        .context("recording the store's identity")?;
        tx.batch_execute(&format!(
            "INSERT INTO {s}.log_ids (base, given) VALUES (0, 0); \
             INSERT INTO {s}.entry_count (n, through) VALUES (0, 0)"
        ))
        .context("creating the store's id origin and entry count")?;
        tx.batch_execute(&crate::activity::TABLES_V4.replace("{s}", &s))
            .context("creating the store's tables")?;
        tx.batch_execute(&tables_v5(&s))
            .context("creating the store's tables")?;
        for (key, value) in meta_when_created {
            let mut statements = crate::connection::Statements::default();
            crate::write::set_meta(&mut tx, &mut statements, &s, key, value)?;
        }
        return tx.commit().context("committing the new store");
    }
    if !tables.iter().any(|table| table == "store_identity") {
        return Err(not_a_store(format!(
            "its schema {schema:?} holds another program's tables ({})",
            tables.join(", ")
        )));
    }
    let s = quoted(schema);
    let identity = tx
        .query_opt(
            &format!("SELECT application, schema_version FROM {s}.store_identity"),
            &[],
        )
        .map_err(|_| not_a_store("its store_identity table has another layout".into()))?;
    let Some(identity) = identity else {
        return Err(not_a_store("its store_identity table is empty".into()));
    };
    let application: String = identity
        .try_get(0)
        .map_err(|_| not_a_store("its store_identity table has another layout".into()))?;
    let version: i32 = identity
        .try_get(1)
        .map_err(|_| not_a_store("its store_identity table has another layout".into()))?;
    if application != APPLICATION {
        return Err(not_a_store(format!(
            "its store_identity names {application:?}, not {APPLICATION:?}"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: PathBuf::from(location),
            found: i64::from(version),
            supported: i64::from(SCHEMA_VERSION),
        });
    }
    if version < 1 {
        return Err(not_a_store(format!(
            "its schema version {version} is unknown"
        )));
    }
    if version == 1 {
        upgrade_from_v1(&mut tx, &s)?;
    }
    if version <= 2 {
        tx.batch_execute(&TABLES_V3.replace("{s}", &s))
            .context("upgrading the store's schema to version 3")?;
    }
    if version <= 3 {
        tx.batch_execute(&format!(
            "LOCK TABLE {s}.logs IN ROW EXCLUSIVE MODE; {}",
            crate::activity::TABLES_V4.replace("{s}", &s)
        ))
        .context("upgrading the store's schema to version 4")?;
        crate::activity::count_existing(&mut tx, &s)?;
    }
    if version <= 4 {
        // Builds both indexes under a lock that holds writers off meanwhile (about 4 s a
        // million entries).
        tx.batch_execute(&tables_v5(&s))
            .context("upgrading the store's schema to version 5")?;
    }
    if version < SCHEMA_VERSION {
        tx.execute(
            &format!("UPDATE {s}.store_identity SET schema_version = $1"),
            &[&SCHEMA_VERSION],
        )
        .context("recording the store's schema version")?;
    }
    tx.commit().context(context)
}

/// Upgrades a store of schema version 1 to version 2 in the open transaction `tx`, under
/// locks that wait for every writer of version 1 (they hold the counter row) and keep new
/// ones out until the commit; after it, such a writer fails, naming the counter it no longer
/// finds, and writes nothing. Ids of version 1 are dense from 1; the new ones are numbered
/// above the last of them (`base`), whatever transaction ids the server is at.
fn upgrade_from_v1(tx: &mut postgres::Transaction<'_>, s: &str) -> StoreResult<()> {
    tx.batch_execute(&format!(
        "LOCK TABLE {s}.log_counter, {s}.logs IN EXCLUSIVE MODE;
         CREATE TABLE {s}.log_ids (
             one bool PRIMARY KEY DEFAULT true CHECK (one),
             base bigint NOT NULL CHECK (base >= 0),
             given bigint NOT NULL CHECK (given >= 0));
         INSERT INTO {s}.log_ids (base, given)
             SELECT GREATEST(0, last_id - {IDS_PER_TRANSACTION} *
                 pg_snapshot_xmin(pg_current_snapshot())::text::bigint), last_id
             FROM {s}.log_counter;
         CREATE TABLE {s}.entry_count (
             one bool PRIMARY KEY DEFAULT true CHECK (one),
             n bigint NOT NULL,
             through bigint NOT NULL);
         INSERT INTO {s}.entry_count (n, through) SELECT entries, last_id FROM {s}.log_counter;
         ALTER TABLE {s}.run_counts ADD COLUMN shard int NOT NULL DEFAULT 0,
             DROP CONSTRAINT run_counts_pkey, ADD PRIMARY KEY (shard, status);
         ALTER TABLE {s}.run_counts ALTER COLUMN shard DROP DEFAULT;
         DROP TABLE {s}.log_counter;
         UPDATE {s}.store_identity SET schema_version = 2;"
    ))
    .context("upgrading the store's schema from version 1")
}

/// [`StoreError::NoStore`] unless `schema` holds a store's tables (of any version): what an
/// open that may not create checks first.
pub(crate) fn check_store_exists(
    client: &mut Client,
    schema: &str,
    location: &str,
) -> StoreResult<()> {
    let found: Option<String> = client
        .query_one(
            "SELECT to_regclass(quote_ident($1) || '.store_identity')::text",
            &[&schema],
        )
        .context("looking for the store's schema")?
        .get(0);
    if found.is_none() {
        return Err(StoreError::NoStore {
            path: PathBuf::from(location),
        });
    }
    Ok(())
}

/// Checks, without changing anything, that `schema` holds a nerve-store of this version:
/// what a read-only open accepts.
pub(crate) fn check_read_only(
    client: &mut Client,
    schema: &str,
    location: &str,
) -> StoreResult<()> {
    let context = "checking the store's schema";
    let exists = client
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .context(context)?
        .is_some();
    if !exists {
        return Err(StoreError::NoStore {
            path: PathBuf::from(location),
        });
    }
    let s = quoted(schema);
    let version: Option<i32> = client
        .query_opt(
            &format!("SELECT schema_version FROM {s}.store_identity"),
            &[],
        )
        .map_err(|_| StoreError::NotAStore {
            path: PathBuf::from(location),
            backend: "postgres",
            reason: format!("its schema {schema:?} holds no store"),
        })?
        .map(|row| row.get(0));
    match version {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            path: PathBuf::from(location),
            found: i64::from(found),
            supported: i64::from(SCHEMA_VERSION),
        }),
        Some(found) => Err(StoreError::SchemaTooOld {
            path: PathBuf::from(location),
            found: i64::from(found),
            current: i64::from(SCHEMA_VERSION),
        }),
        None => Err(StoreError::NotAStore {
            path: PathBuf::from(location),
            backend: "postgres",
            reason: "its store_identity table is empty".into(),
        }),
    }
}
