//! `MemoryLogStore`: the whole contract as plainly as it can be written, over a few
//! `BTreeMap`s. It is the reference model of the property tests, and runs the conformance
//! suite itself, so the model is checked against the spec before backends are checked
//! against the model; downstream crates test their own code on it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{
    BlobHolder, BlobReference, DaySpan, Digest, GetThreadRoundsParams, LogEntry, LogId,
    LogMaintenance, LogQuery, LogStore, LogTransfer, RunQuery, StoreError, StoreResult,
    ThreadRoundRow, TransitionOutcome, WorkflowRun, WriteUnit, Written,
    kit::commit::PreparedWrite,
    kit::{
        PreparedEntry, TransitionPlan, answer_query, check_meta_pairs, now_millis, plan_transition,
        prepare_unit,
    },
};

#[derive(Debug, Default, Clone)]
struct State {
    /// By id, so iteration is id order.
    entries: BTreeMap<u64, LogEntry>,
    /// The id of the next append; ids start at 1.
    next_id: u64,
    runs: BTreeMap<String, WorkflowRun>,
    /// Log id → (thread, round, role).
    threads: BTreeMap<u64, (String, u32, String)>,
    meta: BTreeMap<String, String>,
    /// Holder → the blobs it references (never an empty list).
    refs: BTreeMap<BlobHolder, Vec<Digest>>,
}

/// What a unit changed, to put back when a later write of the unit is refused.
#[derive(Default)]
struct Undo {
    next_id: Option<u64>,
    entries: Vec<u64>,
    runs: Vec<(String, Option<WorkflowRun>)>,
    meta: Vec<(String, Option<String>)>,
    refs: Vec<(BlobHolder, Option<Vec<Digest>>)>,
}

impl Undo {
    fn roll_back(self, state: &mut State) {
        for (holder, before) in self.refs.into_iter().rev() {
            match before {
                Some(blobs) => state.refs.insert(holder, blobs),
                None => state.refs.remove(&holder),
            };
        }
        for id in self.entries {
            state.entries.remove(&id);
            state.threads.remove(&id);
        }
        for (run_id, before) in self.runs.into_iter().rev() {
            match before {
                Some(run) => state.runs.insert(run_id, run),
                None => state.runs.remove(&run_id),
            };
        }
        for (key, before) in self.meta.into_iter().rev() {
            match before {
                Some(value) => state.meta.insert(key, value),
                None => state.meta.remove(&key),
            };
        }
        if let Some(next_id) = self.next_id {
            state.next_id = next_id;
        }
    }
}

impl State {
    /// Makes `holder` reference exactly `blobs`, noting in `undo` what it referenced.
    fn set_refs(&mut self, holder: BlobHolder, blobs: Vec<Digest>, undo: &mut Undo) {
        let before = if blobs.is_empty() {
            self.refs.remove(&holder)
        } else {
            self.refs.insert(holder.clone(), blobs)
        };
        undo.refs.push((holder, before));
    }

    /// Every reference, in (digest, holder) order.
    fn all_refs(&self) -> Vec<BlobReference> {
        let mut all: Vec<BlobReference> = self
            .refs
            .iter()
            .flat_map(|(holder, blobs)| {
                blobs.iter().map(|digest| BlobReference {
                    digest: *digest,
                    holder: holder.clone(),
                })
            })
            .collect();
        all.sort();
        all
    }

    /// Appends one entry under the next id, or nothing past [`crate::MAX_LOG_ID`].
    fn append(&mut self, entry: PreparedEntry, undo: &mut Undo) -> StoreResult<LogEntry> {
        if self.next_id >= crate::MAX_LOG_ID.0 {
            return Err(StoreError::IdsExhausted {
                last: crate::MAX_LOG_ID,
            });
        }
        undo.next_id.get_or_insert(self.next_id);
        self.next_id += 1;
        let stored = entry.with_id(LogId(self.next_id));
        self.entries.insert(self.next_id, stored.clone());
        undo.entries.push(self.next_id);
        Ok(stored)
    }

