//! SPEC 2, blobs: round trips, dedupe, concurrent writers, digests, tamper detection, list
//! and delete, and writes that fail part way.
//!
//! Tampering goes behind the store's back, as damage on the disk would, through the
//! [`BlobHarness`] each backend provides for its own storage.

use std::io::Read;
use std::path::Path;

use super::BlobHarness;
use store_core::{BlobHealth, BlobStore, Digest, StoreError, StoreResult, VerifyReport};

/// Opens (or reopens) the blob store kept in the folder `dir`.
pub type OpenBlobStore = fn(&Path) -> StoreResult<Box<dyn BlobStore>>;

/// A blob store in a temporary folder that a case can close and open again.
struct BlobFixture {
    open: OpenBlobStore,
    store: Option<Box<dyn BlobStore>>,
    dir: tempfile::TempDir,
}

impl BlobFixture {
    fn new(open: OpenBlobStore) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the store");
        let store = open(dir.path()).expect("a fresh blob store opens");
        BlobFixture {
            open,
            store: Some(store),
            dir,
        }
    }

    fn store(&self) -> &dyn BlobStore {
        self.store.as_deref().expect("an open store")
    }

    /// Closes the store, lets `damage` act on its files, and opens it again.
    fn behind_its_back(&mut self, damage: impl FnOnce(&Path)) {
        drop(self.store.take());
        damage(self.dir.path());
        self.store = Some((self.open)(self.dir.path()).expect("the store opens again"));
    }
}

/// Deterministic, non-repeating-looking content of `len` bytes.
pub fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn assert_round_trip(store: &dyn BlobStore, data: &[u8]) {
    let digest = store.write(data).expect("write");
    assert_eq!(
        digest,
        Digest::of(data),
        "the name is the sha256 of the content"
    );
    assert_eq!(
        store.read(&digest).expect("read").as_deref(),
        Some(data),
        "{} bytes round-trip",
        data.len()
    );
    let mut streamed = Vec::new();
    store
        .open(&digest)
        .expect("open")
        .expect("present")
        .read_to_end(&mut streamed)
        .expect("read the stream");
    assert!(
        streamed == data,
        "open() yields the same {} bytes",
        data.len()
    );
    assert_eq!(store.len(&digest).expect("len"), Some(data.len() as u64));
    assert!(store.exists(&digest).expect("exists"));
    assert_eq!(store.verify(&digest).expect("verify"), BlobHealth::Intact);
}

/// Empty, 1-byte, 1 MiB and 64 MiB blobs come back byte for byte through `read` and
/// `open`, named by their sha256, and again after reopening.
pub fn round_trips_from_empty_to_64_mib(open: OpenBlobStore) {
    let mut fx = BlobFixture::new(open);
    let sizes = [0, 1, 1024 * 1024, 64 * 1024 * 1024];
    for (seed, size) in (0u8..).zip(sizes) {
        assert_round_trip(fx.store(), &content(size, seed));
    }
    fx.behind_its_back(|_| {});
    let one_mib = content(1024 * 1024, 2);
    assert_eq!(
        fx.store()
            .read(&Digest::of(&one_mib))
            .expect("read")
            .as_deref(),
        Some(&one_mib[..])
    );
    assert_eq!(fx.store().list().expect("list").len(), 4);
}

/// Writing the same content twice, or streaming it, stores it once under one name.
pub fn the_same_content_is_stored_once(open: OpenBlobStore) {
    let fx = BlobFixture::new(open);
    let data = content(100_000, 7);
    let first = fx.store().write(&data).expect("write");
    let second = fx.store().write(&data).expect("write again");
    let streamed = fx.store().write_from(&mut &data[..]).expect("stream it");
    assert_eq!((first, second), (streamed, streamed));
    assert_eq!(fx.store().list().expect("list"), vec![first]);
    assert_eq!(fx.store().count().expect("count"), 1, "counted once");
}

