//! Times on the command line: the clock (`SOURCE_DATE_EPOCH` fixes it), `--since` and
//! `--until` parsed by the library's [`nerve_store::time::parse_time`] inside clap, so that
//! a time that does not parse is a command line that does not parse (exit status 2, with the
//! forms a time takes), and day ranges.

use chrono::{DateTime, NaiveDate, Utc};
use jiff::Timestamp;

/// The variable that fixes "now" for the command line: seconds since 1970, as the
/// reproducible-builds convention names it.
pub(crate) const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The current time: `SOURCE_DATE_EPOCH` when it is set, the clock otherwise. A fixed time
/// makes output come out the same on every run (the README's examples run as tests so): what
/// `simulate` stamps, what `--since 1h` and `today` mean, where `archive` counts its days
/// from.
///
/// # Errors
/// A `SOURCE_DATE_EPOCH` that is not a whole number of seconds within the times a store keeps.
pub(crate) fn now() -> Result<Timestamp, String> {
    match std::env::var(SOURCE_DATE_EPOCH) {
        Err(_) => Ok(Timestamp::now()),
        Ok(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|seconds| Timestamp::from_second(seconds).ok())
            .ok_or_else(|| {
                format!(
                    "{SOURCE_DATE_EPOCH}={text:?} is not a time: give whole seconds since \
                     1970-01-01T00:00:00Z, or unset it to use the clock"
                )
            }),
    }
}

/// [`now`] as the store's time type.
pub(crate) fn now_utc() -> Result<DateTime<Utc>, String> {
    let now = now()?;
    DateTime::from_timestamp(now.as_second(), now.subsec_nanosecond().unsigned_abs())
        .ok_or_else(|| format!("{SOURCE_DATE_EPOCH} is outside the times a store keeps"))
}

/// [`nerve_store::time::parse_time`] at [`now`] in the local zone: the value parser of
/// `--since` and `--until`.
pub(crate) fn time_arg(text: &str) -> Result<DateTime<Utc>, String> {
    nerve_store::time::parse_time(text, &now()?.to_zoned(jiff::tz::TimeZone::system()))
        .map_err(|err| err.to_string())
}

/// Parses `FROM..TO` (both UTC dates, both included) or a single date.
pub(crate) fn parse_day_range(text: &str) -> Result<(NaiveDate, NaiveDate), String> {
    let day = |part: &str| {
        NaiveDate::parse_from_str(part.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{part:?} is not a date: write YYYY-MM-DD"))
    };
    let (from, to) = match text.split_once("..") {
        Some((from, to)) => (day(from)?, day(to)?),
        None => (day(text)?, day(text)?),
    };
    if from > to {
        return Err(format!("{text:?} ends before it starts"));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_ranges_include_both_ends_and_a_single_day_is_a_range() {
        let day = |text| NaiveDate::parse_from_str(text, "%Y-%m-%d").expect(text);
        assert_eq!(
            parse_day_range("2026-10-01..2026-10-05"),
            Ok((day("2026-10-01"), day("2026-10-05")))
        );
        assert_eq!(
            parse_day_range("2026-10-01"),
            Ok((day("2026-10-01"), day("2026-10-01")))
        );
        assert!(parse_day_range("2026-10-05..2026-10-01").is_err());
    }
}
