//! `stats`.

use std::path::Path;

use nerve_store::Store;
use nerve_store::archive::WATERMARK_KEY;
use serde_json::json;

use crate::error::CliResult;
use crate::output::{Out, human_bytes, thousands};

pub(crate) fn run(store: &Store, out: &mut Out) -> CliResult<()> {
    let log = store.log.log_stats()?;
    let runs = log.runs.total();
    let per_status: Vec<(String, u64)> = log
        .runs
        .iter()
        .map(|(status, n)| (status.to_string(), n))
        .collect();
    let active = log
        .runs
        .iter()
        .filter(|(status, _)| status.is_active())
        .map(|(_, n)| n)
        .sum::<u64>();
    let watermark = store.log.meta_get(WATERMARK_KEY)?;
    let blobs = store.blobs.list()?.len() as u64;
    let log_file = store.location.log_bytes();
    let blob_file = store.location.blob_bytes();
    let archive_dir = store.location.archive_dir();
    let archive = folder_size(&archive_dir.join("logs"));

    if out.json() {
        let statuses: serde_json::Map<String, serde_json::Value> = per_status
            .iter()
            .map(|(status, n)| (status.clone(), json!(n)))
            .collect();
        return out.object(&json!({
            "store": store.location.to_string(),
            "entries": log.entries,
            "firstDay": log.first_day,
            "lastDay": log.last_day,
            "runs": runs,
            "runsByStatus": statuses,
            "activeRuns": active,
            "blobs": blobs,
            "archiveWatermark": watermark,
            "logFileBytes": (!store.location.is_server()).then_some(log_file),
            "blobFileBytes": (!store.location.is_server()).then_some(blob_file),
            "archiveDir": archive_dir,
            "archiveBytes": archive,
        }));
    }
    let day = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "-".into(), |d| d.to_string());
    let statuses: Vec<String> = per_status
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{status} {}", thousands(*n)))
        .collect();
    let lines = [
        ("store", store.location.to_string()),
        ("entries", thousands(log.entries)),
        (
            "days",
            format!("{} .. {}", day(log.first_day), day(log.last_day)),
        ),
        (
            "runs",
            format!("{} ({})", thousands(runs), statuses.join(", ")),
        ),
        (
            "active runs",
            format!("{} (what crash recovery resumes)", thousands(active)),
        ),
        ("blobs", thousands(blobs)),
        (
            "archived to",
            watermark.map_or_else(
                || "nothing archived yet".into(),
                |day| format!("{day} (watermark)"),
            ),
        ),
        (
            "log file",
            format!(
                "{} ({})",
                human_bytes(log_file),
                store.location.shown_path().display()
            ),
        ),
        (
            "blob file",
            format!(
                "{} ({})",
                human_bytes(blob_file),
                store.location.shown_blob_path().display()
            ),
        ),
        (
            "archive",
            format!("{} ({})", human_bytes(archive), archive_dir.display()),
        ),
    ];
    for (name, value) in lines {
        let value = match name {
            // A store on a server has no files here.
            "log file" if store.location.is_server() => {
                "log and blobs in the store's schema".to_owned()
            }
            "blob file" if store.location.is_server() => continue,
            _ => value,
        };
        let name = if name == "log file" && store.location.is_server() {
            "server"
        } else {
            name
        };
        out.line(format!("{name:<13}{value}"))?;
    }
    Ok(())
}

/// The total size of the files in `dir` (0 when there is none).
fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.metadata().ok())
                .filter(|meta| meta.is_file())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}
