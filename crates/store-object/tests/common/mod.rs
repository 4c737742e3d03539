//! What the archive's tests on object storage share: a local archive to push, and
//! replicas that fail or announce each request.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use store_archive::{
    ArchiveOptions, ArchiveReplica, DayStatus, ReplicaObject, archive_logs, read_archive_at,
    verify_replica,
};
use store_conformance::all_entries;
use store_core::{
    Digest, LogBackend, LogEntry, LogId, LogStore, MemoryLogStore, NewLogEntry, StoreError,
    StoreResult, ThreadMessage,
};
use store_object::ObjectArchive;
use store_object::harness;

/// The archive on the tests' S3 server kept for `dir`.
pub fn replica(dir: &Path) -> ObjectArchive {
    ObjectArchive::open_with(harness::options(dir)).expect("the archive on S3")
}

/// An archive in `dir/archive` of `days` days of 300 entries each, ending two days ago; the
/// first day compressed when `compress_first`.
pub fn archive_of(dir: &Path, days: i64, compress_first: bool) -> ArchiveOptions {
    let store = MemoryLogStore::new();
    let start = Utc::now() - Duration::days(days + 2);
    for day in 0..days {
        let entries = (0..300)
            .map(|i| {
                NewLogEntry::new("worker", "tick", format!("{{\"day\":{day},\"i\":{i}}}"))
                    .at(start + Duration::days(day) + Duration::seconds(i))
            })
            .collect();
        store.append_batch(entries).expect("entries");
    }
    let options = ArchiveOptions {
        dir: dir.join("archive"),
        retain_days: 1,
        ..ArchiveOptions::default()
    };
    if compress_first {
        let first = ArchiveOptions {
            compress: true,
            now: start + Duration::days(2),
            ..options.clone()
        };
        archive_logs(&store, &first).expect("the first day, compressed");
    }
    archive_logs(&store, &options).expect("the days");
    options
}

/// A replica that fails every request from the `cut`-th on, as a run killed there would
/// stop.
pub struct CutAt<'r> {
    inner: &'r dyn ArchiveReplica,
    cut: usize,
    calls: AtomicUsize,
}

impl<'r> CutAt<'r> {
    /// `inner`, cut at its `cut`-th request (0: before the first).
    pub fn new(inner: &'r dyn ArchiveReplica, cut: usize) -> Self {
        CutAt {
            inner,
            cut,
            calls: AtomicUsize::new(0),
        }
    }

    fn step(&self) -> StoreResult<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.cut {
            return Err(StoreError::Interrupted {
                operation: "the replica's request",
            });
        }
        Ok(())
    }
}

impl ArchiveReplica for CutAt<'_> {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn list(&self) -> StoreResult<Vec<ReplicaObject>> {
        self.step()?;
        self.inner.list()
    }
    fn put_file(&self, name: &str, path: &Path) -> StoreResult<()> {
        self.step()?;
        self.inner.put_file(name, path)
    }
    fn put_bytes_if(
        &self,
        name: &str,
        bytes: Vec<u8>,
        tag: Option<&str>,
    ) -> StoreResult<Option<String>> {
        self.step()?;
        self.inner.put_bytes_if(name, bytes, tag)
    }
    fn get(&self, name: &str) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        self.step()?;
        self.inner.get(name)
    }
    fn get_tagged(&self, name: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
        self.step()?;
        self.inner.get_tagged(name)
    }
    fn remove(&self, names: &[String]) -> StoreResult<()> {
        self.step()?;
        self.inner.remove(names)
    }
}

/// The archive at `inner`, which calls `hook` with the local file of each upload before it
/// makes it: what a test watches uploads by, or runs something else in the middle of a run
/// with.
pub struct BeforeUpload<'r> {
    inner: &'r dyn ArchiveReplica,
    hook: std::sync::Mutex<Hook<'r>>,
}

/// What [`BeforeUpload`] calls.
type Hook<'r> = Box<dyn FnMut(&Path) + Send + 'r>;

impl<'r> BeforeUpload<'r> {
    pub fn new(inner: &'r dyn ArchiveReplica, hook: impl FnMut(&Path) + Send + 'r) -> Self {
        BeforeUpload {
            inner,
            hook: std::sync::Mutex::new(Box::new(hook)),
        }
    }
}

impl ArchiveReplica for BeforeUpload<'_> {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn list(&self) -> StoreResult<Vec<ReplicaObject>> {
        self.inner.list()
    }
    fn put_file(&self, name: &str, path: &Path) -> StoreResult<()> {
        (self.hook.lock().expect("the hook"))(path);
        self.inner.put_file(name, path)
    }
    fn put_bytes_if(
        &self,
        name: &str,
        bytes: Vec<u8>,
        tag: Option<&str>,
    ) -> StoreResult<Option<String>> {
        self.inner.put_bytes_if(name, bytes, tag)
    }
    fn get(&self, name: &str) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        self.inner.get(name)
    }
    fn get_tagged(&self, name: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
        self.inner.get_tagged(name)
    }
    fn remove(&self, names: &[String]) -> StoreResult<()> {
        self.inner.remove(names)
    }
}

/// The replica, announcing on standard output (`request …`) each request it is about to
/// make and making it only once its parent answers a line on standard input: a parent that
/// kills the process instead of answering the n-th stops it exactly before that request.
pub struct Announcing(pub ObjectArchive);

