//! Applying write units inside a backend's transaction, the same way on every backend.
//!
//! A backend hands [`apply_group`] its open write transaction (as a [`UnitTx`]: a handful of
//! reads and row writes) and the units of one group. Each unit is decided first, from reads
//! alone: ids, transition plans, every refusal. Only a unit that nothing refuses is written.
//! So a refused unit has written nothing and the group goes on without it, and a failure
//! while writing (the engine's) is a failure of the whole group, which the backend rolls back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::digest::Digest;
use crate::error::{StoreError, StoreResult};
use crate::id::LogId;
use crate::kit::transition::{TransitionPlan, plan_transition};
use crate::log::{LogEntry, PreparedEntry};
use crate::references::{BlobHolder, holder_blobs};
use crate::run::{RunTransition, TransitionOutcome, WorkflowRun};
use crate::unit::{Write, WriteUnit, Written};

/// A unit checked and stamped in the caller's thread, before it waits for the writer: what
/// can be refused without reading the store has been. A clone is the same unit, for a
/// backend that plans a group again (the run it moves was moved by another process).
#[derive(Debug, Clone)]
pub struct PreparedUnit {
    pub(crate) writes: Vec<PreparedWrite>,
    pub(crate) now: DateTime<Utc>,
    /// The writes whose entry takes the unit's time (it gave none).
    stamped: Vec<usize>,
}

impl PreparedUnit {
    /// Whether every write of the unit appends an entry (an append, a thread message): a
    /// unit whose plan reads nothing of the store but its id counter, so that a backend may
    /// give it ids inside the statement that writes it.
    /// An append that references blobs is not one: it writes its references too.
    pub fn appends_only(&self) -> bool {
        self.writes.iter().all(|write| match write {
            PreparedWrite::Append(_, blobs) => blobs.is_empty(),
            PreparedWrite::ThreadMessage { .. } => true,
            _ => false,
        })
    }

    /// Whether any write of the unit records blob references (an append or a transition
    /// that names blobs, any meta write): a backend that writes some groups in a statement
    /// of its own, without [`UnitTx::set_blob_refs`], sends these apart.
    pub fn references_blobs(&self) -> bool {
        self.writes.iter().any(|write| match write {
            PreparedWrite::Append(_, blobs) => !blobs.is_empty(),
            PreparedWrite::Transition(transition) => transition.blobs.is_some(),
            PreparedWrite::MetaSet { .. } | PreparedWrite::MetaDelete { .. } => true,
            PreparedWrite::ThreadMessage { .. } => false,
        })
    }

    /// The most entries the unit can append: one per append, thread message and transition
    /// (its audit entry); a backend that numbers a transaction's entries within a range of
    /// ids sizes its groups by it.
    pub fn most_entries(&self) -> usize {
        self.writes
            .iter()
            .filter(|write| {
                matches!(
                    write,
                    PreparedWrite::Append(..)
                        | PreparedWrite::ThreadMessage { .. }
                        | PreparedWrite::Transition(_)
                )
            })
            .count()
    }

    /// Whether the unit writes or deletes meta: a backend that writes a group in one
    /// statement at its end, rather than each write as it goes, sends meta apart.
    pub fn writes_meta(&self) -> bool {
        self.writes.iter().any(|write| {
            matches!(
                write,
                PreparedWrite::MetaSet { .. } | PreparedWrite::MetaDelete { .. }
            )
        })
    }

    /// The ids of the runs the unit's transitions move (a run as often as it is moved): what
    /// a backend may read for the whole group at once before planning it.
    pub fn run_ids(&self) -> impl Iterator<Item = &str> {
        self.writes.iter().filter_map(|write| match write {
            PreparedWrite::Transition(transition) => Some(transition.run_id.as_str()),
            _ => None,
        })
    }

