//! The redb handle of a store, and what happens to it after a failed write.
//!
//! redb latches its first I/O failure (a full disk, an I/O error): from then on every call
//! on that handle, reads included, fails with `PreviousIo`, because what reached the disk is
//! unknown. The store turns that into [`StoreError::Poisoned`], which says to reopen, and
//! keeps serving reads where it can: it closes the failed handle (releasing its locks) and
//! reads through a new handle on the same file, which sees the last commit that did reach
//! the disk: a read-only one, or, when redb wants the file repaired first (as after a
//! failed commit in the multi-process mode), one that repairs it, used for reads only.
//! Writes stay refused until the store is reopened.
//!
//! redb trusts a file that was shut down cleanly (the store does not read the whole file at
//! every open), and panics on some pages damaged behind its back. Every call into redb runs
//! in [`contain`], which turns such a panic into [`StoreError::Damaged`], without the panic
//! hook printing it, and poisons the handle as a failed write does. redb's transactions unwind cleanly (a write transaction
//! dropped by a panic marks the file for repair at its next open).

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, WriteTransaction};
use store_core::{StoreError, StoreResult};

use crate::error::{Context, engine_error};
use crate::open::{open_database, read_only_builder};
use crate::options::RedbOptions;

enum State {
    Open(Database),
    /// Opened read-only ([`RedbOptions::read_only`]): reads only, never poisoned by a write.
    ReadOnly(ReadOnlyDatabase),
    /// A snapshot's view ([`Engine::snapshot`]): every read in one read transaction.
    Snapshot(ReadTransaction),
    /// A write failed to reach the disk. `reader` is the handle reads go to once the failed
    /// one is closed and the file could be opened again (tried again at each read until then).
    Poisoned {
        cause: String,
        reader: Option<Reader>,
    },
}

/// A handle that serves reads after a failed write.
enum Reader {
    ReadOnly(ReadOnlyDatabase),
    Repaired(Database),
}

impl Reader {
    /// A new handle on the file at `path`, read-only if redb allows it, else one that
    /// repairs the file as it opens; `None` when neither opens (the failed handle is still
    /// in use, or the repair cannot write).
    fn open(path: &Path, options: &RedbOptions) -> Option<Reader> {
        match read_only_builder(options).open_read_only(path) {
            Ok(db) => Some(Reader::ReadOnly(db)),
            Err(_) => read_only_builder(options)
                .open(path)
                .ok()
                .map(Reader::Repaired),
        }
    }

    fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match self {
            Reader::ReadOnly(db) => db.begin_read(),
            Reader::Repaired(db) => db.begin_read(),
        }
    }
}

/// A store's redb database, shared by its threads.
pub(crate) struct Engine {
    path: PathBuf,
    options: RedbOptions,
    /// Written when the handle is replaced (poisoning) or needed alone (`compact`).
    state: RwLock<State>,
    /// Whether the file is sealed when this handle closes cleanly ([`crate::seal`]).
    seals: bool,
    /// This writer's word to readers that the file was checked ([`crate::seal::Vouch`]).
    vouch: Option<crate::seal::Vouch>,
}

impl Engine {
    /// Opens (or creates) the database at `path` and checks its schema; checks the whole
    /// file as it opens unless it is as this store left it ([`crate::seal`]).
    pub(crate) fn open(path: &Path, options: &RedbOptions) -> StoreResult<Self> {
        if options.store.read_only {
            let db = contain(path, "opening the file read-only", || {
                crate::open::open_read_only(path, options)
            })?;
            // redb checks pages only through a handle that may write. A file that is not as
            // the store left it at its last clean close, with no writer that checked it
            // holding it now, is read through whole before it is trusted: every table, every
            // value's checksum.
            if !crate::seal::is_sealed_or_vouched(path) {
                tracing::info!(
                    target: "nerve_store::open",
                    store = %path.display(),
                    "reading the whole file through: it is not as this store left it at its \
                     last clean close, and no writer that checked it has it open"
                );
                contain(path, "reading the whole file through", || {
                    crate::upgrade::read_whole_file(&db)
                })?;
            }
            return Ok(Engine {
                path: path.to_owned(),
                options: options.clone(),
                state: RwLock::new(State::ReadOnly(db)),
                seals: false,
                vouch: None,
            });
        }
        let mut checked = options.clone();
        if !options.verify_on_open && !crate::seal::is_sealed(path) && path.exists() {
            tracing::info!(
                target: "nerve_store::open",
                store = %path.display(),
                "checking the whole file: it is not as this store left it at its last clean close"
            );
        }
        checked.verify_on_open |= !crate::seal::is_sealed(path);
        let db = contain(path, "opening the file", || open_database(path, &checked))?;
        // Checked as it opened, or as the store left it: readers may trust it meanwhile.
        let vouch = crate::seal::vouch(path);
        Ok(Engine {
            path: path.to_owned(),
            options: options.clone(),
            state: RwLock::new(State::Open(db)),
            seals: true,
            vouch,
        })
    }

