//! `migrate` copies a whole store to the other backend, ids kept, and proves it by the
//! content digest; it refuses a target that is not empty.

use std::path::Path;

use nerve_store::{Backend, Location, Store, StoreError, migrate, summarise};
use store_core::conformance::import::{observed, varied_source};

fn sqlite(dir: &Path) -> Store {
    let location: Location = format!("sqlite:{}", dir.join("nerve.db").display())
        .parse()
        .expect("a location");
    let log = store_sqlite::SqliteLogStore::open(&location.path).expect("sqlite log");
    let blobs = store_sqlite::SqliteBlobStore::open(location.blob_path()).expect("sqlite blobs");
    Store::new(Box::new(log), Box::new(blobs), location)
}

fn redb(dir: &Path) -> Store {
    let location: Location = format!("redb:{}", dir.join("nerve.redb").display())
        .parse()
        .expect("a location");
    assert_eq!(location.backend, Backend::Redb);
    let log = store_redb::RedbLogStore::open(&location.path).expect("redb log");
    let blobs = store_redb::RedbBlobStore::open(location.blob_path()).expect("redb blobs");
    Store::new(Box::new(log), Box::new(blobs), location)
}

#[test]
fn sqlite_to_redb_to_sqlite_keeps_every_entry_run_thread_meta_and_blob() {
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let first = sqlite(dirs[0].path());
    varied_source(first.log.as_ref());
    for size in [0, 10, 300_000] {
        first.blobs.write(&vec![7u8; size]).expect("a blob");
    }
    let middle = redb(dirs[1].path());
    let mut heard = Vec::new();
    let summary = migrate(&first, &middle, &mut |n| heard.push(n)).expect("sqlite to redb");
    let last = sqlite(dirs[2].path());
    let back = migrate(&middle, &last, &mut |_| {}).expect("redb to sqlite");

    assert_eq!(
        back, summary,
        "the same counts and content digest after the round trip"
    );
    assert_eq!(summarise(&first).expect("summary"), summary);
    assert_eq!((summary.blobs, summary.runs), (3, 3));
    assert_eq!(heard.last().copied(), Some(summary.entries));
    assert_eq!(observed(last.log.as_ref()), observed(first.log.as_ref()));
    for digest in first.blobs.list().expect("list") {
        assert_eq!(
            last.blobs.read(&digest).expect("read"),
            first.blobs.read(&digest).expect("read")
        );
    }
}

#[test]
fn a_target_that_is_not_empty_is_refused_and_left_alone() {
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let source = sqlite(dirs[0].path());
    varied_source(source.log.as_ref());
    let target = redb(dirs[1].path());
    target.blobs.write(b"already here").expect("a blob");
    let before = summarise(&target).expect("summary");
    let err = migrate(&source, &target, &mut |_| {}).expect_err("a target with content");
    assert!(
        matches!(
            &err,
            StoreError::InvalidInput {
                field: "target",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(summarise(&target).expect("summary"), before);
}

#[test]
fn the_digest_tells_stores_apart() {
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let one = sqlite(dirs[0].path());
    let other = redb(dirs[1].path());
    varied_source(one.log.as_ref());
    varied_source(other.log.as_ref());
    assert_eq!(
        summarise(&one).expect("one"),
        summarise(&other).expect("other"),
        "same content, same digest"
    );
    other.log.meta_set("k", "changed").expect("one change");
    assert_ne!(
        summarise(&one).expect("one").digest,
        summarise(&other).expect("other").digest
    );
}

/// A source that changes while it is copied (here: a meta key written after the meta table
/// was read, as a running daemon would) does not match its copy: `CopyMismatch`, naming the
/// target.
#[test]
fn a_source_that_changes_during_the_copy_is_a_copy_mismatch_naming_the_target() {
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let live = nerve_store::MemoryLogStore::new();
    varied_source(&live);
    let location: Location = format!("sqlite:{}", dirs[0].path().join("live.db").display())
        .parse()
        .expect("a location");
    let blobs = nerve_store::FsBlobStore::open(dirs[0].path().join("blobs")).expect("blobs");
    let source = Store::new(Box::new(live.clone()), Box::new(blobs), location);
    let target = redb(dirs[1].path());
    let err = migrate(&source, &target, &mut |_| {
        nerve_store::LogStore::meta_set(&live, "daemon.late", "written during the copy")
            .expect("the daemon writes on");
    })
    .expect_err("the copy cannot match a source that moved");
    let named = target.location.to_string();
    assert!(
        matches!(&err, StoreError::CopyMismatch { target, .. } if *target == named),
        "{err}"
    );
    assert!(
        err.to_string().contains("does not match its source"),
        "{err}"
    );
}

/// Runs go over a page of 10,000 at a time: a store with more runs than a page arrives
/// whole, every run as it was, in the same order.
#[test]
fn more_runs_than_a_page_all_arrive() {
    use nerve_store::{RunQuery, RunTransition, WorkflowRunStatus, WriteUnit};
    const RUNS: usize = 10_050;
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let from = sqlite(dirs[0].path());
    let unit: WriteUnit = (0..RUNS)
        .map(|i| {
            nerve_store::Write::Transition(RunTransition::new(
                format!("run-{i:05}"),
                "wf",
                WorkflowRunStatus::Queued,
            ))
        })
        .collect();
    from.log.write_unit(unit).expect("the runs");
    let to = redb(dirs[1].path());
    let summary = migrate(&from, &to, &mut |_| {}).expect("migrate");
    assert_eq!(summary.runs, RUNS as u64);
    let all = RunQuery {
        limit: Some(usize::MAX),
        ..RunQuery::default()
    };
    assert_eq!(
        to.log.list_runs(&all).expect("runs"),
        from.log.list_runs(&all).expect("runs")
    );
}
