//! The console's server time: each page and API call of `store-console`, requested through
//! its router (no network) many times over a store of 100,000 runs over 30 days (each queued,
//! started and completed or failed, with worker entries: 1,000,000 log entries), beside the
//! store read the page is built on, called directly. Prints each page's median and 90th
//! percentile, and the ratio of its median to its store read's. `cargo bench -p
//! nerve-bench --bench console` (`NERVE_CONSOLE_RUNS` for another size).

use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt as _;
use nerve_bench::{human, quantile};
use nerve_store::{
    AsyncStore, LogId, LogQuery, NewLogEntry, OpenOptions, RunQuery, RunTransition, Store,
    WorkflowRunStatus, WriteUnit,
};
use store_console::{ConsoleOptions, router};
use tower::ServiceExt as _;

/// Requests of each page, after a few to warm the caches.
const REQUESTS: usize = 200;

fn now() -> DateTime<Utc> {
    nerve_bench::archive_now()
}

/// The store, built once under `target/` and kept: `runs` runs spread over 30 days, each
/// queued, started and completed (every tenth failed), with seven worker entries each.
fn fixture(runs: usize) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&dir).expect("bench data folder");
    let path = dir.join(format!("console-{runs}.db"));
    let done = dir.join(format!("console-{runs}.complete"));
    let location = format!("sqlite:{}", path.display());
    if path.exists() && done.exists() {
        // A fixture of an older schema is migrated once, by a writable open.
        let started = Instant::now();
        drop(nerve_store::open(&location).expect("the fixture opens"));
        let took = started.elapsed();
        if took > Duration::from_secs(1) {
            println!("opening the fixture for writing (a migration) took {took:?}");
        }
        return location;
    }
    let _ = std::fs::remove_file(&path);
    let store = nerve_store::open(&location).expect("create the fixture");
    let start = now() - chrono::Duration::days(30);
    let step = chrono::Duration::milliseconds((30 * 86_400_000 / runs.max(1)) as i64);
    for first in (0..runs).step_by(500) {
        let mut unit = WriteUnit::new();
        for n in first..(first + 500).min(runs) {
            let run = format!("run-{n:07}");
            let at = start + step * n as i32;
            unit = unit.transition(
                RunTransition::new(&run, "summarise", WorkflowRunStatus::Queued)
                    .in_thread(format!("thread-{}", n % 1000))
                    .at(at),
            );
            unit = unit.transition(RunTransition::of(&run, WorkflowRunStatus::Started).at(at));
            for i in 0..7 {
                unit = unit.append(
                    NewLogEntry::new(
                        "worker",
                        ["tick", "step", "note"][i % 3],
                        format!("{{\"run\":{n},\"i\":{i}}}"),
                    )
                    .with_ref(&run)
                    .at(at + chrono::Duration::milliseconds(i as i64)),
                );
            }
            let last = if n % 10 == 0 {
                WorkflowRunStatus::Failed
            } else {
                WorkflowRunStatus::Completed
            };
            unit = unit
                .transition(RunTransition::of(&run, last).at(at + chrono::Duration::seconds(1)));
        }
        store.log.write_unit(unit).expect("a unit of the fixture");
    }
    drop(store);
    std::fs::write(&done, b"").expect("mark complete");
    location
}

/// The store read a page is built on, done directly.
enum Bare {
    /// The counters and the activity of a range (the overview).
    Overview(DateTime<Utc>, DateTime<Utc>),
    /// The activity of a range (the chart's API).
    Activity(DateTime<Utc>, DateTime<Utc>),
    /// A page of runs.
    Runs(RunQuery),
    /// A run and the entries about it.
    Run(String),
    /// A page of entries.
    Logs(LogQuery),
    /// A thread's messages.
    Thread(String),
}

