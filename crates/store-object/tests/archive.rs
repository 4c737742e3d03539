//! The archive's replica on object storage (the tests' moto server): pushed, verified in
//! place, pulled back byte for byte; damage named; and a push or a pull cut at every one of
//! its requests leaves a replica (or a folder) whose manifest vouches for what it holds,
//! which a rerun completes.

mod common;

use std::path::Path;

use common::{CutAt, archive_of, replica};
use store_archive::{
    DayStatus, drop_days, pull_archive, push_archive, verify_archive, verify_replica,
};
use store_core::StoreError;
use store_object::harness::ObjectHarness;

/// Every file of the folder `dir/logs` that is a day file or the manifest, with its bytes.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("logs"))
        .expect("the archive folder")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .map(|name| {
            let bytes = std::fs::read(dir.join("logs").join(&name)).expect("a file");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn an_archive_pushed_verifies_in_place_and_pulls_back_byte_for_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = archive_of(dir.path(), 4, true);
    let s3 = replica(dir.path());
    let pushed = push_archive(&options.dir, &s3).expect("push");
    assert_eq!(pushed.uploaded.len(), 4);
    assert!(pushed.replica.starts_with("s3://nerve-tests/"));
    let verified = verify_replica(&s3).expect("verify");
    assert!(verified.is_sound(), "{verified:?}");
    assert_eq!(verified.days.len(), 4);

    let again = push_archive(&options.dir, &s3).expect("push again");
    assert_eq!((again.uploaded.len(), again.kept), (0, 4), "nothing twice");

    let elsewhere = tempfile::tempdir().expect("temp dir");
    let pulled = pull_archive(&s3, elsewhere.path()).expect("pull");
    assert_eq!(pulled.downloaded.len(), 4);
    assert_eq!(
        files_of(elsewhere.path()),
        files_of(&options.dir),
        "byte for byte"
    );
    assert!(verify_archive(elsewhere.path()).expect("verify").is_sound());

    // A day dropped here goes from the replica at the next push.
    let oldest = verified.days[0].day;
    drop_days(&options.dir, oldest.succ_opt().expect("a day")).expect("drop");
    let dropped = push_archive(&options.dir, &s3).expect("push the drop");
    assert_eq!(dropped.removed.len(), 1, "{dropped:?}");
    let verified = verify_replica(&s3).expect("verify");
    assert!(
        verified.is_sound() && verified.days.len() == 3,
        "{verified:?}"
    );
}

#[test]
fn damage_on_the_replica_is_named_and_never_pulled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = archive_of(dir.path(), 3, true);
    let s3 = replica(dir.path());
    push_archive(&options.dir, &s3).expect("push");
    let verified = verify_replica(&s3).expect("verify");
    let (changed, missing) = (&verified.days[1], &verified.days[2]);
    let name = |check: &store_archive::DayCheck| {
        check
            .file
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned()
    };
    ObjectHarness::put_object(dir.path(), &format!("logs/{}", name(changed)), b"{}\n");
    ObjectHarness::remove_object(dir.path(), &format!("logs/{}", name(missing)));
    let verified = verify_replica(&s3).expect("verify");
    assert!(!verified.is_sound());
    assert!(matches!(verified.days[0].status, DayStatus::Sound));
    assert!(
        matches!(
            verified.days[1].status,
            DayStatus::Changed { .. } | DayStatus::Unreadable { .. }
        ),
        "{:?}",
        verified.days[1]
    );
    assert!(matches!(verified.days[2].status, DayStatus::Missing { .. }));

    let elsewhere = tempfile::tempdir().expect("temp dir");
    let err = pull_archive(&s3, elsewhere.path()).expect_err("damage is not pulled");
    assert!(matches!(err, StoreError::ArchiveMismatch { .. }), "{err}");
    let shown = err.to_string();
    assert!(shown.contains("s3://nerve-tests/"), "{shown}");
    assert!(
        !elsewhere.path().join("logs/manifest.json").exists(),
        "no manifest vouches for a partial pull"
    );
    // The next push mends the replica.
    push_archive(&options.dir, &s3).expect("push again");
    assert!(verify_replica(&s3).expect("verify").is_sound());
}

/// Whether every day the manifest names is what it records (a leftover it does not name is
/// the next push's to remove).
fn vouches(verification: &store_archive::ArchiveVerification) -> bool {
    verification.days.iter().all(|day| {
        matches!(
            day.status,
            DayStatus::Sound | DayStatus::Pending | DayStatus::NotRecorded
        )
    })
}

#[test]
fn a_push_or_pull_cut_at_any_request_leaves_what_the_manifest_vouches_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = archive_of(dir.path(), 3, true);
    let s3 = replica(dir.path());
    // A first push, then a day dropped and one more archived: the next push uploads,
    // replaces the manifest and removes, each of which a cut may stop.
    push_archive(&options.dir, &s3).expect("the first push");
    let verified = verify_archive(&options.dir).expect("verify");
    drop_days(
        &options.dir,
        verified.days[0].day.succ_opt().expect("a day"),
    )
    .expect("drop");
    let mut cuts = 0;
    for cut in 0.. {
        let cutting = CutAt::new(&s3, cut);
        let outcome = push_archive(&options.dir, &cutting);
        let replica_now = verify_replica(&s3).expect("verify the replica");
        assert!(vouches(&replica_now), "cut at {cut}: {replica_now:?}");
        if outcome.is_ok() {
            break;
        }
        cuts += 1;
    }
    assert!(cuts >= 3, "every request of the push was cut once: {cuts}");
    let whole = push_archive(&options.dir, &s3).expect("the rerun");
    assert!(verify_replica(&s3).expect("verify").is_sound());
    assert_eq!(whole.uploaded.len(), 0, "{whole:?}");

    let elsewhere = tempfile::tempdir().expect("temp dir");
    for cut in 0.. {
        let cutting = CutAt::new(&s3, cut);
        let outcome = pull_archive(&cutting, elsewhere.path());
        if elsewhere.path().join("logs/manifest.json").exists() {
            assert!(
                verify_archive(elsewhere.path()).expect("verify").is_sound(),
                "cut at {cut}"
            );
        }
        if outcome.is_ok() {
            break;
        }
    }
    assert_eq!(files_of(elsewhere.path()), files_of(&options.dir));
}
