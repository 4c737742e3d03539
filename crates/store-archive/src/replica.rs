//! The archive on another storage (object storage, through `store-object`): a replica of
//! the archive's folder that is itself an archive its manifest vouches for at every moment.
//!
//! A push uploads each day file the local manifest records and the replica does not hold
//! as recorded, then the manifest, then removes what the manifest no longer names (dropped
//! days, leftovers of a push cut short). Every upload is whole or absent (an object store's
//! `PUT`), and the replica's manifest is replaced only once every day it names is there, so
//! a push killed at any moment leaves the replica's manifest vouching for what it holds; a
//! rerun finishes. A pull is the same the other way, each file checked against the manifest
//! before it is renamed into place, the manifest last.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use store_core::kit::{FileOps, RealFiles};
use store_core::{StoreError, StoreResult};

use crate::manifest::{
    ArchiveVerification, DayCheck, DayRecord, DayStatus, MANIFEST_FILE, Manifest,
};

/// Where an archive is kept on another storage (object storage): a flat namespace of named
/// objects (the names of the archive's `logs` folder: `manifest.json`, the day files), each
/// put whole or not at all. It holds a replica of a folder ([`push_archive`]), or an archive
/// runs write to directly ([`crate::archive_logs_at`]).
pub trait ArchiveReplica: Send + Sync {
    /// Where the replica is, as it may be shown (never with a credential).
    fn location(&self) -> String;

    /// Every object, with its size and the time it was written.
    ///
    /// # Errors
    /// The storage's errors.
    fn list(&self) -> StoreResult<Vec<ReplicaObject>>;

    /// Puts what the local file `path` holds as `name`, whole or not at all.
    ///
    /// # Errors
    /// The storage's errors, or [`StoreError::Io`] reading `path`; `name` is as it was then.
    fn put_file(&self, name: &str, path: &Path) -> StoreResult<()>;

    /// Puts `bytes` as `name` if `name` is still the version `tag` read before (`None`:
    /// if there is no `name`), whole or not at all. Returns the tag of the version put, or
    /// `None` when `name` was not as expected (nothing was put then).
    ///
    /// # Errors
    /// The storage's errors; `name` is as it was then.
    fn put_bytes_if(
        &self,
        name: &str,
        bytes: Vec<u8>,
        tag: Option<&str>,
    ) -> StoreResult<Option<String>>;

    /// A reader over the object `name`; `None` when there is none.
    ///
    /// # Errors
    /// The storage's errors.
    fn get(&self, name: &str) -> StoreResult<Option<Box<dyn Read + Send + '_>>>;

    /// The object `name` whole, with the tag of the version read (what
    /// [`ArchiveReplica::put_bytes_if`] compares); `None` when there is none.
    ///
    /// # Errors
    /// The storage's errors.
    fn get_tagged(&self, name: &str) -> StoreResult<Option<(Vec<u8>, String)>>;

    /// Removes the objects `names` (one already gone is not an error).
    ///
    /// # Errors
    /// The storage's errors.
    fn remove(&self, names: &[String]) -> StoreResult<()>;
}

/// One object of an [`ArchiveReplica`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaObject {
    /// Its name.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// When it was last written, as the storage stamps it.
    pub written_at: DateTime<Utc>,
}

/// What [`push_archive`] did. Serialises with camelCase names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushReport {
    /// Where the archive went.
    pub replica: String,
    /// The days uploaded, oldest first.
    pub uploaded: Vec<NaiveDate>,
    /// Bytes those took.
    pub bytes: u64,
    /// Days the replica held already, as the manifest records them.
    pub kept: u64,
    /// Objects removed from the replica: days dropped from the archive, leftovers.
    pub removed: Vec<String>,
}

/// What [`pull_archive`] did. Serialises with camelCase names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullReport {
    /// Where the archive came from.
    pub replica: String,
    /// The days downloaded, oldest first.
    pub downloaded: Vec<NaiveDate>,
    /// Bytes those took.
    pub bytes: u64,
    /// Days the local archive held already, as the manifest records them.
    pub kept: u64,
}

/// The replica's manifest, as it names itself in errors.
pub(crate) fn replica_manifest_path(replica: &dyn ArchiveReplica) -> PathBuf {
    PathBuf::from(format!("{}/logs/{MANIFEST_FILE}", replica.location()))
}

