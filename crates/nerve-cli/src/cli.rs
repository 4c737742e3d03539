//! The command line's grammar.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use nerve_store::WorkflowRunStatus;

use crate::output::Format;
use crate::paint::ColorChoice;

/// Look into a nerve store, archive it, and move it between backends.
#[derive(Debug, Parser)]
#[command(name = "nerve-store", version, after_help = crate::error::EXIT_STATUSES)]
pub(crate) struct Cli {
    /// Where the store lives: sqlite:PATH, redb:PATH, or a path ending in .db, .sqlite,
    /// .sqlite3 (SQLite) or .redb (redb). Blobs live beside it, in NAME.blobs.EXT.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "NERVE_STORE",
        default_value = nerve_store::DEFAULT_LOCATION,
        value_name = "LOCATION"
    )]
    pub(crate) store: String,

    /// Where the store's blobs live when not beside it: s3://BUCKET/PREFIX, reached as the
    /// AWS tools reach it (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    /// AWS_ENDPOINT_URL for a service other than AWS).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "NERVE_BLOBS",
        value_name = "LOCATION"
    )]
    pub(crate) blobs: Option<String>,

    /// Print one JSON object per line instead of tables (--format json).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "format"
    )]
    pub(crate) json: bool,

    /// How to print: aligned tables, JSON lines, or CSV (a header line first; a command that
    /// reports one thing prints its fields as one record, with raw values).
    #[arg(long, global = true,
        help_heading = "Global options", value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,

    /// No progress bars, and no notes after tables (that a list was cut short, that days
    /// are archived): only what was asked for, and errors.
    #[arg(long, short, global = true, help_heading = "Global options")]
    pub(crate) quiet: bool,

    /// Create the store if there is none at --store. Without it, a writing command (meta
    /// set, blob put) creates a store only at the default location, so that a mistyped
    /// --store is an error rather than a new empty store; simulate always may.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) create: bool,

    /// When to colour verdicts and errors: on a terminal without NO_COLOR (auto), always,
    /// or never.
    #[arg(long, global = true,
        help_heading = "Global options", value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub(crate) color: ColorChoice,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Drive a daemon's workload into the store (runs queued, started, resumed after a
    /// crash, completed or failed; thread messages round by round; blobs), then print what
    /// it stored and how fast.
    Simulate(SimulateArgs),
    /// Read the log.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// List and show workflow runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Show a thread's conversation.
    #[command(subcommand)]
    Thread(ThreadCommand),
    /// Read and change the store's meta keys.
    #[command(subcommand)]
    Meta(MetaCommand),
    /// Move old log days out to JSON-lines files (or, with `cat`, read them back).
    Archive(ArchiveArgs),
    /// Store, read, list and verify content-addressed blobs.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// What the store holds: entries, runs per status, days, archive watermark, file sizes.
    Stats,
    /// Serve the store's console: a read-only web view of its runs (by status, each with
    /// its state path), its log (filtered, a page at a time), its threads, with a JSON API
    /// under /api/. On loopback unless told otherwise; any other address needs a token.
    Serve(ServeArgs),
    /// Verify everything the store holds, reading all of it: the log's file (SQLite's
    /// integrity check, redb's page checksums), every blob, every archive file. Exits
    /// non-zero when anything is damaged. SQLite and PostgreSQL stores are checked
    /// read-only; redb's check needs to open the file for writing (it may repair redb's own
    /// bookkeeping), and recovers a file that was not closed cleanly
    Check,
    /// Give the space of deleted entries (archived days) back to the file system: SQLite
    /// VACUUM, redb compact. Keeps every entry and id; takes as long as rewriting the file
    Compact,
    /// Print the completion script of a shell, generated from this command line
    /// (`nerve-store completions bash > /etc/bash_completion.d/nerve-store`)
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page of the program or of one of its commands, in roff, generated from
    /// this command line (`nerve-store man logs query`), or write every page to a folder
    /// (`nerve-store man --dir /usr/local/share/man/man1`)
    Man {
        /// The command whose page to print (`logs query`); the program's when none.
        command: Vec<String>,
        /// Write the pages of the program and of every command to this folder, named as
        /// `man` finds them (`nerve-store-logs-query.1`), and print their paths.
        #[arg(long, value_name = "FOLDER", conflicts_with = "command")]
        dir: Option<PathBuf>,
    },
    /// Remove the blobs nothing references (no entry, run or meta value of the store, no
    /// day of its archive) that were last written longer ago than the grace period, and say
    /// what that freed. A writer that writes a blob and records its reference within the
    /// grace period never loses it
    Gc(GcArgs),
    /// Copy a whole store into a new one (usually of the other backend), verified.
    Migrate(MigrateArgs),
    /// Copy the store into new files while the daemon goes on writing it: one snapshot,
    /// blobs included, verified by content digest and checked by the engine
    Backup {
        /// Where the copy goes: new files (`PATH.db`, `redb:PATH`, ...); the blob file goes
        /// beside it.
        #[arg(long, value_name = "LOCATION")]
        to: String,
    },
}

