//! The archive kept on object storage itself ([`ArchiveReplica`]): runs write their day
//! files there, and read, restore and drop days there, so that the host's disk holds no
//! archived day beyond the one being written or read.
//!
//! Objects there are never changed in place: each version of a day is a new object,
//! `YYYY-MM-DD.<16 hex digits of its SHA-256>.jsonl[.zst]`, and the manifest alone says
//! which version is the day's. The manifest is replaced by a conditional write (it must
//! still be the version the writer read), so of two writers only the first to write it
//! goes on, and a version is named only once it is whole in the bucket. Entries leave the
//! store only after the manifest that names their day's new version is written. Killed at
//! any moment, a run leaves at most an object no manifest names, which a later run removes
//! once it is an hour old (a newer one may be another run's, about to be named).

use std::collections::BTreeSet;
use std::ops::{ControlFlow, RangeInclusive};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use store_core::kit::RealFiles;
use store_core::{Digest, LogEntry, LogId, LogMaintenance, LogTransfer, StoreError, StoreResult};

use crate::archive::{
    ArchiveOptions, ArchiveReport, DayReport, Progress, archive_each, eligible_days, leave_store,
    new_day_file, write_day,
};
use crate::manifest::{DayRecord, DayStatus, DropReport, MANIFEST_FILE, Manifest};
use crate::read::{COMPRESSED, DayFile, NAME_TOKEN, is_compressed};
use crate::replica::{
    ArchiveReplica, changed_meanwhile, fetch_checked, is_day_file, replica_manifest,
    replica_manifest_path, scratch_folder,
};
use crate::restore::{RestoreReport, restore_days_with_progress};

/// How old an object no manifest names must be before a run removes it: younger, it may
/// be another run's, uploaded and about to be named.
const LEFTOVER_AGE: Duration = Duration::hours(1);

/// The manifest of an archive on object storage, with the tag of the version read.
struct Held<'r> {
    replica: &'r dyn ArchiveReplica,
    manifest: Manifest,
    tag: Option<String>,
}

impl<'r> Held<'r> {
    /// The replica's manifest; an empty one when there is none yet.
    fn load(replica: &'r dyn ArchiveReplica) -> StoreResult<Self> {
        let (manifest, tag) = match replica_manifest(replica)? {
            Some((manifest, tag)) => (manifest, Some(tag)),
            None => (Manifest::default(), None),
        };
        Ok(Held {
            replica,
            manifest,
            tag,
        })
    }

    /// Writes the manifest over the version read, if it is still the one there.
    ///
    /// # Errors
    /// [`StoreError::Busy`] when another writer replaced it meanwhile (nothing written).
    fn save(&mut self, doing: &str) -> StoreResult<()> {
        let before = self.manifest.clone();
        self.manifest.written_after(Some(&before));
        let bytes = self
            .manifest
            .to_bytes(&replica_manifest_path(self.replica))?;
        match self
            .replica
            .put_bytes_if(MANIFEST_FILE, bytes, self.tag.as_deref())?
        {
            Some(tag) => {
                self.tag = Some(tag);
                Ok(())
            }
            None => Err(changed_meanwhile(self.replica, doing)),
        }
    }

    /// Removes what killed runs left: day objects of dropped days, and day objects no
    /// record names that were written [`LEFTOVER_AGE`] or longer before `now`; and forgets a pending record (a
    /// folder's, pushed). The manifest is written first, so that a run that uploaded one
    /// of them and is about to name it fails to, rather than naming what is gone.
    fn settle(&mut self, doing: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let named: BTreeSet<String> = self
            .manifest
            .records()
            .into_iter()
            .map(|(_, record)| record.file)
            .collect();
        let dropped: BTreeSet<&str> = self.manifest.dropped_files().collect();
        let old = now - LEFTOVER_AGE;
        let leftovers: Vec<String> = self
            .replica
            .list()?
            .into_iter()
            .filter(|object| is_day_file(&object.name) && !named.contains(&object.name))
            .filter(|object| dropped.contains(object.name.as_str()) || object.written_at < old)
            .map(|object| object.name)
            .collect();
        let forgot = self.manifest.forget_pending();
        if leftovers.is_empty() && !forgot {
            return Ok(());
        }
        self.save(doing)?;
        self.replica.remove(&leftovers)
    }

