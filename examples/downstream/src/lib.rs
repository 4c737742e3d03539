//! A downstream crate, as a daemon built on nerve-store would be written: its code takes the
//! traits, so that it runs on any backend, and its tests run on the in-memory store.
//! Everything comes from `nerve-store` alone.

use nerve_store::archive::{ArchiveOptions, ArchiveReport, archive_logs};
use nerve_store::{
    LogMaintenance, LogQuery, LogStore, NewLogEntry, RunTransition, StoreResult, WorkflowRunStatus,
    WriteUnit,
};

/// Records that the daemon started and queues its first run, as one fact: both or neither;
/// returns the run's id.
///
/// # Errors
/// The store's; a run id already past `Queued` is refused, and then no boot is logged.
pub fn boot(store: &dyn LogStore, run_id: &str) -> StoreResult<String> {
    store.write_unit(
        WriteUnit::new()
            .append(NewLogEntry::new("daemon", "boot", "{}"))
            .transition(RunTransition::new(
                run_id,
                "nightly",
                WorkflowRunStatus::Queued,
            )),
    )?;
    Ok(run_id.to_owned())
}

/// How many times the daemon has started.
///
/// # Errors
/// The store's.
pub fn boots(store: &dyn LogStore) -> StoreResult<usize> {
    let query = LogQuery {
        source: Some("daemon".into()),
        kind: Some("boot".into()),
        limit: Some(usize::MAX),
        ..LogQuery::default()
    };
    Ok(store.query(&query)?.len())
}

/// Moves the days before the last `retain_days` out of the store into `archive`.
///
/// # Errors
/// The store's and the archive's.
pub fn archive_old_days(
    store: &dyn LogMaintenance,
    archive: &std::path::Path,
    retain_days: u32,
) -> StoreResult<ArchiveReport> {
    let options = ArchiveOptions {
        dir: archive.to_owned(),
        retain_days,
        ..ArchiveOptions::default()
    };
    archive_logs(store, &options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nerve_store::MemoryLogStore;
    // The time types of the store's API, re-exported so that they are the store's version.
    use nerve_store::chrono::{Duration, Utc};

    #[test]
    fn a_boot_is_logged_and_queues_a_run() {
        let store = MemoryLogStore::new();
        boot(&store, "run-1").expect("boot");
        boot(&store, "run-2").expect("boot again");
        assert_eq!(boots(&store).expect("count"), 2);
        let run = store.get_run("run-1").expect("read").expect("the run");
        assert_eq!(run.status, WorkflowRunStatus::Queued);
    }

    #[test]
    fn a_refused_boot_logs_nothing() {
        let store = MemoryLogStore::new();
        store
            .transition_run(RunTransition::new(
                "run-1",
                "nightly",
                WorkflowRunStatus::Started,
            ))
            .expect("a started run");
        let err = boot(&store, "run-1").expect_err("a started run cannot be queued");
        assert!(
            matches!(err, nerve_store::StoreError::InvalidTransition { .. }),
            "{err}"
        );
        assert_eq!(boots(&store).expect("count"), 0, "the boot went with it");
    }

    #[test]
    fn old_days_leave_the_store_for_the_archive() {
        let store = MemoryLogStore::new();
        let long_ago = Utc::now() - Duration::days(40);
        store
            .append(NewLogEntry::new("daemon", "boot", "{}").at(long_ago))
            .expect("an old entry");
        boot(&store, "run-1").expect("a new one");
        let dir = tempfile::tempdir().expect("a folder");
        let report = archive_old_days(&store, dir.path(), 30).expect("archive");
        assert_eq!(report.rows, 1);
        assert_eq!(
            boots(&store).expect("count"),
            1,
            "the old boot left the store"
        );
        let back: Vec<_> = nerve_store::archive::read_archive(
            dir.path(),
            long_ago.date_naive()..=long_ago.date_naive(),
        )
        .collect::<Result<_, _>>()
        .expect("read the archive");
        assert_eq!(back.len(), 1);
    }

    #[test]
    fn the_store_the_daemon_opens_by_location_does_the_same() {
        let dir = tempfile::tempdir().expect("a folder");
        let location = dir.path().join("data/nerve.db");
        let store = nerve_store::open(&location.display().to_string()).expect("open");
        boot(store.log.as_ref(), "run-1").expect("boot");
        assert_eq!(boots(store.log.as_ref()).expect("count"), 1);
        let report =
            archive_old_days(store.log.as_ref(), &dir.path().join("archive"), 30).expect("archive");
        assert_eq!(report.rows, 0, "nothing is old enough yet");
        assert_eq!(boots(store.log.as_ref()).expect("count"), 1);
    }
}
