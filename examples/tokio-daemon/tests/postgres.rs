//! A tokio daemon on a PostgreSQL store, as a downstream crate with the facade's features
//! `postgres` and `tokio` uses it: opened inside `spawn_blocking` and on a runtime thread,
//! written and read through `AsyncStore` from 100 tasks at once, and dropped inside the
//! runtime. The sync client must never meet the runtime (it would panic, and a panic in a
//! drop aborts the process).

use std::collections::BTreeSet;

use nerve_store::{AsyncStore, LogQuery, NewLogEntry, RunTransition, WorkflowRunStatus};

const TASKS: usize = 100;

/// The location of a fresh store on the test server, found off the runtime (the harness
/// talks to the server with the sync client).
async fn fresh_location(dir: std::path::PathBuf) -> String {
    tokio::task::spawn_blocking(move || store_postgres::harness::options(&dir).location())
        .await
        .expect("the test server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_in_spawn_blocking_serves_100_tasks_and_drops_inside_the_runtime() {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = fresh_location(dir.path().to_owned()).await;
    let opened = location.clone();
    let store = tokio::task::spawn_blocking(move || nerve_store::open(&opened))
        .await
        .expect("the blocking task")
        .expect("the store opens inside spawn_blocking");
    let store = AsyncStore::new(store);

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let run = format!("run-{task}");
            store
                .transition_run(RunTransition::new(&run, "wf", WorkflowRunStatus::Started))
                .await?;
            let entry = store
                .append(NewLogEntry::new("task", "step", task.to_string()).with_ref(&run))
                .await?;
            let mine = store.query(&LogQuery::new().ref_id(&run)).await?;
            store
                .transition_run(RunTransition::new(&run, "wf", WorkflowRunStatus::Completed))
                .await?;
            Ok::<_, nerve_store::StoreError>((entry, mine))
        });
    }
    let mut ids = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (entry, mine) = done.expect("the task").expect("its calls");
        assert!(mine.contains(&entry), "a task reads back what it wrote");
        assert!(ids.insert(entry.id), "no id is given twice");
    }
    assert_eq!(ids.len(), TASKS);
    let stats = store.log_stats().await.expect("stats");
    assert_eq!(stats.runs.get(WorkflowRunStatus::Completed), TASKS as u64);

    // Inside spawn_blocking, the store's sync API.
    let blocking = store.clone();
    let entries = tokio::task::spawn_blocking(move || {
        blocking.blocking().log.query(&LogQuery {
            source: Some("task".into()),
            limit: Some(TASKS * 2),
            ..LogQuery::default()
        })
    })
    .await
    .expect("the blocking task")
    .expect("a query inside spawn_blocking");
    assert_eq!(entries.len(), TASKS);

    // Dropped here, on a runtime worker thread: the last clone closes the pool.
    drop(store);

    // Opened, used and dropped on the runtime's own thread too: it blocks that thread for
    // the call, as any sync call there does, and never panics.
    let again = nerve_store::open(&location).expect("the store opens on a runtime thread");
    let stats = again.log.log_stats().expect("stats");
    assert_eq!(
        stats.entries,
        (TASKS * 3) as u64,
        "each task's entry and its two transitions"
    );
    drop(again);
}
