//! A write interrupted at each of its steps, through the file seam: whatever step fails,
//! a reopened store sees either no blob or the whole blob, never a part, and a failed sync
//! poisons the handle.

use std::fs::File;
use std::path::Path;

use store_conformance::FailAt;
use store_core::{BlobHealth, BlobStore, Digest, StoreError};

use crate::store::FsBlobStore;

/// Three chunks of content, so the write has several write steps.
fn data() -> Vec<u8> {
    (0..600_000u32).map(|i| (i % 251) as u8).collect()
}

fn staged_files(root: &Path) -> usize {
    std::fs::read_dir(root.join("tmp")).map_or(0, |entries| entries.count())
}

/// A folder whose store folders exist already, so that opening takes no file step and the
/// steps counted are the write's alone.
fn existing_store_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("tmp")).expect("staging folder");
    dir
}

#[test]
fn a_write_failing_at_any_step_leaves_nothing_or_the_whole_blob() {
    let data = data();
    let digest = Digest::of(&data);
    // A write with no failure, to count its steps.
    let counter = std::sync::Arc::new(FailAt::new(usize::MAX));
    let dir = existing_store_folder();
    let store = FsBlobStore::open_with_files(dir.path(), Box::new(counter.clone())).expect("open");
    store.write(&data).expect("an uninterrupted write");
    let total = counter.steps();
    assert!(
        total >= 8,
        "create, 3 writes, sync, folder, rename, sync folder: {total}"
    );

    let mut failed_steps = Vec::new();
    for fail_at in 1..=total {
        let dir = existing_store_folder();
        let faults = std::sync::Arc::new(FailAt::new(fail_at));
        let store =
            FsBlobStore::open_with_files(dir.path(), Box::new(faults.clone())).expect("open");
        let err = store
            .write(&data)
            .expect_err("the injected failure surfaces");
        let step = faults.failed_step().expect("a step failed");
        failed_steps.push(step);

        let reopened = FsBlobStore::open(dir.path()).expect("reopen with real files");
        let visible = reopened.list().expect("list");
        let after_rename = step == "sync folder" && fail_at == total;
        if after_rename {
            assert_eq!(
                visible,
                vec![digest],
                "failing after the rename, the blob is whole"
            );
            assert_eq!(
                reopened.verify(&digest).expect("verify"),
                BlobHealth::Intact
            );
        } else {
            assert!(
                visible.is_empty(),
                "failing at step {fail_at} ({step}) leaves no blob: {visible:?}"
            );
        }
        assert_eq!(
            staged_files(dir.path()),
            0,
            "no temporary file is left at step {fail_at}"
        );

        let syncs = ["sync file", "sync folder"];
        let next = store.write(b"after the failure");
        if syncs.contains(&step) {
            let next = next.expect_err("a failed sync poisons the store");
            assert!(matches!(next, StoreError::Poisoned { .. }), "{next}");
        } else {
            next.unwrap_or_else(|e| panic!("a failure at {step} does not poison: {e} (was {err})"));
        }
        assert!(
            reopened.write(&data).is_ok(),
            "a reopened store writes again"
        );
    }
    for step in [
        "create",
        "write",
        "sync file",
        "create folder",
        "rename",
        "sync folder",
    ] {
        assert!(
            failed_steps.contains(&step),
            "step {step} was failed once: {failed_steps:?}"
        );
    }
}

#[test]
fn stale_temporary_files_are_swept_and_fresh_ones_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let staging = dir.path().join("tmp");
    std::fs::create_dir_all(&staging).expect("staging folder");
    let fresh = staging.join("live-writer.tmp");
    let stale = staging.join("killed-writer.tmp");
    std::fs::write(&fresh, b"a blob being written").expect("a live writer's file");
    std::fs::write(&stale, b"half a blob").expect("a leftover");
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    File::options()
        .write(true)
        .open(&stale)
        .and_then(|file| file.set_modified(two_hours_ago))
        .expect("age the leftover");

    let store = FsBlobStore::open(dir.path()).expect("open sweeps with the default grace");
    assert!(
        fresh.exists(),
        "a file written within the grace period is kept"
    );
    assert!(
        !stale.exists(),
        "a file older than the grace period is swept"
    );
    assert_eq!(
        store.sweep(crate::DEFAULT_GRACE).expect("sweep"),
        0,
        "nothing else is stale"
    );
    assert!(
        store.list().expect("list").is_empty(),
        "a leftover was never a blob"
    );
}
