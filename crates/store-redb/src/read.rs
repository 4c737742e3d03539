//! Reads in one redb read transaction (one snapshot): each query walks the index that
//! orders it and fetches rows by key. Every walk is fenced ([`crate::fence`]) and every
//! index entry it passes is checked against the row it names, so that a key damaged on the
//! disk is an error, never an entry silently missed or misplaced.

use std::ops::Bound::{Excluded, Included, Unbounded};

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition};
use store_core::{
    GetThreadRoundsParams, LogEntry, LogId, LogQuery, Order, RunQuery, StoreError, StoreResult,
    ThreadRoundRow, WorkflowRun,
};

use crate::error::Context;
use crate::fence::{self, Start, Step};
use crate::schema::{
    LOG_PAYLOAD_CHUNKS, LOGS, LOGS_BY_DAY, LOGS_BY_REF, LOGS_BY_SOURCE_KIND, LOGS_LATE_BY_TS,
    LogRow, PAYLOAD_CHUNK, RUN_COUNTS, RUNS, RUNS_BY_CREATED, RUNS_BY_STATUS, RUNS_BY_THREAD,
    RUNS_BY_WORKFLOW, RunRow, THREAD_MESSAGES, THREADS_BY_ID, THREADS_BY_ROLE, THREADS_BY_ROUND,
    TIME_MARKS, ThreadRow,
};

fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &ReadTransaction,
    table: TableDefinition<'_, K, V>,
) -> StoreResult<ReadOnlyTable<K, V>> {
    tx.open_table(table)
        .with_context(|| format!("opening table {table}"))
}

/// An index entry whose key does not say what the row it names says.
fn disagrees(index: &'static str, key: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(
        index,
        key,
        "the index does not agree with the row it names: a key was damaged on the disk",
    )
}

/// The log's rows and the chunks of its big payloads, in one snapshot.
pub(crate) struct Logs {
    rows: ReadOnlyTable<u64, &'static [u8]>,
    payload_chunks: ReadOnlyTable<(u64, u32), &'static [u8]>,
}

impl Logs {
    pub(crate) fn open(tx: &ReadTransaction) -> StoreResult<Self> {
        Ok(Logs {
            rows: open(tx, LOGS)?,
            payload_chunks: open(tx, LOG_PAYLOAD_CHUNKS)?,
        })
    }

    /// The entry `id`, if it exists.
    pub(crate) fn entry(&self, id: u64) -> StoreResult<Option<LogEntry>> {
        fence::get(
            &self.rows,
            "logs",
            id,
            |bytes| self.decode(id, bytes.value()),
            |key, bytes| LogRow::decode(key.value(), bytes.value()).map(drop),
        )
    }

    /// The entry `id` from its row's bytes, with its payload put together from its chunks
    /// when it is big (a big payload's row holds an empty one).
    fn decode(&self, id: u64, bytes: &[u8]) -> StoreResult<LogEntry> {
        self.complete(id, LogRow::decode(id, bytes)?)
    }

    /// The entry of row `id`, with its big payload when it has one.
    fn complete(&self, id: u64, row: LogRow<'_>) -> StoreResult<LogEntry> {
        let mut entry = row.into_entry(id)?;
        if entry.payload.is_empty() {
            entry.payload = self.big_payload(id)?;
        }
        Ok(entry)
    }

