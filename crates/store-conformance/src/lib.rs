//! The conformance suite: the contract of `docs/SPEC.md` as plain functions that every backend,
//! and the reference model [`MemoryLogStore`](store_core::MemoryLogStore), runs.
//!
//! It is a crate of its own so that `store-core` holds the contract only: a backend takes this
//! crate as a dev-dependency (and behind its `conformance` feature, for the harness it lends to
//! the tests of the crates above it).
//!
//! A backend hands the suite one [`Harness`]: how to open its store in a folder (fresh the
//! first time, again for the cases that reopen it), and how to damage what it stored behind
//! its back. Its `tests/conformance.rs` calls
//! [`log_store_conformance!`](crate::log_store_conformance) once with it and gets one
//! `#[test]` per case, so a failure names its case and no backend can miss one; blob stores
//! do the same with a [`BlobHarness`] and
//! [`blob_store_conformance!`](crate::blob_store_conformance). Most cases need only the
//! opening, an [`OpenStore`]; the cases in [`damage`] take the harness itself.
//!
//! Tests of code built on a store (the archive, the facade, the CLI) name their backend the
//! same way: [`for_each_backend!`](crate::for_each_backend) repeats a set of tests per
//! backend, in a module named after it.

use std::path::Path;

use store_core::{LogBackend, LogEntry, LogQuery, StoreResult};

#[doc(hidden)]
pub use store_core as __core;

pub use fail_at::FailAt;
pub use faulty::{Fault, Faulty};
pub use harness::{BlobHarness, Harness};
pub use ids::IdRanks;
pub use unsynced::LosesUnsynced;

pub mod activity;
pub mod bad_input;
pub mod blobs;
pub mod damage;
pub mod edges;
mod fail_at;
mod faulty;
pub mod files;
mod harness;
mod ids;
pub mod import;
pub mod log;
pub mod maintenance;
pub mod meta;
pub mod model;
pub mod pages;
pub mod processes;
pub mod read_only;
pub mod restore;
pub mod runs;
pub mod servers;
pub mod threads;
pub mod time_order;
pub mod units;
mod unsynced;

/// Opens (or reopens) the store kept in the folder `dir`. The backend picks its file names
/// inside the folder; the folder exists and is empty the first time.
pub type OpenStore = fn(&Path) -> StoreResult<Box<dyn LogBackend>>;

/// A store in a temporary folder that a case can close and open again.
pub struct Fixture {
    open: OpenStore,
    store: Option<Box<dyn LogBackend>>,
    // Dropped last: the folder outlives the store.
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A fresh store in a new temporary folder.
    ///
    /// # Panics
    /// When the folder cannot be made or the store cannot be opened: the case cannot run.
    pub fn new(open: OpenStore) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the store");
        let store = open(dir.path()).expect("a fresh store opens");
        Fixture {
            open,
            store: Some(store),
            dir,
        }
    }

    /// The open store.
    pub fn store(&self) -> &dyn LogBackend {
        self.store
            .as_deref()
            .expect("the fixture holds an open store between reopens")
    }

    /// The folder the store lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Closes the store and opens it again from its files, as a restarted daemon would.
    ///
    /// # Panics
    /// When the store does not open again.
    pub fn reopen(&mut self) {
        drop(self.store.take());
        self.store = Some((self.open)(self.dir.path()).expect("the store opens again"));
    }
}

/// What `query` must return from a log holding `entries` (in id order): the reference
/// semantics of [`LogQuery`], written as plainly as possible (the in-memory store answers
/// with it).
pub fn reference_query(entries: &[LogEntry], query: &LogQuery) -> Vec<LogEntry> {
    store_core::kit::answer_query(entries, query)
}

/// Appends 200 entries in time order with some late ones among them (a time before an
/// entry already written), for tests of a file's migration: returns a time range over them
/// and the entries it must answer, as `LogQuery::matches` selects them.
pub fn append_late_entries(store: &dyn LogBackend) -> (LogQuery, Vec<LogEntry>) {
    let at = |minute: i64| chrono::DateTime::UNIX_EPOCH + chrono::Duration::minutes(minute);
    let batch = (0..200_i64)
        .map(|i| {
            let minute = if i % 5 == 2 { i - 30 } else { i };
            store_core::NewLogEntry::new("s", "k", format!("{i}")).at(at(minute))
        })
        .collect();
    let written = store.append_batch(batch).expect("entries");
    let range = LogQuery {
        since: Some(at(40)),
        until: Some(at(90)),
        limit: Some(usize::MAX),
        ..LogQuery::default()
    };
    let in_range = written.into_iter().filter(|e| range.matches(e)).collect();
    (range, in_range)
}

