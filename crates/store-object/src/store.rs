//! `ObjectBlobStore`: blobs as objects named by their sha256 in a bucket.

use std::future::Future;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use futures_util::{StreamExt, TryStreamExt, stream::BoxStream};
use object_store::aws::AmazonS3;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use store_core::kit::{Hasher, VerifyingReader};
use store_core::{BlobInfo, BlobStore, Digest, StoreError, StoreResult};

use crate::ObjectOptions;
use crate::error::{BACKEND, store_error};

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
/// The part size of a multipart upload, and the most a write holds in memory: a source
/// that ends within it is one `PUT`.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// The largest blob: what one S3 copy (`CopyObject`) takes, which puts a large upload in
/// place under its digest.
pub const MAX_BLOB_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// How long a collector's lease on a blob counts: a writer that finds an older one takes its
/// collector for dead, and a collector removes nothing once half of it has passed.
pub const LEASE: Duration = Duration::from_secs(120);
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
/// lease object (`<prefix>/doomed/<hex>`): see [`BlobStore::delete_all_if_written_before`]
/// below and the SPEC.
///
/// The calls are synchronous, as the contract is: the store drives its client on a small
/// runtime of its own, from any thread (a tokio task's included).
pub struct ObjectBlobStore {
    client: AmazonS3,
    runtime: Option<tokio::runtime::Runtime>,
    options: ObjectOptions,
    /// The name of this handle's leases: unique to it.
    collector: String,
}

impl std::fmt::Debug for ObjectBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobStore")
            .field("location", &self.options.location())
            .finish_non_exhaustive()
    }
}

impl Drop for ObjectBlobStore {
    fn drop(&mut self) {
        // Dropped inside an async context (a tokio task that held the store), a runtime
        // that waited for its threads would panic: let them end on their own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
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
        let client = options.client()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nerve-store-s3")
            .enable_all()
            .build()
            .map_err(|err| StoreError::Io {
                path: None,
                context: "starting the object store's client runtime".into(),
                source: err.into(),
            })?;
        let store = ObjectBlobStore {
            client,
            runtime: Some(runtime),
            options,
            collector: unique_name(),
        };
        store.find_or_create()?;
        Ok(store)
    }

