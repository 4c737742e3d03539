//! What the console's tests share: a store of each backend, filled with what the pages
//! show, hostile values included.

#![allow(dead_code, unreachable_pub)]

use nerve_store::{NewLogEntry, RunTransition, ThreadMessage, WorkflowRunStatus};

/// A value that would run as a script if a page did not escape it.
pub const HOSTILE: &str = "<script>alert(1)</script>";
/// The content of the blob the store holds.
pub const REPORT: &[u8] = b"the report run-3 produced";

/// The location of a new store of `backend` kept for the folder `dir`.
pub fn location_of(backend: &str, dir: &std::path::Path) -> String {
    match backend {
        "sqlite" => format!("sqlite:{}", dir.join("nerve.db").display()),
        "redb" => format!("redb:{}", dir.join("nerve.redb").display()),
        _ => store_postgres::harness::options(dir).location(),
    }
}

/// Fills the new store at `location`: 250 log entries of the worker, 120 runs (every fifth
/// failed), a thread of three rounds, the hostile text in an entry, a failed run's detail
/// and a message, and a blob an entry of the daemon and run-3 reference.
pub fn fill(location: &str) {
    let store = nerve_store::open(location).expect("a store");
    for i in 0..250 {
        store
            .log
            .append(NewLogEntry::new("worker", "tick", format!("{{\"i\":{i}}}")))
            .expect("an entry");
    }
    store
        .log
        .append(NewLogEntry::new("worker", "note", HOSTILE).with_ref("run-7"))
        .expect("the hostile entry");
    for n in 0..120 {
        let run = format!("run-{n}");
        store
            .log
            .transition_run(
                RunTransition::new(&run, "summarise", WorkflowRunStatus::Queued)
                    .in_thread("thread-1"),
            )
            .expect("queued");
        store
            .log
            .transition_run(RunTransition::of(&run, WorkflowRunStatus::Started))
            .expect("started");
        if n % 5 == 0 {
            store
                .log
                .transition_run(
                    RunTransition::of(&run, WorkflowRunStatus::Failed).with_detail(HOSTILE),
                )
                .expect("failed");
        }
    }
    for (round, role, said) in [
        (1, "user", "what changed?"),
        (1, "assistant", HOSTILE),
        (2, "user", "thanks"),
    ] {
        store
            .log
            .append_thread_message(ThreadMessage::new(
                "thread-1",
                round,
                role,
                format!("{said:?}"),
            ))
            .expect("a message");
    }
    // A blob an entry of the daemon and run-3 reference.
    let report = store.blobs.write(REPORT).expect("a blob");
    store
        .log
        .append(NewLogEntry::new("daemon", "artifact", "{}").with_blobs([report]))
        .expect("its entry");
    store
        .log
        .transition_run(
            RunTransition::of("run-3", WorkflowRunStatus::Completed).with_blobs([report]),
        )
        .expect("its run");
}

/// Runs `case` to its end on a runtime of its own.
pub fn on_runtime(case: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(case);
}
