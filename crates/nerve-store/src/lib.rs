//! nerve-store: the embedded persistence layer of the nerve workflow daemon, as one crate to
//! depend on.
//!
//! The backend is a cargo feature: `sqlite` (the default; SQLite in WAL mode, one file),
//! `redb` (one file), or `postgres` (a PostgreSQL server, for a fleet of daemons sharing one
//! store). Every backend implements the same [`LogStore`] contract and passes the same
//! conformance suite, sync and through `AsyncStore` (feature `tokio`), so code written
//! against the trait does not change with the feature:
//!
//! ```toml
//! [dependencies]
//! # The crate is not published: depend on it by path (or git).
//! nerve-store = { path = "../nerve-store/crates/nerve-store", default-features = false, features = ["redb"] }
//! ```
//!
//! ```
//! use nerve_store::{LogQuery, NewLogEntry};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let location = if cfg!(feature = "sqlite") { format!("sqlite:{}", dir.path().join("nerve.db").display()) } else if cfg!(feature = "redb") { format!("redb:{}", dir.path().join("nerve.redb").display()) } else { store_postgres::harness::options(dir.path()).location() };
//! // `location` is "sqlite:data/nerve.db", "redb:data/nerve.redb", or a bare path.
//! let store = nerve_store::open(&location)?;
//! store.log.append(NewLogEntry::new("daemon", "boot", "{}"))?;
//! assert_eq!(store.log.query(&LogQuery::default())?.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! This crate is the only one a downstream crate needs: beside the stores it re-exports the
//! archive ([`archive`]), the file blob store ([`FsBlobStore`]), the time types of the API
//! ([`chrono`]), and [`MemoryLogStore`], the whole contract in memory, for the downstream
//! crate's own tests:
//!
//! ```
//! use nerve_store::{LogStore, MemoryLogStore, NewLogEntry};
//!
//! fn record_boot(store: &dyn LogStore) -> nerve_store::StoreResult<()> {
//!     store.append(NewLogEntry::new("daemon", "boot", "{}")).map(|_| ())
//! }
//!
//! let store = MemoryLogStore::new();
//! record_boot(&store).expect("a boot");
//! assert_eq!(store.query(&Default::default()).expect("query").len(), 1);
//! ```
//!
//! `examples/downstream` in the repository is such a crate. The backend crates
//! (`store-sqlite`, `store-redb`, `store-postgres`) stay usable on their own, with their full
//! options, which this crate re-exports behind each backend's feature.

// docs.rs builds with every feature and `--cfg docsrs`: each gated item then shows its
// feature (`doc(cfg)`), beside the "Available on crate feature" line of its comment, which
// every other build of the docs shows.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod archive_at;
#[cfg(feature = "tokio")]
mod asynchronous;
mod backup;
mod gc;
mod inspect;
mod location;
mod migrate;
pub mod time;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use asynchronous::{AsyncBlobs, AsyncStore, BlobStream, RowStream};
pub use backup::{BackupReport, backup};
/// The time types of the API (`DateTime<Utc>`), so that a downstream crate uses the same
/// version as the store without depending on chrono itself.
pub use chrono;
pub use gc::{GcOptions, GcProgress, GcReport, collect_garbage, collect_garbage_with_progress};
pub use inspect::{StoreCheck, StoreStats, check, stats};
pub use location::{Backend, DEFAULT_LOCATION, Location};
pub use migrate::{
    ContentSummary, INCOMPLETE_KEY, check_copy_target, for_each_run_page, migrate, resume_migrate,
    summarise,
};
pub use store_blob::FsBlobStore;
pub use store_core::kit::ActivityCheck;
pub use store_core::{
    AUDIT_KIND, AUDIT_SOURCE, ActivitySeries, BlobHealth, BlobHolder, BlobInfo, BlobReference,
    BlobStore, Checked, DEFAULT_QUERY_LIMIT, DaySpan, Digest, Durability, GetThreadRoundsParams,
    HOUR_MILLIS, HourCount, ImportBatch, LogBackend, LogEntry, LogId, LogMaintenance, LogQuery,
    LogStats, LogStore, LogTransfer, MAX_BLOBS_PER_HOLDER, MAX_DETAIL_BYTES, MAX_LOG_ID,
    MAX_PAYLOAD_BYTES, MemoryLogStore, NewLogEntry, Order, Role, RunCounts, RunQuery,
    RunTransition, StoreError, StoreOptions, StoreResult, THREAD_KIND, THREAD_SOURCE, TRANSITIONS,
    ThreadIndexRow, ThreadMessage, ThreadRoundRow, TransitionOutcome, VerifyReport, WorkflowRun,
    WorkflowRunStatus, Write, WriteUnit, Written, is_allowed, max_ts, min_ts, pages,
};

