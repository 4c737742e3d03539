//! Every match, a page at a time: iterators over what a query matches that page through the
//! store with its cursor, so that memory holds one page whatever the number of matches, and a
//! follower of the log that waits for new entries, as `tail -f` does.
//!
//! [`LogStore::query`] answers one page: at most `limit` entries, [`DEFAULT_QUERY_LIMIT`]
//! when the query sets none. [`LogQuery::fetch`], [`RunQuery::fetch`] and
//! [`thread_messages`] answer every match; their `limit` caps the total, and `None` means
//! every match.

use std::time::Duration;

use crate::error::StoreResult;
use crate::id::LogId;
use crate::log::{DEFAULT_QUERY_LIMIT, LogEntry, LogQuery, Order};
use crate::run::{RunQuery, WorkflowRun};
use crate::store::LogStore;
use crate::thread::ThreadRoundRow;

/// How many rows an iterator fetches at a time: [`DEFAULT_QUERY_LIMIT`] × 10.
pub const PAGE: usize = DEFAULT_QUERY_LIMIT * 10;

/// One page after another, each fetched when the one before is used up, at most `page_size`
/// at a time (`fetch` gets the size to ask for); ends after the first short page, the total
/// cap, or an error (returned once). What every iterator of this module, and the kit's
/// `day_stream`, page with.
pub(crate) struct Paged<T, F> {
    fetch: F,
    page: std::vec::IntoIter<T>,
    page_size: usize,
    /// What may still be yielded; `None`: no cap.
    left: Option<usize>,
    done: bool,
}

impl<T, F: FnMut(usize) -> StoreResult<Vec<T>>> Paged<T, F> {
    pub(crate) fn new(page_size: usize, limit: Option<usize>, fetch: F) -> Self {
        Paged {
            fetch,
            page: Vec::new().into_iter(),
            page_size,
            left: limit,
            done: false,
        }
    }
}

impl<T, F: FnMut(usize) -> StoreResult<Vec<T>>> Iterator for Paged<T, F> {
    type Item = StoreResult<T>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.left == Some(0) {
                return None;
            }
            if let Some(item) = self.page.next() {
                self.left = self.left.map(|left| left - 1);
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            let size = self
                .left
                .map_or(self.page_size, |left| left.min(self.page_size));
            match (self.fetch)(size) {
                Ok(page) => {
                    self.done = page.len() < size;
                    self.page = page.into_iter();
                }
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
    }
}

/// Every row a query matches, one page at a time: what [`LogQuery::fetch`] (entries),
/// [`RunQuery::fetch`] (runs) and [`thread_messages`] (a thread's rows) return.
pub struct Pages<'s, T>(Box<dyn Iterator<Item = StoreResult<T>> + Send + 's>);

impl<T> Iterator for Pages<'_, T> {
    type Item = StoreResult<T>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl LogQuery {
    /// Every entry this query matches, in its order, fetched [`PAGE`] at a time through the
    /// `after` cursor (`before` when descending): memory holds one page whatever the number
    /// of matches. `limit` caps the total; `None` yields every match, unlike
    /// [`LogStore::query`], whose page it is. An entry committed while the iterator runs is
    /// yielded if it falls after the page being read. An error ends the iteration.
    pub fn fetch(self, store: &dyn LogStore) -> Pages<'_, LogEntry> {
        let mut query = self;
        let limit = query.limit.take();
        Pages(Box::new(Paged::new(PAGE, limit, move |size| {
            let page = store.query(&LogQuery {
                limit: Some(size),
                ..query.clone()
            })?;
            if let Some(last) = page.last() {
                match query.order {
                    Order::Ascending => query.after = Some(last.id),
                    Order::Descending => query.before = Some(last.id),
                }
            }
            Ok(page)
        })))
    }
}

