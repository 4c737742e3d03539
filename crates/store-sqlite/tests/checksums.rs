//! SQLite keeps no checksums of its own. Two layers of the store's catch what the disk or a
//! person changed, where the engine would answer with the changed value: a checksum in every
//! page (the page-checksum VFS), checked on every page read, and a checksum in every row,
//! checked on every row read. (The damage every backend must catch is the conformance
//! suite's, `damage`.)
use store_core::LogTransfer;
use store_core::{LogQuery, LogStore, NewLogEntry, RunTransition, StoreError, WorkflowRunStatus};
use store_sqlite::SqliteLogStore;

/// A copy of a closed store's file, checkpointed so that every row is in the main file.
fn pristine_store(dir: &std::path::Path) -> (std::path::PathBuf, Vec<store_core::LogEntry>) {
    let path = dir.join("pristine.db");
    let store = SqliteLogStore::open(&path).expect("open");
    let entries: Vec<_> = (0..200)
        .map(|i| {
            NewLogEntry::new("s", "k", format!("payload-{i:05}-the-content-of-the-entry"))
                .with_ref(format!("ref-{}", i % 10))
        })
        .collect();
    let entries = store.append_batch(entries).expect("a batch");
    for i in 0..20 {
        store
            .transition_run(
                RunTransition::new(format!("run-{i}"), "wf", WorkflowRunStatus::Started)
                    .with_detail(format!("detail-{i:05}-of-the-run")),
            )
            .expect("a run");
        store
            .meta_set(&format!("key-{i}"), &format!("value-{i:05}-of-the-key"))
            .expect("meta");
    }
    drop(store);
    let conn = store_sqlite::harness::raw_connection(&path);
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .expect("checkpoint");
    drop(conn);
    (path, entries)
}

/// `bytes` with one bit flipped inside every occurrence of `marker` (a free page may hold a
/// stale copy of the row's page beside the live one); with `resum`, each damaged page's
/// checksum rewritten to match, as a tool or a bug that rewrote the page would.
fn flip_inside(bytes: &[u8], marker: &str, bit: usize, resum: bool) -> Vec<u8> {
    let found: Vec<usize> = bytes
        .windows(marker.len())
        .enumerate()
        .filter(|(_, w)| *w == marker.as_bytes())
        .map(|(at, _)| at)
        .collect();
    assert!(!found.is_empty(), "{marker} is in the file");
    let mut damaged = bytes.to_vec();
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    for start in found {
        let at = start + (bit / 8) % marker.len();
        damaged[at] ^= 1 << (bit % 8);
        if resum {
            let page = &mut damaged[at / page_size * page_size..][..page_size];
            let sums = sqlite_page_checksums::page_checksum(page);
            page[page_size - 8..].copy_from_slice(&sums);
        }
    }
    damaged
}

/// A bit flipped on the disk anywhere in a page fails the page's checksum at the first read
/// that meets it: `Damaged`, naming the file and the page, never an answer.
#[test]
fn a_bit_flipped_on_the_disk_fails_its_page_checksum_naming_the_page() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (pristine, entries) = pristine_store(dir.path());
    let bytes = std::fs::read(&pristine).expect("read the file");
    let path = dir.path().join("damaged.db");
    for (n, victim) in entries.iter().enumerate().step_by(13) {
        std::fs::write(&path, flip_inside(&bytes, &victim.payload, n * 7, false))
            .expect("a damaged copy");
        let store = SqliteLogStore::open(&path).expect("the damaged file opens");
        let all = LogQuery {
            limit: Some(usize::MAX),
            ..LogQuery::default()
        };
        match store.query(&all) {
            Err(StoreError::Damaged {
                path: p, detail, ..
            }) if p == path
                && detail.starts_with("page ")
                && detail.contains("failed its checksum") => {}
            other => panic!("expected a damaged page, got {other:?}"),
        }
    }
}

fn assert_corrupt_at<T: std::fmt::Debug>(
    result: store_core::StoreResult<T>,
    table: &str,
    key: &str,
) {
    match result {
        Err(StoreError::CorruptValue {
            table: t, key: k, ..
        }) if t == table && k == key => {}
        other => panic!("expected corrupt {table} at {key}, got {other:?}"),
    }
}

