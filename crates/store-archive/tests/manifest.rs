//! The archive's manifest (docs/SPEC.md section 3): every day an archive run writes is
//! recorded with its file's checksum, entry count and ids, and `verify_archive` checks every
//! day file against it, naming a changed, missing, unreadable or unrecorded one.

mod common;

use common::{Backend, POSTGRES, REDB, SQLITE, day, fill, options};
use store_archive::{DayStatus, MANIFEST_FILE, archive_logs, drop_days, verify_archive};
use store_core::StoreError;

/// Three archived days, then a late arrival added to one of them: each day's record is its
/// file as it is (entries, bytes, first and last id), and the archive verifies sound.
fn every_archived_day_is_recorded_and_verifies_sound((backend, open): Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path()).expect("open");
    let original = fill(store.as_ref(), &[40, 39, 38], 10);
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    let late = store
        .append(store_core::NewLogEntry::new("s", "late", "p").at(common::days_ago(39)))
        .expect("a late arrival");
    archive_logs(store.as_ref(), &options).expect("the late arrival joins its day");

    let verified = verify_archive(&options.dir).expect("verify");
    assert!(verified.is_sound(), "{backend}: {verified:?}");
    assert_eq!(
        verified.days.iter().map(|d| d.day).collect::<Vec<_>>(),
        vec![day(40), day(39), day(38)]
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(options.dir.join("logs").join(MANIFEST_FILE)).expect("the manifest"),
    )
    .expect("JSON");
    let days = manifest["days"].as_array().expect("days");
    let record = &days[1]["record"];
    assert_eq!(record["file"], format!("{}.jsonl", day(39)));
    let in_day = |d: i64| original.iter().filter(move |e| e.ts.date_naive() == day(d));
    assert_eq!(record["entries"], in_day(39).count() as u64 + 1);
    assert_eq!(record["firstId"], in_day(39).next().expect("an entry").id.0);
    assert_eq!(record["lastId"], late.id.0, "{backend}");
    let mut blobs: Vec<String> = (0..10)
        .filter_map(|i| common::blob_of(39, i))
        .map(|digest| digest.to_hex())
        .collect();
    blobs.sort();
    assert_eq!(
        record["blobs"],
        serde_json::json!(blobs),
        "{backend}: the blobs the day's entries reference"
    );
    let size = std::fs::metadata(options.dir.join("logs").join(format!("{}.jsonl", day(39))))
        .expect("the file")
        .len();
    assert_eq!(record["bytes"], size);
}

/// A byte changed in one day file, another day file removed, a third cut in the middle of a
/// line, and a file the manifest has no record of: `verify_archive` names each, and only
/// those; the run that archives next refuses nothing it does not touch.
#[test]
fn verify_names_each_changed_missing_unreadable_and_unrecorded_day() {
    let (_dir, _store, options) = archived_sqlite(&[40, 39, 38, 37]);
    let folder = options.dir.join("logs");
    let file = |d: i64| folder.join(format!("{}.jsonl", day(d)));

    common::change_byte_after(&file(40), b"\"payload\":\"");
    std::fs::remove_file(file(39)).expect("a missing day");
    let cut = std::fs::read(file(38)).expect("a day file");
    std::fs::write(file(38), &cut[..cut.len() / 2]).expect("a day cut short");
    std::fs::write(folder.join(format!("{}.jsonl", day(50))), "").expect("a stray day file");

    let verified = verify_archive(&options.dir).expect("verify");
    assert!(!verified.is_sound());
    let status = |d: i64| {
        &verified
            .days
            .iter()
            .find(|check| check.day == day(d))
            .unwrap_or_else(|| panic!("day {d} checked: {verified:?}"))
            .status
    };
    assert!(
        matches!(status(40), DayStatus::Changed { expected, found } if expected.entries == found.entries && expected.sha256 != found.sha256),
        "{:?}",
        status(40)
    );
    assert!(
        matches!(status(39), DayStatus::Missing { .. }),
        "{:?}",
        status(39)
    );
    assert!(
        matches!(status(38), DayStatus::Unreadable { .. }),
        "{:?}",
        status(38)
    );
    assert_eq!(status(37), &DayStatus::Sound);
    assert!(
        matches!(status(50), DayStatus::NotRecorded),
        "{:?}",
        status(50)
    );
}

/// A manifest changed behind the archive's back (one count edited, its checksum left) is
/// named by `verify_archive` and refused by the next archive run, which writes nothing.
#[test]
fn a_changed_manifest_is_named_and_the_archive_writes_nothing_over_it() {
    let (_dir, store, options) = archived_sqlite(&[40]);
    let path = options.dir.join("logs").join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).expect("the manifest");
    let edited = text.replacen("\"entries\": 11", "\"entries\": 12", 1);
    assert_ne!(edited, text, "the count is in the manifest: {text}");
    std::fs::write(&path, edited).expect("an edited manifest");

    let err = verify_archive(&options.dir).expect_err("a changed manifest");
    assert!(
        matches!(&err, StoreError::ArchiveManifest { path: named, .. } if *named == path),
        "{err}"
    );
    fill(store.as_ref(), &[39], 10);
    let before = store_conformance::all_entries(store.as_ref());
    let err = archive_logs(store.as_ref(), &options).expect_err("the run refuses");
    assert!(matches!(err, StoreError::ArchiveManifest { .. }), "{err}");
    assert_eq!(store_conformance::all_entries(store.as_ref()), before);
    assert!(
        !options
            .dir
            .join("logs")
            .join(format!("{}.jsonl", day(39)))
            .exists()
    );
}

