//! SPEC 4, a second process: the CLI opens the daemon's store while the daemon writes, and
//! each sees the other's commits; and a process killed while it creates a store leaves
//! either no store or a whole one.
//!
//! Each case runs its own test binary again as the second process, selected by its exact
//! test name, with the store's folder in an environment variable: in that child the case
//! plays the CLI (or the process that is killed), in the parent the daemon, and the parent
//! makes every assertion.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::log::minutes;
use super::{Fixture, OpenStore};
use store_core::{LogBackend, LogQuery, NewLogEntry, RunTransition, WorkflowRunStatus};

/// The environment variable that makes the case play the second process.
pub const CHILD_STORE_ENV: &str = "NERVE_STORE_CONFORMANCE_CHILD";
/// The environment variable that makes the creation case play the process that is killed.
pub const CHILD_CREATOR_ENV: &str = "NERVE_STORE_CONFORMANCE_CREATOR";
/// The name the conformance macro gives the creation case's test.
const CREATION_TEST_NAME: &str =
    "processes::a_store_killed_while_it_is_created_opens_fresh_or_whole";
/// How many times the creation case kills its child.
const KILLS: u64 = 12;
/// The name the conformance macro gives the case's test.
const TEST_NAME: &str = "processes::a_second_process_reads_and_writes_beside_this_one";
const EACH: usize = 40;
const PATIENCE: Duration = Duration::from_secs(60);

/// The full name of the running test whose case is `case`: the test harness names each
/// test's thread after it, so a suite expanded inside a module (`sqlite::processes::…`)
/// runs its child under the same name; `case` itself where the thread has another name.
fn this_test(case: &str) -> String {
    std::thread::current()
        .name()
        .filter(|name| name.ends_with(case))
        .unwrap_or(case)
        .to_owned()
}

/// This test binary again, running only the case `case` (under the name the harness gives
/// this test), with `dir` in the environment variable `env`: the process a case plays its
/// other part in.
fn case_again(case: &str, env: &str, dir: &Path) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args([this_test(case).as_str(), "--exact", "--test-threads", "1"])
        .env(env, dir);
    command
}

fn count(store: &dyn LogBackend, ref_id: &str) -> usize {
    store
        .query(&LogQuery {
            ref_id: Some(ref_id.into()),
            limit: Some(usize::MAX),
            ..LogQuery::default()
        })
        .map_or(0, |entries| entries.len())
}

/// Waits until `done` holds, polling; false if it never did.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The second process: appends while the first one does, waits until it sees all of the
/// first one's entries, then completes the run the first one started.
fn child(open: OpenStore, dir: &Path) {
    let store = open(dir).expect("the child opens the parent's store");
    for i in 0..EACH {
        store
            .append(NewLogEntry::new("cli", "note", i.to_string()).with_ref("child"))
            .expect("the child appends");
    }
    let saw_parent = eventually(|| {
        store.meta_get("parent.done").ok().flatten().is_some()
            && count(store.as_ref(), "parent") == EACH
    });
    assert!(
        saw_parent,
        "the child saw the parent's {EACH} entries and its meta write"
    );
    store
        .transition_run(RunTransition::new(
            "shared",
            "wf",
            WorkflowRunStatus::Completed,
        ))
        .expect("the child sees the run the parent started, and completes it");
}

/// While a second process appends to the same store, this one appends, transitions runs
/// and reads; each sees every commit of the other, and no id is given twice.
pub fn a_second_process_reads_and_writes_beside_this_one(open: OpenStore) {
    if let Some(dir) = std::env::var_os(CHILD_STORE_ENV) {
        return child(open, Path::new(&dir));
    }
    let fx = Fixture::new(open);
    let store = fx.store();
    store
        .transition_run(RunTransition::new(
            "shared",
            "wf",
            WorkflowRunStatus::Started,
        ))
        .expect("the parent starts a run");
    let mut second = case_again(TEST_NAME, CHILD_STORE_ENV, fx.dir())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the second process");

    for i in 0..EACH {
        store
            .append(NewLogEntry::new("daemon", "note", i.to_string()).with_ref("parent"))
            .expect("the parent appends beside the child");
        let run = format!("own-{i}");
        store
            .transition_run(
                RunTransition::new(&run, "wf", WorkflowRunStatus::Started).at(minutes(i as i64)),
            )
            .expect("the parent transitions its runs");
    }
    store
        .meta_set("parent.done", "yes")
        .expect("the parent says it is done");

    let status = second.wait().expect("wait for the second process");
    assert!(status.success(), "the second process failed: {status}");
    assert_eq!(
        count(store, "child"),
        EACH,
        "the parent sees every entry of the child"
    );
    let shared = store
        .get_run("shared")
        .expect("get_run")
        .expect("the shared run");
    assert_eq!(
        shared.status,
        WorkflowRunStatus::Completed,
        "the parent sees the child's transition"
    );
    let all = super::all_entries(store);
    let mut ids: Vec<_> = all.iter().map(|e| e.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "no id was given twice");
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
}

