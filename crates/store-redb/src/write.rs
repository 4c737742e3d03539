//! Writes inside one redb write transaction: entries with their index rows, runs with
//! theirs, thread messages, deletions.

use redb::{ReadableTable, Table, WriteTransaction};
use store_core::kit::{ActivityTally, TimeOrder, UnitTx};
use store_core::{ActivitySeries, DaySpan, LogEntry, LogId, StoreResult, WorkflowRun};

use crate::error::Context;
use crate::schema::{
    ACTIVITY, BIG_PAYLOAD, LOG_PAYLOAD_CHUNKS, LOGS, LOGS_BY_DAY, LOGS_BY_REF, LOGS_BY_SOURCE_KIND,
    LOGS_LATE_BY_TS, LogRow, MAX_TS_KEY, META, NEXT_LOG_ID_KEY, PAYLOAD_CHUNK, RUN_COUNTS, RUNS,
    RUNS_BY_CREATED, RUNS_BY_STATUS, RUNS_BY_THREAD, RUNS_BY_WORKFLOW, RunRow, STORE_INFO,
    THREAD_MESSAGES, THREADS_BY_ID, THREADS_BY_ROLE, THREADS_BY_ROUND, TIME_MARKS, ThreadRow,
    chunk_value, decode_ts, encode_ts, meta_value, row_copy,
};

/// Writes the index rows by reference and by (source, kind) of entry `id`, whose encoded
/// row is `row`: each holds [`row_copy`] of it. Shared by every write of an entry and by the
/// migration that builds these indexes for an older file.
pub(crate) fn insert_row_copies(
    by_ref: &mut Table<'_, (&'static str, u64), &'static [u8]>,
    by_source_kind: &mut Table<'_, (&'static str, &'static str, u64), &'static [u8]>,
    id: u64,
    fields: (Option<&str>, &str, &str),
    row: &[u8],
) -> Result<(), redb::Error> {
    let (ref_id, source, kind) = fields;
    let copy = row_copy(row);
    if let Some(ref_id) = ref_id {
        by_ref.insert((ref_id, id), copy)?;
    }
    by_source_kind.insert((source, kind, id), copy)?;
    Ok(())
}

/// The log's tables in a write transaction, and the id counter.
pub(crate) struct LogTables<'t> {
    logs: Table<'t, u64, &'static [u8]>,
    by_ref: Table<'t, (&'static str, u64), &'static [u8]>,
    by_source_kind: Table<'t, (&'static str, &'static str, u64), &'static [u8]>,
    time_marks: Table<'t, i64, u64>,
    by_day: Table<'t, (i64, u64), ()>,
    payload_chunks: Table<'t, (u64, u32), &'static [u8]>,
    late_by_ts: Table<'t, (i64, u64), ()>,
    info: Table<'t, &'static str, u64>,
    activity_counts: Table<'t, (i64, &'static str), i64>,
    next_id: u64,
    /// The log's time order: which entries are late, when a time mark starts.
    order: TimeOrder,
    /// What the entries written and deleted change of the activity counts.
    activity: ActivityTally,
}

impl<'t> LogTables<'t> {
    pub(crate) fn open(tx: &'t WriteTransaction) -> StoreResult<Self> {
        let context = "opening the log tables";
        let open = || -> Result<Self, redb::Error> {
            let info = tx.open_table(STORE_INFO)?;
            let next_id = info.get(NEXT_LOG_ID_KEY)?.map_or(1, |v| v.value());
            let max_ts = info.get(MAX_TS_KEY)?.map(|v| decode_ts(v.value()));
            let time_marks = tx.open_table(TIME_MARKS)?;
            let last_mark = time_marks.last()?.map(|(mark, _)| mark.value());
            Ok(LogTables {
                logs: tx.open_table(LOGS)?,
                by_ref: tx.open_table(LOGS_BY_REF)?,
                by_source_kind: tx.open_table(LOGS_BY_SOURCE_KIND)?,
                time_marks,
                by_day: tx.open_table(LOGS_BY_DAY)?,
                payload_chunks: tx.open_table(LOG_PAYLOAD_CHUNKS)?,
                late_by_ts: tx.open_table(LOGS_LATE_BY_TS)?,
                info,
                activity_counts: tx.open_table(ACTIVITY)?,
                next_id,
                order: TimeOrder::new(max_ts, last_mark),
                activity: ActivityTally::new(),
            })
        };
        open().context(context)
    }

