//! How a SQLite store is opened.

use std::time::Duration;

/// How hard a commit waits for the disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `NORMAL`, the default: in WAL mode a commit survives a crash of the process; a power
    /// loss may lose the last commits, never corrupt the file.
    #[default]
    Normal,
    /// `FULL`: every commit is synced to the disk before it returns; survives a power loss.
    /// About three times slower per single-entry commit.
    Full,
}

impl Synchronous {
    pub(crate) const fn pragma_value(self) -> i64 {
        match self {
            Synchronous::Normal => 1,
            Synchronous::Full => 2,
        }
    }
}

/// The settings of a [`crate::SqliteLogStore`]. `SqliteOptions::default()` is what
/// [`crate::SqliteLogStore::open`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Durability of commits; [`Synchronous::Normal`] by default.
    pub synchronous: Synchronous,
    /// How long an operation waits for another connection's lock (another process writing)
    /// before it fails with [`store_core::StoreError::Busy`]. 5 seconds by default.
    pub busy_timeout: Duration,
    /// The page cache of each connection, in KiB (`PRAGMA cache_size = -N`), allocated as
    /// pages are used. 64 MiB by default, so that the hot part of a large log's indexes stays
    /// in memory for a long-running daemon (a 50-row query on a 1,000,000-entry log took
    /// 55 µs with it, 78 µs with 32 MiB). A batch job that streams the whole log, such as an
    /// archive run, wants a few MiB: the writer and each reader can each fill their cache.
    pub cache_size_kib: u32,
    /// Bytes of the file that readers may map into memory (`PRAGMA mmap_size`); 0 (off) by
    /// default. Mapping makes index reads cheaper, but an I/O error on a mapped page is a
    /// `SIGBUS` that kills the process instead of an error: turn it on knowingly.
    pub mmap_size: u64,
    /// How many idle read connections the store keeps for reuse. 4 by default; more
    /// concurrent readers open more connections and close the surplus when done.
    pub max_idle_readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            cache_size_kib: 64 * 1024,
            mmap_size: 0,
            max_idle_readers: 4,
        }
    }
}
