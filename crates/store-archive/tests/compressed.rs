//! Day files compressed with zstd (`ArchiveOptions::compress`): written as
//! `YYYY-MM-DD.jsonl.zst`, read back by every reader, verified against the manifest, and
//! merged with late arrivals like plain ones; a day keeps the form of the file it has.

mod common;

use common::{Backend, POSTGRES, REDB, SQLITE, archived, assert_exactly_once, day, fill, options};
use store_archive::{ArchiveOptions, archive_logs, read_archive, verify_archive};
use store_core::{NewLogEntry, StoreError};

fn compressed(dir: &std::path::Path) -> ArchiveOptions {
    ArchiveOptions {
        compress: true,
        ..options(dir)
    }
}

/// Compressed day files hold the lines a plain file would (zstd's own decoder reads them),
/// every reader reads them back, a late arrival joins its compressed day, and the manifest
/// records each file as it is on disk.
fn compressed_days_read_back_verify_and_take_late_arrivals((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let mut original = fill(store.as_ref(), &[40, 39], 30);
    let options = compressed(dir.path());
    let report = archive_logs(store.as_ref(), &options).expect("archive");
    for day_report in &report.days {
        assert!(
            day_report.file.to_string_lossy().ends_with(".jsonl.zst"),
            "{backend}: {}",
            day_report.file.display()
        );
        let lines = zstd::decode_all(std::fs::File::open(&day_report.file).expect("the file"))
            .expect("zstd reads it");
        let text = String::from_utf8(lines).expect("text");
        assert_eq!(text.lines().count() as u64, day_report.rows);
        assert!(
            text.starts_with("{\"id\":"),
            "{backend}: JSON lines: {text}"
        );
    }
    original.push(
        store
            .append(NewLogEntry::new("s", "late", "p").at(common::days_ago(40)))
            .expect("a late arrival"),
    );
    archive_logs(store.as_ref(), &options).expect("the late arrival joins its day");
    assert_exactly_once(store.as_ref(), &options, &original);
    let back: Vec<_> = read_archive(&options.dir, day(40)..=day(40))
        .collect::<Result<_, _>>()
        .expect("read back");
    assert_eq!(
        back.last().map(|e| e.kind.as_str()),
        Some("late"),
        "{backend}"
    );
    let verified = verify_archive(&options.dir).expect("verify");
    assert!(
        verified.is_sound() && verified.days.len() == 2,
        "{verified:?}"
    );
}

/// Days archived plain stay plain when compression is turned on (a late arrival joins the
/// plain file); new days are compressed; both read back in order.
#[test]
fn a_day_keeps_its_files_form_and_new_days_take_the_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::open_sqlite(dir.path()).expect("open");
    let mut original = fill(store.as_ref(), &[40], 10);
    let plain = options(dir.path());
    archive_logs(store.as_ref(), &plain).expect("plain");
    original.extend(fill(store.as_ref(), &[39], 10));
    original.push(
        store
            .append(NewLogEntry::new("s", "late", "p").at(common::days_ago(40)))
            .expect("a late arrival for the plain day"),
    );
    let options = compressed(dir.path());
    archive_logs(store.as_ref(), &options).expect("compressed");
    let folder = options.dir.join("logs");
    assert!(folder.join(format!("{}.jsonl", day(40))).exists());
    assert!(!folder.join(format!("{}.jsonl.zst", day(40))).exists());
    assert!(folder.join(format!("{}.jsonl.zst", day(39))).exists());
    assert_exactly_once(store.as_ref(), &options, &original);
    assert_eq!(archived(&options).len(), original.len());
}

/// A day with both a plain and a compressed file (put there by hand) is an error naming
/// them, not a day read twice.
#[test]
fn a_day_with_two_files_is_an_error_not_read_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::open_sqlite(dir.path()).expect("open");
    fill(store.as_ref(), &[40], 10);
    let options = compressed(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    let folder = options.dir.join("logs");
    let file = folder.join(format!("{}.jsonl.zst", day(40)));
    let lines = zstd::decode_all(std::fs::File::open(&file).expect("the file")).expect("lines");
    std::fs::write(folder.join(format!("{}.jsonl", day(40))), lines).expect("a second file");
    let err = read_archive(&options.dir, day(40)..=day(40))
        .find_map(Result::err)
        .expect("an error");
    assert!(
        matches!(&err, StoreError::Io { context, .. } if context.contains("has two files")),
        "{err}"
    );
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES },
    cases: {
        compressed_days_read_back_verify_and_take_late_arrivals,
    }
);
