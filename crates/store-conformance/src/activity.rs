//! SPEC 1, activity: the entries and the transitions to each status that the log holds per
//! UTC hour, counted by the writes and equal to a walk of the log after any of them.

use chrono::{DateTime, Duration, Utc};
use store_core::kit::{ActivityCheck, check_activity, count_entries};
use store_core::{
    AUDIT_KIND, AUDIT_SOURCE, ActivitySeries, DaySpan, HourCount, LogBackend, NewLogEntry,
    RunTransition, ThreadMessage, WorkflowRunStatus, max_ts, min_ts,
};

use super::log::minutes;
use super::{Fixture, Harness, OpenStore, all_entries, observable_state};

/// The store's counts of every hour.
fn counts(store: &dyn LogBackend) -> Vec<HourCount> {
    store.activity(min_ts(), max_ts()).expect("the activity")
}

/// The store's counts equal a walk of its log, over every hour and over `since..until`.
fn assert_counts_walk(store: &dyn LogBackend, since: DateTime<Utc>, until: DateTime<Utc>) {
    let entries = all_entries(store);
    assert_eq!(
        counts(store),
        count_entries(&entries, min_ts(), max_ts()).expect("a walk")
    );
    assert_eq!(
        store.activity(since, until).expect("a range"),
        count_entries(&entries, since, until).expect("a walk"),
        "{since}..{until}"
    );
}

/// How many of `series` the counts give the hour that starts at `hour`.
fn count_of(counts: &[HourCount], hour: DateTime<Utc>, series: ActivitySeries) -> u64 {
    counts
        .iter()
        .find(|count| count.hour == hour && count.series == series)
        .map_or(0, |count| count.count)
}

fn at_hour(hour: i64, minute: i64) -> DateTime<Utc> {
    minutes(hour * 60 + minute)
}

/// Each hour counts its entries (appends, batches, thread messages, transitions, late ones,
/// before 1970 too), and each transition counts once more under the status it moved to; an
/// entry that only looks like a transition counts as an entry. A range answers the hours it
/// overlaps, from the hour that holds its start.
pub fn activity_counts_each_hours_entries_and_transitions_by_status(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    assert_eq!(counts(store), Vec::new(), "an empty log counts nothing");
    let base = at_hour(0, 0);
    store
        .append_batch(
            (0..5)
                .map(|i| NewLogEntry::new("s", "k", "x").at(at_hour(0, i * 7)))
                .collect(),
        )
        .expect("a batch in hour 0");
    store
        .append(NewLogEntry::new("s", "k", "x").at(at_hour(2, 59)))
        .expect("hour 2");
    store
        .append(NewLogEntry::new("s", "k", "late").at(at_hour(0, 59)))
        .expect("a late entry in hour 0");
    let before_1970 = DateTime::from_timestamp_millis(-1).expect("a time");
    store
        .append(NewLogEntry::new("s", "k", "x").at(before_1970))
        .expect("before 1970");
    store
        .append(
            NewLogEntry::new(AUDIT_SOURCE, AUDIT_KIND, "{\"to\": \"no such\"}").at(at_hour(1, 0)),
        )
        .expect("an entry that looks like a transition");
    for (run, to) in [
        ("a", WorkflowRunStatus::Failed),
        ("b", WorkflowRunStatus::Completed),
    ] {
        store
            .transition_run(
                RunTransition::new(run, "wf", WorkflowRunStatus::Started).at(at_hour(1, 5)),
            )
            .expect("start");
        store
            .transition_run(RunTransition::new(run, "wf", to).at(at_hour(1, 30)))
            .expect("end");
    }
    store
        .append_thread_message(ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 0,
            payload: "hello".into(),
            ts: Some(at_hour(2, 0)),
        })
        .expect("a message");

    let all = counts(store);
    let hour = |h: i64| base + Duration::hours(h);
    assert_eq!(count_of(&all, hour(0), ActivitySeries::Entries), 6);
    assert_eq!(count_of(&all, hour(1), ActivitySeries::Entries), 5);
    assert_eq!(count_of(&all, hour(2), ActivitySeries::Entries), 2);
    let started = ActivitySeries::Transitions(WorkflowRunStatus::Started);
    let failed = ActivitySeries::Transitions(WorkflowRunStatus::Failed);
    let completed = ActivitySeries::Transitions(WorkflowRunStatus::Completed);
    assert_eq!(count_of(&all, hour(1), started), 2);
    assert_eq!(count_of(&all, hour(1), failed), 1);
    assert_eq!(count_of(&all, hour(1), completed), 1);
    assert_eq!(count_of(&all, hour(0), failed), 0);
    let epoch = DateTime::from_timestamp_millis(-3_600_000).expect("an hour");
    assert_eq!(
        count_of(&all, epoch, ActivitySeries::Entries),
        1,
        "the hour before 1970"
    );
    assert_eq!(all.len(), 7, "{all:?}");

    // A range from the middle of hour 1 to the first minute of hour 2: both hours.
    let some = store
        .activity(at_hour(1, 40), at_hour(2, 1))
        .expect("a range");
    assert_eq!(
        some,
        all.iter()
            .copied()
            .filter(|c| c.hour >= hour(1) && c.hour <= hour(2))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        store.activity(at_hour(1, 0), at_hour(1, 0)).expect("empty"),
        Vec::new()
    );
    assert_counts_walk(store, at_hour(0, 30), at_hour(1, 31));
}

