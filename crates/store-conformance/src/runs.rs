//! SPEC 1, workflow runs: the transition table pair by pair, the audit trail, the run's
//! counters and times, and the listings crash recovery reads.

use chrono::{DateTime, Utc};

use super::log::minutes;
use super::{Fixture, OpenStore, all_entries, collect_pages};
use store_core::WorkflowRunStatus::{self, *};
use store_core::{
    AUDIT_KIND, AUDIT_SOURCE, LogBackend, LogQuery, Order, RunQuery, RunTransition, StoreError,
    TransitionOutcome, WorkflowRun,
};

/// The accepted transitions, copied from the table in docs/SPEC.md rather than from the code, so
/// that the suite checks the code against the text.
pub const SPEC_TRANSITIONS: &[(Option<WorkflowRunStatus>, WorkflowRunStatus)] = &[
    (None, Queued),
    (None, Started),
    (None, Dropped),
    (Some(Queued), Started),
    (Some(Queued), Dropped),
    (Some(Started), Completed),
    (Some(Started), Failed),
    (Some(Started), Crashed),
    (Some(Started), Interrupted),
    (Some(Started), Dropped),
    (Some(Crashed), Started),
    (Some(Crashed), Failed),
    (Some(Interrupted), Started),
    (Some(Interrupted), Failed),
];

/// Whether docs/SPEC.md accepts `from -> to` as a change (re-applying a status is not one).
pub fn spec_allows(from: Option<WorkflowRunStatus>, to: WorkflowRunStatus) -> bool {
    SPEC_TRANSITIONS.contains(&(from, to))
}

const RUN: &str = "run-1";
const WORKFLOW: &str = "wf";
const THREAD: &str = "thread-1";

fn transition(to: WorkflowRunStatus, at: DateTime<Utc>) -> RunTransition {
    RunTransition::new(RUN, WORKFLOW, to)
        .in_thread(THREAD)
        .at(at)
}

/// Moves `run-1` to `status` by a legal path (nothing for `None`); returns the run.
fn bring_to(store: &dyn LogBackend, status: Option<WorkflowRunStatus>) -> Option<WorkflowRun> {
    let path = match status {
        None => vec![],
        Some(direct @ (Queued | Started | Dropped)) => vec![direct],
        Some(after_start) => vec![Started, after_start],
    };
    let mut run = None;
    for (step, to) in (0i64..).zip(path.iter()) {
        let outcome = store
            .transition_run(transition(*to, minutes(step)))
            .unwrap_or_else(|err| panic!("setting up {to}: {err}"));
        run = Some(outcome.run().clone());
    }
    run
}

/// One cell of the table: from `from` (a run brought there by a legal path, or no run), a
/// transition to `to` is applied, refused, or a no-op, exactly as docs/SPEC.md says; a refusal
/// or a no-op changes neither the run nor the log.
pub fn transition_pair(open: OpenStore, from: Option<WorkflowRunStatus>, to: WorkflowRunStatus) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let before = bring_to(store, from);
    let log_before = all_entries(store);
    let at = minutes(10);
    let result = store.transition_run(transition(to, at).with_detail("why"));

    if from == Some(to) {
        let outcome = result.unwrap_or_else(|err| panic!("re-applying {to}: {err}"));
        assert_eq!(
            outcome,
            TransitionOutcome::Unchanged {
                run: before.clone().expect("run")
            }
        );
        assert_eq!(store.get_run(RUN).expect("get_run"), before);
        assert_eq!(all_entries(store), log_before, "a no-op logs nothing");
    } else if spec_allows(from, to) {
        let outcome = result.unwrap_or_else(|err| panic!("{from:?} -> {to} is allowed: {err}"));
        let TransitionOutcome::Applied {
            run,
            previous,
            audit,
        } = outcome
        else {
            panic!("{from:?} -> {to} is applied, got {outcome:?}");
        };
        assert_eq!(previous, from);
        assert_eq!(
            (run.status, run.updated_at, run.detail.as_deref()),
            (to, at, Some("why"))
        );
        assert_eq!(store.get_run(RUN).expect("get_run"), Some(run));
        let mut log_after = log_before;
        log_after.push(audit.clone());
        assert_eq!(
            all_entries(store),
            log_after,
            "exactly the audit entry is appended"
        );
        assert_eq!(
            (
                audit.source.as_str(),
                audit.kind.as_str(),
                audit.ref_id.as_deref(),
                audit.ts
            ),
            (AUDIT_SOURCE, AUDIT_KIND, Some(RUN), at)
        );
    } else {
        let err = result.expect_err("a transition the table refuses");
        assert!(
            matches!(&err, StoreError::InvalidTransition { run_id, from: f, to: t }
                if run_id == RUN && *f == from && *t == to),
            "{from:?} -> {to}: {err}"
        );
        assert_eq!(
            store.get_run(RUN).expect("get_run"),
            before,
            "the run is unchanged"
        );
        assert_eq!(all_entries(store), log_before, "a refusal logs nothing");
    }
}

