//! Flips one random bit anywhere in a SQLite store file, TRIALS times (110 by default), and
//! reads everything back each time: every answer is compared with what the undamaged store
//! answers. A trial is "wrong" when any read returns a different answer without an error,
//! "refused" when a read (or the open) fails and none is wrong, "unharmed" otherwise (the
//! bit was in free space or in a part nothing read):
//!
//! ```text
//! cargo run --release -p store-sqlite --example bit_flips -- /tmp/flips 110
//! ```

use std::path::Path;

use store_core::{
    LogBackend, LogQuery, LogStore, NewLogEntry, RunQuery, RunTransition, WorkflowRunStatus,
};
use store_sqlite::SqliteLogStore;

/// Everything the reads answer, as text to compare; an error is its own answer.
fn answers(store: &dyn LogBackend) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    let mut push = |answer: Result<String, store_core::StoreError>| {
        out.push(answer.map_err(|err| err.to_string()));
    };
    let all = LogQuery {
        limit: Some(usize::MAX),
        ..LogQuery::default()
    };
    push(store.query(&all).map(|v| format!("{v:?}")));
    for r in 0..10 {
        let query = LogQuery {
            ref_id: Some(format!("ref-{r}")),
            limit: Some(usize::MAX),
            ..LogQuery::default()
        };
        push(store.query(&query).map(|v| format!("{v:?}")));
    }
    let runs = RunQuery {
        limit: Some(usize::MAX),
        ..RunQuery::default()
    };
    push(store.list_runs(&runs).map(|v| format!("{v:?}")));
    push(store.meta_entries().map(|v| format!("{v:?}")));
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "./data/flips".to_owned());
    let trials: u64 = args.next().map_or(Ok(110), |n| n.parse())?;
    let dir = Path::new(&dir);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let pristine = dir.join("pristine.db");
    let store = SqliteLogStore::open(&pristine)?;
    let entries = (0..300)
        .map(|i| {
            NewLogEntry::new(
                "worker",
                "tick",
                format!("{{\"seq\":{i},\"note\":\"payload {i}\"}}"),
            )
            .with_ref(format!("ref-{}", i % 10))
        })
        .collect();
    store.append_batch(entries)?;
    for i in 0..20 {
        store.transition_run(
            RunTransition::new(format!("run-{i}"), "wf", WorkflowRunStatus::Started)
                .with_detail(format!("detail {i}")),
        )?;
        store.meta_set(&format!("key-{i}"), &format!("value {i}"))?;
    }
    let truth = answers(&store);
    drop(store);
    let bytes = std::fs::read(&pristine)?;
    let damaged = dir.join("damaged.db");
    let (mut wrong, mut refused, mut unharmed) = (0, 0, 0);
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..trials {
        // xorshift64*: the same trials on every run.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let bit = state.wrapping_mul(0x2545_F491_4F6C_DD1D) % (bytes.len() as u64 * 8);
        let mut copy = bytes.clone();
        copy[(bit / 8) as usize] ^= 1 << (bit % 8);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", damaged.display()));
        }
        std::fs::write(&damaged, &copy)?;
        let seen = match SqliteLogStore::open(&damaged) {
            Ok(store) => answers(&store),
            Err(err) => vec![Err(err.to_string())],
        };
        if seen.iter().zip(&truth).any(|(s, t)| s.is_ok() && s != t) {
            wrong += 1;
        } else if seen.iter().any(Result::is_err) {
            refused += 1;
        } else {
            unharmed += 1;
        }
    }
    println!(
        "{trials} files with one flipped bit: {wrong} wrong answers, {refused} refused, {unharmed} unharmed"
    );
    Ok(())
}