    /// The store's location, as it may be shown: `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        self.options.location()
    }

    /// Checks that the prefix holds a store, creating its marker when allowed.
    fn find_or_create(&self) -> StoreResult<()> {
        let marker = self.key(MARKER);
        let found = self.run(async {
            match self.client.head(&marker).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(err) => Err(store_error(&self.doing("opening"), err)),
            }
        })?;
        if found {
            return Ok(());
        }
        if self.options.read_only || !self.options.create_if_missing {
            return Err(StoreError::NoStore {
                path: self.location().into(),
            });
        }
        self.run(async {
            let created = self
                .client
                .put_opts(&marker, MARKER_CONTENT.into(), create_only())
                .await;
            match created {
                Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
                Err(err) => Err(store_error(&self.doing("creating"), err)),
            }
        })
    }

    /// `what` the store is doing, naming it: `"writing s3://bucket/prefix"`.
    fn doing(&self, what: &str) -> String {
        format!("{what} {}", self.location())
    }

    /// The object `rest` under the store's prefix.
    fn key(&self, rest: &str) -> Key {
        if self.options.prefix.is_empty() {
            Key::from(rest)
        } else {
            Key::from(format!("{}/{rest}", self.options.prefix))
        }
    }

    fn blob_key(&self, digest: &Digest) -> Key {
        self.key(&format!("{BLOBS}/{}", digest.to_hex()))
    }

    /// The folder of the leases on `digest`.
    fn leases_of(&self, digest: &Digest) -> Key {
        self.key(&format!("{DOOMED}/{}", digest.to_hex()))
    }

    /// This handle's lease on `digest`.
    fn lease_key(&self, digest: &Digest) -> Key {
        self.key(&format!("{DOOMED}/{}/{}", digest.to_hex(), self.collector))
    }

    /// Every object under `folder`.
    async fn list_under(&self, folder: &Key) -> StoreResult<Vec<object_store::ObjectMeta>> {
        self.client
            .list(Some(folder))
            .try_collect()
            .await
            .map_err(|err| store_error(&format!("listing {folder}"), err))
    }

    /// Whether a collector holds a live lease on `digest`.
    async fn leased(&self, digest: &Digest) -> StoreResult<bool> {
        let leases = self.list_under(&self.leases_of(digest)).await?;
        Ok(leases
            .iter()
            .any(|lease| !lease_expired(lease.last_modified)))
    }

    /// Removes the leases of dead collectors (older than [`LEASE`]).
    async fn sweep_leases(&self) -> StoreResult<()> {
        let leases = self.list_under(&self.key(DOOMED)).await?;
        let dead = leases
            .into_iter()
            .filter(|lease| lease_expired(lease.last_modified))
            .map(|lease| lease.location)
            .collect();
        self.remove_all(dead).await
    }

    /// Refuses `operation` on a store opened read-only.
    fn writable(&self, operation: &'static str) -> StoreResult<()> {
        if self.options.read_only {
            return Err(StoreError::OpenedReadOnly {
                path: self.location().into(),
                operation,
            });
        }
        Ok(())
    }

    /// Runs `work` to its end on the store's runtime. From inside another runtime (a tokio
    /// task calling the store directly), on a thread of its own, since a runtime cannot be
    /// entered from within one.
    fn run<T: Send>(&self, work: impl Future<Output = StoreResult<T>> + Send) -> StoreResult<T> {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::invalid("store", "the store is closing"));
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return runtime.block_on(work);
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(work))
                .join()
                .unwrap_or_else(|_| {
                    Err(StoreError::Backend {
                        backend: BACKEND,
                        context: self.doing("calling the client of"),
                        source: store_core::kit::engine_message("the client's thread panicked"),
                    })
                })
        })
    }

    /// The blob's object, or `None`.
    async fn head(&self, key: &Key) -> StoreResult<Option<object_store::ObjectMeta>> {
        match self.client.head(key).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(store_error(&format!("reading {key}"), err)),
        }
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
                    self.client
                        .put(&blob, payload.clone())
                        .await
                        .map_err(|err| store_error(&format!("writing {blob}"), err))?;
                }
                Source::Uploaded(from) => {
                    self.client
                        .copy(from, &blob)
                        .await
                        .map_err(|err| store_error(&format!("copying {from} to {blob}"), err))?;
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
            if self.head(&blob).await?.is_some_and(|meta| meta.size == len) {
                return Ok(());
            }
        }
        Err(StoreError::Busy {
            context: format!("writing {blob}: removed again {MAX_PLACINGS} times as it was put"),
            source: store_core::kit::engine_message("the blob keeps being removed"),
        })
    }

    /// Uploads what is left of `source` after `first` (a whole part) under `incoming/` in
    /// parts, read on this thread between the uploads; returns the upload's object, the
    /// digest and the length. A failure aborts the upload (a killed writer's is removed by
    /// the bucket's lifecycle rules, as every unfinished multipart upload is).
    fn upload(
        &self,
        first: Vec<u8>,
        mut hasher: Hasher,
        source: &mut dyn Read,
    ) -> StoreResult<(Key, Digest, u64)> {
        let key = self.key(&format!("{INCOMING}/{}", unique_name()));
        let mut upload = self.run(async {
            self.client
                .put_multipart(&key)
                .await
                .map_err(|err| store_error(&format!("starting an upload to {key}"), err))
        })?;
        let mut len = first.len() as u64;
        let mut part = first;
        let outcome: StoreResult<()> = loop {
            let sent = upload.put_part(PutPayload::from(std::mem::take(&mut part)));
            if let Err(err) = self.run(async {
                sent.await
                    .map_err(|err| store_error(&format!("uploading a part of {key}"), err))
            }) {
                break Err(err);
            }
            part = match read_part(source) {
                Ok(part) if part.is_empty() => break Ok(()),
                Ok(part) => part,
                Err(err) => break Err(err),
            };
            len += part.len() as u64;
            if len > MAX_BLOB_BYTES {
                break Err(StoreError::invalid(
                    "blob",
                    format!(
                        "larger than {MAX_BLOB_BYTES} bytes, the most one S3 copy puts under \
                         a name"
                    ),
                ));
            }
            hasher.update(&part);
        };
        if let Err(err) = outcome {
            let _ = self.run(async {
                upload
                    .abort()
                    .await
                    .map_err(|err| store_error("aborting an upload", err))
            });
            return Err(err);
        }
        self.run(async {
            upload
                .complete()
                .await
                .map_err(|err| store_error(&format!("finishing the upload to {key}"), err))
        })?;
        Ok((key, hasher.finish(), len))
    }

    /// Removes the objects at `keys` in bulk (S3's `DeleteObjects`, up to 1,000 a request);
    /// one already gone counts as removed.
    async fn remove_all(&self, keys: Vec<Key>) -> StoreResult<()> {
        let keys = futures_util::stream::iter(keys.into_iter().map(Ok)).boxed();
        let mut removed = self.client.delete_stream(keys);
        while let Some(outcome) = removed.next().await {
            match outcome {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(store_error(&self.doing("removing objects of"), err)),
            }
        }
        Ok(())
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
        let released = self.remove_all(leases).await;
        let freed = outcome?;
        released?;
        Ok(freed)
    }

    /// Puts this handle's lease `lease`, stamped.
    async fn put_lease(&self, lease: &Key, stamp: PutPayload) -> StoreResult<()> {
        self.client
            .put(lease, stamp)
            .await
            .map(|_| ())
            .map_err(|err| store_error(&format!("taking {lease}"), err))
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
        let heads: Vec<_> = keys.iter().map(|key| self.head(key)).collect();
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
        if doomed.is_empty() || taken.elapsed() > LEASE / 2 {
            return Ok(vec![None; digests.len()]);
        }
        self.remove_all(doomed).await?;
        Ok(freed)
    }
}

