//! redb's errors as [`StoreError`]s, in one place: every engine call of the backend goes
//! through [`Context`], so another process holding the file is [`StoreError::Busy`] wherever
//! it strikes.

use store_core::{StoreError, StoreResult};

/// redb's error as a [`StoreError`]: another process holding the file becomes
/// [`StoreError::Busy`], all else [`StoreError::Backend`], both with what the store was doing.
pub(crate) fn engine_error(context: impl Into<String>, err: impl Into<redb::Error>) -> StoreError {
    let context = context.into();
    match err.into() {
        err @ (redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch) => {
            StoreError::Busy {
                context,
                source: std::sync::Arc::new(err),
            }
        }
        err => StoreError::Backend {
            backend: "redb",
            context,
            source: std::sync::Arc::new(err),
        },
    }
}

/// What the store was doing when an engine call failed, attached to the call's result.
pub(crate) trait Context<T> {
    /// The result, its error mapped by [`engine_error`] with `context`.
    fn context(self, context: impl Into<String>) -> StoreResult<T>;

    /// As [`Context::context`], the context built only on failure.
    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> StoreResult<T>;
}

impl<T, E: Into<redb::Error>> Context<T> for Result<T, E> {
    fn context(self, context: impl Into<String>) -> StoreResult<T> {
        self.map_err(|err| engine_error(context, err))
    }

    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> StoreResult<T> {
        self.map_err(|err| engine_error(context(), err))
    }
}

/// [`StoreError::NotAStore`] for the file at `path`, saying why.
pub(crate) fn not_a_store(path: &std::path::Path, reason: impl Into<String>) -> StoreError {
    StoreError::NotAStore {
        path: path.to_owned(),
        backend: "redb",
        reason: reason.into(),
    }
}
