//! Opening a store's file: its connections set up and checked (WAL, the pragmas read back
//! after they are set), one writer and a pool of readers.
//!
//! WAL lets readers run beside the writer, so reads never wait for the writer's lock: they
//! take an idle reader connection (or open one) and give it back when done.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use store_core::kit::{CommitQueue, PreparedUnit, UnitResult};
use store_core::{StoreError, StoreResult};

use crate::error::{Context, engine_error};
use crate::options::SqliteOptions;
use crate::schema::{check_identity, create_schema};

/// Room for every query shape the store builds: the log query alone has a few dozen.
const STATEMENT_CACHE_CAPACITY: usize = 128;

pub(crate) struct Connections {
    path: PathBuf,
    options: SqliteOptions,
    /// The one writer; `None` for a store opened read-only.
    writer: Option<CommitQueue<Connection>>,
    idle_readers: Mutex<Vec<Connection>>,
    /// For a store opened read-only while no connection had the file open: whether its
    /// readers still open it immutable ([`ReadMode`]).
    immutable: AtomicBool,
    /// The file as the idle immutable readers found it: an immutable connection keeps what
    /// it read (pages, the schema) as if the file could not change, so once a writer that
    /// came and went changed it, they are stale and are not used again.
    immutable_stamp: Mutex<Option<FileStamp>>,
    /// A snapshot's one connection, inside a read transaction that fixed what it sees
    /// ([`Connections::snapshot`]); every reader is this one.
    pinned: Option<Pinned>,
}

/// A snapshot's one connection: lent to one reader at a time, and waited for by the others.
struct Pinned {
    conn: Mutex<Option<Connection>>,
    returned: Condvar,
}

impl Pinned {
    fn take(&self) -> Connection {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = slot.take() {
                return conn;
            }
            slot = self.returned.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, conn: Connection) {
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
        self.returned.notify_one();
    }
}

impl Connections {
    pub(crate) fn open(path: &Path, options: SqliteOptions) -> StoreResult<Self> {
        if options.store.read_only {
            return Self::open_read_only(path, options);
        }
        let writer = open_writer(path, &options).map_err(|err| read_only(path, err))?;
        writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(Connections {
            path: path.to_owned(),
            writer: Some(CommitQueue::new(writer, options.store.group_commit)),
            idle_readers: Mutex::new(Vec::new()),
            options,
            immutable: AtomicBool::new(false),
            immutable_stamp: Mutex::new(None),
            pinned: None,
        })
    }

    /// Connections that read one snapshot of the file, as it is now, and never write:
    /// one reader connection inside a read transaction, begun and fixed by a first read.
    ///
    /// # Errors
    /// Engine errors opening or reading.
    pub(crate) fn snapshot(&self) -> StoreResult<Connections> {
        let conn = self.open_reader()?;
        conn.execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;")
            .context("starting a snapshot")?;
        Ok(Connections {
            path: self.path.clone(),
            options: self.options.clone(),
            writer: None,
            idle_readers: Mutex::new(Vec::new()),
            immutable: AtomicBool::new(false),
            immutable_stamp: Mutex::new(None),
            pinned: Some(Pinned {
                conn: Mutex::new(Some(conn)),
                returned: Condvar::new(),
            }),
        })
    }

    /// A store with readers only: nothing is created, no lock is taken that a writer would
    /// wait for, and the file (and its folder) may be read-only to this process.
    fn open_read_only(path: &Path, options: SqliteOptions) -> StoreResult<Self> {
        store_core::kit::check_store_path(path, "sqlite", &options.store)?;
        let conns = Connections {
            path: path.to_owned(),
            writer: None,
            idle_readers: Mutex::new(Vec::new()),
            immutable: AtomicBool::new(ReadMode::now(path) == ReadMode::Immutable),
            immutable_stamp: Mutex::new(None),
            options,
            pinned: None,
        };
        let first = conns.reader()?;
        if first.mode == ReadMode::Shared {
            // An immutable connection reads the file as if it had no journal at all.
            let mode: String = first
                .pragma_query_value(None, "journal_mode", |row| row.get(0))
                .context("reading journal_mode")?;
            expect_setting(path, "journal_mode", "wal", &mode.to_ascii_lowercase())?;
        }
        drop(first);
        Ok(conns)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The writer connection, held exclusively until the guard drops. A panic in another
    /// thread while it held the lock leaves no half-done transaction behind (SQLite rolls an
    /// unfinished one back when its `Transaction` drops), so a poisoned lock is taken over.
    ///
    /// # Errors
    /// [`StoreError::OpenedReadOnly`] for a store opened read-only.
    pub(crate) fn writer(
        &self,
        operation: &'static str,
    ) -> StoreResult<MutexGuard<'_, Connection>> {
        Ok(self.queue(operation)?.writer())
    }

