//! The async API is the whole API (feature `tokio`): every call of `LogStore`,
//! `LogMaintenance`, `LogTransfer` and `BlobStore` has its twin on `AsyncStore` or
//! `AsyncBlobs`, taking the same arguments; every match of a query streams a page at a time;
//! a follower streams what another process commits; a blob streams in verified chunks. The
//! twins themselves run the whole conformance suite in `through_async.rs`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nerve_store::pages::{PAGE, ThreadMessages};
use nerve_store::{
    AsyncStore, Backend, LogEntry, LogQuery, NewLogEntry, Role, RunQuery, RunTransition,
    StoreError, StoreResult, ThreadMessage, WorkflowRunStatus, WriteUnit,
};

// ---------------------------------------------------------------------------------------
// Every call has its twin, with the same arguments.
// ---------------------------------------------------------------------------------------

/// A function's name and the types of its arguments after `&self`, whitespace removed.
#[derive(Debug, PartialEq, Eq)]
struct Signature {
    name: String,
    arguments: Vec<String>,
}

/// The text of a source file of the workspace, from this crate's folder.
fn source(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The lines of the block that opens on the line equal to `opening` (a `pub trait` or an
/// `impl`), up to its closing `}` at the start of a line.
fn block<'a>(text: &'a str, opening: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|line| *line != opening);
    assert!(lines.next().is_some(), "no line `{opening}`");
    lines.take_while(|line| *line != "}").collect()
}

/// The functions declared at the first level of `lines` whose declaration starts with one of
/// `starts` (`fn `, `pub async fn `), each with its argument types.
fn signatures(lines: &[&str], starts: &[&str]) -> Vec<Signature> {
    let mut found = Vec::new();
    let mut lines = lines.iter();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("    ") else {
            continue;
        };
        let Some(start) = starts.iter().find(|start| rest.starts_with(**start)) else {
            continue;
        };
        let mut text = rest[start.len()..].to_owned();
        while !text.contains('{') && !text.trim_end().ends_with(';') {
            let Some(next) = lines.next() else { break };
            text.push(' ');
            text.push_str(next.trim());
        }
        found.push(parse(&text));
    }
    found
}

/// `name<...>(&self, a: A, b: B) -> ...` as its name and `[A, B]`.
fn parse(text: &str) -> Signature {
    let name_end = text.find(['<', '(']).expect("a function's name");
    let name = text[..name_end].to_owned();
    let open = text.find('(').expect("an argument list");
    let mut depth = 0;
    let mut close = open;
    for (at, c) in text[open..].char_indices() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' if !text[..open + at].ends_with('-') => {
                depth -= 1;
                if depth == 0 {
                    close = open + at;
                    break;
                }
            }
            _ => {}
        }
    }
    let mut arguments = Vec::new();
    let (mut depth, mut current) = (0, String::new());
    for c in text[open + 1..close].chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                arguments.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    arguments.push(current);
    let arguments = arguments
        .iter()
        .map(|argument| argument.trim())
        .filter(|argument| !argument.is_empty() && *argument != "&self")
        .map(|argument| {
            let (_, kind) = argument.split_once(':').expect("`name: Type`");
            kind.split_whitespace().collect::<String>()
        })
        .collect();
    Signature { name, arguments }
}

/// Where an async twin must take another argument than its sync call, and why: what the
/// sync call borrows for the length of the call cannot cross to the blocking pool.
const OWNED_INSTEAD: &[(&str, &[&str], &str)] = &[
    (
        "with_snapshot",
        &["F"],
        "the work runs on the blocking pool, so it is an owned closure",
    ),
    (
        "write_from",
        &["R"],
        "the source is read on the blocking pool, so it is an owned reader",
    ),
];

fn assert_twins(traits: &[(&str, &str)], twin_file: &[(&str, &str)]) {
    let twins: Vec<Signature> = twin_file
        .iter()
        .flat_map(|(path, opening)| {
            signatures(
                &block(&source(path), opening),
                &["pub async fn ", "pub fn "],
            )
        })
        .collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, opening) in traits {
        for call in signatures(&block(&source(path), opening), &["fn "]) {
            checked += 1;
            let Some(twin) = twins.iter().find(|twin| twin.name == call.name) else {
                missing.push(format!("{opening}: `{}` has no async twin", call.name));
                continue;
            };
            let expected: Vec<String> =
                match OWNED_INSTEAD.iter().find(|(name, ..)| *name == call.name) {
                    Some((_, owned, _)) => owned.iter().map(|kind| (*kind).to_owned()).collect(),
                    None => call.arguments.clone(),
                };
            if twin.arguments != expected {
                missing.push(format!(
                    "{opening}: `{}` takes {:?}, its async twin {:?}",
                    call.name, call.arguments, twin.arguments
                ));
            }
        }
    }
    assert!(checked > 0, "the traits' calls were found");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_call_of_the_log_traits_has_an_async_twin_with_the_same_arguments() {
    assert_twins(
        &[
            (
                "../store-core/src/store.rs",
                "pub trait LogStore: Send + Sync {",
            ),
            (
                "../store-core/src/store.rs",
                "pub trait LogMaintenance: LogStore {",
            ),
            (
                "../store-core/src/store.rs",
                "pub trait LogTransfer: LogStore {",
            ),
        ],
        &[("src/asynchronous/mod.rs", "impl AsyncStore {")],
    );
}