/// Old log days moved out of the store to JSON-lines files, one per UTC day, exactly once
/// and crash-safe (the `store-archive` crate).
pub mod archive {
    pub use crate::archive_at::{ArchiveAt, ArchivedEntries};
    pub use store_archive::{
        ArchiveOptions, ArchiveReplica, ArchiveReport, ArchiveVerification, DayCheck, DayRecord,
        DayReport, DayRestore, DayStatus, DropReport, MANIFEST_FILE, Progress, PullReport,
        PushReport, ReplicaObject, RestoreReport, WATERMARK_KEY, archive_logs, archive_logs_at,
        archive_logs_with_progress, archived_blobs, archived_blobs_at, archived_days,
        archived_days_at, days_referencing, days_referencing_at, drop_days, drop_days_at,
        pull_archive, push_archive, read_archive, read_archive_at, read_archive_by_id,
        restore_days, restore_days_from, restore_days_with_progress, verify_archive,
        verify_replica,
    };
}
/// Available on crate feature `s3` only.
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub use store_object::{ObjectArchive, ObjectBlobStore, ObjectOptions};
/// Available on crate feature `postgres` only.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store_postgres::{PgBlobStore, PgLogStore, PgOptions};
/// Available on crate feature `redb` only.
#[cfg(feature = "redb")]
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub use store_redb::{RedbBlobStore, RedbLogStore, RedbOptions};
/// Available on crate feature `sqlite` (the default) only.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store_sqlite::{SqliteBlobStore, SqliteLogStore, SqliteOptions};

/// An opened store: what a daemon or the CLI works with.
#[non_exhaustive]
pub struct Store {
    /// The log, runs, threads and meta.
    pub log: Box<dyn LogBackend>,
    /// The blobs, in a file of their own beside the log's (see [`Location::blob_file`]),
    /// so that a large upload never holds the log's write lock; or on object storage
    /// ([`Store::blobs_at`]).
    pub blobs: Box<dyn BlobStore>,
    /// Where it was opened.
    pub location: Location,
    /// Where the blobs are when they are not beside the log ([`OpenOptions`]'s `blobs`):
    /// the object store's location as it may be shown (`s3://bucket/prefix`); `None` when
    /// they are beside it.
    pub blobs_at: Option<String>,
}

