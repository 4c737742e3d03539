//! Model-based property tests: random sequences of operations applied to a store and to the
//! reference model ([`MemoryLogStore`]), or to two stores, comparing every answer and,
//! after every step, everything a caller can observe. Names come from small pools so that
//! operations meet: the same runs, threads, days and keys again and again.
//!
//! A failure is shrunk by proptest to a short sequence and printed with the step that
//! disagreed.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::log::minutes;
use super::{Fixture, IdRanks, OpenStore, all_entries, observable_state};
use store_core::{
    BlobHolder, DaySpan, Digest, GetThreadRoundsParams, LogBackend, LogId, LogQuery, NewLogEntry,
    Order, RunQuery, RunTransition, StoreResult, ThreadMessage, WorkflowRunStatus,
};
use store_core::{MemoryLogStore, Write, WriteUnit};

const SOURCES: [&str; 3] = ["daemon", "worker", ""];
const KINDS: [&str; 2] = ["tick", "stop"];
const REFS: [&str; 3] = ["r1", "r2", "t1"];
const RUNS: [&str; 3] = ["run-a", "run-b", "run-c"];
const WORKFLOWS: [&str; 2] = ["build", "deploy"];
const THREADS: [&str; 2] = ["t1", "t2"];
const ROLES: [&str; 3] = ["user", "assistant", ""];
const META_KEYS: [&str; 3] = ["nerve.archive.logs.watermark", "k", ""];
/// The days the generated times fall on (offsets from the suite's base day).
const DAYS: i64 = 3;
/// The contents whose digests writes reference: a few, so that holders share them.
const BLOB_CONTENTS: [&[u8]; 3] = [b"a", b"b", b"c"];

/// Up to three blobs of the pool, with repeats (which count once).
fn blobs() -> impl Strategy<Value = Vec<Digest>> {
    proptest::collection::vec(0..BLOB_CONTENTS.len(), 0..4).prop_map(|picked| {
        picked
            .into_iter()
            .map(|i| Digest::of(BLOB_CONTENTS[i]))
            .collect()
    })
}

/// One operation of a generated sequence.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum Op {
    Append(NewLogEntry),
    AppendBatch(Vec<NewLogEntry>),
    Transition(RunTransition),
    Message(ThreadMessage),
    MetaSet {
        key: String,
        value: String,
        blobs: Vec<Digest>,
    },
    MetaDelete {
        key: String,
    },
    DeleteDay {
        day: i64,
        through: u64,
        watermark: Option<String>,
    },
    Query(LogQuery),
    ListRuns(RunQuery),
    ThreadMessages {
        thread: String,
        after: Option<u64>,
        limit: usize,
    },
    ThreadRounds(GetThreadRoundsParams),
    /// Several of the writes above as one unit.
    Unit(WriteUnit),
    /// Close the store and open it again (the model keeps its state).
    Reopen,
}

fn pick<const N: usize>(pool: [&'static str; N]) -> impl Strategy<Value = String> {
    proptest::sample::select(pool.to_vec()).prop_map(str::to_owned)
}

/// A time: one of four a day, or a little before one, by less than the allowance of late
/// entries, by that much, or by a millisecond more.
fn time() -> impl Strategy<Value = chrono::DateTime<chrono::Utc>> {
    let allowance = store_core::kit::LATE_AFTER_MILLIS;
    (
        0..DAYS,
        0i64..4,
        prop_oneof![
            4 => Just(0),
            1 => Just(60_000),
            1 => Just(allowance),
            1 => Just(allowance + 1),
        ],
    )
        .prop_map(|(day, slot, before)| {
            minutes(day * 24 * 60 + slot * 360) - chrono::Duration::milliseconds(before)
        })
}

/// A query bound: a generated time, sometimes moved by less than a millisecond either way,
/// since bounds finer than the stored precision must compare as `LogQuery::matches` does.
fn bound() -> impl Strategy<Value = chrono::DateTime<chrono::Utc>> {
    (
        time(),
        prop_oneof![Just(0i64), Just(-1), Just(1), Just(-500_000), Just(500_000)],
    )
        .prop_map(|(ts, nanos)| ts + chrono::Duration::nanoseconds(nanos))
}

fn entry() -> impl Strategy<Value = NewLogEntry> {
    (
        pick(SOURCES),
        pick(KINDS),
        proptest::option::of(pick(REFS)),
        0u8..4,
        time(),
        prop_oneof![3 => Just(Vec::new()), 1 => blobs()],
    )
        .prop_map(|(source, kind, ref_id, payload, ts, blobs)| NewLogEntry {
            source,
            kind,
            ref_id,
            payload: format!("p{payload}"),
            ts: Some(ts),
            blobs,
        })
}

fn status() -> impl Strategy<Value = WorkflowRunStatus> {
    proptest::sample::select(store_core::WorkflowRunStatus::ALL.to_vec())
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..40, Just(u64::MAX)]
}

