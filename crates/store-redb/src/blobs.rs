//! `RedbBlobStore`: content-addressed blobs in a redb file, in chunks.

use std::io::{self, Read};
use std::path::Path;

use chrono::{DateTime, Utc};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use store_core::{
    BlobInfo, BlobStore, Digest, StoreError, StoreResult,
    kit::{ChunkRows, ChunkedReader, VerifyingReader, write_chunked},
};

use crate::engine::Engine;
use crate::error::Context;
use crate::options::RedbOptions;
use crate::schema::{BLOB_CHUNKS, BLOB_TIMES, BLOBS, NEXT_BLOB_ID_KEY, STORE_INFO};

/// A [`BlobStore`] in a redb file: each blob a row naming it by digest and its content in
/// chunks of 256 KiB.
///
/// A write is one write transaction: the chunks, then the blob's row, committed together,
/// so a crash or a failing source leaves nothing. redb holds a write transaction's dirty
/// pages until it commits, so a write costs memory in proportion to the blob: for blobs of
/// hundreds of MiB, prefer the file store (`store-blob`), whose writes stream in constant
/// memory.
///
/// ```
/// use store_core::BlobStore;
/// use store_redb::RedbBlobStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let blobs = RedbBlobStore::open(dir.path().join("nerve.blobs.redb"))?;
/// let digest = blobs.write(b"model output")?;
/// assert_eq!(blobs.read(&digest)?.as_deref(), Some(&b"model output"[..]));
/// # Ok(())
/// # }
/// ```
pub struct RedbBlobStore {
    engine: Engine,
    durability: redb::Durability,
}

impl std::fmt::Debug for RedbBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbBlobStore")
            .field("path", &self.engine.path())
            .finish_non_exhaustive()
    }
}

impl RedbBlobStore {
    /// Opens the blob store in the redb file at `path` (a store's file, or one of its own),
    /// creating it if missing, with [`RedbOptions::default`].
    ///
    /// # Errors
    /// As [`crate::RedbLogStore::open`].
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, RedbOptions::default())
    }

    /// Opens the blob store at `path` with `options`.
    ///
    /// # Errors
    /// As [`crate::RedbLogStore::open_with`].
    pub fn open_with(path: impl AsRef<Path>, options: RedbOptions) -> StoreResult<Self> {
        Ok(RedbBlobStore {
            engine: Engine::open(path.as_ref(), &options)?,
            durability: crate::options::redb_durability(options.store.durability),
        })
    }

    /// A store on an engine opened elsewhere (the full-disk tests' seam).
    #[cfg(test)]
    pub(crate) fn on_engine(engine: Engine, options: &RedbOptions) -> Self {
        RedbBlobStore {
            engine,
            durability: crate::options::redb_durability(options.store.durability),
        }
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        self.engine.path()
    }

    fn lookup(&self, digest: &Digest) -> StoreResult<Option<(u64, u64)>> {
        self.engine.read(|tx| lookup_in(tx, digest))
    }
}

impl BlobStore for RedbBlobStore {
    fn write_from(&self, source: &mut dyn Read) -> StoreResult<Digest> {
        self.engine
            .write_if("writing a blob", self.durability, |tx| {
                write_chunks(tx, source)
            })
    }