    /// Applies one write of a unit, noting in `undo` what it changed.
    fn apply(
        &mut self,
        write: PreparedWrite,
        now: chrono::DateTime<chrono::Utc>,
        undo: &mut Undo,
    ) -> StoreResult<Written> {
        Ok(match write {
            PreparedWrite::Append(entry, blobs) => {
                let stored = self.append(entry, undo)?;
                self.set_refs(BlobHolder::Entry(stored.id), blobs, undo);
                Written::Appended(stored)
            }
            PreparedWrite::ThreadMessage {
                entry,
                thread_id,
                round,
                role,
            } => {
                let stored = self.append(entry, undo)?;
                self.threads.insert(stored.id.0, (thread_id, round, role));
                Written::ThreadMessage(stored)
            }
            PreparedWrite::Transition(transition) => {
                match plan_transition(self.runs.get(&transition.run_id), &transition, now)? {
                    TransitionPlan::Unchanged(run) => {
                        Written::Transitioned(TransitionOutcome::Unchanged { run })
                    }
                    TransitionPlan::Apply {
                        run,
                        previous,
                        audit,
                    } => {
                        let audit = self.append(audit.prepare(now)?, undo)?;
                        let before = self.runs.insert(run.run_id.clone(), run.clone());
                        undo.runs.push((run.run_id.clone(), before));
                        if let Some(blobs) = transition.blobs {
                            self.set_refs(BlobHolder::Run(run.run_id.clone()), blobs, undo);
                        }
                        Written::Transitioned(TransitionOutcome::Applied {
                            run,
                            previous,
                            audit,
                        })
                    }
                }
            }
            PreparedWrite::MetaSet { key, value, blobs } => {
                let before = self.meta.insert(key.clone(), value);
                self.set_refs(BlobHolder::Meta(key.clone()), blobs, undo);
                undo.meta.push((key, before));
                Written::MetaSet
            }
            PreparedWrite::MetaDelete { key } => {
                let before = self.meta.remove(&key);
                let existed = before.is_some();
                self.set_refs(BlobHolder::Meta(key.clone()), Vec::new(), undo);
                undo.meta.push((key, before));
                Written::MetaDeleted { existed }
            }
        })
    }

    fn thread_row(&self, id: u64) -> Option<ThreadRoundRow> {
        let (_, round, role) = self.threads.get(&id)?;
        let entry = self.entries.get(&id)?;
        Some(ThreadRoundRow {
            round: *round,
            role: role.clone(),
            log_id: entry.id,
            ts: entry.ts,
            payload: entry.payload.clone(),
        })
    }
}

/// The whole contract of `docs/SPEC.md` section 1 in memory, with every capability
/// ([`crate::LogBackend`]): for the tests of code that uses a store, and the reference model
/// the backends are checked against. It passes the conformance suite but keeps nothing when
/// the process ends, and is not tuned for size: one `Mutex` around a few `BTreeMap`s. Clones
/// share one state, so a clone kept aside plays the file that a "reopen" finds again.
#[derive(Debug, Default, Clone)]
pub struct MemoryLogStore {
    state: Arc<Mutex<State>>,
    /// A snapshot's view ([`LogTransfer::with_snapshot`]): reads only.
    frozen: bool,
}

impl MemoryLogStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn writable(&self, operation: &'static str) -> StoreResult<()> {
        if self.frozen {
            return Err(crate::StoreError::OpenedReadOnly {
                path: "a snapshot of a memory store".into(),
                operation,
            });
        }
        Ok(())
    }
}

fn by_creation(runs: &mut [WorkflowRun]) {
    runs.sort_by(|a, b| (a.created_at, &a.run_id).cmp(&(b.created_at, &b.run_id)));
}

