//! A measured prototype of ids from the writing transaction's `xid8` (the design note
//! `postgres-fleet.md`, option B), beside the store's counter row and pgbench, on one server
//! in one run: 8 writers, each on a connection of its own as 8 single-threaded daemons would
//! be, append one entry per transaction into a table shaped like `logs`, while a cursor reader
//! pages after its cursor as `logs tail --follow` does (every 2 ms). For each scheme: appends
//! per second, the rows the reader missed and saw twice once the writers stopped (both must be
//! 0), and how long a row took to reach the reader while they wrote (its lag, which the
//! horizon adds to for `xid8`).
//!
//! - `counter`: the store's way today: one statement moves the counter row and inserts under
//!   the id it gave; the reader pages `id > cursor`.
//! - `xid8`: id = xid8 · 2^20 + 1, no shared row; the reader pages `id > cursor` below the
//!   horizon `pg_snapshot_xmin(pg_current_snapshot()) · 2^20`, under which no transaction
//!   is still running, so that no row can appear behind the cursor later.
//! - `sequence`: a plain `bigserial`, the reader paging `id > cursor`: what the horizon is for.
//!
//! `cargo run --release -p store-postgres --example xid_positions [SECONDS]`

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

const WRITERS: usize = 8;

const TABLES: &str = "
DROP SCHEMA IF EXISTS xid_proto CASCADE;
CREATE SCHEMA xid_proto;
CREATE TABLE xid_proto.counter (one bool PRIMARY KEY, last_id bigint NOT NULL);
INSERT INTO xid_proto.counter VALUES (true, 0);
";

fn logs_table(name: &str, id: &str) -> String {
    format!(
        "CREATE TABLE xid_proto.{name} (
            id {id} PRIMARY KEY,
            source bytea NOT NULL, kind bytea NOT NULL, ref_id bytea, payload bytea NOT NULL,
            ts bigint NOT NULL,
            day bigint GENERATED ALWAYS AS
                ((ts - (((ts % 86400000) + 86400000) % 86400000)) / 86400000) STORED);
         CREATE INDEX ON xid_proto.{name} (ref_id, id);
         CREATE INDEX ON xid_proto.{name} (source, kind, id);
         CREATE INDEX ON xid_proto.{name} (ts, id);
         CREATE INDEX ON xid_proto.{name} (day, id);"
    )
}

struct Scheme {
    name: &'static str,
    insert: &'static str,
    page: &'static str,
}

const SCHEMES: [Scheme; 3] = [
    Scheme {
        name: "counter",
        insert: "WITH c AS (UPDATE xid_proto.counter SET last_id = last_id + 1 RETURNING last_id) \
                 INSERT INTO xid_proto.counter_logs (id, source, kind, ref_id, payload, ts) \
                 SELECT last_id, 'w', 'append', $1, '{}', \
                 (extract(epoch from clock_timestamp()) * 1000)::bigint FROM c",
        page: "SELECT id, ts FROM xid_proto.counter_logs WHERE id > $1 ORDER BY id LIMIT 1000",
    },
    Scheme {
        name: "xid8",
        insert: "INSERT INTO xid_proto.xid_logs (id, source, kind, ref_id, payload, ts) \
                 VALUES ((pg_current_xact_id()::text::bigint << 20) + 1, 'w', 'append', $1, '{}', \
                 (extract(epoch from clock_timestamp()) * 1000)::bigint)",
        page: "SELECT id, ts FROM xid_proto.xid_logs WHERE id > $1 \
               AND id < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20) \
               ORDER BY id LIMIT 1000",
    },
    Scheme {
        name: "sequence",
        insert: "INSERT INTO xid_proto.seq_logs (source, kind, ref_id, payload, ts) \
                 VALUES ('w', 'append', $1, '{}', (extract(epoch from clock_timestamp()) * 1000)::bigint)",
        page: "SELECT id, ts FROM xid_proto.seq_logs WHERE id > $1 ORDER BY id LIMIT 1000",
    },
];

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).expect("a connection")
}

