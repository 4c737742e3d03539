//! The edges of what a store keeps (`range.rs`): times from year 0000 to 9999 and ids from 1 to
//! `i64::MAX` are kept and work with every call; anything outside is refused by name at every
//! entry point, and nothing is written. Query bounds finer than a millisecond compare as
//! [`LogQuery::matches`] does on every backend.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{Fixture, OpenStore, all_entries};
use store_core::{
    DaySpan, ImportBatch, LogEntry, LogId, LogQuery, MAX_DETAIL_BYTES, MAX_LOG_ID,
    MAX_PAYLOAD_BYTES, NewLogEntry, Order, RunTransition, StoreError, ThreadMessage, WorkflowRun,
    WorkflowRunStatus, WriteUnit, Written, max_ts, min_ts,
};

fn assert_invalid(err: StoreError, field: &str) {
    assert!(
        matches!(&err, StoreError::InvalidInput { field: f, .. } if *f == field),
        "expected invalid {field}, got: {err}"
    );
}

/// Instants just outside the kept range, and the extremes `chrono` can name.
fn outside() -> [DateTime<Utc>; 4] {
    [
        min_ts() - Duration::milliseconds(1),
        max_ts() + Duration::milliseconds(1),
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
    ]
}

fn entry_at(id: u64, ts: DateTime<Utc>) -> LogEntry {
    LogEntry {
        id: LogId(id),
        source: "s".into(),
        kind: "k".into(),
        ref_id: Some("r".into()),
        payload: "p".into(),
        ts,
    }
}

/// A time outside 0000–9999 is refused by name by append, batch, thread message,
/// transition, import and query bounds, and nothing of the call is written.
pub fn times_outside_the_kept_range_are_refused_at_every_entry_point(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    for ts in outside() {
        assert_invalid(
            store
                .append(NewLogEntry::new("s", "k", "p").at(ts))
                .expect_err("append"),
            "ts",
        );
        let err = store
            .append_batch(vec![
                NewLogEntry::new("s", "k", "p"),
                NewLogEntry::new("s", "k", "p").at(ts),
            ])
            .expect_err("batch");
        assert_invalid(err, "ts");
        let message = ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 0,
            payload: "m".into(),
            ts: Some(ts),
        };
        assert_invalid(
            store.append_thread_message(message).expect_err("message"),
            "ts",
        );
        assert_invalid(
            store
                .transition_run(RunTransition::new("run", "wf", WorkflowRunStatus::Started).at(ts))
                .expect_err("transition"),
            "at",
        );
        let batch = ImportBatch {
            entries: vec![entry_at(1, ts)],
            ..ImportBatch::default()
        };
        assert_invalid(store.import(batch).expect_err("import entry"), "entries");
        let run_at = WorkflowRun {
            run_id: "imported".into(),
            workflow: "wf".into(),
            thread_id: None,
            status: WorkflowRunStatus::Completed,
            attempt: 1,
            created_at: min_ts(),
            updated_at: min_ts(),
            started_at: Some(min_ts()),
            finished_at: Some(ts),
            detail: None,
        };
        let batch = ImportBatch {
            runs: vec![run_at],
            ..ImportBatch::default()
        };
        assert_invalid(store.import(batch).expect_err("import run"), "runs");
        for (field, query) in [
            (
                "since",
                LogQuery {
                    since: Some(ts),
                    ..LogQuery::default()
                },
            ),
            (
                "until",
                LogQuery {
                    until: Some(ts),
                    ..LogQuery::default()
                },
            ),
        ] {
            assert_invalid(store.query(&query).expect_err("query bound"), field);
        }
    }
    assert!(all_entries(store).is_empty(), "a refused call wrote");
    assert_eq!(store.get_run("run").expect("get"), None);
    assert_eq!(store.get_run("imported").expect("get"), None);
}

