//! Runs the blob conformance suite of `store-core` against `FsBlobStore`.

use std::path::Path;

use store_blob::FsBlobStore;
use store_core::conformance::blobs::Tamper;
use store_core::{BlobStore, Digest, StoreResult};

fn open(dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
    Ok(Box::new(FsBlobStore::open(dir.join("blobs"))?))
}

/// Damage as the disk or a person would do it: the blob's file itself.
struct Files;

impl Files {
    fn path(dir: &Path, digest: &Digest) -> std::path::PathBuf {
        let hex = digest.to_hex();
        dir.join("blobs").join(&hex[..2]).join(&hex[2..])
    }
}

impl Tamper for Files {
    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        std::fs::write(Self::path(dir, digest), content).expect("overwrite the blob's file");
    }

    fn remove(&self, dir: &Path, digest: &Digest) {
        std::fs::remove_file(Self::path(dir, digest)).expect("remove the blob's file");
    }
}

store_core::blob_store_conformance!(open, &Files);
