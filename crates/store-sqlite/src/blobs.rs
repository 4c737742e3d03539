//! `SqliteBlobStore`: content-addressed blobs in a SQLite file, in chunks.

use std::io::{self, Read};
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use store_core::{
    BlobInfo, BlobStore, Digest, StoreError, StoreResult,
    kit::{ChunkRows, ChunkedReader, VerifyingReader, write_chunked},
};

use crate::error::{Context, on_file};
use crate::open::{Connections, Reader};
use crate::options::SqliteOptions;
use store_core::Durability;

/// A [`BlobStore`] in a SQLite file: each blob a row naming it by digest and its content
/// in chunks of 256 KiB, so reads and writes stream.
///
/// A write is one transaction: the chunks, then the blob's row, committed together, so a
/// crash or a failing source leaves nothing. It holds the file's write lock while it reads
/// its source: give blobs a file of their own (the usual `nerve.blobs.db`) when the log's
/// writers must not wait for a large upload. The file may also be the log store's own.
///
/// ```
/// use store_core::BlobStore;
/// use store_sqlite::SqliteBlobStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let blobs = SqliteBlobStore::open(dir.path().join("nerve.blobs.db"))?;
/// let digest = blobs.write(b"model output")?;
/// assert_eq!(blobs.read(&digest)?.as_deref(), Some(&b"model output"[..]));
/// # Ok(())
/// # }
/// ```
pub struct SqliteBlobStore {
    conns: Connections,
}

impl std::fmt::Debug for SqliteBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBlobStore")
            .field("path", &self.conns.path())
            .finish_non_exhaustive()
    }
}

impl SqliteBlobStore {
    /// Opens the blob store in the SQLite file at `path` (a store's file, or a file of its
    /// own), creating it if missing, with [`SqliteOptions::default`] but
    /// [`Durability::PowerLoss`]: a blob write that has returned must survive a power loss, so
    /// that a log entry written after it never names a lost blob.
    ///
    /// # Errors
    /// As [`crate::SqliteLogStore::open`].
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(
            path,
            SqliteOptions::default().durability(Durability::PowerLoss),
        )
    }

    /// Opens the blob store at `path` with `options`.
    ///
    /// # Errors
    /// As [`crate::SqliteLogStore::open`].
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> StoreResult<Self> {
        Ok(SqliteBlobStore {
            conns: Connections::open(path.as_ref(), options)
                .map_err(|err| on_file(path.as_ref(), err))?,
        })
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        self.conns.path()
    }

    fn lookup(&self, digest: &Digest) -> StoreResult<Option<(i64, i64)>> {
        let reader = self.conns.reader()?;
        lookup_in(&reader, digest)
    }
}

/// The (blob id, size) row of `digest`, read on `conn` (a reader, or the write transaction).
fn lookup_in(conn: &rusqlite::Connection, digest: &Digest) -> StoreResult<Option<(i64, i64)>> {
    conn.prepare_cached("SELECT blob_id, size FROM blobs WHERE digest = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([digest.as_bytes().as_slice()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
        })
        .with_context(|| format!("looking up blob {digest}"))
}

/// The blob store's calls as the engine answers them; the trait's calls below map a damaged
/// file's errors onto the file ([`on_file`]).
impl SqliteBlobStore {
    fn write_from_unmapped(&self, source: &mut dyn Read) -> StoreResult<Digest> {
        let mut conn = self.conns.writer("write a blob")?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting a blob write")?;
        let (digest, commit) = write_chunked(&mut Rows(&tx), source)?;
        if commit {
            tx.commit().context("committing a blob")?;
        }
        // Otherwise dropping the transaction rolls the staged chunks back.
        Ok(digest)
    }