    /// Hands `f` the row of entry `id` as the index `index` names it: decoded from `copy`
    /// when the index keeps one, else from the log (a row too big to copy, an index of keys
    /// only). A row the index names but the log does not hold is damage.
    fn with_row<T>(
        &self,
        index: &'static str,
        id: u64,
        copy: Option<&[u8]>,
        f: impl FnOnce(LogRow<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if let Some(copy) = copy.filter(|copy| !copy.is_empty()) {
            return f(LogRow::decode(id, copy)?);
        }
        let stored = self
            .rows
            .get(id)
            .context("reading a log entry")?
            .ok_or_else(|| {
                StoreError::corrupt(index, id, "an index names an entry that is not there")
            })?;
        f(LogRow::decode(id, stored.value())?)
    }

    /// The chunks of entry `id`'s payload, joined; empty when it has none.
    fn big_payload(&self, id: u64) -> StoreResult<String> {
        let walk = "reading a big payload";
        // Sized once from the last chunk's number, so the string never grows by copying;
        // capped, since a damaged number must not ask for an absurd allocation.
        let last = self
            .payload_chunks
            .range((id, 0)..=(id, u32::MAX))
            .context(walk)?
            .next_back()
            .transpose()
            .context(walk)?
            .map_or(0, |(key, _)| key.value().1 as usize + 1);
        let capacity = last.min(crate::schema::MAX_PAYLOAD_CHUNKS) * PAYLOAD_CHUNK;
        let mut bytes = Vec::with_capacity(capacity);
        let mut expected = 0u32;
        let joined = &mut bytes;
        let chunks = fence::walk(
            &self.payload_chunks,
            "log_payload_chunks",
            Start::up(Included((id, 0))),
            move |key, chunk| {
                let (owner, seq) = key.value();
                let chunk = crate::schema::chunk_bytes(owner, seq, chunk.value())?;
                if owner != id {
                    return Ok(Step::Past);
                }
                if seq != expected {
                    return Err(StoreError::corrupt(
                        "log_payload_chunks",
                        id,
                        "a chunk is missing",
                    ));
                }
                expected = expected.saturating_add(1);
                joined.extend_from_slice(chunk);
                Ok(Step::Take(()))
            },
        )?;
        for chunk in chunks {
            chunk?;
        }
        String::from_utf8(bytes)
            .map_err(|err| StoreError::corrupt("log_payload_chunks", id, err.to_string()))
    }
}

/// The entry `id` that an index names: missing, it is damage, reported as such.
fn named_entry(logs: &Logs, id: u64) -> StoreResult<LogEntry> {
    logs.entry(id)?
        .ok_or_else(|| StoreError::corrupt("logs", id, "an index names an entry that is not there"))
}

/// The entries given, in their order, that pass the query's filters, up to its limit: the
/// entries are read only as far as the limit.
fn collect_matching(
    query: &LogQuery,
    entries: impl Iterator<Item = StoreResult<LogEntry>>,
) -> StoreResult<Vec<LogEntry>> {
    let limit = query.effective_limit();
    let mut out = Vec::new();
    for entry in entries {
        if out.len() >= limit {
            break;
        }
        let entry = entry?;
        if query.matches(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

fn sort_in_order(ids: &mut [u64], descending: bool) {
    ids.sort_unstable();
    if descending {
        ids.reverse();
    }
}

/// The log query. Equality on `ref_id`, or on `source` and `kind`, walks that index in id
/// order from the cursor and stops at the limit; `source` alone, or a time range, reads
/// the index range and orders its ids; anything else walks the log by id.
pub(crate) fn query(tx: &ReadTransaction, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
    query.validate()?;
    let limit = query.effective_limit();
    // Ids are bounded to [low, high).
    let low = match query.after {
        Some(LogId(after)) => match after.checked_add(1) {
            Some(low) => low,
            None => return Ok(Vec::new()),
        },
        None => 0,
    };
    let high = query.before.map_or(u64::MAX, |before| before.0);
    if limit == 0 || low >= high {
        return Ok(Vec::new());
    }
    let logs = Logs::open(tx)?;
    let logs = &logs;
    let descending = query.order == Order::Descending;
    let ids = low..high;

    if let Some(ref_id) = query.ref_id.as_deref() {
        let index = open(tx, LOGS_BY_REF)?;
        let start = if descending {
            Start::down(Excluded((ref_id, high)))
        } else {
            Start::up(Included((ref_id, low)))
        };
        let entries = fence::walk(&index, "logs_by_ref", start, |key, copy| {
            let (found, id) = key.value();
            logs.with_row("logs_by_ref", id, Some(copy.value()), |row| {
                if row.ref_id != Some(found) {
                    return Err(disagrees("logs_by_ref", id));
                }
                if found != ref_id || !ids.contains(&id) {
                    return Ok(Step::Past);
                }
                Ok(Step::Take(logs.complete(id, row)?))
            })
        })?;
        return collect_matching(query, entries);
    }
    if query.since.is_some() || query.until.is_some() {
        return time_range(tx, logs, query, ids);
    }
    if let (Some(source), Some(kind)) = (query.source.as_deref(), query.kind.as_deref()) {
        let index = open(tx, LOGS_BY_SOURCE_KIND)?;
        let entries = source_kind_walk(&index, logs, (source, kind), ids, descending)?;
        return collect_matching(query, entries);
    }
    if let Some(source) = query.source.as_deref() {
        let index = open(tx, LOGS_BY_SOURCE_KIND)?;
        let start = Start::up(Included((source, "", 0)));
        let mut found = fence::walk(&index, "logs_by_source_kind", start, |key, copy| {
            let (found_source, found_kind, id) = key.value();
            logs.with_row("logs_by_source_kind", id, Some(copy.value()), |row| {
                if row.source != found_source || row.kind != found_kind {
                    return Err(disagrees("logs_by_source_kind", id));
                }
                Ok(if found_source != source {
                    Step::Past
                } else if ids.contains(&id) {
                    Step::Take(id)
                } else {
                    Step::Skip
                })
            })
        })?
        .collect::<StoreResult<Vec<u64>>>()?;
        sort_in_order(&mut found, descending);
        return collect_matching(query, found.into_iter().map(|id| named_entry(logs, id)));
    }
    collect_matching(query, log_walk(logs, ids, descending)?)
}

/// The entries of `source` and `kind` (`of`) with ids in `ids`, walked from one end of their
/// index, whose copies of the rows they are read from.
fn source_kind_walk<'t>(
    index: &'t ReadOnlyTable<(&'static str, &'static str, u64), &'static [u8]>,
    logs: &'t Logs,
    of: (&'t str, &'t str),
    ids: std::ops::Range<u64>,
    descending: bool,
) -> StoreResult<Box<dyn Iterator<Item = StoreResult<LogEntry>> + 't>> {
    if ids.is_empty() {
        return Ok(Box::new(std::iter::empty()));
    }
    let (source, kind) = of;
    let start = if descending {
        Start::down(Excluded((source, kind, ids.end)))
    } else {
        Start::up(Included((source, kind, ids.start)))
    };
    let walk = fence::walk(index, "logs_by_source_kind", start, move |key, copy| {
        let (found_source, found_kind, id) = key.value();
        logs.with_row("logs_by_source_kind", id, Some(copy.value()), |row| {
            if row.source != found_source || row.kind != found_kind {
                return Err(disagrees("logs_by_source_kind", id));
            }
            if (found_source, found_kind) != (source, kind) || !ids.contains(&id) {
                return Ok(Step::Past);
            }
            Ok(Step::Take(logs.complete(id, row)?))
        })
    })?;
    Ok(Box::new(walk))
}

/// The log's entries with ids in `ids`, walked by id from one end.
fn log_walk<'t>(
    logs: &'t Logs,
    ids: std::ops::Range<u64>,
    descending: bool,
) -> StoreResult<Box<dyn Iterator<Item = StoreResult<LogEntry>> + 't>> {
    if ids.is_empty() {
        return Ok(Box::new(std::iter::empty()));
    }
    let start = if descending {
        Start::down(Excluded(ids.end))
    } else {
        Start::up(Included(ids.start))
    };
    let walk = fence::walk(&logs.rows, "logs", start, move |key, bytes| {
        let id = key.value();
        let row = LogRow::decode(id, bytes.value())?;
        if !ids.contains(&id) {
            return Ok(Step::Past);
        }
        Ok(Step::Take(logs.complete(id, row)?))
    })?;
    Ok(Box::new(walk))
}