    fn queue(&self, operation: &'static str) -> StoreResult<&CommitQueue<Connection>> {
        self.writer
            .as_ref()
            .ok_or_else(|| StoreError::OpenedReadOnly {
                path: self.path.clone(),
                operation,
            })
    }

    /// Commits `unit` with the units other threads submit at the same time, in one
    /// transaction and one sync (see [`CommitQueue`]), and returns what it wrote.
    pub(crate) fn submit(&self, unit: PreparedUnit) -> UnitResult {
        self.queue("write")?
            .submit(unit, crate::write::commit_group)
    }

    /// Commits `units` through the writer's queue, in groups with the calls queued beside
    /// them.
    pub(crate) fn submit_all(&self, units: Vec<PreparedUnit>) -> Vec<UnitResult> {
        match self.queue("write") {
            Ok(queue) => queue.submit_all(units, crate::write::commit_group),
            Err(err) => store_core::kit::fail_all(err, units.len()),
        }
    }

    /// A read connection, returned to the pool when the guard drops; a snapshot's own.
    pub(crate) fn reader(&self) -> StoreResult<Reader<'_>> {
        if let Some(pinned) = &self.pinned {
            return Ok(Reader {
                pool: self,
                conn: Connected::Pinned(Some(pinned.take())),
                mode: ReadMode::Shared,
                stamp: None,
            });
        }
        let mode = self.read_mode_now();
        let stamp = match mode {
            ReadMode::Shared => None,
            ReadMode::Immutable => Some(self.immutable_stamp_now()),
        };
        let idle = self
            .idle_readers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        Ok(Reader {
            pool: self,
            conn: Connected::Pooled(Some(conn)),
            mode,
            stamp,
        })
    }

    /// A new read connection, as this store's readers open the file now.
    fn open_reader(&self) -> StoreResult<Connection> {
        let conn = match &self.writer {
            Some(_) => open_reader(&self.path, &self.options)?,
            None => open_read_only_reader(&self.path, &self.options, self.read_mode_now())?,
        };
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(conn)
    }

    /// The file's stamp now, for an immutable reader: when it is not the one the idle
    /// immutable readers were opened at (a writer changed the file since, and closed it,
    /// its `-wal` gone again), those readers are dropped, and the reader opens the file
    /// anew.
    fn immutable_stamp_now(&self) -> FileStamp {
        let now = FileStamp::of(&self.path);
        let mut stamp = self
            .immutable_stamp
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if stamp.as_ref() != Some(&now) {
            self.idle_readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clear();
            *stamp = Some(now.clone());
        }
        now
    }

    /// How a new reader opens the file now. A store opened read-only while no connection
    /// had the file open reads it immutable, until a connection that may write opens it (its
    /// `-wal` file appears): from then on, new readers share the file as usual, and the
    /// immutable ones are closed as they come back to the pool.
    fn read_mode_now(&self) -> ReadMode {
        if !self.immutable.load(Ordering::Acquire) {
            return ReadMode::Shared;
        }
        if ReadMode::now(&self.path) == ReadMode::Shared {
            self.immutable.store(false, Ordering::Release);
            self.idle_readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clear();
            return ReadMode::Shared;
        }
        ReadMode::Immutable
    }
}

/// How a read-only store's reader opens the file.
///
/// SQLite's readers of a WAL file share its `-wal` and `-shm` files with the writer. When
/// no connection has the file open, those do not exist, and a read-only connection creates
/// them, and leaves them behind, or fails when the folder is read-only to it. So a
/// read-only store opens the file *immutable* while they are missing: SQLite then reads the
/// file alone, takes no lock and creates nothing. That is sound while nothing writes the
/// file; a writer that opens it makes its `-wal` appear first, and the store's next reader
/// shares the file with it (see [`Connections::read_mode_now`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadMode {
    Shared,
    Immutable,
}

impl ReadMode {
    fn now(path: &Path) -> ReadMode {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        if Path::new(&wal).exists() {
            ReadMode::Shared
        } else {
            ReadMode::Immutable
        }
    }
}

