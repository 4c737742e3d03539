//! What `RedbLogStore::open` does beyond the conformance suite's cases: options that cannot
//! work together, deferred durability, a file held whole by one process.

use store_core::Durability;
use store_core::{LogQuery, LogStore, NewLogEntry, StoreError};
use store_redb::{RedbLogStore, RedbOptions};

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

/// A store that closed cleanly and whose file is as it left it opens without a check of the
/// whole file; damage behind that (a failing disk) is met by the reads that reach it, as a
/// typed error, and the store then refuses writes.
#[test]
fn a_trusted_file_opens_unchecked_and_damage_in_it_is_an_error_when_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let store = RedbLogStore::open(&path).expect("create");
    let batch = (0..4000)
        .map(|i| NewLogEntry::new("s", "k", format!("entry {i} {}", "x".repeat(200))))
        .collect();
    store.append_batch(batch).expect("fill pages");
    drop(store);
    let mut bytes = std::fs::read(&path).expect("read");
    let (from, to) = (bytes.len() * 3 / 10, bytes.len() * 6 / 10);
    for (i, byte) in bytes[from..to].iter_mut().enumerate() {
        *byte = u8::try_from(i * 31 % 251).expect("below 251");
    }
    std::fs::write(&path, &bytes).expect("damage the middle");

    store_redb::harness::seal_as_closed_cleanly(&path);
    let store = RedbLogStore::open(&path).expect("a trusted file opens unchecked");
    let everything = LogQuery {
        limit: Some(usize::MAX),
        ..LogQuery::default()
    };
    let err = store
        .query(&everything)
        .expect_err("the damaged pages are read");
    assert!(
        matches!(
            err,
            StoreError::Damaged { .. } | StoreError::CorruptValue { .. }
        ),
        "{err}"
    );
    drop(store);

    std::fs::write(&path, &bytes).expect("the same damage, not trusted");
    let err = RedbLogStore::open(&path).expect_err("an untrusted file is checked whole");
    assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
}

