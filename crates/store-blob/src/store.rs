//! `FsBlobStore`: blobs as files named by their sha256.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use store_core::{
    BlobInfo, BlobStore, Digest, StoreError, StoreResult,
    kit::{FileOps, Hasher, RealFiles, VerifyingReader},
};

/// The folder under the root where writes are staged before their rename.
const STAGING: &str = "tmp";

/// The file whose modification time is when the store began to age its blobs.
const AGED_SINCE: &str = ".aged-since";

/// The file writers and the collector take turns on, in the store's root.
const COLLECTOR_LOCK: &str = ".collector.lock";
/// How much of a source a write reads at a time; the most memory a write holds.
const CHUNK: usize = 256 * 1024;
/// Temporary files older than this are a killed writer's, and swept at open.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60 * 60);

/// A [`BlobStore`] of plain files: blob `d` lives at `<root>/<first 2 hex of d>/<other 62>`.
///
/// A write streams its source into a temporary file under `<root>/tmp`, hashing as it
/// goes, syncs it, renames it to its name and syncs the folder: a crash at any point leaves
/// either nothing under the name or the whole blob. After a sync fails the store refuses
/// further writes ([`StoreError::Poisoned`]) until it is reopened, since what reached the
/// disk is unknown. Temporary files of killed writers are swept when older than a grace
/// period, at open or by [`FsBlobStore::sweep`].
///
/// ```
/// use store_core::BlobStore;
/// use store_blob::FsBlobStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let blobs = FsBlobStore::open(dir.path().join("blobs"))?;
/// let digest = blobs.write(b"model output")?;
/// assert_eq!(blobs.read(&digest)?.as_deref(), Some(&b"model output"[..]));
/// # Ok(())
/// # }
/// ```
pub struct FsBlobStore {
    root: PathBuf,
    files: Box<dyn FileOps>,
    poisoned: Mutex<Option<String>>,
    next_temp: AtomicU64,
    read_only: bool,
}

impl std::fmt::Debug for FsBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsBlobStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path, context: &str, source: io::Error) -> StoreError {
    StoreError::Io {
        path: Some(path.to_owned()),
        context: context.to_owned(),
        source: source.into(),
    }
}

impl FsBlobStore {
    /// Opens the store at `root`, creating the folder if missing, and sweeps temporary files
    /// older than [`DEFAULT_GRACE`].
    ///
    /// # Errors
    /// [`StoreError::Io`] when the folder cannot be made or read.
    pub fn open(root: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with_files(root.as_ref(), Box::new(RealFiles))
    }

    /// Opens the store at `root` doing its file operations through `files`: the seam that
    /// lets a test fail any step of a write. [`FsBlobStore::open`] uses [`RealFiles`].
    ///
    /// # Errors
    /// As [`FsBlobStore::open`].
    pub fn open_with_files(root: &Path, files: Box<dyn FileOps>) -> StoreResult<Self> {
        // Durably: a blob written into a new store must not lose its folder to a power cut.
        store_core::kit::create_folders(files.as_ref(), &root.join(STAGING))
            .map_err(|err| io_error(root, "creating the blob store's folders", err))?;
        let store = FsBlobStore {
            root: root.to_owned(),
            files,
            poisoned: Mutex::new(None),
            next_temp: AtomicU64::new(0),
            read_only: false,
        };
        store.sweep(DEFAULT_GRACE)?;
        store.mark_aged_since()?;
        Ok(store)
    }

