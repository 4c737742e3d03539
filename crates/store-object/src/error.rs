//! What object storage's errors become: the contract's [`StoreError`]s, never a credential.

use std::error::Error as _;

use store_core::StoreError;

/// The backend's name in errors.
pub(crate) const BACKEND: &str = "s3";

/// `err` with its causes, one line: what the client said, without the request's signature
/// (object_store's messages name the URL and the status, never the keys).
pub(crate) fn shown(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether the service could not be reached at all (refused, reset, timed out, DNS): the
/// contract's `Unavailable`, which the caller may retry later.
fn unreachable(err: &object_store::Error) -> bool {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut | NotConnected
            ) {
                return true;
            }
        }
        let text = cause.to_string();
        if text.contains("error sending request")
            || text.contains("error trying to connect")
            || text.contains("dns error")
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The [`StoreError`] of `err` met while `context` (which names the object or the store).
pub(crate) fn store_error(context: &str, err: object_store::Error) -> StoreError {
    let source = store_core::kit::engine_message(shown(&err));
    if unreachable(&err) {
        StoreError::Unavailable {
            backend: BACKEND,
            context: context.to_owned(),
            source,
        }
    } else {
        StoreError::Backend {
            backend: BACKEND,
            context: context.to_owned(),
            source,
        }
    }
}
