//! The file operations a durable write is made of, behind a seam: the real ones, and in tests ones
//! that fail at a chosen step, so that a crash at every point of a write can be checked
//! without killing a process.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::StoreResult;

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

/// Creates the folders above a store's file, so that opening `data/nerve.db` on a fresh
/// machine works.
///
/// # Errors
/// [`crate::StoreError::Io`] naming the folder.
pub fn create_parent_folders(path: &std::path::Path) -> StoreResult<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|source| crate::StoreError::Io {
            path: Some(parent.to_owned()),
            context: "creating the store's folder".into(),
            source,
        }),
        None => Ok(()),
    }
}
