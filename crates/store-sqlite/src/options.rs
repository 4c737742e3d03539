//! How a SQLite store is opened.

use std::time::Duration;

use store_core::Durability;

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
/// # assert_eq!(options.cache_bytes, 4 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// What a commit that returned survives. [`Durability::PowerLoss`]
    /// (`synchronous=FULL` in WAL mode) by default: every commit syncs the write-ahead log
    /// before it returns, so nothing that returned is lost, whatever happens to the machine.
    /// With group commit the sync is shared by every call committed in the same group.
    ///
    /// [`Durability::ProcessCrash`] (and [`Durability::Deferred`], the same here:
    /// `synchronous=NORMAL`) syncs only at checkpoints: a crash of the process loses nothing,
    /// but a power loss or a crash of the operating system may lose the newest commits that
    /// returned, and the ids of lost entries are then given out again to new entries.
    pub durability: Durability,
    /// How long an operation waits for another connection's lock (another process writing)
    /// before it fails with [`store_core::StoreError::Busy`]. 5 seconds by default.
    pub busy_timeout: Duration,
    /// Bytes of page cache of each connection (`PRAGMA cache_size = -KiB`, rounded down to
    /// whole KiB), allocated as pages are used. 64 MiB by default, so that the hot part of a
    /// large log's indexes stays in memory for a long-running daemon (a 50-row query on a
    /// 1,000,000-entry log took 55 µs with it, 78 µs with 32 MiB). A batch job that streams
    /// the whole log, such as an archive run, wants a few MiB: the writer and each reader can
    /// each fill their cache.
    pub cache_bytes: usize,
    /// Bytes of the file that readers may map into memory (`PRAGMA mmap_size`); 0 (off) by
    /// default. Mapping makes index reads cheaper, but an I/O error on a mapped page is a
    /// `SIGBUS` that kills the process instead of an error: turn it on knowingly.
    pub mmap_size: u64,
    /// How many idle read connections the store keeps for reuse. 4 by default; more
    /// concurrent readers open more connections and close the surplus when done.
    pub max_idle_readers: usize,
    /// Whether writes from threads that wait for the writer at the same time commit together,
    /// in one transaction and one sync (group commit); `true` by default. Each call still
    /// returns its own result and only once its write is durable, and a refused call writes
    /// nothing while the others commit. `false` commits every call on its own, as a plain
    /// connection would: only for comparing the two.
    pub group_commit: bool,
    /// Open the store for reading only: nothing is created (the file must be a store of
    /// this schema version), no lock is taken that a writer would wait for, and the file and
    /// its folder may be read-only to this process. Every write, and every maintenance call
    /// that writes, returns [`store_core::StoreError::OpenedReadOnly`]. `false` by default.
    ///
    /// Beside a process that has the file open, the store reads the file as SQLite readers
    /// always do, through its `-wal` and `-shm`. When none has it open, those files do not
    /// exist, and the store reads the file *immutable* (without locks, creating nothing)
    /// until a writer opens it; from then on its new readers share the file with the writer.
    pub read_only: bool,
    /// Meta pairs written in the very transaction that creates the store, when this open
    /// creates it (nothing is written when the store exists): a store is then never seen
    /// without them, whenever its creator is stopped. `migrate` and `backup` mark a copy
    /// incomplete this way. Empty by default.
    pub meta_when_created: Vec<(String, String)>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::PowerLoss,
            busy_timeout: Duration::from_secs(5),
            cache_bytes: 64 * 1024 * 1024,
            mmap_size: 0,
            max_idle_readers: 4,
            group_commit: true,
            read_only: false,
            meta_when_created: Vec::new(),
        }
    }
}

impl SqliteOptions {
    /// These options with commits as durable as `durability`.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// These options with a busy timeout of `timeout`.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// These options with `bytes` of page cache per connection.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
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

    /// These options committing concurrent writes together, or each alone.
    pub fn group_commit(mut self, grouping: bool) -> Self {
        self.group_commit = grouping;
        self
    }

    /// These options writing `pairs` in meta in the transaction that creates the store.
    pub fn meta_when_created(mut self, pairs: Vec<(String, String)>) -> Self {
        self.meta_when_created = pairs;
        self
    }

    /// These options opening the store for reading only, or for reading and writing.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// `PRAGMA cache_size`'s argument for [`SqliteOptions::cache_bytes`]: negative KiB.
    pub(crate) fn cache_size_pragma(&self) -> i64 {
        -i64::try_from(self.cache_bytes / 1024).unwrap_or(i64::MAX)
    }
}
