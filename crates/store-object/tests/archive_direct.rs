//! The archive kept on object storage itself (the tests' moto server): runs write their
//! days there and nothing of the archive stays on the host; the days read, restore, drop
//! and verify there; a run cut at any of its requests loses nothing, and a rerun leaves every
//! entry exactly once; two runs at once never both move a day out (docs/SPEC.md section 3).

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;

use chrono::{Duration, NaiveDate, Utc};
use common::{
    BeforeUpload, CutAt, archive_of, archived, assert_kept, blob_of, fill, options, replica,
    vouches,
};
use store_archive::{
    ArchiveReplica, DayStatus, WATERMARK_KEY, archive_logs_at, archived_blobs_at, drop_days_at,
    push_archive, read_archive_at, restore_days_from, verify_replica,
};
use store_conformance::{all_entries, observable_state};
use store_core::{
    Digest, LogEntry, LogStore, LogTransfer, MemoryLogStore, NewLogEntry, StoreError, StoreResult,
};
use store_object::harness::ObjectHarness;

const EVERY_DAY: std::ops::RangeInclusive<NaiveDate> = NaiveDate::MIN..=NaiveDate::MAX;

fn keep_going(_: store_archive::Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// What the tests compare a store by, the archive's watermark left out.
fn observed(store: &MemoryLogStore, days: i64) -> String {
    let threads: Vec<String> = (0..days).map(|day| format!("thread-{day}")).collect();
    let threads: Vec<&str> = threads.iter().map(String::as_str).collect();
    let _ = store.meta_delete(WATERMARK_KEY);
    format!(
        "{}index: {:?}",
        observable_state(store, &threads),
        store.thread_index(None, usize::MAX)
    )
}

/// The names of the day objects of the archive at `s3`.
fn day_objects(s3: &dyn ArchiveReplica) -> BTreeSet<String> {
    s3.list()
        .expect("list")
        .into_iter()
        .map(|object| object.name)
        .filter(|name| name != store_archive::MANIFEST_FILE)
        .collect()
}

#[test]
fn thirty_days_archived_onto_object_storage_verify_read_restore_and_drop_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = replica(dir.path());
    let store = MemoryLogStore::new();
    let now = Utc::now();
    let original = fill(&store, now, 30, 120);
    let before = observed(&store, 30);
    let options = options(dir.path(), now);

    let report = archive_logs_at(&store, &options, &s3, &mut keep_going).expect("archive");
    assert_eq!(report.days.len(), 30);
    assert_eq!(report.rows, original.len() as u64);
    assert!(all_entries(&store).is_empty(), "every day left the store");
    assert!(!options.dir.exists(), "nothing of the archive on the host");
    let first_file = report.days[0].file.to_string_lossy().into_owned();
    assert!(first_file.starts_with(&s3.location()), "{first_file}");

    let verified = verify_replica(&s3).expect("verify");
    assert!(verified.is_sound(), "{verified:?}");
    assert_eq!(verified.days.len(), 30);
    for name in day_objects(&s3) {
        let (day, rest) = name.split_once('.').expect("a day file");
        assert!(
            day.parse::<NaiveDate>().is_ok() && rest.len() == 16 + ".jsonl".len(),
            "named for its day and its content: {name}"
        );
    }
    assert_eq!(
        archived(&s3),
        original,
        "every entry, day by day, in id order"
    );
    let by_id: Vec<LogEntry> = read_archive_at(&s3, EVERY_DAY, true)
        .expect("download")
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(by_id, original);
    let referenced: BTreeSet<Digest> = (0..30)
        .flat_map(|day| (0..120).filter_map(move |i| blob_of(day, i)))
        .collect();
    let kept: BTreeSet<Digest> = archived_blobs_at(&s3).expect("blobs").into_iter().collect();
    assert!(!referenced.is_empty());
    assert_eq!(
        kept, referenced,
        "the archive keeps every blob its days reference"
    );

    let restored = restore_days_from(&store, &s3, EVERY_DAY, &mut keep_going).expect("restore");
    assert_eq!(restored.written, original.len() as u64);
    assert!(
        restored.days[0].file.starts_with(s3.location()),
        "{:?}",
        restored.days[0].file
    );
    assert_eq!(observed(&store, 30), before, "the store as it was");
    let again = restore_days_from(&store, &s3, EVERY_DAY, &mut keep_going).expect("again");
    assert_eq!((again.written, again.present), (0, original.len() as u64));

    // Archived again, every entry is one its day's object holds: the same objects stay.
    // Each day's version is downloaded, merged into a new file and uploaded: at each upload
    // the host holds that one file, and nothing once the run is done.
    let objects = day_objects(&s3);
    let scratch = Mutex::new(Vec::new());
    let watching = BeforeUpload::new(&s3, |path: &Path| {
        let folder = path.parent().expect("a folder").to_owned();
        let files = std::fs::read_dir(&folder).expect("the folder").count();
        scratch.lock().expect("notes").push((folder, files));
    });
    let rerun = archive_logs_at(&store, &options, &watching, &mut keep_going).expect("rearchive");
    drop(watching);
    let scratch = scratch.into_inner().expect("the uploads");
    assert_eq!(scratch.len(), 30, "one upload a day");
    for (folder, files) in &scratch {
        assert_eq!(*files, 1, "the scratch folder held the upload only");
        assert!(
            !folder.exists(),
            "{} was left on the host",
            folder.display()
        );
    }
    assert_eq!(rerun.recovered, original.len() as u64, "{rerun:?}");
    assert_eq!(day_objects(&s3), objects);

    let tenth = verified.days[10].day;
    let dropped = drop_days_at(&s3, tenth).expect("drop");
    assert_eq!(dropped.days.len(), 10);
    let left = verify_replica(&s3).expect("verify");
    assert!(left.is_sound() && left.days.len() == 20, "{left:?}");
    assert_eq!(
        day_objects(&s3).len(),
        20,
        "the dropped days' objects are gone"
    );
    let no_day = restore_days_from(
        &store,
        &s3,
        verified.days[0].day..=verified.days[9].day,
        &mut keep_going,
    )
    .expect("a range of dropped days restores nothing");
    assert_eq!(no_day.dropped.len(), 10);
    assert_eq!(no_day.written, 0);
}

