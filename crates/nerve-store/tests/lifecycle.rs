//! The store's lifecycle as the library answers it, on every backend: an open that may not
//! create, a store without its blob file, and the whole-store check as a report. Built with
//! every backend (the workspace's test build); the builds with one backend alone test that
//! the others are refused by name (`tests/backends.rs`).
#![cfg(all(feature = "sqlite", feature = "redb", feature = "postgres"))]

use std::path::Path;

use nerve_store::{Backend, NewLogEntry, OpenOptions, StoreError};

fn location(dir: &Path, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.join("nerve.db").display()),
        Backend::Redb => format!("redb:{}", dir.join("nerve.redb").display()),
        Backend::Postgres => store_postgres::harness::options(dir).location(),
    }
}

/// `create_if_missing(false)` answers `NoStore` where there is none, for the facade's open
/// as for each backend's; the same options open a store that exists.
fn an_open_that_may_not_create_finds_no_store_then_opens_one(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = location(dir.path(), backend);
    let existing = OpenOptions::default().create_if_missing(false);
    let err = nerve_store::open_with(&at, &existing)
        .map(|_| ())
        .expect_err("no store yet");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");
    let err = nerve_store::open_read_only(&at)
        .map(|_| ())
        .expect_err("nothing was created");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");

    drop(nerve_store::open(&at).expect("created"));
    let store = nerve_store::open_with(&at, &existing).expect("it exists now");
    store
        .log
        .append(NewLogEntry::new("s", "k", "p"))
        .expect("opened for writing");
}

/// The whole-store check of a sound store says so part by part, and serialises as
/// `nerve-store check --json` prints it.
fn the_check_of_a_sound_store_is_sound_part_by_part(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = nerve_store::open(&location(dir.path(), backend)).expect("a store");
    store.blobs.write(b"a blob").expect("a blob");
    let report = nerve_store::check(&store).expect("a report");
    assert!(report.is_sound(), "{report:?}");
    assert!(report.problem().is_none());
    assert_eq!(report.blobs_checked, 1);
    let json = serde_json::to_value(&report).expect("serialises");
    assert_eq!(json["log"], "sound");
    assert_eq!(json["blobsChecked"], 1);
    assert_eq!(json["blobsCorrupt"], serde_json::json!([]));
    assert_eq!(json["store"], report.store.to_string());
}

store_conformance::for_each_backend!(
    backends: {
        sqlite => Backend::Sqlite,
        redb => Backend::Redb,
        postgres => Backend::Postgres,
    },
    cases: {
        an_open_that_may_not_create_finds_no_store_then_opens_one,
        the_check_of_a_sound_store_is_sound_part_by_part,
    }
);

/// A store whose blob file is gone is `BlobFileMissing`, naming both files, for every open
/// that may not create; none makes an empty blob file in its place.
fn a_store_without_its_blob_file_is_named_and_no_blob_file_is_made(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = location(dir.path(), backend);
    let store = nerve_store::open(&at).expect("a store");
    let blobs = store.location.blob_file().expect("a blob file");
    drop(store);
    std::fs::remove_file(&blobs).expect("lose the blob file");
    for (what, opened) in [
        (
            "create_if_missing(false)",
            nerve_store::open_with(&at, &OpenOptions::default().create_if_missing(false)),
        ),
        ("read-only", nerve_store::open_read_only(&at)),
    ] {
        match opened.map(|_| ()).expect_err("the blob file is missing") {
            StoreError::BlobFileMissing { path, .. } => assert_eq!(path, blobs, "{what}"),
            other => panic!("{what}: {other}"),
        }
        assert!(
            !blobs.exists(),
            "{what}: no blob file was made in its place"
        );
    }
}

/// Damage in one part of the store is reported in that part, the others still checked, and
/// the report's problem is the damage, the file named.
fn the_check_names_a_damaged_archive_file_and_checks_the_rest(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = nerve_store::open(&location(dir.path(), backend)).expect("a store");
    let archive = store.location.archive_dir();
    std::fs::create_dir_all(archive.join("logs")).expect("the archive's folder");
    let day = archive.join("logs/2026-01-01.jsonl");
    std::fs::write(&day, "{\"id\": not json\n").expect("a damaged day file");
    let report = nerve_store::check(&store).expect("a report");
    assert!(report.log.is_ok(), "the log is still checked: {report:?}");
    match report.problem() {
        Some(StoreError::ArchiveLine { .. }) => {}
        other => panic!("the archive's damage: {other:?}"),
    }
    let json = serde_json::to_value(&report).expect("serialises");
    let damage = json["archiveDamage"].as_str().expect("the damage as text");
    assert!(damage.contains("2026-01-01.jsonl"), "{damage}");
}

/// A store opens from a path as well as a location string: the extension names the backend,
/// and a blob file or another extension is refused by name.
fn a_store_opens_from_a_path(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(match backend {
        Backend::Redb => "from path.redb",
        _ => "from path.db",
    });
    let store = nerve_store::open_path(&file).expect("opened from a path");
    assert_eq!(store.location.backend, backend);
    assert_eq!(store.location.file(), Some(file.as_path()));
    let blobs = store.location.blob_file().expect("a blob file");
    drop(store);
    for refused in [blobs, dir.path().join("notes.txt")] {
        let err = nerve_store::open_path(&refused)
            .map(|_| ())
            .expect_err("refused");
        assert!(
            matches!(
                err,
                StoreError::InvalidInput {
                    field: "location",
                    ..
                }
            ),
            "{err}"
        );
    }
}

mod files {
    use super::*;

    store_conformance::for_each_backend!(
        backends: {
            sqlite => Backend::Sqlite,
            redb => Backend::Redb,
        },
        cases: {
            a_store_without_its_blob_file_is_named_and_no_blob_file_is_made,
            the_check_names_a_damaged_archive_file_and_checks_the_rest,
            a_store_opens_from_a_path,
        }
    );
}