impl Store {
    /// A store made of stores opened some other way (a backend crate's own options, a
    /// store of the caller's), for what takes a `Store`, such as [`migrate`].
    pub fn new(log: Box<dyn LogBackend>, blobs: Box<dyn BlobStore>, location: Location) -> Self {
        Store {
            log,
            blobs,
            location,
            blobs_at: None,
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Opens the store at `location` (see [`Location`] for the forms it takes), log and blobs,
/// with its backend's default options, creating it if missing.
///
/// # Errors
/// [`StoreError::InvalidInput`] for a location that names no backend, or a backend whose
/// cargo feature is off (the message names the feature); [`StoreError::IncompleteCopy`]
/// for a copy that [`migrate`] did not finish; otherwise the backend's errors on opening.
pub fn open(location: &str) -> StoreResult<Store> {
    open_with(location, &OpenOptions::default())
}

/// How [`open_with`] opens a store; the default is what [`open`] does. For more, open
/// through a backend crate and assemble a [`Store::new`].
///
/// The choices every backend offers are [`StoreOptions`] (the field `store`, with a builder
/// method each: `.durability(…)`, `.read_only(true)`, `.create_if_missing(false)`, …); each
/// backend's options say how it honours them, and PostgreSQL refuses `cache_bytes`. The
/// blob store beside the log is opened with the same `read_only` and `create_if_missing`,
/// always at [`Durability::PowerLoss`] (a digest recorded in the log names a blob already
/// on the disk).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenOptions {
    /// What every backend offers; `StoreOptions::default()` by default.
    pub store: StoreOptions,
    /// Open a store that [`migrate`] began copying and did not finish, which [`open_with`]
    /// otherwise refuses ([`StoreError::IncompleteCopy`]): only to look into one. `false` by
    /// default.
    pub allow_incomplete: bool,
    /// When this open creates the store, mark it an incomplete copy of this source (meta
    /// [`INCOMPLETE_KEY`]) in the very transaction that creates it, and open it although it
    /// is marked: what [`migrate`]'s caller and [`backup`] do for their target, so that a
    /// target stopped at any moment (killed while it is being created included) is never
    /// taken for a whole store. `None` by default.
    pub created_as_copy_of: Option<String>,
    /// Keep the blobs on object storage, in the store these options name, instead of beside
    /// the log (feature `s3`): opened with the log's `read_only` and `create_if_missing`.
    /// A fleet on PostgreSQL shares its artefacts there rather than as rows of the database.
    /// `None` by default.
    #[cfg(feature = "s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
    pub blobs: Option<store_object::ObjectOptions>,
}

impl OpenOptions {
    store_core::store_option_builders!();

    /// These options opening an incomplete copy too, or refusing it.
    pub fn allow_incomplete(mut self, allow: bool) -> Self {
        self.allow_incomplete = allow;
        self
    }

    /// These options creating the store, if it is created, marked as an incomplete copy of
    /// `source` (shown without its password).
    pub fn created_as_copy_of(mut self, source: &Location) -> Self {
        self.created_as_copy_of = Some(source.to_string());
        self
    }

    /// These options keeping the blobs on object storage, at `blobs`
    /// ([`ObjectOptions::from_location`] takes `s3://bucket/prefix` and the rest from the
    /// environment, as the AWS tools do).
    #[cfg(feature = "s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
    pub fn blobs_on(mut self, blobs: store_object::ObjectOptions) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// The meta pairs a backend writes when it creates the store.
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "redb", feature = "postgres")),
        allow(dead_code)
    )]
    fn backend_options(&self) -> StoreOptions {
        let mut store = self.store.clone();
        store.meta_when_created.extend(
            self.created_as_copy_of
                .iter()
                .map(|source| (INCOMPLETE_KEY.to_owned(), source.clone())),
        );
        store
    }
}

/// Opens the existing store at `location` for reading only (see
/// [`StoreOptions::read_only`]): what a command that only looks at a store uses, beside a
/// running daemon or as a user who may not write the files.
///
/// # Errors
/// [`StoreError::NoStore`] when the log is missing, [`StoreError::BlobFileMissing`] when
/// its blob file is; otherwise as [`open`].
pub fn open_read_only(location: &str) -> StoreResult<Store> {
    open_with(location, &OpenOptions::default().read_only(true))
}

/// [`open`] with options.
///
/// # Errors
/// As [`open`].
pub fn open_with(location: &str, options: &OpenOptions) -> StoreResult<Store> {
    open_location(&location.parse()?, options)
}

/// Opens the store whose log is the file `path` (see [`Location::from_path`]: the extension
/// names the backend), log and blobs, with its backend's default options, creating it if
/// missing.
///
/// # Errors
/// As [`open`].
pub fn open_path(path: impl AsRef<std::path::Path>) -> StoreResult<Store> {
    open_location(
        &Location::from_path(path.as_ref())?,
        &OpenOptions::default(),
    )
}

