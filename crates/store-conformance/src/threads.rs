//! SPEC 1, threads: messages as log entries, indexed by (thread, round, role).

use super::log::minutes;
use super::{Fixture, OpenStore, all_entries, collect_pages};
use store_core::{
    DaySpan, GetThreadRoundsParams, LogBackend, LogId, LogQuery, StoreError, THREAD_KIND,
    THREAD_SOURCE, ThreadMessage, ThreadRoundRow,
};

fn message(thread: &str, round: u32, role: &str, minute: i64) -> ThreadMessage {
    ThreadMessage {
        thread_id: thread.to_owned(),
        role: role.to_owned(),
        round,
        payload: format!("{{\"thread\":\"{thread}\",\"round\":{round},\"role\":\"{role}\"}}"),
        ts: Some(minutes(minute)),
    }
}

fn append_all(store: &dyn LogBackend, messages: &[ThreadMessage]) -> Vec<ThreadRoundRow> {
    messages
        .iter()
        .map(|m| {
            let entry = store
                .append_thread_message(m.clone())
                .expect("thread message");
            ThreadRoundRow {
                round: m.round,
                role: m.role.clone(),
                log_id: entry.id,
                ts: entry.ts,
                payload: entry.payload,
            }
        })
        .collect()
}

fn rounds(store: &dyn LogBackend, params: GetThreadRoundsParams) -> Vec<ThreadRoundRow> {
    store.thread_rounds(&params).expect("thread_rounds")
}

/// A message is stored as a log entry (source "thread", kind "message", ref the thread)
/// and indexed with its round and role.
pub fn a_message_is_a_log_entry_indexed_by_thread_round_and_role(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let msg = message("t1", 3, "assistant", 5);
    let entry = store.append_thread_message(msg.clone()).expect("append");
    assert_eq!(
        (
            entry.source.as_str(),
            entry.kind.as_str(),
            entry.ref_id.as_deref()
        ),
        (THREAD_SOURCE, THREAD_KIND, Some("t1"))
    );
    assert_eq!(
        (entry.payload.as_str(), entry.ts),
        (msg.payload.as_str(), minutes(5))
    );
    let by_ref = store
        .query(&LogQuery {
            ref_id: Some("t1".into()),
            ..LogQuery::default()
        })
        .expect("query");
    assert_eq!(by_ref, vec![entry.clone()]);
    let row = ThreadRoundRow {
        round: 3,
        role: "assistant".into(),
        log_id: entry.id,
        ts: entry.ts,
        payload: entry.payload,
    };
    let params = GetThreadRoundsParams {
        thread_id: "t1".into(),
        ..GetThreadRoundsParams::default()
    };
    assert_eq!(rounds(store, params), vec![row]);
}

/// `thread_messages` returns one thread's messages in id order and pages with `after`.
pub fn thread_messages_page_in_id_order(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let mut mine = Vec::new();
    for i in 0..30u32 {
        mine.extend(append_all(
            store,
            &[message("mine", i / 3, "user", i64::from(i))],
        ));
        append_all(store, &[message("other", i, "user", i64::from(i))]);
    }
    let seen = collect_pages(
        mine.len() / 4 + 2,
        |after| store.thread_messages("mine", after, 4).expect("page"),
        |row| row.log_id,
    );
    assert_eq!(seen, mine);
    assert!(
        store
            .thread_messages("mine", None, 0)
            .expect("limit 0")
            .is_empty()
    );
}

/// `thread_rounds` orders by round, then id, whatever the order of the appends, and
/// filters by role and first round.
pub fn thread_rounds_by_round_then_id_filtered_by_role_and_first_round(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let rows = append_all(
        store,
        &[
            message("t", 2, "user", 0),
            message("t", 1, "assistant", 1),
            message("t", 1, "user", 2),
            message("t", 3, "tool", 3),
            message("t", 2, "assistant", 4),
            message("elsewhere", 1, "user", 5),
            message("t", 1, "user", 6),
        ],
    );
    let pick = |indices: &[usize]| indices.iter().map(|i| rows[*i].clone()).collect::<Vec<_>>();
    let params = |role: Option<&str>, from_round, limit| GetThreadRoundsParams {
        thread_id: "t".into(),
        role: role.map(str::to_owned),
        from_round,
        limit,
    };
    assert_eq!(
        rounds(store, params(None, None, None)),
        pick(&[1, 2, 6, 0, 4, 3])
    );
    assert_eq!(
        rounds(store, params(Some("user"), None, None)),
        pick(&[2, 6, 0])
    );
    assert_eq!(rounds(store, params(None, Some(2), None)), pick(&[0, 4, 3]));
    assert_eq!(
        rounds(store, params(Some("assistant"), Some(2), None)),
        pick(&[4])
    );
    assert_eq!(rounds(store, params(None, None, Some(2))), pick(&[1, 2]));
    assert!(rounds(store, params(None, None, Some(0))).is_empty());
    assert!(rounds(store, params(Some("nobody"), None, None)).is_empty());
}

/// `last_round` is the highest round with a message, whatever the order of the appends,
/// and `None` for a thread without messages.
pub fn last_round_is_the_highest_round(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    assert_eq!(store.last_round("t").expect("last_round"), None);
    append_all(
        store,
        &[
            message("t", 2, "user", 0),
            message("t", 5, "user", 1),
            message("t", 3, "user", 2),
        ],
    );
    append_all(store, &[message("other", 9, "user", 3)]);
    assert_eq!(store.last_round("t").expect("last_round"), Some(5));
}

/// A message with an empty thread or role is refused and leaves no log entry or index row.
pub fn an_invalid_message_stores_nothing(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    for (bad, field) in [
        (message("", 1, "user", 0), "thread_id"),
        (message("t", 1, "", 0), "role"),
    ] {
        let err = store
            .append_thread_message(bad)
            .expect_err("an invalid message");
        assert!(
            matches!(&err, StoreError::InvalidInput { field: f, .. } if *f == field),
            "{err}"
        );
    }
    assert!(all_entries(store).is_empty());
    assert_eq!(store.last_round("t").expect("last_round"), None);
    assert!(
        store
            .thread_messages("t", None, 10)
            .expect("messages")
            .is_empty()
    );
}

/// Deleting a day removes the thread-index rows of its messages with them.
pub fn deleting_a_day_removes_its_thread_rows(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let old = append_all(
        store,
        &[message("t", 1, "user", 0), message("t", 2, "assistant", 1)],
    );
    let new = append_all(store, &[message("t", 3, "user", 24 * 60)]);
    let day = minutes(0).date_naive();
    let deleted = store
        .delete_days(&[DaySpan::new(day, old[1].log_id)], &[])
        .expect("delete the first day");
    assert_eq!(deleted, 2);
    let params = GetThreadRoundsParams {
        thread_id: "t".into(),
        ..GetThreadRoundsParams::default()
    };
    assert_eq!(rounds(store, params), new);
    assert_eq!(store.thread_messages("t", None, 10).expect("messages"), new);
    assert_eq!(
        store
            .thread_messages("t", Some(LogId(0)), 10)
            .expect("messages"),
        new
    );
    assert_eq!(store.last_round("t").expect("last_round"), Some(3));
}
