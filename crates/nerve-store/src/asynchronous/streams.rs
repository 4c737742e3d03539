//! Streams of rows: every match of a paged read, and the log as it grows, each page fetched
//! on the blocking pool when the one before is used up.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use store_core::pages::{FollowCursor, PAGE, PageBudget, PagedRead};
use store_core::{LogEntry, StoreResult};

use super::AsyncStore;

/// *Available on crate feature `tokio` only.*
///
/// A stream of rows from the store, or of the errors that met them: what
/// [`AsyncStore::fetch`] and [`AsyncStore::follow`] return. It is a [`Stream`]; [`RowStream::next`]
/// takes the next row without a stream trait in scope.
pub struct RowStream<T> {
    rows: Pin<Box<dyn Stream<Item = StoreResult<T>> + Send>>,
}

impl<T> std::fmt::Debug for RowStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream").finish_non_exhaustive()
    }
}

impl<T> RowStream<T> {
    /// The next row; `None` once the stream is over.
    pub async fn next(&mut self) -> Option<StoreResult<T>> {
        self.rows.next().await
    }
}

impl<T> Stream for RowStream<T> {
    type Item = StoreResult<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rows.as_mut().poll_next(cx)
    }
}

/// Where a fetch stands between two rows.
struct Fetching<R: PagedRead> {
    store: AsyncStore,
    read: R,
    budget: PageBudget,
    page: std::vec::IntoIter<R::Row>,
}

/// Every row of `read`, a page at a time: see [`AsyncStore::fetch`].
pub(super) fn fetch<R: PagedRead>(store: AsyncStore, read: R) -> RowStream<R::Row> {
    let mut read = read;
    let budget = PageBudget::new(PAGE, read.take_limit());
    let start = Fetching {
        store,
        read,
        budget,
        page: Vec::new().into_iter(),
    };
    let rows = futures_util::stream::unfold(start, |mut at| async move {
        loop {
            if let Some(row) = at.page.next() {
                return Some((Ok(row), at));
            }
            let asked = at.budget.next_page()?;
            let read = at.read.clone();
            match at.store.log(move |log| read.page(log, asked)).await {
                Ok(page) => {
                    at.budget.fetched(page.len(), asked);
                    at.read.advance(&page);
                    at.page = page.into_iter();
                }
                Err(err) => {
                    at.budget.failed();
                    return Some((Err(err), at));
                }
            }
        }
    });
    RowStream {
        rows: Box::pin(rows),
    }
}

/// Where a follower stands between two entries.
struct Following {
    store: AsyncStore,
    cursor: FollowCursor,
    page: std::vec::IntoIter<LogEntry>,
}

/// The log as it grows, from `cursor`: see [`AsyncStore::follow`].
pub(super) fn follow(store: AsyncStore, cursor: FollowCursor) -> RowStream<LogEntry> {
    let start = Following {
        store,
        cursor,
        page: Vec::new().into_iter(),
    };
    let rows = futures_util::stream::unfold(start, |mut at| async move {
        loop {
            if let Some(entry) = at.page.next() {
                return Some((Ok(entry), at));
            }
            let (wait, query) = (at.cursor.wait(), at.cursor.next_query().clone());
            // The wait runs on the blocking pool with the look it precedes: a tokio timer
            // would need the runtime's time driver, which a runtime may not have.
            let found = at
                .store
                .log(move |log| {
                    std::thread::sleep(wait);
                    log.query(&query)
                })
                .await;
            at.cursor.looked(&found);
            match found {
                Ok(page) => at.page = page.into_iter(),
                Err(err) => return Some((Err(err), at)),
            }
        }
    });
    RowStream {
        rows: Box::pin(rows),
    }
}
