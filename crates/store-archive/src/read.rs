//! Reading archive files back: one day file line by line, and a range of days as one
//! stream of entries.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines, Read};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use sha2::{Digest as _, Sha256};
use store_core::{Digest, LogEntry, LogId, StoreError, StoreResult, ThreadIndexRow};

/// A day file read one line at a time; each line is parsed before it is handed on, so a
/// malformed or cut line is an error naming the file and line, never skipped.
pub(crate) struct DayFile {
    path: PathBuf,
    day: NaiveDate,
    lines: Lines<Box<dyn BufRead + Send>>,
    line: u64,
    next: Option<(LogEntry, String, LineExtras)>,
    last_id: Option<LogId>,
}

impl DayFile {
    /// Opens the file of `day`. Only a regular file (or a link to one) is a day file: a
    /// FIFO or a device in its place is refused at once rather than read from forever.
    pub(crate) fn open(path: &Path, day: NaiveDate) -> StoreResult<Self> {
        Self::open_buffered(path, day, 256 * 1024, None)
    }

    /// [`DayFile::open`] that also hashes the file's bytes as its lines are read: the
    /// SHA-256 and the count of the bytes read so far, in the answer's second half.
    pub(crate) fn open_hashed(path: &Path, day: NaiveDate) -> StoreResult<(Self, FileDigest)> {
        let digest = FileDigest::default();
        let file = Self::open_buffered(path, day, 256 * 1024, Some(digest.clone()))?;
        Ok((file, digest))
    }

    /// [`DayFile::open`] with a read buffer of `capacity` bytes, the file's bytes hashed
    /// into `digest` when there is one.
    fn open_buffered(
        path: &Path,
        day: NaiveDate,
        capacity: usize,
        digest: Option<FileDigest>,
    ) -> StoreResult<Self> {
        let io_error = |source: std::io::Error| StoreError::Io {
            path: Some(path.to_owned()),
            context: "opening an archive file".into(),
            source: source.into(),
        };
        let kind = std::fs::metadata(path).map_err(io_error)?.file_type();
        if !kind.is_file() {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("not a regular file but {kind:?}"),
            )));
        }
        let file = File::open(path).map_err(io_error)?;
        let file: Box<dyn Read + Send> = match digest {
            Some(digest) => Box::new(Hashing {
                inner: file,
                digest,
            }),
            None => Box::new(file),
        };
        Self::over(path, day, file, capacity)
    }

    fn over(
        path: &Path,
        day: NaiveDate,
        source: Box<dyn Read + Send>,
        capacity: usize,
    ) -> StoreResult<Self> {
        let reader: Box<dyn BufRead + Send> = if is_compressed(path) {
            let decoder = zstd::Decoder::new(source)
                .map_err(|err| StoreError::io(path, "opening an archive file", err))?;
            Box::new(BufReader::with_capacity(capacity, decoder))
        } else {
            Box::new(BufReader::with_capacity(capacity, source))
        };
        Ok(DayFile {
            path: path.to_owned(),
            day,
            lines: reader.lines(),
            line: 0,
            next: None,
            last_id: None,
        })
    }

    pub(crate) fn open_if_exists(path: &Path, day: NaiveDate) -> StoreResult<Option<Self>> {
        if std::fs::symlink_metadata(path).is_ok() {
            Self::open(path, day).map(Some)
        } else {
            Ok(None)
        }
    }

    fn bad_line(&self, reason: impl Into<String>) -> StoreError {
        StoreError::ArchiveLine {
            path: self.path.clone(),
            line: self.line,
            reason: reason.into(),
        }
    }

    /// Reads the next line into `next`, unless one is waiting.
    fn fill(&mut self) -> StoreResult<()> {
        if self.next.is_some() {
            return Ok(());
        }
        let Some(line) = self.lines.next() else {
            return Ok(());
        };
        self.line += 1;
        let line = line.map_err(|err| self.bad_line(format!("unreadable: {err}")))?;
        let entry: LogEntry =
            serde_json::from_str(&line).map_err(|err| self.bad_line(err.to_string()))?;
        if entry.ts.date_naive() != self.day {
            return Err(self.bad_line(format!(
                "entry {} is of {}, not of the file's day {}",
                entry.id,
                entry.ts.date_naive(),
                self.day
            )));
        }
        if self.last_id.is_some_and(|last| last >= entry.id) {
            return Err(self.bad_line(format!(
                "id {} does not follow id {}",
                entry.id,
                self.last_id.unwrap_or_default()
            )));
        }
        // What the archive writes beside an entry: only a line that names one is read
        // twice (a payload that holds the words costs a second read, nothing more).
        let extras = if line.contains("\"thread\":") || line.contains("\"blobs\":") {
            serde_json::from_str(&line).map_err(|err| self.bad_line(err.to_string()))?
        } else {
            LineExtras::default()
        };
        self.last_id = Some(entry.id);
        self.next = Some((entry, line, extras));
        Ok(())
    }

    /// The id of the next entry, without taking it.
    pub(crate) fn peek_id(&mut self) -> StoreResult<Option<LogId>> {
        self.fill()?;
        Ok(self.next.as_ref().map(|(entry, ..)| entry.id))
    }

    /// The next line as it is in the file, with the blobs it references, once
    /// [`DayFile::peek_id`] has read it.
    pub(crate) fn take(&mut self) -> Option<(String, Vec<Digest>)> {
        self.next
            .take()
            .map(|(_, line, extras)| (line, extras.blobs))
    }

    /// The next entry with what its line carries beside it: its thread-index row, if it is
    /// a thread message, and the blobs it references.
    pub(crate) fn next_archived(&mut self) -> StoreResult<Option<ArchivedEntry>> {
        self.fill()?;
        let Some((entry, _, extras)) = self.next.take() else {
            return Ok(None);
        };
        let thread = extras.thread.map(|thread| ThreadIndexRow {
            log_id: entry.id,
            thread_id: thread.id,
            round: thread.round,
            role: thread.role,
        });
        Ok(Some(ArchivedEntry {
            entry,
            thread,
            blobs: extras.blobs,
        }))
    }

    /// The next entry.
    pub(crate) fn next_entry(&mut self) -> StoreResult<Option<LogEntry>> {
        self.fill()?;
        Ok(self.next.take().map(|(entry, ..)| entry))
    }
}

