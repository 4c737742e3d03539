//! Archives a SQLite store of 1,000,000 entries over 10 days, for measuring the run's time
//! and peak memory with a real process:
//!
//! ```text
//! cargo build --release -p store-archive --example archive_run
//! target/release/examples/archive_run prepare /tmp/archive-run      # builds the store
//! /usr/bin/time -v target/release/examples/archive_run run /tmp/archive-run
//! NERVE_CACHE_KIB=65536 /usr/bin/time -v target/release/examples/archive_run run /tmp/archive-run
//! ```

use std::path::Path;
use std::time::Instant;

use chrono::{Duration, Utc};
use store_archive::{ArchiveOptions, archive_logs};
use store_core::{LogStore, NewLogEntry};
use store_sqlite::{SqliteLogStore, SqliteOptions};

const ENTRIES: usize = 1_000_000;
const DAYS: usize = 10;

fn prepare(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let _ = std::fs::remove_dir_all(dir);
    let store = SqliteLogStore::open(dir.join("nerve.db"))?;
    let start = (Utc::now() - Duration::days(40))
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let per_day = ENTRIES / DAYS;
    for chunk_start in (0..ENTRIES).step_by(10_000) {
        let batch = (chunk_start..chunk_start + 10_000)
            .map(|i| {
                let day = i64::try_from(i / per_day)?;
                let second = i64::try_from(i % per_day)? % 86_000;
                Ok(NewLogEntry::new(
                    "worker",
                    "tick",
                    format!("{{\"seq\":{i},\"note\":\"a typical payload\"}}"),
                )
                .with_ref(format!("ref-{}", i % 5000))
                .at(start + Duration::days(day) + Duration::seconds(second)))
            })
            .collect::<Result<Vec<_>, std::num::TryFromIntError>>()?;
        store.append_batch(batch)?;
    }
    println!(
        "prepared {ENTRIES} entries over {DAYS} days in {}",
        dir.display()
    );
    Ok(())
}

/// The page cache a batch archive run opens the store with (per connection, bytes), unless
/// `NERVE_CACHE_BYTES` says otherwise: it streams the log once, so a daemon's large cache
/// would only fill up.
const BATCH_CACHE_BYTES: usize = 8 * 1024 * 1024;

fn run(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let cache_bytes = match std::env::var("NERVE_CACHE_BYTES") {
        Ok(text) => text.parse()?,
        Err(_) => BATCH_CACHE_BYTES,
    };
    let options = SqliteOptions::default().cache_bytes(cache_bytes);
    let store = SqliteLogStore::open_with(dir.join("nerve.db"), options)?;
    let options = ArchiveOptions {
        dir: dir.join("archive"),
        retain_days: 30,
        ..ArchiveOptions::default()
    };
    let started = Instant::now();
    let report = archive_logs(&store, &options)?;
    let elapsed = started.elapsed();
    println!(
        "archived {} entries ({} MiB) in {} day files in {elapsed:.2?}: {:.0} entries/s",
        report.rows,
        report.bytes >> 20,
        report.days.len(),
        report.rows as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let dir = args
        .next()
        .unwrap_or_else(|| "./data/archive-run".to_owned());
    match mode.as_str() {
        "prepare" => prepare(Path::new(&dir)),
        "run" => run(Path::new(&dir)),
        _ => Err("usage: archive_run prepare|run DIR".into()),
    }
}
