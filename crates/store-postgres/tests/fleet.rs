//! What a fleet of daemons on one PostgreSQL store relies on beyond the shared suite (whose
//! `processes` cases run eight writer processes beside a cursor reader on every backend):
//! a call from a tokio worker thread, which is a typed error, not a panic; daemons racing on
//! one run.

use store_core::{LogQuery, LogStore, NewLogEntry, StoreError};
use store_postgres::PgLogStore;
use store_postgres::harness::options;

/// On a tokio runtime's own thread the sync client would panic; the store runs it on a
/// thread of its own there, so opening, calling and dropping the store on the runtime's
/// thread all work, and what it wrote there is read off the runtime.
#[test]
fn a_store_opened_called_and_dropped_on_a_runtime_thread_works() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = PgLogStore::open_with(options(dir.path())).expect("the store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let (opened, called) = runtime.block_on(async {
        let called = store.append(NewLogEntry::new("s", "k", "from a task"));
        // The other handle is dropped at the end of the closure, on the runtime's thread.
        let there = PgLogStore::open_with(options(dir.path()))
            .and_then(|other| other.append(NewLogEntry::new("s", "k", "from the other")));
        (there, called)
    });
    opened.expect("opened, written through and dropped on the runtime's thread");
    let entry = called.expect("called on the runtime's thread");
    let all = store.query(&store_core::LogQuery::default()).expect("read");
    assert!(all.contains(&entry), "{all:?}");
    assert_eq!(all.len(), 2, "{all:?}");
}

/// Daemons (here: store handles with pools of their own) racing on one run: its first
/// transition is applied once and seen by the others as unchanged, and of two final
/// statuses asked for at once exactly one is applied, the other refused by the table.
#[test]
fn daemons_racing_on_one_run_apply_each_step_once() {
    use store_core::{RunTransition, TransitionOutcome, WorkflowRunStatus};
    let dir = tempfile::tempdir().expect("temp dir");
    let daemons: Vec<PgLogStore> = (0..4)
        .map(|_| PgLogStore::open_with(options(dir.path())).expect("a daemon's store"))
        .collect();
    for round in 0..10 {
        let run = format!("run-{round}");
        let started: Vec<TransitionOutcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = daemons
                .iter()
                .map(|daemon| {
                    let run = run.clone();
                    scope.spawn(move || {
                        daemon
                            .transition_run(RunTransition::new(
                                run,
                                "wf",
                                WorkflowRunStatus::Started,
                            ))
                            .expect("a start")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a daemon"))
                .collect()
        });
        assert_eq!(
            started.iter().filter(|o| o.is_applied()).count(),
            1,
            "{run}: created once: {started:?}"
        );
        let ends: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = daemons
                .iter()
                .zip(
                    [WorkflowRunStatus::Completed, WorkflowRunStatus::Failed]
                        .iter()
                        .cycle(),
                )
                .map(|(daemon, to)| {
                    let run = run.clone();
                    scope.spawn(move || daemon.transition_run(RunTransition::of(run, *to)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a daemon"))
                .collect()
        });
        let applied = ends
            .iter()
            .filter(|end| matches!(end, Ok(outcome) if outcome.is_applied()))
            .count();
        assert_eq!(applied, 1, "{run}: one final status: {ends:?}");
        assert!(
            ends.iter()
                .all(|end| matches!(end, Ok(_) | Err(StoreError::InvalidTransition { .. }))),
            "{run}: the others are unchanged or refused: {ends:?}"
        );
        let audit = daemons[0]
            .query(&LogQuery {
                ref_id: Some(run.clone()),
                ..LogQuery::default()
            })
            .expect("the run's audit entries");
        assert_eq!(audit.len(), 2, "{run}: one audit entry per applied step");
    }
}