/// The killed process: creates stores one after another in numbered folders, each with one
/// entry, until it is killed. Before it starts on store `n` it prints `creating n`, the
/// signal the parent kills on.
fn creator(open: OpenStore, dir: &Path) {
    use std::io::Write as _;
    for n in 0u64.. {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "creating {n}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
        drop(out);
        let store = open(&dir.join(n.to_string())).expect("the child creates a store");
        store
            .append(NewLogEntry::new("creator", "created", n.to_string()))
            .expect("the child appends");
    }
}

/// A process killed (SIGKILL) at any moment while it creates a new store leaves, in that
/// store's folder, either nothing that stops the next open or the whole store: every folder
/// opens, holds its one entry or none, and takes new writes. Ours or not, no file is
/// refused for being half-made by us, and nothing is left that a reopen trips over.
///
/// The kills are driven by the child's own signals, not by a clock: the `k`th child is
/// killed as soon as it says it starts on its `k`th store, so the kill lands while that
/// store is being created however fast or loaded the machine is.
pub fn a_store_killed_while_it_is_created_opens_fresh_or_whole(open: OpenStore) {
    use std::io::BufRead as _;
    if let Some(dir) = std::env::var_os(CHILD_CREATOR_ENV) {
        return creator(open, Path::new(&dir));
    }
    // A store of the parent's own, open throughout: whatever a backend starts for its first
    // store (a test server) is then the parent's, and outlives the children that use it.
    let _own = Fixture::new(open);
    let root = tempfile::tempdir().expect("temp dir");
    let mut folders = 0;
    for kill in 0..KILLS {
        let dir = root.path().join(kill.to_string());
        std::fs::create_dir_all(&dir).expect("the child's folder");
        let mut child = case_again(CREATION_TEST_NAME, CHILD_CREATOR_ENV, &dir)
            .arg("--nocapture")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the child");
        let stdout = child.stdout.take().expect("the child's output");
        // The test harness prints the test's name in front of the child's first line.
        let signal = format!("creating {kill}");
        let reached = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line == signal || line.ends_with(&format!(" {signal}")));
        child.kill().expect("kill the child");
        child.wait().expect("reap the child");
        assert!(reached, "the child stopped before it started store {kill}");
        let mut created: Vec<_> = std::fs::read_dir(&dir)
            .expect("list the child's folders")
            .map(|entry| entry.expect("an entry").path())
            .collect();
        created.sort();
        for store_dir in created {
            folders += 1;
            let store = open(&store_dir).unwrap_or_else(|err| {
                panic!(
                    "{} does not open after the kill: {err}",
                    store_dir.display()
                )
            });
            let before = super::all_entries(store.as_ref());
            assert!(
                before.len() <= 1 && before.iter().all(|e| e.source == "creator"),
                "{}: {before:?}",
                store_dir.display()
            );
            let added = store
                .append(NewLogEntry::new("parent", "after", "p"))
                .expect("the store takes writes");
            drop(store);
            let store = open(&store_dir).expect("it opens again");
            let after = super::all_entries(store.as_ref());
            assert_eq!(after.last(), Some(&added), "{}", store_dir.display());
            assert_eq!(after.len(), before.len() + 1, "{}", store_dir.display());
        }
    }
    // The `k`th child finished `k` stores before the one it was killed in, if it got as far
    // as creating that one's folder.
    let finished: u64 = (0..KILLS).sum();
    assert!(
        folders >= finished,
        "the children left {folders} store folders, fewer than the {finished} they finished"
    );
}

/// The environment variable that makes the kill case play the process that is killed.
pub const CHILD_WRITERS_ENV: &str = "NERVE_STORE_CONFORMANCE_WRITERS";
/// The name the conformance macro gives the kill case's test.
const WRITERS_TEST_NAME: &str =
    "processes::every_acknowledged_call_of_many_threads_survives_kill_9";
const WRITER_THREADS: usize = 8;
/// Acknowledgements the parent waits for before it kills the child.
const ACKS_BEFORE_KILL: usize = 300;

