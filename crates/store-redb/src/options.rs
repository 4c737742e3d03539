//! How a redb store is opened.

use store_core::Durability;

/// redb's durability for a commit at `durability`: `Immediate`, but `None` for
/// [`Durability::Deferred`]. redb has no level between the two, so
/// [`Durability::ProcessCrash`] syncs as [`Durability::PowerLoss`] does.
pub(crate) const fn redb_durability(durability: Durability) -> redb::Durability {
    match durability {
        Durability::Deferred => redb::Durability::None,
        _ => redb::Durability::Immediate,
    }
}

/// The settings of a [`crate::RedbLogStore`]. `RedbOptions::default()` is what
/// [`crate::RedbLogStore::open`] uses; change it with the builder methods:
///
/// ```
/// use store_redb::RedbOptions;
/// let options = RedbOptions::default().multi_process(false).cache_bytes(4 << 20);
/// # assert_eq!(options.cache_bytes, 4 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedbOptions {
    /// What a commit that returned survives; [`Durability::PowerLoss`] (redb `Immediate`)
    /// by default. [`Durability::Deferred`] (redb `None`) makes a commit durable only with
    /// the next synced one (the store syncs every `delete_days`): a crash of the process may
    /// lose the newest commits and their ids be given out again, never corrupt the file. It
    /// needs `multi_process: false`: redb refuses non-durable commits when other processes
    /// may share the file.
    pub durability: Durability,
    /// Whether other processes may open the file for reading and writing while this one
    /// has it open (`redb::ConcurrencyMode::MultiWriter`); `true` by default, so that the
    /// CLI can look into a running daemon's store.
    ///
    /// What it costs: every write transaction saves the allocator state with its commit
    /// (redb's quick-repair) and reloads it when it begins, so that another process can
    /// take over. Measured here, a single-entry commit took 1.74× as long as with the file
    /// locked whole (425 µs against 245 µs, both `Immediate`). With `false` the
    /// file is locked whole (`ConcurrencyMode::ExclusiveWriter`): a second process that
    /// tries to open it gets [`store_core::StoreError::Busy`].
    pub multi_process: bool,
    /// Bytes of memory redb may use to cache pages; 64 MiB by default.
    pub cache_bytes: usize,
    /// Verify the checksum of every page whenever the file is opened; `false` by default,
    /// because it reads the whole file (2.3 s at a million entries).
    ///
    /// Without it, redb checks and repairs the file at open only after an unclean shutdown
    /// (a crash, a power loss), and [`RedbLogStore::check`](crate::RedbLogStore) checks it
    /// when asked. A page damaged behind redb's back after a clean shutdown is met when it is
    /// read: that call returns [`store_core::StoreError::Damaged`] and the store refuses
    /// writes until it is reopened. redb panics on some such pages; the store catches the
    /// panic, which needs the default `panic = "unwind"`: a program built with
    /// `panic = "abort"` should turn this on.
    pub verify_on_open: bool,
    /// Whether writes from threads that wait for the writer at the same time commit together,
    /// in one write transaction and one durable commit (group commit); `true` by default.
    /// Each call still returns its own result and only once its write is durable, and a
    /// refused call writes nothing while the others commit. `false` commits every call on its
    /// own: only for comparing the two.
    pub group_commit: bool,
    /// Open the store for reading only (`redb::ReadOnlyDatabase`): nothing is created (the
    /// file must be a store of this schema version), no write lock is taken, and the file may
    /// be read-only to this process. Beside a process that writes the file (in the
    /// `multi_process` mode), reads follow its commits. Every write, and every maintenance
    /// call that writes, returns [`store_core::StoreError::OpenedReadOnly`]. `false` by
    /// default.
    ///
    /// A file that was not shut down cleanly needs a repair that only an open for writing
    /// makes: a read-only open of it fails, naming the remedy.
    pub read_only: bool,
    /// Meta pairs written in the very transaction that creates the store, when this open
    /// creates it (nothing is written when the store exists): a store is then never seen
    /// without them, whenever its creator is stopped. `migrate` and `backup` mark a copy
    /// incomplete this way. Empty by default.
    pub meta_when_created: Vec<(String, String)>,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            durability: Durability::PowerLoss,
            multi_process: true,
            cache_bytes: 64 * 1024 * 1024,
            verify_on_open: false,
            group_commit: true,
            read_only: false,
            meta_when_created: Vec::new(),
        }
    }
}

impl RedbOptions {
    /// These options with commits as durable as `durability`.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// These options sharing the file with other processes, or not.
    pub fn multi_process(mut self, shared: bool) -> Self {
        self.multi_process = shared;
        self
    }

    /// These options with `bytes` of page cache.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
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

    /// These options verifying the whole file at open, or not.
    pub fn verify_on_open(mut self, verify: bool) -> Self {
        self.verify_on_open = verify;
        self
    }
}
