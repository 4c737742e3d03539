//! SPEC 1, write units and group commit: several writes committed as one fact, and calls
//! from many threads at once, each answered as if it had been alone.

use std::sync::Mutex;

use super::log::minutes;
use super::{Fixture, IdRanks, OpenStore, all_entries, observable_state};
use store_core::WorkflowRunStatus::{Completed, Queued, Started};
use store_core::{
    LogBackend, LogStore, MemoryLogStore, NewLogEntry, RunTransition, StoreError, ThreadMessage,
    TransitionOutcome, Write, WriteUnit, Written,
};

fn message(thread: &str, round: u32, at: i64) -> ThreadMessage {
    ThreadMessage {
        thread_id: thread.into(),
        role: "assistant".into(),
        round,
        payload: format!("round {round}"),
        ts: Some(minutes(at)),
    }
}

/// A unit of a transition, the run's start, an entry, a thread message and meta writes
/// commits all of it: each write sees the ones before it, the entries get consecutive ids
/// in the unit's order, and all of it is there after reopening.
pub fn a_unit_commits_every_write_as_one_fact(open: OpenStore) {
    let mut fx = Fixture::new(open);
    let before = fx
        .store()
        .append(NewLogEntry::new("s", "k", "before").at(minutes(0)))
        .expect("an entry before the unit");
    fx.store().meta_set("gone", "soon").expect("a meta key");
    let unit = WriteUnit::new()
        .transition(RunTransition::new("r", "wf", Queued).at(minutes(1)))
        .transition(RunTransition::new("r", "wf", Started).at(minutes(2)))
        .transition(RunTransition::new("r", "wf", Started).at(minutes(3)))
        .append(
            NewLogEntry::new("worker", "step", "one")
                .with_ref("r")
                .at(minutes(4)),
        )
        .thread_message(message("t", 1, 5))
        .meta_set("cursor", "7")
        .meta_delete("gone")
        .meta_delete("never");
    let written = fx.store().write_unit(unit).expect("the unit commits");
    assert_eq!(written.len(), 8, "one result per write: {written:?}");
    let ids: Vec<u64> = written
        .iter()
        .filter_map(Written::entry)
        .map(|e| e.id.0)
        .collect();
    assert!(ids[0] > before.id.0, "after the entry before: {written:?}");
    assert_eq!(
        ids,
        (ids[0]..ids[0] + 4).collect::<Vec<_>>(),
        "consecutive, in the unit's order: {written:?}"
    );
    match &written[1] {
        Written::Transitioned(TransitionOutcome::Applied { run, previous, .. }) => {
            assert_eq!(*previous, Some(Queued), "the start saw the queueing");
            assert_eq!((run.status, run.attempt), (Started, 1));
            assert_eq!(run.created_at, minutes(1));
        }
        other => panic!("the start was applied: {other:?}"),
    }
    assert!(
        matches!(&written[2], Written::Transitioned(TransitionOutcome::Unchanged { run }) if run.status == Started),
        "a second start in the same unit is a redelivery: {:?}",
        written[2]
    );
    assert_eq!(written[5], Written::MetaSet);
    assert_eq!(written[6], Written::MetaDeleted { existed: true });
    assert_eq!(written[7], Written::MetaDeleted { existed: false });

    fx.reopen();
    let store = fx.store();
    let log = all_entries(store);
    let stored: Vec<_> = written.iter().filter_map(Written::entry).cloned().collect();
    assert_eq!(&log[1..], stored.as_slice(), "every entry, as returned");
    let run = store.get_run("r").expect("get_run").expect("the run");
    assert_eq!(run.status, Started);
    assert_eq!(store.last_round("t").expect("last_round"), Some(1));
    assert_eq!(store.meta_get("cursor").expect("meta"), Some("7".into()));
    assert_eq!(store.meta_get("gone").expect("meta"), None);
}

