//! `PgBlobStore`: content-addressed blobs in the store's schema, in chunks, as the SQLite
//! blob store keeps them.

use std::io::{self, Read};

use postgres::GenericClient;
use r2d2::{Pool, PooledConnection};
use store_core::kit::{ChunkRows, ChunkedReader, VerifyingReader, write_chunked};
use store_core::{BlobInfo, BlobStore, Digest, StoreError, StoreResult};

use crate::error::{Context, pool_error};
use crate::options::PgOptions;
use crate::runtime::{DropOffRuntime, off_runtime, off_runtime_reading};

type Connection = PooledConnection<crate::connection::Manager>;

/// A [`BlobStore`] in a PostgreSQL schema (the log store's own, usually): each blob a row
/// naming it by digest and its content in chunks of 256 KiB. A write is one transaction;
/// a read of one blob is one `REPEATABLE READ` snapshot from its first chunk to its last.
pub struct PgBlobStore {
    /// Dropped off any tokio runtime, as the log store's.
    pool: DropOffRuntime<Pool<crate::connection::Manager>>,
    s: String,
    location: String,
    server: String,
    read_only: bool,
}

impl std::fmt::Debug for PgBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBlobStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PgBlobStore {
    /// Opens the blob store in the schema `options` name, creating the store's tables if the
    /// schema holds none (as [`crate::PgLogStore::open_with`] does).
    ///
    /// # Errors
    /// As [`crate::PgLogStore::open_with`].
    pub fn open_with(options: PgOptions) -> StoreResult<Self> {
        // The log store's open creates or checks the schema, and its pool serves the blobs.
        let read_only = options.store.read_only;
        let log = crate::PgLogStore::open_with(options)?;
        Ok(PgBlobStore {
            pool: DropOffRuntime::new(log.pool().clone()),
            s: log.schema().to_owned(),
            location: log.location().to_owned(),
            server: log.server().to_owned(),
            read_only,
        })
    }

    /// Opens the blob store at `location` (`postgres://…?schema=NAME`).
    ///
    /// # Errors
    /// As [`crate::PgLogStore::open_with`].
    pub fn open(location: &str) -> StoreResult<Self> {
        Self::open_with(PgOptions::from_location(location)?)
    }

    fn connection(&self, context: &str) -> StoreResult<Connection> {
        self.pool
            .get()
            .map_err(|err| pool_error(context, &self.server, err))
    }

    fn writable(&self, operation: &'static str) -> StoreResult<()> {
        if self.read_only {
            return Err(StoreError::OpenedReadOnly {
                path: self.location.clone().into(),
                operation,
            });
        }
        Ok(())
    }
}

/// The (blob id, size) of `digest`, read on `conn`.
fn lookup(
    conn: &mut impl GenericClient,
    s: &str,
    digest: &Digest,
) -> StoreResult<Option<(i64, i64)>> {
    Ok(conn
        .query_opt(
            &format!("SELECT blob_id, size FROM {s}.blobs WHERE digest = $1"),
            &[&digest.as_bytes().as_slice()],
        )
        .context("looking up a blob")?
        .map(|row| (row.get(0), row.get(1))))
}

