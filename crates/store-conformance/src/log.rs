//! SPEC 1, the log: ids, batches, persistence, and every `LogQuery` field against the
//! reference semantics.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{Fixture, OpenStore, all_entries, collect_pages, reference_query};
use store_core::{
    DaySpan, Digest, LogBackend, LogEntry, LogId, LogQuery, NewLogEntry, Order, StoreError,
};

/// Midnight UTC of the day the suite's fixed times fall on.
pub fn base_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_478_400, 0).expect("2026-11-24T00:00:00Z is a valid time")
}

/// `base_time()` plus `minutes`.
pub fn minutes(minutes: i64) -> DateTime<Utc> {
    base_time() + Duration::minutes(minutes)
}

fn day(offset: i64) -> NaiveDate {
    (base_time() + Duration::days(offset)).date_naive()
}

/// Appends a varied, deterministic log: three sources, four kinds, three references and
/// entries without one, times that are not in id order. Returns the entries as stored.
pub fn seed_varied(store: &dyn LogBackend, count: usize) -> Vec<LogEntry> {
    let sources = ["daemon", "worker", "cli"];
    let kinds = ["start", "stop", "tick", "error"];
    let entries: Vec<NewLogEntry> = (0..count)
        .map(|i| {
            let offset = i64::try_from(i * 37 % 90).expect("small");
            NewLogEntry {
                source: sources[i % 3].to_owned(),
                kind: kinds[i * 7 % 4].to_owned(),
                ref_id: (i % 5 != 0).then(|| format!("ref-{}", i % 3)),
                payload: format!("{{\"i\":{i}}}"),
                ts: Some(minutes(offset)),
                // Every seventh entry references a blob, some the same one.
                blobs: if i % 7 == 3 {
                    vec![Digest::of(format!("blob {}", i % 2).as_bytes())]
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    let mut stored = Vec::new();
    for chunk in entries.chunks(10) {
        stored.extend(store.append_batch(chunk.to_vec()).expect("seed batch"));
    }
    stored
}

fn assert_matches_reference(store: &dyn LogBackend, entries: &[LogEntry], query: &LogQuery) {
    let expected = reference_query(entries, query);
    let actual = store.query(query).expect("query");
    assert_eq!(
        actual.iter().map(|e| e.id).collect::<Vec<_>>(),
        expected.iter().map(|e| e.id).collect::<Vec<_>>(),
        "ids returned for {query:?}"
    );
    assert_eq!(actual, expected, "entries returned for {query:?}");
}

/// Ids increase strictly in the order appends commit, within and across batches.
pub fn ids_strictly_increase_in_commit_order(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let mut ids = vec![
        store
            .append(NewLogEntry::new("s", "k", "1"))
            .expect("append")
            .id,
    ];
    ids.extend(
        store
            .append_batch(vec![
                NewLogEntry::new("s", "k", "2"),
                NewLogEntry::new("s", "k", "3"),
            ])
            .expect("batch")
            .iter()
            .map(|e| e.id),
    );
    ids.push(
        store
            .append(NewLogEntry::new("s", "k", "4"))
            .expect("append")
            .id,
    );
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids in commit order: {ids:?}"
    );
    assert_eq!(ids[2].0, ids[1].0 + 1, "a batch's ids are consecutive");
    assert_eq!(
        all_entries(store).iter().map(|e| e.id).collect::<Vec<_>>(),
        ids
    );
}

/// Deleting the newest entries, or all of them, and reopening never brings an id back.
pub fn ids_are_never_reused_after_deletion_or_reopening(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let store = fx.store();
    store
        .append_batch(
            (0..3)
                .map(|i| NewLogEntry::new("s", "k", i.to_string()).at(minutes(i)))
                .collect(),
        )
        .expect("day one");
    let newest = store
        .append_batch(
            (0..2)
                .map(|i| NewLogEntry::new("s", "k", "d2").at(minutes(24 * 60 + i)))
                .collect(),
        )
        .expect("day two");
    let highest = newest[1].id;
    let deleted = store
        .delete_days(&[DaySpan::new(day(1), highest)], &[])
        .expect("delete the newest day");
    assert_eq!(deleted, 2);
    let after_delete = store
        .append(NewLogEntry::new("s", "k", "next").at(minutes(1)))
        .expect("append")
        .id;
    assert!(
        after_delete > highest,
        "{after_delete} reuses an id up to {highest}"
    );

    fx.reopen();
    let after_reopen = fx
        .store()
        .append(NewLogEntry::new("s", "k", "again").at(minutes(2)))
        .expect("append")
        .id;
    assert!(
        after_reopen > after_delete,
        "{after_reopen} after reopening <= {after_delete}"
    );

    let everything: Vec<DaySpan> = (0..2).map(|d| DaySpan::new(day(d), after_reopen)).collect();
    fx.store()
        .delete_days(&everything, &[])
        .expect("delete everything");
    assert!(all_entries(fx.store()).is_empty(), "the log is empty");
    fx.reopen();
    let on_empty = fx
        .store()
        .append(NewLogEntry::new("s", "k", "empty"))
        .expect("append")
        .id;
    assert!(
        on_empty > after_reopen,
        "{on_empty} on an emptied log <= {after_reopen}"
    );
}

/// What was committed is there, identical, after the store is closed and opened again.
pub fn entries_survive_reopening(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let stored = seed_varied(fx.store(), 40);
    fx.reopen();
    assert_eq!(all_entries(fx.store()), stored);
}

/// A batch with one invalid entry stores none of it; the log is as before.
pub fn a_batch_is_all_or_nothing(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let before = store
        .append(NewLogEntry::new("s", "k", "before"))
        .expect("append");
    for bad in [
        NewLogEntry::new("", "k", "p"),
        NewLogEntry::new("s", "", "p"),
    ] {
        let batch = vec![
            NewLogEntry::new("s", "k", "a"),
            bad,
            NewLogEntry::new("s", "k", "c"),
        ];
        let err = store
            .append_batch(batch)
            .expect_err("a batch with an invalid entry");
        assert!(matches!(err, StoreError::InvalidInput { .. }), "{err}");
        assert_eq!(
            all_entries(store),
            vec![before.clone()],
            "nothing of the batch is stored"
        );
    }
    let good = store
        .append_batch(
            (0..3)
                .map(|i| NewLogEntry::new("s", "k", i.to_string()))
                .collect(),
        )
        .expect("a valid batch");
    assert_eq!(good.len(), 3);
    assert_eq!(all_entries(store).len(), 4);
}

/// An empty batch writes nothing and returns nothing.
pub fn an_empty_batch_is_a_no_op(open: OpenStore) {
    let fx = Fixture::new(open);
    assert_eq!(
        fx.store().append_batch(Vec::new()).expect("empty batch"),
        Vec::new()
    );
    assert!(all_entries(fx.store()).is_empty());
}

/// Threads appending and querying at once: every append is stored once, each thread sees
/// its own ids increase, and no id is shared.
pub fn concurrent_appends_lose_nothing(open: OpenStore) {
    const THREADS: usize = 4;
    const EACH: usize = 50;
    let fx = Fixture::new(open);
    let store = fx.store();
    let per_thread: Vec<Vec<LogId>> = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = 0;
            for _ in 0..50 {
                let now = all_entries(store).len();
                assert!(now >= seen, "the log shrank from {seen} to {now}");
                seen = now;
            }
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            store
                                .append(NewLogEntry::new(format!("thread-{t}"), "k", i.to_string()))
                                .expect("concurrent append")
                                .id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let ids = writers
            .into_iter()
            .map(|w| w.join().expect("writer thread"))
            .collect();
        reader.join().expect("reader thread");
        ids
    });
    for ids in &per_thread {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "a thread's ids increase: {ids:?}"
        );
    }
    let unique: BTreeSet<LogId> = per_thread.iter().flatten().copied().collect();
    assert_eq!(unique.len(), THREADS * EACH, "every id is distinct");
    let stored: BTreeSet<LogId> = all_entries(store).iter().map(|e| e.id).collect();
    assert_eq!(stored, unique, "every append is stored");
}