/// Eight threads writing the same content at once all succeed with the same digest, and
/// the store holds one intact copy.
pub fn concurrent_writers_of_the_same_content_all_succeed(open: OpenBlobStore) {
    let fx = BlobFixture::new(open);
    let data = content(1024 * 1024, 9);
    let store = fx.store();
    let digests: Vec<Digest> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..8).map(|_| scope.spawn(|| store.write(&data))).collect();
        writers
            .into_iter()
            .map(|w| {
                w.join()
                    .expect("writer thread")
                    .expect("every writer succeeds")
            })
            .collect()
    });
    assert!(digests.iter().all(|d| *d == Digest::of(&data)));
    assert_eq!(store.list().expect("list"), vec![Digest::of(&data)]);
    assert_eq!(
        store.verify(&digests[0]).expect("verify"),
        BlobHealth::Intact
    );
}

/// No text but 64 lowercase hex characters names a blob; a well-formed name of nothing
/// stored is absent, not an error.
pub fn only_a_well_formed_digest_names_a_blob(open: OpenBlobStore) {
    let fx = BlobFixture::new(open);
    let data = b"named";
    let name = fx.store().write(data).expect("write").to_string();
    for bad in [
        name.to_uppercase(),
        name[..63].to_owned(),
        format!("{name}0"),
        format!("../{}", &name[3..]),
        format!("{}\0", &name[..63]),
        format!("{}/{}", &name[..2], &name[3..]),
        String::new(),
    ] {
        let err = bad.parse::<Digest>().expect_err("a malformed digest");
        assert!(
            matches!(err, StoreError::InvalidDigest { .. }),
            "{bad:?}: {err}"
        );
    }
    let good: Digest = name.parse().expect("the store's own name parses");
    assert_eq!(
        fx.store().read(&good).expect("read").as_deref(),
        Some(&data[..])
    );
    let absent = Digest::of(b"never written");
    assert_eq!(fx.store().read(&absent).expect("read"), None);
    assert!(fx.store().open(&absent).expect("open").is_none());
    assert_eq!(fx.store().len(&absent).expect("len"), None);
    assert!(!fx.store().exists(&absent).expect("exists"));
    assert_eq!(
        fx.store().verify(&absent).expect("verify"),
        BlobHealth::Missing
    );
}

/// After `damage` changes the content of one of two blobs, every way of reading it says
/// so, and the other blob is untouched.
fn assert_tamper_detected(
    open: OpenBlobStore,
    tamper: &dyn BlobHarness,
    damage: fn(&[u8]) -> Vec<u8>,
) {
    let mut fx = BlobFixture::new(open);
    let victim = content(300_000, 3);
    let bystander = content(1000, 4);
    let digest = fx.store().write(&victim).expect("write");
    let other = fx.store().write(&bystander).expect("write");
    let damaged = damage(&victim);
    assert_ne!(damaged, victim, "the damage changes something");
    fx.behind_its_back(|dir| tamper.replace_content(dir, &digest, &damaged));
    let store = fx.store();

    let err = store.read(&digest).expect_err("read of a tampered blob");
    assert!(
        matches!(err, StoreError::Corrupt { digest: d } if d == digest),
        "{err}"
    );
    let mut reader = store.open(&digest).expect("open").expect("it is there");
    let err = reader
        .read_to_end(&mut Vec::new())
        .expect_err("reading it to the end");
    assert!(
        matches!(StoreError::from_blob_read(err, "test"), StoreError::Corrupt { digest: d } if d == digest),
        "open() fails at the end"
    );
    assert!(
        !store.exists(&digest).expect("exists"),
        "a tampered blob does not exist whole"
    );
    assert_eq!(store.verify(&digest).expect("verify"), BlobHealth::Corrupt);
    assert_eq!(
        store.verify_all().expect("verify_all"),
        VerifyReport {
            checked: 2,
            corrupt: vec![digest]
        }
    );
    assert_eq!(
        store.read(&other).expect("read").as_deref(),
        Some(&bystander[..])
    );

    // Writing the same bytes again repairs the stored copy: a write that returns leaves a
    // whole blob under its digest, and it stays whole after reopening.
    assert_eq!(store.write(&victim).expect("write again"), digest);
    assert_whole(store, &digest, &victim);
    drop(reader);
    fx.behind_its_back(|_| ());
    assert_whole(fx.store(), &digest, &victim);
    assert_eq!(
        fx.store().verify_all().expect("verify_all"),
        VerifyReport {
            checked: 2,
            corrupt: vec![]
        }
    );
}

