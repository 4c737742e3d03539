//! The conformance harness of the file blob store (feature `conformance`): how the blob suite
//! of `store-core` opens it and damages a blob's file as the disk or a person would.

use std::path::{Path, PathBuf};

use store_conformance::BlobHarness;
use store_core::{BlobStore, Digest, StoreResult};

/// The file blob store under test, in the folder `blobs` of the case's folder.
pub struct FsHarness;

/// The file that holds `digest` in the store kept in `dir`.
pub fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.to_hex();
    dir.join("blobs").join(&hex[..2]).join(&hex[2..])
}

impl BlobHarness for FsHarness {
    fn open_blobs(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(crate::FsBlobStore::open(dir.join("blobs"))?))
    }

    fn open_blobs_read_only(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(crate::FsBlobStore::open_read_only(
            dir.join("blobs"),
        )?))
    }

    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        std::fs::write(blob_path(dir, digest), content).expect("overwrite the blob's file");
    }

    fn remove(&self, dir: &Path, digest: &Digest) {
        std::fs::remove_file(blob_path(dir, digest)).expect("remove the blob's file");
    }
}
