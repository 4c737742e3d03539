//! Time order: which entries a query by time finds as one range of ids, and how the write
//! path keeps the marks that find that range (docs/SPEC.md section 1, queries by time).
//!
//! A log's *mark* is the highest `ts` written to it so far. An entry appended at the log's
//! end (an id above every id given before it) whose `ts` is at most [`LATE_AFTER_MILLIS`]
//! below the mark is *in order*; any other entry is *late* (an explicit time far in the past,
//! a clock that stepped back, an entry restored below the log's end). The marks of in-order
//! entries never fall as their ids rise, so the in-order entries whose mark lies in an
//! interval are one range of ids; and since an in-order entry's `ts` is within
//! [`LATE_AFTER_MILLIS`] below its mark, every in-order entry of a time range lies in the
//! range of ids whose marks lie in the time range widened by that much at its end.
//!
//! A backend does not store each entry's mark: it keeps a *time mark* for each second the
//! mark reaches, the id of the first entry appended at or past it ([`TimeOrder::place`] says
//! when to add one), and a query by time finds its range of ids with one seek of those
//! ([`MarkSpan`]). A time mark is added at most once a second of the log's time, whatever
//! the rate of writes, and a mark below the log's first entry can be dropped
//! ([`marks_to_drop`]). Late entries are kept in a time index of their own and read whole for
//! a range: in a log that the store stamps, or whose writers lag by less than
//! [`LATE_AFTER_MILLIS`], there are none.

use chrono::{DateTime, Utc};

use crate::time::bound_millis;

/// How far below a log's mark an appended entry's `ts` may be and the entry still be in
/// order: ten minutes, more than the writers of a daemon lag (a unit prepared and committed
/// later, a worker's clock a little behind) and little enough that the entries a range's
/// walk passes for it are few.
pub const LATE_AFTER_MILLIS: i64 = 10 * 60 * 1000;

/// The width of a time mark: one second.
pub const TIME_MARK_MILLIS: i64 = 1000;

/// The time mark (a second of the log's time) that `millis` lies in.
pub fn time_mark_of(millis: i64) -> i64 {
    millis.div_euclid(TIME_MARK_MILLIS)
}

/// Where one written entry goes in the time order: whether it is late, and the time mark it
/// starts, if it is the first entry appended at or past a second of the log's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Whether the entry is late: kept in the time index of late entries.
    pub late: bool,
    /// The time mark to store with the entry's id as its first, when the entry starts one.
    pub starts_mark: Option<i64>,
}

/// A log's time order as a transaction extends it: its mark (the highest `ts` written) and
/// its last time mark, read from the store when the transaction writes its first entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOrder {
    highest: Option<i64>,
    last_mark: Option<i64>,
}

impl TimeOrder {
    /// The order of a log whose highest `ts` written is `highest` and whose last time mark
    /// is `last_mark` (`None`: none written, none kept).
    pub fn new(highest: Option<i64>, last_mark: Option<i64>) -> Self {
        TimeOrder { highest, last_mark }
    }

    /// The highest `ts` written, this transaction's included.
    pub fn highest(&self) -> Option<i64> {
        self.highest
    }

    /// Places an entry of time `ts` (ms): `at_end` when its id is above every id the log has
    /// given before it (an append, an import; a restore only past the log's end). Raises the
    /// mark whatever the entry, so call it for every entry written, in the order written.
    pub fn place(&mut self, ts: i64, at_end: bool) -> Placed {
        let highest = self.highest.map_or(ts, |highest| highest.max(ts));
        self.highest = Some(highest);
        let late = !at_end || ts < highest.saturating_sub(LATE_AFTER_MILLIS);
        let mark = time_mark_of(highest);
        let starts_mark = (at_end && self.last_mark.is_none_or(|last| mark > last)).then(|| {
            self.last_mark = Some(mark);
            mark
        });
        Placed { late, starts_mark }
    }
}

/// The time marks that bound the in-order entries of a time range: they lie at or after the
/// first id of the first time mark at or past `from`, and before the first id of the first
/// time mark at or past `past` (when there is one; without, to the log's end). No time mark
/// at or past `from`: no in-order entry is in the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkSpan {
    /// The lowest time mark an in-order entry of the range may have reached.
    pub from: Option<i64>,
    /// A time mark no in-order entry of the range reaches.
    pub past: Option<i64>,
}

