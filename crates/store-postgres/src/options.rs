//! Where a PostgreSQL store is, and how its connections behave.

use std::time::Duration;

use store_core::{StoreError, StoreOptions, StoreResult, redact_location};

/// The settings of a [`crate::PgLogStore`]: the server, the store's schema, the pool and
/// the timeouts that keep a stalled client from stalling the fleet. Its `Debug` output
/// shows the URL with any password masked (`***`).
///
/// How PostgreSQL honours the shared options ([`StoreOptions`], the field `store`):
///
/// - `durability`: every session of the store sets `synchronous_commit`, whatever the
///   server's default: `on` for [`Durability::PowerLoss`](store_core::Durability::PowerLoss) and [`Durability::ProcessCrash`](store_core::Durability::ProcessCrash)
///   (a commit that returned is in the server's synced WAL; PostgreSQL has no level between),
///   `off` for [`Durability::Deferred`](store_core::Durability::Deferred) (a commit is synced by the server's WAL writer within
///   about `3 × wal_writer_delay`; a crash of the server, not of the daemon, may lose the
///   newest commits, never corrupt the database). Whether the server's `fsync` is on is the
///   server's configuration, which a client cannot change.
/// - `group_commit`: the calls of one process that wait together commit in one transaction;
///   the server's own group commit serves the processes of a fleet.
/// - `cache_bytes`: refused with [`StoreError::InvalidInput`] naming `cache_bytes`: the cache
///   is the server's (`shared_buffers`), which a store cannot size.
/// - `read_only`: the schema must hold a store of this version (none is created), and every
///   write is [`StoreError::OpenedReadOnly`].
/// - `create_if_missing`: `false` makes a schema that holds no store
///   [`StoreError::NoStore`].
/// - `meta_when_created`: written in the transaction that creates the store's tables.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// The server, as a libpq connection URL without the `schema` parameter
    /// (`postgres://user@host:5432/db`). It may hold a password: show
    /// [`PgOptions::shown_location`], never this.
    pub url: String,
    /// The PostgreSQL schema the store lives in: one store per schema. Lowercase letters,
    /// digits and `_`, starting with a letter or `_`, at most 63 bytes.
    pub schema: String,
    /// Connections the store keeps open at most for reads, 8 by default; writes have one of
    /// their own beside them.
    pub pool_size: u32,
    /// How long a statement waits for a lock (another daemon's transaction on the store)
    /// before it fails with [`StoreError::Busy`]: `lock_timeout`, 5 s by default.
    pub lock_timeout: Duration,
    /// How long a transaction may sit idle before the server ends it and releases its locks
    /// (`idle_in_transaction_session_timeout`): a client that stalls inside a transaction
    /// (a paused process, a lost network) holds the store's writers back for at most this
    /// long. 10 s by default.
    pub idle_in_transaction_timeout: Duration,
    /// What every backend offers; how PostgreSQL honours each is said on [`PgOptions`].
    pub store: StoreOptions,
    /// How long the TCP connection to the server may take before it fails with
    /// [`StoreError::Unavailable`]: a server that refuses fails at once, one that cannot be
    /// reached after this long. 1 s by default; a `connect_timeout` parameter of the URL
    /// (seconds, as libpq takes it) wins. The open's login after it (startup and
    /// authentication) is bounded by this and [`PgOptions::lock_timeout`] together, so a
    /// server that accepts and never answers fails the open too.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_location(&self.url))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("lock_timeout", &self.lock_timeout)
            .field(
                "idle_in_transaction_timeout",
                &self.idle_in_transaction_timeout,
            )
            .field("store", &self.store)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl PgOptions {
    store_core::store_option_builders!();

    /// The store at a location `postgres://…?schema=NAME` (or `postgresql://`), parsed as a
    /// URL (percent-encoding included): the `schema` parameter names the store's schema and
    /// is taken out of the URL the server sees; every other parameter is the server's.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] (field `location`) for text that is not a `postgres://`
    /// URL, or a URL without a schema or with a schema name this store does not accept. The
    /// message shows the location with its password masked.
    pub fn from_location(location: &str) -> StoreResult<Self> {
        let shown = redact_location(location);
        let bad = |reason: String| StoreError::invalid("location", reason);
        let parsed = url::Url::parse(location)
            .map_err(|err| bad(format!("{shown:?} is not a postgres:// URL ({err})")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(bad(format!("{shown:?} is not a postgres:// URL")));
        }
        let mut schema = None;
        let mut kept = Vec::new();
        for (key, value) in parsed.query_pairs() {
            if key == "schema" {
                schema = Some(value.into_owned());
            } else {
                kept.push((key.into_owned(), value.into_owned()));
            }
        }
        let schema = schema.ok_or_else(|| {
            bad(format!(
                "{shown:?} names no schema: add ?schema=NAME (one store per schema)"
            ))
        })?;
        let mut server = parsed;
        server.set_query(None);
        if !kept.is_empty() {
            server.query_pairs_mut().extend_pairs(&kept);
        }
        Self::new(server.to_string(), schema)
    }

    /// The store in `schema` on the server at `url`, with the default pool and timeouts.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a schema name this store does not accept.
    pub fn new(url: impl Into<String>, schema: impl Into<String>) -> StoreResult<Self> {
        let schema = schema.into();
        check_schema_name(&schema)?;
        Ok(PgOptions {
            url: url.into(),
            schema,
            pool_size: 8,
            lock_timeout: Duration::from_secs(5),
            idle_in_transaction_timeout: Duration::from_secs(10),
            store: StoreOptions::default(),
            connect_timeout: Duration::from_secs(1),
        })
    }

    /// These options with at most `size` connections for reads; writes, one at a time per
    /// handle, have one connection of their own beside them.
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// These options with statements waiting at most `timeout` for a lock.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// These options giving up on a connection that takes more than `timeout` to open.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The location as it may be shown: [`PgOptions::location`] with any password masked.
    pub fn shown_location(&self) -> String {
        redact_location(&self.location())
    }

    /// The location of the store: the URL with its `schema` parameter, password included,
    /// for opening the store again. Show [`PgOptions::shown_location`] instead.
    pub fn location(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}schema={}", self.url, self.schema)
    }
}

