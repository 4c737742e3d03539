//! What the archive needs from a store: days of the log, and their deletion.

use chrono::{DateTime, NaiveDate, Utc};

use crate::log::LogId;
use crate::run::WorkflowRunStatus;

/// The size and time span of a log and its runs by status, read in one snapshot from
/// counters and the ends of an index: what `stats` shows without reading the store through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStats {
    /// Entries in the store (archived entries are no longer counted).
    pub entries: u64,
    /// The first UTC day with entries; `None` for an empty log.
    pub first_day: Option<NaiveDate>,
    /// The last UTC day with entries; `None` for an empty log.
    pub last_day: Option<NaiveDate>,
    /// The runs in the store, by status.
    pub runs: RunCounts,
}

/// How many runs a store holds of each status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunCounts([u64; WorkflowRunStatus::ALL.len()]);

impl RunCounts {
    /// The runs of `status`.
    pub fn get(&self, status: WorkflowRunStatus) -> u64 {
        self.0[slot(status)]
    }

    /// These counts with `count` runs of `status`.
    pub fn with(mut self, status: WorkflowRunStatus, count: u64) -> Self {
        self.0[slot(status)] = count;
        self
    }

    /// Every run, whatever its status.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each status with its runs, in the order of [`WorkflowRunStatus::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (WorkflowRunStatus, u64)> + '_ {
        WorkflowRunStatus::ALL.into_iter().zip(self.0)
    }
}

fn slot(status: WorkflowRunStatus) -> usize {
    WorkflowRunStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or_default()
}

/// What a check of a store's file found, when it found nothing it could not mend.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checked {
    /// Every page and row the engine can verify is as it wrote it.
    Sound,
    /// The engine's own bookkeeping was wrong and it rebuilt it (redb's allocator state,
    /// as after a failed commit); every entry is as it was.
    Repaired {
        /// What was rebuilt, in the engine's words.
        what: String,
    },
}

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

    /// The first millisecond of the day, inclusive, and of the next day, exclusive (see
    /// [`day_bounds`]).
    pub fn bounds(&self) -> (i64, i64) {
        day_bounds(self.day)
    }

    /// Whether the span covers an entry with this id and time.
    pub fn covers(&self, id: LogId, ts: DateTime<Utc>) -> bool {
        id <= self.through && ts.date_naive() == self.day
    }
}

/// The first millisecond of `day` (UTC), inclusive, and of the day after, exclusive, in
/// milliseconds since 1970. Total over every `NaiveDate`, the last one included (whose next
/// day `chrono` cannot name); a day outside the times a store keeps simply has no entries.
pub fn day_bounds(day: NaiveDate) -> (i64, i64) {
    let start = number_of_day(day) * DAY_MILLIS;
    (start, start + DAY_MILLIS)
}

/// Milliseconds in a UTC day.
pub const DAY_MILLIS: i64 = 86_400_000;

/// The UTC day number (days since 1970-01-01, negative before) of a time in milliseconds:
/// what backends index entries by for [`crate::LogMaintenance::day_entries`].
pub fn day_number(millis: i64) -> i64 {
    millis.div_euclid(DAY_MILLIS)
}

/// The day numbered `number` (see [`day_number`]); `None` out of `chrono`'s range.
pub fn day_of_number(number: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(number.checked_mul(DAY_MILLIS)?).map(|t| t.date_naive())
}

/// The number of `day` (see [`day_number`]); total over every `NaiveDate`.
pub fn number_of_day(day: NaiveDate) -> i64 {
    day.signed_duration_since(DateTime::UNIX_EPOCH.date_naive())
        .num_days()
}

/// Whether `day` can hold entries: it lies within the times a store keeps.
pub fn day_in_range(day: NaiveDate) -> bool {
    let (start, _) = day_bounds(day);
    crate::range::millis_in_range(start)
}

/// How many entries [`day_stream`] fetches at a time.
pub const DAY_PAGE: usize = 1000;

/// Every entry of `day` in id order, fetched [`DAY_PAGE`] at a time: memory stays flat
/// whatever the day's size. Entries appended to the day while the stream runs are
/// included when their id comes after the page being read.
pub fn day_stream(
    store: &dyn crate::LogMaintenance,
    day: NaiveDate,
) -> impl Iterator<Item = crate::StoreResult<crate::LogEntry>> + '_ {
    let mut after: Option<LogId> = None;
    let mut page = std::vec::IntoIter::default();
    let mut done = false;
    std::iter::from_fn(move || {
        loop {
            if let Some(entry) = page.next() {
                return Some(Ok(entry));
            }
            if done {
                return None;
            }
            match store.day_entries(day, after, DAY_PAGE) {
                Ok(entries) => {
                    done = entries.len() < DAY_PAGE;
                    after = entries.last().map(|e: &crate::LogEntry| e.id).or(after);
                    page = entries.into_iter();
                }
                Err(err) => {
                    done = true;
                    return Some(Err(err));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_floor_before_and_after_1970() {
        assert_eq!(day_number(0), 0);
        assert_eq!(day_number(DAY_MILLIS - 1), 0);
        assert_eq!(day_number(-1), -1);
        assert_eq!(day_number(-DAY_MILLIS), -1);
        assert_eq!(day_number(-DAY_MILLIS - 1), -2);
        let day = NaiveDate::from_ymd_opt(1969, 12, 31).expect("a date");
        assert_eq!(number_of_day(day), -1);
        assert_eq!(day_of_number(-1), Some(day));
    }

    #[test]
    fn day_functions_are_total_over_every_date() {
        for day in [NaiveDate::MIN, NaiveDate::MAX] {
            let (start, end) = day_bounds(day);
            assert_eq!(end - start, DAY_MILLIS);
            assert_eq!(day_of_number(number_of_day(day)), Some(day));
            assert!(!day_in_range(day));
        }
        let first = NaiveDate::from_ymd_opt(0, 1, 1).expect("a date");
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");
        assert!(day_in_range(first) && day_in_range(last));
        assert_eq!(day_bounds(first).0, crate::kit::MIN_TS_MILLIS);
        assert_eq!(day_bounds(last).1 - 1, crate::kit::MAX_TS_MILLIS);
        assert!(!day_in_range(first.pred_opt().expect("a date")));
    }
}
