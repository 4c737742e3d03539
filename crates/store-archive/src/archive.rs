//! `archive_logs`: old log days out of the store, into one JSON-lines file per day.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use store_core::{
    DaySpan, Digest, LogId, LogMaintenance, StoreError, StoreResult,
    kit::{DayEntry, FileOps, RealFiles, day_stream_archived},
};

use crate::lock::lock_archive;
use crate::manifest::{DayRecord, Manifest};
use crate::read::{ArchiveLine, COMPRESSED, DayFile, is_compressed};
use sha2::{Digest as _, Sha256};

/// The meta key that records the latest archived day (`YYYY-MM-DD`).
pub const WATERMARK_KEY: &str = "nerve.archive.logs.watermark";

/// What to archive, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveOptions {
    /// The archive's folder; day files go to `<dir>/logs/YYYY-MM-DD.jsonl`.
    /// `data/archive` by default.
    pub dir: PathBuf,
    /// Days kept in the store: a day is archived only when it is more than this many days
    /// before `now`'s day. 30 by default.
    pub retain_days: u32,
    /// Give the freed space back afterwards (`LogMaintenance::compact`); off by default.
    pub vacuum: bool,
    /// Write new day files compressed with zstd (`YYYY-MM-DD.jsonl.zst`); off by default. A
    /// day that has a file already keeps its file's form.
    pub compress: bool,
    /// Report what would move, and move nothing.
    pub dry_run: bool,
    /// The time the run counts from; the current time by default.
    pub now: DateTime<Utc>,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            dir: PathBuf::from("data/archive"),
            retain_days: 30,
            vacuum: false,
            compress: false,
            dry_run: false,
            now: Utc::now(),
        }
    }
}

/// What happened to one day. Serialises with camelCase names, `rows` as `entries`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayReport {
    /// The UTC day.
    pub day: NaiveDate,
    /// Entries that left the store for the day's file (would leave, in a dry run): the
    /// count the store's deletion returned.
    #[serde(rename = "entries")]
    pub rows: u64,
    /// Of those, the entries the day's file held already, written by a run interrupted
    /// before it deleted them from the store.
    pub recovered: u64,
    /// Bytes those entries take in the file, before any compression.
    pub bytes: u64,
    /// The day's file.
    pub file: PathBuf,
}

/// What a run did. Serialises with camelCase names, `rows` as `entries`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveReport {
    /// Every day that was (or, in a dry run, would be) archived, oldest first.
    pub days: Vec<DayReport>,
    /// Entries that left the store, all days together.
    #[serde(rename = "entries")]
    pub rows: u64,
    /// Of those, the entries already in their day's file from an interrupted run.
    pub recovered: u64,
    /// Bytes those entries take in the files, all days together.
    pub bytes: u64,
    /// Whether the run stopped early because its progress callback asked it to: the days
    /// in `days` are done, the rest are left for the next run.
    pub interrupted: bool,
    /// The first day not eligible: every archived day is before it.
    pub cutoff: Option<NaiveDate>,
    /// Whether the run moved nothing because it was asked not to.
    pub dry_run: bool,
    /// Whether the store was compacted afterwards.
    pub vacuumed: bool,
}

/// How far a run has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Days finished.
    pub days_done: usize,
    /// Days the run will archive.
    pub days_total: usize,
    /// Entries moved so far.
    pub rows_done: u64,
}