/// The replica's manifest, with the tag of the version read; `None`
/// when it has none.
pub(crate) fn replica_manifest(
    replica: &dyn ArchiveReplica,
) -> StoreResult<Option<(Manifest, String)>> {
    let Some((bytes, tag)) = replica.get_tagged(MANIFEST_FILE)? else {
        return Ok(None);
    };
    let manifest = Manifest::parse(&bytes, &replica_manifest_path(replica))?;
    Ok(Some((manifest, tag)))
}

/// The error of a writer that finds the manifest changed since it read it.
pub(crate) fn changed_meanwhile(replica: &dyn ArchiveReplica, doing: &str) -> StoreError {
    StoreError::Busy {
        context: format!(
            "{doing}: another run changed the archive at {} since this one read its manifest; \
             this one changed nothing there, and nothing it archived left the store",
            replica.location()
        ),
        source: store_core::kit::engine_message("the archive's manifest changed"),
    }
}

/// Whether `name` is a day file's.
pub(crate) fn is_day_file(name: &str) -> bool {
    crate::read::day_of_file(name).is_some()
}

/// Copies the archive at `dir` to `replica`: every day its manifest records that the
/// replica does not hold as recorded (its file checked against the manifest first), then
/// the manifest, then the removal of the day files the manifest no longer names. Takes the
/// archive's lock, and first settles what an interrupted archive run left, as a run does.
/// Killed at any moment, the replica's manifest vouches for every day it names; a rerun
/// finishes the copy. A replica whose manifest is damaged is written over.
///
/// # Errors
/// [`StoreError::ArchiveMismatch`] naming the local days whose files are not what the
/// manifest records (nothing of those goes); [`StoreError::ArchiveManifest`] for a damaged
/// local manifest; [`StoreError::Busy`] while another run holds the archive; the replica's
/// errors.
pub fn push_archive(dir: &Path, replica: &dyn ArchiveReplica) -> StoreResult<PushReport> {
    let folder = dir.join("logs");
    let mut report = PushReport {
        replica: replica.location(),
        ..PushReport::default()
    };
    if !folder.exists() {
        return Ok(report);
    }
    let _lock = crate::lock::lock_archive(&folder, "pushing the archive")?;
    let mut manifest = Manifest::load(&folder)?;
    if manifest.settle(dir)? {
        manifest.save(&folder, &RealFiles)?;
    }
    // A damaged manifest on the replica vouches for nothing: every day goes again.
    let (theirs, tag) = match replica.get_tagged(MANIFEST_FILE)? {
        None => (None, None),
        Some((bytes, tag)) => match Manifest::parse(&bytes, &replica_manifest_path(replica)) {
            Ok(theirs) => (Some(theirs), Some(tag)),
            Err(StoreError::ArchiveManifest { .. }) => (None, Some(tag)),
            Err(other) => return Err(other),
        },
    };
    // Days the replica records that this archive never had are another archive's (or
    // those of runs that write there directly): a push would remove them.
    let unknown: Vec<String> = theirs
        .iter()
        .flat_map(Manifest::records)
        .filter(|(day, _)| manifest.record_of(*day).is_none() && !manifest.has_dropped(*day))
        .map(|(day, _)| day.to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(StoreError::invalid(
            "dir",
            format!(
                "the replica at {} records {} as the archive at {} does not: it holds another \
                 archive's days, which a push would remove; nothing was pushed",
                replica.location(),
                unknown.join(", "),
                dir.display()
            ),
        ));
    }
    let held = sizes(replica)?;
    let records = manifest.records();
    let mut changed = Vec::new();
    for (day, record) in &records {
        let on_replica = theirs.as_ref().and_then(|theirs| theirs.record_of(*day));
        if on_replica == Some(record) && held.get(&record.file) == Some(&record.bytes) {
            report.kept += 1;
            continue;
        }
        let path = folder.join(&record.file);
        let found = DayRecord::of_file(&path, *day);
        if found.as_ref().ok() != Some(record) {
            changed.push(format!("{day} (changed)"));
            continue;
        }
        replica.put_file(&record.file, &path)?;
        report.uploaded.push(*day);
        report.bytes += record.bytes;
    }
    if !changed.is_empty() {
        return Err(StoreError::ArchiveMismatch {
            manifest: folder.join(MANIFEST_FILE),
            days: changed.join(", "),
        });
    }
    manifest.written_after(theirs.as_ref());
    let bytes = manifest.to_bytes(&folder)?;
    if replica
        .put_bytes_if(MANIFEST_FILE, bytes, tag.as_deref())?
        .is_none()
    {
        return Err(changed_meanwhile(replica, "pushing the archive"));
    }
    let named: BTreeSet<&str> = records.iter().map(|(_, r)| r.file.as_str()).collect();
    report.removed = held
        .keys()
        .filter(|name| is_day_file(name) && !named.contains(name.as_str()))
        .cloned()
        .collect();
    replica.remove(&report.removed)?;
    Ok(report)
}