impl LogStore for MemoryLogStore {
    fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        self.writable("write")?;
        let unit = prepare_unit(unit, now_millis())?;
        let mut state = self.state();
        let mut undo = Undo::default();
        let written = unit
            .writes
            .into_iter()
            .map(|write| state.apply(write, unit.now, &mut undo))
            .collect::<StoreResult<Vec<_>>>();
        if written.is_err() {
            undo.roll_back(&mut state);
        }
        written
    }

    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        query.validate()?;
        let state = self.state();
        let all: Vec<LogEntry> = state.entries.values().cloned().collect();
        Ok(answer_query(&all, query))
    }

    fn activity(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<crate::HourCount>> {
        // The model walks its entries: the counts a backend keeps must equal these.
        crate::kit::count_entries(self.state().entries.values(), since, until)
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        Ok(self.state().runs.get(run_id).cloned())
    }

    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        query.validate()?;
        let state = self.state();
        let cursor = query
            .cursor_run(|run_id| Ok(state.runs.get(run_id).cloned()))?
            .map(|run| (run.created_at.timestamp_millis(), run.run_id));
        let mut runs: Vec<_> = state
            .runs
            .values()
            .filter(|r| query.matches(r))
            .filter(|r| {
                cursor.as_ref().is_none_or(|(created, id)| {
                    query.comes_after((r.created_at.timestamp_millis(), &r.run_id), (*created, id))
                })
            })
            .cloned()
            .collect();
        by_creation(&mut runs);
        if query.order == crate::Order::Descending {
            runs.reverse();
        }
        runs.truncate(query.effective_limit());
        Ok(runs)
    }

    fn thread_messages(
        &self,
        thread_id: &str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        let state = self.state();
        Ok(state
            .threads
            .iter()
            .filter(|(id, (thread, _, _))| thread == thread_id && after.is_none_or(|a| **id > a.0))
            .filter_map(|(id, _)| state.thread_row(*id))
            .take(limit)
            .collect())
    }

    fn thread_rounds(&self, params: &GetThreadRoundsParams) -> StoreResult<Vec<ThreadRoundRow>> {
        let state = self.state();
        let mut rows: Vec<ThreadRoundRow> = state
            .threads
            .iter()
            .filter(|(_, (thread, round, role))| {
                *thread == params.thread_id
                    && params.role.as_ref().is_none_or(|r| r == role)
                    && params.from_round.is_none_or(|from| *round >= from)
            })
            .filter_map(|(id, _)| state.thread_row(*id))
            .collect();
        rows.sort_by_key(|row| (row.round, row.log_id));
        rows.truncate(params.effective_limit());
        Ok(rows)
    }

    fn last_round(&self, thread_id: &str) -> StoreResult<Option<u32>> {
        let state = self.state();
        Ok(state
            .threads
            .values()
            .filter(|(thread, _, _)| thread == thread_id)
            .map(|(_, round, _)| *round)
            .max())
    }

    fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self.state().meta.get(key).cloned())
    }

    fn references(
        &self,
        digest: &Digest,
        after: Option<&BlobHolder>,
        limit: usize,
    ) -> StoreResult<Vec<BlobHolder>> {
        let state = self.state();
        Ok(state
            .refs
            .iter()
            .filter(|(holder, blobs)| {
                after.is_none_or(|after| *holder > after) && blobs.contains(digest)
            })
            .map(|(holder, _)| holder.clone())
            .take(limit)
            .collect())
    }

    fn blobs_of(&self, holder: &BlobHolder) -> StoreResult<Vec<Digest>> {
        Ok(self.state().refs.get(holder).cloned().unwrap_or_default())
    }
}

impl LogMaintenance for MemoryLogStore {
    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
        self.writable("delete days")?;
        check_meta_pairs(meta)?;
        let mut state = self.state();
        let doomed: Vec<u64> = state
            .entries
            .values()
            .filter(|e| spans.iter().any(|span| span.covers(e.id, e.ts)))
            .map(|e| e.id.0)
            .collect();
        for id in &doomed {
            state.entries.remove(id);
            state.threads.remove(id);
            state.refs.remove(&BlobHolder::Entry(LogId(*id)));
        }
        for (key, value) in meta {
            state.meta.insert((*key).to_owned(), (*value).to_owned());
        }
        Ok(doomed.len() as u64)
    }

    fn day_entries(
        &self,
        day: chrono::NaiveDate,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let state = self.state();
        Ok(state
            .entries
            .values()
            .filter(|e| e.ts.date_naive() == day && after.is_none_or(|a| e.id > a))
            .take(limit)
            .cloned()
            .collect())
    }

    fn thread_rows(&self, ids: &[LogId]) -> StoreResult<Vec<crate::ThreadIndexRow>> {
        let state = self.state();
        let mut rows: Vec<crate::ThreadIndexRow> = ids
            .iter()
            .filter_map(|id| {
                let (thread_id, round, role) = state.threads.get(&id.0)?;
                Some(crate::ThreadIndexRow {
                    log_id: *id,
                    thread_id: thread_id.clone(),
                    round: *round,
                    role: role.clone(),
                })
            })
            .collect();
        rows.sort();
        rows.dedup();
        Ok(rows)
    }

    fn entry_references(&self, ids: &[LogId]) -> StoreResult<Vec<BlobReference>> {
        let state = self.state();
        let mut found: Vec<BlobReference> = ids
            .iter()
            .flat_map(|id| {
                let holder = BlobHolder::Entry(*id);
                state
                    .refs
                    .get(&holder)
                    .into_iter()
                    .flatten()
                    .map(move |digest| BlobReference {
                        digest: *digest,
                        holder: holder.clone(),
                    })
            })
            .collect();
        found.sort_by(|a, b| (&a.holder, a.digest).cmp(&(&b.holder, b.digest)));
        found.dedup();
        Ok(found)
    }

    fn referenced(&self, digests: &[Digest]) -> StoreResult<Vec<Digest>> {
        let state = self.state();
        let held: std::collections::BTreeSet<&Digest> = state.refs.values().flatten().collect();
        let mut found: Vec<Digest> = digests
            .iter()
            .filter(|digest| held.contains(digest))
            .copied()
            .collect();
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    fn log_stats(&self) -> StoreResult<crate::LogStats> {
        let state = self.state();
        let days = || state.entries.values().map(|e| e.ts.date_naive());
        let runs = state
            .runs
            .values()
            .fold(crate::RunCounts::default(), |counts, run| {
                counts.with(run.status, counts.get(run.status) + 1)
            });
        Ok(crate::LogStats {
            entries: state.entries.len() as u64,
            first_day: days().min(),
            last_day: days().max(),
            runs,
        })
    }

    fn next_log_day(
        &self,
        after: Option<chrono::NaiveDate>,
    ) -> StoreResult<Option<chrono::NaiveDate>> {
        let state = self.state();
        Ok(state
            .entries
            .values()
            .map(|e| e.ts.date_naive())
            .filter(|day| after.is_none_or(|a| *day > a))
            .min())
    }

    fn compact(&self) -> StoreResult<()> {
        self.writable("compact")
    }

    /// Nothing is stored outside memory, so nothing can be damaged behind its back.
    fn check(&self) -> StoreResult<crate::Checked> {
        self.writable("check")?;
        Ok(crate::Checked::Sound)
    }
}

