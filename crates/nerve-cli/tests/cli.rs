//! The `nerve-store` binary, run as a person or a script would run it, against both
//! backends: every command's happy path, `--json` parsed back, migrate across backends
//! keeping the content digest, and the errors people meet.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use chrono::{Duration, Utc};
use nerve_store::{LogQuery, NewLogEntry, RunTransition, ThreadMessage, WorkflowRunStatus};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_nerve-store");

/// A store in a temporary folder and the binary pointed at it.
struct Cli {
    dir: tempfile::TempDir,
    location: String,
    /// Blobs on the tests' S3 server (`--blobs`), for a backend named `NAME+s3`.
    on_s3: bool,
}

impl Cli {
    fn new(backend: &str) -> Self {
        let (backend, on_s3) = match backend.strip_suffix("+s3") {
            Some(log) => (log, true),
            None => (backend, false),
        };
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = if backend == "redb" {
            "nerve.redb"
        } else {
            "nerve.db"
        };
        let location = if backend == "postgres" {
            // A schema of its own on the tests' throwaway server.
            format!(
                "{}?schema={}",
                store_postgres::harness::server().url,
                store_postgres::harness::schema_of(dir.path())
            )
        } else {
            format!("{backend}:{}", dir.path().join(file).display())
        };
        Cli {
            dir,
            location,
            on_s3,
        }
    }

    fn path(&self) -> PathBuf {
        let (_, path) = self.location.split_once(':').expect("backend:path");
        PathBuf::from(path)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        // Lines whole, whatever the terminal the tests run in says its width is; local times
        // in UTC, whatever the machine's zone.
        command
            .args(args)
            .env("NERVE_STORE", &self.location)
            .env("TZ", "UTC")
            .env_remove("COLUMNS")
            .env_remove("NERVE_BLOBS")
            .current_dir(self.dir.path());
        if self.on_s3 {
            command
                .env(
                    "NERVE_BLOBS",
                    store_object::harness::location(self.dir.path()),
                )
                .envs(store_object::harness::environment());
        }
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the binary runs")
    }

    /// Runs a command that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run(args))
    }

    /// Runs a command with `--json`; every line of its output, parsed.
    fn json(&self, args: &[&str]) -> Vec<Value> {
        let args: Vec<&str> = std::iter::once("--json")
            .chain(args.iter().copied())
            .collect();
        json_lines(&self.ok(&args))
    }

    /// Runs a command with `--json` and `input` on its standard input, which must succeed;
    /// every line of its output, parsed.
    fn json_with_input(&self, args: &[&str], input: &[u8]) -> Vec<Value> {
        let mut child = self
            .command(&[&["--json"][..], args].concat())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        child
            .stdin
            .take()
            .expect("its input")
            .write_all(input)
            .expect("written");
        let output = child.wait_with_output().expect("the binary ends");
        json_lines(&succeeded(args, output))
    }

    /// Runs a command that must fail with the exit status `code`; its one line of error.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        failed(args, self.run(args), code)
    }

    /// The store, opened by the library, for setting up and checking.
    fn store(&self) -> nerve_store::Store {
        let mut options = nerve_store::OpenOptions::default();
        if self.on_s3 {
            options = options.blobs_on(store_object::harness::options(self.dir.path()));
        }
        nerve_store::open_with(&self.location, &options).expect("the library opens the store")
    }
}

fn succeeded(args: &[&str], output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert_no_secret(args, &stdout, &stderr);
    stdout
}

/// The S3 secret key of the tests' environment appears in no output of any command.
fn assert_no_secret(args: &[&str], stdout: &str, stderr: &str) {
    let secret = store_object::harness::SECRET_KEY;
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{args:?} showed the secret key"
    );
}

/// Checks that a command failed as people should see it: a non-zero exit, one line on
/// stderr that starts with the program's name, no panic and no backtrace.
/// The one line of error of a command that failed with the exit status `code` (1 failed, 3
/// not found, 4 damaged, 5 locked, 6 read-only, as `--help` lists them).
fn failed(args: &[&str], output: Output, code: i32) -> String {
    let stderr = String::from_utf8(output.stderr).expect("UTF-8 errors");
    assert_no_secret(args, &String::from_utf8_lossy(&output.stdout), &stderr);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
    assert!(stderr.starts_with("nerve-store: "), "{args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{args:?}: {stderr}"
    );
    stderr
}

/// The records of an RFC 4180 text: fields split at commas, a quoted field's doubled quotes
/// made one, commas and line breaks inside quotes kept.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{line:?}: {err}")))
        .collect()
}

fn u64_of(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {value}"))
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {value}"))
}

