//! 4,096 tokio tasks, each one durable `append` through `AsyncStore`, beside the same entries
//! as one `append_batch`, on the same SQLite store, in alternating rounds: the rate ratio and
//! the most OS threads the process had while the tasks wrote.
//!
//! ```text
//! cargo run --release -p nerve-store --features tokio --example async_appends -- /tmp/async 9
//! ```

use std::time::{Duration, Instant};

use nerve_store::{AsyncStore, NewLogEntry};

const TASKS: usize = 4_096;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().map_or("/tmp/async_appends", String::as_str);
    let rounds: usize = args.get(1).map_or(Ok(9), |n| n.parse())?;
    let _ = std::fs::remove_dir_all(dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()?;
    let store = AsyncStore::new(nerve_store::open(&format!("sqlite:{dir}/nerve.db"))?);
    let mut ratios = Vec::new();
    let mut most_threads = 0;
    for round in 0..rounds {
        let batch = |store: &AsyncStore| -> Result<Duration, Box<dyn std::error::Error>> {
            let entries = (0..TASKS)
                .map(|i| NewLogEntry::new("batch", "k", i.to_string()))
                .collect();
            let started = Instant::now();
            store.blocking().log.append_batch(entries)?;
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
        // Alternate which goes first, so that neither always meets a warmer cache.
        let (batched, (tasked, threads)) = if round % 2 == 0 {
            let b = batch(&store)?;
            (b, tasks(&store)?)
        } else {
            let t = tasks(&store)?;
            (batch(&store)?, t)
        };
        most_threads = most_threads.max(threads);
        ratios.push(batched.as_secs_f64() / tasked.as_secs_f64());
        println!(
            "round {round}: {TASKS} single appends from tasks in {:.1} ms, as one batch in {:.1} ms",
            tasked.as_secs_f64() * 1e3,
            batched.as_secs_f64() * 1e3
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "tasks' rate / batch rate: median {:.2} (from {:.2} to {:.2}, {rounds} rounds); at most {most_threads} OS threads in the process (4 runtime workers)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
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