/// A file of schema 1 (no run counters, one time index) is migrated when opened: the
/// counters count the runs the file holds and go on from there, and time ranges over its late
/// entries answer as before.
#[test]
fn a_schema_1_file_gets_run_counters_and_its_late_entries_their_own_index() {
    use store_core::{LogMaintenance, RunTransition, WorkflowRunStatus};
    use store_redb::schema::{
        LOGS_BY_TS, LOGS_LATE_BY_TS, RUN_COUNTS, SCHEMA_VERSION_KEY, STORE_INFO,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let store = RedbLogStore::open(&path).expect("create");
    for (run, to) in [
        ("a", WorkflowRunStatus::Queued),
        ("b", WorkflowRunStatus::Started),
        ("c", WorkflowRunStatus::Started),
        ("c", WorkflowRunStatus::Completed),
    ] {
        store
            .transition_run(RunTransition::new(run, "wf", to))
            .expect("a transition");
    }
    let (range, in_range) = store_conformance::append_late_entries(&store);
    assert_eq!(store.query(&range).expect("a range"), in_range);
    let stats = store.log_stats().expect("stats");
    drop(store);

    let raw = raw_handle(&path);
    let tx = raw.begin_write().expect("begin");
    tx.delete_table(RUN_COUNTS).expect("what schema 1 lacked");
    {
        // Schema 1 kept every entry's (ts, id) in one time index.
        use redb::ReadableTable;
        let late = store_redb::harness::back_to_one_time_index_of_entries_in_order(&tx);
        assert!(late > 0, "some entries were late");
        let late: Vec<(i64, u64)> = tx
            .open_table(LOGS_LATE_BY_TS)
            .expect("the late index")
            .iter()
            .expect("iterate")
            .map(|item| item.expect("a key").0.value())
            .collect();
        let mut by_ts = tx.open_table(LOGS_BY_TS).expect("the time index");
        for key in late {
            by_ts.insert(key, ()).expect("back in the one index");
        }
    }
    tx.delete_table(LOGS_LATE_BY_TS)
        .expect("what schema 1 lacked");
    back_to_values_without_checksums(&tx);
    back_to_key_only_indexes(&tx);
    tx.open_table(STORE_INFO)
        .expect("info")
        .insert(SCHEMA_VERSION_KEY, 1)
        .expect("schema 1");
    tx.commit().expect("commit");
    drop(raw);

    let store = RedbLogStore::open(&path).expect("a schema 1 file opens");
    assert_eq!(store.log_stats().expect("stats"), stats);
    assert_eq!(store.query(&range).expect("a range"), in_range);
    store
        .transition_run(RunTransition::new("a", "wf", WorkflowRunStatus::Started))
        .expect("a transition after the migration");
    let runs = store.log_stats().expect("stats").runs;
    assert_eq!(runs.get(WorkflowRunStatus::Queued), 0);
    assert_eq!(runs.get(WorkflowRunStatus::Started), 2);
    assert_eq!(runs.get(WorkflowRunStatus::Completed), 1);
}

/// A file of schema 6 (a time index of the entries in order; an entry late when below any
/// `ts` written before it) is placed in the time order again at its first writable open:
/// only the entries more than the allowance below the log's time stay late, and every time
/// range answers as before, as the reference does, and goes on doing so as entries are added.
#[test]
fn a_schema_6_file_keeps_late_only_the_entries_past_the_allowance() {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    use store_redb::schema::{LOGS_LATE_BY_TS, SCHEMA_VERSION_KEY, STORE_INFO};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let store = RedbLogStore::open(&path).expect("create");
    let lagging = store_conformance::time_order::write_lagging_entries(&store);
    drop(store);
    let raw = raw_handle(&path);
    let tx = raw.begin_write().expect("begin");
    let late = store_redb::harness::back_to_one_time_index_of_entries_in_order(&tx);
    assert_eq!(late, lagging.late_before, "schema 6's late entries");
    tx.open_table(STORE_INFO)
        .expect("info")
        .insert(SCHEMA_VERSION_KEY, 6)
        .expect("schema 6");
    tx.commit().expect("commit");
    drop(raw);

    let store = RedbLogStore::open(&path).expect("a schema 6 file opens");
    lagging.check_migrated(&store);
    drop(store);
    let raw = raw_handle(&path);
    let late = raw
        .begin_read()
        .expect("read")
        .open_table(LOGS_LATE_BY_TS)
        .expect("the late index")
        .len()
        .expect("counted");
    assert_eq!(
        late as usize, lagging.late_after,
        "the entries 40 minutes behind, and only they"
    );
}

#[test]
fn deleting_days_drops_their_time_marks() {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let store = RedbLogStore::open(&path).expect("create");
    let raw = raw_handle(&path);
    store_conformance::time_order::deleting_days_drops_their_time_marks(&store, || {
        let tx = raw.begin_read().expect("read");
        let marks = tx
            .open_table(store_redb::schema::TIME_MARKS)
            .expect("the time marks");
        marks.len().expect("counted") as usize
    });
}

/// Puts back the indexes by reference and by (source, kind) of schema versions 1 and 2, which
/// held keys only, in place of those that copy the rows.
fn back_to_key_only_indexes(tx: &redb::WriteTransaction) {
    use redb::ReadableTable;
    use store_redb::schema::{KEYS_BY_REF, KEYS_BY_SOURCE_KIND, LOGS_BY_REF, LOGS_BY_SOURCE_KIND};
    {
        let copies = tx.open_table(LOGS_BY_REF).expect("by ref");
        let mut keys = tx.open_table(KEYS_BY_REF).expect("the old index");
        for item in copies.iter().expect("iterate") {
            let (key, _) = item.expect("a row");
            keys.insert(key.value(), ()).expect("a key");
        }
        let copies = tx
            .open_table(LOGS_BY_SOURCE_KIND)
            .expect("by source and kind");
        let mut keys = tx.open_table(KEYS_BY_SOURCE_KIND).expect("the old index");
        for item in copies.iter().expect("iterate") {
            let (key, _) = item.expect("a row");
            keys.insert(key.value(), ()).expect("a key");
        }
    }
    tx.delete_table(LOGS_BY_REF).expect("what schema 2 lacked");
    tx.delete_table(LOGS_BY_SOURCE_KIND)
        .expect("what schema 2 lacked");
}

/// A file of schema 2 (indexes by reference and by (source, kind) of keys only) is migrated
/// when opened: its queries answer as before, from the rows copied into the indexes, a row
/// too big to copy included, and the old indexes are gone.
#[test]
fn a_schema_2_file_gets_its_rows_copied_into_the_indexes() {
    use store_core::{LogQuery, NewLogEntry};
    use store_redb::schema::{ROW_COPY_LIMIT, SCHEMA_VERSION_KEY, STORE_INFO};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let store = RedbLogStore::open(&path).expect("create");
    let entries = store
        .append_batch(vec![
            NewLogEntry::new("s", "k", "small").with_ref("r"),
            NewLogEntry::new("s", "k", "x".repeat(ROW_COPY_LIMIT * 2)).with_ref("r"),
            NewLogEntry::new("s", "other", "no ref"),
            NewLogEntry::new("t", "k", "another ref").with_ref("q"),
        ])
        .expect("entries");
    drop(store);

    let raw = raw_handle(&path);
    let tx = raw.begin_write().expect("begin");
    back_to_values_without_checksums(&tx);
    back_to_key_only_indexes(&tx);
    tx.open_table(STORE_INFO)
        .expect("info")
        .insert(SCHEMA_VERSION_KEY, 2)
        .expect("schema 2");
    tx.commit().expect("commit");
    drop(raw);

    let store = RedbLogStore::open(&path).expect("a schema 2 file opens");
    let by_ref = LogQuery {
        ref_id: Some("r".into()),
        ..LogQuery::default()
    };
    assert_eq!(store.query(&by_ref).expect("by ref"), entries[..2].to_vec());
    let by_pair = LogQuery {
        source: Some("s".into()),
        kind: Some("k".into()),
        ..LogQuery::default()
    };
    assert_eq!(
        store.query(&by_pair).expect("by pair"),
        entries[..2].to_vec()
    );
    drop(store);

    let raw = raw_handle(&path);
    let tx = redb::ReadableDatabase::begin_read(&raw).expect("read");
    let tables: Vec<String> = tx
        .list_tables()
        .expect("tables")
        .map(|t| redb::TableHandle::name(&t).to_owned())
        .collect();
    assert!(
        !tables
            .iter()
            .any(|t| t == "logs_by_ref" || t == "logs_by_source_kind"),
        "the key-only indexes are gone: {tables:?}"
    );
}

/// Puts back the values of schema versions 1 to 3, without their checksums (every value's
/// last four bytes), and meta's values as plain strings.
fn back_to_values_without_checksums(tx: &redb::WriteTransaction) {
    use redb::{ReadableTable, TableDefinition, TableHandle};
    use store_redb::checksum::CHECKSUM_BYTES;
    use store_redb::schema::{
        LOG_PAYLOAD_CHUNKS, LOGS, LOGS_BY_REF, LOGS_BY_SOURCE_KIND, META, META_WITHOUT_CHECKSUMS,
        RUNS, THREAD_MESSAGES,
    };
    fn strip<K: redb::Key + 'static>(
        tx: &redb::WriteTransaction,
        table: TableDefinition<'static, K, &'static [u8]>,
    ) {
        let name = format!("{}.old", table.name());
        let old: TableDefinition<'_, K, &'static [u8]> = TableDefinition::new(&name);
        {
            let current = tx.open_table(table).expect("a table");
            let mut old = tx.open_table(old).expect("its old form");
            for item in current.iter().expect("iterate") {
                let (key, value) = item.expect("a row");
                let value = value.value();
                let body = &value[..value.len().saturating_sub(CHECKSUM_BYTES)];
                old.insert(key.value(), body).expect("the value as it was");
            }
        }
        tx.delete_table(table).expect("delete");
        tx.rename_table(old, table).expect("rename");
    }
    strip(tx, LOGS);
    strip(tx, LOGS_BY_REF);
    strip(tx, LOGS_BY_SOURCE_KIND);
    strip(tx, LOG_PAYLOAD_CHUNKS);
    strip(tx, RUNS);
    strip(tx, THREAD_MESSAGES);
    let pairs: Vec<(String, String)> = tx
        .open_table(META)
        .expect("meta")
        .iter()
        .expect("iterate")
        .map(|item| {
            let (key, value) = item.expect("a pair");
            let key = key.value().to_owned();
            let value = store_redb::schema::meta_text(&key, value.value()).expect("a value");
            (key, value)
        })
        .collect();
    tx.delete_table(META).expect("delete meta");
    let mut meta = tx.open_table(META_WITHOUT_CHECKSUMS).expect("the old meta");
    for (key, value) in &pairs {
        meta.insert(key.as_str(), value.as_str()).expect("a pair");
    }
}

