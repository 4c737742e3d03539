//! The archive's lock: one run at a time writes to an archive.

use std::fs::File;
use std::path::Path;

use store_core::{StoreError, StoreResult};

/// The name of the lock file in the archive's `logs` folder.
const LOCK_FILE: &str = ".archive.lock";

/// Takes the archive's lock for `doing` (what the error says was refused: `archiving`,
/// `dropping days`): one run at a time writes day files and the manifest, since two would
/// replace each other's temporary files. An advisory lock of the operating system, so a
/// killed run never leaves it held.
pub(crate) fn lock_archive(folder: &Path, doing: &str) -> StoreResult<File> {
    let path = folder.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| StoreError::Io {
            path: Some(path.clone()),
            context: "opening the archive's lock".into(),
            source: err.into(),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Busy {
            context: format!("{doing}: another archive run holds {}", path.display()),
            source: store_core::kit::engine_message("the archive is locked"),
        }),
        Err(std::fs::TryLockError::Error(err)) => Err(StoreError::Io {
            path: Some(path),
            context: "locking the archive".into(),
            source: err.into(),
        }),
    }
}
