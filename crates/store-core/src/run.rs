//! Workflow runs and their state machine.
//!
//! The transition table is data ([`TRANSITIONS`]); every backend asks [`plan_transition`]
//! what a transition does, inside its own write transaction, so the rules live here once.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::log::{LogEntry, NewLogEntry, truncate_to_millis};

/// The status of a workflow run.
///
/// Active: `Queued`, `Started`. Final: `Completed`, `Failed`, `Dropped`. Resumable:
/// `Crashed` (the worker died), `Interrupted` (a hot-reload drain stopped it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowRunStatus {
    /// Admitted, waiting for a worker.
    Queued,
    /// Running on a worker.
    Started,
    /// Finished successfully.
    Completed,
    /// Finished unsuccessfully, or given up after a crash or interruption.
    Failed,
    /// The worker died while running it; it may be resumed.
    Crashed,
    /// A hot-reload drain stopped it; it may be resumed.
    Interrupted,
    /// Rejected at admission or evicted from the queue by overflow.
    Dropped,
}

use WorkflowRunStatus::{Completed, Crashed, Dropped, Failed, Interrupted, Queued, Started};

/// Every run status, in declaration order.
pub(crate) const ALL_STATUSES: [WorkflowRunStatus; 7] = [
    Queued,
    Started,
    Completed,
    Failed,
    Crashed,
    Interrupted,
    Dropped,
];

/// The transition table: for each status a run may be in (`None`: no run yet), the statuses
/// it may move to. Anything not listed is refused. Re-applying the status a run already has
/// is not a transition but an idempotent no-op (see [`plan_transition`]).
///
/// | from | to |
/// | --- | --- |
/// | (no run yet) | `Queued`, `Started` (no queue), `Dropped` (rejected at admission) |
/// | `Queued` | `Started`, `Dropped` (evicted by queue overflow) |
/// | `Started` | `Completed`, `Failed`, `Crashed`, `Interrupted`, `Dropped` |
/// | `Crashed`, `Interrupted` | `Started` (resumed: `attempt` + 1), `Failed` (given up) |
pub const TRANSITIONS: &[(Option<WorkflowRunStatus>, &[WorkflowRunStatus])] = &[
    (None, &[Queued, Started, Dropped]),
    (Some(Queued), &[Started, Dropped]),
    (
        Some(Started),
        &[Completed, Failed, Crashed, Interrupted, Dropped],
    ),
    (Some(Crashed), &[Started, Failed]),
    (Some(Interrupted), &[Started, Failed]),
];

impl WorkflowRunStatus {
    /// Every status, in the order of the lifecycle.
    pub const ALL: [WorkflowRunStatus; 7] = ALL_STATUSES;

    /// The lowercase name used in storage, JSON and the CLI (`"queued"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Queued => "queued",
            Started => "started",
            Completed => "completed",
            Failed => "failed",
            Crashed => "crashed",
            Interrupted => "interrupted",
            Dropped => "dropped",
        }
    }

    /// Queued or started: what crash recovery must look at.
    pub const fn is_active(self) -> bool {
        matches!(self, Queued | Started)
    }

    /// Completed, failed or dropped: nothing may follow.
    pub const fn is_final(self) -> bool {
        matches!(self, Completed | Failed | Dropped)
    }

    /// Crashed or interrupted: may be started again.
    pub const fn is_resumable(self) -> bool {
        matches!(self, Crashed | Interrupted)
    }
}

/// Whether [`TRANSITIONS`] lets a run in status `from` (`None`: no run yet) move to `to`.
/// Says nothing of `from == Some(to)`, which is a no-op rather than a transition.
pub fn is_allowed(from: Option<WorkflowRunStatus>, to: WorkflowRunStatus) -> bool {
    TRANSITIONS
        .iter()
        .any(|(source, targets)| *source == from && targets.contains(&to))
}

impl fmt::Display for WorkflowRunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for WorkflowRunStatus {
    type Err = StoreError;

    /// Parses the lowercase name given by [`WorkflowRunStatus::as_str`].
    fn from_str(text: &str) -> StoreResult<Self> {
        ALL_STATUSES
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                StoreError::invalid(
                    "status",
                    format!("unknown run status {text:?}; expected one of queued, started, completed, failed, crashed, interrupted, dropped"),
                )
            })
    }
}

