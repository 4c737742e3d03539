//! The archive's manifest, `<dir>/logs/manifest.json`: for each archived day, its file, the
//! file's SHA-256, its entry count and byte size, and its first and last id; the whole
//! checksummed. An archive run records a day in two steps around the rename of its file
//! (the new file's record as `pending`, then as the day's record), each written to a
//! temporary file, synced and renamed into place, so that a run killed at any moment leaves
//! a manifest that names what every day file holds, or is about to hold. [`verify_archive`]
//! checks every day file against it.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use store_core::kit::FileOps;
use store_core::{Digest, LogId, StoreError, StoreResult};

use crate::read::DayFile;

/// The manifest's file name in the archive's `logs` folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What the manifest's `format` field says.
const FORMAT: &str = "nerve-store archive manifest";

/// The manifest format this build writes and reads.
const VERSION: u32 = 1;

/// What a day file holds, as the manifest records it. Serialises with camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayRecord {
    /// The file's name in the archive's `logs` folder.
    pub file: String,
    /// The SHA-256 of the file's bytes, in hex.
    pub sha256: String,
    /// How many entries (lines) the file holds.
    pub entries: u64,
    /// The file's size.
    pub bytes: u64,
    /// The id of its first entry; `None` for an empty file.
    pub first_id: Option<LogId>,
    /// The id of its last entry.
    pub last_id: Option<LogId>,
    /// Every blob its entries reference, each once, in digest order: what garbage
    /// collection keeps while the day is in the archive (left out when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<Digest>,
}

impl DayRecord {
    /// The record of the file `file` before a line is counted in it.
    pub(crate) fn empty(file: String) -> Self {
        DayRecord {
            file,
            sha256: String::new(),
            entries: 0,
            bytes: 0,
            first_id: None,
            last_id: None,
            blobs: Vec::new(),
        }
    }

    /// Adds the blobs an entry of the file references.
    pub(crate) fn reference(&mut self, blobs: &[Digest]) {
        for digest in blobs {
            if let Err(at) = self.blobs.binary_search(digest) {
                self.blobs.insert(at, *digest);
            }
        }
    }
}

/// One day in the manifest: its record, and the record of the file an interrupted run was
/// about to rename into place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DayState {
    day: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<DayRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<DayRecord>,
}

/// A day the archive dropped (`drop_days`): its record as it was, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dropped {
    day: NaiveDate,
    record: DayRecord,
}

/// The manifest as it is stored.
#[derive(Debug, Serialize, Deserialize)]
struct ManifestFile {
    format: String,
    version: u32,
    days: Vec<DayState>,
    /// Days dropped, oldest first: their files are gone, or going.
    #[serde(default)]
    dropped: Vec<Dropped>,
    /// How many times an archive on object storage has been written: each write counts, so
    /// that no two of its versions have the same bytes (or the same `ETag`). Left out of a
    /// folder's manifest.
    #[serde(default, skip_serializing_if = "is_zero")]
    generation: u64,
    /// The SHA-256 of `days` and `dropped` as this build serialises them, in hex.
    sha256: String,
}

/// The archive's manifest, day by day, and the days it dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    days: BTreeMap<NaiveDate, DayState>,
    dropped: BTreeMap<NaiveDate, DayRecord>,
    generation: u64,
}

fn is_zero(generation: &u64) -> bool {
    *generation == 0
}

