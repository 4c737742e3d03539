//! An online copy of a store: one snapshot of it, blobs included, verified, into new files.

use std::ops::ControlFlow;
use std::path::Path;

use store_core::{Checked, StoreError, StoreResult};

use crate::{ContentSummary, Location, Store};

/// What [`backup`] made. Serialises as one flat object with camelCase names: `to` (the
/// location as it may be shown, any password masked), the summary's fields, `check` (the
/// verdict as text) and `resumed`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    /// Where the copy is.
    #[serde(rename = "to")]
    pub location: Location,
    /// What it holds: the same as the store held when the backup began.
    #[serde(flatten)]
    pub summary: ContentSummary,
    /// What the copy's own check found ([`store_core::LogMaintenance::check`]).
    #[serde(rename = "check", serialize_with = "as_text")]
    pub checked: Checked,
    /// Whether this backup finished one that an earlier run left unfinished at the same
    /// place ([`crate::resume_migrate`]) rather than starting anew.
    pub resumed: bool,
}

fn as_text<S: serde::Serializer>(checked: &Checked, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(checked)
}

/// Copies `from` into a new store at `to` (a location: the same backend or the other), while
/// a daemon may go on writing `from`: the copy is one snapshot of `from`, as it was when the
/// backup began ([`crate::migrate`] does the copying), verified by the content digest, and
/// then checked by its engine ([`store_core::LogMaintenance::check`]). `progress` hears the
/// entries copied so far and stops the backup with [`ControlFlow::Break`].
///
/// Nothing is left at `to` unless the whole backup succeeded: after an error or a stop, the
/// store it created is removed (its files, or its schema on a server). A backup of `from` that an earlier run left unfinished at
/// `to` (killed: it is marked incomplete, naming `from`) is finished instead, from where it
/// stopped ([`crate::resume_migrate`]), and left as it was if that fails too.
///
/// # Errors
/// [`StoreError::InvalidInput`] when something else exists at `to` already (a backup only
/// makes new files) or `to` is not a location; [`StoreError::Interrupted`] when `progress`
/// stopped it; [`StoreError::CopyMismatch`] or [`StoreError::Damaged`] when the copy is not
/// whole; the stores' errors.
pub fn backup(
    from: &Store,
    to: &str,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> StoreResult<BackupReport> {
    let location: Location = to.parse()?;
    if let Some(taken) = location.existing_file() {
        let target = unfinished_copy(from, to)
            .map_err(|marked| StoreError::invalid("target", leftover(&taken, marked)))?;
        let summary = crate::resume_migrate(from, &target, progress)?;
        let checked = target.log.check()?;
        return Ok(BackupReport {
            location,
            summary,
            checked,
            resumed: true,
        });
    }
    // Files found at `to` were dealt with above; on a server, a store this backup does not
    // create is left alone whatever happens.
    let created_here = !location.is_server()
        || matches!(
            crate::open_log_with(to, &crate::OpenOptions::default().read_only(true)),
            Err(StoreError::NoStore { .. })
        );
    let made = (|| {
        let target = crate::open_with(
            to,
            &crate::OpenOptions::default().created_as_copy_of(&from.location),
        )?;
        let summary = crate::migrate(from, &target, progress)?;
        let checked = target.log.check()?;
        // The check reads the whole copy and cannot stop part way: a stop asked for
        // meanwhile is honoured now, before the backup is reported done.
        if progress(summary.entries).is_break() {
            return Err(StoreError::Interrupted {
                operation: "backup",
            });
        }
        Ok(BackupReport {
            location: location.clone(),
            summary,
            checked,
            resumed: false,
        })
    })();
    if made.is_err() && created_here {
        crate::remove_store(&location);
    }
    made
}

/// The store that an earlier, unfinished copy of `from` left at `to`, opened to finish it;
/// when what is at `to` is anything else (which is then left as it is), the source that its
/// incomplete mark names, if it has one.
fn unfinished_copy(from: &Store, to: &str) -> Result<Store, Option<String>> {
    let source = from.location.to_string();
    let mark = |store: &Store| store.log.meta_get(crate::INCOMPLETE_KEY).ok().flatten();
    let looked = crate::open_with(
        to,
        &crate::OpenOptions::default()
            .read_only(true)
            .allow_incomplete(true),
    );
    let store = match looked {
        Ok(store) => match mark(&store) {
            Some(marked) if marked == source => {
                drop(store);
                return crate::open_with(to, &crate::OpenOptions::default().allow_incomplete(true))
                    .map_err(|_| None);
            }
            marked => return Err(marked),
        },
        // Killed while the target was being created (a file with no store in it yet, a blob
        // file not made yet) or while it was open (a redb file to repair): an open that may
        // write finishes the creation, marked as this copy, or repairs the file. Another
        // program's file is refused by that open before it writes anything, and an unmarked
        // store is not ours.
        Err(
            StoreError::NotAStore { .. }
            | StoreError::NoStore { .. }
            | StoreError::BlobFileMissing { .. }
            | StoreError::NotClosedCleanly { .. },
        ) => crate::open_with(
            to,
            &crate::OpenOptions::default().created_as_copy_of(&from.location),
        )
        .map_err(|_| None)?,
        Err(_) => return Err(None),
    };
    match mark(&store) {
        Some(marked) if marked == source => Ok(store),
        marked => Err(marked),
    }
}

/// Why a backup is refused where `taken` exists: the leftover of a copy of another store
/// that did not finish (`marked` names its source) is named as such.
fn leftover(taken: &Path, marked: Option<String>) -> String {
    match marked {
        Some(source) => format!(
            "{} is left from a copy of {source} that did not finish (it is marked \
             incomplete), not of this store: remove it and its blob file, then back up again",
            taken.display()
        ),
        None => format!(
            "{} exists: a backup goes to new files only",
            taken.display()
        ),
    }
}