/// Under the pages' checksums, every row carries its own: a flip anywhere in a log entry's
/// payload, a run's detail or a meta value, in a page whose checksum was rewritten over it,
/// is a `CorruptValue` naming the table and key, and the rows around it still read whole.
#[test]
fn a_bit_flipped_inside_a_row_under_a_matching_page_checksum_is_corrupt_never_a_wrong_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (pristine, entries) = pristine_store(dir.path());
    let bytes = std::fs::read(&pristine).expect("read the file");
    let path = dir.path().join("damaged.db");
    for (n, victim) in entries.iter().enumerate().step_by(13) {
        let marker = &victim.payload;
        std::fs::write(&path, flip_inside(&bytes, marker, n * 7, true)).expect("a damaged copy");
        let store = SqliteLogStore::open(&path).expect("the damaged file opens");
        let all = LogQuery {
            limit: Some(usize::MAX),
            ..LogQuery::default()
        };
        assert_corrupt_at(store.query(&all), "logs", &victim.id.to_string());
        let by_ref = |r: &str| LogQuery {
            ref_id: Some(r.into()),
            limit: Some(usize::MAX),
            ..LogQuery::default()
        };
        assert_corrupt_at(
            store.query(&by_ref(victim.ref_id.as_deref().expect("a ref"))),
            "logs",
            &victim.id.to_string(),
        );
        let other_ref = format!("ref-{}", (n % 10 + 1) % 10);
        let untouched: Vec<_> = entries
            .iter()
            .filter(|e| e.ref_id.as_deref() == Some(&other_ref))
            .cloned()
            .collect();
        if victim.ref_id.as_deref() != Some(&other_ref) {
            assert_eq!(
                store.query(&by_ref(&other_ref)).expect("others read"),
                untouched
            );
        }
    }
    for i in (0..20).step_by(3) {
        let marker = format!("detail-{i:05}-of-the-run");
        std::fs::write(&path, flip_inside(&bytes, &marker, i * 5, true)).expect("a damaged copy");
        let store = SqliteLogStore::open(&path).expect("the damaged file opens");
        let run = format!("run-{i}");
        assert_corrupt_at(store.get_run(&run), "runs", &run);
        let marker = format!("value-{i:05}-of-the-key");
        std::fs::write(&path, flip_inside(&bytes, &marker, i * 5, true)).expect("a damaged copy");
        let store = SqliteLogStore::open(&path).expect("the damaged file opens");
        let key = format!("key-{i}");
        assert_corrupt_at(store.meta_get(&key), "meta", &key);
        assert_corrupt_at(store.meta_entries(), "meta", &key);
    }
}

/// A row changed behind the store's back, even into valid values, fails its checksum: the
/// thread index and the runs table as well as the log.
#[test]
fn a_row_rewritten_behind_the_store_fails_its_checksum() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.db");
    let store = SqliteLogStore::open(&path).expect("open");
    let message = store
        .append_thread_message(store_core::ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 1,
            payload: "m".into(),
            ts: None,
        })
        .expect("a message");
    let entry = store
        .append(NewLogEntry::new("s", "k", "p").with_ref("r"))
        .expect("an entry");
    let conn = store_sqlite::harness::raw_connection(&path);
    conn.execute("UPDATE thread_messages SET round = 2", [])
        .expect("move the message to another round");
    let params = store_core::GetThreadRoundsParams {
        thread_id: "t".into(),
        ..Default::default()
    };
    assert_corrupt_at(
        store.thread_rounds(&params),
        "thread_messages",
        &message.id.to_string(),
    );
    conn.execute(
        "UPDATE logs SET ts = ts + 1 WHERE id = ?1",
        [entry.id.0 as i64],
    )
    .expect("move the entry by a millisecond");
    let by_ref = LogQuery {
        ref_id: Some("r".into()),
        ..LogQuery::default()
    };
    assert_corrupt_at(store.query(&by_ref), "logs", &entry.id.to_string());
}