fn apply(store: &dyn LogBackend, to: WorkflowRunStatus, minute: i64) -> WorkflowRun {
    store
        .transition_run(transition(to, minutes(minute)))
        .unwrap_or_else(|err| panic!("transition to {to}: {err}"))
        .run()
        .clone()
}

/// `attempt` starts at 1 and counts resumes; `started_at` is the first start; a resumable
/// run has no `finished_at`.
pub fn a_resume_counts_an_attempt_and_keeps_the_first_start(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let queued = apply(store, Queued, 0);
    assert_eq!(
        (queued.attempt, queued.started_at, queued.created_at),
        (1, None, minutes(0))
    );
    let started = apply(store, Started, 1);
    assert_eq!((started.attempt, started.started_at), (1, Some(minutes(1))));
    let crashed = apply(store, Crashed, 2);
    assert_eq!((crashed.attempt, crashed.finished_at), (1, None));
    let resumed = apply(store, Started, 3);
    assert_eq!((resumed.attempt, resumed.started_at), (2, Some(minutes(1))));
    apply(store, Interrupted, 4);
    let resumed = apply(store, Started, 5);
    assert_eq!(resumed.attempt, 3);
    assert_eq!(
        (resumed.created_at, resumed.updated_at),
        (minutes(0), minutes(5))
    );
}

/// `finished_at` is set when, and only when, the run reaches a final status.
pub fn finished_at_is_set_by_a_final_status(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    for (run_id, path) in [
        ("completed", vec![Started, Completed]),
        ("failed", vec![Started, Crashed, Failed]),
        ("dropped", vec![Queued, Dropped]),
        ("rejected", vec![Dropped]),
    ] {
        let mut run = None;
        for (minute, to) in (0..).zip(&path) {
            let outcome = store
                .transition_run(RunTransition::new(run_id, WORKFLOW, *to).at(minutes(minute)))
                .unwrap_or_else(|err| panic!("{run_id} to {to}: {err}"));
            let current = outcome.run().clone();
            let expected = to.is_final().then(|| minutes(minute));
            assert_eq!(current.finished_at, expected, "{run_id} at {to}");
            run = Some(current);
        }
        assert!(run.expect("a run").status.is_final());
    }
}

/// The audit entry of a change is appended with it, says what changed, and is found by the
/// run id; the runs table can be replayed from the log.
pub fn each_applied_transition_is_logged_in_the_same_transaction(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    for (minute, to) in (0..).zip([Queued, Started, Crashed, Started, Completed]) {
        let outcome = store
            .transition_run(transition(to, minutes(minute)))
            .expect("transition");
        let TransitionOutcome::Applied {
            audit,
            run,
            previous,
        } = outcome
        else {
            panic!("{to} is applied");
        };
        let payload: serde_json::Value =
            serde_json::from_str(&audit.payload).expect("JSON payload");
        assert_eq!(payload["runId"], RUN);
        assert_eq!(payload["workflow"], WORKFLOW);
        assert_eq!(payload["threadId"], THREAD);
        assert_eq!(payload["to"], to.as_str());
        assert_eq!(
            payload["from"],
            serde_json::json!(previous.map(|s| s.as_str()))
        );
        assert_eq!(payload["attempt"], run.attempt);
    }
    let trail = store
        .query(&LogQuery {
            ref_id: Some(RUN.into()),
            ..LogQuery::default()
        })
        .expect("query by run id");
    let statuses: Vec<String> = trail
        .iter()
        .map(|e| {
            let payload: serde_json::Value = serde_json::from_str(&e.payload).expect("JSON");
            payload["to"].as_str().expect("to").to_owned()
        })
        .collect();
    assert_eq!(
        statuses,
        ["queued", "started", "crashed", "started", "completed"]
    );
}

/// A daemon may deliver a transition twice: the second changes nothing, not even
/// `updated_at` or the detail, and logs nothing.
pub fn redelivered_transitions_change_nothing(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    apply(store, Started, 0);
    let done = apply(store, Completed, 1);
    let log = all_entries(store);
    let again = store
        .transition_run(transition(Completed, minutes(9)).with_detail("late copy"))
        .expect("redelivery");
    assert_eq!(again, TransitionOutcome::Unchanged { run: done.clone() });
    assert!(!again.is_applied());
    assert_eq!(store.get_run(RUN).expect("get_run"), Some(done));
    assert_eq!(all_entries(store), log);
}

