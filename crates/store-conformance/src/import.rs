//! Moving a store's content into another store with ids kept (what `migrate` does): the
//! export reads everything, the import writes it back observably the same, and refuses what
//! would reuse an id or overwrite a run.

use super::log::{minutes, seed_varied};
use super::{Fixture, OpenStore, all_entries, collect_pages, observable_state};
use store_core::{
    DaySpan, Digest, ImportBatch, LogBackend, LogId, NewLogEntry, RunQuery, RunTransition,
    StoreError, ThreadIndexRow, ThreadMessage, WorkflowRunStatus,
};

const THREADS: [&str; 2] = ["t1", "t2"];

/// A store with entries, a deleted day (gaps in the ids), runs, threads and meta.
pub fn varied_source(store: &dyn LogBackend) {
    seed_varied(store, 60);
    let day_one = minutes(0).date_naive();
    let twentieth = all_entries(store)[19].id;
    store
        .delete_days(
            &[DaySpan::new(day_one, twentieth)],
            &[("nerve.archive.logs.watermark", "x")],
        )
        .expect("a gap");
    for (i, status) in [
        WorkflowRunStatus::Queued,
        WorkflowRunStatus::Started,
        WorkflowRunStatus::Completed,
    ]
    .into_iter()
    .enumerate()
    {
        let run = format!("run-{i}");
        store
            .transition_run(
                RunTransition::new(&run, "wf", WorkflowRunStatus::Started)
                    .in_thread(THREADS[i % 2])
                    .at(minutes(i as i64)),
            )
            .expect("start");
        if status != WorkflowRunStatus::Started {
            let next = if status == WorkflowRunStatus::Queued {
                WorkflowRunStatus::Crashed
            } else {
                status
            };
            store
                .transition_run(
                    RunTransition::new(&run, "wf", next)
                        .in_thread(THREADS[i % 2])
                        .at(minutes(10))
                        .with_blobs([Digest::of(run.as_bytes())]),
                )
                .expect("move");
        }
    }
    for round in 0..6u32 {
        let message = ThreadMessage {
            thread_id: THREADS[(round % 2) as usize].into(),
            role: if round % 3 == 0 { "user" } else { "assistant" }.into(),
            round,
            payload: format!("m{round}"),
            ts: Some(minutes(i64::from(round))),
        };
        store.append_thread_message(message).expect("a message");
    }
    store.meta_set("k", "v").expect("meta");
    store
        .meta_set_with_blobs(
            "with-blobs",
            "v",
            &[Digest::of(b"blob 0"), Digest::of(b"m")],
        )
        .expect("meta with blobs");
}

/// Everything a caller can observe of a store filled by [`varied_source`].
pub fn observed(store: &dyn LogBackend) -> String {
    observable_state(store, &THREADS)
}

/// Copies `source` into `target` in batches of `per_batch` entries with their thread rows;
/// runs and meta ride with the first batch.
pub fn copy(source: &dyn LogBackend, target: &dyn LogBackend, per_batch: usize) {
    let entries = all_entries(source);
    let rows: Vec<ThreadIndexRow> = collect_pages(
        entries.len() + 2,
        |after| {
            source
                .thread_index(after, 7)
                .expect("export the thread index")
        },
        |row| row.log_id,
    );
    let mut runs = source
        .list_runs(&RunQuery {
            limit: Some(usize::MAX),
            ..RunQuery::default()
        })
        .expect("runs");
    let mut meta = source.meta_entries().expect("meta");
    let mut references = source
        .blob_references(None, usize::MAX)
        .expect("references");
    for chunk in entries.chunks(per_batch) {
        let ids: Vec<LogId> = chunk.iter().map(|e| e.id).collect();
        let batch = ImportBatch {
            entries: chunk.to_vec(),
            thread_rows: rows
                .iter()
                .filter(|r| ids.contains(&r.log_id))
                .cloned()
                .collect(),
            runs: std::mem::take(&mut runs),
            meta: std::mem::take(&mut meta),
            references: std::mem::take(&mut references),
        };
        target.import(batch).expect("import a batch");
    }
}

/// A copy imported into an empty store is observably the same, ids included; the copy's id
/// counter continues after the last imported id; and it all survives reopening.
pub fn a_copy_imported_into_an_empty_store_is_observably_the_same(open: OpenStore) {
    let source = Fixture::new(open);
    varied_source(source.store());
    let mut target = Fixture::new(open);
    copy(source.store(), target.store(), 25);
    assert_eq!(observed(target.store()), observed(source.store()));
    target.reopen();
    assert_eq!(observed(target.store()), observed(source.store()));
    let last = all_entries(source.store())
        .last()
        .map(|e| e.id)
        .expect("entries");
    let next = target
        .store()
        .append(NewLogEntry::new("s", "k", "after"))
        .expect("append");
    assert!(next.id > last, "{} after importing up to {last}", next.id);
}

/// An import that would reuse an id, overwrite a run, or index an entry it does not bring
/// is refused whole.
pub fn an_import_that_would_reuse_an_id_or_a_run_writes_nothing(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let first = store
        .append(NewLogEntry::new("s", "k", "here"))
        .expect("append");
    store
        .transition_run(RunTransition::new("run", "wf", WorkflowRunStatus::Queued))
        .expect("a run");
    let before = observed(store);
    let mut entry = first.clone();
    let refused = |batch: ImportBatch, field: &str| {
        let err = store.import(batch).expect_err("refused");
        assert!(
            matches!(&err, StoreError::InvalidInput { field: f, .. } if *f == field),
            "{err}"
        );
        assert_eq!(
            observed(store),
            before,
            "nothing of a refused batch is written"
        );
    };
    refused(
        ImportBatch {
            entries: vec![entry.clone()],
            ..ImportBatch::default()
        },
        "entries",
    );
    // Ids above every id the store has given out: 50 above its last, and others near it.
    let top = all_entries(store)
        .last()
        .map(|entry| entry.id.0)
        .expect("entries");
    entry.id = LogId(top + 50);
    let run = store.get_run("run").expect("get").expect("the run");
    refused(
        ImportBatch {
            entries: vec![entry.clone()],
            runs: vec![run],
            ..ImportBatch::default()
        },
        "runs",
    );
    let stray = ThreadIndexRow {
        log_id: LogId(top + 49),
        thread_id: "t".into(),
        round: 0,
        role: "user".into(),
    };
    refused(
        ImportBatch {
            entries: vec![entry.clone()],
            thread_rows: vec![stray],
            ..ImportBatch::default()
        },
        "thread_rows",
    );
    let mut later = entry.clone();
    later.id = LogId(top + 40);
    refused(
        ImportBatch {
            entries: vec![entry.clone(), later],
            ..ImportBatch::default()
        },
        "entries",
    );
    store
        .import(ImportBatch {
            entries: vec![entry],
            ..ImportBatch::default()
        })
        .expect("a valid import");
    let next = store
        .append(NewLogEntry::new("s", "k", "next"))
        .expect("append");
    assert!(next.id > LogId(top + 50), "above the imported id: {next:?}");
}
