//! The live tail: the log's new entries as the daemon writes them, from any process, as
//! server-sent events that the live page's script appends to its table.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _};

use crate::Console;
use crate::api::ApiFailure;
use crate::params::LogsParams;

/// The longest the tail waits between two looks at a quiet log (`AsyncStore::follow` looks
/// again at once after a look that found entries, and backs off from 5 ms up to this while
/// it finds none): another process's commit is seen within about this long.
const LONGEST_WAIT: Duration = Duration::from_millis(250);

/// `GET /api/logs/stream?after=ID&source=&type=&ref=`: every entry the filters match with an
/// id above `after` (above the log's end when it is not given), as any process commits it,
/// one event each (`data` the entry as JSON, `id` its id); a failed look is an `error`
/// event, and the tail goes on after it.
pub(crate) async fn stream(
    State(console): State<Console>,
    Query(params): Query<LogsParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiFailure> {
    let entries = console
        .store
        .follow(params.query(&console.now())?, LONGEST_WAIT)
        .await?;
    let events = entries.map(|entry| {
        Ok(match entry {
            Ok(entry) => Event::default()
                .id(entry.id.0.to_string())
                .data(serde_json::to_string(&entry).unwrap_or_default()),
            Err(err) => Event::default().event("error").data(err.to_string()),
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