/// Moves every eligible day of the log out of `store` into `<dir>/logs/YYYY-MM-DD.jsonl`,
/// one entry per line (the archive line of `docs/SPEC.md` section 3), in id order.
///
/// A day is eligible when it is complete (before `now`'s UTC day), more than
/// `retain_days` days old, and earlier than the creation day of every active run (a thread
/// that may be resumed keeps its messages).
///
/// Each day is written to a temporary file, synced, renamed into place and its folder
/// synced; only then are the day's entries deleted from the store, together with their
/// thread-index rows and the watermark ([`WATERMARK_KEY`]), in one transaction. Killed at
/// any point, a rerun ends with every entry exactly once in the archive or the store: a
/// day file is merged by id with what the store still holds, so entries already in the file
/// are not written twice, and entries that arrived later for an archived day (a caller's
/// explicit `ts`) are added to its file. One run at a time writes to an archive: a second
/// run that starts while the first holds the archive's lock fails with
/// [`StoreError::Busy`] and changes nothing.
///
/// # Errors
/// Store and file errors, and [`StoreError::ArchiveLine`] for a day file that is not
/// readable whole (that day is left as it was). Days finished before an error stay done.
pub fn archive_logs(
    store: &dyn LogMaintenance,
    options: &ArchiveOptions,
) -> StoreResult<ArchiveReport> {
    archive_logs_with(store, options, &RealFiles, &mut |_| {
        ControlFlow::Continue(())
    })
}

/// [`archive_logs`] that reports its progress after each day, and stops there when
/// `progress` answers [`ControlFlow::Break`] (on Ctrl-C, say): the days done stay done, the
/// report says it was interrupted, and a rerun goes on from there.
///
/// # Errors
/// As [`archive_logs`].
pub fn archive_logs_with_progress(
    store: &dyn LogMaintenance,
    options: &ArchiveOptions,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> StoreResult<ArchiveReport> {
    archive_logs_with(store, options, &RealFiles, progress)
}

/// [`archive_logs`] doing its file operations through `files`: the seam through which
/// tests fail each step of a run.
///
/// # Errors
/// As [`archive_logs`].
pub fn archive_logs_with(
    store: &dyn LogMaintenance,
    options: &ArchiveOptions,
    files: &dyn FileOps,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> StoreResult<ArchiveReport> {
    let (cutoff, days) = eligible_days(store, options)?;
    let folder = options.dir.join("logs");
    // Held until the run ends; the operating system releases it if the process dies.
    let _lock = if !options.dry_run && !days.is_empty() {
        store_core::kit::create_folders(files, &folder)
            .map_err(|err| StoreError::io(&folder, "creating the archive folder", err))?;
        Some(lock_archive(&folder, "archiving")?)
    } else {
        None
    };
    // Under the lock: what an interrupted run left pending is settled first.
    let mut manifest = Manifest::load(&folder)?;
    if _lock.is_some() && manifest.settle(&options.dir)? {
        manifest.save(&folder, files)?;
    }
    archive_each(
        store,
        options,
        cutoff,
        &days,
        progress,
        &mut |day, watermark| {
            archive_day(
                store,
                day,
                &folder,
                &mut manifest,
                options,
                files,
                watermark,
            )
        },
    )
}

/// The first day a run leaves in the store, and the days before it the store holds, oldest
/// first: the days the run archives.
pub(crate) fn eligible_days(
    store: &dyn LogMaintenance,
    options: &ArchiveOptions,
) -> StoreResult<(NaiveDate, Vec<NaiveDate>)> {
    let cutoff = cutoff(store, options)?;
    let mut days = Vec::new();
    let mut after = None;
    while let Some(day) = store.next_log_day(after)? {
        if day >= cutoff {
            break;
        }
        days.push(day);
        after = Some(day);
    }
    Ok((cutoff, days))
}

/// Archives `days` one after the other with `archive_day` (given the day and the
/// watermark it moves), keeping what every run reports: the log line and the progress
/// after each day, the stop asked for, the compaction afterwards.
pub(crate) fn archive_each(
    store: &dyn LogMaintenance,
    options: &ArchiveOptions,
    cutoff: NaiveDate,
    days: &[NaiveDate],
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    archive_day: &mut dyn FnMut(NaiveDate, &mut Option<String>) -> StoreResult<DayReport>,
) -> StoreResult<ArchiveReport> {
    let mut report = ArchiveReport {
        cutoff: Some(cutoff),
        dry_run: options.dry_run,
        ..ArchiveReport::default()
    };
    let mut watermark = store.meta_get(WATERMARK_KEY)?;
    for (done, day) in days.iter().enumerate() {
        let day_report = archive_day(*day, &mut watermark)?;
        tracing::info!(
            target: "nerve_store::archive",
            day = %day_report.day,
            entries = day_report.rows,
            recovered = day_report.recovered,
            bytes = day_report.bytes,
            dry_run = options.dry_run,
            "archived a day"
        );
        report.rows += day_report.rows;
        report.recovered += day_report.recovered;
        report.bytes += day_report.bytes;
        report.days.push(day_report);
        let asked = progress(Progress {
            days_done: done + 1,
            days_total: days.len(),
            rows_done: report.rows,
        });
        if asked.is_break() && done + 1 < days.len() {
            report.interrupted = true;
            break;
        }
    }
    if options.vacuum && !options.dry_run && report.rows > 0 {
        store.compact()?;
        report.vacuumed = true;
    }
    tracing::info!(
        target: "nerve_store::archive",
        days = report.days.len(),
        entries = report.rows,
        interrupted = report.interrupted,
        "archive run done"
    );
    Ok(report)
}

/// The first day that is not eligible.
fn cutoff(store: &dyn LogMaintenance, options: &ArchiveOptions) -> StoreResult<NaiveDate> {
    let today = options.now.date_naive();
    let retained = today
        .checked_sub_signed(Duration::days(i64::from(options.retain_days)))
        .unwrap_or(NaiveDate::MIN);
    let active = store.list_active_runs()?;
    Ok(active
        .iter()
        .map(|run| run.created_at.date_naive())
        .fold(retained.min(today), NaiveDate::min))
}

/// A day file being written through the file seam: the bytes of the entries it adds, and
/// the manifest's record of the whole file as it grows.
struct DayWriter<'a> {
    out: DayOut<'a>,
    bytes: u64,
    line: Vec<u8>,
    record: DayRecord,
}

/// Where a day file's lines go: the file, or a zstd encoder in front of it.
enum DayOut<'a> {
    Plain(BufWriter<SeamWriter<'a>>),
    Compressed(BufWriter<zstd::Encoder<'static, SeamWriter<'a>>>),
}

impl<'a> DayOut<'a> {
    fn new(file: SeamWriter<'a>, compressed: bool) -> std::io::Result<Self> {
        Ok(if compressed {
            DayOut::Compressed(BufWriter::with_capacity(
                256 * 1024,
                zstd::Encoder::new(file, 0)?,
            ))
        } else {
            DayOut::Plain(BufWriter::with_capacity(256 * 1024, file))
        })
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            DayOut::Plain(out) => out.write_all(data),
            DayOut::Compressed(out) => out.write_all(data),
        }
    }

    /// Everything written through to the file (a compressed file's last frame included).
    fn finish(self) -> std::io::Result<SeamWriter<'a>> {
        match self {
            DayOut::Plain(out) => out.into_inner().map_err(|err| err.into_error()),
            DayOut::Compressed(out) => out.into_inner().map_err(|err| err.into_error())?.finish(),
        }
    }
}

