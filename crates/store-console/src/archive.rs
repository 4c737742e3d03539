//! The archive's pages: its days as the manifest records them, and a day's entries read from
//! the archive (a folder, or object storage).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use maud::html;
use nerve_store::{LogEntry, StoreError};

use crate::Console;
use crate::error::Failure;
use crate::layout::page;
use crate::params::MAX_PAGE;

/// The page for a console without an archive.
fn no_archive() -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "no archive",
            html! { h1 { "No archive" } p { "This console was not given an archive." } },
        ),
    )
        .into_response()
}

/// `GET /archive`: every archived day with its entries, bytes, first and last id and file,
/// from the manifest alone.
pub(crate) async fn days(State(console): State<Console>) -> Result<Response, Failure> {
    let Some(archive) = console.archive.clone() else {
        return Ok(no_archive());
    };
    let shown = archive.shown();
    let days = blocking(move || archive.days()).await?;
    Ok(page(
        "archive",
        html! {
            h1 { "Archive" }
            p { (shown) }
            table.days {
                tr { th { "day" } th { "entries" } th { "bytes" } th { "ids" } th { "file" } }
                @for (day, record) in &days {
                    tr {
                        td { a href={ "/archive/" (day) } { (day) } }
                        td { (record.entries) }
                        td { (record.bytes) }
                        td { (record.first_id.map(|id| id.0.to_string()).unwrap_or_default()) "–" (record.last_id.map(|id| id.0.to_string()).unwrap_or_default()) }
                        td { (record.file) }
                    }
                }
            }
        },
    )
    .into_response())
}

/// `GET /archive/{day}`: the day's entries as the archive holds them (the first 1,000).
pub(crate) async fn day(
    State(console): State<Console>,
    Path(day): Path<String>,
) -> Result<Response, Failure> {
    let Some(archive) = console.archive.clone() else {
        return Ok(no_archive());
    };
    let day: NaiveDate = day.parse().map_err(|_| {
        StoreError::invalid("day", format!("{day:?} is not a day: write 2026-12-01"))
    })?;
    let recorded = {
        let archive = archive.clone();
        blocking(move || archive.days()).await?
    };
    let Some((_, record)) = recorded.into_iter().find(|(held, _)| *held == day) else {
        return Ok((
            StatusCode::NOT_FOUND,
            page(
                "not archived",
                html! { h1 { "Not archived" } p { "The archive holds no day " (day) "." } },
            ),
        )
            .into_response());
    };
    let entries: Vec<LogEntry> = blocking(move || {
        archive
            .read(day..=day, false)?
            .take(MAX_PAGE)
            .collect::<Result<_, _>>()
    })
    .await?;
    let shown: Vec<&LogEntry> = entries.iter().collect();
    Ok(page(
        &day.to_string(),
        html! {
            h1 { "Archived " (day) }
            p { (record.entries) " entries in " (record.file)
                @if record.entries > MAX_PAGE as u64 { ", the first " (MAX_PAGE) " shown" } }
            (crate::pages::entries_table(&shown))
        },
    )
    .into_response())
}

/// Runs `work` (the archive's file or object reads) on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> nerve_store::StoreResult<T> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| {
            Failure(StoreError::Interrupted {
                operation: "reading the archive",
            })
        })?
        .map_err(Failure)
}
