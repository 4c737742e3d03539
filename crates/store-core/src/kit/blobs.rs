//! Blobs as a backend reads and writes them, written once:
//!
//! - the chunked write of the database blob stores: a blob's content is streamed into chunks
//!   under a new id, hashed on the way, and named by its digest only at the end; content
//!   already stored whole is left as it is, a damaged copy is replaced;
//! - the readers: over numbered chunks ([`ChunkedReader`]), and one that re-hashes what it
//!   yields and fails at the end on a mismatch ([`VerifyingReader`]).

use std::io::{self, Read};

use crate::digest::{Digest, Hasher};
use crate::error::{StoreError, StoreResult};

/// How many bytes each chunk holds (the last one may hold fewer): 256 KiB, small enough
/// that a reader holds one at a time, large enough that a 64 MiB blob is 256 rows.
pub const BLOB_CHUNK: usize = 256 * 1024;

/// The rows a database blob store keeps blobs in, seen from inside one write transaction:
/// `blobs` (digest → id, size) and `blob_chunks` ((id, seq) → bytes). [`write_chunked`]
/// drives them; the transaction commits only when it says so.
pub trait ChunkRows {
    /// An id above every blob id in use (chunks staged under an id that was never named
    /// included), taken for this write.
    ///
    /// # Errors
    /// Engine errors.
    fn new_blob_id(&mut self) -> StoreResult<u64>;

    /// Stores chunk `seq` of blob `id`.
    ///
    /// # Errors
    /// Engine errors.
    fn put_chunk(&mut self, id: u64, seq: u32, data: &[u8]) -> StoreResult<()>;

    /// The id and size `digest` is stored under, if it is.
    ///
    /// # Errors
    /// Engine errors.
    fn named(&mut self, digest: &Digest) -> StoreResult<Option<(u64, u64)>>;

    /// Calls `visit` with each chunk of blob `id` in the order of its `seq`; returns false,
    /// without visiting the rest, at a chunk that cannot be read as a number and bytes.
    ///
    /// # Errors
    /// Engine errors.
    fn each_chunk(&mut self, id: u64, visit: &mut dyn FnMut(u32, &[u8])) -> StoreResult<bool>;

    /// Removes every chunk of blob `id`.
    ///
    /// # Errors
    /// Engine errors.
    fn drop_chunks(&mut self, id: u64) -> StoreResult<()>;

    /// Names blob `id` of `size` bytes by `digest`, replacing the row of an earlier copy,
    /// written at `now` (UTC milliseconds).
    ///
    /// # Errors
    /// Engine errors.
    fn name(&mut self, digest: &Digest, id: u64, size: u64, now: i64) -> StoreResult<()>;

    /// Records that the blob `digest` was written again at `now` (UTC milliseconds);
    /// returns false when it is not there any more (a collector removed it meanwhile).
    ///
    /// # Errors
    /// Engine errors.
    fn touch(&mut self, digest: &Digest, now: i64) -> StoreResult<bool>;
}