fn days_digest(days: &[DayState], dropped: &[Dropped]) -> StoreResult<String> {
    let bytes = serde_json::to_vec(&(days, dropped)).map_err(|err| StoreError::Io {
        path: None,
        context: "encoding the archive manifest".into(),
        source: std::io::Error::other(err).into(),
    })?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

impl Manifest {
    /// The manifest of the archive folder `folder` (`<dir>/logs`); an empty one where there
    /// is none yet.
    ///
    /// # Errors
    /// [`StoreError::ArchiveManifest`] for a manifest that is not the one the archive wrote;
    /// [`StoreError::Io`].
    pub(crate) fn load(folder: &Path) -> StoreResult<Manifest> {
        let path = folder.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest::default());
            }
            Err(err) => return Err(StoreError::io(&path, "reading the archive manifest", err)),
        };
        Manifest::parse(&bytes, &path)
    }

    /// The manifest whose stored form is `bytes`, read from `path` (what an error names).
    ///
    /// # Errors
    /// [`StoreError::ArchiveManifest`] for a manifest that is not the one the archive wrote.
    pub(crate) fn parse(bytes: &[u8], path: &Path) -> StoreResult<Manifest> {
        let damaged = |reason: String| StoreError::ArchiveManifest {
            path: path.to_owned(),
            reason,
        };
        let file: ManifestFile =
            serde_json::from_slice(bytes).map_err(|err| damaged(err.to_string()))?;
        if file.format != FORMAT || file.version != VERSION {
            return Err(damaged(format!(
                "it is {:?} version {}, not {FORMAT:?} version {VERSION}",
                file.format, file.version
            )));
        }
        if days_digest(&file.days, &file.dropped)? != file.sha256 {
            return Err(damaged(
                "its days do not match its checksum: it was changed".into(),
            ));
        }
        Ok(Manifest {
            days: file
                .days
                .into_iter()
                .map(|state| (state.day, state))
                .collect(),
            dropped: file
                .dropped
                .into_iter()
                .map(|dropped| (dropped.day, dropped.record))
                .collect(),
            generation: file.generation,
        })
    }

    /// The manifest as it is stored: its days, its dropped days and their checksum, as
    /// pretty JSON with a final newline. `folder` is what an error names.
    ///
    /// # Errors
    /// [`StoreError::Io`] when it cannot be encoded.
    pub(crate) fn to_bytes(&self, folder: &Path) -> StoreResult<Vec<u8>> {
        let days: Vec<DayState> = self.days.values().cloned().collect();
        let dropped: Vec<Dropped> = self
            .dropped
            .iter()
            .map(|(day, record)| Dropped {
                day: *day,
                record: record.clone(),
            })
            .collect();
        let file = ManifestFile {
            format: FORMAT.into(),
            version: VERSION,
            sha256: days_digest(&days, &dropped)?,
            days,
            dropped,
            generation: self.generation,
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|err| {
            StoreError::io(
                folder,
                "encoding the archive manifest",
                std::io::Error::other(err),
            )
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Writes the manifest into `folder` through `files` ([`write_manifest`]).
    ///
    /// # Errors
    /// [`StoreError::Io`]; the manifest in place is the previous one then.
    pub(crate) fn save(&self, folder: &Path, files: &dyn FileOps) -> StoreResult<()> {
        write_manifest(folder, &self.to_bytes(folder)?, files)
    }

    /// Notes `record` as what `day`'s file is about to hold. A day dropped before (an entry
    /// that arrived for it later) is a day of the archive again.
    /// The days of `days` the manifest records, oldest first, each with its record and
    /// the record an interrupted run left pending, if any.
    pub(crate) fn recorded_in(
        &self,
        days: &std::ops::RangeInclusive<NaiveDate>,
    ) -> Vec<(NaiveDate, DayRecord, Option<DayRecord>)> {
        self.days
            .range(days.clone())
            .filter_map(|(day, state)| Some((*day, state.record.clone()?, state.pending.clone())))
            .collect()
    }

    /// Every day the manifest records, oldest first, with its record.
    pub(crate) fn records(&self) -> Vec<(NaiveDate, DayRecord)> {
        self.days
            .values()
            .filter_map(|state| Some((state.day, state.record.clone()?)))
            .collect()
    }

    /// The days of `days` the archive dropped, oldest first.
    pub(crate) fn dropped_in(&self, days: &std::ops::RangeInclusive<NaiveDate>) -> Vec<NaiveDate> {
        self.dropped
            .range(days.clone())
            .map(|(day, _)| *day)
            .collect()
    }

    pub(crate) fn set_pending(&mut self, day: NaiveDate, record: DayRecord) {
        self.dropped.remove(&day);
        self.state(day).pending = Some(record);
    }

    /// Makes `day`'s pending record its record (its file is in place).
    pub(crate) fn commit(&mut self, day: NaiveDate) {
        let state = self.state(day);
        if let Some(pending) = state.pending.take() {
            state.record = Some(pending);
        }
    }

    /// Records `record` as what `day`'s file holds.
    pub(crate) fn set(&mut self, day: NaiveDate, record: DayRecord) {
        let state = self.state(day);
        state.record = Some(record);
        state.pending = None;
    }

    fn state(&mut self, day: NaiveDate) -> &mut DayState {
        self.days.entry(day).or_insert_with(|| DayState {
            day,
            ..DayState::default()
        })
    }

    /// What the manifest records `day`'s file holds, if it records the day.
    pub(crate) fn record_of(&self, day: NaiveDate) -> Option<&DayRecord> {
        self.days.get(&day).and_then(|state| state.record.as_ref())
    }

    /// Records `record` as `day`'s, a day dropped before (an entry that arrived for it
    /// later) being a day of the archive again.
    pub(crate) fn record(&mut self, day: NaiveDate, record: DayRecord) {
        self.dropped.remove(&day);
        self.set(day, record);
    }

    /// Moves `day`'s record to the dropped days; returns it.
    pub(crate) fn drop_day(&mut self, day: NaiveDate) -> Option<DayRecord> {
        let record = self.days.remove(&day)?.record?;
        self.dropped.insert(day, record.clone());
        Some(record)
    }

    /// Forgets every pending record; returns whether there was one.
    pub(crate) fn forget_pending(&mut self) -> bool {
        let mut forgot = false;
        for state in self.days.values_mut() {
            forgot |= state.pending.take().is_some();
        }
        self.days.retain(|_, state| state.record.is_some());
        forgot
    }

    /// The file names of the dropped days.
    pub(crate) fn dropped_files(&self) -> impl Iterator<Item = &str> {
        self.dropped.values().map(|record| record.file.as_str())
    }

    /// Counts this write of the manifest as the one after `before` (the version it
    /// replaces, if any): see [`ManifestFile::generation`].
    pub(crate) fn written_after(&mut self, before: Option<&Manifest>) {
        self.generation = before.map_or(self.generation, |before| before.generation) + 1;
    }

    /// The manifest as a folder keeps it: without the count of writes.
    pub(crate) fn in_a_folder(&mut self) {
        self.generation = 0;
    }

    /// Whether the archive dropped `day`.
    pub(crate) fn has_dropped(&self, day: NaiveDate) -> bool {
        self.dropped.contains_key(&day)
    }

    /// Every blob the days keep alive: those of each day's record, and of the record an
    /// interrupted run left pending, in digest order, each once.
    pub(crate) fn blobs(&self) -> Vec<Digest> {
        let mut blobs: Vec<Digest> = self
            .days
            .values()
            .flat_map(|state| state.record.iter().chain(state.pending.iter()))
            .flat_map(|record| record.blobs.iter().copied())
            .collect();
        blobs.sort_unstable();
        blobs.dedup();
        blobs
    }

    /// The days whose records list `digest`, oldest first.
    pub(crate) fn days_referencing(&self, digest: &Digest) -> Vec<NaiveDate> {
        self.days
            .values()
            .filter(|state| {
                state
                    .record
                    .iter()
                    .chain(state.pending.iter())
                    .any(|record| record.blobs.binary_search(digest).is_ok())
            })
            .map(|state| state.day)
            .collect()
    }

    /// Settles what an interrupted run left in the archive at `dir`: a dropped day's file
    /// still there is removed; a day whose file matches its pending record
    /// takes it as its record, and a pending record its file does not match (the run died
    /// before the rename) is dropped; a day file the manifest has no record of (written
    /// before archives had manifests) is recorded as it is. Returns whether anything
    /// changed.
    ///
    /// # Errors
    /// [`StoreError::ArchiveLine`] for a day file that is not readable whole;
    /// [`StoreError::Io`].
    pub(crate) fn settle(&mut self, dir: &Path) -> StoreResult<bool> {
        let mut changed = false;
        for (day, path) in crate::read::day_files(dir, &(NaiveDate::MIN..=NaiveDate::MAX))? {
            if self.dropped.contains_key(&day) {
                // A drop killed between its manifest and its deletion: finished here.
                remove_day_file(&path)?;
                continue;
            }
            let state = self.days.get(&day);
            let pending = state.and_then(|state| state.pending.clone());
            let recorded = state.is_some_and(|state| state.record.is_some());
            if pending.is_none() && recorded {
                continue;
            }
            let found = DayRecord::of_file(&path, day)?;
            if pending.as_ref() == Some(&found) || !recorded {
                self.set(day, found);
            } else {
                self.state(day).pending = None;
            }
            changed = true;
        }
        Ok(changed)
    }
}

/// Writes `bytes` (a manifest's stored form) as the manifest of `folder` through `files`: a
/// temporary file, synced, renamed into place, the folder synced.
///
/// # Errors
/// [`StoreError::Io`]; the manifest in place is the previous one then.
pub(crate) fn write_manifest(folder: &Path, bytes: &[u8], files: &dyn FileOps) -> StoreResult<()> {
    let path = folder.join(MANIFEST_FILE);
    let temp = folder.join(format!(".{MANIFEST_FILE}.tmp"));
    match std::fs::remove_file(&temp) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(StoreError::io(&temp, "removing a leftover manifest", err)),
    }
    let mut out = files
        .create_new(&temp)
        .map_err(|err| StoreError::io(&temp, "creating the archive manifest", err))?;
    files
        .write_all(&mut out, bytes)
        .map_err(|err| StoreError::io(&temp, "writing the archive manifest", err))?;
    files
        .sync_file(&out)
        .map_err(|err| StoreError::io(&temp, "syncing the archive manifest", err))?;
    drop(out);
    files
        .rename(&temp, &path)
        .map_err(|err| StoreError::io(&path, "renaming the archive manifest into place", err))?;
    files
        .sync_dir(folder)
        .map_err(|err| StoreError::io(folder, "syncing the archive folder", err))
}

fn remove_day_file(path: &Path) -> StoreResult<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(StoreError::io(path, "removing a dropped day file", err)),
    }
}

