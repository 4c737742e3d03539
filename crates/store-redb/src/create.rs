//! Creating a new store file so that a crash at any moment leaves either no store or the
//! whole one.
//!
//! redb initialises a new file in place: it sizes the file, writes its header, and writes
//! its magic number last. A process killed in between leaves a file that every later open
//! refuses as "not a redb database", and that nothing can tell apart from another
//! program's file. So a new store is built under a temporary name beside its final one,
//! with its schema committed, and only then linked to its name (`link` fails if the name was
//! taken meanwhile, so two processes creating the same store both end up opening one whole
//! file). A killed creator leaves only its temporary file, which a later creation sweeps.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use store_core::{StoreError, StoreResult};

/// A temporary file of a creation older than this is a killed creator's: a live one takes
/// milliseconds.
const LEFTOVER_AGE: Duration = Duration::from_secs(10 * 60);

fn io_error(path: &Path, context: &str, source: io::Error) -> StoreError {
    StoreError::Io {
        path: Some(path.to_owned()),
        context: context.to_owned(),
        source: source.into(),
    }
}

/// The prefix of the temporary names of creations of `path`: `.<name>.creating-`.
fn temporary_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    format!(".{name}.creating-")
}

fn temporary_path(path: &Path) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{}{}-{nanos}", temporary_prefix(path), std::process::id());
    path.with_file_name(name)
}

/// Makes sure a store file exists at `path`: when there is none (or an empty file, as
/// `touch` leaves), `build` makes a whole new store at a temporary path, which then takes
/// the name. A non-empty file is left for the open to judge, whatever it is.
pub(crate) fn ensure_created(
    path: &Path,
    build: impl FnOnce(&Path) -> StoreResult<()>,
) -> StoreResult<()> {
    let empty = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > 0 => return Ok(()),
        Ok(_) => true,
        Err(err) if err.kind() == io::ErrorKind::NotFound => false,
        Err(err) => return Err(io_error(path, "looking for the store's file", err)),
    };
    sweep_leftovers(path);
    let temporary = temporary_path(path);
    let created = build(&temporary).and_then(|()| {
        if empty {
            replace_empty(&temporary, path)
        } else {
            link_into_place(&temporary, path)
        }
    });
    // Linked, renamed or failed, the temporary name is not needed any more.
    let _ = std::fs::remove_file(&temporary);
    created?;
    // The new name is durable once the folder that holds it is synced.
    store_core::kit::sync_parent_folder(path)
}

/// Gives `temporary` the name `path` unless another process gave it one first, in which
/// case that store is the one to open.
fn link_into_place(temporary: &Path, path: &Path) -> StoreResult<()> {
    match std::fs::hard_link(temporary, path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: a rename, checked first; two processes creating
        // the same store at the same instant there could each open their own.
        Err(_) if !path.exists() => std::fs::rename(temporary, path)
            .map_err(|err| io_error(path, "moving a new store into place", err)),
        Err(_) => Ok(()),
    }
}

/// Renames `temporary` over the empty file at `path`, holding a lock on that file so that
/// of several processes doing this at once one replaces it and the others open its store.
#[cfg(unix)]
fn replace_empty(temporary: &Path, path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::MetadataExt;
    let empty =
        File::open(path).map_err(|err| io_error(path, "opening the empty store file", err))?;
    empty
        .lock()
        .map_err(|err| io_error(path, "locking the empty store file", err))?;
    let held = empty
        .metadata()
        .map_err(|err| io_error(path, "reading the empty store file", err))?;
    let still_the_same = std::fs::metadata(path)
        .is_ok_and(|now| now.ino() == held.ino() && now.dev() == held.dev() && now.len() == 0);
    if still_the_same {
        std::fs::rename(temporary, path)
            .map_err(|err| io_error(path, "moving a new store over an empty file", err))?;
    }
    Ok(())
}

/// Without inode numbers to compare, an empty file is left to redb to initialise in place.
#[cfg(not(unix))]
fn replace_empty(_temporary: &Path, _path: &Path) -> StoreResult<()> {
    Ok(())
}

/// Removes temporary files of creations of `path` that a killed process left behind.
fn sweep_leftovers(path: &Path) {
    let prefix = temporary_prefix(path);
    let Ok(entries) = std::fs::read_dir(store_core::kit::folder_of(path)) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let ours = entry.file_name().to_string_lossy().starts_with(&prefix);
        let old = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| {
                now.duration_since(modified)
                    .is_ok_and(|age| age > LEFTOVER_AGE)
            });
        if ours && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