/// The killed process: eight threads write until the process is killed, and after each call
/// returns print what it was told: `ok <payload> <id>...` for a call that wrote, `refused
/// <payload>` for one the store refused. A line is printed only after the call returned.
fn writers(open: OpenStore, dir: &Path) {
    use std::io::Write as _;
    let store = open(dir).expect("the child opens the store");
    let store = store.as_ref();
    std::thread::scope(|scope| {
        for thread in 0..WRITER_THREADS {
            scope.spawn(move || {
                for n in 0u64.. {
                    let tag = format!("w{thread}-{n}");
                    let run = format!("run-{thread}-{}", n / 4);
                    let unit = match n % 4 {
                        0 => {
                            store_core::WriteUnit::new().append(NewLogEntry::new("w", "note", &tag))
                        }
                        1 => store_core::WriteUnit::new()
                            .transition(RunTransition::new(&run, "wf", WorkflowRunStatus::Started))
                            .append(NewLogEntry::new("w", "step", &tag).with_ref(&run)),
                        2 => store_core::WriteUnit::new()
                            .append(NewLogEntry::new("w", "note", &tag))
                            // Refused: the run is started, not queued.
                            .transition(RunTransition::new(&run, "wf", WorkflowRunStatus::Queued)),
                        _ => store_core::WriteUnit::new()
                            .transition(RunTransition::new(
                                &run,
                                "wf",
                                WorkflowRunStatus::Completed,
                            ))
                            .append(NewLogEntry::new("w", "done", &tag).with_ref(&run)),
                    };
                    let line = match store.write_unit(unit) {
                        Ok(written) => {
                            let ids: Vec<String> = written
                                .iter()
                                .filter_map(store_core::Written::entry)
                                .map(|entry| entry.id.to_string())
                                .collect();
                            format!("ok {tag} {}\n", ids.join(" "))
                        }
                        Err(_) => format!("refused {tag}\n"),
                    };
                    let mut out = std::io::stdout().lock();
                    if out
                        .write_all(line.as_bytes())
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
}

/// A process with eight writer threads, killed (SIGKILL) while they write, loses none of
/// the calls it acknowledged and keeps nothing of the calls it refused: after reopening,
/// every acknowledged call's entries are there under the ids it was given, with its
/// payload, no refused call's entry is, and ids are unique and increasing.
pub fn every_acknowledged_call_of_many_threads_survives_kill_9(open: OpenStore) {
    use std::io::BufRead as _;
    if let Some(dir) = std::env::var_os(CHILD_WRITERS_ENV) {
        return writers(open, Path::new(&dir));
    }
    let mut fx = Fixture::new(open);
    let mut child = case_again(WRITERS_TEST_NAME, CHILD_WRITERS_ENV, fx.dir())
        .arg("--nocapture")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the writers");
    let stdout = child.stdout.take().expect("the child's output");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut seen = Acknowledged::default();
    let start = Instant::now();
    while seen.written.len() < ACKS_BEFORE_KILL {
        match lines.next() {
            Some(Ok(line)) => seen.read(&line),
            _ => panic!("the writers stopped before they were killed"),
        }
        assert!(start.elapsed() < PATIENCE, "the writers are too slow");
    }
    child.kill().expect("kill the writers");
    // What the child printed before it died was acknowledged too.
    for line in lines.map_while(Result::ok) {
        seen.read(&line);
    }
    child.wait().expect("reap the writers");

    fx.reopen();
    let log = super::all_entries(fx.store());
    let by_id: std::collections::HashMap<u64, &store_core::LogEntry> =
        log.iter().map(|entry| (entry.id.0, entry)).collect();
    for (tag, ids) in &seen.written {
        assert!(!ids.is_empty(), "{tag} wrote entries");
        let last = ids.last().and_then(|id| by_id.get(id));
        assert!(
            last.is_some_and(|entry| entry.payload == *tag),
            "the acknowledged call {tag} is there under id {ids:?}"
        );
        for id in ids {
            assert!(by_id.contains_key(id), "{tag}: entry {id} is there");
        }
    }
    for tag in &seen.refused {
        assert!(
            !log.iter().any(|entry| entry.payload == *tag),
            "the refused call {tag} left nothing"
        );
    }
    assert!(!seen.refused.is_empty(), "the writers made refused calls");
    assert!(
        log.windows(2).all(|w| w[0].id < w[1].id),
        "ids are unique and increase"
    );
    fx.store()
        .append(NewLogEntry::new("parent", "after", "p"))
        .expect("the store takes writes after the kill");
}

/// What the killed writers acknowledged, from their output.
#[derive(Default)]
struct Acknowledged {
    /// Each call that wrote: its payload tag and the ids it was given.
    written: Vec<(String, Vec<u64>)>,
    /// The tags of refused calls.
    refused: Vec<String>,
}

impl Acknowledged {
    fn read(&mut self, line: &str) {
        let mut words = line.split(' ');
        match (words.next(), words.next()) {
            (Some("ok"), Some(tag)) => {
                let ids = words.filter_map(|id| id.parse().ok()).collect();
                self.written.push((tag.to_owned(), ids));
            }
            (Some("refused"), Some(tag)) => self.refused.push(tag.to_owned()),
            // The test harness's own lines, and a line cut by the kill.
            _ => {}
        }
    }
}

/// The environment variable that makes the cursor case play one of its writer processes.
pub const CHILD_APPENDER_ENV: &str = "NERVE_STORE_CONFORMANCE_APPENDER";
/// The name the conformance macro gives the cursor case's test.
const CURSOR_TEST_NAME: &str =
    "processes::a_cursor_reader_beside_writer_processes_misses_no_row_and_sees_none_twice";
const APPENDERS: usize = 8;
const APPENDS_EACH: usize = 150;

/// A writer process of the cursor case: single appends, each its own durable commit.
fn appender(open: OpenStore, dir: &Path) {
    let store = open(dir).expect("a writer process opens the store");
    let me = std::process::id().to_string();
    for i in 0..APPENDS_EACH {
        store
            .append(NewLogEntry::new("writer", "append", i.to_string()).with_ref(&me))
            .expect("an append");
    }
}

/// Eight processes append 150 entries each, one commit per entry, while this one pages
/// through the log after a cursor, as `logs tail --follow` does: the reader sees every
/// entry exactly once, in id order, and each writer's entries in the order it wrote them.
/// (With ids from a plain sequence on PostgreSQL, a reader missed 296 of 2,400 rows with 8
/// writers: a row with a lower id became visible after the cursor had passed it.)
pub fn a_cursor_reader_beside_writer_processes_misses_no_row_and_sees_none_twice(open: OpenStore) {
    if let Some(dir) = std::env::var_os(CHILD_APPENDER_ENV) {
        return appender(open, Path::new(&dir));
    }
    let fx = Fixture::new(open);
    let store = fx.store();
    let writers: Vec<_> = (0..APPENDERS)
        .map(|_| {
            case_again(CURSOR_TEST_NAME, CHILD_APPENDER_ENV, fx.dir())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("a writer process")
        })
        .collect();
    let mut writers = writers;
    let mut seen: Vec<store_core::LogEntry> = Vec::new();
    let mut cursor = None;
    let start = Instant::now();
    // Pages until a look made after every writer had ended finds nothing more.
    let mut ended = false;
    loop {
        assert!(
            start.elapsed() < PATIENCE * 2,
            "the writers never ended: {} seen",
            seen.len()
        );
        let page = store
            .query(&LogQuery {
                after: cursor,
                limit: Some(1000),
                ..LogQuery::default()
            })
            .expect("a page");
        let Some(last) = page.last() else {
            if ended {
                break;
            }
            ended = writers
                .iter_mut()
                .all(|writer| writer.try_wait().expect("a writer's state").is_some());
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        cursor = Some(last.id);
        seen.extend(page);
    }
    for mut writer in writers {
        assert!(
            writer.wait().expect("a writer ends").success(),
            "a writer failed"
        );
    }
    assert!(
        seen.windows(2).all(|pair| pair[0].id < pair[1].id),
        "no entry twice, in id order"
    );
    let all = super::all_entries(store);
    assert_eq!(
        all.len(),
        APPENDERS * APPENDS_EACH,
        "every append is in the log"
    );
    let missed = all.iter().filter(|entry| !seen.contains(entry)).count();
    assert_eq!(missed, 0, "the cursor reader missed {missed} entries");
    assert_eq!(seen, all, "the reader saw the whole log, and nothing else");
    let mut per_writer: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for entry in &seen {
        let n = entry.payload.parse().expect("a writer's count");
        per_writer
            .entry(entry.ref_id.as_deref().unwrap_or_default())
            .or_default()
            .push(n);
    }
    assert_eq!(per_writer.len(), APPENDERS);
    for (writer, ns) in per_writer {
        assert_eq!(
            ns,
            (0..APPENDS_EACH).collect::<Vec<_>>(),
            "writer {writer}'s entries in the order it wrote them"
        );
    }
}