pub(crate) struct Reader<'a> {
    pool: &'a Connections,
    conn: Connected,
    mode: ReadMode,
    /// For an immutable reader: the file's stamp when it was handed out.
    stamp: Option<FileStamp>,
}

/// What the file is now, as far as an immutable reader's cache is concerned: its size, its
/// last change and its inode (a file replaced by a copy is another file). `None` when it
/// cannot be read: never equal to a stamp, so the readers open the file anew.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp(Option<(u64, std::time::SystemTime, u64)>);

impl FileStamp {
    fn of(path: &Path) -> FileStamp {
        use std::os::unix::fs::MetadataExt as _;
        FileStamp(
            std::fs::metadata(path)
                .ok()
                .and_then(|meta| Some((meta.len(), meta.modified().ok()?, meta.ino()))),
        )
    }
}

/// A reader's connection: one of the pool's, given back when the reader drops, or a
/// snapshot's one connection, held while the reader lives.
enum Connected {
    Pooled(Option<Connection>),
    Pinned(Option<Connection>),
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        let (Connected::Pooled(conn) | Connected::Pinned(conn)) = &self.conn;
        // `Some` from construction until `drop` takes it.
        conn.as_ref()
            .unwrap_or_else(|| unreachable!("reader used after drop"))
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Connected::Pinned(conn) = &mut self.conn
            && let (Some(conn), Some(pinned)) = (conn.take(), &self.pool.pinned)
        {
            pinned.give_back(conn);
        }
        if let Connected::Pooled(conn) = &mut self.conn
            && let Some(conn) = conn.take()
        {
            // The stamp's lock before the pool's, as `immutable_stamp_now` takes them: a
            // reader stale by a change seen meanwhile is not given back.
            let stamp_now = self
                .pool
                .immutable_stamp
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let changed = self
                .stamp
                .as_ref()
                .is_some_and(|stamp| stamp.0.is_none() || stamp_now.as_ref() != Some(stamp));
            let stale = changed
                || (self.mode == ReadMode::Immutable
                    && !self.pool.immutable.load(Ordering::Acquire));
            let mut idle = self
                .pool
                .idle_readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !stale && idle.len() < self.pool.options.max_idle_readers {
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

/// Opens the writer connection of the store at `path`: creates the file and its folders if
/// missing, refuses a file that is not a nerve-store or whose schema is newer, switches to
/// WAL, applies and checks the pragmas, and creates or checks the schema.
pub(crate) fn open_writer(path: &Path, options: &SqliteOptions) -> StoreResult<Connection> {
    store_core::kit::check_store_path(path, "sqlite", &options.store)?;
    store_core::kit::create_parent_folders(path)?;
    let new_file = !path.exists();
    let mut conn = connect(path, OpenFlags::default())
        .with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(options.busy_timeout)
        .context("setting the busy timeout")?;
    check_identity(&conn, path)?;
    crate::schema::checksum_pages(&conn, path)?;

    let mode = switch_to_wal(&conn, options)?;
    expect_setting(path, "journal_mode", "wal", &mode)?;
    apply_connection_pragmas(&conn, path, options)?;
    create_schema(&mut conn, path, &options.store.meta_when_created)?;
    if new_file {
        // SQLite syncs the folder for its journal files, not for the database file itself.
        store_core::kit::sync_parent_folder(path)?;
    }
    Ok(conn)
}

/// Opens a connection to `path` (a path, or a `file:` URI with [`OpenFlags::SQLITE_OPEN_URI`])
/// through the page-checksum VFS ([`sqlite_page_checksums`]), which every connection of the
/// store uses: the one that writes keeps the sums of every page it writes, and every page read
/// from the file is checked against its sums.
pub(crate) fn connect(path: impl AsRef<Path>, flags: OpenFlags) -> rusqlite::Result<Connection> {
    sqlite_page_checksums::register()?;
    Connection::open_with_flags_and_vfs(path, flags, sqlite_page_checksums::VFS_NAME)
}

/// Puts the file in WAL mode (which persists in the file) and returns the mode SQLite
/// reports. Changing the mode needs the file to itself, and SQLite answers `BUSY` at once,
/// without waiting, while another connection holds it, as when two processes open a new
/// file together; so the switch is retried until the busy timeout.
pub(crate) fn switch_to_wal(conn: &Connection, options: &SqliteOptions) -> StoreResult<String> {
    let read_mode = |conn: &Connection| -> rusqlite::Result<String> {
        conn.pragma_query_value(None, "journal_mode", |row| row.get::<_, String>(0))
            .map(|mode| mode.to_ascii_lowercase())
    };
    let deadline = std::time::Instant::now() + options.busy_timeout;
    loop {
        let attempt = read_mode(conn).and_then(|mode| {
            if mode == "wal" {
                Ok(mode)
            } else {
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| {
                    row.get::<_, String>(0)
                })
                .map(|mode| mode.to_ascii_lowercase())
            }
        });
        match attempt {
            Ok(mode) => return Ok(mode),
            Err(err)
                if err.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(err) => return Err(engine_error("switching to WAL", err)),
        }
    }
}

/// Opens a read connection to a store that [`open_writer`] has already set up. The
/// connection refuses writes (`query_only`), whatever a caller's SQL would try.
pub(crate) fn open_reader(path: &Path, options: &SqliteOptions) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        connect(path, flags).with_context(|| format!("opening {} to read", path.display()))?;
    conn.busy_timeout(options.busy_timeout)
        .context("setting the busy timeout")?;
    apply_connection_pragmas(&conn, path, options)?;
    set_and_check(&conn, path, "query_only", 1)?;
    Ok(conn)
}

/// Opens a read connection of a store opened read-only: `mode=ro` (and `immutable=1` for
/// [`ReadMode::Immutable`]), so that SQLite writes nothing and creates nothing.
fn open_read_only_reader(
    path: &Path,
    options: &SqliteOptions,
    mode: ReadMode,
) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut uri = format!("file:{}?mode=ro", uri_path(path));
    if mode == ReadMode::Immutable {
        uri.push_str("&immutable=1");
    }
    let conn =
        connect(&uri, flags).with_context(|| format!("opening {} read-only", path.display()))?;
    conn.busy_timeout(options.busy_timeout)
        .context("setting the busy timeout")?;
    // Before anything else reads the file: another program's file is named as such.
    crate::schema::check_readable(&conn, path)?;
    apply_connection_pragmas(&conn, path, options)?;
    set_and_check(&conn, path, "query_only", 1)?;
    Ok(conn)
}