#[test]
fn every_call_of_the_blob_store_has_an_async_twin_with_the_same_arguments() {
    assert_twins(
        &[(
            "../store-core/src/blob.rs",
            "pub trait BlobStore: Send + Sync {",
        )],
        &[("src/asynchronous/blobs.rs", "impl AsyncBlobs {")],
    );
}

#[test]
fn the_twin_check_sees_a_missing_twin_and_a_changed_argument() {
    let sync = ["    fn a(&self, key: &str) -> X;", "    fn b(&self) -> Y {"];
    let twins = ["    pub async fn a(&self, key: String) -> X {"];
    let calls = signatures(&sync, &["fn "]);
    let found = signatures(&twins, &["pub async fn "]);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].arguments, ["&str"]);
    assert_ne!(calls[0], found[0], "`&str` against `String`");
    assert!(!found.iter().any(|twin| twin.name == "b"), "`b` is missing");
    let generic = parse("with<F>(&self, work: F, limit: Option<Vec<(u8, u8)>>) -> Z {");
    assert_eq!(generic.name, "with");
    assert_eq!(generic.arguments, ["F", "Option<Vec<(u8,u8)>>"]);
}

// ---------------------------------------------------------------------------------------
// Streams, on every backend.
// ---------------------------------------------------------------------------------------

/// More than two pages: every page boundary is crossed, and the last page is short.
const MANY: usize = PAGE * 2 + PAGE / 2;
/// The bound on waiting for what another process writes: a bound, not a pace.
const PATIENCE: Duration = Duration::from_secs(120);
/// The variable that makes the follow case play the process that writes.
const CHILD_ENV: &str = "NERVE_STORE_ASYNC_CHILD_LOCATION";