/// `std::io::Write` over a file, every write going through the seam.
struct SeamWriter<'a> {
    file: File,
    files: &'a dyn FileOps,
    /// The SHA-256 of the bytes written, and their count: what the manifest records.
    hasher: Sha256,
    written: u64,
}

impl Write for SeamWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.files.write_all(&mut self.file, data)?;
        self.hasher.update(data);
        self.written += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl DayWriter<'_> {
    fn entry(&mut self, archived: DayEntry) -> std::io::Result<u64> {
        let DayEntry {
            entry,
            thread,
            blobs,
        } = archived;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        serde_json::to_writer(&mut line, &ArchiveLine::new(&entry, thread, &blobs))
            .map_err(std::io::Error::other)?;
        self.record.reference(&blobs);
        line.push(b'\n');
        let written = self.line_of(&line, entry.id);
        self.line = line;
        let len = written?;
        self.bytes += len;
        Ok(len)
    }

    /// A line the day's file held already, with its id and the blobs it references.
    fn raw(&mut self, line: &str, id: LogId, blobs: &[Digest]) -> std::io::Result<()> {
        self.record.reference(blobs);
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.line_of(&bytes, id).map(|_| ())
    }

    /// Writes `line` (with its newline), the entry `id`'s, and counts it in the record.
    fn line_of(&mut self, line: &[u8], id: LogId) -> std::io::Result<u64> {
        self.out.write_all(line)?;
        let len = line.len() as u64;
        self.record.entries += 1;
        self.record.first_id.get_or_insert(id);
        self.record.last_id = Some(id);
        Ok(len)
    }
}

