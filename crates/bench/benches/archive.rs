//! Archiving 1,000,000 entries over 10 days from a SQLite store, beside the bare work done
//! by hand with rusqlite: select a day's rows in id order, write them as JSON lines with
//! serde_json to a synced, renamed file, delete them. Both start each run from a copy of the
//! same store file (the copy is not measured), interleaved (see `nerve_bench::interleave`).
//! `cargo bench -p nerve-bench --bench archive`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use chrono::DateTime;
use nerve_bench::{archive_fixture, archive_now as now, copy_of};
use rusqlite::Connection;
use store_archive::{ArchiveOptions, archive_logs};
use store_core::{LogEntry, LogId};
use store_sqlite::SqliteLogStore;

const ENTRIES: usize = 1_000_000;
const DAYS: usize = 10;
/// The store's virtual day column, which its `logs_by_day` index orders.
const DAY_EXPR: &str = "day";

/// The archive's work by hand, with the store's schema and index.
fn bare_archive(dir: &Path) -> u64 {
    let mut conn = Connection::open(dir.join("nerve.db")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.pragma_update(None, "synchronous", 1).expect("NORMAL");
    // The store's default page cache, so both sides read with the same memory.
    conn.pragma_update(None, "cache_size", -64 * 1024)
        .expect("cache_size");
    let folder = dir.join("bare-archive/logs");
    std::fs::create_dir_all(&folder).expect("folder");
    let cutoff = store_core::kit::number_of_day((now() - chrono::Duration::days(30)).date_naive());
    let days: Vec<i64> = conn
        .prepare(&format!(
            "SELECT DISTINCT {DAY_EXPR} FROM logs WHERE {DAY_EXPR} < ?1 ORDER BY 1"
        ))
        .expect("days")
        .query_map([cutoff], |row| row.get(0))
        .expect("days")
        .collect::<Result<_, _>>()
        .expect("days");
    let mut moved = 0;
    for day in days {
        let name = store_core::kit::day_of_number(day)
            .expect("a day")
            .to_string();
        let temp = folder.join(format!(".{name}.tmp"));
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(&temp).expect("create"));
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, source, kind, ref_id, payload, ts FROM logs WHERE {DAY_EXPR} = ?1 ORDER BY id"
            ))
            .expect("select");
        let mut rows = stmt.query([day]).expect("rows");
        let mut through = 0;
        while let Some(row) = rows.next().expect("row") {
            let entry = LogEntry {
                id: LogId(row.get::<_, i64>(0).expect("id") as u64),
                source: row.get(1).expect("source"),
                kind: row.get(2).expect("kind"),
                ref_id: row.get(3).expect("ref"),
                payload: row.get(4).expect("payload"),
                ts: DateTime::from_timestamp_millis(row.get(5).expect("ts")).unwrap_or_default(),
            };
            through = entry.id.0;
            serde_json::to_writer(&mut out, &entry).expect("json");
            out.write_all(b"\n").expect("newline");
            moved += 1;
        }
        drop(rows);
        drop(stmt);
        let file = out.into_inner().expect("flush");
        file.sync_all().expect("sync");
        std::fs::rename(&temp, folder.join(format!("{name}.jsonl"))).expect("rename");
        File::open(&folder)
            .and_then(|f| f.sync_all())
            .expect("sync folder");
        let tx = conn.transaction().expect("begin");
        let bounds = rusqlite::params![day, through as i64];
        tx.execute(
            &format!("DELETE FROM thread_messages WHERE log_id IN (SELECT id FROM logs WHERE {DAY_EXPR} = ?1 AND id <= ?2)"),
            bounds,
        )
        .expect("delete thread rows");
        tx.execute(
            &format!("DELETE FROM logs WHERE {DAY_EXPR} = ?1 AND id <= ?2"),
            bounds,
        )
        .expect("delete");
        let key = "nerve.archive.logs.watermark";
        tx.execute(
            "INSERT INTO meta (key, value, crc) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, crc = excluded.crc",
            rusqlite::params![key, &name, store_sqlite::checksum::meta_row(key, &name)],
        )
        .expect("watermark");
        tx.commit().expect("commit");
    }
    moved
}

/// Slices of the comparison: each archives a whole copy of the fixture once per side.
const SLICES: usize = 9;

fn main() {
    let fixture = archive_fixture(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        "archive-1m",
        ENTRIES,
        DAYS,
    );
    let comparison = nerve_bench::interleave_timed(
        "archive 1,000,000 entries over 10 days",
        SLICES,
        1,
        |_| {
            let dir = copy_of(&fixture);
            let started = Instant::now();
            let store = SqliteLogStore::open(dir.path().join("nerve.db")).expect("open");
            let options = ArchiveOptions {
                dir: dir.path().join("archive"),
                retain_days: 30,
                vacuum: false,
                compress: false,
                dry_run: false,
                now: now(),
            };
            let report = archive_logs(&store, &options).expect("archive");
            drop(store);
            let took = started.elapsed();
            assert_eq!(report.rows, ENTRIES as u64);
            took
        },
        |_| {
            let dir = copy_of(&fixture);
            let started = Instant::now();
            let moved = bare_archive(dir.path());
            let took = started.elapsed();
            assert_eq!(moved, ENTRIES as u64);
            took
        },
    );
    println!("{}", comparison.summary("store", "bare"));
}
