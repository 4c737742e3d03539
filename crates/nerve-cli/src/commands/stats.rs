//! `stats`: the library's [`nerve_store::stats`], one line per fact for people.

use nerve_store::{Store, StoreStats};

use crate::error::CliResult;
use crate::output::{Out, human_bytes, thousands};

pub(crate) fn run(store: &Store, out: &mut Out) -> CliResult<()> {
    let stats = nerve_store::stats(store)?;
    if out.structured() {
        return out.report(&stats);
    }
    for (name, value) in lines(store, &stats) {
        out.line(format!("{name:<13}{value}"))?;
    }
    Ok(())
}

/// Each fact as a name and its value; a store on a server has no files here.
fn lines(store: &Store, stats: &StoreStats) -> Vec<(&'static str, String)> {
    let day = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "-".into(), |d| d.to_string());
    let statuses: Vec<String> = stats
        .runs_by_status
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{status} {}", thousands(n)))
        .collect();
    let watermark = stats.archive_watermark.as_ref().map_or_else(
        || "nothing archived yet".into(),
        |day| format!("{day} (watermark)"),
    );
    let mut lines = vec![
        ("store", stats.store.to_string()),
        ("entries", thousands(stats.entries)),
        (
            "days",
            format!("{} .. {}", day(stats.first_day), day(stats.last_day)),
        ),
        (
            "runs",
            format!("{} ({})", thousands(stats.runs), statuses.join(", ")),
        ),
        (
            "active runs",
            format!(
                "{} (what crash recovery resumes)",
                thousands(stats.active_runs)
            ),
        ),
        ("blobs", thousands(stats.blobs)),
        ("archived to", watermark),
    ];
    lines.extend(files(store, stats));
    lines
}

/// Where the store's files are and what they take; a store on a server has none here.
fn files(store: &Store, stats: &StoreStats) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(log) = stats.log_file_bytes {
        lines.push((
            "log file",
            format!(
                "{} ({})",
                human_bytes(log),
                store.location.shown_path().display()
            ),
        ));
    }
    match (&stats.blobs_at, stats.blob_file_bytes) {
        (Some(blobs), _) => lines.push(("blobs at", blobs.clone())),
        (None, Some(bytes)) => lines.push((
            "blob file",
            format!(
                "{} ({})",
                human_bytes(bytes),
                store.location.shown_blob_path().display()
            ),
        )),
        (None, None) => {}
    }
    if stats.log_file_bytes.is_none() {
        let what = if stats.blobs_at.is_some() {
            "log in the store's schema"
        } else {
            "log and blobs in the store's schema"
        };
        lines.push(("server", what.to_owned()));
    }
    lines.push((
        "archive",
        format!(
            "{} ({})",
            human_bytes(stats.archive_bytes),
            stats.archive_dir.display()
        ),
    ));
    lines
}
