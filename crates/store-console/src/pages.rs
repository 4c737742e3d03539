//! The pages: server-rendered HTML, each a plain URL that can be bookmarked and shared.
//! Every value from the store goes through maud's escaping.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{Markup, html};
use nerve_store::{LogEntry, RunQuery, WorkflowRun, WorkflowRunStatus};

use crate::Console;
use crate::activity::{self, ActivityParams};
use crate::error::Failure;
use crate::layout::{page, time};
use crate::params::{LogsParams, MAX_PAGE, RunsParams, cut_page, given, page_size};
use crate::reads::{run_with_entries, thread_rows};

/// The most active runs the overview lists.
const ACTIVE_SHOWN: usize = 100;

/// `GET /`: the store's counts, runs by status, and the active runs (what crash recovery
/// would resume).
pub(crate) async fn overview(
    State(console): State<Console>,
    Query(range): Query<ActivityParams>,
) -> Result<Markup, Failure> {
    let (since, until, by) = range.range(&console.now())?;
    let counts = console.store.activity(since, until).await?;
    let chart = activity::chart(since, until, by, &counts);
    let stats = console.store.call(nerve_store::stats).await?;
    let active = console
        .store
        .list_runs(&RunQuery {
            statuses: WorkflowRunStatus::ALL
                .into_iter()
                .filter(|status| status.is_active())
                .collect(),
            limit: Some(ACTIVE_SHOWN + 1),
            ..RunQuery::default()
        })
        .await?;
    Ok(page(
        "overview",
        html! {
            h1 { "Overview" }
            dl.fields {
                dt { "store" } dd { (stats.store.to_string()) }
                dt { "log entries" } dd { (stats.entries) }
                dt { "days" } dd {
                    (stats.first_day.map(|d| d.to_string()).unwrap_or_else(|| "-".into()))
                    " to "
                    (stats.last_day.map(|d| d.to_string()).unwrap_or_else(|| "-".into()))
                }
                dt { "runs" } dd { (stats.runs) }
                dt { "blobs" } dd { (stats.blobs) }
                dt { "archived up to" } dd { (stats.archive_watermark.clone().unwrap_or_else(|| "-".into())) }
            }
            (activity::section(&chart, &range))
            h2 { "Runs by status" }
            table.by-status {
                tr { th { "status" } th { "runs" } }
                @for status in WorkflowRunStatus::ALL {
                    tr {
                        td { a href={ "/runs?status=" (status.as_str()) } { (status.as_str()) } }
                        td { (stats.runs_by_status.get(status)) }
                    }
                }
            }
            h2 { "Active runs" }
            (runs_table(&active[..active.len().min(ACTIVE_SHOWN)], None))
            @if active.len() > ACTIVE_SHOWN {
                p.more { a href="/runs?status=started" { "more active runs" } }
            }
        },
    ))
}

/// `GET /runs`: the runs the filters match, oldest or newest first, a page at a time.
pub(crate) async fn runs(
    State(console): State<Console>,
    Query(params): Query<RunsParams>,
) -> Result<Markup, Failure> {
    let query = params.query(&console.now())?;
    let newest_first = query.order == nerve_store::Order::Descending;
    let mut runs = console.store.list_runs(&query).await?;
    let order = given(&params.order);
    let next = cut_page(&mut runs, params.limit, |run| run.run_id.clone()).map(|after| {
        let mut filters = params.filters(order.as_deref());
        filters.push(("after", Some(after)));
        link("/runs", &filters)
    });
    // The creation column's header turns the order around, keeping the filters.
    let flipped = if newest_first { "oldest" } else { "newest" };
    let sort = Sort {
        href: link("/runs", &params.filters(Some(flipped))),
        arrow: if newest_first { "↓" } else { "↑" },
    };
    Ok(page(
        "runs",
        html! {
            h1 { "Runs" }
            form.filters method="get" action="/runs" {
                label { "status"
                    select name="status" {
                        option value="" { "any" }
                        @for status in WorkflowRunStatus::ALL {
                            option value=(status.as_str()) selected[given(&params.status).as_deref() == Some(status.as_str())] { (status.as_str()) }
                        }
                    }
                }
                label { "workflow" input name="workflow" value=(given(&params.workflow).unwrap_or_default()); }
                label { "thread" input name="thread" value=(given(&params.thread).unwrap_or_default()); }
                label { "created since" input name="since" value=(given(&params.since).unwrap_or_default()) placeholder="2h, today, 2026-12-01"; }
                label { "until" input name="until" value=(given(&params.until).unwrap_or_default()) placeholder="now"; }
                label { "order"
                    select name="order" {
                        option value="oldest" { "oldest first" }
                        option value="newest" selected[newest_first] { "newest first" }
                    }
                }
                button type="submit" { "filter" }
            }
            (runs_table(&runs, Some(&sort)))
            @if let Some(next) = next {
                p.more { a.next href=(next) { "next " (runs.len()) } }
            }
        },
    ))
}

