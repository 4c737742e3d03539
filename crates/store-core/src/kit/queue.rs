//! The commit pipeline: calls from many threads share one transaction and one sync. The
//! protocol is [`CommitQueue`]'s.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::kit::commit::{PreparedUnit, UnitResult, lost};
use crate::kit::engine::SLOW;

/// The most calls one group commits: a bound on how long a transaction stays open and on how
/// long the first call of a group waits for the last.
pub const MAX_GROUP: usize = 512;

/// A call waiting in the queue.
struct Queued {
    ticket: u64,
    unit: PreparedUnit,
    wake: Arc<Condvar>,
}

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    waiting: VecDeque<Queued>,
    /// Results of committed calls whose threads have not taken them yet.
    done: Done,
    /// Whether a group is being committed (its calls have left `waiting`).
    leading: bool,
    /// How many calls the last group committed.
    last_group: usize,
}

impl Queue {
    /// Queues `unit` at the back, to be woken through `wake`; its ticket.
    fn push(&mut self, unit: PreparedUnit, wake: &Arc<Condvar>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting.push_back(Queued {
            ticket,
            unit,
            wake: Arc::clone(wake),
        });
        ticket
    }
}

/// The results of committed calls, by ticket, until their threads take them. Groups leave
/// the queue from its front and are committed one at a time, so results arrive in ticket
/// order: a ring from the oldest result not yet taken, without hashing (a map of tickets
/// took about 2% of the time of 4,096 single appends in groups of 512).
#[derive(Default)]
struct Done {
    /// The ticket of `results[0]`.
    first: u64,
    /// `None` for a result already taken.
    results: VecDeque<Option<UnitResult>>,
}

impl Done {
    /// Keeps `result` for `ticket`, the ticket after the last one kept.
    fn insert(&mut self, ticket: u64, result: UnitResult) {
        if self.results.is_empty() {
            self.first = ticket;
        }
        debug_assert_eq!(ticket, self.first + self.results.len() as u64);
        self.results.push_back(Some(result));
    }

    /// Takes the result of `ticket` when it is there.
    fn remove(&mut self, ticket: u64) -> Option<UnitResult> {
        let index = usize::try_from(ticket.checked_sub(self.first)?).ok()?;
        let result = self.results.get_mut(index)?.take();
        while self.results.front().is_some_and(Option::is_none) {
            self.results.pop_front();
            self.first += 1;
        }
        result
    }
}

/// A backend's write handle `W` and the queue of the calls waiting for it: calls from many
/// threads share one transaction and one sync, and each returns its own result once its
/// group has committed. With grouping off, each call commits alone.
///
/// Calls queue in arrival order. The call at the front of the queue leads: it takes every
/// queued call (itself first, at most [`MAX_GROUP`]), commits them as one group through the
/// backend's writer, hands each call its own result, and wakes the call now at the front
/// first, which leads the next group with everything that queued meanwhile, and then the
/// calls it served. So while one group commits the next one gathers, and nothing waits for
/// company: a lone call is at the front at once and commits at once, for the cost of a lock
/// and a queue push. Results are handed over under the queue's lock, never the writer's.
///
/// Only when the last group held several calls does a new leader yield its core once before
/// it takes its group, so that the threads just served, which on a busy machine are still on
/// their way back, can join it (4 threads on 2 cores: about a quarter more calls per
/// second). No timer is involved.
pub struct CommitQueue<W> {
    writer: Mutex<W>,
    queue: Mutex<Queue>,
    grouping: bool,
}

