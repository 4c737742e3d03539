//! The store reads a page and its JSON twin share.

use nerve_store::{LogEntry, LogQuery, StoreError, StoreResult, ThreadRoundRow, WorkflowRun};

use crate::Console;
use crate::params::MAX_PAGE;

/// The run `run_id` and at most `limit` log entries about it, in id order.
///
/// # Errors
/// [`StoreError::UnknownRun`] for a run the store does not hold; the store's errors.
pub(crate) async fn run_with_entries(
    console: &Console,
    run_id: String,
    limit: usize,
) -> StoreResult<(WorkflowRun, Vec<LogEntry>)> {
    let Some(run) = console.store.get_run(&run_id).await? else {
        return Err(StoreError::UnknownRun { run_id });
    };
    let entries = console
        .store
        .query(&LogQuery {
            ref_id: Some(run.run_id.clone()),
            limit: Some(limit),
            ..LogQuery::default()
        })
        .await?;
    Ok((run, entries))
}

/// The first [`MAX_PAGE`] messages of the thread `thread_id`, round by round.
///
/// # Errors
/// The store's errors.
pub(crate) async fn thread_rows(
    console: &Console,
    thread_id: String,
) -> StoreResult<Vec<ThreadRoundRow>> {
    console
        .store
        .thread_rounds(&nerve_store::GetThreadRoundsParams {
            thread_id,
            role: None,
            from_round: None,
            limit: Some(MAX_PAGE),
        })
        .await
}