    fn open_unmapped(&self, digest: &Digest) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        let reader = self.conns.reader()?;
        // One read transaction from the first chunk to the last: one snapshot.
        reader
            .execute_batch("BEGIN")
            .context("starting a blob read")?;
        let found: Option<i64> = reader
            .prepare_cached("SELECT blob_id FROM blobs WHERE digest = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([digest.as_bytes().as_slice()], |row| row.get(0))
                    .optional()
            })
            .with_context(|| format!("looking up blob {digest}"))?;
        let Some(blob_id) = found else {
            let _ = reader.execute_batch("ROLLBACK");
            return Ok(None);
        };
        let snapshot = ReadTransaction(reader);
        let path = self.path().to_owned();
        let digest = *digest;
        let chunks = ChunkedReader::new(move |seq| {
            snapshot
                .0
                .prepare_cached("SELECT data FROM blob_chunks WHERE blob_id = ?1 AND seq = ?2")
                .and_then(|mut stmt| {
                    stmt.query_row(params![blob_id, seq], |row| row.get(0))
                        .optional()
                })
                .with_context(|| format!("reading blob {digest}"))
                .map_err(|err| io::Error::other(on_file(&path, err)))
        });
        Ok(Some(Box::new(VerifyingReader::new(chunks, digest))))
    }

    fn len_unmapped(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        Ok(self
            .lookup(digest)?
            .map(|(_, size)| u64::try_from(size).unwrap_or(0)))
    }

    fn delete_unmapped(&self, digest: &Digest) -> StoreResult<bool> {
        let mut conn = self.conns.writer("delete a blob")?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting a blob delete")?;
        let context = format!("deleting blob {digest}");
        let blob_id: Option<i64> = tx
            .query_row(
                "DELETE FROM blobs WHERE digest = ?1 RETURNING blob_id",
                [digest.as_bytes().as_slice()],
                |row| row.get(0),
            )
            .optional()
            .context(&context)?;
        let Some(blob_id) = blob_id else {
            return Ok(false);
        };
        tx.execute("DELETE FROM blob_chunks WHERE blob_id = ?1", [blob_id])
            .context(&context)?;
        tx.commit().context(&context)?;
        Ok(true)
    }

    fn list_unmapped(&self) -> StoreResult<Vec<Digest>> {
        let reader = self.conns.reader()?;
        let mut stmt = reader
            .prepare_cached("SELECT digest FROM blobs ORDER BY digest")
            .context("listing blobs")?;
        let rows = stmt
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .context("listing blobs")?;
        rows.map(|row| {
            let bytes = row.context("listing blobs")?;
            let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                StoreError::corrupt("blobs", hex_of(&bytes), "a digest is 32 bytes")
            })?;
            Ok(Digest::from_bytes(array))
        })
        .collect()
    }
}

impl BlobStore for SqliteBlobStore {
    fn write_from(&self, source: &mut dyn Read) -> StoreResult<Digest> {
        self.write_from_unmapped(source)
            .map_err(|err| on_file(self.path(), err))
    }

    fn open(&self, digest: &Digest) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        self.open_unmapped(digest)
            .map_err(|err| on_file(self.path(), err))
    }

    fn len(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        self.len_unmapped(digest)
            .map_err(|err| on_file(self.path(), err))
    }

    fn delete(&self, digest: &Digest) -> StoreResult<bool> {
        self.delete_unmapped(digest)
            .map_err(|err| on_file(self.path(), err))
    }

    fn list(&self) -> StoreResult<Vec<Digest>> {
        self.list_unmapped()
            .map_err(|err| on_file(self.path(), err))
    }

    fn count(&self) -> StoreResult<u64> {
        let count = || -> StoreResult<u64> {
            let reader = self.conns.reader()?;
            let n: i64 = reader
                .prepare_cached("SELECT count(*) FROM blobs")
                .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
                .context("counting blobs")?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        count().map_err(|err| on_file(self.path(), err))
    }

    fn inventory(&self) -> StoreResult<Vec<BlobInfo>> {
        self.inventory_unmapped()
            .map_err(|err| on_file(self.path(), err))
    }

    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        self.delete_all_if_written_before_unmapped(digests, cutoff)
            .map_err(|err| on_file(self.path(), err))
    }
}

impl SqliteBlobStore {
    fn inventory_unmapped(&self) -> StoreResult<Vec<BlobInfo>> {
        let context = "taking the blobs' inventory";
        let reader = self.conns.reader()?;
        let mut stmt = reader
            .prepare_cached("SELECT digest, size, written_at FROM blobs ORDER BY digest")
            .context(context)?;
        let mut rows = stmt.query([]).context(context)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().context(context)? {
            let bytes: Vec<u8> = row.get(0).context(context)?;
            let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                StoreError::corrupt("blobs", hex_of(&bytes), "a digest is 32 bytes")
            })?;
            let digest = Digest::from_bytes(array);
            let size: i64 = row.get(1).context(context)?;
            let written_at: Option<i64> = row.get(2).context(context)?;
            out.push(BlobInfo {
                digest,
                len: from_sql(size, &digest)?,
                written_at: written_at
                    .map(|ms| {
                        DateTime::from_timestamp_millis(ms).ok_or_else(|| {
                            StoreError::corrupt("blobs", digest, "a write time out of range")
                        })
                    })
                    .transpose()?,
            });
        }
        Ok(out)
    }

    /// Every removal of `digests` in one immediate transaction: one sync for the step.
    fn delete_all_if_written_before_unmapped(
        &self,
        digests: &[Digest],
        cutoff: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        let mut conn = self.conns.writer("delete a blob")?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting a blob delete")?;
        let mut freed = Vec::with_capacity(digests.len());
        for digest in digests {
            let context = || format!("collecting blob {digest}");
            let gone: Option<(i64, i64)> = tx
                .prepare_cached(
                    "DELETE FROM blobs WHERE digest = ?1 AND written_at < ?2 \
                     RETURNING blob_id, size",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![digest.as_bytes().as_slice(), cutoff.timestamp_millis()],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                })
                .with_context(context)?;
            let Some((blob_id, size)) = gone else {
                freed.push(None);
                continue;
            };
            tx.prepare_cached("DELETE FROM blob_chunks WHERE blob_id = ?1")
                .and_then(|mut stmt| stmt.execute([blob_id]))
                .with_context(context)?;
            freed.push(Some(from_sql(size, digest)?));
        }
        tx.commit().context("committing a step of the collection")?;
        Ok(freed)
    }
}

