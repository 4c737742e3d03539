//! A small daemon on tokio: workflow tasks that record every step of their runs through
//! [`AsyncStore`] (durable writes, committed together when they come together), a heartbeat
//! timer beside them that reports how late it ever fired, and crash recovery at start-up
//! (the runs a previous process left active are resumed).
//!
//! `cargo run -p tokio-daemon-example -- [STORE] [RUNS]` (a throwaway store under the
//! system's temporary folder, and 200 runs, by default).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nerve_store::{
    AsyncStore, NewLogEntry, RunTransition, StoreResult, ThreadMessage, WorkflowRunStatus,
};

/// How many workflow tasks run at once.
const WORKERS: usize = 16;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let location = args.next().unwrap_or_else(|| {
        std::env::temp_dir()
            .join(format!("nerve-tokio-daemon-{}.db", std::process::id()))
            .display()
            .to_string()
    });
    let runs: usize = args.next().map_or(Ok(200), |n| n.parse())?;
    let store = AsyncStore::new(nerve_store::open(&location)?);

    // Crash recovery: the runs a previous process left started died with it (queued ones
    // would be picked up again by a real daemon).
    let leftover: Vec<_> = store
        .list_active_runs()
        .await?
        .into_iter()
        .filter(|run| run.status == WorkflowRunStatus::Started)
        .collect();
    for run in &leftover {
        store
            .transition_run(RunTransition::of(&run.run_id, WorkflowRunStatus::Crashed))
            .await?;
    }

    let late_micros = Arc::new(AtomicU64::new(0));
    let heartbeat = tokio::spawn(heartbeat(Arc::clone(&late_micros)));
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (store, next) = (store.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if n >= runs {
                        return Ok::<_, nerve_store::StoreError>(());
                    }
                    drive(&store, n).await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    heartbeat.abort();
    let elapsed = started.elapsed();
    let stats = store.log_stats().await?;
    println!(
        "{runs} runs by {WORKERS} tasks in {:.2} s ({} crashed runs of an earlier process \
         marked); the store holds {} entries; the 10 ms heartbeat was never more than {:.1} ms \
         late",
        elapsed.as_secs_f64(),
        leftover.len(),
        stats.entries,
        late_micros.load(Ordering::Relaxed) as f64 / 1000.0
    );
    Ok(())
}

/// One run: queued, started, a short conversation, completed; every step durable before
/// the next.
async fn drive(store: &AsyncStore, n: usize) -> StoreResult<()> {
    let run = format!("run-{}-{n}", std::process::id());
    let thread = format!("thread-{n}");
    let step = |to| RunTransition::new(&run, "summarise", to).in_thread(&thread);
    store
        .transition_run(step(WorkflowRunStatus::Queued))
        .await?;
    store
        .transition_run(step(WorkflowRunStatus::Started))
        .await?;
    for (round, role) in [(1, "user"), (1, "assistant")] {
        store
            .append_thread_message(ThreadMessage {
                thread_id: thread.clone(),
                role: role.into(),
                round,
                payload: format!("{{\"text\":\"{role} says hello\"}}"),
                ts: None,
            })
            .await?;
    }
    store
        .append(NewLogEntry::new("worker", "step.done", "{}").with_ref(&run))
        .await?;
    store
        .transition_run(step(WorkflowRunStatus::Completed))
        .await?;
    Ok(())
}

/// Fires every 10 ms and records the most it was ever late: what a store that blocked the
/// runtime's threads would show first.
async fn heartbeat(late_micros: Arc<AtomicU64>) {
    let period = Duration::from_millis(10);
    let mut due = Instant::now() + period;
    loop {
        tokio::time::sleep_until(due.into()).await;
        let late = Instant::now().saturating_duration_since(due);
        late_micros.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
        due += period;
    }
}
