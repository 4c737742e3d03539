//! `backup --to`: an online copy of the store, verified and checked.

use std::time::Instant;

use std::path::PathBuf;

use nerve_store::{BackupReport, Location, StoreError};
use serde::Serialize;

use crate::error::{CliError, CliResult};
use crate::interrupt::Interrupt;
use crate::output::{Out, counted, human_duration};
use crate::progress;

pub(crate) fn run(location: &str, to: &str, out: &mut Out) -> CliResult<()> {
    let interrupt = Interrupt::catch()?;
    let store = super::open_to_read(location)?;
    let total = store.log.log_stats()?.entries;
    let bar = progress::bar(total, "entries");
    let started = Instant::now();
    let mut copied = 0;
    // A backup that an earlier run left unfinished here is finished, and stays if stopped.
    let earlier = to
        .parse::<nerve_store::Location>()
        .is_ok_and(|target| target.existing_file().is_some());
    let report = nerve_store::backup(&store, to, &mut |n| {
        copied = n;
        bar.set_position(n);
        interrupt.go_on()
    });
    bar.finish_and_clear();
    let report = report.map_err(|err| match err {
        StoreError::Interrupted { .. } if earlier => CliError::Interrupted {
            state: format!(
                "backup stopped after {copied} more entries; the unfinished copy stays at {to}, \
                 marked incomplete: run the same backup again to finish it"
            ),
        },
        StoreError::Interrupted { .. } => CliError::Interrupted {
            state: format!(
                "backup stopped after {copied} entries; nothing was kept at {to}, and the \
                 store is as it was"
            ),
        },
        err => CliError::Store(err),
    })?;
    let elapsed = started.elapsed();
    if out.structured() {
        return out.report(&Shown {
            from: &store.location,
            blob_file: report.location.shown_blob_path(),
            report: &report,
            seconds: elapsed.as_secs_f64(),
        });
    }
    show(out, &store.location, &report, elapsed)
}

/// A backup as `--json` shows it: the library's report with the source and the time.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Shown<'a> {
    from: &'a Location,
    blob_file: PathBuf,
    #[serde(flatten)]
    report: &'a BackupReport,
    seconds: f64,
}

/// The backup for people.
fn show(
    out: &mut Out,
    from: &Location,
    report: &BackupReport,
    elapsed: std::time::Duration,
) -> CliResult<()> {
    let summary = &report.summary;
    let to = &report.location;
    if report.resumed {
        out.note(format!(
            "{to} held part of an earlier backup of this store that did not finish: it was \
             finished"
        ))?;
    }
    out.line(format!(
        "backed up {}, {}, {} and {} from {from} to {to} (blobs in {}) in {}",
        counted(summary.entries, "entry", "entries"),
        counted(summary.runs, "run", "runs"),
        counted(summary.meta, "meta key", "meta keys"),
        counted(summary.blobs, "blob", "blobs"),
        to.shown_blob_path().display(),
        human_duration(elapsed),
    ))?;
    out.line(format!(
        "verified: the copy holds the store as it was when the backup began, digest {}; \
         its check: {}",
        summary.digest, report.checked
    ))
}
