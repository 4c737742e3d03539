//! What `archive_logs` moves and what it leaves, on every backend: eligibility, the line
//! format, late arrivals, dry runs, vacuum, progress; and the reader's errors.

mod common;

use std::ops::ControlFlow;

use common::{
    Backend, POSTGRES, REDB, SQLITE, assert_exactly_once, day, days_ago, fill, options, watermark,
};
use store_archive::{Progress, archive_logs, archive_logs_with_progress, read_archive};
use store_conformance::all_entries;
use store_core::{NewLogEntry, RunTransition, StoreError, WorkflowRunStatus};

fn complete_days_older_than_the_retention_move_and_the_rest_stays((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &[40, 31, 30, 2, 0], 20);
    let options = store_archive::ArchiveOptions {
        retain_days: 30,
        ..options(dir.path())
    };
    let report = archive_logs(store.as_ref(), &options).expect("archive");

    let moved: Vec<_> = report.days.iter().map(|d| d.day).collect();
    assert_eq!(
        moved,
        vec![day(40), day(31)],
        "{backend}: only days more than 30 days old"
    );
    assert_eq!(report.rows, 42, "{backend}: 21 entries a day");
    assert_eq!(report.cutoff, Some(day(30)));
    assert!(
        all_entries(store.as_ref())
            .iter()
            .all(|e| e.ts >= days_ago(30)),
        "{backend}"
    );
    assert_eq!(
        watermark(store.as_ref()).as_deref(),
        Some(day(31).to_string().as_str())
    );
    assert_exactly_once(store.as_ref(), &options, &original);
    for day_report in &report.days {
        let size = std::fs::metadata(&day_report.file)
            .expect("the day's file")
            .len();
        assert_eq!(
            size, day_report.bytes,
            "{backend}: the report counts the file's bytes"
        );
    }
    assert_eq!(
        report.bytes,
        report.days.iter().map(|d| d.bytes).sum::<u64>()
    );

    let again = archive_logs(store.as_ref(), &options).expect("a second run");
    assert!(again.days.is_empty(), "{backend}: nothing left to move");
}

fn today_and_the_days_of_active_runs_stay((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &[5, 4, 3, 0], 5);
    store
        .transition_run(
            RunTransition::new("resumable", "wf", WorkflowRunStatus::Started).at(days_ago(4)),
        )
        .expect("a run started 4 days ago, still active");
    let mut original = original;
    original.extend(
        all_entries(store.as_ref())
            .into_iter()
            .filter(|e| e.source == "workflow"),
    );
    let report = archive_logs(store.as_ref(), &options(dir.path())).expect("archive");
    let moved: Vec<_> = report.days.iter().map(|d| d.day).collect();
    assert_eq!(
        moved,
        vec![day(5)],
        "{backend}: days from the active run's creation on stay"
    );
    assert_exactly_once(store.as_ref(), &options(dir.path()), &original);

    store
        .transition_run(
            RunTransition::new("resumable", "wf", WorkflowRunStatus::Completed).at(days_ago(4)),
        )
        .expect("the run ends");
    original.extend(
        all_entries(store.as_ref())
            .into_iter()
            .filter(|e| e.source == "workflow")
            .skip(1),
    );
    let report = archive_logs(store.as_ref(), &options(dir.path())).expect("archive again");
    let moved: Vec<_> = report.days.iter().map(|d| d.day).collect();
    assert_eq!(
        moved,
        vec![day(4), day(3)],
        "{backend}: with no active run, all but today"
    );
    assert!(
        all_entries(store.as_ref())
            .iter()
            .all(|e| e.ts >= days_ago(0))
    );
    assert_exactly_once(store.as_ref(), &options(dir.path()), &original);
}

fn each_line_is_one_entry_as_the_spec_writes_it_in_id_order((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let entries = fill(store.as_ref(), &[3], 30);
    archive_logs(store.as_ref(), &options(dir.path())).expect("archive");
    let file = dir
        .path()
        .join("archive/logs")
        .join(format!("{}.jsonl", day(3)));
    let text = std::fs::read_to_string(&file).expect("the day file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), entries.len(), "{backend}");
    let first = &entries[0];
    let expected = format!(
        r#"{{"id":{},"source":"worker","type":"tick","refId":"{}","payload":"{}","ts":"{}"}}"#,
        first.id,
        first.ref_id.as_deref().expect("a ref"),
        first.payload.replace('"', "\\\""),
        first
            .ts
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    assert_eq!(lines[0], expected, "{backend}");
    let ids: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["id"]
                .as_u64()
                .expect("id")
        })
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{backend}: lines in id order"
    );
    assert!(text.ends_with('\n'));
}