fn query() -> impl Strategy<Value = LogQuery> {
    (
        proptest::option::of(pick(SOURCES)),
        proptest::option::of(pick(KINDS)),
        proptest::option::of(pick(REFS)),
        proptest::option::of(bound()),
        proptest::option::of(bound()),
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(0usize..6),
        any::<bool>(),
    )
        .prop_map(
            |(source, kind, ref_id, since, until, after, before, limit, descending)| LogQuery {
                source,
                kind,
                ref_id,
                since,
                until,
                after: after.map(LogId),
                before: before.map(LogId),
                limit,
                order: if descending {
                    Order::Descending
                } else {
                    Order::Ascending
                },
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let transition = (
        pick(RUNS),
        // `None` moves an existing run keeping its workflow, and cannot create one.
        prop_oneof![4 => Just(Some(WORKFLOWS[0])), 1 => Just(Some(WORKFLOWS[1])), 1 => Just(None)],
        status(),
        time(),
        proptest::option::of(pick(THREADS)),
        any::<bool>(),
        prop_oneof![2 => Just(None), 1 => blobs().prop_map(Some)],
    )
        .prop_map(|(run, workflow, to, at, thread, detail, blobs)| {
            Op::Transition(RunTransition {
                run_id: run,
                workflow: workflow.map(str::to_owned),
                thread_id: thread,
                to,
                at: Some(at),
                detail: detail.then(|| format!("to {to}")),
                blobs,
            })
        });
    let transition = transition.boxed();
    let message = (pick(THREADS), pick(ROLES), 0u32..4, time(), 0u8..4).prop_map(
        |(thread_id, role, round, ts, n)| {
            Op::Message(ThreadMessage {
                thread_id,
                role,
                round,
                payload: format!("m{n}"),
                ts: Some(ts),
            })
        },
    );
    let message = message.boxed();
    let list_runs = (
        proptest::collection::vec(status(), 0..3),
        proptest::option::of(pick(WORKFLOWS)),
        proptest::option::of(pick(THREADS)),
        proptest::option::of(pick(RUNS)),
        proptest::option::of(0usize..4),
        (
            proptest::option::of(bound()),
            proptest::option::of(bound()),
            proptest::bool::ANY,
        ),
    )
        .prop_map(
            |(statuses, workflow, thread_id, after, limit, (since, until, newest_first))| {
                Op::ListRuns(RunQuery {
                    statuses,
                    workflow,
                    thread_id,
                    created_since: since,
                    created_until: until,
                    order: if newest_first {
                        Order::Descending
                    } else {
                        Order::Ascending
                    },
                    after,
                    limit,
                })
            },
        );
    let rounds = (
        pick(THREADS),
        proptest::option::of(pick(ROLES)),
        proptest::option::of(0u32..4),
        proptest::option::of(0usize..5),
    )
        .prop_map(|(thread_id, role, from_round, limit)| {
            Op::ThreadRounds(GetThreadRoundsParams {
                thread_id,
                role,
                from_round,
                limit,
            })
        });
    let write = prop_oneof![
        3 => entry().prop_map(Write::Append),
        3 => transition.clone().prop_map(|op| match op {
            Op::Transition(transition) => Write::Transition(transition),
            _ => unreachable!("the transition strategy makes transitions"),
        }),
        2 => message.clone().prop_map(|op| match op {
            Op::Message(message) => Write::ThreadMessage(message),
            _ => unreachable!("the message strategy makes messages"),
        }),
        1 => (pick(META_KEYS), 0u8..3, blobs()).prop_map(|(key, v, blobs)| Write::MetaSet { key, value: format!("v{v}"), blobs }),
        1 => pick(META_KEYS).prop_map(|key| Write::MetaDelete { key }),
    ];
    let unit = proptest::collection::vec(write, 0..5).prop_map(|writes| Op::Unit(writes.into()));
    prop_oneof![
        4 => unit,
        6 => entry().prop_map(Op::Append),
        3 => proptest::collection::vec(entry(), 0..5).prop_map(Op::AppendBatch),
        6 => transition,
        4 => message,
        2 => (pick(META_KEYS), 0u8..3, blobs()).prop_map(|(key, v, blobs)| Op::MetaSet { key, value: format!("v{v}"), blobs }),
        1 => pick(META_KEYS).prop_map(|key| Op::MetaDelete { key }),
        2 => (0..DAYS, 0u64..40, proptest::option::of(0u8..3)).prop_map(|(day, through, w)| Op::DeleteDay {
            day,
            through,
            watermark: w.map(|w| format!("day-{w}")),
        }),
        4 => query().prop_map(Op::Query),
        2 => list_runs,
        2 => (pick(THREADS), proptest::option::of(id()), 0usize..5)
            .prop_map(|(thread, after, limit)| Op::ThreadMessages { thread, after, limit }),
        2 => rounds,
        1 => Just(Op::Reopen),
    ]
}

/// Sequences of up to 40 operations.
pub fn sequences() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..40)
}