/// Every entry of the store, in id order.
///
/// # Panics
/// When the query fails.
pub fn all_entries(store: &dyn LogBackend) -> Vec<LogEntry> {
    store
        .query(&LogQuery {
            limit: Some(usize::MAX),
            ..LogQuery::default()
        })
        .expect("reading the whole log")
}

/// Everything a caller can observe of a store through its listings: the whole log, its
/// activity counts, every run, the active runs, the given threads round by round with their
/// last round, and every meta pair, as one text to compare two stores by.
///
/// # Panics
/// When the activity counts differ from those a walk of the log gives (`docs/SPEC.md`
/// section 1, activity), or a query by time answers other than the reference does over the
/// log: every case that compares stores checks them so.
pub fn observable_state(store: &dyn LogBackend, threads: &[&str]) -> String {
    let all_runs = store_core::RunQuery {
        limit: Some(usize::MAX),
        ..store_core::RunQuery::default()
    };
    let entries = all_entries(store);
    let mut seen = format!("log: {entries:?}\n");
    match store.activity(store_core::min_ts(), store_core::max_ts()) {
        Ok(counts) => {
            let walked = store_core::kit::count_entries(
                &entries,
                store_core::min_ts(),
                store_core::max_ts(),
            )
            .expect("a walk of the log");
            assert_eq!(
                counts, walked,
                "the activity counts are those of the log's entries"
            );
            seen += &format!("activity: {counts:?}\n");
        }
        Err(err) => seen += &format!("activity: {err}\n"),
    }
    assert_time_ranges_answer_the_log(store, &entries);
    seen += &format!("runs: {:?}\n", store.list_runs(&all_runs));
    seen += &format!("active: {:?}\n", store.list_active_runs());
    for thread in threads {
        let params = store_core::GetThreadRoundsParams {
            thread_id: (*thread).into(),
            limit: Some(usize::MAX),
            ..store_core::GetThreadRoundsParams::default()
        };
        seen += &format!("thread {thread}: {:?}\n", store.thread_rounds(&params));
        seen += &format!("last round {thread}: {:?}\n", store.last_round(thread));
    }
    seen += &format!("meta: {:?}\n", store.meta_entries());
    seen += &format!("stats: {:?}\n", store.log_stats());
    seen += &format!(
        "references: {:?}\n",
        store.blob_references(None, usize::MAX)
    );
    seen
}

/// Asserts that queries by time over the days `entries` (the whole log, in id order) spans
/// answer what the reference answers: each day whole and by halves, in both orders, and with
/// the source of its first entry; at most 40 days.
///
/// # Panics
/// When one answers otherwise.
pub fn assert_time_ranges_answer_the_log(store: &dyn LogBackend, entries: &[LogEntry]) {
    let mut days: Vec<_> = entries.iter().map(|e| e.ts.date_naive()).collect();
    days.sort_unstable();
    days.dedup();
    for day in days.into_iter().take(40) {
        let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
        let (middle, end) = (
            start + chrono::Duration::hours(12),
            start + chrono::Duration::days(1),
        );
        let first = entries.iter().find(|e| e.ts.date_naive() == day);
        for (since, until) in [(start, end), (start, middle), (middle, end)] {
            for order in [store_core::Order::Ascending, store_core::Order::Descending] {
                for source in [None, first.map(|e| e.source.clone())] {
                    let query = LogQuery {
                        since: Some(since),
                        until: Some(until),
                        source,
                        order,
                        limit: Some(usize::MAX),
                        ..LogQuery::default()
                    };
                    assert_eq!(
                        store.query(&query).expect("a query by time"),
                        reference_query(entries, &query),
                        "{query:?}"
                    );
                }
            }
        }
    }
}

