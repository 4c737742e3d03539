//! `restore_days`: archived days back into a store, under the ids they had, exactly once.

use std::ops::{ControlFlow, RangeInclusive};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use store_core::{
    BlobHolder, BlobReference, LogTransfer, RestoreBatch, StoreError, StoreResult, THREAD_KIND,
    THREAD_SOURCE,
};

use crate::archive::Progress;
use crate::lock::lock_archive;
use crate::manifest::{DayRecord, Manifest};
use crate::read::{ArchivedEntry, DayFile};

/// How many entries a restore writes per transaction.
const RESTORE_BATCH: usize = 1000;

/// What a restore did with one day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayRestore {
    /// The UTC day.
    pub day: NaiveDate,
    /// The day file read.
    pub file: PathBuf,
    /// Entries written back into the store.
    pub written: u64,
    /// Entries the store held already (restored before, or never deleted): not written.
    pub present: u64,
    /// Thread messages whose line carries no thread row (written by an archive before
    /// rows were archived): restored as entries, not indexed as messages.
    pub unindexed: u64,
}

/// What [`restore_days`] did. Serialises with camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Every archived day of the range, oldest first, as far as the run got.
    pub days: Vec<DayRestore>,
    /// Days of the range the archive dropped (`drop_days`): gone, not restored.
    pub dropped: Vec<NaiveDate>,
    /// Entries written back, all days together.
    pub written: u64,
    /// Entries the store held already, all days together.
    pub present: u64,
    /// Thread messages restored without their thread row, all days together.
    pub unindexed: u64,
    /// Whether the run stopped early because its progress callback asked it to.
    pub interrupted: bool,
}

/// Brings the archived days of `days` back into `store` from the archive at `dir`, each
/// entry under the id it had, with its thread-index row: [`restore_days_with_progress`]
/// without a progress callback.
///
/// # Errors
/// As [`restore_days_with_progress`].
pub fn restore_days(
    store: &dyn LogTransfer,
    dir: &Path,
    days: RangeInclusive<NaiveDate>,
) -> StoreResult<RestoreReport> {
    restore_days_with_progress(store, dir, days, &mut |_| ControlFlow::Continue(()))
}