/// The library's view of log entries, as the CLI prints them with `--json`.
fn as_json(entries: &[nerve_store::LogEntry]) -> Vec<Value> {
    entries
        .iter()
        .map(|e| serde_json::to_value(e).expect("an entry as JSON"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Happy paths, each run on every backend (see the `backends!` list at the end).

fn simulate_reports_what_it_stored_and_stats_agree(backend: &str) {
    let cli = Cli::new(backend);
    let report = cli.json(&["simulate", "--runs", "40", "--workers", "3", "--seed", "7"]);
    let [report] = report.as_slice() else {
        panic!("one summary object: {report:?}")
    };
    assert_eq!(u64_of(report, "runs"), 40);
    let entries = u64_of(report, "entries");
    assert!(
        entries > 40 * 4,
        "each run writes several entries: {report}"
    );
    assert!(report["runsPerSecond"].as_f64().is_some_and(|r| r > 0.0));
    let ended: u64 = report["finalStatus"]
        .as_object()
        .expect("final statuses")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(ended, 40, "every run ends in one status: {report}");

    let [stats] = cli.json(&["stats"]).try_into().expect("one stats object");
    assert_eq!(u64_of(&stats, "entries"), entries);
    assert_eq!(u64_of(&stats, "runs"), 40);
    assert_eq!(u64_of(&stats, "blobs"), u64_of(report, "blobs"));
    assert_eq!(
        u64_of(&stats, "activeRuns"),
        u64_of(report, "storeActiveRuns")
    );
    for (status, n) in report["finalStatus"].as_object().expect("statuses") {
        assert_eq!(stats["runsByStatus"][status], *n, "{status}");
    }
    // The simulation may have run across midnight: its last entry is of today or yesterday.
    let today = Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap_or(today);
    let last = str_of(&stats, "lastDay");
    assert!(
        last == today.to_string() || last == yesterday.to_string(),
        "{stats}"
    );
    if backend.starts_with("postgres") {
        // A store on a server has no file here to size.
        assert!(stats["logFileBytes"].is_null(), "{stats}");
    } else {
        assert!(u64_of(&stats, "logFileBytes") > 0);
    }
    if backend.ends_with("+s3") {
        // Its blobs are in the bucket, not in a file beside the log.
        assert!(stats["blobFileBytes"].is_null(), "{stats}");
        assert!(
            str_of(&stats, "blobsAt").starts_with("s3://nerve-tests/"),
            "{stats}"
        );
    } else {
        assert!(stats["blobsAt"].is_null(), "{stats}");
    }

    // The same seed makes the same choices; new run ids add to the store.
    let again = cli.json(&["simulate", "--runs", "40", "--workers", "1", "--seed", "7"]);
    assert_eq!(again[0]["finalStatus"], report["finalStatus"]);
    assert_eq!(u64_of(&again[0], "entries"), entries);
    let text = cli.ok(&["stats"]);
    assert!(text.contains("runs         80 ("), "{text}");
}

/// `simulate --days` spreads its runs over past days, leaves no run in flight but recent
/// ones, and so gives `archive` whole days to move: what leaves the store is what the
/// archive reports, and what is left starts at the first kept day.
fn simulate_over_past_days_gives_the_archive_history(backend: &str) {
    let cli = Cli::new(backend);
    let started = Utc::now().date_naive();
    let [report] = cli
        .json(&["simulate", "--runs", "120", "--days", "6", "--seed", "11"])
        .try_into()
        .expect("one summary");
    let ended = Utc::now().date_naive();
    let entries = u64_of(&report, "entries");
    let [before] = cli.json(&["stats"]).try_into().expect("one stats object");
    let day = |field: &str| {
        chrono::NaiveDate::parse_from_str(str_of(&before, field), "%Y-%m-%d").expect("a day")
    };
    let (first, last) = (day("firstDay"), day("lastDay"));
    // The first run starts six days before the simulation's start; the last one a
    // 120th of that before it (so maybe yesterday), and midnight may overtake a run.
    let six_days = Duration::days(6);
    assert!(
        (started - six_days..=ended - six_days).contains(&first),
        "six days of history: {before}"
    );
    assert!(
        (started - Duration::days(1)..=ended + Duration::days(1)).contains(&last),
        "up to about now: {before}"
    );
    let first = first.to_string();

    let archived = cli.json(&["archive", "--retain-days", "2"]);
    let [summary] = archived
        .iter()
        .filter(|line| line.get("entries").is_some() && line.get("day").is_none())
        .cloned()
        .collect::<Vec<_>>()
        .try_into()
        .unwrap_or_else(|lines: Vec<Value>| panic!("one summary among {lines:?}"));
    let moved = u64_of(&summary, "entries");
    assert!(moved > 0, "whole past days moved: {summary}");
    let [after] = cli.json(&["stats"]).try_into().expect("one stats object");
    assert_eq!(u64_of(&after, "entries"), entries - moved);
    assert!(
        str_of(&after, "firstDay") > first.as_str(),
        "the oldest days left the store: {after}"
    );
}

/// `simulate --batch` commits several runs as one write unit and stores the same workload
/// as one commit per step: the same counts, and the store holds them.
fn simulate_in_batches_stores_the_same_workload(backend: &str) {
    let summary = |args: &[&str]| -> (Value, u64) {
        let cli = Cli::new(backend);
        let [report] = cli.json(args).try_into().expect("one summary");
        let [stats] = cli.json(&["stats"]).try_into().expect("one stats object");
        (report, u64_of(&stats, "entries"))
    };
    let plain = &["simulate", "--runs", "60", "--seed", "5", "--workers", "2"];
    let (one_by_one, stored) = summary(plain);
    let (batched, stored_batched) = summary(&[plain.as_slice(), &["--batch", "7"]].concat());
    for field in [
        "entries",
        "transitions",
        "threadMessages",
        "blobs",
        "finalStatus",
    ] {
        assert_eq!(batched[field], one_by_one[field], "{field}");
    }
    assert_eq!(stored_batched, stored);
    assert_eq!(stored, u64_of(&one_by_one, "entries"));
}

fn logs_query_applies_every_filter_and_pages(backend: &str) {
    let cli = Cli::new(backend);
    let now = Utc::now();
    let written = {
        let store = cli.store();
        let batch = (0..30)
            .map(|i| {
                let source = if i % 2 == 0 { "worker" } else { "daemon" };
                let kind = if i % 3 == 0 { "tick" } else { "step" };
                NewLogEntry::new(source, kind, format!("{{\"i\":{i}}}"))
                    .with_ref(format!("run-{}", i % 4))
                    // Half a minute off the minute, so that `--since 75m` is not a tie.
                    .at(now - Duration::minutes(90 - i) + Duration::seconds(30))
            })
            .collect();
        store.log.append_batch(batch).expect("entries")
    };
    let library = |query: &LogQuery| -> Vec<Value> {
        let store = cli.store();
        as_json(&store.log.query(query).expect("the library's answer"))
    };
    let everything = cli.json(&["logs", "query", "--limit", "1000"]);
    assert_eq!(everything, as_json(&written));

    let filtered = cli.json(&[
        "logs", "query", "--source", "worker", "--type", "step", "--ref", "run-2",
    ]);
    let expected = library(&LogQuery {
        source: Some("worker".into()),
        kind: Some("step".into()),
        ref_id: Some("run-2".into()),
        ..LogQuery::default()
    });
    assert!(!expected.is_empty());
    assert_eq!(filtered, expected);

    // Relative times count back from now; RFC 3339 is exact.
    let recent = cli.json(&["logs", "query", "--since", "75m"]);
    assert_eq!(recent.len(), 15, "the entries of the last 75 minutes");
    assert_eq!(recent, as_json(&written[15..]));
    let until = written[10].ts.to_rfc3339();
    let before = cli.json(&["logs", "query", "--until", &until]);
    assert_eq!(before, as_json(&written[..10]));
    // As journalctl takes them: `-75m`, and a local time in the zone TZ names (here three
    // hours east of UTC, as a POSIX zone string).
    assert_eq!(cli.json(&["logs", "query", "--since", "-75m"]), recent);
    let local = (written[10].ts + chrono::Duration::hours(3))
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string();
    let output = cli
        .command(&["--json", "logs", "query", "--until", &local])
        .env("TZ", "UTC-3")
        .output()
        .expect("the binary runs");
    assert_eq!(
        json_lines(&succeeded(&["--until", &local], output)),
        as_json(&written[..10]),
        "{local} in UTC+3"
    );
    let refused = cli.run(&["logs", "query", "--since", "soon"]);
    assert_eq!(refused.status.code(), Some(2), "a time that does not parse");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("\"soon\"") && said.contains("yesterday"),
        "{said}"
    );

    // A cursor pages through, both ways.
    let first = cli.json(&["logs", "query", "--limit", "7"]);
    let last_id = u64_of(&first[6], "id").to_string();
    let next = cli.json(&["logs", "query", "--limit", "7", "--after", &last_id]);
    assert_eq!(next, as_json(&written[7..14]));
    let newest = cli.json(&["logs", "query", "--limit", "3", "--desc"]);
    let mut tail: Vec<Value> = as_json(&written[27..]);
    tail.reverse();
    assert_eq!(newest, tail);
    let before_id = written[5].id.0.to_string();
    let older = cli.json(&["logs", "query", "--before", &before_id]);
    assert_eq!(older, as_json(&written[..5]));

    let table = cli.ok(&["logs", "query", "--ref", "run-1", "--limit", "2"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "a header, two rows and a note: {table}");
    assert!(lines[0].starts_with("ID") && lines[0].ends_with("PAYLOAD"));
    assert!(
        lines[1].contains("run-1") && lines[1].contains(r#"{"i":1}"#),
        "{table}"
    );
    let last_shown = written
        .iter()
        .filter(|entry| entry.ref_id.as_deref() == Some("run-1"))
        .nth(1)
        .expect("a second entry of run-1")
        .id;
    assert!(
        lines[3].starts_with(&format!(
            "2 shown, and there are more: --after {last_shown} "
        )),
        "a table cut by --limit says so, and where to go on: {table}"
    );
    let csv = cli.ok(&[
        "--format", "csv", "logs", "query", "--ref", "run-1", "--limit", "2",
    ]);
    let csv: Vec<&str> = csv.lines().collect();
    assert_eq!(csv.len(), 3, "a header and two rows, no note: {csv:?}");
    assert_eq!(csv[0], "ID,TIME,SOURCE,TYPE,REF,PAYLOAD");
    assert!(
        csv[1].ends_with(r#",daemon,step,run-1,"{""i"":1}""#),
        "a cell with quotes is quoted, its quotes doubled: {csv:?}"
    );
    // Parsed back, the CSV holds what --json holds, cell for cell.
    let rows = parse_csv(&cli.ok(&["--format", "csv", "logs", "query", "--limit", "50"]));
    let objects = cli.json(&["logs", "query", "--limit", "50"]);
    assert_eq!(
        rows.len(),
        objects.len() + 1,
        "a header, then a row per entry"
    );
    for (row, object) in rows[1..].iter().zip(&objects) {
        let text = |key: &str| match &object[key] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let expected = ["id", "ts", "source", "type", "refId", "payload"].map(text);
        assert_eq!(row.as_slice(), expected.as_slice());
    }
    let quiet = cli.ok(&["--quiet", "logs", "query", "--ref", "run-1", "--limit", "2"]);
    assert_eq!(
        quiet.lines().count(),
        3,
        "--quiet leaves the note out: {quiet}"
    );
    let all = cli.ok(&["logs", "query", "--ref", "run-1", "--limit", "1000"]);
    assert!(!all.contains("shown, and there are more"), "{all}");
    let json = cli.run(&["--json", "logs", "query", "--ref", "run-1", "--limit", "2"]);
    assert_eq!(
        json_lines(&succeeded(&["--json"], json)).len(),
        2,
        "JSON lines are the entries only"
    );
    // A time range pages like the rest: the same entries in order, whatever the page.
    let since = written[3].ts.to_rfc3339();
    let ranged = cli.json(&["logs", "query", "--since", &since, "--limit", "1000"]);
    assert_eq!(ranged, as_json(&written[3..]));
}

/// A query longer than a page (`logs query` reads 10,000 entries at a time) comes out
/// whole and in order, both ways, as JSON lines and as a table with one header.
fn logs_query_longer_than_a_page_comes_out_whole_and_in_order(backend: &str) {
    let cli = Cli::new(backend);
    let store = cli.store();
    let batch = |start: usize| -> Vec<NewLogEntry> {
        (start..start + 10_250)
            .map(|i| NewLogEntry::new("s", "k", i.to_string()))
            .collect()
    };
    // The store's ids, whatever its backend numbers them from.
    let mut written: Vec<u64> = Vec::new();
    for start in [0, 10_250] {
        let entries = store.log.append_batch(batch(start)).expect("a batch");
        written.extend(entries.iter().map(|entry| entry.id.0));
    }
    drop(store);
    let ids = |lines: &[Value]| -> Vec<u64> { lines.iter().map(|e| u64_of(e, "id")).collect() };
    let up = cli.json(&["logs", "query", "--limit", "20300"]);
    assert!(ids(&up) == written[..20_300], "the first 20,300 in order");
    let down = cli.json(&["logs", "query", "--desc", "--limit", "15000"]);
    let newest: Vec<u64> = written[5_500..].iter().rev().copied().collect();
    assert!(ids(&down) == newest, "the newest 15,000, newest first");
    let cursor = written[9_998].to_string();
    let after = cli.json(&["logs", "query", "--after", &cursor, "--limit", "10002"]);
    assert!(
        ids(&after) == written[9_999..20_001],
        "10,002 after the 9,999th"
    );
    let table = cli.ok(&["logs", "query", "--limit", "20500"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 20_501, "a header and every row");
    assert!(lines[0].starts_with("ID"), "{}", lines[0]);
    assert_eq!(lines.iter().filter(|l| l.starts_with("ID ")).count(), 1);
    let last = format!("{} ", written[20_499]);
    assert!(lines[20_500].starts_with(&last), "{}", lines[20_500]);
}

fn logs_tail_prints_the_last_entries_and_follows_another_process(backend: &str) {
    let cli = Cli::new(backend);
    {
        let store = cli.store();
        for i in 0..5 {
            store
                .log
                .append(NewLogEntry::new("daemon", "tick", format!("before {i}")))
                .expect("append");
        }
    }
    let last_two = cli.json(&["logs", "tail", "-n", "2"]);
    let payloads: Vec<&str> = last_two.iter().map(|e| str_of(e, "payload")).collect();
    assert_eq!(payloads, ["before 3", "before 4"]);

    let mut child: Child = cli
        .command(&[
            "--json",
            "logs",
            "tail",
            "-n",
            "1",
            "--follow",
            "--interval",
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail --follow starts");
    let mut lines = BufReader::new(child.stdout.take().expect("its output")).lines();
    let mut next_payload = || -> String {
        let line = lines.next().expect("a line").expect("readable");
        let value: Value = serde_json::from_str(&line).expect("JSON");
        str_of(&value, "payload").to_owned()
    };
    assert_eq!(next_payload(), "before 4");
    // Appends made by this process, through the library, while the child follows.
    let store = cli.store();
    for i in 0..3 {
        store
            .log
            .append(NewLogEntry::new("worker", "step", format!("after {i}")))
            .expect("append while followed");
    }
    let followed: Vec<String> = (0..3).map(|_| next_payload()).collect();
    child.kill().expect("stop following");
    let _ = child.wait();
    assert_eq!(followed, ["after 0", "after 1", "after 2"]);
}

/// Three runs: one completed, one started, one crashed.
fn three_runs(cli: &Cli) {
    use WorkflowRunStatus::*;
    let store = cli.store();
    let start = Utc::now() - Duration::minutes(10);
    for (n, (run, path)) in [
        ("run-done", &[Queued, Started, Completed][..]),
        ("run-busy", &[Queued, Started][..]),
        ("run-lost", &[Queued, Started, Crashed][..]),
    ]
    .into_iter()
    .enumerate()
    {
        for (step, to) in path.iter().enumerate() {
            let at = start + Duration::minutes(n as i64) + Duration::seconds(step as i64);
            store
                .log
                .transition_run(
                    RunTransition::new(run, "summarise", *to)
                        .in_thread(format!("thread-{run}"))
                        .with_detail(format!("to {to}"))
                        .at(at),
                )
                .expect("a transition");
        }
    }
    store
        .log
        .append(NewLogEntry::new("worker", "tool_call", "{}").with_ref("run-done"))
        .expect("a worker's entry");
}

fn runs_list_filters_by_status_and_show_prints_the_history(backend: &str) {
    let cli = Cli::new(backend);
    three_runs(&cli);
    let ids = |runs: Vec<Value>| -> Vec<String> {
        runs.iter().map(|r| str_of(r, "runId").to_owned()).collect()
    };
    assert_eq!(
        ids(cli.json(&["runs", "list"])),
        ["run-done", "run-busy", "run-lost"]
    );
    assert_eq!(ids(cli.json(&["runs", "list", "--active"])), ["run-busy"]);
    assert_eq!(
        ids(cli.json(&[
            "runs",
            "list",
            "--status",
            "completed",
            "--status",
            "crashed"
        ])),
        ["run-done", "run-lost"]
    );
    assert_eq!(
        ids(cli.json(&["runs", "list", "--after", "run-done", "--limit", "1"])),
        ["run-busy"]
    );
    assert_eq!(
        ids(cli.json(&["runs", "list", "--newest-first"])),
        ["run-lost", "run-busy", "run-done"]
    );
    assert_eq!(
        ids(cli.json(&[
            "runs",
            "list",
            "--newest-first",
            "--after",
            "run-lost",
            "--since",
            "9m 30s"
        ])),
        ["run-busy"],
        "created in the last 9.5 minutes, after run-lost, newest first"
    );
    let cut = cli.ok(&["runs", "list", "--limit", "2"]);
    assert!(
        cut.lines()
            .last()
            .is_some_and(|line| line.starts_with("2 shown, and there are more: --after run-busy ")),
        "a list cut by --limit says so: {cut}"
    );
    let whole = cli.ok(&["runs", "list", "--limit", "3"]);
    assert!(!whole.contains("there are more"), "{whole}");

    let [run] = cli
        .json(&["runs", "show", "run-done"])
        .try_into()
        .expect("one object");
    assert_eq!(str_of(&run, "status"), "completed");
    assert_eq!(str_of(&run, "threadId"), "thread-run-done");
    let log = run["log"].as_array().expect("the run's log");
    let kinds: Vec<&str> = log.iter().map(|e| str_of(e, "type")).collect();
    assert_eq!(
        kinds,
        ["run.status", "run.status", "run.status", "tool_call"]
    );

    let table = cli.ok(&["runs", "show", "run-lost"]);
    assert!(table.contains("status    crashed"), "{table}");
    assert!(table.contains("detail    to crashed"), "{table}");
    let list = cli.ok(&["runs", "list", "--active"]);
    assert!(list.starts_with("RUN"), "{list}");
    assert_eq!(list.lines().count(), 2, "a header and run-busy: {list}");
}

fn thread_show_prints_the_conversation_round_by_round(backend: &str) {
    let cli = Cli::new(backend);
    {
        let store = cli.store();
        for round in 1..=3 {
            for role in ["user", "assistant"] {
                store
                    .log
                    .append_thread_message(ThreadMessage {
                        thread_id: "thread-9".into(),
                        role: role.into(),
                        round,
                        payload: format!("{role} {round}"),
                        ts: None,
                    })
                    .expect("a message");
            }
        }
    }
    let rows = cli.json(&["thread", "show", "thread-9"]);
    let seen: Vec<(u64, &str, &str)> = rows
        .iter()
        .map(|r| (u64_of(r, "round"), str_of(r, "role"), str_of(r, "payload")))
        .collect();
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[0], (1, "user", "user 1"));
    assert_eq!(seen[5], (3, "assistant", "assistant 3"));
    let users = cli.json(&[
        "thread",
        "show",
        "thread-9",
        "--role",
        "user",
        "--from-round",
        "2",
    ]);
    let payloads: Vec<&str> = users.iter().map(|r| str_of(r, "payload")).collect();
    assert_eq!(payloads, ["user 2", "user 3"]);
    let table = cli.ok(&["thread", "show", "thread-9"]);
    assert!(
        table.starts_with("thread thread-9: 6 messages shown, last round 3"),
        "{table}"
    );
}

fn meta_sets_gets_lists_and_deletes(backend: &str) {
    let cli = Cli::new(backend);
    let err = cli.fails(3, &["meta", "set", "owner", "ops"]);
    assert!(err.contains("--create makes an empty one"), "{err}");
    assert!(!cli.path().exists(), "a mistyped --store makes no store");
    assert_eq!(
        cli.ok(&["--create", "meta", "set", "owner", "ops"]),
        "owner = ops\n"
    );
    assert_eq!(
        cli.ok(&["meta", "set", "owner", "sre"]),
        "owner = sre (was ops)\n"
    );
    assert_eq!(cli.ok(&["meta", "get", "owner"]), "sre\n");
    let [pair] = cli
        .json(&["meta", "get", "owner"])
        .try_into()
        .expect("one object");
    assert_eq!(str_of(&pair, "value"), "sre");
    cli.ok(&["meta", "set", "region", "eu"]);
    let keys: Vec<String> = cli
        .json(&["meta", "ls"])
        .iter()
        .map(|p| str_of(p, "key").to_owned())
        .collect();
    assert_eq!(keys, ["owner", "region"]);
    assert_eq!(cli.ok(&["meta", "delete", "owner"]), "deleted owner\n");
    assert_eq!(cli.ok(&["meta", "delete", "owner"]), "owner was not set\n");
    let err = cli.fails(3, &["meta", "get", "owner"]);
    assert!(err.contains(r#"no meta key "owner""#), "{err}");
    assert_eq!(
        cli.store().log.meta_get("region").expect("read"),
        Some("eu".into())
    );
}

fn blobs_round_trip_through_files_and_standard_streams(backend: &str) {
    let cli = Cli::new(backend);
    let file = cli.dir.path().join("report.bin");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &content).expect("a file to store");
    let file_digest = cli.ok(&[
        "--create",
        "blob",
        "put",
        file.to_str().expect("UTF-8 path"),
    ]);
    let file_digest = file_digest.trim();
    assert_eq!(file_digest.len(), 64);

    let [put] = cli
        .json_with_input(&["blob", "put", "-"], b"from standard input")
        .try_into()
        .expect("one object");
    assert_eq!(u64_of(&put, "bytes"), 19);
    let stdin_digest = str_of(&put, "digest").to_owned();

    let out = cli.run(&["blob", "get", file_digest]);
    assert!(out.status.success());
    assert_eq!(out.stdout, content, "blob get to standard output");
    let copy = cli.dir.path().join("copy.bin");
    cli.ok(&[
        "blob",
        "get",
        file_digest,
        "-o",
        copy.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(std::fs::read(&copy).expect("the copy"), content);

    let mut listed: Vec<(String, u64)> = cli
        .json(&["blob", "ls"])
        .iter()
        .map(|b| (str_of(b, "digest").to_owned(), u64_of(b, "bytes")))
        .collect();
    listed.sort();
    let mut expected = vec![
        (file_digest.to_owned(), content.len() as u64),
        (stdin_digest.clone(), 19),
    ];
    expected.sort();
    assert_eq!(listed, expected);

    assert_eq!(
        cli.ok(&["blob", "verify", &stdin_digest]),
        format!("{stdin_digest} intact\n")
    );
    // As people copy a digest: upper case, with the `sha256:` prefix of OCI and Docker.
    let copied = format!("sha256:{}", stdin_digest.to_ascii_uppercase());
    assert_eq!(
        cli.ok(&["blob", "verify", &copied]),
        format!("{stdin_digest} intact\n")
    );
    let out = cli.run(&["blob", "get", &copied]);
    assert_eq!(
        out.stdout, b"from standard input",
        "blob get by a copied digest"
    );
    let [all] = cli
        .json(&["blob", "verify", "--all"])
        .try_into()
        .expect("one object");
    assert_eq!(u64_of(&all, "checked"), 2);
    assert_eq!(all["corrupt"], serde_json::json!([]));

    let absent = "0".repeat(64);
    let err = cli.fails(3, &["blob", "get", &absent]);
    assert!(err.contains(&format!("no blob {absent}")), "{err}");
    let err = cli.fails(3, &["blob", "verify", &absent]);
    assert!(err.contains("blob ls"), "{err}");
}

fn archive_moves_old_days_out_and_cat_reads_them_back(backend: &str) {
    let cli = Cli::new(backend);
    let now = Utc::now();
    let (old, recent) = {
        let store = cli.store();
        let old = store
            .log
            .append_batch(
                (0..20)
                    .map(|i| {
                        NewLogEntry::new("worker", "step", format!("old {i}"))
                            .at(now - Duration::days(45 + i % 2))
                    })
                    .collect(),
            )
            .expect("old entries");
        let recent = store
            .log
            .append(NewLogEntry::new("worker", "step", "recent"))
            .expect("a recent entry");
        (old, recent)
    };
    let [dry] = cli
        .json(&["archive", "--dry-run"])
        .try_into()
        .expect("one object");
    assert_eq!(dry["dryRun"], Value::Bool(true));
    assert_eq!(u64_of(&dry, "entries"), 20);
    assert_eq!(
        u64_of(&cli.json(&["stats"])[0], "entries"),
        21,
        "a dry run moves nothing"
    );

    let [report] = cli
        .json(&["archive", "--retain-days", "30", "--vacuum"])
        .try_into()
        .expect("one object");
    assert_eq!(u64_of(&report, "entries"), 20);
    assert_eq!(report["days"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["vacuumed"], Value::Bool(true));
    let [stats] = cli.json(&["stats"]).try_into().expect("one object");
    assert_eq!(u64_of(&stats, "entries"), 1);
    let last_old_day = (now - Duration::days(45)).date_naive().to_string();
    assert_eq!(str_of(&stats, "archiveWatermark"), last_old_day);
    assert!(u64_of(&stats, "archiveBytes") > 0);
    assert_eq!(
        cli.json(&["logs", "query"]),
        as_json(std::slice::from_ref(&recent))
    );

    let first_old_day = (now - Duration::days(46)).date_naive().to_string();
    let reaching_back = cli.ok(&["logs", "query", "--since", &first_old_day]);
    assert!(
        reaching_back
            .lines()
            .last()
            .is_some_and(|line| line.contains(&format!(
                "days up to {last_old_day} are archived, not in the store: --archive reads \
                 them too, `nerve-store archive cat {first_old_day}..{last_old_day}` alone"
            ))),
        "a range that reaches into archived days says so: {reaching_back}"
    );
    let recent_only = cli.ok(&["logs", "query", "--since", "1d"]);
    assert!(!recent_only.contains("are archived"), "{recent_only}");
    let range = format!("{first_old_day}..{last_old_day}");
    let mut back = cli.json(&["archive", "cat", &range]);
    back.sort_by_key(|e| u64_of(e, "id"));
    assert_eq!(back, as_json(&old), "every archived entry, as it was");
    let one_day = cli.json(&["archive", "cat", &last_old_day]);
    assert_eq!(one_day.len(), 10);
    let text = cli.ok(&["archive"]);
    assert!(text.starts_with("moved 0 entries"), "{text}");

    // Every day file against the manifest, then one changed behind the archive's back.
    let verified = cli.ok(&["archive", "verify"]);
    assert_eq!(verified.matches(" sound ").count(), 2, "{verified}");
    let [checked] = cli
        .json(&["archive", "verify"])
        .try_into()
        .expect("one object");
    assert_eq!(checked["days"].as_array().map(Vec::len), Some(2));
    let [dropped] = cli
        .json(&["archive", "drop", "--before", &last_old_day])
        .try_into()
        .expect("one object");
    assert_eq!(u64_of(&dropped, "entries"), 10, "the first old day");
    let verified = cli.ok(&["archive", "verify"]);
    assert_eq!(verified.matches(" sound ").count(), 1, "{verified}");
    // The folder as the command line named it, from its working directory.
    let file = cli
        .dir
        .path()
        .join(str_of(&report, "dir"))
        .join("logs")
        .join(format!("{last_old_day}.jsonl"));
    let text = std::fs::read_to_string(&file).expect("a day file");
    std::fs::write(&file, text.replacen("old ", "OLD ", 1)).expect("a changed day file");
    let err = cli.fails(4, &["archive", "verify"]);
    assert!(
        err.contains("do not match its manifest")
            && err.contains(&format!("{last_old_day} (changed)")),
        "{err}"
    );
    let err = cli.fails(4, &["check"]);
    assert!(
        err.contains(&format!("{last_old_day} (changed)")),
        "check finds it too: {err}"
    );
}

fn tables_are_cut_to_the_terminal_width_and_never_wrap(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["simulate", "--runs", "5"]);
    for args in [&["logs", "query", "--limit", "20"][..], &["runs", "list"]] {
        let whole = cli.ok(args);
        assert!(
            whole.lines().any(|line| line.chars().count() > 60),
            "{args:?}: some lines are wider than 60 when whole"
        );
        let output = cli.command(args).env("COLUMNS", "60").output();
        let cut = succeeded(args, output.expect("the binary runs"));
        let rows = cut
            .lines()
            .take_while(|line| !line.contains("shown, and there are more"));
        for line in rows {
            assert!(line.chars().count() <= 60, "{args:?}: {line:?}");
        }
        assert!(
            cut.contains('…'),
            "{args:?}: a cut line ends in an ellipsis: {cut}"
        );
    }
}

fn compact_gives_back_the_space_of_archived_days_and_keeps_every_entry(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["simulate", "--runs", "300", "--days", "60", "--seed", "2"]);
    cli.ok(&["archive", "--retain-days", "10"]);
    let everything = ["logs", "query", "--limit", "100000"];
    let before = cli.json(&everything);
    assert!(!before.is_empty(), "recent days stay");
    let [report] = cli.json(&["compact"]).try_into().expect("one object");
    assert!(
        u64_of(&report, "bytesAfter") < u64_of(&report, "bytesBefore"),
        "the archived days' space is given back: {report}"
    );
    assert_eq!(
        cli.json(&everything),
        before,
        "every entry stays, with its id"
    );
    let text = cli.ok(&["compact"]);
    assert!(text.starts_with("compacted "), "{text}");
}

fn check_verifies_the_log_the_blobs_and_the_archive_and_names_damage(backend: &str) {
    let cli = Cli::new(backend);
    {
        let store = cli.store();
        let old = (0..30)
            .map(|i| {
                NewLogEntry::new("w", "s", format!("old {i}")).at(Utc::now() - Duration::days(40))
            })
            .collect();
        store.log.append_batch(old).expect("old entries");
        store
            .log
            .append(NewLogEntry::new("w", "s", "recent"))
            .expect("recent");
        store.blobs.write(b"a blob").expect("a blob");
    }
    cli.ok(&["archive", "--retain-days", "30"]);
    let text = cli.ok(&["check"]);
    assert!(text.contains(": sound"), "{text}");
    assert!(text.contains("1 blob checked, 0 corrupt"), "{text}");
    assert!(text.contains("30 entries readable"), "{text}");
    let [report] = cli.json(&["check"]).try_into().expect("one object");
    assert_eq!(str_of(&report, "log"), "sound");
    assert_eq!(u64_of(&report, "archivedEntries"), 30);

    let day_file = std::fs::read_dir(cli.dir.path().join("archive/logs"))
        .expect("the archive's folder")
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .expect("a day file");
    let lines = std::fs::read_to_string(&day_file).expect("the day file");
    std::fs::write(&day_file, format!("{{\"id\": not json\n{lines}")).expect("damage the day file");
    let output = cli.run(&["check"]);
    assert_eq!(output.status.code(), Some(4), "damage fails the check");
    assert!(
        cli.ok(&["--help"]).contains("4 damaged"),
        "--help lists the exit statuses"
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&*day_file.file_name().expect("a name").to_string_lossy()),
        "the damaged file is named: {err}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(": sound"),
        "what is sound is still reported"
    );
}

// ---------------------------------------------------------------------------------------
// Errors for people.

fn a_blob_file_as_the_store_and_a_missing_blob_file_are_named(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["--create", "meta", "set", "k", "v"]);
    let path = cli.path();
    let extension = path
        .extension()
        .expect("an extension")
        .to_string_lossy()
        .into_owned();
    let blobs = path.with_file_name(format!("nerve.blobs.{extension}"));
    assert!(blobs.exists(), "a store is created with its blob file");

    let as_store = format!("{backend}:{}", blobs.display());
    let output = cli
        .command(&["stats"])
        .env("NERVE_STORE", &as_store)
        .output();
    let err = failed(&["stats"], output.expect("the binary runs"), 1);
    assert!(err.contains("is the blob file of the store at"), "{err}");
    let doubled = path.with_file_name(format!("nerve.blobs.blobs.{extension}"));
    assert!(!doubled.exists(), "no store was made of the blob file");

    std::fs::remove_file(&blobs).expect("lose the blob file");
    for args in [
        &["blob", "verify", "--all"][..],
        &["stats"],
        &["meta", "set", "k", "w"],
    ] {
        let err = cli.fails(3, args);
        assert!(err.contains("is missing"), "{err}");
        assert!(
            err.contains(&*blobs.to_string_lossy()),
            "the file is named: {err}"
        );
    }
    assert!(!blobs.exists(), "no empty blob file was made in its place");
}

fn an_unknown_run_is_one_line_naming_it_and_what_to_do(backend: &str) {
    let cli = Cli::new(backend);
    three_runs(&cli);
    let err = cli.fails(3, &["runs", "show", "run-nope"]);
    assert!(err.contains(r#"unknown run "run-nope""#), "{err}");
    assert!(err.contains("nerve-store runs list"), "{err}");
    let err = cli.fails(3, &["runs", "list", "--after", "run-nope"]);
    assert!(err.contains(r#"unknown run "run-nope""#), "{err}");
}

fn a_bad_digest_is_one_line_quoting_it(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["--create", "meta", "set", "k", "v"]);
    // Upper case and a `sha256:` prefix are read (a digest as people copy it); a wrong length
    // or a letter past `f` is not.
    for bad in ["abc", &"G".repeat(64), &format!("md5:{}", "a".repeat(64))] {
        let err = cli.fails(1, &["blob", "get", bad]);
        assert!(
            err.contains(&format!("{bad:?} is not a blob digest")),
            "{err}"
        );
        assert!(err.contains("blob ls"), "{err}");
    }
}

fn a_file_that_is_not_a_store_is_named_and_left_alone(backend: &str) {
    let cli = Cli::new(backend);
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(cli.path(), &garbage).expect("a file that is not a store");
    for args in [
        &["stats"][..],
        &["meta", "set", "k", "v"],
        &["simulate", "--runs", "1"],
    ] {
        let err = cli.fails(1, args);
        assert!(err.contains("is not a nerve-store"), "{err}");
        assert!(err.contains("check --store"), "{err}");
    }
    assert_eq!(std::fs::read(cli.path()).expect("still there"), garbage);
}

fn a_missing_store_is_not_created_by_a_command_that_reads(backend: &str) {
    let cli = Cli::new(backend);
    for args in [
        &["stats"][..],
        &["logs", "query"],
        &["runs", "list"],
        &["blob", "ls"],
    ] {
        let err = cli.fails(3, args);
        assert!(err.contains("no store at"), "{err}");
    }
    assert!(!cli.path().exists());
}

fn a_user_who_may_not_write_the_store_reads_it_and_is_refused_writes(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["simulate", "--runs", "3"]);
    let blob = cli.dir.path().join("blob.txt");
    std::fs::write(&blob, "blob content").expect("a file");
    let digest = cli.ok(&["blob", "put", blob.to_str().expect("UTF-8 path")]);
    std::fs::remove_file(&blob).expect("remove the file");
    cli.ok(&["meta", "set", "owner", "ops"]);
    let before = cli.json(&["stats"]);
    let runs = cli.ok(&["runs", "list"]);
    // As root, permissions do not stop writes: the binary runs as `nobody` then, from a
    // copy it may execute.
    let root = is_root();
    let binary = cli.dir.path().join("nerve-store");
    std::fs::copy(BINARY, &binary).expect("a copy of the binary");
    set_mode(&binary, 0o755);
    for entry in std::fs::read_dir(cli.dir.path()).expect("the folder") {
        let path = entry.expect("an entry").path();
        if path != binary {
            set_mode(&path, 0o444);
        }
    }
    set_mode(cli.dir.path(), 0o555);
    let files = folder_files(cli.dir.path());
    let run = |args: &[&str]| {
        let mut command = Command::new(&binary);
        command
            .args(args)
            .env("NERVE_STORE", &cli.location)
            .env_remove("COLUMNS")
            .current_dir(cli.dir.path());
        if root {
            use std::os::unix::process::CommandExt;
            command.uid(65534).gid(65534);
        }
        command.output().expect("the binary runs")
    };
    let read = |args: &[&str]| {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?} as a reader: {stderr}");
        String::from_utf8(output.stdout).expect("UTF-8 output")
    };
    assert_eq!(json_lines(&read(&["--json", "stats"])), before);
    assert_eq!(read(&["runs", "list"]), runs);
    assert!(read(&["logs", "query", "--limit", "5"]).lines().count() > 1);
    assert!(read(&["blob", "ls"]).contains(digest.trim()));
    assert_eq!(read(&["blob", "get", digest.trim()]), "blob content");
    assert!(read(&["blob", "verify", "--all"]).contains("blobs checked, 0 corrupt"));
    assert_eq!(read(&["meta", "get", "owner"]).trim(), "ops");
    for args in [&["meta", "set", "k", "v"][..], &["compact"]] {
        let err = failed(args, run(args), 6);
        assert!(err.contains("is read-only to this process"), "{err}");
        assert!(err.contains("run as a user that may write it"), "{err}");
    }
    assert_eq!(
        folder_files(cli.dir.path()),
        files,
        "the readers created and changed nothing"
    );
    set_mode(cli.dir.path(), 0o755);
    for entry in std::fs::read_dir(cli.dir.path()).expect("the folder") {
        set_mode(&entry.expect("an entry").path(), 0o644);
    }
    let mut after = cli.json(&["stats"]);
    let mut before = before;
    for stats in [&mut after, &mut before] {
        for object in stats.iter_mut() {
            if let Value::Object(fields) = object {
                // redb checks a file whose permissions changed at its next open for writing,
                // which may grow it.
                fields.retain(|key, _| !key.ends_with("FileBytes"));
            }
        }
    }
    assert_eq!(after, before, "nothing changed");
}

/// Every file of `dir` by name, with its bytes.
fn folder_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the folder")
        .map(|entry| {
            let entry = entry.expect("an entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Permission problems are named as such, with the path and exit status 6: a store in a
/// folder this user may not enter is not "no store"; a file this user may not read is not
/// an internal URI; and a folder where the store's file should be is named as a folder.
fn permission_problems_are_named_as_what_they_are(backend: &str) {
    let cli = Cli::new(backend);
    let file = if backend == "redb" {
        "nerve.redb"
    } else {
        "nerve.db"
    };
    let locked = cli.dir.path().join("locked");
    let location = format!("{backend}:{}", locked.join(file).display());
    cli.ok(&["--store", &location, "simulate", "--runs", "3"]);
    let binary = cli.dir.path().join("nerve-store");
    std::fs::copy(BINARY, &binary).expect("a copy of the binary");
    set_mode(&binary, 0o755);
    set_mode(cli.dir.path(), 0o755);
    // As root, permissions do not stop anything: the binary runs as `nobody` then.
    let run = |args: &[&str]| {
        let mut command = Command::new(&binary);
        command.args(args).current_dir(cli.dir.path());
        if is_root() {
            use std::os::unix::process::CommandExt;
            command.uid(65534).gid(65534);
        }
        command.output().expect("the binary runs")
    };

    set_mode(&locked, 0o000);
    for args in [
        &["--store", &location, "stats"][..],
        &["--store", &location, "meta", "set", "k", "v"],
    ] {
        let err = failed(args, run(args), 6);
        assert!(err.contains("may not be entered"), "{args:?}: {err}");
        assert!(
            err.contains(&locked.display().to_string()),
            "{args:?}: {err}"
        );
        assert!(!err.contains("no store"), "{args:?}: {err}");
    }
    set_mode(&locked, 0o755);
    let store_file = locked.join(file);
    set_mode(&store_file, 0o000);
    let args = ["--store", &location, "logs", "query"];
    let err = failed(&args, run(&args), 6);
    assert!(err.contains("may not be read"), "{err}");
    assert!(err.contains(&store_file.display().to_string()), "{err}");
    assert!(
        !err.contains("file:") && !err.contains("immutable"),
        "{err}"
    );
    set_mode(&store_file, 0o644);

    let folder = cli.dir.path().join(format!(
        "folder.{}",
        if backend == "redb" { "redb" } else { "db" }
    ));
    std::fs::create_dir(&folder).expect("a folder");
    let at_folder = format!("{backend}:{}", folder.display());
    for args in [
        &["--store", &at_folder, "stats"][..],
        &["--store", &at_folder, "meta", "set", "k", "v"],
    ] {
        let err = cli.fails(1, args);
        assert!(err.contains("is a folder"), "{args:?}: {err}");
        assert!(!err.contains("disk I/O error"), "{args:?}: {err}");
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

// ---------------------------------------------------------------------------------------
// Cases that are about one backend's lock, or about both at once.

#[test]
fn colour_is_for_terminals_unless_asked_and_never_under_no_color() {
    let cli = Cli::new("sqlite");
    cli.ok(&["simulate", "--runs", "2"]);
    const ESCAPE: char = '\u{1b}';
    let always = cli.ok(&["--color", "always", "check"]);
    assert!(always.contains(&format!("{ESCAPE}[32msound")), "{always:?}");
    for args in [
        &["check"][..],
        &["--color", "never", "check"],
        &["--color", "auto", "check"],
    ] {
        let plain = cli.ok(args);
        assert!(!plain.contains(ESCAPE), "{args:?}: {plain:?}");
        assert!(plain.contains(": sound"), "{plain}");
    }
    let output = cli
        .command(&["--color", "always", "--store", "sqlite:missing.db", "stats"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with(&format!("{ESCAPE}[31m")), "{stderr:?}");
    let output = cli
        .command(&["--color", "auto", "check"])
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(ESCAPE));
}

/// `serve` started on `location` (`--store`), on a free loopback port, with `env`: the
/// process, and the address it says it serves at.
fn serve(cli: &Cli, location: &str, env: &[(&str, &str)]) -> (Child, std::net::SocketAddr) {
    let mut command = cli.command(&["--store", location, "serve", "--address", "127.0.0.1:0"]);
    command
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start serve");
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().expect("its output"))
        .read_line(&mut first)
        .expect("its first line");
    let at = first
        .trim()
        .rsplit_once("http://")
        .and_then(|(_, at)| at.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    (child, at)
}

/// The status and body of `GET path` at `at`, by hand over one connection.
fn http_get(at: std::net::SocketAddr, path: &str, headers: &str) -> (u16, String) {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(at).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n{headers}\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("the answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// `serve` answers the console's pages and API over HTTP on loopback, every backend; an
/// address other hosts reach is refused without a token, and served with one.
fn serve_answers_over_http_and_an_open_address_needs_a_token(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["simulate", "--runs", "50", "--seed", "8"]);
    let (mut child, at) = serve(&cli, &cli.location, &[]);
    let (status, overview) = http_get(at, "/", "");
    let (api_status, api) = http_get(at, "/api/runs?limit=5", "");
    let (run_status, runs) = http_get(at, "/runs?status=completed", "");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{overview}");
    assert!(overview.contains("Runs by status"), "{overview}");
    assert_eq!(api_status, 200, "{api}");
    let body = api.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.contains("\"items\":[{"), "{body}");
    assert_eq!(run_status, 200);
    assert!(
        runs.contains("<td class=\"status\">completed</td>"),
        "{runs}"
    );

    let err = cli.fails(1, &["serve", "--address", "0.0.0.0:0"]);
    assert!(err.contains("give it a token"), "{err}");
    let mut command = cli.command(&["serve", "--address", "0.0.0.0:0"]);
    command
        .env("NERVE_CONSOLE_TOKEN", "t0ken")
        .stdout(Stdio::piped());
    let mut guarded = command.spawn().expect("start serve");
    let mut first = String::new();
    BufReader::new(guarded.stdout.as_mut().expect("its output"))
        .read_line(&mut first)
        .expect("its first line");
    let port: u16 = first
        .trim()
        .trim_end_matches('/')
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    let at = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let refused = http_get(at, "/api/stats", "").0;
    let allowed = http_get(at, "/api/stats", "Authorization: Bearer t0ken\r\n").0;
    let _ = guarded.kill();
    let _ = guarded.wait();
    assert_eq!((refused, allowed), (401, 200));
}

/// The console of a store whose location holds a password shows the location masked.
#[test]
fn the_console_never_shows_a_password() {
    const SECRET: &str = "hunter2-console";
    let cli = Cli::new("sqlite");
    let pg = store_postgres::harness::options(&cli.dir.path().join("pg"))
        .location()
        .replacen("://nerve@", &format!("://nerve:{SECRET}@"), 1);
    cli.ok(&["--store", &pg, "simulate", "--runs", "20", "--seed", "3"]);
    let (mut child, at) = serve(&cli, &pg, &[]);
    let pages: Vec<(u16, String)> = ["/", "/api/stats", "/runs", "/logs", "/runs/none"]
        .iter()
        .map(|path| http_get(at, path, ""))
        .collect();
    let _ = child.kill();
    let output = child.wait_with_output().expect("its output");
    assert_eq!(pages[0].0, 200, "{}", pages[0].1);
    assert!(
        pages[0].1.contains("postgres://nerve:***@"),
        "{}",
        pages[0].1
    );
    for (status, page) in &pages {
        assert!(!page.contains(SECRET), "({status}) {page}");
    }
    assert!(!String::from_utf8_lossy(&output.stdout).contains(SECRET));
    assert!(!String::from_utf8_lossy(&output.stderr).contains(SECRET));
}

/// A location's password never appears in anything the command line prints, whether the
/// command succeeds or fails: reports, tables, JSON, the migrate report, "no store at", a
/// server that refuses the connection (which fails at once, naming the server).
#[test]
fn a_password_in_a_location_is_never_printed() {
    const SECRET: &str = "hunter2-secret";
    let cli = Cli::new("sqlite");
    // The test server trusts every login: any password opens the store.
    let with_password = |dir: &str| {
        store_postgres::harness::options(&cli.dir.path().join(dir))
            .location()
            .replacen("://nerve@", &format!("://nerve:{SECRET}@"), 1)
    };
    let pg = with_password("pg");
    let other = with_password("pg2");
    assert!(pg.contains(SECRET), "{pg}");
    let copy = format!("sqlite:{}", cli.dir.path().join("copy.db").display());
    let refused = format!("postgres://nerve:{SECRET}@127.0.0.1:1/none?schema=nowhere");
    let mut printed = Vec::new();
    let mut run = |args: &[&str]| {
        let output = cli.run(args);
        printed.push((
            args.join(" "),
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        ));
    };
    run(&["--store", &pg, "stats"]);
    run(&["--store", &pg, "simulate", "--runs", "20", "--seed", "3"]);
    run(&["--store", &pg, "stats"]);
    run(&["--json", "--store", &pg, "stats"]);
    run(&["--store", &pg, "logs", "query", "--limit", "3"]);
    run(&["--store", &pg, "check"]);
    run(&["migrate", "--from", &pg, "--to", &copy]);
    run(&["migrate", "--from", &copy, "--to", &other]);
    run(&["--json", "migrate", "--from", &pg, "--to", &other]);
    run(&["--store", &pg, "backup", "--to", &with_password("pg3")]);
    run(&[
        "--json",
        "--store",
        &pg,
        "backup",
        "--to",
        &with_password("pg4"),
    ]);
    run(&["--store", &refused, "stats"]);
    run(&["--store", &refused, "meta", "set", "k", "v"]);
    run(&[
        "--store",
        &format!("postgres://nerve:{SECRET}@h/db"),
        "stats",
    ]);
    for (args, status, text) in &printed {
        assert!(
            !text.contains(SECRET),
            "{args} ({status:?}) printed it: {text}"
        );
    }
    let statuses: Vec<_> = printed.iter().map(|(_, status, _)| *status).collect();
    assert_eq!(
        statuses,
        [
            Some(3),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(0),
            Some(0),
            Some(7),
            Some(7),
            Some(1)
        ],
        "{printed:#?}"
    );
    let (_, _, refusal) = &printed[11];
    assert!(
        refusal.contains("127.0.0.1:1") && refusal.contains("refused"),
        "{refusal}"
    );
    assert!(
        printed[2].2.contains("nerve:***@"),
        "the location is shown, masked: {}",
        printed[2].2
    );
}

/// Every kind of command works against a store on PostgreSQL (`postgres://…?schema=NAME`),
/// and `migrate` carries a store to it and back with the content digest checked.
#[test]
fn the_command_line_works_on_postgresql_and_migrates_to_it_and_back() {
    let cli = Cli::new("sqlite");
    let pg_dir = cli.dir.path().join("pg");
    let pg = store_postgres::harness::options(&pg_dir).location();
    let other = store_postgres::harness::options(&cli.dir.path().join("pg2")).location();
    // A reading command and a writing one without --create find no store there.
    let err = cli.fails(3, &["--store", &pg, "stats"]);
    assert!(err.contains("no store at"), "{err}");
    cli.fails(3, &["--store", &pg, "meta", "set", "k", "v"]);
    cli.ok(&[
        "--store", &pg, "simulate", "--runs", "40", "--days", "3", "--seed", "8",
    ]);
    let stats = cli.json(&["--store", &pg, "stats"]);
    let entries = stats[0]["entries"].as_u64().expect("entries");
    assert!(entries > 100, "{stats:?}");
    assert!(
        cli.ok(&["--store", &pg, "stats"])
            .contains("log and blobs in the store's schema")
    );
    assert_eq!(
        cli.json(&["--store", &pg, "logs", "query", "--limit", "5"])
            .len(),
        5
    );
    assert!(cli.ok(&["--store", &pg, "runs", "list"]).contains("RUN"));
    cli.ok(&["--store", &pg, "meta", "set", "deploy", "1.4.2"]);
    assert_eq!(
        cli.ok(&["--store", &pg, "meta", "get", "deploy"]).trim(),
        "1.4.2"
    );
    assert!(cli.ok(&["--store", &pg, "check"]).contains(": sound"));
    let copy = format!("sqlite:{}", cli.dir.path().join("copy.db").display());
    let there = cli.ok(&["migrate", "--from", &pg, "--to", &copy]);
    assert!(
        there.contains("verified: both stores hold the same content"),
        "{there}"
    );
    let back = cli.ok(&["migrate", "--from", &copy, "--to", &other]);
    assert!(
        back.contains("verified: both stores hold the same content"),
        "{back}"
    );
    let digest = |text: &str| {
        text.rsplit_once("digest ")
            .map(|(_, d)| d.trim().to_owned())
            .expect("a digest")
    };
    assert_eq!(
        digest(&there),
        digest(&back),
        "the same content all the way"
    );
    let archive_dir = cli.dir.path().join("pg-archive");
    let archive_dir = archive_dir.to_str().expect("UTF-8 path");
    let [report] = cli
        .json(&[
            "--store",
            &pg,
            "archive",
            "--retain-days",
            "0",
            "--dir",
            archive_dir,
        ])
        .try_into()
        .expect("one report");
    let moved = report["entries"].as_u64().expect("entries moved");
    assert!(moved > 0, "{report}");
    let left = cli.json(&["--store", &pg, "stats"])[0]["entries"]
        .as_u64()
        .expect("entries");
    assert_eq!(
        left + moved,
        entries,
        "every entry in the store or the archive"
    );
    let backup = format!("sqlite:{}", cli.dir.path().join("backup.db").display());
    assert!(
        cli.ok(&["--store", &pg, "backup", "--to", &backup])
            .contains("its check: sound")
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_itself() {
    let cli = Cli::new("sqlite");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = cli.ok(&["completions", shell]);
        for command in [
            "simulate", "check", "compact", "migrate", "archive", "serve",
        ] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
    let err = cli.run(&["completions", "tcsh"]);
    assert_eq!(
        err.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = cli.ok(&["completions", shell]);
        assert!(
            script.contains("interrupted") && script.contains("queued"),
            "{shell} completes the --status values"
        );
    }
    let page = cli.ok(&["man"]);
    assert!(
        page.contains(".TH nerve-store 1"),
        "a roff man page: {page}"
    );
    assert!(page.contains("Exit status"), "with the exit statuses");
    let query = cli.ok(&["man", "logs", "query"]);
    assert!(query.contains(".TH nerve-store-logs-query 1"), "{query}");
    for section in [
        ".SH OPTIONS",
        ".SH ENVIRONMENT",
        "NERVE_STORE",
        "NERVE_BLOBS",
        "NERVE_CONSOLE_TOKEN",
        "AWS_ENDPOINT_URL",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(query.contains(section), "logs query's page has {section}");
    }
    assert!(query.contains("\\-\\-since"), "its own options: {query}");
    let pages = cli.dir.path().join("man1");
    let written = cli.ok(&["man", "--dir", pages.to_str().expect("UTF-8")]);
    let files = std::fs::read_dir(&pages).expect("the pages").count();
    assert_eq!(files, written.lines().count(), "one line per page written");
    assert!(pages.join("nerve-store-runs-list.1").exists());
    assert!(pages.join("nerve-store.1").exists());
    assert_eq!(
        cli.run(&["man", "nope"]).status.code(),
        Some(3),
        "no such command"
    );
    let help = cli.ok(&["logs", "query", "--help"]);
    let own = help.find("Options:").expect("the command's options");
    let global = help
        .find("Global options:")
        .expect("the global options apart");
    assert!(
        own < global && help[own..global].contains("--since"),
        "{help}"
    );
    assert!(!help[own..global].contains("--quiet"), "{help}");
    let refused = cli.run(&["runs", "list", "--status", "paused"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("interrupted"));
    assert!(!cli.path().exists(), "none of these opens a store");
}

#[test]
fn a_redb_store_held_by_another_process_is_named_as_locked() {
    let cli = Cli::new("redb");
    cli.ok(&["--create", "meta", "set", "k", "v"]);
    let held = nerve_store::RedbLogStore::open_with(
        cli.path(),
        nerve_store::RedbOptions::default().multi_process(false),
    )
    .expect("this process holds the file for itself");
    let err = cli.fails(5, &["meta", "get", "k"]);
    assert!(err.contains("is locked by another writer"), "{err}");
    assert!(err.contains("try again when it is done"), "{err}");
    drop(held);
    assert_eq!(cli.ok(&["meta", "get", "k"]), "v\n");
}

#[test]
fn a_sqlite_store_whose_write_lock_is_held_is_named_as_locked() {
    let cli = Cli::new("sqlite");
    cli.ok(&["--create", "meta", "set", "k", "v"]);
    let conn = store_sqlite::harness::raw_connection(&cli.path());
    conn.execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    // Reads go on beside the writer; a write waits for the busy timeout, then says so.
    assert_eq!(cli.ok(&["meta", "get", "k"]), "v\n");
    let err = cli.fails(5, &["meta", "set", "k", "w"]);
    assert!(err.contains("is locked by another writer"), "{err}");
    conn.execute_batch("ROLLBACK").expect("let go");
    assert_eq!(cli.ok(&["meta", "get", "k"]), "v\n");
}

#[test]
fn migrate_sqlite_to_redb_to_sqlite_keeps_the_content_digest() {
    let first = Cli::new("sqlite");
    first.ok(&["simulate", "--runs", "60", "--seed", "3"]);
    first.ok(&["--create", "meta", "set", "owner", "ops"]);
    let middle = Cli::new("redb");
    let last = Cli::new("sqlite");

    let [there] = first
        .json(&[
            "migrate",
            "--from",
            &first.location,
            "--to",
            &middle.location,
        ])
        .try_into()
        .expect("one object");
    let [back] = first
        .json(&[
            "migrate",
            "--from",
            &middle.location,
            "--to",
            &last.location,
        ])
        .try_into()
        .expect("one object");
    assert_eq!(str_of(&there, "digest"), str_of(&back, "digest"));
    let source = nerve_store::summarise(&first.store()).expect("summarise the source");
    assert_eq!(str_of(&back, "digest"), source.digest.to_hex());
    assert_eq!(u64_of(&back, "entries"), source.entries);
    assert!(u64_of(&back, "blobs") > 0 && u64_of(&back, "threadRows") > 0);

    let stats = |cli: &Cli| {
        let mut stats = cli.json(&["stats"]).remove(0);
        for field in ["store", "logFileBytes", "blobFileBytes", "archiveDir"] {
            stats[field] = Value::Null;
        }
        stats
    };
    assert_eq!(stats(&first), stats(&last));
    assert_eq!(
        last.ok(&["meta", "get", "owner"]),
        "ops\n",
        "meta went over"
    );

    let err = first.fails(
        1,
        &[
            "migrate",
            "--from",
            &first.location,
            "--to",
            &middle.location,
        ],
    );
    assert!(err.contains("is not empty"), "{err}");
    let text = first.ok(&[
        "migrate",
        "--from",
        &first.location,
        "--to",
        &format!("redb:{}", first.dir.path().join("other.redb").display()),
    ]);
    assert!(
        text.contains("verified: both stores hold the same content"),
        "{text}"
    );
}

#[test]
fn a_damaged_blob_fails_verify_and_stops_migrate_naming_the_partial_copy() {
    let source = Cli::new("sqlite");
    source.ok(&["--create", "meta", "set", "k", "v"]);
    let file = source.dir.path().join("a.bin");
    std::fs::write(&file, b"the content as written").expect("a file");
    let digest = source.ok(&["blob", "put", file.to_str().expect("UTF-8 path")]);
    let digest = digest.trim();
    let blob_file = source.dir.path().join("nerve.blobs.db");
    store_sqlite::harness::raw_connection(&blob_file)
        .execute("UPDATE blob_chunks SET data = X'00'", [])
        .expect("damage the blob behind the store's back");

    let err = source.fails(4, &["blob", "verify", "--all"]);
    assert!(err.contains(&format!("blob {digest} is corrupt")), "{err}");
    let [report] = json_lines(
        &String::from_utf8(source.run(&["--json", "blob", "verify", "--all"]).stdout)
            .expect("UTF-8"),
    )
    .try_into()
    .expect("the report, before the error");
    assert_eq!(report["corrupt"], serde_json::json!([digest]));
    let output = source.run(&["blob", "get", digest]);
    assert!(output.stdout.is_empty(), "no damaged byte goes out");
    let err = failed(&["blob", "get"], output, 4);
    assert!(err.contains("is corrupt"), "{err}");
    let copy = source.dir.path().join("copy.bin");
    let err = source.fails(
        4,
        &[
            "blob",
            "get",
            digest,
            "-o",
            copy.to_str().expect("UTF-8 path"),
        ],
    );
    assert!(err.contains("is corrupt"), "{err}");
    assert!(!copy.exists(), "-o writes nothing for a damaged blob");
    let leftovers: Vec<_> = std::fs::read_dir(source.dir.path())
        .expect("the folder")
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let target = format!("redb:{}", source.dir.path().join("copy.redb").display());
    let err = source.fails(1, &["migrate", "--from", &source.location, "--to", &target]);
    assert!(err.contains("migrate failed"), "{err}");
    assert!(
        err.contains("holds part of the copy, marked incomplete"),
        "{err}"
    );
    assert!(
        err.contains("run the same migrate again to finish it"),
        "{err}"
    );
}

/// Sends SIGINT to `child` once `ready` holds (polled every millisecond, for at most 60 s),
/// as Ctrl-C at the terminal does, and waits for it to end.
fn interrupt_when(mut child: Child, ready: impl Fn() -> bool) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never got there"
        );
        assert!(
            child.try_wait().expect("the child").is_none(),
            "the command ended before it could be interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGINT sent");
    child.wait_with_output().expect("the command ends")
}

/// Ctrl-C during `migrate` stops it at the end of a page, exit 130, saying how far it got
/// and that the target is marked incomplete; every command then refuses the target, naming
/// the remedy, a migrate from another store into it included; the same migrate again
/// resumes it, says so, and finishes it, verified.
fn ctrl_c_in_migrate_leaves_a_target_every_command_refuses_until_a_rerun_finishes_it(
    backend: &str,
) {
    let source = Cli::new(backend);
    source.ok(&[
        "simulate", "--runs", "3000", "--batch", "100", "--days", "10", "--seed", "7",
    ]);
    let (other, file) = if backend == "redb" {
        ("sqlite", "copy.db")
    } else {
        ("redb", "copy.redb")
    };
    let target_path = source.dir.path().join(file);
    let target = format!("{other}:{}", target_path.display());
    let child = source
        .command(&["migrate", "--from", &source.location, "--to", &target])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("migrate starts");
    let output = interrupt_when(child, || target_path.exists());
    let err = failed(&["migrate"], output, 130);
    assert!(err.contains("interrupted: migrate stopped after"), "{err}");
    assert!(err.contains("marked incomplete"), "{err}");
    let another = Cli::new(backend);
    another.ok(&["--create", "meta", "set", "k", "v"]);
    for args in [
        &["--store", &target, "stats"][..],
        &["--store", &target, "logs", "query"],
        &["migrate", "--from", &another.location, "--to", &target],
    ] {
        let err = source.fails(4, args);
        assert!(err.contains("is an incomplete copy of"), "{args:?}: {err}");
        assert!(err.contains("run the migrate or backup"), "{args:?}: {err}");
    }
    let output = source.run(&["migrate", "--from", &source.location, "--to", &target]);
    assert!(output.status.success(), "{output:?}");
    let done = String::from_utf8_lossy(&output.stdout);
    assert!(done.contains("resuming it"), "{done}");
    assert!(
        done.contains("verified: both stores hold the same content"),
        "{done}"
    );
    let entries = |location: &str| {
        source.json(&["--store", location, "stats"])[0]["entries"]
            .as_u64()
            .expect("entries")
    };
    assert_eq!(entries(&target), entries(&source.location));
}

/// Ctrl-C during `archive` lets it finish the day it is on and stop, exit 130, with counts
/// that are true (what it says moved is what left the store); a rerun moves the rest, and
/// every entry is then exactly once in the store or the archive.
fn ctrl_c_in_archive_stops_after_a_day_with_true_counts_and_a_rerun_finishes(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&[
        "simulate", "--runs", "3000", "--batch", "100", "--days", "30", "--seed", "9",
    ]);
    let entries = |cli: &Cli| {
        cli.json(&["stats"])[0]["entries"]
            .as_u64()
            .expect("entries")
    };
    let before = entries(&cli);
    let lock = cli
        .dir
        .path()
        .join("archive")
        .join("logs")
        .join(".archive.lock");
    let child = cli
        .command(&["archive", "--retain-days", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("archive starts");
    let output = interrupt_when(child, || lock.exists());
    let err = failed(&["archive"], output, 130);
    let moved: u64 = err
        .split_once("days, ")
        .and_then(|(_, rest)| rest.split_once(" entries moved"))
        .map(|(n, _)| n.replace(',', ""))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the count in: {err}"));
    assert!(err.contains("interrupted: archive stopped after"), "{err}");
    assert!(err.contains("a rerun moves them"), "{err}");
    let middle = entries(&cli);
    assert!(middle > 0, "days are left for the rerun");
    assert_eq!(before - middle, moved, "the count is what left the store");
    let [report] = cli
        .json(&["archive", "--retain-days", "1"])
        .try_into()
        .expect("one report");
    let after = entries(&cli);
    assert_eq!(report["entries"].as_u64(), Some(middle - after), "{report}");
    let first = Utc::now().date_naive() - Duration::days(40);
    let archived = cli.ok(&[
        "--json",
        "archive",
        "cat",
        &format!("{first}..{}", Utc::now().date_naive()),
    ]);
    assert_eq!(
        archived.lines().count() as u64 + after,
        before,
        "every entry once, in the store or the archive"
    );
}

/// `backup` while another process writes the store: the copy is one snapshot, verified and
/// checked, so `check` of the copy finds it sound; it holds a prefix of what the writer
/// wrote; and a backup never writes over files that exist.
fn backup_while_another_process_writes_is_a_sound_snapshot(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["simulate", "--runs", "50", "--seed", "3"]);
    let mut writer = cli
        .command(&[
            "simulate",
            "--runs",
            "100000",
            "--workers",
            "2",
            "--seed",
            "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("a writer beside the backup");
    let copy = cli.dir.path().join(if backend == "redb" {
        "backup.redb"
    } else {
        "backup.db"
    });
    let to = format!("{backend}:{}", copy.display());
    let done = cli.ok(&["backup", "--to", &to]);
    let still_writing = writer.try_wait().expect("the writer").is_none();
    let _ = Command::new("kill")
        .args(["-INT", &writer.id().to_string()])
        .status();
    let ended = writer.wait_with_output().expect("the writer ends");
    assert!(still_writing, "the writer wrote all through the backup");
    assert!(
        matches!(ended.status.code(), Some(0 | 130)),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
    assert!(
        done.contains("verified: the copy holds the store as it was"),
        "{done}"
    );
    assert!(done.contains("its check: sound"), "{done}");
    let checked = cli.ok(&["--store", &to, "check"]);
    assert!(checked.contains(": sound"), "{checked}");
    let copied = cli.json(&["--store", &to, "stats"])[0]["entries"]
        .as_u64()
        .expect("entries");
    let source = cli.json(&["stats"])[0]["entries"]
        .as_u64()
        .expect("entries");
    assert!(copied > 0 && copied < source, "{copied} of {source}");
    let first = cli.json(&["--store", &to, "logs", "query", "--limit", "100000"]);
    let original = cli.json(&["logs", "query", "--limit", &copied.to_string()]);
    assert_eq!(
        first, original,
        "the copy is the store's first entries, as they were"
    );
    let err = cli.fails(1, &["backup", "--to", &to]);
    assert!(
        err.contains("exists: a backup goes to new files only"),
        "{err}"
    );
}

/// `logs query --archive` answers over the whole history: the archived days of the range
/// merged in id order with the store's entries, every filter applied to both, `--limit`
/// and its note as without it; `--desc` with it is refused, saying why.
fn logs_query_with_the_archive_answers_over_the_whole_history(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["simulate", "--runs", "300", "--days", "10", "--seed", "5"]);
    let everything = cli.json(&["logs", "query", "--limit", "1000000"]);
    cli.ok(&["archive", "--retain-days", "3"]);
    let left = cli.json(&["logs", "query", "--limit", "1000000"]);
    assert!(left.len() < everything.len(), "days were archived");
    assert_eq!(
        cli.json(&["logs", "query", "--archive", "--limit", "1000000"]),
        everything,
        "archive and store together, in id order"
    );
    let since = (Utc::now() - Duration::days(6)).to_rfc3339();
    let until = (Utc::now() - Duration::days(2)).to_rfc3339();
    let in_range = |entries: &[Value]| -> Vec<Value> {
        entries
            .iter()
            .filter(|entry| {
                let ts = chrono::DateTime::parse_from_rfc3339(entry["ts"].as_str().expect("ts"))
                    .expect("a time");
                ts >= chrono::DateTime::parse_from_rfc3339(&since).expect("since")
                    && ts < chrono::DateTime::parse_from_rfc3339(&until).expect("until")
                    && entry["source"] == "workflow"
            })
            .cloned()
            .collect()
    };
    let ranged = cli.json(&[
        "logs",
        "query",
        "--archive",
        "--since",
        &since,
        "--until",
        &until,
        "--source",
        "workflow",
        "--limit",
        "1000000",
    ]);
    assert_eq!(ranged, in_range(&everything));
    assert!(!ranged.is_empty());
    let first = cli.ok(&["logs", "query", "--archive", "--limit", "5"]);
    assert!(first.contains("5 shown, and there are more"), "{first}");
    let err = cli.fails(1, &["logs", "query", "--archive", "--desc"]);
    assert!(
        err.contains("--archive reads the archive's days in id order"),
        "{err}"
    );
}

// Every case above, once per backend, named `sqlite::case`, `redb::case` and
// `postgres::case` (a schema of its own on the tests' throwaway server).
/// `logs tail -n N` over more than a page prints exactly the last N matching entries, oldest
/// first: walked back from the end, not read from the start.
fn logs_tail_of_more_than_a_page_is_the_last_entries_in_order(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["--create", "meta", "set", "k", "v"]);
    let written = cli
        .store()
        .log
        .append_batch(
            (0..2_600)
                .map(|i| {
                    nerve_store::NewLogEntry::new(
                        if i % 2 == 0 { "a" } else { "b" },
                        "k",
                        i.to_string(),
                    )
                })
                .collect(),
        )
        .expect("entries");
    let shown: Vec<u64> = cli
        .json(&["logs", "tail", "-n", "1100", "--source", "a"])
        .iter()
        .map(|entry| u64_of(entry, "id"))
        .collect();
    let expected: Vec<u64> = written
        .iter()
        .filter(|entry| entry.source == "a")
        .map(|entry| entry.id.0)
        .skip(1_300 - 1_100)
        .collect();
    assert_eq!(shown, expected);
    let all = cli.json(&["logs", "tail", "-n", "5000"]);
    assert_eq!(all.len(), 2_600, "fewer entries than asked: all of them");
}

/// `--format csv` is honoured by every command: a report is one record under a header of its
/// fields, with raw values (bytes as digits, not `30.0 KiB`); `--json` with `--format` is a
/// command line that does not parse.
fn csv_gives_one_record_per_report_with_raw_values(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["--create", "simulate", "--runs", "20", "--seed", "7"]);
    let [stats] = cli.json(&["stats"]).try_into().expect("one report");
    let records = parse_csv(&cli.ok(&["--format", "csv", "stats"]));
    assert_eq!(records.len(), 2, "a header and one record: {records:?}");
    let field = |name: &str| {
        let at = records[0].iter().position(|h| h == name).expect(name);
        records[1][at].clone()
    };
    assert_eq!(field("entries"), u64_of(&stats, "entries").to_string());
    assert_eq!(field("runs"), "20");
    let checked = parse_csv(&cli.ok(&["--format", "csv", "check"]));
    assert_eq!(checked.len(), 2, "{checked:?}");
    let sizes = parse_csv(&cli.ok(&["--format", "csv", "blob", "ls"]));
    assert_eq!(sizes[0], ["DIGEST", "SIZE"]);
    assert!(sizes.len() > 1, "the simulation kept blobs");
    for record in &sizes[1..] {
        assert!(record[1].parse::<u64>().is_ok(), "raw bytes: {record:?}");
    }
    let both = cli.run(&["--json", "--format", "csv", "stats"]);
    assert_eq!(both.status.code(), Some(2), "--json and --format together");
}

/// A run whose days were archived: `runs show` says its entries are in the archive and
/// `--archive` reads them there; `thread show` of a thread that left with its days points to
/// the archive.
fn runs_show_and_thread_show_point_to_the_archive(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&[
        "--create", "simulate", "--runs", "60", "--days", "10", "--seed", "3",
    ]);
    cli.ok(&["archive", "--retain-days", "3"]);
    let watermark = cli
        .store()
        .log
        .meta_get(nerve_store::archive::WATERMARK_KEY)
        .expect("meta")
        .expect("days were archived");
    let old = cli
        .store()
        .log
        .list_runs(&nerve_store::RunQuery::new().limit(1))
        .expect("runs")
        .remove(0);
    assert!(
        old.created_at.date_naive().to_string() <= watermark,
        "an archived run"
    );
    let shown = cli.ok(&["runs", "show", &old.run_id]);
    assert!(
        shown.contains("--archive"),
        "the note says where the rest is: {shown}"
    );
    let [with_archive] = cli
        .json(&["runs", "show", &old.run_id, "--archive"])
        .try_into()
        .expect("one run");
    let log = with_archive["log"].as_array().expect("its log");
    let expected = cli.json(&[
        "logs",
        "query",
        "--ref",
        &old.run_id,
        "--archive",
        "--limit",
        "1000",
    ]);
    assert_eq!(
        log, &expected,
        "the store's entries and the archive's, by id"
    );
    assert!(
        log.iter()
            .any(|entry| str_of(entry, "type") == "run.status"),
        "its transitions came back from the archive"
    );
    let thread = old.thread_id.expect("a simulated run has a thread");
    assert_eq!(
        cli.store().log.last_round(&thread).expect("a round"),
        None,
        "the oldest run's thread left with its days"
    );
    let err = cli.fails(3, &["thread", "show", &thread]);
    assert!(err.contains("--archive"), "{err}");
}

/// `logs append` writes one entry from the shell, from an argument or standard input, and
/// prints its id; the entry is in the store when the command returns.
fn logs_append_writes_an_entry_from_the_shell(backend: &str) {
    let cli = Cli::new(backend);
    let id: u64 = cli
        .ok(&[
            "--create",
            "logs",
            "append",
            "--type",
            "mark",
            "--ref",
            "run-1",
            r#"{"note":"deploy"}"#,
        ])
        .trim()
        .parse()
        .expect("the new entry's id");
    let [second] = cli
        .json_with_input(
            &[
                "logs", "append", "--source", "script", "--type", "note", "-",
            ],
            b"from standard input",
        )
        .try_into()
        .expect("one entry");
    assert!(u64_of(&second, "id") > id);
    assert_eq!(str_of(&second, "payload"), "from standard input");

    let entries = cli
        .store()
        .log
        .query(&nerve_store::LogQuery::default())
        .expect("query");
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0].id.0, id);
    assert_eq!(
        (entries[0].source.as_str(), entries[0].kind.as_str()),
        ("operator", "mark")
    );
    assert_eq!(entries[0].ref_id.as_deref(), Some("run-1"));
    assert_eq!(entries[0].payload, r#"{"note":"deploy"}"#);
    assert_eq!(entries[1].source, "script");
    let refused = cli.run(&["logs", "append", "payload without a type"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a command line that does not parse"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--type"));
}

/// At a fixed time (`SOURCE_DATE_EPOCH`, as the README's examples run), `simulate` stamps
/// every step from it and numbers its runs on from the store's (`run-000001` first), and
/// relative times count back from it; a fixed time that is not one exits 2, naming it.
fn a_fixed_time_makes_simulate_and_relative_times_repeatable(backend: &str) {
    const FIXED: &str = "1795503600"; // 2026-11-24T07:00:00Z
    let cli = Cli::new(backend);
    let at_fixed = |args: &[&str]| {
        let output = cli
            .command(args)
            .env("SOURCE_DATE_EPOCH", FIXED)
            .output()
            .expect("the binary runs");
        succeeded(args, output)
    };
    let args = [
        "--json",
        "simulate",
        "--runs",
        "5",
        "--workers",
        "2",
        "--seed",
        "3",
    ];
    at_fixed(&args);
    at_fixed(&args);
    let runs = json_lines(&at_fixed(&["--json", "runs", "list", "--limit", "100"]));
    let mut ids: Vec<&str> = runs.iter().map(|run| str_of(run, "runId")).collect();
    ids.sort_unstable();
    let expected: Vec<String> = (1..=10).map(|n| format!("run-{n:06}")).collect();
    assert_eq!(ids, expected, "numbered on from the store's runs");
    for run in &runs {
        let created = str_of(run, "createdAt");
        assert!(
            created.starts_with("2026-11-24T07:00:00.00"),
            "stamped from the fixed time: {run}"
        );
    }
    let entries = json_lines(&at_fixed(&[
        "--json", "logs", "query", "--since", "1h", "--limit", "100000",
    ]));
    let [stats] = cli.json(&["stats"]).try_into().expect("one stats object");
    assert_eq!(
        entries.len() as u64,
        u64_of(&stats, "entries"),
        "all within the last hour of it"
    );
    let before = at_fixed(&["--json", "logs", "query", "--until", "2h"]);
    assert_eq!(before, "", "none two hours before it");

    let bad = cli
        .command(&["stats"])
        .env("SOURCE_DATE_EPOCH", "soon")
        .output()
        .expect("the binary runs");
    let message = failed(&["stats"], bad, 2);
    assert!(
        message.contains("SOURCE_DATE_EPOCH=\"soon\" is not a time"),
        "{message}"
    );
}

/// Thirty days of a simulated store archived, verified and restored come back with the
/// same content digest (entries, ids, thread rows, runs, meta); a second restore writes
/// nothing.
fn archive_verify_restore_round_trips_thirty_days_with_the_same_digest(backend: &str) {
    let cli = Cli::new(backend);
    archive_round_trip(&cli, &[]);
}

/// The same with the archive on the tests' S3 server (`--dir s3://…`): no archived day on
/// the host, and `gc` keeps the blobs of the days archived there.
fn the_archive_on_s3_round_trips_thirty_days_with_the_same_digest(backend: &str) {
    let cli = Cli::new(backend);
    let at = store_object::harness::location(&cli.dir.path().join("archive-on-s3"));
    let entries = archive_round_trip(&cli, &["--dir", &at]);
    assert!(
        !cli.dir.path().join("archive").exists(),
        "no archive folder on the host"
    );
    let cat = cli.ok(&["archive", "cat", "2000-01-01..2100-01-01", "--dir", &at]);
    assert!(cat.lines().count() > 1000, "the days read back from S3");

    // The days go out again: `logs query --archive` answers over the whole history from
    // there, and their artefacts' blobs are kept only by the archive there.
    cli.ok(&["archive", "--retain-days", "0", "--dir", &at]);
    let everything = cli.json(&[
        "logs",
        "query",
        "--archive",
        "--archive-dir",
        &at,
        "--limit",
        "100000000",
    ]);
    assert_eq!(everything.len() as u64, entries);
    // (Every reference left the store with its day: the collection is told that is meant.)
    let gc = |archive: &str| -> Value {
        let lines = cli.json(&[
            "gc",
            "--grace",
            "0s",
            "--dry-run",
            "--without-references",
            "--archive-dir",
            archive,
        ]);
        lines.last().cloned().expect("a report")
    };
    let kept = gc(&at);
    assert!(u64_of(&kept, "archived") > 0, "{kept}");
    assert_eq!(kept["removed"].as_array().map(Vec::len), Some(0), "{kept}");
    let elsewhere = cli.dir.path().join("no-archive").display().to_string();
    let unkept = gc(&elsewhere);
    assert_eq!(u64_of(&unkept, "archived"), 0, "{unkept}");
    assert!(
        unkept["removed"].as_array().map(Vec::len) >= Some(1),
        "{unkept}"
    );
}

/// `archive` (with `archive_args`) moves thirty simulated days out, `archive verify` finds
/// every day sound, and `archive restore` brings them back: the store's content digest is
/// the one before; a second restore writes nothing. Returns how many entries the store held.
fn archive_round_trip(cli: &Cli, archive_args: &[&str]) -> u64 {
    cli.ok(&["simulate", "--runs", "300", "--days", "30", "--seed", "5"]);
    let before = nerve_store::summarise(&cli.store()).expect("summarise");
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(archive_args)
            .map(|arg| (*arg).to_owned())
            .collect()
    };
    let args = with(&["archive", "--retain-days", "0"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let archived = cli.json(&args);
    let summary = archived
        .iter()
        .find(|line| line.get("cutoff").is_some())
        .expect("the run's summary");
    let moved = u64_of(summary, "entries");
    let days = summary["days"].as_array().expect("days").len();
    assert!(
        days >= 28,
        "thirty days of history, the last ones active: {summary}"
    );
    let args = with(&["archive", "verify"]);
    let verified = cli.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(verified.matches(" sound ").count(), days, "{verified}");

    let first = str_of(&summary["days"][0], "day").to_owned();
    let last = str_of(&summary["days"][days - 1], "day").to_owned();
    let range = format!("{first}..{last}");
    let restore = with(&["archive", "restore", "--day", &range]);
    let restore: Vec<&str> = restore.iter().map(String::as_str).collect();
    let [restored] = cli.json(&restore).try_into().expect("one report");
    assert_eq!(u64_of(&restored, "written"), moved, "{restored}");
    assert_eq!(u64_of(&restored, "present"), 0);
    // The archive run's watermark is the one thing it leaves behind in the store.
    cli.ok(&["meta", "delete", "nerve.archive.logs.watermark"]);
    let after = nerve_store::summarise(&cli.store()).expect("summarise");
    assert_eq!(after.digest, before.digest, "{after:?} against {before:?}");
    assert_eq!(after.entries, before.entries);

    let again = cli.ok(&restore);
    assert!(
        again.contains(&format!("restored 0 entries of {days} days")),
        "{again}"
    );
    let [again] = cli.json(&restore).try_into().expect("one report");
    assert_eq!(
        (u64_of(&again, "written"), u64_of(&again, "present")),
        (0, moved)
    );
    assert_eq!(
        nerve_store::summarise(&cli.store())
            .expect("summarise")
            .digest,
        before.digest
    );
    let none = with(&["archive", "restore", "--day", "1999-01-01"]);
    let err = cli.fails(1, &none.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("holds no day from 1999-01-01 to 1999-01-01"),
        "{err}"
    );
    before.entries
}

/// `gc` keeps what `simulate` references (its artefacts) and removes a blob nothing
/// references once it is older than the grace period; `--dry-run` lists it and keeps it.
fn gc_removes_only_the_blobs_nothing_references_once_old(backend: &str) {
    let cli = Cli::new(backend);
    cli.ok(&["simulate", "--runs", "200", "--seed", "4"]);
    let referenced = cli.store().blobs.list().expect("blobs");
    assert!(!referenced.is_empty(), "simulate wrote artefacts");
    let orphan = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(orphan.path(), b"nobody refers to me").expect("content");
    let digest = cli
        .ok(&["blob", "put", &orphan.path().display().to_string()])
        .trim()
        .to_owned();

    // What references what: an artefact's entry; nothing for the orphan.
    let held = referenced[0].to_string();
    let refs = cli.ok(&["blob", "refs", &held]);
    assert!(
        refs.starts_with("HOLDER") && refs.contains("entry "),
        "{refs}"
    );
    let [holder] = cli
        .json(&["blob", "refs", &held])
        .try_into()
        .expect("one holder");
    let entry = u64_of(&holder, "entry");
    let shown = cli.ok(&["logs", "query", "--type", "artifact", "--limit", "1000"]);
    assert!(
        shown.contains(&entry.to_string()),
        "entry {entry} is an artefact"
    );
    let none = cli.ok(&["blob", "refs", &digest]);
    assert!(
        none.contains(&format!("nothing references {digest}: it is in the store")),
        "{none}"
    );

    let young = cli.ok(&["gc"]);
    assert!(young.starts_with("removed 0 of"), "{young}");
    // Two days on, by the command line's clock.
    let later = (Utc::now() + Duration::days(2)).timestamp().to_string();
    let run = |args: &[&str]| {
        let output = cli
            .command(args)
            .env("SOURCE_DATE_EPOCH", &later)
            .output()
            .expect("the binary runs");
        succeeded(args, output)
    };
    let dry = run(&["gc", "--dry-run"]);
    assert!(
        dry.starts_with(&format!(
            "{digest}\nwould remove 1 of {}",
            referenced.len() + 1
        )),
        "{dry}"
    );
    assert!(
        cli.store()
            .blobs
            .exists(&digest.parse().expect("a digest"))
            .expect("exists")
    );
    let done = run(&["--json", "gc"]);
    let report: Value = serde_json::from_str(done.trim()).expect("JSON");
    assert_eq!(report["removed"], serde_json::json!([digest]), "{report}");
    assert_eq!(u64_of(&report, "freed"), 19);
    assert_eq!(u64_of(&report, "referenced"), referenced.len() as u64);
    assert!(
        !cli.store()
            .blobs
            .exists(&digest.parse().expect("a digest"))
            .expect("exists")
    );
    for kept in referenced {
        assert!(cli.store().blobs.exists(&kept).expect("exists"), "{kept}");
    }
    let err = cli.fails(1, &["gc", "--grace", "soon"]);
    assert!(
        err.contains("--grace \"soon\" is not a span of time"),
        "{err}"
    );
}

store_conformance::for_each_backend!(
    backends: { sqlite => "sqlite", redb => "redb", postgres => "postgres" },
    cases: {
        archive_verify_restore_round_trips_thirty_days_with_the_same_digest,
        gc_removes_only_the_blobs_nothing_references_once_old,
        simulate_reports_what_it_stored_and_stats_agree,
        simulate_over_past_days_gives_the_archive_history,
        simulate_in_batches_stores_the_same_workload,
        logs_query_applies_every_filter_and_pages,
        logs_query_longer_than_a_page_comes_out_whole_and_in_order,
        logs_tail_prints_the_last_entries_and_follows_another_process,
        runs_list_filters_by_status_and_show_prints_the_history,
        thread_show_prints_the_conversation_round_by_round,
        meta_sets_gets_lists_and_deletes,
        blobs_round_trip_through_files_and_standard_streams,
        archive_moves_old_days_out_and_cat_reads_them_back,
        check_verifies_the_log_the_blobs_and_the_archive_and_names_damage,
        tables_are_cut_to_the_terminal_width_and_never_wrap,
        an_unknown_run_is_one_line_naming_it_and_what_to_do,
        a_bad_digest_is_one_line_quoting_it,
        a_missing_store_is_not_created_by_a_command_that_reads,
        ctrl_c_in_migrate_leaves_a_target_every_command_refuses_until_a_rerun_finishes_it,
        ctrl_c_in_archive_stops_after_a_day_with_true_counts_and_a_rerun_finishes,
        backup_while_another_process_writes_is_a_sound_snapshot,
        logs_query_with_the_archive_answers_over_the_whole_history,
        logs_append_writes_an_entry_from_the_shell,
        logs_tail_of_more_than_a_page_is_the_last_entries_in_order,
        csv_gives_one_record_per_report_with_raw_values,
        runs_show_and_thread_show_point_to_the_archive,
        a_fixed_time_makes_simulate_and_relative_times_repeatable,
        serve_answers_over_http_and_an_open_address_needs_a_token,
    }
);

/// The cases about the store's own files (a file in place of the store, its permissions,
/// the space it gives back): on the backends that keep a store in files.
mod files {
    use super::*;
    store_conformance::for_each_backend!(
        backends: { sqlite => "sqlite", redb => "redb" },
        cases: {
            a_blob_file_as_the_store_and_a_missing_blob_file_are_named,
            a_file_that_is_not_a_store_is_named_and_left_alone,
            a_user_who_may_not_write_the_store_reads_it_and_is_refused_writes,
            compact_gives_back_the_space_of_archived_days_and_keeps_every_entry,
            permission_problems_are_named_as_what_they_are,
        }
    );
}

/// A blob location that is not `s3://BUCKET/PREFIX`, or one with credentials in it, is one
/// line naming what is wrong, and shows no secret.
#[test]
fn a_bad_blob_location_is_named_and_shows_no_secret() {
    let cli = Cli::new("sqlite");
    cli.ok(&["simulate", "--runs", "5", "--seed", "1"]);
    let err = cli.fails(1, &["--blobs", "s3://key:hunter2@bucket/x", "blob", "ls"]);
    assert!(err.contains("credentials go in the environment"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = cli.fails(1, &["--blobs", "https://bucket/x", "blob", "ls"]);
    assert!(
        err.contains("is not an s3://BUCKET/PREFIX location"),
        "{err}"
    );
}

/// `archive push` copies the archive to S3, `archive verify --at` checks it there, and a
/// host that lost its archive folder gets it back whole with `archive pull`, from which
/// `archive restore` brings the days back into the store.
#[test]
fn the_archive_goes_to_s3_and_comes_back_after_its_folder_is_lost() {
    let cli = Cli::new("sqlite+s3");
    let now = Utc::now();
    let old: Vec<nerve_store::LogEntry> = cli
        .store()
        .log
        .append_batch(
            (0..30)
                .map(|i| {
                    NewLogEntry::new("worker", "step", format!("old {i}"))
                        .at(now - Duration::days(40 + i % 3))
                })
                .collect(),
        )
        .expect("old entries");
    cli.ok(&["archive"]);
    let replica = store_object::harness::location(&cli.dir.path().join("replica"));
    let [pushed] = cli
        .json(&["archive", "push", "--to", &replica])
        .try_into()
        .expect("one report");
    assert_eq!(
        pushed["uploaded"].as_array().map(Vec::len),
        Some(3),
        "{pushed}"
    );
    let verified = cli.ok(&["archive", "verify", "--at", &replica]);
    assert!(
        verified.contains(&format!(
            "3 days checked against {replica}/logs/manifest.json"
        )),
        "{verified}"
    );

    let archive = cli.dir.path().join("archive");
    std::fs::remove_dir_all(&archive).expect("the folder is lost");
    let pulled = cli.ok(&["archive", "pull", "--from", &replica]);
    assert!(pulled.starts_with("pulled 3 days"), "{pulled}");
    cli.ok(&["archive", "verify"]);
    let first = (now - Duration::days(42)).date_naive();
    let last = (now - Duration::days(40)).date_naive();
    cli.ok(&["archive", "restore", "--day", &format!("{first}..{last}")]);
    let mut back = cli
        .store()
        .log
        .query(&LogQuery::default())
        .expect("the log");
    back.retain(|entry| entry.source == "worker");
    assert_eq!(back, old, "every archived entry back, ids kept");

    let err = cli.fails(1, &["archive", "push", "--to", "s3://key:hunter2@bucket/x"]);
    assert!(err.contains("credentials go in the environment") && !err.contains("hunter2"));
}

// The log on each backend, its blobs (and, in the archive's case, its archive) on the tests'
// S3 server (`--blobs`, `--dir s3://…`).
store_conformance::for_each_backend!(
    backends: {
        sqlite_on_s3 => "sqlite+s3",
        redb_on_s3 => "redb+s3",
        postgres_on_s3 => "postgres+s3",
    },
    cases: {
        the_archive_on_s3_round_trips_thirty_days_with_the_same_digest,
        gc_removes_only_the_blobs_nothing_references_once_old,
        blobs_round_trip_through_files_and_standard_streams,
        simulate_reports_what_it_stored_and_stats_agree,
    }
);
