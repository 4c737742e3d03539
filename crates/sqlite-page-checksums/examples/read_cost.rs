//! What checking every page costs on reads that reach the file: a table and an index of
//! 200,000 rows (about 40 MB), read whole by a new connection each time (SQLite's page
//! cache empty, the operating system's warm), through SQLite's own VFS and through this
//! one, interleaved 21 times, each pair's ratio reported with the median.
//!
//! ```text
//! cargo run --release -p sqlite-page-checksums --example read_cost
//! ```

use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

fn fill(path: &std::path::Path, checked: bool) -> Result<(), Box<dyn std::error::Error>> {
    let conn = if checked {
        sqlite_page_checksums::register()?;
        let conn = Connection::open_with_flags_and_vfs(
            path,
            OpenFlags::default(),
            sqlite_page_checksums::VFS_NAME,
        )?;
        sqlite_page_checksums::request_checksums(&conn)?;
        conn
    } else {
        Connection::open(path)?
    };
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body TEXT NOT NULL);
         CREATE INDEX t_by_name ON t (name);",
    )?;
    let tx = conn.unchecked_transaction()?;
    for i in 0..200_000 {
        tx.execute(
            "INSERT INTO t (name, body) VALUES (?1, ?2)",
            (format!("name-{:07}", (i * 7919) % 200_000), "x".repeat(120)),
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Opens a new connection and reads the table and the index whole.
fn read_all(path: &std::path::Path, checked: bool) -> Result<Duration, Box<dyn std::error::Error>> {
    let conn = if checked {
        Connection::open_with_flags_and_vfs(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY,
            sqlite_page_checksums::VFS_NAME,
        )?
    } else {
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?
    };
    let started = Instant::now();
    let (rows, bytes): (i64, i64) = conn.query_row(
        "SELECT count(*), sum(length(body)) FROM t NOT INDEXED",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let names: i64 = conn.query_row(
        "SELECT count(*) FROM t INDEXED BY t_by_name WHERE name >= ''",
        [],
        |row| row.get(0),
    )?;
    assert_eq!((rows, bytes, names), (200_000, 24_000_000, 200_000));
    Ok(started.elapsed())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (plain, checked) = (dir.path().join("plain.db"), dir.path().join("checked.db"));
    fill(&plain, false)?;
    fill(&checked, true)?;
    let mut ratios = Vec::new();
    let (mut plain_times, mut checked_times) = (Vec::new(), Vec::new());
    for round in 0..21 {
        let (p, c) = if round % 2 == 0 {
            let p = read_all(&plain, false)?;
            (p, read_all(&checked, true)?)
        } else {
            let c = read_all(&checked, true)?;
            (read_all(&plain, false)?, c)
        };
        ratios.push(c.as_secs_f64() / p.as_secs_f64());
        plain_times.push(p);
        checked_times.push(c);
    }
    ratios.sort_by(f64::total_cmp);
    plain_times.sort();
    checked_times.sort();
    println!(
        "read whole, new connection: SQLite's VFS {:.1} ms, checked {:.1} ms, ratio {:.3} (IQR {:.3}–{:.3}, 21 pairs)",
        plain_times[10].as_secs_f64() * 1e3,
        checked_times[10].as_secs_f64() * 1e3,
        ratios[10],
        ratios[5],
        ratios[15],
    );
    Ok(())
}
