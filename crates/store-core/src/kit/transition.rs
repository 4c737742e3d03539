//! What a transition does to a stored run, decided once for every backend: a backend reads
//! the run inside its write transaction, asks [`plan_transition`], and writes what the
//! [`TransitionPlan`] says.

use chrono::{DateTime, Utc};

use crate::error::{StoreError, StoreResult};
use crate::log::NewLogEntry;
use crate::run::{AUDIT_KIND, AUDIT_SOURCE, RunTransition, WorkflowRun};
use crate::status::WorkflowRunStatus::{self, Started};
use crate::status::is_allowed;
use crate::time::truncate_to_millis;

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
    crate::time::check_ts("at", at)?;
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
        blobs: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::WorkflowRunStatus::Crashed;
    use crate::time::now_millis;

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
