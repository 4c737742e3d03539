//! The store on PostgreSQL beside pgbench on the same server, in one run: durable single
//! appends from 1, 4 and 16 threads of one process and from 4 and 8 single-threaded
//! processes, each beside pgbench's one-INSERT transaction (into a table shaped like the
//! store's `logs`, with its indexes) at the same number of clients; a lone append's latency
//! beside pgbench's at one client; how long entries take to reach a cursor reader beside 8
//! processes; and transitions beside appends from 16 threads. Each
//! figure is the median of `ROUNDS` rounds in which the two sides alternate which goes
//! first, printed as a ratio, because the machine is noisy.
//!
//! `cargo run --release -p store-postgres --example fleet_rate [SECONDS]` (a throwaway server
//! of the system's binaries, as the tests start one; `pgbench` from the same package).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use store_conformance::Harness;
use store_core::{LogBackend, NewLogEntry, RunTransition, WorkflowRunStatus};

const CHILD_ENV: &str = "NERVE_FLEET_RATE_CHILD";
const ROUNDS: usize = 3;

/// pgbench's side: the store's `logs` table, its indexes, and one INSERT per transaction.
const PGBENCH_TABLE: &str = "
DROP SCHEMA IF EXISTS pgbench_fleet CASCADE;
CREATE SCHEMA pgbench_fleet;
CREATE TABLE pgbench_fleet.logs (
    id bigserial PRIMARY KEY,
    source bytea NOT NULL,
    kind bytea NOT NULL,
    ref_id bytea,
    payload bytea NOT NULL,
    ts bigint NOT NULL,
    day bigint GENERATED ALWAYS AS
        ((ts - (((ts % 86400000) + 86400000) % 86400000)) / 86400000) STORED);
CREATE INDEX ON pgbench_fleet.logs (ref_id, id);
CREATE INDEX ON pgbench_fleet.logs (source, kind, id);
CREATE INDEX ON pgbench_fleet.logs (((ts - (((ts % 3600000) + 3600000) % 3600000)) / 3600000), id);
CREATE INDEX ON pgbench_fleet.logs
    (source, kind, ((ts - (((ts % 3600000) + 3600000) % 3600000)) / 3600000), id);
CREATE INDEX ON pgbench_fleet.logs (day, id);
";
const PGBENCH_SCRIPT: &str = "INSERT INTO pgbench_fleet.logs (source, kind, ref_id, payload, ts) \
     VALUES ('bench', 'append', :client_id::text::bytea, '{}', \
     (extract(epoch from clock_timestamp()) * 1000)::bigint);\n";

fn open(dir: &Path) -> Box<dyn LogBackend> {
    store_postgres::harness::PgHarness
        .open(dir)
        .expect("a store")
}

/// Transactions per second and the mean latency of pgbench with `clients` clients for
/// `seconds`.
fn pgbench(clients: usize, seconds: u64, script: &Path) -> (f64, Duration) {
    let url = &store_postgres::harness::server().url;
    let clients = clients.to_string();
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &clients, "-j", &clients, "-T"])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(script)
        .arg(url)
        .output()
        .expect("pgbench runs (Debian's postgresql package has it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let number_after = |prefix: &str| -> f64 {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix:?} in pgbench's output: {text}"))
    };
    let tps = number_after("tps =");
    let latency = Duration::from_secs_f64(number_after("latency average =") / 1000.0);
    (tps, latency)
}

