//! Reads in one redb read transaction (one snapshot): each query walks the index that
//! orders it and fetches rows by key.

use redb::{
    AccessGuard, ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};
use store_core::{
    GetThreadRoundsParams, LogEntry, LogId, LogQuery, Order, RunQuery, StoreError, StoreResult,
    ThreadRoundRow, WorkflowRun,
};

use crate::error::Context;
use crate::schema::{
    LOG_PAYLOAD_CHUNKS, LOGS, LOGS_BY_DAY, LOGS_BY_REF, LOGS_BY_SOURCE_KIND, LOGS_BY_TS,
    LOGS_LATE_BY_TS, LogRow, PAYLOAD_CHUNK, RUN_COUNTS, RUNS, RUNS_BY_CREATED, RUNS_BY_STATUS,
    RUNS_BY_THREAD, RUNS_BY_WORKFLOW, RunRow, THREAD_MESSAGES, THREADS_BY_ID, THREADS_BY_ROLE,
    THREADS_BY_ROUND, ThreadRow,
};

fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &ReadTransaction,
    table: TableDefinition<'_, K, V>,
) -> StoreResult<ReadOnlyTable<K, V>> {
    tx.open_table(table)
        .with_context(|| format!("opening table {table}"))
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
        let Some(bytes) = self.rows.get(id).context("reading a log entry")? else {
            return Ok(None);
        };
        self.decode(id, bytes.value()).map(Some)
    }

    /// The entry `id` from its row's bytes, with its payload put together from its chunks
    /// when it is big (a big payload's row holds an empty one).
    fn decode(&self, id: u64, bytes: &[u8]) -> StoreResult<LogEntry> {
        let mut entry = LogRow::decode(id, bytes)?.into_entry(id)?;
        if entry.payload.is_empty() {
            entry.payload = self.big_payload(id)?;
        }
        Ok(entry)
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
        for item in self
            .payload_chunks
            .range((id, 0)..=(id, u32::MAX))
            .context(walk)?
        {
            let (key, chunk) = item.context(walk)?;
            if key.value().1 != expected {
                return Err(StoreError::corrupt(
                    "log_payload_chunks",
                    id,
                    "a chunk is missing",
                ));
            }
            bytes.extend_from_slice(crate::schema::chunk_bytes(id, expected, chunk.value())?);
            expected = expected.saturating_add(1);
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

/// Collects entries by id, in the order given, that pass the query's filters, up to its
/// limit.
fn collect_entries(
    logs: &Logs,
    query: &LogQuery,
    ids: impl Iterator<Item = StoreResult<u64>>,
) -> StoreResult<Vec<LogEntry>> {
    collect_matching(query, ids.map(|id| named_entry(logs, id?)))
}

/// Collects entries from an index that keeps a copy of each row ([`LOGS_BY_REF`],
/// [`LOGS_BY_SOURCE_KIND`]), in the order given, that pass the query's filters, up to its
/// limit; a row that was too big to copy is read from the log.
fn collect_copies(
    logs: &Logs,
    query: &LogQuery,
    rows: impl Iterator<Item = StoreResult<(u64, AccessGuard<'static, &'static [u8]>)>>,
) -> StoreResult<Vec<LogEntry>> {
    collect_matching(
        query,
        rows.map(|row| {
            let (id, copy) = row?;
            if copy.value().is_empty() {
                named_entry(logs, id)
            } else {
                logs.decode(id, copy.value())
            }
        }),
    )
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
    let descending = query.order == Order::Descending;
    let walk = "walking a log index";

    if let Some(ref_id) = query.ref_id.as_deref() {
        let index = open(tx, LOGS_BY_REF)?;
        let range = index.range((ref_id, low)..(ref_id, high)).context(walk)?;
        let rows = range.map(|item| item.map(|(key, row)| (key.value().1, row)).context(walk));
        return if descending {
            collect_copies(&logs, query, rows.rev())
        } else {
            collect_copies(&logs, query, rows)
        };
    }
    if let (Some(source), Some(kind)) = (query.source.as_deref(), query.kind.as_deref()) {
        let index = open(tx, LOGS_BY_SOURCE_KIND)?;
        let range = index
            .range((source, kind, low)..(source, kind, high))
            .context(walk)?;
        let rows = range.map(|item| item.map(|(key, row)| (key.value().2, row)).context(walk));
        return if descending {
            collect_copies(&logs, query, rows.rev())
        } else {
            collect_copies(&logs, query, rows)
        };
    }
    if let Some(source) = query.source.as_deref() {
        let index = open(tx, LOGS_BY_SOURCE_KIND)?;
        let mut ids = Vec::new();
        for item in index.range((source, "", 0)..).context(walk)? {
            let (key, _) = item.context(walk)?;
            let (found, _, id) = key.value();
            if found != source {
                break;
            }
            if (low..high).contains(&id) {
                ids.push(id);
            }
        }
        sort_in_order(&mut ids, descending);
        return collect_entries(&logs, query, ids.into_iter().map(Ok));
    }
    if query.since.is_some() || query.until.is_some() {
        return time_range(tx, &logs, query, low..high);
    }
    let range = logs.rows.range(low..high).context(walk)?;
    let mut out = Vec::new();
    let rows = range.map(|item| item.context(walk));
    let rows: Box<dyn Iterator<Item = _>> = if descending {
        Box::new(rows.rev())
    } else {
        Box::new(rows)
    };
    for item in rows {
        if out.len() >= limit {
            break;
        }
        let (key, bytes) = item?;
        let id = key.value();
        let entry = logs.decode(id, bytes.value())?;
        if query.matches(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// A time range, with ids bounded to `ids`. Entries that are not late come in `ts` order in
/// id order ([`LOGS_BY_TS`] holds them), so the ones in the range are the ids between the
/// first at or after `since` and the last before `until`: one seek each, then a walk of the
/// log by id that stops at the limit. The late entries of the range ([`LOGS_LATE_BY_TS`])
/// outside those ids are read whole and go before and after the walk, in id order.
/// O(log n + k + late entries in the range).
fn time_range(
    tx: &ReadTransaction,
    logs: &Logs,
    query: &LogQuery,
    ids: std::ops::Range<u64>,
) -> StoreResult<Vec<LogEntry>> {
    let walk = "walking the time index";
    // Bounds finer than the stored millisecond compare as `LogQuery::matches` does.
    let since = query.since.map_or(i64::MIN, store_core::kit::bound_millis);
    let until = query.until.map(store_core::kit::bound_millis);
    let in_order = open(tx, LOGS_BY_TS)?;
    let first = in_order
        .range((since, 0)..)
        .context(walk)?
        .next()
        .transpose()
        .context(walk)?;
    let last = match until {
        Some(until) => in_order.range(..(until, 0)).context(walk)?.next_back(),
        None => in_order.iter().context(walk)?.next_back(),
    }
    .transpose()
    .context(walk)?;
    let span = first
        .zip(last)
        .map(|((first, _), (last, _))| (first.value().1, last.value().1))
        .filter(|(first, last)| first <= last);

    let late = open(tx, LOGS_LATE_BY_TS)?;
    let range = match until {
        Some(until) => late.range((since, 0)..(until, 0)),
        None => late.range((since, 0)..),
    }
    .context(walk)?;
    let (mut below, mut above) = (Vec::new(), Vec::new());
    for item in range {
        let id = item.context(walk)?.0.value().1;
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
    let walked = logs
        .rows
        .range(between)
        .context(walk)?
        .map(|item| item.map(|(key, _)| key.value()).context(walk));
    if query.order == Order::Descending {
        let ids = above
            .into_iter()
            .rev()
            .map(Ok)
            .chain(walked.rev())
            .chain(below.into_iter().rev().map(Ok));
        collect_entries(logs, query, ids)
    } else {
        let ids = below
            .into_iter()
            .map(Ok)
            .chain(walked)
            .chain(above.into_iter().map(Ok));
        collect_entries(logs, query, ids)
    }
}

/// The run `run_id`.
pub(crate) fn run(tx: &ReadTransaction, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
    let runs = open(tx, RUNS)?;
    let found = runs.get(run_id).context("reading a run")?;
    found
        .map(|bytes| RunRow::decode_run(run_id, bytes.value()))
        .transpose()
}

/// The (created_at, run_id) keys under `prefix` in a run index, after `cursor`, in order.
/// A run index's table, as `runs` walks it.
type RunIndexTable = ReadOnlyTable<(&'static str, i64, &'static str), ()>;

/// The (created, run id) keys of `prefix` in a run index, after `cursor`, in order: read one
/// at a time as the caller goes, so a listing stops at its limit.
fn prefix_keys<'t>(
    table: &'t RunIndexTable,
    prefix: &'t str,
    cursor: Option<(i64, &'t str)>,
) -> StoreResult<impl Iterator<Item = StoreResult<(i64, String)>> + 't> {
    let walk = "walking a run index";
    let range = match cursor {
        Some((created, id)) => table.range((prefix, created, id)..),
        None => table.range((prefix, i64::MIN, "")..),
    }
    .context(walk)?;
    Ok(range
        .map(move |item| {
            let (key, _) = item.context(walk)?;
            let (found, created, id) = key.value();
            Ok((found == prefix).then(|| (created, id.to_owned())))
        })
        .map_while(|item: StoreResult<Option<(i64, String)>>| item.transpose())
        .filter(move |item| {
            !matches!(item, Ok((created, id)) if cursor.is_some_and(|c| (*created, id.as_str()) <= c))
        }))
}

/// The runs that match `query`, by (created_at, run_id). The walk follows one index (the
/// thread's, the workflow's, each status's merged in order, or the creation order) and
/// stops at the limit: O(log n + k) for a listing by one filter.
pub(crate) fn runs(tx: &ReadTransaction, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
    let cursor_run = match &query.after {
        Some(after) => Some(run(tx, after)?.ok_or_else(|| StoreError::UnknownRun {
            run_id: after.clone(),
        })?),
        None => None,
    };
    let limit = query.effective_limit();
    if limit == 0 {
        return Ok(Vec::new());
    }
    let cursor = cursor_run
        .as_ref()
        .map(|r| (r.created_at.timestamp_millis(), r.run_id.as_str()));
    let mut statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let (table, prefixes): (RunIndexTable, Vec<&str>) = if let Some(thread) = &query.thread_id {
        (open(tx, RUNS_BY_THREAD)?, vec![thread.as_str()])
    } else if let Some(workflow) = &query.workflow {
        (open(tx, RUNS_BY_WORKFLOW)?, vec![workflow.as_str()])
    } else if !statuses.is_empty() {
        (open(tx, RUNS_BY_STATUS)?, statuses)
    } else {
        return runs_by_creation(tx, query, cursor, limit);
    };
    let mut walks = prefixes
        .into_iter()
        .map(|prefix| Ok(prefix_keys(&table, prefix, cursor)?.peekable()))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut out = Vec::new();
    while out.len() < limit {
        // The walk whose next key comes first; a failed read comes first of all.
        let next = walks
            .iter_mut()
            .enumerate()
            .filter_map(|(at, walk)| walk.peek().map(|key| (at, key)))
            .min_by(|(_, a), (_, b)| match (a, b) {
                (Ok(a), Ok(b)) => a.cmp(b),
                (Err(_), _) => std::cmp::Ordering::Less,
                (_, Err(_)) => std::cmp::Ordering::Greater,
            })
            .map(|(at, _)| at);
        let Some(at) = next else { break };
        let Some(key) = walks[at].next() else { break };
        let (_, run_id) = key?;
        let found = run(tx, &run_id)?.ok_or_else(|| {
            StoreError::corrupt("runs", &run_id, "an index names a run that is not there")
        })?;
        if query.matches(&found) {
            out.push(found);
        }
    }
    Ok(out)
}

/// [`runs`] for a query with no thread, workflow or status: through the creation index.
fn runs_by_creation(
    tx: &ReadTransaction,
    query: &RunQuery,
    cursor: Option<(i64, &str)>,
    limit: usize,
) -> StoreResult<Vec<WorkflowRun>> {
    let table = open(tx, RUNS_BY_CREATED)?;
    let walk = "walking the runs by creation";
    let range = match cursor {
        Some(c) => table.range(c..),
        None => table.range((i64::MIN, "")..),
    }
    .context(walk)?;
    let mut out = Vec::new();
    for item in range {
        if out.len() >= limit {
            break;
        }
        let (key, _) = item.context(walk)?;
        let (created, id) = key.value();
        if cursor.is_some_and(|c| (created, id) <= c) {
            continue;
        }
        let found = run(tx, id)?.ok_or_else(|| {
            StoreError::corrupt("runs", id, "an index names a run that is not there")
        })?;
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

/// The message of entry `id` as a thread index names it, once its thread row agrees
/// ([`agreeing_row`]).
fn thread_row(
    logs: &Logs,
    messages: &ReadOnlyTable<u64, &'static [u8]>,
    index: &'static str,
    id: u64,
    named: (&str, Option<u32>, Option<&str>),
) -> StoreResult<ThreadRoundRow> {
    let (round, role) = agreeing_row(messages, index, id, named)?;
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
    let messages = open(tx, THREAD_MESSAGES)?;
    let logs = Logs::open(tx)?;
    let walk = "walking a thread";
    let mut out = Vec::new();
    for item in index
        .range((thread_id, low)..=(thread_id, u64::MAX))
        .context(walk)?
    {
        if out.len() >= limit {
            break;
        }
        let (key, _) = item.context(walk)?;
        let id = key.value().1;
        // The index by id holds neither round nor role: the thread row says them.
        let named = (thread_id, None, None);
        out.push(thread_row(&logs, &messages, "threads_by_id", id, named)?);
    }
    Ok(out)
}

/// A thread's messages by round, then id.
pub(crate) fn thread_rounds(
    tx: &ReadTransaction,
    params: &GetThreadRoundsParams,
) -> StoreResult<Vec<ThreadRoundRow>> {
    let limit = params.effective_limit();
    let logs = Logs::open(tx)?;
    let messages = open(tx, THREAD_MESSAGES)?;
    let thread = params.thread_id.as_str();
    let from = params.from_round.unwrap_or(0);
    let walk = "walking a thread by round";
    let mut out = Vec::new();
    if let Some(role) = params.role.as_deref() {
        let index = open(tx, THREADS_BY_ROLE)?;
        let range = index
            .range((thread, role, from, 0)..=(thread, role, u32::MAX, u64::MAX))
            .context(walk)?;
        for item in range.take(limit) {
            let (key, _) = item.context(walk)?;
            let (_, _, round, id) = key.value();
            let named = (thread, Some(round), Some(role));
            out.push(thread_row(&logs, &messages, "threads_by_role", id, named)?);
        }
    } else {
        let index = open(tx, THREADS_BY_ROUND)?;
        let range = index
            .range((thread, from, 0)..=(thread, u32::MAX, u64::MAX))
            .context(walk)?;
        for item in range.take(limit) {
            let (key, role) = item.context(walk)?;
            let (_, round, id) = key.value();
            let named = (thread, Some(round), Some(role.value()));
            out.push(thread_row(&logs, &messages, "threads_by_round", id, named)?);
        }
    }
    Ok(out)
}

/// The highest round of a thread, once the message the index names for it agrees.
pub(crate) fn last_round(tx: &ReadTransaction, thread_id: &str) -> StoreResult<Option<u32>> {
    let index = open(tx, THREADS_BY_ROUND)?;
    let walk = "reading the last round";
    let last = index
        .range((thread_id, 0, 0)..=(thread_id, u32::MAX, u64::MAX))
        .context(walk)?
        .next_back()
        .transpose()
        .context(walk)?;
    let Some((key, _)) = last else {
        return Ok(None);
    };
    let (_, round, id) = key.value();
    let messages = open(tx, THREAD_MESSAGES)?;
    agreeing_row(
        &messages,
        "threads_by_round",
        id,
        (thread_id, Some(round), None),
    )?;
    Ok(Some(round))
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
    let walk = "walking a day";
    let mut out = Vec::new();
    for item in index
        .range((number, low)..=(number, u64::MAX))
        .context(walk)?
        .take(limit)
    {
        let (key, _) = item.context(walk)?;
        let id = key.value().1;
        out.push(
            logs.entry(id)?
                .ok_or_else(|| StoreError::corrupt("logs", id, "indexed by day but not stored"))?,
        );
    }
    Ok(out)
}

/// The first day after `after` with entries, from the day index.
pub(crate) fn next_log_day(
    tx: &ReadTransaction,
    after: Option<chrono::NaiveDate>,
) -> StoreResult<Option<chrono::NaiveDate>> {
    let index = open(tx, LOGS_BY_DAY)?;
    let from = after.map_or(i64::MIN, |day| {
        store_core::kit::number_of_day(day).saturating_add(1)
    });
    let mut range = index.range((from, 0)..).context("finding the next day")?;
    let Some(item) = range.next() else {
        return Ok(None);
    };
    let number = item.context("finding the next day")?.0.value().0;
    store_core::kit::day_of_number(number)
        .map(Some)
        .ok_or_else(|| StoreError::corrupt("logs_by_day", number, "day number out of range"))
}

/// The entry count (kept by redb in the table's header) and the first and last keys of
/// the day index.
pub(crate) fn log_stats(tx: &ReadTransaction) -> StoreResult<store_core::LogStats> {
    let walk = "counting the log";
    let entries = open(tx, LOGS)?.len().context(walk)?;
    let index = open(tx, LOGS_BY_DAY)?;
    let day = |key: Option<(i64, u64)>| {
        key.map(|(number, _)| {
            store_core::kit::day_of_number(number).ok_or_else(|| {
                StoreError::corrupt("logs_by_day", number, "day number out of range")
            })
        })
        .transpose()
    };
    let first = index.first().context(walk)?;
    let last = index.last().context(walk)?;
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
        first_day: day(first.map(|(key, _)| key.value()))?,
        last_day: day(last.map(|(key, _)| key.value()))?,
        runs,
    })
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
    let walk = "reading the thread index";
    let mut out = Vec::new();
    for item in messages.range(low..).context(walk)?.take(limit) {
        let (key, bytes) = item.context(walk)?;
        let id = key.value();
        let row = ThreadRow::decode(id, bytes.value())?;
        out.push(store_core::ThreadIndexRow {
            log_id: LogId(id),
            thread_id: row.thread_id.to_owned(),
            round: row.round,
            role: row.role.to_owned(),
        });
    }
    Ok(out)
}

/// The meta pairs with a key above `after`, by key, at most `limit`.
pub(crate) fn meta_page(
    tx: &ReadTransaction,
    after: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<(String, String)>> {
    use std::ops::Bound;
    let meta = open(tx, crate::schema::META)?;
    let walk = "listing meta";
    let from = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut out = Vec::new();
    for item in meta
        .range::<&str>((from, Bound::Unbounded))
        .context(walk)?
        .take(limit)
    {
        let (key, value) = item.context(walk)?;
        let key = key.value();
        out.push((
            key.to_owned(),
            crate::schema::meta_text(key, value.value())?,
        ));
    }
    Ok(out)
}