    /// The highest id ever given out (0 when none).
    pub(crate) fn highest_given(&self) -> u64 {
        self.next_id.saturating_sub(1)
    }

    /// Writes `entry` under its own id, with its index rows, where the time order places it
    /// (appended at the log's end when its id is above every id given before: an append, an
    /// import, a restore past the end), and moves the counter past it.
    pub(crate) fn insert(&mut self, entry: &LogEntry) -> StoreResult<()> {
        let id = entry.id.0;
        let placed = self
            .order
            .place(entry.ts.timestamp_millis(), id >= self.next_id);
        self.next_id = self.next_id.max(id.saturating_add(1));
        let row = LogRow::of(entry).encode(id)?;
        let ts = entry.ts.timestamp_millis();
        self.activity.entry(entry, 1);
        let write = |tables: &mut Self| -> Result<(), redb::Error> {
            if entry.payload.len() > BIG_PAYLOAD {
                for (seq, chunk) in (0u32..).zip(entry.payload.as_bytes().chunks(PAYLOAD_CHUNK)) {
                    tables
                        .payload_chunks
                        .insert((id, seq), chunk_value(id, seq, chunk).as_slice())?;
                }
            }
            tables.logs.insert(id, row.as_slice())?;
            insert_row_copies(
                &mut tables.by_ref,
                &mut tables.by_source_kind,
                id,
                (entry.ref_id.as_deref(), &entry.source, &entry.kind),
                &row,
            )?;
            if placed.late {
                tables.late_by_ts.insert((ts, id), ())?;
            }
            if let Some(mark) = placed.starts_mark {
                tables.time_marks.insert(mark, id)?;
            }
            tables
                .by_day
                .insert((store_core::kit::day_number(ts), id), ())?;
            Ok(())
        };
        write(self).context("appending a log entry")
    }

    /// The entry `id` as stored, its big payload joined from its chunks, if it is there.
    pub(crate) fn held(&self, id: u64) -> StoreResult<Option<LogEntry>> {
        let context = "reading a log entry";
        let Some(bytes) = self.logs.get(id).context(context)? else {
            return Ok(None);
        };
        let mut entry = LogRow::decode(id, bytes.value())?.into_entry(id)?;
        if entry.payload.is_empty() {
            let mut joined = Vec::new();
            for (expected, chunk) in (0u32..).zip(
                self.payload_chunks
                    .range((id, 0)..=(id, u32::MAX))
                    .context(context)?,
            ) {
                let (key, value) = chunk.context(context)?;
                let (_, seq) = key.value();
                if seq != expected {
                    return Err(store_core::StoreError::corrupt(
                        "log_payload_chunks",
                        id,
                        "a chunk is missing",
                    ));
                }
                joined.extend_from_slice(crate::schema::chunk_bytes(id, seq, value.value())?);
            }
            entry.payload = String::from_utf8(joined).map_err(|err| {
                store_core::StoreError::corrupt("log_payload_chunks", id, err.to_string())
            })?;
        }
        Ok(Some(entry))
    }

    /// Deletes the entry `id` with its index rows; returns whether it was there.
    fn delete(&mut self, id: u64) -> StoreResult<bool> {
        let context = "deleting a log entry";
        let Some(bytes) = self
            .logs
            .get(id)
            .context(context)?
            .map(|guard| guard.value().to_vec())
        else {
            return Ok(false);
        };
        let row = LogRow::decode(id, &bytes)?;
        let transition = self.transition_of(id, &row)?;
        self.activity.counted(row.ts, transition, -1);
        self.logs.remove(id).context(context)?;
        let remove = |tables: &mut Self| -> Result<(), redb::Error> {
            if row.payload.is_empty() {
                tables
                    .payload_chunks
                    .retain_in((id, 0)..=(id, u32::MAX), |_, _| false)?;
            }
            if let Some(ref_id) = row.ref_id {
                tables.by_ref.remove((ref_id, id))?;
            }
            tables.by_source_kind.remove((row.source, row.kind, id))?;
            tables.late_by_ts.remove((row.ts, id))?;
            tables
                .by_day
                .remove((store_core::kit::day_number(row.ts), id))?;
            Ok(())
        };
        remove(self).context(context)?;
        Ok(true)
    }

