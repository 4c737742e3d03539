//! A process pushing the archive to S3 (the tests' moto server), killed with SIGKILL before
//! each of its requests in turn: after every kill the replica's manifest vouches for every
//! day it names, and the rerun leaves the replica whole and equal to the folder. Its own
//! test binary: the test runs itself again as the pushing process.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Announcing, archive_of, run_child_killed_before};
use store_archive::{DayStatus, push_archive, verify_archive, verify_replica};
use store_core::StoreError;
use store_object::ObjectArchive;
use store_object::harness;

const CHILD_DIR: &str = "NERVE_ARCHIVE_PUSH_DIR";
const TEST_NAME: &str = "a_push_killed_before_each_request_leaves_a_replica_that_vouches";

/// Runs a pushing process on `dir`'s archive, killed before its `kill_before`th request
/// (`None`: it finishes). Returns whether it was killed.
fn push_in_a_child(dir: &Path, kill_before: Option<usize>) -> bool {
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([TEST_NAME, "--exact", "--test-threads", "1", "--nocapture"])
        .env(CHILD_DIR, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the pushing process");
    run_child_killed_before(child, kill_before)
}

#[test]
fn a_push_killed_before_each_request_leaves_a_replica_that_vouches() {
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
    for kill_before in 1..=9 {
        landed += usize::from(push_in_a_child(dir.path(), Some(kill_before)));
        match verify_replica(&replica) {
            Ok(now) => assert!(
                now.days
                    .iter()
                    .all(|day| matches!(day.status, DayStatus::Sound | DayStatus::NotRecorded)),
                "killed before request {kill_before}: {now:?}"
            ),
            // Killed before its first manifest went up: the replica vouches for nothing yet.
            Err(StoreError::ArchiveManifest { reason, .. })
                if reason.starts_with("there is none") => {}
            Err(other) => panic!("killed before request {kill_before}: {other}"),
        }
    }
    assert!(landed >= 6, "{landed} of 9 kills landed while the push ran");
    push_in_a_child(dir.path(), None);
    let whole = verify_replica(&replica).expect("verify");
    assert!(whole.is_sound(), "{whole:?}");
    let local = verify_archive(&options.dir).expect("verify the folder");
    assert_eq!(
        whole.days.iter().map(|day| day.day).collect::<Vec<_>>(),
        local.days.iter().map(|day| day.day).collect::<Vec<_>>()
    );
}