/// `digest` reads back as `content` through every reading call.
fn assert_whole(store: &dyn BlobStore, digest: &Digest, content: &[u8]) {
    assert_eq!(
        store.read(digest).expect("read").as_deref(),
        Some(content),
        "read after the repair"
    );
    assert_eq!(store.verify(digest).expect("verify"), BlobHealth::Intact);
    assert!(store.exists(digest).expect("exists"));
    assert_eq!(
        store.len(digest).expect("len"),
        Some(content.len() as u64),
        "len after the repair"
    );
}

/// One flipped bit in the middle is detected by `read`, `open`, `exists`, `verify` and
/// `verify_all`; writing the same bytes again repairs it.
pub fn a_flipped_byte_is_detected(open: OpenBlobStore, tamper: &dyn BlobHarness) {
    assert_tamper_detected(open, tamper, |data| {
        let mut data = data.to_vec();
        let middle = data.len() / 2;
        data[middle] ^= 0x01;
        data
    });
}

/// A blob cut short is detected everywhere it is read.
pub fn a_truncated_blob_is_detected(open: OpenBlobStore, tamper: &dyn BlobHarness) {
    assert_tamper_detected(open, tamper, |data| data[..data.len() - 4096].to_vec());
}

/// A blob whose bytes were all zeroed, length kept, is detected everywhere it is read.
pub fn a_zero_filled_blob_is_detected(open: OpenBlobStore, tamper: &dyn BlobHarness) {
    assert_tamper_detected(open, tamper, |data| vec![0; data.len()]);
}

/// A blob whose content is gone reads as absent everywhere, and `verify_all` checks the
/// rest.
pub fn a_missing_blob_is_absent(open: OpenBlobStore, tamper: &dyn BlobHarness) {
    let mut fx = BlobFixture::new(open);
    let lost = fx.store().write(&content(5000, 5)).expect("write");
    let kept = fx.store().write(&content(5000, 6)).expect("write");
    fx.behind_its_back(|dir| tamper.remove(dir, &lost));
    let store = fx.store();
    assert_eq!(store.read(&lost).expect("read"), None);
    assert!(store.open(&lost).expect("open").is_none());
    assert!(!store.exists(&lost).expect("exists"));
    assert_eq!(store.verify(&lost).expect("verify"), BlobHealth::Missing);
    assert_eq!(store.list().expect("list"), vec![kept]);
    assert_eq!(
        store.verify_all().expect("verify_all"),
        VerifyReport {
            checked: 1,
            corrupt: vec![]
        }
    );
}

/// `list` gives every digest in order and `count` their number; `delete` removes one and
/// says whether it was there.
pub fn list_and_delete(open: OpenBlobStore) {
    let fx = BlobFixture::new(open);
    let store = fx.store();
    assert_eq!(store.count().expect("count"), 0);
    let mut digests: Vec<Digest> = (0..5)
        .map(|i| store.write(&content(2000, i)).expect("write"))
        .collect();
    digests.sort();
    assert_eq!(store.list().expect("list"), digests);
    assert_eq!(store.count().expect("count"), 5);
    assert!(store.delete(&digests[2]).expect("delete"));
    assert!(!store.delete(&digests[2]).expect("delete again"));
    assert_eq!(store.read(&digests[2]).expect("read"), None);
    digests.remove(2);
    assert_eq!(store.list().expect("list"), digests);
    assert_eq!(
        store.count().expect("count"),
        4,
        "a deleted blob is not counted"
    );
    assert_eq!(
        store.write(&content(2000, 2)).expect("write it again"),
        Digest::of(&content(2000, 2))
    );
}

/// A source that fails part way.
struct FailingSource {
    left: usize,
}

impl Read for FailingSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("the source broke"));
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(0xAB);
        self.left -= n;
        Ok(n)
    }
}

/// A write whose source fails part way is an error, and leaves no blob, partial or whole,
/// and nothing that `list` or `verify_all` sees.
pub fn a_write_whose_source_fails_leaves_nothing(open: OpenBlobStore) {
    let mut fx = BlobFixture::new(open);
    for left in [0, 1, 300_000] {
        let err = fx
            .store()
            .write_from(&mut FailingSource { left })
            .expect_err("the source fails");
        assert!(matches!(err, StoreError::Io { .. }), "{err}");
        assert!(
            fx.store().list().expect("list").is_empty(),
            "nothing after a failure at {left}"
        );
    }
    fx.behind_its_back(|_| {});
    assert!(fx.store().list().expect("list").is_empty());
    assert_eq!(fx.store().count().expect("count"), 0, "nothing counted");
    assert_eq!(
        fx.store().verify_all().expect("verify_all"),
        VerifyReport::default()
    );
    let whole = vec![0xAB; 300_000];
    assert_eq!(
        fx.store().write(&whole).expect("a whole write"),
        Digest::of(&whole)
    );
}