/// A workflow run as the runs table holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRun {
    /// The run's id, unique in the store.
    pub run_id: String,
    /// The workflow it runs; fixed by the run's first transition.
    pub workflow: String,
    /// The thread it belongs to, if any; fixed by the run's first transition.
    pub thread_id: Option<String>,
    /// Its current status.
    pub status: WorkflowRunStatus,
    /// 1 for the first execution, plus one for each resume.
    pub attempt: u32,
    /// The time of its first transition.
    #[serde(with = "crate::log::ts_millis")]
    pub created_at: DateTime<Utc>,
    /// The time of its latest accepted change.
    #[serde(with = "crate::log::ts_millis")]
    pub updated_at: DateTime<Utc>,
    /// The time of its first `Started`.
    #[serde(with = "opt_ts_millis")]
    pub started_at: Option<DateTime<Utc>>,
    /// The time it reached a final status.
    #[serde(with = "opt_ts_millis")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The detail given with its latest accepted change (an error message, a reason).
    pub detail: Option<String>,
}

/// A request to move a run to a status, creating the run if it does not exist.
///
/// A run's workflow and thread are fixed when it is created. A transition of an existing run
/// may omit them (`None`: [`RunTransition::of`]) and the stored ones are kept; one that names
/// them must name the stored ones, or it is refused as [`StoreError::RunConflict`] (two runs
/// would share an id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTransition {
    /// The run; must not be empty.
    pub run_id: String,
    /// The workflow: needed to create the run (not empty); for an existing run, `None`
    /// keeps the stored one and a value must match it.
    #[serde(default)]
    pub workflow: Option<String>,
    /// The thread: for a new run, its thread (`None`: none); for an existing run, `None`
    /// keeps the stored one and a value must match it.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The status to move to.
    pub to: WorkflowRunStatus,
    /// When it happened; `None` means now. Truncated to milliseconds.
    #[serde(default, with = "opt_ts_millis")]
    pub at: Option<DateTime<Utc>>,
    /// A detail kept on the run and in the audit entry (an error message, a reason).
    #[serde(default)]
    pub detail: Option<String>,
}

impl RunTransition {
    /// Checks what can be checked without the stored run: a `run_id`, a `workflow` that is
    /// not empty when given, a `detail` within [`crate::MAX_DETAIL_BYTES`], an `at` within
    /// the times a store keeps.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming the field.
    pub fn validate(&self) -> StoreResult<()> {
        if self.run_id.is_empty() {
            return Err(StoreError::invalid("run_id", "must not be empty"));
        }
        if self.workflow.as_deref() == Some("") {
            return Err(StoreError::invalid("workflow", "must not be empty"));
        }
        if let Some(detail) = &self.detail {
            crate::range::check_size("detail", detail, crate::MAX_DETAIL_BYTES)?;
        }
        crate::range::check_optional_ts("at", self.at)
    }

    /// A transition of `run_id` of `workflow` to `to`, now, without a thread or detail:
    /// what creates a run (and moves it, if it exists with that workflow and no thread).
    pub fn new(
        run_id: impl Into<String>,
        workflow: impl Into<String>,
        to: WorkflowRunStatus,
    ) -> Self {
        RunTransition {
            workflow: Some(workflow.into()),
            ..RunTransition::of(run_id, to)
        }
    }

    /// A transition of the existing run `run_id` to `to`, now, keeping its workflow and
    /// thread. For a run that does not exist it is refused: a new run needs its workflow.
    pub fn of(run_id: impl Into<String>, to: WorkflowRunStatus) -> Self {
        RunTransition {
            run_id: run_id.into(),
            workflow: None,
            thread_id: None,
            to,
            at: None,
            detail: None,
        }
    }

    /// The same transition, for a run of `thread_id`.
    pub fn in_thread(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// The same transition, at `at` instead of now.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self
    }

    /// The same transition, with a detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// What [`crate::LogStore::transition_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The run was created or changed, and the change was logged.
    Applied {
        /// The run after the change.
        run: WorkflowRun,
        /// Its status before (`None`: it was created).
        previous: Option<WorkflowRunStatus>,
        /// The audit entry appended in the same transaction.
        audit: LogEntry,
    },
    /// The run already had that status: nothing was written.
    Unchanged {
        /// The run as stored.
        run: WorkflowRun,
    },
}

impl TransitionOutcome {
    /// The run after the operation.
    pub fn run(&self) -> &WorkflowRun {
        match self {
            TransitionOutcome::Applied { run, .. } | TransitionOutcome::Unchanged { run } => run,
        }
    }