impl RunQuery {
    /// Every run this query matches, oldest first, fetched [`PAGE`] at a time through the
    /// `after` cursor. `limit` caps the total; `None` yields every match, unlike
    /// [`LogStore::list_runs`]. An error ends the iteration.
    pub fn fetch(self, store: &dyn LogStore) -> Pages<'_, WorkflowRun> {
        let mut query = self;
        let limit = query.limit.take();
        Pages(Box::new(Paged::new(PAGE, limit, move |size| {
            let page = store.list_runs(&RunQuery {
                limit: Some(size),
                ..query.clone()
            })?;
            if let Some(last) = page.last() {
                query.after = Some(last.run_id.clone());
            }
            Ok(page)
        })))
    }
}

/// Every message of `thread_id` in id order, fetched [`PAGE`] at a time through
/// [`LogStore::thread_messages`]'s cursor. An error ends the iteration.
pub fn thread_messages<'s>(store: &'s dyn LogStore, thread_id: &str) -> Pages<'s, ThreadRoundRow> {
    let thread_id = thread_id.to_owned();
    let mut after: Option<LogId> = None;
    Pages(Box::new(Paged::new(PAGE, None, move |size| {
        let page = store.thread_messages(&thread_id, after, size)?;
        if let Some(last) = page.last() {
            after = Some(last.log_id);
        }
        Ok(page)
    })))
}

/// The entries matching a query as they are committed, by this process or any other: what
/// [`follow`] returns.
pub struct Follow<'s> {
    store: &'s dyn LogStore,
    query: LogQuery,
    page: std::vec::IntoIter<LogEntry>,
    wait: Duration,
    longest: Duration,
}

/// The shortest wait between two looks at the log, after one that found something.
const SHORTEST_WAIT: Duration = Duration::from_millis(5);

/// Follows the log: every entry `query` matches with an id after its `after` (after the
/// log's end as it is when `follow` returns, when `None`), in id order, as it is committed,
/// by this process or another one on the same store. The iterator waits for each next entry, looking at the
/// log again after 5 ms, then waiting twice as long each time it finds nothing, up to
/// `longest`: a quiet log costs one small query per `longest`, a busy one is read as fast as
/// it grows. It never ends by itself; an error is yielded and following goes on after it.
/// `order` and `limit` are ignored.
///
/// # Errors
/// The store's errors reading the log's end; the iterator yields the store's errors, as
/// [`LogStore::query`] gives them.
pub fn follow(store: &dyn LogStore, query: LogQuery, longest: Duration) -> StoreResult<Follow<'_>> {
    let after = match query.after {
        Some(after) => after,
        None => end_of_log(store)?.unwrap_or(LogId(0)),
    };
    Ok(Follow {
        store,
        query: LogQuery {
            order: Order::Ascending,
            limit: None,
            after: Some(after),
            ..query
        },
        page: Vec::new().into_iter(),
        wait: Duration::ZERO,
        longest: longest.max(SHORTEST_WAIT),
    })
}

/// The id of the log's newest entry, whatever it matches.
fn end_of_log(store: &dyn LogStore) -> StoreResult<Option<LogId>> {
    let newest = store.query(&LogQuery {
        limit: Some(1),
        order: Order::Descending,
        ..LogQuery::default()
    })?;
    Ok(newest.first().map(|entry| entry.id))
}

impl Iterator for Follow<'_> {
    type Item = StoreResult<LogEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.page.next() {
                return Some(Ok(entry));
            }
            std::thread::sleep(self.wait);
            let page = match self.store.query(&LogQuery {
                limit: Some(PAGE),
                ..self.query.clone()
            }) {
                Ok(page) => page,
                Err(err) => {
                    self.wait = self.longest;
                    return Some(Err(err));
                }
            };
            match page.last() {
                Some(last) => {
                    self.query.after = Some(last.id);
                    self.wait = Duration::ZERO;
                }
                None => {
                    self.wait = (self.wait * 2).clamp(SHORTEST_WAIT, self.longest);
                }
            }
            self.page = page.into_iter();
        }
    }
}
