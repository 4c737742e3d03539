//! What a fleet of daemons on one PostgreSQL store relies on beyond the shared suite: writer
//! processes appending at once while a reader pages after a cursor, which must see every
//! row once; and a call from a tokio worker thread, which is a typed error, not a panic.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use store_core::{LogId, LogQuery, LogStore, NewLogEntry, StoreError};
use store_postgres::PgLogStore;
use store_postgres::harness::options;

/// Set in a writer process: the store's folder.
const WRITER_ENV: &str = "NERVE_PG_FLEET_WRITER";
const WRITERS: usize = 8;
const EACH: usize = 300;

fn writer(dir: &Path) {
    let store = PgLogStore::open_with(options(dir)).expect("the writer opens the store");
    let me = std::process::id().to_string();
    for i in 0..EACH {
        store
            .append(NewLogEntry::new("writer", "append", i.to_string()).with_ref(&me))
            .expect("an append");
    }
}

/// Eight processes append 300 entries each, one commit per entry, while this one pages
/// through the log after a cursor, as `logs tail --follow` does: the reader sees every row
/// exactly once, in id order. (With ids from a sequence, a reader missed 296 of 2,400 rows
/// with 8 writers: a row with a lower id became visible after the cursor had passed it.)
#[test]
fn a_cursor_reader_beside_writer_processes_misses_no_row_and_sees_none_twice() {
    if let Some(dir) = std::env::var_os(WRITER_ENV) {
        return writer(Path::new(&dir));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = PgLogStore::open_with(options(dir.path())).expect("the store");
    let exe = std::env::current_exe().expect("the test binary");
    let mut writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "a_cursor_reader_beside_writer_processes_misses_no_row_and_sees_none_twice",
                    "--exact",
                    "--test-threads",
                    "1",
                ])
                .env(WRITER_ENV, dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("a writer process")
        })
        .collect();
    let mut seen: Vec<LogId> = Vec::new();
    let mut cursor = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < WRITERS * EACH {
        assert!(
            Instant::now() < deadline,
            "the writers never finished: {} seen",
            seen.len()
        );
        let page = store
            .query(&LogQuery {
                after: cursor,
                limit: Some(1000),
                ..LogQuery::default()
            })
            .expect("a page");
        if let Some(last) = page.last() {
            cursor = Some(last.id);
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
        seen.extend(page.iter().map(|entry| entry.id));
    }
    for mut writer in writers.drain(..) {
        assert!(
            writer.wait().expect("a writer ends").success(),
            "a writer failed"
        );
    }
    let all: Vec<LogId> = store
        .query(&LogQuery {
            limit: Some(usize::MAX),
            ..LogQuery::default()
        })
        .expect("the whole log")
        .iter()
        .map(|entry| entry.id)
        .collect();
    assert_eq!(all.len(), WRITERS * EACH);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "no row twice, in id order"
    );
    let missed: BTreeSet<_> = all.iter().filter(|id| !seen.contains(id)).collect();
    assert!(
        missed.is_empty(),
        "the cursor reader missed {} rows: {missed:?}",
        missed.len()
    );
}

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