impl BlobStore for PgBlobStore {
    fn write_from(&self, source: &mut dyn Read) -> StoreResult<Digest> {
        self.writable("write a blob")?;
        off_runtime_reading(source, |source| {
            let mut conn = self.connection("writing a blob")?;
            let mut tx = conn.transaction().context("starting a blob write")?;
            // One blob write at a time per store: the new id is read from the tables.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('nerve-store blobs ' || $1, 0))",
                &[&self.s],
            )
            .context("locking the blob ids")?;
            let (digest, commit) = write_chunked(
                &mut Rows {
                    tx: &mut tx,
                    s: &self.s,
                },
                source,
            )?;
            if commit {
                tx.commit().context("committing a blob")?;
            }
            Ok(digest)
        })
    }

    fn open(&self, digest: &Digest) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        let found = off_runtime(|| {
            let mut conn = self.connection("reading a blob")?;
            conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .context("starting a blob read")?;
            let Some((id, _)) = lookup(&mut **conn, &self.s, digest)? else {
                let _ = conn.batch_execute("ROLLBACK");
                return Ok(None);
            };
            Ok::<_, StoreError>(Some((id, conn)))
        })?;
        let Some((id, conn)) = found else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT data FROM {}.blob_chunks WHERE blob_id = $1 AND seq = $2",
            self.s
        );
        let mut snapshot = Snapshot(conn);
        let chunks = ChunkedReader::new(move |seq: u32| {
            off_runtime(|| {
                snapshot
                    .0
                    .query_opt(&sql, &[&id, &i64::from(seq)])
                    .map(|row| row.map(|row| row.get::<_, Vec<u8>>(0)))
                    .map_err(io::Error::other)
            })
        });
        Ok(Some(Box::new(VerifyingReader::new(chunks, *digest))))
    }

    fn len(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        off_runtime(|| {
            let mut conn = self.connection("reading a blob's size")?;
            Ok(lookup(&mut **conn, &self.s, digest)?
                .map(|(_, size)| u64::try_from(size).unwrap_or(0)))
        })
    }

    fn delete(&self, digest: &Digest) -> StoreResult<bool> {
        self.writable("delete a blob")?;
        off_runtime(|| self.delete_here(digest))
    }

    fn list(&self) -> StoreResult<Vec<Digest>> {
        off_runtime(|| self.list_here())
    }

    fn count(&self) -> StoreResult<u64> {
        off_runtime(|| {
            let mut conn = self.connection("counting blobs")?;
            let n: i64 = conn
                .query_one(&format!("SELECT count(*) FROM {}.blobs", self.s), &[])
                .context("counting blobs")?
                .get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn inventory(&self) -> StoreResult<Vec<BlobInfo>> {
        off_runtime(|| {
            let mut conn = self.connection("taking the blobs' inventory")?;
            let rows = conn
                .query(
                    &format!(
                        "SELECT digest, size, written_at FROM {}.blobs ORDER BY digest",
                        self.s
                    ),
                    &[],
                )
                .context("taking the blobs' inventory")?;
            rows.iter()
                .map(|row| {
                    let bytes: Vec<u8> = row.get(0);
                    let digest = <[u8; 32]>::try_from(bytes.as_slice())
                        .map(Digest::from_bytes)
                        .map_err(|_| StoreError::corrupt("blobs", "a digest", "not 32 bytes"))?;
                    let size: i64 = row.get(1);
                    let written_at: Option<i64> = row.get(2);
                    Ok(BlobInfo {
                        digest,
                        len: u64::try_from(size)
                            .map_err(|_| StoreError::corrupt("blobs", digest, "a negative size"))?,
                        written_at: written_at
                            .map(|ms| {
                                chrono::DateTime::from_timestamp_millis(ms).ok_or_else(|| {
                                    StoreError::corrupt("blobs", digest, "a time out of range")
                                })
                            })
                            .transpose()?,
                    })
                })
                .collect()
        })
    }

    /// Every removal of `digests` in one transaction, under the lock every blob write of
    /// the store takes: a write of the same content either committed its new time before
    /// this reads it, or writes after the blob is gone and stores it again.
    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        self.writable("delete a blob")?;
        off_runtime(|| {
            let mut conn = self.connection("collecting blobs")?;
            let mut tx = conn.transaction().context("starting a blob delete")?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('nerve-store blobs ' || $1, 0))",
                &[&self.s],
            )
            .context("locking the blobs")?;
            let wanted: Vec<&[u8]> = digests.iter().map(|d| d.as_bytes().as_slice()).collect();
            let gone = tx
                .query(
                    &format!(
                        "WITH gone AS (DELETE FROM {s}.blobs WHERE digest = ANY($1) \
                         AND written_at < $2 RETURNING digest, blob_id, size), \
                         chunks AS (DELETE FROM {s}.blob_chunks WHERE blob_id IN \
                         (SELECT blob_id FROM gone)) \
                         SELECT digest, size FROM gone",
                        s = self.s
                    ),
                    &[&wanted, &cutoff.timestamp_millis()],
                )
                .context("collecting blobs")?;
            tx.commit().context("committing a step of the collection")?;
            let freed: std::collections::HashMap<Vec<u8>, i64> = gone
                .iter()
                .map(|row| (row.get::<_, Vec<u8>>(0), row.get::<_, i64>(1)))
                .collect();
            Ok(digests
                .iter()
                .map(|digest| {
                    freed
                        .get(digest.as_bytes().as_slice())
                        .map(|size| u64::try_from(*size).unwrap_or(0))
                })
                .collect())
        })
    }
}

impl PgBlobStore {
    fn delete_here(&self, digest: &Digest) -> StoreResult<bool> {
        let mut conn = self.connection("deleting a blob")?;
        let mut tx = conn.transaction().context("starting a blob delete")?;
        let id: Option<i64> = tx
            .query_opt(
                &format!(
                    "DELETE FROM {}.blobs WHERE digest = $1 RETURNING blob_id",
                    self.s
                ),
                &[&digest.as_bytes().as_slice()],
            )
            .context("deleting a blob")?
            .map(|row| row.get(0));
        let Some(id) = id else {
            return Ok(false);
        };
        tx.execute(
            &format!("DELETE FROM {}.blob_chunks WHERE blob_id = $1", self.s),
            &[&id],
        )
        .context("deleting a blob's chunks")?;
        tx.commit().context("committing a blob delete")?;
        Ok(true)
    }