fn location(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.join("nerve.db").display()),
        Backend::Redb => format!("redb:{}", dir.join("nerve.redb").display()),
        Backend::Postgres => store_postgres::harness::options(dir).location(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn collect<T>(mut rows: nerve_store::RowStream<T>) -> Vec<T> {
    let mut all = Vec::new();
    while let Some(row) = rows.next().await {
        all.push(row.expect("a row"));
    }
    all
}

fn every_match_streams_a_page_at_a_time(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    // Outside the runtime: the PostgreSQL harness connects with the sync client.
    let location = location(backend, dir.path());
    runtime().block_on(async {
        let store = AsyncStore::new(nerve_store::open(&location).expect("a store"));
        let entries = (0..MANY)
            .map(|i| NewLogEntry::new(if i % 3 == 0 { "a" } else { "b" }, "k", i.to_string()))
            .collect();
        let written = store.append_batch(entries).await.expect("entries");

        assert_eq!(collect(store.fetch(LogQuery::new())).await, written);
        let mut newest_first = written.clone();
        newest_first.reverse();
        assert_eq!(
            collect(store.fetch(LogQuery::new().descending())).await,
            newest_first
        );
        let only_a: Vec<LogEntry> = written
            .iter()
            .filter(|e| e.source == "a")
            .cloned()
            .collect();
        assert_eq!(
            collect(store.fetch(LogQuery::new().source("a"))).await,
            only_a
        );
        assert_eq!(
            collect(store.fetch(LogQuery::new().limit(PAGE + 7))).await,
            written[..PAGE + 7].to_vec(),
            "the limit caps the total"
        );

        let runs = (0..MANY).fold(WriteUnit::new(), |unit, i| {
            unit.transition(RunTransition::new(
                format!("run-{i:05}"),
                "wf",
                WorkflowRunStatus::Queued,
            ))
        });
        store.write_unit(runs).await.expect("runs");
        let listed = collect(store.fetch(RunQuery::new())).await;
        assert_eq!(listed.len(), MANY);
        assert!(
            listed
                .windows(2)
                .all(|pair| pair[0].run_id < pair[1].run_id)
        );

        let messages = (0..MANY).fold(WriteUnit::new(), |unit, i| {
            let round = u32::try_from(i).expect("a round");
            unit.thread_message(ThreadMessage::new("t", round, Role::User, i.to_string()))
        });
        store.write_unit(messages).await.expect("messages");
        let rows = collect(store.fetch(ThreadMessages::of("t"))).await;
        assert_eq!(rows.len(), MANY);
        assert!(
            rows.iter()
                .enumerate()
                .all(|(i, row)| row.payload == i.to_string())
        );
    });
}

/// The name of the running test, which the harness gives its thread: the child process
/// runs this one test.
fn this_test() -> String {
    std::thread::current()
        .name()
        .expect("a test's thread has its name")
        .to_owned()
}

fn a_follower_streams_what_another_process_commits(backend: Backend) {
    if let Ok(location) = std::env::var(CHILD_ENV) {
        // The child: writes, then ends.
        let store = nerve_store::open(&location).expect("the child opens the store");
        for i in 0..3 {
            store
                .log
                .append(NewLogEntry::new("child", "noise", "not followed"))
                .expect("noise");
            store
                .log
                .append(NewLogEntry::new("child", "mark", i.to_string()))
                .expect("a mark");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location(backend, dir.path());
    runtime().block_on(async {
        let store = AsyncStore::new(nerve_store::open(&location).expect("a store"));
        store
            .append(NewLogEntry::new("parent", "mark", "before"))
            .await
            .expect("an old mark");
        let mut following = store
            .follow(LogQuery::new().kind("mark"), Duration::from_millis(50))
            .await
            .expect("following from the log's end");
        let child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([this_test().as_str(), "--exact", "--test-threads", "1"])
            .env(CHILD_ENV, &location)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("the child runs");
        assert!(child.success(), "the child wrote its entries: {child}");
        let mut seen = Vec::new();
        for _ in 0..3 {
            let next = tokio::time::timeout(PATIENCE, following.next())
                .await
                .expect("the follower yields within the bound")
                .expect("it never ends")
                .expect("an entry");
            seen.push((next.source, next.payload));
        }
        let child_marks: Vec<(String, String)> = (0..3)
            .map(|i| ("child".to_owned(), i.to_string()))
            .collect();
        assert_eq!(
            seen, child_marks,
            "the child's marks, in order, and nothing from before"
        );
    });
}

fn a_blob_streams_in_verified_chunks(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    // Outside the runtime: the PostgreSQL harness connects with the sync client.
    let location = location(backend, dir.path());
    runtime().block_on(async {
        let store = AsyncStore::new(nerve_store::open(&location).expect("a store"));
        let blobs = store.blobs();
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let digest = blobs
            .write_from(std::io::Cursor::new(content.clone()))
            .await
            .expect("a blob");
        let mut stream = blobs
            .open(&digest)
            .await
            .expect("opened")
            .expect("the blob is there");
        let mut chunks = 0;
        let mut read = Vec::new();
        while let Some(chunk) = stream.next().await {
            read.extend(chunk.expect("a chunk"));
            chunks += 1;
        }
        assert_eq!(read, content);
        assert!(chunks > 1, "more than one chunk: {chunks}");
        let absent = nerve_store::Digest::of(b"never written");
        assert!(blobs.open(&absent).await.expect("an answer").is_none());
        assert_eq!(blobs.read(&digest).await.expect("read"), Some(content));
    });
}

fn a_snapshot_runs_on_the_blocking_pool_and_refuses_writes(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    // Outside the runtime: the PostgreSQL harness connects with the sync client.
    let location = location(backend, dir.path());
    runtime().block_on(async {
        let store = AsyncStore::new(nerve_store::open(&location).expect("a store"));
        store
            .append(NewLogEntry::new("s", "k", "{}"))
            .await
            .expect("an entry");
        let (seen, counted) = std::sync::mpsc::channel();
        store
            .with_snapshot(move |view| {
                let entries = view.query(&LogQuery::new())?.len();
                let refused = view.append(NewLogEntry::new("s", "k", "{}"));
                let _ = seen.send((entries, refused.map(|_| ())));
                Ok(())
            })
            .await
            .expect("the snapshot ran");
        let (entries, refused): (usize, StoreResult<()>) = counted.recv().expect("what it saw");
        assert_eq!(entries, 1);
        assert!(
            matches!(refused, Err(StoreError::OpenedReadOnly { .. })),
            "{refused:?}"
        );
    });
}

store_conformance::for_each_backend!(
    backends: { sqlite => Backend::Sqlite, redb => Backend::Redb, postgres => Backend::Postgres },
    cases: {
        every_match_streams_a_page_at_a_time,
        a_follower_streams_what_another_process_commits,
        a_blob_streams_in_verified_chunks,
        a_snapshot_runs_on_the_blocking_pool_and_refuses_writes,
    }
);
