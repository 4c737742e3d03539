//! The reference semantics of a log query, written as plainly as possible: what the
//! in-memory store answers and what the conformance suite holds every backend to.

use crate::log::{LogEntry, LogQuery, Order};

/// What `query` must return from a log holding `entries` (in id order): the reference
/// semantics of [`crate::LogQuery`], written as plainly as possible.
pub fn answer_query(entries: &[LogEntry], query: &LogQuery) -> Vec<LogEntry> {
    let matching = entries.iter().filter(|entry| query.matches(entry)).cloned();
    let limit = query.effective_limit();
    match query.order {
        Order::Ascending => matching.take(limit).collect(),
        Order::Descending => {
            let mut all: Vec<_> = matching.collect();
            all.reverse();
            all.truncate(limit);
            all
        }
    }
}
