//! A day of the log as a stream: what the archive and a copy between stores read a day
//! with, a page at a time.

use chrono::NaiveDate;

use crate::digest::Digest;
use crate::error::StoreResult;
use crate::id::LogId;
use crate::import::ThreadIndexRow;
use crate::log::LogEntry;
use crate::pages::Paged;
use crate::references::BlobHolder;
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

/// An entry of a day as the archive writes it: the entry, its thread-index row when it is
/// a thread message, and the blobs it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayEntry {
    /// The entry.
    pub entry: LogEntry,
    /// Its thread-index row, if it is a thread message.
    pub thread: Option<ThreadIndexRow>,
    /// The blobs it references, in digest order.
    pub blobs: Vec<Digest>,
}

/// [`day_stream`] with each entry's thread-index row and blob references: what the archive
/// writes, so that a restore indexes the message again and garbage collection keeps its
/// blobs. One [`LogMaintenance::thread_rows`] and one
/// [`LogMaintenance::entry_references`] read per page.
pub fn day_stream_archived(
    store: &dyn LogMaintenance,
    day: NaiveDate,
) -> impl Iterator<Item = StoreResult<DayEntry>> + '_ {
    let mut after: Option<LogId> = None;
    Paged::new(DAY_PAGE, None, move |size| {
        let entries = store.day_entries(day, after, size)?;
        after = entries.last().map(|entry| entry.id).or(after);
        let ids: Vec<LogId> = entries.iter().map(|entry| entry.id).collect();
        let mut rows = store.thread_rows(&ids)?.into_iter().peekable();
        let mut references = store.entry_references(&ids)?.into_iter().peekable();
        Ok(entries
            .into_iter()
            .map(|entry| {
                while rows.next_if(|row| row.log_id < entry.id).is_some() {}
                let thread = rows.next_if(|row| row.log_id == entry.id);
                let holder = BlobHolder::Entry(entry.id);
                while references.next_if(|r| r.holder < holder).is_some() {}
                let mut blobs = Vec::new();
                while let Some(reference) = references.next_if(|r| r.holder == holder) {
                    blobs.push(reference.digest);
                }
                DayEntry {
                    entry,
                    thread,
                    blobs,
                }
            })
            .collect())
    })
}