#[test]
fn an_archive_run_cut_at_any_request_loses_nothing_and_a_rerun_keeps_each_entry_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = replica(dir.path());
    let store = MemoryLogStore::new();
    let now = Utc::now();
    let mut original = fill(&store, now, 4, 80);
    // A first run, then late entries for two archived days and a new day: the next run
    // downloads, merges, uploads and names, and every one of its requests is cut once.
    let first = options(dir.path(), now - Duration::days(2));
    archive_logs_at(&store, &first, &s3, &mut keep_going).expect("the first run");
    for (n, entry) in original.clone().iter().enumerate().step_by(90).take(2) {
        let late = NewLogEntry::new("worker", "late", format!("{{\"n\":{n}}}"))
            .at(entry.ts + Duration::seconds(1));
        original.push(store.append(late).expect("a late entry"));
    }
    let options = options(dir.path(), now);
    let mut cuts = 0;
    for cut in 0.. {
        let cutting = CutAt::new(&s3, cut);
        let outcome = archive_logs_at(&store, &options, &cutting, &mut keep_going);
        assert!(vouches(&s3), "cut at request {cut}");
        assert_kept(&store, &s3, &original, false);
        if outcome.is_ok() {
            break;
        }
        cuts += 1;
    }
    // 10 requests (the manifest, a listing, two days downloaded, uploaded and named, a
    // new day uploaded and named); each cut run leaves what it finished done, so the
    // cuts that fail are fewer.
    assert!(
        cuts >= 6,
        "the run's requests were cut one after the other: {cuts}"
    );
    archive_logs_at(&store, &options, &s3, &mut keep_going).expect("the rerun");
    assert!(
        verify_replica(&s3)
            .expect("verify")
            .days
            .iter()
            .all(|day| { matches!(day.status, DayStatus::Sound | DayStatus::NotRecorded) })
    );
    assert_kept(&store, &s3, &original, true);
    assert!(all_entries(&store).is_empty());
    // Two days hold a late entry with an id above the next days': in id order, each comes
    // where its id puts it.
    let by_id: Vec<LogEntry> = read_archive_at(&s3, EVERY_DAY, true)
        .expect("read")
        .collect::<Result<_, _>>()
        .expect("whole");
    let mut expected = original.clone();
    expected.sort_by_key(|entry| entry.id);
    assert_eq!(by_id, expected);
    assert_ne!(archived(&s3), expected, "day by day is another order");
}

#[test]
fn of_two_runs_at_once_only_the_first_to_name_its_days_moves_them_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = replica(dir.path());
    let store = MemoryLogStore::new();
    let now = Utc::now();
    let original = fill(&store, now, 3, 50);
    let options = options(dir.path(), now);
    let mut once = true;
    let other = BeforeUpload::new(&s3, |_: &Path| {
        if std::mem::take(&mut once) {
            archive_logs_at(&store, &options, &s3, &mut keep_going).expect("the other run");
        }
    });
    // This run read the (empty) manifest, then the other archived every day before this one
    // uploaded its first: this one may not name it, and moves nothing out.
    let late = archive_logs_at(&store, &options, &other, &mut keep_going);
    assert!(
        matches!(&late, Err(StoreError::Busy { context, .. }) if context.contains("another run changed")),
        "{late:?}"
    );
    assert_kept(&store, &s3, &original, true);
    assert!(vouches(&s3));
}

