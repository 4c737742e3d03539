//! SPEC 1, maintenance (what the archive needs): a day's entries in id order, page by page
//! and as a stream; the days that have entries; compacting; checking the file.

use chrono::{Duration, NaiveDate};

use super::log::minutes;
use super::{Fixture, OpenStore, all_entries};
use store_core::{
    Checked, DaySpan, LogEntry, LogId, LogStats, NewLogEntry, RunCounts, RunTransition,
    WorkflowRunStatus, WriteUnit, kit::day_stream,
};

fn on_day(day: i64, minute: i64, payload: &str) -> NewLogEntry {
    NewLogEntry::new("s", "k", payload).at(minutes(day * 24 * 60 + minute))
}

fn day(offset: i64) -> NaiveDate {
    minutes(offset * 24 * 60).date_naive()
}

/// A day's entries come in id order, however their times are ordered within the day,
/// page after page without gaps, and without the entries of other days.
pub fn a_day_pages_in_id_order_without_other_days(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let batch = (0..30)
        .map(|i| on_day(i % 3, (29 - i) * 7, &i.to_string()))
        .collect();
    let entries = store.append_batch(batch).expect("three interleaved days");
    let late = store
        .append(on_day(1, 5, "late"))
        .expect("a late arrival on day 1");
    let mut expected: Vec<LogEntry> = entries
        .iter()
        .filter(|e| e.ts.date_naive() == day(1))
        .cloned()
        .collect();
    expected.push(late);

    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = store
            .day_entries(day(1), after, 3)
            .expect("a page of day 1");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page);
    }
    assert_eq!(seen, expected);
    assert!(
        store
            .day_entries(day(7), None, 10)
            .expect("an empty day")
            .is_empty()
    );
    assert!(
        store
            .day_entries(day(1), None, 0)
            .expect("limit 0")
            .is_empty()
    );
    assert!(
        store
            .day_entries(day(1), Some(LogId(u64::MAX)), 10)
            .expect("after the end")
            .is_empty()
    );
}

/// `day_stream` yields a day larger than a page whole, in id order.
pub fn a_day_larger_than_a_page_streams_whole(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let size = store_core::kit::DAY_PAGE * 2 + 17;
    let batch = (0..size)
        .map(|i| on_day(0, (i % 1000) as i64, "x"))
        .collect();
    let entries = store.append_batch(batch).expect("a big day");
    store.append(on_day(1, 0, "next day")).expect("another day");
    let streamed: Vec<LogEntry> = day_stream(store, day(0))
        .collect::<Result<_, _>>()
        .expect("stream");
    assert_eq!(streamed, entries);
}

/// `next_log_day` walks the days that have entries, in order, before 1970 too, skipping
/// empty days and days whose entries were deleted.
pub fn next_log_day_walks_the_days_with_entries(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    assert_eq!(store.next_log_day(None).expect("an empty log"), None);
    let epoch = chrono::DateTime::UNIX_EPOCH;
    let before_1970 = store
        .append(NewLogEntry::new("s", "k", "old").at(epoch - Duration::milliseconds(1)))
        .expect("the last millisecond of 1969");
    store.append(on_day(5, 0, "a")).expect("append");
    let deleted = store.append(on_day(3, 0, "b")).expect("append");
    store.append(on_day(0, 1439, "c")).expect("append");
    store
        .delete_days(&[DaySpan::new(day(3), deleted.id)], &[])
        .expect("delete day 3");

    let mut days = Vec::new();
    let mut after = None;
    while let Some(next) = store.next_log_day(after).expect("next day") {
        days.push(next);
        after = Some(next);
    }
    assert_eq!(days, vec![before_1970.ts.date_naive(), day(0), day(5)]);
    assert_eq!(
        before_1970.ts.date_naive(),
        NaiveDate::from_ymd_opt(1969, 12, 31).expect("date")
    );
}