    /// The status the entry `id`, stored as `row`, records a run's move to, if it is a
    /// transition's ([`ActivitySeries::transition_of`]): a big payload is read from its
    /// chunks, as its write counted it whole.
    fn transition_of(&self, id: u64, row: &LogRow<'_>) -> StoreResult<Option<ActivitySeries>> {
        let big_transition = row.payload.is_empty()
            && row.source == store_core::AUDIT_SOURCE
            && row.kind == store_core::AUDIT_KIND;
        if !big_transition {
            return Ok(ActivitySeries::transition_of(
                row.source,
                row.kind,
                row.payload,
            ));
        }
        Ok(self.held(id)?.and_then(|entry| {
            ActivitySeries::transition_of(&entry.source, &entry.kind, &entry.payload)
        }))
    }

    /// Counts every entry the log holds into the activity counts: what an older file gets
    /// once when it gains them.
    pub(crate) fn count_all(&mut self) -> StoreResult<()> {
        let context = "counting the log's entries";
        for item in self.logs.iter().context(context)? {
            let (id, bytes) = item.context(context)?;
            let id = id.value();
            let row = LogRow::decode(id, bytes.value())?;
            let transition = self.transition_of(id, &row)?;
            self.activity.counted(row.ts, transition, 1);
        }
        Ok(())
    }

    /// Drops the time marks below the log's first entry but the last of them
    /// ([`store_core::kit::marks_to_drop`]): after a deletion.
    fn drop_passed_marks(&mut self) -> StoreResult<()> {
        let context = "dropping the time marks below the log's first entry";
        let lowest = self
            .logs
            .first()
            .context(context)?
            .map(|(id, _)| id.value());
        // The marks up to the first past the lowest id decide; the later ones stay.
        let mut walked = Vec::new();
        for item in self.time_marks.iter().context(context)? {
            let (mark, first) = item.context(context)?;
            walked.push((mark.value(), first.value()));
            if lowest.is_some_and(|lowest| first.value() > lowest) {
                break;
            }
        }
        let drop = store_core::kit::marks_to_drop(&walked, lowest);
        if let Some(&(below, _)) = walked.get(drop) {
            self.time_marks
                .retain_in(..below, |_, _| false)
                .context(context)?;
        }
        Ok(())
    }

    /// The ids the span covers, from the day index.
    fn ids_in(&self, span: &DaySpan) -> StoreResult<Vec<u64>> {
        let day = store_core::kit::number_of_day(span.day);
        let range = self
            .by_day
            .range((day, 0)..=(day, span.through.0))
            .context("reading a day")?;
        range
            .map(|item| item.map(|(key, _)| key.value().1).context("reading a day"))
            .collect()
    }

    /// Writes the id counter back; call once, before the commit.
    pub(crate) fn finish(mut self) -> StoreResult<()> {
        self.info
            .insert(NEXT_LOG_ID_KEY, self.next_id)
            .context("saving the id counter")?;
        if let Some(highest) = self.order.highest() {
            self.info
                .insert(MAX_TS_KEY, encode_ts(highest))
                .context("saving the highest time")?;
        }
        let context = "saving the activity counts";
        for (hour, series, delta) in self.activity.changes() {
            let key = series.key();
            let held = self
                .activity_counts
                .get((hour, key.as_str()))
                .context(context)?
                .map_or(0, |count| count.value());
            let count = held.saturating_add(delta);
            if count == 0 {
                self.activity_counts
                    .remove((hour, key.as_str()))
                    .context(context)?;
            } else {
                self.activity_counts
                    .insert((hour, key.as_str()), count)
                    .context(context)?;
            }
        }
        Ok(())
    }
}