fn late_arrivals_join_their_days_file_without_loss_or_duplicates((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let mut original = fill(store.as_ref(), &[3, 2], 10);
    archive_logs(store.as_ref(), &options(dir.path())).expect("first run");
    let late = store
        .append_batch(vec![
            NewLogEntry::new("late", "k", "1").at(days_ago(3) + chrono::Duration::hours(5)),
            NewLogEntry::new("late", "k", "2").at(days_ago(2)),
        ])
        .expect("late arrivals for archived days");
    original.extend(late);
    let report = archive_logs(store.as_ref(), &options(dir.path())).expect("second run");
    assert_eq!(report.rows, 2, "{backend}: only the late arrivals move");
    assert!(all_entries(store.as_ref()).is_empty());
    assert_exactly_once(store.as_ref(), &options(dir.path()), &original);
    let day3: Vec<_> = read_archive(&options(dir.path()).dir, day(3)..=day(3))
        .collect::<Result<Vec<_>, _>>()
        .expect("day 3");
    assert_eq!(day3.len(), 12, "{backend}");
    assert!(
        day3.windows(2).all(|w| w[0].id < w[1].id),
        "{backend}: the merged file is in id order"
    );
}

/// `read_archive_by_id` streams a range of days in id order across the days, a late
/// arrival (archived into its old day by a later run, with a higher id) where its id puts
/// it: the same entries as `read_archive`, sorted by id.
fn the_archive_reads_in_id_order_across_days((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let mut written = fill(store.as_ref(), &[4, 3, 2], 10);
    archive_logs(store.as_ref(), &options(dir.path())).expect("first run");
    written.push(
        store
            .append(NewLogEntry::new("late", "k", "1").at(days_ago(4) + chrono::Duration::hours(1)))
            .expect("a late arrival for the oldest day"),
    );
    written.extend(fill(store.as_ref(), &[1], 5));
    archive_logs(store.as_ref(), &options(dir.path())).expect("second run");
    let range = day(5)..=day(0);
    let mut by_day: Vec<_> = read_archive(&options(dir.path()).dir, range.clone())
        .collect::<Result<Vec<_>, _>>()
        .expect("by day");
    let by_id: Vec<_> = store_archive::read_archive_by_id(&options(dir.path()).dir, range)
        .collect::<Result<Vec<_>, _>>()
        .expect("by id");
    assert_ne!(
        by_day, by_id,
        "{backend}: the late arrival is out of id order by day"
    );
    by_day.sort_by_key(|entry| entry.id);
    assert_eq!(by_id, by_day, "{backend}");
    written.sort_by_key(|entry| entry.id);
    assert_eq!(by_id, written, "{backend}: everything archived, once");
}

fn a_dry_run_reports_and_moves_nothing((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &[3, 2], 10);
    let dry = store_archive::ArchiveOptions {
        dry_run: true,
        ..options(dir.path())
    };
    let report = archive_logs(store.as_ref(), &dry).expect("dry run");
    assert!(report.dry_run);
    assert_eq!((report.days.len(), report.rows), (2, 22), "{backend}");
    assert_eq!(
        all_entries(store.as_ref()),
        original,
        "{backend}: the store is untouched"
    );
    assert!(
        !dir.path().join("archive").exists(),
        "{backend}: no file written"
    );
    assert_eq!(watermark(store.as_ref()), None);
    let real = archive_logs(store.as_ref(), &options(dir.path())).expect("the real run");
    assert_eq!(
        (real.rows, real.bytes),
        (report.rows, report.bytes),
        "{backend}: the dry run was right"
    );
}

fn vacuum_compacts_after_moving_and_progress_counts_days_and_rows((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &[4, 3, 2], 50);
    let options = store_archive::ArchiveOptions {
        vacuum: true,
        ..options(dir.path())
    };
    let mut seen: Vec<Progress> = Vec::new();
    let report = archive_logs_with_progress(store.as_ref(), &options, &mut |p| {
        seen.push(p);
        ControlFlow::Continue(())
    })
    .expect("archive with vacuum");
    assert!(report.vacuumed, "{backend}");
    let days: Vec<_> = seen.iter().map(|p| (p.days_done, p.days_total)).collect();
    assert_eq!(days, vec![(1, 3), (2, 3), (3, 3)], "{backend}");
    assert_eq!(seen.last().map(|p| p.rows_done), Some(153));
    assert_exactly_once(store.as_ref(), &options, &original);
}

/// A run whose progress callback asks it to stop (Ctrl-C) finishes the day it is on and
/// stops: the report says so and counts what left; a rerun moves the rest, and every entry
/// ends exactly once in the archive or the store.
fn a_run_asked_to_stop_finishes_its_day_and_a_rerun_moves_the_rest((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &[5, 4, 3, 2], 30);
    let options = options(dir.path());
    let before = all_entries(store.as_ref()).len() as u64;
    let report = archive_logs_with_progress(store.as_ref(), &options, &mut |p| {
        if p.days_done == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect("an interrupted run");
    assert!(report.interrupted, "{backend}");
    assert_eq!(report.days.len(), 2, "{backend}: two days done");
    let middle = all_entries(store.as_ref()).len() as u64;
    assert_eq!(
        report.rows,
        before - middle,
        "{backend}: the counts are true"
    );
    let rest = archive_logs(store.as_ref(), &options).expect("the rerun");
    assert!(!rest.interrupted);
    assert_eq!(rest.days.len(), 2, "{backend}: the other two days");
    assert_eq!(
        rest.rows,
        middle - all_entries(store.as_ref()).len() as u64,
        "{backend}"
    );
    assert_exactly_once(store.as_ref(), &options, &original);
}

#[test]
fn a_malformed_or_cut_line_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::open_sqlite(dir.path()).expect("open");
    fill(store.as_ref(), &[3], 5);
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    let file = options.dir.join("logs").join(format!("{}.jsonl", day(3)));
    let text = std::fs::read_to_string(&file).expect("read");

    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"id\": not json";
    std::fs::write(&file, lines.join("\n") + "\n").expect("damage line 3");
    let err = read_archive(&options.dir, day(3)..=day(3))
        .find_map(Result::err)
        .expect("the damaged line is an error");
    assert!(
        matches!(&err, StoreError::ArchiveLine { path, line: 3, .. } if *path == file),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("{}:3", file.display())),
        "{err}"
    );

    // A file cut in the middle of its last line.
    let cut = &text[..text.len() - 20];
    std::fs::write(&file, cut).expect("cut the file");
    let last = cut.lines().count() as u64;
    let err = read_archive(&options.dir, day(3)..=day(3))
        .find_map(Result::err)
        .expect("a cut line");
    assert!(
        matches!(&err, StoreError::ArchiveLine { line, .. } if *line == last),
        "{err}"
    );

    // The archive refuses to rewrite a day whose file it cannot read, and loses nothing.
    let late = store
        .append(NewLogEntry::new("late", "k", "p").at(days_ago(3)))
        .expect("a late arrival");
    let err = archive_logs(store.as_ref(), &options).expect_err("a damaged day file");
    assert!(matches!(err, StoreError::ArchiveLine { .. }), "{err}");
    assert_eq!(
        all_entries(store.as_ref()),
        vec![late],
        "the late arrival is still in the store"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        cut,
        "the file is as it was"
    );
}

#[test]
fn a_line_of_another_day_is_an_error_naming_file_and_line_and_the_day_is_not_rewritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::open_sqlite(dir.path()).expect("open");
    fill(store.as_ref(), &[3], 4);
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    let file = options.dir.join("logs").join(format!("{}.jsonl", day(3)));
    let text = std::fs::read_to_string(&file).expect("read");
    let (other, this) = (day(4).to_string(), day(3).to_string());
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[1] = lines[1].replace(&this, &other);
    let moved = lines.join("\n") + "\n";
    std::fs::write(&file, &moved).expect("move line 2 to another day");

    let err = read_archive(&options.dir, day(5)..=day(2))
        .find_map(Result::err)
        .expect("the line of another day is an error");
    assert!(
        matches!(&err, StoreError::ArchiveLine { path, line: 2, reason } if *path == file && reason.contains(&other)),
        "{err}"
    );
    let late = store
        .append(NewLogEntry::new("late", "k", "p").at(days_ago(3)))
        .expect("a late arrival");
    let err = archive_logs(store.as_ref(), &options).expect_err("a day file with a stranger");
    assert!(
        matches!(err, StoreError::ArchiveLine { line: 2, .. }),
        "{err}"
    );
    assert_eq!(all_entries(store.as_ref()), vec![late]);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), moved);
}

