//! What a store holds and whether it is whole, as reports a program can show or serialise:
//!
//! - [`stats`]: its size, span, runs by status and files, from counters (no read through);
//! - [`check`]: the log's file by its engine, every blob against its digest, every archive
//!   file line by line; what a daemon runs on a schedule to learn of damage before a reader
//!   meets it.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Serialize, Serializer};
use store_core::kit::ActivityCheck;
use store_core::{Checked, Digest, RunCounts, StoreError, StoreResult};

use crate::archive::{WATERMARK_KEY, read_archive};
use crate::{Location, Store};

/// What [`stats`] found. Serialises with camelCase names, `runsByStatus` as an object from
/// status to count; a store on a server has no file sizes (`null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStats {
    /// The store, as it may be shown.
    pub store: Location,
    /// Entries in the store (archived ones are no longer counted).
    pub entries: u64,
    /// The first UTC day with entries; `None` for an empty log.
    pub first_day: Option<NaiveDate>,
    /// The last UTC day with entries; `None` for an empty log.
    pub last_day: Option<NaiveDate>,
    /// Runs, whatever their status.
    pub runs: u64,
    /// Runs by status.
    pub runs_by_status: RunCounts,
    /// Queued and started runs: what crash recovery resumes.
    pub active_runs: u64,
    /// Blobs in the store.
    pub blobs: u64,
    /// The last day the archive has moved out, if it ever ran ([`WATERMARK_KEY`]).
    pub archive_watermark: Option<String>,
    /// Bytes of the log's files (its journals included); `None` on a server.
    pub log_file_bytes: Option<u64>,
    /// Bytes of the blob file; `None` on a server, or with the blobs on object storage.
    pub blob_file_bytes: Option<u64>,
    /// Where the blobs are when not beside the log ([`Store::blobs_at`]).
    pub blobs_at: Option<String>,
    /// The store's archive folder ([`Location::archive_dir`]).
    pub archive_dir: PathBuf,
    /// Bytes of the archive's day files.
    pub archive_bytes: u64,
}

/// The size, span and runs of `store` from its counters and the ends of its indexes, and
/// the sizes of its files: in time that does not grow with the log.
///
/// # Errors
/// The stores' errors.
pub fn stats(store: &Store) -> StoreResult<StoreStats> {
    let log = store.log.log_stats()?;
    let on_disk = !store.location.is_server();
    let archive_dir = store.location.archive_dir();
    Ok(StoreStats {
        store: store.location.clone(),
        entries: log.entries,
        first_day: log.first_day,
        last_day: log.last_day,
        runs: log.runs.total(),
        runs_by_status: log.runs,
        active_runs: log
            .runs
            .iter()
            .filter(|(status, _)| status.is_active())
            .map(|(_, n)| n)
            .sum(),
        blobs: store.blobs.count()?,
        archive_watermark: store.log.meta_get(WATERMARK_KEY)?,
        log_file_bytes: on_disk.then(|| store.location.log_bytes()),
        blob_file_bytes: (on_disk && store.blobs_at.is_none()).then(|| store.location.blob_bytes()),
        blobs_at: store.blobs_at.clone(),
        archive_bytes: folder_size(&archive_dir.join("logs")),
        archive_dir,
    })
}

/// The total size of the files in `dir` (0 when there is none).
fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.metadata().ok())
                .filter(|meta| meta.is_file())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

/// What [`check`] found. Serialises with camelCase names, the log's verdict and the
/// archive's damage as text (`"sound"`, `"repaired …"`, `"damaged: …"`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreCheck {
    /// The store, as it may be shown.
    pub store: Location,
    /// What the log's engine found in its file: sound, repaired, or the damage.
    #[serde(serialize_with = "log_verdict")]
    pub log: Result<Checked, StoreError>,
    /// The activity counts against a walk of the log, in one snapshot: they agree, or the
    /// first that differs; an error when the log could not be read.
    #[serde(serialize_with = "activity_verdict")]
    pub activity: Result<ActivityCheck, StoreError>,
    /// How many blobs were re-hashed.
    pub blobs_checked: u64,
    /// Every blob whose content does not hash to its name, in digest order.
    pub blobs_corrupt: Vec<Digest>,
    /// The store's archive folder ([`Location::archive_dir`]).
    pub archive: PathBuf,
    /// The archived entries read back before the end or the first damage.
    pub archived_entries: u64,
    /// The first damaged archive line or file, if any (reading stops there), or the day
    /// files that do not match the archive's manifest.
    #[serde(serialize_with = "shown")]
    pub archive_damage: Option<StoreError>,
}

