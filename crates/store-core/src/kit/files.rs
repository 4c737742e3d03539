//! The file operations a durable write is made of, behind a seam: the real ones, and in tests ones
//! that fail at a chosen step, so that a crash at every point of a write can be checked
//! without killing a process.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::StoreResult;
use crate::options::StoreOptions;

/// The steps of writing a file durably (a blob, an archive day), each a point where a crash
/// or an error may strike. Stores take a `FileOps` so that tests can fail any step.
pub trait FileOps: Send + Sync {
    /// Creates `path`, which must not exist.
    fn create_new(&self, path: &Path) -> io::Result<File>;
    /// Appends `data` to `file`.
    fn write_all(&self, file: &mut File, data: &[u8]) -> io::Result<()>;
    /// Syncs `file`'s content to the disk.
    fn sync_file(&self, file: &File) -> io::Result<()>;
    /// Creates the folder `path` and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Syncs the folder `path`, so that renames into it are on the disk.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// A shared seam is the seam it shares: a test keeps one `Arc` to count or fail steps and
/// hands the store another.
impl<T: FileOps + ?Sized> FileOps for std::sync::Arc<T> {
    fn create_new(&self, path: &Path) -> io::Result<File> {
        (**self).create_new(path)
    }

    fn write_all(&self, file: &mut File, data: &[u8]) -> io::Result<()> {
        (**self).write_all(file, data)
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        (**self).sync_file(file)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        (**self).create_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        (**self).rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        (**self).sync_dir(path)
    }
}

/// The operating system's file operations.
pub struct RealFiles;

impl FileOps for RealFiles {
    fn create_new(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().write(true).create_new(true).open(path)
    }

    fn write_all(&self, file: &mut File, data: &[u8]) -> io::Result<()> {
        file.write_all(data)
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        file.sync_all()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}

/// Creates the folder `path` and its missing parents through `files`, durably: each folder
/// it creates is synced into the folder that holds it, so that a power loss cannot take
/// away a folder (and what was written into it since) that a later promise rests on.
///
/// # Errors
/// The file system's, from creating or syncing.
pub fn create_folders(files: &dyn FileOps, path: &Path) -> io::Result<()> {
    let missing = missing_folders(path);
    if missing.is_empty() {
        return Ok(());
    }
    files.create_dir_all(path)?;
    // From the outermost new folder in, each is made durable in its parent.
    for folder in missing.iter().rev() {
        files.sync_dir(folder_of(folder))?;
    }
    Ok(())
}

/// `path` and those of its parents that do not exist yet, innermost first: what creating
/// `path` with its parents makes.
pub fn missing_folders(path: &Path) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    let mut at = Some(path);
    while let Some(folder) = at.filter(|f| !f.as_os_str().is_empty() && !f.exists()) {
        missing.push(folder.to_owned());
        at = folder.parent();
    }
    missing
}

/// The folder that holds `path` (`.` for a bare file name): the one to sync for a new
/// name in it.
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates the folders above a store's file, durably ([`create_folders`]), so that opening
/// `data/nerve.db` on a fresh machine works.
///
/// # Errors
/// [`crate::StoreError::Io`] naming the folder.
pub fn create_parent_folders(path: &std::path::Path) -> StoreResult<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => {
            create_folders(&RealFiles, parent).map_err(|source| crate::StoreError::Io {
                path: Some(parent.to_owned()),
                context: "creating the store's folder".into(),
                source: source.into(),
            })
        }
        None => Ok(()),
    }
}

/// Checks what is at `path`, where a store's file is to be opened (`backend` names the
/// engine), before the engine sees it, so that each problem is named as what it is: a
/// folder in place of the file is [`crate::StoreError::NotAStore`] saying so; a folder on
/// the way that this user may not enter, or (`read_only`) a file this user may not read, is
/// [`crate::StoreError::Io`] of kind `PermissionDenied` naming the path; nothing there is
/// [`crate::StoreError::NoStore`] for a read-only open or one that may not create
/// ([`StoreOptions::create_if_missing`] `false`), and fine for one that creates.
///
/// # Errors
/// As above.
pub fn check_store_path(
    path: &Path,
    backend: &'static str,
    options: &StoreOptions,
) -> StoreResult<()> {
    let read_only = options.read_only;
    let io = |context: &str, source| crate::StoreError::Io {
        path: Some(path.to_owned()),
        context: context.to_owned(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(crate::StoreError::NotAStore {
            path: path.to_owned(),
            backend,
            reason: "it is a folder, not a file: name the store's file inside it".to_owned(),
        }),
        Ok(_) if read_only => match File::open(path) {
            Ok(_) => Ok(()),
            Err(err) => Err(io(
                "the store's file may not be read by this user",
                err.into(),
            )),
        },
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if read_only || !options.create_if_missing {
                Err(crate::StoreError::NoStore {
                    path: path.to_owned(),
                })
            } else {
                Ok(())
            }
        }
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Err(io(
            "a folder on the way to the store may not be entered by this user",
            err.into(),
        )),
        Err(err) => Err(io("looking for the store", err.into())),
    }
}

/// Syncs the folder that holds `path`, so that a file just created there (a new store's
/// file) is still there after a power loss.
///
/// # Errors
/// [`crate::StoreError::Io`] naming the folder.
pub fn sync_parent_folder(path: &Path) -> StoreResult<()> {
    let folder = folder_of(path);
    RealFiles
        .sync_dir(folder)
        .map_err(|source| crate::StoreError::Io {
            path: Some(folder.to_owned()),
            context: "syncing the folder of a new store".into(),
            source: source.into(),
        })
}
