//! Garbage collection of blobs, rooted in the references the store records
//! (docs/SPEC.md section 2, garbage collection).

use std::ops::ControlFlow;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use store_core::{BlobInfo, Digest, StoreError, StoreResult};

use crate::Store;

/// How many blobs are checked against the references, and removed, per step: a progress
/// report (and a Ctrl-C) comes at least this often.
const STEP: usize = 256;

/// What to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// How long a blob written (or written again) is kept without a reference: what a
    /// writer has to record its reference in. A day by default.
    pub grace: Duration,
    /// The archive whose days keep their entries' blobs (the manifest records them): a
    /// folder, or `s3://BUCKET/PREFIX` ([`crate::archive::ArchiveAt::open`]); `None` for a
    /// store without one.
    pub archive_dir: Option<PathBuf>,
    /// Keep the blobs the archive's days reference (the default); off, a blob only the
    /// archive references is removed like any other.
    pub keep_archived: bool,
    /// Collect even when the store records no reference at all, which would remove every
    /// blob older than the grace period: for a store whose daemon does record references,
    /// none yet. Off by default.
    pub without_references: bool,
    /// Report what would be removed, and remove nothing.
    pub dry_run: bool,
    /// The time the grace period counts back from; the current time by default.
    pub now: DateTime<Utc>,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::days(1),
            archive_dir: None,
            keep_archived: true,
            without_references: false,
            dry_run: false,
            now: Utc::now(),
        }
    }
}

/// What a collection found and did. Serialises with camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    /// Blobs in the store when the collection began.
    pub blobs: u64,
    /// Kept: old enough, and something in the store references them.
    pub referenced: u64,
    /// Kept: written within the grace period (or after the collection began).
    pub young: u64,
    /// Kept: written before the store kept write times, so of no known age.
    pub unaged: u64,
    /// Kept: a day of the archive references them.
    pub archived: u64,
    /// Kept: written again between the collector's look and its removal.
    pub renewed: u64,
    /// Removed (or, in a dry run, would be), in digest order.
    pub removed: Vec<Digest>,
    /// Bytes those took.
    pub freed: u64,
    /// Blobs written before this are old enough to remove: `now` less the grace period.
    pub cutoff: Option<DateTime<Utc>>,
    /// Whether nothing was removed because the run was asked not to.
    pub dry_run: bool,
    /// Whether the run stopped early because its progress callback asked it to.
    pub interrupted: bool,
}

/// How far a collection has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcProgress {
    /// Old enough and not in the archive: checked against the references so far.
    pub checked: u64,
    /// Of those to check, in all.
    pub candidates: u64,
    /// Removed so far.
    pub removed: u64,
}

/// [`collect_garbage_with_progress`] without a progress callback.
///
/// # Errors
/// As [`collect_garbage_with_progress`].
pub fn collect_garbage(store: &Store, options: &GcOptions) -> StoreResult<GcReport> {
    collect_garbage_with_progress(store, options, &mut |_| ControlFlow::Continue(()))
}

/// Removes the blobs of `store` that nothing references and that were last written before
/// `options.now` less the grace period, and reports what it removed and freed.
///
/// The inventory is taken first; a blob is a candidate when its write time is before the
/// cutoff and no archived day references it; candidates are checked against the store's
/// references 256 at a time, and the unreferenced ones of each step are removed by
/// [`store_core::BlobStore::delete_all_if_written_before`] (one transaction a step on the
/// database stores), which keeps a blob a write renewed since the inventory. So a blob
/// survives when a writer follows the contract (write the blob, then record its reference
/// within the grace period): its write time is after the cutoff, or its reference was
/// committed before the collection began. Killed at any
/// moment, a collection has removed whole blobs that were unreferenced, and nothing else; a
/// rerun goes on. `progress` is called after each step; [`ControlFlow::Break`] stops there.
///
/// # Errors
/// [`StoreError::InvalidInput`] (`references`) when the store records no reference at all
/// while blobs are old enough to remove, unless `without_references`; the stores' and the
/// archive's errors ([`StoreError::OpenedReadOnly`] on a store opened read-only, unless a
/// dry run). Blobs removed before an error stay removed.
pub fn collect_garbage_with_progress(
    store: &Store,
    options: &GcOptions,
    progress: &mut dyn FnMut(GcProgress) -> ControlFlow<()>,
) -> StoreResult<GcReport> {
    let cutoff = options.now - options.grace;
    let inventory = store.blobs.inventory()?;
    let archived = match (&options.archive_dir, options.keep_archived) {
        (Some(dir), true) => crate::archive::ArchiveAt::open(dir)?.blobs()?,
        _ => Vec::new(),
    };
    let mut report = GcReport {
        blobs: inventory.len() as u64,
        cutoff: Some(cutoff),
        dry_run: options.dry_run,
        ..GcReport::default()
    };
    let mut candidates: Vec<BlobInfo> = Vec::new();
    for info in inventory {
        match info.written_at {
            None => report.unaged += 1,
            Some(at) if at >= cutoff => report.young += 1,
            Some(_) if archived.binary_search(&info.digest).is_ok() => report.archived += 1,
            Some(_) => candidates.push(info),
        }
    }
    if !candidates.is_empty()
        && !options.without_references
        && archived.is_empty()
        && store.log.blob_references(None, 1)?.is_empty()
    {
        return Err(StoreError::invalid(
            "references",
            format!(
                "the store records no blob reference at all, so every one of its {} blobs \
                 written before {cutoff} would be removed: a daemon records references with \
                 NewLogEntry::with_blobs, RunTransition::with_blobs and meta_set_with_blobs; \
                 collect without references only if that is meant",
                candidates.len()
            ),
        ));
    }
    let total = candidates.len() as u64;
    let mut checked = 0u64;
    for step in candidates.chunks(STEP) {
        let digests: Vec<Digest> = step.iter().map(|info| info.digest).collect();
        let referenced = store.log.referenced(&digests)?;
        let mut unreferenced = Vec::with_capacity(step.len());
        for info in step {
            if referenced.binary_search(&info.digest).is_ok() {
                report.referenced += 1;
            } else if options.dry_run {
                report.removed.push(info.digest);
                report.freed += info.len;
            } else {
                unreferenced.push(info.digest);
            }
        }
        // Nothing to remove (a dry run, a step of referenced blobs): no write, which a
        // store opened read-only would refuse.
        let freed = if unreferenced.is_empty() {
            Vec::new()
        } else {
            store
                .blobs
                .delete_all_if_written_before(&unreferenced, cutoff)?
        };
        for (digest, bytes) in unreferenced.into_iter().zip(freed) {
            match bytes {
                Some(bytes) => {
                    report.removed.push(digest);
                    report.freed += bytes;
                }
                None => report.renewed += 1,
            }
        }
        checked += step.len() as u64;
        tracing::debug!(
            target: "nerve_store::gc",
            checked,
            candidates = total,
            removed = report.removed.len(),
            "collected a step"
        );
        let asked = progress(GcProgress {
            checked,
            candidates: total,
            removed: report.removed.len() as u64,
        });
        if asked.is_break() && checked < total {
            report.interrupted = true;
            break;
        }
    }
    tracing::info!(
        target: "nerve_store::gc",
        blobs = report.blobs,
        removed = report.removed.len(),
        freed = report.freed,
        dry_run = report.dry_run,
        "garbage collection done"
    );
    Ok(report)
}
