//! Garbage collection (docs/SPEC.md section 2): on every backend's blob store and the file
//! store, a collection beside eight writer threads removes exactly the unreferenced blobs
//! older than the grace period, and never a blob that is referenced when it ends.

mod gc_common;

use std::collections::BTreeSet;

use gc_common::{
    FILES, Kind, POSTGRES, REDB, S3, SQLITE, assert_referenced_present, plant, start_after_cutoff,
    store_of,
};
use nerve_store::{Digest, GcOptions, NewLogEntry, StoreError, collect_garbage};

/// Old blobs planted: `NERVE_GC_BLOBS` (the README's figures: 100,000), 1,000 by default.
fn old() -> usize {
    std::env::var("NERVE_GC_BLOBS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1000)
}

/// The peak resident memory of this process since [`reset_peak_memory`], in KiB (Linux).
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Starts the peak resident memory over from the current one (Linux).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
const WRITERS: usize = 8;

/// What the writers did beside the collection: the blobs they wrote and referenced, and
/// the old unreferenced blobs they wrote again and referenced.
#[derive(Default)]
struct Written {
    new: Vec<Digest>,
    revived: Vec<Digest>,
}

fn collects_exactly_the_old_unreferenced_blobs_beside_eight_writers(kind: Kind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = std::sync::Arc::new(store_of(kind, dir.path()));
    let planted = plant(&store, dir.path(), old());
    let cutoff = start_after_cutoff(&store);
    let options = GcOptions {
        grace: chrono::Duration::days(1),
        archive_dir: Some(planted.archive_dir.clone()),
        now: cutoff + chrono::Duration::days(1),
        ..GcOptions::default()
    };

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = std::sync::Arc::new(std::sync::Barrier::new(WRITERS + 1));
    let unreferenced = std::sync::Arc::new(planted.unreferenced.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, stop, started, unreferenced) = (
                store.clone(),
                stop.clone(),
                started.clone(),
                unreferenced.clone(),
            );
            std::thread::spawn(move || {
                let mut written = Written::default();
                for i in 0.. {
                    // Every writer has written before the collection starts, and goes on
                    // until it has ended.
                    if i == 5 {
                        started.wait();
                    }
                    if i > 5 && stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let content = format!("writer {w} blob {i}").into_bytes();
                    let digest = store.blobs.write(&content).expect("a new blob");
                    let mut blobs = vec![digest];
                    written.new.push(digest);
                    // Now and then an old unreferenced blob is written again and referenced.
                    let old = w + WRITERS * i;
                    if i % 4 == 0 && old < unreferenced.len() {
                        let (digest, content) = &unreferenced[old];
                        assert_eq!(store.blobs.write(content).expect("again"), *digest);
                        blobs.push(*digest);
                        written.revived.push(*digest);
                    }
                    store
                        .log
                        .append(NewLogEntry::new("writer", "wrote", "x").with_blobs(blobs))
                        .expect("the reference");
                }
                written
            })
        })
        .collect();
    started.wait();
    reset_peak_memory();
    let before = peak_memory_kib();
    let clock = std::time::Instant::now();
    let report = collect_garbage(&store, &options).expect("collect");
    let took = clock.elapsed();
    let peak = peak_memory_kib();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut written = Written::default();
    for writer in writers {
        let w = writer.join().expect("a writer");
        written.new.extend(w.new);
        written.revived.extend(w.revived);
    }
    let name = kind.name;

    // Nothing referenced is missing: by the store or by the archive.
    assert_referenced_present(&store, &planted.archive_dir, name);
    // Exactly the old unreferenced ones went: those no writer wrote again for sure, and
    // no other blob.
    let removed: BTreeSet<Digest> = report.removed.iter().copied().collect();
    let revived: BTreeSet<Digest> = written.revived.iter().copied().collect();
    let old_unreferenced = planted.old_unreferenced();
    assert!(
        removed.is_subset(&old_unreferenced),
        "{name}: only old unreferenced blobs"
    );
    let must_go: BTreeSet<Digest> = old_unreferenced.difference(&revived).copied().collect();
    assert!(
        must_go.is_subset(&removed),
        "{name}: every unreferenced old blob"
    );
    for digest in &must_go {
        assert!(
            !store.blobs.exists(digest).expect("exists"),
            "{name}: {digest} still there"
        );
    }
    let expected_freed: u64 = planted
        .sizes
        .iter()
        .filter(|(digest, _)| removed.contains(digest))
        .map(|(_, len)| len)
        .sum();
    assert_eq!(report.freed, expected_freed, "{name}: the bytes freed");
    assert_eq!(
        report.archived,
        planted.archived_only.len() as u64,
        "{name}"
    );
    // The probe, and what every writer wrote before the collection began.
    assert!(
        report.young > (5 * WRITERS) as u64,
        "{name}: {} young",
        report.young
    );
    assert!(
        !written.new.is_empty() && !revived.is_empty(),
        "{name}: the writers wrote"
    );
    println!(
        "{name}: {} blobs, {} removed ({} bytes freed) in {took:?} beside {WRITERS} writers \
         ({} blobs written and referenced meanwhile, {} revived); peak memory {peak:?} KiB, \
         {before:?} KiB before",
        report.blobs,
        report.removed.len(),
        report.freed,
        written.new.len(),
        revived.len(),
    );
}

