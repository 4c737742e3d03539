//! Errors for people: one line that says what is wrong and what to do about it.

use std::error::Error as _;
use std::fmt;
use std::io;

use nerve_store::StoreError;

/// The exit statuses of `nerve-store`, each a kind of failure a script can tell apart
/// (listed in `--help`; 2 is clap's, for a command line it cannot parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Any other failure.
    Failed = 1,
    /// What was asked for is not there: a store, a run, a thread, a meta key, a blob.
    NotFound = 3,
    /// Something stored is damaged: the file, a row, a blob, an archive line, a copy.
    Damaged = 4,
    /// Another process holds the store's lock.
    Locked = 5,
    /// The store, its folder or its files may not be read, entered or written by this user.
    PermissionDenied = 6,
    /// The store's server cannot be reached now (down, restarting, refusing connections):
    /// the same command may succeed later.
    Unavailable = 7,
    /// The store was not closed cleanly, and a reading command cannot recover it.
    NotClosedCleanly = 8,
    /// Stopped by Ctrl-C (SIGINT) or SIGTERM, at a step's end: the message says what
    /// state is left.
    Interrupted = 130,
}

/// What `--help` says of the exit statuses.
pub(crate) const EXIT_STATUSES: &str = "Exit status: 0 done; 1 failed; 2 a command line that does \
not parse; 3 not found (a store, run, thread, meta key or blob); 4 damaged (the store's file, a \
row, a blob, an archive file, a copy, an incomplete copy); 5 locked by another process; 6 permission denied (the store, its folder or its files may not be read, entered or written by this user); 7 the store's server is unavailable (try again later); 8 the store was not closed cleanly (the daemon's next open, or `nerve-store check`, recovers it); 130 interrupted by Ctrl-C (what state is left is said)";

/// The result of a command.
pub(crate) type CliResult<T> = Result<T, CliError>;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The store refused or failed.
    Store(StoreError),
    /// The command cannot do what was asked: `what` is wrong, `hint` says what to do.
    Refused {
        /// What is wrong.
        what: String,
        /// What to do about it.
        hint: String,
        /// Whether what is wrong is that something asked for is not there.
        missing: bool,
    },
    /// The command stopped because it was asked to (Ctrl-C): `state` says what is left.
    Interrupted {
        /// What was done, and what is left.
        state: String,
    },
    /// Reading or writing a file or a stream of the command's own (not the store's).
    Io {
        /// What the command was doing.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl CliError {
    /// A refusal with a hint.
    pub(crate) fn refused(what: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Refused {
            what: what.into(),
            hint: hint.into(),
            missing: false,
        }
    }

    /// A refusal because what was asked for (a store, a key, a blob, a thread) is not there.
    pub(crate) fn not_found(what: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Refused {
            what: what.into(),
            hint: hint.into(),
            missing: true,
        }
    }

    /// The exit status that says what kind of failure this is ([`Exit`]).
    pub(crate) fn exit(&self) -> Exit {
        match self {
            CliError::Refused { missing: true, .. } => Exit::NotFound,
            CliError::Interrupted { .. } => Exit::Interrupted,
            CliError::Store(err) => match err {
                StoreError::UnknownRun { .. }
                | StoreError::NoStore { .. }
                | StoreError::BlobFileMissing { .. } => Exit::NotFound,
                StoreError::Damaged { .. }
                | StoreError::Corrupt { .. }
                | StoreError::CorruptValue { .. }
                | StoreError::ArchiveLine { .. }
                | StoreError::ArchiveManifest { .. }
                | StoreError::ArchiveMismatch { .. }
                | StoreError::CopyMismatch { .. }
                | StoreError::IncompleteCopy { .. } => Exit::Damaged,
                StoreError::Interrupted { .. } => Exit::Interrupted,
                StoreError::Busy { .. } => Exit::Locked,
                StoreError::Unavailable { .. } => Exit::Unavailable,
                StoreError::NotClosedCleanly { .. } => Exit::NotClosedCleanly,
                StoreError::ReadOnly { .. } | StoreError::OpenedReadOnly { .. } => {
                    Exit::PermissionDenied
                }
                StoreError::Io { source, .. }
                    if source.kind() == io::ErrorKind::PermissionDenied =>
                {
                    Exit::PermissionDenied
                }
                _ => Exit::Failed,
            },
            CliError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                Exit::PermissionDenied
            }
            _ => Exit::Failed,
        }
    }

    /// An I/O error with what the command was doing.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }

    /// Whether the error is stdout closed by its reader (`| head`): not a failure.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        CliError::Store(err)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Store(err) => {
                // One line, whatever an engine put in its message.
                let text = err.to_string();
                write!(
                    f,
                    "{}",
                    text.split_whitespace().collect::<Vec<_>>().join(" ")
                )?;
                write_causes(f, err)?;
                if let Some(hint) = hint(err) {
                    write!(f, "; {hint}")?;
                }
                Ok(())
            }
            CliError::Refused { what, hint, .. } => write!(f, "{what}; {hint}"),
            CliError::Interrupted { state } => write!(f, "interrupted: {state}"),
            CliError::Io { context, source } => {
                write!(f, "{context}: {source}")?;
                if source.kind() == io::ErrorKind::PermissionDenied {
                    write!(f, "; check the file's permissions")?;
                }
                Ok(())
            }
        }
    }
}

