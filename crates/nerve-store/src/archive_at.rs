//! Where an archive is: a folder, or object storage; one set of calls for both, which the
//! command line and a daemon use alike.

use std::ops::{ControlFlow, RangeInclusive};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use store_archive::{
    ArchiveOptions, ArchiveReport, ArchiveVerification, DropReport, Progress, RestoreReport,
};
use store_core::{Digest, LogEntry, LogMaintenance, LogTransfer, StoreError, StoreResult};

/// The entries an archive reads back, one by one.
pub type ArchivedEntries<'a> = Box<dyn Iterator<Item = StoreResult<LogEntry>> + Send + 'a>;

/// An archive: a folder (`<dir>/logs/…`), or, with the `s3` feature, object storage
/// (`s3://bucket/prefix`, the same files under `<prefix>/logs/`) that runs write to
/// directly (docs/SPEC.md section 3).
#[derive(Debug)]
pub enum ArchiveAt {
    /// The archive in a folder.
    Folder(PathBuf),
    /// The archive on object storage.
    #[cfg(feature = "s3")]
    Object(Box<store_object::ObjectArchive>),
}

impl ArchiveAt {
    /// The archive `at` names: object storage for `s3://BUCKET/PREFIX` (reached as the AWS
    /// tools reach it, from the `AWS_*` environment), a folder otherwise. Makes no request.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] (`dir`) for an object-storage location that is not
    /// valid, or one this build cannot reach (without the `s3` feature).
    pub fn open(at: impl AsRef<Path>) -> StoreResult<Self> {
        let at = at.as_ref();
        match at.to_str().filter(|text| text.starts_with("s3://")) {
            None => Ok(ArchiveAt::Folder(at.to_owned())),
            #[cfg(feature = "s3")]
            Some(text) => Ok(ArchiveAt::Object(Box::new(
                store_object::ObjectArchive::open(text)?,
            ))),
            #[cfg(not(feature = "s3"))]
            Some(text) => Err(StoreError::invalid(
                "dir",
                format!("{text} is on object storage, which needs nerve-store's `s3` feature"),
            )),
        }
    }

    /// Where the archive is, as it may be shown (never with a credential).
    pub fn shown(&self) -> String {
        match self {
            ArchiveAt::Folder(dir) => dir.display().to_string(),
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => store_archive::ArchiveReplica::location(object.as_ref()),
        }
    }

    /// The folder, for an archive in one.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            ArchiveAt::Folder(dir) => Some(dir),
            #[cfg(feature = "s3")]
            ArchiveAt::Object(_) => None,
        }
    }

    /// The archive as the folder that push and pull copy, refusing object storage.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] (`dir`) for an archive on object storage.
    pub fn require_folder(&self, doing: &str) -> StoreResult<&Path> {
        self.folder().ok_or_else(|| {
            StoreError::invalid(
                "dir",
                format!(
                    "{doing} copies between a folder and object storage; {} is not a folder",
                    self.shown()
                ),
            )
        })
    }

    /// Moves the store's eligible days into the archive ([`store_archive::archive_logs`],
    /// or [`store_archive::archive_logs_at`] on object storage); `options.dir` is this
    /// archive's.
    ///
    /// # Errors
    /// As those.
    pub fn archive(
        &self,
        store: &dyn LogMaintenance,
        options: &ArchiveOptions,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> StoreResult<ArchiveReport> {
        match self {
            ArchiveAt::Folder(dir) => {
                let options = ArchiveOptions {
                    dir: dir.clone(),
                    ..options.clone()
                };
                store_archive::archive_logs_with_progress(store, &options, progress)
            }
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => {
                store_archive::archive_logs_at(store, options, object.as_ref(), progress)
            }
        }
    }

    /// The archived entries of `days`, day by day (or, `by_id`, in id order across them).
    ///
    /// # Errors
    /// As [`store_archive::read_archive`] and [`store_archive::read_archive_at`].
    pub fn read(
        &self,
        days: RangeInclusive<NaiveDate>,
        by_id: bool,
    ) -> StoreResult<ArchivedEntries<'_>> {
        match self {
            ArchiveAt::Folder(dir) if by_id => Ok(Box::new(store_archive::read_archive_by_id(
                dir.clone(),
                days,
            ))),
            ArchiveAt::Folder(dir) => Ok(Box::new(store_archive::read_archive(dir.clone(), days))),
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => {
                store_archive::read_archive_at(object.as_ref(), days, by_id)
            }
        }
    }

    /// Brings the archived days of `days` back into `store`.
    ///
    /// # Errors
    /// As [`store_archive::restore_days_with_progress`].
    pub fn restore(
        &self,
        store: &dyn LogTransfer,
        days: RangeInclusive<NaiveDate>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> StoreResult<RestoreReport> {
        match self {
            ArchiveAt::Folder(dir) => {
                store_archive::restore_days_with_progress(store, dir, days, progress)
            }
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => {
                store_archive::restore_days_from(store, object.as_ref(), days, progress)
            }
        }
    }

    /// Retires the archived days before `before`.
    ///
    /// # Errors
    /// As [`store_archive::drop_days`].
    pub fn drop_before(&self, before: NaiveDate) -> StoreResult<DropReport> {
        match self {
            ArchiveAt::Folder(dir) => store_archive::drop_days(dir, before),
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => store_archive::drop_days_at(object.as_ref(), before),
        }
    }

    /// Checks every day against the manifest.
    ///
    /// # Errors
    /// As [`store_archive::verify_archive`] and [`store_archive::verify_replica`].
    pub fn verify(&self) -> StoreResult<ArchiveVerification> {
        match self {
            ArchiveAt::Folder(dir) => store_archive::verify_archive(dir),
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => store_archive::verify_replica(object.as_ref()),
        }
    }

    /// Every blob the archive's days keep alive, in digest order.
    ///
    /// # Errors
    /// As [`store_archive::archived_blobs`].
    pub fn blobs(&self) -> StoreResult<Vec<Digest>> {
        match self {
            ArchiveAt::Folder(dir) => store_archive::archived_blobs(dir),
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => store_archive::archived_blobs_at(object.as_ref()),
        }
    }

    /// Every archived day, oldest first, with what the manifest records of it. Reads the
    /// manifest only.
    ///
    /// # Errors
    /// As [`store_archive::archived_days`].
    pub fn days(&self) -> StoreResult<Vec<(NaiveDate, store_archive::DayRecord)>> {
        match self {
            ArchiveAt::Folder(dir) => store_archive::archived_days(dir),
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => store_archive::archived_days_at(object.as_ref()),
        }
    }

    /// The archived days whose entries reference `digest`, oldest first.
    ///
    /// # Errors
    /// As [`store_archive::days_referencing`].
    pub fn days_referencing(&self, digest: &Digest) -> StoreResult<Vec<NaiveDate>> {
        match self {
            ArchiveAt::Folder(dir) => store_archive::days_referencing(dir, digest),
            #[cfg(feature = "s3")]
            ArchiveAt::Object(object) => {
                store_archive::days_referencing_at(object.as_ref(), digest)
            }
        }
    }
}
