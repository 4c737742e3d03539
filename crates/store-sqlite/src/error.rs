//! SQLite's errors as [`StoreError`]s, in one place: every engine call of the backend goes
//! through [`Context`], so a lock time-out is [`StoreError::Busy`] wherever it strikes.

use std::path::Path;

use rusqlite::ErrorCode;
use store_core::{StoreError, StoreResult};

/// The engine's error as a [`StoreError`]: lock time-outs become [`StoreError::Busy`], all
/// else [`StoreError::Backend`], both with what the store was doing.
pub(crate) fn engine_error(context: impl Into<String>, err: rusqlite::Error) -> StoreError {
    let context = context.into();
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            context,
            source: std::sync::Arc::new(err),
        },
        _ => StoreError::Backend {
            backend: "sqlite",
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

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn context(self, context: impl Into<String>) -> StoreResult<T> {
        self.map_err(|err| engine_error(context, err))
    }

    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> StoreResult<T> {
        self.map_err(|err| engine_error(context(), err))
    }
}

/// `err` as met on the store at `path`: SQLite's report of a damaged file (a page that
/// failed its checksum, a malformed page, a file that stopped being a database) becomes
/// [`StoreError::Damaged`], naming the file (and the page, for a checksum); every other
/// error is unchanged.
pub(crate) fn on_file(path: &Path, err: StoreError) -> StoreError {
    let StoreError::Backend {
        backend: "sqlite",
        context,
        source,
    } = &err
    else {
        return err;
    };
    let Some(engine) = source.downcast_ref::<rusqlite::Error>() else {
        return err;
    };
    if sqlite_page_checksums::is_checksum_failure(engine) {
        let page = sqlite_page_checksums::take_last_failure()
            .map_or_else(|| "a page".to_owned(), |failure| failure.to_string());
        return StoreError::Damaged {
            path: path.to_owned(),
            backend: "sqlite",
            detail: format!(
                "{page}: the bytes on the disk changed since they were written (while {context})"
            ),
        };
    }
    match engine.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Damaged {
            path: path.to_owned(),
            backend: "sqlite",
            detail: format!("{engine} (while {context})"),
        },
        _ => err,
    }
}
