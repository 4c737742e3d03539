//! The pages' JSON twins: the same reads, answered as the command line's `--json` gives
//! them (the store's own types, camelCase), errors as `{"error": …}` with the page's status.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use nerve_store::{LogEntry, StoreError, ThreadRoundRow, WorkflowRun};
use serde::Serialize;

use crate::Console;
use crate::activity::{ActivityParams, Chart};
use crate::error::Failure;
use crate::params::{LogsParams, MAX_PAGE, RunsParams, cut_page};
use crate::reads::{run_with_entries, thread_rows};

/// A failure answered as JSON.
pub(crate) struct ApiFailure(Failure);

impl From<StoreError> for ApiFailure {
    fn from(err: StoreError) -> Self {
        ApiFailure(Failure(err))
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = serde_json::json!({ "error": self.0.0.to_string() });
        (status, Json(body)).into_response()
    }
}

/// A page of rows, and the cursor of the next page (`None`: this is the last).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageOf<T, C> {
    items: Vec<T>,
    next: Option<C>,
}

/// `GET /api/stats`: what `stats --json` prints.
pub(crate) async fn stats(
    State(console): State<Console>,
) -> Result<Json<nerve_store::StoreStats>, ApiFailure> {
    Ok(Json(console.store.call(nerve_store::stats).await?))
}

/// `GET /api/activity`: the overview's chart as data: the range, its step, and each bar's
/// entries and transitions by status.
pub(crate) async fn activity(
    State(console): State<Console>,
    Query(params): Query<ActivityParams>,
) -> Result<Json<Chart>, ApiFailure> {
    let (since, until, by) = params.range(&console.now())?;
    let counts = console.store.activity(since, until).await?;
    Ok(Json(crate::activity::chart(since, until, by, &counts)))
}

/// `GET /api/runs`: a page of runs, `next` the `after` of the next page.
pub(crate) async fn runs(
    State(console): State<Console>,
    Query(params): Query<RunsParams>,
) -> Result<Json<PageOf<WorkflowRun, String>>, ApiFailure> {
    let mut items = console
        .store
        .list_runs(&params.query(&console.now())?)
        .await?;
    let next = cut_page(&mut items, params.limit, |run| run.run_id.clone());
    Ok(Json(PageOf { items, next }))
}

/// A run with the log entries about it, as `runs show --json` prints it.
#[derive(Serialize)]
pub(crate) struct RunWithLog {
    #[serde(flatten)]
    run: WorkflowRun,
    log: Vec<LogEntry>,
}

/// `GET /api/runs/{run}`.
pub(crate) async fn run(
    State(console): State<Console>,
    Path(run_id): Path<String>,
) -> Result<Json<RunWithLog>, ApiFailure> {
    let (run, log) = run_with_entries(&console, run_id, MAX_PAGE).await?;
    Ok(Json(RunWithLog { run, log }))
}

/// `GET /api/logs`: a page of entries, `next` the `after` of the next page.
pub(crate) async fn logs(
    State(console): State<Console>,
    Query(params): Query<LogsParams>,
) -> Result<Json<PageOf<LogEntry, u64>>, ApiFailure> {
    let mut items = console.store.query(&params.query(&console.now())?).await?;
    let next = cut_page(&mut items, params.limit, |entry| entry.id.0);
    Ok(Json(PageOf { items, next }))
}

/// `GET /api/threads/{thread}`: the thread's messages by round.
pub(crate) async fn thread(
    State(console): State<Console>,
    Path(thread_id): Path<String>,
) -> Result<Json<Vec<ThreadRoundRow>>, ApiFailure> {
    Ok(Json(thread_rows(&console, thread_id).await?))
}
