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

/// What a paged read has left to fetch: the size of its next page and whether it is over.
/// It ends after a short page, once its cap is reached, or after an error. What every
/// iterator of this module, the kit's `day_stream` and the async streams of
/// `nerve_store::AsyncStore` count their pages with.
#[derive(Debug, Clone)]
pub struct PageBudget {
    page_size: usize,
    /// What may still be fetched; `None`: no cap.
    left: Option<usize>,
    done: bool,
}

impl PageBudget {
    /// Pages of at most `page_size` rows, `limit` rows in all (`None`: no cap).
    pub fn new(page_size: usize, limit: Option<usize>) -> Self {
        PageBudget {
            page_size: page_size.max(1),
            left: limit,
            done: false,
        }
    }

    /// How many rows to ask for next; `None` once the read is over.
    pub fn next_page(&self) -> Option<usize> {
        match self.left {
            _ if self.done => None,
            Some(0) => None,
            Some(left) => Some(left.min(self.page_size)),
            None => Some(self.page_size),
        }
    }

    /// Counts a page of `rows` rows fetched for a request of `asked`: a short page is the
    /// last one.
    pub fn fetched(&mut self, rows: usize, asked: usize) {
        self.done = rows < asked;
        self.left = self.left.map(|left| left.saturating_sub(rows));
    }

    /// Ends the read: a fetch failed.
    pub fn failed(&mut self) {
        self.done = true;
    }
}

/// One page after another, each fetched when the one before is used up; the error that
/// ends a read is returned once.
pub(crate) struct Paged<T, F> {
    fetch: F,
    page: std::vec::IntoIter<T>,
    budget: PageBudget,
}

impl<T, F: FnMut(usize) -> StoreResult<Vec<T>>> Paged<T, F> {
    /// Pages of at most `page_size`, `limit` rows in all; `fetch` gets the size to ask for.
    pub(crate) fn new(page_size: usize, limit: Option<usize>, fetch: F) -> Self {
        Paged {
            fetch,
            page: Vec::new().into_iter(),
            budget: PageBudget::new(page_size, limit),
        }
    }
}

impl<T, F: FnMut(usize) -> StoreResult<Vec<T>>> Iterator for Paged<T, F> {
    type Item = StoreResult<T>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.page.next() {
                return Some(Ok(item));
            }
            let asked = self.budget.next_page()?;
            match (self.fetch)(asked) {
                Ok(page) => {
                    self.budget.fetched(page.len(), asked);
                    self.page = page.into_iter();
                }
                Err(err) => {
                    self.budget.failed();
                    return Some(Err(err));
                }
            }
        }
    }
}

/// A read that pages through the store with a cursor: what one page asks for, and how the
/// read moves past it. [`LogQuery`], [`RunQuery`] and [`ThreadMessages`] are paged reads;
/// [`fetch`] iterates over every row of one, `nerve_store::AsyncStore::fetch` streams them.
pub trait PagedRead: Clone + Send + Sync + 'static {
    /// What a page holds.
    type Row: Send + 'static;

    /// Takes the read's cap on the total out of it (a query's `limit`): the size of each
    /// page is the pager's to choose. `None`: every row.
    fn take_limit(&mut self) -> Option<usize>;

    /// The next page: at most `size` rows after the cursor, in the read's order.
    ///
    /// # Errors
    /// The store's, as the call behind it gives them.
    fn page(&self, store: &dyn LogStore, size: usize) -> StoreResult<Vec<Self::Row>>;

    /// Moves the cursor past `page`, the page just read.
    fn advance(&mut self, page: &[Self::Row]);
}

impl PagedRead for LogQuery {
    type Row = LogEntry;

    fn take_limit(&mut self) -> Option<usize> {
        self.limit.take()
    }

    fn page(&self, store: &dyn LogStore, size: usize) -> StoreResult<Vec<LogEntry>> {
        store.query(&LogQuery {
            limit: Some(size),
            ..self.clone()
        })
    }

    fn advance(&mut self, page: &[LogEntry]) {
        if let Some(last) = page.last() {
            match self.order {
                Order::Ascending => self.after = Some(last.id),
                Order::Descending => self.before = Some(last.id),
            }
        }
    }
}

impl PagedRead for RunQuery {
    type Row = WorkflowRun;

    fn take_limit(&mut self) -> Option<usize> {
        self.limit.take()
    }

    fn page(&self, store: &dyn LogStore, size: usize) -> StoreResult<Vec<WorkflowRun>> {
        store.list_runs(&RunQuery {
            limit: Some(size),
            ..self.clone()
        })
    }

    fn advance(&mut self, page: &[WorkflowRun]) {
        if let Some(last) = page.last() {
            self.after = Some(last.run_id.clone());
        }
    }
}

/// Every message of a thread in id order, as [`LogStore::thread_messages`] pages them: the
/// paged read of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMessages {
    /// The thread.
    pub thread_id: String,
    /// Only messages with an id above this one.
    pub after: Option<LogId>,
}

impl ThreadMessages {
    /// Every message of `thread_id`.
    pub fn of(thread_id: impl Into<String>) -> Self {
        ThreadMessages {
            thread_id: thread_id.into(),
            after: None,
        }
    }

    /// Only the messages with an id above `after`.
    #[must_use]
    pub fn after(mut self, after: LogId) -> Self {
        self.after = Some(after);
        self
    }
}