/// The engine's errors under `err`, on the same line: `: cause: its cause`.
fn write_causes(f: &mut fmt::Formatter<'_>, err: &StoreError) -> fmt::Result {
    let mut cause = err.source();
    while let Some(next) = cause {
        let text = next.to_string();
        // One line, whatever the engine wrote.
        write!(
            f,
            ": {}",
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        )?;
        cause = next.source();
    }
    Ok(())
}

/// What a person can do about `err`.
fn hint(err: &StoreError) -> Option<String> {
    let hint = match err {
        StoreError::UnknownRun { .. } => "`nerve-store runs list` lists the store's runs",
        StoreError::NoStore { .. } => {
            "check --store (or NERVE_STORE); `nerve-store simulate` creates one to try things \
             on, and --create makes an empty one for a writing command"
        }
        StoreError::BlobFileMissing { .. } => {
            "restore it from a backup; every store is created with one"
        }
        StoreError::InvalidDigest { .. } => "`nerve-store blob ls` lists the digests there are",
        StoreError::NotAStore { .. } => {
            "check --store (or NERVE_STORE): it must name a store this program created, \
             or a path where none exists yet"
        }
        StoreError::SchemaTooNew { .. } => "open it with a newer nerve-store",
        StoreError::Busy { .. } => {
            "another process holds the store's lock (a daemon, or another nerve-store); \
             try again when it is done, or stop it first"
        }
        StoreError::ReadOnly { .. } => {
            "run as a user that may write it (the daemon's), or work on a copy"
        }
        StoreError::Poisoned { .. } => "check the disk, then run the command again",
        StoreError::ArchiveMismatch { .. } => {
            "restore those day files from a backup; a day not in the manifest is recorded as it \
             is by the next `nerve-store archive`"
        }
        StoreError::ArchiveManifest { .. } => {
            "restore the manifest from a backup, or move it aside and let the next \
             `nerve-store archive` record the day files as they are"
        }
        StoreError::NotClosedCleanly { .. } => {
            "the daemon's next open recovers it, or `nerve-store check` (which opens it for \
             writing) does"
        }
        StoreError::Unavailable { .. } => {
            "check that the server is running and reachable, then run the command again"
        }
        StoreError::Corrupt { .. } => {
            "`nerve-store blob verify --all` lists every damaged blob; restore them from a backup"
        }
        StoreError::CorruptValue { .. } | StoreError::Damaged { .. } => {
            "the file is damaged: `nerve-store check` says what else is; restore it from a backup"
        }
        StoreError::OpenedReadOnly { .. } => {
            "the command opened the store read-only; this is a bug of the command, report it"
        }
        StoreError::IncompleteCopy {
            path,
            source_location,
        } => {
            return Some(format!(
                "run the migrate or backup from {source_location} that made it again to finish \
                 it, or remove {} and its blob file",
                path.display()
            ));
        }
        StoreError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
            "check the permissions of the store's folder and files"
        }
        _ => return None,
    };
    Some(hint.to_owned())
}
