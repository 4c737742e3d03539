//! A [`store_core::kit::FileOps`] that fails a chosen step: for crash tests through the seam.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Real file operations that fail at step `fail_at` (counting from 1), and count steps.
pub struct FailAt {
    fail_at: usize,
    steps: AtomicUsize,
    failed: std::sync::Mutex<Option<&'static str>>,
}

impl FailAt {
    /// Fails step `fail_at` (from 1); `usize::MAX` only counts.
    pub fn new(fail_at: usize) -> Self {
        FailAt {
            fail_at,
            steps: AtomicUsize::new(0),
            failed: std::sync::Mutex::new(None),
        }
    }

    fn step(&self, name: &'static str) -> io::Result<()> {
        let step = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
        if step == self.fail_at {
            *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(name);
            return Err(io::Error::other(format!(
                "injected failure at step {step} ({name})"
            )));
        }
        Ok(())
    }
}

impl store_core::kit::FileOps for FailAt {
    fn create_new(&self, path: &Path) -> io::Result<File> {
        self.step("create")?;
        store_core::kit::RealFiles.create_new(path)
    }

    fn write_all(&self, file: &mut File, data: &[u8]) -> io::Result<()> {
        self.step("write")?;
        store_core::kit::RealFiles.write_all(file, data)
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        self.step("sync file")?;
        store_core::kit::RealFiles.sync_file(file)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.step("create folder")?;
        store_core::kit::RealFiles.create_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step("rename")?;
        store_core::kit::RealFiles.rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.step("sync folder")?;
        store_core::kit::RealFiles.sync_dir(path)
    }
}

impl FailAt {
    /// How many steps were taken so far.
    pub fn steps(&self) -> usize {
        self.steps.load(Ordering::SeqCst)
    }

    /// The name of the step that was failed, if it was reached.
    pub fn failed_step(&self) -> Option<&'static str> {
        *self.failed.lock().unwrap_or_else(|p| p.into_inner())
    }
}
