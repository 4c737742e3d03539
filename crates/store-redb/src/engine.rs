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

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, WriteTransaction};
use store_core::{StoreError, StoreResult};

use crate::error::{Context, engine_error};
use crate::open::{open_database, read_only_builder};
use crate::options::RedbOptions;

enum State {
    Open(Database),
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
}

impl Engine {
    /// Opens (or creates) the database at `path` and checks its schema.
    pub(crate) fn open(path: &Path, options: &RedbOptions) -> StoreResult<Self> {
        Ok(Engine {
            path: path.to_owned(),
            options: options.clone(),
            state: RwLock::new(State::Open(open_database(path, options)?)),
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
        crate::schema::check_or_create_schema(&db, path)?;
        Ok(Engine {
            path: path.to_owned(),
            options: options.clone(),
            state: RwLock::new(State::Open(db)),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
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
        let tx = self.begin_write(context, durability)?;
        let (value, commit) = work(&tx).map_err(|err| self.check(err))?;
        if commit {
            tx.commit()
                .map_err(|err| self.check(engine_error(format!("committing {context}"), err)))?;
        }
        Ok(value)
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
        match self.begin_read().and_then(|tx| work(&tx)) {
            Err(err) if self.latched(&err) => {
                let err = self.check(err);
                // Served by the read-only handle if there is one; its error otherwise.
                self.begin_read().and_then(|tx| work(&tx)).map_err(|_| err)
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

    /// Runs `work` with the writable database to itself (redb's `compact` needs `&mut`).
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] after a failed write; `work`'s errors.
    pub(crate) fn exclusive<T>(
        &self,
        work: impl FnOnce(&mut Database) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let result = {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            match &mut *state {
                State::Open(db) => work(db),
                State::Poisoned { cause, .. } => return Err(self.poisoned(cause)),
            }
        };
        result.map_err(|err| self.check(err))
    }

    /// Whether `err` is redb's latched I/O failure, or the I/O failure that latches it.
    fn latched(&self, err: &StoreError) -> bool {
        let StoreError::Backend { source, .. } = err else {
            return false;
        };
        matches!(
            source.downcast_ref::<redb::Error>(),
            Some(redb::Error::Io(_) | redb::Error::PreviousIo)
        )
    }

    /// `err` as the caller gets it: when it is an I/O failure that redb has latched, the
    /// handle is poisoned (closed, and replaced by a read-only one) and the error is
    /// [`StoreError::Poisoned`], naming the failure.
    pub(crate) fn check(&self, err: StoreError) -> StoreError {
        if !self.latched(&err) {
            return err;
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if let State::Poisoned { cause, .. } = &*state {
            return self.poisoned(cause);
        }
        let cause = error_chain(&err);
        // Closing the failed handle releases its file locks, which a read-only handle needs.
        *state = State::Poisoned {
            cause: cause.clone(),
            reader: None,
        };
        let reader = Reader::open(&self.path, &self.options);
        *state = State::Poisoned {
            cause: cause.clone(),
            reader,
        };
        self.poisoned(&cause)
    }
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
