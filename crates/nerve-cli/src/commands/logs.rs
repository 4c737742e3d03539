//! `logs query` and `logs tail [--follow]`.

use std::time::Duration;

use chrono::{NaiveDate, SecondsFormat};
use nerve_store::{LogEntry, LogId, LogQuery, NewLogEntry, Order, Store};

use crate::cli::{LogFilter, LogsCommand};
use crate::error::{CliError, CliResult};
use crate::output::{Out, Table, thousands};
use nerve_store::archive::{ArchiveAt, WATERMARK_KEY};

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
            archive,
            archive_dir,
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
            if !archive {
                query_entries(store, &query, None, out)?;
                return archived_note(store, &query, out);
            }
            if desc {
                return Err(CliError::refused(
                    "--archive reads the archive's days in id order only",
                    "leave out --desc, or read newest first without --archive",
                ));
            }
            let dir = archive_dir.unwrap_or_else(|| store.location.archive_dir());
            query_entries(store, &query, Some(&ArchiveAt::open(dir)?), out)
        }
        LogsCommand::Tail {
            filter,
            lines,
            follow,
            interval,
        } => tail(
            store,
            &filter_query(&filter)?,
            lines,
            follow.then_some(interval),
            out,
        ),
        LogsCommand::Append {
            source,
            kind,
            ref_id,
            payload,
        } => append(store, NewLogEntry::new(source, kind, payload), ref_id, out),
    }
}

/// `logs append`: the entry (its payload read from standard input when it is `-`), durably;
/// prints its id, or the whole entry as JSON.
fn append(
    store: &Store,
    entry: NewLogEntry,
    ref_id: Option<String>,
    out: &mut Out,
) -> CliResult<()> {
    let mut entry = entry;
    if entry.payload == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
            .map_err(CliError::io("reading the payload from standard input"))?;
        entry.payload = text;
    }
    if let Some(ref_id) = ref_id {
        entry = entry.with_ref(ref_id);
    }
    let entry = store.log.append(entry)?;
    if out.structured() {
        out.report(&entry)
    } else {
        out.line(entry.id)
    }
}

/// `logs tail`: the last `lines` entries `base` matches; with `follow` (the interval in
/// milliseconds), then every new one as it is committed, until interrupted.
fn tail(
    store: &Store,
    base: &LogQuery,
    lines: usize,
    follow: Option<u64>,
    out: &mut Out,
) -> CliResult<()> {
    let Some(interval) = follow else {
        return query_entries(store, &last_entries(store, base, lines)?, None, out);
    };
    let mut last = store.log.query(&LogQuery {
        limit: Some(lines),
        order: Order::Descending,
        ..base.clone()
    })?;
    last.reverse();
    // Following, rows go out as they come, in columns at least as wide as the header's.
    let mut table = entry_table().with_min_widths(&[6, 24, 10, 10, 12]);
    print_entries(out, &mut table, &last)?;
    let widths = table.widths();
    if !out.json() {
        out.header(&table, &widths)?;
    }
    let cursor = last.last().map(|entry| entry.id);
    let following = store.log.as_ref();
    let query = LogQuery {
        after: cursor,
        ..base.clone()
    };
    let longest = Duration::from_millis(interval);
    for row in table.take_rows() {
        out.row(&table, &row, &widths)?;
    }
    out.flush()?;
    for entry in nerve_store::pages::follow(following, query, longest)? {
        print_entries(out, &mut table, &[entry?])?;
        for row in table.take_rows() {
            out.row(&table, &row, &widths)?;
        }
        out.flush()?;
    }
    Ok(())
}

/// The query for the last `lines` entries `base` matches, in id order: found by walking
/// back from the newest a page at a time and keeping only the oldest seen, so that memory
/// does not grow with `lines`; bounded by the newest, so that entries committed meanwhile
/// are left for a next look.
fn last_entries(store: &Store, base: &LogQuery, lines: usize) -> CliResult<LogQuery> {
    let mut newest_first = base
        .clone()
        .descending()
        .limit(lines)
        .fetch(store.log.as_ref());
    let Some(newest) = newest_first.next().transpose()? else {
        return Ok(base.clone().limit(0));
    };
    let mut oldest = newest.id;
    for entry in newest_first {
        oldest = entry?.id;
    }
    Ok(LogQuery {
        after: Some(LogId(oldest.0 - 1)),
        before: Some(LogId(newest.id.0 + 1)),
        limit: Some(lines),
        order: Order::Ascending,
        ..base.clone()
    })
}

