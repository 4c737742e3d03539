//! What a store accepts besides time: the largest payload and detail, and meta keys. Every
//! entry point refuses a value outside these limits with [`StoreError::InvalidInput`] naming
//! the field, before anything is written.

use crate::error::{StoreError, StoreResult};

/// The largest payload a log entry (or thread message) may carry: 64 MiB. Larger content
/// belongs in a blob, whose writes and reads stream; a payload is held whole in memory by
/// the caller and by the store's reads, and a store's peak memory for one is bounded by a
/// small multiple of it (see the README).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024 * 1024;

/// The largest `detail` a run transition may carry: 1 MiB. A detail is a status note, and it
/// is repeated in the transition's audit entry.
pub const MAX_DETAIL_BYTES: usize = 1024 * 1024;

/// Refuses a text longer than `limit` bytes.
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `field`.
pub fn check_size(field: &'static str, text: &str, limit: usize) -> StoreResult<()> {
    if text.len() <= limit {
        return Ok(());
    }
    Err(StoreError::invalid(
        field,
        format!(
            "{} bytes is more than the {limit} a store accepts",
            text.len()
        ),
    ))
}

/// Refuses any empty key among `pairs`; backends call it before writing anything.
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `key`.
pub fn check_meta_pairs(pairs: &[(&str, &str)]) -> StoreResult<()> {
    pairs.iter().try_for_each(|(key, _)| check_meta_key(key))
}

/// Refuses an empty meta key; backends call it before writing.
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `key`.
pub fn check_meta_key(key: &str) -> StoreResult<()> {
    if key.is_empty() {
        return Err(StoreError::invalid("key", "must not be empty"));
    }
    Ok(())
}
