//! Activity: how many entries the log holds per UTC hour, and among them how many record a
//! run's move to each status, kept by the write path so that a chart of a month reads a few
//! hundred counts, not the month's entries (`docs/SPEC.md` section 1, activity).
//!
//! The counts are a function of the entries the log holds: every write that adds entries
//! (an append, a transition, a thread message, an import, a restore) adds them in its own
//! transaction, and [`crate::LogMaintenance::delete_days`] takes them out again, so after
//! any sequence of writes the counts of an hour are those a walk of its entries would give.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::log::LogEntry;
use crate::run::{AUDIT_KIND, AUDIT_SOURCE};
use crate::status::WorkflowRunStatus;
use crate::time::time_from_millis;

/// Milliseconds in an hour, the activity's unit.
pub const HOUR_MILLIS: i64 = 3_600_000;

/// What an activity count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActivitySeries {
    /// Every entry of the hour.
    Entries,
    /// The entries of the hour that record a run's move to this status: source
    /// [`AUDIT_SOURCE`], kind [`AUDIT_KIND`], a JSON payload whose `to` names the status (what
    /// [`crate::LogStore::transition_run`] writes).
    Transitions(WorkflowRunStatus),
}

impl ActivitySeries {
    /// Every series: the entries, then the transitions to each status in
    /// [`WorkflowRunStatus::ALL`]'s order.
    pub fn all() -> impl Iterator<Item = ActivitySeries> {
        std::iter::once(ActivitySeries::Entries)
            .chain(WorkflowRunStatus::ALL.map(ActivitySeries::Transitions))
    }

    /// The series' stored name: `entries`, or `run:` and the status (`run:failed`).
    pub fn key(self) -> String {
        match self {
            ActivitySeries::Entries => "entries".to_owned(),
            ActivitySeries::Transitions(status) => format!("run:{}", status.as_str()),
        }
    }

    /// The series a stored name names, if any.
    pub fn from_key(key: &str) -> Option<ActivitySeries> {
        if key == "entries" {
            return Some(ActivitySeries::Entries);
        }
        let status = key.strip_prefix("run:")?.parse().ok()?;
        Some(ActivitySeries::Transitions(status))
    }

    /// The series `entry` counts in besides [`ActivitySeries::Entries`]: the status it
    /// records a move to, for a transition's entry.
    pub fn transition_of(source: &str, kind: &str, payload: &str) -> Option<ActivitySeries> {
        if source != AUDIT_SOURCE || kind != AUDIT_KIND {
            return None;
        }
        #[derive(serde::Deserialize)]
        struct Moved {
            to: WorkflowRunStatus,
        }
        let moved: Moved = serde_json::from_str(payload).ok()?;
        Some(ActivitySeries::Transitions(moved.to))
    }
}

impl fmt::Display for ActivitySeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// How many entries of one series one UTC hour holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourCount {
    /// The hour's first millisecond.
    pub hour: DateTime<Utc>,
    /// What is counted.
    pub series: ActivitySeries,
    /// How many.
    pub count: u64,
}

/// The number of the UTC hour that holds the millisecond `ts` (floor division: hours before
/// 1970 are negative).
pub fn hour_number(ts_millis: i64) -> i64 {
    ts_millis.div_euclid(HOUR_MILLIS)
}

/// The hours a read of `since..until` covers, as numbers: from the hour that holds `since`
/// up to the hour that holds the last millisecond before `until`. Empty when `until` is not
/// after `since`.
pub fn hours_between(since: DateTime<Utc>, until: DateTime<Utc>) -> std::ops::Range<i64> {
    let first = hour_number(since.timestamp_millis());
    if until <= since {
        return first..first;
    }
    let last = hour_number(crate::time::bound_millis(until).saturating_sub(1));
    first..last.saturating_add(1)
}

/// What one transaction changes of the activity counts: a backend tallies each entry it
/// writes or deletes here and stores the changes once, before it commits.
#[derive(Debug, Default, Clone)]
pub struct ActivityTally {
    changes: BTreeMap<(i64, ActivitySeries), i64>,
}

impl ActivityTally {
    /// A tally that changes nothing yet.
    pub fn new() -> Self {
        ActivityTally::default()
    }

    /// Counts `entry` in (`+1`) or out (`-1`).
    pub fn entry(&mut self, entry: &LogEntry, delta: i64) {
        let transition = ActivitySeries::transition_of(&entry.source, &entry.kind, &entry.payload);
        self.counted(entry.ts.timestamp_millis(), transition, delta);
    }

    /// Counts an entry of the hour of `ts_millis` in (`+1`) or out (`-1`), and under
    /// `transition` too when it records a run's move ([`ActivitySeries::transition_of`]):
    /// what a backend that reads rows rather than entries tallies.
    pub fn counted(&mut self, ts_millis: i64, transition: Option<ActivitySeries>, delta: i64) {
        self.count(ts_millis, ActivitySeries::Entries, delta);
        if let Some(series) = transition {
            self.count(ts_millis, series, delta);
        }
    }

    /// Counts `delta` more of `series` in the hour of `ts_millis`: what a backend that reads
    /// the times of a deletion's rows, and the transitions among them apart, tallies.
    pub fn count(&mut self, ts_millis: i64, series: ActivitySeries, delta: i64) {
        self.add(hour_number(ts_millis), series, delta);
    }

