//! What the archive needs from a store: days of the log, and their deletion.

use chrono::{DateTime, NaiveDate, Utc};

use crate::log::LogId;

/// The entries of one UTC day whose id is at most `through`: what one archive pass copied
/// out of that day. An entry that lands in the day later (a caller's explicit `ts`) gets a
/// higher id, so it is outside the span and is not deleted unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DaySpan {
    /// The UTC day.
    pub day: NaiveDate,
    /// The highest id of the day that the span covers.
    pub through: LogId,
}

impl DaySpan {
    /// The span of `day` through `through`.
    pub fn new(day: NaiveDate, through: LogId) -> Self {
        DaySpan { day, through }
    }

    /// The first instant of the day, inclusive, and of the next day, exclusive.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        day_bounds(self.day)
    }

    /// Whether the span covers an entry with this id and time.
    pub fn covers(&self, id: LogId, ts: DateTime<Utc>) -> bool {
        id <= self.through && ts.date_naive() == self.day
    }
}

/// The first instant of `day` (UTC), inclusive, and of the day after, exclusive.
pub fn day_bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    (start, start + chrono::Duration::days(1))
}