/// An archive written before archives had manifests (its day files, no manifest): the next
/// run records every day file as it is, and the archive verifies sound.
#[test]
fn an_archive_without_a_manifest_is_recorded_by_the_next_run() {
    let (_dir, store, options) = archived_sqlite(&[40, 39]);
    std::fs::remove_file(options.dir.join("logs").join(MANIFEST_FILE)).expect("no manifest");
    let verified = verify_archive(&options.dir).expect("verify");
    assert!(
        verified
            .days
            .iter()
            .all(|check| check.status == DayStatus::NotRecorded),
        "{verified:?}"
    );
    fill(store.as_ref(), &[38], 10);
    archive_logs(store.as_ref(), &options).expect("the next run");
    assert_sound(&options, 3);
}

/// `drop_days` retires the recorded days before a day: their files go, the manifest keeps
/// their records as dropped, and the archive verifies sound without them. A drop killed
/// before it removed a file leaves one the archive neither counts nor keeps: the next run
/// removes it. An entry that arrives later for a dropped day is archived into it again.
#[test]
fn dropped_days_leave_the_archive_and_the_manifest_keeps_their_records() {
    let (_dir, store, options) = archived_sqlite(&[40, 39, 38, 37]);
    let folder = options.dir.join("logs");
    let file = |d: i64| folder.join(format!("{}.jsonl", day(d)));
    let kept = std::fs::read(file(39)).expect("a day file");

    let report = drop_days(&options.dir, day(38)).expect("drop");
    assert_eq!(
        report.days.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        vec![day(40), day(39)]
    );
    assert_eq!(report.entries, 22, "11 entries a day");
    assert!(!file(40).exists() && !file(39).exists() && file(38).exists());
    let verified = verify_archive(&options.dir).expect("verify");
    assert!(verified.is_sound(), "{verified:?}");
    assert_eq!(verified.days.len(), 2);
    let manifest = std::fs::read_to_string(folder.join(MANIFEST_FILE)).expect("manifest");
    assert_eq!(
        manifest.matches(&day(40).to_string()).count(),
        2,
        "{manifest}"
    );

    // As if a drop had been killed before it removed the file.
    std::fs::write(file(39), &kept).expect("a dropped day's file, back");
    assert!(verify_archive(&options.dir).expect("verify").is_sound());
    store
        .append(store_core::NewLogEntry::new("s", "late", "p").at(common::days_ago(40)))
        .expect("a late arrival for a dropped day");
    archive_logs(store.as_ref(), &options).expect("the next run");
    assert!(!file(39).exists(), "the next run finished the drop");
    let back: Vec<_> = store_archive::read_archive(&options.dir, day(40)..=day(40))
        .collect::<Result<_, _>>()
        .expect("the day again");
    assert_eq!(back.len(), 1, "only the late arrival");
    assert_sound(&options, 3);
}

/// A day before the cutoff whose file is not what the manifest records is refused by name,
/// and nothing is dropped; so is a drop while an archive run holds the archive.
#[test]
fn a_drop_refuses_a_day_the_manifest_does_not_vouch_for() {
    let (_dir, _store, options) = archived_sqlite(&[40, 39]);
    let folder = options.dir.join("logs");
    let file = |d: i64| folder.join(format!("{}.jsonl", day(d)));
    let text = std::fs::read_to_string(file(39)).expect("a day file");
    std::fs::write(
        file(39),
        text.replacen("\"payload\":\"", "\"payload\":\"x", 1),
    )
    .expect("a changed day");
    let err = drop_days(&options.dir, day(30)).expect_err("refused");
    assert!(
        matches!(&err, StoreError::InvalidInput { field: "before", reason } if reason.contains(&format!("{} (changed)", day(39)))),
        "{err}"
    );
    assert!(file(40).exists() && file(39).exists(), "nothing dropped");

    // While an archive run holds the archive, a drop is busy and drops nothing.
    std::fs::write(file(39), text).expect("the day as it was");
    let held = std::fs::File::create(folder.join(".archive.lock")).expect("the lock file");
    held.lock().expect("a run holds the archive");
    let err = drop_days(&options.dir, day(30)).expect_err("busy");
    assert!(
        matches!(&err, StoreError::Busy { context, .. } if context.starts_with("dropping days")),
        "{err}"
    );
    assert!(file(40).exists() && file(39).exists(), "nothing dropped");
    drop(held);
    assert_eq!(
        drop_days(&options.dir, day(30))
            .expect("released")
            .days
            .len(),
        2
    );
}

/// A SQLite store with 10 entries on each of `days` (days ago), archived: its folder (kept
/// for as long as the case runs), the store, and the archive's options.
fn archived_sqlite(
    days: &[i64],
) -> (
    tempfile::TempDir,
    Box<dyn store_core::LogBackend>,
    store_archive::ArchiveOptions,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = common::open_sqlite(dir.path()).expect("open");
    fill(store.as_ref(), days, 10);
    let options = options(dir.path());
    archive_logs(store.as_ref(), &options).expect("archive");
    (dir, store, options)
}

/// The archive verifies sound, with `days` days.
fn assert_sound(options: &store_archive::ArchiveOptions, days: usize) {
    let verified = verify_archive(&options.dir).expect("verify");
    assert!(verified.is_sound(), "{verified:?}");
    assert_eq!(verified.days.len(), days, "{verified:?}");
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES },
    cases: {
        every_archived_day_is_recorded_and_verifies_sound,
    }
);
