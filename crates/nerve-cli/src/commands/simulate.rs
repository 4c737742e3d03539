//! `simulate`: a daemon's workload, driven by a pool of workers.
//!
//! Each run is queued; a few are dropped at admission; the rest start and converse round
//! by round in their thread (a user message, a tool call logged by the worker, the
//! assistant's answer); some produce an artefact kept as a blob; some crash and are
//! resumed, continuing their thread from its last round; most complete, some fail, and a
//! few are left in flight, as a daemon stopped at any moment would leave them. Every step
//! is its own commit, as in the daemon.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use nerve_store::{
    NewLogEntry, RunTransition, Store, ThreadMessage, WorkflowRunStatus, Write, WriteUnit, Written,
};
use serde::Serialize;
use serde_json::json;

use crate::cli::SimulateArgs;
use crate::error::{CliError, CliResult};
use crate::interrupt::Interrupt;
use crate::output::{Out, counted, human_bytes, human_duration, thousands};
use crate::progress;

const WORKFLOWS: [&str; 4] = ["summarise", "triage", "translate", "review"];

/// What the workers wrote, counted as they go.
#[derive(Default)]
struct Counts {
    entries: AtomicU64,
    transitions: AtomicU64,
    messages: AtomicU64,
    resumed: AtomicU64,
    blobs: AtomicU64,
    blob_bytes: AtomicU64,
    by_status: [AtomicU64; WorkflowRunStatus::ALL.len()],
}

impl Counts {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts a run that ended the simulation in `status`.
    fn ended(&self, status: WorkflowRunStatus) {
        if let Some(slot) = WorkflowRunStatus::ALL.iter().position(|s| *s == status) {
            Counts::add(&self.by_status[slot], 1);
        }
    }
}

/// What a simulation did, as `--json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    store: String,
    runs: u64,
    workers: u16,
    seed: u64,
    seconds: f64,
    runs_per_second: f64,
    entries_per_second: f64,
    entries: u64,
    transitions: u64,
    thread_messages: u64,
    resumed_after_crash: u64,
    blobs: u64,
    blob_bytes: u64,
    /// The status each simulated run ended in, by status (those with none left out).
    final_status: BTreeMap<&'static str, u64>,
    store_entries: u64,
    store_active_runs: u64,
}

/// How `simulate` opens its store: the durability and group commit it was asked to compare.
pub(crate) fn options(args: &SimulateArgs) -> nerve_store::OpenOptions {
    let mut options = nerve_store::OpenOptions::default();
    if let Some(durability) = args.durability {
        options = options.durability(durability);
    }
    options.group_commit(!args.no_group_commit)
}

pub(crate) fn run(store: &Store, args: &SimulateArgs, out: &mut Out) -> CliResult<()> {
    let seed = args.seed.unwrap_or_else(|| {
        let now = chrono::Utc::now().timestamp_micros() as u64;
        now ^ u64::from(std::process::id()).rotate_left(32)
    });
    let counts = Counts::default();
    let interrupt = Interrupt::catch()?;
    let started = Instant::now();
    let simulated = drive_workers(store, args, seed, &counts, &interrupt)?;
    let elapsed = started.elapsed();
    let report = report(store, args, seed, &counts, simulated, elapsed)?;
    if out.structured() {
        out.report(&report)?;
    } else {
        for line in lines(&report, &store.location, elapsed) {
            out.line(line)?;
        }
    }
    if interrupt.asked() {
        return Err(CliError::Interrupted {
            state: format!(
                "simulate stopped after {} of {} runs; every step of those runs is in the store",
                thousands(simulated),
                thousands(args.runs)
            ),
        });
    }
    Ok(())
}

