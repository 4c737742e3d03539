//! How a SQLite store is opened.

use std::time::Duration;

use store_core::{Durability, StoreOptions};

/// SQLite's `PRAGMA synchronous` for a durability level: `FULL` (2) for
/// [`Durability::PowerLoss`], `NORMAL` (1) otherwise. SQLite has no level weaker than
/// `NORMAL` that keeps a WAL file whole through a power loss, so [`Durability::Deferred`] is
/// `NORMAL` too.
pub(crate) const fn synchronous_pragma(durability: Durability) -> i64 {
    match durability {
        Durability::PowerLoss => 2,
        _ => 1,
    }
}

/// The settings of a [`crate::SqliteLogStore`]. `SqliteOptions::default()` is what
/// [`crate::SqliteLogStore::open`] uses; change it with the builder methods:
///
/// ```
/// use store_sqlite::SqliteOptions;
/// let options = SqliteOptions::default()
///     .durability(store_core::Durability::PowerLoss)
///     .cache_bytes(4 << 20);
/// # assert_eq!(options.store.cache_bytes, Some(4 << 20));
/// ```
///
/// How SQLite honours the shared options ([`StoreOptions`], the field `store`):
///
/// - `durability`: [`Durability::PowerLoss`] is `synchronous=FULL` in WAL mode: every commit
///   syncs the write-ahead log before it returns, so nothing that returned is lost, whatever
///   happens to the machine; with group commit the sync is shared by every call committed in
///   the same group. [`Durability::ProcessCrash`] (and [`Durability::Deferred`], the same
///   here: `synchronous=NORMAL`) syncs only at checkpoints: a crash of the process loses
///   nothing, but a power loss or a crash of the operating system may lose the newest
///   commits that returned, and the ids of lost entries are then given out again.
/// - `cache_bytes`: the page cache of each connection (`PRAGMA cache_size = -KiB`, rounded
///   down to whole KiB), allocated as pages are used. 64 MiB by default
///   ([`DEFAULT_CACHE_BYTES`]), so that the hot part of a large log's indexes stays in memory
///   for a long-running daemon (a 50-row query on a 1,000,000-entry log took 55 µs with it,
///   78 µs with 32 MiB). A batch job that streams the whole log, such as an archive run,
///   wants a few MiB: the writer and each reader can each fill their cache.
/// - `group_commit`: the writer's commit queue groups the calls that wait together.
/// - `read_only`: nothing is created (the file must be a store of this schema version), no
///   lock is taken that a writer would wait for, and the file and its folder may be
///   read-only to this process. Beside a process that has the file open, the store reads the
///   file as SQLite readers always do, through its `-wal` and `-shm`. When none has it open,
///   those files do not exist, and the store reads the file *immutable* (without locks,
///   creating nothing) until a writer opens it; from then on its new readers share the file
///   with the writer.
/// - `create_if_missing`: `false` makes a missing file [`store_core::StoreError::NoStore`].
/// - `meta_when_created`: written in the transaction that creates the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// What every backend offers, and how SQLite honours each is said above.
    pub store: StoreOptions,
    /// How long an operation waits for another connection's lock (another process writing)
    /// before it fails with [`store_core::StoreError::Busy`]. 5 seconds by default.
    pub busy_timeout: Duration,
    /// Bytes of the file that readers may map into memory (`PRAGMA mmap_size`); 0 (off) by
    /// default. Mapping makes index reads cheaper, but an I/O error on a mapped page is a
    /// `SIGBUS` that kills the process instead of an error: turn it on knowingly.
    pub mmap_size: u64,
    /// How many idle read connections the store keeps for reuse. 4 by default; more
    /// concurrent readers open more connections and close the surplus when done.
    pub max_idle_readers: usize,
}

/// The page cache of each connection when the options leave it to the backend: 64 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            store: StoreOptions::default(),
            busy_timeout: Duration::from_secs(5),
            mmap_size: 0,
            max_idle_readers: 4,
        }
    }
}

impl SqliteOptions {
    store_core::store_option_builders!();

    /// These options with a busy timeout of `timeout`.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// These options with `bytes` of the file mapped into memory.
    pub fn mmap_size(mut self, bytes: u64) -> Self {
        self.mmap_size = bytes;
        self
    }

    /// These options keeping at most `count` idle read connections.
    pub fn max_idle_readers(mut self, count: usize) -> Self {
        self.max_idle_readers = count;
        self
    }

    /// `PRAGMA cache_size`'s argument for [`SqliteOptions::cache_bytes`]: negative KiB.
    pub(crate) fn cache_size_pragma(&self) -> i64 {
        let bytes = self.store.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES);
        -i64::try_from(bytes / 1024).unwrap_or(i64::MAX)
    }
}
