//! Runs the blob conformance suite of `store-core` against `SqliteBlobStore`.

use std::path::Path;

use rusqlite::{Connection, params};
use store_core::conformance::blobs::Tamper;
use store_core::{BlobStore, Digest, StoreResult};
use store_sqlite::SqliteBlobStore;

fn open(dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
    Ok(Box::new(SqliteBlobStore::open(dir.join("nerve.blobs.db"))?))
}

/// Damage to the rows that hold a blob, through a raw connection.
struct Rows;

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join("nerve.blobs.db")).expect("raw connection")
}

fn blob_id(conn: &Connection, digest: &Digest) -> i64 {
    conn.query_row(
        "SELECT blob_id FROM blobs WHERE digest = ?1",
        [digest.as_bytes().as_slice()],
        |row| row.get(0),
    )
    .expect("the blob's row")
}

impl Tamper for Rows {
    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        let conn = raw(dir);
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
        let conn = raw(dir);
        let id = blob_id(&conn, digest);
        conn.execute("DELETE FROM blob_chunks WHERE blob_id = ?1", [id])
            .expect("drop the chunks");
        conn.execute("DELETE FROM blobs WHERE blob_id = ?1", [id])
            .expect("drop the row");
    }
}

store_core::blob_store_conformance!(open, &Rows);
