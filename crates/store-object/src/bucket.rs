//! A store's place on object storage: the client of its bucket, the small runtime that
//! drives it from synchronous calls, and the requests every store there makes.

use std::future::Future;
use std::io::{self, Read};

use futures_util::{StreamExt, TryStreamExt, stream::BoxStream};
use object_store::aws::AmazonS3;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use store_core::{StoreError, StoreResult};

use crate::ObjectOptions;
use crate::error::{BACKEND, store_error};

/// The part size of a multipart upload, and the most an upload holds in memory: a source
/// that ends within it is one `PUT`.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// The bucket and prefix of a store, with the client that reaches them.
pub(crate) struct Bucket {
    pub(crate) client: AmazonS3,
    runtime: Option<tokio::runtime::Runtime>,
    pub(crate) options: ObjectOptions,
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Dropped inside an async context (a tokio task that held the store), a runtime
        // that waited for its threads would panic: let them end on their own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Bucket {
    /// The client of the bucket `options` name, and its runtime.
    pub(crate) fn new(options: ObjectOptions) -> StoreResult<Self> {
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
        Ok(Bucket {
            client,
            runtime: Some(runtime),
            options,
        })
    }

    /// The store's location, as it may be shown: `s3://bucket/prefix`.
    pub(crate) fn location(&self) -> String {
        self.options.location()
    }

    /// Refuses `operation` on a store opened read-only.
    pub(crate) fn writable(&self, operation: &'static str) -> StoreResult<()> {
        if self.options.read_only {
            return Err(StoreError::OpenedReadOnly {
                path: self.location().into(),
                operation,
            });
        }
        Ok(())
    }

    /// `what` the store is doing, naming it: `"writing s3://bucket/prefix"`.
    pub(crate) fn doing(&self, what: &str) -> String {
        format!("{what} {}", self.location())
    }

    /// The object at `key` as errors name it: `s3://bucket/key`.
    pub(crate) fn shown(&self, key: &Key) -> String {
        format!("s3://{}/{key}", self.options.bucket)
    }

    /// The object `rest` under the store's prefix.
    pub(crate) fn key(&self, rest: &str) -> Key {
        if self.options.prefix.is_empty() {
            Key::from(rest)
        } else {
            Key::from(format!("{}/{rest}", self.options.prefix))
        }
    }

    /// Runs `work` to its end on the store's runtime. From inside another runtime (a tokio
    /// task calling the store directly), on a thread of its own, since a runtime cannot be
    /// entered from within one.
    pub(crate) fn run<T: Send>(
        &self,
        work: impl Future<Output = StoreResult<T>> + Send,
    ) -> StoreResult<T> {
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

    /// The object at `key`, or `None`.
    pub(crate) async fn head(&self, key: &Key) -> StoreResult<Option<object_store::ObjectMeta>> {
        match self.client.head(key).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(store_error(&format!("reading {}", self.shown(key)), err)),
        }
    }

    /// Every object under `folder`.
    pub(crate) async fn list_under(
        &self,
        folder: &Key,
    ) -> StoreResult<Vec<object_store::ObjectMeta>> {
        self.client
            .list(Some(folder))
            .try_collect()
            .await
            .map_err(|err| store_error(&format!("listing {}", self.shown(folder)), err))
    }

    /// Removes the objects at `keys` in bulk (S3's `DeleteObjects`, up to 1,000 a request);
    /// one already gone counts as removed.
    pub(crate) async fn remove_all(&self, keys: Vec<Key>) -> StoreResult<()> {
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

    /// The object at `key` whole, in one `GET`, with its `ETag`; `None` when there is none.
    pub(crate) fn get_whole(
        &self,
        key: &Key,
    ) -> StoreResult<Option<(bytes::Bytes, Option<String>)>> {
        self.run(async {
            let what = || format!("reading {}", self.shown(key));
            let got = match self.client.get(key).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(err) => return Err(store_error(&what(), err)),
            };
            let tag = got.meta.e_tag.clone();
            let bytes = got.bytes().await.map_err(|err| store_error(&what(), err))?;
            Ok(Some((bytes, tag)))
        })
    }

    /// A reader over the object at `key`, streamed; `None` when there is none.
    pub(crate) fn get(&self, key: &Key) -> StoreResult<Option<Body<'_>>> {
        let got = self.run(async {
            match self.client.get(key).await {
                Ok(got) => Ok(Some(got.into_stream())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(err) => Err(store_error(&format!("reading {}", self.shown(key)), err)),
            }
        })?;
        Ok(got.map(|stream| Body {
            bucket: self,
            stream,
            chunk: bytes::Bytes::new(),
            what: self.shown(key),
        }))
    }

    /// Uploads everything `source` yields to `key`: one `PUT` when it ends within a part, a
    /// multipart upload to `key` itself otherwise (the object appears whole when the upload
    /// completes, or not at all). `first` is what was read of `source` already; `each`
    /// sees every part as it is read. Returns the length uploaded.
    pub(crate) fn upload(
        &self,
        key: &Key,
        first: Vec<u8>,
        source: &mut dyn Read,
        each: &mut dyn FnMut(&[u8]) -> StoreResult<()>,
    ) -> StoreResult<u64> {
        each(&first)?;
        if first.len() < PART_BYTES {
            let len = first.len() as u64;
            self.run(async {
                self.client
                    .put(key, PutPayload::from(first))
                    .await
                    .map_err(|err| store_error(&format!("writing {}", self.shown(key)), err))
            })?;
            return Ok(len);
        }
        let mut upload = self.run(async {
            self.client.put_multipart(key).await.map_err(|err| {
                store_error(&format!("starting an upload to {}", self.shown(key)), err)
            })
        })?;
        let mut len = first.len() as u64;
        let mut part = first;
        let outcome: StoreResult<()> = loop {
            let sent = upload.put_part(PutPayload::from(std::mem::take(&mut part)));
            if let Err(err) = self.run(async {
                sent.await.map_err(|err| {
                    store_error(&format!("uploading a part of {}", self.shown(key)), err)
                })
            }) {
                break Err(err);
            }
            part = match read_part(source) {
                Ok(part) if part.is_empty() => break Ok(()),
                Ok(part) => part,
                Err(err) => break Err(err),
            };
            len += part.len() as u64;
            if let Err(err) = each(&part) {
                break Err(err);
            }
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
            upload.complete().await.map_err(|err| {
                store_error(&format!("finishing the upload to {}", self.shown(key)), err)
            })
        })?;
        Ok(len)
    }
}

/// Up to [`PART_BYTES`] of `source`: fewer only at its end.
pub(crate) fn read_part(source: &mut dyn Read) -> StoreResult<Vec<u8>> {
    let mut part = Vec::with_capacity(PART_BYTES.min(1024 * 1024));
    source
        .take(PART_BYTES as u64)
        .read_to_end(&mut part)
        .map_err(|err| StoreError::Io {
            path: None,
            context: "reading what is uploaded".into(),
            source: err.into(),
        })?;
    Ok(part)
}

/// A `Read` over a `GET`'s body, pulled a chunk at a time on the bucket's runtime.
pub(crate) struct Body<'s> {
    bucket: &'s Bucket,
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
    what: String,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let stream = &mut self.stream;
            let what = &self.what;
            let next = self.bucket.run(async move {
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