/// The blob tables of one write transaction, as [`write_chunked`] drives them.
struct Rows<'a, 'c>(&'a rusqlite::Transaction<'c>);

const WRITING: &str = "writing a blob";

/// A blob id or size as SQLite keeps it.
fn to_sql(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::invalid("blob", "larger than SQLite keeps"))
}

/// A blob id or size as read from SQLite; a negative one is a damaged row.
fn from_sql(value: i64, digest: &Digest) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::corrupt("blobs", digest, "a negative id or size"))
}

impl ChunkRows for Rows<'_, '_> {
    fn new_blob_id(&mut self) -> StoreResult<u64> {
        let id: i64 = self
            .0
            // Above every id in use: an empty blob has a row but no chunks.
            .query_row(
                "SELECT max(coalesce((SELECT max(blob_id) FROM blobs), 0), \
                            coalesce((SELECT max(blob_id) FROM blob_chunks), 0)) + 1",
                [],
                |row| row.get(0),
            )
            .context(WRITING)?;
        u64::try_from(id).map_err(|_| StoreError::corrupt("blobs", id, "a negative blob id"))
    }

    fn put_chunk(&mut self, id: u64, seq: u32, data: &[u8]) -> StoreResult<()> {
        let id = to_sql(id)?;
        self.0
            .prepare_cached("INSERT INTO blob_chunks (blob_id, seq, data) VALUES (?1, ?2, ?3)")
            .and_then(|mut insert| insert.execute(params![id, seq, data]))
            .context(WRITING)?;
        Ok(())
    }

    fn named(&mut self, digest: &Digest) -> StoreResult<Option<(u64, u64)>> {
        lookup_in(self.0, digest)?
            .map(|(id, size)| Ok((from_sql(id, digest)?, from_sql(size, digest)?)))
            .transpose()
    }

    fn each_chunk(&mut self, id: u64, visit: &mut dyn FnMut(u32, &[u8])) -> StoreResult<bool> {
        let context = "checking the stored copy of a blob";
        let mut stmt = self
            .0
            .prepare_cached("SELECT seq, data FROM blob_chunks WHERE blob_id = ?1 ORDER BY seq")
            .context(context)?;
        let mut rows = stmt.query([to_sql(id)?]).context(context)?;
        while let Some(row) = rows.next().context(context)? {
            let seq = row.get_ref(0).ok().and_then(|v| v.as_i64().ok());
            let data = row.get_ref(1).ok().and_then(|v| v.as_blob().ok());
            match (seq.and_then(|seq| u32::try_from(seq).ok()), data) {
                (Some(seq), Some(data)) => visit(seq, data),
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    fn drop_chunks(&mut self, id: u64) -> StoreResult<()> {
        self.0
            .execute("DELETE FROM blob_chunks WHERE blob_id = ?1", [to_sql(id)?])
            .context("dropping a damaged copy of a blob")?;
        Ok(())
    }

    fn name(&mut self, digest: &Digest, id: u64, size: u64, now: i64) -> StoreResult<()> {
        self.0
            .execute(
                "INSERT INTO blobs (digest, blob_id, size, written_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (digest) DO UPDATE SET blob_id = excluded.blob_id, \
                 size = excluded.size, written_at = excluded.written_at",
                params![
                    digest.as_bytes().as_slice(),
                    to_sql(id)?,
                    to_sql(size)?,
                    now
                ],
            )
            .context(WRITING)?;
        Ok(())
    }

    fn touch(&mut self, digest: &Digest, now: i64) -> StoreResult<bool> {
        let touched = self
            .0
            .execute(
                "UPDATE blobs SET written_at = ?2 WHERE digest = ?1",
                params![digest.as_bytes().as_slice(), now],
            )
            .context(WRITING)?;
        Ok(touched > 0)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reader connection inside a read transaction, ended when the guard drops, before the
/// connection goes back to the pool.
struct ReadTransaction<'a>(Reader<'a>);

impl Drop for ReadTransaction<'_> {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}
