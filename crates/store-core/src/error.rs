//! The one error type of nerve-store.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::Arc;

use crate::digest::Digest;
use crate::id::LogId;
use crate::status::WorkflowRunStatus;

/// The result of every fallible store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything that can go wrong in a store, by meaning rather than by backend.
///
/// Each variant carries the context a person needs to act on it (the run, the path, the
/// field), and `Display` reads as a sentence. The engine's own error, where there is one,
/// is reachable through [`std::error::Error::source`], not repeated in the message.
///
/// A refused operation never changes what was stored: every write is one transaction, and
/// an error rolls it back whole.
///
/// It clones: an engine's error is held shared ([`EngineError`]), so that every call of a
/// group whose commit failed gets the same error, its `source()` chain the original's.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An argument broke the contract (an empty `source`, an empty meta key, ...).
    /// Nothing was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument at fault, as the API names it (`"source"`, `"thread_id"`, ...).
        field: &'static str,
        /// What was wrong with it.
        reason: String,
    },

    /// A run transition that the transition table refuses. Nothing was written.
    #[error("run {run_id:?} cannot go from {} to {to}", describe_from(*.from))]
    InvalidTransition {
        /// The run the transition named.
        run_id: String,
        /// Its status before the transition; `None` when the run did not exist.
        from: Option<WorkflowRunStatus>,
        /// The status that was asked for.
        to: WorkflowRunStatus,
    },

    /// A transition named an existing run with a different workflow or thread than the
    /// one the run was created with: two runs share an id. Nothing was written.
    #[error("run {run_id:?} has {field} {stored:?}, but the transition names {given:?}")]
    RunConflict {
        /// The run the transition named.
        run_id: String,
        /// `"workflow"` or `"thread_id"`.
        field: &'static str,
        /// What the store holds for that field.
        stored: String,
        /// What the transition gave.
        given: String,
    },

    /// The store has given out the highest id it can keep ([`crate::MAX_LOG_ID`]), so it
    /// cannot append any more entries. Nothing was written; what is stored stays readable.
    #[error("the log has given out its last id ({last}): no more entries can be appended")]
    IdsExhausted {
        /// The highest id given out.
        last: LogId,
    },

    /// A run named as a cursor or a target does not exist.
    #[error("unknown run {run_id:?}")]
    UnknownRun {
        /// The id that was not found.
        run_id: String,
    },

    /// A text that should name a blob is not a digest (64 lowercase hex characters).
    #[error("{input:?} is not a blob digest: {reason}")]
    InvalidDigest {
        /// The text, shortened if long.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A blob's content does not hash to its name: it was changed, truncated or zeroed
    /// behind the store's back. The content is not handed out.
    #[error("blob {digest} is corrupt: its content does not match its digest")]
    Corrupt {
        /// The blob.
        digest: Digest,
    },

    /// A store refuses writes after a write or sync failed to reach the disk (a full disk,
    /// an I/O error), because what reached the disk is unknown; reopen it to go on (after
    /// making room, for a full disk). Reads go on where the store can still serve them.
    #[error(
        "the store at {path} refuses writes since a write failed to reach the disk ({cause}); \
         reopen it"
    )]
    Poisoned {
        /// The store's root or file.
        path: PathBuf,
        /// The failure that poisoned it.
        cause: String,
    },

    /// A store's file is damaged: the engine found pages or rows that are not what it wrote
    /// (changed, cut short or zeroed behind its back), at open, in a read, or in a `check`.
    /// Nothing was written by the failed call; the store refuses further writes until it is
    /// reopened. Restore the file from a backup; what can still be read is readable.
    #[error("the {backend} file {path} is damaged: {detail}")]
    Damaged {
        /// The store's file.
        path: PathBuf,
        /// The engine (`"sqlite"`, `"redb"`).
        backend: &'static str,
        /// What the engine found, in its own words.
        detail: String,
    },

    /// A line of an archive file is not an entry: the file was changed or cut short. The
    /// archive refuses to rewrite a day whose file it cannot read whole.
    #[error("{path}:{line}: not an archived log entry: {reason}")]
    ArchiveLine {
        /// The archive file.
        path: PathBuf,
        /// The line, counting from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// The archive's manifest is not what the archive wrote: changed, cut short, or of an
    /// unknown format. The archive refuses to write days over it (their record would be
    /// lost); `archive verify` names it. Restore it from a backup or move it aside.
    #[error("the archive manifest {path} is damaged: {reason}")]
    ArchiveManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Day files of the archive are not what its manifest records: changed, missing, or not
    /// readable whole. Restore them from a backup; `archive verify` lists each day.
    #[error("the archive's day files do not match its manifest {manifest}: {days}")]
    ArchiveMismatch {
        /// The manifest.
        manifest: PathBuf,
        /// The days that do not match, each with what is wrong.
        days: String,
    },

    /// A stored value could not be decoded: the file was damaged or written by something
    /// else. The operation returns this instead of a guess.
    #[error("corrupt value in table {table} at key {key}: {reason}")]
    CorruptValue {
        /// The table (or index) the value was read from.
        table: &'static str,
        /// The key of the damaged row.
        key: String,
        /// What failed to decode.
        reason: String,
    },

    /// The file was written by a newer nerve-store whose schema this build does not know.
    /// Nothing was changed; open it with a newer build.
    #[error(
        "{path} has schema version {found}, newer than the {supported} this build supports; \
         open it with a newer nerve-store"
    )]
    SchemaTooNew {
        /// The store's file.
        path: PathBuf,
        /// The version the file records.
        found: i64,
        /// The newest version this build understands.
        supported: i64,
    },

    /// A store opened read-only was at an older schema version, which only an open for
    /// writing migrates. Nothing was changed; open it once for writing (the daemon does).
    #[error(
        "{path} has schema version {found}, older than the {current} this build reads; \
         open it once for writing (the daemon does) to migrate it"
    )]
    SchemaTooOld {
        /// The store's file.
        path: PathBuf,
        /// The version the file records.
        found: i64,
        /// The version this build reads.
        current: i64,
    },

    /// No store exists where one was to be opened without creating it (a read-only open, or
    /// one whose options say not to create).
    #[error("no store at {path}")]
    NoStore {
        /// Where the store was looked for.
        path: PathBuf,
    },

    /// A store's log is there but its blob file is not (removed, or lost with a disk), and
    /// the open may not create one: a new, empty blob file would leave the digests the log
    /// records naming nothing. Nothing was created.
    #[error("the blob file {path} of the store at {store} is missing")]
    BlobFileMissing {
        /// The store, as its location shows it.
        store: PathBuf,
        /// The blob file that is missing.
        path: PathBuf,
    },

    /// A write (or maintenance) call on a store opened read-only. Nothing was written; open
    /// the store for writing to change it.
    #[error("the store at {path} was opened read-only: it cannot {operation}")]
    OpenedReadOnly {
        /// The store's file.
        path: PathBuf,
        /// What was refused (`"write"`, `"compact"`, ...).
        operation: &'static str,
    },

    /// A read-only open of a store that was not closed cleanly (the process that had it
    /// open for writing stopped, or the machine did): the engine must recover it first,
    /// which only an open for writing does. Nothing was changed.
    #[error(
        "the store at {path} was not closed cleanly: the next open for writing recovers it \
         (a read-only open cannot)"
    )]
    NotClosedCleanly {
        /// The store's file.
        path: PathBuf,
    },

    /// The file exists but is not a store of this backend (another program's database,
    /// or not a database at all). Nothing was changed.
    #[error("{path} is not a nerve-store {backend} store: {reason}")]
    NotAStore {
        /// The file that was opened.
        path: PathBuf,
        /// The backend that refused it (`"sqlite"`, `"redb"`).
        backend: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// An engine setting did not take effect when the store was opened, so the store
    /// refused to run without it (SQLite ignores unknown pragma values silently).
    #[error("{path}: setting {setting} to {wanted} did not take (the engine reports {actual})")]
    SettingNotApplied {
        /// The store's file.
        path: PathBuf,
        /// The setting (for SQLite, the pragma name).
        setting: &'static str,
        /// The value that was asked for.
        wanted: String,
        /// The value the engine reports.
        actual: String,
    },

    /// Another connection (usually another process) holds the store's lock: SQLite waited
    /// its busy timeout for it; redb found the file opened for exclusive use. Nothing was
    /// written; the operation may be retried.
    #[error("the store is locked by another writer ({context})")]
    Busy {
        /// What the store was doing.
        context: String,
        /// The engine's error.
        #[source]
        source: EngineError,
    },

    /// The store's server cannot be reached now: it refuses connections, is down or
    /// restarting, or closed the connection mid-call. Nothing of the failed call was written
    /// (a commit whose answer was lost is rolled back by the server); the same call may
    /// succeed once the server is back, and the store reconnects by itself.
    #[error("the {backend} server is unavailable ({context})")]
    Unavailable {
        /// The backend.
        backend: &'static str,
        /// What the store was doing, and the server it was trying (never a password).
        context: String,
        /// The client's error.
        #[source]
        source: EngineError,
    },

    /// The store's file, or its folder, may not be written by this process: the operating
    /// system's permissions, or a read-only file system. Nothing was written.
    #[error("{path} is read-only to this process")]
    ReadOnly {
        /// The file (or folder) that cannot be written.
        path: PathBuf,
        /// The engine's or the operating system's error.
        #[source]
        source: EngineError,
    },

    /// The engine failed (I/O error, full disk, damaged file, ...). Nothing of the failed
    /// operation was written.
    #[error("{backend} failed while {context}")]
    Backend {
        /// The engine (`"sqlite"`, `"redb"`).
        backend: &'static str,
        /// What the store was doing.
        context: String,
        /// The engine's error.
        #[source]
        source: EngineError,
    },

    /// A copy of a store (`nerve_store::migrate`) does not hold the same content as its
    /// source. The target is incomplete or wrong: remove it and copy again.
    #[error(
        "the copy at {target} does not match its source: {source_summary} against {target_summary}"
    )]
    CopyMismatch {
        /// Where the copy was written.
        target: String,
        /// What the source holds (counts and content digest).
        source_summary: String,
        /// What the copy holds.
        target_summary: String,
    },

    /// A long operation stopped because its caller asked it to (a progress callback that
    /// answered `Break`, on Ctrl-C): what it finished stays finished, and its documentation
    /// says what state is left.
    #[error("{operation} was interrupted")]
    Interrupted {
        /// The operation (`"migrate"`, `"backup"`).
        operation: &'static str,
    },

    /// The store is a copy that `nerve_store::migrate` began and did not finish and verify
    /// (it was interrupted, failed or crashed), so it may hold only part of its source. It is
    /// not opened for use: remove it and copy again.
    #[error("{path} is an incomplete copy of {source_location}: the copy was cut short")]
    IncompleteCopy {
        /// The store's file.
        path: PathBuf,
        /// The store it was being copied from.
        source_location: String,
    },

    /// A file-system operation (or a read of a caller's data) failed.
    #[error("I/O error{} while {context}", on_path(path.as_deref()))]
    Io {
        /// The file or folder, when the operation had one (reading a caller's reader has
        /// none).
        path: Option<PathBuf>,
        /// What the store was doing.
        context: String,
        /// The operating system's error, shared as [`EngineError`] is.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// An engine's error under a [`StoreError`], shared so that the error clones; it reads as
/// the original, and `downcast_ref` reaches the original's type.
pub type EngineError = Arc<dyn StdError + Send + Sync>;

fn on_path(path: Option<&std::path::Path>) -> String {
    path.map(|path| format!(" on {}", path.display()))
        .unwrap_or_default()
}

fn describe_from(from: Option<WorkflowRunStatus>) -> String {
    match from {
        Some(status) => status.to_string(),
        None => "(no run yet)".to_owned(),
    }
}

impl StoreError {
    /// Whether the same call may succeed if made again later, unchanged: true for
    /// [`StoreError::Busy`] (another writer held the lock) and [`StoreError::Unavailable`]
    /// (the server could not be reached), false for everything else, which needs a
    /// different input, a reopen or a person. Nothing was written either way.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Busy { .. } | StoreError::Unavailable { .. }
        )
    }

    /// A [`StoreError::Io`] about `path`.
    pub fn io(
        path: impl Into<PathBuf>,
        context: impl Into<String>,
        source: std::io::Error,
    ) -> Self {
        StoreError::Io {
            path: Some(path.into()),
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// Shorthand for [`StoreError::InvalidInput`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StoreError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`StoreError::CorruptValue`].
    pub fn corrupt(table: &'static str, key: impl ToString, reason: impl Into<String>) -> Self {
        StoreError::CorruptValue {
            table,
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn only_a_lock_held_by_another_writer_is_worth_retrying_unchanged() {
        let busy = StoreError::Busy {
            context: "appending".into(),
            source: std::sync::Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
                "database is locked",
            )),
        };
        assert!(busy.is_retryable());
        let others = [
            StoreError::invalid("source", "must not be empty"),
            StoreError::corrupt("logs", 7, "not UTF-8"),
            StoreError::Poisoned {
                path: "nerve.db".into(),
                cause: "no space left".into(),
            },
            StoreError::Io {
                path: None,
                context: "reading the blob's source".into(),
                source: std::sync::Arc::new(std::io::Error::other("gone")),
            },
        ];
        for err in others {
            assert!(!err.is_retryable(), "{err}");
        }
    }

    #[test]
    fn an_io_error_names_its_path_only_when_it_has_one() {
        let with = StoreError::Io {
            path: Some("data/archive".into()),
            context: "creating a folder".into(),
            source: std::sync::Arc::new(std::io::Error::other("denied")),
        };
        assert_eq!(
            with.to_string(),
            "I/O error on data/archive while creating a folder"
        );
        let without = StoreError::Io {
            path: None,
            context: "reading the blob's source".into(),
            source: std::sync::Arc::new(std::io::Error::other("gone")),
        };
        assert_eq!(
            without.to_string(),
            "I/O error while reading the blob's source"
        );
    }
}
