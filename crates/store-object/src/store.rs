//! `ObjectBlobStore`: blobs as objects named by their sha256 in a bucket.

use std::io::Read;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use store_core::kit::{Hasher, VerifyingReader};
use store_core::{BlobInfo, BlobStore, Digest, StoreError, StoreResult};

use crate::ObjectOptions;
use crate::bucket::{Bucket, PART_BYTES, read_part};
use crate::error::store_error;

/// The object that marks a prefix as a blob store.
const MARKER: &str = "nerve-blobs.json";
/// What the marker holds.
const MARKER_CONTENT: &str = "{\"store\":\"nerve-store blobs\",\"format\":1}\n";
/// The folder of the blobs: `blobs/<64 hex>`.
const BLOBS: &str = "blobs";
/// The folder of large writes before they are copied to their name.
const INCOMING: &str = "incoming";
/// The folder of the collectors' leases: `doomed/<64 hex>/<collector>` while that collector
/// may remove that blob.
const DOOMED: &str = "doomed";
/// The largest blob: what one S3 copy (`CopyObject`) takes, which puts a large upload in
/// place under its digest.
pub const MAX_BLOB_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// How old an upload under `incoming/` must be for a collection to take it for a killed
/// writer's: a live writer copies it to its blob's name at once.
pub const LEFTOVER_UPLOAD: Duration = Duration::from_secs(60 * 60);
/// How many requests a step of removals keeps in flight.
const IN_FLIGHT: usize = 16;
/// How often a write that placed its blob finds it gone again before it gives up.
const MAX_PLACINGS: usize = 64;

/// A [`BlobStore`] on object storage (S3 and the services that speak its API): blob `d` is
/// the object `<prefix>/blobs/<hex of d>`, written whole by one `PUT` (a multipart upload
/// copied to its name for a blob larger than [`PART_BYTES`]), so a reader never sees a part
/// of one; reads re-hash what they stream (docs/SPEC.md section 2, object storage).
///
/// Write times are the objects' `Last-Modified`, which S3 keeps to the second: the store
/// answers the end of that second, so that a blob is never taken for older than it is.
/// Garbage collection's removal is made safe against a writer of the same content by a
/// lease object (`<prefix>/doomed/<hex>/<collector>`): see
/// [`BlobStore::delete_all_if_written_before`]
/// below and the SPEC.
///
/// The calls are synchronous, as the contract is: the store drives its client on a small
/// runtime of its own, from any thread (a tokio task's included).
pub struct ObjectBlobStore {
    bucket: Bucket,
    /// The name of this handle's leases: unique to it.
    collector: String,
}

impl std::fmt::Debug for ObjectBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobStore")
            .field("location", &self.bucket.options.location())
            .finish_non_exhaustive()
    }
}

/// Where a write's content is, to put it (again) under its digest.
enum Source {
    /// In memory: a source that ended within one part.
    Bytes(PutPayload),
    /// A finished multipart upload under `incoming/`, copied to the blob's name.
    Uploaded(Key),
}

impl ObjectBlobStore {
    /// Opens the store at `location` (`s3://bucket/prefix`), reaching the service as the AWS
    /// tools do from the environment ([`ObjectOptions::from_location`]), creating the store
    /// (a marker object under the prefix) if there is none. The bucket must exist.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a location that is not `s3://…`;
    /// [`StoreError::Unavailable`] when the service cannot be reached; [`StoreError::Backend`]
    /// for its refusals (no such bucket, access denied).
    pub fn open(location: &str) -> StoreResult<Self> {
        Self::open_with(ObjectOptions::from_location(location)?)
    }

    /// Opens the store as `options` say.
    ///
    /// # Errors
    /// As [`ObjectBlobStore::open`]; [`StoreError::NoStore`] when there is no store under the
    /// prefix and the options may not create one (read-only, or `create_if_missing` off).
    pub fn open_with(options: ObjectOptions) -> StoreResult<Self> {
        let store = ObjectBlobStore {
            bucket: Bucket::new(options)?,
            collector: unique_name(),
        };
        store.find_or_create()?;
        Ok(store)
    }

