//! A process pushing the archive to S3 (the tests' moto server), killed with SIGKILL after
//! each of its requests in turn: after every kill the replica's manifest vouches for every
//! day it names, and the rerun leaves the replica whole and equal to the folder. Its own
//! test binary: the test runs itself again as the pushing process.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::archive_of;
use store_archive::{ArchiveReplica, DayStatus, push_archive, verify_archive, verify_replica};
use store_core::{StoreError, StoreResult};
use store_object::ObjectArchive;
use store_object::harness;

const CHILD_DIR: &str = "NERVE_ARCHIVE_PUSH_DIR";
const TEST_NAME: &str = "a_push_killed_after_each_request_leaves_a_replica_that_vouches";

/// The replica, announcing each request it made on standard output.
struct Announcing(ObjectArchive);

impl Announcing {
    fn said<T>(&self, what: &str, result: StoreResult<T>) -> StoreResult<T> {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "request {what}").and_then(|()| out.flush());
        result
    }
}

impl ArchiveReplica for Announcing {
    fn location(&self) -> String {
        self.0.location()
    }
    fn list(&self) -> StoreResult<Vec<(String, u64)>> {
        self.said("list", self.0.list())
    }
    fn put_file(&self, name: &str, path: &Path) -> StoreResult<()> {
        self.said("put", self.0.put_file(name, path))
    }
    fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> StoreResult<()> {
        self.said("put", self.0.put_bytes(name, bytes))
    }
    fn get(&self, name: &str) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        let got = self.0.get(name);
        self.said("get", got)
    }
    fn remove(&self, names: &[String]) -> StoreResult<()> {
        self.said("remove", self.0.remove(names))
    }
}

/// Runs a pushing process on `dir`'s archive; kills it as it announces its `kill_after`th
/// request (`None`: lets it finish). Returns whether it was killed before it ended.
fn push_in_a_child(dir: &Path, kill_after: Option<usize>) -> bool {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([TEST_NAME, "--exact", "--test-threads", "1", "--nocapture"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the pushing process");
    let lines = BufReader::new(child.stdout.take().expect("its output")).lines();
    let mut requests = 0;
    for line in lines.map_while(Result::ok) {
        if line.contains("request ") {
            requests += 1;
            if Some(requests) == kill_after {
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait().expect("reap it");
    if kill_after.is_none() {
        assert!(status.success(), "the push failed: {status}");
    }
    !status.success()
}

#[test]
fn a_push_killed_after_each_request_leaves_a_replica_that_vouches() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let dir = Path::new(&dir);
        let replica = Announcing(ObjectArchive::open_with(harness::options(dir)).expect("replica"));
        push_archive(&dir.join("archive"), &replica).expect("the push");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let options = archive_of(dir.path(), 5, false);
    let replica = ObjectArchive::open_with(harness::options(dir.path())).expect("replica");
    // A push makes 1 get, 1 list, 5 puts of days, 1 of the manifest and 1 removal.
    let mut landed = 0;
    for kill_after in 1..=8 {
        landed += usize::from(push_in_a_child(dir.path(), Some(kill_after)));
        match verify_replica(&replica) {
            Ok(now) => assert!(
                now.days
                    .iter()
                    .all(|day| matches!(day.status, DayStatus::Sound | DayStatus::NotRecorded)),
                "killed after request {kill_after}: {now:?}"
            ),
            // Killed before its first manifest went up: the replica vouches for nothing yet.
            Err(StoreError::ArchiveManifest { reason, .. })
                if reason.starts_with("there is none") => {}
            Err(other) => panic!("killed after request {kill_after}: {other}"),
        }
    }
    assert!(landed >= 6, "{landed} of 8 kills landed while the push ran");
    push_in_a_child(dir.path(), None);
    let whole = verify_replica(&replica).expect("verify");
    assert!(whole.is_sound(), "{whole:?}");
    let local = verify_archive(&options.dir).expect("verify the folder");
    assert_eq!(
        whole.days.iter().map(|day| day.day).collect::<Vec<_>>(),
        local.days.iter().map(|day| day.day).collect::<Vec<_>>()
    );
}
