//! What a store can keep: the range of timestamps and of log ids that every backend, the
//! archive files and their readers agree on.
//!
//! Timestamps run from `0000-01-01T00:00:00.000Z` to `9999-12-31T23:59:59.999Z`: the years
//! that RFC 3339 (and so the archive's JSON lines and every JSON reader) can write with four
//! digits. Log ids run from 1 to `i64::MAX`, the range of SQLite's integer keys. Every entry
//! point refuses a value outside these ranges with [`StoreError::InvalidInput`] naming the
//! field, before anything is written.

use chrono::{DateTime, Utc};

use crate::error::{StoreError, StoreResult};
use crate::log::LogId;

/// The earliest time a store keeps, in milliseconds since 1970: `0000-01-01T00:00:00.000Z`.
pub const MIN_TS_MILLIS: i64 = -62_167_219_200_000;

/// The latest time a store keeps, in milliseconds since 1970: `9999-12-31T23:59:59.999Z`.
pub const MAX_TS_MILLIS: i64 = 253_402_300_799_999;

/// The highest log id any backend can keep (SQLite's integer keys are signed). A store that
/// has given it out refuses further appends with [`StoreError::IdsExhausted`]; at a million
/// appends a second that is 292,000 years away.
pub const MAX_LOG_ID: LogId = LogId(i64::MAX as u64);

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

/// The earliest time a store keeps (see [`MIN_TS_MILLIS`]).
pub fn min_ts() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(MIN_TS_MILLIS).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The latest time a store keeps (see [`MAX_TS_MILLIS`]).
pub fn max_ts() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(MAX_TS_MILLIS).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether a time in milliseconds is one a store keeps.
pub fn millis_in_range(millis: i64) -> bool {
    (MIN_TS_MILLIS..=MAX_TS_MILLIS).contains(&millis)
}

/// Refuses a time outside the range a store keeps.
///
/// Sub-millisecond parts do not matter here: the bound is checked on the instant as given,
/// so `9999-12-31T23:59:59.999500Z` is refused, since it lies after the last kept instant.
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `field`.
pub fn check_ts(field: &'static str, ts: DateTime<Utc>) -> StoreResult<()> {
    if ts >= min_ts() && ts <= max_ts() {
        return Ok(());
    }
    Err(StoreError::invalid(
        field,
        format!(
            "{} is outside the times a store keeps, {} to {}",
            crate::log::format_ts(ts),
            crate::log::format_ts(min_ts()),
            crate::log::format_ts(max_ts()),
        ),
    ))
}

/// Refuses an optional time outside the range; `None` passes.
///
/// # Errors
/// As [`check_ts`].
pub fn check_optional_ts(field: &'static str, ts: Option<DateTime<Utc>>) -> StoreResult<()> {
    ts.map_or(Ok(()), |ts| check_ts(field, ts))
}

/// Refuses a log id outside `1..=MAX_LOG_ID` (for ids a caller hands in, as an import does).
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `field`.
pub fn check_log_id(field: &'static str, id: LogId) -> StoreResult<()> {
    if id.0 >= 1 && id <= MAX_LOG_ID {
        return Ok(());
    }
    Err(StoreError::invalid(
        field,
        format!(
            "id {id} is outside the ids a store keeps, 1 to {}",
            MAX_LOG_ID
        ),
    ))
}

/// The stored-millisecond form of a query bound (`since` or `until`).
///
/// Stored times are whole milliseconds and a bound is compared at its full precision, as
/// [`crate::LogQuery::matches`] does. For a whole-millisecond `t`, `t >= bound` and
/// `t < bound` hold exactly when they hold against the bound rounded *up* to the next whole
/// millisecond, so that is the value an index walk uses, for both ends.
pub fn bound_millis(bound: DateTime<Utc>) -> i64 {
    let floor = bound.timestamp_millis();
    if bound.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        floor
    } else {
        floor.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_the_four_digit_years() {
        assert_eq!(crate::log::format_ts(min_ts()), "0000-01-01T00:00:00.000Z");
        assert_eq!(crate::log::format_ts(max_ts()), "9999-12-31T23:59:59.999Z");
        assert!(check_ts("ts", min_ts()).is_ok());
        assert!(check_ts("ts", max_ts()).is_ok());
        let before = min_ts() - chrono::Duration::nanoseconds(1);
        let after = max_ts() + chrono::Duration::microseconds(500);
        for ts in [
            before,
            after,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ] {
            let err = check_ts("since", ts).unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidInput { field: "since", .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn a_bound_rounds_up_to_the_next_whole_millisecond() {
        let whole = DateTime::from_timestamp_millis(1_123).expect("a time");
        assert_eq!(bound_millis(whole), 1_123);
        let finer = whole + chrono::Duration::microseconds(500);
        assert_eq!(bound_millis(finer), 1_124);
        let before_1970 = DateTime::from_timestamp_millis(-1_123).expect("a time")
            + chrono::Duration::microseconds(1);
        assert_eq!(bound_millis(before_1970), -1_122);
    }

    #[test]
    fn ids_run_from_one_to_i64_max() {
        assert!(check_log_id("id", LogId(1)).is_ok());
        assert!(check_log_id("id", MAX_LOG_ID).is_ok());
        assert!(check_log_id("id", LogId(0)).is_err());
        assert!(check_log_id("id", LogId(MAX_LOG_ID.0 + 1)).is_err());
        assert!(check_log_id("id", LogId(u64::MAX)).is_err());
    }
}
