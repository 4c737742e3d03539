//! `check`: everything the store can verify, read whole: the log's file (the engine's own
//! check), every blob against its digest, every archive file line by line.

use nerve_store::archive::read_archive;
use nerve_store::chrono::NaiveDate;
use nerve_store::{Checked, Store, StoreError};
use serde_json::json;

use crate::error::CliResult;
use crate::output::{Out, counted, thousands};
use crate::paint;

pub(crate) fn run(store: &Store, out: &mut Out) -> CliResult<()> {
    let log = store.log.check();
    let blobs = store.blobs.verify_all()?;
    let archive_dir = store.location.archive_dir();
    let mut archived = 0_u64;
    let mut archive_damage = None;
    for entry in read_archive(&archive_dir, NaiveDate::MIN..=NaiveDate::MAX) {
        match entry {
            Ok(_) => archived += 1,
            Err(err) => {
                archive_damage = Some(err);
                break;
            }
        }
    }

    let log_verdict = match &log {
        Ok(checked) => verdict(checked),
        Err(err) => format!("damaged: {err}"),
    };
    let archive_verdict = match &archive_damage {
        None => format!("{} entries readable", thousands(archived)),
        Some(err) => format!("damaged: {err}"),
    };
    let painted = |verdict: &str, sound: bool| {
        if sound {
            paint::good(verdict)
        } else {
            paint::bad(verdict)
        }
    };
    if out.json() {
        out.object(&json!({
            "store": store.location.to_string(),
            "log": log_verdict,
            "blobsChecked": blobs.checked,
            "blobsCorrupt": blobs.corrupt.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "archive": archive_dir,
            "archivedEntries": archived,
            "archiveDamage": archive_damage.as_ref().map(ToString::to_string),
        }))?;
    } else {
        out.line(format!(
            "log      {}: {}",
            store.location,
            painted(&log_verdict, log.is_ok())
        ))?;
        out.line(format!(
            "blobs    {} checked, {}",
            counted(blobs.checked, "blob", "blobs"),
            painted(
                &format!("{} corrupt", thousands(blobs.corrupt.len() as u64)),
                blobs.corrupt.is_empty()
            )
        ))?;
        for digest in &blobs.corrupt {
            out.line(format!("         corrupt {digest}"))?;
        }
        out.line(format!(
            "archive  {}: {}",
            archive_dir.display(),
            painted(&archive_verdict, archive_damage.is_none())
        ))?;
    }
    out.flush()?;
    log?;
    if let Some(first) = blobs.corrupt.first() {
        return Err(StoreError::Corrupt { digest: *first }.into());
    }
    if let Some(err) = archive_damage {
        return Err(err.into());
    }
    Ok(())
}

/// What a store's own check found, as `check` and `backup` print it.
pub(crate) fn verdict(checked: &Checked) -> String {
    match checked {
        Checked::Sound => "sound".to_owned(),
        Checked::Repaired { what } => format!("repaired {what}"),
        other => format!("{other:?}"),
    }
}