/// Brings the archived days of `days` back into `store` from the archive at `dir`.
///
/// Every day of the range that the manifest records is read whole and compared with its
/// record first: if any is changed, missing or unreadable, nothing is restored. Then each
/// day's entries are written a batch at a time by [`LogTransfer::restore`], which passes
/// over the entries the store holds: killed at any moment, a rerun writes what is left,
/// and no entry is ever there twice. The archive is not changed (a day stays in it), and
/// its lock is held, so an archive run does not move a day out while it is restored.
/// The next archive run that finds a restored day eligible moves it out again, writing
/// nothing twice into its file. `progress` is called after each batch of up to 1,000
/// entries; answering [`ControlFlow::Break`] stops there (`interrupted` in the report), and
/// a rerun goes on from there.
///
/// # Errors
/// [`StoreError::InvalidInput`] (`days`) for a range that holds no archived day;
/// [`StoreError::ArchiveMismatch`] naming each day whose file is not what the manifest
/// records; [`StoreError::ArchiveManifest`]; [`StoreError::Busy`] while an archive run
/// holds the archive; the store's errors ([`LogTransfer::restore`] refuses an entry whose
/// id the store holds with other content: an archive of another store). Days restored
/// before an error stay restored.
pub fn restore_days_with_progress(
    store: &dyn LogTransfer,
    dir: &Path,
    days: RangeInclusive<NaiveDate>,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> StoreResult<RestoreReport> {
    let folder = dir.join("logs");
    let no_day = || {
        StoreError::invalid(
            "days",
            format!(
                "the archive at {} holds no day from {} to {}",
                dir.display(),
                days.start(),
                days.end()
            ),
        )
    };
    if !folder.is_dir() {
        return Err(no_day());
    }
    let _lock = lock_archive(&folder, "restoring")?;
    let manifest = Manifest::load(&folder)?;
    let mut report = RestoreReport {
        dropped: manifest.dropped_in(&days),
        ..RestoreReport::default()
    };
    let recorded = manifest.recorded_in(&days);
    if recorded.is_empty() && report.dropped.is_empty() {
        return Err(no_day());
    }
    let mut damaged = Vec::new();
    for (day, record, pending) in &recorded {
        let path = folder.join(&record.file);
        let what = match DayRecord::of_file(&path, *day) {
            // A file an interrupted run merged and renamed into place, before it recorded
            // it: its entries are the record's and the store's, which the restore passes over.
            Ok(found) if found == *record || pending.as_ref() == Some(&found) => continue,
            Ok(_) => "changed".to_owned(),
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                "missing".to_owned()
            }
            Err(err) => format!("unreadable, {err}"),
        };
        damaged.push(format!("{day} ({what})"));
    }
    if !damaged.is_empty() {
        return Err(StoreError::ArchiveMismatch {
            manifest: folder.join(crate::MANIFEST_FILE),
            days: damaged.join(", "),
        });
    }
    for (done, (day, record, _)) in recorded.iter().enumerate() {
        let mut batches = |day_report: &DayRestore| {
            progress(Progress {
                days_done: done,
                days_total: recorded.len(),
                rows_done: report.written
                    + report.present
                    + day_report.written
                    + day_report.present,
            })
        };
        let (day_report, stop) =
            restore_day(store, &folder.join(&record.file), *day, &mut batches)?;
        let stopped = match stop {
            Stop::NotAsked => false,
            Stop::Asked { whole_day } => !whole_day || done + 1 < recorded.len(),
        };
        tracing::info!(
            target: "nerve_store::archive",
            day = %day,
            written = day_report.written,
            present = day_report.present,
            whole = !stopped,
            "restored a day"
        );
        report.written += day_report.written;
        report.present += day_report.present;
        report.unindexed += day_report.unindexed;
        report.days.push(day_report);
        if stopped {
            report.interrupted = true;
            break;
        }
    }
    Ok(report)
}

/// Restores the day file `path` of `day`, a batch at a time, calling `progress` after
/// each batch; returns what it did, and whether `progress` asked it to stop.
fn restore_day(
    store: &dyn LogTransfer,
    path: &Path,
    day: NaiveDate,
    progress: &mut dyn FnMut(&DayRestore) -> ControlFlow<()>,
) -> StoreResult<(DayRestore, Stop)> {
    let mut report = DayRestore {
        day,
        file: path.to_owned(),
        written: 0,
        present: 0,
        unindexed: 0,
    };
    let mut file = DayFile::open(path, day)?;
    let mut batch = RestoreBatch::default();
    let mut at_end = false;
    while !at_end {
        match file.next_archived()? {
            Some(ArchivedEntry {
                entry,
                thread,
                blobs,
            }) => {
                match thread {
                    Some(row) => batch.thread_rows.push(row),
                    None if entry.source == THREAD_SOURCE && entry.kind == THREAD_KIND => {
                        report.unindexed += 1;
                    }
                    None => {}
                }
                batch
                    .references
                    .extend(blobs.into_iter().map(|digest| BlobReference {
                        digest,
                        holder: BlobHolder::Entry(entry.id),
                    }));
                batch.entries.push(entry);
                if batch.entries.len() < RESTORE_BATCH {
                    continue;
                }
            }
            None => at_end = true,
        }
        if !batch.entries.is_empty() {
            let restored = store.restore(std::mem::take(&mut batch))?;
            report.written += restored.written;
            report.present += restored.present;
        }
        if progress(&report).is_break() {
            return Ok((report, Stop::Asked { whole_day: at_end }));
        }
    }
    Ok((report, Stop::NotAsked))
}

/// Whether a day's restore was asked to stop, and where.
enum Stop {
    NotAsked,
    Asked { whole_day: bool },
}