/// A caller's time keeps its milliseconds and loses what is finer; a missing time is the
/// time of the append.
pub fn time_is_kept_to_the_millisecond(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let precise = minutes(0) + Duration::nanoseconds(123_456_789);
    let stored = fx
        .store()
        .append(NewLogEntry::new("s", "k", "p").at(precise))
        .expect("append");
    assert_eq!(stored.ts, minutes(0) + Duration::milliseconds(123));
    let before = store_core::kit::now_millis();
    let stamped = fx
        .store()
        .append(NewLogEntry::new("s", "k", "now"))
        .expect("append");
    let after = store_core::kit::now_millis();
    assert!(
        before <= stamped.ts && stamped.ts <= after,
        "{stamped:?} stamped at the append"
    );
    assert_eq!(stamped.ts.timestamp_subsec_nanos() % 1_000_000, 0);
    fx.reopen();
    assert_eq!(all_entries(fx.store()), vec![stored, stamped]);
}

fn sample_queries(entries: &[LogEntry]) -> Vec<LogQuery> {
    let id = |i: usize| entries[i].id;
    vec![
        LogQuery {
            source: Some("daemon".into()),
            ..LogQuery::default()
        },
        LogQuery {
            source: Some("nobody".into()),
            ..LogQuery::default()
        },
        LogQuery {
            kind: Some("tick".into()),
            ..LogQuery::default()
        },
        LogQuery {
            ref_id: Some("ref-1".into()),
            ..LogQuery::default()
        },
        LogQuery {
            ref_id: Some("ref-none".into()),
            ..LogQuery::default()
        },
        LogQuery {
            since: Some(minutes(30)),
            ..LogQuery::default()
        },
        LogQuery {
            until: Some(minutes(45)),
            ..LogQuery::default()
        },
        LogQuery {
            since: Some(minutes(45)),
            until: Some(minutes(30)),
            ..LogQuery::default()
        },
        LogQuery {
            after: Some(id(40)),
            ..LogQuery::default()
        },
        LogQuery {
            before: Some(id(80)),
            ..LogQuery::default()
        },
        LogQuery {
            limit: Some(7),
            ..LogQuery::default()
        },
        LogQuery {
            order: Order::Descending,
            ..LogQuery::default()
        },
    ]
}