/// Entries at the first and last kept instants are stored, found by time, paged by day,
/// found by `next_log_day` and deleted by `delete_days`; the day functions answer for days
/// no entry can reach (the first and last days `chrono` can name) without failing.
pub fn the_first_and_last_kept_times_work_with_every_day_function(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let first = fx
        .store()
        .append(NewLogEntry::new("s", "k", "first").at(min_ts()))
        .expect("the first kept time");
    let last = fx
        .store()
        .append(NewLogEntry::new("s", "k", "last").at(max_ts()))
        .expect("the last kept time");
    assert_eq!((first.ts, last.ts), (min_ts(), max_ts()));
    fx.reopen();
    let store = fx.store();
    assert_eq!(all_entries(store), vec![first.clone(), last.clone()]);
    let everything = LogQuery {
        since: Some(min_ts()),
        until: Some(max_ts()),
        ..LogQuery::default()
    };
    assert_eq!(
        store.query(&everything).expect("query"),
        vec![first.clone()]
    );
    let from_last = LogQuery {
        since: Some(max_ts()),
        ..LogQuery::default()
    };
    assert_eq!(store.query(&from_last).expect("query"), vec![last.clone()]);

    let first_day = min_ts().date_naive();
    let last_day = max_ts().date_naive();
    assert_eq!(
        store.day_entries(last_day, None, 10).expect("last day"),
        vec![last.clone()]
    );
    assert_eq!(
        store.day_entries(first_day, None, 10).expect("first day"),
        vec![first.clone()]
    );
    assert_eq!(store.next_log_day(None).expect("next"), Some(first_day));
    assert_eq!(
        store.next_log_day(Some(first_day)).expect("next"),
        Some(last_day)
    );
    assert_eq!(store.next_log_day(Some(last_day)).expect("next"), None);
    for day in [NaiveDate::MIN, NaiveDate::MAX] {
        assert_eq!(store.day_entries(day, None, 10).expect("day"), vec![]);
        assert_eq!(
            store
                .delete_days(&[DaySpan::new(day, MAX_LOG_ID)], &[])
                .expect("delete"),
            0
        );
    }
    assert_eq!(
        store.next_log_day(Some(NaiveDate::MAX)).expect("next"),
        None
    );
    assert_eq!(
        store.next_log_day(Some(NaiveDate::MIN)).expect("next"),
        Some(first_day)
    );
    let stats = store.log_stats().expect("stats");
    assert_eq!(
        (stats.entries, stats.first_day, stats.last_day),
        (2, Some(first_day), Some(last_day))
    );
    assert_eq!(
        store
            .delete_days(&[DaySpan::new(last_day, last.id)], &[])
            .expect("delete the last day"),
        1
    );
    assert_eq!(all_entries(store), vec![first]);
}

/// With an entry at `.123` ms, bounds at `.1225` and `.1235` find it exactly as
/// [`LogQuery::matches`] says, alone and with an indexed filter beside them, in both orders.
pub fn bounds_finer_than_a_millisecond_compare_at_full_precision(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00.123Z")
        .expect("a time")
        .with_timezone(&Utc);
    let entries = vec![
        store
            .append(NewLogEntry::new("s", "k", "before").at(at - Duration::milliseconds(1)))
            .expect("append"),
        store
            .append(NewLogEntry::new("s", "k", "at").with_ref("r").at(at))
            .expect("append"),
        store
            .append(NewLogEntry::new("s", "k", "after").at(at + Duration::milliseconds(1)))
            .expect("append"),
    ];
    let finer = [
        at - Duration::microseconds(500),
        at - Duration::nanoseconds(1),
        at,
        at + Duration::nanoseconds(1),
        at + Duration::microseconds(500),
    ];
    for since in finer.iter().copied().map(Some).chain([None]) {
        for until in finer.iter().copied().map(Some).chain([None]) {
            for (source, kind, ref_id) in [
                (None, None, None),
                (Some("s"), Some("k"), None),
                (Some("s"), None, None),
                (None, None, Some("r")),
            ] {
                for order in [Order::Ascending, Order::Descending] {
                    let query = LogQuery {
                        source: source.map(str::to_owned),
                        kind: kind.map(str::to_owned),
                        ref_id: ref_id.map(str::to_owned),
                        since,
                        until,
                        order,
                        ..LogQuery::default()
                    };
                    assert_eq!(
                        store.query(&query).expect("query"),
                        super::reference_query(&entries, &query),
                        "{query:?}"
                    );
                }
            }
        }
    }
}