impl<W> std::fmt::Debug for CommitQueue<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitQueue")
            .field("grouping", &self.grouping)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock was held leaves nothing half done behind it: the writer's
    // transaction rolls back as it drops, and the queue holds plain values.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W> CommitQueue<W> {
    /// A queue in front of `writer`; `grouping` says whether calls that wait together commit
    /// together (`false`: one commit per call, as without a pipeline).
    pub fn new(writer: W, grouping: bool) -> Self {
        CommitQueue {
            writer: Mutex::new(writer),
            queue: Mutex::new(Queue::default()),
            grouping,
        }
    }

    /// Commits `unit`, with every call queued beside it, through `commit`, and returns its
    /// own result once its group is committed.
    ///
    /// `commit` gets the writer and the units of one group, in queue order, and must return
    /// one result per unit, in the same order; a missing result fails its call.
    pub fn submit(
        &self,
        unit: PreparedUnit,
        commit: impl FnOnce(&mut W, Vec<PreparedUnit>) -> Vec<UnitResult>,
    ) -> UnitResult {
        if !self.grouping {
            let mut writer = lock(&self.writer);
            return traced(commit, &mut writer, vec![unit])
                .pop()
                .unwrap_or_else(|| Err(lost()));
        }
        let wake = Arc::new(Condvar::new());
        let mut queue = lock(&self.queue);
        let ticket = queue.push(unit, &wake);
        loop {
            if let Some(result) = queue.done.remove(ticket) {
                return result;
            }
            let first = queue.waiting.front().map(|queued| queued.ticket);
            if !queue.leading && first == Some(ticket) {
                break;
            }
            queue = wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
        // This call leads: it commits the front of the queue, itself first.
        self.lead(queue, commit);
        lock(&self.queue)
            .done
            .remove(ticket)
            .unwrap_or_else(|| Err(lost()))
    }

    /// Commits every unit of `units` with the calls queued beside them, and returns their
    /// results in order once all are committed: what one thread that holds many callers'
    /// units (an async adapter's writer) submits, so that they form groups as calls from
    /// as many threads would, without a thread each. The units queue one after another in
    /// arrival order; `commit` is called for each group this thread leads.
    pub fn submit_all(
        &self,
        units: Vec<PreparedUnit>,
        mut commit: impl FnMut(&mut W, Vec<PreparedUnit>) -> Vec<UnitResult>,
    ) -> Vec<UnitResult> {
        if !self.grouping {
            let mut writer = lock(&self.writer);
            return units
                .into_iter()
                .map(|unit| {
                    traced(&mut commit, &mut writer, vec![unit])
                        .pop()
                        .unwrap_or_else(|| Err(lost()))
                })
                .collect();
        }
        let wake = Arc::new(Condvar::new());
        let mut queue = lock(&self.queue);
        let first = queue.next_ticket;
        let count = units.len();
        for unit in units {
            queue.push(unit, &wake);
        }
        let mine = first..first + count as u64;
        let mut results: Vec<UnitResult> = Vec::with_capacity(count);
        loop {
            // Results arrive in ticket order: take them from the first one missing.
            while let Some(result) = queue.done.remove(first + results.len() as u64) {
                results.push(result);
            }
            if results.len() == count {
                break;
            }
            let front = queue.waiting.front().map(|queued| queued.ticket);
            if !queue.leading && front.is_some_and(|ticket| mine.contains(&ticket)) {
                self.lead(queue, &mut commit);
                queue = lock(&self.queue);
            } else {
                queue = wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
            }
        }
        results
    }

    /// Leads one group: takes the front of the queue (at most [`MAX_GROUP`] calls), commits
    /// it through `commit` outside the queue's lock, and hands each call its result.
    fn lead<'a>(
        &'a self,
        mut queue: MutexGuard<'a, Queue>,
        commit: impl FnOnce(&mut W, Vec<PreparedUnit>) -> Vec<UnitResult>,
    ) {
        queue.leading = true;
        if queue.last_group > 1 {
            // Calls came together last time: the threads the last group served are
            // likely about to call again. Let them run once before taking the group.
            drop(queue);
            std::thread::yield_now();
            queue = lock(&self.queue);
        }
        let take = queue.waiting.len().min(MAX_GROUP);
        let group: Vec<Queued> = queue.waiting.drain(..take).collect();
        queue.last_group = group.len();
        drop(queue);
        let mut units = Vec::with_capacity(group.len());
        let mut delivery = Delivery {
            queue: &self.queue,
            calls: Vec::with_capacity(group.len()),
            delivered: false,
        };
        for queued in group {
            units.push(queued.unit);
            delivery.calls.push((queued.ticket, queued.wake));
        }
        let results = traced(commit, &mut lock(&self.writer), units);
        delivery.deliver(results);
        drop(delivery);
    }

    /// The writer to itself until the guard drops, between groups: for the writes that do
    /// not go through the queue (maintenance, imports, blobs).
    pub fn writer(&self) -> MutexGuard<'_, W> {
        lock(&self.writer)
    }
}

/// Runs `commit` on a group and reports it: a `debug` event of target `nerve_store::commit`
/// with the group's size, how many of its calls were refused or failed, and how long the
/// commit took; a `warn` event instead when it took [`SLOW`] or more.
fn traced<W>(
    commit: impl FnOnce(&mut W, Vec<PreparedUnit>) -> Vec<UnitResult>,
    writer: &mut W,
    units: Vec<PreparedUnit>,
) -> Vec<UnitResult> {
    let calls = units.len();
    let started = Instant::now();
    let results = commit(writer, units);
    let elapsed = started.elapsed();
    let refused = results.iter().filter(|result| result.is_err()).count();
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if elapsed >= SLOW {
        tracing::warn!(target: "nerve_store::commit", calls, refused, micros, "slow commit");
    } else {
        tracing::debug!(target: "nerve_store::commit", calls, refused, micros, "committed a group");
    }
    results
}

/// A leader's group: hands each call its result, ends the leadership and wakes the call now
/// at the front and the calls served. On drop without results (a panic in the commit), every
/// call gets an error instead of waiting for ever.
struct Delivery<'a> {
    queue: &'a Mutex<Queue>,
    calls: Vec<(u64, Arc<Condvar>)>,
    delivered: bool,
}

