//! The choices that every backend's options share, in one vocabulary, so that the facade can
//! offer them whatever the backend.

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
