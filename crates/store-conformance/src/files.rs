//! SPEC 4 and 5, the store's file: opening creates what is missing, refuses what is not a
//! store without touching it, and a damaged file is an error, never a panic.
//!
//! The cases find the store's file as the one file an opened-then-closed store leaves in
//! its folder (SQLite's `-wal` and `-shm` are gone once it is closed cleanly), beside small
//! files named after it (redb's `.sealed`, which says it was closed cleanly).

use std::path::{Path, PathBuf};

use super::{OpenStore, all_entries};
use store_core::{LogQuery, NewLogEntry, StoreError};

/// The files a closed store left in `dir`, but for those named after another of them (a
/// file's companions: `nerve.redb.sealed` beside `nerve.redb`).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let all = every_file_in(dir);
    all.iter()
        .filter(|file| {
            !all.iter().any(|other| {
                other != *file
                    && file
                        .as_os_str()
                        .to_string_lossy()
                        .starts_with(&*other.to_string_lossy())
            })
        })
        .cloned()
        .collect()
}

/// Every file in `dir`, sorted.
fn every_file_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list the store's folder")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Opens a store in `dir`, lets `fill` write to it, closes it, and returns its one file.
fn closed_store_file(
    open: OpenStore,
    dir: &Path,
    fill: impl FnOnce(&dyn store_core::LogBackend),
) -> PathBuf {
    let store = open(dir).expect("a fresh store opens");
    fill(store.as_ref());
    drop(store);
    let files = files_in(dir);
    assert_eq!(files.len(), 1, "a closed store leaves one file: {files:?}");
    files.into_iter().next().expect("one file")
}

/// A store opened in a folder that does not exist yet creates the folders and its file.
pub fn opening_creates_missing_folders(open: OpenStore) {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("a/b/c");
    let store = open(&dir).expect("open where the folders do not exist yet");
    let entry = store
        .append(NewLogEntry::new("s", "k", "p"))
        .expect("append");
    drop(store);
    assert_eq!(files_in(&dir).len(), 1);
    let again = open(&dir).expect("reopen");
    assert_eq!(all_entries(again.as_ref()), vec![entry]);
}

/// A file of text where the store's file should be is refused as not a store, by path,
/// and left byte for byte as it was.
pub fn a_file_that_is_not_a_store_is_refused_and_left_alone(open: OpenStore) {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path();
    let path = closed_store_file(open, dir, |_| {});
    let notes = b"these are somebody's notes, not a database\n".repeat(200);
    std::fs::write(&path, &notes).expect("put notes where the store was");
    let err = open(dir)
        .map(|_| ())
        .expect_err("a text file is not a store");
    assert!(matches!(&err, StoreError::NotAStore { .. }), "{err}");
    let name = path
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    assert!(
        err.to_string().contains(&name),
        "the message names the file: {err}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        notes,
        "the file is untouched"
    );
}

/// A store file whose pages after the header were overwritten with garbage fails to open
/// or to answer, with an error: no panic, no made-up entries.
pub fn a_garbage_filled_file_is_an_error_not_a_panic(open: OpenStore) {
    let root = tempfile::tempdir().expect("temp dir");
    let path = closed_store_file(open, root.path(), |store| {
        let batch = (0..2000)
            .map(|i| NewLogEntry::new("s", "k", format!("entry {i}")))
            .collect();
        store.append_batch(batch).expect("fill a few pages");
    });
    let mut bytes = std::fs::read(&path).expect("read");
    for (i, byte) in bytes.iter_mut().enumerate().skip(4096) {
        *byte = u8::try_from(i * 31 % 251).expect("below 251");
    }
    std::fs::write(&path, &bytes).expect("write garbage");
    let everything = LogQuery {
        limit: Some(usize::MAX),
        ..LogQuery::default()
    };
    let outcome = open(root.path()).and_then(|store| store.query(&everything));
    let err = outcome.expect_err("a ruined file");
    assert!(
        matches!(
            &err,
            StoreError::Damaged { .. }
                | StoreError::NotAStore { .. }
                | StoreError::CorruptValue { .. }
        ),
        "{err}"
    );
}

/// An empty file where the store's file goes (as `touch` or an installer leaves one) is not
/// another program's data: opening makes a store of it, whole.
pub fn an_empty_file_becomes_a_store(open: OpenStore) {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("store");
    let file = closed_store_file(open, &dir, |_| ());
    std::fs::remove_file(&file).expect("remove the store's file");
    std::fs::File::create(&file).expect("an empty file in its place");
    let store = open(&dir).expect("an empty file opens as a new store");
    let entry = store
        .append(NewLogEntry::new("s", "k", "p"))
        .expect("it takes writes");
    drop(store);
    let store = open(&dir).expect("it opens again");
    assert_eq!(all_entries(store.as_ref()), vec![entry]);
}

/// A store file damaged in its middle (pages an open need not read) is reported as
/// [`StoreError::Damaged`], naming the file, by the open or else by a check: never as
/// sound.
pub fn damage_in_the_middle_of_a_file_is_found_by_its_open_or_its_check(open: OpenStore) {
    let root = tempfile::tempdir().expect("temp dir");
    let path = closed_store_file(open, root.path(), |store| {
        let batch = (0..4000)
            .map(|i| NewLogEntry::new("s", "k", format!("entry {i} {}", "x".repeat(200))))
            .collect();
        store.append_batch(batch).expect("fill pages");
    });
    let mut bytes = std::fs::read(&path).expect("read");
    let (from, to) = (bytes.len() * 4 / 10, bytes.len() * 5 / 10);
    for (i, byte) in bytes[from..to].iter_mut().enumerate() {
        *byte = u8::try_from(i * 31 % 251).expect("below 251");
    }
    std::fs::write(&path, &bytes).expect("damage the middle");
    let err = open(root.path())
        .and_then(|store| store.check())
        .expect_err("damage is found");
    assert!(
        matches!(&err, StoreError::Damaged { path: named, .. } if *named == path),
        "{err}"
    );
}
