//! What the garbage-collection tests share: a store of each kind (each backend's log with
//! its own blob store, and SQLite's log with the file store), and a store planted with old
//! blobs, half of them referenced by entries, runs and meta, some only by archived days.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use nerve_store::{
    BlobStore, Digest, FsBlobStore, Location, LogBackend, NewLogEntry, RunTransition, Store,
    WorkflowRunStatus,
};
use store_conformance::{BlobHarness, Harness};

/// A log and a blob store, by name.
#[derive(Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    log: fn(&Path) -> Box<dyn LogBackend>,
    blobs: fn(&Path) -> Box<dyn BlobStore>,
}

pub const SQLITE: Kind = Kind {
    name: "sqlite",
    log: |dir| {
        store_sqlite::harness::SqliteHarness
            .open(dir)
            .expect("sqlite log")
    },
    blobs: |dir| {
        store_sqlite::harness::SqliteHarness
            .open_blobs(dir)
            .expect("sqlite blobs")
    },
};
pub const REDB: Kind = Kind {
    name: "redb",
    log: |dir| {
        store_redb::harness::RedbHarness
            .open(dir)
            .expect("redb log")
    },
    blobs: |dir| {
        store_redb::harness::RedbHarness
            .open_blobs(dir)
            .expect("redb blobs")
    },
};
pub const POSTGRES: Kind = Kind {
    name: "postgres",
    log: |dir| {
        store_postgres::harness::PgHarness
            .open(dir)
            .expect("postgres log")
    },
    blobs: |dir| {
        store_postgres::harness::PgHarness
            .open_blobs(dir)
            .expect("postgres blobs")
    },
};
pub const FILES: Kind = Kind {
    name: "files",
    log: |dir| {
        store_sqlite::harness::SqliteHarness
            .open(dir)
            .expect("sqlite log")
    },
    blobs: |dir| Box::new(FsBlobStore::open(dir.join("blobs")).expect("file blobs")),
};

pub const S3: Kind = Kind {
    name: "s3",
    log: |dir| {
        store_sqlite::harness::SqliteHarness
            .open(dir)
            .expect("sqlite log")
    },
    blobs: |dir| {
        store_object::harness::ObjectHarness
            .open_blobs(dir)
            .expect("blobs on S3")
    },
};

/// The store of `kind` kept in `dir` (opened again from there by another process).
pub fn store_of(kind: Kind, dir: &Path) -> Store {
    let location: Location = format!("sqlite:{}", dir.join("nerve.db").display())
        .parse()
        .expect("a location");
    Store::new((kind.log)(dir), (kind.blobs)(dir), location)
}

/// The kind named `name`.
pub fn kind_named(name: &str) -> Kind {
    [SQLITE, REDB, POSTGRES, FILES, S3]
        .into_iter()
        .find(|kind| kind.name == name)
        .expect("a known kind")
}

/// What [`plant`] wrote.
pub struct Planted {
    /// Referenced by entries, runs and meta of the store.
    pub referenced: Vec<Digest>,
    /// Referenced by nothing, with their content.
    pub unreferenced: Vec<(Digest, Vec<u8>)>,
    /// Referenced only by entries of an archived day.
    pub archived_only: Vec<Digest>,
    /// Referenced only by entries of a day archived and then dropped.
    pub dropped_only: Vec<Digest>,
    /// Every planted blob's size.
    pub sizes: Vec<(Digest, u64)>,
    pub archive_dir: PathBuf,
}

impl Planted {
    /// The old blobs nothing references: never referenced, or only by a dropped day.
    pub fn old_unreferenced(&self) -> BTreeSet<Digest> {
        self.unreferenced
            .iter()
            .map(|(digest, _)| *digest)
            .chain(self.dropped_only.iter().copied())
            .collect()
    }
}

/// Every blob the store or its archive at `archive_dir` references; fails naming `what`
/// if one of them is missing.
pub fn assert_referenced_present(
    store: &Store,
    archive_dir: &Path,
    what: &str,
) -> BTreeSet<Digest> {
    let referenced: BTreeSet<Digest> = store
        .log
        .blob_references(None, usize::MAX)
        .expect("references")
        .into_iter()
        .map(|r| r.digest)
        .chain(nerve_store::archive::archived_blobs(archive_dir).expect("archive"))
        .collect();
    let present: BTreeSet<Digest> = store.blobs.list().expect("list").into_iter().collect();
    let missing = referenced.difference(&present).count();
    assert_eq!(missing, 0, "{what}: {missing} referenced blobs missing");
    referenced
}

