//! Only a regular file is a blob. A FIFO, a link (to `/dev/zero`, to a good copy, dangling) or
//! a folder under a blob's name is reported as corrupt by every reading call at once, never
//! waited on, followed or read without end; writing the blob again puts a whole copy back.
#![cfg(unix)]

use std::path::{Path, PathBuf};

use store_blob::FsBlobStore;
use store_conformance::{make_fifo, within_bound};
use store_core::{BlobHealth, BlobStore, Digest, StoreError, VerifyReport};

/// Puts something at the first path; the second is a good copy of the blob elsewhere.
type Make = fn(&Path, &Path);

/// The ways something other than a regular file can stand under a blob's name.
fn odd_things() -> Vec<(&'static str, Make)> {
    vec![
        ("a FIFO", |path, _| make_fifo(path)),
        ("a link to /dev/zero", |path, _| {
            std::os::unix::fs::symlink("/dev/zero", path).expect("link")
        }),
        ("a link to a good copy", |path, good| {
            std::os::unix::fs::symlink(good, path).expect("link")
        }),
        ("a dangling link", |path, _| {
            std::os::unix::fs::symlink("/nonexistent/blob", path).expect("link")
        }),
        ("an empty folder", |path, _| {
            std::fs::create_dir(path).expect("folder")
        }),
    ]
}

fn assert_corrupt(what: &str, result: Result<impl std::fmt::Debug, StoreError>, digest: Digest) {
    match result {
        Err(StoreError::Corrupt { digest: d }) if d == digest => {}
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}

#[test]
fn anything_but_a_regular_file_is_corrupt_at_once_and_a_rewrite_repairs_it() {
    for (name, make) in odd_things() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("blobs");
        let content = b"the blob's content".to_vec();
        let store = FsBlobStore::open(&root).expect("open");
        let digest = store.write(&content).expect("write");
        let path = store.path_of(&digest);
        let good: PathBuf = dir.path().join("good-copy");
        std::fs::write(&good, &content).expect("a good copy elsewhere");
        std::fs::remove_file(&path).expect("remove the blob's file");
        make(&path, &good);

        let store = std::sync::Arc::new(FsBlobStore::open(&root).expect("reopen"));
        let s = store.clone();
        let (read, opened, len, exists, verify, all) = within_bound(name, move || {
            (
                s.read(&digest).map(|_| ()),
                s.open(&digest).map(|_| ()),
                s.len(&digest),
                s.exists(&digest),
                s.verify(&digest),
                s.verify_all(),
            )
        });
        assert_corrupt(&format!("{name}: read"), read, digest);
        assert_corrupt(&format!("{name}: open"), opened, digest);
        assert_corrupt(&format!("{name}: len"), len, digest);
        assert!(!exists.expect("exists answers"), "{name}: exists");
        assert_eq!(
            verify.expect("verify answers"),
            BlobHealth::Corrupt,
            "{name}"
        );
        assert_eq!(
            all.expect("verify_all answers"),
            VerifyReport {
                checked: 1,
                corrupt: vec![digest]
            },
            "{name}"
        );

        let s = store.clone();
        let rewrite = within_bound(name, move || s.write(b"the blob's content"));
        if name == "an empty folder" {
            // A folder is not replaced by a rename: the write says where, and keeps it.
            let err = rewrite.expect_err("a folder under the name");
            assert!(
                matches!(&err, StoreError::Io { path: Some(p), .. } if *p == path),
                "{name}: {err}"
            );
            continue;
        }
        assert_eq!(rewrite.expect("write again"), digest, "{name}");
        assert_eq!(
            store.read(&digest).expect("read").as_deref(),
            Some(&content[..]),
            "{name}: repaired"
        );
        let kind = std::fs::symlink_metadata(&path).expect("stat").file_type();
        assert!(kind.is_file(), "{name}: a regular file again");
        assert_eq!(
            std::fs::read(&good).expect("the link's target"),
            content,
            "{name}: what a link pointed to is left alone"
        );
    }
}
