//! A full disk under a running store, through a storage backend that starts answering
//! "no space left on device" to every write when told to: the write that meets it and every
//! later write fail with `Poisoned`, which says to reopen; reads keep being served from what
//! was committed; nothing committed is lost, and a reopen on a disk with room again goes on.
//!
//! The same backend also loses power: it keeps an image of the file as of its last sync, and
//! after the cut the file is put back to that image. Every call that returned must be there.

use std::fs::File;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{BackendError, StorageBackend};

/// What the I/O methods of a storage backend return.
type BackendIoError = std::io::Error;
use store_conformance::all_entries;
use store_core::{BlobStore, LogMaintenance, LogQuery, LogStore, NewLogEntry, StoreError};

use crate::engine::Engine;
use crate::{RedbBlobStore, RedbLogStore, RedbOptions};

/// A file whose disk fills up when `full` is set, and, when it has a `power` line, keeps
/// the file's content as of its last sync.
#[derive(Debug)]
struct FillingDisk {
    file: redb::backends::FileBackend,
    full: Arc<AtomicBool>,
    power: Option<Arc<PowerLine>>,
}

/// What a disk had made durable, and whether the machine is still on.
#[derive(Debug)]
struct PowerLine {
    path: std::path::PathBuf,
    synced: std::sync::Mutex<Vec<u8>>,
    cut: AtomicBool,
}

impl FillingDisk {
    fn no_space(&self) -> Result<(), BackendIoError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        if self
            .power
            .as_ref()
            .is_some_and(|power| power.cut.load(Ordering::SeqCst))
        {
            // The machine is off: nothing reaches the disk any more.
            return Err(std::io::Error::from_raw_os_error(5));
        }
        Ok(())
    }
}

impl StorageBackend for FillingDisk {
    fn len(&self) -> Result<u64, BackendIoError> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendIoError> {
        self.file.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), BackendIoError> {
        self.no_space()?;
        self.file.set_len(len)
    }
    fn sync_data(&self) -> Result<(), BackendIoError> {
        self.no_space()?;
        self.file.sync_data()?;
        if let Some(power) = &self.power {
            let mut synced = power.synced.lock().unwrap_or_else(|p| p.into_inner());
            *synced = std::fs::read(&power.path)?;
        }
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendIoError> {
        self.no_space()?;
        self.file.write(offset, data)
    }
    fn close(&self) -> Result<(), BackendIoError> {
        self.file.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}

/// The engine of the store at `path` (created first with `RedbOptions::default()`), on a
/// disk that fills up when the returned flag is set.
fn engine_on_filling_disk(path: &Path) -> (Engine, Arc<AtomicBool>) {
    drop(Engine::open(path, &RedbOptions::default()).expect("create the store"));
    let file = File::options()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the file");
    let full = Arc::new(AtomicBool::new(false));
    let backend = FillingDisk {
        file: redb::backends::FileBackend::new(file).expect("a file backend"),
        full: full.clone(),
        power: None,
    };
    let engine =
        Engine::open_on(path, &RedbOptions::default(), backend).expect("open on the backend");
    (engine, full)
}

fn assert_poisoned(err: StoreError, path: &Path) {
    match &err {
        StoreError::Poisoned { path: p, cause } => {
            assert_eq!(p, path);
            assert!(cause.contains("No space left"), "names the cause: {err}");
            assert!(err.to_string().contains("reopen"), "says what to do: {err}");
        }
        other => panic!("expected Poisoned, got {other:?}"),
    }
}

#[test]
fn after_a_full_disk_writes_are_poisoned_reads_are_served_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let (engine, full) = engine_on_filling_disk(&path);
    let store = RedbLogStore::on_engine(engine, &RedbOptions::default());
    let kept: Vec<_> = (0..20)
        .map(|i| {
            store
                .append(NewLogEntry::new("s", "k", i.to_string()).with_ref("r"))
                .expect("append before the disk fills")
        })
        .collect();
    store
        .meta_set("k", "v")
        .expect("meta before the disk fills");

    full.store(true, Ordering::SeqCst);
    let err = store
        .append(NewLogEntry::new("s", "k", "lost"))
        .expect_err("the disk is full");
    assert_poisoned(err, &path);
    for _ in 0..2 {
        let err = store
            .meta_set("k", "w")
            .expect_err("writes stay refused until reopened");
        assert_poisoned(err, &path);
    }
    // Reads are served from what was committed, through every read path.
    assert_eq!(all_entries(&store), kept);
    let by_ref = LogQuery {
        ref_id: Some("r".into()),
        limit: Some(5),
        ..LogQuery::default()
    };
    assert_eq!(store.query(&by_ref).expect("a query"), kept[..5].to_vec());
    assert_eq!(store.meta_get("k").expect("meta").as_deref(), Some("v"));
    assert_eq!(store.log_stats().expect("stats").entries, 20);

    // The disk has room again; a reopened store has everything and takes writes.
    drop(store);
    full.store(false, Ordering::SeqCst);
    let store = RedbLogStore::open(&path).expect("reopen");
    assert_eq!(all_entries(&store), kept);
    store
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("writes after reopening");
}

/// Threads writing together when the disk fills: every call that fails gets `Poisoned`,
/// every call that returned is there after reopening, and nothing else is.
#[test]
fn a_full_disk_under_group_commit_poisons_every_waiting_call_and_keeps_what_returned() {
    const THREADS: usize = 8;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let (engine, full) = engine_on_filling_disk(&path);
    let store = RedbLogStore::on_engine(engine, &RedbOptions::default());
    let answers: Vec<Vec<Result<store_core::LogEntry, StoreError>>> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (store, full) = (&store, &full);
                scope.spawn(move || {
                    (0..30)
                        .map(|n| {
                            if thread == 0 && n == 10 {
                                full.store(true, Ordering::SeqCst);
                            }
                            store.append(NewLogEntry::new("s", "k", format!("{thread}-{n}")))
                        })
                        .collect()
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|writer| writer.join().expect("no panic"))
            .collect()
    });
    let mut returned = Vec::new();
    for answer in answers.into_iter().flatten() {
        match answer {
            Ok(entry) => returned.push(entry),
            Err(err) => assert_poisoned(err, &path),
        }
    }
    assert!(
        returned.len() < THREADS * 30,
        "the disk filled under the writers"
    );
    drop(store);
    full.store(false, Ordering::SeqCst);
    let store = RedbLogStore::open(&path).expect("reopen");
    returned.sort_by_key(|entry| entry.id);
    assert_eq!(
        all_entries(&store),
        returned,
        "what returned, and nothing else"
    );
}