/// The name a new file of `day` takes: its compressed form when the run compresses.
pub(crate) fn new_day_file(day: NaiveDate, compress: bool) -> String {
    if compress {
        format!("{day}{COMPRESSED}")
    } else {
        format!("{day}.jsonl")
    }
}

/// Archives one day into the folder: the merge of its file (if any) with its entries in
/// the store, then the deletion of those entries with the watermark.
fn archive_day(
    store: &dyn LogMaintenance,
    day: NaiveDate,
    folder: &Path,
    manifest: &mut Manifest,
    options: &ArchiveOptions,
    files: &dyn FileOps,
    watermark: &mut Option<String>,
) -> StoreResult<DayReport> {
    // A day keeps the file it has (and so its form); a new day takes the run's form.
    let plain = format!("{day}.jsonl");
    let compressed = format!("{day}{COMPRESSED}");
    let name = match manifest.record_of(day) {
        Some(record) => record.file.clone(),
        None if std::fs::symlink_metadata(folder.join(&compressed)).is_ok() => compressed,
        None if std::fs::symlink_metadata(folder.join(&plain)).is_ok() => plain,
        None => new_day_file(day, options.compress),
    };
    let path = folder.join(&name);
    let temp = folder.join(format!(".{name}.tmp"));
    let existing = DayFile::open_if_exists(&path, day)?;
    let into = if options.dry_run {
        None
    } else {
        // A crashed run's leftover is this run's to replace.
        match std::fs::remove_file(&temp) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(StoreError::io(&temp, "removing a leftover day file", err)),
        }
        Some(temp.as_path())
    };
    let written = write_day(store, day, existing, into, &name, files)?;
    let mut report = written.report(&path);
    let Some(record) = written.record else {
        return Ok(report);
    };
    // The manifest names the new file before it is in place, and records it once it is:
    // killed in between, the file in place is one of the two the manifest names.
    manifest.set_pending(day, record);
    manifest.save(folder, files)?;
    files
        .rename(&temp, &path)
        .map_err(|err| StoreError::io(&path, "renaming a day file into place", err))?;
    files
        .sync_dir(folder)
        .map_err(|err| StoreError::io(folder, "syncing the archive folder", err))?;
    manifest.commit(day);
    manifest.save(folder, files)?;
    if let Some(through) = written.through {
        report.rows = leave_store(store, day, through, watermark)?;
    }
    Ok(report)
}

/// A day merged from its file and the store: what a run reports of it and, unless it was
/// a dry run, the record of the file written.
pub(crate) struct WrittenDay {
    day: NaiveDate,
    rows: u64,
    recovered: u64,
    bytes: u64,
    /// The last id of the day the store held when it was read.
    pub(crate) through: Option<LogId>,
    /// What the file written holds, synced; `None` in a dry run.
    pub(crate) record: Option<DayRecord>,
}

impl WrittenDay {
    /// The day's report, its file being `file`.
    pub(crate) fn report(&self, file: &Path) -> DayReport {
        DayReport {
            day: self.day,
            rows: self.rows,
            recovered: self.recovered,
            bytes: self.bytes,
            file: file.to_owned(),
        }
    }
}

