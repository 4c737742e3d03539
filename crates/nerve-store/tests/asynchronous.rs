//! `AsyncStore` (feature `tokio`): the store's calls from tokio tasks run on the blocking
//! pool, so the runtime's own threads, and the timers on them, go on while a call waits on
//! the disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nerve_store::{AsyncStore, LogQuery, NewLogEntry, RunTransition, WorkflowRunStatus};

fn open(dir: &std::path::Path) -> AsyncStore {
    let file = if cfg!(feature = "sqlite") {
        "nerve.db"
    } else {
        "nerve.redb"
    };
    let location = dir.join(file).display().to_string();
    AsyncStore::new(nerve_store::open(&location).expect("a store"))
}

/// On a runtime with one thread, a store call that cannot return until a timer on that
/// runtime has fired returns: the call does not hold the thread the timer needs. (Called
/// on the runtime's thread instead, it would wait forever, and the case fail at its bound.)
#[test]
fn a_store_call_in_progress_does_not_hold_up_a_timer_on_the_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    runtime.block_on(async {
        let store = open(dir.path());
        let (fired, heard) = std::sync::mpsc::channel::<()>();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            fired.send(()).expect("the call listens");
        });
        let entry = store
            .call(move |store| {
                heard
                    .recv_timeout(Duration::from_secs(20))
                    .map_err(|_| nerve_store::StoreError::invalid("timer", "never fired"))?;
                store
                    .log
                    .append(NewLogEntry::new("daemon", "after the timer", "{}"))
            })
            .await
            .expect("the call returns once the timer fired");
        timer.await.expect("the timer task");
        assert_eq!(entry.kind, "after the timer");
    });
}

/// Many tasks writing durably at once, with a timer ticking beside them on a two-thread
/// runtime: every write lands once, and the timer kept ticking while they were in flight.
#[test]
fn tasks_writing_at_once_all_land_while_a_timer_ticks() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    runtime.block_on(async {
        let store = open(dir.path());
        let ticks = Arc::new(AtomicU64::new(0));
        let ticking = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(1));
                loop {
                    every.tick().await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let before = ticks.load(Ordering::Relaxed);
        let writers: Vec<_> = (0..8)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    for step in 0..25 {
                        let run = format!("run-{task}-{step}");
                        store
                            .transition_run(RunTransition::new(
                                &run,
                                "wf",
                                WorkflowRunStatus::Started,
                            ))
                            .await?;
                        store
                            .append(NewLogEntry::new("worker", "step", "{}").with_ref(&run))
                            .await?;
                    }
                    Ok::<_, nerve_store::StoreError>(())
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("a writer task").expect("its writes");
        }
        let during = ticks.load(Ordering::Relaxed) - before;
        ticking.abort();
        assert!(
            during > 0,
            "the timer ticked while the writes were in flight"
        );
        let stats = store.log_stats().await.expect("stats");
        assert_eq!(
            stats.entries,
            8 * 25 * 2,
            "each transition's audit entry and each append"
        );
        assert_eq!(stats.runs.get(WorkflowRunStatus::Started), 200);
        let all = store
            .query(&LogQuery::new().limit(usize::MAX))
            .await
            .expect("query");
        assert!(
            all.windows(2).all(|w| w[0].id < w[1].id),
            "ids once each, in order"
        );
    });
}

/// The calls about threads and meta answer through `AsyncStore` as the store does.
#[test]
fn threads_and_meta_answer_through_the_async_api() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    runtime.block_on(async {
        let store = open(dir.path());
        for round in 1..=3 {
            store
                .append_thread_message(nerve_store::ThreadMessage::new(
                    "t",
                    round,
                    nerve_store::Role::User,
                    format!("round {round}"),
                ))
                .await
                .expect("a message");
        }
        assert_eq!(store.last_round("t").await.expect("a round"), Some(3));
        assert_eq!(store.last_round("none").await.expect("no round"), None);
        let rows = store.thread_messages("t", None, 2).await.expect("a page");
        assert_eq!(rows.len(), 2);
        let rest = store
            .thread_messages("t", Some(rows[1].log_id), 10)
            .await
            .expect("the rest");
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].payload, "round 3");
        store.meta_set("k", "v").await.expect("set");
        assert!(store.meta_delete("k").await.expect("deleted"));
        assert!(!store.meta_delete("k").await.expect("already gone"));
        assert_eq!(store.meta_get("k").await.expect("get"), None);
    });
}
