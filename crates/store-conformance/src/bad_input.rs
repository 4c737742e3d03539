//! SPEC 5, bad input: every odd value is either refused with a typed error that names it,
//! or stored and returned as given. Nothing panics, nothing already stored is lost.

use super::{Fixture, OpenStore, all_entries};
use store_core::{
    GetThreadRoundsParams, LogId, LogQuery, NewLogEntry, RunQuery, RunTransition, StoreError,
    ThreadMessage, WorkflowRunStatus,
};

fn assert_invalid(err: StoreError, field: &str) {
    assert!(
        matches!(&err, StoreError::InvalidInput { field: f, .. } if *f == field),
        "expected invalid {field}, got: {err}"
    );
}

/// Empty names are refused by name; an empty payload, reference or detail is a value like
/// any other.
pub fn empty_strings_are_refused_or_stored_as_given(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let kept = store
        .append(NewLogEntry::new("s", "k", ""))
        .expect("an empty payload");
    assert_invalid(
        store
            .append(NewLogEntry::new("", "k", "p"))
            .expect_err("empty source"),
        "source",
    );
    assert_invalid(
        store
            .append(NewLogEntry::new("s", "", "p"))
            .expect_err("empty kind"),
        "kind",
    );
    let empty_ref = store
        .append(NewLogEntry::new("s", "k", "p").with_ref(""))
        .expect("an empty reference");
    assert_eq!(empty_ref.ref_id.as_deref(), Some(""));
    let by_empty_ref = store
        .query(&LogQuery {
            ref_id: Some(String::new()),
            ..LogQuery::default()
        })
        .expect("query by an empty reference");
    assert_eq!(by_empty_ref, vec![empty_ref.clone()]);

    let run =
        |id: &str, workflow: &str| RunTransition::new(id, workflow, WorkflowRunStatus::Queued);
    assert_invalid(
        store
            .transition_run(run("", "wf"))
            .expect_err("empty run id"),
        "run_id",
    );
    assert_invalid(
        store
            .transition_run(run("r", ""))
            .expect_err("empty workflow"),
        "workflow",
    );
    let with_empty_detail = store
        .transition_run(run("r", "wf").with_detail(""))
        .expect("an empty detail");
    assert_eq!(with_empty_detail.run().detail.as_deref(), Some(""));

    let audit = all_entries(store).pop().expect("the audit entry");
    assert_eq!(
        all_entries(store),
        vec![kept, empty_ref, audit],
        "refusals stored nothing"
    );
}

/// A 10 MiB payload is stored and returned byte for byte, as an entry and as a message.
pub fn a_ten_mib_payload_round_trips(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let payload: String = "0123456789abcdef".repeat(10 * 1024 * 1024 / 16);
    let entry = store
        .append(NewLogEntry::new("s", "k", payload.clone()).with_ref("big"))
        .expect("append");
    assert_eq!(entry.payload.len(), 10 * 1024 * 1024);
    let found = store
        .query(&LogQuery {
            ref_id: Some("big".into()),
            ..LogQuery::default()
        })
        .expect("query");
    assert!(
        found.len() == 1 && found[0].payload == payload,
        "the payload round-trips"
    );
    let message = ThreadMessage {
        thread_id: "t".into(),
        role: "tool".into(),
        round: 1,
        payload: payload.clone(),
        ts: None,
    };
    store.append_thread_message(message).expect("a big message");
    let rows = store.thread_messages("t", None, 1).expect("messages");
    assert!(
        rows.len() == 1 && rows[0].payload == payload,
        "the message round-trips"
    );
}