/// Merges `day`'s entries in the store with `existing` (the lines its file holds, if any)
/// into the new file `into` (named `name` in its record; compressed when the name says
/// so), written and synced through `files`; in a dry run (`into` is `None`), only counts.
/// Entries the file holds already are not written twice: lines come in id order, the
/// file's first where both have one.
pub(crate) fn write_day(
    store: &dyn LogMaintenance,
    day: NaiveDate,
    mut file: Option<DayFile>,
    into: Option<&Path>,
    name: &str,
    files: &dyn FileOps,
) -> StoreResult<WrittenDay> {
    let temp = into.unwrap_or_else(|| Path::new(name));
    let mut writer = match into {
        None => None,
        Some(temp) => {
            let file = files
                .create_new(temp)
                .map_err(|err| StoreError::io(temp, "creating a day file", err))?;
            let seam = SeamWriter {
                file,
                files,
                hasher: Sha256::new(),
                written: 0,
            };
            Some(DayWriter {
                out: DayOut::new(seam, is_compressed(Path::new(name)))
                    .map_err(|err| StoreError::io(temp, "starting a day file", err))?,
                bytes: 0,
                line: Vec::new(),
                record: DayRecord::empty(name.to_owned()),
            })
        }
    };
    let write_error = |err| StoreError::io(temp, "writing a day file", err);
    let mut rows = 0;
    let mut recovered = 0;
    let mut bytes = 0;
    let mut through = None;
    for archived in day_stream_archived(store, day) {
        let archived = archived?;
        let id = archived.entry.id;
        through = Some(id);
        // Lines the file already holds come first, in id order; an entry the file already
        // holds (a run killed after its rename) is not written again.
        let mut in_file = false;
        while let Some(next) = file.as_mut().map(DayFile::peek_id).transpose()?.flatten() {
            if next > id {
                break;
            }
            let (line, blobs) = file.as_mut().and_then(DayFile::take).unwrap_or_default();
            if next == id {
                in_file = true;
                bytes += line.len() as u64 + 1;
            }
            if let Some(writer) = writer.as_mut() {
                writer.raw(&line, next, &blobs).map_err(write_error)?;
            }
        }
        rows += 1;
        if in_file {
            recovered += 1;
            continue;
        }
        match writer.as_mut() {
            Some(writer) => bytes += writer.entry(archived).map_err(write_error)?,
            None => {
                let line = ArchiveLine::new(&archived.entry, archived.thread, &archived.blobs);
                bytes += serde_json::to_vec(&line).map_or(0, |line| line.len() as u64 + 1);
            }
        }
    }
    let mut written = WrittenDay {
        day,
        rows,
        recovered,
        bytes,
        through,
        record: None,
    };
    let Some(mut writer) = writer else {
        return Ok(written);
    };
    while let Some(file) = file.as_mut() {
        let Some(id) = file.peek_id()? else {
            break;
        };
        let (line, blobs) = file.take().unwrap_or_default();
        writer.raw(&line, id, &blobs).map_err(write_error)?;
    }
    let DayWriter {
        out, mut record, ..
    } = writer;
    let SeamWriter {
        file,
        hasher,
        written: length,
        ..
    } = out.finish().map_err(write_error)?;
    record.sha256 = hex::encode(hasher.finalize());
    record.bytes = length;
    files
        .sync_file(&file)
        .map_err(|err| StoreError::io(temp, "syncing a day file", err))?;
    written.record = Some(record);
    Ok(written)
}

/// Deletes `day`'s entries up to `through` from the store, with the watermark, in one
/// transaction; returns how many left, as the store counts them (an entry of the day
/// written after the walk, with an id above `through`, stays for the next run).
pub(crate) fn leave_store(
    store: &dyn LogMaintenance,
    day: NaiveDate,
    through: LogId,
    watermark: &mut Option<String>,
) -> StoreResult<u64> {
    let mark = day.to_string();
    let newest = match watermark.as_deref() {
        Some(current) if current >= mark.as_str() => current.to_owned(),
        _ => mark,
    };
    let rows = store.delete_days(&[DaySpan::new(day, through)], &[(WATERMARK_KEY, &newest)])?;
    *watermark = Some(newest);
    Ok(rows)
}