/// `serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen: loopback by default (port 0 picks a free port and says which).
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDRESS:PORT")]
    pub(crate) address: std::net::SocketAddr,
    /// The token every request must carry (a browser opens the console once with
    /// `/?token=…`, or sends `Authorization: Bearer …`): needed for any address but
    /// loopback. From the environment only, so that it is not in the process list.
    #[arg(
        long = "token-from-env",
        env = "NERVE_CONSOLE_TOKEN",
        hide_env_values = true,
        hide = true
    )]
    pub(crate) token: Option<String>,
    /// The archive the console's archive pages show: a folder, or s3://BUCKET/PREFIX;
    /// `archive` beside the store's file by default.
    #[arg(long, value_name = "DIR|LOCATION")]
    pub(crate) archive_dir: Option<std::path::PathBuf>,
}

/// `gc`.
#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// How long an unreferenced blob is kept after its last write: `1d`, `12h`, `30m`.
    #[arg(long, default_value = "1d", value_name = "SPAN")]
    pub(crate) grace: String,
    /// List what would be removed, and remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// The archive whose days keep their entries' blobs: a folder, or s3://BUCKET/PREFIX;
    /// `archive` beside the store's file by default.
    #[arg(long, value_name = "DIR|LOCATION")]
    pub(crate) archive_dir: Option<PathBuf>,
    /// Remove blobs only archived days reference too.
    #[arg(long)]
    pub(crate) ignore_archive: bool,
    /// Collect even when the store records no reference at all (which removes every blob
    /// older than the grace period).
    #[arg(long)]
    pub(crate) without_references: bool,
}

/// `simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// How many workflow runs to drive.
    #[arg(long, default_value_t = 200)]
    pub(crate) runs: u64,
    /// How many runs are driven at once, as by a daemon's worker pool.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) workers: u16,
    /// The seed of the workload's choices: the same seed makes the same choices.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Spread the runs over the past DAYS days instead of stamping them now, so that the
    /// store holds history (for `archive` to move, say): run n of N starts N - n shares of
    /// the span ago, and its steps follow it a quarter of a second apart.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub(crate) days: Option<u32>,
    /// Commit each worker's writes as one write unit every RUNS runs instead of one commit
    /// per step: the fast way to fill a store with history for benches (blobs are still
    /// written, and synced, before the unit that names them).
    #[arg(long, value_name = "RUNS", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch: Option<u32>,
    /// What each commit survives: power-loss (the default), process-crash or deferred.
    #[arg(long, value_parser = parse_durability)]
    pub(crate) durability: Option<nerve_store::Durability>,
    /// Commit every write on its own instead of together with the writes of other workers
    /// (for comparing the two).
    #[arg(long)]
    pub(crate) no_group_commit: bool,
}