#[test]
fn a_run_removes_what_killed_runs_left_once_it_is_an_hour_old() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = replica(dir.path());
    let store = MemoryLogStore::new();
    let now = Utc::now();
    fill(&store, now, 4, 20);
    archive_logs_at(
        &store,
        &options(dir.path(), now - Duration::days(3)),
        &s3,
        &mut keep_going,
    )
    .expect("a first day");
    // A drop cut before it removed its object (after its manifest went up); an upload
    // never named.
    let days = verify_replica(&s3).expect("verify").days;
    let oldest = days[0]
        .file
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    let cut = CutAt::new(&s3, 3);
    let drop = drop_days_at(&cut, days[0].day.succ_opt().expect("a day"));
    assert!(
        matches!(drop, Err(StoreError::Interrupted { .. })),
        "{drop:?}"
    );
    assert_eq!(
        verify_replica(&s3).expect("verify").days.len(),
        days.len() - 1
    );
    let unnamed = "2020-01-01.0123456789abcdef.jsonl";
    ObjectHarness::put_object(dir.path(), &format!("logs/{unnamed}"), b"");
    assert!(day_objects(&s3).contains(&oldest));

    archive_logs_at(
        &store,
        &options(dir.path(), now - Duration::days(2)),
        &s3,
        &mut keep_going,
    )
    .expect("a run");
    let objects = day_objects(&s3);
    assert!(
        !objects.contains(&oldest),
        "the dropped day's object went: {objects:?}"
    );
    assert!(
        objects.contains(unnamed),
        "a young one may be a run's about to name it"
    );

    let later = options(dir.path(), now + Duration::hours(2));
    archive_logs_at(&store, &later, &s3, &mut keep_going).expect("a run an hour later");
    let objects = day_objects(&s3);
    assert!(!objects.contains(unnamed), "{objects:?}");
    let verified = verify_replica(&s3).expect("verify");
    assert!(verified.is_sound(), "{verified:?}");
    assert_eq!(objects.len(), verified.days.len(), "{objects:?}");
}

#[test]
fn a_damaged_day_on_object_storage_is_named_and_neither_read_restored_nor_merged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = replica(dir.path());
    let store = MemoryLogStore::new();
    let now = Utc::now();
    let original = fill(&store, now, 2, 30);
    archive_logs_at(&store, &options(dir.path(), now), &s3, &mut keep_going).expect("archive");
    let damaged = verify_replica(&s3).expect("verify").days[0].clone();
    let name = damaged
        .file
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    let mut bytes = Vec::new();
    s3.get(&name)
        .expect("get")
        .expect("there")
        .read_to_end(&mut bytes)
        .expect("read");
    bytes[10] ^= 1;
    ObjectHarness::put_object(dir.path(), &format!("logs/{name}"), &bytes);

    let verified = verify_replica(&s3).expect("verify");
    assert!(
        matches!(
            verified.days[0].status,
            DayStatus::Changed { .. } | DayStatus::Unreadable { .. }
        ),
        "{verified:?}"
    );
    let named = |err: StoreError| match err {
        StoreError::ArchiveMismatch { days, .. } => {
            assert!(days.contains(&damaged.day.to_string()), "{days}");
        }
        other => panic!("not the damage: {other}"),
    };
    for by_id in [false, true] {
        let read: StoreResult<Vec<LogEntry>> = read_archive_at(&s3, EVERY_DAY, by_id)
            .expect("the manifest reads")
            .collect();
        named(read.expect_err("refused"));
    }
    named(restore_days_from(&store, &s3, EVERY_DAY, &mut keep_going).expect_err("refused"));
    let late = NewLogEntry::new("worker", "late", "{}").at(original[0].ts);
    let late = store.append(late).expect("a late entry");
    named(
        archive_logs_at(&store, &options(dir.path(), now), &s3, &mut keep_going)
            .expect_err("refused"),
    );
    assert_eq!(
        all_entries(&store),
        vec![late],
        "the late entry stays in the store"
    );
}

#[test]
fn a_folder_is_not_pushed_over_an_archive_that_runs_write_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = replica(dir.path());
    let store = MemoryLogStore::new();
    let now = Utc::now();
    fill(&store, now, 2, 10);
    archive_logs_at(&store, &options(dir.path(), now), &s3, &mut keep_going).expect("archive");
    let before = day_objects(&s3);
    let folder = archive_of(dir.path(), 3, false);
    let pushed = push_archive(&folder.dir, &s3);
    assert!(
        matches!(&pushed, Err(StoreError::InvalidInput { field: "dir", reason }) if reason.contains("another archive's days")),
        "{pushed:?}"
    );
    assert_eq!(day_objects(&s3), before, "nothing removed, nothing added");
}

#[test]
fn a_restore_from_object_storage_cut_at_any_request_leaves_nothing_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = replica(dir.path());
    let store = MemoryLogStore::new();
    let now = Utc::now();
    fill(&store, now, 3, 1000);
    let before = observed(&store, 3);
    archive_logs_at(&store, &options(dir.path(), now), &s3, &mut keep_going).expect("archive");
    let mut cuts = 0;
    for cut in 0.. {
        let cutting = CutAt::new(&s3, cut);
        let outcome = restore_days_from(&store, &cutting, EVERY_DAY, &mut keep_going);
        if outcome.is_ok() {
            break;
        }
        cuts += 1;
    }
    // The manifest, three days checked, then each downloaded again and restored.
    assert_eq!(cuts, 7, "every request was cut once");
    assert_eq!(
        observed(&store, 3),
        before,
        "every entry back once, ids kept"
    );
}
