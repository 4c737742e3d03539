//! The archive of nerve-store: old log days moved out of the store to plain JSON-lines
//! files, one per UTC day, that `grep` and `jq` understand, exactly once and crash-safe.
//!
//! ```
//! use chrono::{Duration, Utc};
//! use store_archive::{ArchiveOptions, archive_logs, read_archive};
//! use store_core::{LogStore, NewLogEntry};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = store_sqlite::SqliteLogStore::open(dir.path().join("nerve.db"))?;
//! let long_ago = Utc::now() - Duration::days(40);
//! store.append(NewLogEntry::new("daemon", "boot", "{}").at(long_ago))?;
//!
//! let options = ArchiveOptions { dir: dir.path().join("archive"), ..ArchiveOptions::default() };
//! let report = archive_logs(&store, &options)?;
//! assert_eq!(report.rows, 1);
//! let day = long_ago.date_naive();
//! let back: Vec<_> = read_archive(&options.dir, day..=day).collect::<Result<_, _>>()?;
//! assert_eq!(back.len(), 1);
//! # Ok(())
//! # }
//! ```

mod archive;
mod lock;
mod manifest;
mod read;
mod remote;
mod replica;
mod restore;

pub use archive::{
    ArchiveOptions, ArchiveReport, DayReport, Progress, WATERMARK_KEY, archive_logs,
    archive_logs_with, archive_logs_with_progress,
};
pub use manifest::{
    ArchiveVerification, DayCheck, DayRecord, DayStatus, DropReport, MANIFEST_FILE, archived_blobs,
    archived_days, days_referencing, drop_days, verify_archive,
};
pub use read::{read_archive, read_archive_by_id};
pub use remote::{
    archive_logs_at, archived_blobs_at, archived_days_at, days_referencing_at, drop_days_at,
    read_archive_at, restore_days_from,
};
pub use replica::{
    ArchiveReplica, PullReport, PushReport, ReplicaObject, pull_archive, push_archive,
    verify_replica,
};
pub use restore::{DayRestore, RestoreReport, restore_days, restore_days_with_progress};