/// Runs `scheme` for `seconds`: appends per second, rows written, the rows the reader missed
/// and saw twice once it had read after the writers stopped, and how long rows took to reach
/// it while they wrote.
fn run(url: &str, scheme: &Scheme, seconds: u64) -> Outcome {
    let stop = AtomicBool::new(false);
    let done_writing = AtomicBool::new(false);
    let started = Instant::now();
    let (written, (seen, repeats, lag_median, lag_p99)) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let stop = &stop;
                scope.spawn(move || {
                    let mut client = connect(url);
                    let insert = client.prepare(scheme.insert).expect("prepare");
                    let me = format!("w{w}").into_bytes();
                    let mut n = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        client.execute(&insert, &[&me]).expect("insert");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let reader = {
            let done_writing = &done_writing;
            scope.spawn(move || {
                let mut client = connect(url);
                let page = client.prepare(scheme.page).expect("prepare");
                let mut cursor = 0_i64;
                let (mut seen, mut repeats) = (0_u64, 0_u64);
                let mut lags: Vec<i64> = Vec::new();
                let mut last_round = false;
                loop {
                    let finished = done_writing.load(Ordering::SeqCst);
                    loop {
                        let rows = client.query(&page, &[&cursor]).expect("a page");
                        let now = chrono::Utc::now().timestamp_millis();
                        for row in &rows {
                            let id: i64 = row.get(0);
                            if id <= cursor {
                                repeats += 1;
                            } else {
                                cursor = id;
                                seen += 1;
                                if !finished {
                                    lags.push(now - row.get::<_, i64>(1));
                                }
                            }
                        }
                        if rows.len() < 1000 {
                            break;
                        }
                    }
                    if last_round {
                        lags.sort_unstable();
                        let at = |q: f64| {
                            lags.get(((lags.len() as f64 - 1.0) * q) as usize)
                                .copied()
                                .unwrap_or(0)
                        };
                        return (seen, repeats, at(0.5), at(0.99));
                    }
                    last_round = finished;
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        let written: u64 = writers
            .into_iter()
            .map(|w| w.join().expect("a writer"))
            .sum();
        done_writing.store(true, Ordering::SeqCst);
        (written, reader.join().expect("the reader"))
    });
    let rate = written as f64 / started.elapsed().as_secs_f64();
    Outcome {
        rate,
        written,
        missed: written.saturating_sub(seen),
        repeats,
        lag_median,
        lag_p99,
    }
}

/// What one scheme did.
struct Outcome {
    rate: f64,
    written: u64,
    missed: u64,
    repeats: u64,
    /// Milliseconds from a row's insert to the reader's reading it, while writers ran.
    lag_median: i64,
    lag_p99: i64,
}

fn pgbench(url: &str, seconds: u64, dir: &std::path::Path) -> f64 {
    let script = dir.join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO xid_proto.bench_logs (source, kind, ref_id, payload, ts) \
         VALUES ('w', 'append', 'b', '{}', 0);\n",
    )
    .expect("a script");
    let clients = WRITERS.to_string();
    let output = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &clients, "-j", &clients, "-T"])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output()
        .expect("pgbench runs");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.trim().strip_prefix("tps ="))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {text}"))
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map_or(3, |s| s.parse().expect("seconds"));
    let url = &store_postgres::harness::server().url;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut setup = connect(url);
    setup.batch_execute(TABLES).expect("tables");
    for (name, id) in [
        ("counter_logs", "bigint"),
        ("xid_logs", "bigint"),
        ("seq_logs", "bigserial"),
        ("bench_logs", "bigserial"),
    ] {
        setup.batch_execute(&logs_table(name, id)).expect("a table");
    }
    println!(
        "{WRITERS} writers, one entry per transaction, a cursor reader beside them, {seconds} s \
         each; pgbench's one-INSERT transaction at {WRITERS} clients beside each"
    );
    println!(
        "{:<10} {:>10} {:>10} {:>7} {:>9} {:>7} {:>8} {:>12}",
        "scheme", "appends/s", "pgbench/s", "ratio", "written", "missed", "repeats", "lag p50/p99"
    );
    for scheme in &SCHEMES {
        let theirs = pgbench(url, seconds, dir.path());
        let out = run(url, scheme, seconds);
        println!(
            "{:<10} {:>10.0} {theirs:>10.0} {:>7.2} {:>9} {:>7} {:>8} {:>7}/{} ms",
            scheme.name,
            out.rate,
            out.rate / theirs,
            out.written,
            out.missed,
            out.repeats,
            out.lag_median,
            out.lag_p99
        );
    }
}