/// Each filter alone returns exactly the entries the reference semantics select.
pub fn each_query_field_alone_matches_the_reference(open: OpenStore) {
    let fx = Fixture::new(open);
    let entries = seed_varied(fx.store(), 120);
    for query in sample_queries(&entries) {
        assert_matches_reference(fx.store(), &entries, &query);
    }
}

/// All 128 combinations of the seven filters, in both orders, with and without a small
/// limit, agree with the reference semantics.
pub fn every_combination_of_query_fields_matches_the_reference(open: OpenStore) {
    let fx = Fixture::new(open);
    let entries = seed_varied(fx.store(), 120);
    for mask in 0u32..128 {
        let bit = |n: u32| mask & (1 << n) != 0;
        for order in [Order::Ascending, Order::Descending] {
            for limit in [None, Some(3)] {
                let query = LogQuery {
                    source: bit(0).then(|| "worker".into()),
                    kind: bit(1).then(|| "stop".into()),
                    ref_id: bit(2).then(|| "ref-2".into()),
                    since: bit(3).then(|| minutes(10)),
                    until: bit(4).then(|| minutes(80)),
                    after: bit(5).then(|| entries[15].id),
                    before: bit(6).then(|| entries[100].id),
                    limit,
                    order,
                };
                assert_matches_reference(fx.store(), &entries, &query);
            }
        }
    }
}

/// Paging a 1,000-entry result seven at a time, forward with `after` and backward with
/// `before`, visits every entry once, in order.
pub fn cursors_page_through_a_large_result_without_gaps_or_repeats(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let batch: Vec<NewLogEntry> = (0..1500)
        .map(|i| {
            let entry = NewLogEntry::new("s", "k", i.to_string());
            if i % 3 == 2 {
                entry.with_ref("other")
            } else {
                entry.with_ref("big")
            }
        })
        .collect();
    let entries = store.append_batch(batch).expect("batch");
    let expected: Vec<LogId> = entries
        .iter()
        .filter(|e| e.ref_id.as_deref() == Some("big"))
        .map(|e| e.id)
        .collect();
    assert_eq!(expected.len(), 1000);

    for order in [Order::Ascending, Order::Descending] {
        let pages = expected.len() / 7 + 2;
        let mut seen = collect_pages(
            pages,
            |cursor| {
                let (after, before) = match order {
                    Order::Ascending => (cursor, None),
                    Order::Descending => (None, cursor),
                };
                let query = LogQuery {
                    ref_id: Some("big".into()),
                    after,
                    before,
                    limit: Some(7),
                    order,
                    ..LogQuery::default()
                };
                store.query(&query).expect("page")
            },
            |entry| entry.id,
        )
        .iter()
        .map(|e| e.id)
        .collect::<Vec<_>>();
        if order == Order::Descending {
            seen.reverse();
        }
        assert_eq!(seen, expected, "paging {order:?}");
    }
}