impl Announcing {
    fn before<T>(&self, what: &str, request: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "request {what}").and_then(|()| out.flush());
        drop(out);
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        request()
    }
}

impl ArchiveReplica for Announcing {
    fn location(&self) -> String {
        self.0.location()
    }
    fn list(&self) -> StoreResult<Vec<ReplicaObject>> {
        self.before("list", || self.0.list())
    }
    fn put_file(&self, name: &str, path: &Path) -> StoreResult<()> {
        self.before("put", || self.0.put_file(name, path))
    }
    fn put_bytes_if(
        &self,
        name: &str,
        bytes: Vec<u8>,
        tag: Option<&str>,
    ) -> StoreResult<Option<String>> {
        self.before("put", || self.0.put_bytes_if(name, bytes, tag))
    }
    fn get(&self, name: &str) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        self.before("get", || self.0.get(name))
    }
    fn get_tagged(&self, name: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
        self.before("get", || self.0.get_tagged(name))
    }
    fn remove(&self, names: &[String]) -> StoreResult<()> {
        self.before("remove", || self.0.remove(names))
    }
}

/// Runs `child` (this test binary started again, its standard output and input piped) and
/// answers each request it announces, until the `kill_before`th, where it kills it instead
/// (`None`: answers every one, and the child must succeed). Returns whether it was killed.
pub fn run_child_killed_before(mut child: std::process::Child, kill_before: Option<usize>) -> bool {
    use std::io::BufRead as _;
    let mut answers = child.stdin.take().expect("its input");
    let lines = std::io::BufReader::new(child.stdout.take().expect("its output")).lines();
    let mut requests = 0;
    for line in lines.map_while(Result::ok) {
        if line.contains("request ") {
            requests += 1;
            if Some(requests) == kill_before {
                let _ = child.kill();
                break;
            }
            let _ = writeln!(answers, "go").and_then(|()| answers.flush());
        }
    }
    drop(answers);
    let status = child.wait().expect("reap it");
    if kill_before.is_none() {
        assert!(status.success(), "the child process failed: {status}");
    }
    !status.success()
}

/// `per_day` entries on each of `days` days ending two days before `now`, oldest first,
/// every tenth referencing a blob, and a thread message a day; every entry as stored.
pub fn fill(store: &dyn LogBackend, now: DateTime<Utc>, days: i64, per_day: i64) -> Vec<LogEntry> {
    let first = (now - Duration::days(days + 1)).date_naive();
    let mut stored = Vec::new();
    for day in 0..days {
        let start = (first + Duration::days(day))
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        let batch = (0..per_day)
            .map(|i| {
                NewLogEntry::new("worker", "tick", format!("{{\"day\":{day},\"i\":{i}}}"))
                    .at(start + Duration::seconds(i * 60))
                    .with_blobs(blob_of(day, i))
            })
            .collect();
        stored.extend(store.append_batch(batch).expect("a day of entries"));
        let said = ThreadMessage::new(format!("thread-{day}"), 1, "user", "\"hello\"")
            .at(start + Duration::hours(23));
        stored.push(store.append_thread_message(said).expect("a message"));
    }
    stored
}

/// The blob the `i`th entry of the `day`th day references, if any: every tenth does.
pub fn blob_of(day: i64, i: i64) -> Option<Digest> {
    (i % 10 == 3).then(|| Digest::of(format!("{day}/{i}").as_bytes()))
}

/// Options that archive every day before `now`'s; their folder is never written.
pub fn options(dir: &Path, now: DateTime<Utc>) -> ArchiveOptions {
    ArchiveOptions {
        dir: dir.join("no-archive-here"),
        retain_days: 0,
        now,
        ..ArchiveOptions::default()
    }
}

/// Every entry of the archive at `s3`.
pub fn archived(s3: &dyn ArchiveReplica) -> Vec<LogEntry> {
    read_archive_at(s3, NaiveDate::MIN..=NaiveDate::MAX, false)
        .expect("the archive's days download whole")
        .collect::<Result<_, _>>()
        .expect("and read back whole")
}

/// Every entry of `original` is in the archive or the store, unchanged; with `once`, in
/// exactly one of them and nothing else is.
pub fn assert_kept(
    store: &dyn LogBackend,
    s3: &dyn ArchiveReplica,
    original: &[LogEntry],
    once: bool,
) {
    let archived = archived(s3);
    let stored = all_entries(store);
    let archived_ids: BTreeSet<LogId> = archived.iter().map(|entry| entry.id).collect();
    assert_eq!(
        archived_ids.len(),
        archived.len(),
        "no entry twice in the archive"
    );
    for entry in original {
        let found = archived
            .iter()
            .chain(stored.iter())
            .find(|kept| kept.id == entry.id);
        assert_eq!(found, Some(entry), "entry {} kept unchanged", entry.id);
    }
    if once {
        assert_eq!(
            archived.len() + stored.len(),
            original.len(),
            "each entry once"
        );
    }
}

/// Whether every day the manifest names is what it records (an object it does not name is
/// a leftover, the next runs' to remove).
pub fn vouches(s3: &dyn ArchiveReplica) -> bool {
    match verify_replica(s3) {
        Ok(verified) => verified
            .days
            .iter()
            .all(|day| matches!(day.status, DayStatus::Sound | DayStatus::NotRecorded)),
        Err(StoreError::ArchiveManifest { reason, .. }) => reason.starts_with("there is none"),
        Err(other) => panic!("verify: {other}"),
    }
}