/// Where a thread message sits, as its archive line carries it (`"thread":{"id":…,"round":…,
/// "role":…}`): what a restore indexes it by again.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ThreadOfLine {
    id: String,
    round: u32,
    role: String,
}

/// What an archive line carries beside its entry, every other member passed over.
#[derive(Default, serde::Deserialize)]
struct LineExtras {
    #[serde(default)]
    thread: Option<ThreadOfLine>,
    #[serde(default)]
    blobs: Vec<Digest>,
}

/// An entry as a day file holds it: the entry, its thread row if it is a thread message,
/// and the blobs it references.
pub(crate) struct ArchivedEntry {
    pub(crate) entry: LogEntry,
    pub(crate) thread: Option<ThreadIndexRow>,
    pub(crate) blobs: Vec<Digest>,
}

/// An archive line as the archive writes it: the entry's members, then its thread row's
/// when it is a thread message, then the blobs it references when it references any.
#[derive(serde::Serialize)]
pub(crate) struct ArchiveLine<'a> {
    #[serde(flatten)]
    entry: &'a LogEntry,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread: Option<ThreadOfLine>,
    #[serde(skip_serializing_if = "<[Digest]>::is_empty")]
    blobs: &'a [Digest],
}

impl<'a> ArchiveLine<'a> {
    /// The line of `entry`, whose thread-index row is `row` and which references `blobs`.
    pub(crate) fn new(
        entry: &'a LogEntry,
        row: Option<ThreadIndexRow>,
        blobs: &'a [Digest],
    ) -> Self {
        ArchiveLine {
            entry,
            thread: row.map(|row| ThreadOfLine {
                id: row.thread_id,
                round: row.round,
                role: row.role,
            }),
            blobs,
        }
    }
}

/// The SHA-256 of the bytes a [`Hashing`] reader has passed on, and how many there were;
/// shared with the reader, which a day file's line reader owns.
#[derive(Clone, Default)]
pub(crate) struct FileDigest(Arc<Mutex<(Sha256, u64)>>);

impl FileDigest {
    /// The hash and the count of the bytes read so far.
    pub(crate) fn read_so_far(&self) -> (Sha256, u64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A reader that hashes what passes through it into a [`FileDigest`].
struct Hashing<R> {
    inner: R,
    digest: FileDigest,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        let mut digest = self.digest.0.lock().unwrap_or_else(|p| p.into_inner());
        digest.0.update(&buffer[..read]);
        digest.1 += read as u64;
        Ok(read)
    }
}

/// The suffix of a day file compressed with zstd.
pub(crate) const COMPRESSED: &str = ".jsonl.zst";

/// Whether the day file `path` is compressed (named `YYYY-MM-DD.jsonl.zst`).
pub(crate) fn is_compressed(path: &Path) -> bool {
    path.to_string_lossy().ends_with(COMPRESSED)
}

/// How many hex digits of its SHA-256 an object-storage day file's name carries.
pub(crate) const NAME_TOKEN: usize = 16;

/// The day a file is named for: `YYYY-MM-DD.jsonl[.zst]`, or the form an archive on object
/// storage gives each version of a day, `YYYY-MM-DD.<16 hex digits>.jsonl[.zst]`.
pub(crate) fn day_of_file(name: &str) -> Option<NaiveDate> {
    let stem = name
        .strip_suffix(COMPRESSED)
        .or_else(|| name.strip_suffix(".jsonl"))?;
    let date = match stem.split_once('.') {
        Some((date, token))
            if token.len() == NAME_TOKEN && token.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            date
        }
        Some(_) => return None,
        None => stem,
    };
    date.parse().ok()
}

