//! What the VFS promises, on real files: pages written through it carry sums, a damaged
//! page of a table or an index fails the read that meets it, the WAL survives a crash, and
//! an existing file gains sums by `VACUUM`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use sqlite_page_checksums as pages;

fn open(path: &Path) -> Connection {
    pages::register().expect("the VFS registers");
    Connection::open_with_flags_and_vfs(path, OpenFlags::default(), pages::VFS_NAME)
        .expect("the file opens")
}

/// A file with a table and an index over it, in WAL mode, with checksums from its first
/// page, closed (so checkpointed into the file).
fn filled(path: &Path) {
    let conn = open(path);
    pages::request_checksums(&conn).expect("reserved bytes");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE INDEX t_by_name ON t (name);",
    )
    .expect("schema");
    let tx = conn.unchecked_transaction().expect("tx");
    for i in 0..2000 {
        tx.execute("INSERT INTO t (name) VALUES (?1)", [format!("name-{i:05}")])
            .expect("insert");
    }
    tx.commit().expect("commit");
}

fn pages_of(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("read file");
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    bytes.chunks(page_size).map(<[u8]>::to_vec).collect()
}

#[test]
fn every_page_written_through_the_vfs_carries_its_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    filled(&path);
    let pages = pages_of(&path);
    assert!(pages.len() > 10, "{} pages", pages.len());
    assert_eq!(
        pages[0][20],
        pages::RESERVED_BYTES,
        "the header's reserved bytes"
    );
    for (i, page) in pages.iter().enumerate() {
        assert!(pages::page_is_intact(page), "page {} has its sums", i + 1);
    }
    assert_eq!(pages::reserved_bytes(&open(&path)).expect("reserve"), 8);
}

#[test]
fn a_flipped_bit_in_an_index_page_fails_the_query_that_walks_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    filled(&path);
    // The index's root page, from the schema.
    let root: i64 = open(&path)
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 't_by_name'",
            [],
            |row| row.get(0),
        )
        .expect("root page");
    let page_size = 4096_u64;
    let mut bytes = std::fs::read(&path).expect("read");
    let at = usize::try_from((root as u64 - 1) * page_size + 200).expect("offset");
    bytes[at] ^= 0x04;
    std::fs::write(&path, &bytes).expect("write");

    let conn = open(&path);
    let err = conn
        .query_row(
            "SELECT count(*) FROM t WHERE name >= 'name-01000'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .expect_err("the damaged index page is never an answer");
    assert!(pages::is_checksum_failure(&err), "{err}");
    let failure = pages::take_last_failure().expect("the failure is named");
    assert_eq!(failure.page_number(), root as u64);
    // The table itself is still readable where it is whole.
    let total: i64 = conn
        .query_row("SELECT count(*) FROM t NOT INDEXED", [], |row| row.get(0))
        .expect("the table's pages are whole");
    assert_eq!(total, 2000);
}

#[test]
fn committed_transactions_in_the_wal_survive_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    filled(&path);
    let conn = open(&path);
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .expect("no checkpoint");
    for i in 0..50 {
        conn.execute("INSERT INTO t (name) VALUES (?1)", [format!("late-{i}")])
            .expect("insert");
    }
    // The crash: the files as they are now, copied while the connection is open, so the
    // copy has a WAL that SQLite must recover from its frames alone.
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).expect("mkdir");
    std::fs::copy(&path, copy.join("t.db")).expect("copy db");
    std::fs::copy(dir.path().join("t.db-wal"), copy.join("t.db-wal")).expect("copy wal");
    let recovered = open(&copy.join("t.db"));
    let n: i64 = recovered
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .expect("count");
    assert_eq!(n, 2050, "every committed row");
    let check: String = recovered
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    drop(recovered);
    for (i, page) in pages_of(&copy.join("t.db")).iter().enumerate() {
        assert!(pages::page_is_intact(page), "page {} after recovery", i + 1);
    }
}

#[test]
fn a_file_without_checksums_is_read_as_it_is_and_gains_them_by_vacuum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    {
        let plain = Connection::open(&path).expect("plain open");
        plain
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
                 INSERT INTO t (name) VALUES ('a'), ('b');",
            )
            .expect("plain file");
    }
    let conn = open(&path);
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .expect("read through the VFS");
    assert_eq!(n, 2);
    assert_eq!(pages::reserved_bytes(&conn).expect("reserve"), 0);
    pages::request_checksums(&conn).expect("request");
    conn.execute_batch("VACUUM").expect("vacuum");
    drop(conn);
    let pages = pages_of(&path);
    assert_eq!(pages[0][20], 8);
    assert!(pages.iter().all(|p| pages::page_is_intact(p)));
    let n: i64 = open(&path)
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .expect("read after vacuum");
    assert_eq!(n, 2);
}