    /// Moves the unit's time, and that of the entries that gave none, to `now` when it is
    /// later: the commit's time rather than the call's, so that entries the store stamps
    /// come in time order in id order (calls that prepared in one order can commit in
    /// another).
    fn restamp(&mut self, now: DateTime<Utc>) {
        if now <= self.now {
            return;
        }
        self.now = now;
        for &index in &self.stamped {
            match &mut self.writes[index] {
                PreparedWrite::Append(entry, _) | PreparedWrite::ThreadMessage { entry, .. } => {
                    entry.ts = now;
                }
                _ => {}
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum PreparedWrite {
    /// An entry, and the blobs it references (unique, in digest order).
    Append(PreparedEntry, Vec<Digest>),
    Transition(RunTransition),
    ThreadMessage {
        entry: PreparedEntry,
        thread_id: String,
        round: u32,
        role: String,
    },
    MetaSet {
        key: String,
        value: String,
        blobs: Vec<Digest>,
    },
    MetaDelete {
        key: String,
    },
}

/// Checks every write of `unit` that can be checked without the store, and fixes the time of
/// the writes that give none: `now`.
///
/// # Errors
/// The first refused write's [`StoreError::InvalidInput`]; in a unit of several writes its
/// reason names the write (`write 2 of the unit`).
pub fn prepare_unit(unit: WriteUnit, now: DateTime<Utc>) -> StoreResult<PreparedUnit> {
    crate::limits::check_unit_writes(unit.len())?;
    let several = unit.len() > 1;
    let stamped = unit
        .writes()
        .iter()
        .enumerate()
        .filter(|(_, write)| match write {
            Write::Append(entry) => entry.ts.is_none(),
            Write::ThreadMessage(message) => message.ts.is_none(),
            _ => false,
        })
        .map(|(index, _)| index)
        .collect();
    let writes = unit
        .into_writes()
        .into_iter()
        .enumerate()
        .map(|(index, write)| {
            prepare_write(write, now).map_err(|err| match err {
                StoreError::InvalidInput { field, reason } if several => StoreError::InvalidInput {
                    field,
                    reason: format!("{reason} (write {index} of the unit)"),
                },
                other => other,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(PreparedUnit {
        writes,
        now,
        stamped,
    })
}

fn prepare_write(write: Write, now: DateTime<Utc>) -> StoreResult<PreparedWrite> {
    Ok(match write {
        Write::Append(mut entry) => {
            let blobs = holder_blobs(&std::mem::take(&mut entry.blobs))?;
            PreparedWrite::Append(entry.prepare(now)?, blobs)
        }
        Write::Transition(mut transition) => {
            transition.validate()?;
            transition.blobs = transition.blobs.as_deref().map(holder_blobs).transpose()?;
            PreparedWrite::Transition(transition)
        }
        Write::ThreadMessage(message) => PreparedWrite::ThreadMessage {
            entry: message.to_log_entry()?.prepare(now)?,
            thread_id: message.thread_id,
            round: message.round,
            role: message.role,
        },
        Write::MetaSet { key, value, blobs } => {
            crate::limits::check_meta_key(&key)?;
            PreparedWrite::MetaSet {
                key,
                value,
                blobs: holder_blobs(&blobs)?,
            }
        }
        Write::MetaDelete { key } => PreparedWrite::MetaDelete { key },
    })
}

/// What [`apply_group`] needs of a backend's open write transaction: the reads that decide a
/// unit and the row writes that store it. Each write keeps the backend's indexes (and, for
/// an entry, its id counter) in step.
pub trait UnitTx {
    /// The run `run_id` as the transaction sees it, the group's earlier units included.
    ///
    /// # Errors
    /// [`StoreError::CorruptValue`] for a damaged row (the unit is refused); engine errors.
    fn run(&mut self, run_id: &str) -> StoreResult<Option<WorkflowRun>>;

    /// The id the next entry gets: one above every id ever given out, deleted or not.
    ///
    /// # Errors
    /// Engine errors.
    fn next_id(&mut self) -> StoreResult<u64>;

    /// Writes `entry` under its id, with its index rows, and moves the id counter past it.
    ///
    /// # Errors
    /// Engine errors.
    fn write_entry(&mut self, entry: &LogEntry) -> StoreResult<()>;

    /// Indexes the entry `id` as the message of `thread_id`, `round`, `role`.
    ///
    /// # Errors
    /// Engine errors.
    fn index_thread(
        &mut self,
        id: LogId,
        thread_id: &str,
        round: u32,
        role: &str,
    ) -> StoreResult<()>;

    /// Writes `run`; `stored` is the row it replaces as the transaction holds it (`None`: a
    /// new run), so that indexes by status can move.
    ///
    /// # Errors
    /// Engine errors.
    fn write_run(&mut self, run: &WorkflowRun, stored: Option<&WorkflowRun>) -> StoreResult<()>;

    /// Stores `value` under `key`.
    ///
    /// # Errors
    /// Engine errors.
    fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()>;

    /// Removes `key`; returns whether it was there.
    ///
    /// # Errors
    /// Engine errors.
    fn delete_meta(&mut self, key: &str) -> StoreResult<bool>;

    /// Makes `holder` reference exactly `blobs` (unique, in digest order; empty for none),
    /// replacing what it referenced.
    ///
    /// # Errors
    /// Engine errors.
    fn set_blob_refs(&mut self, holder: &BlobHolder, blobs: &[Digest]) -> StoreResult<()>;
}

/// The result of one unit of a group: what each write did, or why the unit was refused.
pub type UnitResult = StoreResult<Vec<Written>>;

/// [`crate::LogStore::write_units`] through a backend's commit queue: each unit checked in
/// the caller's thread ([`prepare_unit`]; an empty one is a no-op, a refused one answered at
/// once), the rest handed to `submit` together (a [`crate::kit::CommitQueue::submit_all`]),
/// and every result put back at its unit's position.
pub fn submit_units(
    units: Vec<WriteUnit>,
    now: DateTime<Utc>,
    submit: impl FnOnce(Vec<PreparedUnit>) -> Vec<UnitResult>,
) -> Vec<UnitResult> {
    let mut results: Vec<Option<UnitResult>> = Vec::with_capacity(units.len());
    let mut prepared = Vec::new();
    for unit in units {
        if unit.is_empty() {
            results.push(Some(Ok(Vec::new())));
            continue;
        }
        match prepare_unit(unit, now) {
            Ok(unit) => {
                prepared.push(unit);
                results.push(None);
            }
            Err(err) => results.push(Some(Err(err))),
        }
    }
    let mut committed = submit(prepared).into_iter();
    results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| committed.next().unwrap_or_else(|| Err(lost()))))
        .collect()
}

/// The error of a call its group's commit returned no result for.
pub(crate) fn lost() -> StoreError {
    StoreError::invalid(
        "commit",
        "the group commit returned no result for this call; nothing of it was written",
    )
}

/// Applies the `units` of one group, in order, in the open transaction `tx`.
///
/// Returns each unit's result, at its position: a refused unit (an invalid transition, a
/// conflict, a damaged run row, no ids left) wrote nothing, and the others stand; commit the
/// transaction. Returns `Err` when writing a unit failed (an engine error): the transaction
/// holds part of that unit, so roll it back and report the error to every unit of the group
/// ([`fail_all`]).
///
/// # Errors
/// The first engine error met while writing, or while reading with an engine failure
/// ([`is_engine_failure`]).
pub fn apply_group<T: UnitTx + ?Sized>(
    tx: &mut T,
    units: Vec<PreparedUnit>,
) -> StoreResult<Vec<UnitResult>> {
    let mut results = Vec::with_capacity(units.len());
    let now = crate::time::now_millis();
    for mut unit in units {
        unit.restamp(now);
        let steps = match plan_unit(tx, unit) {
            Ok(steps) => steps,
            Err(err) if is_engine_failure(&err) => return Err(err),
            Err(refused) => {
                results.push(Err(refused));
                continue;
            }
        };
        results.push(Ok(write_steps(tx, steps)?));
    }
    Ok(results)
}

/// One decided write of a unit, ready to be stored.
enum Step {
    Entry {
        entry: LogEntry,
        thread: Option<(String, u32, String)>,
        blobs: Vec<Digest>,
    },
    Run(Box<RunStep>),
    Unchanged(WorkflowRun),
    MetaSet(String, String, Vec<Digest>),
    MetaDelete(String),
}

/// A decided transition: the run as it becomes, as it was stored, its audit entry, and
/// the blobs it references from now on (`None`: what it did).
struct RunStep {
    run: WorkflowRun,
    stored: Option<WorkflowRun>,
    audit: LogEntry,
    blobs: Option<Vec<Digest>>,
}

/// Decides every write of `unit` from reads alone: nothing is written here.
fn plan_unit<T: UnitTx + ?Sized>(tx: &mut T, unit: PreparedUnit) -> StoreResult<Vec<Step>> {
    let mut next = tx.next_id()?;
    let mut take_id = || -> StoreResult<LogId> {
        if next > crate::MAX_LOG_ID.0 {
            return Err(StoreError::IdsExhausted {
                last: crate::MAX_LOG_ID,
            });
        }
        next += 1;
        Ok(LogId(next - 1))
    };
    // Runs this unit has already moved, as they will be once it is written.
    let mut moved: HashMap<String, WorkflowRun> = HashMap::new();
    let now = unit.now;
    let mut steps = Vec::with_capacity(unit.writes.len());
    for write in unit.writes {
        steps.push(match write {
            PreparedWrite::Append(entry, blobs) => Step::Entry {
                entry: entry.with_id(take_id()?),
                thread: None,
                blobs,
            },
            PreparedWrite::ThreadMessage {
                entry,
                thread_id,
                round,
                role,
            } => Step::Entry {
                entry: entry.with_id(take_id()?),
                thread: Some((thread_id, round, role)),
                blobs: Vec::new(),
            },
            PreparedWrite::Transition(transition) => {
                let stored = match moved.get(&transition.run_id) {
                    Some(run) => Some(run.clone()),
                    None => tx.run(&transition.run_id)?,
                };
                match plan_transition(stored.as_ref(), &transition, now)? {
                    TransitionPlan::Unchanged(run) => Step::Unchanged(run),
                    TransitionPlan::Apply { run, audit, .. } => {
                        let audit = audit.prepare(now)?.with_id(take_id()?);
                        moved.insert(run.run_id.clone(), run.clone());
                        Step::Run(Box::new(RunStep {
                            run,
                            stored,
                            audit,
                            blobs: transition.blobs,
                        }))
                    }
                }
            }
            PreparedWrite::MetaSet { key, value, blobs } => Step::MetaSet(key, value, blobs),
            PreparedWrite::MetaDelete { key } => Step::MetaDelete(key),
        });
    }
    Ok(steps)
}

/// Stores the decided writes; any error here leaves the unit half written.
fn write_steps<T: UnitTx + ?Sized>(tx: &mut T, steps: Vec<Step>) -> StoreResult<Vec<Written>> {
    steps
        .into_iter()
        .map(|step| {
            Ok(match step {
                Step::Entry {
                    entry,
                    thread,
                    blobs,
                } => {
                    tx.write_entry(&entry)?;
                    if !blobs.is_empty() {
                        tx.set_blob_refs(&BlobHolder::Entry(entry.id), &blobs)?;
                    }
                    match thread {
                        Some((thread_id, round, role)) => {
                            tx.index_thread(entry.id, &thread_id, round, &role)?;
                            Written::ThreadMessage(entry)
                        }
                        None => Written::Appended(entry),
                    }
                }
                Step::Run(step) => {
                    let RunStep {
                        run,
                        stored,
                        audit,
                        blobs,
                    } = *step;
                    tx.write_run(&run, stored.as_ref())?;
                    tx.write_entry(&audit)?;
                    if let Some(blobs) = blobs {
                        tx.set_blob_refs(&BlobHolder::Run(run.run_id.clone()), &blobs)?;
                    }
                    Written::Transitioned(TransitionOutcome::Applied {
                        previous: stored.map(|stored| stored.status),
                        run,
                        audit,
                    })
                }
                Step::Unchanged(run) => Written::Transitioned(TransitionOutcome::Unchanged { run }),
                Step::MetaSet(key, value, blobs) => {
                    tx.set_meta(&key, &value)?;
                    tx.set_blob_refs(&BlobHolder::Meta(key), &blobs)?;
                    Written::MetaSet
                }
                Step::MetaDelete(key) => {
                    let existed = tx.delete_meta(&key)?;
                    tx.set_blob_refs(&BlobHolder::Meta(key), &[])?;
                    Written::MetaDeleted { existed }
                }
            })
        })
        .collect()
}

/// Whether `err` is a failure of the engine (or the disk, or another process's lock) rather
/// than a refusal of the one call that met it: it fails every call of the group it was met
/// in, and nothing of the group is written.
pub fn is_engine_failure(err: &StoreError) -> bool {
    match err {
        StoreError::Busy { .. }
        | StoreError::Unavailable { .. }
        | StoreError::Poisoned { .. }
        | StoreError::Damaged { .. }
        | StoreError::ReadOnly { .. }
        | StoreError::Backend { .. }
        | StoreError::Io { .. } => true,
        StoreError::InvalidInput { .. }
        | StoreError::InvalidTransition { .. }
        | StoreError::RunConflict { .. }
        | StoreError::IdsExhausted { .. }
        | StoreError::UnknownRun { .. }
        | StoreError::InvalidDigest { .. }
        | StoreError::Corrupt { .. }
        | StoreError::ArchiveLine { .. }
        | StoreError::ArchiveManifest { .. }
        | StoreError::ArchiveMismatch { .. }
        | StoreError::CorruptValue { .. }
        | StoreError::SchemaTooNew { .. }
        | StoreError::SchemaTooOld { .. }
        | StoreError::Interrupted { .. }
        | StoreError::IncompleteCopy { .. }
        | StoreError::NoStore { .. }
        | StoreError::BlobFileMissing { .. }
        | StoreError::NotClosedCleanly { .. }
        | StoreError::OpenedReadOnly { .. }
        | StoreError::NotAStore { .. }
        | StoreError::SettingNotApplied { .. }
        | StoreError::CopyMismatch { .. } => false,
    }
}

/// `err` for each of `count` calls: the same error for each, the engine's error shared as
/// their source. What a group's calls get when its commit failed.
pub fn fail_all<T>(err: StoreError, count: usize) -> Vec<StoreResult<T>> {
    vec![err; count].into_iter().map(Err).collect()
}