/// Runs `args.runs` runs on `args.workers` threads until done or interrupted; returns how
/// many runs were simulated whole.
fn drive_workers(
    store: &Store,
    args: &SimulateArgs,
    seed: u64,
    counts: &Counts,
    interrupt: &Interrupt,
) -> CliResult<u64> {
    // Run ids number on from the runs the store holds (`run-000001` in a new store), so
    // that running again adds to the store, and the same store and seed give the same ids.
    let first = store.log.log_stats()?.runs.total() + 1;
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let bar = progress::bar(args.runs, "runs");
    let fixed = std::env::var_os(crate::time::SOURCE_DATE_EPOCH).is_some();
    let now = crate::time::now_utc().map_err(|reason| CliError::refused(reason, "unset it"))?;
    let worker = || -> CliResult<()> {
        let writes = Writes::new(store, counts, args.batch);
        let mut in_unit = 0;
        loop {
            // Asked to stop, a worker finishes the run it was on, never one half.
            let i = next.fetch_add(1, Ordering::Relaxed);
            if interrupt.asked() || i >= args.runs {
                return writes.flush();
            }
            let mut rng = Rng::new(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let clock = Clock::for_run(args.days, i, args.runs, now, fixed);
            drive_run(&writes, &format!("{:06}", first + i), &mut rng, &clock)?;
            in_unit += 1;
            if args.batch.is_some_and(|runs| in_unit >= runs) {
                writes.flush()?;
                in_unit = 0;
            }
            done.fetch_add(1, Ordering::Relaxed);
            bar.inc(1);
        }
    };
    let result = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.workers).map(|_| scope.spawn(worker)).collect();
        // Every worker is joined before the first error is taken.
        let outcomes: Vec<CliResult<()>> = workers
            .into_iter()
            .map(|worker| {
                worker.join().unwrap_or_else(|_| {
                    Err(CliError::refused(
                        "a simulation worker panicked",
                        "report this as a bug",
                    ))
                })
            })
            .collect();
        outcomes.into_iter().collect::<CliResult<()>>()
    });
    bar.finish_and_clear();
    result.map(|()| done.load(Ordering::Relaxed))
}

/// The report of a simulation of `simulated` runs that took `elapsed`, with what the store
/// holds after it.
fn report(
    store: &Store,
    args: &SimulateArgs,
    seed: u64,
    counts: &Counts,
    simulated: u64,
    elapsed: std::time::Duration,
) -> CliResult<Report> {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let entries = Counts::get(&counts.entries);
    Ok(Report {
        store: store.location.to_string(),
        runs: simulated,
        workers: args.workers,
        seed,
        seconds,
        runs_per_second: simulated as f64 / seconds,
        entries_per_second: entries as f64 / seconds,
        entries,
        transitions: Counts::get(&counts.transitions),
        thread_messages: Counts::get(&counts.messages),
        resumed_after_crash: Counts::get(&counts.resumed),
        blobs: Counts::get(&counts.blobs),
        blob_bytes: Counts::get(&counts.blob_bytes),
        final_status: WorkflowRunStatus::ALL
            .into_iter()
            .zip(&counts.by_status)
            .map(|(status, n)| (status.as_str(), Counts::get(n)))
            .filter(|(_, n)| *n > 0)
            .collect(),
        store_entries: store.log.log_stats()?.entries,
        store_active_runs: store.log.list_active_runs()?.len() as u64,
    })
}

/// The report for people.
fn lines(
    report: &Report,
    location: &nerve_store::Location,
    elapsed: std::time::Duration,
) -> Vec<String> {
    let statuses: Vec<String> = WorkflowRunStatus::ALL
        .into_iter()
        .filter_map(|status| {
            let n = report.final_status.get(status.as_str())?;
            Some(format!("{status} {}", thousands(*n)))
        })
        .collect();
    vec![
        format!(
            "simulated {} runs on {location} with {} in {} (seed {})",
            thousands(report.runs),
            counted(u64::from(report.workers), "worker", "workers"),
            human_duration(elapsed),
            report.seed
        ),
        format!(
            "  speed      {} runs/s, {} log entries/s",
            thousands(report.runs_per_second as u64),
            thousands(report.entries_per_second as u64)
        ),
        format!(
            "  wrote      {} log entries: {} run transitions, {} thread messages; {} blobs ({})",
            thousands(report.entries),
            thousands(report.transitions),
            thousands(report.thread_messages),
            thousands(report.blobs),
            human_bytes(report.blob_bytes)
        ),
        format!(
            "  statuses   {} ({} resumed after a crash)",
            statuses.join(", "),
            thousands(report.resumed_after_crash)
        ),
        format!(
            "the store now holds {} log entries; {} runs are in flight (what crash recovery would resume)",
            thousands(report.store_entries),
            thousands(report.store_active_runs)
        ),
    ]
}

/// Where a worker's writes go: each to the store as it is made, its own durable commit, as
/// the daemon does; or, with `--batch`, into one write unit committed every few runs.
struct Writes<'a> {
    store: &'a Store,
    counts: &'a Counts,
    unit: Option<std::cell::RefCell<WriteUnit>>,
}

impl<'a> Writes<'a> {
    fn new(store: &'a Store, counts: &'a Counts, batch: Option<u32>) -> Self {
        Writes {
            store,
            counts,
            unit: batch.map(|_| std::cell::RefCell::new(WriteUnit::new())),
        }
    }

    /// Commits `write` now, or adds it to the unit.
    fn write(&self, write: Write) -> CliResult<()> {
        match &self.unit {
            Some(unit) => unit.borrow_mut().push(write),
            None => {
                let written = self.store.log.write_unit(WriteUnit::new().with(write))?;
                self.count(&written);
            }
        }
        Ok(())
    }