impl DayRecord {
    /// What the day file `path` of `day` holds, read whole: every line must be an entry of
    /// the day, in id order.
    ///
    /// # Errors
    /// [`StoreError::ArchiveLine`] for a line that is not; [`StoreError::Io`], for a file
    /// that is not a regular file too.
    pub fn of_file(path: &Path, day: NaiveDate) -> StoreResult<DayRecord> {
        // Opened as a day file first: a FIFO in its place is refused, not read forever.
        let (mut lines, digest) = DayFile::open_hashed(path, day)?;
        let (mut entries, mut first_id, mut last_id) = (0u64, None, None);
        let mut referenced = DayRecord::empty(file_name(path));
        while let Some(id) = lines.peek_id()? {
            first_id.get_or_insert(id);
            last_id = Some(id);
            entries += 1;
            if let Some((_, blobs)) = lines.take() {
                referenced.reference(&blobs);
            }
        }
        // The lines were hashed as they were read; whatever the reader left unread after
        // them (nothing, normally) is hashed from the file.
        let (mut hasher, mut bytes) = digest.read_so_far();
        let mut file = std::fs::File::open(path)
            .map_err(|err| StoreError::io(path, "reading a day file", err))?;
        file.seek(SeekFrom::Start(bytes))
            .map_err(|err| StoreError::io(path, "reading a day file", err))?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = file
                .read(&mut buffer)
                .map_err(|err| StoreError::io(path, "reading a day file", err))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            bytes += read as u64;
        }
        Ok(DayRecord {
            file: file_name(path),
            sha256: hex::encode(hasher.finalize()),
            entries,
            bytes,
            first_id,
            last_id,
            blobs: referenced.blobs,
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How one day of the archive compares with the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum DayStatus {
    /// The file is what the manifest records.
    Sound,
    /// The file is what an interrupted run was writing; the next archive run records it.
    Pending,
    /// The file is not what the manifest records: changed, cut short, replaced.
    Changed {
        /// What the manifest records.
        expected: DayRecord,
        /// What the file holds.
        found: DayRecord,
    },
    /// The manifest records the day, and its file is not there.
    Missing {
        /// What the manifest records.
        expected: DayRecord,
    },
    /// The file is there and not readable whole (a line that is not an entry of the day).
    Unreadable {
        /// What is wrong with it.
        reason: String,
    },
    /// The file is there and the manifest has no record of it.
    NotRecorded,
}

/// One day of [`ArchiveVerification`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCheck {
    /// The UTC day.
    pub day: NaiveDate,
    /// Its file (where it should be, when it is missing).
    pub file: PathBuf,
    /// How it compares with the manifest.
    #[serde(flatten)]
    pub status: DayStatus,
}

/// What [`verify_archive`] found, day by day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveVerification {
    /// The manifest checked against.
    pub manifest: PathBuf,
    /// Every day the manifest records or the folder holds a file of, oldest first.
    pub days: Vec<DayCheck>,
}

impl ArchiveVerification {
    /// Whether every day is sound or pending: nothing changed, missing, unreadable or
    /// unrecorded.
    pub fn is_sound(&self) -> bool {
        self.days
            .iter()
            .all(|day| matches!(day.status, DayStatus::Sound | DayStatus::Pending))
    }