/// Copies the archive at `replica` into the folder `dir` (made if missing): every day its
/// manifest records that the folder does not hold as recorded, each downloaded to a
/// temporary file, checked against the manifest, synced and renamed into place; then the
/// manifest. Takes the archive's lock. Killed at any moment, the folder's manifest vouches
/// for what it names; a rerun finishes.
///
/// # Errors
/// [`StoreError::ArchiveManifest`] when the replica has no manifest or a damaged one;
/// [`StoreError::ArchiveMismatch`] naming the days whose object is not what the manifest
/// records (the rest are pulled, the manifest is not); [`StoreError::InvalidInput`]
/// (`dir`) when the folder's archive records a day the replica does not (push it first);
/// the replica's and the file system's errors.
pub fn pull_archive(replica: &dyn ArchiveReplica, dir: &Path) -> StoreResult<PullReport> {
    let files = &RealFiles;
    let folder = dir.join("logs");
    store_core::kit::create_folders(files, &folder)
        .map_err(|err| StoreError::io(&folder, "creating the archive folder", err))?;
    let _lock = crate::lock::lock_archive(&folder, "pulling the archive")?;
    let Some((mut manifest, ..)) = replica_manifest(replica)? else {
        return Err(StoreError::ArchiveManifest {
            path: replica_manifest_path(replica),
            reason: "there is none: nothing was pushed there".into(),
        });
    };
    let theirs = manifest.records();
    let ours = Manifest::load(&folder)?.records();
    let unknown: Vec<String> = ours
        .iter()
        .filter(|day| !theirs.contains(day))
        .map(|(day, _)| day.to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(StoreError::invalid(
            "dir",
            format!(
                "the archive at {} records {} as the replica does not: push it first",
                dir.display(),
                unknown.join(", ")
            ),
        ));
    }
    let mut report = PullReport {
        replica: replica.location(),
        ..PullReport::default()
    };
    let mut changed = Vec::new();
    for (day, record) in &theirs {
        let path = folder.join(&record.file);
        if DayRecord::of_file(&path, *day).is_ok_and(|found| found == *record) {
            report.kept += 1;
            continue;
        }
        if download(replica, &folder, *day, record, files)? {
            report.downloaded.push(*day);
            report.bytes += record.bytes;
        } else {
            changed.push(format!("{day} (changed on the replica)"));
        }
    }
    if !changed.is_empty() {
        return Err(StoreError::ArchiveMismatch {
            manifest: replica_manifest_path(replica),
            days: changed.join(", "),
        });
    }
    // The folder's own form: a folder's manifest counts no writes.
    manifest.in_a_folder();
    manifest.save(&folder, files)?;
    Ok(report)
}

/// Downloads `record`'s object into the folder through a temporary file; renames it into
/// place when it is what the record says. Returns whether it was (a missing object is not).
fn download(
    replica: &dyn ArchiveReplica,
    folder: &Path,
    day: NaiveDate,
    record: &DayRecord,
    files: &dyn FileOps,
) -> StoreResult<bool> {
    let temp = folder.join(format!(".pull-{}", record.file));
    let path = folder.join(&record.file);
    let Some(mut reader) = replica.get(&record.file)? else {
        return Ok(false);
    };
    let _ = std::fs::remove_file(&temp);
    let mut out = files
        .create_new(&temp)
        .map_err(|err| StoreError::io(&temp, "creating a day file", err))?;
    copy_out(&mut reader, &mut out, files, &temp)?;
    files
        .sync_file(&out)
        .map_err(|err| StoreError::io(&temp, "syncing a day file", err))?;
    drop(out);
    // Read under its temporary name: the record it makes names that file.
    let whole = DayRecord::of_file(&temp, day).is_ok_and(|found| {
        DayRecord {
            file: record.file.clone(),
            ..found
        } == *record
    });
    if !whole {
        let _ = std::fs::remove_file(&temp);
        return Ok(false);
    }
    files
        .rename(&temp, &path)
        .map_err(|err| StoreError::io(&path, "renaming a day file into place", err))?;
    files
        .sync_dir(folder)
        .map_err(|err| StoreError::io(folder, "syncing the archive folder", err))?;
    Ok(true)
}

