//! `MemoryLogStore`: the whole contract as plainly as it can be written, over a few
//! `BTreeMap`s. It is the reference model of the property tests, and runs the conformance
//! suite itself, so the model is checked against the spec before backends are checked
//! against the model; downstream crates test their own code on it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{
    DaySpan, GetThreadRoundsParams, LogEntry, LogId, LogMaintenance, LogQuery, LogStore,
    LogTransfer, NewLogEntry, Order, RunQuery, RunTransition, StoreError, StoreResult,
    ThreadMessage, ThreadRoundRow, TransitionOutcome, WorkflowRun,
    kit::{
        TransitionPlan, check_meta_key, check_meta_pairs, now_millis, plan_transition,
        prepare_batch,
    },
};

#[derive(Debug, Default)]
struct State {
    /// By id, so iteration is id order.
    entries: BTreeMap<u64, LogEntry>,
    /// The id of the next append; ids start at 1.
    next_id: u64,
    runs: BTreeMap<String, WorkflowRun>,
    /// Log id → (thread, round, role).
    threads: BTreeMap<u64, (String, u32, String)>,
    meta: BTreeMap<String, String>,
}

impl State {
    /// Appends the whole batch, or nothing when it would pass [`crate::MAX_LOG_ID`].
    fn append(&mut self, entries: Vec<crate::kit::PreparedEntry>) -> StoreResult<Vec<LogEntry>> {
        let count = u64::try_from(entries.len()).unwrap_or(u64::MAX);
        if self.next_id.saturating_add(count) > crate::MAX_LOG_ID.0 {
            return Err(crate::StoreError::IdsExhausted {
                last: LogId(self.next_id),
            });
        }
        Ok(entries
            .into_iter()
            .map(|entry| {
                self.next_id += 1;
                let stored = entry.with_id(LogId(self.next_id));
                self.entries.insert(self.next_id, stored.clone());
                stored
            })
            .collect())
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
}

fn by_creation(runs: &mut [WorkflowRun]) {
    runs.sort_by(|a, b| (a.created_at, &a.run_id).cmp(&(b.created_at, &b.run_id)));
}

impl LogStore for MemoryLogStore {
    fn append_batch(&self, entries: Vec<NewLogEntry>) -> StoreResult<Vec<LogEntry>> {
        let prepared = prepare_batch(entries, now_millis())?;
        self.state().append(prepared)
    }

    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        query.validate()?;
        let state = self.state();
        let all: Vec<LogEntry> = state.entries.values().cloned().collect();
        Ok(answer_query(&all, query))
    }

    fn transition_run(&self, transition: RunTransition) -> StoreResult<TransitionOutcome> {
        let now = now_millis();
        let mut state = self.state();
        match plan_transition(state.runs.get(&transition.run_id), &transition, now)? {
            TransitionPlan::Unchanged(run) => Ok(TransitionOutcome::Unchanged { run }),
            TransitionPlan::Apply {
                run,
                previous,
                audit,
            } => {
                let audit = audit.prepare(now)?;
                let audit = state.append(vec![audit])?.remove(0);
                state.runs.insert(run.run_id.clone(), run.clone());
                Ok(TransitionOutcome::Applied {
                    run,
                    previous,
                    audit,
                })
            }
        }
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        Ok(self.state().runs.get(run_id).cloned())
    }

    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        let state = self.state();
        let cursor = match &query.after {
            Some(after) => {
                let run = state
                    .runs
                    .get(after)
                    .ok_or_else(|| StoreError::UnknownRun {
                        run_id: after.clone(),
                    })?;
                Some((run.created_at, run.run_id.clone()))
            }
            None => None,
        };
        let mut runs: Vec<_> = state
            .runs
            .values()
            .filter(|r| query.matches(r))
            .filter(|r| {
                cursor
                    .as_ref()
                    .is_none_or(|c| (r.created_at, r.run_id.clone()) > *c)
            })
            .cloned()
            .collect();
        by_creation(&mut runs);
        runs.truncate(query.effective_limit());
        Ok(runs)
    }

    fn append_thread_message(&self, message: ThreadMessage) -> StoreResult<LogEntry> {
        let entry = message.to_log_entry()?.prepare(now_millis())?;
        let mut state = self.state();
        let stored = state.append(vec![entry])?.remove(0);
        state.threads.insert(
            stored.id.0,
            (message.thread_id, message.round, message.role),
        );
        Ok(stored)
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

    fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        check_meta_key(key)?;
        self.state().meta.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn meta_delete(&self, key: &str) -> StoreResult<bool> {
        Ok(self.state().meta.remove(key).is_some())
    }
}

impl LogMaintenance for MemoryLogStore {
    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
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

    fn log_stats(&self) -> StoreResult<crate::LogStats> {
        let state = self.state();
        let days = || state.entries.values().map(|e| e.ts.date_naive());
        Ok(crate::LogStats {
            entries: state.entries.len() as u64,
            first_day: days().min(),
            last_day: days().max(),
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
        Ok(())
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

    fn meta_entries(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(self
            .state()
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn import(&self, batch: crate::ImportBatch) -> StoreResult<()> {
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
        Ok(())
    }
}

/// What `query` must return from a log holding `entries` (in id order): the reference
/// semantics of [`crate::LogQuery`], written as plainly as possible.
pub(crate) fn answer_query(entries: &[LogEntry], query: &LogQuery) -> Vec<LogEntry> {
    let matching = entries.iter().filter(|entry| query.matches(entry)).cloned();
    let limit = query.effective_limit();
    match query.order {
        Order::Ascending => matching.take(limit).collect(),
        Order::Descending => {
            let mut all: Vec<_> = matching.collect();
            all.reverse();
            all.truncate(limit);
            all
        }
    }
}
