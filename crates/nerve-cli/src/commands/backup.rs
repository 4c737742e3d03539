//! `backup --to`: an online copy of the store, verified and checked.

use std::time::Instant;

use nerve_store::StoreError;
use serde_json::json;

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
        .is_ok_and(|target| target.path.exists() || target.blob_path().exists());
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
    let checked = report.checked.to_string();
    let summary = report.summary;
    if out.json() {
        return out.object(&json!({
            "from": store.location.to_string(),
            "to": report.location.to_string(),
            "blobFile": report.location.shown_blob_path(),
            "entries": summary.entries,
            "threadRows": summary.thread_rows,
            "runs": summary.runs,
            "meta": summary.meta,
            "blobs": summary.blobs,
            "digest": summary.digest,
            "check": checked,
            "resumed": report.resumed,
            "seconds": elapsed.as_secs_f64(),
        }));
    }
    if report.resumed {
        out.note(format!(
            "{to} held part of an earlier backup of this store that did not finish: it was \
             finished"
        ))?;
    }
    out.line(format!(
        "backed up {}, {}, {} and {} from {} to {} (blobs in {}) in {}",
        counted(summary.entries, "entry", "entries"),
        counted(summary.runs, "run", "runs"),
        counted(summary.meta, "meta key", "meta keys"),
        counted(summary.blobs, "blob", "blobs"),
        store.location,
        report.location,
        report.location.shown_blob_path().display(),
        human_duration(elapsed),
    ))?;
    out.line(format!(
        "verified: the copy holds the store as it was when the backup began, digest {}; \
         its check: {checked}",
        summary.digest
    ))
}