impl LogTransfer for MemoryLogStore {
    fn thread_index(
        &self,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<crate::ThreadIndexRow>> {
        let state = self.state();
        Ok(state
            .threads
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| **id > a.0))
            .take(limit)
            .map(|(id, (thread_id, round, role))| crate::ThreadIndexRow {
                log_id: LogId(*id),
                thread_id: thread_id.clone(),
                round: *round,
                role: role.clone(),
            })
            .collect())
    }

    fn meta_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, |key| Bound::Excluded(key.to_owned()));
        Ok(self
            .state()
            .meta
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn blob_references(
        &self,
        after: Option<&BlobReference>,
        limit: usize,
    ) -> StoreResult<Vec<BlobReference>> {
        Ok(self
            .state()
            .all_refs()
            .into_iter()
            .filter(|reference| after.is_none_or(|after| reference > after))
            .take(limit)
            .collect())
    }

    fn import(&self, batch: crate::ImportBatch) -> StoreResult<()> {
        self.writable("import")?;
        let mut state = self.state();
        batch.check(state.next_id)?;
        if let Some(run) = batch
            .runs
            .iter()
            .find(|run| state.runs.contains_key(&run.run_id))
        {
            return Err(crate::kit::existing_run(&run.run_id));
        }
        if let Some(last) = batch.last_id() {
            state.next_id = state.next_id.max(last.0);
        }
        for entry in batch.entries {
            state.entries.insert(entry.id.0, entry);
        }
        for row in batch.thread_rows {
            state
                .threads
                .insert(row.log_id.0, (row.thread_id, row.round, row.role));
        }
        for run in batch.runs {
            state.runs.insert(run.run_id.clone(), run);
        }
        state.meta.extend(batch.meta);
        for reference in batch.references {
            let blobs = state.refs.entry(reference.holder).or_default();
            if let Err(at) = blobs.binary_search(&reference.digest) {
                blobs.insert(at, reference.digest);
            }
        }
        Ok(())
    }

    fn restore(&self, batch: crate::RestoreBatch) -> StoreResult<crate::Restored> {
        self.writable("restore")?;
        batch.check()?;
        let mut state = self.state();
        let mut restored = crate::Restored::default();
        for entry in &batch.entries {
            match state.entries.get(&entry.id.0) {
                Some(held) if held == entry => restored.present += 1,
                Some(_) => return Err(crate::kit::restore_conflict(entry.id)),
                None => restored.written += 1,
            }
        }
        if let Some(last) = batch.entries.last() {
            state.next_id = state.next_id.max(last.id.0);
        }
        for entry in &batch.entries {
            if state.entries.contains_key(&entry.id.0) {
                continue;
            }
            if let Some(row) = batch.thread_row(entry.id) {
                state.threads.insert(
                    entry.id.0,
                    (row.thread_id.clone(), row.round, row.role.clone()),
                );
            }
            let blobs = batch.blobs_of(entry.id);
            if !blobs.is_empty() {
                state.refs.insert(BlobHolder::Entry(entry.id), blobs);
            }
            state.entries.insert(entry.id.0, entry.clone());
        }
        Ok(restored)
    }

    fn with_snapshot(
        &self,
        work: &mut dyn FnMut(&dyn crate::LogBackend) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let view = MemoryLogStore {
            state: Arc::new(Mutex::new(self.state().clone())),
            frozen: true,
        };
        work(&view)
    }
}