    /// Whether anything was written.
    pub fn is_applied(&self) -> bool {
        matches!(self, TransitionOutcome::Applied { .. })
    }
}

/// What a backend must write for a transition, as decided by [`plan_transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionPlan {
    /// Write `run` (insert or update) and append `audit`, in one transaction.
    Apply {
        /// The run's new row.
        run: WorkflowRun,
        /// Its status before (`None`: insert rather than update).
        previous: Option<WorkflowRunStatus>,
        /// The audit entry (source `"workflow"`, kind `"run.status"`, `ref_id` the run id).
        audit: NewLogEntry,
    },
    /// Write nothing; report the run as unchanged.
    Unchanged(WorkflowRun),
}

/// The source of the audit entries of run transitions.
pub const AUDIT_SOURCE: &str = "workflow";
/// The kind of the audit entries of run transitions.
pub const AUDIT_KIND: &str = "run.status";

/// Decides what `transition` does to `current` (the run as stored, or `None`), at `now` when
/// the transition carries no time. Pure: backends call it inside their write transaction with
/// the row they just read, then write what it returns.
///
/// # Errors
/// [`StoreError::InvalidInput`] for an empty `run_id` or `workflow`, a `detail` over
/// [`crate::MAX_DETAIL_BYTES`] or an `at` outside the times a store keeps
/// ([`crate::kit::check_ts`]), [`StoreError::RunConflict`] when the run exists with another workflow or thread,
/// [`StoreError::InvalidTransition`] when the table refuses the move.
pub fn plan_transition(
    current: Option<&WorkflowRun>,
    transition: &RunTransition,
    now: DateTime<Utc>,
) -> StoreResult<TransitionPlan> {
    transition.validate()?;
    let at = truncate_to_millis(transition.at.unwrap_or(now));
    crate::range::check_ts("at", at)?;
    let to = transition.to;

    // A transition that omits the workflow moves an existing run; it cannot create one.
    let unknown = || StoreError::UnknownRun {
        run_id: transition.run_id.clone(),
    };
    match current {
        Some(run) => {
            check_identity(run, transition)?;
            if run.status == to {
                return Ok(TransitionPlan::Unchanged(run.clone()));
            }
        }
        None if transition.workflow.is_none() => return Err(unknown()),
        None => {}
    }
    let from = current.map(|run| run.status);
    if !is_allowed(from, to) {
        return Err(StoreError::InvalidTransition {
            run_id: transition.run_id.clone(),
            from,
            to,
        });
    }

    let run = match current {
        None => WorkflowRun {
            run_id: transition.run_id.clone(),
            workflow: transition.workflow.clone().ok_or_else(unknown)?,
            thread_id: transition.thread_id.clone(),
            status: to,
            attempt: 1,
            created_at: at,
            updated_at: at,
            started_at: (to == Started).then_some(at),
            finished_at: to.is_final().then_some(at),
            detail: transition.detail.clone(),
        },
        Some(run) => WorkflowRun {
            status: to,
            attempt: if run.status.is_resumable() && to == Started {
                run.attempt.saturating_add(1)
            } else {
                run.attempt
            },
            updated_at: at,
            started_at: run.started_at.or((to == Started).then_some(at)),
            finished_at: to.is_final().then_some(at),
            detail: transition.detail.clone(),
            ..run.clone()
        },
    };
    let audit = NewLogEntry {
        source: AUDIT_SOURCE.to_owned(),
        kind: AUDIT_KIND.to_owned(),
        ref_id: Some(run.run_id.clone()),
        payload: audit_payload(&run, from),
        ts: Some(at),
    };
    Ok(TransitionPlan::Apply {
        run,
        previous: from,
        audit,
    })
}

fn check_identity(run: &WorkflowRun, transition: &RunTransition) -> StoreResult<()> {
    let conflict = |field, stored: Option<&str>, given: Option<&str>| StoreError::RunConflict {
        run_id: run.run_id.clone(),
        field,
        stored: stored.unwrap_or("(none)").to_owned(),
        given: given.unwrap_or("(none)").to_owned(),
    };
    if let Some(workflow) = &transition.workflow
        && *workflow != run.workflow
    {
        return Err(conflict("workflow", Some(&run.workflow), Some(workflow)));
    }
    if let Some(thread) = &transition.thread_id
        && run.thread_id.as_ref() != Some(thread)
    {
        return Err(conflict(
            "thread_id",
            run.thread_id.as_deref(),
            Some(thread),
        ));
    }
    Ok(())
}