/// Checks that entry `id`, which the time index `index` files under `ts`, has that time.
fn at_time(logs: &Logs, index: &'static str, ts: i64, id: u64) -> StoreResult<()> {
    logs.with_row(index, id, None, |row| {
        if row.ts == ts {
            Ok(())
        } else {
            Err(disagrees(index, id))
        }
    })
}

/// A time range, with ids bounded to `ids`. The in-order entries of the range lie between
/// the first ids of two time marks ([`TIME_MARKS`], [`store_core::kit::MarkSpan`]): one seek
/// each, then a walk by id that stops at the limit (of the log, or of the index by source
/// and kind when the query names both). The late entries of the range
/// ([`LOGS_LATE_BY_TS`]) outside those ids are read whole and go before and after the walk,
/// in id order. O(log n + k + the late entries of the range + the in-order entries the walk
/// passes within [`store_core::kit::LATE_AFTER_MILLIS`] of its ends that are outside it).
fn time_range(
    tx: &ReadTransaction,
    logs: &Logs,
    query: &LogQuery,
    ids: std::ops::Range<u64>,
) -> StoreResult<Vec<LogEntry>> {
    // Bounds finer than the stored millisecond compare as `LogQuery::matches` does.
    let since = query.since.map_or(i64::MIN, store_core::kit::bound_millis);
    let until = query.until.map(store_core::kit::bound_millis);
    let marks = open(tx, TIME_MARKS)?;
    let first_id_from = |mark: i64| -> StoreResult<Option<u64>> {
        fence::walk(
            &marks,
            "time_marks",
            Start::up(Included(mark)),
            |_, first| Ok(Step::Take(first.value())),
        )?
        .next()
        .transpose()
    };
    let span = store_core::kit::MarkSpan::of(query.since, query.until).ids(first_id_from)?;

    let late = open(tx, LOGS_LATE_BY_TS)?;
    let (mut below, mut above) = (Vec::new(), Vec::new());
    let late_ids = fence::walk(
        &late,
        "logs_late_by_ts",
        Start::up(Included((since, 0))),
        |key, _| {
            let (ts, id) = key.value();
            at_time(logs, "logs_late_by_ts", ts, id)?;
            Ok(if until.is_some_and(|until| ts >= until) {
                Step::Past
            } else {
                Step::Take(id)
            })
        },
    )?;
    for id in late_ids {
        let id = id?;
        match span {
            _ if !ids.contains(&id) => {}
            Some((first, _)) if id < first => below.push(id),
            Some((_, last)) if id > last => above.push(id),
            Some(_) => {} // walked with the entries that are not late
            None => below.push(id),
        }
    }
    below.sort_unstable();
    above.sort_unstable();
    // Empty when the cursor lies past the span's ids (never an inverted range).
    let between = match span {
        Some((first, last)) => {
            let end = last.saturating_add(1).min(ids.end);
            first.max(ids.start).min(end)..end
        }
        None => 0..0,
    };
    let named = |id: u64| named_entry(logs, id);
    let descending = query.order == Order::Descending;
    // With a source and a kind, the span is walked by their index: only its matches.
    let by_source_kind = match (query.source.as_deref(), query.kind.as_deref()) {
        (Some(source), Some(kind)) => Some((open(tx, LOGS_BY_SOURCE_KIND)?, (source, kind))),
        _ => None,
    };
    let middle = match &by_source_kind {
        Some((index, of)) => source_kind_walk(index, logs, *of, between, descending)?,
        None => log_walk(logs, between, descending)?,
    };
    if descending {
        let entries = above
            .into_iter()
            .rev()
            .map(named)
            .chain(middle)
            .chain(below.into_iter().rev().map(named));
        collect_matching(query, entries)
    } else {
        let entries = below
            .into_iter()
            .map(named)
            .chain(middle)
            .chain(above.into_iter().map(named));
        collect_matching(query, entries)
    }
}

