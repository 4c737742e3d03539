//! Blobs on object storage: `ObjectBlobStore` writes, rewrites and reads of 1 KiB, 1 MiB and
//! 64 MiB beside the bare work on the same server (sha256 of the content, then one `PUT`
//! under its name; one `GET`, then the sha256), interleaved in slices (see
//! `nerve_bench::interleave_timed`). The server is the moto server the tests use (in memory,
//! on loopback), so the ratio is the cost of the store's own requests (the lease look and
//! the presence check after a write, the multipart upload and copy of a large blob), not of
//! a network. `cargo bench -p nerve-bench --bench blobs_s3`.

use nerve_bench::{interleave_timed, timed, unique};
use object_store::{ObjectStoreExt as _, PutPayload, path::Path as Key};
use store_core::{BlobStore, Digest};
use store_object::ObjectBlobStore;

/// Each size with its slices and operations per slice: fewer of the large ones.
const SIZES: [(&str, usize, usize, usize); 3] = [
    ("1KiB", 1024, 41, 20),
    ("1MiB", 1 << 20, 41, 4),
    ("64MiB", 64 << 20, 11, 1),
];

/// The bare client on the same bucket, under a prefix of its own.
struct Bare {
    client: object_store::aws::AmazonS3,
    runtime: tokio::runtime::Runtime,
    prefix: String,
}

impl Bare {
    fn key(&self, digest: &Digest) -> Key {
        Key::from(format!("{}/{}", self.prefix, digest.to_hex()))
    }

    fn write(&self, data: &[u8]) -> Digest {
        let digest = Digest::of(data);
        let payload = PutPayload::from(data.to_vec());
        self.runtime
            .block_on(self.client.put(&self.key(&digest), payload))
            .expect("bare put");
        digest
    }

    fn read(&self, digest: &Digest) -> usize {
        let data = self
            .runtime
            .block_on(async { self.client.get(&self.key(digest)).await?.bytes().await })
            .expect("bare get");
        assert_eq!(Digest::of(&data), *digest, "verified");
        data.len()
    }

    fn delete(&self, digest: &Digest) {
        self.runtime
            .block_on(self.client.delete(&self.key(digest)))
            .expect("bare delete");
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("a folder");
    let store = ObjectBlobStore::open_with(store_object::harness::options(dir.path()))
        .expect("the store on the moto server");
    let bare = Bare {
        client: store_object::harness::client(dir.path()),
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime"),
        prefix: store_object::harness::prefix_of(dir.path()) + "/bare",
    };
    for (size_name, size, slices, ops) in SIZES {
        let base = store_conformance::blobs::content(size, 1);
        let mut last: Option<Digest> = None;
        let mut bare_last: Option<Digest> = None;
        let write = interleave_timed(
            &format!("write {size_name} s3"),
            slices,
            ops,
            |n| {
                if let Some(digest) = last.take() {
                    store.delete(&digest).expect("delete");
                }
                let data = unique(&base, n);
                let (digest, took) = timed(|| store.write(&data).expect("write"));
                last = Some(digest);
                took
            },
            |n| {
                if let Some(digest) = bare_last.take() {
                    bare.delete(&digest);
                }
                let data = unique(&base, n);
                let (digest, took) = timed(|| bare.write(&data));
                bare_last = Some(digest);
                took
            },
        );
        println!("{}", write.summary("s3", "bare"));
        let same = unique(&base, usize::MAX);
        let digest = store.write(&same).expect("write");
        bare.write(&same);
        let rewrite = interleave_timed(
            &format!("rewrite {size_name} s3"),
            slices,
            ops,
            |_| timed(|| assert_eq!(store.write(&same).expect("rewrite"), digest)).1,
            |_| timed(|| bare.write(&same)).1,
        );
        println!("{}", rewrite.summary("s3", "bare"));
        let read = interleave_timed(
            &format!("read {size_name} s3"),
            slices,
            ops,
            |_| {
                timed(|| {
                    let data = store.read(&digest).expect("read").expect("present");
                    assert_eq!(data.len(), size);
                })
                .1
            },
            |_| timed(|| assert_eq!(bare.read(&digest), size)).1,
        );
        println!("{}", read.summary("s3", "bare"));
    }
}