    /// Adds a stored count: `n` of the series named `key` in hour number `hour`, as a table
    /// of counts keeps it.
    ///
    /// # Errors
    /// [`crate::StoreError::CorruptValue`] naming `table` for a name no series has.
    pub fn add_stored(
        &mut self,
        table: &'static str,
        hour: i64,
        key: &str,
        n: i64,
    ) -> crate::StoreResult<()> {
        let series = ActivitySeries::from_key(key)
            .ok_or_else(|| crate::StoreError::corrupt(table, key, "no such activity series"))?;
        self.add(hour, series, n);
        Ok(())
    }

    fn add(&mut self, hour: i64, series: ActivitySeries, n: i64) {
        *self.changes.entry((hour, series)).or_default() += n;
    }

    /// The changes to store, by (hour number, series): the ones that are not zero.
    pub fn changes(&self) -> impl Iterator<Item = (i64, ActivitySeries, i64)> + '_ {
        self.changes
            .iter()
            .filter(|(_, delta)| **delta != 0)
            .map(|((hour, series), delta)| (*hour, *series, *delta))
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.changes().next().is_none()
    }

    /// What the tally holds as counts, in (hour, series) order, leaving out zeros: the
    /// answer of a read that added up stored counts, or of a walk.
    ///
    /// # Errors
    /// [`crate::StoreError::CorruptValue`] naming `table` for a negative count or an hour
    /// outside the times a store keeps.
    pub fn counts(&self, table: &'static str) -> crate::StoreResult<Vec<HourCount>> {
        self.changes()
            .map(|(hour, series, count)| {
                let key = series.key();
                let count = u64::try_from(count).map_err(|_| {
                    crate::StoreError::corrupt(
                        table,
                        &key,
                        format!("a count of {count} at hour {hour}"),
                    )
                })?;
                let hour = time_from_millis(hour.saturating_mul(HOUR_MILLIS), table, &key)?;
                Ok(HourCount {
                    hour,
                    series,
                    count,
                })
            })
            .collect()
    }
}

/// Turns stored (hour number, series name, count) rows into [`HourCount`]s in (hour, series)
/// order, leaving out counts of zero ([`ActivityTally::add_stored`], then
/// [`ActivityTally::counts`]).
///
/// # Errors
/// [`crate::StoreError::CorruptValue`] naming `table`: a name no series has, a negative
/// count, an hour outside the kept times.
pub fn hour_counts(
    table: &'static str,
    rows: impl IntoIterator<Item = (i64, String, i64)>,
) -> crate::StoreResult<Vec<HourCount>> {
    let mut tally = ActivityTally::new();
    for (hour, key, count) in rows {
        tally.add_stored(table, hour, &key, count)?;
    }
    tally.counts(table)
}

/// The activity of `entries` by walking them: what the counts must equal, for tests and
/// for checks.
///
/// # Errors
/// As [`ActivityTally::counts`] (table `logs`), for an entry outside the kept times.
pub fn count_entries<'a>(
    entries: impl IntoIterator<Item = &'a LogEntry>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> crate::StoreResult<Vec<HourCount>> {
    let hours = hours_between(since, until);
    let mut tally = ActivityTally::new();
    for entry in entries {
        if hours.contains(&hour_number(entry.ts.timestamp_millis())) {
            tally.entry(entry, 1);
        }
    }
    tally.counts("logs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::WorkflowRunStatus::Failed;

    #[test]
    fn series_names_go_both_ways() {
        for series in ActivitySeries::all() {
            assert_eq!(ActivitySeries::from_key(&series.key()), Some(series));
        }
        assert_eq!(ActivitySeries::from_key("run:nothing"), None);
        assert_eq!(ActivitySeries::from_key("Entries"), None);
    }

    #[test]
    fn only_a_transitions_entry_with_a_status_counts_as_one() {
        let moved = r#"{"to":"failed","from":"started"}"#;
        assert_eq!(
            ActivitySeries::transition_of(AUDIT_SOURCE, AUDIT_KIND, moved),
            Some(ActivitySeries::Transitions(Failed))
        );
        assert_eq!(
            ActivitySeries::transition_of("app", AUDIT_KIND, moved),
            None
        );
        assert_eq!(
            ActivitySeries::transition_of(AUDIT_SOURCE, AUDIT_KIND, "x"),
            None
        );
        assert_eq!(
            ActivitySeries::transition_of(AUDIT_SOURCE, AUDIT_KIND, r#"{"to":"lost"}"#),
            None
        );
    }

    #[test]
    fn hours_floor_before_1970_and_cover_a_partial_last_hour() {
        assert_eq!(hour_number(-1), -1);
        assert_eq!(hour_number(0), 0);
        assert_eq!(hour_number(HOUR_MILLIS), 1);
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        assert_eq!(hours_between(at(10), at(HOUR_MILLIS)), 0..1);
        assert_eq!(hours_between(at(10), at(HOUR_MILLIS + 1)), 0..2);
        assert_eq!(hours_between(at(10), at(10)), 0..0);
    }

    #[test]
    fn a_tally_drops_what_cancels_out() {
        let mut tally = ActivityTally::new();
        tally.counted(5, None, 1);
        tally.counted(6, None, -1);
        assert!(tally.is_empty());
        tally.counted(HOUR_MILLIS, None, 1);
        assert_eq!(
            tally.changes().collect::<Vec<_>>(),
            [(1, ActivitySeries::Entries, 1)]
        );
    }
}