    /// The object `name` as errors and reports name it.
    fn shown(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("{}/logs/{name}", self.replica.location()))
    }
}

/// The name of a version of `day`'s file on object storage: the day, the first
/// [`NAME_TOKEN`] hex digits of its SHA-256, and its form.
fn version_name(day: NaiveDate, record: &DayRecord) -> String {
    let token = record.sha256.get(..NAME_TOKEN).unwrap_or(&record.sha256);
    let form = if is_compressed(Path::new(&record.file)) {
        COMPRESSED
    } else {
        ".jsonl"
    };
    format!("{day}.{token}{form}")
}

/// [`fetch_checked`], what is wrong with the object in the words an
/// [`StoreError::ArchiveMismatch`] names it by (`missing`, `changed`, `unreadable, …`).
fn fetch(
    replica: &dyn ArchiveReplica,
    scratch: &Path,
    day: NaiveDate,
    record: &DayRecord,
) -> StoreResult<Result<PathBuf, String>> {
    Ok(
        fetch_checked(replica, scratch, day, record)?.map_err(|wrong| match wrong {
            DayStatus::Missing { .. } => "missing".to_owned(),
            DayStatus::Unreadable { reason } => format!("unreadable, {reason}"),
            _ => "changed".to_owned(),
        }),
    )
}