    fn list_here(&self) -> StoreResult<Vec<Digest>> {
        let mut conn = self.connection("listing blobs")?;
        conn.query(
            &format!("SELECT digest FROM {}.blobs ORDER BY digest", self.s),
            &[],
        )
        .context("listing blobs")?
        .iter()
        .map(|row| {
            let bytes: Vec<u8> = row.get(0);
            let array: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::corrupt("blobs", bytes.len(), "a digest is 32 bytes"))?;
            Ok(Digest::from_bytes(array))
        })
        .collect()
    }
}

/// A connection inside a read transaction, ended before it goes back to the pool.
struct Snapshot(Connection);

impl Drop for Snapshot {
    fn drop(&mut self) {
        off_runtime(|| {
            let _ = self.0.batch_execute("ROLLBACK");
        });
    }
}

/// The blob tables of one write transaction, as [`write_chunked`] drives them.
struct Rows<'a, 'c> {
    tx: &'a mut postgres::Transaction<'c>,
    s: &'a str,
}

const WRITING: &str = "writing a blob";

fn to_sql(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::invalid("blob", "larger than PostgreSQL keeps"))
}

impl ChunkRows for Rows<'_, '_> {
    fn new_blob_id(&mut self) -> StoreResult<u64> {
        let s = self.s;
        let id: i64 = self
            .tx
            .query_one(
                &format!(
                    "SELECT greatest(coalesce((SELECT max(blob_id) FROM {s}.blobs), 0), \
                     coalesce((SELECT max(blob_id) FROM {s}.blob_chunks), 0)) + 1"
                ),
                &[],
            )
            .context(WRITING)?
            .get(0);
        u64::try_from(id).map_err(|_| StoreError::corrupt("blobs", id, "a negative blob id"))
    }

    fn put_chunk(&mut self, id: u64, seq: u32, data: &[u8]) -> StoreResult<()> {
        self.tx
            .execute(
                &format!(
                    "INSERT INTO {}.blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)",
                    self.s
                ),
                &[&to_sql(id)?, &i64::from(seq), &data],
            )
            .context(WRITING)?;
        Ok(())
    }

    fn named(&mut self, digest: &Digest) -> StoreResult<Option<(u64, u64)>> {
        lookup(self.tx, self.s, digest)?
            .map(|(id, size)| {
                let bad = || StoreError::corrupt("blobs", digest, "a negative id or size");
                Ok((
                    u64::try_from(id).map_err(|_| bad())?,
                    u64::try_from(size).map_err(|_| bad())?,
                ))
            })
            .transpose()
    }

    fn each_chunk(&mut self, id: u64, visit: &mut dyn FnMut(u32, &[u8])) -> StoreResult<bool> {
        let rows = self
            .tx
            .query(
                &format!(
                    "SELECT seq, data FROM {}.blob_chunks WHERE blob_id = $1 ORDER BY seq",
                    self.s
                ),
                &[&to_sql(id)?],
            )
            .context("checking the stored copy of a blob")?;
        for row in rows {
            let seq: i64 = row.get(0);
            let data: Vec<u8> = row.get(1);
            match u32::try_from(seq) {
                Ok(seq) => visit(seq, &data),
                Err(_) => return Ok(false),
            }
        }
        Ok(true)
    }

    fn drop_chunks(&mut self, id: u64) -> StoreResult<()> {
        self.tx
            .execute(
                &format!("DELETE FROM {}.blob_chunks WHERE blob_id = $1", self.s),
                &[&to_sql(id)?],
            )
            .context("dropping a damaged copy of a blob")?;
        Ok(())
    }

    fn name(&mut self, digest: &Digest, id: u64, size: u64, now: i64) -> StoreResult<()> {
        self.tx
            .execute(
                &format!(
                    "INSERT INTO {}.blobs (digest, blob_id, size, written_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO UPDATE SET \
                     blob_id = excluded.blob_id, size = excluded.size, \
                     written_at = excluded.written_at",
                    self.s
                ),
                &[
                    &digest.as_bytes().as_slice(),
                    &to_sql(id)?,
                    &to_sql(size)?,
                    &now,
                ],
            )
            .context(WRITING)?;
        Ok(())
    }

    fn touch(&mut self, digest: &Digest, now: i64) -> StoreResult<bool> {
        let touched = self
            .tx
            .execute(
                &format!(
                    "UPDATE {}.blobs SET written_at = $2 WHERE digest = $1",
                    self.s
                ),
                &[&digest.as_bytes().as_slice(), &now],
            )
            .context(WRITING)?;
        Ok(touched > 0)
    }
}
