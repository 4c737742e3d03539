//! `migrate --from --to`.

use std::time::Instant;

use nerve_store::{ContentSummary, Location, Store, StoreError};
use serde::Serialize;

use crate::cli::MigrateArgs;
use crate::error::{CliError, CliResult};
use crate::interrupt::Interrupt;
use crate::output::{Out, counted, human_duration, thousands};
use crate::progress;

/// A copy as `--json` shows it: the library's summary of what both stores hold.
#[derive(Serialize)]
struct Shown<'a> {
    from: &'a Location,
    to: &'a Location,
    #[serde(flatten)]
    summary: &'a ContentSummary,
    seconds: f64,
}

pub(crate) fn run(args: &MigrateArgs, out: &mut Out) -> CliResult<()> {
    let from: Location = args.from.parse()?;
    let to: Location = args.to.parse()?;
    // Before either is opened, so that nothing is created.
    nerve_store::check_copy_target(&from, &to)?;
    // Caught before the target exists: Ctrl-C from then on leaves it marked incomplete.
    let interrupt = Interrupt::catch()?;
    let source =
        super::open_other_for_batch(&args.from, true, nerve_store::OpenOptions::default())?;
    let new_target = to.existing_file().is_none();
    // A new target is marked incomplete in the transaction that creates it.
    let target = nerve_store::open_with(
        &args.to,
        &nerve_store::OpenOptions::default().created_as_copy_of(&from),
    )?;
    let total = source.log.log_stats()?.entries;
    let started = Instant::now();
    let (summary, copied) = copy(&source, &target, total, &interrupt, out)?;
    let summary = summary.map_err(|err| match err {
        StoreError::Interrupted { .. } => CliError::Interrupted {
            state: format!(
                "migrate stopped after {} of {} entries; {}",
                thousands(copied),
                thousands(total),
                left_behind(&to, new_target)
            ),
        },
        // Refused before anything was written (a target that is not empty, or the leftover
        // of an earlier copy, which the error names): this run left nothing.
        err @ (StoreError::InvalidInput { .. } | StoreError::IncompleteCopy { .. }) => {
            CliError::Store(err)
        }
        err => CliError::refused(
            format!("migrate failed: {}", CliError::Store(err)),
            left_behind(&to, new_target),
        ),
    })?;
    let elapsed = started.elapsed();
    if out.structured() {
        return out.report(&Shown {
            from: &from,
            to: &to,
            summary: &summary,
            seconds: elapsed.as_secs_f64(),
        });
    }
    show(out, &summary, (&from, &to), elapsed)
}

/// Copies `source` into `target` with a progress bar, or finishes the copy an earlier run of
/// the same migrate left there; the summary, and how many entries went over.
fn copy(
    source: &Store,
    target: &Store,
    total: u64,
    interrupt: &Interrupt,
    out: &mut Out,
) -> CliResult<(Result<ContentSummary, StoreError>, u64)> {
    let bar = progress::bar(total, "entries");
    let mut copied = 0;
    let mut step = |n| {
        copied = n;
        bar.set_position(n);
        interrupt.go_on()
    };
    let from = source.location.to_string();
    let summary = match nerve_store::migrate(source, target, &mut step) {
        // Its own leftover: an earlier migrate from the same source that did not finish.
        Err(StoreError::IncompleteCopy {
            source_location, ..
        }) if source_location == from => {
            let note = format!(
                "{} holds part of an earlier copy of {from} that did not finish: resuming it",
                target.location
            );
            bar.suspend(|| out.note(note))?;
            nerve_store::resume_migrate(source, target, &mut step)
        }
        other => other,
    };
    bar.finish_and_clear();
    Ok((summary, copied))
}

/// What a copy that stopped leaves at `to`, and what to do about it.
fn left_behind(to: &Location, new_target: bool) -> String {
    let place = if to.is_server() {
        format!("the schema of {to}")
    } else {
        format!(
            "{} (and {})",
            to.shown_path().display(),
            to.shown_blob_path().display()
        )
    };
    let or_anew = if new_target {
        ""
    } else {
        " (or, if this source changed since the copy began, remove it and copy anew)"
    };
    format!(
        "{place} holds part of the copy, marked incomplete, so no command opens it: run the \
         same migrate again to finish it{or_anew}"
    )
}

/// The copy for people: what went over, and its verification.
fn show(
    out: &mut Out,
    summary: &ContentSummary,
    (from, to): (&Location, &Location),
    elapsed: std::time::Duration,
) -> CliResult<()> {
    let rate = summary.entries as f64 / elapsed.as_secs_f64().max(1e-9);
    out.line(format!(
        "copied {}, {}, {}, {} and {} from {from} to {to} in {} ({} entries/s)",
        counted(summary.entries, "entry", "entries"),
        counted(summary.thread_rows, "thread row", "thread rows"),
        counted(summary.runs, "run", "runs"),
        counted(summary.meta, "meta key", "meta keys"),
        counted(summary.blobs, "blob", "blobs"),
        human_duration(elapsed),
        thousands(rate as u64),
    ))?;
    out.line(format!(
        "verified: both stores hold the same content, digest {}",
        summary.digest
    ))
}
