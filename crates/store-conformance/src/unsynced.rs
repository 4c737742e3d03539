//! [`LosesUnsynced`]: the real file operations, and a power cut that takes away every folder
//! entry that was not synced into its folder (a file created or renamed into place, a
//! folder created), as a file system may after a power loss. For checking that every
//! promise that rests on a new name syncs the folder that holds it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use store_core::kit::{FileOps, RealFiles};

/// [`RealFiles`], remembering each entry made in a folder until that folder is synced.
#[derive(Default)]
pub struct LosesUnsynced {
    /// Entries not yet synced into their folder: files and folders.
    unsynced: Mutex<BTreeSet<PathBuf>>,
}

impl LosesUnsynced {
    /// The real file operations, nothing unsynced yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn made(&self, path: &Path) {
        self.unsynced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_owned());
    }

    /// Cuts the power: removes every entry that was not synced into its folder (a folder
    /// with everything in it), deepest first, and returns them.
    ///
    /// # Panics
    /// When an entry cannot be removed: the test cannot go on.
    pub fn cut_power(&self) -> Vec<PathBuf> {
        let lost: Vec<PathBuf> =
            std::mem::take(&mut *self.unsynced.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .collect();
        for path in lost.iter().rev() {
            if path.is_dir() {
                std::fs::remove_dir_all(path).expect("remove an unsynced folder");
            } else if path.exists() {
                std::fs::remove_file(path).expect("remove an unsynced file");
            }
        }
        lost
    }
}

impl FileOps for LosesUnsynced {
    fn create_new(&self, path: &Path) -> io::Result<File> {
        let file = RealFiles.create_new(path)?;
        self.made(path);
        Ok(file)
    }

    fn write_all(&self, file: &mut File, data: &[u8]) -> io::Result<()> {
        RealFiles.write_all(file, data)
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        RealFiles.sync_file(file)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let missing = store_core::kit::missing_folders(path);
        RealFiles.create_dir_all(path)?;
        for folder in missing {
            self.made(&folder);
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFiles.rename(from, to)?;
        let mut unsynced = self.unsynced.lock().unwrap_or_else(|p| p.into_inner());
        unsynced.remove(from);
        unsynced.insert(to.to_owned());
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        RealFiles.sync_dir(path)?;
        self.unsynced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|entry| entry.parent() != Some(path));
        Ok(())
    }
}