/// Non-ASCII text and NUL characters are stored as given in every string, and queries by
/// them find exactly their entries.
pub fn non_ascii_and_nul_round_trip_and_are_found(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let odd = NewLogEntry {
        source: "naïve\0source".into(),
        kind: "種類\u{1F600}".into(),
        ref_id: Some("ref\0id".into()),
        payload: "\0\u{7f}\u{10FFFF} ünïcödé\0".into(),
        ts: None,
        blobs: Vec::new(),
    };
    let stored = fx.store().append(odd.clone()).expect("append");
    fx.store()
        .append(NewLogEntry::new("naïve", "種類\u{1F600}", "decoy").with_ref("ref"))
        .expect("decoy");
    let transition =
        RunTransition::new("run\0ü", "wf\u{0}😀", WorkflowRunStatus::Started).in_thread("thread\0");
    let run = fx
        .store()
        .transition_run(transition)
        .expect("a run")
        .run()
        .clone();
    fx.store().meta_set("key\0ü", "value\0😀").expect("meta");
    fx.store()
        .append_thread_message(ThreadMessage {
            thread_id: "thread\0".into(),
            role: "rôle\0".into(),
            round: 1,
            payload: "p\0".into(),
            ts: None,
        })
        .expect("a message");
    fx.reopen();
    let store = fx.store();
    for query in [
        LogQuery {
            source: odd.source.clone().into(),
            ..LogQuery::default()
        },
        LogQuery {
            source: odd.source.clone().into(),
            kind: odd.kind.clone().into(),
            ..LogQuery::default()
        },
        LogQuery {
            ref_id: odd.ref_id.clone(),
            ..LogQuery::default()
        },
    ] {
        assert_eq!(
            store.query(&query).expect("query"),
            vec![stored.clone()],
            "{query:?}"
        );
    }
    assert_eq!(store.get_run("run\0ü").expect("get_run"), Some(run.clone()));
    let by_thread = RunQuery {
        thread_id: Some("thread\0".into()),
        ..RunQuery::default()
    };
    assert_eq!(store.list_runs(&by_thread).expect("list_runs"), vec![run]);
    assert_eq!(
        store.meta_get("key\0ü").expect("meta").as_deref(),
        Some("value\0😀")
    );
    assert_eq!(store.meta_get("key").expect("meta"), None);
    let params = GetThreadRoundsParams {
        thread_id: "thread\0".into(),
        role: Some("rôle\0".into()),
        ..GetThreadRoundsParams::default()
    };
    let rows = store.thread_rounds(&params).expect("rounds");
    assert!(rows.len() == 1 && rows[0].payload == "p\0", "{rows:?}");
}

/// Asking about what does not exist is an empty answer, not an error; a transition of an
/// unknown run that the table refuses names the run.
pub fn unknown_runs_and_threads_are_absent_not_errors(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    assert_eq!(store.get_run("ghost").expect("get_run"), None);
    assert!(store.list_active_runs().expect("active").is_empty());
    assert!(
        store
            .thread_messages("ghost", None, 10)
            .expect("messages")
            .is_empty()
    );
    assert_eq!(store.last_round("ghost").expect("last_round"), None);
    assert!(!store.meta_delete("ghost").expect("meta_delete"));
    let err = store
        .transition_run(RunTransition::new(
            "ghost",
            "wf",
            WorkflowRunStatus::Completed,
        ))
        .expect_err("completing a run that never started");
    assert!(
        matches!(&err, StoreError::InvalidTransition { run_id, from: None, .. } if run_id == "ghost"),
        "{err}"
    );
    assert_eq!(store.get_run("ghost").expect("get_run"), None);
}

/// Cursors and rounds at the edges of their types return what they select, without
/// overflowing.
pub fn out_of_range_cursors_and_rounds_return_nothing(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let entries = store
        .append_batch(
            (0..3)
                .map(|i| NewLogEntry::new("s", "k", i.to_string()))
                .collect(),
        )
        .expect("batch");
    let query = |after, before| LogQuery {
        after,
        before,
        ..LogQuery::default()
    };
    assert!(
        store
            .query(&query(Some(LogId(u64::MAX)), None))
            .expect("after max")
            .is_empty()
    );
    assert_eq!(
        store
            .query(&query(None, Some(LogId(u64::MAX))))
            .expect("before max"),
        entries
    );
    assert!(
        store
            .query(&query(None, Some(LogId(0))))
            .expect("before 0")
            .is_empty()
    );
    assert!(
        store
            .thread_messages("t", Some(LogId(u64::MAX)), 10)
            .expect("messages")
            .is_empty()
    );

    let top = ThreadMessage {
        thread_id: "t".into(),
        role: "r".into(),
        round: u32::MAX,
        payload: "p".into(),
        ts: None,
    };
    store.append_thread_message(top).expect("the highest round");
    assert_eq!(store.last_round("t").expect("last_round"), Some(u32::MAX));
    let from_top = GetThreadRoundsParams {
        thread_id: "t".into(),
        from_round: Some(u32::MAX),
        ..GetThreadRoundsParams::default()
    };
    assert_eq!(store.thread_rounds(&from_top).expect("rounds").len(), 1);
}