/// One refused write refuses its whole unit, wherever it stands in it: nothing of the unit
/// is written, the error is the one the write alone would get (an invalid input names the
/// write), and the next write's id is above every id in the log.
pub fn a_refused_write_refuses_the_whole_unit(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    store
        .transition_run(RunTransition::new("done", "wf", Started).at(minutes(0)))
        .expect("a started run");
    let seen = observable_state(store, &["t"]);
    let appends_then = |last: Write| {
        WriteUnit::new()
            .append(NewLogEntry::new("s", "k", "lost").at(minutes(1)))
            .thread_message(message("t", 1, 2))
            .meta_set("lost", "yes")
            .transition(RunTransition::new("done", "wf", Completed).at(minutes(3)))
            .with(last)
    };
    let refused = [
        (
            "a transition the table refuses",
            appends_then(Write::Transition(RunTransition::new("done", "wf", Queued))),
        ),
        (
            "a conflicting workflow",
            appends_then(Write::Transition(RunTransition::new(
                "done", "other", Completed,
            ))),
        ),
        (
            "an empty source",
            appends_then(Write::Append(NewLogEntry::new("", "k", "p"))),
        ),
        (
            "an empty meta key",
            appends_then(Write::MetaSet {
                key: String::new(),
                value: "v".into(),
                blobs: Vec::new(),
            }),
        ),
    ];
    for (what, unit) in refused {
        let err = store.write_unit(unit).expect_err(what);
        match (&err, what) {
            (
                StoreError::InvalidTransition { run_id, from, .. },
                "a transition the table refuses",
            ) => {
                assert_eq!((run_id.as_str(), *from), ("done", Some(Completed)), "{err}");
            }
            (StoreError::RunConflict { .. }, "a conflicting workflow") => {}
            (
                StoreError::InvalidInput {
                    field: "source",
                    reason,
                },
                "an empty source",
            )
            | (
                StoreError::InvalidInput {
                    field: "key",
                    reason,
                },
                "an empty meta key",
            ) => {
                assert!(reason.contains("write 4 of the unit"), "{err}");
            }
            _ => panic!("{what}: unexpected {err}"),
        }
        assert_eq!(
            observable_state(store, &["t"]),
            seen,
            "{what} wrote nothing"
        );
    }
    let next = store
        .append(NewLogEntry::new("s", "k", "next").at(minutes(4)))
        .expect("an append after the refusals");
    let log = all_entries(store);
    assert_eq!(
        log.len(),
        2,
        "the start's audit entry and the next append: {log:?}"
    );
    assert!(next.id > log[0].id, "{log:?}");
}

/// An empty unit writes nothing and returns nothing.
pub fn an_empty_unit_is_a_no_op(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let seen = observable_state(store, &[]);
    assert_eq!(store.write_unit(WriteUnit::new()).expect("empty"), vec![]);
    assert_eq!(observable_state(store, &[]), seen);
}

/// What one call of [`many_threads_each_get_the_answer_the_model_gives`] sent and got.
struct Call {
    unit: WriteUnit,
    answer: Result<Vec<Written>, String>,
}

/// The calls thread `thread` makes: appends, thread messages, units, transitions of its own
/// runs and of runs every thread races for, and calls the store must refuse. Every time is
/// given, so that a replay on the model produces the same rows.
fn calls_of(thread: usize) -> Vec<WriteUnit> {
    let at = |n: usize| minutes((thread * 1000 + n) as i64);
    let mut calls = Vec::new();
    for n in 0..24 {
        let own = format!("t{thread}-r{}", n / 3);
        let shared = format!("shared-{}", (n / 8 + thread) % 4);
        let unit = match n % 8 {
            0 => WriteUnit::new().append(
                NewLogEntry::new(format!("t{thread}"), "note", n.to_string())
                    .with_ref(&own)
                    .at(at(n)),
            ),
            1 => WriteUnit::new().thread_message(message(&format!("thread-{thread}"), n as u32, 0)),
            2 => WriteUnit::new()
                .transition(RunTransition::new(&own, "wf", Queued).at(at(n)))
                .transition(RunTransition::new(&own, "wf", Started).at(at(n)))
                .append(
                    NewLogEntry::new("worker", "step", "unit")
                        .with_ref(&own)
                        .at(at(n)),
                )
                .meta_set(format!("t{thread}.last"), n.to_string()),
            // Every thread tries to create, start and finish the same four runs: one wins
            // each step, the others are redeliveries or refusals.
            3 => WriteUnit::new().transition(RunTransition::new(&shared, "wf", Queued).at(at(n))),
            4 => WriteUnit::new().transition(RunTransition::new(&shared, "wf", Started).at(at(n))),
            5 => {
                WriteUnit::new().transition(RunTransition::new(&shared, "wf", Completed).at(at(n)))
            }
            // Refused before the store is read, and refused by what the store holds.
            6 => WriteUnit::new()
                .append(NewLogEntry::new("s", "k", "refused").at(at(n)))
                .append(NewLogEntry::new("", "k", "refused").at(at(n))),
            _ => WriteUnit::new()
                .append(NewLogEntry::new("s", "k", "refused").at(at(n)))
                .transition(RunTransition::new(&shared, "another-workflow", Queued).at(at(n))),
        };
        calls.push(unit);
    }
    calls
}