/// The run `run_id`.
pub(crate) fn run(tx: &ReadTransaction, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
    let runs = open(tx, RUNS)?;
    run_in(&runs, run_id)
}

/// The run `run_id` from the runs table.
fn run_in(
    runs: &ReadOnlyTable<&'static str, &'static [u8]>,
    run_id: &str,
) -> StoreResult<Option<WorkflowRun>> {
    fence::get(
        runs,
        "runs",
        run_id,
        |bytes| RunRow::decode_run(run_id, bytes.value()),
        |key, bytes| RunRow::decode_run(key.value(), bytes.value()).map(drop),
    )
}

/// The run a run index names under (`created`, `run_id`), once it agrees with the key: its
/// creation time, and `field` (the index's own column) equal to `prefix` where the index
/// has one.
fn indexed_run(
    runs: &ReadOnlyTable<&'static str, &'static [u8]>,
    index: &'static str,
    (prefix, created, run_id): (Option<&str>, i64, &str),
    field: fn(&WorkflowRun) -> Option<&str>,
) -> StoreResult<WorkflowRun> {
    let run = run_in(runs, run_id)?.ok_or_else(|| {
        StoreError::corrupt(index, run_id, "an index names a run that is not there")
    })?;
    let agrees = run.created_at.timestamp_millis() == created
        && prefix.is_none_or(|prefix| field(&run) == Some(prefix));
    if agrees {
        Ok(run)
    } else {
        Err(disagrees(index, run_id))
    }
}

/// A run index's table, as `runs` walks it.
type RunIndexTable = ReadOnlyTable<(&'static str, i64, &'static str), ()>;