    fn open(&self, digest: &Digest) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        let context = || format!("opening blob {digest}");
        // One read transaction, held by the tables, from the first chunk to the last.
        let tx = self.engine.begin_read()?;
        let Some((blob_id, _)) = lookup_in(&tx, digest)? else {
            return Ok(None);
        };
        let chunks = tx.open_table(BLOB_CHUNKS).context(context())?;
        let path = self.engine.path().to_owned();
        let doing = context();
        let reader = ChunkedReader::new(move |seq| {
            crate::engine::contain(&path, &doing, || {
                let chunk = chunks.get((blob_id, seq)).context(&doing)?;
                Ok(chunk.map(|data| data.value().to_vec()))
            })
            .map_err(io::Error::other)
        });
        Ok(Some(Box::new(VerifyingReader::new(reader, *digest))))
    }

    fn len(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        Ok(self.lookup(digest)?.map(|(_, size)| size))
    }

    fn delete(&self, digest: &Digest) -> StoreResult<bool> {
        let context = format!("deleting blob {digest}");
        self.engine.write_if(&context, self.durability, |tx| {
            let mut blobs = tx.open_table(BLOBS).context(&context)?;
            let removed = blobs
                .remove(digest.as_bytes().as_slice())
                .context(&context)?
                .map(|row| row.value());
            let Some((blob_id, _)) = removed else {
                return Ok((false, false));
            };
            let mut times = tx.open_table(BLOB_TIMES).context(&context)?;
            times
                .remove(digest.as_bytes().as_slice())
                .context(&context)?;
            let mut chunks = tx.open_table(BLOB_CHUNKS).context(&context)?;
            chunks
                .retain_in((blob_id, 0)..=(blob_id, u32::MAX), |_, _| false)
                .context(&context)?;
            Ok((true, true))
        })
    }

    fn list(&self) -> StoreResult<Vec<Digest>> {
        self.engine.read(list_in)
    }

    fn count(&self) -> StoreResult<u64> {
        // redb keeps a table's length in its header: no walk.
        self.engine.read(|tx| {
            let context = "counting blobs";
            let blobs = tx.open_table(BLOBS).context(context)?;
            redb::ReadableTableMetadata::len(&blobs).context(context)
        })
    }

    fn inventory(&self) -> StoreResult<Vec<BlobInfo>> {
        self.engine.read(|tx| {
            let context = "taking the blobs' inventory";
            let times = tx.open_table(BLOB_TIMES).context(context)?;
            let blobs = tx.open_table(BLOBS).context(context)?;
            let mut out = Vec::new();
            for item in blobs.iter().context(context)? {
                let (key, row) = item.context(context)?;
                let bytes: [u8; 32] = key.value().try_into().map_err(|_| {
                    StoreError::corrupt("blobs", format!("{:?}", key.value()), "not 32 bytes")
                })?;
                let digest = Digest::from_bytes(bytes);
                let written_at = match times.get(key.value()).context(context)? {
                    Some(ms) => {
                        Some(DateTime::from_timestamp_millis(ms.value()).ok_or_else(|| {
                            StoreError::corrupt("blob_times", digest, "a time out of range")
                        })?)
                    }
                    None => None,
                };
                out.push(BlobInfo {
                    digest,
                    len: row.value().1,
                    written_at,
                });
            }
            Ok(out)
        })
    }

    /// Every removal of `digests` in one write transaction.
    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        let context = "collecting blobs";
        self.engine.write_if(context, self.durability, |tx| {
            let mut times = tx.open_table(BLOB_TIMES).context(context)?;
            let mut blobs = tx.open_table(BLOBS).context(context)?;
            let mut chunks = tx.open_table(BLOB_CHUNKS).context(context)?;
            let mut freed = Vec::with_capacity(digests.len());
            for digest in digests {
                let key = digest.as_bytes().as_slice();
                let old = times
                    .get(key)
                    .context(context)?
                    .is_some_and(|ms| ms.value() < cutoff.timestamp_millis());
                if !old {
                    freed.push(None);
                    continue;
                }
                times.remove(key).context(context)?;
                let removed = blobs.remove(key).context(context)?.map(|row| row.value());
                let Some((blob_id, size)) = removed else {
                    freed.push(None);
                    continue;
                };
                chunks
                    .retain_in((blob_id, 0)..=(blob_id, u32::MAX), |_, _| false)
                    .context(context)?;
                freed.push(Some(size));
            }
            let wrote = freed.iter().any(Option::is_some);
            Ok((freed, wrote))
        })
    }
}