/// The link a sortable column's header carries, and the arrow that says the order now.
struct Sort {
    href: String,
    arrow: &'static str,
}

/// A table of runs, each linking to its page; with `sort`, the creation column's header
/// turns the order around.
fn runs_table(runs: &[WorkflowRun], sort: Option<&Sort>) -> Markup {
    html! {
        table.runs {
            tr {
                th { "run" } th { "workflow" } th { "status" } th { "attempt" }
                th { @if let Some(sort) = sort { a.sort href=(sort.href) { "created " (sort.arrow) } } @else { "created" } }
                th { "updated" } th { "thread" }
            }
            @for run in runs {
                tr {
                    td { a href={ "/runs/" (encode(&run.run_id)) } { (run.run_id) } }
                    td { (run.workflow) }
                    td.status { (run.status.as_str()) }
                    td { (run.attempt) }
                    td { (time(run.created_at)) }
                    td { (time(run.updated_at)) }
                    td { @if let Some(thread) = &run.thread_id { a href={ "/threads/" (encode(thread)) } { (thread) } } @else { "-" } }
                }
            }
        }
    }
}

/// `GET /runs/{run}`: the run's fields, its state path (each transition with its time and
/// what it carried), and its other log entries.
pub(crate) async fn run(
    State(console): State<Console>,
    Path(run_id): Path<String>,
) -> Result<Markup, Failure> {
    let (run, entries) = run_with_entries(&console, run_id, MAX_PAGE + 1).await?;
    let blobs = console
        .store
        .blobs_of(&nerve_store::BlobHolder::Run(run.run_id.clone()))
        .await?;
    let (transitions, others): (Vec<&LogEntry>, Vec<&LogEntry>) = entries
        .iter()
        .take(MAX_PAGE)
        .partition(|entry| entry.source == "workflow" && entry.kind == "run.status");
    Ok(page(
        &run.run_id,
        html! {
            h1 { "Run " (run.run_id) }
            dl.fields {
                dt { "workflow" } dd { (run.workflow) }
                dt { "status" } dd.status { (run.status.as_str()) }
                dt { "attempt" } dd { (run.attempt) }
                dt { "created" } dd { (time(run.created_at)) }
                dt { "updated" } dd { (time(run.updated_at)) }
                dt { "thread" } dd { @if let Some(thread) = &run.thread_id { a href={ "/threads/" (encode(thread)) } { (thread) } } @else { "-" } }
                dt { "detail" } dd { pre { (run.detail.clone().unwrap_or_default()) } }
            }
            h2 { "State path" }
            (state_path(&transitions))
            h2 { "Log entries" }
            (entries_table(&others))
            @if !blobs.is_empty() {
                h2 { "Blobs" }
                ul.blobs {
                    @for digest in &blobs {
                        li { a href={ "/blobs/" (digest.to_hex()) } { (digest.to_hex()) } }
                    }
                }
            }
            @if entries.len() > MAX_PAGE {
                p.more { a href=(link("/logs", &[("ref", Some(run.run_id.clone()))])) { "every entry about it, in the log" } }
            }
        },
    ))
}

/// A run's state path: each transition with its time, the status it left and the one it
/// took, its attempt and detail, and how long the run spent in the status it left.
fn state_path(transitions: &[&LogEntry]) -> Markup {
    let steps: Vec<(&LogEntry, serde_json::Value, Option<chrono::Duration>)> = transitions
        .iter()
        .enumerate()
        .map(|(n, entry)| {
            let step = serde_json::from_str(&entry.payload).unwrap_or_default();
            let took = n
                .checked_sub(1)
                .map(|before| entry.ts - transitions[before].ts);
            (*entry, step, took)
        })
        .collect();
    html! {
        table.timeline {
            tr { th { "time" } th { "from" } th { "to" } th { "attempt" } th { "after" } th { "detail" } }
            @for (entry, step, took) in &steps {
                tr {
                    td { (time(entry.ts)) }
                    td { (step["from"].as_str().unwrap_or("-")) }
                    td.status { (step["to"].as_str().unwrap_or("?")) }
                    td { (step["attempt"].as_u64().map(|n| n.to_string()).unwrap_or_default()) }
                    td.took { (took.map(span).unwrap_or_default()) }
                    td.payload { (step["detail"].as_str().unwrap_or("")) }
                }
            }
        }
    }
}