/// A refused transition of an existing run leaves the run, its counters and the log as
/// they were, and says which run and statuses were involved.
pub fn a_refused_transition_changes_nothing(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    apply(store, Started, 0);
    let done = apply(store, Completed, 1);
    let log = all_entries(store);
    let err = store
        .transition_run(transition(Started, minutes(2)))
        .expect_err("completed -> started");
    let message = err.to_string();
    assert!(
        message.contains(RUN) && message.contains("completed") && message.contains("started"),
        "{message}"
    );
    assert_eq!(store.get_run(RUN).expect("get_run"), Some(done));
    assert_eq!(all_entries(store), log);
}

/// A transition that names an existing run with another workflow or thread is refused as a
/// conflict and changes nothing.
pub fn a_run_id_reused_for_another_workflow_or_thread_is_refused(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let run = apply(store, Started, 0);
    let log = all_entries(store);
    let other_workflow = RunTransition::new(RUN, "another", Completed).in_thread(THREAD);
    let other_thread = RunTransition::new(RUN, WORKFLOW, Completed).in_thread("another");
    let only_another_thread = RunTransition {
        thread_id: Some("another".into()),
        ..RunTransition::of(RUN, Completed)
    };
    for (field, attempt) in [
        ("workflow", other_workflow),
        ("thread_id", other_thread),
        ("thread_id", only_another_thread),
    ] {
        let err = store
            .transition_run(attempt)
            .expect_err("a conflicting transition");
        assert!(
            matches!(&err, StoreError::RunConflict { field: f, .. } if *f == field),
            "{err}"
        );
    }
    assert_eq!(store.get_run(RUN).expect("get_run"), Some(run));
    assert_eq!(all_entries(store), log);
}

/// A transition of an existing run may omit its workflow and thread: the stored ones are
/// kept. One that omits the workflow cannot create a run: it is `UnknownRun`, and writes
/// nothing.
pub fn a_transition_that_omits_workflow_and_thread_keeps_the_stored_ones(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let started = apply(store, Started, 0);
    assert_eq!(started.thread_id.as_deref(), Some(THREAD));
    let log = all_entries(store);
    let err = store
        .transition_run(RunTransition::of("ghost", Started))
        .expect_err("no run to move");
    assert!(
        matches!(&err, StoreError::UnknownRun { run_id } if run_id == "ghost"),
        "{err}"
    );
    assert_eq!(store.get_run("ghost").expect("get_run"), None);
    assert_eq!(all_entries(store), log, "the refusal wrote nothing");

    let interrupted = store
        .transition_run(RunTransition::of(RUN, Interrupted).at(minutes(1)))
        .expect("a transition that names only the run");
    let run = interrupted.run();
    assert_eq!(run.workflow, WORKFLOW);
    assert_eq!(run.thread_id.as_deref(), Some(THREAD));
    assert_eq!(run.status, Interrupted);
    let resumed = store
        .transition_run(RunTransition::new(RUN, WORKFLOW, Started).at(minutes(2)))
        .expect("the workflow without the thread");
    assert_eq!(resumed.run().thread_id.as_deref(), Some(THREAD));
    assert_eq!(resumed.run().attempt, 2);
    assert_eq!(
        store.get_run(RUN).expect("get_run").as_ref(),
        Some(resumed.run())
    );
}

/// After a restart, the queued and started runs, and only they, come back oldest first,
/// exactly as they were.
pub fn active_runs_are_listed_oldest_first_after_reopening(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let plan: [(&str, &[WorkflowRunStatus], i64); 6] = [
        ("queued-late", &[Queued], 30),
        ("started-early", &[Started], 10),
        ("done", &[Started, Completed], 5),
        ("crashed", &[Started, Crashed], 1),
        ("started-mid", &[Queued, Started], 20),
        ("dropped", &[Dropped], 0),
    ];
    for (run_id, path, created) in plan {
        for (step, to) in (0..).zip(path) {
            fx.store()
                .transition_run(
                    RunTransition::new(run_id, WORKFLOW, *to).at(minutes(created + step)),
                )
                .unwrap_or_else(|err| panic!("{run_id} to {to}: {err}"));
        }
    }
    let active = fx.store().list_active_runs().expect("active runs");
    let ids: Vec<&str> = active.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["started-early", "started-mid", "queued-late"]);
    fx.reopen();
    assert_eq!(
        fx.store()
            .list_active_runs()
            .expect("active runs after reopening"),
        active
    );
}

