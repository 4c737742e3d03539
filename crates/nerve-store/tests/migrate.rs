//! `migrate` copies a whole store to the other backend, ids kept, and proves it by the
//! content digest; it refuses a target that is not empty.

use std::ops::ControlFlow;
use std::path::Path;

use nerve_store::{Backend, Location, Store, StoreError, migrate, summarise};
use store_conformance::import::{observed, varied_source};

fn sqlite(dir: &Path) -> Store {
    let location: Location = format!("sqlite:{}", dir.join("nerve.db").display())
        .parse()
        .expect("a location");
    let log =
        store_sqlite::SqliteLogStore::open(location.file().expect("a file")).expect("sqlite log");
    let blobs = store_sqlite::SqliteBlobStore::open(location.blob_file().expect("a blob file"))
        .expect("sqlite blobs");
    Store::new(Box::new(log), Box::new(blobs), location)
}

fn redb(dir: &Path) -> Store {
    let location: Location = format!("redb:{}", dir.join("nerve.redb").display())
        .parse()
        .expect("a location");
    assert_eq!(location.backend, Backend::Redb);
    let log = store_redb::RedbLogStore::open(location.file().expect("a file")).expect("redb log");
    let blobs = store_redb::RedbBlobStore::open(location.blob_file().expect("a blob file"))
        .expect("redb blobs");
    Store::new(Box::new(log), Box::new(blobs), location)
}

