//! Workflow runs: the row a run is kept as, the transition that moves it and what it
//! answers, and the query over runs. The statuses and their table are in `status`; what a
//! transition does to a stored run is decided by the kit's `plan_transition`.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::log::{LogEntry, Order};
use crate::status::{ALL_STATUSES, WorkflowRunStatus};
use crate::time::opt_ts_millis;

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
    #[serde(with = "crate::time::ts_millis")]
    pub created_at: DateTime<Utc>,
    /// The time of its latest accepted change.
    #[serde(with = "crate::time::ts_millis")]
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
    /// The blobs the run references from now on (its result, its inputs): `None` keeps
    /// what it referenced, a list replaces it (an empty one drops every reference).
    /// Recorded in the transition's transaction; a transition that changes nothing
    /// (the run's status again) changes no reference either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs: Option<Vec<crate::Digest>>,
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
            crate::limits::check_size("detail", detail, crate::MAX_DETAIL_BYTES)?;
        }
        if let Some(blobs) = &self.blobs {
            crate::references::holder_blobs(blobs)?;
        }
        crate::time::check_optional_ts("at", self.at)
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
            blobs: None,
        }
    }

    /// The same transition, after which the run references `blobs` (replacing what it
    /// referenced): write each blob first, within the collector's grace period of this
    /// transition (docs/SPEC.md section 2).
    pub fn with_blobs(mut self, blobs: impl IntoIterator<Item = crate::Digest>) -> Self {
        self.blobs = Some(blobs.into_iter().collect());
        self
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

/// The source of the audit entries of run transitions.
pub const AUDIT_SOURCE: &str = "workflow";
/// The kind of the audit entries of run transitions.
pub const AUDIT_KIND: &str = "run.status";

/// A filter over the runs table. Runs come oldest first by (`created_at`, `run_id`), or
/// newest first with [`Order::Descending`]. Serialises with camelCase names; every field
/// may be left out.
///
/// [`crate::LogStore::list_runs`] answers one page: at most `limit` runs, and
/// [`crate::DEFAULT_QUERY_LIMIT`] (100) when `limit` is `None`. [`RunQuery::fetch`] (and
/// `nerve_store::AsyncStore::fetch`, as a stream) answers every match, fetching
/// [`crate::pages::PAGE`] (1,000) at a time, with `limit` capping the total.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunQuery {
    /// Only runs in one of these statuses; all statuses when empty.
    pub statuses: Vec<WorkflowRunStatus>,
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs of this thread.
    pub thread_id: Option<String>,
    /// Only runs created at or after this time.
    pub created_since: Option<DateTime<Utc>>,
    /// Only runs created before this time.
    pub created_until: Option<DateTime<Utc>>,
    /// Oldest first (the default) or newest first, by (`created_at`, `run_id`).
    pub order: Order,
    /// A cursor: only runs that come after this run in the listing's order. An unknown run
    /// is [`StoreError::UnknownRun`].
    pub after: Option<String>,
    /// At most this many runs. For one call of [`crate::LogStore::list_runs`], `None` is
    /// [`crate::DEFAULT_QUERY_LIMIT`] (100); [`RunQuery::fetch`] answers every match, and
    /// `None` there means no cap.
    pub limit: Option<usize>,
}

impl RunQuery {
    /// A query that matches every run: filters are added with the builder methods below.
    pub fn new() -> Self {
        RunQuery::default()
    }

    /// This query with runs in `status` too (every status while none is given).
    pub fn status(mut self, status: WorkflowRunStatus) -> Self {
        self.statuses.push(status);
        self
    }

    /// This query with runs of `workflow` only.
    pub fn workflow(mut self, workflow: impl Into<String>) -> Self {
        self.workflow = Some(workflow.into());
        self
    }

    /// This query with runs of the thread `thread_id` only.
    pub fn thread(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// This query with runs created in `since..until` only (either end may be open).
    pub fn created(mut self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Self {
        self.created_since = since;
        self.created_until = until;
        self
    }

    /// This query listing in `order`: newest first with [`Order::Descending`].
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// This query with runs after `run_id` in the listing's order only (a cursor).
    pub fn after(mut self, run_id: impl Into<String>) -> Self {
        self.after = Some(run_id.into());
        self
    }

    /// This query answering at most `limit` runs: one call of
    /// [`crate::LogStore::list_runs`], or in total through [`RunQuery::fetch`].
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The run this query's `after` cursor names, found by `get_run`; `None` without a
    /// cursor. A listing resumes after that run's (`created_at`, `run_id`).
    ///
    /// # Errors
    /// [`StoreError::UnknownRun`] for a cursor that names no run (a listing after it would
    /// otherwise silently start over), and `get_run`'s errors.
    pub fn cursor_run(
        &self,
        get_run: impl FnOnce(&str) -> StoreResult<Option<WorkflowRun>>,
    ) -> StoreResult<Option<WorkflowRun>> {
        let Some(after) = &self.after else {
            return Ok(None);
        };
        get_run(after)?
            .map(Some)
            .ok_or_else(|| StoreError::UnknownRun {
                run_id: after.clone(),
            })
    }

    /// The number of runs the query may return.
    pub fn effective_limit(&self) -> usize {
        self.limit.unwrap_or(crate::DEFAULT_QUERY_LIMIT)
    }

    /// Refuses a creation bound outside the times a store keeps.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming `created_since` or `created_until`.
    pub fn validate(&self) -> StoreResult<()> {
        crate::time::check_optional_ts("created_since", self.created_since)?;
        crate::time::check_optional_ts("created_until", self.created_until)
    }

    /// The creation bounds as stored milliseconds: from (inclusive) and to (exclusive), each
    /// rounded as [`crate::kit::bound_millis`] rounds a log query's.
    pub fn created_millis(&self) -> (i64, i64) {
        (
            self.created_since
                .map_or(i64::MIN, crate::time::bound_millis),
            self.created_until
                .map_or(i64::MAX, crate::time::bound_millis),
        )
    }

    /// Whether `(created_at, run_id)` comes after `cursor`'s in the listing's order.
    pub fn comes_after(&self, key: (i64, &str), cursor: (i64, &str)) -> bool {
        match self.order {
            Order::Ascending => key > cursor,
            Order::Descending => key < cursor,
        }
    }

    /// Whether `run` passes the filters (the cursor and limit aside).
    pub fn matches(&self, run: &WorkflowRun) -> bool {
        let (from, to) = self.created_millis();
        let created = run.created_at.timestamp_millis();
        (from..to).contains(&created)
            && (self.statuses.is_empty() || self.statuses.contains(&run.status))
            && self.workflow.as_ref().is_none_or(|w| *w == run.workflow)
            && self
                .thread_id
                .as_ref()
                .is_none_or(|t| run.thread_id.as_ref() == Some(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