    /// A view of the file as it is now that reads one snapshot and never writes: one read
    /// transaction, held until the view drops.
    ///
    /// # Errors
    /// As [`Engine::begin_read`].
    pub(crate) fn snapshot(&self) -> StoreResult<Engine> {
        Ok(Engine {
            path: self.path.clone(),
            options: self.options.clone(),
            state: RwLock::new(State::Snapshot(self.begin_read()?)),
            seals: false,
            vouch: None,
        })
    }

    /// Opens the store at `path` through `backend` (the full-disk tests' seam).
    #[cfg(test)]
    pub(crate) fn open_on(
        path: &Path,
        options: &RedbOptions,
        backend: impl redb::StorageBackend,
    ) -> StoreResult<Self> {
        let db = crate::open::builder(options)
            .create_with_backend(backend)
            .context("opening through a test backend")?;
        crate::upgrade::check_or_create_schema(&db, path, &options.store.meta_when_created)?;
        Ok(Engine {
            path: path.to_owned(),
            options: options.clone(),
            state: RwLock::new(State::Open(db)),
            seals: false,
            vouch: None,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn opened_read_only(&self, operation: &'static str) -> StoreError {
        StoreError::OpenedReadOnly {
            path: self.path.clone(),
            operation,
        }
    }

    fn poisoned(&self, cause: &str) -> StoreError {
        StoreError::Poisoned {
            path: self.path.clone(),
            cause: cause.to_owned(),
        }
    }

    /// Runs `work` in one write transaction with `durability`, and commits it when `work`
    /// returns `Ok((value, true))`; with `Ok((value, false))` or an error the transaction is
    /// dropped, which aborts it, and nothing is written.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] after a failed write, or when this one fails to reach the
    /// disk; `work`'s errors; engine errors.
    pub(crate) fn write_if<T>(
        &self,
        context: &str,
        durability: redb::Durability,
        work: impl FnOnce(&WriteTransaction) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        contain(&self.path, context, || {
            let tx = self.begin_write(context, durability)?;
            let (value, commit) = work(&tx)?;
            if commit {
                tx.commit()
                    .map_err(|err| engine_error(format!("committing {context}"), err))?;
            }
            Ok(value)
        })
        .map_err(|err| self.check(err))
    }

    /// Begins a write transaction with `durability`.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] after a failed write; engine errors.
    fn begin_write(
        &self,
        context: &str,
        durability: redb::Durability,
    ) -> StoreResult<WriteTransaction> {
        let began = match &*self.state() {
            State::Open(db) => db
                .begin_write()
                .with_context(|| format!("starting a transaction for {context}")),
            State::ReadOnly(_) | State::Snapshot(_) => {
                return Err(self.opened_read_only("write"));
            }
            State::Poisoned { cause, .. } => return Err(self.poisoned(cause)),
        };
        let mut tx = began.map_err(|err| self.check(err))?;
        tx.set_durability(durability)
            .map_err(|err| {
                engine_error(
                    format!("setting the durability of {context}"),
                    redb::Error::from(err),
                )
            })
            .map_err(|err| self.check(err))?;
        Ok(tx)
    }

    /// Runs `work` on a snapshot. After a failed write, and once when the failure is met
    /// here, the snapshot comes from the read-only handle.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] when no handle can read the file any more; `work`'s errors.
    pub(crate) fn read<T>(
        &self,
        work: impl Fn(&ReadTransaction) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let pinned = match &*self.state() {
            State::Snapshot(tx) => Some(contain(&self.path, "reading a snapshot", || work(tx))),
            _ => None,
        };
        if let Some(result) = pinned {
            return result.map_err(|err| self.check(err));
        }
        let attempt = || {
            contain(&self.path, "reading", || {
                self.begin_read().and_then(|tx| work(&tx))
            })
        };
        match attempt() {
            Err(err) if self.latched(&err) => {
                let err = self.check(err);
                // Served by the read-only handle if there is one; its error otherwise.
                attempt().map_err(|_| err)
            }
            other => other.map_err(|err| self.check(err)),
        }
    }

    /// A snapshot to read from, for readers that outlive the call (a blob's reader).
    ///
    /// # Errors
    /// As [`Engine::read`].
    pub(crate) fn begin_read(&self) -> StoreResult<ReadTransaction> {
        let context = "starting a read transaction";
        self.retry_reader();
        match &*self.state() {
            State::Open(db) => db.begin_read().context(context),
            State::ReadOnly(db) => db.begin_read().context(context),
            State::Snapshot(_) => Err(StoreError::invalid(
                "snapshot",
                "a snapshot's reads run inside it; it starts no transaction of its own",
            )),
            State::Poisoned {
                reader: Some(reader),
                ..
            } => reader.begin_read().context(context),
            State::Poisoned { cause, .. } => Err(self.poisoned(cause)),
        }
    }

    /// After a failed write whose handle could not be replaced yet, tries again.
    fn retry_reader(&self) {
        if !matches!(&*self.state(), State::Poisoned { reader: None, .. }) {
            return;
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if let State::Poisoned { reader, .. } = &mut *state
            && reader.is_none()
        {
            *reader = Reader::open(&self.path, &self.options);
        }
    }

    /// Runs `work` with the writable database to itself (redb's `compact` needs `&mut`);
    /// `operation` names it for a store opened read-only.
    ///
    /// # Errors
    /// [`StoreError::OpenedReadOnly`] for a store opened read-only; [`StoreError::Poisoned`]
    /// after a failed write; `work`'s errors.
    pub(crate) fn exclusive<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Database) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let result = {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            match &mut *state {
                State::Open(db) => contain(&self.path, "working on the whole file", || work(db)),
                State::ReadOnly(_) | State::Snapshot(_) => {
                    return Err(self.opened_read_only(operation));
                }
                State::Poisoned { cause, .. } => return Err(self.poisoned(cause)),
            }
        };
        result.map_err(|err| self.check(err))
    }

    /// Whether `err` is redb's latched I/O failure, or the I/O failure that latches it, or
    /// damage redb gave up on: what poisons the handle.
    fn latched(&self, err: &StoreError) -> bool {
        let source = match err {
            StoreError::Damaged { .. } => return true,
            StoreError::Backend { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.downcast_ref::<redb::Error>(),
            Some(redb::Error::Io(_) | redb::Error::PreviousIo)
        )
    }

    /// `err` as the caller gets it: when it is an I/O failure that redb has latched, the
    /// handle is poisoned (closed, and replaced by a read-only one) and the error is
    /// [`StoreError::Poisoned`], naming the failure. Damage poisons the handle the same way,
    /// and the caller gets the [`StoreError::Damaged`] that says what was found.
    pub(crate) fn check(&self, err: StoreError) -> StoreError {
        if !self.latched(&err) {
            return err;
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if let State::Poisoned { cause, .. } = &*state {
            return match err {
                StoreError::Damaged { .. } => err,
                _ => self.poisoned(cause),
            };
        }
        let cause = error_chain(&err);
        // Closing the failed handle releases its file locks, which a read-only handle needs.
        close(std::mem::replace(
            &mut *state,
            State::Poisoned {
                cause: cause.clone(),
                reader: None,
            },
        ));
        let reader = Reader::open(&self.path, &self.options);
        *state = State::Poisoned {
            cause: cause.clone(),
            reader,
        };
        match err {
            StoreError::Damaged { .. } => err,
            _ => self.poisoned(&cause),
        }
    }
}

impl Drop for Engine {
    /// Closes the file. redb writes as it closes, and on a damaged file that can panic:
    /// the panic stays in [`close`], since a store never panics on a damaged file (and a
    /// panic from a drop during another panic aborts the program).
    fn drop(&mut self) {
        let state = std::mem::replace(
            self.state.get_mut().unwrap_or_else(|p| p.into_inner()),
            State::Poisoned {
                cause: String::new(),
                reader: None,
            },
        );
        let clean = matches!(state, State::Open(_));
        let vouch = self.vouch.take();
        if close(state) && clean && self.seals {
            match vouch {
                Some(vouch) => crate::seal::seal_vouched(&self.path, vouch),
                None => crate::seal::seal(&self.path),
            }
        } else if self.seals && vouch.is_none() {
            crate::seal::break_seal(&self.path);
        }
        // An unclean close with a vouch leaves the seal file marked open: not sealed, and
        // unlocked once the vouch drops here, so readers no longer trust the file.
    }
}

/// Closes the handles of `state`, a panic of redb's while closing a damaged file included;
/// whether they closed without one, and without an error.
fn close(state: State) -> bool {
    store_core::kit::catch_quietly(move || match state {
        State::Open(db) => db.close().is_ok(),
        State::ReadOnly(db) => db.close().is_ok(),
        State::Snapshot(tx) => tx.close().is_ok(),
        State::Poisoned { .. } => {
            drop(state);
            false
        }
    })
    .unwrap_or(false)
}

/// Runs `work` (calls into redb on the file at `path`), and turns redb's report of a
/// corrupted file, and a panic in it, into [`StoreError::Damaged`]: redb panics on some
/// pages damaged behind its back rather than report them. `doing` says what the call was
/// for.
pub(crate) fn contain<T>(
    path: &Path,
    doing: &str,
    work: impl FnOnce() -> StoreResult<T>,
) -> StoreResult<T> {
    let damaged = |detail| StoreError::Damaged {
        path: path.to_owned(),
        backend: "redb",
        detail,
    };
    match store_core::kit::catch_quietly(work) {
        Ok(Err(StoreError::Backend {
            backend: "redb",
            context,
            source,
        })) => Err(match source.downcast_ref::<redb::Error>() {
            Some(redb::Error::Corrupted(found)) => damaged(format!("{found} (while {context})")),
            _ => StoreError::Backend {
                backend: "redb",
                context,
                source,
            },
        }),
        Ok(result) => result,
        Err(panic) => Err(damaged(format!(
            "redb gave up while {doing}: {}",
            panic_message(&*panic)
        ))),
    }
}

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// An error and its sources as one sentence.
fn error_chain(err: &StoreError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
