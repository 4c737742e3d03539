//! The migration of a file whose every entry below an earlier `ts` was late to the time
//! order with an allowance ([`store_core::kit::TimeOrder`]): what a backend's own test of
//! that migration writes before it turns its file back, and checks after the first writable
//! open. The turning back is the backend's (its tables); the rest is the same for all.

use chrono::{DateTime, Duration, Utc};
use store_core::{LogBackend, LogEntry, LogQuery, NewLogEntry, Order};

use crate::{observable_state, reference_query};

fn minute(m: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::minutes(m)
}

/// What [`write_lagging_entries`] wrote, and what the migration must make of it.
pub struct Lagging {
    /// The entries written, in id order.
    pub entries: Vec<LogEntry>,
    /// What the store showed before it was turned back ([`observable_state`]).
    pub state: String,
    /// How many entries the older rule keeps late: every one below an earlier `ts`.
    pub late_before: usize,
    /// How many stay late after the migration: only those past the allowance.
    pub late_after: usize,
}

/// Writes 900 entries two a minute, every third of which lags behind those before it: by 3
/// minutes (within the allowance), or by 40 (past it) every ninth.
///
/// # Panics
/// When a write fails.
pub fn write_lagging_entries(store: &dyn LogBackend) -> Lagging {
    let batch = (0..900_i64)
        .map(|i| {
            let lag = match i % 9 {
                0 => 40,
                3 | 6 => 3,
                _ => 0,
            };
            NewLogEntry::new(["a", "b"][(i % 2) as usize], "k", format!("{i}"))
                .at(minute(i / 2 - lag))
        })
        .collect();
    let entries = store.append_batch(batch).expect("entries");
    Lagging {
        state: observable_state(store, &[]),
        entries,
        // Every lagging entry but the first: nothing was written before it.
        late_before: 299,
        late_after: 99,
    }
}

impl Lagging {
    /// Checks the store once migrated: it shows what it did before, and its time ranges
    /// answer as the reference does, with entries added after the migration too.
    ///
    /// # Panics
    /// When it does not.
    pub fn check_migrated(&self, store: &dyn LogBackend) {
        assert_eq!(observable_state(store, &[]), self.state);
        let more = store
            .append_batch(
                (0..50)
                    .map(|i| {
                        NewLogEntry::new("a", "k", format!("more {i}")).at(minute(440 + i % 7))
                    })
                    .collect(),
            )
            .expect("more entries");
        let all: Vec<_> = self.entries.iter().cloned().chain(more).collect();
        for (since, until) in [(0, 60), (100, 101), (200, 450), (-50, 10), (445, 500)] {
            for order in [Order::Ascending, Order::Descending] {
                let query = LogQuery {
                    since: Some(minute(since)),
                    until: Some(minute(until)),
                    order,
                    limit: Some(usize::MAX),
                    ..LogQuery::default()
                };
                assert_eq!(
                    store.query(&query).expect("a range"),
                    reference_query(&all, &query),
                    "{since}..{until} {order:?}"
                );
            }
        }
    }
}

/// Deleting a log's oldest days drops their time marks (all but the last below the log's
/// first entry), so that the marks stay as bounded as the log; every time range answers as
/// the reference does before and after. `count_marks` counts the store's time marks.
///
/// # Panics
/// When a write fails, the marks are not dropped, or a range answers otherwise.
pub fn deleting_days_drops_their_time_marks(
    store: &dyn LogBackend,
    count_marks: impl Fn() -> usize,
) {
    let day = |d: i64| minute(d * 24 * 60);
    for d in 0..4 {
        store
            .append_batch(
                (0..100)
                    .map(|i| {
                        NewLogEntry::new("s", "k", format!("{d}.{i}"))
                            .at(day(d) + Duration::minutes(i))
                    })
                    .collect(),
            )
            .expect("a day of entries");
    }
    assert_eq!(
        count_marks(),
        400,
        "one mark a second the log's time reached"
    );
    let entries = crate::all_entries(store);
    crate::assert_time_ranges_answer_the_log(store, &entries);
    let spans: Vec<_> = entries[..200]
        .chunks(100)
        .map(|day| {
            let last = day.last().expect("a day");
            store_core::DaySpan::new(last.ts.date_naive(), last.id)
        })
        .collect();
    store.delete_days(&spans, &[]).expect("delete two days");
    // The first entry left started a mark: none below it is needed.
    assert_eq!(count_marks(), 200, "the marks of the days left");
    crate::assert_time_ranges_answer_the_log(store, &entries[200..]);
    store.delete_days(&[], &[]).expect("delete nothing");
    assert_eq!(count_marks(), 200, "nothing more to drop");
}