/// A dry run lists what a collection would remove and removes nothing; a store that records
/// no reference at all is refused unless asked; a read-only store collects nothing.
fn a_dry_run_removes_nothing_and_a_store_without_references_is_refused(kind: Kind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_of(kind, dir.path());
    let blob = store.blobs.write(b"never referenced").expect("a blob");
    let options = GcOptions {
        now: chrono::Utc::now() + chrono::Duration::days(2),
        ..GcOptions::default()
    };
    let err = collect_garbage(&store, &options).expect_err("no reference at all");
    assert!(
        matches!(&err, StoreError::InvalidInput { field, .. } if *field == "references"),
        "{}: {err}",
        kind.name
    );
    assert!(store.blobs.exists(&blob).expect("exists"));
    let dry = collect_garbage(
        &store,
        &GcOptions {
            dry_run: true,
            without_references: true,
            ..options.clone()
        },
    )
    .expect("a dry run");
    assert_eq!(dry.removed, vec![blob]);
    assert!(dry.dry_run && store.blobs.exists(&blob).expect("exists"));
    let done = collect_garbage(
        &store,
        &GcOptions {
            without_references: true,
            ..options
        },
    )
    .expect("asked for");
    assert_eq!(done.removed, vec![blob]);
    assert_eq!(done.freed, 16);
    assert!(!store.blobs.exists(&blob).expect("exists"));
}

/// The archive keeps the blobs of the days it holds, and only those (a dropped day's go);
/// asked to ignore the archive (`keep_archived: false`, `--ignore-archive`), the collector
/// removes the blobs only archived days reference too, and still nothing the store
/// references.
fn the_archive_keeps_its_days_blobs_unless_told_to_ignore_it(kind: Kind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_of(kind, dir.path());
    let planted = plant(&store, dir.path(), 40);
    let cutoff = start_after_cutoff(&store);
    let options = GcOptions {
        archive_dir: Some(planted.archive_dir.clone()),
        now: cutoff + chrono::Duration::days(1),
        ..GcOptions::default()
    };
    let kept = collect_garbage(&store, &options).expect("a collection");
    let removed: BTreeSet<Digest> = kept.removed.iter().copied().collect();
    assert_eq!(removed, planted.old_unreferenced(), "{}", kind.name);
    assert_eq!(
        kept.archived,
        planted.archived_only.len() as u64,
        "{}",
        kind.name
    );
    for digest in &planted.archived_only {
        assert!(store.blobs.exists(digest).expect("exists"), "{}", kind.name);
    }

    let ignoring = collect_garbage(
        &store,
        &GcOptions {
            keep_archived: false,
            ..options
        },
    )
    .expect("a collection that ignores the archive");
    let removed: BTreeSet<Digest> = ignoring.removed.iter().copied().collect();
    assert_eq!(
        removed,
        planted.archived_only.iter().copied().collect(),
        "{}: the blobs only archived days reference",
        kind.name
    );
    for digest in &planted.archived_only {
        assert!(
            !store.blobs.exists(digest).expect("exists"),
            "{}",
            kind.name
        );
    }
    assert_referenced_present_in_store(&store, &planted.referenced, kind.name);
}

/// Every blob of `referenced` is in the store.
fn assert_referenced_present_in_store(
    store: &nerve_store::Store,
    referenced: &[Digest],
    what: &str,
) {
    let present: BTreeSet<Digest> = store.blobs.list().expect("list").into_iter().collect();
    let missing = referenced.iter().filter(|d| !present.contains(d)).count();
    assert_eq!(missing, 0, "{what}: {missing} referenced blobs missing");
}

store_conformance::for_each_backend!(
    backends: { sqlite => SQLITE, redb => REDB, postgres => POSTGRES, files => FILES, s3 => S3 },
    cases: {
        collects_exactly_the_old_unreferenced_blobs_beside_eight_writers,
        a_dry_run_removes_nothing_and_a_store_without_references_is_refused,
        the_archive_keeps_its_days_blobs_unless_told_to_ignore_it,
    }
);
