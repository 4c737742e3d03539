//! PostgreSQL's errors as [`StoreError`]s, and the guard against calls on a tokio worker.

use postgres::error::SqlState;
use store_core::{StoreError, StoreResult};

/// `err`, met while doing `context`: a lock or serialization timeout, a deadlock or a
/// cancelled statement is [`StoreError::Busy`] (the same call may succeed later); anything
/// else is [`StoreError::Backend`].
pub(crate) fn engine_error(context: impl Into<String>, err: postgres::Error) -> StoreError {
    let context = context.into();
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
            source: Box::new(err),
        }
    } else {
        StoreError::Backend {
            backend: "postgres",
            context,
            source: Box::new(err),
        }
    }
}

/// A pool that could not hand out a connection in time (the server is down or every
/// connection is busy).
pub(crate) fn pool_error(context: &str, err: r2d2::Error) -> StoreError {
    StoreError::Backend {
        backend: "postgres",
        context: format!("getting a connection for {context}"),
        source: Box::new(err),
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