/// `path` as the path of a `file:` URI: every byte but the unreserved ones and `/`
/// percent-encoded, so that a `?`, `#` or `%` in a file name stays part of it.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let mut out = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The per-connection pragmas, each read back: SQLite ignores a value it does not know
/// without an error, and a store that silently runs without its durability setting is worse
/// than one that refuses to open.
pub(crate) fn apply_connection_pragmas(
    conn: &Connection,
    path: &Path,
    options: &SqliteOptions,
) -> StoreResult<()> {
    set_and_check(
        conn,
        path,
        "synchronous",
        crate::options::synchronous_pragma(options.store.durability),
    )?;
    set_and_check(conn, path, "cache_size", options.cache_size_pragma())?;
    let mmap = i64::try_from(options.mmap_size)
        .map_err(|_| StoreError::invalid("mmap_size", "must fit in an i64"))?;
    // SQLite caps mmap_size at its compile-time maximum; read back the value it took.
    conn.pragma_update(None, "mmap_size", mmap)
        .context("setting mmap_size")?;
    set_and_check(conn, path, "foreign_keys", 0)?;
    set_and_check(conn, path, "temp_store", 2)?;
    let busy: i64 = conn
        .pragma_query_value(None, "busy_timeout", |row| row.get(0))
        .context("reading busy_timeout")?;
    let wanted = i64::try_from(options.busy_timeout.as_millis()).unwrap_or(i64::MAX);
    expect_setting(path, "busy_timeout", &wanted.to_string(), &busy.to_string())
}

pub(crate) fn set_and_check(
    conn: &Connection,
    path: &Path,
    pragma: &'static str,
    value: i64,
) -> StoreResult<()> {
    conn.pragma_update(None, pragma, value)
        .with_context(|| format!("setting {pragma}"))?;
    let actual: i64 = conn
        .pragma_query_value(None, pragma, |row| row.get(0))
        .with_context(|| format!("reading {pragma}"))?;
    expect_setting(path, pragma, &value.to_string(), &actual.to_string())
}

pub(crate) fn expect_setting(
    path: &Path,
    setting: &'static str,
    wanted: &str,
    actual: &str,
) -> StoreResult<()> {
    if wanted == actual {
        Ok(())
    } else {
        Err(StoreError::SettingNotApplied {
            path: path.to_owned(),
            setting,
            wanted: wanted.to_owned(),
            actual: actual.to_owned(),
        })
    }
}