    /// The damage found, as the error a caller fails with: every day changed, missing or
    /// unreadable ([`StoreError::ArchiveMismatch`]); with `unrecorded`, the days not in the
    /// manifest too (the next archive run records them as they are). `None` when there is
    /// none.
    pub fn damage(&self, unrecorded: bool) -> Option<StoreError> {
        let days: Vec<String> = self
            .days
            .iter()
            .filter_map(|check| {
                let what = match &check.status {
                    DayStatus::Sound | DayStatus::Pending => return None,
                    DayStatus::NotRecorded if !unrecorded => return None,
                    DayStatus::NotRecorded => "not in the manifest".to_owned(),
                    DayStatus::Changed { .. } => "changed".to_owned(),
                    DayStatus::Missing { .. } => "missing".to_owned(),
                    DayStatus::Unreadable { reason } => format!("unreadable, {reason}"),
                };
                Some(format!("{} ({what})", check.day))
            })
            .collect();
        (!days.is_empty()).then(|| StoreError::ArchiveMismatch {
            manifest: self.manifest.clone(),
            days: days.join(", "),
        })
    }
}

/// Checks every day file of the archive at `dir` against its manifest: each file is read
/// whole and hashed, and compared with the day's record (or the record an interrupted run
/// left pending); a recorded day without its file, and a file without a record, are named.
///
/// # Errors
/// [`StoreError::ArchiveManifest`] for a manifest that is not the one the archive wrote;
/// [`StoreError::Io`].
pub fn verify_archive(dir: &Path) -> StoreResult<ArchiveVerification> {
    let folder = dir.join("logs");
    let manifest = Manifest::load(&folder)?;
    // A dropped day's file still there (a drop was killed before it removed it) is the
    // next run's to remove, and not a day of the archive.
    let files: BTreeMap<NaiveDate, PathBuf> =
        crate::read::day_files(dir, &(NaiveDate::MIN..=NaiveDate::MAX))?
            .into_iter()
            .filter(|(day, _)| !manifest.dropped.contains_key(day))
            .collect();
    let mut days: Vec<NaiveDate> = manifest
        .days
        .values()
        .filter(|state| state.record.is_some())
        .map(|state| state.day)
        .chain(files.keys().copied())
        .collect();
    days.sort_unstable();
    days.dedup();
    let mut checks = Vec::with_capacity(days.len());
    for day in days {
        let state = manifest.days.get(&day);
        let expected = state.and_then(|state| state.record.clone());
        let pending = state.and_then(|state| state.pending.clone());
        let (file, status) = match (files.get(&day), expected) {
            (None, Some(expected)) => {
                (folder.join(&expected.file), DayStatus::Missing { expected })
            }
            (None, None) => continue,
            (Some(path), expected) => {
                let status = match DayRecord::of_file(path, day) {
                    Err(StoreError::ArchiveLine { line, reason, .. }) => DayStatus::Unreadable {
                        reason: format!("line {line}: {reason}"),
                    },
                    Err(other) => DayStatus::Unreadable {
                        reason: other.to_string(),
                    },
                    Ok(found) if expected.as_ref() == Some(&found) => DayStatus::Sound,
                    Ok(found) if pending.as_ref() == Some(&found) => DayStatus::Pending,
                    Ok(found) => match expected {
                        Some(expected) => DayStatus::Changed { expected, found },
                        None => DayStatus::NotRecorded,
                    },
                };
                (path.clone(), status)
            }
        };
        checks.push(DayCheck { day, file, status });
    }
    Ok(ArchiveVerification {
        manifest: folder.join(MANIFEST_FILE),
        days: checks,
    })
}

/// Every blob the archive at `dir` keeps alive: those the manifest records for each day it
/// holds (a day's record, and the record an interrupted run left pending), in digest order,
/// each once. A dropped day keeps none. Reads the manifest only; an archive without one
/// (none yet, or written before manifests) keeps none.
///
/// # Errors
/// [`StoreError::ArchiveManifest`] for a manifest that is not the one the archive wrote;
/// [`StoreError::Io`].
pub fn archived_blobs(dir: &Path) -> StoreResult<Vec<Digest>> {
    Ok(Manifest::load(&dir.join("logs"))?.blobs())
}

/// Every day the archive at `dir` holds, oldest first, with what its manifest records of
/// it (file, entries, bytes, ids). Reads the manifest only; an archive without one holds
/// none.
///
/// # Errors
/// As [`archived_blobs`].
pub fn archived_days(dir: &Path) -> StoreResult<Vec<(NaiveDate, DayRecord)>> {
    Ok(Manifest::load(&dir.join("logs"))?.records())
}

/// The days of the archive at `dir` whose record lists `digest` among the blobs their
/// entries reference, oldest first. Reads the manifest only.
///
/// # Errors
/// As [`archived_blobs`].
pub fn days_referencing(dir: &Path, digest: &Digest) -> StoreResult<Vec<NaiveDate>> {
    Ok(Manifest::load(&dir.join("logs"))?.days_referencing(digest))
}

/// What [`drop_days`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DropReport {
    /// The days dropped, oldest first, each with what its file held.
    pub days: Vec<(NaiveDate, DayRecord)>,
    /// Entries those files held, all days together.
    pub entries: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// Retires every archived day before `before` from the archive at `dir`, with the
/// manifest's consent: only days the manifest records, whose files are what it records
/// (read whole and hashed first), are dropped. The manifest moves their records to its
/// `dropped` list first (written to a temporary file, synced, renamed into place), then
/// their files are removed and the folder synced: a drop killed in between is finished by
/// the next archive run, and `verify_archive` does not count those days. Days whose file is
/// not what the manifest records are refused, and nothing is dropped then.
///
/// # Errors
/// [`StoreError::ArchiveManifest`] for a damaged manifest; [`StoreError::InvalidInput`]
/// (`before`) naming the days whose files do not match the manifest; [`StoreError::Io`];
/// [`StoreError::Busy`] while an archive run holds the archive.
pub fn drop_days(dir: &Path, before: NaiveDate) -> StoreResult<DropReport> {
    let files = &store_core::kit::RealFiles;
    let folder = dir.join("logs");
    let mut report = DropReport::default();
    if !folder.exists() {
        return Ok(report);
    }
    let _lock = crate::lock::lock_archive(&folder, "dropping days")?;
    let mut manifest = Manifest::load(&folder)?;
    let verified = verify_archive(dir)?;
    let mut refused = Vec::new();
    for check in verified.days.iter().filter(|check| check.day < before) {
        match &check.status {
            DayStatus::Sound => {
                let record = manifest.days.get(&check.day).and_then(|s| s.record.clone());
                if let Some(record) = record {
                    report.entries += record.entries;
                    report.bytes += record.bytes;
                    report.days.push((check.day, record));
                }
            }
            other => refused.push(format!("{} ({})", check.day, status_name(other))),
        }
    }
    if !refused.is_empty() {
        return Err(StoreError::invalid(
            "before",
            format!(
                "the manifest does not vouch for {}: run `archive verify`, and `archive` to \
                 settle what an interrupted run left; nothing was dropped",
                refused.join(", ")
            ),
        ));
    }
    if report.days.is_empty() {
        return Ok(report);
    }
    for (day, _) in &report.days {
        manifest.drop_day(*day);
    }
    manifest.save(&folder, files)?;
    for (_, record) in &report.days {
        remove_day_file(&folder.join(&record.file))?;
    }
    files
        .sync_dir(&folder)
        .map_err(|err| StoreError::io(&folder, "syncing the archive folder", err))?;
    Ok(report)
}

fn status_name(status: &DayStatus) -> &'static str {
    match status {
        DayStatus::Sound => "sound",
        DayStatus::Pending => "pending",
        DayStatus::Changed { .. } => "changed",
        DayStatus::Missing { .. } => "missing",
        DayStatus::Unreadable { .. } => "unreadable",
        DayStatus::NotRecorded => "not in the manifest",
    }
}