/// [`open_with`] for a location already parsed.
///
/// # Errors
/// As [`open`].
pub fn open_location(location: &Location, options: &OpenOptions) -> StoreResult<Store> {
    let location = location.clone();
    let started = std::time::Instant::now();
    let (log, blobs) = open_backend(&location, options)?;
    tracing::info!(
        target: "nerve_store::open",
        store = %location,
        read_only = options.store.read_only,
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "opened the store"
    );
    if !options.allow_incomplete
        && options.created_as_copy_of.is_none()
        && let Some(source) = log.meta_get(migrate::INCOMPLETE_KEY)?
    {
        return Err(StoreError::IncompleteCopy {
            path: location.shown_path(),
            source_location: source,
        });
    }
    #[cfg(feature = "s3")]
    let blobs_at = options
        .blobs
        .as_ref()
        .map(store_object::ObjectOptions::location);
    #[cfg(not(feature = "s3"))]
    let blobs_at = None;
    Ok(Store {
        log,
        blobs,
        location,
        blobs_at,
    })
}

/// Opens the log of the store at `location` alone, without its blob file, with the backend's
/// default options, creating it if missing: for a tool that must tell whether a file is a
/// store before it looks for the blob file beside it.
///
/// # Errors
/// As [`open`].
pub fn open_log(location: &str) -> StoreResult<Box<dyn LogBackend>> {
    open_log_with(location, &OpenOptions::default())
}

/// [`open_log`] with options: with [`OpenOptions::read_only`], it tells whether a file is a
/// store without changing anything.
///
/// # Errors
/// As [`open_with`].
pub fn open_log_with(location: &str, options: &OpenOptions) -> StoreResult<Box<dyn LogBackend>> {
    let location: Location = location.parse()?;
    open_log_at(&location, options)
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "redb", feature = "postgres")),
    allow(unused_variables)
)]
fn open_log_at(location: &Location, options: &OpenOptions) -> StoreResult<Box<dyn LogBackend>> {
    match location.backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Ok(Box::new(store_sqlite::SqliteLogStore::open_with(
            file_of(location)?,
            sqlite_options(options),
        )?)),
        #[cfg(feature = "redb")]
        Backend::Redb => Ok(Box::new(store_redb::RedbLogStore::open_with(
            file_of(location)?,
            redb_options(options),
        )?)),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Ok(Box::new(store_postgres::PgLogStore::open_with(
            postgres_options(location, options)?,
        )?)),
        #[allow(unreachable_patterns)]
        backend => Err(not_built(backend)),
    }
}

/// A log store and the blob store beside it.
type Opened = (Box<dyn LogBackend>, Box<dyn BlobStore>);

#[cfg_attr(
    not(any(feature = "sqlite", feature = "redb", feature = "postgres")),
    allow(unused_variables)
)]
fn open_backend(location: &Location, options: &OpenOptions) -> StoreResult<Opened> {
    let log = open_log_at(location, options)?;
    #[cfg(feature = "s3")]
    if let Some(blobs) = &options.blobs {
        let blobs = blobs
            .clone()
            .read_only(options.store.read_only)
            .create_if_missing(options.store.create_if_missing);
        return Ok((
            log,
            Box::new(store_object::ObjectBlobStore::open_with(blobs)?),
        ));
    }
    match location.backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Ok((
            log,
            Box::new(open_blob_file(location, options, |path, store| {
                let mut sqlite = store_sqlite::SqliteOptions::default();
                sqlite.store = store;
                store_sqlite::SqliteBlobStore::open_with(path, sqlite)
            })?),
        )),
        #[cfg(feature = "redb")]
        Backend::Redb => Ok((
            log,
            Box::new(open_blob_file(location, options, |path, store| {
                let mut redb = store_redb::RedbOptions::default();
                redb.store = store;
                store_redb::RedbBlobStore::open_with(path, redb)
            })?),
        )),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Ok((
            log,
            Box::new(store_postgres::PgBlobStore::open_with(postgres_options(
                location, options,
            )?)?),
        )),
        #[allow(unreachable_patterns)]
        backend => Err(not_built(backend)),
    }
}