/// An import may use every id up to `i64::MAX`: the entry there is found by every query,
/// the same id is not imported twice, and the next append is refused as
/// [`StoreError::IdsExhausted`] with nothing written. Ids past it are refused by name.
pub fn ids_reach_i64_max_and_no_further(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let ts = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .expect("a time")
        .with_timezone(&Utc);
    for id in [MAX_LOG_ID.0 + 1, u64::MAX, 0] {
        let batch = ImportBatch {
            entries: vec![entry_at(id, ts)],
            ..ImportBatch::default()
        };
        assert_invalid(store_import(&fx, batch), "entries");
    }
    let below = fx
        .store()
        .append(NewLogEntry::new("s", "k", "p").at(ts - Duration::minutes(1)))
        .expect("an ordinary append");
    let top = entry_at(MAX_LOG_ID.0, ts);
    fx.store()
        .import(ImportBatch {
            entries: vec![top.clone()],
            ..ImportBatch::default()
        })
        .expect("the highest id is kept");
    fx.reopen();
    let store = fx.store();
    assert_eq!(all_entries(store), vec![below.clone(), top.clone()]);
    for query in [
        LogQuery {
            ref_id: Some("r".into()),
            ..LogQuery::default()
        },
        LogQuery {
            source: Some("s".into()),
            kind: Some("k".into()),
            after: Some(below.id),
            ..LogQuery::default()
        },
        LogQuery {
            since: Some(ts),
            ..LogQuery::default()
        },
        LogQuery {
            before: Some(LogId(u64::MAX)),
            order: Order::Descending,
            limit: Some(1),
            ..LogQuery::default()
        },
    ] {
        assert_eq!(
            store.query(&query).expect("query"),
            vec![top.clone()],
            "{query:?}"
        );
    }
    for query in [
        LogQuery {
            after: Some(MAX_LOG_ID),
            ..LogQuery::default()
        },
        LogQuery {
            after: Some(LogId(u64::MAX)),
            ..LogQuery::default()
        },
    ] {
        assert_eq!(store.query(&query).expect("query"), vec![], "{query:?}");
    }
    assert_eq!(
        store
            .day_entries(ts.date_naive(), Some(below.id), 10)
            .expect("day"),
        vec![top.clone()]
    );
    let again = ImportBatch {
        entries: vec![top.clone()],
        ..ImportBatch::default()
    };
    assert_invalid(store.import(again).expect_err("a second import"), "entries");
    let err = store
        .append(NewLogEntry::new("s", "k", "one too many"))
        .expect_err("no id is left");
    assert!(
        matches!(err, StoreError::IdsExhausted { last } if last == MAX_LOG_ID),
        "{err}"
    );
    let err = store
        .transition_run(RunTransition::new("run", "wf", WorkflowRunStatus::Started))
        .expect_err("no id is left for the audit entry");
    assert!(matches!(err, StoreError::IdsExhausted { .. }), "{err}");
    assert_eq!(store.get_run("run").expect("get"), None);
    assert_eq!(all_entries(store), vec![below, top]);
}

