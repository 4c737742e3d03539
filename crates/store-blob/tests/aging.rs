//! The file store ages a blob by its file's modification time, from the `.aged-since` marker
//! its first open for writing made: a file older than the marker (written by a build that
//! kept no references) has no known age, and garbage collection never removes it.

use std::time::{Duration, SystemTime};

use store_blob::FsBlobStore;
use store_core::BlobStore;

#[test]
fn a_blob_file_older_than_the_marker_has_no_age_and_is_never_collected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("blobs");
    let store = FsBlobStore::open(&root).expect("open");
    let old = store.write(b"written by an older build").expect("a blob");
    drop(store);
    // As an older build left it: no marker, and a file from last week.
    std::fs::remove_file(root.join(".aged-since")).expect("the marker");
    let hex = old.to_hex();
    let file = std::fs::File::options()
        .write(true)
        .open(root.join(&hex[..2]).join(&hex[2..]))
        .expect("the blob's file");
    file.set_modified(SystemTime::now() - Duration::from_secs(7 * 86_400))
        .expect("a week old");
    drop(file);

    let read_only = FsBlobStore::open_read_only(&root).expect("open read-only");
    assert!(
        read_only
            .inventory()
            .expect("inventory")
            .iter()
            .all(|info| info.written_at.is_none()),
        "without a marker no blob has a known age"
    );
    let store = FsBlobStore::open(&root).expect("open again");
    let inventory = store.inventory().expect("inventory");
    let age = |digest| {
        inventory
            .iter()
            .find(|info| info.digest == digest)
            .expect("listed")
            .written_at
    };
    assert_eq!(age(old), None, "older than the new marker");
    let later = chrono::Utc::now() + chrono::Duration::days(30);
    assert_eq!(
        store
            .delete_if_written_before(&old, later)
            .expect("collect"),
        None,
        "a blob of no known age is kept"
    );
    assert!(store.exists(&old).expect("exists"));
    // Written again, it has an age from now on.
    store.write(b"written by an older build").expect("again");
    assert!(
        store
            .inventory()
            .expect("inventory")
            .iter()
            .find(|info| info.digest == old)
            .and_then(|info| info.written_at)
            .is_some()
    );
}
