//! A page's filters as its URL gives them, turned into the store's queries: an empty field
//! is no filter, a page holds at most [`MAX_PAGE`] rows, and a value that is not what its
//! field takes is a clear error naming it.

use chrono::{DateTime, Utc};
use nerve_store::{LogId, LogQuery, RunQuery, StoreError, StoreResult, WorkflowRunStatus};
use serde::Deserialize;

/// Rows a page shows unless asked for fewer.
pub(crate) const PAGE: usize = 100;
/// The most rows a page or an API call answers with: every answer is one bounded read.
pub(crate) const MAX_PAGE: usize = 1000;

/// `?status=&workflow=&thread=&since=&until=&order=&after=&limit=` of the runs: `since` and
/// `until` bound their creation, `order` is `oldest` (first, the default) or `newest`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunsParams {
    pub(crate) status: Option<String>,
    pub(crate) workflow: Option<String>,
    pub(crate) thread: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) order: Option<String>,
    pub(crate) after: Option<String>,
    pub(crate) limit: Option<usize>,
}

/// `?source=&type=&ref=&since=&until=&after=&limit=` of the log.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogsParams {
    pub(crate) source: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(rename = "ref")]
    pub(crate) ref_id: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) after: Option<u64>,
    pub(crate) limit: Option<usize>,
}

/// `value` unless it is empty (a form's field left blank).
pub(crate) fn given(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|value| !value.is_empty()).cloned()
}

/// The rows a page asks for, within [`MAX_PAGE`].
pub(crate) fn page_size(limit: Option<usize>) -> usize {
    limit.unwrap_or(PAGE).clamp(1, MAX_PAGE)
}

/// Cuts `rows` (read one past the page, as the queries here ask) to the page `limit` asks
/// for; returns the cursor of the next page (`cursor` of the last row shown), `None` when
/// this is the last.
pub(crate) fn cut_page<T, C>(
    rows: &mut Vec<T>,
    limit: Option<usize>,
    cursor: impl FnOnce(&T) -> C,
) -> Option<C> {
    let size = page_size(limit);
    if rows.len() <= size {
        return None;
    }
    rows.truncate(size);
    rows.last().map(cursor)
}

impl RunsParams {
    /// Whether the runs come newest first.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for an `order` that is neither `oldest` nor `newest`.
    fn newest_first(&self) -> StoreResult<bool> {
        match given(&self.order).as_deref() {
            None | Some("oldest") => Ok(false),
            Some("newest") => Ok(true),
            Some(other) => Err(StoreError::invalid(
                "order",
                format!("{other:?} is not an order: oldest or newest"),
            )),
        }
    }

    /// The filters as a link gives them again (the cursor aside), with `order` as given.
    pub(crate) fn filters(&self, order: Option<&str>) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("status", given(&self.status)),
            ("workflow", given(&self.workflow)),
            ("thread", given(&self.thread)),
            ("since", given(&self.since)),
            ("until", given(&self.until)),
            ("order", order.map(str::to_owned)),
            ("limit", self.limit.map(|n| n.to_string())),
        ]
    }

    /// The store's query, one row more than the page so that the page knows whether there
    /// is a next one; relative times count back from `now`.
    pub(crate) fn query(&self, now: &nerve_store::time::Zoned) -> StoreResult<RunQuery> {
        let statuses = match given(&self.status) {
            None => Vec::new(),
            Some(name) => vec![
                WorkflowRunStatus::ALL
                    .into_iter()
                    .find(|status| status.as_str() == name)
                    .ok_or_else(|| {
                        StoreError::invalid(
                            "status",
                            format!(
                                "{name:?} is not a status: one of {}",
                                WorkflowRunStatus::ALL
                                    .map(WorkflowRunStatus::as_str)
                                    .join(", ")
                            ),
                        )
                    })?,
            ],
        };
        Ok(RunQuery {
            statuses,
            workflow: given(&self.workflow),
            thread_id: given(&self.thread),
            created_since: given(&self.since)
                .map(|at| time("since", &at, now))
                .transpose()?,
            created_until: given(&self.until)
                .map(|at| time("until", &at, now))
                .transpose()?,
            order: if self.newest_first()? {
                nerve_store::Order::Descending
            } else {
                nerve_store::Order::Ascending
            },
            after: given(&self.after),
            limit: Some(page_size(self.limit) + 1),
        })
    }
}

impl LogsParams {
    /// The store's query, one row more than the page; relative times count back from `now`.
    pub(crate) fn query(&self, now: &nerve_store::time::Zoned) -> StoreResult<LogQuery> {
        Ok(LogQuery {
            source: given(&self.source),
            kind: given(&self.kind),
            ref_id: given(&self.ref_id),
            since: given(&self.since)
                .map(|at| time("since", &at, now))
                .transpose()?,
            until: given(&self.until)
                .map(|at| time("until", &at, now))
                .transpose()?,
            after: self.after.map(LogId),
            limit: Some(page_size(self.limit) + 1),
            ..LogQuery::default()
        })
    }
}

/// A time as the filters take it, the command line's forms
/// ([`nerve_store::time::parse_time`]): RFC 3339, a local date and time or date, `now`,
/// `today`, `yesterday`, or a span back from `now` (`2h`, `7d`). Local is the server's zone.
pub(crate) fn time(
    field: &'static str,
    text: &str,
    now: &nerve_store::time::Zoned,
) -> StoreResult<DateTime<Utc>> {
    nerve_store::time::parse_time(text, now)
        .map_err(|err| StoreError::invalid(field, err.to_string()))
}
