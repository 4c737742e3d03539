//! Content-addressed blobs: the `BlobStore` trait, what its checks answer, and the text
//! form of the [`Digest`] that names a blob.

use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::digest::Digest;
use crate::error::{StoreError, StoreResult};

impl Digest {
    /// Parses a digest as people copy it: in either case, with a `sha256:` prefix (as OCI
    /// and Docker write digests) or without, surrounding blanks ignored. [`Digest::from_str`]
    /// is the strict form a store writes and names files by.
    ///
    /// # Errors
    /// [`StoreError::InvalidDigest`] for anything else, quoting the input.
    pub fn parse_loose(text: &str) -> StoreResult<Self> {
        let trimmed = text.trim();
        let bare = match trimmed.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &trimmed[7..],
            _ => trimmed,
        };
        bare.to_ascii_lowercase().parse().map_err(|err| match err {
            StoreError::InvalidDigest { reason, .. } => StoreError::InvalidDigest {
                input: text.chars().take(80).collect(),
                reason,
            },
            other => other,
        })
    }
}

impl FromStr for Digest {
    type Err = StoreError;

    /// Parses exactly 64 lowercase hex characters.
    ///
    /// # Errors
    /// [`StoreError::InvalidDigest`], quoting the input (shortened if long).
    fn from_str(text: &str) -> StoreResult<Self> {
        let refuse = |reason: &str| {
            let shown: String = text.chars().take(80).collect();
            StoreError::InvalidDigest {
                input: if shown.len() < text.len() {
                    format!("{shown}…")
                } else {
                    shown
                },
                reason: reason.to_owned(),
            }
        };
        if text.len() != 64 {
            return Err(refuse("a digest is exactly 64 hex characters"));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(refuse("a digest is lowercase hex: 0-9 and a-f only"));
        }
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| refuse("not hex"))?;
        Ok(Digest::from_bytes(bytes))
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What [`BlobStore::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobHealth {
    /// Present, and its content hashes to its name.
    Intact,
    /// Not in the store.
    Missing,
    /// Present, but its content does not hash to its name (changed, truncated, zeroed).
    Corrupt,
}

/// A stored blob as garbage collection sees it ([`BlobStore::inventory`]). Serialises with
/// camelCase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobInfo {
    /// The blob.
    pub digest: Digest,
    /// Its stored size in bytes.
    pub len: u64,
    /// When it was last written (a write of content stored already counts): what the
    /// collector's grace period counts from. `None` for a blob written before the store kept
    /// write times, which the collector never removes.
    pub written_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What [`BlobStore::verify_all`] found. Serialises with camelCase names, digests as hex.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// How many blobs were re-hashed.
    pub checked: u64,
    /// Every blob whose content does not hash to its name, in digest order.
    pub corrupt: Vec<Digest>,
}

impl StoreError {
    /// The error an I/O error from a blob's reader ([`BlobStore::open`]) stands for: the
    /// [`StoreError::Corrupt`] the reader raised when the content did not match its digest,
    /// or [`StoreError::Io`] while reading `what` (the blob's digest, for example).
    pub fn from_blob_read(err: io::Error, what: &str) -> StoreError {
        let as_io = |source: io::Error| StoreError::Io {
            path: None,
            context: format!("reading blob {what}"),
            source: source.into(),
        };
        if !err.get_ref().is_some_and(|inner| inner.is::<StoreError>()) {
            return as_io(err);
        }
        let kind = err.kind();
        match err.into_inner().map(|inner| inner.downcast::<StoreError>()) {
            Some(Ok(store_error)) => *store_error,
            Some(Err(other)) => as_io(io::Error::new(kind, other)),
            None => as_io(io::Error::from(kind)),
        }
    }
}

/// The most [`BlobStore::read`] reserves up front from a blob's stored size.
const READ_RESERVE_CAP: u64 = 256 * 1024 * 1024;

/// A store of immutable blobs named by the sha256 of their content (docs/SPEC.md section 2).
///
/// - Content-addressed: writing the same bytes twice stores them once and returns the same
///   digest; two writers of the same content both succeed.
/// - Atomic and durable: a write that returns is on the disk, whole; a write that fails or
///   is interrupted leaves nothing under any digest. A caller that records a digest in the
///   log writes the blob first.
/// - Tamper-evident: `read`, `open`, `exists` and `verify` re-hash the content; a blob that
///   does not match its name is never handed back as good.
pub trait BlobStore: Send + Sync {
    /// Stores `data`; returns its digest.
    ///
    /// # Errors
    /// I/O or engine errors; nothing is stored then.
    fn write(&self, data: &[u8]) -> StoreResult<Digest> {
        self.write_from(&mut &data[..])
    }

    /// Stores everything `source` yields, streaming: memory does not grow with the blob.
    ///
    /// # Errors
    /// An error from `source` (as [`StoreError::Io`]) or from the store; nothing is stored
    /// then.
    fn write_from(&self, source: &mut dyn Read) -> StoreResult<Digest>;

    /// The blob's content, verified; `None` when it is not in the store.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the content does not hash to `digest`.
    fn read(&self, digest: &Digest) -> StoreResult<Option<Vec<u8>>> {
        // Reserve the stored size once instead of growing by doubling; capped, because a
        // damaged size must not ask for an absurd allocation.
        let capacity = self.len(digest)?.map_or(0, |len| len.min(READ_RESERVE_CAP));
        let Some(mut reader) = self.open(digest)? else {
            return Ok(None);
        };
        let mut data = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        reader
            .read_to_end(&mut data)
            .map_err(|err| StoreError::from_blob_read(err, &digest.to_hex()))?;
        Ok(Some(data))
    }

    /// A reader over the blob's content that verifies as it reads (see
    /// [`VerifyingReader`](crate::kit::VerifyingReader)); `None` when it is not in the store.
    ///
    /// # Errors
    /// I/O or engine errors on opening.
    fn open(&self, digest: &Digest) -> StoreResult<Option<Box<dyn Read + Send + '_>>>;

    /// The stored size in bytes, without reading or verifying the content; `None` when it is
    /// not in the store.
    ///
    /// # Errors
    /// I/O or engine errors.
    fn len(&self, digest: &Digest) -> StoreResult<Option<u64>>;

    /// Whether the blob is present and whole: its content is re-hashed, so this costs a read
    /// of the blob ([`BlobStore::len`] is the cheap check).
    ///
    /// # Errors
    /// I/O or engine errors.
    fn exists(&self, digest: &Digest) -> StoreResult<bool> {
        Ok(self.verify(digest)? == BlobHealth::Intact)
    }

    /// Removes the blob; returns whether it was there.
    ///
    /// # Errors
    /// I/O or engine errors.
    fn delete(&self, digest: &Digest) -> StoreResult<bool>;

    /// Every blob's digest, in digest order.
    ///
    /// # Errors
    /// I/O or engine errors.
    fn list(&self) -> StoreResult<Vec<Digest>>;

    /// How many blobs the store holds: what [`BlobStore::list`] would list, counted by the
    /// engine where it can without reading every digest out (a database's count; by default,
    /// the listing's length).
    ///
    /// # Errors
    /// I/O or engine errors.
    fn count(&self) -> StoreResult<u64> {
        Ok(self.list()?.len() as u64)
    }

    /// Every blob with its size and last write time, in digest order: what garbage
    /// collection starts from. Reads no content.
    ///
    /// # Errors
    /// I/O or engine errors.
    fn inventory(&self) -> StoreResult<Vec<BlobInfo>>;

    /// Removes each of `digests` that was last written before `cutoff`, atomically with the
    /// store's writes: a write of the same content that returned before the removal makes
    /// it keep the blob, and one that returns after it has stored the blob again. Answers
    /// each digest at its position: the bytes freed, or `None` when the blob was kept (not
    /// there, written since `cutoff`, or of no known write time). What the collector removes
    /// a step of candidates with; a database store does them in one transaction and one
    /// sync.
    ///
    /// # Errors
    /// I/O or engine errors; [`StoreError::OpenedReadOnly`] on a store opened read-only.
    /// The removals before an error stand.
    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<Option<u64>>>;

    /// [`BlobStore::delete_all_if_written_before`] for one blob.
    ///
    /// # Errors
    /// As [`BlobStore::delete_all_if_written_before`].
    fn delete_if_written_before(
        &self,
        digest: &Digest,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<u64>> {
        Ok(self
            .delete_all_if_written_before(std::slice::from_ref(digest), cutoff)?
            .pop()
            .flatten())
    }

    /// Re-hashes the blob.
    ///
    /// # Errors
    /// I/O or engine errors (a mismatch is [`BlobHealth::Corrupt`], not an error).
    fn verify(&self, digest: &Digest) -> StoreResult<BlobHealth> {
        let mut reader = match self.open(digest) {
            Ok(Some(reader)) => reader,
            Ok(None) => return Ok(BlobHealth::Missing),
            // Refused before a byte was read (a file store finds no regular file there).
            Err(StoreError::Corrupt { .. }) => return Ok(BlobHealth::Corrupt),
            Err(err) => return Err(err),
        };
        match io::copy(&mut reader, &mut io::sink()) {
            Ok(_) => Ok(BlobHealth::Intact),
            Err(err) => match StoreError::from_blob_read(err, &digest.to_hex()) {
                StoreError::Corrupt { .. } => Ok(BlobHealth::Corrupt),
                other => Err(other),
            },
        }
    }

    /// Re-hashes every blob; reports those that do not match their name.
    ///
    /// # Errors
    /// I/O or engine errors.
    fn verify_all(&self) -> StoreResult<VerifyReport> {
        let mut report = VerifyReport::default();
        for digest in self.list()? {
            report.checked += 1;
            if self.verify(&digest)? == BlobHealth::Corrupt {
                report.corrupt.push(digest);
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::blobs::{ChunkedReader, VerifyingReader, read_verified};

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn a_digest_as_people_copy_it_is_read_loosely_and_nothing_else() {
        let digest = Digest::of(b"");
        for text in [
            EMPTY.to_owned(),
            EMPTY.to_ascii_uppercase(),
            format!("sha256:{EMPTY}"),
            format!("SHA256:{}", EMPTY.to_ascii_uppercase()),
            format!("  {EMPTY}\n"),
        ] {
            assert_eq!(Digest::parse_loose(&text).ok(), Some(digest), "{text:?}");
        }
        for text in ["sha256:", "md5:abc", "../etc/passwd", &EMPTY[1..]] {
            let err = Digest::parse_loose(text).expect_err(text);
            assert!(matches!(err, StoreError::InvalidDigest { .. }), "{err}");
        }
        assert!(
            EMPTY.to_ascii_uppercase().parse::<Digest>().is_err(),
            "from_str stays strict"
        );
    }

    #[test]
    fn a_digest_is_the_sha256_shown_as_lowercase_hex() {
        assert_eq!(Digest::of(b"").to_string(), EMPTY);
        assert_eq!(EMPTY.parse::<Digest>().expect("parses"), Digest::of(b""));
    }

    #[test]
    fn every_other_form_is_refused_and_quoted() {
        let upper = EMPTY.to_uppercase();
        let cases = [
            upper.as_str(),
            &EMPTY[..63],
            "",
            "../../../../etc/passwd",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85\0",
            "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ];
        for case in cases {
            let err = case.parse::<Digest>().expect_err(case);
            assert!(matches!(&err, StoreError::InvalidDigest { .. }), "{err}");
        }
        let long = "a".repeat(1000);
        let err = long.parse::<Digest>().expect_err("too long");
        assert!(
            err.to_string().len() < 300,
            "a long input is shortened: {err}"
        );
    }

    #[test]
    fn a_chunked_reader_yields_its_chunks_in_order_and_ends() {
        let chunks = [b"ab".to_vec(), Vec::new(), b"cde".to_vec()];
        let reader = ChunkedReader::new(|n| Ok(chunks.get(n as usize).cloned()));
        assert_eq!(read_verified(reader, "chunks").expect("read"), b"abcde");
    }

    #[test]
    fn the_verifying_reader_fails_at_the_end_on_other_content() {
        let mut good = VerifyingReader::new(&b"hello"[..], Digest::of(b"hello"));
        assert_eq!(read_verified(&mut good, "good").expect("intact"), b"hello");
        let mut bad = VerifyingReader::new(&b"hellO"[..], Digest::of(b"hello"));
        let err = read_verified(&mut bad, "bad").expect_err("tampered");
        assert!(
            matches!(err, StoreError::Corrupt { digest } if digest == Digest::of(b"hello")),
            "{err}"
        );
        let again = bad
            .read(&mut [0; 8])
            .expect_err("still tampered when read again");
        assert_eq!(again.kind(), io::ErrorKind::InvalidData);
    }
}