/// The audit entry's payload: the change as one JSON object, so the log alone can replay
/// the runs table.
fn audit_payload(run: &WorkflowRun, from: Option<WorkflowRunStatus>) -> String {
    serde_json::json!({
        "runId": run.run_id,
        "workflow": run.workflow,
        "threadId": run.thread_id,
        "from": from,
        "to": run.status,
        "attempt": run.attempt,
        "detail": run.detail,
    })
    .to_string()
}

/// A filter over the runs table. Runs come oldest first, by (`created_at`, `run_id`).
/// Serialises with camelCase names; every field may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunQuery {
    /// Only runs in one of these statuses; all statuses when empty.
    pub statuses: Vec<WorkflowRunStatus>,
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs of this thread.
    pub thread_id: Option<String>,
    /// A cursor: only runs that come after this run in the listing's order. An unknown run
    /// is [`StoreError::UnknownRun`].
    pub after: Option<String>,
    /// At most this many runs; [`crate::DEFAULT_QUERY_LIMIT`] when `None`.
    pub limit: Option<usize>,
}

impl RunQuery {
    /// The number of runs the query may return.
    pub fn effective_limit(&self) -> usize {
        self.limit.unwrap_or(crate::DEFAULT_QUERY_LIMIT)
    }

    /// Whether `run` passes the filters (the cursor and limit aside).
    pub fn matches(&self, run: &WorkflowRun) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&run.status))
            && self.workflow.as_ref().is_none_or(|w| *w == run.workflow)
            && self
                .thread_id
                .as_ref()
                .is_none_or(|t| run.thread_id.as_ref() == Some(t))
    }
}

/// An optional time as `YYYY-MM-DDTHH:MM:SS.mmmZ` or `null`, read within the times a store
/// keeps.
pub(crate) mod opt_ts_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Wrapped(#[serde(with = "crate::log::ts_millis")] DateTime<Utc>);

    pub(crate) fn serialize<S: Serializer>(
        ts: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        ts.map(Wrapped).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::now_millis;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in ALL_STATUSES {
            assert_eq!(
                status.as_str().parse::<WorkflowRunStatus>().ok(),
                Some(status)
            );
        }
        let err = "Started".parse::<WorkflowRunStatus>().unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidInput {
                    field: "status",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn the_table_is_the_one_in_the_spec_for_all_56_pairs() {
        let from_states = std::iter::once(None).chain(ALL_STATUSES.map(Some));
        let mut checked = 0;
        for from in from_states {
            for to in ALL_STATUSES {
                let spec = crate::conformance::runs::spec_allows(from, to);
                assert_eq!(is_allowed(from, to), spec, "{from:?} -> {to}");
                checked += 1;
            }
        }
        assert_eq!(checked, 56);
    }

    #[test]
    fn a_status_pads_like_a_string() {
        assert_eq!(format!("[{:<9}]", Started), "[started  ]");
    }

    #[test]
    fn each_status_is_exactly_one_of_active_final_resumable() {
        for status in ALL_STATUSES {
            let classes = [status.is_active(), status.is_final(), status.is_resumable()];
            assert_eq!(classes.iter().filter(|c| **c).count(), 1, "{status}");
        }
    }

    #[test]
    fn a_resume_counts_an_attempt_and_keeps_the_first_start() {
        let t0 = now_millis();
        let start = RunTransition::new("r", "w", Started).at(t0);
        let TransitionPlan::Apply { run, .. } = plan_transition(None, &start, t0).expect("plan")
        else {
            panic!("a new run is applied")
        };
        let crash = RunTransition::new("r", "w", Crashed);
        let TransitionPlan::Apply { run, .. } =
            plan_transition(Some(&run), &crash, t0).expect("plan")
        else {
            panic!("started -> crashed is applied")
        };
        let resume = RunTransition::new("r", "w", Started);
        let later = t0 + chrono::Duration::seconds(5);
        let TransitionPlan::Apply { run, .. } =
            plan_transition(Some(&run), &resume, later).expect("plan")
        else {
            panic!("crashed -> started is applied")
        };
        assert_eq!(run.attempt, 2);
        assert_eq!(run.started_at, Some(t0));
        assert_eq!(run.updated_at, later);
    }
}