/// [`crate::archive_logs_with_progress`] into the archive at `replica` (object storage)
/// instead of a folder; `options.dir` is not used.
///
/// Each day's file is merged with its version on the replica (downloaded to a scratch
/// folder and checked against the manifest first), uploaded as a new object named for its
/// content, and named by the manifest, which is written only if it is still the version the
/// run read; then the day's entries leave the store. Killed at any moment, a rerun ends with
/// every entry exactly once in the archive or the store, as in a folder. Two runs at once
/// may both work, but only the first to write the manifest goes on; the other fails with
/// [`StoreError::Busy`] having moved nothing out of the store. The host's disk holds at most
/// two day files at a time (the version read, the version written), in the scratch folder.
///
/// # Errors
/// As [`crate::archive_logs`], with the replica's errors; [`StoreError::ArchiveMismatch`]
/// for a day whose object is not what the manifest records (that day is left as it was);
/// [`StoreError::Busy`] as above.
pub fn archive_logs_at(
    store: &dyn LogMaintenance,
    options: &ArchiveOptions,
    replica: &dyn ArchiveReplica,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> StoreResult<ArchiveReport> {
    let (cutoff, days) = eligible_days(store, options)?;
    let mut held = Held::load(replica)?;
    if !options.dry_run && !days.is_empty() {
        held.settle("archiving", options.now)?;
    }
    let scratch = scratch_folder()?;
    archive_each(
        store,
        options,
        cutoff,
        &days,
        progress,
        &mut |day, watermark| {
            archive_day_at(store, day, &mut held, scratch.path(), options, watermark)
        },
    )
}

/// Archives one day into the replica.
fn archive_day_at(
    store: &dyn LogMaintenance,
    day: NaiveDate,
    held: &mut Held<'_>,
    scratch: &Path,
    options: &ArchiveOptions,
    watermark: &mut Option<String>,
) -> StoreResult<DayReport> {
    let recorded = held.manifest.record_of(day).cloned();
    let existing = match &recorded {
        None => None,
        Some(record) => match fetch(held.replica, scratch, day, record)? {
            Ok(path) => Some(path),
            Err(wrong) => {
                return Err(StoreError::ArchiveMismatch {
                    manifest: replica_manifest_path(held.replica),
                    days: format!("{day} ({wrong})"),
                });
            }
        },
    };
    let compress = recorded.as_ref().map_or(options.compress, |record| {
        is_compressed(Path::new(&record.file))
    });
    let draft = new_day_file(day, compress);
    let temp = scratch.join(format!(".{draft}.tmp"));
    let file = existing
        .as_deref()
        .map(|path| DayFile::open(path, day))
        .transpose()?;
    let into = (!options.dry_run).then_some(temp.as_path());
    let written = write_day(store, day, file, into, &draft, &RealFiles);
    if let Some(path) = &existing {
        let _ = std::fs::remove_file(path);
    }
    let written = written?;
    let Some(mut record) = written.record.clone() else {
        let name = recorded.map_or(draft, |record| record.file);
        return Ok(written.report(&held.shown(&name)));
    };
    record.file = version_name(day, &record);
    let uploaded = held.replica.put_file(&record.file, &temp);
    let _ = std::fs::remove_file(&temp);
    uploaded?;
    let mut report = written.report(&held.shown(&record.file));
    held.manifest.record(day, record);
    held.save("archiving")?;
    if let Some(through) = written.through {
        report.rows = leave_store(store, day, through, watermark)?;
    }
    Ok(report)
}

/// The entries of the archive at `replica` of the days in `days`, as
/// [`crate::read_archive`] streams them from a folder (`by_id`: in id order across the
/// days, as [`crate::read_archive_by_id`]). Each day's object is downloaded to a scratch
/// folder when the stream reaches it, checked against the manifest, read, and removed: the
/// host holds one day at a time (in id order, the days whose id ranges overlap: a day is
/// opened only once the merge reaches its first id, which the manifest records).
///
/// # Errors
/// [`StoreError::ArchiveManifest`]; the replica's errors. Then each item is an entry or the
/// error that ends the stream: [`StoreError::ArchiveMismatch`] naming a day whose object is
/// not what the manifest records, or as [`crate::read_archive`].
pub fn read_archive_at(
    replica: &dyn ArchiveReplica,
    days: RangeInclusive<NaiveDate>,
    by_id: bool,
) -> StoreResult<Box<dyn Iterator<Item = StoreResult<LogEntry>> + Send + '_>> {
    let held = Held::load(replica)?;
    let mut waiting: Vec<(NaiveDate, DayRecord)> = held
        .manifest
        .recorded_in(&days)
        .into_iter()
        .filter(|(_, record, _)| record.first_id.is_some())
        .map(|(day, record, _)| (day, record))
        .collect();
    if by_id {
        waiting.sort_by_key(|(_, record)| record.first_id);
    }
    let mut days = LazyDays {
        replica,
        scratch: scratch_folder()?,
        waiting: waiting.into(),
        open: Vec::new(),
        heap: std::collections::BinaryHeap::new(),
        by_id,
        done: false,
    };
    Ok(Box::new(std::iter::from_fn(move || {
        if days.done {
            return None;
        }
        match days.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                days.done = true;
                None
            }
            Err(err) => {
                days.done = true;
                Some(Err(err))
            }
        }
    })))
}

/// The days of a read from object storage: those still to download, and those open.
struct LazyDays<'r> {
    replica: &'r dyn ArchiveReplica,
    scratch: tempfile::TempDir,
    waiting: std::collections::VecDeque<(NaiveDate, DayRecord)>,
    /// The days open, each with its scratch file; `None` once read to its end.
    open: Vec<Option<(DayFile, PathBuf)>>,
    /// The next id of each open day, smallest first (in id order only).
    heap: std::collections::BinaryHeap<(std::cmp::Reverse<LogId>, usize)>,
    by_id: bool,
    done: bool,
}

