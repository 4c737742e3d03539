//! Opening the file: redb's settings, the file's identity and schema version, and redb's
//! errors as [`StoreError`]s.

use std::path::Path;

use redb::{ConcurrencyMode, Database, DatabaseError, ReadableTable, StorageError, TableHandle};
use store_core::{StoreError, StoreResult};

use crate::error::{Context, engine_error};
use crate::options::RedbOptions;
use crate::tables::{
    BLOB_CHUNKS, BLOBS, LOG_PAYLOAD_CHUNKS, LOGS, LOGS_BY_DAY, LOGS_BY_REF, LOGS_BY_SOURCE_KIND,
    LOGS_BY_TS, META, NEXT_LOG_ID_KEY, RUNS, RUNS_BY_CREATED, RUNS_BY_STATUS, RUNS_BY_THREAD,
    RUNS_BY_WORKFLOW, SCHEMA_VERSION, SCHEMA_VERSION_KEY, STORE_INFO, THREAD_MESSAGES,
    THREADS_BY_ID, THREADS_BY_ROLE, THREADS_BY_ROUND,
};
use store_core::Durability;

fn not_a_store(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::NotAStore {
        path: path.to_owned(),
        backend: "redb",
        reason: reason.into(),
    }
}

/// Opens (or creates) the database at `path` and checks or creates the store's schema.
pub(crate) fn open_database(path: &Path, options: &RedbOptions) -> StoreResult<Database> {
    if options.multi_process && options.durability == Durability::Deferred {
        return Err(StoreError::invalid(
            "durability",
            "deferred needs multi_process: false (redb refuses non-durable commits when other \
             processes may share the file)",
        ));
    }
    store_core::kit::create_parent_folders(path)?;
    crate::create::ensure_created(path, |new_file| {
        let db = builder(options)
            .create(new_file)
            .map_err(|err| open_error(new_file, err))?;
        check_or_create_schema(&db, new_file)
    })?;
    let db = builder(options)
        .create(path)
        .map_err(|err| open_error(path, err))?;
    check_or_create_schema(&db, path)?;
    Ok(db)
}

/// A builder for a read-only handle on a store opened with `options`: the same lock
/// protocol, no integrity check (the file was checked when the store opened).
pub(crate) fn read_only_builder(options: &RedbOptions) -> redb::Builder {
    let mut builder = builder(options);
    builder.set_check_integrity_on_open(false);
    builder
}

pub(crate) fn builder(options: &RedbOptions) -> redb::Builder {
    let mode = if options.multi_process {
        ConcurrencyMode::MultiWriter
    } else {
        ConcurrencyMode::ExclusiveWriter
    };
    let mut builder = redb::Builder::new();
    builder
        .set_cache_size(options.cache_bytes)
        .set_concurrency_mode(mode)
        .set_check_integrity_on_open(options.verify_on_open);
    builder
}

fn open_error(path: &Path, err: DatabaseError) -> StoreError {
    match err {
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            not_a_store(path, format!("the file is not a redb database ({io})"))
        }
        DatabaseError::Storage(StorageError::Io(io))
            if matches!(
                io.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            StoreError::ReadOnly {
                path: path.to_owned(),
                source: Box::new(io),
            }
        }
        DatabaseError::UpgradeRequired(version) => not_a_store(
            path,
            format!("it is in redb file format {version}, which redb 4 cannot open"),
        ),
        err => engine_error(format!("opening {}", path.display()), err),
    }
}

/// Every table of the schema, so that a new file gets all of them at once.
fn create_tables(tx: &redb::WriteTransaction) -> Result<(), redb::TableError> {
    tx.open_table(LOGS)?;
    tx.open_table(LOGS_BY_REF)?;
    tx.open_table(LOGS_BY_SOURCE_KIND)?;
    tx.open_table(LOGS_BY_TS)?;
    tx.open_table(LOGS_BY_DAY)?;
    tx.open_table(RUNS)?;
    tx.open_table(RUNS_BY_CREATED)?;
    tx.open_table(RUNS_BY_STATUS)?;
    tx.open_table(RUNS_BY_WORKFLOW)?;
    tx.open_table(RUNS_BY_THREAD)?;
    tx.open_table(THREAD_MESSAGES)?;
    tx.open_table(THREADS_BY_ID)?;
    tx.open_table(THREADS_BY_ROUND)?;
    tx.open_table(THREADS_BY_ROLE)?;
    tx.open_table(META)?;
    tx.open_table(BLOBS)?;
    tx.open_table(BLOB_CHUNKS)?;
    tx.open_table(LOG_PAYLOAD_CHUNKS)?;
    Ok(())
}

/// Accepts an empty file (creating the schema in one transaction, so two processes opening
/// a new file create it once) and a store of this schema version; refuses another
/// program's database and a newer schema without changing anything.
pub(crate) fn check_or_create_schema(db: &Database, path: &Path) -> StoreResult<()> {
    let context = || format!("checking the schema of {}", path.display());
    let tx = db.begin_write().context(context())?;
    let tables: Vec<String> = tx
        .list_tables()
        .context(context())?
        .map(|table| table.name().to_owned())
        .collect();
    if tables.is_empty() {
        create_tables(&tx).context(context())?;
        {
            let mut info = tx.open_table(STORE_INFO).context(context())?;
            info.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
                .context(context())?;
            info.insert(NEXT_LOG_ID_KEY, 1).context(context())?;
        }
        return tx.commit().context("committing the new schema");
    }
    if !tables.iter().any(|name| name == STORE_INFO.name()) {
        return Err(not_a_store(
            path,
            format!(
                "it is a redb database of another program (tables: {})",
                tables.join(", ")
            ),
        ));
    }
    let info = tx.open_table(STORE_INFO).map_err(|err| match err {
        redb::TableError::TableTypeMismatch { .. } => not_a_store(
            path,
            format!("its table {} has another layout", STORE_INFO.name()),
        ),
        err => engine_error(context(), err),
    })?;
    let version = info
        .get(SCHEMA_VERSION_KEY)
        .context(context())?
        .map(|v| v.value());
    drop(info);
    match version {
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: i64::try_from(found).unwrap_or(i64::MAX),
            supported: i64::try_from(SCHEMA_VERSION).unwrap_or(i64::MAX),
        }),
        Some(SCHEMA_VERSION) if tables.iter().any(|n| n == LOG_PAYLOAD_CHUNKS.name()) => {
            // Nothing to migrate: leave the file exactly as it was.
            tx.abort().context(context())
        }
        Some(SCHEMA_VERSION) => {
            // A file from before big payloads were chunked: the table they need, empty.
            tx.open_table(LOG_PAYLOAD_CHUNKS).context(context())?;
            tx.commit().context("adding the payload chunk table")
        }
        other => Err(not_a_store(
            path,
            format!("its schema version {other:?} is unknown"),
        )),
    }
}
