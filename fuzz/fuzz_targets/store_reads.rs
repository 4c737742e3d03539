//! What the damaged-file targets share: a valid store file with a few rows of every kind,
//! the fuzzer's bytes written over it at the fuzzer's offset, and every call of the store on
//! the result. Opening it and every call either answer or return an error; nothing panics.

use std::path::Path;

use store_core::{
    GetThreadRoundsParams, LogBackend, LogQuery, NewLogEntry, RunQuery, RunTransition, StoreResult,
    ThreadMessage, WorkflowRunStatus,
};

/// Opens the store file at a path.
pub type Open = fn(&Path) -> StoreResult<Box<dyn LogBackend>>;

/// The bytes of a closed store file made by `open`, with entries, a run, a message and meta.
pub fn pristine(open: Open, name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let store = open(&path).expect("create");
    for i in 0..40 {
        store
            .append(NewLogEntry::new("s", "k", format!("payload {i}")).with_ref("r"))
            .expect("append");
    }
    store
        .transition_run(RunTransition::new("run", "wf", WorkflowRunStatus::Started).in_thread("t"))
        .expect("run");
    store
        .append_thread_message(ThreadMessage {
            thread_id: "t".into(),
            role: "user".into(),
            round: 1,
            payload: "m".into(),
            ts: None,
        })
        .expect("message");
    store.meta_set("k", "v").expect("meta");
    drop(store);
    std::fs::read(&path).expect("read the file")
}

/// Writes `patch` over `pristine` at `offset` (modulo its length), opens the result with
/// `open` and calls everything. With `trust`, the damaged file is first made to look as the
/// store left it when it last closed it cleanly (redb's seal: damage from a failing disk),
/// and only reads are made: redb 4.6 may abort in its own cleanup when a commit meets such
/// a page, which no caller can catch.
///
/// A panic the store catches (redb panics on some damaged pages; the store returns
/// `StoreError::Damaged` instead) is not a finding, so libFuzzer's hook, which aborts at
/// every panic, is replaced by one that keeps the message; a panic that leaves the store
/// is printed with it and aborts.
pub fn open_damaged(
    open: Open,
    name: &str,
    pristine: &[u8],
    (offset, patch): (u32, &[u8]),
    trust: Option<fn(&Path)>,
) {
    quiet_caught_panics();
    let escaped =
        std::panic::catch_unwind(|| damage_and_read(open, name, pristine, (offset, patch), trust));
    if escaped.is_err() {
        LAST_PANIC.with(|last| eprintln!("a panic left the store: {}", last.borrow()));
        std::process::abort();
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(ToString::to_string).unwrap_or_default();
            // A backtrace only under RUST_BACKTRACE=1: capturing one at every caught panic
            // would slow the fuzzer down.
            let trace = std::backtrace::Backtrace::capture();
            if std::env::var_os("FUZZ_PRINT_PANICS").is_some() {
                eprintln!("caught: {info}");
            }
            LAST_PANIC.with(|last| *last.borrow_mut() = format!("{info} at {location}\n{trace}"));
        }));
    });
}

fn damage_and_read(
    open: Open,
    name: &str,
    pristine: &[u8],
    (offset, patch): (u32, &[u8]),
    trust: Option<fn(&Path)>,
) {
    let mut bytes = pristine.to_vec();
    let at = offset as usize % bytes.len();
    let end = (at + patch.len()).min(bytes.len());
    bytes[at..end].copy_from_slice(&patch[..end - at]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, &bytes).expect("write the damaged file");
    if let Some(trust) = trust {
        trust(&path);
    }
    if let Ok(store) = open(&path) {
        read_everything(store.as_ref());
        if trust.is_none() {
            write_something(store.as_ref());
        }
    }
}

/// Calls every read of `store`; the answers do not matter, only that each returns.
pub fn read_everything(store: &dyn LogBackend) {
    let all = LogQuery {
        limit: Some(10_000),
        ..LogQuery::default()
    };
    let _ = store.query(&all);
    for query in [
        LogQuery {
            ref_id: Some("r".into()),
            ..LogQuery::default()
        },
        LogQuery {
            source: Some("s".into()),
            kind: Some("k".into()),
            ..LogQuery::default()
        },
        LogQuery {
            since: Some(chrono::DateTime::UNIX_EPOCH),
            ..LogQuery::default()
        },
    ] {
        let _ = store.query(&query);
    }
    let _ = store.list_runs(&RunQuery::default());
    let _ = store.list_active_runs();
    let _ = store.get_run("run");
    let _ = store.thread_rounds(&GetThreadRoundsParams {
        thread_id: "t".into(),
        ..GetThreadRoundsParams::default()
    });
    let _ = store.thread_messages("t", None, 100);
    let _ = store.last_round("t");
    let _ = store.meta_entries();
    let _ = store.meta_get("k");
    let _ = store.thread_index(None, 100);
    let _ = store.log_stats();
    if let Ok(Some(day)) = store.next_log_day(None) {
        let _ = store.day_entries(day, None, 100);
        let _ = store.next_log_day(Some(day));
    }
}

/// Makes a write and a unit whose transition reads the (maybe damaged) run row.
pub fn write_something(store: &dyn LogBackend) {
    let _ = store.append(store_core::NewLogEntry::new("s", "k", "p"));
    let _ = store.write_unit(
        store_core::WriteUnit::new()
            .transition(
                RunTransition::new("run", "wf", WorkflowRunStatus::Completed).in_thread("t"),
            )
            .append(store_core::NewLogEntry::new("s", "k", "unit").with_ref("run"))
            .meta_set("k", "w"),
    );
}