/// The day files of `<dir>/logs` for the days in `days`, in date order.
pub(crate) fn day_files(
    dir: &Path,
    days: &RangeInclusive<NaiveDate>,
) -> StoreResult<Vec<(NaiveDate, PathBuf)>> {
    let folder = dir.join("logs");
    let mut files: Vec<(NaiveDate, PathBuf)> = Vec::new();
    match std::fs::read_dir(&folder) {
        Ok(entries) => {
            for entry in entries.flatten() {
                if let Some(day) = day_of_file(&entry.file_name().to_string_lossy())
                    && days.contains(&day)
                {
                    files.push((day, entry.path()));
                }
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::Io {
                path: Some(folder),
                context: "listing the archive".into(),
                source: source.into(),
            });
        }
    }
    files.sort();
    // A day has one file, plain or compressed: two would be read twice.
    if let Some(pair) = files.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(StoreError::Io {
            path: Some(pair[1].1.clone()),
            context: format!(
                "reading the archive: the day {} has two files, {} and this one; keep the one \
                 the manifest names",
                pair[0].0,
                pair[0].1.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists).into(),
        });
    }
    Ok(files)
}

/// Streams every archived entry of the days in `days`, day by day in date order and within
/// a day in id order, from `<dir>/logs/YYYY-MM-DD.jsonl`. Days without a file are skipped.
///
/// # Errors
/// Each item is an entry or the error that ends the stream: [`StoreError::ArchiveLine`]
/// naming the file and line of a malformed or truncated line, or [`StoreError::Io`].
pub fn read_archive(
    dir: impl AsRef<Path>,
    days: RangeInclusive<NaiveDate>,
) -> impl Iterator<Item = StoreResult<LogEntry>> {
    let (mut failed, files) = match day_files(dir.as_ref(), &days) {
        Ok(files) => (None, files),
        Err(err) => (Some(err), Vec::new()),
    };
    let mut files = files.into_iter();
    let mut current: Option<DayFile> = None;
    let mut done = false;
    std::iter::from_fn(move || {
        if let Some(err) = failed.take() {
            done = true;
            return Some(Err(err));
        }
        while !done {
            if let Some(file) = current.as_mut() {
                match file.next_entry() {
                    Ok(Some(entry)) => return Some(Ok(entry)),
                    Ok(None) => current = None,
                    Err(err) => {
                        done = true;
                        return Some(Err(err));
                    }
                }
            }
            match files.next() {
                Some((day, path)) => match DayFile::open(&path, day) {
                    Ok(file) => current = Some(file),
                    Err(err) => {
                        done = true;
                        return Some(Err(err));
                    }
                },
                None => done = true,
            }
        }
        None
    })
}

/// Streams every archived entry of the days in `days` in id order across all of them, as
/// the store itself lists entries: a day's late arrivals, archived by a later run with
/// higher ids, come where their ids put them. The day files are read side by side, one
/// line of each held at a time, so memory does not grow with the days.
///
/// # Errors
/// As [`read_archive`].
pub fn read_archive_by_id(
    dir: impl AsRef<Path>,
    days: RangeInclusive<NaiveDate>,
) -> impl Iterator<Item = StoreResult<LogEntry>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let mut failed = None;
    let mut open: Vec<DayFile> = Vec::new();
    match day_files(dir.as_ref(), &days) {
        Ok(files) => {
            for (day, path) in files {
                // Small buffers: every day of the range is open at once.
                match DayFile::open_buffered(&path, day, 16 * 1024, None) {
                    Ok(file) => open.push(file),
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                }
            }
        }
        Err(err) => failed = Some(err),
    }
    let mut heap: Option<BinaryHeap<(Reverse<LogId>, usize)>> = None;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        if let Some(err) = failed.take() {
            done = true;
            return Some(Err(err));
        }
        let mut step = || -> StoreResult<Option<LogEntry>> {
            let heap = match &mut heap {
                Some(heap) => heap,
                None => {
                    let mut first = BinaryHeap::new();
                    for (index, file) in open.iter_mut().enumerate() {
                        if let Some(id) = file.peek_id()? {
                            first.push((Reverse(id), index));
                        }
                    }
                    heap.insert(first)
                }
            };
            let Some((_, index)) = heap.pop() else {
                return Ok(None);
            };
            let entry = open[index].next_entry()?;
            if let Some(id) = open[index].peek_id()? {
                heap.push((Reverse(id), index));
            }
            Ok(entry)
        };
        match step() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                done = true;
                None
            }
            Err(err) => {
                done = true;
                Some(Err(err))
            }
        }
    })
}