    /// The store's location, as it may be shown: `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        self.bucket.location()
    }

    /// Checks that the prefix holds a store, creating its marker when allowed.
    fn find_or_create(&self) -> StoreResult<()> {
        let marker = self.bucket.key(MARKER);
        if self.bucket.run(self.bucket.head(&marker))?.is_some() {
            return Ok(());
        }
        if self.bucket.options.read_only || !self.bucket.options.create_if_missing {
            return Err(StoreError::NoStore {
                path: self.location().into(),
            });
        }
        self.bucket.run(async {
            let created = self
                .bucket
                .client
                .put_opts(&marker, MARKER_CONTENT.into(), create_only())
                .await;
            match created {
                Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
                Err(err) => Err(store_error(&self.bucket.doing("creating"), err)),
            }
        })
    }

    fn blob_key(&self, digest: &Digest) -> Key {
        self.bucket.key(&format!("{BLOBS}/{}", digest.to_hex()))
    }

    /// The folder of the leases on `digest`.
    fn leases_of(&self, digest: &Digest) -> Key {
        self.bucket.key(&format!("{DOOMED}/{}", digest.to_hex()))
    }

    /// This handle's lease on `digest`.
    fn lease_key(&self, digest: &Digest) -> Key {
        self.bucket
            .key(&format!("{DOOMED}/{}/{}", digest.to_hex(), self.collector))
    }

    /// Whether a collector holds a live lease on `digest`.
    async fn leased(&self, digest: &Digest) -> StoreResult<bool> {
        let leases = self.bucket.list_under(&self.leases_of(digest)).await?;
        Ok(leases
            .iter()
            .any(|lease| !self.lease_expired(lease.last_modified)))
    }

    /// Removes what dead processes left: the leases of dead collectors (older than the
    /// lease's length, [`ObjectOptions::lease`]), and the uploads of writers killed between
    /// their upload and its copy to the blob's name (older than [`LEFTOVER_UPLOAD`]).
    async fn sweep_leftovers(&self) -> StoreResult<()> {
        let leases = self.bucket.list_under(&self.bucket.key(DOOMED)).await?;
        let uploads = self.bucket.list_under(&self.bucket.key(INCOMING)).await?;
        let stale = chrono::Duration::from_std(LEFTOVER_UPLOAD).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        let dead = leases
            .into_iter()
            .filter(|lease| self.lease_expired(lease.last_modified))
            .chain(
                uploads
                    .into_iter()
                    .filter(|upload| written_at(upload.last_modified) + stale < now),
            )
            .map(|object| object.location)
            .collect();
        self.bucket.remove_all(dead).await
    }

    /// Whether a lease stamped at `stamp` has run out (its collector is dead).
    fn lease_expired(&self, stamp: DateTime<Utc>) -> bool {
        chrono::Duration::from_std(self.bucket.options.lease)
            .is_ok_and(|lease| written_at(stamp) + lease < Utc::now())
    }

    /// Puts `source` under `digest`'s name and makes sure it stays there: a collector that
    /// leased the blob may be removing it (the old copy) right now, so while a live lease is
    /// on it the write waits for the lease to go and puts the blob again; it returns once
    /// the blob is in place with no live lease on it (docs/SPEC.md, object storage).
    async fn place(&self, digest: &Digest, len: u64, source: &Source) -> StoreResult<()> {
        let blob = self.blob_key(digest);
        for _ in 0..MAX_PLACINGS {
            match source {
                Source::Bytes(payload) => {
                    self.bucket
                        .client
                        .put(&blob, payload.clone())
                        .await
                        .map_err(|err| {
                            store_error(&format!("writing {}", self.bucket.shown(&blob)), err)
                        })?;
                }
                Source::Uploaded(from) => {
                    self.bucket.client.copy(from, &blob).await.map_err(|err| {
                        store_error(
                            &format!(
                                "copying {} to {}",
                                self.bucket.shown(from),
                                self.bucket.shown(&blob)
                            ),
                            err,
                        )
                    })?;
                }
            }
            let mut waited = false;
            while self.leased(digest).await? {
                waited = true;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            if waited {
                continue;
            }
            if self
                .bucket
                .head(&blob)
                .await?
                .is_some_and(|meta| meta.size == len)
            {
                return Ok(());
            }
        }
        Err(StoreError::Busy {
            context: format!(
                "writing {}: removed again {MAX_PLACINGS} times as it was put",
                self.bucket.shown(&blob)
            ),
            source: store_core::kit::engine_message("the blob keeps being removed"),
        })
    }

    /// Uploads `first` and what is left of `source` under `incoming/` in parts, read on
    /// this thread between the uploads, hashing as it goes; returns the upload's object, the
    /// digest and the length. A failure aborts the upload (a killed writer's is removed by
    /// the bucket's lifecycle rules, as every unfinished multipart upload is).
    fn upload(&self, first: Vec<u8>, source: &mut dyn Read) -> StoreResult<(Key, Digest, u64)> {
        let key = self.bucket.key(&format!("{INCOMING}/{}", unique_name()));
        let mut hasher = Hasher::new();
        let mut seen = 0u64;
        let len = self.bucket.upload(&key, first, source, &mut |part| {
            seen += part.len() as u64;
            if seen > MAX_BLOB_BYTES {
                return Err(StoreError::invalid(
                    "blob",
                    format!(
                        "larger than {MAX_BLOB_BYTES} bytes, the most one S3 copy puts under \
                         a name"
                    ),
                ));
            }
            hasher.update(part);
            Ok(())
        })?;
        Ok((key, hasher.finish(), len))
    }

    /// A step of removals under this handle's leases: every lease put, every blob's time read
    /// again, the old ones removed in bulk (unless half the lease has passed since the first
    /// lease was put), then the leases removed in bulk.
    async fn collect(
        &self,
        digests: &[Digest],
        cutoff: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        let leases: Vec<Key> = digests
            .iter()
            .map(|digest| self.lease_key(digest))
            .collect();
        let taken = Instant::now();
        let stamp = PutPayload::from(Utc::now().to_rfc3339());
        let puts: Vec<_> = leases
            .iter()
            .map(|lease| self.put_lease(lease, stamp.clone()))
            .collect();
        let put: Vec<StoreResult<()>> = futures_util::stream::iter(puts)
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        let outcome = match put.into_iter().collect::<StoreResult<Vec<()>>>() {
            Ok(_) => self.remove_old(digests, cutoff, taken).await,
            Err(err) => Err(err),
        };
        let released = self.bucket.remove_all(leases).await;
        let freed = outcome?;
        released?;
        Ok(freed)
    }

    /// Puts this handle's lease `lease`, stamped.
    async fn put_lease(&self, lease: &Key, stamp: PutPayload) -> StoreResult<()> {
        self.bucket
            .client
            .put(lease, stamp)
            .await
            .map(|_| ())
            .map_err(|err| store_error(&format!("taking {}", self.bucket.shown(lease)), err))
    }

    /// Under live leases taken at `taken`: the blobs of `digests` still older than `cutoff`
    /// removed, each answered with its size, or `None` when kept.
    async fn remove_old(
        &self,
        digests: &[Digest],
        cutoff: DateTime<Utc>,
        taken: Instant,
    ) -> StoreResult<Vec<Option<u64>>> {
        let keys: Vec<Key> = digests.iter().map(|digest| self.blob_key(digest)).collect();
        let heads: Vec<_> = keys.iter().map(|key| self.bucket.head(key)).collect();
        let looks: Vec<StoreResult<Option<object_store::ObjectMeta>>> =
            futures_util::stream::iter(heads)
                .buffered(IN_FLIGHT)
                .collect()
                .await;
        let mut freed = Vec::with_capacity(digests.len());
        let mut doomed = Vec::new();
        for look in looks {
            match look? {
                Some(meta) if written_at(meta.last_modified) < cutoff => {
                    freed.push(Some(meta.size));
                    doomed.push(meta.location);
                }
                _ => freed.push(None),
            }
        }
        if doomed.is_empty() || taken.elapsed() > self.bucket.options.lease / 2 {
            return Ok(vec![None; digests.len()]);
        }
        self.bucket.remove_all(doomed).await?;
        Ok(freed)
    }
}

