//! `logs query` and `logs tail [--follow]`.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use nerve_store::{LogEntry, LogId, LogQuery, Order, Store};

use crate::cli::{LogFilter, LogsCommand};
use crate::error::{CliError, CliResult};
use crate::output::{Out, Table, thousands};
use crate::time::parse_time;
use nerve_store::archive::WATERMARK_KEY;

/// How many new entries one look of `--follow` reads at most.
const FOLLOW_PAGE: usize = 1_000;

/// How many entries `logs query` reads at a time when it pages.
const QUERY_PAGE: usize = 10_000;

pub(crate) fn run(store: &Store, command: LogsCommand, out: &mut Out) -> CliResult<()> {
    match command {
        LogsCommand::Query {
            filter,
            after,
            before,
            limit,
            desc,
        } => {
            let query = LogQuery {
                after: after.map(LogId),
                before: before.map(LogId),
                limit: Some(limit),
                order: if desc {
                    Order::Descending
                } else {
                    Order::Ascending
                },
                ..filter_query(&filter)?
            };
            query_entries(store, &query, out)?;
            archived_note(store, &query, out)
        }
        LogsCommand::Tail {
            filter,
            lines,
            follow,
            interval,
        } => {
            let base = filter_query(&filter)?;
            let mut last = store.log.query(&LogQuery {
                limit: Some(lines),
                order: Order::Descending,
                ..base.clone()
            })?;
            last.reverse();
            // Without --follow, the entries are aligned as a table; following, rows go out
            // as they come, in columns at least as wide as the header's.
            let mut table = entry_table().with_min_widths(&[6, 24, 10, 10, 12]);
            print_entries(out, &mut table, &last)?;
            if !follow {
                if !out.json() {
                    out.table(&table)?;
                }
                return Ok(());
            }
            let widths = table.widths();
            if !out.json() {
                out.header(&table, &widths)?;
            }
            let mut cursor = match last.last() {
                Some(entry) => Some(entry.id),
                // Nothing matched yet: follow from the log's current end, not its start.
                None => store
                    .log
                    .query(&LogQuery {
                        limit: Some(1),
                        order: Order::Descending,
                        ..LogQuery::default()
                    })?
                    .first()
                    .map(|entry| entry.id),
            };
            loop {
                for row in table.take_rows() {
                    out.row(&table, &row, &widths)?;
                }
                out.flush()?;
                std::thread::sleep(Duration::from_millis(interval));
                let new = store.log.query(&LogQuery {
                    after: cursor,
                    limit: Some(FOLLOW_PAGE),
                    ..base.clone()
                })?;
                if let Some(entry) = new.last() {
                    cursor = Some(entry.id);
                }
                print_entries(out, &mut table, &new)?;
            }
        }
    }
}

/// Prints what `query` finds, paging through it by id, a page of [`QUERY_PAGE`] entries at a
/// time, each printed as soon as it is read, so memory does not grow with `--limit` (each
/// page of a time range costs its own entries: the range is not walked again); a table
/// longer than one page goes out row by row in the widths of its first page. A table cut
/// short by the limit says so in a last line.
fn query_entries(store: &Store, query: &LogQuery, out: &mut Out) -> CliResult<()> {
    let mut table = entry_table();
    let mut left = query.effective_limit();
    let mut cursor = None;
    let mut widths: Option<Vec<usize>> = None;
    loop {
        let page = store
            .log
            .query(&page_of(query, cursor, left.min(QUERY_PAGE)))?;
        left -= page.len();
        cursor = page.last().map(|entry| entry.id).or(cursor);
        let done = page.len() < QUERY_PAGE || left == 0;
        print_entries(out, &mut table, &page)?;
        let cut = done && left == 0 && !out.json() && {
            let next = store.log.query(&page_of(query, cursor, 1))?;
            !next.is_empty()
        };
        if !out.json() {
            if widths.is_none() && done {
                // It all fits one page: one aligned table.
                out.table(&table)?;
                return cut_note(out, cut, query.effective_limit(), cursor);
            }
            if widths.is_none() {
                let first = table.widths();
                out.header(&table, &first)?;
                widths = Some(first);
            }
            if let Some(widths) = &widths {
                for row in table.take_rows() {
                    out.row(&table, &row, widths)?;
                }
            }
        }
        out.flush()?;
        if done {
            return cut_note(out, cut, query.effective_limit(), cursor);
        }
    }
}

/// After a table whose time range reaches into days the archive moved out of the store, a
/// line that says so and how to read them (`archive cat`).
fn archived_note(store: &Store, query: &LogQuery, out: &mut Out) -> CliResult<()> {
    let Some(watermark) = store.log.meta_get(WATERMARK_KEY)? else {
        return Ok(());
    };
    let Ok(last) = watermark.parse::<chrono::NaiveDate>() else {
        return Ok(());
    };
    if query.since.is_some_and(|since| since.date_naive() > last) {
        return Ok(());
    }
    let first = query.since.map_or_else(
        || "FIRST".to_owned(),
        |since| since.date_naive().to_string(),
    );
    out.note(format!(
        "days up to {last} are archived, not in the store: `nerve-store archive cat \
         {first}..{last}` reads them"
    ))
}

/// The last line of a table that `--limit` cut short: how many were shown, and how to see
/// the next ones.
fn cut_note(out: &mut Out, cut: bool, shown: usize, last: Option<LogId>) -> CliResult<()> {
    match last {
        Some(LogId(last)) if cut => out.note(format!(
            "{} shown, and there are more: --after {last} (--before, with --desc) shows the \
             next ones, a larger --limit more at once",
            thousands(shown as u64)
        )),
        _ => Ok(()),
    }
}

/// The next page of `query` after the entry `cursor` (in the query's order), at most `limit`.
fn page_of(query: &LogQuery, cursor: Option<LogId>, limit: usize) -> LogQuery {
    let mut page = LogQuery {
        limit: Some(limit),
        ..query.clone()
    };
    match (query.order, cursor) {
        (Order::Ascending, Some(last)) => page.after = Some(last),
        (Order::Descending, Some(last)) => page.before = Some(last),
        (_, None) => {}
    }
    page
}

/// The query the filter flags describe.
fn filter_query(filter: &LogFilter) -> CliResult<LogQuery> {
    let now = Utc::now();
    let time = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|text| parse_time(text, now))
            .transpose()
            .map_err(|reason| CliError::refused(format!("--{flag}: {reason}"), "see --help"))
    };
    Ok(LogQuery {
        source: filter.source.clone(),
        kind: filter.kind.clone(),
        ref_id: filter.ref_id.clone(),
        since: time("since", &filter.since)?,
        until: time("until", &filter.until)?,
        ..LogQuery::default()
    })
}

/// The columns entries are shown in.
pub(super) fn entry_table() -> Table {
    Table::new(&["ID", "TIME", "SOURCE", "TYPE", "REF", "PAYLOAD"])
}

/// Prints `entries` as JSON lines, or adds them to `table`.
pub(super) fn print_entries(
    out: &mut Out,
    table: &mut Table,
    entries: &[LogEntry],
) -> CliResult<()> {
    for entry in entries {
        if out.json() {
            out.object(entry)?;
        } else {
            table.row(vec![
                entry.id.0.to_string(),
                entry.ts.to_rfc3339_opts(SecondsFormat::Millis, true),
                entry.source.clone(),
                entry.kind.clone(),
                entry.ref_id.clone().unwrap_or_else(|| "-".into()),
                entry.payload.clone(),
            ]);
        }
    }
    Ok(())
}
