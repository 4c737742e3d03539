//! The facade opens each backend by location, refuses one whose feature is off by naming
//! the feature, and the two backends answer generated workloads identically.

use std::path::Path;

use nerve_store::{Backend, LogBackend, LogQuery, NewLogEntry, StoreError, StoreResult};
use store_conformance::Harness;

fn location(dir: &Path, backend: Backend) -> String {
    let file = match backend {
        Backend::Sqlite => "nerve.db",
        Backend::Redb => "nerve.redb",
        // A store on the test server when the feature is on; no server is asked otherwise.
        Backend::Postgres if cfg!(feature = "postgres") => {
            return store_postgres::harness::options(dir).location();
        }
        Backend::Postgres => return "postgres://nerve@127.0.0.1:1/off?schema=off".to_owned(),
    };
    format!("{backend}:{}", dir.join(file).display())
}

fn check_round_trip(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = nerve_store::open(&location(dir.path(), backend)).expect("open by location");
    assert_eq!(store.location.backend, backend);
    let entry = store
        .log
        .append(NewLogEntry::new("s", "k", "p"))
        .expect("append");
    drop(store);
    let again = nerve_store::open(&location(dir.path(), backend)).expect("reopen");
    assert_eq!(
        again.log.query(&LogQuery::default()).expect("query"),
        vec![entry]
    );
}

fn check_refused_by_feature(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = nerve_store::open(&location(dir.path(), backend)).expect_err("the feature is off");
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "location",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("feature \"{backend}\"")),
        "{err}"
    );
}

/// A backend opens by location when its feature is on, and is refused naming the feature
/// when it is off.
fn opens_by_location_when_its_feature_is_on_and_is_refused_by_name_when_off(
    (backend, built): (Backend, bool),
) {
    if built {
        check_round_trip(backend);
    } else {
        check_refused_by_feature(backend);
    }
}

store_conformance::for_each_backend!(
    backends: {
        sqlite => (Backend::Sqlite, cfg!(feature = "sqlite")),
        redb => (Backend::Redb, cfg!(feature = "redb")),
        postgres => (Backend::Postgres, cfg!(feature = "postgres")),
    },
    cases: { opens_by_location_when_its_feature_is_on_and_is_refused_by_name_when_off }
);

fn open_sqlite(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    store_sqlite::harness::SqliteHarness.open(dir)
}

fn open_redb(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    store_redb::harness::RedbHarness.open(dir)
}

/// The same generated sequences on SQLite and on redb give the same answers and leave the
/// same observable state after every step.
#[test]
fn sqlite_and_redb_agree_on_generated_workloads() {
    store_conformance::model::stores_agree(("sqlite", open_sqlite), ("redb", open_redb));
}

/// Content copied from SQLite to redb and back, ids kept, is observably what it was.
#[test]
fn a_copy_from_sqlite_to_redb_and_back_is_observably_the_same() {
    use store_conformance::import::{copy, observed, varied_source};
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let first = open_sqlite(dirs[0].path()).expect("sqlite");
    varied_source(first.as_ref());
    let middle = open_redb(dirs[1].path()).expect("redb");
    copy(first.as_ref(), middle.as_ref(), 40);
    let last = open_sqlite(dirs[2].path()).expect("sqlite again");
    copy(middle.as_ref(), last.as_ref(), 40);
    assert_eq!(observed(middle.as_ref()), observed(first.as_ref()));
    assert_eq!(observed(last.as_ref()), observed(first.as_ref()));
}