/// A group's write transaction as `apply_group` uses it: the log tables stay open for the
/// whole group, the thread tables from the first message on.
pub(crate) struct GroupTx<'t> {
    tx: &'t WriteTransaction,
    logs: LogTables<'t>,
    threads: Option<ThreadTables<'t>>,
    /// Whether any unit wrote a row: a group of redelivered transitions has nothing to
    /// commit, and is not worth a durable commit.
    wrote: bool,
}

impl<'t> GroupTx<'t> {
    pub(crate) fn open(tx: &'t WriteTransaction) -> StoreResult<Self> {
        Ok(GroupTx {
            tx,
            logs: LogTables::open(tx)?,
            threads: None,
            wrote: false,
        })
    }

    /// Saves the id counter; call once, after the group's last unit and before the commit.
    /// Returns whether the group wrote anything.
    pub(crate) fn finish(self) -> StoreResult<bool> {
        drop(self.threads);
        if self.wrote {
            self.logs.finish()?;
        }
        Ok(self.wrote)
    }
}

impl UnitTx for GroupTx<'_> {
    fn run(&mut self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        read_run(self.tx, run_id)
    }

    fn set_blob_refs(
        &mut self,
        holder: &store_core::BlobHolder,
        blobs: &[store_core::Digest],
    ) -> StoreResult<()> {
        self.wrote = true;
        crate::references::set_refs(self.tx, holder, blobs)
    }

    fn next_id(&mut self) -> StoreResult<u64> {
        Ok(self.logs.next_id)
    }

    fn write_entry(&mut self, entry: &LogEntry) -> StoreResult<()> {
        self.wrote = true;
        self.logs.insert(entry)
    }

    fn index_thread(
        &mut self,
        id: LogId,
        thread_id: &str,
        round: u32,
        role: &str,
    ) -> StoreResult<()> {
        self.wrote = true;
        let threads = match &mut self.threads {
            Some(threads) => threads,
            None => self.threads.insert(ThreadTables::open(self.tx)?),
        };
        threads.index_row(id.0, thread_id, round, role)
    }

    fn write_run(&mut self, run: &WorkflowRun, stored: Option<&WorkflowRun>) -> StoreResult<()> {
        self.wrote = true;
        write_run(self.tx, run, stored)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()> {
        self.wrote = true;
        set_meta(self.tx, &[(key, value)])
    }

    fn delete_meta(&mut self, key: &str) -> StoreResult<bool> {
        let mut meta = self.tx.open_table(META).context("opening meta")?;
        let removed = meta
            .remove(key)
            .with_context(|| format!("deleting meta key {key:?}"))?
            .is_some();
        self.wrote |= removed;
        Ok(removed)
    }
}

/// Stores the `pairs` in meta.
pub(crate) fn set_meta(tx: &WriteTransaction, pairs: &[(&str, &str)]) -> StoreResult<()> {
    let mut table = tx.open_table(META).context("opening meta")?;
    for (key, value) in pairs {
        table
            .insert(*key, meta_value(key, value).as_slice())
            .with_context(|| format!("writing meta key {key:?}"))?;
    }
    Ok(())
}

/// The run `run_id` as stored in the transaction.
pub(crate) fn read_run(tx: &WriteTransaction, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
    let runs = tx.open_table(RUNS).context("opening runs")?;
    let found = runs.get(run_id).context("reading a run")?;
    found
        .map(|bytes| RunRow::decode_run(run_id, bytes.value()))
        .transpose()
}

