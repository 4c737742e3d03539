//! The status of a workflow run and the table of the moves between statuses: the state
//! machine every backend keeps, written once as data.

use std::fmt;

use serde::{Deserialize, Serialize};

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
/// is not a transition but an idempotent no-op (see [`plan_transition`](crate::kit::plan_transition)).
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