/// Deleting days counts their entries out, restoring them counts them in again, and the
/// counts survive reopening and a read-only open.
pub fn activity_follows_deletions_restores_and_reopening(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let store = fx.store();
    for day in 0..3 {
        for hour in [1, 13] {
            let at = at_hour(day * 24 + hour, 0);
            store
                .append_batch(
                    (0..3)
                        .map(|_| NewLogEntry::new("s", "k", "x").at(at))
                        .collect(),
                )
                .expect("entries");
            store
                .transition_run(
                    RunTransition::new(format!("r{day}-{hour}"), "wf", WorkflowRunStatus::Queued)
                        .at(at),
                )
                .expect("a run");
        }
    }
    let before = counts(store);
    let day_one = at_hour(24, 0).date_naive();
    let batch = {
        let entries = store.day_entries(day_one, None, usize::MAX).expect("day 1");
        let ids: Vec<_> = entries.iter().map(|e| e.id).collect();
        store_core::RestoreBatch {
            thread_rows: store.thread_rows(&ids).expect("rows"),
            references: store.entry_references(&ids).expect("refs"),
            entries,
        }
    };
    let last = batch.entries.last().expect("day 1 has entries").id;
    store
        .delete_days(&[DaySpan::new(day_one, last)], &[])
        .expect("delete day 1");
    let after_delete = counts(store);
    assert!(
        after_delete.iter().all(|c| c.hour.date_naive() != day_one),
        "day 1 counted out: {after_delete:?}"
    );
    assert_eq!(after_delete.len(), before.len() - 4);
    assert_counts_walk(store, at_hour(20, 0), at_hour(40, 0));
    store.restore(batch.clone()).expect("restore day 1");
    assert_eq!(counts(store), before, "restored, counted again");
    store.restore(batch).expect("restore day 1 again");
    assert_eq!(
        counts(store),
        before,
        "a restore that writes nothing counts nothing"
    );
    fx.reopen();
    assert_eq!(counts(fx.store()), before, "after reopening");
    observable_state(fx.store(), &[]);
}

