//! `gc`: the blobs nothing references, older than the grace period, removed.

use jiff::{Span, SpanTotal, Unit};
use nerve_store::{GcOptions, GcReport, Location, collect_garbage_with_progress};

use crate::cli::GcArgs;
use crate::error::{CliError, CliResult};
use crate::interrupt::Interrupt;
use crate::output::{Out, human_bytes, thousands};
use crate::progress;

pub(crate) fn run(location: &str, args: &GcArgs, out: &mut Out) -> CliResult<()> {
    let grace = parse_grace(&args.grace)?;
    let parsed: Location = location.parse()?;
    let store = if args.dry_run {
        super::open_to_read(location)?
    } else {
        super::open_existing(location)?
    };
    let options = GcOptions {
        grace,
        archive_dir: Some(
            args.archive_dir
                .clone()
                .unwrap_or_else(|| parsed.archive_dir()),
        ),
        keep_archived: !args.ignore_archive,
        without_references: args.without_references,
        dry_run: args.dry_run,
        now: crate::time::now_utc().map_err(|reason| CliError::refused(reason, "unset it"))?,
    };
    let interrupt = Interrupt::catch()?;
    let bar = progress::bar(0, "blobs");
    let report = collect_garbage_with_progress(&store, &options, &mut |p| {
        bar.set_length(p.candidates);
        bar.set_position(p.checked);
        bar.set_message(format!("{} removed", thousands(p.removed)));
        interrupt.go_on()
    });
    bar.finish_and_clear();
    let report = report?;
    if out.structured() {
        out.report(&report)?;
    } else {
        show(out, &report, &args.grace)?;
    }
    if report.interrupted {
        return Err(CliError::Interrupted {
            state: format!(
                "gc stopped after removing {} blobs ({}); every blob it removed was \
                 unreferenced, and a rerun goes on",
                thousands(report.removed.len() as u64),
                human_bytes(report.freed)
            ),
        });
    }
    Ok(())
}

/// `1d`, `12h`, `30m` as a duration; days are 24 hours.
fn parse_grace(text: &str) -> CliResult<chrono::Duration> {
    let refused = || {
        CliError::refused(
            format!("--grace {text:?} is not a span of time"),
            "write one as 1d, 12h or 30m",
        )
    };
    let span: Span = text.trim().parse().map_err(|_| refused())?;
    let seconds = span
        .total(SpanTotal::from(Unit::Second).days_are_24_hours())
        .map_err(|_| refused())?;
    if !(0.0..=1e12).contains(&seconds) {
        return Err(refused());
    }
    Ok(chrono::Duration::milliseconds((seconds * 1000.0) as i64))
}

/// The report for people: what a dry run would remove, one digest a line; then one line
/// that sums it up.
fn show(out: &mut Out, report: &GcReport, grace: &str) -> CliResult<()> {
    if report.dry_run {
        for digest in &report.removed {
            out.line(digest)?;
        }
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut kept = vec![format!("{} referenced", thousands(report.referenced))];
    kept.push(format!(
        "{} written within {grace}",
        thousands(report.young)
    ));
    if report.archived > 0 {
        kept.push(format!("{} in archived days", thousands(report.archived)));
    }
    if report.unaged > 0 {
        kept.push(format!(
            "{} written before blobs had write times",
            thousands(report.unaged)
        ));
    }
    if report.renewed > 0 {
        kept.push(format!(
            "{} written again meanwhile",
            thousands(report.renewed)
        ));
    }
    out.line(format!(
        "{verb} {} of {} blobs ({}); kept {}",
        thousands(report.removed.len() as u64),
        thousands(report.blobs),
        human_bytes(report.freed),
        kept.join(", ")
    ))
}