/// A name no other handle of any process uses: the time, the process and a count.
fn unique_name() -> String {
    format!(
        "{}-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.9f"),
        std::process::id(),
        next_upload()
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

/// Whether a lease stamped at `stamp` has run out (its collector is dead).
fn lease_expired(stamp: DateTime<Utc>) -> bool {
    chrono::Duration::from_std(LEASE).is_ok_and(|lease| written_at(stamp) + lease < Utc::now())
}

/// A number for this process's next unique name.
fn next_upload() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Up to [`PART_BYTES`] of `source`: fewer only at its end.
fn read_part(source: &mut dyn Read) -> StoreResult<Vec<u8>> {
    let mut part = Vec::with_capacity(PART_BYTES.min(1024 * 1024));
    source
        .take(PART_BYTES as u64)
        .read_to_end(&mut part)
        .map_err(|err| StoreError::Io {
            path: None,
            context: "reading the blob's source".into(),
            source: err.into(),
        })?;
    Ok(part)
}

/// A `Read` over a `GET`'s body, pulled a chunk at a time on the store's runtime.
struct Body<'s> {
    store: &'s ObjectBlobStore,
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
    what: String,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let stream = &mut self.stream;
            let what = &self.what;
            let next = self.store.run(async move {
                stream
                    .try_next()
                    .await
                    .map_err(|err| store_error(&format!("reading {what}"), err))
            });
            match next {
                Ok(Some(chunk)) => self.chunk = chunk,
                Ok(None) => return Ok(0),
                Err(err) => return Err(io::Error::other(err)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

impl BlobStore for ObjectBlobStore {
    fn write_from(&self, source: &mut dyn Read) -> StoreResult<Digest> {
        self.writable("write")?;
        let mut hasher = Hasher::new();
        let first = read_part(source)?;
        hasher.update(&first);
        if first.len() < PART_BYTES {
            let digest = hasher.finish();
            let len = first.len() as u64;
            let payload = Source::Bytes(PutPayload::from(first));
            self.run(self.place(&digest, len, &payload))?;
            return Ok(digest);
        }
        let (key, digest, len) = self.upload(first, hasher, source)?;
        let placed = self.run(self.place(&digest, len, &Source::Uploaded(key.clone())));
        let cleaned = self.run(async {
            self.client
                .delete(&key)
                .await
                .map_err(|err| store_error(&format!("removing {key}"), err))
        });
        placed?;
        cleaned?;
        Ok(digest)
    }

    /// One `GET`, re-hashed: the contract's default would ask for the size first.
    fn read(&self, digest: &Digest) -> StoreResult<Option<Vec<u8>>> {
        let key = self.blob_key(digest);
        let got = self.run(async {
            match self.client.get(&key).await {
                Ok(got) => got
                    .bytes()
                    .await
                    .map(Some)
                    .map_err(|err| store_error(&format!("reading {key}"), err)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(err) => Err(store_error(&format!("reading {key}"), err)),
            }
        })?;
        let Some(data) = got else {
            return Ok(None);
        };
        if Digest::of(&data) != *digest {
            return Err(StoreError::Corrupt { digest: *digest });
        }
        Ok(Some(Vec::from(data)))
    }

    fn open(&self, digest: &Digest) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        let key = self.blob_key(digest);
        let got = self.run(async {
            match self.client.get(&key).await {
                Ok(got) => Ok(Some(got.into_stream())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(err) => Err(store_error(&format!("reading {key}"), err)),
            }
        })?;
        Ok(got.map(|stream| {
            let body = Body {
                store: self,
                stream,
                chunk: bytes::Bytes::new(),
                what: key.to_string(),
            };
            Box::new(VerifyingReader::new(body, *digest)) as Box<dyn Read + Send + '_>
        }))
    }

    fn len(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        let key = self.blob_key(digest);
        Ok(self.run(self.head(&key))?.map(|meta| meta.size))
    }

    fn delete(&self, digest: &Digest) -> StoreResult<bool> {
        self.writable("delete")?;
        let key = self.blob_key(digest);
        self.run(async {
            if self.head(&key).await?.is_none() {
                return Ok(false);
            }
            self.client
                .delete(&key)
                .await
                .map_err(|err| store_error(&format!("removing {key}"), err))?;
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
        let folder = self.key(BLOBS);
        let mut blobs: Vec<BlobInfo> = self.run(async {
            self.client
                .list(Some(&folder))
                .map_err(|err| store_error(&format!("listing {folder}"), err))
                .try_filter_map(|meta| async move {
                    let digest = meta.location.filename().and_then(|name| name.parse().ok());
                    Ok(digest.map(|digest| BlobInfo {
                        digest,
                        len: meta.size,
                        written_at: Some(written_at(meta.last_modified)),
                    }))
                })
                .try_collect()
                .await
        })?;
        blobs.sort_by_key(|info| info.digest);
        Ok(blobs)
    }

    /// Each removal is made under a lease: the collector puts its own lease object
    /// `<prefix>/doomed/<hex>/<collector>` on every blob of the step, reads each blob's time
    /// again, removes those still older than `cutoff` (in bulk), and removes its leases. A writer of the same content lists
    /// the leases on it after its `PUT` and, while one is live, waits for it to go and puts
    /// the blob again: either the collector read the new time (and kept the blob), or the
    /// writer saw the lease (and put the blob back after the removal). A lease older than
    /// [`LEASE`] is a dead collector's, which the next step sweeps; a collector removes
    /// nothing once half of it has passed since it took its lease.
    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        self.writable("delete")?;
        self.run(self.sweep_leases())?;
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        self.run(self.collect(digests, cutoff))
    }
}