    /// Creates the marker whose modification time is when this store began to age its
    /// blobs, unless it is there: a blob file older than it was written before (by a build
    /// that kept no references), and garbage collection never removes it.
    fn mark_aged_since(&self) -> StoreResult<()> {
        let marker = self.root.join(AGED_SINCE);
        if std::fs::symlink_metadata(&marker).is_ok() {
            return Ok(());
        }
        // Straight to the file system, not through the seam a write's steps are failed on:
        // it is the open's, and a lost marker only makes the store's blobs unaged.
        match File::create_new(&marker) {
            Ok(file) => file
                .sync_all()
                .and_then(|()| File::open(&self.root)?.sync_all())
                .map_err(|err| io_error(&marker, "marking when blobs are aged from", err)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(err) => Err(io_error(&marker, "marking when blobs are aged from", err)),
        }
    }

    /// When this store began to age its blobs (the marker's modification time, from the
    /// clock blob files are stamped by); `None` when it has no marker (only a read-only open
    /// has seen it since), and then no blob has a known age.
    fn aged_since(&self) -> StoreResult<Option<SystemTime>> {
        let marker = self.root.join(AGED_SINCE);
        match std::fs::symlink_metadata(&marker) {
            Ok(meta) => meta
                .modified()
                .map(Some)
                .map_err(|err| io_error(&marker, "reading when blobs are aged from", err)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_error(&marker, "reading when blobs are aged from", err)),
        }
    }

    /// Opens the existing store at `root` for reading only: nothing is created or swept,
    /// the folder may be read-only to this process, and writes and deletes return
    /// [`StoreError::OpenedReadOnly`].
    ///
    /// # Errors
    /// [`StoreError::NoStore`] when there is no folder at `root`; [`StoreError::Io`] when
    /// it cannot be read.
    pub fn open_read_only(root: impl AsRef<Path>) -> StoreResult<Self> {
        let root = root.as_ref();
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(io_error(
                    root,
                    "opening the blob store",
                    io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
                ));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NoStore {
                    path: root.to_owned(),
                });
            }
            Err(err) => return Err(io_error(root, "opening the blob store", err)),
        }
        Ok(FsBlobStore {
            root: root.to_owned(),
            files: Box::new(RealFiles),
            poisoned: Mutex::new(None),
            next_temp: AtomicU64::new(0),
            read_only: true,
        })
    }

    fn check_writable(&self, operation: &'static str) -> StoreResult<()> {
        if self.read_only {
            return Err(StoreError::OpenedReadOnly {
                path: self.root.clone(),
                operation,
            });
        }
        Ok(())
    }

    /// The folder the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of blob `digest` (whether or not it exists).
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join(&hex[..2]).join(&hex[2..])
    }

    /// Deletes the temporary files of writes that started more than `older_than` ago and
    /// have not written since: a killed writer's leftovers, never a live writer's (a writer
    /// touches its file with every chunk it writes). Returns how many were deleted.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the staging folder cannot be read.
    pub fn sweep(&self, older_than: Duration) -> StoreResult<usize> {
        let staging = self.root.join(STAGING);
        let entries = std::fs::read_dir(&staging)
            .map_err(|err| io_error(&staging, "listing temporary files", err))?;
        let now = SystemTime::now();
        let mut swept = 0;
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| {
                    now.duration_since(modified)
                        .is_ok_and(|age| age > older_than)
                });
            if stale && std::fs::remove_file(entry.path()).is_ok() {
                swept += 1;
            }
        }
        Ok(swept)
    }

    fn check_poisoned(&self) -> StoreResult<()> {
        let poisoned = self.poisoned.lock().unwrap_or_else(|p| p.into_inner());
        match poisoned.as_ref() {
            Some(cause) => Err(StoreError::Poisoned {
                path: self.root.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records a failed sync: from now on, writes are refused.
    fn poison(&self, path: &Path, err: io::Error) -> StoreError {
        let cause = format!("syncing {} failed: {err}", path.display());
        *self.poisoned.lock().unwrap_or_else(|p| p.into_inner()) = Some(cause);
        io_error(path, "syncing a blob", err)
    }

    /// The open file of blob `digest` and its size; `None` when there is no file. Only a
    /// regular file is a blob: a link, a FIFO, a device or a folder under a blob's name is
    /// [`StoreError::Corrupt`] at once, never followed, waited on or read without end.
    fn blob_file(&self, digest: &Digest) -> StoreResult<Option<(File, u64)>> {
        let path = self.path_of(digest);
        let file = match open_no_follow(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            // A link under the name (O_NOFOLLOW) or a folder there.
            Err(err)
                if err.raw_os_error() == Some(LINK_REFUSED)
                    || err.kind() == io::ErrorKind::IsADirectory =>
            {
                return Err(StoreError::Corrupt { digest: *digest });
            }
            Err(err) => return Err(io_error(&path, "opening a blob", err)),
        };
        let meta = file
            .metadata()
            .map_err(|err| io_error(&path, "reading a blob's size", err))?;
        if !meta.file_type().is_file() {
            return Err(StoreError::Corrupt { digest: *digest });
        }
        Ok(Some((file, meta.len())))
    }

    /// The lock between writers (shared, around the rename that puts a blob in place) and
    /// the collector (exclusive, around the look at a blob's age and its removal), on
    /// `<root>/.collector.lock`; the operating system releases it when a process dies.
    fn collector_lock(&self, exclusive: bool) -> StoreResult<File> {
        let path = self.root.join(COLLECTOR_LOCK);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| io_error(&path, "opening the collector's lock", err))?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|err| io_error(&path, "taking the collector's lock", err))?;
        Ok(file)
    }

    /// Removes the blob `digest` if its file is older than `cutoff` and not older than
    /// `since` (the store's `.aged-since`); the bytes freed, or `None` when it is kept. The
    /// caller holds the collector's lock.
    fn collect_one(
        &self,
        digest: &Digest,
        cutoff: DateTime<Utc>,
        since: Option<SystemTime>,
    ) -> StoreResult<Option<u64>> {
        let path = self.path_of(digest);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_file() => meta,
            Ok(_) => return Ok(None),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io_error(&path, "reading a blob's age", err)),
        };
        let written_at = meta
            .modified()
            .map_err(|err| io_error(&path, "reading a blob's age", err))?;
        let aged = since.is_some_and(|since| written_at >= since);
        if !aged || DateTime::<Utc>::from(written_at) >= cutoff {
            return Ok(None);
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io_error(&path, "collecting a blob", err)),
        }
        if let Some(folder) = path.parent() {
            self.files
                .sync_dir(folder)
                .map_err(|err| io_error(folder, "syncing a blob folder", err))?;
        }
        Ok(Some(meta.len()))
    }

    fn temp_path(&self) -> PathBuf {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.root
            .join(STAGING)
            .join(format!("{}-{nanos}-{n}.tmp", std::process::id()))
    }

    /// Streams `source` into the temporary file `temp`; returns its digest.
    fn stage(&self, source: &mut dyn Read, temp: &Path) -> StoreResult<Digest> {
        let mut file = self
            .files
            .create_new(temp)
            .map_err(|err| io_error(temp, "creating a temporary file", err))?;
        let mut hasher = Hasher::new();
        let mut buffer = vec![0; CHUNK];
        loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(io_error(
                        Path::new("(the blob's source)"),
                        "reading the source",
                        err,
                    ));
                }
            };
            hasher.update(&buffer[..n]);
            self.files
                .write_all(&mut file, &buffer[..n])
                .map_err(|err| io_error(temp, "writing a temporary file", err))?;
        }
        self.files
            .sync_file(&file)
            .map_err(|err| self.poison(temp, err))?;
        Ok(hasher.finish())
    }

    /// Moves the synced temporary file to its name. The new copy, hashed as it was written,
    /// always takes the name, even when a file is there already: whatever was there (the
    /// same content, a damaged copy, a link or a FIFO put in its place) is replaced, so a
    /// write that returns leaves a whole blob under its digest. Checking the old copy would
    /// cost a read of the whole blob; replacing it costs a rename and a folder sync.
    fn publish(&self, temp: &Path, digest: &Digest) -> StoreResult<()> {
        let target = self.path_of(digest);
        let folder = target.parent().unwrap_or(&self.root).to_owned();
        let new_folder = !folder.exists();
        self.files
            .create_dir_all(&folder)
            .map_err(|err| io_error(&folder, "creating a blob folder", err))?;
        if new_folder {
            self.files
                .sync_dir(&self.root)
                .map_err(|err| self.poison(&self.root, err))?;
        }
        // Shared with other writers, exclusive of a collector's look-then-remove: a blob a
        // collector found old is not replaced between its look and its removal.
        let _writing = self.collector_lock(false)?;
        self.files
            .rename(temp, &target)
            .map_err(|err| io_error(&target, "renaming a blob into place", err))?;
        self.files
            .sync_dir(&folder)
            .map_err(|err| self.poison(&folder, err))
    }
}