    /// Commits the unit, if there is one and it holds anything.
    fn flush(&self) -> CliResult<()> {
        if let Some(unit) = &self.unit {
            let unit = std::mem::take(&mut *unit.borrow_mut());
            if !unit.is_empty() {
                let written = self.store.log.write_unit(unit)?;
                self.count(&written);
            }
        }
        Ok(())
    }

    fn count(&self, written: &[Written]) {
        for written in written {
            match written {
                Written::Transitioned(outcome) if outcome.is_applied() => {
                    Counts::add(&self.counts.transitions, 1);
                    Counts::add(&self.counts.entries, 1);
                }
                Written::Appended(_) => Counts::add(&self.counts.entries, 1),
                Written::ThreadMessage(_) => {
                    Counts::add(&self.counts.messages, 1);
                    Counts::add(&self.counts.entries, 1);
                }
                _ => {}
            }
        }
    }

    /// The last round of `thread`: the store's, or the unit's when it holds messages of it.
    fn last_round(&self, thread: &str) -> CliResult<Option<u32>> {
        let pending = self.unit.as_ref().and_then(|unit| {
            unit.borrow()
                .writes()
                .iter()
                .filter_map(|write| match write {
                    Write::ThreadMessage(message) if message.thread_id == thread => {
                        Some(message.round)
                    }
                    _ => None,
                })
                .max()
        });
        match pending {
            Some(round) => Ok(Some(round)),
            None => Ok(self.store.log.last_round(thread)?),
        }
    }
}

/// One run, from admission to where the dice leave it.
fn drive_run(writes: &Writes<'_>, id: &str, rng: &mut Rng, clock: &Clock) -> CliResult<()> {
    let counts = writes.counts;
    use WorkflowRunStatus::*;
    let run_id = format!("run-{id}");
    let thread_id = format!("thread-{id}");
    let workflow = WORKFLOWS[rng.below(WORKFLOWS.len() as u64) as usize];
    let transition = |to, detail: &str| -> CliResult<()> {
        let step = RunTransition::new(&run_id, workflow, to)
            .in_thread(&thread_id)
            .with_detail(detail);
        writes.write(Write::Transition(match clock.tick() {
            Some(at) => step.at(at),
            None => step,
        }))
    };
    let log = |source: &str, kind: &str, payload: String| -> CliResult<()> {
        let entry = NewLogEntry::new(source, kind, payload).with_ref(&run_id);
        writes.write(Write::Append(match clock.tick() {
            Some(ts) => entry.at(ts),
            None => entry,
        }))
    };

    transition(Queued, "admitted")?;
    log(
        "scheduler",
        "enqueue",
        json!({ "workflow": workflow, "priority": rng.below(5) }).to_string(),
    )?;
    let end = if rng.chance(4) {
        transition(Dropped, "queue full")?;
        Dropped
    } else {
        transition(Started, "worker picked it up")?;
        converse(writes, &thread_id, 1 + rng.below(3), rng, clock, &log)?;
        if rng.chance(10) {
            // The worker died; crash recovery finds the run active and resumes it, and the
            // thread continues from its last round.
            transition(Crashed, "worker lost")?;
            log("daemon", "recover", json!({ "run": run_id }).to_string())?;
            transition(Started, "resumed after a crash")?;
            Counts::add(&counts.resumed, 1);
            converse(writes, &thread_id, 1 + rng.below(2), rng, clock, &log)?;
        }
        if rng.chance(20) {
            // The blob first, then the entry that references it, as a daemon does: the
            // reference keeps it from garbage collection.
            let (digest, bytes) = write_artefact(writes, &run_id, rng)?;
            let entry = NewLogEntry::new(
                "worker",
                "artifact",
                json!({ "digest": digest, "bytes": bytes }).to_string(),
            )
            .with_ref(&run_id)
            .with_blobs([digest]);
            writes.write(Write::Append(match clock.tick() {
                Some(ts) => entry.at(ts),
                None => entry,
            }))?;
        }
        finish(rng, clock, &transition)?
    };
    counts.ended(end);
    Ok(())
}

/// How a started run ends: most complete, some fail, and a few recent ones are left in
/// flight, as a daemon stopped at that moment would leave them.
fn finish(
    rng: &mut Rng,
    clock: &Clock,
    transition: &dyn Fn(WorkflowRunStatus, &str) -> CliResult<()>,
) -> CliResult<WorkflowRunStatus> {
    use WorkflowRunStatus::*;
    Ok(match rng.below(100) {
        // Still running when the simulation stops.
        0..=2 if clock.recent => Started,
        3..=14 => {
            transition(Failed, "tool error")?;
            Failed
        }
        _ => {
            transition(Completed, "done")?;
            Completed
        }
    })
}

