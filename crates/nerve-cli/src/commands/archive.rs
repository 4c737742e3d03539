//! `archive`, `archive cat`, `archive verify`, `archive restore`, `archive drop`, `archive
//! push` and `archive pull`.

use std::path::{Path, PathBuf};

use nerve_store::Location;
use nerve_store::archive::{
    ArchiveAt, ArchiveOptions, ArchiveReport, ArchiveVerification, DayStatus, Progress,
    RestoreReport, pull_archive, push_archive,
};
use serde::Serialize;

use crate::cli::{ArchiveArgs, ArchiveCommand};
use crate::error::{CliError, CliResult};
use crate::interrupt::Interrupt;
use crate::output::{Out, Table, human_bytes, thousands};
use crate::progress;
use crate::time::parse_day_range;

/// An archive run's report as `--json` prints it: the library's, with the archive it used.
#[derive(Serialize)]
struct Shown<'a> {
    dir: &'a str,
    #[serde(flatten)]
    report: &'a ArchiveReport,
}

pub(crate) fn run(location: &str, args: ArchiveArgs, out: &mut Out) -> CliResult<()> {
    let parsed: Location = location.parse()?;
    let archive_at =
        |dir: Option<PathBuf>| ArchiveAt::open(dir.unwrap_or_else(|| parsed.archive_dir()));
    match args.read {
        Some(ArchiveCommand::Cat { days, dir }) => {
            return cat(&archive_at(dir)?, &days, out);
        }
        Some(ArchiveCommand::Verify { dir, at }) => {
            let at = archive_at(at.map(PathBuf::from).or(dir))?;
            return show_verification(at.verify()?, out);
        }
        Some(ArchiveCommand::Push { to, dir }) => {
            let replica = nerve_store::ObjectArchive::open(&to)?;
            let at = archive_at(dir)?;
            let report = push_archive(at.require_folder("archive push")?, &replica)?;
            if out.structured() {
                return out.report(&report);
            }
            return out.line(format!(
                "pushed {} days ({}) to {}; {} there already; {} removed there",
                report.uploaded.len(),
                human_bytes(report.bytes),
                report.replica,
                report.kept,
                report.removed.len()
            ));
        }
        Some(ArchiveCommand::Pull { from, dir }) => {
            let replica = nerve_store::ObjectArchive::open(&from)?;
            let at = archive_at(dir)?;
            let dir = at.require_folder("archive pull")?;
            let report = pull_archive(&replica, dir)?;
            if out.structured() {
                return out.report(&report);
            }
            return out.line(format!(
                "pulled {} days ({}) from {} into {}; {} here already",
                report.downloaded.len(),
                human_bytes(report.bytes),
                report.replica,
                dir.display(),
                report.kept
            ));
        }
        Some(ArchiveCommand::Restore { day, dir }) => {
            return restore(location, &archive_at(dir)?, &day, out);
        }
        Some(ArchiveCommand::Drop { before, dir }) => {
            return drop(&archive_at(dir)?, &before, out);
        }
        None => {}
    }
    let interrupt = Interrupt::catch()?;
    let at = archive_at(args.dir.clone())?;
    let store = super::open_for_batch(location, args.dry_run)?;
    let options = ArchiveOptions {
        dir: at.folder().map(Path::to_path_buf).unwrap_or_default(),
        retain_days: args.retain_days,
        vacuum: args.vacuum,
        compress: args.compress,
        dry_run: args.dry_run,
        now: crate::time::now_utc().map_err(|reason| CliError::refused(reason, "unset it"))?,
    };
    let shown = at.shown();
    let bar = progress::bar(0, "days");
    let mut total_days = 0;
    let report = at.archive(store.log.as_ref(), &options, &mut |p: Progress| {
        total_days = p.days_total;
        show_days(&bar, p);
        interrupt.go_on()
    });
    bar.finish_and_clear();
    let report = report?;
    if out.structured() {
        out.report(&Shown {
            dir: &shown,
            report: &report,
        })?;
    } else {
        show(out, &report, &shown, args.retain_days)?;
    }
    if report.interrupted {
        return Err(CliError::Interrupted {
            state: format!(
                "archive stopped after {} of {total_days} days, {} entries moved; the days it \
                 finished are in {} and gone from the store, the rest are still in the store, \
                 and a rerun moves them",
                report.days.len(),
                thousands(report.rows),
                shown
            ),
        });
    }
    Ok(())
}