/// A span of time as a person reads it: `850 ms`, `12.4 s`, `3 min 20 s`, `2 h 5 min`.
fn span(took: chrono::Duration) -> String {
    let ms = took.num_milliseconds().max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// `GET /logs`: the entries the filters match, in id order, a page at a time.
pub(crate) async fn logs(
    State(console): State<Console>,
    Query(params): Query<LogsParams>,
) -> Result<Markup, Failure> {
    let query = params.query(&console.now())?;
    let mut entries = console.store.query(&query).await?;
    let next = cut_page(&mut entries, params.limit, |entry| entry.id.0).map(|after| {
        link(
            "/logs",
            &[
                ("source", given(&params.source)),
                ("type", given(&params.kind)),
                ("ref", given(&params.ref_id)),
                ("since", given(&params.since)),
                ("until", given(&params.until)),
                ("after", Some(after.to_string())),
                ("limit", params.limit.map(|n| n.to_string())),
            ],
        )
    });
    let shown: Vec<&LogEntry> = entries.iter().collect();
    Ok(page(
        "log",
        html! {
            h1 { "Log" }
            form.filters method="get" action="/logs" {
                label { "source" input name="source" value=(given(&params.source).unwrap_or_default()); }
                label { "type" input name="type" value=(given(&params.kind).unwrap_or_default()); }
                label { "ref" input name="ref" value=(given(&params.ref_id).unwrap_or_default()); }
                label { "since" input name="since" placeholder="2026-12-01" value=(given(&params.since).unwrap_or_default()); }
                label { "until" input name="until" placeholder="2026-12-01T10:00:00Z" value=(given(&params.until).unwrap_or_default()); }
                button type="submit" { "filter" }
            }
            (entries_table(&shown))
            @if let Some(next) = next {
                p.more { a.next href=(next) { "next " (entries.len()) } }
            }
        },
    ))
}

/// `GET /logs/live`: the newest entries the filters match, then each new one as the daemon
/// writes it (the page's script follows `/api/logs/stream`).
pub(crate) async fn live(
    State(console): State<Console>,
    Query(params): Query<LogsParams>,
) -> Result<Markup, Failure> {
    let mut query = params.query(&console.now())?;
    query.limit = Some(page_size(params.limit));
    query.order = nerve_store::Order::Descending;
    query.after = None;
    let mut entries = console.store.query(&query).await?;
    entries.reverse();
    let after = entries.last().map_or(0, |entry| entry.id.0);
    let stream = link(
        "/api/logs/stream",
        &[
            ("source", given(&params.source)),
            ("type", given(&params.kind)),
            ("ref", given(&params.ref_id)),
            ("after", Some(after.to_string())),
        ],
    );
    let shown: Vec<&LogEntry> = entries.iter().collect();
    Ok(page(
        "live",
        html! {
            h1 { "Live " span #live-state { "connecting" } }
            form.filters method="get" action="/logs/live" {
                label { "source" input name="source" value=(given(&params.source).unwrap_or_default()); }
                label { "type" input name="type" value=(given(&params.kind).unwrap_or_default()); }
                label { "ref" input name="ref" value=(given(&params.ref_id).unwrap_or_default()); }
                button type="submit" { "follow" }
            }
            (entries_table_streaming(&shown, Some(&stream)))
        },
    ))
}

/// A table of log entries.
pub(crate) fn entries_table(entries: &[&LogEntry]) -> Markup {
    entries_table_streaming(entries, None)
}

/// A table of log entries, to which the page's script appends what `stream` sends.
fn entries_table_streaming(entries: &[&LogEntry], stream: Option<&str>) -> Markup {
    html! {
        table.entries data-stream=[stream] {
            tr { th { "id" } th { "time" } th { "source" } th { "type" } th { "ref" } th { "payload" } }
            @for entry in entries {
                tr {
                    td { (entry.id.0) }
                    td { (time(entry.ts)) }
                    td { (entry.source) }
                    td { (entry.kind) }
                    td { (entry.ref_id.clone().unwrap_or_default()) }
                    td.payload { (entry.payload) }
                }
            }
        }
    }
}

/// `GET /threads/{thread}`: the conversation, round by round, role by role.
pub(crate) async fn thread(
    State(console): State<Console>,
    Path(thread_id): Path<String>,
) -> Result<Markup, Failure> {
    let rows = thread_rows(&console, thread_id.clone()).await?;
    Ok(page(
        &thread_id,
        html! {
            h1 { "Thread " (thread_id) }
            @if rows.is_empty() {
                p { "No message of this thread is in the store (its days may have been archived)." }
            }
            @for row in &rows {
                div.round {
                    span.role { "round " (row.round) " · " (row.role) } " "
                    (time(row.ts))
                    pre { (row.payload) }
                }
            }
        },
    ))
}

/// Any other address.
pub(crate) async fn not_found() -> (StatusCode, Markup) {
    (
        StatusCode::NOT_FOUND,
        page(
            "not found",
            html! { h1 { "Not found" } p { "No page here." } },
        ),
    )
}

/// `path` with the filters that are given, as a query string.
fn link(path: &str, filters: &[(&str, Option<String>)]) -> String {
    let given: Vec<(&str, &str)> = filters
        .iter()
        .filter_map(|(name, value)| Some((*name, value.as_deref()?)))
        .collect();
    match serde_urlencoded::to_string(&given) {
        Ok(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path.to_owned(),
    }
}

/// `text` as one segment of a path.
pub(crate) fn encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|pair| pair.trim_start_matches('=').replace('+', "%20"))
        .unwrap_or_default()
}