impl MarkSpan {
    /// The span of `since..until` (either open): an in-order entry at or after `since` was
    /// written when the mark was at least its `ts`; one before `until`, when the mark was
    /// below `until` plus [`LATE_AFTER_MILLIS`].
    pub fn of(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Self {
        MarkSpan {
            from: since.map(|since| time_mark_of(bound_millis(since))),
            past: until.map(|until| {
                let highest_mark = bound_millis(until)
                    .saturating_add(LATE_AFTER_MILLIS)
                    .saturating_sub(1);
                time_mark_of(highest_mark).saturating_add(1)
            }),
        }
    }

    /// The first and the last id (inclusive) between which the range's in-order entries lie,
    /// from `first_id_from(mark)`, a seek of the time marks for the first id of the first
    /// mark at or past `mark`: from that of [`MarkSpan::from`] (the log's start when the
    /// range has none), to just before that of [`MarkSpan::past`] (the log's end when the
    /// range or the marks have none). `None` when no in-order entry can be in the range.
    ///
    /// # Errors
    /// What `first_id_from` returns.
    pub fn ids<E>(
        &self,
        mut first_id_from: impl FnMut(i64) -> Result<Option<u64>, E>,
    ) -> Result<Option<(u64, u64)>, E> {
        let first = match self.from {
            Some(mark) => first_id_from(mark)?,
            None => Some(0),
        };
        let last = match self.past {
            Some(mark) => first_id_from(mark)?.map_or(u64::MAX, |past| past.saturating_sub(1)),
            None => u64::MAX,
        };
        Ok(first
            .filter(|first| *first <= last)
            .map(|first| (first, last)))
    }
}

/// Of the time marks `marks` (mark, first id, in mark order), the ones to drop once the
/// log's lowest id is `lowest` (`None`: the log is empty): every one before the last whose
/// first id is at or below it. A range that starts before the log's first entry still
/// starts at or below it; every later mark is kept.
pub fn marks_to_drop(marks: &[(i64, u64)], lowest: Option<u64>) -> usize {
    match lowest {
        Some(lowest) => marks
            .iter()
            .rposition(|(_, first)| *first <= lowest)
            .unwrap_or(0),
        None => marks.len().saturating_sub(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).expect("in range")
    }

    #[test]
    fn an_entry_within_the_allowance_below_the_mark_is_in_order_and_one_past_it_is_late() {
        let mut order = TimeOrder::new(None, None);
        assert_eq!(
            order.place(1_000_000, true),
            Placed {
                late: false,
                starts_mark: Some(1000)
            }
        );
        let edge = 1_000_000 - LATE_AFTER_MILLIS;
        assert!(!order.place(edge, true).late);
        assert!(order.place(edge - 1, true).late);
        assert_eq!(order.highest(), Some(1_000_000));
    }

    #[test]
    fn an_entry_written_below_the_logs_end_is_late_and_starts_no_mark() {
        let mut order = TimeOrder::new(Some(5_000), Some(5));
        assert_eq!(
            order.place(9_000, false),
            Placed {
                late: true,
                starts_mark: None
            }
        );
        // The mark it raised is started by the next entry appended.
        assert_eq!(order.place(9_000, true).starts_mark, Some(9));
    }

    #[test]
    fn a_time_mark_is_started_once_per_second_of_the_logs_time() {
        let mut order = TimeOrder::new(None, None);
        let started: Vec<_> = [0, 10, 999, 1000, 500, 1999, 2000, 7000]
            .into_iter()
            .filter_map(|ts| order.place(ts, true).starts_mark)
            .collect();
        assert_eq!(started, [0, 1, 2, 7]);
    }

    #[test]
    fn a_span_widens_the_ranges_end_by_the_allowance() {
        let span = MarkSpan::of(Some(at(2_500)), Some(at(4_000)));
        assert_eq!(span.from, Some(2));
        // An entry before 4.000 s was written at a mark below 4.000 s + the allowance.
        assert_eq!(span.past, Some((4_000 + LATE_AFTER_MILLIS - 1) / 1000 + 1));
        assert_eq!(
            MarkSpan::of(None, None),
            MarkSpan {
                from: None,
                past: None
            }
        );
    }

    #[test]
    fn a_span_finds_its_ids_by_two_seeks_of_the_marks() {
        let marks = [(2, 10), (5, 40), (9, 70)];
        let seek = |mark: i64| -> Result<Option<u64>, ()> {
            Ok(marks.iter().find(|(m, _)| *m >= mark).map(|(_, id)| *id))
        };
        let span = |from, past| MarkSpan { from, past };
        assert_eq!(span(Some(3), Some(9)).ids(seek), Ok(Some((40, 69))));
        assert_eq!(span(None, Some(5)).ids(seek), Ok(Some((0, 39))));
        assert_eq!(span(Some(1), None).ids(seek), Ok(Some((10, u64::MAX))));
        assert_eq!(span(Some(6), Some(10)).ids(seek), Ok(Some((70, u64::MAX))));
        assert_eq!(span(Some(10), None).ids(seek), Ok(None), "no mark that far");
        assert_eq!(span(Some(2), Some(2)).ids(seek), Ok(None), "an empty span");
    }

    #[test]
    fn marks_below_the_logs_first_entry_are_dropped_but_the_last_of_them() {
        let marks = [(1, 10), (2, 20), (3, 30)];
        assert_eq!(marks_to_drop(&marks, Some(25)), 1);
        assert_eq!(marks_to_drop(&marks, Some(30)), 2);
        assert_eq!(marks_to_drop(&marks, Some(5)), 0);
        assert_eq!(marks_to_drop(&marks, None), 2);
        assert_eq!(marks_to_drop(&[], None), 0);
    }
}
