//! What `RedbLogStore::open` accepts and refuses: new files and folders, a file that is not
//! redb, another program's redb file, a newer schema, options that cannot work together.

use redb::{ReadableDatabase, TableDefinition};
use store_core::Durability;
use store_core::{LogQuery, LogStore, NewLogEntry, StoreError};
use store_redb::{RedbLogStore, RedbOptions};

const STORE_INFO: TableDefinition<&str, u64> = TableDefinition::new("nerve_store");

#[test]
fn another_programs_redb_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("other.redb");
    let accounts: TableDefinition<&str, u64> = TableDefinition::new("accounts");
    let db = redb::Database::create(&path).expect("another program's database");
    let tx = db.begin_write().expect("begin");
    tx.open_table(accounts)
        .expect("table")
        .insert("ada", 10)
        .expect("insert");
    tx.commit().expect("commit");
    drop(db);
    let err = RedbLogStore::open(&path).expect_err("another program's redb file");
    assert!(matches!(&err, StoreError::NotAStore { .. }), "{err}");
    assert!(
        err.to_string().contains("accounts"),
        "names what it found: {err}"
    );
    let db = redb::Database::create(&path).expect("reopen");
    let read = db.begin_read().expect("read");
    let tables: Vec<String> = read
        .list_tables()
        .expect("tables")
        .map(|t| redb::TableHandle::name(&t).to_owned())
        .collect();
    assert_eq!(tables, ["accounts"], "the refusal added nothing");
}

#[test]
fn a_newer_schema_is_refused_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let entry = RedbLogStore::open(&path)
        .expect("create")
        .append(NewLogEntry::new("s", "k", "kept"))
        .expect("append");
    let set_version = |version: u64| {
        let db = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(&path)
            .expect("raw open");
        let tx = db.begin_write().expect("begin");
        tx.open_table(STORE_INFO)
            .expect("table")
            .insert("schema_version", version)
            .expect("insert");
        tx.commit().expect("commit");
    };
    set_version(7);
    let err = RedbLogStore::open(&path).expect_err("a newer schema");
    assert!(
        matches!(
            &err,
            StoreError::SchemaTooNew {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    set_version(1);
    let store = RedbLogStore::open(&path).expect("opens again at its own version");
    assert_eq!(
        store.query(&LogQuery::default()).expect("query"),
        vec![entry]
    );
}

#[test]
fn deferred_durability_with_a_shared_file_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RedbOptions::default().durability(Durability::Deferred);
    let err = RedbLogStore::open_with(dir.path().join("nerve.redb"), options).expect_err("refused");
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "durability",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn deferred_durability_alone_keeps_what_it_wrote_across_a_clean_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let options = RedbOptions::default()
        .durability(Durability::Deferred)
        .multi_process(false);
    let entry = RedbLogStore::open_with(&path, options.clone())
        .expect("open")
        .append(NewLogEntry::new("s", "k", "p"))
        .expect("append");
    let store = RedbLogStore::open_with(&path, options).expect("reopen");
    assert_eq!(
        store.query(&LogQuery::default()).expect("query"),
        vec![entry]
    );
}

#[test]
fn an_exclusive_store_refuses_a_second_opener_as_busy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let options = RedbOptions::default().multi_process(false);
    let _held = RedbLogStore::open_with(&path, options).expect("the first opener");
    let err = RedbLogStore::open(&path).expect_err("a second opener");
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
}