/// Eight threads write at once, a mix of valid and refused calls, racing for the same runs:
/// every call gets its own answer, and it is the answer the model gives when the calls that
/// wrote are replayed on it in the order of their ids. So no call's write is lost, doubled,
/// mixed with another's or given another call's ids, ids are consecutive within a call and
/// increase in commit order, and a refused call wrote nothing: after the replay the store
/// and the model hold the same.
pub fn many_threads_each_get_the_answer_the_model_gives(open: OpenStore) {
    const THREADS: usize = 8;
    let fx = Fixture::new(open);
    let store = fx.store();
    let calls = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let calls = &calls;
            scope.spawn(move || {
                for unit in calls_of(thread) {
                    let answer = store
                        .write_unit(unit.clone())
                        .map_err(|err| err.to_string());
                    calls
                        .lock()
                        .expect("the call log")
                        .push(Call { unit, answer });
                }
            });
        }
    });
    let mut calls = calls.into_inner().expect("the call log");
    for call in &calls {
        if let Err(err) = &call.answer {
            assert!(
                !err.contains("failed while") && !err.contains("locked"),
                "a refusal, not an engine failure: {err}"
            );
        }
    }
    // The calls that appended, in the order of their first id; the model must answer each
    // alike. Refused calls and calls that wrote no entry (redelivered transitions) change
    // nothing the replay needs.
    calls.retain(|call| {
        call.answer
            .as_ref()
            .is_ok_and(|written| written.iter().any(|w| w.entry().is_some()))
    });
    let first_id = |call: &Call| {
        call.answer
            .as_ref()
            .ok()
            .and_then(|written| written.iter().find_map(Written::entry))
            .map(|entry| entry.id)
    };
    calls.sort_by_key(first_id);
    for call in &calls {
        let ids: Vec<u64> = call
            .answer
            .iter()
            .flatten()
            .filter_map(Written::entry)
            .map(|entry| entry.id.0)
            .collect();
        assert!(
            ids.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "consecutive within a call: {ids:?}"
        );
    }
    // Ids compare by rank: the model numbers from 1, a store as its backend does.
    let mut ranks = IdRanks::new();
    ranks.learn(all_entries(store).into_iter().map(|entry| entry.id));
    let model = MemoryLogStore::new();
    let replayed: Vec<_> = calls
        .iter()
        .map(|call| {
            model
                .write_unit(call.unit.clone())
                .map_err(|err| err.to_string())
        })
        .collect();
    let mut model_ranks = IdRanks::new();
    model_ranks.learn(all_entries(&model).into_iter().map(|entry| entry.id));
    for (call, replayed) in calls.iter().zip(&replayed) {
        assert_eq!(
            model_ranks.ranked(&format!("{replayed:?}")),
            ranks.ranked(&format!("{:?}", call.answer)),
            "the model answers {:?} alike",
            call.unit
        );
    }
    let threads: Vec<String> = (0..THREADS).map(|t| format!("thread-{t}")).collect();
    let threads: Vec<&str> = threads.iter().map(String::as_str).collect();
    assert_eq!(
        ranks.ranked(&observable_state(store, &threads)),
        model_ranks.ranked(&observable_state(&model as &dyn LogBackend, &threads)),
        "the store holds what the model holds"
    );
    for shared in 0..4 {
        let run = store.get_run(&format!("shared-{shared}")).expect("get_run");
        assert!(run.is_some(), "some thread created shared-{shared}");
    }
}

/// `write_units` from one thread: each unit its own fact with its own answer, in order, as
/// the same units from as many threads; a refused unit writes nothing and the others commit;
/// more units than one group holds all land.
pub fn write_units_answers_each_unit_as_its_own_call(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let mut units: Vec<WriteUnit> = (0..600)
        .map(|i| WriteUnit::new().append(NewLogEntry::new("many", "k", i.to_string())))
        .collect();
    units[7] = WriteUnit::new()
        .append(NewLogEntry::new(
            "many",
            "k",
            "first half of a refused unit",
        ))
        .append(NewLogEntry::new("", "k", "an empty source"));
    units[8] = WriteUnit::new();
    units[9] = WriteUnit::new()
        .transition(RunTransition::new("run-u", "wf", Queued))
        .transition(RunTransition::new("run-u", "wf", Started));
    let results = store.write_units(units);
    assert_eq!(results.len(), 600);
    assert!(
        matches!(
            &results[7],
            Err(StoreError::InvalidInput {
                field: "source",
                ..
            })
        ),
        "{:?}",
        results[7]
    );
    assert_eq!(
        results[8].as_ref().ok().map(Vec::len),
        Some(0),
        "an empty unit"
    );
    assert_eq!(
        results[9].as_ref().map(Vec::len).ok(),
        Some(2),
        "both transitions"
    );
    let appended: Vec<_> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| ![7, 8, 9].contains(i))
        .map(|(_, result)| match result.as_deref() {
            Ok([Written::Appended(entry)]) => entry.clone(),
            other => panic!("an append: {other:?}"),
        })
        .collect();
    assert_eq!(appended.len(), 597);
    assert!(
        appended.windows(2).all(|pair| pair[0].id < pair[1].id),
        "in the units' order"
    );
    let stored: Vec<_> = all_entries(store)
        .into_iter()
        .filter(|entry| entry.source == "many")
        .collect();
    assert_eq!(stored, appended, "the refused unit wrote nothing");
    assert_eq!(
        store.get_run("run-u").expect("a run").map(|run| run.status),
        Some(Started)
    );
}