/// A location in `dir` of a backend the facade is built with, so that `open` and `backup`
/// can open it: SQLite, else redb, else PostgreSQL.
fn built_location(dir: &Path) -> String {
    if cfg!(feature = "sqlite") {
        format!("sqlite:{}", dir.join("target.db").display())
    } else if cfg!(feature = "redb") {
        format!("redb:{}", dir.join("target.redb").display())
    } else {
        store_postgres::harness::options(dir).location()
    }
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
    let summary = migrate(&first, &middle, &mut |n| {
        heard.push(n);
        ControlFlow::Continue(())
    })
    .expect("sqlite to redb");
    let last = sqlite(dirs[2].path());
    let back = migrate(&middle, &last, &mut |_| ControlFlow::Continue(())).expect("redb to sqlite");

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
    let err = migrate(&source, &target, &mut |_| ControlFlow::Continue(()))
        .expect_err("a target with content");
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

/// A source that a daemon writes while it is copied (here: a second handle on the same
/// file, writing at every page) is copied as it was when the copy began, and the copy is
/// verified against that snapshot: nothing written after it is in the copy, and the source
/// keeps it.
fn a_source_written_during_the_copy_is_copied_as_it_was_when_the_copy_began(
    open_source: fn(&Path) -> Store,
    open_daemon: fn(&Path) -> Box<dyn nerve_store::LogBackend>,
) {
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let source = open_source(dirs[0].path());
    varied_source(source.log.as_ref());
    let at_start = summarise(&source).expect("the source before the copy");
    let daemon = open_daemon(dirs[0].path());
    let target = redb(dirs[1].path());
    let mut pages = 0;
    let summary = migrate(&source, &target, &mut |_| {
        pages += 1;
        daemon
            .meta_set("daemon.late", "written during the copy")
            .expect("the daemon writes on");
        daemon
            .append(nerve_store::NewLogEntry::new("daemon", "late", "{}"))
            .expect("the daemon appends");
        ControlFlow::Continue(())
    })
    .expect("a copy of the snapshot");
    assert!(pages > 0);
    assert_eq!(summary, at_start, "the copy holds the source as it was");
    assert_eq!(summarise(&target).expect("the copy"), at_start);
    assert_eq!(target.log.meta_get("daemon.late").expect("meta"), None);
    assert_eq!(
        source.log.meta_get("daemon.late").expect("meta").as_deref(),
        Some("written during the copy"),
        "the source kept what the daemon wrote"
    );
}

#[test]
fn a_live_sqlite_source_is_copied_as_one_snapshot() {
    a_source_written_during_the_copy_is_copied_as_it_was_when_the_copy_began(sqlite, |dir| {
        Box::new(store_sqlite::SqliteLogStore::open(dir.join("nerve.db")).expect("a daemon"))
    });
}

#[test]
fn a_live_redb_source_is_copied_as_one_snapshot() {
    a_source_written_during_the_copy_is_copied_as_it_was_when_the_copy_began(redb, |dir| {
        Box::new(store_redb::RedbLogStore::open(dir.join("nerve.redb")).expect("a daemon"))
    });
}

/// A copy stopped part way (its progress answered `Break`, as on Ctrl-C) is `Interrupted`
/// and leaves the target marked incomplete: `open` refuses it, naming the source, until it
/// is removed; `allow_incomplete` opens it to look into it.
#[test]
fn an_interrupted_copy_is_marked_incomplete_and_refused_by_open() {
    use nerve_store::{INCOMPLETE_KEY, OpenOptions};
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let source = sqlite(dirs[0].path());
    let entries = (0..25_000)
        .map(|i| nerve_store::NewLogEntry::new("s", "k", i.to_string()))
        .collect();
    source
        .log
        .append_batch(entries)
        .expect("three pages of entries");
    let location = built_location(dirs[1].path());
    let target = nerve_store::open(&location).expect("a target");
    let err = migrate(&source, &target, &mut |copied| {
        if copied >= 10_000 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect_err("stopped after the first page");
    assert!(
        matches!(
            err,
            StoreError::Interrupted {
                operation: "migrate"
            }
        ),
        "{err}"
    );
    assert_eq!(
        target
            .log
            .meta_get(INCOMPLETE_KEY)
            .expect("meta")
            .as_deref(),
        Some(source.location.to_string().as_str())
    );
    drop(target);
    let err = nerve_store::open(&location).expect_err("an incomplete copy");
    assert!(
        matches!(&err, StoreError::IncompleteCopy { source_location, .. }
            if *source_location == source.location.to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("incomplete copy"), "{err}");
    let opened = nerve_store::open_with(&location, &OpenOptions::default().allow_incomplete(true))
        .expect("opened to look into it");
    assert_eq!(
        opened.log.log_stats().expect("stats").entries,
        10_000,
        "the first page"
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
    let summary = migrate(&from, &to, &mut |_| ControlFlow::Continue(())).expect("migrate");
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

/// A copy stopped part way (its progress answered `Break` after the first page of entries,
/// then again among the runs) is finished by `resume_migrate`: entries go on after the last
/// one the target holds, runs it holds are not copied twice, and the result is verified
/// whole; the mark is gone. Resuming from another store, or a target that is not an
/// incomplete copy, is refused.
#[test]
fn an_interrupted_copy_is_finished_by_resume_migrate() {
    use nerve_store::{INCOMPLETE_KEY, RunTransition, WorkflowRunStatus, resume_migrate};
    let (dirs, source) = source_with_entries(3, 25_000);
    for r in 0..30 {
        source
            .log
            .transition_run(RunTransition::new(
                format!("run-{r}"),
                "wf",
                WorkflowRunStatus::Started,
            ))
            .expect("a run");
    }
    let target = redb(dirs[1].path());
    let stop_at = |at: u64| {
        move |copied: u64| {
            if copied >= at {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    };
    migrate(&source, &target, &mut stop_at(10_000)).expect_err("stopped after a page");
    assert_eq!(target.log.log_stats().expect("stats").entries, 10_000);
    // Stopped again, after the next page.
    resume_migrate(&source, &target, &mut stop_at(10_000)).expect_err("stopped again");
    assert_eq!(target.log.log_stats().expect("stats").entries, 20_000);

    let other = sqlite(dirs[2].path());
    let err = resume_migrate(&other, &target, &mut |_| ControlFlow::Continue(()))
        .expect_err("a copy of another store");
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err}");
    assert!(err.to_string().contains("resume it from"), "{err}");

    let summary = resume_migrate(&source, &target, &mut |_| ControlFlow::Continue(()))
        .expect("the copy finished");
    assert_eq!(summary, summarise(&source).expect("the source's summary"));
    assert_eq!(target.log.meta_get(INCOMPLETE_KEY).expect("meta"), None);
    assert_eq!(
        target.log.log_stats().expect("stats"),
        source.log.log_stats().expect("stats")
    );
    let err = resume_migrate(&source, &target, &mut |_| ControlFlow::Continue(()))
        .expect_err("nothing to resume");
    assert!(err.to_string().contains("nothing to resume"), "{err}");
}

/// A source that moved on, where the copy had already been, since the copy began: the
/// resumed copy fails its verification rather than passing for a copy, and stays marked.
#[test]
fn a_resumed_copy_of_a_source_that_changed_fails_its_verification() {
    use nerve_store::{INCOMPLETE_KEY, RunTransition, WorkflowRunStatus, resume_migrate};
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let source = sqlite(dirs[0].path());
    source
        .log
        .transition_run(RunTransition::new("run", "wf", WorkflowRunStatus::Started))
        .expect("a run");
    let target = redb(dirs[1].path());
    // Stopped after the runs went over, at the verification.
    let mut asked = 0;
    migrate(&source, &target, &mut |_| {
        asked += 1;
        if target_has_the_run(&target) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect_err("stopped");
    assert!(asked > 0);
    source
        .log
        .transition_run(RunTransition::new(
            "run",
            "wf",
            WorkflowRunStatus::Completed,
        ))
        .expect("the run moves on");
    let err = resume_migrate(&source, &target, &mut |_| ControlFlow::Continue(()))
        .expect_err("the copy no longer matches");
    assert!(matches!(err, StoreError::CopyMismatch { .. }), "{err}");
    assert!(target.log.meta_get(INCOMPLETE_KEY).expect("meta").is_some());
}

/// `folders` temporary folders, and in the first a SQLite store of `entries` entries.
fn source_with_entries(folders: usize, entries: usize) -> (Vec<tempfile::TempDir>, Store) {
    let dirs: Vec<_> = (0..folders)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let source = sqlite(dirs[0].path());
    let batch = (0..entries)
        .map(|i| nerve_store::NewLogEntry::new("s", "k", i.to_string()))
        .collect();
    source.log.append_batch(batch).expect("entries");
    (dirs, source)
}

fn target_has_the_run(target: &Store) -> bool {
    target.log.get_run("run").ok().flatten().is_some()
}

/// `backup` asks its caller once more after the copy's own check, which cannot stop part
/// way, so that Ctrl-C during that check is honoured: stopped there, it is `Interrupted` and
/// leaves nothing at the target.
#[test]
fn a_backup_asked_to_stop_during_its_check_stops_and_leaves_nothing() {
    let (dirs, source) = source_with_entries(3, 100);
    let mut copy_asks = 0;
    migrate(&source, &redb(dirs[1].path()), &mut |_| {
        copy_asks += 1;
        ControlFlow::Continue(())
    })
    .expect("a copy");
    let to = built_location(dirs[2].path());
    let mut asks = 0;
    let err = nerve_store::backup(&source, &to, &mut |_| {
        asks += 1;
        if asks > copy_asks {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect_err("stopped after the check");
    assert_eq!(asks, copy_asks + 1, "one question after the copy's");
    assert!(
        matches!(
            err,
            StoreError::Interrupted {
                operation: "backup"
            }
        ),
        "{err}"
    );
    let left = nerve_store::open_read_only(&to).map(|_| ());
    assert!(
        matches!(left, Err(StoreError::NoStore { .. })),
        "nothing left: {left:?}"
    );
}

/// A copy of a store into its own files is refused before anything is written, by
/// `migrate` and by `resume_migrate`.
#[test]
fn a_copy_into_its_own_files_is_refused() {
    let (dirs, source) = source_with_entries(1, 10);
    let same = sqlite(dirs[0].path());
    for err in [
        migrate(&source, &same, &mut |_| ControlFlow::Continue(())).expect_err("itself"),
        nerve_store::resume_migrate(&source, &same, &mut |_| ControlFlow::Continue(()))
            .expect_err("itself"),
    ] {
        assert!(matches!(err, StoreError::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains("are the same files"), "{err}");
    }
    assert_eq!(source.log.log_stats().expect("stats").entries, 10);
}