/// Runs `call` on a thread of its own and returns its answer; panics, failing the case, if it
/// has not returned within 20 s, far longer than any call of a case takes: it hangs. (The
/// hung thread is left behind; the test process ends it.)
///
/// # Panics
/// When `call` hangs.
pub fn within_bound<T: Send + 'static>(what: &str, call: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(call());
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} did not return: it hangs"))
}

/// Makes a FIFO at `path` (with the system's `mkfifo`), for the cases that put one where a
/// file should be.
///
/// # Panics
/// When `mkfifo` cannot make it: the case cannot run.
pub fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Follows a cursor page by page until a page comes back empty, and returns every item in
/// the order seen. `fetch` gets the cursor of the previous page's last item (`None` first).
///
/// # Panics
/// After `max_pages` pages: a cursor that does not advance must fail the case, not hang it.
pub fn collect_pages<T, C>(
    max_pages: usize,
    mut fetch: impl FnMut(Option<C>) -> Vec<T>,
    cursor_of: impl Fn(&T) -> C,
) -> Vec<T> {
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..max_pages {
        let page = fetch(cursor.take());
        let Some(last) = page.last() else {
            return seen;
        };
        cursor = Some(cursor_of(last));
        seen.extend(page);
    }
    panic!("still paging after {max_pages} pages: the cursor does not advance");
}

/// Expands to one `#[test]` per case of the log-store suite. Call it once, at the top of a
/// backend's `tests/conformance.rs`, with the backend's [`Harness`] (a `&'static` value) and
/// the capabilities the backend has, each of which adds the cases that need it:
///
/// - `files`: the store lives in a file of its own in the folder (the cases damage it,
///   replace it with an empty file, a garbage file, notes);
/// - `processes`: a second process can open the store beside this one (the cases run the
///   test binary again as that process, and kill it while it creates a store).
///
/// ```text
/// store_conformance::log_store_conformance!(harness: &SqliteHarness, capabilities: [files, processes]);
/// ```
///
/// The form `in_memory: open` (an [`OpenStore`] function) runs every case that needs
/// neither a harness nor a capability: it is for the reference model, not for backends.
#[macro_export]
macro_rules! log_store_conformance {
    (harness: $harness:expr, capabilities: [$($capability:ident),* $(,)?]) => {
        fn __conformance_harness() -> &'static dyn $crate::Harness {
            $harness
        }
        fn __conformance_open(
            dir: &::std::path::Path,
        ) -> $crate::__core::StoreResult<::std::boxed::Box<dyn $crate::__core::LogBackend>> {
            __conformance_harness().open(dir)
        }
        $crate::__conformance_suite!();
        mod damage {
            $crate::__harness_cases!(damage:
                a_damaged_run_row_is_a_corrupt_value_naming_table_and_key,
                a_damaged_log_row_is_a_corrupt_value_and_other_rows_still_read,
                another_programs_database_is_refused_and_left_alone,
                a_newer_schema_is_refused_with_both_versions_and_nothing_is_lost,
            );
        }
        mod activity_upgrade {
            $crate::__harness_cases!(activity:
                an_older_store_gains_its_activity_counts_at_its_first_writable_open,
                a_count_changed_behind_the_stores_back_is_found_by_a_walk,
            );
        }
        mod read_only {
            $crate::__harness_cases!(read_only:
                a_read_only_store_reads_everything_and_refuses_every_write,
                a_read_only_open_creates_nothing,
                an_open_that_may_not_create_refuses_a_missing_store_and_opens_an_existing_one,
                a_read_only_open_of_an_older_schema_is_refused_and_changes_nothing,
                a_read_only_store_follows_a_writer_beside_it,
                a_read_only_store_sees_what_writers_that_came_and_went_wrote,
                a_snapshot_reads_the_store_as_it_was_while_writers_go_on,
            );
        }
        $( $crate::__conformance_capability!($capability); )*
    };
    (in_memory: $open:path) => {
        fn __conformance_open(
            dir: &::std::path::Path,
        ) -> $crate::__core::StoreResult<::std::boxed::Box<dyn $crate::__core::LogBackend>> {
            $open(dir)
        }
        $crate::__conformance_suite!();
    };
}