/// Moves `bar` to where an archive or restore run is: days done of days, entries so far.
fn show_days(bar: &indicatif::ProgressBar, p: Progress) {
    bar.set_length(p.days_total as u64);
    bar.set_position(p.days_done as u64);
    bar.set_message(format!("{} entries", thousands(p.rows_done)));
}

/// `archive cat`: the entries of the days `days` in the archive `at`.
fn cat(at: &ArchiveAt, days: &str, out: &mut Out) -> CliResult<()> {
    let (from, to) = parse_day_range(days)
        .map_err(|reason| CliError::refused(reason, "write FROM..TO, as 2026-10-01..2026-10-07"))?;
    let mut table = super::logs::entry_table();
    for entry in at.read(from..=to, false)? {
        let entry = entry?;
        super::logs::print_entries(out, &mut table, std::slice::from_ref(&entry))?;
    }
    if !out.json() {
        out.table(&table)?;
    }
    Ok(())
}

/// `archive restore --day DAY|FROM..TO`: archived days back into the store.
fn restore(location: &str, at: &ArchiveAt, days: &str, out: &mut Out) -> CliResult<()> {
    let (from, to) = parse_day_range(days).map_err(|reason| {
        CliError::refused(
            reason,
            "write a day, 2026-10-01, or FROM..TO, 2026-10-01..2026-10-07",
        )
    })?;
    let interrupt = Interrupt::catch()?;
    let store = super::open_for_batch(location, false)?;
    let bar = progress::bar(0, "days");
    let report = at.restore(store.log.as_ref(), from..=to, &mut |p| {
        show_days(&bar, p);
        interrupt.go_on()
    });
    bar.finish_and_clear();
    let report = report?;
    if out.structured() {
        out.report(&report)?;
    } else {
        show_restore(out, &report, &at.shown())?;
    }
    if report.interrupted {
        return Err(CliError::Interrupted {
            state: format!(
                "restore stopped after {} entries; what it wrote stays in the store, and a \
                 rerun writes the rest, passing over what is there",
                thousands(report.written + report.present)
            ),
        });
    }
    Ok(())
}

fn show_restore(out: &mut Out, report: &RestoreReport, shown: &str) -> CliResult<()> {
    let mut table = Table::new(&["DAY", "RESTORED", "ALREADY THERE", "FILE"]);
    for day in &report.days {
        table.row(vec![
            day.day.to_string(),
            thousands(day.written),
            thousands(day.present),
            day.file.display().to_string(),
        ]);
    }
    if !table.is_empty() {
        out.table(&table)?;
    }
    let present = if report.present > 0 {
        format!(", {} already in the store", thousands(report.present))
    } else {
        String::new()
    };
    let days = match report.days.len() {
        1 => "1 day".to_owned(),
        n => format!("{n} days"),
    };
    out.line(format!(
        "restored {} entries of {days} from {shown}{present}",
        thousands(report.written),
    ))?;
    if !report.dropped.is_empty() {
        let days: Vec<String> = report.dropped.iter().map(ToString::to_string).collect();
        out.line(format!(
            "dropped from the archive, not restored: {}",
            days.join(", ")
        ))?;
    }
    if report.unindexed > 0 {
        out.line(format!(
            "{} thread messages were archived without their thread row (by an older \
             nerve-store): restored as entries, not listed in their threads",
            thousands(report.unindexed)
        ))?;
    }
    Ok(())
}

