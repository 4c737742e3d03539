//! `check`: everything the store can verify, read whole (the library's [`nerve_store::check`]):
//! the log's file, its activity counts against a walk of the log, every blob against its
//! digest, every archive file line by line.

use nerve_store::{Store, StoreCheck};

use crate::error::CliResult;
use crate::output::{Out, counted, thousands};
use crate::paint;

pub(crate) fn run(store: &Store, out: &mut Out) -> CliResult<()> {
    let report = nerve_store::check(store)?;
    if out.structured() {
        out.report(&report)?;
    } else {
        for line in lines(&report) {
            out.line(line)?;
        }
    }
    out.flush()?;
    match report.problem() {
        Some(err) => Err(err.into()),
        None => Ok(()),
    }
}

/// The report for people: one line per part, each verdict painted good or bad.
fn lines(report: &StoreCheck) -> Vec<String> {
    let painted = |verdict: String, sound: bool| {
        if sound {
            paint::good(&verdict)
        } else {
            paint::bad(&verdict)
        }
    };
    let log = match &report.log {
        Ok(checked) => painted(checked.to_string(), true),
        Err(err) => painted(format!("damaged: {err}"), false),
    };
    let activity = match &report.activity {
        Ok(nerve_store::ActivityCheck::Agree { counts }) => painted(
            format!(
                "{} hourly counts agree with the log",
                thousands(*counts as u64)
            ),
            true,
        ),
        Ok(differ) => painted(format!("damaged: {differ}"), false),
        Err(err) => painted(format!("unread: {err}"), false),
    };
    let corrupt = report.blobs_corrupt.len() as u64;
    let archive = match &report.archive_damage {
        None => painted(
            format!("{} entries readable", thousands(report.archived_entries)),
            true,
        ),
        Some(err) => painted(format!("damaged: {err}"), false),
    };
    let mut lines = vec![
        format!("log      {}: {log}", report.store),
        format!("activity {activity}"),
        format!(
            "blobs    {} checked, {}",
            counted(report.blobs_checked, "blob", "blobs"),
            painted(format!("{} corrupt", thousands(corrupt)), corrupt == 0)
        ),
    ];
    lines.extend(
        report
            .blobs_corrupt
            .iter()
            .map(|digest| format!("         corrupt {digest}")),
    );
    lines.push(format!("archive  {}: {archive}", report.archive.display()));
    lines
}
