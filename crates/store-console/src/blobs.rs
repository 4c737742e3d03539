//! A blob's page: its size, what references it, and its content, verified as it streams.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use maud::{Markup, html};
use nerve_store::{BlobHolder, Digest};

use crate::Console;
use crate::error::Failure;
use crate::layout::page;
use crate::params::MAX_PAGE;

/// `GET /blobs/{digest}`: the blob's size and what references it (entries, runs, meta
/// values), each holder linked to its page.
pub(crate) async fn blob(
    State(console): State<Console>,
    Path(digest): Path<String>,
) -> Result<Response, Failure> {
    let digest = Digest::parse_loose(&digest)?;
    let Some(bytes) = console.store.blobs().len(&digest).await? else {
        return Ok(missing(&digest).into_response());
    };
    let holders = console.store.references(&digest, None, MAX_PAGE).await?;
    let hex = digest.to_hex();
    Ok(page(
        &hex,
        html! {
            h1 { "Blob " (hex) }
            dl.fields {
                dt { "size" } dd { (bytes) " bytes" }
                dt { "content" } dd { a.download href={ "/blobs/" (hex) "/content" } { "download, verified" } }
            }
            h2 { "Referenced by" }
            @if holders.is_empty() {
                p { "Nothing in the store references it: garbage collection removes it once it is older than its grace period." }
            }
            table.holders {
                @for holder in &holders {
                    tr { (holder_cells(holder)) }
                }
            }
        },
    )
    .into_response())
}

/// A holder as a row's cells: what it is, and a link to it.
pub(crate) fn holder_cells(holder: &BlobHolder) -> Markup {
    html! {
        @match holder {
            BlobHolder::Entry(id) => {
                td { "entry" }
                td { a href={ "/logs?after=" (id.0.saturating_sub(1)) "&limit=1" } { (id.0) } }
            }
            BlobHolder::Run(run) => {
                td { "run" }
                td { a href={ "/runs/" (crate::pages::encode(run)) } { (run) } }
            }
            BlobHolder::Meta(key) => {
                td { "meta" }
                td { (key) }
            }
        }
    }
}

/// `GET /blobs/{digest}/content`: the content, streamed as the store verifies it against
/// its digest; damage ends the stream early, so a download never completes with damaged
/// content (its length is announced first).
pub(crate) async fn content(
    State(console): State<Console>,
    Path(digest): Path<String>,
) -> Result<Response, Failure> {
    let digest = Digest::parse_loose(&digest)?;
    let blobs = console.store.blobs();
    let Some(bytes) = blobs.len(&digest).await? else {
        return Ok(missing(&digest).into_response());
    };
    let Some(stream) = blobs.open(&digest).await? else {
        return Ok(missing(&digest).into_response());
    };
    let body = Body::from_stream(stream.map(|chunk| chunk.map(axum::body::Bytes::from)));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", digest.to_hex()),
            ),
        ],
        body,
    )
        .into_response())
}

/// The answer for a blob the store does not hold.
fn missing(digest: &Digest) -> (StatusCode, Markup) {
    (
        StatusCode::NOT_FOUND,
        page(
            "no blob",
            html! { h1 { "No blob " (digest.to_hex()) } p { "The store holds no blob of this digest." } },
        ),
    )
}