impl StoreCheck {
    /// Whether nothing was found damaged: the log sound or repaired, every blob whole, every
    /// archive line readable.
    pub fn is_sound(&self) -> bool {
        self.problem().is_none()
    }

    /// The first problem found, as the error a caller fails with: the log's, the first
    /// corrupt blob's ([`StoreError::Corrupt`]), the archive's; `None` when the store is
    /// sound.
    pub fn problem(&self) -> Option<StoreError> {
        if let Err(err) = &self.log {
            return Some(err.clone());
        }
        match &self.activity {
            Err(err) => return Some(err.clone()),
            Ok(differ @ ActivityCheck::Differ { hour, series, .. }) => {
                return Some(StoreError::corrupt(
                    "activity",
                    format!("{} {series}", store_core::kit::format_ts(*hour)),
                    differ.to_string(),
                ));
            }
            Ok(ActivityCheck::Agree { .. }) => {}
        }
        if let Some(digest) = self.blobs_corrupt.first() {
            return Some(StoreError::Corrupt { digest: *digest });
        }
        self.archive_damage.clone()
    }
}

/// Checks the whole of `store`: its log's file ([`store_core::LogMaintenance::check`]), its
/// activity counts against a walk of its log in one snapshot
/// ([`store_core::kit::check_activity`]),
/// every blob ([`store_core::BlobStore::verify_all`]) and every file of its archive folder,
/// each line read back and each file against the archive's manifest. Damage is part of the answer, not an error: each part is checked
/// whatever the others found.
///
/// # Errors
/// The blob store's errors when its blobs cannot be listed.
pub fn check(store: &Store) -> StoreResult<StoreCheck> {
    let log = store.log.check();
    let mut activity = None;
    let pinned = store.log.with_snapshot(&mut |view| {
        activity = Some(store_core::kit::check_activity(view));
        Ok(())
    });
    let activity = match (pinned, activity) {
        (_, Some(found)) => found,
        (Err(err), None) => Err(err),
        (Ok(()), None) => store_core::kit::check_activity(store.log.as_ref()),
    };
    let blobs = store.blobs.verify_all()?;
    let archive = store.location.archive_dir();
    let mut archived_entries = 0_u64;
    let mut archive_damage = None;
    for entry in read_archive(&archive, NaiveDate::MIN..=NaiveDate::MAX) {
        match entry {
            Ok(_) => archived_entries += 1,
            Err(err) => {
                archive_damage = Some(err);
                break;
            }
        }
    }
    // Every day file against the manifest; a day it has no record of yet (an archive made
    // before manifests) is not damage: the next archive run records it.
    if archive_damage.is_none() {
        archive_damage = match crate::archive::verify_archive(&archive) {
            Ok(verified) => verified.damage(false),
            Err(err) => Some(err),
        };
    }
    Ok(StoreCheck {
        store: store.location.clone(),
        log,
        activity,
        blobs_checked: blobs.checked,
        blobs_corrupt: blobs.corrupt,
        archive,
        archived_entries,
        archive_damage,
    })
}

fn log_verdict<S: Serializer>(
    log: &Result<Checked, StoreError>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match log {
        Ok(checked) => serializer.collect_str(checked),
        Err(err) => serializer.collect_str(&format_args!("damaged: {err}")),
    }
}

fn activity_verdict<S: Serializer>(
    activity: &Result<ActivityCheck, StoreError>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match activity {
        Ok(agree @ ActivityCheck::Agree { .. }) => serializer.collect_str(agree),
        Ok(differ) => serializer.collect_str(&format_args!("damaged: {differ}")),
        Err(err) => serializer.collect_str(&format_args!("unread: {err}")),
    }
}

fn shown<S: Serializer>(err: &Option<StoreError>, serializer: S) -> Result<S::Ok, S::Error> {
    match err {
        Some(err) => serializer.collect_str(err),
        None => serializer.serialize_none(),
    }
}