/// Streams `source` into chunks of `rows` under a new id and names them by their digest,
/// written now. Returns the digest and whether to commit (always, today: a write of
/// content stored already records its new write time, which garbage collection ages the
/// blob by). When a whole copy of the same content is stored already, the new chunks are
/// dropped and the copy's time moved; when the stored copy was damaged, its chunks are
/// removed and the new copy takes its name; when it vanished meanwhile (a collector, on a
/// store several processes write), the new copy takes its name.
///
/// # Errors
/// [`StoreError::Io`] when `source` fails; the engine's errors. The caller rolls back.
pub fn write_chunked(
    rows: &mut dyn ChunkRows,
    source: &mut dyn Read,
) -> StoreResult<(Digest, bool)> {
    let id = rows.new_blob_id()?;
    let mut hasher = Hasher::new();
    let mut buffer = vec![0; BLOB_CHUNK];
    let mut size = 0u64;
    for seq in 0u32.. {
        let n = fill_buffer(source, &mut buffer).map_err(|source| StoreError::Io {
            path: None,
            context: "reading the blob's source".into(),
            source: source.into(),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        rows.put_chunk(id, seq, &buffer[..n])?;
        size += n as u64;
    }
    let digest = hasher.finish();
    let now = crate::time::now_millis().timestamp_millis();
    if let Some((stored_id, stored_size)) = rows.named(&digest)? {
        if stored_size == size && copy_is_whole(rows, stored_id, &digest)? {
            if rows.touch(&digest, now)? {
                rows.drop_chunks(id)?;
                return Ok((digest, true));
            }
            // Removed between the look and the touch: the new copy takes its name.
        } else {
            rows.drop_chunks(stored_id)?;
        }
    }
    rows.name(&digest, id, size, now)?;
    Ok((digest, true))
}

/// Whether the chunks of blob `id` are, in order and without a gap, content that hashes to
/// `digest`.
fn copy_is_whole(rows: &mut dyn ChunkRows, id: u64, digest: &Digest) -> StoreResult<bool> {
    let mut hasher = Hasher::new();
    let mut expected = 0u32;
    let mut in_order = true;
    let readable = rows.each_chunk(id, &mut |seq, data| {
        in_order &= seq == expected;
        expected = expected.saturating_add(1);
        hasher.update(data);
    })?;
    Ok(readable && in_order && hasher.finish() == *digest)
}
/// A reader over a blob's content that hashes what it yields and, at the end, fails with
/// an [`io::ErrorKind::InvalidData`] error carrying [`StoreError::Corrupt`] if the content
/// did not hash to the blob's name: a caller that reads to the end never takes tampered
/// bytes for good ones.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    corrupt: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Verifies `inner` against `expected` as it is read.
    pub fn new(inner: R, expected: Digest) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Hasher::new()),
            expected,
            corrupt: false,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if buf.is_empty() {
            return Ok(0);
        }
        if n > 0 {
            if let Some(hasher) = &mut self.hasher {
                hasher.update(&buf[..n]);
            }
            return Ok(n);
        }
        // The end: compare once; a mismatch stays an error however often the end is read.
        if let Some(found) = self.hasher.take().map(Hasher::finish) {
            self.corrupt = found != self.expected;
        }
        if self.corrupt {
            Err(corrupt_read(self.expected))
        } else {
            Ok(0)
        }
    }
}

fn corrupt_read(digest: Digest) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, StoreError::Corrupt { digest })
}

/// Reads `reader` to its end, mapping a verification failure back to
/// [`StoreError::Corrupt`] and any other failure to [`StoreError::Io`] about `what`.
///
/// # Errors
/// As above.
pub fn read_verified(mut reader: impl Read, what: &str) -> StoreResult<Vec<u8>> {
    let mut data = Vec::new();
    reader
        .read_to_end(&mut data)
        .map_err(|err| StoreError::from_blob_read(err, what))?;
    Ok(data)
}

/// Reads from `source` until `buffer` is full or the source ends; returns how much it
/// holds. What a store cuts a streamed blob into chunks with.
///
/// # Errors
/// The source's error (an interrupted read is retried).
pub fn fill_buffer(source: &mut dyn Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// A reader over a blob stored in numbered chunks: `fetch(n)` gives chunk `n` (from 0), or
/// `None` after the last. Holds one chunk in memory at a time.
pub struct ChunkedReader<F> {
    fetch: F,
    next: u32,
    chunk: Vec<u8>,
    at: usize,
    done: bool,
}

impl<F: FnMut(u32) -> io::Result<Option<Vec<u8>>>> ChunkedReader<F> {
    /// A reader that starts at chunk 0.
    pub fn new(fetch: F) -> Self {
        ChunkedReader {
            fetch,
            next: 0,
            chunk: Vec::new(),
            at: 0,
            done: false,
        }
    }
}

impl<F: FnMut(u32) -> io::Result<Option<Vec<u8>>>> Read for ChunkedReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() && !self.done {
            match (self.fetch)(self.next)? {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                    self.next += 1;
                }
                None => self.done = true,
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
