//! Where a store lives: a backend and its file, or a server's URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use store_core::{StoreError, StoreResult};

/// Where the daemon's store lives unless told otherwise.
pub const DEFAULT_LOCATION: &str = "sqlite:./data/nerve.db";

/// A storage engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in WAL mode (`store-sqlite`), cargo feature `sqlite`.
    Sqlite,
    /// redb (`store-redb`), cargo feature `redb`.
    Redb,
    /// PostgreSQL (`store-postgres`), cargo feature `postgres`: a store is a schema on a
    /// server, named by a `postgres://…?schema=NAME` location.
    Postgres,
}

impl Backend {
    /// The name used in locations and feature names: `"sqlite"`, `"redb"`.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Redb => "redb",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Where a store is: its log's file here (the blob file beside it), or a server.
#[derive(Clone, PartialEq, Eq)]
enum Place {
    /// The log's file.
    File(PathBuf),
    /// `postgres://…?schema=NAME`, password included: never shown as it is.
    Server(url::Url),
}

/// A backend and the path of its file, parsed from `sqlite:PATH`, `redb:PATH`, or a bare
/// `PATH` whose extension names the backend (`.db`, `.sqlite`, `.sqlite3` for SQLite,
/// `.redb` for redb); or a PostgreSQL store, `postgres://…?schema=NAME` (or
/// `postgresql://`), parsed as a URL. `Display` and `Debug` show a URL's password masked
/// (`***`), and so does [`Location::shown_path`]; [`Location::url`] keeps it, for opening
/// the store again.
#[derive(Clone, PartialEq, Eq)]
pub struct Location {
    /// The engine.
    pub backend: Backend,
    place: Place,
}

impl Location {
    /// The store of a file backend (SQLite, redb) whose log is `path`, as
    /// `"{backend}:{path}"` parses; for a store assembled by hand ([`crate::Store::new`]).
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for [`Backend::Postgres`], whose stores are on a server:
    /// parse its URL instead.
    pub fn from_file(backend: Backend, path: impl Into<PathBuf>) -> StoreResult<Self> {
        if backend == Backend::Postgres {
            return Err(StoreError::invalid(
                "location",
                "a PostgreSQL store is named by its URL, not a file",
            ));
        }
        Ok(Location {
            backend,
            place: Place::File(path.into()),
        })
    }

    /// The store whose log is the file `path`, its backend named by the extension (`.db`,
    /// `.sqlite`, `.sqlite3` for SQLite, `.redb` for redb): a bare location, from a path
    /// rather than a string (it need not be UTF-8).
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] (field `location`) for another extension, or for the
    /// blob file of a store rather than its own file.
    pub fn from_path(path: impl Into<PathBuf>) -> StoreResult<Self> {
        let path = path.into();
        Location::checked_file(backend_of(&path)?, path)
    }

    /// The store of `backend` whose log is `path`, unless `path` is a store's blob file.
    fn checked_file(backend: Backend, path: PathBuf) -> StoreResult<Self> {
        let location = Location {
            backend,
            place: Place::File(path),
        };
        if let Some(store) = location.store_of_blob_file() {
            return Err(StoreError::invalid(
                "location",
                format!(
                    "{} is the blob file of the store at {}: name the store's own file",
                    location.shown().display(),
                    store.display()
                ),
            ));
        }
        Ok(location)
    }

    /// The store's log file; `None` for a store on a server.
    pub fn file(&self) -> Option<&Path> {
        match &self.place {
            Place::File(path) => Some(path),
            Place::Server(_) => None,
        }
    }

    /// The server's URL with the `schema` parameter, password included (for opening the
    /// store, never for showing); `None` for a store in files.
    pub fn url(&self) -> Option<&str> {
        match &self.place {
            Place::File(_) => None,
            Place::Server(url) => Some(url.as_str()),
        }
    }

    /// The log file, or the URL as a path: what an error's `path` names (the password
    /// masked), never a file to open.
    fn shown(&self) -> PathBuf {
        match &self.place {
            Place::File(path) => path.clone(),
            Place::Server(url) => PathBuf::from(store_core::redact_location(url.as_str())),
        }
    }

