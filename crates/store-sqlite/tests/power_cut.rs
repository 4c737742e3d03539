//! A power cut under a SQLite store at its default durability: the store's process runs with
//! `tests/powercut.c` preloaded, which copies each file of the store's folder aside every
//! time it is synced; after the process is killed, each file is put back to its last synced
//! copy (a file that was never synced is removed), as a power cut leaves a disk that loses
//! every write not yet synced. Every call that returned must be there.
//!
//! The shim is built with the system's C compiler (`cc`) when the test runs; without one
//! the test fails and says so.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use store_conformance::all_entries;
use store_core::{LogId, LogStore, NewLogEntry};
use store_sqlite::SqliteLogStore;

const CHILD_ENV: &str = "NERVE_POWERCUT_CHILD";
const TEST_NAME: &str = "a_power_cut_under_eight_writer_threads_loses_no_call_that_returned";
const THREADS: usize = 8;
const TRIALS: u64 = 6;

/// The writers: eight threads append until the process is killed, printing `ok <id> <tag>`
/// after each append returns.
fn writers(dir: &Path) {
    let store = SqliteLogStore::open(dir.join("nerve.db")).expect("the child opens the store");
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let store = &store;
            scope.spawn(move || {
                for n in 0u64.. {
                    let tag = format!("{thread}-{n}");
                    let Ok(entry) = store.append(NewLogEntry::new("w", "note", &tag)) else {
                        return;
                    };
                    let mut out = std::io::stdout().lock();
                    let line = format!("ok {} {tag}\n", entry.id);
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

/// Builds the shim into `dir` and returns its path.
fn build_shim(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/powercut.c");
    let shim = dir.join("powercut.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&shim)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("this test needs a C compiler (`cc`, Debian's gcc) to build its shim");
    assert!(status.success(), "building {}", source.display());
    shim
}

/// Puts every file of `dir` back to its last synced copy, and removes what was never synced.
fn restore_synced(dir: &Path) {
    let names: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list the store's folder")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    for path in &names {
        let name = path.to_string_lossy();
        if name.ends_with(".synced") || name.ends_with(".partial") {
            continue;
        }
        let synced = PathBuf::from(format!("{name}.synced"));
        if synced.exists() {
            std::fs::rename(&synced, path).expect("put back the synced copy");
        } else {
            std::fs::remove_file(path).expect("remove a file never synced");
        }
    }
    for path in names {
        let _ = std::fs::remove_file(format!("{}.synced.partial", path.display()));
    }
}

/// A splitmix64 step: the trials' kill points, the same on every run.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Eight writer threads at the default durability, the power cut after a number of
/// acknowledged appends chosen per trial: after the cut every entry whose append returned
/// is there, under its id and with its payload, no id is given twice, and the store takes
/// writes.
#[test]
fn a_power_cut_under_eight_writer_threads_loses_no_call_that_returned() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return writers(Path::new(&dir));
    }
    let build = tempfile::tempdir().expect("a folder for the shim");
    let shim = build_shim(build.path());
    let exe = std::env::current_exe().expect("the test binary");
    let mut seed = 0x00c0_ffee_u64;
    for trial in 0..TRIALS {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("store");
        std::fs::create_dir(&dir).expect("the store's folder");
        drop(SqliteLogStore::open(dir.join("nerve.db")).expect("create the store"));
        // What the parent created is on the disk: it counts as synced.
        std::fs::copy(dir.join("nerve.db"), dir.join("nerve.db.synced")).expect("copy");
        let mut child = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, &dir)
            .env("POWERCUT_DIR", &dir)
            .env("LD_PRELOAD", &shim)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the writers");
        let cut_after = 20 + (next(&mut seed) % 300) as usize;
        let mut returned: Vec<(u64, String)> = Vec::new();
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let read = |line: String, returned: &mut Vec<(u64, String)>| {
            let mut words = line.split(' ');
            if let (Some("ok"), Some(id), Some(tag)) = (words.next(), words.next(), words.next())
                && let Ok(id) = id.parse()
            {
                returned.push((id, tag.to_owned()));
            }
        };
        while returned.len() < cut_after {
            match lines.next() {
                Some(Ok(line)) => read(line, &mut returned),
                _ => panic!("trial {trial}: the writers stopped before the cut"),
            }
        }
        child.kill().expect("cut the power");
        for line in lines.map_while(Result::ok) {
            read(line, &mut returned);
        }
        child.wait().expect("reap the writers");

        restore_synced(&dir);
        let store = SqliteLogStore::open(dir.join("nerve.db"))
            .unwrap_or_else(|err| panic!("trial {trial}: the store opens after the cut: {err}"));
        let log = all_entries(&store);
        let mut ids: Vec<LogId> = log.iter().map(|entry| entry.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), log.len(), "trial {trial}: no id twice");
        for (id, tag) in &returned {
            assert!(
                log.iter()
                    .any(|entry| entry.id.0 == *id && entry.payload == *tag),
                "trial {trial}: entry {id} ({tag}) returned before the cut and is gone \
                 ({} of {} returned entries are there)",
                returned
                    .iter()
                    .filter(|(id, _)| log.iter().any(|e| e.id.0 == *id))
                    .count(),
                returned.len()
            );
        }
        let after = store
            .append(NewLogEntry::new("s", "k", "after"))
            .expect("the store takes writes after the cut");
        assert!(log.iter().all(|entry| entry.id < after.id), "trial {trial}");
    }
}
