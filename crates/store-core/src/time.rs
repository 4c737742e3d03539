//! Time as a store keeps it: the range of timestamps every backend, the archive files and
//! their readers agree on, the millisecond precision and its text form, and UTC day numbers.
//!
//! Timestamps run from `0000-01-01T00:00:00.000Z` to `9999-12-31T23:59:59.999Z`: the years
//! that RFC 3339 (and so the archive's JSON lines and every JSON reader) can write with four
//! digits. Every entry point refuses a time outside this range with
//! [`StoreError::InvalidInput`] naming the field, before anything is written.

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{StoreError, StoreResult};

/// The earliest time a store keeps, in milliseconds since 1970: `0000-01-01T00:00:00.000Z`.
pub const MIN_TS_MILLIS: i64 = -62_167_219_200_000;

/// The latest time a store keeps, in milliseconds since 1970: `9999-12-31T23:59:59.999Z`.
pub const MAX_TS_MILLIS: i64 = 253_402_300_799_999;

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
            format_ts(ts),
            format_ts(min_ts()),
            format_ts(max_ts()),
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

/// `ts` truncated to whole milliseconds, the precision every store keeps.
pub fn truncate_to_millis(ts: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ts.timestamp_millis()).unwrap_or(ts)
}

/// Decodes a stored time in milliseconds; one outside the times a store keeps
/// ([`crate::kit::MIN_TS_MILLIS`] to [`crate::kit::MAX_TS_MILLIS`]) is damage, since no store writes
/// one, reported as a [`StoreError::CorruptValue`] at `table` and `key`.
///
/// # Errors
/// [`StoreError::CorruptValue`].
pub fn time_from_millis(
    millis: i64,
    table: &'static str,
    key: &dyn std::fmt::Display,
) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis)
        .filter(|_| millis_in_range(millis))
        .ok_or_else(|| StoreError::corrupt(table, key, format!("time {millis} ms is out of range")))
}

/// `ts` as the store writes it: `2026-11-24T10:00:00.123Z`.
pub fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The current time at the store's precision.
pub fn now_millis() -> DateTime<Utc> {
    truncate_to_millis(Utc::now())
}

/// Serde for timestamps as `2026-11-24T10:00:00.123Z`: RFC 3339, UTC, always three
/// fractional digits. Reading accepts any RFC 3339 time and truncates it to milliseconds.
pub mod ts_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Writes `ts` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_ts(*ts))
    }

    /// Reads an RFC 3339 time within the times a store keeps ([`crate::kit::check_ts`]).
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let ts = DateTime::parse_from_rfc3339(&text)
            .map(|ts| super::truncate_to_millis(ts.with_timezone(&Utc)))
            .map_err(|err| D::Error::custom(format!("bad timestamp {text:?}: {err}")))?;
        super::check_ts("ts", ts)
            .map_err(|err| D::Error::custom(format!("bad timestamp {text:?}: {err}")))?;
        Ok(ts)
    }
}

/// An optional time as `YYYY-MM-DDTHH:MM:SS.mmmZ` or `null`, read within the times a store
/// keeps.
pub(crate) mod opt_ts_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Wrapped(#[serde(with = "crate::time::ts_millis")] DateTime<Utc>);

    pub(crate) fn serialize<S: Serializer>(
        ts: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        ts.map(Wrapped).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
    }
}

/// The first millisecond of `day` (UTC), inclusive, and of the day after, exclusive, in
/// milliseconds since 1970. Total over every `NaiveDate`, the last one included (whose next
/// day `chrono` cannot name); a day outside the times a store keeps simply has no entries.
pub fn day_bounds(day: NaiveDate) -> (i64, i64) {
    let start = number_of_day(day) * DAY_MILLIS;
    (start, start + DAY_MILLIS)
}

/// Milliseconds in a UTC day.
pub const DAY_MILLIS: i64 = 86_400_000;

/// The UTC day number (days since 1970-01-01, negative before) of a time in milliseconds:
/// what backends index entries by for [`crate::LogMaintenance::day_entries`].
pub fn day_number(millis: i64) -> i64 {
    millis.div_euclid(DAY_MILLIS)
}

/// The day numbered `number` (see [`day_number`]); `None` out of `chrono`'s range.
pub fn day_of_number(number: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(number.checked_mul(DAY_MILLIS)?).map(|t| t.date_naive())
}

/// The number of `day` (see [`day_number`]); total over every `NaiveDate`.
pub fn number_of_day(day: NaiveDate) -> i64 {
    day.signed_duration_since(DateTime::UNIX_EPOCH.date_naive())
        .num_days()
}

/// Whether `day` can hold entries: it lies within the times a store keeps.
pub fn day_in_range(day: NaiveDate) -> bool {
    let (start, _) = day_bounds(day);
    millis_in_range(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_the_four_digit_years() {
        assert_eq!(format_ts(min_ts()), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_ts(max_ts()), "9999-12-31T23:59:59.999Z");
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
    fn day_numbers_floor_before_and_after_1970() {
        assert_eq!(day_number(0), 0);
        assert_eq!(day_number(DAY_MILLIS - 1), 0);
        assert_eq!(day_number(-1), -1);
        assert_eq!(day_number(-DAY_MILLIS), -1);
        assert_eq!(day_number(-DAY_MILLIS - 1), -2);
        let day = NaiveDate::from_ymd_opt(1969, 12, 31).expect("a date");
        assert_eq!(number_of_day(day), -1);
        assert_eq!(day_of_number(-1), Some(day));
    }

    #[test]
    fn day_functions_are_total_over_every_date() {
        for day in [NaiveDate::MIN, NaiveDate::MAX] {
            let (start, end) = day_bounds(day);
            assert_eq!(end - start, DAY_MILLIS);
            assert_eq!(day_of_number(number_of_day(day)), Some(day));
            assert!(!day_in_range(day));
        }
        let first = NaiveDate::from_ymd_opt(0, 1, 1).expect("a date");
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");
        assert!(day_in_range(first) && day_in_range(last));
        assert_eq!(day_bounds(first).0, MIN_TS_MILLIS);
        assert_eq!(day_bounds(last).1 - 1, MAX_TS_MILLIS);
        assert!(!day_in_range(first.pred_opt().expect("a date")));
    }
}
