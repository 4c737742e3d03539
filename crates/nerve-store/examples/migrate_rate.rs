//! Migrates a SQLite store of ENTRIES entries (1,000,000 by default) to redb and back, and
//! prints the rate of each direction:
//!
//! ```text
//! cargo run --release -p nerve-store --features redb --example migrate_rate -- /tmp/migrate 1000000
//! ```

use std::path::Path;
use std::time::Instant;

use nerve_store::{Location, NewLogEntry, Store, migrate};

fn open(location: &str) -> Result<Store, Box<dyn std::error::Error>> {
    let location: Location = location.parse()?;
    Ok(nerve_store::open(&location.to_string())?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "./data/migrate".to_owned());
    let entries: usize = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let dir = Path::new(&dir);
    let _ = std::fs::remove_dir_all(dir);
    let source = open(&format!("sqlite:{}", dir.join("source.db").display()))?;
    let start = chrono::Utc::now() - chrono::Duration::days(10);
    for first in (0..entries).step_by(10_000) {
        let batch = (first..(first + 10_000).min(entries))
            .map(|i| {
                NewLogEntry::new(
                    "worker",
                    "tick",
                    format!("{{\"seq\":{i},\"note\":\"a typical payload\"}}"),
                )
                .with_ref(format!("ref-{}", i % 5000))
                .at(start + chrono::Duration::milliseconds(i as i64 * 500))
            })
            .collect();
        source.log.append_batch(batch)?;
    }
    let redb = open(&format!("redb:{}", dir.join("copy.redb").display()))?;
    let started = Instant::now();
    let summary = migrate(&source, &redb, &mut |_| std::ops::ControlFlow::Continue(()))?;
    let to_redb = started.elapsed();
    let back = open(&format!("sqlite:{}", dir.join("back.db").display()))?;
    let started = Instant::now();
    let again = migrate(&redb, &back, &mut |_| std::ops::ControlFlow::Continue(()))?;
    let to_sqlite = started.elapsed();
    assert_eq!(summary, again, "the round trip keeps the content");
    let rate = |d: std::time::Duration| summary.entries as f64 / d.as_secs_f64();
    println!(
        "{} entries, content digest {}",
        summary.entries, summary.digest
    );
    println!(
        "sqlite -> redb: {to_redb:.2?} ({:.0} entries/s, copy and verification)",
        rate(to_redb)
    );
    println!(
        "redb -> sqlite: {to_sqlite:.2?} ({:.0} entries/s, copy and verification)",
        rate(to_sqlite)
    );
    Ok(())
}
