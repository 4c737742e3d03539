//! The choices that every backend's options share, in one vocabulary ([`StoreOptions`]),
//! embedded in each backend's options as `store`, so that the facade offers them whatever
//! the backend and translates none of them.

/// What a commit that has returned survives. Each backend maps a level to its engine's
/// settings (its options document how) and gives at least the level asked for: where the
/// engine has no setting for a level, the next stronger one is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Every commit is on the disk when it returns: it survives a crash of the process and a
    /// power loss (SQLite `synchronous=FULL`, redb `Durability::Immediate`).
    PowerLoss,
    /// A commit survives a crash of the process, not a power loss: after one, the newest
    /// commits may be gone and their ids given out again (SQLite `synchronous=NORMAL` in WAL
    /// mode; redb has no such level and syncs, as for [`Durability::PowerLoss`]). The file
    /// is never corrupted.
    ProcessCrash,
    /// A commit is on the disk only once a later commit is synced (redb `Durability::None`;
    /// on SQLite as [`Durability::ProcessCrash`]): a crash of the process may lose the newest
    /// commits and their ids be given out again. The file is never corrupted.
    Deferred,
}

impl Durability {
    /// The level's name as the options and the CLI spell it: `power-loss`, `process-crash`,
    /// `deferred`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Durability::PowerLoss => "power-loss",
            Durability::ProcessCrash => "process-crash",
            Durability::Deferred => "deferred",
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Durability {
    type Err = crate::StoreError;

    fn from_str(text: &str) -> crate::StoreResult<Self> {
        [
            Durability::PowerLoss,
            Durability::ProcessCrash,
            Durability::Deferred,
        ]
        .into_iter()
        .find(|level| level.as_str() == text)
        .ok_or_else(|| {
            crate::StoreError::invalid(
                "durability",
                format!("{text:?} is not one of power-loss, process-crash, deferred"),
            )
        })
    }
}

/// The choices every backend offers, in one struct that each backend's options embed as
/// their `store` field (and the facade's `OpenOptions` too): what each means is written here
/// once, and each backend's options say how it honours it. A backend honours every field or
/// refuses the open with [`crate::StoreError::InvalidInput`] naming the field; none is
/// ignored.
///
/// Each backend's options have a builder method per field (`.durability(…)`,
/// `.read_only(true)`, …), written once by [`store_option_builders!`](crate::store_option_builders).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// What a commit that returned survives; [`Durability::PowerLoss`] by default.
    pub durability: Durability,
    /// Whether writes that wait for the writer at the same time commit together, in one
    /// transaction and one sync (group commit); `true` by default. Each call still returns
    /// its own result, once its write is durable, and a refused call writes nothing while
    /// the others commit. `false` commits every call alone: only to compare the two.
    pub group_commit: bool,
    /// Bytes of cache the store keeps for its file; `None` keeps the backend's default.
    pub cache_bytes: Option<usize>,
    /// Open for reading only: nothing is created, every write is
    /// [`crate::StoreError::OpenedReadOnly`], and a missing store is
    /// [`crate::StoreError::NoStore`]. `false` by default.
    pub read_only: bool,
    /// Create the store when there is none; `true` by default. `false` makes a missing store
    /// [`crate::StoreError::NoStore`] (as `sqlx`'s `create_if_missing(false)` does): what a
    /// command that maintains or removes wants, so that a mistyped path is an error rather
    /// than a new empty store.
    pub create_if_missing: bool,
    /// Meta pairs written in the very transaction that creates the store, when this open
    /// creates it (nothing is written when the store exists): a store is then never seen
    /// without them, whenever its creator is stopped. `migrate` and `backup` mark a copy
    /// incomplete this way. Empty by default.
    pub meta_when_created: Vec<(String, String)>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::PowerLoss,
            group_commit: true,
            cache_bytes: None,
            read_only: false,
            create_if_missing: true,
            meta_when_created: Vec::new(),
        }
    }
}

/// The builder methods of the shared options, for the `impl` block of an options type whose
/// [`StoreOptions`] is its field `store`: `durability`, `group_commit`, `cache_bytes`,
/// `read_only`, `create_if_missing` and `meta_when_created`, each returning the options
/// changed.
#[macro_export]
macro_rules! store_option_builders {
    () => {
        /// These options with commits at least as durable as `durability`.
        pub fn durability(mut self, durability: $crate::Durability) -> Self {
            self.store.durability = durability;
            self
        }

        /// These options committing concurrent writes together, or each alone.
        pub fn group_commit(mut self, grouping: bool) -> Self {
            self.store.group_commit = grouping;
            self
        }

        /// These options with `bytes` of cache.
        pub fn cache_bytes(mut self, bytes: usize) -> Self {
            self.store.cache_bytes = Some(bytes);
            self
        }

        /// These options opening the store for reading only, or for reading and writing.
        pub fn read_only(mut self, read_only: bool) -> Self {
            self.store.read_only = read_only;
            self
        }

        /// These options creating a missing store, or refusing it as `NoStore`.
        pub fn create_if_missing(mut self, create: bool) -> Self {
            self.store.create_if_missing = create;
            self
        }

        /// These options writing `pairs` in meta in the transaction that creates the store.
        pub fn meta_when_created(mut self, pairs: Vec<(String, String)>) -> Self {
            self.store.meta_when_created = pairs;
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::Durability;

    #[test]
    fn every_level_reads_back_from_its_name_and_others_are_refused() {
        for level in [
            Durability::PowerLoss,
            Durability::ProcessCrash,
            Durability::Deferred,
        ] {
            assert_eq!(level.as_str().parse::<Durability>().ok(), Some(level));
        }
        let err = "full".parse::<Durability>().expect_err("not a level");
        assert!(err.to_string().contains("\"full\""), "{err}");
    }
}