/// A run's artefact: 1–64 KiB of content kept as a blob; its digest and size.
fn write_artefact(
    writes: &Writes<'_>,
    run_id: &str,
    rng: &mut Rng,
) -> CliResult<(nerve_store::Digest, usize)> {
    let bytes = 1024 * (1 + rng.below(64)) as usize;
    let mut content = Vec::with_capacity(bytes);
    content.extend_from_slice(run_id.as_bytes());
    while content.len() < bytes {
        content.extend_from_slice(&rng.next().to_le_bytes());
    }
    let digest = writes.store.blobs.write(&content)?;
    Counts::add(&writes.counts.blobs, 1);
    Counts::add(&writes.counts.blob_bytes, content.len() as u64);
    Ok((digest, content.len()))
}

/// `rounds` rounds of conversation after the thread's last one: the user asks, the
/// worker logs a tool call, the assistant answers.
fn converse(
    writes: &Writes<'_>,
    thread_id: &str,
    rounds: u64,
    rng: &mut Rng,
    clock: &Clock,
    log: &dyn Fn(&str, &str, String) -> CliResult<()>,
) -> CliResult<()> {
    let first = writes.last_round(thread_id)?.map_or(1, |round| round + 1);
    for round in first..first + rounds as u32 {
        let length = 8 + rng.below(24);
        let question = words(rng, length);
        message(writes, thread_id, "user", round, &question, clock)?;
        log(
            "worker",
            "tool_call",
            json!({ "thread": thread_id, "round": round, "tool": "search", "ms": 20 + rng.below(400) })
                .to_string(),
        )?;
        let length = 40 + rng.below(120);
        let answer = words(rng, length);
        message(writes, thread_id, "assistant", round, &answer, clock)?;
    }
    Ok(())
}

fn message(
    writes: &Writes<'_>,
    thread_id: &str,
    role: &str,
    round: u32,
    text: &str,
    clock: &Clock,
) -> CliResult<()> {
    writes.write(Write::ThreadMessage(ThreadMessage {
        thread_id: thread_id.to_owned(),
        role: role.to_owned(),
        round,
        payload: json!({ "text": text }).to_string(),
        ts: clock.tick(),
    }))
}

/// The time of each step of one run: `None` (the store stamps it) unless the simulation
/// spreads its runs over past days or runs at a fixed time (`SOURCE_DATE_EPOCH`).
struct Clock {
    next: std::cell::Cell<Option<chrono::DateTime<chrono::Utc>>>,
    /// Whether the run starts within the last day: only such a run may still be in flight
    /// when the simulation stops, as in a daemon, whose runs last minutes, not days.
    recent: bool,
}

impl Clock {
    /// The clock of run `run` of `runs`: with `days`, it starts `(runs - run) / runs` of
    /// that span before `now`; at a `fixed` time without `days`, `run` milliseconds after it.
    fn for_run(
        days: Option<u32>,
        run: u64,
        runs: u64,
        now: chrono::DateTime<chrono::Utc>,
        fixed: bool,
    ) -> Self {
        const DAY_MILLIS: i64 = 86_400_000;
        let back = days.map(|days| {
            let span = i64::from(days) * DAY_MILLIS;
            span - span.saturating_mul(run as i64) / (runs.max(1) as i64)
        });
        let start = match back {
            Some(back) => Some(now - chrono::Duration::milliseconds(back)),
            None if fixed => Some(now + chrono::Duration::milliseconds(run as i64)),
            None => None,
        };
        Clock {
            next: std::cell::Cell::new(start),
            recent: back.is_none_or(|back| back <= DAY_MILLIS),
        }
    }

    /// This step's time, and the next one's a quarter of a second later.
    fn tick(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let now = self.next.get();
        self.next
            .set(now.map(|at| at + chrono::Duration::milliseconds(250)));
        now
    }
}

/// `n` words of filler text.
fn words(rng: &mut Rng, n: u64) -> String {
    const WORDS: [&str; 16] = [
        "the", "report", "shows", "revenue", "growth", "in", "each", "quarter", "with", "costs",
        "under", "plan", "and", "a", "risk", "noted",
    ];
    (0..n)
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// splitmix64: small, fast, and the same sequence for the same seed on every machine and
/// every release. Our own rather than `fastrand`, whose sequence for a seed is not promised
/// across its versions: `--seed` promises the same workload, and the README's figures rest
/// on it.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