    /// The path as it may be shown: the log's file, or for a server the URL with its
    /// password masked.
    pub fn shown_path(&self) -> PathBuf {
        self.shown()
    }

    /// [`Location::blob_file`] as it may be shown: for a server (whose blobs are in the
    /// store's schema), the URL with its password masked.
    pub fn shown_blob_path(&self) -> PathBuf {
        self.blob_file().unwrap_or_else(|| self.shown())
    }

    /// Whether the store lives on a server (PostgreSQL) rather than in files here.
    pub fn is_server(&self) -> bool {
        matches!(self.place, Place::Server(_))
    }

    /// The store's own file when this location names the blob file of one instead
    /// (`data/nerve.blobs.db` is the blob file of `data/nerve.db`).
    fn store_of_blob_file(&self) -> Option<PathBuf> {
        let path = self.file()?;
        let name = path.file_name()?.to_str()?;
        let (stem, extension) = match name.rsplit_once('.') {
            Some((stem, extension)) if stem.ends_with(".blobs") => (stem, Some(extension)),
            _ if name.ends_with(".blobs") => (name, None),
            _ => return None,
        };
        let store = stem.strip_suffix(".blobs")?;
        Some(path.with_file_name(match extension {
            Some(extension) => format!("{store}.{extension}"),
            None => store.to_owned(),
        }))
    }

    /// The file of the blob store that goes with this location's log: the log's file name
    /// with `.blobs` before its extension (`data/nerve.db` → `data/nerve.blobs.db`); `None`
    /// for a PostgreSQL store, which keeps its blobs in its own schema.
    pub fn blob_file(&self) -> Option<PathBuf> {
        let path = self.file()?;
        let stem = path
            .file_stem()
            .map_or_else(|| "nerve".into(), |s| s.to_string_lossy().into_owned());
        let name = match path.extension() {
            Some(ext) => format!("{stem}.blobs.{}", ext.to_string_lossy()),
            None => format!("{stem}.blobs"),
        };
        Some(path.with_file_name(name))
    }
}

impl Location {
    /// The files the store at this location is made of, as far as they exist or may: its
    /// log's file and its blob file, each with the engine's files beside it (SQLite's
    /// `-wal`, `-shm` and `-journal`; the store's `.sealed` for redb). None for a store on
    /// a server. What to copy, size or remove to copy, size or remove the store whole.
    pub fn files(&self) -> Vec<PathBuf> {
        [self.file().map(Path::to_owned), self.blob_file()]
            .into_iter()
            .flatten()
            .flat_map(|file| self.with_engine_files(&file))
            .collect()
    }

    /// The first of the log's file and the blob file that exists; `None` when neither does,
    /// and always for a store on a server. What a copy that makes new files only refuses.
    pub fn existing_file(&self) -> Option<PathBuf> {
        [self.file().map(Path::to_owned), self.blob_file()]
            .into_iter()
            .flatten()
            .find(|file| file.exists())
    }

    /// `file` and the files the engine keeps beside it.
    fn with_engine_files(&self, file: &std::path::Path) -> Vec<PathBuf> {
        let suffixes: &[&str] = match self.backend {
            Backend::Sqlite => &["-wal", "-shm", "-journal"],
            Backend::Redb => &[".sealed"],
            Backend::Postgres => &[],
        };
        let beside = suffixes.iter().map(|suffix| {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        });
        std::iter::once(file.to_owned()).chain(beside).collect()
    }

    /// The bytes the store's log takes on the disk now: its file and the engine's files
    /// beside it (the blob file not included); 0 for a store on a server.
    pub fn log_bytes(&self) -> u64 {
        self.file().map_or(0, |file| self.sized(file))
    }

    /// The bytes the store's blob file takes on the disk now, with the engine's files beside
    /// it; 0 for a store on a server.
    pub fn blob_bytes(&self) -> u64 {
        self.blob_file().map_or(0, |file| self.sized(&file))
    }

