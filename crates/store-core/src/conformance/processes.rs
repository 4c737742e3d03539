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
use crate::{LogBackend, LogQuery, NewLogEntry, RunTransition, WorkflowRunStatus};

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
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut second = Command::new(exe)
        .args([TEST_NAME, "--exact", "--test-threads", "1"])
        .env(CHILD_STORE_ENV, fx.dir())
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
/// entry, until it is killed.
fn creator(open: OpenStore, dir: &Path) {
    for n in 0u64.. {
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
pub fn a_store_killed_while_it_is_created_opens_fresh_or_whole(open: OpenStore) {
    if let Some(dir) = std::env::var_os(CHILD_CREATOR_ENV) {
        return creator(open, Path::new(&dir));
    }
    let root = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut folders = 0;
    for kill in 0..KILLS {
        let dir = root.path().join(kill.to_string());
        std::fs::create_dir_all(&dir).expect("the child's folder");
        let mut child = Command::new(&exe)
            .args([CREATION_TEST_NAME, "--exact", "--test-threads", "1"])
            .env(CHILD_CREATOR_ENV, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the child");
        // Kills spread over the child's first fifth of a second: the first ones before it
        // created anything, the later ones in the middle of its tenth or hundredth store.
        std::thread::sleep(Duration::from_millis(5 + kill * 17));
        child.kill().expect("kill the child");
        child.wait().expect("reap the child");
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
    assert!(
        folders > KILLS,
        "the children created {folders} stores: too few to have been killed mid-way"
    );
}