/// `limit` 0 returns nothing, no limit returns 100, a huge limit returns everything.
pub fn limit_zero_default_and_huge(open: OpenStore) {
    let fx = Fixture::new(open);
    let entries = seed_varied(fx.store(), 150);
    let with_limit = |limit| LogQuery {
        limit,
        ..LogQuery::default()
    };
    assert!(
        fx.store()
            .query(&with_limit(Some(0)))
            .expect("limit 0")
            .is_empty()
    );
    assert_eq!(
        fx.store().query(&with_limit(None)).expect("default").len(),
        store_core::DEFAULT_QUERY_LIMIT
    );
    assert_eq!(
        fx.store()
            .query(&with_limit(Some(usize::MAX)))
            .expect("huge"),
        entries
    );
}

/// A span deletes its day's entries up to its id and nothing else: not other days, not a
/// late arrival in the same day with a higher id.
pub fn delete_days_removes_only_what_the_spans_cover(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let first_day = store
        .append_batch(
            (0..5)
                .map(|i| NewLogEntry::new("s", "k", "d0").at(minutes(i * 60)))
                .collect(),
        )
        .expect("day 0");
    let next_day = store
        .append_batch(
            (0..2)
                .map(|i| NewLogEntry::new("s", "k", "d1").at(minutes(24 * 60 + i)))
                .collect(),
        )
        .expect("day 1");
    let late = store
        .append(NewLogEntry::new("s", "k", "late").at(minutes(23 * 60 + 59)))
        .expect("late arrival on day 0");
    let deleted = store
        .delete_days(&[DaySpan::new(day(0), first_day[4].id)], &[])
        .expect("delete day 0");
    assert_eq!(deleted, 5);
    let mut expected = next_day;
    expected.push(late);
    assert_eq!(all_entries(store), expected);
    assert_eq!(store.delete_days(&[], &[]).expect("no spans"), 0);
}

/// A range over many hours answers as the reference does, paged by cursor in both orders,
/// open at either end or at both, with and without filters: over a log written hour by hour
/// out of time order (ids do not follow hours), with empty hours between, and with entries
/// at the two ends of time (a backend that walks a range hour by hour must skip the empty
/// ones, not count through them).
pub fn long_time_ranges_page_like_the_reference_across_many_hours(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let mut entries = Vec::new();
    // Two rounds over hours 0 to 299 (more than a PostgreSQL walk looks for at once), each
    // in the order 0, 37, 74, ... (37 is prime to 300), an entry an hour in the round's
    // minute, so that ids next to each other lie 37 hours apart; every ninth hour empty.
    for (round, minute) in [5_i64, 59].into_iter().enumerate() {
        let batch: Vec<NewLogEntry> = (0..300_i64)
            .map(|step| step * 37 % 300)
            .filter(|hour| hour % 9 != 4)
            .map(|hour| {
                NewLogEntry::new(["a", "b"][round % 2], "k", format!("{hour}:{minute}"))
                    .at(minutes(hour * 60 + minute))
            })
            .collect();
        entries.extend(store.append_batch(batch).expect("a round of entries"));
    }
    for ts in [store_core::min_ts(), store_core::max_ts()] {
        entries.push(
            store
                .append(NewLogEntry::new("a", "k", "an end of time").at(ts))
                .expect("an entry at an end of time"),
        );
    }
    let bounds = [
        None,
        Some(minutes(-1)),
        Some(minutes(7 * 60 + 30)),
        Some(minutes(140 * 60 + 6)),
        Some(minutes(299 * 60 + 59)),
        Some(minutes(400 * 60)),
    ];
    for since in bounds {
        for until in bounds {
            for order in [Order::Ascending, Order::Descending] {
                for (source, kind) in [(None, None), (Some("a"), Some("k")), (Some("b"), None)] {
                    let query = |cursor: Option<LogId>, limit| {
                        let (after, before) = match order {
                            Order::Ascending => (cursor, None),
                            Order::Descending => (None, cursor),
                        };
                        LogQuery {
                            source: source.map(str::to_owned),
                            kind: kind.map(str::to_owned),
                            since,
                            until,
                            after,
                            before,
                            order,
                            limit,
                            ..LogQuery::default()
                        }
                    };
                    let whole = query(None, Some(usize::MAX));
                    let expected = reference_query(&entries, &whole);
                    assert_eq!(store.query(&whole).expect("a range"), expected, "{whole:?}");
                    // Pages of one entry, over a range open at its start, put each page's
                    // end next to an id that lies 37 hours away.
                    let by_one = source.is_none() && since.is_none() && until == bounds[4];
                    let page = if by_one { 1 } else { 40 };
                    let paged = collect_pages(
                        expected.len() / page + 2,
                        |cursor| store.query(&query(cursor, Some(page))).expect("a page"),
                        |entry| entry.id,
                    );
                    assert_eq!(paged, expected, "paged by {page}: {whole:?}");
                    let first = query(None, Some(1));
                    assert_eq!(
                        store.query(&first).expect("a range's first entry"),
                        reference_query(&entries, &first),
                        "{first:?}"
                    );
                }
            }
        }
    }
}

