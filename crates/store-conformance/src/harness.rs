//! The harnesses: what a backend hands the suite so that every claim about it, the ones that
//! go behind its back included, is made once here and not again per backend.

use std::path::Path;

use store_core::{BlobStore, Digest, LogBackend, LogId, StoreResult};

/// A log backend under test: how to open its store in a folder, and how to damage what it
/// stored the way a disk, a person or another program would. Implemented once per backend,
/// in its `tests/`, and handed to [`log_store_conformance!`](crate::log_store_conformance).
///
/// The damaging methods are called while the store may be open (as damage strikes), and
/// panic when they cannot do their work: the case cannot run.
pub trait Harness: Sync {
    /// Opens (or reopens) the store kept in the folder `dir`. The backend picks its file
    /// names inside the folder; the folder may not exist yet.
    ///
    /// # Errors
    /// The backend's errors on opening.
    fn open(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>>;

    /// Opens the store kept in the folder `dir` for reading only (the backend's `read_only`
    /// option): it creates nothing, and refuses every write.
    ///
    /// # Errors
    /// The backend's errors on opening, [`store_core::StoreError::NoStore`] when there is none.
    fn open_read_only(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>>;

    /// Opens the store kept in the folder `dir` for writing without creating it (the
    /// backend's `create_if_missing(false)`).
    ///
    /// # Errors
    /// The backend's errors on opening, [`store_core::StoreError::NoStore`] when there is none.
    fn open_existing(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>>;

    /// Changes the stored row of run `run_id` so that it no longer decodes as a run (for
    /// example an unknown status, or bytes that are not a row).
    fn damage_run(&self, dir: &Path, run_id: &str);

    /// Changes the stored row of log entry `id` so that it no longer decodes as an entry.
    fn damage_entry(&self, dir: &Path, id: LogId);

    /// The newest schema version this build of the backend writes and reads.
    fn schema_version(&self) -> i64;

    /// Records `version` as the store's schema version, as a newer (or this) build would.
    fn set_schema_version(&self, dir: &Path, version: i64);

    /// Adds one to the first activity count of the store in `dir`, behind the store's back
    /// (as a bug or a hand-written update would). The store is closed.
    fn tamper_activity(&self, dir: &Path);

    /// Makes the store in `dir` what the schema before activity counts left: no counts, and
    /// that schema's version. The store is closed.
    fn forget_activity(&self, dir: &Path);

    /// Puts another program's database of the backend's engine where the store in `dir`
    /// would be: one table named `accounts` holding one row. The folder exists and is empty.
    fn put_foreign_store(&self, dir: &Path);

    /// What "left alone" means for the foreign database in `dir`, as a value to compare
    /// before and after the store refused it: its bytes, where the engine can open a file
    /// without writing to it; otherwise everything the engine reads back from it (tables and
    /// rows).
    fn foreign_store_contents(&self, dir: &Path) -> Vec<u8>;

    /// Whether the engine checks a store opened read-only (`check` reads only), or needs a
    /// handle that may write (redb's page check may repair what it finds): a capability,
    /// which the read-only case asserts either way.
    fn checks_read_only(&self) -> bool;
}

/// A blob backend under test: how to open its store in a folder, and how to change what it
/// stored behind its back. Handed to
/// [`blob_store_conformance!`](crate::blob_store_conformance). The damaging methods are
/// called with the store closed.
pub trait BlobHarness: Sync {
    /// Opens (or reopens) the blob store kept in the folder `dir`.
    ///
    /// # Errors
    /// The backend's errors on opening.
    fn open_blobs(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>>;

    /// Opens the blob store kept in the folder `dir` for reading only: it creates nothing,
    /// and refuses every write and delete.
    ///
    /// # Errors
    /// The backend's errors on opening, [`store_core::StoreError::NoStore`] when there is none.
    fn open_blobs_read_only(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>>;

    /// Makes the stored content of `digest` be `content` instead, keeping its name.
    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]);

    /// Removes the blob's content, as a lost file would.
    fn remove(&self, dir: &Path, digest: &Digest);
}