/// The runs under `prefix` in a run index, after `cursor`, in (created, run id) order:
/// read one at a time as the caller goes, so a listing stops at its limit.
fn prefix_runs<'t>(
    table: &'t RunIndexTable,
    runs: &'t ReadOnlyTable<&'static str, &'static [u8]>,
    (index, field): (&'static str, fn(&WorkflowRun) -> Option<&str>),
    prefix: &'t str,
    (query, cursor): (&'t RunQuery, Option<(i64, &'t str)>),
) -> StoreResult<impl Iterator<Item = StoreResult<WorkflowRun>> + 't> {
    let (from, to) = query.created_millis();
    let descending = query.order == store_core::Order::Descending;
    // The cursor, or the range's end the walk starts from when the cursor is outside it.
    let start = match (cursor, descending) {
        (Some((created, id)), false) if created >= from => {
            Start::up(Excluded((prefix, created, id)))
        }
        (Some((created, id)), true) if created < to => Start::down(Excluded((prefix, created, id))),
        (_, false) => Start::up(Included((prefix, from, ""))),
        (_, true) => Start::down(Excluded((prefix, to, ""))),
    };
    fence::walk(table, index, start, move |key, _| {
        let (found, created, id) = key.value();
        let past = found != prefix || !(from..to).contains(&created);
        let run = indexed_run(runs, index, (Some(found), created, id), field)?;
        Ok(if past { Step::Past } else { Step::Take(run) })
    })
}

/// The key a run sorts by in the run indexes.
fn run_order(run: &WorkflowRun) -> (i64, &str) {
    (run.created_at.timestamp_millis(), run.run_id.as_str())
}

