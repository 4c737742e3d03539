//! Runs the blob conformance suite of `store-core` against `RedbBlobStore`.

use std::path::Path;

use redb::ReadableTable;
use store_core::conformance::blobs::Tamper;
use store_core::{BlobStore, Digest, StoreResult};
use store_redb::RedbBlobStore;

const BLOBS: redb::TableDefinition<&[u8], (u64, u64)> = redb::TableDefinition::new("blobs");
const BLOB_CHUNKS: redb::TableDefinition<(u64, u32), &[u8]> =
    redb::TableDefinition::new("blob_chunks");

fn open(dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
    Ok(Box::new(RedbBlobStore::open(dir.join("nerve.blobs.redb"))?))
}

/// Damage to the rows that hold a blob, through a raw redb handle.
struct Rows;

fn with_blob(dir: &Path, digest: &Digest, damage: impl FnOnce(&redb::WriteTransaction, u64)) {
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("nerve.blobs.redb"))
        .expect("raw open");
    let tx = db.begin_write().expect("begin");
    let (id, _) = {
        let blobs = tx.open_table(BLOBS).expect("blobs");
        let row = blobs
            .get(digest.as_bytes().as_slice())
            .expect("get")
            .expect("the blob's row");
        row.value()
    };
    damage(&tx, id);
    tx.commit().expect("commit");
}

impl Tamper for Rows {
    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        with_blob(dir, digest, |tx, id| {
            let mut chunks = tx.open_table(BLOB_CHUNKS).expect("chunks");
            chunks
                .retain_in((id, 0)..=(id, u32::MAX), |_, _| false)
                .expect("drop the chunks");
            chunks
                .insert((id, 0), content)
                .expect("write other content");
        });
    }

    fn remove(&self, dir: &Path, digest: &Digest) {
        with_blob(dir, digest, |tx, id| {
            let mut chunks = tx.open_table(BLOB_CHUNKS).expect("chunks");
            chunks
                .retain_in((id, 0)..=(id, u32::MAX), |_, _| false)
                .expect("drop the chunks");
            tx.open_table(BLOBS)
                .expect("blobs")
                .remove(digest.as_bytes().as_slice())
                .expect("drop the row");
        });
    }
}

store_core::blob_store_conformance!(open, &Rows);
