//! Each store beside its bare engine doing the same work on the store's own schema, the two
//! sides interleaved in short slices (see `nerve_bench::interleave`), and then the two
//! stores beside each other: what the abstraction costs, and what choosing a backend means.
//!
//! `cargo bench -p nerve-bench --bench log [-- sqlite|redb|backends]`. Each line is the
//! median time per operation of each side, the median of the per-slice ratios and their
//! interquartile range.

use std::path::{Path, PathBuf};

use nerve_bench::workload::{self, QUERY_ROWS};
use nerve_bench::{LogWork, StoreSide, interleave, redb::BareRedb, sqlite::BareSqlite};
use store_core::kit::now_millis;
use store_core::{LogBackend, StoreResult};

/// Slices per comparison, and operations per slice of each kind.
const SLICES: usize = 41;
const APPENDS: usize = 40;
const BATCHES: usize = 2;
const BATCH: usize = 1000;
const TRANSITIONS: usize = 30;
const QUERIES: usize = 200;
const FIXTURES: [usize; 2] = [10_000, 1_000_000];

/// One backend: how to open its store, and its bare side, on a file.
struct Backend {
    name: &'static str,
    file: &'static str,
    open: fn(&Path) -> StoreResult<Box<dyn LogBackend>>,
    bare: fn(&Path) -> Box<dyn LogWork>,
}

impl Backend {
    /// A new store file at `dir/name`, created by the store and closed.
    fn fresh(&self, dir: &Path, name: &str) -> PathBuf {
        nerve_bench::fresh_store_file(dir, name, self.open)
    }

    /// The store on the file at `path`.
    fn store(&self, path: &Path) -> StoreSide {
        StoreSide((self.open)(path).expect("open the store"))
    }
}

const BACKENDS: [Backend; 2] = [
    Backend {
        name: "sqlite",
        file: "db",
        open: |path| Ok(Box::new(store_sqlite::SqliteLogStore::open(path)?)),
        bare: |path| Box::new(BareSqlite::open(path)),
    },
    Backend {
        name: "redb",
        file: "redb",
        open: |path| Ok(Box::new(store_redb::RedbLogStore::open(path)?)),
        bare: |path| Box::new(BareRedb::open(path)),
    },
];

/// A store file of `rows` entries built by the store, kept under `target/` between runs
/// and read through once, so that neither side pays for a cold operating-system cache.
fn query_fixture(backend: &Backend, rows: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&dir).expect("the bench data folder");
    let path = dir.join(format!("{}-{rows}.{}", backend.name, backend.file));
    let complete = dir.join(format!("{}-{rows}.complete", backend.name));
    if !(path.exists() && complete.exists()) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let store = backend.store(&path);
        workload::fill_query_fixture(
            store.0.as_ref(),
            rows,
            now_millis() - chrono::Duration::days(30),
        );
        drop(store);
        std::fs::write(&complete, b"").expect("mark the fixture complete");
    }
    drop(std::fs::read(&path).expect("read the fixture through"));
    path
}

/// The write comparisons of one pair of sides, each on a fresh file of its own.
fn writes(label: &str, first: &str, second: &str, make: &dyn Fn(&Path) -> [Box<dyn LogWork>; 2]) {
    let run = |name: &str, ops: usize, work: &dyn Fn(&mut dyn LogWork, usize)| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let [mut a, mut b] = make(dir.path());
        let comparison = interleave(
            &format!("{label} {name}"),
            SLICES,
            ops,
            |op| work(a.as_mut(), op),
            |op| work(b.as_mut(), op),
        );
        println!("{}", comparison.summary(first, second));
    };
    run("append", APPENDS, &|side, op| {
        side.append(workload::entry(op))
    });
    run("append_batch_1000", BATCHES, &|side, op| {
        side.append_batch(workload::batch(op, BATCH));
    });
    run("transition", TRANSITIONS, &|side, op| {
        let (run_id, from, to) = workload::transition(op);
        side.transition(&run_id, from, to);
    });
}

fn store_against_bare(backend: &Backend) {
    writes(backend.name, "store", "bare", &|dir| {
        [
            Box::new(backend.store(&backend.fresh(dir, &format!("store.{}", backend.file))))
                as Box<dyn LogWork>,
            (backend.bare)(&backend.fresh(dir, &format!("bare.{}", backend.file))),
        ]
    });
    for rows in FIXTURES {
        let path = query_fixture(backend, rows);
        let mut store = backend.store(&path);
        let mut bare = (backend.bare)(&path);
        let query = |side: &mut dyn LogWork, op: usize| {
            let found = side.query_by_ref(&workload::query_ref(op, rows), QUERY_ROWS);
            assert_eq!(found, QUERY_ROWS, "a full page");
        };
        let comparison = interleave(
            &format!("{} query_by_ref_50_of_{rows}", backend.name),
            SLICES,
            QUERIES,
            |op| query(&mut store, op),
            |op| query(bare.as_mut(), op),
        );
        println!("{}", comparison.summary("store", "bare"));
    }
}

fn backends_against_each_other() {
    let [sqlite, redb] = &BACKENDS;
    writes("backends", "sqlite", "redb", &|dir| {
        [
            Box::new(sqlite.store(&sqlite.fresh(dir, "nerve.db"))) as Box<dyn LogWork>,
            Box::new(redb.store(&redb.fresh(dir, "nerve.redb"))),
        ]
    });
    // What sharing the file with other processes costs redb (its default), against the file
    // locked whole by one process.
    writes("redb_multi_process", "shared", "exclusive", &|dir| {
        let exclusive = store_redb::RedbOptions::default().multi_process(false);
        [
            Box::new(redb.store(&redb.fresh(dir, "shared.redb"))) as Box<dyn LogWork>,
            Box::new(StoreSide(Box::new(
                store_redb::RedbLogStore::open_with(redb.fresh(dir, "exclusive.redb"), exclusive)
                    .expect("open exclusive"),
            ))),
        ]
    });
}

fn main() {
    let runs = nerve_bench::selected;
    for backend in &BACKENDS {
        if runs(backend.name) {
            store_against_bare(backend);
        }
    }
    if runs("backends") {
        backends_against_each_other();
    }
}
