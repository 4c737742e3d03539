//! A real archiving process killed (SIGKILL) at moments spread over its run, a dozen times
//! per backend: afterwards nothing is lost, and a rerun ends with every entry exactly once.
//!
//! The test binary runs itself again as the archiving process, selected by its exact test
//! name, with the store's folder and backend in environment variables. The child does its
//! file operations through a seam that prints `step` before each one; the parent counts the
//! steps of one uninterrupted run, then kills each child as it announces a chosen step, so
//! the kills are spread over the run by what it has done, not by a clock.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::ops::ControlFlow;
use std::path::Path;

use common::{
    Backend, Open, POSTGRES, REDB, SQLITE, archived, assert_exactly_once, backend_named, fill,
    options, spawn_child,
};
use store_archive::{archive_logs, archive_logs_with};
use store_conformance::all_entries;
use store_core::LogId;
use store_core::kit::{FileOps, RealFiles};

const CHILD_DIR: &str = "NERVE_ARCHIVE_KILL_DIR";
const CHILD_BACKEND: &str = "NERVE_ARCHIVE_KILL_BACKEND";
const TEST_NAME: &str = "an_archiving_process_killed_at_any_moment_loses_nothing";
const KILLS_PER_BACKEND: usize = 12;
const DAYS: [i64; 5] = [6, 5, 4, 3, 2];
const PER_DAY: usize = 3000;
/// The line the child prints before each file operation.
const STEP: &str = "step";

/// The real file operations, each announced on standard output before it is done.
struct Announced;

impl Announced {
    fn announce(&self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{STEP}")?;
        out.flush()
    }
}

impl FileOps for Announced {
    fn create_new(&self, path: &Path) -> std::io::Result<File> {
        self.announce()?;
        RealFiles.create_new(path)
    }
    fn write_all(&self, file: &mut File, data: &[u8]) -> std::io::Result<()> {
        self.announce()?;
        RealFiles.write_all(file, data)
    }
    fn sync_file(&self, file: &File) -> std::io::Result<()> {
        self.announce()?;
        RealFiles.sync_file(file)
    }
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        self.announce()?;
        RealFiles.create_dir_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.announce()?;
        RealFiles.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        self.announce()?;
        RealFiles.sync_dir(path)
    }
}

/// The archiving process: opens the store and archives it, then exits.
fn archiver(dir: &Path, backend: &str) {
    let (_, open) = backend_named(backend);
    let store = open(dir).expect("the archiver opens the store");
    archive_logs_with(store.as_ref(), &options(dir), &Announced, &mut |_| {
        ControlFlow::Continue(())
    })
    .expect("the archiver's run");
}

/// A store ready to archive, closed; returns its entries.
fn prepared(open: Open, dir: &Path) -> Vec<store_core::LogEntry> {
    let store = open(dir).expect("open");
    fill(store.as_ref(), &DAYS, PER_DAY)
}

/// Reads the child's steps until the `kill_at`th, then kills it; or, with `None`, lets it
/// run to the end. Returns the steps it announced and whether it was still running when
/// it was killed.
fn run_archiver(dir: &Path, backend: &str, kill_at: Option<usize>) -> (usize, bool) {
    let mut child = spawn_child(TEST_NAME, backend, CHILD_DIR, dir, CHILD_BACKEND);
    let lines = BufReader::new(child.stdout.take().expect("the child's output")).lines();
    let mut steps = 0;
    for line in lines.map_while(Result::ok) {
        // The test harness prints the test's name in front of the child's first line.
        if line == STEP || line.ends_with(&format!(" {STEP}")) {
            steps += 1;
            if Some(steps) == kill_at {
                break;
            }
        }
    }
    let was_running = kill_at == Some(steps);
    if was_running {
        child.kill().expect("kill the archiver");
    }
    let status = child.wait().expect("reap the archiver");
    if !was_running {
        assert!(status.success(), "{backend}: the archiver failed: {status}");
    }
    (steps, was_running)
}

fn an_archiving_process_killed_at_any_moment_loses_nothing((backend, open): Backend) {
    if let (Some(dir), Ok(backend)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_BACKEND)) {
        return archiver(Path::new(&dir), &backend);
    }
    let whole_run = {
        let dir = tempfile::tempdir().expect("temp dir");
        prepared(open, dir.path());
        run_archiver(dir.path(), backend, None).0
    };
    assert!(
        whole_run > KILLS_PER_BACKEND,
        "{backend}: a whole run takes {whole_run} file operations"
    );

    let mut interrupted = 0;
    for kill in 0..KILLS_PER_BACKEND {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = prepared(open, dir.path());
        // Steps spread over the run, each nudged within its slot.
        let slot = whole_run / KILLS_PER_BACKEND;
        let kill_at = 1 + slot * kill + (kill * 7919) % slot.max(1);
        let (_, was_running) = run_archiver(dir.path(), backend, Some(kill_at));
        interrupted += usize::from(was_running);

        let store = open(dir.path()).expect("the store opens after the kill");
        let options = options(dir.path());
        let present: BTreeSet<LogId> = archived(&options)
            .iter()
            .chain(&all_entries(store.as_ref()))
            .map(|e| e.id)
            .collect();
        assert!(
            original.iter().all(|e| present.contains(&e.id)),
            "{backend}: killed at file operation {kill_at} of {whole_run}, an entry was lost"
        );
        archive_logs(store.as_ref(), &options).expect("the rerun completes");
        assert_exactly_once(store.as_ref(), &options, &original);
    }
    assert_eq!(
        interrupted, KILLS_PER_BACKEND,
        "{backend}: every kill lands during the run"
    );
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES },
    cases: {
        an_archiving_process_killed_at_any_moment_loses_nothing,
    }
);
