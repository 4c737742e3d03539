//! What the archive tests share: every backend (SQLite, redb, PostgreSQL), a store with old
//! days in it, and the exactly-once check of archive ∪ store.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use store_archive::{ArchiveOptions, WATERMARK_KEY, read_archive};
use store_conformance::{Harness, all_entries, observable_state};
use store_core::{LogBackend, LogEntry, LogId, NewLogEntry, StoreResult, ThreadMessage};

/// Opens the store kept in a folder.
pub type Open = fn(&Path) -> StoreResult<Box<dyn LogBackend>>;

pub fn open_sqlite(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    store_sqlite::harness::SqliteHarness.open(dir)
}

pub fn open_redb(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    store_redb::harness::RedbHarness.open(dir)
}

pub fn open_postgres(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    store_postgres::harness::PgHarness.open(dir)
}

/// A backend by name, as the per-backend tests take it.
pub type Backend = (&'static str, Open);
/// The SQLite backend.
pub const SQLITE: Backend = ("sqlite", open_sqlite);
/// The redb backend.
pub const REDB: Backend = ("redb", open_redb);
/// The PostgreSQL backend, on the tests' throwaway server (a schema per folder).
pub const POSTGRES: Backend = ("postgres", open_postgres);

/// The fixed "now" of the tests: 2026-11-24T12:00:00Z.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_521_600, 0).expect("a valid time")
}

/// Midnight of the day `days` before today.
pub fn days_ago(days: i64) -> DateTime<Utc> {
    let today = now()
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    today - Duration::days(days)
}

pub fn day(days_ago_: i64) -> NaiveDate {
    days_ago(days_ago_).date_naive()
}

/// Options that archive everything before today, into `dir/archive`.
pub fn options(dir: &Path) -> ArchiveOptions {
    ArchiveOptions {
        dir: dir.join("archive"),
        retain_days: 0,
        vacuum: false,
        compress: false,
        dry_run: false,
        now: now(),
    }
}

/// `per_day` entries on each of the days `days_ago` (times out of id order within a day),
/// and a thread message on each day. Returns every entry as stored.
pub fn fill(store: &dyn LogBackend, days_ago_: &[i64], per_day: usize) -> Vec<LogEntry> {
    let mut stored = Vec::new();
    for (n, ago) in days_ago_.iter().enumerate() {
        let start = days_ago(*ago);
        let batch: Vec<NewLogEntry> = (0..per_day)
            .map(|i| {
                let offset = Duration::seconds(((per_day - i) * 37 % 86_000) as i64);
                NewLogEntry::new("worker", "tick", format!("{{\"day\":{ago},\"i\":{i}}}"))
                    .with_ref(format!("ref-{}", i % 7))
                    .at(start + offset)
                    .with_blobs(blob_of(*ago, i))
            })
            .collect();
        stored.extend(store.append_batch(batch).expect("fill a day"));
        let message = ThreadMessage {
            thread_id: format!("thread-{n}"),
            role: "user".into(),
            round: 1,
            payload: "hello".into(),
            ts: Some(start + Duration::hours(1)),
        };
        stored.push(store.append_thread_message(message).expect("a message"));
    }
    stored
}

/// The blob the `i`th entry of the day `ago` days back references: every 50th entry
/// references one, named by its day and its place in it.
pub fn blob_of(ago: i64, i: usize) -> Option<store_core::Digest> {
    (i % 50 == 7).then(|| store_core::Digest::of(format!("blob {ago} {}", i / 50).as_bytes()))
}

/// Every entry in the archive's files, in (day, id) order.
pub fn archived(options: &ArchiveOptions) -> Vec<LogEntry> {
    read_archive(&options.dir, NaiveDate::MIN..=NaiveDate::MAX)
        .collect::<Result<_, _>>()
        .expect("the archive reads back whole")
}

/// Every original entry is in the archive or in the store, once, unchanged; and the archive
/// verifies against its manifest.
pub fn assert_exactly_once(
    store: &dyn LogBackend,
    options: &ArchiveOptions,
    original: &[LogEntry],
) {
    let mut seen: BTreeMap<LogId, LogEntry> = BTreeMap::new();
    for entry in archived(options).into_iter().chain(all_entries(store)) {
        let id = entry.id;
        assert!(
            seen.insert(id, entry).is_none(),
            "entry {id} is there twice"
        );
    }
    let expected: BTreeMap<LogId, LogEntry> = original.iter().map(|e| (e.id, e.clone())).collect();
    assert_eq!(
        seen.len(),
        expected.len(),
        "as many entries as were written"
    );
    assert!(seen == expected, "every entry, unchanged");
    let verified = store_archive::verify_archive(&options.dir).expect("the archive verifies");
    assert!(
        verified.is_sound(),
        "the manifest records every day file as it is: {verified:?}"
    );
}

/// The watermark the store records.
pub fn watermark(store: &dyn LogBackend) -> Option<String> {
    store.meta_get(WATERMARK_KEY).expect("meta")
}

/// What the tests compare a store by: every listing, the threads `fill` writes included,
/// and the thread index whole.
pub fn observed(store: &dyn LogBackend) -> String {
    let threads: Vec<String> = (0..6).map(|n| format!("thread-{n}")).collect();
    let threads: Vec<&str> = threads.iter().map(String::as_str).collect();
    format!(
        "{}index: {:?}\n",
        observable_state(store, &threads),
        store.thread_index(None, usize::MAX)
    )
}

/// `after` is `before`; if not, the first place they differ is shown, not the whole.
pub fn assert_same(before: &str, after: &str, what: &str) {
    let at = before
        .bytes()
        .zip(after.bytes())
        .position(|(b, a)| b != a)
        .unwrap_or(before.len().min(after.len()));
    let around = |text: &str| {
        let boundary = |mut i: usize| {
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let from = boundary(at.saturating_sub(200));
        let to = boundary((at + 200).min(text.len()));
        text[from..to].to_owned()
    };
    assert!(
        before == after,
        "{what}: the store is not as it was; before:\n…{}…\nafter:\n…{}…",
        around(before),
        around(after)
    );
}

/// What the store shows with the archive's watermark taken out: the one pair an archive
/// run leaves behind, which a restore does not take back.
pub fn observed_without_watermark(store: &dyn LogBackend) -> String {
    store
        .meta_delete(store_archive::WATERMARK_KEY)
        .expect("the watermark goes");
    observed(store)
}

/// The backend named `name`.
pub fn backend_named(name: &str) -> Backend {
    [SQLITE, REDB, POSTGRES]
        .into_iter()
        .find(|(known, _)| *known == name)
        .expect("a known backend")
}

/// This test binary started again as a process that runs only the test `test` of
/// `backend`, with the store's folder in `dir_var` and the backend's name in `backend_var`;
/// its standard output piped to the caller, which reads what it announces.
pub fn spawn_child(
    test: &str,
    backend: &str,
    dir_var: &str,
    dir: &Path,
    backend_var: &str,
) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            &format!("{backend}::{test}"),
            "--exact",
            "--test-threads",
            "1",
            "--nocapture",
        ])
        .env(dir_var, dir)
        .env(backend_var, backend)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the child process")
}

/// Flips a bit of the byte that follows the first `marker` in the file at `path`: a change
/// the file's reader accepts and its checksum does not.
pub fn change_byte_after(path: &Path, marker: &[u8]) {
    let mut changed = std::fs::read(path).expect("a day file");
    let at = changed
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the marker")
        + marker.len();
    changed[at] ^= 1;
    std::fs::write(path, changed).expect("a changed byte");
}