fn parse_durability(text: &str) -> Result<nerve_store::Durability, String> {
    text.parse()
        .map_err(|err: nerve_store::StoreError| err.to_string())
}

/// Filters shared by `logs query` and `logs tail`.
#[derive(Debug, Args)]
pub(crate) struct LogFilter {
    /// Only entries from this source.
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Only entries of this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) kind: Option<String>,
    /// Only entries about this reference (a run id, ...).
    #[arg(long = "ref", value_name = "REF")]
    pub(crate) ref_id: Option<String>,
    /// Only entries at or after this time: RFC 3339, a local date and time
    /// (`2026-12-01 10:00`), a date, `today`, `yesterday`, or a span back from now (`2h`,
    /// `-2h`, `7d`).
    #[arg(long, value_name = "TIME", value_parser = crate::time::time_arg, allow_hyphen_values = true)]
    pub(crate) since: Option<DateTime<Utc>>,
    /// Only entries before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = crate::time::time_arg, allow_hyphen_values = true)]
    pub(crate) until: Option<DateTime<Utc>>,
}

/// `logs`.
#[derive(Debug, Subcommand)]
pub(crate) enum LogsCommand {
    /// Entries matching every filter given, by id.
    Query {
        #[command(flatten)]
        filter: LogFilter,
        /// Only entries with an id above this one (the cursor of the next page).
        #[arg(long, value_name = "ID")]
        after: Option<u64>,
        /// Only entries with an id below this one.
        #[arg(long, value_name = "ID")]
        before: Option<u64>,
        /// At most this many entries.
        #[arg(long, default_value_t = nerve_store::DEFAULT_QUERY_LIMIT)]
        limit: usize,
        /// Newest first.
        #[arg(long)]
        desc: bool,
        /// Read the archived days of the range too (from the archive beside the store), in
        /// id order with the store's entries: one answer over the whole history.
        #[arg(long)]
        archive: bool,
        /// The archive `--archive` reads: a folder, or s3://BUCKET/PREFIX; `archive` beside
        /// the store's file by default.
        #[arg(long, value_name = "DIR|LOCATION", requires = "archive")]
        archive_dir: Option<PathBuf>,
    },
    /// Appends one entry, durably, and prints its id: an operator's marker, a script's
    /// note. It is committed when the command returns.
    Append {
        /// Who writes it.
        #[arg(long, default_value = "operator")]
        source: String,
        /// What kind of entry it is.
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// What it is about (a run id, ...).
        #[arg(long = "ref", value_name = "REF")]
        ref_id: Option<String>,
        /// The payload, usually JSON; `-` reads it from standard input.
        payload: String,
    },
    /// The last entries, and with --follow every entry appended after them, by any process.
    Tail {
        #[command(flatten)]
        filter: LogFilter,
        /// How many of the last entries to print first.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
        /// Keep printing entries as they are appended, until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// How often --follow looks for new entries, in milliseconds.
        #[arg(long, default_value_t = 250, value_name = "MS")]
        interval: u64,
    },
}

/// `runs`.
#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// Runs, oldest first (or newest first).
    List {
        /// Only runs in flight (queued or started): what crash recovery would resume.
        #[arg(long)]
        active: bool,
        /// Only runs in this status (may be given more than once).
        #[arg(long, value_name = "STATUS", value_parser = status_parser())]
        status: Vec<WorkflowRunStatus>,
        /// Only runs of this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Only runs of this thread.
        #[arg(long)]
        thread: Option<String>,
        /// Only runs created at or after this time (as `logs query --since` takes it).
        #[arg(long, value_name = "TIME", value_parser = crate::time::time_arg, allow_hyphen_values = true)]
        since: Option<DateTime<Utc>>,
        /// Only runs created before this time.
        #[arg(long, value_name = "TIME", value_parser = crate::time::time_arg, allow_hyphen_values = true)]
        until: Option<DateTime<Utc>>,
        /// Newest first.
        #[arg(long)]
        newest_first: bool,
        /// Only runs listed after this run (the cursor of the next page).
        #[arg(long, value_name = "RUN")]
        after: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = nerve_store::DEFAULT_QUERY_LIMIT)]
        limit: usize,
    },
    /// One run and everything the log holds about it.
    Show {
        /// The run's id.
        run: String,
        /// Read the run's entries from the archive too (the days it moved out of the
        /// store), in id order with the store's.
        #[arg(long)]
        archive: bool,
        /// The archive `--archive` reads: a folder, or s3://BUCKET/PREFIX; `archive` beside
        /// the store's file by default.
        #[arg(long, value_name = "DIR|LOCATION", requires = "archive")]
        archive_dir: Option<PathBuf>,
    },
}

