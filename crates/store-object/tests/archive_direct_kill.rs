//! A process archiving a SQLite store onto object storage (the tests' moto server), killed
//! with SIGKILL before each of its requests in turn: after every kill no entry is lost (each
//! is in the store or in a day the manifest vouches for), and the rerun leaves every entry
//! exactly once. Its own test binary: the test runs itself again as the archiving process.

mod common;

use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use common::{Announcing, assert_kept, fill, options, replica, run_child_killed_before, vouches};
use store_archive::archive_logs_at;
use store_sqlite::SqliteLogStore;

const CHILD_DIR: &str = "NERVE_ARCHIVE_AT_DIR";
const CHILD_NOW: &str = "NERVE_ARCHIVE_AT_NOW";
const TEST_NAME: &str = "an_archiving_process_killed_before_each_request_loses_nothing";

fn store(dir: &Path) -> SqliteLogStore {
    SqliteLogStore::open(dir.join("nerve.db")).expect("the store")
}

/// Runs an archiving process on `dir`'s store, killed before its `kill_before`th request
/// (`None`: it finishes). Returns whether it was killed.
fn archive_in_a_child(dir: &Path, now: DateTime<Utc>, kill_before: Option<usize>) -> bool {
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([TEST_NAME, "--exact", "--test-threads", "1", "--nocapture"])
        .env(CHILD_DIR, dir)
        .env(CHILD_NOW, now.to_rfc3339())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the archiving process");
    run_child_killed_before(child, kill_before)
}

#[test]
fn an_archiving_process_killed_before_each_request_loses_nothing() {
    if let (Some(dir), Ok(now)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_NOW)) {
        let dir = Path::new(&dir);
        let now = DateTime::parse_from_rfc3339(&now).expect("a time").to_utc();
        let s3 = Announcing(replica(dir));
        archive_logs_at(&store(dir), &options(dir, now), &s3, &mut |_| {
            ControlFlow::Continue(())
        })
        .expect("the archive run");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let now = Utc::now();
    let original = fill(&store(dir.path()), now, 5, 400);
    let s3 = replica(dir.path());
    // A run makes 12 requests: the manifest, a listing, and 5 days uploaded and named.
    let mut landed = 0;
    for kill_after in 1..=12 {
        landed += usize::from(archive_in_a_child(dir.path(), now, Some(kill_after)));
        assert!(vouches(&s3), "killed after request {kill_after}");
        assert_kept(&store(dir.path()), &s3, &original, false);
    }
    assert!(
        landed >= 6,
        "{landed} of 12 kills landed while the run went on"
    );
    archive_in_a_child(dir.path(), now, None);
    assert_kept(&store(dir.path()), &s3, &original, true);
    assert!(vouches(&s3));
}