impl Delivery<'_> {
    /// Hands each call its result and ends the leadership, under the queue's lock; then,
    /// outside it, wakes the call now at the front first (it leads the next group at once)
    /// and the calls of this group after it.
    fn deliver(&mut self, results: Vec<UnitResult>) {
        self.delivered = true;
        let mut queue = lock(self.queue);
        let mut results = results.into_iter();
        let mut wakes: Vec<Arc<Condvar>> = Vec::with_capacity(self.calls.len() + 1);
        for (ticket, wake) in self.calls.drain(..) {
            queue
                .done
                .insert(ticket, results.next().unwrap_or_else(|| Err(lost())));
            // The units of one `submit_all` share their thread's wake: one call wakes it.
            if !wakes.last().is_some_and(|last| Arc::ptr_eq(last, &wake)) {
                wakes.push(wake);
            }
        }
        queue.leading = false;
        if let Some(next) = queue.waiting.front() {
            wakes.insert(0, Arc::clone(&next.wake));
        }
        drop(queue);
        for wake in wakes {
            wake.notify_one();
        }
    }
}

impl Drop for Delivery<'_> {
    fn drop(&mut self) {
        if !self.delivered {
            self.deliver(Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::error::StoreError;
    use crate::kit::commit::{fail_all, prepare_unit};
    use crate::kit::now_millis;
    use crate::{NewLogEntry, WriteUnit, Written};

    impl<W> CommitQueue<W> {
        /// How many calls wait in the queue.
        fn queued(&self) -> usize {
            lock(&self.queue).waiting.len()
        }
    }

    fn unit(payload: &str) -> PreparedUnit {
        prepare_unit(
            WriteUnit::new().append(NewLogEntry::new("s", "k", payload)),
            now_millis(),
        )
        .expect("a valid unit")
    }

    /// Answers each unit with its own payload (as an entry), so that a call can tell its
    /// answer from another's.
    fn echo(units: Vec<PreparedUnit>) -> Vec<UnitResult> {
        units
            .into_iter()
            .map(|unit| match unit.writes.into_iter().next() {
                Some(crate::kit::commit::PreparedWrite::Append(entry, _)) => {
                    Ok(vec![Written::Appended(entry.with_id(crate::LogId(0)))])
                }
                _ => Ok(Vec::new()),
            })
            .collect()
    }

    fn payload(result: &UnitResult) -> String {
        match result {
            Ok(written) => written
                .first()
                .and_then(Written::entry)
                .map(|entry| entry.payload.clone())
                .unwrap_or_default(),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn calls_that_wait_together_commit_in_one_group_and_each_gets_its_own_answer() {
        const CALLS: usize = 8;
        let queue = CommitQueue::new((), true);
        let groups = Mutex::new(Vec::new());
        let first = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for call in 0..CALLS {
                let (queue, groups, first) = (&queue, &groups, &first);
                scope.spawn(move || {
                    let answer = queue.submit(unit(&call.to_string()), |(), units| {
                        // The first group holds the writer until every other call queued.
                        if first.fetch_add(1, Ordering::SeqCst) == 0 {
                            while queue.queued() < CALLS - units.len() {
                                std::thread::yield_now();
                            }
                        }
                        lock(groups).push(units.len());
                        echo(units)
                    });
                    assert_eq!(payload(&answer), call.to_string());
                });
            }
        });
        let groups = groups.into_inner().expect("groups");
        assert_eq!(
            groups.len(),
            2,
            "the calls that waited made one group: {groups:?}"
        );
        assert_eq!(groups.iter().sum::<usize>(), CALLS);
    }

    #[test]
    fn an_engine_failure_reaches_every_call_of_its_group() {
        const CALLS: usize = 6;
        let queue = CommitQueue::new((), true);
        let first = AtomicUsize::new(0);
        let first_group = AtomicUsize::new(0);
        let answers = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for call in 0..CALLS {
                let (queue, first, answers) = (&queue, &first, &answers);
                let first_group = &first_group;
                scope.spawn(move || {
                    let answer = queue.submit(unit(&call.to_string()), |(), units| {
                        if first.fetch_add(1, Ordering::SeqCst) == 0 {
                            while queue.queued() < CALLS - units.len() {
                                std::thread::yield_now();
                            }
                            first_group.store(units.len(), Ordering::SeqCst);
                            return echo(units);
                        }
                        let busy = StoreError::Busy {
                            context: "committing a group of writes".into(),
                            source: crate::kit::engine_message("database is locked"),
                        };
                        fail_all(busy, units.len())
                    });
                    lock(answers).push(answer);
                });
            }
        });
        let answers = answers.into_inner().expect("answers");
        let failed: Vec<&StoreError> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
        let failed_group = CALLS - first_group.load(Ordering::SeqCst);
        assert!(failed_group > 0);
        assert_eq!(failed.len(), failed_group, "every call of the failed group");
        for err in failed {
            assert!(err.is_retryable(), "each copy is still Busy: {err}");
            let source = std::error::Error::source(err).map(ToString::to_string);
            assert_eq!(source.as_deref(), Some("database is locked"));
        }
    }

    #[test]
    fn a_short_answer_fails_the_calls_left_without_one() {
        let queue = CommitQueue::new((), true);
        let answer = queue.submit(unit("x"), |(), _| Vec::new());
        let err = answer.expect_err("no answer is an error");
        assert!(err.to_string().contains("no result"), "{err}");
    }
}
