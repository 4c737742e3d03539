//! A day of the log as a stream: what the archive and a copy between stores read a day
//! with, a page at a time.

use chrono::NaiveDate;

use crate::error::StoreResult;
use crate::id::LogId;
use crate::import::ThreadIndexRow;
use crate::log::LogEntry;
use crate::pages::Paged;
use crate::store::LogMaintenance;

/// How many entries [`day_stream`] fetches at a time.
pub const DAY_PAGE: usize = 1000;

/// Every entry of `day` in id order, fetched [`DAY_PAGE`] at a time: memory stays flat
/// whatever the day's size. Entries appended to the day while the stream runs are
/// included when their id comes after the page being read.
pub fn day_stream(
    store: &dyn LogMaintenance,
    day: NaiveDate,
) -> impl Iterator<Item = StoreResult<LogEntry>> + '_ {
    let mut after: Option<LogId> = None;
    Paged::new(DAY_PAGE, None, move |size| {
        let entries = store.day_entries(day, after, size)?;
        after = entries.last().map(|entry| entry.id).or(after);
        Ok(entries)
    })
}

/// [`day_stream`] with each entry's thread-index row when it is a thread message: what the
/// archive writes, so that a restore indexes the message again. One
/// [`LogMaintenance::thread_rows`] read per page.
pub fn day_stream_with_threads(
    store: &dyn LogMaintenance,
    day: NaiveDate,
) -> impl Iterator<Item = StoreResult<(LogEntry, Option<ThreadIndexRow>)>> + '_ {
    let mut after: Option<LogId> = None;
    Paged::new(DAY_PAGE, None, move |size| {
        let entries = store.day_entries(day, after, size)?;
        after = entries.last().map(|entry| entry.id).or(after);
        let ids: Vec<LogId> = entries.iter().map(|entry| entry.id).collect();
        let mut rows = store.thread_rows(&ids)?.into_iter().peekable();
        Ok(entries
            .into_iter()
            .map(|entry| {
                while rows.next_if(|row| row.log_id < entry.id).is_some() {}
                let row = rows.next_if(|row| row.log_id == entry.id);
                (entry, row)
            })
            .collect())
    })
}