/// Midnight of the day `days` before today.
fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now()
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        - Duration::days(days)
}

/// Writes `old` blobs: half referenced (most by entries, some by runs and meta), half not;
/// and a few referenced only by the entries of an archived day, and of a dropped one.
pub fn plant(store: &Store, dir: &Path, old: usize) -> Planted {
    let content = |i: usize| {
        let mut bytes = format!("old blob {i} ").into_bytes();
        bytes.resize(64 + i % 200, b'.');
        bytes
    };
    let mut planted = Planted {
        referenced: Vec::new(),
        unreferenced: Vec::new(),
        archived_only: Vec::new(),
        dropped_only: Vec::new(),
        sizes: Vec::new(),
        archive_dir: dir.join("archive"),
    };
    let mut digests = Vec::with_capacity(old);
    for i in 0..old + 30 {
        let data = content(i);
        let digest = store.blobs.write(&data).expect("an old blob");
        planted.sizes.push((digest, data.len() as u64));
        digests.push((digest, data));
    }
    let (archived, rest) = digests.split_at(30);
    let (referenced, unreferenced) = rest.split_at(old / 2);
    planted.unreferenced = unreferenced.to_vec();
    planted.referenced = referenced.iter().map(|(d, _)| *d).collect();
    let (by_runs, rest) = referenced.split_at(10);
    let (by_meta, by_entries) = rest.split_at(5);
    for chunk in by_entries.chunks(100) {
        let entries = chunk
            .iter()
            .map(|(digest, _)| NewLogEntry::new("planter", "artifact", "x").with_blobs([*digest]))
            .collect();
        store
            .log
            .append_batch(entries)
            .expect("entries that reference");
    }
    for (i, (digest, _)) in by_runs.iter().enumerate() {
        store
            .log
            .transition_run(
                RunTransition::new(format!("run-{i}"), "wf", WorkflowRunStatus::Started)
                    .with_blobs([*digest]),
            )
            .expect("a run that references");
    }
    for (i, (digest, _)) in by_meta.iter().enumerate() {
        store
            .log
            .meta_set_with_blobs(&format!("key-{i}"), "v", &[*digest])
            .expect("a meta value that references");
    }
    // Entries of past days reference the rest; their days are archived, the older dropped.
    let (dropped, kept) = archived.split_at(10);
    for (days, part) in [(5, dropped), (3, kept)] {
        let entries = part
            .iter()
            .map(|(digest, _)| {
                NewLogEntry::new("planter", "old", "x")
                    .at(days_ago(days) + Duration::hours(1))
                    .with_blobs([*digest])
            })
            .collect();
        store.log.append_batch(entries).expect("old entries");
    }
    planted.dropped_only = dropped.iter().map(|(d, _)| *d).collect();
    planted.archived_only = kept.iter().map(|(d, _)| *d).collect();
    let options = nerve_store::archive::ArchiveOptions {
        dir: planted.archive_dir.clone(),
        retain_days: 0,
        ..nerve_store::archive::ArchiveOptions::default()
    };
    nerve_store::archive::archive_logs(store.log.as_ref(), &options).expect("archive");
    nerve_store::archive::drop_days(&planted.archive_dir, days_ago(4).date_naive())
        .expect("drop the older day");
    planted
}

/// A cutoff after every blob written so far, returned once the store's own clock has
/// passed it (a blob written now gets a later time): what the tests collect with, so that
/// every blob written before is old and every blob written after is young.
pub fn start_after_cutoff(store: &Store) -> DateTime<Utc> {
    // After the latest write time the store gives so far, which may be ahead of the clock
    // (object storage stamps whole seconds, and the store answers the end of the second).
    let latest = store
        .blobs
        .inventory()
        .expect("inventory")
        .into_iter()
        .filter_map(|info| info.written_at)
        .max();
    let cutoff =
        latest.map_or(Utc::now(), |latest| latest.max(Utc::now())) + Duration::milliseconds(2);
    let probe = store.blobs.write(b"probe").expect("a probe");
    for _ in 0..1_000_000 {
        store.blobs.write(b"probe").expect("the probe again");
        let time = store
            .blobs
            .inventory()
            .expect("inventory")
            .into_iter()
            .find(|info| info.digest == probe)
            .and_then(|info| info.written_at)
            .expect("the probe's time");
        if time > cutoff {
            return cutoff;
        }
    }
    panic!("the store's clock never passed {cutoff}")
}
