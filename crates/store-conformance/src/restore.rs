//! Bringing deleted entries back under their ids (what `archive restore` does): the store is
//! observably as it was before the deletion, a second restore writes nothing, and a batch
//! that does not fit the store is refused whole.

use super::import::{observed, varied_source};
use super::{Fixture, OpenStore, all_entries};
use store_core::{
    DaySpan, LogBackend, LogId, NewLogEntry, RestoreBatch, Restored, StoreError, ThreadIndexRow,
};

/// The entries of the store's first day, with their thread rows: what an archive day holds.
fn first_day(store: &dyn LogBackend) -> RestoreBatch {
    let day = store
        .next_log_day(None)
        .expect("days")
        .expect("the store has a day");
    let entries = store
        .day_entries(day, None, usize::MAX)
        .expect("the day's entries");
    let ids: Vec<LogId> = entries.iter().map(|e| e.id).collect();
    let thread_rows = store.thread_rows(&ids).expect("the day's thread rows");
    let references = store.entry_references(&ids).expect("the day's references");
    RestoreBatch {
        entries,
        thread_rows,
        references,
    }
}

/// Deletes the day `batch` holds, through its last entry.
fn delete_day_of(store: &dyn LogBackend, batch: &RestoreBatch) {
    let last = batch.entries.last().expect("entries");
    store
        .delete_days(&[DaySpan::new(last.ts.date_naive(), last.id)], &[])
        .expect("delete the day");
}

/// `thread_rows` answers the rows of the thread messages among the ids asked, in id order,
/// and passes over every other id: the rows `thread_index` lists, no more.
pub fn thread_rows_answer_the_messages_among_the_ids_asked(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    varied_source(store);
    let mut ids: Vec<LogId> = all_entries(store).iter().rev().map(|e| e.id).collect();
    ids.push(LogId(ids[0].0 + 1000));
    ids.push(ids[1]);
    let every: Vec<ThreadIndexRow> = store
        .thread_index(None, usize::MAX)
        .expect("the thread index");
    assert!(every.len() >= 6, "the source has messages: {every:?}");
    assert_eq!(store.thread_rows(&ids).expect("rows"), every);
    assert_eq!(
        store.thread_rows(&[]).expect("none asked"),
        Vec::new(),
        "no ids, no rows"
    );
}

/// A deleted day restored is observably back, ids, thread index and counts included; a
/// second restore of it writes nothing; both survive reopening; the counter is untouched.
pub fn a_deleted_day_restored_is_back_exactly_once(open: OpenStore) {
    let mut fx = Fixture::new(open);
    varied_source(fx.store());
    let before = observed(fx.store());
    let batch = first_day(fx.store());
    let count = batch.entries.len() as u64;
    assert!(
        !batch.thread_rows.is_empty(),
        "the day holds thread messages"
    );
    delete_day_of(fx.store(), &batch);
    assert_ne!(observed(fx.store()), before, "the day is gone");

    let restored = fx.store().restore(batch.clone()).expect("restore");
    assert_eq!(
        restored,
        Restored {
            written: count,
            present: 0
        }
    );
    assert_eq!(observed(fx.store()), before);
    fx.reopen();
    assert_eq!(observed(fx.store()), before, "after reopening");
    let again = fx.store().restore(batch).expect("restore again");
    assert_eq!(
        again,
        Restored {
            written: 0,
            present: count
        }
    );
    assert_eq!(observed(fx.store()), before, "nothing written twice");

    let last = all_entries(fx.store())
        .iter()
        .map(|e| e.id)
        .max()
        .expect("entries");
    let next = fx
        .store()
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("append");
    assert!(next.id > last, "{} after {last}", next.id);
}

/// A batch of which part is held and part deleted writes the deleted part only, and says
/// how many of each.
pub fn a_restore_writes_only_what_the_store_does_not_hold(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    varied_source(store);
    let before = observed(store);
    let batch = first_day(store);
    let half = batch.entries.len() / 2;
    let last_of_half = &batch.entries[half - 1];
    store
        .delete_days(
            &[DaySpan::new(last_of_half.ts.date_naive(), last_of_half.id)],
            &[],
        )
        .expect("delete half the day");
    let restored = store.restore(batch.clone()).expect("restore");
    assert_eq!(
        restored,
        Restored {
            written: half as u64,
            present: (batch.entries.len() - half) as u64,
        }
    );
    assert_eq!(observed(store), before);
}

/// An entry whose id the store holds with other content, ids out of order, a thread row
/// for no entry of the batch: refused by name, and nothing of the batch is written.
pub fn a_restore_that_does_not_fit_the_store_writes_nothing(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    varied_source(store);
    let mut day = first_day(store);
    let held = day.entries.pop().expect("entries");
    let ids: Vec<LogId> = day.entries.iter().map(|e| e.id).collect();
    let batch = RestoreBatch {
        thread_rows: store.thread_rows(&ids).expect("rows"),
        references: store.entry_references(&ids).expect("references"),
        entries: day.entries,
    };
    delete_day_of(store, &batch);
    let after_delete = observed(store);
    let refused = |batch: RestoreBatch, field: &str, says: &str| {
        let err = store.restore(batch).expect_err("refused");
        assert!(
            matches!(&err, StoreError::InvalidInput { field: f, .. } if *f == field),
            "{err}"
        );
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(observed(store), after_delete, "nothing of it is written");
    };
    // The batch's entries are deleted, so would be written; the last one is held, changed.
    let mut other = held.clone();
    other.payload.push_str(" (changed)");
    let mut with_other = batch.clone();
    with_other.entries.push(other);
    refused(with_other, "entries", "with other content");

    let mut reversed = batch.clone();
    reversed.entries.reverse();
    reversed.thread_rows.clear();
    refused(reversed, "entries", "does not come after");

    let mut stray = batch.clone();
    stray.thread_rows.push(ThreadIndexRow {
        log_id: LogId(held.id.0 + 7),
        thread_id: "t".into(),
        round: 0,
        role: "user".into(),
    });
    refused(stray, "thread_rows", "names no entry");

    // The held entry, the same in every field, is passed over.
    let mut with_same = batch;
    with_same.entries.push(held);
    let restored = store.restore(with_same.clone()).expect("fits");
    assert_eq!(restored.present, 1);
    assert_eq!(restored.written, with_same.entries.len() as u64 - 1);
}

/// An entry restored under an id above every id the store has given out moves the
/// counter past it, so the next append does not reuse it.
pub fn a_restored_id_above_the_counter_is_never_given_again(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let first = store
        .append(NewLogEntry::new("s", "k", "first"))
        .expect("append");
    let mut far = first.clone();
    far.id = LogId(first.id.0 + 50);
    far.payload = "from elsewhere".into();
    let restored = store
        .restore(RestoreBatch {
            entries: vec![far.clone()],
            ..RestoreBatch::default()
        })
        .expect("restore");
    assert_eq!(restored.written, 1);
    assert_eq!(all_entries(store), vec![first, far.clone()]);
    let next = store
        .append(NewLogEntry::new("s", "k", "next"))
        .expect("append");
    assert!(next.id > far.id, "{} after {}", next.id, far.id);
}
