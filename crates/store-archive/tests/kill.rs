//! A real archiving process killed (SIGKILL) at moments spread over its run, a dozen times
//! per backend: afterwards nothing is lost, and a rerun ends with every entry exactly once.
//!
//! The test binary runs itself again as the archiving process, selected by its exact test
//! name, with the store's folder and backend in environment variables.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::{Backend, Open, REDB, SQLITE, archived, assert_exactly_once, fill, options};
use store_archive::archive_logs;
use store_core::LogId;
use store_core::conformance::all_entries;

const CHILD_DIR: &str = "NERVE_ARCHIVE_KILL_DIR";
const CHILD_BACKEND: &str = "NERVE_ARCHIVE_KILL_BACKEND";
const TEST_NAME: &str = "an_archiving_process_killed_at_any_moment_loses_nothing";
const KILLS_PER_BACKEND: u32 = 12;
const DAYS: [i64; 5] = [6, 5, 4, 3, 2];
const PER_DAY: usize = 3000;

fn spawn_archiver(dir: &Path, backend: &str) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            &format!("{backend}::{TEST_NAME}"),
            "--exact",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_BACKEND, backend)
        .stdout(Stdio::null())
        .spawn()
        .expect("start the archiving process")
}

/// The archiving process: opens the store and archives it, then exits.
fn archiver(dir: &Path, backend: &str) {
    let (_, open) = [SQLITE, REDB]
        .into_iter()
        .find(|(name, _)| *name == backend)
        .expect("a known backend");
    let store = open(dir).expect("the archiver opens the store");
    archive_logs(store.as_ref(), &options(dir)).expect("the archiver's run");
}

/// A store ready to archive, closed; returns its entries.
fn prepared(open: Open, dir: &Path) -> Vec<store_core::LogEntry> {
    let store = open(dir).expect("open");
    fill(store.as_ref(), &DAYS, PER_DAY)
}

fn an_archiving_process_killed_at_any_moment_loses_nothing((backend, open): Backend) {
    if let (Some(dir), Ok(backend)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_BACKEND)) {
        return archiver(Path::new(&dir), &backend);
    }
    // How long a whole run takes, process start included: the fastest of three, since the
    // kills' moments are spread over it and one run slowed by the machine's other work
    // would put most of them after the end of the runs they are meant to interrupt.
    let full_run = (0..3)
        .map(|_| {
            let dir = tempfile::tempdir().expect("temp dir");
            prepared(open, dir.path());
            let started = Instant::now();
            let status = spawn_archiver(dir.path(), backend).wait().expect("wait");
            assert!(
                status.success(),
                "{backend}: an uninterrupted run succeeds: {status}"
            );
            started.elapsed()
        })
        .min()
        .expect("three runs");

    let mut interrupted = 0;
    for kill in 0..KILLS_PER_BACKEND {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = prepared(open, dir.path());
        // Moments spread over the run, each nudged within its slot.
        let slot = full_run / KILLS_PER_BACKEND;
        let nudge = slot.mul_f64(f64::from((kill * 7919) % 10) / 10.0);
        let delay = slot * kill + nudge;
        let mut child = spawn_archiver(dir.path(), backend);
        std::thread::sleep(delay);
        let was_running = child.try_wait().expect("poll").is_none();
        child.kill().ok();
        child.wait().expect("reap");
        interrupted += u32::from(was_running);

        let store = open(dir.path()).expect("the store opens after the kill");
        let options = options(dir.path());
        let present: BTreeSet<LogId> = archived(&options)
            .iter()
            .chain(&all_entries(store.as_ref()))
            .map(|e| e.id)
            .collect();
        assert!(
            original.iter().all(|e| present.contains(&e.id)),
            "{backend}: killed after {delay:?}, an entry was lost"
        );
        archive_logs(store.as_ref(), &options).expect("the rerun completes");
        assert_exactly_once(store.as_ref(), &options, &original);
    }
    eprintln!(
        "{backend}: {KILLS_PER_BACKEND} kills over a {full_run:?} run, {interrupted} while it ran"
    );
    assert!(
        interrupted >= KILLS_PER_BACKEND / 2,
        "{backend}: most kills land during the run"
    );
}

store_core::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB },
    cases: {
        an_archiving_process_killed_at_any_moment_loses_nothing,
    }
);
