//! 4,096 tokio tasks, each one durable `append` through `AsyncStore`, beside the same entries
//! as one `append_batch` and as batches of `MAX_GROUP` (512) back to back, on the same SQLite
//! store, in rounds that rotate which goes first: the rate ratios and the most OS threads the
//! process had while the tasks wrote.
//!
//! The batches of 512 are the ideal pipeline: groups as large as the pipeline makes them,
//! with nothing spent per call. Every side builds its entries inside its timer.
//!
//! ```text
//! cargo run --release -p nerve-store --features tokio --example async_appends -- /tmp/async 9
//! ```

use std::time::{Duration, Instant};

use nerve_store::{AsyncStore, NewLogEntry};
use store_core::kit::MAX_GROUP;

const TASKS: usize = 4_096;
/// The runtime's worker threads.
const WORKERS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().map_or("/tmp/async_appends", String::as_str);
    let rounds: usize = args.get(1).map_or(Ok(9), |n| n.parse())?;
    let _ = std::fs::remove_dir_all(dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()?;
    let store = AsyncStore::new(nerve_store::open(&format!("sqlite:{dir}/nerve.db"))?);
    let (mut ratios, mut ideal) = (Vec::new(), Vec::new());
    let mut most_threads = 0;
    for round in 0..rounds {
        let batches =
            |store: &AsyncStore, size: usize| -> Result<Duration, Box<dyn std::error::Error>> {
                let started = Instant::now();
                for first in (0..TASKS).step_by(size) {
                    let entries = (first..first + size)
                        .map(|i| NewLogEntry::new("batch", "k", i.to_string()))
                        .collect();
                    store.blocking().log.append_batch(entries)?;
                }
                Ok(started.elapsed())
            };
        let tasks = |store: &AsyncStore| -> Result<(Duration, usize), Box<dyn std::error::Error>> {
            let started = Instant::now();
            let threads = runtime.block_on(async {
                let writers: Vec<_> = (0..TASKS)
                    .map(|i| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            store
                                .append(NewLogEntry::new("task", "k", i.to_string()))
                                .await
                        })
                    })
                    .collect();
                let mut threads = 0;
                for (i, writer) in writers.into_iter().enumerate() {
                    if i % 512 == 0 {
                        threads = threads.max(os_threads());
                    }
                    writer.await??;
                }
                Ok::<_, Box<dyn std::error::Error>>(threads)
            })?;
            Ok((started.elapsed(), threads))
        };
        // Rotate which goes first, so that none always meets a warmer cache.
        let (mut batched, mut grouped, mut tasked) = (Duration::ZERO, Duration::ZERO, None);
        for side in 0..3 {
            match (round + side) % 3 {
                0 => batched = batches(&store, TASKS)?,
                1 => grouped = batches(&store, MAX_GROUP)?,
                _ => tasked = Some(tasks(&store)?),
            }
        }
        let (tasked, threads) = tasked.ok_or("the tasks' side did not run")?;
        most_threads = most_threads.max(threads);
        ratios.push(batched.as_secs_f64() / tasked.as_secs_f64());
        ideal.push(batched.as_secs_f64() / grouped.as_secs_f64());
        println!(
            "round {round}: {TASKS} single appends from tasks in {:.1} ms, as one batch in {:.1} ms, \
             as batches of {MAX_GROUP} in {:.1} ms",
            tasked.as_secs_f64() * 1e3,
            batched.as_secs_f64() * 1e3,
            grouped.as_secs_f64() * 1e3,
        );
    }
    let median = |ratios: &mut Vec<f64>| {
        ratios.sort_by(f64::total_cmp);
        format!(
            "median {:.2} (from {:.2} to {:.2}, {rounds} rounds)",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        )
    };
    println!("tasks' rate / one batch's rate: {}", median(&mut ratios));
    println!(
        "batches of {MAX_GROUP} / one batch (the ideal pipeline's ceiling): {}",
        median(&mut ideal)
    );
    println!("at most {most_threads} OS threads in the process ({WORKERS} runtime workers)");
    Ok(())
}

/// How many threads the process has now (Linux's `Threads:`), 0 where it is not known.
fn os_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}