/// A blob store opened read-only reads, opens, lists and verifies what was written, and
/// refuses writes and deletes with `OpenedReadOnly`, keeping every blob; where there is no
/// store it fails with `NoStore` and creates nothing.
pub fn a_read_only_blob_store_reads_and_refuses_writes(
    open: OpenBlobStore,
    harness: &dyn BlobHarness,
) {
    let empty = tempfile::tempdir().expect("temp dir");
    let err = harness
        .open_blobs_read_only(empty.path())
        .map(|_| ())
        .expect_err("no blob store there");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");
    assert_eq!(
        std::fs::read_dir(empty.path()).expect("folder").count(),
        0,
        "nothing created"
    );

    let mut fx = BlobFixture::new(open);
    let kept = content(300_000, 7);
    let digest = fx.store().write(&kept).expect("write");
    drop(fx.store.take());
    let store = harness
        .open_blobs_read_only(fx.dir.path())
        .expect("open read-only");
    assert_whole(store.as_ref(), &digest, &kept);
    assert_eq!(store.list().expect("list"), vec![digest]);
    assert_eq!(
        store.verify_all().expect("verify_all"),
        VerifyReport {
            checked: 1,
            corrupt: vec![]
        }
    );
    for (what, result) in [
        ("write", store.write(b"new").map(|_| ())),
        ("write again", store.write(&kept).map(|_| ())),
        ("delete", store.delete(&digest).map(|_| ())),
        (
            "collect",
            store
                .delete_if_written_before(&digest, chrono::Utc::now() + chrono::Duration::days(1))
                .map(|_| ()),
        ),
    ] {
        assert!(
            matches!(result, Err(StoreError::OpenedReadOnly { .. })),
            "{what}: {result:?}"
        );
    }
    assert_eq!(store.list().expect("list"), vec![digest], "nothing changed");
    drop(store);
    fx.behind_its_back(|_| {});
    assert_whole(fx.store(), &digest, &kept);
}

/// The write time the store keeps for its only blob.
fn only_write_time(store: &dyn BlobStore) -> chrono::DateTime<chrono::Utc> {
    store.inventory().expect("inventory")[0]
        .written_at
        .expect("a blob written now has a write time")
}

/// The inventory lists every blob, in digest order, with its size and a write time taken
/// about when it was written (file systems stamp from a clock that lags by up to a tick).
pub fn the_inventory_lists_every_blob_with_its_size_and_write_time(open: OpenBlobStore) {
    let fx = BlobFixture::new(open);
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let mut written: Vec<(Digest, u64)> = [content(10, 1), Vec::new(), content(600_000, 2)]
        .iter()
        .map(|data| (fx.store().write(data).expect("write"), data.len() as u64))
        .collect();
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    written.sort();
    let inventory = fx.store().inventory().expect("inventory");
    assert_eq!(
        inventory
            .iter()
            .map(|info| (info.digest, info.len))
            .collect::<Vec<_>>(),
        written
    );
    for info in inventory {
        let at = info
            .written_at
            .expect("a blob written now has a write time");
        assert!(
            (before..=after).contains(&at),
            "{at} outside {before}..{after}"
        );
    }
}