/// The log file of a location of a file backend: one whose backend was changed to a file
/// backend while it names a server is refused.
#[cfg(any(feature = "sqlite", feature = "redb"))]
fn file_of(location: &Location) -> StoreResult<&std::path::Path> {
    location.file().ok_or_else(|| {
        StoreError::invalid(
            "location",
            format!("{location} names a server, not a {} file", location.backend),
        )
    })
}

/// Removes the store a copy created at `location` and could not finish: its files, or its
/// schema on a server. Best effort: what is not there is what is wanted, and a failure leaves
/// the store marked incomplete, which every open refuses.
pub(crate) fn remove_store(location: &Location) {
    for file in location.files() {
        let _ = std::fs::remove_file(file);
    }
    #[cfg(feature = "postgres")]
    if let Some(url) = location.url()
        && let Ok(options) = store_postgres::PgOptions::from_location(url)
    {
        let _ = store_postgres::PgLogStore::remove(options);
    }
}

/// The error for a backend whose cargo feature is off.
fn not_built(backend: Backend) -> StoreError {
    StoreError::invalid(
        "location",
        format!(
            "the {backend} backend is not built into this program; enable the cargo feature \
             \"{backend}\" of nerve-store"
        ),
    )
}

#[cfg(feature = "sqlite")]
fn sqlite_options(options: &OpenOptions) -> store_sqlite::SqliteOptions {
    let mut sqlite = store_sqlite::SqliteOptions::default();
    sqlite.store = options.backend_options();
    sqlite
}

#[cfg(feature = "postgres")]
fn postgres_options(
    location: &Location,
    options: &OpenOptions,
) -> StoreResult<store_postgres::PgOptions> {
    let url = location.url().ok_or_else(|| {
        StoreError::invalid(
            "location",
            format!("{location} names a file, not a PostgreSQL server"),
        )
    })?;
    let mut postgres = store_postgres::PgOptions::from_location(url)?;
    postgres.store = options.backend_options();
    Ok(postgres)
}

#[cfg(feature = "redb")]
fn redb_options(options: &OpenOptions) -> store_redb::RedbOptions {
    let mut redb = store_redb::RedbOptions::default();
    redb.store = options.backend_options();
    redb
}

/// The options of the blob store beside the log: opened as the log is (read-only, created
/// or not), always at [`Durability::PowerLoss`], with the backend's own cache.
#[cfg(any(feature = "sqlite", feature = "redb"))]
fn blob_options(options: &OpenOptions) -> StoreOptions {
    let mut blobs = StoreOptions::default();
    blobs.read_only = options.store.read_only;
    blobs.create_if_missing = options.store.create_if_missing;
    blobs
}

/// The blob store of a file-backed store, whose log is open: a blob file that is missing
/// when none may be created is [`StoreError::BlobFileMissing`], naming both files.
#[cfg(any(feature = "sqlite", feature = "redb"))]
fn open_blob_file<B>(
    location: &Location,
    options: &OpenOptions,
    open: impl FnOnce(std::path::PathBuf, StoreOptions) -> StoreResult<B>,
) -> StoreResult<B> {
    let blobs = location
        .blob_file()
        .ok_or_else(|| StoreError::invalid("location", format!("{location} has no blob file")))?;
    open(blobs.clone(), blob_options(options)).map_err(|err| match err {
        StoreError::NoStore { path } if path == blobs => StoreError::BlobFileMissing {
            store: location.shown_path(),
            path,
        },
        other => other,
    })
}

/// The README's code, compiled and run as doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