/// `archive drop --before DAY`: the archived days before `before` retired.
fn drop(at: &ArchiveAt, before: &str, out: &mut Out) -> CliResult<()> {
    let day = chrono::NaiveDate::parse_from_str(before, "%Y-%m-%d").map_err(|_| {
        CliError::refused(
            format!("--before {before:?} is not a day"),
            "write the first day to keep, as 2026-10-01",
        )
    })?;
    let report = at.drop_before(day)?;
    if out.structured() {
        return out.report(&report);
    }
    let mut table = Table::new(&["DAY", "ENTRIES", "BYTES", "FILE"]);
    for (day, record) in &report.days {
        table.row(vec![
            day.to_string(),
            thousands(record.entries),
            human_bytes(record.bytes),
            record.file.clone(),
        ]);
    }
    if !table.is_empty() {
        out.table(&table)?;
    }
    out.line(format!(
        "dropped {} days before {day} ({} entries, {}) from {}",
        report.days.len(),
        thousands(report.entries),
        human_bytes(report.bytes),
        at.shown()
    ))
}

/// `archive verify`: every day file of the archive at `dir` against its manifest.
fn show_verification(verified: ArchiveVerification, out: &mut Out) -> CliResult<()> {
    if out.structured() {
        out.report(&verified)?;
    } else {
        let mut table = Table::new(&["DAY", "STATUS", "ENTRIES", "FILE"]);
        for check in &verified.days {
            let (status, entries) = match &check.status {
                DayStatus::Sound => ("sound", String::new()),
                DayStatus::Pending => ("pending (an interrupted run's)", String::new()),
                DayStatus::Changed { expected, found } => (
                    "changed",
                    format!(
                        "{} (recorded {})",
                        thousands(found.entries),
                        thousands(expected.entries)
                    ),
                ),
                DayStatus::Missing { expected } => (
                    "missing",
                    format!("(recorded {})", thousands(expected.entries)),
                ),
                DayStatus::Unreadable { .. } => ("unreadable", String::new()),
                DayStatus::NotRecorded => ("not in the manifest", String::new()),
            };
            table.row(vec![
                check.day.to_string(),
                status.to_owned(),
                entries,
                check.file.display().to_string(),
            ]);
        }
        if !table.is_empty() {
            out.table(&table)?;
        }
        out.line(format!(
            "{} days checked against {}",
            verified.days.len(),
            verified.manifest.display()
        ))?;
    }
    match verified.damage(true) {
        Some(err) => Err(err.into()),
        None => Ok(()),
    }
}

/// The report for people: a table of the days, then one line that sums it up.
fn show(out: &mut Out, report: &ArchiveReport, dir: &str, retain_days: u32) -> CliResult<()> {
    let mut table = Table::new(&["DAY", "ENTRIES", "BYTES", "FILE"]);
    for day in &report.days {
        table.row(vec![
            day.day.to_string(),
            thousands(day.rows),
            human_bytes(day.bytes),
            day.file.display().to_string(),
        ]);
    }
    if !table.is_empty() {
        out.table(&table)?;
    }
    let verb = if report.dry_run {
        "would move"
    } else {
        "moved"
    };
    let cutoff = report.cutoff.map_or_else(
        || "no day is old enough".to_owned(),
        |day| format!("days up to {day}"),
    );
    let recovered = if report.recovered > 0 {
        format!(
            ", {} of them already in their day's file from an interrupted run",
            thousands(report.recovered)
        )
    } else {
        String::new()
    };
    let vacuumed = if report.vacuumed {
        "; store vacuumed"
    } else {
        ""
    };
    out.line(format!(
        "{verb} {} entries ({}) in {} days to {} ({cutoff}, {retain_days} days kept){recovered}{vacuumed}",
        thousands(report.rows),
        human_bytes(report.bytes),
        report.days.len(),
        dir,
    ))
}
