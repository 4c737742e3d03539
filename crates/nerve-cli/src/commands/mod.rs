//! One module per command; [`run`] dispatches.

mod archive;
mod backup;
mod blob;
mod check;
mod compact;
mod gc;
mod logs;
mod man;
mod meta;
mod migrate;
mod runs;
mod serve;
mod simulate;
mod stats;
mod thread;

use nerve_store::{Location, OpenOptions, Store};

use crate::cli::{BlobCommand, Cli, Command, LogsCommand, MetaCommand};
use crate::error::{CliError, CliResult};
use crate::output::Out;

/// Runs the command `cli` names.
pub(crate) fn run(cli: Cli) -> CliResult<()> {
    let format = if cli.json {
        crate::output::Format::Json
    } else {
        cli.format
    };
    let mut out = Out::new(format, cli.quiet);
    if cli.quiet {
        crate::progress::quiet();
    }
    let store = cli.store.as_str();
    let _ = BLOBS.set(cli.blobs.clone());
    match cli.command {
        Command::Simulate(args) => {
            let opened = nerve_store::open_with(store, &with_blobs(simulate::options(&args))?)?;
            simulate::run(&opened, &args, &mut out)
        }
        Command::Logs(command @ LogsCommand::Append { .. }) => {
            logs::run(&open_for_writing(store, cli.create)?, command, &mut out)
        }
        Command::Logs(command) => logs::run(&open_to_read(store)?, command, &mut out),
        Command::Runs(command) => runs::run(&open_to_read(store)?, command, &mut out),
        Command::Thread(command) => thread::run(&open_to_read(store)?, command, &mut out),
        Command::Meta(command) => {
            let store = match command {
                MetaCommand::Set { .. } => open_for_writing(store, cli.create)?,
                MetaCommand::Delete { .. } => open_existing(store)?,
                MetaCommand::Get { .. } | MetaCommand::Ls => open_to_read(store)?,
            };
            meta::run(&store, command, &mut out)
        }
        Command::Archive(args) => archive::run(store, args, &mut out),
        Command::Blob(command) => {
            let store = match command {
                BlobCommand::Put { .. } => open_for_writing(store, cli.create)?,
                BlobCommand::Get { .. }
                | BlobCommand::Ls
                | BlobCommand::Refs { .. }
                | BlobCommand::Verify { .. } => open_to_read(store)?,
            };
            blob::run(&store, command, &mut out)
        }
        Command::Stats => stats::run(&open_to_read(store)?, &mut out),
        Command::Serve(args) => serve::run(open_to_read(store)?, &args, &mut out),
        // redb checks its pages only through a handle that may write (its check may repair
        // what it finds); SQLite and PostgreSQL check read-only.
        Command::Check if store_location_is_redb(store) => {
            check::run(&open_existing(store)?, &mut out)
        }
        Command::Check => check::run(&open_to_read(store)?, &mut out),
        Command::Compact => compact::run(&open_existing(store)?, &mut out),
        Command::Completions { shell } => completions(shell),
        Command::Man { command, dir } => match dir {
            Some(dir) => man::write_all(&dir, &mut out),
            None => man::print(&command),
        },
        Command::Gc(args) => gc::run(store, &args, &mut out),
        Command::Migrate(args) => migrate::run(&args, &mut out),
        Command::Backup { to } => backup::run(store, &to, &mut out),
    }
}

/// The completion script for `shell`, to standard output. Generated into memory first: the
/// generator panics on a write error, and a reader that stops early (`| head`) is not one.
fn completions(shell: clap_complete::Shell) -> CliResult<()> {
    let mut script = Vec::new();
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "nerve-store", &mut script);
    print_bytes(&script, "writing the completion script")
}

/// Writes `bytes` to standard output.
pub(crate) fn print_bytes(bytes: &[u8], context: &str) -> CliResult<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(CliError::io(context))
}

/// Whether `location` names a redb store (whose check needs a handle that may write).
fn store_location_is_redb(location: &str) -> bool {
    location
        .parse::<Location>()
        .is_ok_and(|parsed| parsed.backend == nerve_store::Backend::Redb)
}

/// The blob location every open of `--store` uses (`--blobs`, `NERVE_BLOBS`): set once, as
/// the command starts.
static BLOBS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// `options` keeping the blobs where `--blobs` says, if it says.
fn with_blobs(options: OpenOptions) -> CliResult<OpenOptions> {
    match BLOBS.get().and_then(Option::as_deref) {
        Some(blobs) => Ok(options.blobs_on(nerve_store::ObjectOptions::from_location(blobs)?)),
        None => Ok(options),
    }
}

/// Opens the store at `location`, which must exist, for a command that changes it: a
/// command that removes or maintains must not leave an empty store behind a mistyped path
/// (the library answers `NoStore`, or `BlobFileMissing` for a store without its blob file).
fn open_existing(location: &str) -> CliResult<Store> {
    let options = with_blobs(OpenOptions::default().create_if_missing(false))?;
    Ok(nerve_store::open_with(location, &options)?)
}

/// Opens the store at `location`, which must exist, for a command that only reads: read-only,
/// so that it creates nothing, takes no lock the daemon waits for, and works for a user
/// who may not write the files.
fn open_to_read(location: &str) -> CliResult<Store> {
    let options = with_blobs(OpenOptions::default().read_only(true))?;
    Ok(nerve_store::open_with(location, &options)?)
}

/// Opens the store at `location` for a command that writes: an existing store, or a new one
/// at the default location or when `create` was asked for.
fn open_for_writing(location: &str, create: bool) -> CliResult<Store> {
    let parsed: Location = location.parse()?;
    let default: Location = nerve_store::DEFAULT_LOCATION.parse()?;
    if create || (parsed.existing_file().is_none() && parsed == default) {
        return open(location);
    }
    open_existing(location)
}

/// Opens the store at `location` with the backend's defaults, creating it if missing.
fn open(location: &str) -> CliResult<Store> {
    Ok(nerve_store::open_with(
        location,
        &with_blobs(OpenOptions::default())?,
    )?)
}

/// Opens the store of `--store` at `location`, which must exist, for a command that reads
/// the log through once: a small page cache, since a daemon's large one would only fill up;
/// read-only when it only reads; its blobs where `--blobs` says.
fn open_for_batch(location: &str, read_only: bool) -> CliResult<Store> {
    open_other_for_batch(location, read_only, with_blobs(OpenOptions::default())?)
}

/// [`open_for_batch`] for a store other than `--store` (a copy's source), starting from
/// `options`.
fn open_other_for_batch(location: &str, read_only: bool, options: OpenOptions) -> CliResult<Store> {
    const BATCH_CACHE_BYTES: usize = 8 << 20;
    let mut options = options.create_if_missing(false).read_only(read_only);
    let location: Location = location.parse()?;
    // A server's cache is the server's: PostgreSQL refuses the option.
    if !location.is_server() {
        options = options.cache_bytes(BATCH_CACHE_BYTES);
    }
    Ok(nerve_store::open_location(&location, &options)?)
}
