//! How a redb store is opened.

use store_core::{Durability, StoreOptions};

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
/// # assert_eq!(options.store.cache_bytes, Some(4 << 20));
/// ```
///
/// How redb honours the shared options ([`StoreOptions`], the field `store`):
///
/// - `durability`: [`Durability::PowerLoss`] is redb's `Immediate`; redb has no level
///   between that and `None`, so [`Durability::ProcessCrash`] syncs as `PowerLoss` does.
///   [`Durability::Deferred`] (redb `None`) makes a commit durable only with the next synced
///   one (the store syncs every `delete_days`): a crash of the process may lose the newest
///   commits and their ids be given out again, never corrupt the file. It needs
///   `multi_process: false`: redb refuses non-durable commits when other processes may share
///   the file, and so does the open, naming `durability`.
/// - `cache_bytes`: the memory redb may use to cache pages; 64 MiB by default
///   ([`DEFAULT_CACHE_BYTES`]).
/// - `group_commit`: the calls that wait together commit in one write transaction and one
///   durable commit.
/// - `read_only`: the file is opened as a `redb::ReadOnlyDatabase`: nothing is created (the
///   file must be a store of this schema version), no write lock is taken, and the file may
///   be read-only to this process. Beside a process that writes the file (in the
///   `multi_process` mode), reads follow its commits. A file that was not shut down cleanly
///   needs a repair that only an open for writing makes: a read-only open of it fails,
///   naming the remedy.
/// - `create_if_missing`: `false` makes a missing file [`store_core::StoreError::NoStore`].
/// - `meta_when_created`: written in the transaction that creates the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedbOptions {
    /// What every backend offers, and how redb honours each is said above.
    pub store: StoreOptions,
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
}

/// The page cache when the options leave it to the backend: 64 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            store: StoreOptions::default(),
            multi_process: true,
            verify_on_open: false,
        }
    }
}

impl RedbOptions {
    store_core::store_option_builders!();

    /// These options sharing the file with other processes, or not.
    pub fn multi_process(mut self, shared: bool) -> Self {
        self.multi_process = shared;
        self
    }

    /// These options verifying the whole file at open, or not.
    pub fn verify_on_open(mut self, verify: bool) -> Self {
        self.verify_on_open = verify;
        self
    }

    /// The page cache these options give redb.
    pub(crate) fn cache(&self) -> usize {
        self.store.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES)
    }
}