/// `log_stats` counts the entries and names the first and last days with entries, after
/// appends out of time order, a deleted day and reopening.
pub fn log_stats_counts_entries_and_finds_the_first_and_last_day(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let store = fx.store();
    assert_eq!(
        store.log_stats().expect("an empty log"),
        LogStats::default()
    );
    store.append(on_day(4, 10, "middle")).expect("append");
    let last = store.append(on_day(9, 0, "last")).expect("append");
    let first = store.append(on_day(-2, 1439, "first")).expect("append");
    store
        .append_batch((0..20).map(|i| on_day(4, i, "x")).collect())
        .expect("a batch");
    let expected = LogStats {
        entries: 23,
        first_day: Some(day(-2)),
        last_day: Some(day(9)),
        runs: RunCounts::default(),
    };
    assert_eq!(store.log_stats().expect("stats"), expected);
    store
        .delete_days(
            &[
                DaySpan::new(day(-2), first.id),
                DaySpan::new(day(9), last.id),
            ],
            &[],
        )
        .expect("delete the first and last days");
    let after_delete = LogStats {
        entries: 21,
        first_day: Some(day(4)),
        last_day: Some(day(4)),
        runs: RunCounts::default(),
    };
    assert_eq!(store.log_stats().expect("stats"), after_delete);
    assert_eq!(all_entries(store).len(), 21);
    fx.reopen();
    assert_eq!(fx.store().log_stats().expect("stats"), after_delete);
}

/// Compacting after deletions keeps every entry as it was, and ids go on increasing.
pub fn compact_keeps_every_entry_and_id(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let store = fx.store();
    let old = store
        .append_batch(
            (0..500)
                .map(|i| on_day(0, i % 1000, &"x".repeat(200)))
                .collect(),
        )
        .expect("a day to delete");
    let kept = store
        .append_batch((0..50).map(|i| on_day(1, i, "kept")).collect())
        .expect("a day to keep");
    store
        .delete_days(&[DaySpan::new(day(0), old[499].id)], &[])
        .expect("delete day 0");
    store.compact().expect("compact");
    assert_eq!(all_entries(store), kept);
    let next = store
        .append(on_day(2, 0, "after"))
        .expect("append after compacting");
    assert!(next.id > kept[49].id && next.id > old[499].id);
    fx.reopen();
    assert_eq!(all_entries(fx.store()).len(), 51);
}

/// A check of a store that nothing damaged finds it sound, and changes nothing: every entry
/// stays, and writes go on with the next ids.
pub fn a_check_finds_a_sound_store_sound_and_changes_nothing(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let store = fx.store();
    let written = store
        .append_batch((0..300).map(|i| on_day(i / 100, i, "x")).collect())
        .expect("entries");
    store.meta_set("k", "v").expect("meta");
    assert_eq!(store.check().expect("check"), Checked::Sound);
    assert_eq!(all_entries(store), written);
    let next = store
        .append(on_day(4, 0, "after"))
        .expect("append after the check");
    assert!(next.id > written[299].id);
    fx.reopen();
    assert_eq!(
        fx.store().check().expect("check after reopening"),
        Checked::Sound
    );
    assert_eq!(all_entries(fx.store()).len(), 301);
}

/// `log_stats` counts the runs of each status as they move, and a refused transition or
/// unit moves nothing; the counts survive reopening.
pub fn log_stats_counts_runs_by_status_as_they_move(open: OpenStore) {
    use WorkflowRunStatus::{Completed, Failed, Queued, Started};
    let mut fx = Fixture::new(open);
    let store = fx.store();
    let step = |run: &str, to| {
        store
            .transition_run(RunTransition::new(run, "wf", to))
            .expect("a valid transition");
    };
    for (run, path) in [
        ("a", &[Queued, Started, Completed][..]),
        ("b", &[Started][..]),
        ("c", &[Queued][..]),
        ("d", &[Started, Failed][..]),
        ("e", &[Queued, Started][..]),
    ] {
        for to in path {
            step(run, *to);
        }
    }
    store
        .transition_run(RunTransition::new("a", "wf", Started))
        .expect_err("completed is final");
    store
        .write_unit(
            WriteUnit::new()
                .transition(RunTransition::new("c", "wf", Started))
                .transition(RunTransition::new("b", "wf", Queued)),
        )
        .expect_err("a unit with an invalid transition writes nothing");
    let expected = RunCounts::default()
        .with(Queued, 1)
        .with(Started, 2)
        .with(Completed, 1)
        .with(Failed, 1);
    let stats = store.log_stats().expect("stats");
    assert_eq!(stats.runs, expected);
    assert_eq!(stats.runs.total(), 5);
    assert_eq!(stats.entries, all_entries(store).len() as u64);
    fx.reopen();
    assert_eq!(fx.store().log_stats().expect("stats").runs, expected);
}
