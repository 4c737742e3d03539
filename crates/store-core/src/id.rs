//! The id of a log entry, and the highest one a store keeps.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The id of a log entry: assigned by the store, strictly increasing in commit order, and
/// never reused (not after deletion, archiving or reopening).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LogId(pub u64);

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The highest log id any backend can keep (SQLite's integer keys are signed). A store that
/// has given it out refuses further appends with [`StoreError::IdsExhausted`](crate::StoreError::IdsExhausted); at a million
/// appends a second that is 292,000 years away.
pub const MAX_LOG_ID: LogId = LogId(i64::MAX as u64);