/// Time ranges answer exactly, in id order, over entries that mostly come in time order (with
/// ties), some of which lag behind entries already written by less than the allowance of
/// late entries or by that much, and some of which are late (an explicit time further in the
/// past), with every other filter, both orders, cursors and limits, before and after
/// reopening.
pub fn time_ranges_match_the_reference_over_late_entries(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let batch: Vec<NewLogEntry> = (0..300_i64)
        .map(|i| {
            // Lags past the allowance of late entries, within it, and at it.
            let minute = match (i % 7, i % 11) {
                (3, _) => i / 3 - 20 - i % 13,
                (5, _) => i / 3 - 9,
                (_, 4) => i / 3 - 10,
                _ => i / 3,
            };
            NewLogEntry::new(["a", "b"][usize::from(i % 2 == 0)], "k", format!("{i}"))
                .at(minutes(minute) + Duration::milliseconds(i % 3))
        })
        .collect();
    let mut entries = Vec::new();
    for chunk in batch.chunks(25) {
        entries.extend(fx.store().append_batch(chunk.to_vec()).expect("a batch"));
    }
    // And entries the store stamps itself, after all of those.
    for i in 0..5 {
        entries.push(
            fx.store()
                .append(NewLogEntry::new("a", "k", format!("now {i}")))
                .expect("append"),
        );
    }
    let bounds = [-30, 0, 17, 33, 50, 71, 99, 120];
    let queries = |entries: &[LogEntry]| {
        let mut queries = Vec::new();
        for (n, since) in bounds.iter().enumerate() {
            for until in &bounds[n..] {
                for order in [Order::Ascending, Order::Descending] {
                    queries.push(LogQuery {
                        since: Some(minutes(*since)),
                        until: Some(minutes(*until) + Duration::milliseconds(1)),
                        order,
                        limit: Some(7),
                        ..LogQuery::default()
                    });
                    queries.push(LogQuery {
                        since: Some(minutes(*since)),
                        until: Some(minutes(*until)),
                        source: Some("a".into()),
                        kind: Some("k".into()),
                        after: Some(entries[40].id),
                        before: Some(entries[250].id),
                        order,
                        limit: None,
                        ..LogQuery::default()
                    });
                }
            }
            queries.push(LogQuery {
                since: Some(minutes(*since)),
                limit: Some(usize::MAX),
                ..LogQuery::default()
            });
            queries.push(LogQuery {
                until: Some(minutes(*since)),
                order: Order::Descending,
                limit: Some(usize::MAX),
                ..LogQuery::default()
            });
            // Cursors past either end of the range's ids.
            queries.push(LogQuery {
                since: Some(minutes(*since)),
                until: Some(minutes(*since + 17)),
                after: Some(entries[290].id),
                ..LogQuery::default()
            });
            queries.push(LogQuery {
                since: Some(minutes(*since)),
                until: Some(minutes(*since + 17)),
                before: Some(entries[2].id),
                order: Order::Descending,
                ..LogQuery::default()
            });
        }
        queries
    };
    for query in queries(&entries) {
        assert_matches_reference(fx.store(), &entries, &query);
    }
    fx.reopen();
    let late = fx
        .store()
        .append(NewLogEntry::new("b", "k", "late after reopening").at(minutes(10)))
        .expect("a late entry");
    entries.push(late);
    for query in queries(&entries) {
        assert_matches_reference(fx.store(), &entries, &query);
    }
}
