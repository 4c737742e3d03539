//! One writer connection and a pool of readers.
//!
//! WAL lets readers run beside the writer, so reads never wait for the writer's lock: they
//! take an idle reader connection (or open one) and give it back when done.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;
use store_core::{StoreError, StoreResult};

use crate::options::SqliteOptions;
use crate::schema;

/// Room for every query shape the store builds: the log query alone has a few dozen.
const STATEMENT_CACHE_CAPACITY: usize = 128;

pub(crate) struct Connections {
    path: PathBuf,
    options: SqliteOptions,
    writer: Mutex<Connection>,
    idle_readers: Mutex<Vec<Connection>>,
}

impl Connections {
    pub(crate) fn open(path: &Path, options: SqliteOptions) -> StoreResult<Self> {
        let writer = schema::open_writer(path, &options).map_err(|err| read_only(path, err))?;
        writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(Connections {
            path: path.to_owned(),
            options,
            writer: Mutex::new(writer),
            idle_readers: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The writer connection, held exclusively until the guard drops. A panic in another
    /// thread while it held the lock leaves no half-done transaction behind (SQLite rolls an
    /// unfinished one back when its `Transaction` drops), so a poisoned lock is taken over.
    pub(crate) fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A read connection, returned to the pool when the guard drops.
    pub(crate) fn reader(&self) -> StoreResult<Reader<'_>> {
        let idle = self
            .idle_readers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = schema::open_reader(&self.path, &self.options)?;
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
                conn
            }
        };
        Ok(Reader {
            pool: self,
            conn: Some(conn),
        })
    }
}

pub(crate) struct Reader<'a> {
    pool: &'a Connections,
    conn: Option<Connection>,
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // `conn` is `Some` from construction until `drop` takes it.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("reader used after drop"))
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self
                .pool
                .idle_readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if idle.len() < self.pool.options.max_idle_readers {
                idle.push(conn);
            }
        }
    }
}

/// An open that failed because SQLite may not write the file (or create its `-wal` and
/// `-shm` beside it) as [`StoreError::ReadOnly`]; any other error as it is.
fn read_only(path: &Path, err: StoreError) -> StoreError {
    match err {
        StoreError::Backend { source, .. }
            if source
                .downcast_ref::<rusqlite::Error>()
                .and_then(rusqlite::Error::sqlite_error_code)
                == Some(rusqlite::ErrorCode::ReadOnly) =>
        {
            StoreError::ReadOnly {
                path: path.to_owned(),
                source,
            }
        }
        err => err,
    }
}