/// Units committed together near the last id: each is written whole, under ids that
/// increase up to the last one, or refused whole with [`StoreError::IdsExhausted`], as if
/// each had been its own call; a unit of more entries than ids are left is refused. (Which
/// units fit depends on the backend's numbering: the embedded backends number without gaps
/// and fit `b` and `d`; PostgreSQL leaves gaps between transactions.)
pub fn units_near_the_last_id_are_written_whole_or_refused_whole(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let ts = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .expect("a time")
        .with_timezone(&Utc);
    store
        .import(ImportBatch {
            entries: vec![entry_at(MAX_LOG_ID.0 - 2, ts)],
            ..ImportBatch::default()
        })
        .expect("two ids are left");
    let appends = |n: usize, name: &str| {
        (0..n).fold(WriteUnit::new(), |unit, i| {
            unit.append(NewLogEntry::new("s", "k", format!("{name}{i}")))
        })
    };
    let results = store.write_units(vec![
        appends(3, "a"),
        appends(1, "b"),
        appends(2, "c"),
        appends(1, "d"),
    ]);
    let ids: Vec<Result<Vec<u64>, String>> = results
        .into_iter()
        .map(|result| match result {
            Ok(written) => Ok(written
                .iter()
                .filter_map(Written::entry)
                .map(|entry| entry.id.0)
                .collect()),
            Err(StoreError::IdsExhausted { last }) if last == MAX_LOG_ID => {
                Err("exhausted".to_owned())
            }
            Err(other) => Err(other.to_string()),
        })
        .collect();
    assert_eq!(
        ids[0],
        Err("exhausted".to_owned()),
        "three entries never fit in two ids"
    );
    let mut written = vec!["p".to_owned()];
    let mut last = MAX_LOG_ID.0 - 2;
    for (unit, result) in ["a", "b", "c", "d"].into_iter().zip(&ids) {
        match result {
            Ok(ids) => {
                assert!(
                    ids.iter().all(|id| *id > last && *id <= MAX_LOG_ID.0),
                    "{unit}: {ids:?} above {last}, at most the last id"
                );
                assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1), "{ids:?}");
                last = *ids.last().expect("an append's id");
                written.extend((0..ids.len()).map(|i| format!("{unit}{i}")));
            }
            Err(err) => assert_eq!(err, "exhausted", "{unit}"),
        }
    }
    let payloads: Vec<String> = all_entries(store)
        .into_iter()
        .map(|entry| entry.payload)
        .collect();
    assert_eq!(
        payloads, written,
        "every written unit whole, nothing of a refused one"
    );
}

fn store_import(fx: &Fixture, batch: ImportBatch) -> StoreError {
    fx.store().import(batch).expect_err("an id out of range")
}

/// The largest accepted payload ([`MAX_PAYLOAD_BYTES`]) is stored and read back byte for
/// byte, as an entry and as a thread message; one byte more is refused by name at every
/// entry point, and so is a run detail over [`MAX_DETAIL_BYTES`]; nothing is written then.
pub fn the_largest_accepted_payload_round_trips_and_one_byte_more_is_refused(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let largest = "x".repeat(MAX_PAYLOAD_BYTES);
    let stored = fx
        .store()
        .append(NewLogEntry::new("s", "k", largest.as_str()).with_ref("big"))
        .expect("the largest payload");
    let too_large = "y".repeat(MAX_PAYLOAD_BYTES + 1);
    let store = fx.store();
    assert_invalid(
        store
            .append(NewLogEntry::new("s", "k", too_large.as_str()))
            .expect_err("append"),
        "payload",
    );
    assert_invalid(
        store
            .append_batch(vec![
                NewLogEntry::new("s", "k", "small"),
                NewLogEntry::new("s", "k", too_large.as_str()),
            ])
            .expect_err("batch"),
        "payload",
    );
    let message = ThreadMessage {
        thread_id: "t".into(),
        role: "user".into(),
        round: 0,
        payload: too_large.clone(),
        ts: None,
    };
    assert_invalid(
        store.append_thread_message(message).expect_err("message"),
        "payload",
    );
    let mut imported = entry_at(MAX_LOG_ID.0 - 1, stored.ts);
    imported.payload = too_large;
    let batch = ImportBatch {
        entries: vec![imported],
        ..ImportBatch::default()
    };
    assert_invalid(store.import(batch).expect_err("import"), "entries");
    let detail = "d".repeat(MAX_DETAIL_BYTES + 1);
    assert_invalid(
        store
            .transition_run(
                RunTransition::new("run", "wf", WorkflowRunStatus::Started).with_detail(detail),
            )
            .expect_err("a detail too large"),
        "detail",
    );
    fx.reopen();
    let found = fx
        .store()
        .query(&LogQuery {
            ref_id: Some("big".into()),
            ..LogQuery::default()
        })
        .expect("query");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].payload == largest,
        "the payload comes back byte for byte"
    );
    assert_eq!(
        all_entries(fx.store()).len(),
        1,
        "nothing refused was written"
    );
    assert_eq!(fx.store().get_run("run").expect("get"), None);
}
