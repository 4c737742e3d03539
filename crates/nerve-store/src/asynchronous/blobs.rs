//! The blob store from async code: every call of [`crate::BlobStore`] on the blocking pool,
//! and a blob's content as a stream of verified chunks.

use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use store_core::{BlobHealth, BlobInfo, Digest, StoreError, StoreResult, VerifyReport};
use tokio::sync::{mpsc, oneshot};

use super::on_blocking_pool;
use crate::Store;

/// The size of the chunks [`AsyncBlobs::open`] reads.
const CHUNK: usize = 64 * 1024;

/// *Available on crate feature `tokio` only.*
///
/// A store's blobs for tokio tasks ([`crate::AsyncStore::blobs`]): every call of
/// [`crate::BlobStore`] as an `async fn` with the same arguments, run on the blocking pool.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct AsyncBlobs {
    store: Arc<Store>,
}

impl AsyncBlobs {
    pub(super) fn new(store: Arc<Store>) -> Self {
        AsyncBlobs { store }
    }

    async fn blobs<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn crate::BlobStore) -> StoreResult<T> + Send + 'static,
    {
        on_blocking_pool(&self.store, move |store| work(store.blobs.as_ref())).await
    }

    /// As [`crate::BlobStore::write`]: durable when it returns, so a log entry written after
    /// it may name it.
    ///
    /// # Errors
    /// As [`crate::BlobStore::write`].
    pub async fn write(&self, data: &[u8]) -> StoreResult<Digest> {
        let data = data.to_vec();
        self.blobs(move |blobs| blobs.write(&data)).await
    }

    /// As [`crate::BlobStore::write_from`], reading `source` on the blocking pool: it must
    /// own what it reads. An async source goes through a bridge such as `tokio-util`'s
    /// `SyncIoBridge`.
    ///
    /// # Errors
    /// As [`crate::BlobStore::write_from`].
    pub async fn write_from<R: Read + Send + 'static>(&self, source: R) -> StoreResult<Digest> {
        let mut source = source;
        self.blobs(move |blobs| blobs.write_from(&mut source)).await
    }

    /// As [`crate::BlobStore::read`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::read`].
    pub async fn read(&self, digest: &Digest) -> StoreResult<Option<Vec<u8>>> {
        let digest = *digest;
        self.blobs(move |blobs| blobs.read(&digest)).await
    }

    /// As [`crate::BlobStore::open`]: the blob's content as a stream of chunks of up to 64
    /// KiB, read on the blocking pool and verified as they are read, two chunks ahead of the
    /// reader; `None` when it is not in the store. Content that does not match its digest
    /// ends the stream with [`StoreError::Corrupt`], and a stream never ends early without
    /// an error.
    ///
    /// # Errors
    /// As [`crate::BlobStore::open`].
    pub async fn open(&self, digest: &Digest) -> StoreResult<Option<BlobStream>> {
        let (opened, is_open) = oneshot::channel();
        let (chunks, receiver) = mpsc::channel(2);
        let store = Arc::clone(&self.store);
        let digest = *digest;
        drop(tokio::task::spawn_blocking(move || {
            match store.blobs.open(&digest) {
                Ok(Some(reader)) => {
                    if opened.send(Ok(true)).is_ok() {
                        send_chunks(reader, &digest, &chunks);
                    }
                }
                Ok(None) => drop(opened.send(Ok(false))),
                Err(err) => drop(opened.send(Err(err))),
            }
        }));
        match is_open.await {
            Ok(Ok(true)) => Ok(Some(BlobStream {
                chunks: receiver,
                ended: false,
            })),
            Ok(Ok(false)) => Ok(None),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(StoreError::Interrupted {
                operation: "opening a blob (the runtime shut down)",
            }),
        }
    }

    /// As [`crate::BlobStore::len`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::len`].
    pub async fn len(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        let digest = *digest;
        self.blobs(move |blobs| blobs.len(&digest)).await
    }

    /// As [`crate::BlobStore::exists`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::exists`].
    pub async fn exists(&self, digest: &Digest) -> StoreResult<bool> {
        let digest = *digest;
        self.blobs(move |blobs| blobs.exists(&digest)).await
    }

    /// As [`crate::BlobStore::delete`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::delete`].
    pub async fn delete(&self, digest: &Digest) -> StoreResult<bool> {
        let digest = *digest;
        self.blobs(move |blobs| blobs.delete(&digest)).await
    }

    /// As [`crate::BlobStore::list`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::list`].
    pub async fn list(&self) -> StoreResult<Vec<Digest>> {
        self.blobs(|blobs| blobs.list()).await
    }

    /// As [`crate::BlobStore::count`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::count`].
    pub async fn count(&self) -> StoreResult<u64> {
        self.blobs(|blobs| blobs.count()).await
    }

    /// As [`crate::BlobStore::inventory`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::inventory`].
    pub async fn inventory(&self) -> StoreResult<Vec<BlobInfo>> {
        self.blobs(|blobs| blobs.inventory()).await
    }

    /// As [`crate::BlobStore::delete_if_written_before`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::delete_if_written_before`].
    pub async fn delete_if_written_before(
        &self,
        digest: &Digest,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<u64>> {
        let digest = *digest;
        self.blobs(move |blobs| blobs.delete_if_written_before(&digest, cutoff))
            .await
    }

    /// As [`crate::BlobStore::delete_all_if_written_before`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::delete_all_if_written_before`].
    pub async fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        let digests = digests.to_vec();
        self.blobs(move |blobs| blobs.delete_all_if_written_before(&digests, cutoff))
            .await
    }

    /// As [`crate::BlobStore::verify`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::verify`].
    pub async fn verify(&self, digest: &Digest) -> StoreResult<BlobHealth> {
        let digest = *digest;
        self.blobs(move |blobs| blobs.verify(&digest)).await
    }

    /// As [`crate::BlobStore::verify_all`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::verify_all`].
    pub async fn verify_all(&self) -> StoreResult<VerifyReport> {
        self.blobs(|blobs| blobs.verify_all()).await
    }
}