/// One side of a comparison: a real store that can be reopened, or the model.
enum Side {
    Store(Fixture),
    Model(MemoryLogStore),
}

impl Side {
    fn store(&self) -> &dyn LogBackend {
        match self {
            Side::Store(fixture) => fixture.store(),
            Side::Model(model) => model,
        }
    }

    fn reopen(&mut self) {
        if let Side::Store(fixture) = self {
            fixture.reopen();
        }
    }
}

/// An answer in a comparable form: its `Debug` when it succeeded, the error's sentence when
/// it did not (errors of bad input and refused transitions name no file, so two stores give
/// the same sentence).
fn answer<T: std::fmt::Debug>(result: StoreResult<T>) -> String {
    match result {
        Ok(value) => format!("Ok({value:?})"),
        Err(err) => format!("Err({err})"),
    }
}

/// What `op` answers on `store`; `Reopen` answers nothing.
fn apply(store: &dyn LogBackend, op: &Op) -> String {
    match op {
        Op::Append(entry) => answer(store.append(entry.clone())),
        Op::AppendBatch(entries) => answer(store.append_batch(entries.clone())),
        Op::Transition(transition) => answer(store.transition_run(transition.clone())),
        Op::Message(message) => answer(store.append_thread_message(message.clone())),
        Op::MetaSet { key, value, blobs } => answer(store.meta_set_with_blobs(key, value, blobs)),
        Op::MetaDelete { key } => answer(store.meta_delete(key)),
        Op::DeleteDay {
            day,
            through,
            watermark,
        } => {
            let span = DaySpan::new(minutes(day * 24 * 60).date_naive(), LogId(*through));
            let meta: Vec<(&str, &str)> = watermark
                .iter()
                .map(|w| ("nerve.archive.logs.watermark", w.as_str()))
                .collect();
            answer(store.delete_days(&[span], &meta))
        }
        Op::Query(query) => answer(store.query(query)),
        Op::ListRuns(query) => answer(store.list_runs(query)),
        Op::ThreadMessages {
            thread,
            after,
            limit,
        } => answer(store.thread_messages(thread, after.map(LogId), *limit)),
        Op::ThreadRounds(params) => answer(store.thread_rounds(params)),
        Op::Unit(unit) => answer(store.write_unit(unit.clone())),
        Op::Reopen => String::new(),
    }
}

