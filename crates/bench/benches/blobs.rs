//! Blob writes, rewrites and reads of 1 KiB, 1 MiB and 64 MiB: each blob store (`FsBlobStore`,
//! the SQLite and redb blob stores) and cacache beside the bare work of a durable
//! content-addressed write (sha256, write, sync, rename, sync the folder) or read (read,
//! re-hash), the two sides interleaved in slices (see `nerve_bench::interleave_timed`).
//!
//! Every measured write is new content, and the previous one is deleted outside the
//! measurement, so no store grows. cacache does not sync what it writes, so its writes do
//! less than the others'. `cargo bench -p nerve-bench --bench blobs`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nerve_bench::{interleave_timed, timed, unique};
use store_blob::FsBlobStore;
use store_core::{BlobStore, Digest, kit::Hasher};

/// Each size with its slices and operations per slice: fewer of the large ones.
const SIZES: [(&str, usize, usize, usize); 3] = [
    ("1KiB", 1024, 41, 20),
    ("1MiB", 1 << 20, 41, 4),
    ("64MiB", 64 << 20, 15, 1),
];

/// The bare work of a durable content-addressed store, in a folder of its own.
struct Bare {
    root: PathBuf,
}

impl Bare {
    fn new(root: PathBuf) -> Self {
        std::fs::create_dir_all(&root).expect("the bare root");
        Bare { root }
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join(&hex[..2]).join(&hex[2..])
    }

    fn write(&self, data: &[u8], n: usize) -> Digest {
        let temp = self.root.join(format!("tmp-{n}"));
        let mut hasher = Hasher::new();
        let mut file = File::create(&temp).expect("create");
        for chunk in data.chunks(256 * 1024) {
            hasher.update(chunk);
            file.write_all(chunk).expect("write");
        }
        file.sync_all().expect("sync");
        let digest = hasher.finish();
        let path = self.path(&digest);
        let folder = path.parent().expect("a prefix folder");
        std::fs::create_dir_all(folder).expect("folder");
        std::fs::rename(&temp, &path).expect("rename");
        File::open(folder)
            .and_then(|f| f.sync_all())
            .expect("sync folder");
        digest
    }

    fn read(&self, digest: &Digest) -> Vec<u8> {
        let mut data = Vec::new();
        File::open(self.path(digest))
            .and_then(|mut f| f.read_to_end(&mut data))
            .expect("read");
        assert_eq!(Digest::of(&data), *digest, "verified");
        data
    }
}

/// A blob store under test, or cacache, behind the three operations the bench times.
trait Blobs {
    fn write(&mut self, data: &[u8]) -> Digest;
    fn delete(&mut self, digest: &Digest);
    fn read(&mut self, digest: &Digest) -> usize;
}

struct Store(Box<dyn BlobStore>);

impl Blobs for Store {
    fn write(&mut self, data: &[u8]) -> Digest {
        self.0.write(data).expect("write")
    }
    fn delete(&mut self, digest: &Digest) {
        self.0.delete(digest).expect("delete");
    }
    fn read(&mut self, digest: &Digest) -> usize {
        self.0.read(digest).expect("read").expect("present").len()
    }
}

/// cacache, and the integrity string of each blob written, kept in memory.
struct Cacache(PathBuf, HashMap<Digest, cacache::Integrity>);

impl Blobs for Cacache {
    fn write(&mut self, data: &[u8]) -> Digest {
        let sri = cacache::write_hash_sync(&self.0, data).expect("cacache write");
        let digest = Digest::of(data);
        self.1.insert(digest, sri);
        digest
    }
    fn delete(&mut self, digest: &Digest) {
        let sri = self.1.remove(digest).expect("written");
        cacache::remove_hash_sync(&self.0, &sri).expect("delete");
    }
    fn read(&mut self, digest: &Digest) -> usize {
        let sri = self.1.get(digest).expect("written");
        cacache::read_hash_sync(&self.0, sri)
            .expect("cacache read")
            .len()
    }
}

fn subjects(dir: &Path) -> Vec<(&'static str, Box<dyn Blobs>)> {
    vec![
        (
            "fs",
            Box::new(Store(Box::new(
                FsBlobStore::open(dir.join("fs")).expect("fs"),
            ))),
        ),
        (
            "sqlite",
            Box::new(Store(Box::new(
                store_sqlite::SqliteBlobStore::open(dir.join("blobs.db")).expect("sqlite"),
            ))),
        ),
        (
            "redb",
            Box::new(Store(Box::new(
                store_redb::RedbBlobStore::open(dir.join("blobs.redb")).expect("redb"),
            ))),
        ),
        (
            "cacache",
            Box::new(Cacache(dir.join("cacache"), HashMap::new())),
        ),
    ]
}

fn main() {
    for (size_name, size, slices, ops) in SIZES {
        let base = store_conformance::blobs::content(size, 1);
        let stores = tempfile::tempdir().expect("a folder");
        for (name, mut subject) in subjects(stores.path()) {
            let dir = tempfile::tempdir().expect("a folder");
            let bare = Bare::new(dir.path().join("bare"));
            // New content each time, the previous write deleted outside the measurement.
            let mut last: Option<Digest> = None;
            let mut bare_last: Option<Digest> = None;
            let write = interleave_timed(
                &format!("write {size_name} {name}"),
                slices,
                ops,
                |n| {
                    if let Some(digest) = last.take() {
                        subject.delete(&digest);
                    }
                    let data = unique(&base, n);
                    let (digest, took) = timed(|| subject.write(&data));
                    last = Some(digest);
                    took
                },
                |n| {
                    if let Some(digest) = bare_last.take() {
                        std::fs::remove_file(bare.path(&digest)).expect("delete");
                    }
                    let data = unique(&base, n);
                    let (digest, took) = timed(|| bare.write(&data, n));
                    bare_last = Some(digest);
                    took
                },
            );
            println!("{}", write.summary(name, "bare"));
            // The same content again: what making sure the stored copy is whole costs.
            let same = unique(&base, usize::MAX);
            let digest = subject.write(&same);
            let rewrite = interleave_timed(
                &format!("rewrite {size_name} {name}"),
                slices,
                ops,
                |_| timed(|| assert_eq!(subject.write(&same), digest)).1,
                |n| timed(|| bare.write(&same, n)).1,
            );
            println!("{}", rewrite.summary(name, "bare"));
            let read = interleave_timed(
                &format!("read {size_name} {name}"),
                slices,
                ops,
                |_| timed(|| assert_eq!(subject.read(&digest), size)).1,
                |_| timed(|| bare.read(&digest).len()).1,
            );
            println!("{}", read.summary(name, "bare"));
        }
    }
}