/// Calls per second of `threads` threads calling `call` for `seconds`.
fn threads_rate(threads: usize, seconds: u64, call: impl Fn(usize, usize) + Sync) -> f64 {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let calls: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let call = &call;
                scope.spawn(move || {
                    let mut n = 0;
                    while Instant::now() < until {
                        call(t, n);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a thread"))
            .sum()
    });
    calls as f64 / started.elapsed().as_secs_f64()
}

/// The child: appends for `seconds` on a store of its own opening; prints how many.
fn child(dir: &Path, seconds: u64) {
    let store = open(dir);
    let me = std::process::id();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut n = 0_u64;
    while Instant::now() < until {
        store
            .append(NewLogEntry::new("proc", "append", "{}").with_ref(format!("p{me}")))
            .expect("append");
        n += 1;
    }
    println!("{n}");
}

/// Appends per second of `processes` single-threaded processes appending for `seconds`.
fn processes_rate(exe: &Path, dir: &Path, processes: usize, seconds: u64) -> f64 {
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(exe)
                .args([dir.display().to_string(), seconds.to_string()])
                .env(CHILD_ENV, "1")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("a writer process")
        })
        .collect();
    let mut calls = 0_u64;
    for child in children {
        let output = child.wait_with_output().expect("a child");
        assert!(output.status.success());
        calls += String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse::<u64>()
            .expect("a count");
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

/// How long entries took to reach a cursor reader (this process, looking again at once after
/// a look that found something and after 1 ms otherwise) while `processes` single-threaded
/// processes appended for `seconds`: the median and the 99th percentile, in milliseconds,
/// from each entry's time (its commit's, which the store stamps) to the look that read it.
fn reader_lag(
    store: &dyn LogBackend,
    exe: &Path,
    dir: &Path,
    processes: usize,
    seconds: u64,
) -> (i64, i64) {
    let after = store
        .query(&store_core::LogQuery::new().descending().limit(1))
        .expect("the log's end")
        .first()
        .map(|entry| entry.id);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut query = store_core::LogQuery::new().limit(1000);
            query.after = after;
            let mut lags = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let page = store.query(&query).expect("a look");
                let now = chrono::Utc::now();
                match page.last() {
                    Some(last) => query.after = Some(last.id),
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
                lags.extend(page.iter().map(|entry| (now - entry.ts).num_milliseconds()));
            }
            lags
        });
        processes_rate(exe, dir, processes, seconds);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut lags = reader.join().expect("the reader");
        lags.sort_unstable();
        let at = |q: f64| {
            lags.get(((lags.len() - 1) as f64 * q) as usize)
                .copied()
                .unwrap_or(0)
        };
        (at(0.5), at(0.99))
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `ours` and `theirs`, `ROUNDS` times, alternating which goes first: the medians of each
/// and of their ratio.
fn side_by_side(mut ours: impl FnMut() -> f64, mut theirs: impl FnMut() -> f64) -> (f64, f64, f64) {
    let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (x, y) = if round % 2 == 0 {
            let x = ours();
            (x, theirs())
        } else {
            let y = theirs();
            (ours(), y)
        };
        a.push(x);
        b.push(y);
        ratio.push(x / y);
    }
    (median(a), median(b), median(ratio))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os(CHILD_ENV).is_some() {
        return child(Path::new(&args[1]), args[2].parse().expect("seconds"));
    }
    let seconds: u64 = args.get(1).map_or(3, |s| s.parse().expect("seconds"));
    let exe = std::env::current_exe().expect("this example");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    let mut raw = store_postgres::harness::raw();
    raw.batch_execute(PGBENCH_TABLE).expect("pgbench's table");
    let script = dir.path().join("insert.sql");
    std::fs::write(&script, PGBENCH_SCRIPT).expect("pgbench's script");

    println!(
        "PostgreSQL on loopback, fsync on; each figure the median of {ROUNDS} rounds of {seconds} s, \
         the store's side and pgbench's alternating"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>7}",
        "", "store", "pgbench", "ratio"
    );
    let append = |t: usize, i: usize| {
        store
            .append(NewLogEntry::new("bench", "append", "{}").with_ref(format!("t{t}-{}", i % 10)))
            .expect("append");
    };
    for threads in [1, 4, 16] {
        let (ours, theirs, ratio) = side_by_side(
            || threads_rate(threads, seconds, append),
            || pgbench(threads, seconds, &script).0,
        );
        println!(
            "{:<44} {ours:>8.0}/s {theirs:>8.0}/s {ratio:>7.2}",
            format!("single appends, {threads} thread(s) of one process")
        );
    }
    for processes in [4, 8] {
        let (ours, theirs, ratio) = side_by_side(
            || processes_rate(&exe, dir.path(), processes, seconds),
            || pgbench(processes, seconds, &script).0,
        );
        println!(
            "{:<44} {ours:>8.0}/s {theirs:>8.0}/s {ratio:>7.2}",
            format!("single appends, {processes} single-threaded processes")
        );
    }
    let (p50, p99) = reader_lag(store.as_ref(), &exe, dir.path(), 8, seconds);
    println!(
        "{:<44} {:>10} {:>10}",
        "a cursor reader's lag beside 8 processes",
        format!("p50 {p50} ms"),
        format!("p99 {p99} ms")
    );
    let (ours, theirs, ratio) = side_by_side(
        || {
            let calls = 2_000;
            let started = Instant::now();
            (0..calls).for_each(|i| append(0, i));
            started.elapsed().as_secs_f64() * 1e3 / calls as f64
        },
        || pgbench(1, seconds, &script).1.as_secs_f64() * 1e3,
    );
    println!(
        "{:<44} {ours:>7.3}ms {theirs:>7.3}ms {ratio:>7.2}",
        "a lone append's latency (1 client)"
    );
    let mut run = 0_usize;
    let (ours, theirs, ratio) = side_by_side(
        || {
            run += 1;
            let round = run;
            threads_rate(16, seconds, |t, i| {
                store
                    .transition_run(RunTransition::new(
                        format!("run-{round}-{t}-{i}"),
                        "wf",
                        WorkflowRunStatus::Started,
                    ))
                    .expect("transition");
            })
        },
        || threads_rate(16, seconds, append),
    );
    println!(
        "{:<44} {ours:>8.0}/s {theirs:>8.0}/s {ratio:>7.2}",
        "transitions ÷ appends, 16 threads"
    );
}