/// A transition's entry with a payload too big to keep in its row (a JSON object over a
/// MiB that names a status) is counted under that status, and out again when its day is
/// deleted.
pub fn activity_counts_a_big_transition_payload_in_and_out(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let payload = format!("{{\"to\":\"failed\",\"pad\":\"{}\"}}", "p".repeat(3 << 20));
    let entry = store
        .append(NewLogEntry::new(AUDIT_SOURCE, AUDIT_KIND, payload).at(at_hour(5, 0)))
        .expect("a big payload");
    let failed = ActivitySeries::Transitions(WorkflowRunStatus::Failed);
    assert_eq!(count_of(&counts(store), at_hour(5, 0), failed), 1);
    store
        .delete_days(&[DaySpan::new(entry.ts.date_naive(), entry.id)], &[])
        .expect("delete its day");
    assert_eq!(counts(store), Vec::new(), "nothing left counted");
}

/// Over many groups of writes from several threads (more than a PostgreSQL handle writes
/// between two moves of its count's mark), deletions among them, the counts stay those of
/// the log.
pub fn activity_stays_exact_across_many_groups_of_writes(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    std::thread::scope(|scope| {
        for writer in 0..4i64 {
            scope.spawn(move || {
                for group in 0..10i64 {
                    let at = at_hour(writer * 5 + group % 5, group);
                    store
                        .append_batch(
                            (0..500)
                                .map(|_| NewLogEntry::new("s", "k", "x").at(at))
                                .collect(),
                        )
                        .expect("a group");
                }
            });
        }
    });
    assert_eq!(all_entries(store).len(), 20_000);
    assert_counts_walk(store, at_hour(3, 0), at_hour(12, 0));
    let day = at_hour(0, 0).date_naive();
    let through = all_entries(store)[12_000].id;
    store
        .delete_days(&[DaySpan::new(day, through)], &[])
        .expect("delete part of the day");
    assert_counts_walk(store, at_hour(3, 0), at_hour(12, 0));
}

/// A store of the schema before activity counts is counted whole at its first writable
/// open: its counts are then those of its log.
pub fn an_older_store_gains_its_activity_counts_at_its_first_writable_open(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = harness.open(dir.path()).expect("create");
    for hour in 0..30 {
        store
            .append_batch(
                (0..=hour % 4)
                    .map(|_| NewLogEntry::new("s", "k", "x").at(at_hour(hour, 0)))
                    .collect(),
            )
            .expect("entries");
        store
            .transition_run(
                RunTransition::new(format!("r{hour}"), "wf", WorkflowRunStatus::Started)
                    .at(at_hour(hour, 1)),
            )
            .expect("a run");
    }
    let expected = counts(store.as_ref());
    assert!(!expected.is_empty());
    drop(store);
    harness.forget_activity(dir.path());
    let store = harness.open(dir.path()).expect("an older store opens");
    assert_eq!(counts(store.as_ref()), expected);
    observable_state(store.as_ref(), &[]);
}

/// A count changed behind the store's back is found by a walk of the log
/// ([`store_core::kit::check_activity`], what `nerve-store check` runs), which names its hour
/// and series; before, the walk and the counts agree.
pub fn a_count_changed_behind_the_stores_back_is_found_by_a_walk(harness: &dyn Harness) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = harness.open(dir.path()).expect("create");
    for hour in 0..3 {
        store
            .append_batch(
                (0..5)
                    .map(|_| NewLogEntry::new("s", "k", "x").at(at_hour(hour, 0)))
                    .collect(),
            )
            .expect("entries");
    }
    // On PostgreSQL the counts live under the mark: compact moves it over every entry.
    store.compact().expect("compact");
    assert_eq!(
        check_activity(store.as_ref()).expect("a walk"),
        ActivityCheck::Agree { counts: 3 }
    );
    drop(store);
    harness.tamper_activity(dir.path());
    let store = harness.open(dir.path()).expect("opens");
    assert_eq!(
        check_activity(store.as_ref()).expect("a walk"),
        ActivityCheck::Differ {
            hour: at_hour(0, 0),
            series: ActivitySeries::Entries,
            kept: 6,
            walked: 5,
        }
    );
}