/// The runs that match `query`, by (created_at, run_id). The walk follows one index (the
/// thread's, the workflow's, each status's merged in order, or the creation order) and
/// stops at the limit: O(log n + k) for a listing by one filter.
pub(crate) fn runs(tx: &ReadTransaction, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
    query.validate()?;
    let runs = open(tx, RUNS)?;
    let cursor_run = query.cursor_run(|run_id| run_in(&runs, run_id))?;
    let limit = query.effective_limit();
    if limit == 0 {
        return Ok(Vec::new());
    }
    let cursor = cursor_run.as_ref().map(run_order);
    let mut statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    type Field = fn(&WorkflowRun) -> Option<&str>;
    let (table, index, field, prefixes): (RunIndexTable, &'static str, Field, Vec<&str>) =
        if let Some(thread) = &query.thread_id {
            let field: Field = |run| run.thread_id.as_deref();
            (
                open(tx, RUNS_BY_THREAD)?,
                "runs_by_thread",
                field,
                vec![thread.as_str()],
            )
        } else if let Some(workflow) = &query.workflow {
            let field: Field = |run| Some(run.workflow.as_str());
            (
                open(tx, RUNS_BY_WORKFLOW)?,
                "runs_by_workflow",
                field,
                vec![workflow.as_str()],
            )
        } else if !statuses.is_empty() {
            let field: Field = |run| Some(run.status.as_str());
            (open(tx, RUNS_BY_STATUS)?, "runs_by_status", field, statuses)
        } else {
            return runs_by_creation(tx, &runs, query, cursor, limit);
        };
    let mut walks = prefixes
        .into_iter()
        .map(|prefix| {
            Ok(prefix_runs(&table, &runs, (index, field), prefix, (query, cursor))?.peekable())
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let mut out = Vec::new();
    while out.len() < limit {
        // The walk whose next run comes first; a failed read comes first of all.
        let descending = query.order == store_core::Order::Descending;
        let next = walks
            .iter_mut()
            .enumerate()
            .filter_map(|(at, walk)| walk.peek().map(|run| (at, run)))
            .min_by(|(_, a), (_, b)| match (a, b) {
                (Ok(a), Ok(b)) if descending => run_order(b).cmp(&run_order(a)),
                (Ok(a), Ok(b)) => run_order(a).cmp(&run_order(b)),
                (Err(_), _) => std::cmp::Ordering::Less,
                (_, Err(_)) => std::cmp::Ordering::Greater,
            })
            .map(|(at, _)| at);
        let Some(at) = next else { break };
        let Some(found) = walks[at].next() else { break };
        let found = found?;
        if query.matches(&found) {
            out.push(found);
        }
    }
    Ok(out)
}

/// [`runs`] for a query with no thread, workflow or status: through the creation index.
fn runs_by_creation(
    tx: &ReadTransaction,
    runs: &ReadOnlyTable<&'static str, &'static [u8]>,
    query: &RunQuery,
    cursor: Option<(i64, &str)>,
    limit: usize,
) -> StoreResult<Vec<WorkflowRun>> {
    let table = open(tx, RUNS_BY_CREATED)?;
    let (from, to) = query.created_millis();
    let start = match (cursor, query.order == store_core::Order::Descending) {
        (Some(c), false) if c.0 >= from => Start::up(Excluded(c)),
        (Some(c), true) if c.0 < to => Start::down(Excluded(c)),
        (_, false) => Start::up(Included((from, ""))),
        (_, true) => Start::down(Excluded((to, ""))),
    };
    let walk = fence::walk(&table, "runs_by_created", start, |key, _| {
        let (created, id) = key.value();
        if !(from..to).contains(&created) {
            return Ok(Step::Past);
        }
        let run = indexed_run(runs, "runs_by_created", (None, created, id), |_| None)?;
        Ok(Step::Take(run))
    })?;
    let mut out = Vec::new();
    for found in walk {
        if out.len() >= limit {
            break;
        }
        let found = found?;
        if query.matches(&found) {
            out.push(found);
        }
    }
    Ok(out)
}

/// The thread row of entry `id` as the index `index` names it (its `thread`, and its
/// `round` and `role` where the index holds them), once it agrees: an index row whose key
/// or value was damaged names a message of another thread, round or role, and is reported
/// as damage.
/// Returns the message's round and role.
fn agreeing_row(
    messages: &ReadOnlyTable<u64, &'static [u8]>,
    index: &'static str,
    id: u64,
    (thread, round, role): (&str, Option<u32>, Option<&str>),
) -> StoreResult<(u32, String)> {
    let bytes = messages
        .get(id)
        .context("reading a thread message")?
        .ok_or_else(|| StoreError::corrupt(index, id, "indexed but not stored"))?;
    let row = ThreadRow::decode(id, bytes.value())?;
    let agrees = row.thread_id == thread
        && round.is_none_or(|round| round == row.round)
        && role.is_none_or(|role| role == row.role);
    if !agrees {
        return Err(StoreError::corrupt(
            index,
            id,
            "the index does not agree with the message's thread row",
        ));
    }
    Ok((row.round, row.role.to_owned()))
}

/// The message of entry `id`, of `round` and `role` (as its thread row says them).
fn message(logs: &Logs, id: u64, (round, role): (u32, String)) -> StoreResult<ThreadRoundRow> {
    let entry = logs.entry(id)?.ok_or_else(|| {
        StoreError::corrupt(
            "thread_messages",
            id,
            "the message's log entry is not there",
        )
    })?;
    Ok(ThreadRoundRow {
        round,
        role,
        log_id: entry.id,
        ts: entry.ts,
        payload: entry.payload,
    })
}

/// The thread walks' tables, in one snapshot.
struct Threads {
    logs: Logs,
    messages: ReadOnlyTable<u64, &'static [u8]>,
}

impl Threads {
    fn open(tx: &ReadTransaction) -> StoreResult<Self> {
        Ok(Threads {
            logs: Logs::open(tx)?,
            messages: open(tx, THREAD_MESSAGES)?,
        })
    }
}

/// A thread's messages after `after`, in id order.
pub(crate) fn thread_messages(
    tx: &ReadTransaction,
    thread_id: &str,
    after: Option<LogId>,
    limit: usize,
) -> StoreResult<Vec<ThreadRoundRow>> {
    let Some(low) = after.map_or(Some(0), |a| a.0.checked_add(1)) else {
        return Ok(Vec::new());
    };
    let index = open(tx, THREADS_BY_ID)?;
    let threads = Threads::open(tx)?;
    let walk = fence::walk(
        &index,
        "threads_by_id",
        Start::up(Included((thread_id, low))),
        |key, _| {
            let (thread, id) = key.value();
            // The index by id holds neither round nor role: the thread row says them.
            let row = agreeing_row(&threads.messages, "threads_by_id", id, (thread, None, None))?;
            if thread != thread_id {
                return Ok(Step::Past);
            }
            Ok(Step::Take(message(&threads.logs, id, row)?))
        },
    )?;
    walk.take(limit).collect()
}

/// A thread's messages by round, then id.
pub(crate) fn thread_rounds(
    tx: &ReadTransaction,
    params: &GetThreadRoundsParams,
) -> StoreResult<Vec<ThreadRoundRow>> {
    let limit = params.effective_limit();
    let threads = Threads::open(tx)?;
    let threads = &threads;
    let thread = params.thread_id.as_str();
    let from = params.from_round.unwrap_or(0);
    if let Some(role) = params.role.as_deref() {
        let index = open(tx, THREADS_BY_ROLE)?;
        let start = Start::up(Included((thread, role, from, 0)));
        let walk = fence::walk(&index, "threads_by_role", start, |key, _| {
            let (found_thread, found_role, round, id) = key.value();
            let named = (found_thread, Some(round), Some(found_role));
            let row = agreeing_row(&threads.messages, "threads_by_role", id, named)?;
            if (found_thread, found_role) != (thread, role) {
                return Ok(Step::Past);
            }
            Ok(Step::Take(message(&threads.logs, id, row)?))
        })?;
        walk.take(limit).collect()
    } else {
        let index = open(tx, THREADS_BY_ROUND)?;
        let start = Start::up(Included((thread, from, 0)));
        let walk = fence::walk(&index, "threads_by_round", start, |key, role| {
            let (found_thread, round, id) = key.value();
            let named = (found_thread, Some(round), Some(role.value()));
            let row = agreeing_row(&threads.messages, "threads_by_round", id, named)?;
            if found_thread != thread {
                return Ok(Step::Past);
            }
            Ok(Step::Take(message(&threads.logs, id, row)?))
        })?;
        walk.take(limit).collect()
    }
}

/// The highest round of a thread, once the message the index names for it agrees.
pub(crate) fn last_round(tx: &ReadTransaction, thread_id: &str) -> StoreResult<Option<u32>> {
    let index = open(tx, THREADS_BY_ROUND)?;
    let messages = open(tx, THREAD_MESSAGES)?;
    let start = Start::down(Included((thread_id, u32::MAX, u64::MAX)));
    fence::walk(&index, "threads_by_round", start, |key, role| {
        let (thread, round, id) = key.value();
        let named = (thread, Some(round), Some(role.value()));
        agreeing_row(&messages, "threads_by_round", id, named)?;
        Ok(if thread == thread_id {
            Step::Take(round)
        } else {
            Step::Past
        })
    })?
    .next()
    .transpose()
}

/// Checks that entry `id`, which the day index files under day `number`, is of that day.
fn of_day(logs: &Logs, number: i64, id: u64) -> StoreResult<()> {
    logs.with_row("logs_by_day", id, None, |row| {
        if store_core::kit::day_number(row.ts) == number {
            Ok(())
        } else {
            Err(disagrees("logs_by_day", id))
        }
    })
}

/// A page of a day's entries, from the day index.
pub(crate) fn day_entries(
    tx: &ReadTransaction,
    day: chrono::NaiveDate,
    after: Option<LogId>,
    limit: usize,
) -> StoreResult<Vec<LogEntry>> {
    let Some(low) = after.map_or(Some(0), |a| a.0.checked_add(1)) else {
        return Ok(Vec::new());
    };
    let number = store_core::kit::number_of_day(day);
    let index = open(tx, LOGS_BY_DAY)?;
    let logs = Logs::open(tx)?;
    let walk = fence::walk(
        &index,
        "logs_by_day",
        Start::up(Included((number, low))),
        |key, _| {
            let (found, id) = key.value();
            logs.with_row("logs_by_day", id, None, |row| {
                if store_core::kit::day_number(row.ts) != found {
                    return Err(disagrees("logs_by_day", id));
                }
                if found != number {
                    return Ok(Step::Past);
                }
                Ok(Step::Take(logs.complete(id, row)?))
            })
        },
    )?;
    walk.take(limit).collect()
}

/// A day number of the day index as a date.
fn day_of(number: i64) -> StoreResult<chrono::NaiveDate> {
    store_core::kit::day_of_number(number)
        .ok_or_else(|| StoreError::corrupt("logs_by_day", number, "day number out of range"))
}

/// The first (or, `descending`, last) day of the day index from `from`, once the entry
/// filed under it agrees.
fn day_from(
    logs: &Logs,
    index: &ReadOnlyTable<(i64, u64), ()>,
    start: Start<(i64, u64)>,
) -> StoreResult<Option<chrono::NaiveDate>> {
    fence::walk(index, "logs_by_day", start, |key, _| {
        let (number, id) = key.value();
        of_day(logs, number, id)?;
        Ok(Step::Take(day_of(number)?))
    })?
    .next()
    .transpose()
}

/// The first day after `after` with entries, from the day index.
pub(crate) fn next_log_day(
    tx: &ReadTransaction,
    after: Option<chrono::NaiveDate>,
) -> StoreResult<Option<chrono::NaiveDate>> {
    let index = open(tx, LOGS_BY_DAY)?;
    let logs = Logs::open(tx)?;
    let from = after.map_or(i64::MIN, |day| {
        store_core::kit::number_of_day(day).saturating_add(1)
    });
    day_from(&logs, &index, Start::up(Included((from, 0))))
}

/// The entry count (kept by redb in the table's header) and the first and last days of
/// the day index.
pub(crate) fn log_stats(tx: &ReadTransaction) -> StoreResult<store_core::LogStats> {
    use redb::ReadableTableMetadata as _;
    let walk = "counting the log";
    let logs = Logs::open(tx)?;
    let entries = logs.rows.len().context(walk)?;
    let index = open(tx, LOGS_BY_DAY)?;
    let first_day = day_from(&logs, &index, Start::up(Unbounded))?;
    let last_day = day_from(&logs, &index, Start::down(Unbounded))?;
    let mut runs = store_core::RunCounts::default();
    for item in open(tx, RUN_COUNTS)?.iter().context(walk)? {
        let (name, n) = item.context(walk)?;
        let name = name.value();
        let status = name
            .parse::<store_core::WorkflowRunStatus>()
            .map_err(|_| StoreError::corrupt("run_counts", name, "not a run status"))?;
        runs = runs.with(status, n.value());
    }
    Ok(store_core::LogStats {
        entries,
        first_day,
        last_day,
        runs,
    })
}

/// The activity counts of the hours `hours` numbers.
pub(crate) fn activity(
    tx: &ReadTransaction,
    hours: std::ops::Range<i64>,
) -> StoreResult<Vec<store_core::HourCount>> {
    let context = "reading the activity counts";
    let table = open(tx, crate::schema::ACTIVITY)?;
    let mut rows = Vec::new();
    for item in table
        .range((hours.start, "")..(hours.end, ""))
        .context(context)?
    {
        let (key, count) = item.context(context)?;
        let (hour, series) = key.value();
        rows.push((hour, series.to_owned(), count.value()));
    }
    store_core::kit::hour_counts("activity", rows)
}

/// The thread-index rows after `after`, in id order.
pub(crate) fn thread_index(
    tx: &ReadTransaction,
    after: Option<LogId>,
    limit: usize,
) -> StoreResult<Vec<store_core::ThreadIndexRow>> {
    let Some(low) = after.map_or(Some(0), |a| a.0.checked_add(1)) else {
        return Ok(Vec::new());
    };
    let messages = open(tx, THREAD_MESSAGES)?;
    let walk = fence::walk(
        &messages,
        "thread_messages",
        Start::up(Included(low)),
        |key, bytes| {
            let id = key.value();
            let row = ThreadRow::decode(id, bytes.value())?;
            Ok(Step::Take(store_core::ThreadIndexRow {
                log_id: LogId(id),
                thread_id: row.thread_id.to_owned(),
                round: row.round,
                role: row.role.to_owned(),
            }))
        },
    )?;
    walk.take(limit).collect()
}

/// The thread-index rows of the entries `ids` names, in id order.
pub(crate) fn thread_rows(
    tx: &ReadTransaction,
    ids: &[LogId],
) -> StoreResult<Vec<store_core::ThreadIndexRow>> {
    let messages = open(tx, THREAD_MESSAGES)?;
    let mut out = Vec::new();
    for id in ids {
        let row = fence::get(
            &messages,
            "thread_messages",
            id.0,
            |bytes| {
                let row = ThreadRow::decode(id.0, bytes.value())?;
                Ok(store_core::ThreadIndexRow {
                    log_id: *id,
                    thread_id: row.thread_id.to_owned(),
                    round: row.round,
                    role: row.role.to_owned(),
                })
            },
            |key, bytes| ThreadRow::decode(key.value(), bytes.value()).map(drop),
        )?;
        out.extend(row);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The meta pairs with a key above `after`, by key, at most `limit`.
pub(crate) fn meta_page(
    tx: &ReadTransaction,
    after: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<(String, String)>> {
    let meta = open(tx, crate::schema::META)?;
    let from = after.map_or(Unbounded, Excluded);
    let walk = fence::walk(&meta, "meta", Start::up(from), |key, value| {
        let key = key.value();
        Ok(Step::Take((
            key.to_owned(),
            crate::schema::meta_text(key, value.value())?,
        )))
    })?;
    walk.take(limit).collect()
}

/// The meta value under `key`.
pub(crate) fn meta_value(tx: &ReadTransaction, key: &str) -> StoreResult<Option<String>> {
    let meta = open(tx, crate::schema::META)?;
    fence::get(
        &meta,
        "meta",
        key,
        |value| crate::schema::meta_text(key, value.value()),
        |found, value| crate::schema::meta_text(found.value(), value.value()).map(drop),
    )
}