impl LazyDays<'_> {
    /// Downloads, checks and opens the next waiting day; returns its place in `open`.
    fn open_next(&mut self) -> StoreResult<Option<usize>> {
        let Some((day, record)) = self.waiting.pop_front() else {
            return Ok(None);
        };
        let path = fetch(self.replica, self.scratch.path(), day, &record)?.map_err(|wrong| {
            StoreError::ArchiveMismatch {
                manifest: replica_manifest_path(self.replica),
                days: format!("{day} ({wrong})"),
            }
        })?;
        let file = DayFile::open(&path, day)?;
        self.open.push(Some((file, path)));
        Ok(Some(self.open.len() - 1))
    }

    /// Closes the day at `index`, its scratch file removed.
    fn close(&mut self, index: usize) {
        if let Some((_, path)) = self.open[index].take() {
            let _ = std::fs::remove_file(path);
        }
    }

    fn next_entry(&mut self) -> StoreResult<Option<LogEntry>> {
        if !self.by_id {
            loop {
                let current = match self.open.len().checked_sub(1) {
                    Some(last) if self.open[last].is_some() => last,
                    _ => match self.open_next()? {
                        Some(index) => index,
                        None => return Ok(None),
                    },
                };
                let entry = match &mut self.open[current] {
                    Some((file, _)) => file.next_entry()?,
                    None => None,
                };
                match entry {
                    Some(entry) => return Ok(Some(entry)),
                    None => self.close(current),
                }
            }
        }
        // Every day whose first id is at most the smallest next id of the open ones may
        // hold the next entry: open those first.
        loop {
            let smallest = self.heap.peek().map(|(std::cmp::Reverse(id), _)| *id);
            let first = self.waiting.front().and_then(|(_, record)| record.first_id);
            match (smallest, first) {
                (_, None) => break,
                (Some(smallest), Some(first)) if first > smallest => break,
                _ => {}
            }
            if let Some(index) = self.open_next()? {
                let next = match &mut self.open[index] {
                    Some((file, _)) => file.peek_id()?,
                    None => None,
                };
                match next {
                    Some(id) => self.heap.push((std::cmp::Reverse(id), index)),
                    None => self.close(index),
                }
            }
        }
        let Some((_, index)) = self.heap.pop() else {
            return Ok(None);
        };
        let Some((file, _)) = &mut self.open[index] else {
            return Ok(None);
        };
        let entry = file.next_entry()?;
        match file.peek_id()? {
            Some(id) => self.heap.push((std::cmp::Reverse(id), index)),
            None => self.close(index),
        }
        Ok(entry)
    }
}

