//! The archive's manifest, `<dir>/logs/manifest.json`: for each archived day, its file, the
//! file's SHA-256, its entry count and byte size, and its first and last id; the whole
//! checksummed. An archive run records a day in two steps around the rename of its file
//! (the new file's record as `pending`, then as the day's record), each written to a
//! temporary file, synced and renamed into place, so that a run killed at any moment leaves
//! a manifest that names what every day file holds, or is about to hold. [`verify_archive`]
//! checks every day file against it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use store_core::kit::FileOps;
use store_core::{LogId, StoreError, StoreResult};

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

/// The manifest as it is stored.
#[derive(Debug, Serialize, Deserialize)]
struct ManifestFile {
    format: String,
    version: u32,
    days: Vec<DayState>,
    /// The SHA-256 of `days` as this build serialises them, in hex.
    sha256: String,
}

/// The archive's manifest, day by day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    days: BTreeMap<NaiveDate, DayState>,
}

fn days_digest(days: &[DayState]) -> StoreResult<String> {
    let bytes = serde_json::to_vec(days).map_err(|err| StoreError::Io {
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
            Err(err) => return Err(io_error(&path, "reading the archive manifest", err)),
        };
        let damaged = |reason: String| StoreError::ArchiveManifest {
            path: path.clone(),
            reason,
        };
        let file: ManifestFile =
            serde_json::from_slice(&bytes).map_err(|err| damaged(err.to_string()))?;
        if file.format != FORMAT || file.version != VERSION {
            return Err(damaged(format!(
                "it is {:?} version {}, not {FORMAT:?} version {VERSION}",
                file.format, file.version
            )));
        }
        if days_digest(&file.days)? != file.sha256 {
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
        })
    }

    /// Writes the manifest into `folder` through `files`: a temporary file, synced, renamed
    /// into place, the folder synced.
    ///
    /// # Errors
    /// [`StoreError::Io`]; the manifest in place is the previous one then.
    pub(crate) fn save(&self, folder: &Path, files: &dyn FileOps) -> StoreResult<()> {
        let days: Vec<DayState> = self.days.values().cloned().collect();
        let file = ManifestFile {
            format: FORMAT.into(),
            version: VERSION,
            sha256: days_digest(&days)?,
            days,
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|err| {
            io_error(
                folder,
                "encoding the archive manifest",
                std::io::Error::other(err),
            )
        })?;
        bytes.push(b'\n');
        let path = folder.join(MANIFEST_FILE);
        let temp = folder.join(format!(".{MANIFEST_FILE}.tmp"));
        match std::fs::remove_file(&temp) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_error(&temp, "removing a leftover manifest", err)),
        }
        let mut out = files
            .create_new(&temp)
            .map_err(|err| io_error(&temp, "creating the archive manifest", err))?;
        files
            .write_all(&mut out, &bytes)
            .map_err(|err| io_error(&temp, "writing the archive manifest", err))?;
        files
            .sync_file(&out)
            .map_err(|err| io_error(&temp, "syncing the archive manifest", err))?;
        drop(out);
        files
            .rename(&temp, &path)
            .map_err(|err| io_error(&path, "renaming the archive manifest into place", err))?;
        files
            .sync_dir(folder)
            .map_err(|err| io_error(folder, "syncing the archive folder", err))
    }

    /// Notes `record` as what `day`'s file is about to hold.
    pub(crate) fn set_pending(&mut self, day: NaiveDate, record: DayRecord) {
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

    /// Settles what an interrupted run left in the archive at `dir`: a day whose file matches its pending record
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

impl DayRecord {
    /// What the day file `path` of `day` holds, read whole: every line must be an entry of
    /// the day, in id order.
    ///
    /// # Errors
    /// [`StoreError::ArchiveLine`] for a line that is not; [`StoreError::Io`], for a file
    /// that is not a regular file too.
    pub fn of_file(path: &Path, day: NaiveDate) -> StoreResult<DayRecord> {
        // Opened as a day file first: a FIFO in its place is refused, not read forever.
        let mut lines = DayFile::open(path, day)?;
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut file =
            std::fs::File::open(path).map_err(|err| io_error(path, "reading a day file", err))?;
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let read = file
                .read(&mut buffer)
                .map_err(|err| io_error(path, "reading a day file", err))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            bytes += read as u64;
        }
        let (mut entries, mut first_id, mut last_id) = (0u64, None, None);
        while let Some(id) = lines.peek_id()? {
            first_id.get_or_insert(id);
            last_id = Some(id);
            entries += 1;
            lines.take();
        }
        Ok(DayRecord {
            file: file_name(path),
            sha256: hex::encode(hasher.finalize()),
            entries,
            bytes,
            first_id,
            last_id,
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn io_error(path: &Path, context: &str, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: Some(path.to_owned()),
        context: context.to_owned(),
        source: source.into(),
    }
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
    /// Whether every day is sound or pending: nothing changed, missing or unreadable.
    pub fn is_sound(&self) -> bool {
        self.days
            .iter()
            .all(|day| matches!(day.status, DayStatus::Sound | DayStatus::Pending))
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
    let files: BTreeMap<NaiveDate, PathBuf> =
        crate::read::day_files(dir, &(NaiveDate::MIN..=NaiveDate::MAX))?
            .into_iter()
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
