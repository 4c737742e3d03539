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

/// The most writes one unit (one `append_batch`, one `write_unit`) may hold: 1,048,576
/// (2^20). Every one of them may append an entry, and PostgreSQL numbers the entries of one
/// transaction within 2^20 ids of its own (docs/SPEC.md, ids on PostgreSQL); a larger load
/// goes in as several units, which `write_units` commits together where it can.
pub const MAX_UNIT_WRITES: usize = 1 << 20;

/// Refuses a unit of more than [`MAX_UNIT_WRITES`] writes.
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `unit`.
pub(crate) fn check_unit_writes(writes: usize) -> StoreResult<()> {
    if writes <= MAX_UNIT_WRITES {
        return Ok(());
    }
    Err(StoreError::invalid(
        "unit",
        format!("{writes} writes is more than the {MAX_UNIT_WRITES} one unit may hold"),
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_of_the_most_writes_passes_and_one_more_is_refused_by_name() {
        assert!(check_unit_writes(MAX_UNIT_WRITES).is_ok());
        let err = check_unit_writes(MAX_UNIT_WRITES + 1).expect_err("one write too many");
        assert!(
            matches!(&err, StoreError::InvalidInput { field: "unit", reason } if reason.contains("1048577")),
            "{err}"
        );
    }
}