/// A FIFO where a day file should be would block a reader forever, and a dangling link may
/// be an archive volume that is not mounted: both are errors naming the path, at once, and
/// the archive writes nothing over them.
#[cfg(unix)]
#[test]
fn a_fifo_or_a_dangling_link_in_place_of_a_day_file_is_an_error_not_a_hang() {
    for (name, make) in [
        ("fifo", store_conformance::make_fifo as fn(&std::path::Path)),
        ("dangling link", |path: &std::path::Path| {
            std::os::unix::fs::symlink("/nonexistent/archive/volume", path).expect("a link")
        }),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = common::open_sqlite(dir.path()).expect("open");
        let original = fill(store.as_ref(), &[3], 4);
        let options = options(dir.path());
        let folder = options.dir.join("logs");
        std::fs::create_dir_all(&folder).expect("the archive folder");
        let file = folder.join(format!("{}.jsonl", day(3)));
        make(&file);
        let archive = options.dir.clone();
        let err = store_conformance::within_bound(name, move || {
            read_archive(&archive, day(3)..=day(3)).find_map(Result::err)
        })
        .unwrap_or_else(|| panic!("{name}: reading is an error"));
        assert!(
            matches!(&err, StoreError::Io { path: Some(path), .. } if *path == file),
            "{name}: {err}"
        );
        let err = archive_logs(store.as_ref(), &options).expect_err("archiving over it");
        assert!(
            matches!(&err, StoreError::Io { path: Some(path), .. } if *path == file),
            "{name}: {err}"
        );
        assert_eq!(
            all_entries(store.as_ref()),
            original,
            "{name}: nothing moved"
        );
        let kind = std::fs::symlink_metadata(&file)
            .expect("still there")
            .file_type();
        assert!(!kind.is_file(), "{name}: replaced");
    }
}

