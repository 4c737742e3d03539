//! A workflow daemon's log side on the embedded default: appends, runs through their
//! states (one crashes and is resumed), a thread round by round; then what the store holds.
//!
//! ```text
//! cargo run --release -p store-sqlite --example workload [-- PATH] [RUNS]
//! ```
//! `PATH` defaults to `./data/nerve.db`, `RUNS` to 200. Running it again adds to the store.

use std::error::Error;
use std::time::Instant;

use store_core::{
    ALL_STATUSES, GetThreadRoundsParams, LogQuery, LogStore, NewLogEntry, Order, RunQuery,
    RunTransition, ThreadMessage, TransitionOutcome, WorkflowRunStatus::*,
};
use store_sqlite::SqliteLogStore;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "./data/nerve.db".to_owned());
    let runs: usize = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|err| format!("RUNS must be a whole number, got {n:?}: {err}"))?,
        None => 200,
    };
    let store = SqliteLogStore::open(&path)?;
    let batch = std::process::id();
    let started = Instant::now();

    store.append(NewLogEntry::new(
        "daemon",
        "boot",
        format!("{{\"pid\":{batch}}}"),
    ))?;
    let mut transitions = 0;
    for i in 0..runs {
        let run_id = format!("run-{batch}-{i}");
        let thread_id = format!("thread-{batch}-{i}");
        let step = |to| RunTransition::new(&run_id, "summarise", to).in_thread(&thread_id);
        let path: &[_] = match i % 10 {
            0 => &[Queued, Started, Crashed, Started, Completed],
            1 => &[Queued, Started, Failed],
            2 => &[Queued, Dropped],
            3 => &[Queued, Started],
            4 => &[Queued],
            _ => &[Queued, Started, Completed],
        };
        for (n, to) in path.iter().enumerate() {
            let outcome = store.transition_run(step(*to).with_detail(format!("step {n}")))?;
            transitions += usize::from(outcome.is_applied());
            if *to == Started {
                converse(&store, &thread_id, n)?;
            }
        }
        // A daemon may deliver a transition twice; the store reports it unchanged.
        if let Some(last) = path.last() {
            let again = store.transition_run(step(*last).with_detail("redelivered"))?;
            assert!(matches!(again, TransitionOutcome::Unchanged { .. }));
        }
    }
    let elapsed = started.elapsed();

    let everything = LogQuery {
        limit: Some(usize::MAX),
        ..LogQuery::default()
    };
    let total = store.query(&everything)?.len();
    let mine = LogQuery {
        ref_id: Some(format!("run-{batch}-0")),
        ..LogQuery::default()
    };
    let active = store.list_active_runs()?;
    println!("store            {path}");
    println!("this run         {runs} runs, {transitions} transitions in {elapsed:.2?}");
    println!("log entries      {total} in the store");
    for status in ALL_STATUSES {
        let query = RunQuery {
            statuses: vec![status],
            limit: Some(usize::MAX),
            ..RunQuery::default()
        };
        println!("runs {status:<12}{}", store.list_runs(&query)?.len());
    }
    println!(
        "active runs      {} (what crash recovery would resume)",
        active.len()
    );
    println!("\naudit trail of run-{batch}-0:");
    for entry in store.query(&mine)? {
        println!(
            "  #{:<6} {} {}",
            entry.id,
            entry.ts.format("%H:%M:%S%.3f"),
            entry.payload
        );
    }
    let thread_id = format!("thread-{batch}-0");
    println!(
        "\n{thread_id}, round by round (last round {:?}):",
        store.last_round(&thread_id)?
    );
    let params = GetThreadRoundsParams {
        thread_id,
        ..GetThreadRoundsParams::default()
    };
    for row in store.thread_rounds(&params)? {
        println!("  round {} {:<9} {}", row.round, row.role, row.payload);
    }
    let newest = LogQuery {
        limit: Some(3),
        order: Order::Descending,
        ..LogQuery::default()
    };
    println!("\nnewest entries:");
    for entry in store.query(&newest)? {
        println!(
            "  #{:<6} {}/{} {}",
            entry.id, entry.source, entry.kind, entry.payload
        );
    }
    Ok(())
}

/// Two rounds of conversation, continuing from where the thread left off.
fn converse(store: &SqliteLogStore, thread_id: &str, step: usize) -> Result<(), Box<dyn Error>> {
    let first = store.last_round(thread_id)?.map_or(1, |round| round + 1);
    for round in first..first + 2 {
        for (role, text) in [
            ("user", "summarise the report"),
            ("assistant", "here is the summary"),
        ] {
            store.append_thread_message(ThreadMessage {
                thread_id: thread_id.to_owned(),
                role: role.to_owned(),
                round,
                payload: format!("{{\"text\":\"{text}\",\"step\":{step}}}"),
                ts: None,
            })?;
        }
    }
    Ok(())
}