/// A schema name this store accepts: what PostgreSQL takes unquoted, lowercase.
fn check_schema_name(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !name.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "schema",
            format!(
                "{name:?} is not a schema name this store uses: lowercase letters, digits and \
                 _, not starting with a digit or pg_, at most 63 bytes"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_names_the_server_and_the_schema_apart() {
        let options =
            PgOptions::from_location("postgres://nerve@127.0.0.1:5432/fleet?schema=daemon_a")
                .expect("a location");
        assert_eq!(options.url, "postgres://nerve@127.0.0.1:5432/fleet");
        assert_eq!(options.schema, "daemon_a");
        let kept = PgOptions::from_location(
            "postgresql://h/db?sslmode=disable&schema=s1&application_name=x",
        )
        .expect("a location");
        assert_eq!(
            kept.url,
            "postgresql://h/db?sslmode=disable&application_name=x"
        );
        assert_eq!(
            kept.location(),
            "postgresql://h/db?sslmode=disable&application_name=x&schema=s1"
        );
    }

    #[test]
    fn a_location_is_parsed_as_a_url_and_shown_without_its_password() {
        let options = PgOptions::from_location(
            "postgres://nerve:p%40ss%2Fword@db.example:6432/fleet?schema=daemon_a&sslmode=disable",
        )
        .expect("a location");
        assert_eq!(options.schema, "daemon_a");
        let config: postgres::Config = options.url.parse().expect("the client reads it");
        assert_eq!(config.get_password(), Some(&b"p@ss/word"[..]));
        assert_eq!(
            options.shown_location(),
            "postgres://nerve:***@db.example:6432/fleet?sslmode=disable&schema=daemon_a"
        );
        assert!(!format!("{options:?}").contains("word"), "{options:?}");
        let err = PgOptions::from_location("postgres://nerve:hunter2@h/db").expect_err("no schema");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_location_without_a_usable_schema_is_refused_naming_it() {
        for (location, says) in [
            ("postgres://h/db", "names no schema"),
            ("postgres://h/db?schema=Bad", "not a schema name"),
            ("postgres://h/db?schema=pg_catalog", "not a schema name"),
            ("postgres://h/db?schema=a;drop", "not a schema name"),
            ("mysql://h/db?schema=a", "not a postgres:// URL"),
        ] {
            let err = PgOptions::from_location(location).expect_err(location);
            assert!(err.to_string().contains(says), "{location}: {err}");
        }
    }
}
