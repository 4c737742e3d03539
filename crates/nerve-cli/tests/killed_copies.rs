//! `migrate` and `backup` killed (SIGKILL) at 200 moments of their run, into SQLite and
//! redb targets: afterwards no target opens as a store unless it is whole (its content
//! digest is the source's); every other target is absent or refused, an incomplete copy
//! among them refused as one, and the command line says so too.
//!
//! Then the same command is run again on every target that is not whole, and finishes it:
//! a rerun recognises its own leftover and resumes it, verified.
//!
//! The moments are events of the run seen from outside, not times: the process started;
//! the target's file, then its blob file, appeared; the target's files grew past a fraction
//! of their final size (from one whole run of the same kind); the run ended by itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_nerve-store");
const KILLS: usize = 200;
/// How long a run may take before the test gives up on it: a hang, not a slow machine.
const PATIENCE: Duration = Duration::from_secs(120);

/// A store's file and its blob file, with SQLite's write-ahead log counted in.
fn size(file: &Path) -> u64 {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    [file.to_owned(), PathBuf::from(wal)]
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

fn blob_file(file: &Path) -> PathBuf {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("nerve");
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("db");
    file.with_file_name(format!("{stem}.blobs.{extension}"))
}

/// The command that copies `source` to `target` (`migrate`, or `backup` when `backup`).
fn command(source: &str, target: &str, backup: bool, dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    if backup {
        command.args(["--store", source, "backup", "--to", target]);
    } else {
        command.args(["migrate", "--from", source, "--to", target]);
    }
    command.current_dir(dir);
    command
}

/// The copy, started.
fn spawn(source: &str, target: &str, backup: bool, dir: &Path) -> Child {
    command(source, target, backup, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the command starts")
}

/// The copy, run to its end.
fn spawn_output(source: &str, target: &str, backup: bool, dir: &Path) -> std::process::Output {
    command(source, target, backup, dir)
        .output()
        .expect("the command runs")
}

/// What the test waits for before the kill.
#[derive(Clone, Copy, Debug)]
enum Moment {
    Started,
    FileExists,
    BlobFileExists,
    /// The target's file past `n`/5 of its final size.
    FileGrown(u64),
    /// The blob file past `n`/4 of its final size.
    BlobsGrown(u64),
    /// Not killed: the run ends by itself.
    Ended,
}

const MOMENTS: [Moment; 10] = [
    Moment::Started,
    Moment::FileExists,
    Moment::BlobFileExists,
    Moment::FileGrown(1),
    Moment::FileGrown(2),
    Moment::FileGrown(4),
    Moment::BlobsGrown(1),
    Moment::BlobsGrown(2),
    Moment::BlobsGrown(3),
    Moment::Ended,
];

/// Runs the copy and kills it at `moment`; whether it was still running when killed.
fn run_until(mut child: Child, target: &Path, moment: Moment, whole: (u64, u64)) -> bool {
    let blobs = blob_file(target);
    let started = Instant::now();
    loop {
        if child.try_wait().expect("poll the command").is_some() {
            return false;
        }
        let reached = match moment {
            Moment::Started => true,
            Moment::FileExists => target.exists(),
            Moment::BlobFileExists => blobs.exists(),
            Moment::FileGrown(n) => size(target) * 5 >= whole.0 * n,
            Moment::BlobsGrown(n) => size(&blobs) * 4 >= whole.1 * n,
            Moment::Ended => false,
        };
        if reached {
            child.kill().expect("kill the command");
            child.wait().expect("reap it");
            return true;
        }
        assert!(started.elapsed() < PATIENCE, "the copy hangs");
        std::thread::yield_now();
    }
}

#[test]
fn a_copy_killed_at_any_moment_is_whole_or_plainly_not_a_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = format!("sqlite:{}", dir.path().join("source.db").display());
    let made = Command::new(BINARY)
        .args([
            "--store", &source, "simulate", "--runs", "150", "--seed", "5",
        ])
        .current_dir(dir.path())
        .output()
        .expect("simulate");
    assert!(made.status.success(), "{made:?}");
    let digest = nerve_store::summarise(&nerve_store::open_read_only(&source).expect("source"))
        .expect("the source's summary")
        .digest;

    // The final sizes of each kind of target, from one whole run.
    let kinds = [
        ("sqlite", "db", false),
        ("redb", "redb", false),
        ("sqlite", "db", true),
        ("redb", "redb", true),
    ];
    let finals: Vec<(u64, u64)> = kinds
        .iter()
        .enumerate()
        .map(|(i, (backend, extension, backup))| {
            let file = dir.path().join(format!("whole-{i}.{extension}"));
            let target = format!("{backend}:{}", file.display());
            let status = spawn(&source, &target, *backup, dir.path())
                .wait()
                .expect("wait");
            assert!(status.success(), "{target}: a whole copy");
            (size(&file), size(&blob_file(&file)))
        })
        .collect();

    let (mut whole, mut absent, mut incomplete, mut refused, mut killed) = (0, 0, 0, 0, 0);
    let mut resumed = 0;
    for kill in 0..KILLS {
        let kind = kill % kinds.len();
        let (backend, extension, backup) = kinds[kind];
        let moment = MOMENTS[(kill / kinds.len()) % MOMENTS.len()];
        let file = dir.path().join(format!("copy-{kill}.{extension}"));
        let target = format!("{backend}:{}", file.display());
        let child = spawn(&source, &target, backup, dir.path());
        killed += usize::from(run_until(child, &file, moment, finals[kind]));

        let stats = Command::new(BINARY)
            .args(["--store", &target, "stats"])
            .current_dir(dir.path())
            .output()
            .expect("stats");
        let stderr = String::from_utf8_lossy(&stats.stderr).into_owned();
        match nerve_store::open_read_only(&target) {
            Ok(store) => {
                let found = nerve_store::summarise(&store).expect("a summary").digest;
                assert_eq!(
                    found, digest,
                    "{target} ({moment:?}, backup {backup}) opens, so it must be whole"
                );
                assert!(stats.status.success(), "{target}: {stderr}");
                whole += 1;
            }
            Err(err) => {
                assert!(
                    !stats.status.success(),
                    "{target} ({moment:?}) does not open ({err}), yet stats succeeded"
                );
                assert_eq!(stderr.lines().count(), 1, "{target}: one line: {stderr}");
                // The same command again finishes the copy, from its leftover.
                let again = spawn_output(&source, &target, backup, dir.path());
                assert!(
                    again.status.success(),
                    "{target} ({moment:?}, backup {backup}, {err}): the rerun finishes it: {}",
                    String::from_utf8_lossy(&again.stderr)
                );
                let store = nerve_store::open_read_only(&target).expect("whole after the rerun");
                let found = nerve_store::summarise(&store).expect("a summary").digest;
                assert_eq!(found, digest, "{target}: the rerun's copy is whole");
                resumed += 1;
                match err {
                    nerve_store::StoreError::NoStore { .. } => absent += 1,
                    nerve_store::StoreError::IncompleteCopy { .. } => {
                        assert!(stderr.contains("incomplete"), "{target}: {stderr}");
                        incomplete += 1;
                    }
                    other => {
                        if std::env::var_os("KILLED_COPIES_VERBOSE").is_some() {
                            eprintln!("{moment:?} {target}: {other} | {stderr}");
                        }
                        refused += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "{KILLS} copies, {killed} killed while they ran: {whole} whole, {absent} absent, \
         {incomplete} refused as incomplete, {refused} refused otherwise; {resumed} finished \
         by a rerun of the same command"
    );
    assert!(
        killed >= KILLS / 2,
        "most copies were killed while they ran"
    );
    assert!(
        incomplete > 0 && whole > 0,
        "both ends of a copy were reached"
    );
}