/// `thread`.
#[derive(Debug, Subcommand)]
pub(crate) enum ThreadCommand {
    /// The conversation, round by round.
    Show {
        /// The thread's id.
        thread: String,
        /// Only messages of this role.
        #[arg(long)]
        role: Option<String>,
        /// Only rounds from this one on.
        #[arg(long, value_name = "N")]
        from_round: Option<u32>,
    },
}

/// `meta`.
#[derive(Debug, Subcommand)]
pub(crate) enum MetaCommand {
    /// Print a key's value.
    Get {
        /// The key.
        key: String,
    },
    /// Set a key's value.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Every key and value.
    Ls,
}

/// `archive`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ArchiveArgs {
    #[command(subcommand)]
    pub(crate) read: Option<ArchiveCommand>,
    /// The archive: a folder, or s3://BUCKET/PREFIX (credentials from the AWS_*
    /// environment), which runs write to directly so that no archived day stays on this
    /// host; `archive` beside the store's file by default.
    #[arg(long, value_name = "DIR|LOCATION")]
    pub(crate) dir: Option<PathBuf>,
    /// Keep this many days of the log in the store.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub(crate) retain_days: u32,
    /// Report what would move, and move nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Give the space of the archived entries back to the file system afterwards.
    #[arg(long)]
    pub(crate) vacuum: bool,
    /// Write new day files compressed with zstd (`YYYY-MM-DD.jsonl.zst`, which `zstdcat`
    /// reads); a day that has a file already keeps its form.
    #[arg(long)]
    pub(crate) compress: bool,
}