impl PagedRead for ThreadMessages {
    type Row = ThreadRoundRow;

    fn take_limit(&mut self) -> Option<usize> {
        None
    }

    fn page(&self, store: &dyn LogStore, size: usize) -> StoreResult<Vec<ThreadRoundRow>> {
        store.thread_messages(&self.thread_id, self.after, size)
    }

    fn advance(&mut self, page: &[ThreadRoundRow]) {
        if let Some(last) = page.last() {
            self.after = Some(last.log_id);
        }
    }
}

/// Every row `read` matches, in its order, fetched [`PAGE`] at a time through its cursor:
/// memory holds one page whatever the number of matches. The read's `limit` caps the total;
/// `None` yields every match. A row committed while the iterator runs is yielded if it falls
/// after the page being read. An error ends the iteration.
pub fn fetch<R: PagedRead>(store: &dyn LogStore, read: R) -> Pages<'_, R::Row> {
    let mut read = read;
    let limit = read.take_limit();
    Pages(Box::new(Paged::new(PAGE, limit, move |size| {
        let page = read.page(store, size)?;
        read.advance(&page);
        Ok(page)
    })))
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
        fetch(store, self)
    }
}

impl RunQuery {
    /// Every run this query matches, oldest first, fetched [`PAGE`] at a time through the
    /// `after` cursor. `limit` caps the total; `None` yields every match, unlike
    /// [`LogStore::list_runs`]. An error ends the iteration.
    pub fn fetch(self, store: &dyn LogStore) -> Pages<'_, WorkflowRun> {
        fetch(store, self)
    }
}

/// Every message of `thread_id` in id order, fetched [`PAGE`] at a time through
/// [`LogStore::thread_messages`]'s cursor. An error ends the iteration.
pub fn thread_messages<'s>(store: &'s dyn LogStore, thread_id: &str) -> Pages<'s, ThreadRoundRow> {
    fetch(store, ThreadMessages::of(thread_id))
}

/// Where a follower of the log stands: the query of its next look (every match after the
/// last entry seen) and how long to wait before it. What [`Follow`] and the async follower of
/// `nerve_store::AsyncStore` pace themselves with.
#[derive(Debug, Clone)]
pub struct FollowCursor {
    query: LogQuery,
    wait: Duration,
    longest: Duration,
}

/// The shortest wait between two looks at the log, after one that found nothing.
const SHORTEST_WAIT: Duration = Duration::from_millis(5);

impl FollowCursor {
    /// A follower of `query` from its `after` (from the log's end as it is now, when `None`),
    /// waiting at most `longest` between two looks.
    ///
    /// # Errors
    /// The store's errors reading the log's end.
    pub fn start(store: &dyn LogStore, query: LogQuery, longest: Duration) -> StoreResult<Self> {
        let after = match query.after {
            Some(after) => after,
            None => end_of_log(store)?.unwrap_or(LogId(0)),
        };
        Ok(FollowCursor {
            query: LogQuery {
                order: Order::Ascending,
                limit: Some(PAGE),
                after: Some(after),
                ..query
            },
            wait: Duration::ZERO,
            longest: longest.max(SHORTEST_WAIT),
        })
    }

    /// How long to wait before the next look: nothing after a look that found entries, then
    /// 5 ms, twice as long after each look that found none, up to `longest`.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The next look: at most [`PAGE`] matching entries after the last one seen.
    pub fn next_query(&self) -> &LogQuery {
        &self.query
    }

    /// Moves past what the look just made found: its entries, or the error it met (the next
    /// look then waits `longest`).
    pub fn looked(&mut self, found: &StoreResult<Vec<LogEntry>>) {
        match found.as_ref().map(|page| page.last()) {
            Ok(Some(last)) => {
                self.query.after = Some(last.id);
                self.wait = Duration::ZERO;
            }
            Ok(None) => self.wait = (self.wait * 2).clamp(SHORTEST_WAIT, self.longest),
            Err(_) => self.wait = self.longest,
        }
    }
}

/// The entries matching a query as they are committed, by this process or any other: what
/// [`follow`] returns.
pub struct Follow<'s> {
    store: &'s dyn LogStore,
    cursor: FollowCursor,
    page: std::vec::IntoIter<LogEntry>,
}

/// Follows the log: every entry `query` matches with an id after its `after` (after the
/// log's end as it is when `follow` returns, when `None`), in id order, as it is committed,
/// by this process or another one on the same store. The iterator waits for each next
/// entry, looking at the log again after 5 ms, then waiting twice as long each time it finds
/// nothing, up to `longest`: a quiet log costs one small query per `longest`, a busy one is
/// read as fast as it grows. It never ends by itself; an error is yielded and following goes
/// on after it. `order` and `limit` are ignored.
///
/// # Errors
/// The store's errors reading the log's end; the iterator yields the store's errors, as
/// [`LogStore::query`] gives them.
pub fn follow(store: &dyn LogStore, query: LogQuery, longest: Duration) -> StoreResult<Follow<'_>> {
    Ok(Follow {
        store,
        cursor: FollowCursor::start(store, query, longest)?,
        page: Vec::new().into_iter(),
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
            std::thread::sleep(self.cursor.wait());
            let found = self.store.query(self.cursor.next_query());
            self.cursor.looked(&found);
            match found {
                Ok(page) => self.page = page.into_iter(),
                Err(err) => return Some(Err(err)),
            }
        }
    }
}