/// A file of schema 3 (values without checksums) is migrated when opened: every value
/// reads back as it was written (a big payload's chunks, a run, a thread message, meta), and
/// from then on a value damaged on the disk is `CorruptValue`, never an answer.
#[test]
fn a_schema_3_file_gets_checksums_on_its_values() {
    use redb::ReadableTable;
    use store_core::{GetThreadRoundsParams, RunTransition, ThreadMessage, WorkflowRunStatus};
    use store_redb::schema::{BIG_PAYLOAD, LOGS, SCHEMA_VERSION_KEY, STORE_INFO};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let store = RedbLogStore::open(&path).expect("create");
    let small = store
        .append(NewLogEntry::new("s", "k", "small").with_ref("r"))
        .expect("an entry");
    let big = store
        .append(NewLogEntry::new("s", "k", "b".repeat(BIG_PAYLOAD + 1)))
        .expect("a big payload");
    store
        .transition_run(RunTransition::new("run", "wf", WorkflowRunStatus::Started))
        .expect("a run");
    store
        .append_thread_message(ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 1,
            payload: "hello".into(),
            ts: None,
        })
        .expect("a message");
    store.meta_set("k", "v").expect("meta");
    let run = store.get_run("run").expect("the run");
    let rounds = GetThreadRoundsParams {
        thread_id: "t".into(),
        ..GetThreadRoundsParams::default()
    };
    let thread = store.thread_rounds(&rounds).expect("the thread");
    drop(store);

    let raw = raw_handle(&path);
    let tx = raw.begin_write().expect("begin");
    back_to_values_without_checksums(&tx);
    tx.open_table(STORE_INFO)
        .expect("info")
        .insert(SCHEMA_VERSION_KEY, 3)
        .expect("schema 3");
    tx.commit().expect("commit");
    drop(raw);

    let store = RedbLogStore::open(&path).expect("a schema 3 file opens");
    let all = store
        .query(&LogQuery {
            limit: Some(10),
            ..LogQuery::default()
        })
        .expect("the log");
    assert_eq!(all.first(), Some(&small));
    assert!(all.contains(&big), "the big payload reads back whole");
    assert_eq!(store.get_run("run").expect("the run"), run);
    assert_eq!(store.thread_rounds(&rounds).expect("the thread"), thread);
    assert_eq!(store.meta_get("k").expect("meta").as_deref(), Some("v"));
    drop(store);

    // A byte of the small entry's payload flipped in place, as a failing disk would.
    let raw = raw_handle(&path);
    let tx = raw.begin_write().expect("begin");
    {
        let mut logs = tx.open_table(LOGS).expect("logs");
        let mut value = logs
            .get(small.id.0)
            .expect("get")
            .expect("the row")
            .value()
            .to_vec();
        let at = value
            .windows(5)
            .position(|w| w == b"small")
            .expect("the payload");
        value[at] ^= 0x04;
        logs.insert(small.id.0, value.as_slice()).expect("put back");
    }
    tx.commit().expect("commit");
    drop(raw);
    let store = RedbLogStore::open(&path).expect("reopen");
    let err = store.query(&LogQuery::default()).expect_err("damaged");
    assert!(
        matches!(err, StoreError::CorruptValue { table: "logs", .. }),
        "{err}"
    );
}

