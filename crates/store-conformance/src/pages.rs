//! SPEC 1, every match: `LogQuery::fetch`, `RunQuery::fetch` and `pages::thread_messages`
//! answer every match a page at a time, in the order one query would, capped only by their
//! `limit`; `pages::follow` yields what another handle on the store commits, in id order.

use std::sync::mpsc;

use super::{Fixture, OpenStore, all_entries};
use store_core::pages::{PAGE, follow, thread_messages};
use store_core::{
    LogEntry, LogQuery, NewLogEntry, RunQuery, RunTransition, StoreResult, ThreadMessage,
    WorkflowRun, WorkflowRunStatus, WriteUnit,
};

/// More than two pages: every page boundary is crossed, and the last page is short.
const MANY: usize = PAGE * 2 + PAGE / 2;

fn collected<T>(items: impl Iterator<Item = StoreResult<T>>) -> Vec<T> {
    items.map(|item| item.expect("a page")).collect()
}

/// Every entry, ascending and descending, filtered and capped, is what the reference
/// semantics give over the whole log, whatever the page size.
pub fn every_matching_entry_is_fetched_page_by_page_in_both_orders(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let batch = (0..MANY)
        .map(|i| NewLogEntry::new(if i % 3 == 0 { "a" } else { "b" }, "k", i.to_string()))
        .collect();
    store.append_batch(batch).expect("entries");
    let all = all_entries(store);
    assert_eq!(all.len(), MANY);

    assert_eq!(collected(LogQuery::new().fetch(store)), all, "ascending");
    let mut newest_first = all.clone();
    newest_first.reverse();
    assert_eq!(
        collected(LogQuery::new().descending().fetch(store)),
        newest_first,
        "descending"
    );
    let only_a: Vec<LogEntry> = all.iter().filter(|e| e.source == "a").cloned().collect();
    assert_eq!(collected(LogQuery::new().source("a").fetch(store)), only_a);
    let capped = collected(LogQuery::new().limit(PAGE + 7).fetch(store));
    assert_eq!(capped, all[..PAGE + 7].to_vec(), "the limit caps the total");
    let after = all[10].id;
    assert_eq!(
        collected(LogQuery::new().after(after).fetch(store)),
        all[11..].to_vec(),
        "a cursor is where fetching starts"
    );
    assert_eq!(
        collected(LogQuery::new().limit(0).fetch(store)),
        Vec::<LogEntry>::new()
    );
}

/// Every run, oldest first, filtered by status, across pages.
pub fn every_matching_run_is_fetched_page_by_page(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let unit = (0..MANY).fold(WriteUnit::new(), |unit, i| {
        let status = if i % 2 == 0 {
            WorkflowRunStatus::Queued
        } else {
            WorkflowRunStatus::Started
        };
        unit.transition(RunTransition::new(format!("run-{i:05}"), "wf", status))
    });
    store.write_unit(unit).expect("runs");
    let every = RunQuery::new().limit(usize::MAX);
    let listed: Vec<WorkflowRun> = store.list_runs(&every).expect("one listing");
    assert_eq!(listed.len(), MANY);
    assert_eq!(collected(RunQuery::new().fetch(store)), listed);
    let queued = collected(
        RunQuery::new()
            .status(WorkflowRunStatus::Queued)
            .fetch(store),
    );
    assert_eq!(queued.len(), MANY.div_ceil(2));
    assert!(
        queued
            .iter()
            .all(|run| run.status == WorkflowRunStatus::Queued)
    );
}

/// Every message of a thread in id order, and none of another thread's.
pub fn every_message_of_a_thread_is_fetched_page_by_page(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let message = |thread: &str, i: usize| ThreadMessage {
        thread_id: thread.to_owned(),
        role: "user".to_owned(),
        round: u32::try_from(i / 2).unwrap_or(u32::MAX),
        payload: i.to_string(),
        ts: None,
    };
    let unit = (0..MANY).fold(WriteUnit::new(), |unit, i| {
        unit.thread_message(message("mine", i))
            .thread_message(message("other", i))
    });
    store.write_unit(unit).expect("messages");
    let rows = collected(thread_messages(store, "mine"));
    assert_eq!(rows.len(), MANY);
    assert!(rows.windows(2).all(|pair| pair[0].log_id < pair[1].log_id));
    assert!(
        rows.iter()
            .enumerate()
            .all(|(i, row)| row.payload == i.to_string())
    );
}

/// A follower yields, in id order, the matching entries another handle on the store commits
/// after it started, and none from before.
pub fn a_follower_yields_what_another_handle_commits(open: OpenStore) {
    let fx = Fixture::new(open);
    let dir = fx.dir().to_owned();
    fx.store()
        .append(NewLogEntry::new("w", "mark", "before"))
        .expect("an old entry, which following does not yield");
    let (sender, receiver) = mpsc::channel();
    let follower = std::thread::spawn(move || {
        let store = open(&dir).expect("a second handle");
        let mut following = follow(
            store.as_ref(),
            LogQuery::new().kind("mark"),
            std::time::Duration::from_millis(50),
        )
        .expect("following from the log's end");
        // Said once `follow` has read the log's end: what is committed from now on is new.
        let _ = sender.send(());
        (0..3)
            .map(|_| following.next().expect("it never ends").expect("an entry"))
            .collect::<Vec<_>>()
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the follower started");
    let mut written = Vec::new();
    for i in 0..3 {
        let store = fx.store();
        store
            .append(NewLogEntry::new("w", "noise", "not followed"))
            .expect("noise");
        written.push(
            store
                .append(NewLogEntry::new("w", "mark", i.to_string()))
                .expect("a mark"),
        );
    }
    let seen = super::within_bound("the follower", move || follower.join());
    assert_eq!(seen.expect("the follower returns"), written);
}
