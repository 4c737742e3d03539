//! PostgreSQL's errors as [`StoreError`]s: a server that cannot be reached is
//! [`StoreError::Unavailable`], a lock or serialization timeout [`StoreError::Busy`] (both
//! retryable), anything else [`StoreError::Backend`].

use postgres::error::SqlState;
use store_core::{StoreError, StoreResult};

/// Whether `err` says the server could not be reached or went away: the connection was
/// refused or lost, or the server is shutting down or starting.
fn is_unavailable(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code);
    }
    // A connection that could not be made or was cut: the client's I/O error, or its
    // time-out.
    let mut cause = std::error::Error::source(err);
    while let Some(next) = cause {
        if next.is::<std::io::Error>() {
            return true;
        }
        cause = next.source();
    }
    let text = err.to_string();
    text.contains("timeout") || text.contains("timed out")
}

/// `err`, met while doing `context`: a server that cannot be reached is
/// [`StoreError::Unavailable`]; a lock or serialization timeout, a deadlock or a cancelled
/// statement is [`StoreError::Busy`] (the same call may succeed later); anything else is
/// [`StoreError::Backend`].
pub(crate) fn engine_error(context: impl Into<String>, err: postgres::Error) -> StoreError {
    let context = context.into();
    if is_unavailable(&err) {
        return StoreError::Unavailable {
            backend: "postgres",
            context,
            source: std::sync::Arc::new(err),
        };
    }
    let busy = err.code().is_some_and(|code| {
        [
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::QUERY_CANCELED,
            SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
        ]
        .contains(code)
    });
    if busy {
        StoreError::Busy {
            context,
            source: std::sync::Arc::new(err),
        }
    } else {
        StoreError::Backend {
            backend: "postgres",
            context,
            source: std::sync::Arc::new(err),
        }
    }
}

/// The servers `config` names, as an error shows them: `host:port` each, or a socket folder.
pub(crate) fn servers(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let ports = config.get_ports();
    let shown: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{} (port {port})", path.display()),
            }
        })
        .collect();
    if shown.is_empty() {
        "the default server".to_owned()
    } else {
        shown.join(", ")
    }
}

/// A pool that could not hand out a connection in time: the server is down or restarting
/// (every new connection failed), or every connection stayed busy. Either way the call may
/// succeed later: [`StoreError::Unavailable`], naming the server and the last error.
pub(crate) fn pool_error(context: &str, server: &str, err: r2d2::Error) -> StoreError {
    StoreError::Unavailable {
        backend: "postgres",
        context: format!("getting a connection to {server} for {context}"),
        source: std::sync::Arc::new(err),
    }
}

/// Adds what the store was doing to a `postgres` result.
pub(crate) trait Context<T> {
    /// The error, if any, as [`engine_error`] with `context`.
    fn context(self, context: &str) -> StoreResult<T>;
}

impl<T> Context<T> for Result<T, postgres::Error> {
    fn context(self, context: &str) -> StoreResult<T> {
        self.map_err(|err| engine_error(context, err))
    }
}