/// `list_runs` filters by status, workflow and thread, pages with a run-id cursor without
/// gaps or repeats, and refuses an unknown cursor.
pub fn list_runs_filters_and_pages(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let mut all = Vec::new();
    for i in 0..24i64 {
        let run_id = format!("run-{i:02}");
        let workflow = if i % 2 == 0 { "build" } else { "deploy" };
        let thread = format!("thread-{}", i % 3);
        let path: &[WorkflowRunStatus] = match i % 4 {
            0 => &[Queued],
            1 => &[Started],
            2 => &[Started, Completed],
            _ => &[Started, Failed],
        };
        // Two runs share each creation time, so the order falls back to the run id.
        let created = minutes(100 - i / 2);
        let mut run = None;
        for to in path {
            let t = RunTransition::new(&run_id, workflow, *to)
                .in_thread(&thread)
                .at(created);
            run = Some(store.transition_run(t).expect("transition").run().clone());
        }
        all.push(run.expect("a run"));
    }
    all.sort_by(|a, b| (a.created_at, &a.run_id).cmp(&(b.created_at, &b.run_id)));

    let queries = [
        RunQuery::default(),
        RunQuery {
            statuses: vec![Started],
            ..RunQuery::default()
        },
        RunQuery {
            statuses: vec![Completed, Failed],
            workflow: Some("deploy".into()),
            ..RunQuery::default()
        },
        RunQuery {
            thread_id: Some("thread-1".into()),
            ..RunQuery::default()
        },
        RunQuery {
            workflow: Some("build".into()),
            thread_id: Some("thread-2".into()),
            ..RunQuery::default()
        },
        RunQuery {
            workflow: Some("nothing".into()),
            ..RunQuery::default()
        },
    ];
    // Each query oldest and newest first, over every creation time and over a range that
    // cuts through runs sharing a time.
    let ranges = [
        (None, None),
        (Some(minutes(92)), Some(minutes(97))),
        (Some(minutes(95)), None),
    ];
    let queries = queries.into_iter().flat_map(|query| {
        ranges.into_iter().flat_map(move |(since, until)| {
            let query = query.clone().created(since, until);
            [query.clone(), query.order(Order::Descending)]
        })
    });
    for query in queries {
        let mut expected: Vec<_> = all.iter().filter(|r| query.matches(r)).cloned().collect();
        if query.order == Order::Descending {
            expected.reverse();
        }
        assert_eq!(
            store.list_runs(&query).expect("list_runs"),
            expected,
            "{query:?}"
        );
        let paged = collect_pages(
            all.len() / 5 + 2,
            |after| {
                let page = RunQuery {
                    after,
                    limit: Some(5),
                    ..query.clone()
                };
                store.list_runs(&page).expect("page")
            },
            |run| run.run_id.clone(),
        );
        assert_eq!(paged, expected, "paging {query:?}");
    }
    // A cursor outside the range starts the walk at the range's end.
    let newest_outside = &all[all.len() - 1];
    let in_range = RunQuery::new().created(Some(minutes(92)), Some(minutes(97)));
    let inside: Vec<_> = all
        .iter()
        .filter(|r| in_range.matches(r))
        .cloned()
        .collect();
    assert_eq!(
        store
            .list_runs(
                &in_range
                    .clone()
                    .order(Order::Descending)
                    .after(&newest_outside.run_id)
            )
            .expect("from outside"),
        inside.iter().rev().cloned().collect::<Vec<_>>()
    );
    let late = DateTime::<Utc>::MAX_UTC;
    let err = store
        .list_runs(&RunQuery::new().created(None, Some(late)))
        .expect_err("a time no store keeps");
    assert!(
        matches!(
            &err,
            StoreError::InvalidInput {
                field: "created_until",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .list_runs(&RunQuery {
            after: Some("no-such-run".into()),
            ..RunQuery::default()
        })
        .expect_err("an unknown cursor");
    assert!(
        matches!(&err, StoreError::UnknownRun { run_id } if run_id == "no-such-run"),
        "{err}"
    );
    assert!(
        store
            .list_runs(&RunQuery {
                limit: Some(0),
                ..RunQuery::default()
            })
            .expect("limit 0")
            .is_empty()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_table_is_the_one_in_the_spec_for_all_56_pairs() {
        let from_states = std::iter::once(None).chain(WorkflowRunStatus::ALL.map(Some));
        let mut checked = 0;
        for from in from_states {
            for to in WorkflowRunStatus::ALL {
                assert_eq!(
                    store_core::is_allowed(from, to),
                    spec_allows(from, to),
                    "{from:?} -> {to}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 56);
    }
}