/// [`crate::restore_days_with_progress`] from the archive at `replica`: every day of `days`
/// is downloaded and checked against the manifest first, one at a time (any damaged day
/// refuses the whole restore before anything is written), then each is downloaded again
/// and restored from a scratch folder that holds it alone, each entry under the id it had,
/// exactly once however often it is killed and rerun. The host holds one day at a time; the
/// report names the objects. No lock keeps a run from moving a day out again while it is
/// restored: it would archive what the restore wrote, and nothing is lost either way.
///
/// # Errors
/// As [`crate::restore_days_with_progress`], with the replica's errors.
pub fn restore_days_from(
    store: &dyn LogTransfer,
    replica: &dyn ArchiveReplica,
    days: RangeInclusive<NaiveDate>,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> StoreResult<RestoreReport> {
    let held = Held::load(replica)?;
    let recorded = held.manifest.recorded_in(&days);
    let mut report = RestoreReport {
        dropped: held.manifest.dropped_in(&days),
        ..RestoreReport::default()
    };
    if recorded.is_empty() && report.dropped.is_empty() {
        return Err(StoreError::invalid(
            "days",
            format!(
                "the archive at {} holds no day from {} to {}",
                replica.location(),
                days.start(),
                days.end()
            ),
        ));
    }
    let scratch = scratch_folder()?;
    let folder = scratch.path().join("logs");
    store_core::kit::create_folders(&RealFiles, &folder)
        .map_err(|err| StoreError::io(&folder, "making a scratch folder", err))?;
    let mut damaged = Vec::new();
    for (day, record, _) in &recorded {
        match fetch(replica, &folder, *day, record)? {
            Ok(path) => {
                let _ = std::fs::remove_file(path);
            }
            Err(wrong) => damaged.push(format!("{day} ({wrong})")),
        }
    }
    let mismatch = |days: String| StoreError::ArchiveMismatch {
        manifest: replica_manifest_path(replica),
        days,
    };
    if !damaged.is_empty() {
        return Err(mismatch(damaged.join(", ")));
    }
    let mut manifest = held.manifest;
    manifest.in_a_folder();
    manifest.save(&folder, &RealFiles)?;
    for (done, (day, record, _)) in recorded.iter().enumerate() {
        let path = fetch(replica, &folder, *day, record)?
            .map_err(|wrong| mismatch(format!("{day} ({wrong})")))?;
        let before = report.written + report.present;
        let mut asked = false;
        let one = restore_days_with_progress(store, scratch.path(), *day..=*day, &mut |p| {
            let answer = progress(Progress {
                days_done: done + p.days_done,
                days_total: recorded.len(),
                rows_done: before + p.rows_done,
            });
            asked |= answer.is_break();
            answer
        });
        let _ = std::fs::remove_file(path);
        let one = one?;
        report.written += one.written;
        report.present += one.present;
        report.unindexed += one.unindexed;
        report.days.extend(one.days.into_iter().map(|mut restored| {
            restored.file = PathBuf::from(format!("{}/logs/{}", replica.location(), record.file));
            restored
        }));
        if one.interrupted || (asked && done + 1 < recorded.len()) {
            report.interrupted = true;
            break;
        }
    }
    Ok(report)
}

/// [`crate::drop_days`] on the archive at `replica`: every recorded day before `before`,
/// each object read whole and checked against its record first (any that is not refuses the
/// whole drop), moves to the manifest's dropped days (a conditional write), then its object
/// is removed; a drop killed in between is finished by the next run.
///
/// # Errors
/// [`StoreError::InvalidInput`] (`before`) naming the days whose objects do not match the
/// manifest; [`StoreError::Busy`] when another run changed the manifest meanwhile; the
/// replica's errors.
pub fn drop_days_at(replica: &dyn ArchiveReplica, before: NaiveDate) -> StoreResult<DropReport> {
    let mut held = Held::load(replica)?;
    let mut report = DropReport::default();
    let scratch = scratch_folder()?;
    let mut refused = Vec::new();
    let Some(last) = before.pred_opt() else {
        return Ok(report);
    };
    for (day, record, _) in held.manifest.recorded_in(&(NaiveDate::MIN..=last)) {
        match fetch(replica, scratch.path(), day, &record)? {
            Ok(path) => {
                let _ = std::fs::remove_file(path);
                report.entries += record.entries;
                report.bytes += record.bytes;
                report.days.push((day, record));
            }
            Err(wrong) => refused.push(format!("{day} ({wrong})")),
        }
    }
    if !refused.is_empty() {
        return Err(StoreError::invalid(
            "before",
            format!(
                "the manifest at {} does not vouch for {}: run `archive verify`; nothing was \
                 dropped",
                replica.location(),
                refused.join(", ")
            ),
        ));
    }
    if report.days.is_empty() {
        return Ok(report);
    }
    for (day, _) in &report.days {
        held.manifest.drop_day(*day);
    }
    held.save("dropping days")?;
    let names: Vec<String> = report.days.iter().map(|(_, r)| r.file.clone()).collect();
    replica.remove(&names)?;
    Ok(report)
}

/// [`crate::archived_blobs`] of the archive at `replica`: the blobs its days keep alive, as
/// its manifest records them.
///
/// # Errors
/// [`StoreError::ArchiveManifest`] for a damaged manifest; the replica's errors.
pub fn archived_blobs_at(replica: &dyn ArchiveReplica) -> StoreResult<Vec<Digest>> {
    Ok(Held::load(replica)?.manifest.blobs())
}

/// [`crate::archived_days`] of the archive at `replica`.
///
/// # Errors
/// As [`archived_blobs_at`].
pub fn archived_days_at(replica: &dyn ArchiveReplica) -> StoreResult<Vec<(NaiveDate, DayRecord)>> {
    Ok(Held::load(replica)?.manifest.records())
}

/// [`crate::days_referencing`] of the archive at `replica`.
///
/// # Errors
/// As [`archived_blobs_at`].
pub fn days_referencing_at(
    replica: &dyn ArchiveReplica,
    digest: &Digest,
) -> StoreResult<Vec<NaiveDate>> {
    Ok(Held::load(replica)?.manifest.days_referencing(digest))
}
