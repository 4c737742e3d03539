//! The conformance harness of the SQLite backend (feature `conformance`): how the suite of
//! `store-conformance` opens its stores and damages them behind their backs.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use store_conformance::{BlobHarness, Harness};
use store_core::{BlobStore, Digest, LogBackend, LogId, StoreResult};

/// The SQLite backend under test: the log in `nerve.db` of the folder, the blobs in
/// `nerve.blobs.db`, reached behind the stores' backs with a raw connection.
pub struct SqliteHarness;

/// The log store's file in `dir`.
pub fn log_file(dir: &Path) -> PathBuf {
    dir.join("nerve.db")
}

/// The blob store's file in `dir`.
pub fn blob_file(dir: &Path) -> PathBuf {
    dir.join("nerve.blobs.db")
}

/// A connection of its own to the SQLite file at `path`, as the store's own connections are
/// made (through the page-checksum VFS), for tests that read or change the file behind the
/// store's back. A plain SQLite connection that writes leaves pages without their sums, which
/// the store then reports as damaged.
pub fn raw_connection(path: &Path) -> Connection {
    crate::open::connect(path, rusqlite::OpenFlags::default()).expect("a raw connection")
}

impl Harness for SqliteHarness {
    fn checks_read_only(&self) -> bool {
        true
    }

    fn open(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        Ok(Box::new(crate::SqliteLogStore::open(log_file(dir))?))
    }

    fn open_read_only(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        Ok(Box::new(crate::SqliteLogStore::open_with(
            log_file(dir),
            crate::SqliteOptions::default().read_only(true),
        )?))
    }

    fn open_existing(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        Ok(Box::new(crate::SqliteLogStore::open_with(
            log_file(dir),
            crate::SqliteOptions::default().create_if_missing(false),
        )?))
    }

    fn damage_run(&self, dir: &Path, run_id: &str) {
        let changed = raw_connection(&log_file(dir))
            .execute(
                "UPDATE runs SET status = 'paused' WHERE run_id = ?1",
                [run_id],
            )
            .expect("an unknown status");
        assert_eq!(changed, 1, "the run's row");
    }

    fn damage_entry(&self, dir: &Path, id: LogId) {
        let id = i64::try_from(id.0).expect("an id SQLite keeps");
        let changed = raw_connection(&log_file(dir))
            .execute("UPDATE logs SET payload = x'ff00fe' WHERE id = ?1", [id])
            .expect("a payload that is not UTF-8");
        assert_eq!(changed, 1, "the entry's row");
    }

    fn schema_version(&self) -> i64 {
        crate::schema::SCHEMA_VERSION
    }

    fn set_schema_version(&self, dir: &Path, version: i64) {
        raw_connection(&log_file(dir))
            .pragma_update(None, "user_version", version)
            .expect("set user_version");
    }

    fn tamper_activity(&self, dir: &Path) {
        let changed = raw_connection(&log_file(dir))
            .execute(
                "UPDATE activity SET n = n + 1 WHERE (hour, series) = \
                 (SELECT hour, series FROM activity ORDER BY hour, series LIMIT 1)",
                [],
            )
            .expect("a count changed");
        assert_eq!(changed, 1, "the store had a count");
    }

    fn forget_activity(&self, dir: &Path) {
        raw_connection(&log_file(dir))
            .execute_batch(
                "DROP TABLE activity; DROP TABLE time_marks; \
                 CREATE INDEX logs_by_ts ON logs (ts, id) WHERE late = 0; \
                 PRAGMA user_version = 5;",
            )
            .expect("the schema before activity counts");
    }

    fn put_foreign_store(&self, dir: &Path) {
        raw_connection(&log_file(dir))
            .execute_batch(
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT); \
                 INSERT INTO accounts (owner) VALUES ('ada');",
            )
            .expect("another program's schema");
    }

    /// The file's bytes: SQLite reads a file it refuses without writing to it.
    fn foreign_store_contents(&self, dir: &Path) -> Vec<u8> {
        std::fs::read(log_file(dir)).expect("read the foreign file")
    }
}

fn blob_id(conn: &Connection, digest: &Digest) -> i64 {
    conn.query_row(
        "SELECT blob_id FROM blobs WHERE digest = ?1",
        [digest.as_bytes().as_slice()],
        |row| row.get(0),
    )
    .expect("the blob's row")
}

impl BlobHarness for SqliteHarness {
    fn open_blobs(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(crate::SqliteBlobStore::open(blob_file(dir))?))
    }

    fn open_blobs_read_only(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(crate::SqliteBlobStore::open_with(
            blob_file(dir),
            crate::SqliteOptions::default().read_only(true),
        )?))
    }

    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        let conn = raw_connection(&blob_file(dir));
        let id = blob_id(&conn, digest);
        conn.execute("DELETE FROM blob_chunks WHERE blob_id = ?1", [id])
            .expect("drop the chunks");
        conn.execute(
            "INSERT INTO blob_chunks (blob_id, seq, data) VALUES (?1, 0, ?2)",
            params![id, content],
        )
        .expect("write other content");
    }

    fn remove(&self, dir: &Path, digest: &Digest) {
        let conn = raw_connection(&blob_file(dir));
        let id = blob_id(&conn, digest);
        conn.execute("DELETE FROM blob_chunks WHERE blob_id = ?1", [id])
            .expect("drop the chunks");
        conn.execute("DELETE FROM blobs WHERE blob_id = ?1", [id])
            .expect("drop the row");
    }
}