/// The cases a capability of [`log_store_conformance!`](crate::log_store_conformance) adds.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_capability {
    (files) => {
        $crate::__conformance_cases! {
            files {
                opening_creates_missing_folders,
                a_file_that_is_not_a_store_is_refused_and_left_alone,
                a_garbage_filled_file_is_an_error_not_a_panic,
                damage_in_the_middle_of_a_file_is_found_by_its_open_or_its_check,
                an_empty_file_becomes_a_store,
            }
        }
    };
    (processes) => {
        $crate::__conformance_cases! {
            processes {
                a_second_process_reads_and_writes_beside_this_one,
                a_store_killed_while_it_is_created_opens_fresh_or_whole,
                every_acknowledged_call_of_many_threads_survives_kill_9,
                a_cursor_reader_beside_writer_processes_misses_no_row_and_sees_none_twice,
            }
        }
    };
}

/// Cases that take the harness itself.
#[doc(hidden)]
#[macro_export]
macro_rules! __harness_cases {
    ($module:ident: $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::$module::$case(super::__conformance_harness())
            }
        )*
    };
}

/// Every case that needs only a way to open the store: what the model runs too.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_suite {
    () => {
        $crate::__conformance_cases! {
            log {
                ids_strictly_increase_in_commit_order,
                ids_are_never_reused_after_deletion_or_reopening,
                entries_survive_reopening,
                a_batch_is_all_or_nothing,
                an_empty_batch_is_a_no_op,
                concurrent_appends_lose_nothing,
                time_is_kept_to_the_millisecond,
                each_query_field_alone_matches_the_reference,
                every_combination_of_query_fields_matches_the_reference,
                cursors_page_through_a_large_result_without_gaps_or_repeats,
                time_ranges_match_the_reference_over_late_entries,
                long_time_ranges_page_like_the_reference_across_many_hours,
                limit_zero_default_and_huge,
                delete_days_removes_only_what_the_spans_cover,
            }
            runs {
                a_resume_counts_an_attempt_and_keeps_the_first_start,
                finished_at_is_set_by_a_final_status,
                each_applied_transition_is_logged_in_the_same_transaction,
                redelivered_transitions_change_nothing,
                a_refused_transition_changes_nothing,
                a_run_id_reused_for_another_workflow_or_thread_is_refused,
                a_transition_that_omits_workflow_and_thread_keeps_the_stored_ones,
                active_runs_are_listed_oldest_first_after_reopening,
                list_runs_filters_and_pages,
            }
            pages {
                every_matching_entry_is_fetched_page_by_page_in_both_orders,
                every_matching_run_is_fetched_page_by_page,
                every_message_of_a_thread_is_fetched_page_by_page,
                a_follower_yields_what_another_handle_commits,
            }
            threads {
                a_message_is_a_log_entry_indexed_by_thread_round_and_role,
                thread_messages_page_in_id_order,
                thread_rounds_by_round_then_id_filtered_by_role_and_first_round,
                last_round_is_the_highest_round,
                an_invalid_message_stores_nothing,
                deleting_a_day_removes_its_thread_rows,
            }
            meta {
                set_get_overwrite_and_delete,
                meta_survives_reopening,
                delete_days_writes_meta_in_the_same_transaction,
                an_empty_key_is_refused,
                meta_pages_in_key_order_from_a_cursor,
            }
            maintenance {
                a_day_pages_in_id_order_without_other_days,
                a_day_larger_than_a_page_streams_whole,
                next_log_day_walks_the_days_with_entries,
                log_stats_counts_entries_and_finds_the_first_and_last_day,
                log_stats_counts_runs_by_status_as_they_move,
                compact_keeps_every_entry_and_id,
                a_check_finds_a_sound_store_sound_and_changes_nothing,
            }
            activity {
                activity_counts_each_hours_entries_and_transitions_by_status,
                activity_follows_deletions_restores_and_reopening,
                activity_counts_a_big_transition_payload_in_and_out,
                activity_stays_exact_across_many_groups_of_writes,
            }
            import {
                a_copy_imported_into_an_empty_store_is_observably_the_same,
                an_import_that_would_reuse_an_id_or_a_run_writes_nothing,
            }
            restore {
                thread_rows_answer_the_messages_among_the_ids_asked,
                a_deleted_day_restored_is_back_exactly_once,
                a_restore_writes_only_what_the_store_does_not_hold,
                a_restore_that_does_not_fit_the_store_writes_nothing,
                a_restored_id_above_the_counter_is_never_given_again,
            }
            units {
                a_unit_commits_every_write_as_one_fact,
                a_refused_write_refuses_the_whole_unit,
                an_empty_unit_is_a_no_op,
                many_threads_each_get_the_answer_the_model_gives,
                write_units_answers_each_unit_as_its_own_call,
            }
            model {
                store_agrees_with_the_model,
            }
            bad_input {
                empty_strings_are_refused_or_stored_as_given,
                a_ten_mib_payload_round_trips,
                non_ascii_and_nul_round_trip_and_are_found,
                unknown_runs_and_threads_are_absent_not_errors,
                out_of_range_cursors_and_rounds_return_nothing,
            }
            edges {
                times_outside_the_kept_range_are_refused_at_every_entry_point,
                the_first_and_last_kept_times_work_with_every_day_function,
                bounds_finer_than_a_millisecond_compare_at_full_precision,
                ids_reach_i64_max_and_no_further,
                units_near_the_last_id_are_written_whole_or_refused_whole,
                the_largest_accepted_payload_round_trips_and_one_byte_more_is_refused,
            }
        }
        $crate::__transition_matrix!(__conformance_open);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($($module:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $module {
                $(
                    #[test]
                    fn $case() {
                        $crate::$module::$case(super::__conformance_open)
                    }
                )*
            }
        )*
    };
}

