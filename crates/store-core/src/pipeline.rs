//! The commit pipeline: calls from many threads share one transaction and one sync.
//!
//! Every write waits for the writer (a mutex around the backend's write handle). While one
//! thread holds it and commits, the calls that arrive queue up; the next thread to get the
//! writer with its own call still queued commits every queued call as one group, and hands
//! each call its own result. A thread that gets the writer and finds its call already
//! committed by another returns at once. Nothing waits for company: a lone call commits as
//! soon as it has the writer, so it costs a lock and a queue push more than a plain commit.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::commit::{PreparedUnit, UnitResult};
use crate::error::StoreError;

/// The most calls one group commits: a bound on how long a transaction stays open and on how
/// long the first call of a group waits for the last.
pub const MAX_GROUP: usize = 512;

/// The result a call gets from whoever commits its group.
type Slot = Arc<Mutex<Option<UnitResult>>>;

struct Queued {
    unit: PreparedUnit,
    slot: Slot,
}

/// A backend's write handle `W` and the queue of calls waiting for it (see the module
/// documentation of `kit` for the protocol). With grouping off, each call commits alone.
pub struct CommitQueue<W> {
    writer: Mutex<W>,
    queued: Mutex<Vec<Queued>>,
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
    // transaction rolls back as it drops, and the queue and the slots are plain values.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W> CommitQueue<W> {
    /// A queue in front of `writer`; `grouping` says whether calls that wait together commit
    /// together (`false`: one commit per call, as without a pipeline).
    pub fn new(writer: W, grouping: bool) -> Self {
        CommitQueue {
            writer: Mutex::new(writer),
            queued: Mutex::new(Vec::new()),
            grouping,
        }
    }

    /// Whether calls that wait together commit together.
    pub fn grouping(&self) -> bool {
        self.grouping
    }

    /// Commits `unit`, with every call queued beside it, through `commit`, and returns its
    /// own result once its group is committed.
    ///
    /// `commit` gets the writer and the units of one group, in queue order, and must return
    /// one result per unit, in the same order; a missing result fails its call.
    pub fn submit(
        &self,
        unit: PreparedUnit,
        mut commit: impl FnMut(&mut W, Vec<PreparedUnit>) -> Vec<UnitResult>,
    ) -> UnitResult {
        if !self.grouping {
            let mut writer = lock(&self.writer);
            return commit(&mut writer, vec![unit])
                .pop()
                .unwrap_or_else(|| Err(lost()));
        }
        let slot: Slot = Arc::new(Mutex::new(None));
        lock(&self.queued).push(Queued {
            unit,
            slot: Arc::clone(&slot),
        });
        let mut writer = lock(&self.writer);
        loop {
            // Whoever committed this call's group did so holding the writer, so once we hold
            // it the slot is either filled or the call is still in the queue.
            if let Some(result) = lock(&slot).take() {
                return result;
            }
            let group: Vec<Queued> = {
                let mut queued = lock(&self.queued);
                let take = queued.len().min(MAX_GROUP);
                queued.drain(..take).collect()
            };
            let (units, slots): (Vec<_>, Vec<_>) =
                group.into_iter().map(|q| (q.unit, q.slot)).unzip();
            let mut delivery = Delivery { slots, next: 0 };
            for result in commit(&mut writer, units) {
                delivery.deliver(result);
            }
        }
    }

    /// The writer to itself until the guard drops, between groups: for the writes that do
    /// not go through the queue (maintenance, imports, blobs).
    pub fn writer(&self) -> MutexGuard<'_, W> {
        lock(&self.writer)
    }
}

fn lost() -> StoreError {
    StoreError::invalid(
        "commit",
        "the group commit returned no result for this call; nothing of it was written",
    )
}

/// Hands results to the calls of a group in order; on drop (a short result list, or a panic
/// in the commit), every call not served gets an error instead of waiting for ever.
struct Delivery {
    slots: Vec<Slot>,
    next: usize,
}

impl Delivery {
    fn deliver(&mut self, result: UnitResult) {
        if let Some(slot) = self.slots.get(self.next) {
            *lock(slot) = Some(result);
            self.next += 1;
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        for slot in &self.slots[self.next..] {
            *lock(slot) = Some(Err(lost()));
        }
    }
}
