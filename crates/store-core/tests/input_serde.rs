//! The input types serialise like the output types: the names of the archive's JSON for log
//! entries, camelCase elsewhere, times as `YYYY-MM-DDTHH:MM:SS.mmmZ`, optional fields that
//! may be left out; and they read back as they were written.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use store_core::{
    GetThreadRoundsParams, LogId, LogQuery, NewLogEntry, Order, RunQuery, RunTransition,
    ThreadMessage, WorkflowRunStatus,
};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
        .single()
        .expect("a time")
        + chrono::Duration::milliseconds(123)
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
) -> serde_json::Value {
    let json = serde_json::to_value(value).expect("serialises");
    let back: T = serde_json::from_value(json.clone()).expect("reads back");
    assert_eq!(&back, value, "{json}");
    json
}

#[test]
fn a_new_entry_reads_as_a_stored_entry_without_its_id() {
    let entry = NewLogEntry::new("daemon", "boot", "{}")
        .with_ref("r-1")
        .at(at());
    assert_eq!(
        round_trip(&entry),
        json!({"source": "daemon", "type": "boot", "refId": "r-1", "payload": "{}",
               "ts": "2026-11-24T10:00:00.123Z"})
    );
    let minimal: NewLogEntry =
        serde_json::from_value(json!({"source": "s", "type": "k", "payload": "p"}))
            .expect("refId and ts left out");
    assert_eq!(minimal, NewLogEntry::new("s", "k", "p"));
}

#[test]
fn a_transition_may_leave_out_everything_but_its_run_and_status() {
    let full = RunTransition::new("run-1", "wf", WorkflowRunStatus::Failed)
        .in_thread("t")
        .at(at())
        .with_detail("boom");
    assert_eq!(
        round_trip(&full),
        json!({"runId": "run-1", "workflow": "wf", "threadId": "t", "to": "failed",
               "at": "2026-11-24T10:00:00.123Z", "detail": "boom"})
    );
    let minimal: RunTransition =
        serde_json::from_value(json!({"runId": "run-1", "to": "started"})).expect("minimal");
    assert_eq!(
        minimal,
        RunTransition::of("run-1", WorkflowRunStatus::Started)
    );
}

#[test]
fn thread_messages_and_queries_round_trip() {
    round_trip(&ThreadMessage {
        thread_id: "t".into(),
        role: "user".into(),
        round: 3,
        payload: "hi".into(),
        ts: Some(at()),
    });
    let query = LogQuery {
        source: Some("s".into()),
        kind: Some("k".into()),
        ref_id: Some("r".into()),
        since: Some(at()),
        until: Some(at() + chrono::Duration::hours(1)),
        after: Some(LogId(5)),
        before: Some(LogId(50)),
        limit: Some(10),
        order: Order::Descending,
    };
    let json = round_trip(&query);
    assert_eq!(json["type"], "k");
    assert_eq!(json["refId"], "r");
    assert_eq!(json["order"], "descending");
    assert_eq!(
        serde_json::from_value::<LogQuery>(json!({})).expect("an empty query"),
        LogQuery::default()
    );
    round_trip(&RunQuery {
        statuses: vec![WorkflowRunStatus::Queued, WorkflowRunStatus::Started],
        workflow: Some("wf".into()),
        thread_id: Some("t".into()),
        created_since: chrono::DateTime::from_timestamp(1_795_000_000, 0),
        created_until: chrono::DateTime::from_timestamp(1_795_100_000, 0),
        order: store_core::Order::Descending,
        after: Some("run-1".into()),
        limit: Some(7),
    });
    assert_eq!(
        serde_json::from_value::<RunQuery>(json!({"statuses": ["crashed"]}))
            .expect("a status filter"),
        RunQuery {
            statuses: vec![WorkflowRunStatus::Crashed],
            ..RunQuery::default()
        }
    );
    round_trip(&GetThreadRoundsParams {
        thread_id: "t".into(),
        role: Some("tool".into()),
        from_round: Some(2),
        limit: Some(4),
    });
}

#[test]
fn a_time_a_store_cannot_keep_or_a_bad_status_does_not_read() {
    for bad in [
        json!({"source": "s", "type": "k", "payload": "p", "ts": "not a time"}),
        json!({"source": "s", "type": "k", "payload": "p", "ts": "+99999-01-01T00:00:00Z"}),
    ] {
        let err = serde_json::from_value::<NewLogEntry>(bad.clone()).expect_err("a bad ts");
        assert!(err.to_string().contains("bad timestamp"), "{bad}: {err}");
    }
    let err = serde_json::from_value::<RunTransition>(json!({"runId": "r", "to": "paused"}))
        .expect_err("an unknown status");
    assert!(err.to_string().contains("paused"), "{err}");
}