/// Every digest of the blobs table, in order.
fn list_in(tx: &ReadTransaction) -> StoreResult<Vec<Digest>> {
    let context = "listing blobs";
    let blobs = tx.open_table(BLOBS).context(context)?;
    let mut digests = Vec::new();
    for item in blobs.iter().context(context)? {
        let (key, _) = item.context(context)?;
        let bytes: [u8; 32] = key.value().try_into().map_err(|_| {
            StoreError::corrupt(
                "blobs",
                format!("{:?}", key.value()),
                "a digest is 32 bytes",
            )
        })?;
        digests.push(Digest::from_bytes(bytes));
    }
    Ok(digests)
}

/// The (blob id, size) row of `digest`, read in `tx`: a reader of the blob reads its chunks
/// in the same snapshot.
fn lookup_in(tx: &ReadTransaction, digest: &Digest) -> StoreResult<Option<(u64, u64)>> {
    let context = || format!("looking up blob {digest}");
    let blobs = tx.open_table(BLOBS).context(context())?;
    let found = blobs.get(digest.as_bytes().as_slice()).context(context())?;
    Ok(found.map(|row| row.value()))
}

/// The blob tables of one write transaction, as [`write_chunked`] drives them.
struct Rows<'t> {
    tx: &'t WriteTransaction,
    blobs: redb::Table<'t, &'static [u8], (u64, u64)>,
    chunks: redb::Table<'t, (u64, u32), &'static [u8]>,
}

const WRITING: &str = "writing a blob";

impl ChunkRows for Rows<'_> {
    fn new_blob_id(&mut self) -> StoreResult<u64> {
        let mut info = self.tx.open_table(STORE_INFO).context(WRITING)?;
        let id = info
            .get(NEXT_BLOB_ID_KEY)
            .context(WRITING)?
            .map_or(1, |v| v.value());
        info.insert(NEXT_BLOB_ID_KEY, id + 1).context(WRITING)?;
        Ok(id)
    }

    fn put_chunk(&mut self, id: u64, seq: u32, data: &[u8]) -> StoreResult<()> {
        self.chunks.insert((id, seq), data).context(WRITING)?;
        Ok(())
    }

    fn named(&mut self, digest: &Digest) -> StoreResult<Option<(u64, u64)>> {
        let found = self
            .blobs
            .get(digest.as_bytes().as_slice())
            .context(WRITING)?;
        Ok(found.map(|row| row.value()))
    }

    fn each_chunk(&mut self, id: u64, visit: &mut dyn FnMut(u32, &[u8])) -> StoreResult<bool> {
        let context = "checking the stored copy of a blob";
        for item in self
            .chunks
            .range((id, 0)..=(id, u32::MAX))
            .context(context)?
        {
            let (key, data) = item.context(context)?;
            visit(key.value().1, data.value());
        }
        Ok(true)
    }

    fn drop_chunks(&mut self, id: u64) -> StoreResult<()> {
        self.chunks
            .retain_in((id, 0)..=(id, u32::MAX), |_, _| false)
            .context("dropping a damaged copy of a blob")
    }

    fn name(&mut self, digest: &Digest, id: u64, size: u64, now: i64) -> StoreResult<()> {
        self.blobs
            .insert(digest.as_bytes().as_slice(), (id, size))
            .context(WRITING)?;
        self.touch(digest, now).map(drop)
    }

    fn touch(&mut self, digest: &Digest, now: i64) -> StoreResult<bool> {
        let mut times = self.tx.open_table(BLOB_TIMES).context(WRITING)?;
        times
            .insert(digest.as_bytes().as_slice(), now)
            .context(WRITING)?;
        Ok(true)
    }
}

/// Stages the chunks of `source` under a new blob id in `tx` and names them by their digest.
/// Returns the digest and whether to commit: not when a whole copy was there already.
fn write_chunks(tx: &WriteTransaction, source: &mut dyn Read) -> StoreResult<(Digest, bool)> {
    let blobs = tx.open_table(BLOBS).context(WRITING)?;
    let chunks = tx.open_table(BLOB_CHUNKS).context(WRITING)?;
    write_chunked(&mut Rows { tx, blobs, chunks }, source)
}