/// A name no other handle of any process uses: the time, the process and a count.
fn unique_name() -> String {
    format!(
        "{}-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.9f"),
        std::process::id(),
        next_count()
    )
}

/// A put that creates the object or fails with `AlreadyExists`.
fn create_only() -> PutOptions {
    PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    }
}

/// When a blob whose object was last modified at `stamp` was written, at the latest: S3
/// keeps whole seconds, so the end of that second.
fn written_at(stamp: DateTime<Utc>) -> DateTime<Utc> {
    stamp.trunc_subsecs(0) + chrono::Duration::seconds(1)
}

/// A number for this process's next unique name.
fn next_count() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl BlobStore for ObjectBlobStore {
    fn write_from(&self, source: &mut dyn Read) -> StoreResult<Digest> {
        self.bucket.writable("write")?;
        let first = read_part(source)?;
        if first.len() < PART_BYTES {
            let digest = Digest::of(&first);
            let len = first.len() as u64;
            let payload = Source::Bytes(PutPayload::from(first));
            self.bucket.run(self.place(&digest, len, &payload))?;
            return Ok(digest);
        }
        let (key, digest, len) = self.upload(first, source)?;
        let placed = self
            .bucket
            .run(self.place(&digest, len, &Source::Uploaded(key.clone())));
        let cleaned = self.bucket.run(self.bucket.remove_all(vec![key]));
        placed?;
        cleaned?;
        Ok(digest)
    }

    /// One `GET`, re-hashed: the contract's default would ask for the size first.
    fn read(&self, digest: &Digest) -> StoreResult<Option<Vec<u8>>> {
        let key = self.blob_key(digest);
        let Some((data, _)) = self.bucket.get_whole(&key)? else {
            return Ok(None);
        };
        if Digest::of(&data) != *digest {
            return Err(StoreError::Corrupt { digest: *digest });
        }
        Ok(Some(Vec::from(data)))
    }

    fn open(&self, digest: &Digest) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        let body = self.bucket.get(&self.blob_key(digest))?;
        Ok(body
            .map(|body| Box::new(VerifyingReader::new(body, *digest)) as Box<dyn Read + Send + '_>))
    }

    fn len(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        let key = self.blob_key(digest);
        Ok(self
            .bucket
            .run(self.bucket.head(&key))?
            .map(|meta| meta.size))
    }

    fn delete(&self, digest: &Digest) -> StoreResult<bool> {
        self.bucket.writable("delete")?;
        let key = self.blob_key(digest);
        self.bucket.run(async {
            if self.bucket.head(&key).await?.is_none() {
                return Ok(false);
            }
            self.bucket.remove_all(vec![key.clone()]).await?;
            Ok(true)
        })
    }

    fn list(&self) -> StoreResult<Vec<Digest>> {
        Ok(self
            .inventory()?
            .into_iter()
            .map(|info| info.digest)
            .collect())
    }

    fn inventory(&self) -> StoreResult<Vec<BlobInfo>> {
        let folder = self.bucket.key(BLOBS);
        let objects = self.bucket.run(self.bucket.list_under(&folder))?;
        let mut blobs: Vec<BlobInfo> = objects
            .into_iter()
            .filter_map(|meta| {
                let digest = meta.location.filename()?.parse().ok()?;
                Some(BlobInfo {
                    digest,
                    len: meta.size,
                    written_at: Some(written_at(meta.last_modified)),
                })
            })
            .collect();
        blobs.sort_by_key(|info| info.digest);
        Ok(blobs)
    }

    /// Each removal is made under a lease: the collector puts its own lease object
    /// `<prefix>/doomed/<hex>/<collector>` on every blob of the step, reads each blob's time
    /// again, removes those still older than `cutoff` (in bulk), and removes its leases. A
    /// writer of the same content lists the leases on it after its `PUT` and, while one is
    /// live, waits for it to go and puts the blob again: either the collector read the new
    /// time (and kept the blob), or the writer saw the lease (and put the blob back after the
    /// removal). A lease older than
    /// its length ([`ObjectOptions::lease`]) is a dead collector's, which the next step
    /// sweeps; a collector removes nothing once half of it has passed since it took its
    /// lease.
    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        self.bucket.writable("delete")?;
        self.bucket.run(self.sweep_leftovers())?;
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        self.bucket.run(self.collect(digests, cutoff))
    }
}