    /// The total size of `file` and the engine's files beside it, as far as they exist.
    fn sized(&self, file: &Path) -> u64 {
        self.with_engine_files(file)
            .iter()
            .filter_map(|name| std::fs::metadata(name).ok())
            .map(|meta| meta.len())
            .sum()
    }

    /// The archive's folder of the store at this location unless told otherwise: `archive`
    /// beside the store's file, or in the current folder for a store on a server.
    pub fn archive_dir(&self) -> PathBuf {
        self.file()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("archive"), |dir| dir.join("archive"))
    }

    /// Whether the stores at the two locations share a file (the same log file or the same
    /// blob file), or are the same store on a server: a copy of one into the other would
    /// write over what it reads.
    pub fn shares_files_with(&self, other: &Location) -> bool {
        if self.is_server() || other.is_server() {
            return self.place == other.place;
        }
        let files = |location: &Location| {
            [location.file().map(Path::to_owned), location.blob_file()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
        };
        let mine = files(self);
        files(other)
            .iter()
            .any(|theirs| mine.iter().any(|file| same_file(file, theirs)))
    }
}

/// Whether two paths name one file: equal, or the same file once resolved where both exist.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("backend", &self.backend)
            .field("place", &self.shown())
            .finish()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Server(_) => write!(f, "{}", self.shown().display()),
            Place::File(path) => write!(f, "{}:{}", self.backend, path.display()),
        }
    }
}

/// Serialises as it is shown ([`Display`](fmt::Display)): a server's password masked.
impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for Location {
    type Err = StoreError;

    fn from_str(text: &str) -> StoreResult<Self> {
        let bad = |reason: String| StoreError::invalid("location", reason);
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let shown = store_core::redact_location(text);
            let url = url::Url::parse(text)
                .map_err(|err| bad(format!("{shown:?} is not a postgres:// URL ({err})")))?;
            if !url.query_pairs().any(|(key, _)| key == "schema") {
                return Err(bad(format!(
                    "{shown:?} names no schema: add ?schema=NAME (one store per schema)"
                )));
            }
            return Ok(Location {
                backend: Backend::Postgres,
                place: Place::Server(url),
            });
        }
        let (backend, path) = if let Some(path) = text.strip_prefix("sqlite:") {
            (Backend::Sqlite, path)
        } else if let Some(path) = text.strip_prefix("redb:") {
            (Backend::Redb, path)
        } else {
            (backend_of(Path::new(text))?, text)
        };
        if path.is_empty() {
            return Err(bad(format!("{text:?} has no path after the backend")));
        }
        Location::checked_file(backend, PathBuf::from(path))
    }
}