/// One test per (from, to) pair of the transition table: 8 starting points (no run yet and
/// the 7 statuses) times 7 targets.
#[doc(hidden)]
#[macro_export]
macro_rules! __transition_matrix {
    ($open:ident) => {
        mod transition {
            $crate::__transition_row!($open, from_no_run, None);
            $crate::__transition_row!($open, from_queued, Some(Queued));
            $crate::__transition_row!($open, from_started, Some(Started));
            $crate::__transition_row!($open, from_completed, Some(Completed));
            $crate::__transition_row!($open, from_failed, Some(Failed));
            $crate::__transition_row!($open, from_crashed, Some(Crashed));
            $crate::__transition_row!($open, from_interrupted, Some(Interrupted));
            $crate::__transition_row!($open, from_dropped, Some(Dropped));
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __transition_row {
    ($open:ident, $row:ident, $from:expr) => {
        mod $row {
            $crate::__transition_cell!($open, $from, to_queued, Queued);
            $crate::__transition_cell!($open, $from, to_started, Started);
            $crate::__transition_cell!($open, $from, to_completed, Completed);
            $crate::__transition_cell!($open, $from, to_failed, Failed);
            $crate::__transition_cell!($open, $from, to_crashed, Crashed);
            $crate::__transition_cell!($open, $from, to_interrupted, Interrupted);
            $crate::__transition_cell!($open, $from, to_dropped, Dropped);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __transition_cell {
    ($open:ident, $from:expr, $name:ident, $to:ident) => {
        #[test]
        fn $name() {
            #[allow(unused_imports)]
            use $crate::__core::WorkflowRunStatus::*;
            $crate::runs::transition_pair(super::super::$open, $from, $to);
        }
    };
}

/// Expands to one `#[test]` per (backend, case), in a module named after the backend, so
/// that a failure names its backend: what the tests of code built on a store (the archive,
/// the facade, the CLI) use instead of looping over backends inside one test. Each case is
/// a function of the crate taking what `=>` gives for the backend (a name, an open
/// function, a harness):
///
/// ```text
/// fn a_case(open: Open) { ... }
/// store_conformance::for_each_backend!(backends: { sqlite => open_sqlite, redb => open_redb },
///     cases: { a_case });
/// ```
#[macro_export]
macro_rules! for_each_backend {
    (backends: { $($backend:ident => $arg:expr),* $(,)? }, cases: $cases:tt) => {
        $( $crate::__backend_cases!($backend, $arg, $cases); )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __backend_cases {
    ($backend:ident, $arg:expr, { $($case:ident),* $(,)? }) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    super::$case($arg)
                }
            )*
        }
    };
}
