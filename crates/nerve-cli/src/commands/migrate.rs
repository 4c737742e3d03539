//! `migrate --from --to`.

use std::time::Instant;

use nerve_store::Location;
use serde_json::json;

use crate::cli::MigrateArgs;
use crate::error::{CliError, CliResult};
use crate::interrupt::Interrupt;
use crate::output::{Out, counted, human_duration, thousands};
use crate::progress;

pub(crate) fn run(args: &MigrateArgs, out: &mut Out) -> CliResult<()> {
    let from: Location = args.from.parse()?;
    let to: Location = args.to.parse()?;
    // Before either is opened: the library refuses it too, once both are open.
    if from.shares_files_with(&to) {
        return Err(CliError::refused(
            format!("{from} and {to} are the same files"),
            "migrate into a new file",
        ));
    }
    // Caught before the target exists: Ctrl-C from then on leaves it marked incomplete.
    let interrupt = Interrupt::catch()?;
    let source = super::open_for_batch(&args.from, true)?;
    let new_target = !to.path.exists();
    // A new target is marked incomplete in the transaction that creates it.
    let target = nerve_store::open_with(
        &args.to,
        &nerve_store::OpenOptions::default().created_as_copy_of(&from),
    )?;
    let total = source.log.log_stats()?.entries;
    let bar = progress::bar(total, "entries");
    let started = Instant::now();
    let mut copied = 0;
    let mut step = |n| {
        copied = n;
        bar.set_position(n);
        interrupt.go_on()
    };
    let summary = match nerve_store::migrate(&source, &target, &mut step) {
        // Its own leftover: an earlier migrate from the same source that did not finish.
        Err(nerve_store::StoreError::IncompleteCopy {
            source_location, ..
        }) if source_location == from.to_string() => {
            bar.suspend(|| {
                out.note(format!(
                    "{to} holds part of an earlier copy of {from} that did not finish: \
                     resuming it"
                ))
            })?;
            nerve_store::resume_migrate(&source, &target, &mut step)
        }
        other => other,
    };
    bar.finish_and_clear();
    let left = || {
        let place = if to.is_server() {
            format!("the schema of {to}")
        } else {
            format!("{} (and {})", to.path.display(), to.blob_path().display())
        };
        format!(
            "{place} holds part of the copy, marked incomplete, so no command opens it: run \
             the same migrate again to finish it{}",
            if new_target {
                ""
            } else {
                " (or, if this source changed since the copy began, remove it and copy anew)"
            }
        )
    };
    let summary = summary.map_err(|err| match err {
        nerve_store::StoreError::Interrupted { .. } => CliError::Interrupted {
            state: format!(
                "migrate stopped after {} of {} entries; {}",
                thousands(copied),
                thousands(total),
                left()
            ),
        },
        // Refused before anything was written (a target that is not empty, or the leftover
        // of an earlier copy, which the error names): this run left nothing.
        err @ (nerve_store::StoreError::InvalidInput { .. }
        | nerve_store::StoreError::IncompleteCopy { .. }) => CliError::Store(err),
        err => CliError::refused(format!("migrate failed: {}", CliError::Store(err)), left()),
    })?;
    let elapsed = started.elapsed();
    let rate = summary.entries as f64 / elapsed.as_secs_f64().max(1e-9);
    if out.json() {
        return out.object(&json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "entries": summary.entries,
            "threadRows": summary.thread_rows,
            "runs": summary.runs,
            "meta": summary.meta,
            "blobs": summary.blobs,
            "digest": summary.digest,
            "seconds": elapsed.as_secs_f64(),
        }));
    }
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