impl Bare {
    fn read(&self, store: &Store) {
        let log = &store.log;
        match self {
            Bare::Overview(since, until) => {
                nerve_store::stats(store).expect("stats");
                log.activity(*since, *until).expect("the activity");
            }
            Bare::Activity(since, until) => drop(log.activity(*since, *until).expect("activity")),
            Bare::Runs(query) => drop(log.list_runs(query).expect("runs")),
            Bare::Run(run) => {
                log.get_run(run).expect("the run");
                let about = LogQuery {
                    ref_id: Some(run.clone()),
                    limit: Some(1001),
                    ..LogQuery::default()
                };
                log.query(&about).expect("its entries");
            }
            Bare::Logs(query) => drop(log.query(query).expect("entries")),
            Bare::Thread(thread) => drop(
                log.thread_rounds(&nerve_store::GetThreadRoundsParams {
                    thread_id: thread.clone(),
                    role: None,
                    from_round: None,
                    limit: Some(1000),
                })
                .expect("rounds"),
            ),
        }
    }
}

/// The median and the 90th percentile of `times`, in seconds.
fn spread(times: &[Duration]) -> (f64, f64) {
    let seconds: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    (quantile(&seconds, 0.5), quantile(&seconds, 0.9))
}

fn main() {
    let runs: usize = std::env::var("NERVE_CONSOLE_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    // A store of one's own (`nerve-store simulate --runs 100000 --days 30` fills one), or
    // the bench's fixture.
    let location = std::env::var("NERVE_CONSOLE_STORE").unwrap_or_else(|_| fixture(runs));
    let store: Store = nerve_store::open_with(&location, &OpenOptions::default().read_only(true))
        .expect("the store, read-only");
    let stats = nerve_store::stats(&store).expect("stats");
    let (entries, runs) = (stats.entries, stats.runs);
    // The newest run and entry: "now" for the chart and the time filters.
    let newest = store
        .log
        .list_runs(
            &RunQuery::new()
                .order(nerve_store::Order::Descending)
                .limit(1),
        )
        .expect("the newest run");
    let now = newest.first().map_or_else(now, |run| run.created_at);
    let oldest = store
        .log
        .list_runs(&RunQuery::new().limit(1))
        .expect("the oldest run");
    let start = oldest.first().map_or(now, |run| run.created_at);
    let halfway = start + (now - start) / 2;
    let middle_run = store
        .log
        .list_runs(&RunQuery::new().created(Some(halfway), None).limit(1))
        .expect("a run halfway")
        .into_iter()
        .next()
        .expect("the store has runs");
    let middle = middle_run.run_id.clone();
    let thread = middle_run.thread_id.clone().unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let store = AsyncStore::new(store);
    let options = ConsoleOptions {
        now: Some(now),
        ..ConsoleOptions::default()
    };
    let app = router(store.clone(), &options);
    let mid_id = entries / 2;
    let day = halfway.date_naive();
    let runs_page = |status: Option<WorkflowRunStatus>, after: Option<&str>| {
        Bare::Runs(RunQuery {
            statuses: status.into_iter().collect(),
            after: after.map(str::to_owned),
            limit: Some(101),
            ..RunQuery::default()
        })
    };
    let hours = |h: i64| now - chrono::Duration::hours(h);
    let day_start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let after_middle = LogQuery {
        after: Some(LogId(mid_id)),
        limit: Some(101),
        ..LogQuery::default()
    };
    let pages: Vec<(String, Bare)> = vec![
        ("/".into(), Bare::Overview(hours(24), now)),
        ("/?since=30d".into(), Bare::Overview(hours(30 * 24), now)),
        (
            "/api/activity?since=30d&by=hour".into(),
            Bare::Activity(hours(30 * 24), now),
        ),
        (
            "/runs?order=newest".into(),
            Bare::Runs(RunQuery {
                order: nerve_store::Order::Descending,
                limit: Some(101),
                ..RunQuery::default()
            }),
        ),
        (
            format!("/runs?status=failed&since={day}&order=newest"),
            Bare::Runs(RunQuery {
                statuses: vec![WorkflowRunStatus::Failed],
                created_since: Some(day_start),
                order: nerve_store::Order::Descending,
                limit: Some(101),
                ..RunQuery::default()
            }),
        ),
        ("/runs".into(), runs_page(None, None)),
        (
            "/runs?status=failed".into(),
            runs_page(Some(WorkflowRunStatus::Failed), None),
        ),
        (
            format!("/runs?after={middle}"),
            runs_page(None, Some(&middle)),
        ),
        (format!("/runs/{middle}"), Bare::Run(middle.clone())),
        (
            "/logs".into(),
            Bare::Logs(LogQuery {
                limit: Some(101),
                ..LogQuery::default()
            }),
        ),
        (
            format!("/logs?after={mid_id}"),
            Bare::Logs(after_middle.clone()),
        ),
        (
            format!("/logs?source=worker&type=note&since={day}"),
            Bare::Logs(LogQuery {
                source: Some("worker".into()),
                kind: Some("note".into()),
                since: Some(day_start),
                limit: Some(101),
                ..LogQuery::default()
            }),
        ),
        (
            format!("/logs?since={day}T12:00:00Z&until={day}T13:00:00Z"),
            Bare::Logs(LogQuery {
                since: Some(day_start + chrono::Duration::hours(12)),
                until: Some(day_start + chrono::Duration::hours(13)),
                limit: Some(101),
                ..LogQuery::default()
            }),
        ),
        // simulate's rarest entries (none in the fixture): fewer than a page in 6 hours, so
        // the walk goes to the range's end.
        (
            format!("/logs?source=daemon&type=recover&since={day}"),
            Bare::Logs(LogQuery {
                source: Some("daemon".into()),
                kind: Some("recover".into()),
                since: Some(day_start),
                limit: Some(101),
                ..LogQuery::default()
            }),
        ),
        (
            format!("/logs?source=daemon&type=recover&since={day}&until={day}T06:00:00Z"),
            Bare::Logs(LogQuery {
                source: Some("daemon".into()),
                kind: Some("recover".into()),
                since: Some(day_start),
                until: Some(day_start + chrono::Duration::hours(6)),
                limit: Some(101),
                ..LogQuery::default()
            }),
        ),
        (format!("/threads/{thread}"), Bare::Thread(thread.clone())),
        (
            "/api/runs?status=failed".into(),
            runs_page(Some(WorkflowRunStatus::Failed), None),
        ),
        (
            format!("/api/logs?after={mid_id}"),
            Bare::Logs(after_middle),
        ),
    ];
    println!("console over {runs} runs, {entries} log entries; {REQUESTS} requests a page");
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>7}",
        "page", "median", "p90", "store", "ratio"
    );
    for (path, bare) in &pages {
        let mut served = Vec::with_capacity(REQUESTS);
        let mut direct = Vec::with_capacity(REQUESTS);
        for request in 0..REQUESTS + 10 {
            let started = Instant::now();
            let status = runtime.block_on(async {
                let response = app
                    .clone()
                    .oneshot(
                        Request::get(path.as_str())
                            .body(Body::empty())
                            .expect("a request"),
                    )
                    .await
                    .expect("an answer");
                let status = response.status();
                response.into_body().collect().await.expect("the body");
                status
            });
            let took = started.elapsed();
            assert!(status.is_success(), "{path}: {status}");
            let started = Instant::now();
            bare.read(store.blocking());
            let bare_took = started.elapsed();
            if request >= 10 {
                served.push(took);
                direct.push(bare_took);
            }
        }
        let (median, p90) = spread(&served);
        let (bare_median, _) = spread(&direct);
        println!(
            "{path:<44} {:>10} {:>10} {:>10} {:>7.2}",
            human(median),
            human(p90),
            human(bare_median),
            median / bare_median
        );
    }
}