/// Prints what `query` finds, paging through the store by id, a page of [`QUERY_PAGE`]
/// entries at a time, each printed as soon as it is read, so memory does not grow with
/// `--limit` (each page of a time range costs its own entries: the range is not walked
/// again); with `archive`, the archive's days of the query's range too, merged in by id, so
/// that one answer covers the whole history. A table longer than one page goes out row by
/// row in the widths of its first page; one cut short by the limit says so in a last line.
fn query_entries(
    store: &Store,
    query: &LogQuery,
    archive: Option<&ArchiveAt>,
    out: &mut Out,
) -> CliResult<()> {
    let stored = stored_entries(store, query);
    let Some(archive) = archive else {
        return print_stream(out, stored, query.effective_limit());
    };
    let first = query
        .since
        .map_or(NaiveDate::MIN, |since| since.date_naive());
    let last = query
        .until
        .map_or(NaiveDate::MAX, |until| until.date_naive());
    let archived = archive
        .read(first..=last, true)?
        .filter(|entry| entry.as_ref().map_or(true, |entry| query.matches(entry)))
        .map(|entry| entry.map_err(CliError::from));
    print_stream(out, merge_by_id(archived, stored), query.effective_limit())
}

/// The entries of `query` in the store, read a page at a time as the stream is consumed.
fn stored_entries(store: &Store, query: &LogQuery) -> impl Iterator<Item = CliResult<LogEntry>> {
    // One more than the limit shows whether a list was cut short.
    let page_size = query.effective_limit().saturating_add(1).min(QUERY_PAGE);
    let mut page = std::collections::VecDeque::new();
    let mut cursor = None;
    let mut exhausted = false;
    std::iter::from_fn(move || {
        if page.is_empty() && !exhausted {
            match store.log.query(&page_of(query, cursor, page_size)) {
                Ok(entries) => {
                    exhausted = entries.len() < page_size;
                    cursor = entries.last().map(|entry| entry.id).or(cursor);
                    page.extend(entries);
                }
                Err(err) => {
                    exhausted = true;
                    return Some(Err(err.into()));
                }
            }
        }
        page.pop_front().map(Ok)
    })
}

/// Two streams of entries in ascending id order (whose ids never repeat: an entry is in
/// the archive or the store), as one.
fn merge_by_id(
    left: impl Iterator<Item = CliResult<LogEntry>>,
    right: impl Iterator<Item = CliResult<LogEntry>>,
) -> impl Iterator<Item = CliResult<LogEntry>> {
    let (mut left, mut right) = (left.peekable(), right.peekable());
    std::iter::from_fn(move || match (left.peek(), right.peek()) {
        (Some(Err(_)), _) | (Some(Ok(_)), None) => left.next(),
        (_, Some(Err(_))) | (None, Some(Ok(_))) => right.next(),
        (Some(Ok(a)), Some(Ok(b))) => {
            if a.id < b.id {
                left.next()
            } else {
                right.next()
            }
        }
        (None, None) => None,
    })
}

/// Prints at most `limit` entries of `entries`, a page of [`QUERY_PAGE`] at a time.
fn print_stream(
    out: &mut Out,
    entries: impl Iterator<Item = CliResult<LogEntry>>,
    limit: usize,
) -> CliResult<()> {
    let mut entries = entries.peekable();
    let mut table = entry_table();
    let mut widths: Option<Vec<usize>> = None;
    let mut shown = 0;
    let mut last = None;
    loop {
        let mut page = Vec::new();
        while page.len() < QUERY_PAGE && shown + page.len() < limit {
            match entries.next() {
                Some(entry) => page.push(entry?),
                None => break,
            }
        }
        shown += page.len();
        last = page.last().map(|entry| entry.id).or(last);
        let done = page.len() < QUERY_PAGE || shown == limit;
        print_entries(out, &mut table, &page)?;
        let cut = done && shown == limit && !out.json() && entries.peek().is_some();
        if !out.json() {
            if widths.is_none() && done {
                // It all fits one page: one aligned table.
                out.table(&table)?;
                return cut_note(out, cut, limit, last);
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
            return cut_note(out, cut, limit, last);
        }
    }
}

/// The last day the archive moved out of the store, if it ever ran.
pub(super) fn archived_until(store: &Store) -> CliResult<Option<NaiveDate>> {
    Ok(store
        .log
        .meta_get(WATERMARK_KEY)?
        .and_then(|day| day.parse().ok()))
}

/// After a table whose time range reaches into days the archive moved out of the store, a
/// line that says so and how to read them (`archive cat`).
fn archived_note(store: &Store, query: &LogQuery, out: &mut Out) -> CliResult<()> {
    let Some(last) = archived_until(store)? else {
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
        "days up to {last} are archived, not in the store: --archive reads them too, \
         `nerve-store archive cat {first}..{last}` alone"
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
    Ok(LogQuery {
        source: filter.source.clone(),
        kind: filter.kind.clone(),
        ref_id: filter.ref_id.clone(),
        since: filter.since,
        until: filter.until,
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