/// The backend a bare path names by its extension: `.db`, `.sqlite`, `.sqlite3` for SQLite,
/// `.redb` for redb.
fn backend_of(path: &Path) -> StoreResult<Backend> {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "db" | "sqlite" | "sqlite3" => Ok(Backend::Sqlite),
        "redb" => Ok(Backend::Redb),
        _ => Err(StoreError::invalid(
            "location",
            format!(
                "{:?} names no backend: write sqlite:PATH or redb:PATH, or use a .db, \
                 .sqlite, .sqlite3 or .redb file",
                path.display().to_string()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_lists_its_files_with_the_engines_own_beside_them() {
        let files = |text: &str| -> Vec<String> {
            parse(text)
                .expect("a location")
                .files()
                .iter()
                .map(|file| file.display().to_string())
                .collect()
        };
        assert_eq!(
            files("sqlite:data/nerve.db"),
            [
                "data/nerve.db",
                "data/nerve.db-wal",
                "data/nerve.db-shm",
                "data/nerve.db-journal",
                "data/nerve.blobs.db",
                "data/nerve.blobs.db-wal",
                "data/nerve.blobs.db-shm",
                "data/nerve.blobs.db-journal",
            ]
        );
        assert_eq!(
            files("redb:x.redb"),
            [
                "x.redb",
                "x.redb.sealed",
                "x.blobs.redb",
                "x.blobs.redb.sealed"
            ]
        );
        assert!(files("postgres://u:p@db/nerve?schema=s").is_empty());
    }

    #[test]
    fn the_archive_lives_beside_the_store_or_here_for_a_server() {
        let dir = |text: &str| parse(text).expect("a location").archive_dir();
        assert_eq!(dir("sqlite:data/nerve.db"), PathBuf::from("data/archive"));
        assert_eq!(dir("nerve.redb"), PathBuf::from("archive"));
        assert_eq!(
            dir("postgres://db/nerve?schema=s"),
            PathBuf::from("archive")
        );
    }

    #[test]
    fn two_locations_of_one_file_share_it_whatever_their_spelling() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("nerve.db"), b"").expect("a file");
        let at = |text: String| parse(&text).expect("a location");
        let plain = at(format!("sqlite:{}", dir.path().join("nerve.db").display()));
        let dotted = at(format!("sqlite:{}/./nerve.db", dir.path().display()));
        let other = at(format!("redb:{}", dir.path().join("nerve.redb").display()));
        assert!(plain.shares_files_with(&dotted));
        assert!(!plain.shares_files_with(&other));
    }

    #[test]
    fn a_blob_file_is_refused_as_a_location_naming_its_store() {
        for (text, store) in [
            ("sqlite:data/nerve.blobs.db", "data/nerve.db"),
            ("x.blobs.redb", "x.redb"),
            ("redb:a/nerve.blobs", "a/nerve"),
        ] {
            let err = parse(text).expect_err("a blob file");
            assert!(
                err.to_string()
                    .contains(&format!("the blob file of the store at {store}")),
                "{text}: {err}"
            );
        }
        assert!(
            parse("sqlite:data/blobs.db").is_ok(),
            "a store may be called blobs"
        );
    }

    fn parse(text: &str) -> StoreResult<Location> {
        text.parse()
    }

    #[test]
    fn a_prefix_names_the_backend_whatever_the_extension() {
        let location = parse("redb:data/nerve.db").expect("parses");
        assert_eq!(
            (location.backend, location.file()),
            (Backend::Redb, Some(Path::new("data/nerve.db")))
        );
        assert_eq!(
            parse("sqlite:x.redb").expect("parses").backend,
            Backend::Sqlite
        );
    }

    #[test]
    fn a_bare_path_is_read_by_its_extension() {
        assert_eq!(
            parse("data/nerve.db").expect("parses").backend,
            Backend::Sqlite
        );
        assert_eq!(
            parse("nerve.sqlite3").expect("parses").backend,
            Backend::Sqlite
        );
        assert_eq!(
            parse("/var/lib/nerve.redb").expect("parses").backend,
            Backend::Redb
        );
    }

    #[test]
    fn a_location_that_names_no_backend_is_refused_with_the_forms_it_takes() {
        for text in ["data/nerve", "nerve.txt", "sqlite:", "postgres:db"] {
            let err = parse(text).expect_err(text);
            assert!(
                matches!(
                    err,
                    StoreError::InvalidInput {
                        field: "location",
                        ..
                    }
                ),
                "{err}"
            );
        }
        let err = parse("nerve.txt").expect_err("no backend");
        assert!(err.to_string().contains("redb:PATH"), "{err}");
    }

    #[test]
    fn blobs_live_in_a_file_beside_the_log() {
        let path = |text: &str| parse(text).expect("parses").blob_file();
        assert_eq!(
            path("sqlite:data/nerve.db"),
            Some(PathBuf::from("data/nerve.blobs.db"))
        );
        assert_eq!(
            path("redb:/var/nerve.redb"),
            Some(PathBuf::from("/var/nerve.blobs.redb"))
        );
        assert_eq!(
            path("sqlite:data/nerve"),
            Some(PathBuf::from("data/nerve.blobs"))
        );
        assert_eq!(path("postgres://db/nerve?schema=s"), None);
    }

    #[test]
    fn the_default_location_and_display_round_trip() {
        let location = parse(DEFAULT_LOCATION).expect("the default parses");
        assert_eq!(location.to_string(), DEFAULT_LOCATION);
        assert_eq!(location.backend, Backend::Sqlite);
    }
}
