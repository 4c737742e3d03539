//! Opening the file: redb's settings and its errors on opening as [`StoreError`]s; the
//! schema is checked by [`crate::schema`].

use std::path::Path;

use redb::{ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, StorageError};
use store_core::{Durability, StoreError, StoreResult};

use crate::error::{engine_error, not_a_store};
use crate::options::RedbOptions;
use crate::upgrade::check_or_create_schema;

/// Opens (or creates) the database at `path` and checks or creates the store's schema.
pub(crate) fn open_database(path: &Path, options: &RedbOptions) -> StoreResult<Database> {
    if options.multi_process && options.store.durability == Durability::Deferred {
        return Err(StoreError::invalid(
            "durability",
            "deferred needs multi_process: false (redb refuses non-durable commits when other \
             processes may share the file)",
        ));
    }
    store_core::kit::check_store_path(path, "redb", &options.store)?;
    store_core::kit::create_parent_folders(path)?;
    crate::create::ensure_created(path, |new_file| {
        let db = builder(options)
            .create(new_file)
            .map_err(|err| open_error(new_file, err))?;
        check_or_create_schema(&db, new_file, &options.store.meta_when_created)
    })?;
    let db = builder(options)
        .create(path)
        .map_err(|err| open_error(path, err))?;
    check_or_create_schema(&db, path, &options.store.meta_when_created)?;
    Ok(db)
}

/// Opens the existing store at `path` read-only ([`RedbOptions::read_only`]) and checks
/// that it is a store of this schema version, without writing anything.
pub(crate) fn open_read_only(path: &Path, options: &RedbOptions) -> StoreResult<ReadOnlyDatabase> {
    store_core::kit::check_store_path(path, "redb", &options.store)?;
    let db = read_only_builder(options)
        .open_read_only(path)
        .map_err(|err| match err {
            DatabaseError::RepairAborted => StoreError::NotClosedCleanly {
                path: path.to_owned(),
            },
            err => open_error(path, err),
        })?;
    crate::upgrade::check_schema_read_only(&db, path)?;
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
        .set_cache_size(options.cache())
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
                source: std::sync::Arc::new(io),
            }
        }
        DatabaseError::UpgradeRequired(version) => not_a_store(
            path,
            format!("it is in redb file format {version}, which redb 4 cannot open"),
        ),
        err => engine_error(format!("opening {}", path.display()), err),
    }
}