impl BlobStore for FsBlobStore {
    fn write_from(&self, source: &mut dyn Read) -> StoreResult<Digest> {
        self.check_writable("write a blob")?;
        self.check_poisoned()?;
        let temp = self.temp_path();
        let written = self
            .stage(source, &temp)
            .and_then(|digest| self.publish(&temp, &digest).map(|()| digest));
        if written.is_err() {
            // Best effort: a leftover is swept later; nothing under a blob's name refers to it.
            let _ = std::fs::remove_file(&temp);
        }
        written
    }

    /// Reads the file whole, sized from its metadata, and re-hashes it.
    fn read(&self, digest: &Digest) -> StoreResult<Option<Vec<u8>>> {
        let Some((mut file, size)) = self.blob_file(digest)? else {
            return Ok(None);
        };
        let path = self.path_of(digest);
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut data)
            .map_err(|err| io_error(&path, "reading a blob", err))?;
        if Digest::of(&data) == *digest {
            Ok(Some(data))
        } else {
            Err(StoreError::Corrupt { digest: *digest })
        }
    }

    fn open(&self, digest: &Digest) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        Ok(self.blob_file(digest)?.map(|(file, _)| {
            Box::new(VerifyingReader::new(
                BufReader::with_capacity(CHUNK, file),
                *digest,
            )) as Box<dyn Read + Send>
        }))
    }

    fn len(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        let path = self.path_of(digest);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_file() => Ok(Some(meta.len())),
            Ok(_) => Err(StoreError::Corrupt { digest: *digest }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_error(&path, "reading a blob's size", err)),
        }
    }

    fn delete(&self, digest: &Digest) -> StoreResult<bool> {
        self.check_writable("delete a blob")?;
        let path = self.path_of(digest);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                if let Some(folder) = path.parent() {
                    let _ = self.files.sync_dir(folder);
                }
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(io_error(&path, "deleting a blob", err)),
        }
    }

    /// A blob's write time is its file's modification time: the temporary file a write
    /// renames into place was written just before, so writing content stored already
    /// renews it. A file older than the store's `.aged-since` marker (made by the first open
    /// for writing of a build that keeps references) has no known age.
    fn inventory(&self) -> StoreResult<Vec<BlobInfo>> {
        let since = self.aged_since()?;
        let mut out = Vec::new();
        for digest in self.list()? {
            let path = self.path_of(&digest);
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_file() => meta,
                // Gone since the listing, or not a blob's file (named `Corrupt` by a read).
                Ok(_) => continue,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io_error(&path, "reading a blob's age", err)),
            };
            let written_at = meta
                .modified()
                .map_err(|err| io_error(&path, "reading a blob's age", err))?;
            out.push(BlobInfo {
                digest,
                len: meta.len(),
                written_at: since
                    .filter(|since| written_at >= *since)
                    .map(|_| DateTime::<Utc>::from(written_at)),
            });
        }
        Ok(out)
    }

    /// Under the collector's lock, held for the whole step and exclusive of every writer's
    /// rename: the file looked at is the file removed.
    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        self.check_writable("delete a blob")?;
        let _collecting = self.collector_lock(true)?;
        let since = self.aged_since()?;
        digests
            .iter()
            .map(|digest| self.collect_one(digest, cutoff, since))
            .collect()
    }

    fn list(&self) -> StoreResult<Vec<Digest>> {
        let mut digests = Vec::new();
        let folders = std::fs::read_dir(&self.root)
            .map_err(|err| io_error(&self.root, "listing blobs", err))?;
        for folder in folders {
            let folder = folder.map_err(|err| io_error(&self.root, "listing blobs", err))?;
            let prefix = folder.file_name().to_string_lossy().into_owned();
            if prefix.len() != 2 || !folder.path().is_dir() {
                continue;
            }
            let files = std::fs::read_dir(folder.path())
                .map_err(|err| io_error(&folder.path(), "listing blobs", err))?;
            for file in files.flatten() {
                // Anything that is not named like a blob is not one of ours: left alone.
                let name = format!("{prefix}{}", file.file_name().to_string_lossy());
                if let Ok(digest) = name.parse::<Digest>() {
                    digests.push(digest);
                }
            }
        }
        digests.sort();
        Ok(digests)
    }
}

/// The error `open` gives for a link under `O_NOFOLLOW`.
#[cfg(unix)]
const LINK_REFUSED: i32 = libc::ELOOP;
#[cfg(not(unix))]
const LINK_REFUSED: i32 = i32::MIN;

/// Opens `path` to read without following a link in its last component and without waiting
/// for a writer if it is a FIFO (a regular file reads the same with `O_NONBLOCK`).
fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options.open(path)
}