/// Writing content the store holds renews its write time: a collection with a cutoff
/// between the two writes keeps it. A cutoff after the last write removes it, once, and
/// says how many bytes that freed; an absent blob is kept (nothing to remove).
pub fn a_rewrite_renews_a_blob_and_only_one_written_before_the_cutoff_goes(open: OpenBlobStore) {
    let fx = BlobFixture::new(open);
    let data = content(1000, 5);
    let digest = fx.store().write(&data).expect("write");
    let first = only_write_time(fx.store());
    // Written again until the store's clock shows a later time: its tick, not a sleep.
    let second = (0..100_000)
        .find_map(|_| {
            fx.store().write(&data).expect("write again");
            Some(only_write_time(fx.store())).filter(|at| *at > first)
        })
        .expect("a write of stored content renews its write time");
    let between = first + chrono::Duration::nanoseconds(1);
    assert_eq!(
        fx.store()
            .delete_if_written_before(&digest, between)
            .expect("collect"),
        None,
        "written again since the cutoff"
    );
    assert_whole(fx.store(), &digest, &data);
    let later = second + chrono::Duration::milliseconds(1);
    assert_eq!(
        fx.store()
            .delete_if_written_before(&digest, later)
            .expect("collect"),
        Some(data.len() as u64)
    );
    assert_eq!(fx.store().read(&digest).expect("read"), None, "removed");
    assert!(fx.store().inventory().expect("inventory").is_empty());
    assert_eq!(
        fx.store()
            .delete_if_written_before(&digest, later)
            .expect("collect again"),
        None
    );
    assert_eq!(fx.store().write(&data).expect("write back"), digest);
    assert_whole(fx.store(), &digest, &data);
}

/// A step of removals answers each digest at its position: an old blob is removed (its
/// bytes), a blob written since the cutoff and one that is not there are kept (`None`).
pub fn a_step_of_removals_answers_each_blob_at_its_place(open: OpenBlobStore) {
    let fx = BlobFixture::new(open);
    let old = content(2000, 8);
    let old_digest = fx.store().write(&old).expect("write");
    let written = only_write_time(fx.store());
    let cutoff = written + chrono::Duration::milliseconds(1);
    // Written again until the store's clock shows a time at or after the cutoff.
    let young = content(10, 9);
    let young_digest = (0..100_000)
        .find_map(|_| {
            let digest = fx.store().write(&young).expect("a young blob");
            let at = fx
                .store()
                .inventory()
                .expect("inventory")
                .into_iter()
                .find(|info| info.digest == digest)
                .and_then(|info| info.written_at)
                .expect("a time");
            (at >= cutoff).then_some(digest)
        })
        .expect("the store's clock passes the cutoff");
    let absent = Digest::of(b"never written");
    let freed = fx
        .store()
        .delete_all_if_written_before(&[young_digest, old_digest, absent], cutoff)
        .expect("a step");
    assert_eq!(freed, vec![None, Some(old.len() as u64), None]);
    assert_eq!(fx.store().read(&old_digest).expect("read"), None);
    assert_whole(fx.store(), &young_digest, &young);
    assert_eq!(
        fx.store()
            .delete_all_if_written_before(&[], cutoff)
            .expect("an empty step"),
        Vec::<Option<u64>>::new()
    );
}

/// Expands to one `#[test]` per case of the blob suite, against the blob store of `$harness`
/// (a `&'static` [`BlobHarness`]), which also damages it behind its back.
#[macro_export]
macro_rules! blob_store_conformance {
    (harness: $harness:expr) => {
        mod blob {
            use super::*;
            fn __blob_harness() -> &'static dyn $crate::BlobHarness {
                $harness
            }
            fn __blob_open(
                dir: &::std::path::Path,
            ) -> $crate::__core::StoreResult<::std::boxed::Box<dyn $crate::__core::BlobStore>> {
                __blob_harness().open_blobs(dir)
            }
            $crate::__blob_cases!(__blob_open, __blob_harness();
                plain: round_trips_from_empty_to_64_mib, the_same_content_is_stored_once,
                    concurrent_writers_of_the_same_content_all_succeed,
                    only_a_well_formed_digest_names_a_blob, list_and_delete,
                    a_write_whose_source_fails_leaves_nothing,
                    the_inventory_lists_every_blob_with_its_size_and_write_time,
                    a_rewrite_renews_a_blob_and_only_one_written_before_the_cutoff_goes,
                    a_step_of_removals_answers_each_blob_at_its_place;
                tampered: a_flipped_byte_is_detected, a_truncated_blob_is_detected,
                    a_zero_filled_blob_is_detected, a_missing_blob_is_absent,
                    a_read_only_blob_store_reads_and_refuses_writes);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __blob_cases {
    ($open:ident, $tamper:expr; plain: $($plain:ident),*; tampered: $($tampered:ident),*) => {
        $(
            #[test]
            fn $plain() {
                $crate::blobs::$plain($open)
            }
        )*
        $(
            #[test]
            fn $tampered() {
                $crate::blobs::$tampered($open, $tamper)
            }
        )*
    };
}