/// A handle on the store's file beside the store, as another process of the store opens it.
fn raw_handle(path: &std::path::Path) -> redb::Database {
    redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(path)
        .expect("a raw handle")
}

/// A read-only open trusts a file as the store left it at its last clean close, or while a
/// writer that checked it (or found it so) has it open; any other file (a copy, a restore, a
/// file changed behind the store's back) it reads through whole, every value's checksum
/// checked, before it answers: a damaged copy is refused at the open, naming the value.
#[test]
fn a_read_only_open_reads_an_unchecked_file_through_before_it_trusts_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nerve.redb");
    let read_only = RedbOptions::default().read_only(true);
    let store = RedbLogStore::open(&path).expect("create");
    let first = store
        .append(NewLogEntry::new("s", "k", "first"))
        .expect("append");
    drop(store);
    let reader = RedbLogStore::open_with(&path, read_only.clone()).expect("sealed: read");
    assert_eq!(
        reader.query(&LogQuery::default()).expect("read"),
        vec![first.clone()]
    );
    drop(reader);

    let writer = RedbLogStore::open(&path).expect("a writer");
    let second = writer
        .append(NewLogEntry::new("s", "k", "second"))
        .expect("append");
    let reader =
        RedbLogStore::open_with(&path, read_only.clone()).expect("beside a checked writer");
    assert_eq!(
        reader.query(&LogQuery::default()).expect("read"),
        vec![first.clone(), second.clone()]
    );
    drop(reader);
    drop(writer);

    let copy = dir.path().join("copy.redb");
    std::fs::copy(&path, &copy).expect("a copy");
    let reader = RedbLogStore::open_with(&copy, read_only.clone()).expect("read through");
    assert_eq!(
        reader.query(&LogQuery::default()).expect("read"),
        vec![first, second]
    );
    drop(reader);

    // The same copy with a byte of a payload flipped in place: the open's read-through
    // finds it, although no query has asked for that entry yet.
    let mut bytes = std::fs::read(&copy).expect("the copy");
    let at = bytes
        .windows(6)
        .position(|w| w == b"second")
        .expect("the payload in the file");
    bytes[at] ^= 0x01;
    std::fs::write(&copy, &bytes).expect("damage it");
    let err = RedbLogStore::open_with(&copy, read_only)
        .map(|_| ())
        .expect_err("damaged");
    assert!(
        matches!(
            err,
            StoreError::CorruptValue { .. } | StoreError::Damaged { .. }
        ),
        "{err}"
    );
}
