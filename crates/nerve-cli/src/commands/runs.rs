//! `runs list` and `runs show`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use nerve_store::archive::ArchiveAt;
use nerve_store::{
    LogEntry, LogQuery, RunQuery, Store, StoreError, WorkflowRun, WorkflowRunStatus,
};
use serde::Serialize;

use crate::cli::RunsCommand;
use crate::error::CliResult;
use crate::output::{Out, Table};

pub(crate) fn run(store: &Store, command: RunsCommand, out: &mut Out) -> CliResult<()> {
    match command {
        RunsCommand::List {
            active,
            mut status,
            workflow,
            thread,
            since,
            until,
            newest_first,
            after,
            limit,
        } => {
            if active {
                let active = WorkflowRunStatus::ALL.into_iter().filter(|s| s.is_active());
                if status.is_empty() {
                    status = active.collect();
                } else {
                    status.retain(|s| s.is_active());
                }
            }
            let query = RunQuery {
                statuses: status,
                workflow,
                thread_id: thread,
                created_since: since,
                created_until: until,
                order: if newest_first {
                    nerve_store::Order::Descending
                } else {
                    nerve_store::Order::Ascending
                },
                after,
                limit: Some(limit.saturating_add(1)),
            };
            list(store, &query, limit, out)
        }
        RunsCommand::Show {
            run,
            archive,
            archive_dir,
        } => {
            let archive = match archive {
                false => None,
                true => Some(ArchiveAt::open(
                    archive_dir.unwrap_or_else(|| store.location.archive_dir()),
                )?),
            };
            show(store, run, archive.as_ref(), out)
        }
    }
}

/// `runs list`: the runs `query` matches, at most `limit` (the query asks for one more, to
/// tell whether the table is cut short).
fn list(store: &Store, query: &RunQuery, limit: usize, out: &mut Out) -> CliResult<()> {
    let mut runs = store.log.list_runs(query)?;
    let cut = runs.len() > limit;
    runs.truncate(limit);
    let last = runs.last().map(|run| run.run_id.clone());
    if out.json() {
        for run in &runs {
            out.object(run)?;
        }
        return Ok(());
    }
    let mut table = Table::new(&[
        "RUN", "WORKFLOW", "STATUS", "ATTEMPT", "CREATED", "UPDATED", "THREAD",
    ]);
    for run in runs {
        table.row(vec![
            run.run_id,
            run.workflow,
            run.status.to_string(),
            run.attempt.to_string(),
            time(run.created_at),
            time(run.updated_at),
            run.thread_id.unwrap_or_else(|| "-".into()),
        ]);
    }
    out.table(&table)?;
    match last {
        Some(last) if cut => out.note(format!(
            "{} shown, and there are more: --after {last} shows the next ones, a larger \
             --limit more at once",
            crate::output::thousands(limit as u64)
        )),
        _ => Ok(()),
    }
}

/// `runs show`: the run's fields, then its log entries (with an `archive`, those it holds
/// too).
fn show(store: &Store, run: String, archive: Option<&ArchiveAt>, out: &mut Out) -> CliResult<()> {
    let Some(found) = store.log.get_run(&run)? else {
        return Err(StoreError::UnknownRun { run_id: run }.into());
    };
    let mut history = history(store, &found)?;
    let archived_until = super::logs::archived_until(store)?;
    if let Some(archive) = archive {
        history = archived_history(archive, &found, archived_until)?
            .into_iter()
            .chain(history)
            .collect();
    }
    if out.structured() {
        return out.report(&RunWithLog {
            run: &found,
            log: &history,
        });
    }
    let optional_time = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".into(), time);
    let fields = [
        ("run", found.run_id.clone()),
        ("workflow", found.workflow.clone()),
        (
            "thread",
            found.thread_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("status", found.status.to_string()),
        ("attempt", found.attempt.to_string()),
        ("created", time(found.created_at)),
        ("started", optional_time(found.started_at)),
        ("finished", optional_time(found.finished_at)),
        ("updated", time(found.updated_at)),
        ("detail", found.detail.clone().unwrap_or_else(|| "-".into())),
    ];
    for (name, value) in fields {
        out.line(format!("{name:<10}{value}"))?;
    }
    out.line("")?;
    out.line(format!(
        "log entries about {} ({}):",
        found.run_id,
        history.len()
    ))?;
    let mut table = super::logs::entry_table();
    super::logs::print_entries(out, &mut table, &history)?;
    out.table(&table)?;
    match archived_until {
        Some(last) if archive.is_none() && found.created_at.date_naive() <= last => {
            out.note(format!(
                "days up to {last} are archived: their entries about {run} are not shown; \
             --archive reads them too"
            ))
        }
        _ => Ok(()),
    }
}

/// The entries about `run` that `archive` holds, in id order: the days from its creation to
/// the last archived one.
fn archived_history(
    archive: &ArchiveAt,
    run: &WorkflowRun,
    archived_until: Option<NaiveDate>,
) -> CliResult<Vec<LogEntry>> {
    let Some(last) = archived_until else {
        return Ok(Vec::new());
    };
    let first = run.created_at.date_naive();
    let mut entries = Vec::new();
    for entry in archive.read(first..=last, true)? {
        let entry = entry?;
        if entry.ref_id.as_deref() == Some(run.run_id.as_str()) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// A run and its log entries, as `--json` prints them.
#[derive(Serialize)]
struct RunWithLog<'a> {
    #[serde(flatten)]
    run: &'a WorkflowRun,
    log: &'a [LogEntry],
}

/// Every log entry whose reference is the run: its transitions and what workers logged.
fn history(store: &Store, run: &WorkflowRun) -> CliResult<Vec<LogEntry>> {
    LogQuery::new()
        .ref_id(run.run_id.clone())
        .fetch(store.log.as_ref())
        .map(|entry| entry.map_err(Into::into))
        .collect()
}

/// A time as the tables show it: RFC 3339 in UTC, to the millisecond.
pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