/// A piece of a blob on its way to the task that opened it.
enum Chunk {
    Bytes(Vec<u8>),
    /// The content ended and matched its digest.
    End,
}

/// Reads `reader` to its end into `chunks`, then says so; or sends the error that stopped
/// it. Stops early when the stream was dropped.
fn send_chunks(
    mut reader: Box<dyn Read + Send + '_>,
    digest: &Digest,
    chunks: &mpsc::Sender<StoreResult<Chunk>>,
) {
    loop {
        let mut chunk = vec![0; CHUNK];
        let mut filled = 0;
        let read = loop {
            match reader.read(&mut chunk[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == CHUNK {
                        break Ok(());
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => break Err(StoreError::from_blob_read(err, &digest.to_string())),
            }
        };
        let last = filled < CHUNK;
        chunk.truncate(filled);
        let sent = match read {
            Err(err) => return drop(chunks.blocking_send(Err(err))),
            Ok(()) if filled > 0 => chunks.blocking_send(Ok(Chunk::Bytes(chunk))),
            Ok(()) => Ok(()),
        };
        if sent.is_err() {
            return;
        }
        if last {
            let _ = chunks.blocking_send(Ok(Chunk::End));
            return;
        }
    }
}

/// *Available on crate feature `tokio` only.*
///
/// A blob's content as [`AsyncBlobs::open`] streams it: chunks of bytes, verified against
/// the blob's digest as they are read; the stream ends once the whole content has come and
/// matched. [`BlobStream::next`] takes the next chunk without a stream trait in scope.
#[derive(Debug)]
pub struct BlobStream {
    chunks: mpsc::Receiver<StoreResult<Chunk>>,
    ended: bool,
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Chunk::Bytes(bytes) => write!(f, "Bytes({})", bytes.len()),
            Chunk::End => f.write_str("End"),
        }
    }
}

impl BlobStream {
    /// The next chunk; `None` once the content has ended and matched its digest.
    pub async fn next(&mut self) -> Option<StoreResult<Vec<u8>>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The rest of the content, whole.
    ///
    /// # Errors
    /// The first error of the stream.
    pub async fn read_to_end(mut self) -> StoreResult<Vec<u8>> {
        let mut content = Vec::new();
        while let Some(chunk) = self.next().await {
            content.extend(chunk?);
        }
        Ok(content)
    }
}

impl Stream for BlobStream {
    type Item = StoreResult<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.chunks.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(Chunk::Bytes(bytes)))) => Poll::Ready(Some(Ok(bytes))),
            Poll::Ready(Some(Ok(Chunk::End))) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                self.ended = true;
                Poll::Ready(Some(Err(err)))
            }
            // The reading side stopped without saying the content ended: never a short
            // read passed off as the whole blob.
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(Some(Err(StoreError::Interrupted {
                    operation: "reading a blob (the reading task ended early)",
                })))
            }
        }
    }
}
