//! Where a PostgreSQL store is, and how its connections behave.

use std::time::Duration;

use store_core::{StoreError, StoreResult};

/// The settings of a [`crate::PgLogStore`]: the server, the store's schema, the pool and
/// the timeouts that keep a stalled client from stalling the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// The server, as a libpq connection URL without the `schema` parameter
    /// (`postgres://user@host:5432/db`).
    pub url: String,
    /// The PostgreSQL schema the store lives in: one store per schema. Lowercase letters,
    /// digits and `_`, starting with a letter or `_`, at most 63 bytes.
    pub schema: String,
    /// Connections the store keeps open at most; 8 by default.
    pub pool_size: u32,
    /// How long a statement waits for a lock (another daemon's transaction on the store)
    /// before it fails with [`StoreError::Busy`]: `lock_timeout`, 5 s by default.
    pub lock_timeout: Duration,
    /// How long a transaction may sit idle before the server ends it and releases its locks
    /// (`idle_in_transaction_session_timeout`): a client that stalls inside a transaction
    /// (a paused process, a lost network) holds the store's writers back for at most this
    /// long. 10 s by default.
    pub idle_in_transaction_timeout: Duration,
    /// Open for reading only: the schema must hold a store of this version (none is
    /// created), and every write is [`StoreError::OpenedReadOnly`]. `false` by default.
    pub read_only: bool,
}

impl PgOptions {
    /// The store at a location `postgres://…?schema=NAME` (or `postgresql://`): the URL's
    /// `schema` parameter names the store's schema and is taken out of the URL the server
    /// sees; every other parameter is the server's.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] (field `location`) for a URL without a schema, or with
    /// a schema name this store does not accept.
    pub fn from_location(location: &str) -> StoreResult<Self> {
        let bad = |reason: String| StoreError::invalid("location", reason);
        if !(location.starts_with("postgres://") || location.starts_with("postgresql://")) {
            return Err(bad(format!("{location:?} is not a postgres:// URL")));
        }
        let (base, query) = location.split_once('?').unwrap_or((location, ""));
        let mut schema = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", name)) => schema = Some(name.to_owned()),
                _ => kept.push(pair),
            }
        }
        let schema = schema.ok_or_else(|| {
            bad(format!(
                "{location:?} names no schema: add ?schema=NAME (one store per schema)"
            ))
        })?;
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Self::new(url, schema)
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
            read_only: false,
        })
    }

    /// These options with at most `size` connections.
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// These options with statements waiting at most `timeout` for a lock.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// These options opening the store for reading only, or for reading and writing.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The location of the store: the URL with its `schema` parameter.
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
