//! Blob writes and reads of 1 KiB, 1 MiB and 64 MiB: `FsBlobStore` beside the bare work it
//! does (sha256, write, sync, rename, sync the folder; read and re-hash), beside `cacache`,
//! and beside the SQLite and redb blob stores, in one criterion group per operation and size.
//!
//! cacache does not sync what it writes, so its writes do less than the others'.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use store_blob::FsBlobStore;
use store_core::{BlobStore, Digest, kit::Hasher};

const SIZES: [(&str, usize); 3] = [("1KiB", 1024), ("1MiB", 1 << 20), ("64MiB", 64 << 20)];

/// `len` bytes whose first eight are `n`, so that each write is new content.
fn unique(base: &[u8], n: u64) -> Vec<u8> {
    let mut data = base.to_vec();
    let prefix = n.to_le_bytes();
    let k = prefix.len().min(data.len());
    data[..k].copy_from_slice(&prefix[..k]);
    data
}

/// What a durable content-addressed write is, with no store around it.
fn bare_write(root: &Path, data: &[u8], n: u64) -> Digest {
    let temp = root.join(format!("tmp-{n}"));
    let mut hasher = Hasher::new();
    let mut file = File::create(&temp).expect("create");
    for chunk in data.chunks(256 * 1024) {
        hasher.update(chunk);
        file.write_all(chunk).expect("write");
    }
    file.sync_all().expect("sync");
    let digest = hasher.finish();
    let hex = digest.to_hex();
    let folder = root.join(&hex[..2]);
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::rename(&temp, folder.join(&hex[2..])).expect("rename");
    File::open(&folder)
        .and_then(|f| f.sync_all())
        .expect("sync folder");
    digest
}

fn bare_read(root: &Path, digest: &Digest) -> Vec<u8> {
    let hex = digest.to_hex();
    let mut data = Vec::new();
    File::open(root.join(&hex[..2]).join(&hex[2..]))
        .and_then(|mut f| f.read_to_end(&mut data))
        .expect("read");
    assert_eq!(Digest::of(&data), *digest, "verified");
    data
}

fn stores(dir: &Path) -> Vec<(&'static str, Box<dyn BlobStore>)> {
    vec![
        (
            "store",
            Box::new(FsBlobStore::open(dir.join("fs")).expect("fs")),
        ),
        (
            "sqlite",
            Box::new(store_sqlite::SqliteBlobStore::open(dir.join("blobs.db")).expect("sqlite")),
        ),
        (
            "redb",
            Box::new(store_redb::RedbBlobStore::open(dir.join("blobs.redb")).expect("redb")),
        ),
    ]
}

fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
) {
    group.throughput(Throughput::Bytes(size as u64));
    if size >= 64 << 20 {
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(15));
    }
}

fn bench_writes(c: &mut Criterion) {
    for (name, size) in SIZES {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = store_core::conformance::blobs::content(size, 1);
        let mut group = c.benchmark_group(format!("blob_write_{name}"));
        configure(&mut group, size);
        let n = Cell::new(0u64);
        let next = || {
            n.set(n.get() + 1);
            unique(&base, n.get())
        };
        // Every function follows one protocol: each iteration writes new content, and the
        // previous write is deleted in the (unmeasured) setup, so no store grows.
        for (label, store) in stores(dir.path()) {
            let last: Cell<Option<Digest>> = Cell::new(None);
            group.bench_function(label, |b| {
                b.iter_batched(
                    || {
                        if let Some(digest) = last.take() {
                            store.delete(&digest).expect("delete");
                        }
                        next()
                    },
                    |data| last.set(Some(store.write(&data).expect("write"))),
                    BatchSize::PerIteration,
                )
            });
        }
        let bare_root = dir.path().join("bare");
        std::fs::create_dir_all(&bare_root).expect("bare root");
        let last: Cell<Option<Digest>> = Cell::new(None);
        group.bench_function("bare_fs", |b| {
            b.iter_batched(
                || {
                    if let Some(digest) = last.take() {
                        let hex = digest.to_hex();
                        std::fs::remove_file(bare_root.join(&hex[..2]).join(&hex[2..]))
                            .expect("delete");
                    }
                    next()
                },
                |data| last.set(Some(bare_write(&bare_root, &data, n.get()))),
                BatchSize::PerIteration,
            )
        });
        let cache = dir.path().join("cacache");
        let last_sri: RefCell<Option<cacache::Integrity>> = RefCell::new(None);
        group.bench_function("cacache", |b| {
            b.iter_batched(
                || {
                    if let Some(sri) = last_sri.borrow_mut().take() {
                        cacache::remove_hash_sync(&cache, &sri).expect("delete");
                    }
                    next()
                },
                |data| {
                    let sri = cacache::write_hash_sync(&cache, &data).expect("cacache write");
                    *last_sri.borrow_mut() = Some(sri);
                },
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

/// Writing content that is already stored: what the check that repairs a damaged copy costs
/// (the file store renames its new copy over the old one; the database stores re-hash the
/// stored chunks), to be read beside `blob_write_*` of the same size.
fn bench_rewrites(c: &mut Criterion) {
    for (name, size) in SIZES {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = store_core::conformance::blobs::content(size, 3);
        let mut group = c.benchmark_group(format!("blob_rewrite_{name}"));
        configure(&mut group, size);
        for (label, store) in stores(dir.path()) {
            let digest = store.write(&data).expect("write");
            group.bench_function(label, |b| {
                b.iter(|| assert_eq!(store.write(&data).expect("write again"), digest))
            });
        }
        group.finish();
    }
}

fn bench_reads(c: &mut Criterion) {
    for (name, size) in SIZES {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = store_core::conformance::blobs::content(size, 2);
        let mut group = c.benchmark_group(format!("blob_read_{name}"));
        configure(&mut group, size);
        for (label, store) in stores(dir.path()) {
            let digest = store.write(&data).expect("write");
            group.bench_function(label, |b| {
                b.iter(|| store.read(&digest).expect("read").expect("present"))
            });
        }
        let bare_root = dir.path().join("bare");
        std::fs::create_dir_all(&bare_root).expect("bare root");
        let digest = bare_write(&bare_root, &data, 0);
        group.bench_function("bare_fs", |b| b.iter(|| bare_read(&bare_root, &digest)));
        let cache = dir.path().join("cacache");
        let sri = cacache::write_hash_sync(&cache, &data).expect("cacache write");
        group.bench_function("cacache", |b| {
            b.iter(|| cacache::read_hash_sync(&cache, &sri).expect("cacache read"))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = bench_writes, bench_rewrites, bench_reads
}
criterion_main!(benches);