/// `archive cat`, `archive verify`, `archive drop`, `archive restore`, `archive push`,
/// `archive pull`.
#[derive(Debug, Subcommand)]
pub(crate) enum ArchiveCommand {
    /// Retire the archived days before a UTC day: their files are removed, and the manifest
    /// keeps their records. Only days whose files are what the manifest records are dropped;
    /// any other day before it refuses the whole drop.
    Drop {
        /// The first day kept, `2026-10-01`.
        #[arg(long, value_name = "DAY")]
        before: String,
        /// The archive: a folder, or s3://BUCKET/PREFIX (credentials from the AWS_*
        /// environment); `archive` beside the store's file by default.
        #[arg(long, value_name = "DIR|LOCATION")]
        dir: Option<PathBuf>,
    },
    /// Bring archived days back into the store, each entry under the id it had, with its
    /// thread row: exactly once (entries the store holds are passed over, so a rerun after
    /// an interruption writes the rest). Every day of the range is checked against the
    /// manifest first; a changed or missing day refuses the whole restore. The archive keeps
    /// the days; the next `archive` run moves them out again if they are old enough.
    Restore {
        /// The UTC day, `2026-10-01`, or the days FROM..TO (both included).
        #[arg(long, value_name = "DAY|FROM..TO")]
        day: String,
        /// The archive: a folder, or s3://BUCKET/PREFIX (credentials from the AWS_*
        /// environment); `archive` beside the store's file by default.
        #[arg(long, value_name = "DIR|LOCATION")]
        dir: Option<PathBuf>,
    },
    /// Check every day file against the archive's manifest (its checksum, entry count and
    /// ids); fails naming each day that was changed, is missing, cannot be read, or is not
    /// in the manifest.
    Verify {
        /// The archive: a folder, or s3://BUCKET/PREFIX (credentials from the AWS_*
        /// environment), each day read whole; `archive` beside the store's file by default.
        #[arg(long, value_name = "DIR|LOCATION", conflicts_with = "at")]
        dir: Option<PathBuf>,
        /// The archive (or a folder's replica) at s3://BUCKET/PREFIX: the same as
        /// `--dir s3://BUCKET/PREFIX`.
        #[arg(long, value_name = "LOCATION")]
        at: Option<String>,
    },
    /// Copy the archive to a replica on object storage (s3://BUCKET/PREFIX, credentials
    /// from the AWS_* environment): the days it does not hold as the manifest records them,
    /// then the manifest, then the removal of days dropped here. Killed at any moment, the
    /// replica's manifest vouches for what it holds; a rerun finishes.
    Push {
        /// The replica: s3://BUCKET/PREFIX.
        #[arg(long, value_name = "LOCATION")]
        to: String,
        /// The archive's folder: `archive` beside the store's file by default.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Copy the archive's replica on object storage into the archive's folder (a host that
    /// lost its folder, or another host): each day checked against the manifest before it
    /// is put in place, the manifest last.
    Pull {
        /// The replica: s3://BUCKET/PREFIX.
        #[arg(long, value_name = "LOCATION")]
        from: String,
        /// The archive's folder: `archive` beside the store's file by default.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print archived entries of the UTC days FROM..TO (both included), or of one day.
    Cat {
        /// `2026-10-01..2026-10-07`, or `2026-10-01`.
        #[arg(value_name = "FROM..TO")]
        days: String,
        /// The archive: a folder, or s3://BUCKET/PREFIX (credentials from the AWS_*
        /// environment); `archive` beside the store's file by default.
        #[arg(long, value_name = "DIR|LOCATION")]
        dir: Option<PathBuf>,
    },
}

/// `blob`.
#[derive(Debug, Subcommand)]
pub(crate) enum BlobCommand {
    /// Store a file's content (or standard input's, with `-`) and print its digest.
    Put {
        /// The file, or `-` for standard input.
        file: PathBuf,
    },
    /// Write a blob's content to standard output or a file, verified.
    Get {
        /// The blob's digest.
        digest: String,
        /// Write to this file instead of standard output (only once the whole blob is
        /// verified).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Every blob, with its size.
    Ls,
    /// What references a blob: log entries, runs and meta values of the store, and the days
    /// of its archive; what garbage collection keeps it for.
    Refs {
        /// The blob's digest.
        digest: String,
        /// The archive: a folder, or s3://BUCKET/PREFIX (credentials from the AWS_*
        /// environment); `archive` beside the store's file by default.
        #[arg(long, value_name = "DIR|LOCATION")]
        archive_dir: Option<PathBuf>,
    },
    /// Re-hash a blob, or every blob with --all; fails when one does not match its digest.
    Verify {
        /// The blob's digest.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        digest: Option<String>,
        /// Every blob in the store.
        #[arg(long)]
        all: bool,
    },
}

/// `migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The store to copy (it is only read).
    #[arg(long, value_name = "LOCATION")]
    pub(crate) from: String,
    /// The new store to copy into: a path where no store exists yet, or an empty store.
    #[arg(long, value_name = "LOCATION")]
    pub(crate) to: String,
}

/// `--status`: one of the statuses by name, listed in `--help` and in the completions.
fn status_parser() -> impl clap::builder::TypedValueParser<Value = WorkflowRunStatus> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(WorkflowRunStatus::ALL.map(|status| status.as_str()))
        .try_map(|name| name.parse::<WorkflowRunStatus>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }
}