fn a_second_run_while_one_holds_the_archive_is_busy_and_changes_nothing((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &[3, 2], 10);
    let options = options(dir.path());
    let folder = options.dir.join("logs");
    std::fs::create_dir_all(&folder).expect("the archive folder");
    let held = std::fs::File::create(folder.join(".archive.lock")).expect("the lock file");
    held.lock().expect("another run holds the archive");

    let err = archive_logs(store.as_ref(), &options).expect_err("the archive is held");
    assert!(matches!(err, StoreError::Busy { .. }), "{backend}: {err}");
    assert_eq!(
        all_entries(store.as_ref()),
        original,
        "{backend}: nothing moved"
    );
    assert!(
        common::archived(&options).is_empty(),
        "{backend}: no day file written"
    );

    drop(held);
    archive_logs(store.as_ref(), &options).expect("once released, the run goes through");
    assert_exactly_once(store.as_ref(), &options, &original);
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES },
    cases: {
        complete_days_older_than_the_retention_move_and_the_rest_stays,
        today_and_the_days_of_active_runs_stay,
        each_line_is_one_entry_as_the_spec_writes_it_in_id_order,
        late_arrivals_join_their_days_file_without_loss_or_duplicates,
        a_dry_run_reports_and_moves_nothing,
        vacuum_compacts_after_moving_and_progress_counts_days_and_rows,
        a_run_asked_to_stop_finishes_its_day_and_a_rerun_moves_the_rest,
        the_archive_reads_in_id_order_across_days,
        a_second_run_while_one_holds_the_archive_is_busy_and_changes_nothing,
    }
);