/// Copies what `reader` yields into `out` (the file `path`) through `files`.
pub(crate) fn copy_out(
    reader: &mut dyn Read,
    out: &mut std::fs::File,
    files: &dyn FileOps,
    path: &Path,
) -> StoreResult<()> {
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(|err| StoreError::io(path, "downloading a day file", err))?;
        if n == 0 {
            return Ok(());
        }
        files
            .write_all(out, &buffer[..n])
            .map_err(|err| StoreError::io(path, "writing a downloaded day file", err))?;
    }
}

/// Checks every day of the archive at `replica` against its manifest, in place: each
/// object is read whole (through a temporary file under the system's temporary folder) and
/// compared with its record; a recorded day without its object, and a day object the manifest does not name
/// (a leftover the next push removes), are named.
///
/// # Errors
/// [`StoreError::ArchiveManifest`] when the replica has no manifest or a damaged one; the
/// replica's and the file system's errors.
pub fn verify_replica(replica: &dyn ArchiveReplica) -> StoreResult<ArchiveVerification> {
    let Some((theirs, ..)) = replica_manifest(replica)? else {
        return Err(StoreError::ArchiveManifest {
            path: replica_manifest_path(replica),
            reason: "there is none: nothing was pushed there".into(),
        });
    };
    let records = theirs.records();
    let held = sizes(replica)?;
    let base = replica.location();
    // Each object is read whole into a file of its own here, removed with the folder.
    let scratch = scratch_folder()?;
    let mut checks = Vec::new();
    for (day, record) in &records {
        let file = PathBuf::from(format!("{base}/logs/{}", record.file));
        let status = match fetch_checked(replica, scratch.path(), *day, record)? {
            Ok(path) => {
                let _ = std::fs::remove_file(path);
                DayStatus::Sound
            }
            Err(wrong) => wrong,
        };
        checks.push(DayCheck {
            day: *day,
            file,
            status,
        });
    }
    // A dropped day's object still there (a drop cut before it removed it) is the next
    // run's to remove, and not a day of the archive.
    let named: BTreeSet<&str> = records
        .iter()
        .map(|(_, r)| r.file.as_str())
        .chain(theirs.dropped_files())
        .collect();
    for name in held.keys().filter(|name| !named.contains(name.as_str())) {
        if let Some(day) = crate::read::day_of_file(name) {
            checks.push(DayCheck {
                day,
                file: PathBuf::from(format!("{base}/logs/{name}")),
                status: DayStatus::NotRecorded,
            });
        }
    }
    checks.sort_by_key(|check| check.day);
    Ok(ArchiveVerification {
        manifest: replica_manifest_path(replica),
        days: checks,
    })
}

/// Downloads `record`'s object into `scratch`, under its own name, and checks it against the
/// record: its path there, or how it differs from the record (`Missing`, `Changed`,
/// `Unreadable`), the download removed then.
pub(crate) fn fetch_checked(
    replica: &dyn ArchiveReplica,
    scratch: &Path,
    day: NaiveDate,
    record: &DayRecord,
) -> StoreResult<Result<PathBuf, DayStatus>> {
    let path = scratch.join(&record.file);
    let Some(mut reader) = replica.get(&record.file)? else {
        return Ok(Err(DayStatus::Missing {
            expected: record.clone(),
        }));
    };
    let mut out = std::fs::File::create(&path)
        .map_err(|err| StoreError::io(&path, "creating a scratch file", err))?;
    copy_out(&mut reader, &mut out, &RealFiles, &path)?;
    drop(out);
    let wrong = match DayRecord::of_file(&path, day) {
        Ok(found) if found == *record => return Ok(Ok(path)),
        Ok(found) => DayStatus::Changed {
            expected: record.clone(),
            found,
        },
        Err(err) => DayStatus::Unreadable {
            reason: err.to_string(),
        },
    };
    let _ = std::fs::remove_file(&path);
    Ok(Err(wrong))
}

/// A scratch folder under the system's temporary folder, removed with the value.
pub(crate) fn scratch_folder() -> StoreResult<tempfile::TempDir> {
    tempfile::tempdir()
        .map_err(|err| StoreError::io(std::env::temp_dir(), "making a scratch folder", err))
}

/// Every object of `replica` by name, with its size.
fn sizes(replica: &dyn ArchiveReplica) -> StoreResult<BTreeMap<String, u64>> {
    Ok(replica
        .list()?
        .into_iter()
        .map(|object| (object.name, object.bytes))
        .collect())
}