/// Writes `run` and keeps the run indexes in step with it. `previous` is the run as it was
/// (`None`: a new run).
pub(crate) fn write_run(
    tx: &WriteTransaction,
    run: &WorkflowRun,
    previous: Option<&WorkflowRun>,
) -> StoreResult<()> {
    let row = RunRow::of(run).encode(&run.run_id)?;
    let created = run.created_at.timestamp_millis();
    let id = run.run_id.as_str();
    let write = || -> Result<(), redb::Error> {
        tx.open_table(RUNS)?.insert(id, row.as_slice())?;
        let mut by_status = tx.open_table(RUNS_BY_STATUS)?;
        if let Some(old) = previous {
            by_status.remove((old.status.as_str(), old.created_at.timestamp_millis(), id))?;
        } else {
            tx.open_table(RUNS_BY_CREATED)?.insert((created, id), ())?;
            tx.open_table(RUNS_BY_WORKFLOW)?
                .insert((run.workflow.as_str(), created, id), ())?;
            if let Some(thread) = &run.thread_id {
                tx.open_table(RUNS_BY_THREAD)?
                    .insert((thread.as_str(), created, id), ())?;
            }
        }
        by_status.insert((run.status.as_str(), created, id), ())?;
        let moved_from = previous.map(|old| old.status);
        if moved_from != Some(run.status) {
            let mut counts = tx.open_table(RUN_COUNTS)?;
            if let Some(old) = moved_from {
                let n = counts.get(old.as_str())?.map_or(0, |n| n.value());
                counts.insert(old.as_str(), n.saturating_sub(1))?;
            }
            let n = counts.get(run.status.as_str())?.map_or(0, |n| n.value());
            counts.insert(run.status.as_str(), n + 1)?;
        }
        Ok(())
    };
    write().with_context(|| format!("writing run {:?}", run.run_id))
}

/// The thread index's tables in a write transaction.
pub(crate) struct ThreadTables<'t> {
    messages: Table<'t, u64, &'static [u8]>,
    by_id: Table<'t, (&'static str, u64), ()>,
    by_round: Table<'t, (&'static str, u32, u64), &'static str>,
    by_role: Table<'t, (&'static str, &'static str, u32, u64), ()>,
}

impl<'t> ThreadTables<'t> {
    pub(crate) fn open(tx: &'t WriteTransaction) -> StoreResult<Self> {
        let open = || -> Result<Self, redb::Error> {
            Ok(ThreadTables {
                messages: tx.open_table(THREAD_MESSAGES)?,
                by_id: tx.open_table(THREADS_BY_ID)?,
                by_round: tx.open_table(THREADS_BY_ROUND)?,
                by_role: tx.open_table(THREADS_BY_ROLE)?,
            })
        };
        open().context("opening the thread tables")
    }

    /// Indexes the entry `id` as the message of `thread`, `round`, `role`.
    pub(crate) fn index_row(
        &mut self,
        id: u64,
        thread: &str,
        round: u32,
        role: &str,
    ) -> StoreResult<()> {
        let row = ThreadRow {
            thread_id: thread,
            round,
            role,
        };
        let bytes = row.encode(id)?;
        let write = |tables: &mut Self| -> Result<(), redb::Error> {
            tables.messages.insert(id, bytes.as_slice())?;
            tables.by_id.insert((thread, id), ())?;
            tables.by_round.insert((thread, round, id), role)?;
            tables.by_role.insert((thread, role, round, id), ())?;
            Ok(())
        };
        write(self).context("indexing a thread message")
    }

    /// Removes the index rows of the entry `id`, if it held a message.
    fn unindex(&mut self, id: u64) -> StoreResult<()> {
        let context = "removing a thread message from the index";
        let removed = self.messages.remove(id).context(context)?;
        let Some(bytes) = removed.map(|guard| guard.value().to_vec()) else {
            return Ok(());
        };
        let row = ThreadRow::decode(id, &bytes)?;
        let remove = |tables: &mut Self| -> Result<(), redb::Error> {
            tables.by_id.remove((row.thread_id, id))?;
            tables.by_round.remove((row.thread_id, row.round, id))?;
            tables
                .by_role
                .remove((row.thread_id, row.role, row.round, id))?;
            Ok(())
        };
        remove(self).context(context)
    }
}

/// Deletes what the spans cover, with thread-index rows; returns how many entries.
pub(crate) fn delete_spans(tx: &WriteTransaction, spans: &[DaySpan]) -> StoreResult<u64> {
    let mut logs = LogTables::open(tx)?;
    let mut threads = ThreadTables::open(tx)?;
    let mut deleted = 0;
    let mut gone = Vec::new();
    for span in spans {
        for id in logs.ids_in(span)? {
            threads.unindex(id)?;
            if logs.delete(id)? {
                deleted += 1;
                gone.push(id);
            }
        }
    }
    drop(threads);
    logs.drop_passed_marks()?;
    logs.finish()?;
    crate::references::delete_entry_refs(tx, &gone)?;
    Ok(deleted)
}