/// Everything a caller can observe: the listings, and each run and meta key of the pools
/// read one by one (a separate read path in every backend).
fn observe(store: &dyn LogBackend) -> String {
    let mut seen = observable_state(store, &THREADS);
    for run in RUNS {
        seen += &format!("run {run}: {}\n", answer(store.get_run(run)));
    }
    for key in META_KEYS {
        seen += &format!("meta {key:?}: {}\n", answer(store.meta_get(key)));
    }
    // References, through each read: by blob, by holder, all of them, and which are held.
    let pool: Vec<Digest> = BLOB_CONTENTS.iter().map(|c| Digest::of(c)).collect();
    for digest in &pool {
        seen += &format!(
            "references {digest}: {}\n",
            answer(store.references(digest, None, usize::MAX))
        );
    }
    for holder in RUNS
        .iter()
        .map(|run| BlobHolder::Run((*run).to_owned()))
        .chain(
            META_KEYS
                .iter()
                .map(|key| BlobHolder::Meta((*key).to_owned())),
        )
    {
        seen += &format!("blobs of {holder}: {}\n", answer(store.blobs_of(&holder)));
    }
    seen += &format!(
        "all references: {}\n",
        answer(store.blob_references(None, usize::MAX))
    );
    seen += &format!("referenced: {}\n", answer(store.referenced(&pool)));
    seen
}

/// `op` as it is sent to a store whose ids `ranks` knows: each id the sequence chose (the
/// model's, which numbers from 1) is the store's id of that rank ([`IdRanks::id_of_rank`]).
fn for_store(op: &Op, ranks: &IdRanks) -> Op {
    let id = |chosen: LogId| ranks.id_of_rank(chosen.0);
    match op {
        Op::Query(query) => Op::Query(LogQuery {
            after: query.after.map(id),
            before: query.before.map(id),
            ..query.clone()
        }),
        Op::DeleteDay {
            day,
            through,
            watermark,
        } => Op::DeleteDay {
            day: *day,
            through: ranks.id_of_rank(*through).0,
            watermark: watermark.clone(),
        },
        Op::ThreadMessages {
            thread,
            after,
            limit,
        } => Op::ThreadMessages {
            thread: thread.clone(),
            after: after.map(|after| ranks.id_of_rank(after).0),
            limit: *limit,
        },
        other => other.clone(),
    }
}

/// Applies `ops` to every side, comparing each step's answers and what each side holds
/// after it, ids by their rank among the ids each side has given out ([`IdRanks`]).
fn run_sequence(sides: Vec<(&str, Side)>, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut sides: Vec<(&str, Side, IdRanks)> = sides
        .into_iter()
        .map(|(name, side)| (name, side, IdRanks::new()))
        .collect();
    for (step, op) in ops.iter().enumerate() {
        let mut answers = Vec::new();
        for (name, side, ranks) in &mut sides {
            if matches!(op, Op::Reopen) {
                side.reopen();
            }
            let answer = apply(side.store(), &for_store(op, ranks));
            ranks.learn(all_entries(side.store()).into_iter().map(|entry| entry.id));
            answers.push((
                *name,
                ranks.ranked(&answer),
                ranks.ranked(&observe(side.store())),
            ));
        }
        let (first_name, first_answer, first_state) = &answers[0];
        for (name, answer, state) in &answers[1..] {
            prop_assert_eq!(
                answer,
                first_answer,
                "step {} ({:?}): {} and {} answer differently",
                step,
                op,
                name,
                first_name
            );
            prop_assert_eq!(
                state,
                first_state,
                "after step {} ({:?}): {} and {} differ",
                step,
                op,
                name,
                first_name
            );
        }
    }
    Ok(())
}

/// The number of generated sequences: `PROPTEST_CASES` if set (`cargo xtask conformance
/// --cases N` sets it), else a number small enough for every `cargo test`.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32)
}

fn run(check: impl Fn(&[Op]) -> Result<(), TestCaseError>) {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(failure) = runner.run(&sequences(), |ops| check(&ops)) {
        panic!("{failure}");
    }
}

/// Generated sequences on the store and on the reference model agree at every step.
pub fn store_agrees_with_the_model(open: OpenStore) {
    run(|ops| {
        let sides = vec![
            ("model", Side::Model(MemoryLogStore::new())),
            ("store", Side::Store(Fixture::new(open))),
        ];
        run_sequence(sides, ops)
    });
}

/// Generated sequences on two stores (two backends) agree at every step.
pub fn stores_agree(first: (&str, OpenStore), second: (&str, OpenStore)) {
    run(|ops| {
        let sides = vec![
            (first.0, Side::Store(Fixture::new(first.1))),
            (second.0, Side::Store(Fixture::new(second.1))),
        ];
        run_sequence(sides, ops)
    });
}
