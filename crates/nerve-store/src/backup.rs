//! An online copy of a store: one snapshot of it, blobs included, verified, into new files.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use store_core::{Checked, StoreError, StoreResult};

use crate::{ContentSummary, Location, Store};

/// What [`backup`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Where the copy is.
    pub location: Location,
    /// What it holds: the same as the store held when the backup began.
    pub summary: ContentSummary,
    /// What the copy's own check found ([`store_core::LogMaintenance::check`]).
    pub checked: Checked,
}

/// Copies `from` into a new store at `to` (a location: the same backend or the other), while
/// a daemon may go on writing `from`: the copy is one snapshot of `from`, as it was when the
/// backup began ([`crate::migrate`] does the copying), verified by the content digest, and
/// then checked by its engine ([`store_core::LogMaintenance::check`]). `progress` hears the
/// entries copied so far and stops the backup with [`ControlFlow::Break`].
///
/// Nothing is left at `to` unless the whole backup succeeded: after an error or a stop, the
/// files it created are removed.
///
/// # Errors
/// [`StoreError::InvalidInput`] when something exists at `to` already (a backup only makes
/// new files) or `to` is not a location; [`StoreError::Interrupted`] when `progress` stopped
/// it; [`StoreError::CopyMismatch`] or [`StoreError::Damaged`] when the copy is not whole;
/// the stores' errors.
pub fn backup(
    from: &Store,
    to: &str,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> StoreResult<BackupReport> {
    let location: Location = to.parse()?;
    let files = [location.path.clone(), location.blob_path()];
    if let Some(taken) = files.iter().find(|file| file.exists()) {
        return Err(StoreError::invalid("target", leftover(to, taken)));
    }
    let made = (|| {
        let target = crate::open_with(
            to,
            &crate::OpenOptions::default().created_as_copy_of(&from.location),
        )?;
        let summary = crate::migrate(from, &target, progress)?;
        let checked = target.log.check()?;
        Ok(BackupReport {
            location: location.clone(),
            summary,
            checked,
        })
    })();
    if made.is_err() {
        for file in &files {
            remove_with_companions(file);
        }
    }
    made
}

/// Why a backup to `to` is refused where `taken` exists: the leftover of a backup or
/// migrate that did not finish (marked incomplete) is named as such.
fn leftover(to: &str, taken: &Path) -> String {
    let marked = crate::open_with(
        to,
        &crate::OpenOptions::default()
            .read_only(true)
            .allow_incomplete(true),
    )
    .ok()
    .and_then(|store| store.log.meta_get(crate::INCOMPLETE_KEY).ok().flatten());
    match marked {
        Some(source) => format!(
            "{} is left from a copy of {source} that did not finish (it is marked \
             incomplete): remove it and its blob file, then back up again",
            taken.display()
        ),
        None => format!(
            "{} exists: a backup goes to new files only",
            taken.display()
        ),
    }
}

/// Removes `file` and the engines' files beside it (SQLite's `-wal`, `-shm` and `-journal`,
/// the store's `.sealed`), as far as they exist: what a failed backup made.
fn remove_with_companions(file: &Path) {
    let mut names: Vec<PathBuf> = vec![file.to_owned()];
    for suffix in ["-wal", "-shm", "-journal", ".sealed"] {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        names.push(PathBuf::from(name));
    }
    for name in names {
        // Best effort: a file that is not there is what is wanted.
        let _ = std::fs::remove_file(name);
    }
}