#[test]
fn a_blob_store_on_a_full_disk_refuses_writes_and_serves_what_it_has() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.blobs.redb");
    let (engine, full) = engine_on_filling_disk(&path);
    let blobs = RedbBlobStore::on_engine(engine, &RedbOptions::default());
    let kept = blobs.write(b"kept").expect("a write before the disk fills");
    full.store(true, Ordering::SeqCst);
    assert_poisoned(
        blobs
            .write(&vec![7; 600_000])
            .expect_err("the disk is full"),
        &path,
    );
    assert_poisoned(blobs.write(b"x").expect_err("still refused"), &path);
    assert_eq!(
        blobs.read(&kept).expect("read").as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(blobs.list().expect("list"), vec![kept]);
    drop(blobs);
    full.store(false, Ordering::SeqCst);
    let blobs = RedbBlobStore::open(&path).expect("reopen");
    assert_eq!(
        blobs.read(&kept).expect("read").as_deref(),
        Some(&b"kept"[..])
    );
    blobs.write(b"after").expect("writes after reopening");
}

/// A store at `path` on a disk that can lose power (created first, synced, closed).
fn store_on_a_power_line(path: &Path) -> (RedbLogStore, Arc<PowerLine>) {
    drop(RedbLogStore::open(path).expect("create the store"));
    let power = Arc::new(PowerLine {
        path: path.to_owned(),
        synced: std::sync::Mutex::new(std::fs::read(path).expect("the created file")),
        cut: AtomicBool::new(false),
    });
    let file = File::options()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the file");
    let backend = FillingDisk {
        file: redb::backends::FileBackend::new(file).expect("a file backend"),
        full: Arc::new(AtomicBool::new(false)),
        power: Some(power.clone()),
    };
    let engine =
        Engine::open_on(path, &RedbOptions::default(), backend).expect("open on the backend");
    (
        RedbLogStore::on_engine(engine, &RedbOptions::default()),
        power,
    )
}

/// The file after the power came back: as it was at its last sync, every write since lost
/// (a file system that drops what was not synced).
fn after_the_cut(power: &PowerLine) {
    let synced = power
        .synced
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    std::fs::write(&power.path, synced).expect("write the disk back");
}

/// Eight threads append at the default durability until the power is cut at a moment
/// chosen per trial; the disk then holds what was synced and nothing written since. The
/// store opens, holds every entry whose append returned, under its id
/// and with its payload, gives no id twice, and takes writes.
#[test]
fn a_power_cut_under_eight_writer_threads_loses_no_call_that_returned() {
    const THREADS: usize = 8;
    let mut seed = 0x5eed_u64;
    let mut random = move || {
        // splitmix64
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for trial in 0..12u64 {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nerve.redb");
        let (store, power) = store_on_a_power_line(&path);
        let cut_after = 20 + (random() % 200) as usize;
        let returned = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let (store, power, returned) = (&store, &power, &returned);
                scope.spawn(move || {
                    for n in 0.. {
                        let tag = format!("{thread}-{n}");
                        match store.append(NewLogEntry::new("s", "k", &tag)) {
                            Ok(entry) => {
                                let mut returned =
                                    returned.lock().unwrap_or_else(|p| p.into_inner());
                                returned.push(entry);
                                if returned.len() >= cut_after {
                                    power.cut.store(true, Ordering::SeqCst);
                                }
                            }
                            Err(_) => return,
                        }
                    }
                });
            }
        });
        drop(store);
        after_the_cut(&power);
        let mut returned = returned.into_inner().unwrap_or_else(|p| p.into_inner());
        returned.sort_by_key(|entry| entry.id);
        let store = RedbLogStore::open(&path)
            .unwrap_or_else(|err| panic!("trial {trial}: the store opens after the cut: {err}"));
        let log = all_entries(&store);
        let mut ids: Vec<_> = log.iter().map(|entry| entry.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), log.len(), "trial {trial}: no id twice");
        for entry in &returned {
            assert!(
                log.contains(entry),
                "trial {trial}: entry {} returned before the cut and is gone",
                entry.id
            );
        }
        let next = store
            .append(NewLogEntry::new("s", "k", "after"))
            .expect("the store takes writes after the cut");
        assert!(log.iter().all(|entry| entry.id < next.id), "trial {trial}");
    }
}
