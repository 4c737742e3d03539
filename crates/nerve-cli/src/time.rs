//! Times as people type them, as journalctl takes them: RFC 3339 (with `Z` or an offset), a
//! local date and time (`2026-12-01 10:00`, `2026-12-01T10:00`), a local date (its
//! midnight), `now`, `today`, `yesterday`, `tomorrow`, or a span back from now (`2h`, `-2h`,
//! `90m`, `7d`, `1w`, `2h 30m`). "Local" is the zone `TZ` names, or the system's.
//!
//! Parsed by `jiff`, which knows zones, their daylight-saving changes and friendly spans,
//! rather than by hand; inside clap ([`time_arg`]), so that a time that does not parse is a
//! command line that does not parse: exit status 2, with the forms a time takes.

use chrono::{DateTime, NaiveDate, Utc};
use jiff::{Span, Timestamp, Zoned, civil};

/// What a time may be, for the error that refuses one.
const FORMS: &str = "give RFC 3339 (2026-11-24T10:00:00Z, 2026-11-24T11:00:00+01:00), a \
                     local date and time (2026-11-24 10:00), a date (2026-11-24), now, today, \
                     yesterday, or a span back from now (30s, 15m, 2h, -2h, 7d, 1w)";

/// Parses `text` as a time, `now` being the current time in the local zone.
pub(crate) fn parse_time(text: &str, now: &Zoned) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let unknown = || format!("{text:?} is not a time: {FORMS}");
    let found = match text {
        "now" => Ok(now.timestamp()),
        "today" => day_start(now, 0),
        "yesterday" => day_start(now, -1),
        "tomorrow" => day_start(now, 1),
        _ => {
            if let Ok(instant) = text.parse::<Timestamp>() {
                Ok(instant)
            } else if let Ok(local) = text.parse::<civil::DateTime>() {
                local
                    .to_zoned(now.time_zone().clone())
                    .map(|at| at.timestamp())
            } else if let Ok(date) = text.parse::<civil::Date>() {
                date.to_zoned(now.time_zone().clone())
                    .map(|at| at.timestamp())
            } else {
                let span: Span = text
                    .strip_prefix('-')
                    .unwrap_or(text)
                    .parse()
                    .map_err(|_| unknown())?;
                now.checked_sub(span).map(|at| at.timestamp())
            }
        }
    };
    let instant = found.map_err(|err| format!("{text:?} is not a time there is ({err})"))?;
    DateTime::from_timestamp(
        instant.as_second(),
        instant.subsec_nanosecond().unsigned_abs(),
    )
    .ok_or_else(|| format!("{text:?} is outside the times a store keeps"))
}

/// The start of the local day `days` away from `now`'s.
fn day_start(now: &Zoned, days: i64) -> Result<Timestamp, jiff::Error> {
    now.date()
        .checked_add(Span::new().try_days(days)?)?
        .to_zoned(now.time_zone().clone())
        .map(|at| at.timestamp())
}

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

/// [`parse_time`] at [`now`] in the local zone: the value parser of `--since` and `--until`.
pub(crate) fn time_arg(text: &str) -> Result<DateTime<Utc>, String> {
    parse_time(text, &now()?.to_zoned(jiff::tz::TimeZone::system()))
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

    /// 2026-11-24 12:00 UTC, in Paris (UTC+1 in November).
    fn now() -> Zoned {
        "2026-11-24T13:00:00+01:00[Europe/Paris]"
            .parse()
            .expect("a fixed time for the tests")
    }

    fn at(text: &str) -> String {
        parse_time(text, &now())
            .map(|time| time.to_rfc3339())
            .unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn rfc3339_times_keep_their_instant_in_utc() {
        assert_eq!(
            at("2026-11-24T10:00:00.250+02:00"),
            "2026-11-24T08:00:00.250+00:00"
        );
        assert_eq!(at("2026-11-24T10:00:00Z"), "2026-11-24T10:00:00+00:00");
    }

    #[test]
    fn a_local_date_and_time_is_read_in_the_local_zone() {
        assert_eq!(at("2026-12-01 10:00"), "2026-12-01T09:00:00+00:00");
        assert_eq!(at("2026-12-01T10:00"), "2026-12-01T09:00:00+00:00");
        assert_eq!(
            at("2026-07-01 10:00"),
            "2026-07-01T08:00:00+00:00",
            "summer time"
        );
        assert_eq!(
            at("2026-11-20"),
            "2026-11-19T23:00:00+00:00",
            "a date is its midnight"
        );
    }

    #[test]
    fn days_by_name_start_at_local_midnight() {
        assert_eq!(at("today"), "2026-11-23T23:00:00+00:00");
        assert_eq!(at("yesterday"), "2026-11-22T23:00:00+00:00");
        assert_eq!(at("tomorrow"), "2026-11-24T23:00:00+00:00");
        assert_eq!(at("now"), "2026-11-24T12:00:00+00:00");
    }

    #[test]
    fn spans_count_back_from_now_with_or_without_a_minus() {
        for (text, expected) in [
            ("30s", "2026-11-24T11:59:30+00:00"),
            ("15m", "2026-11-24T11:45:00+00:00"),
            ("2h", "2026-11-24T10:00:00+00:00"),
            ("-2h", "2026-11-24T10:00:00+00:00"),
            ("2h 30m", "2026-11-24T09:30:00+00:00"),
            ("7d", "2026-11-17T12:00:00+00:00"),
            ("1w", "2026-11-17T12:00:00+00:00"),
        ] {
            assert_eq!(at(text), expected, "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_forms_a_time_takes() {
        for text in ["", "2", "h", "soon", "2026-13-01", "99999999999999w"] {
            let err = parse_time(text, &now()).expect_err(text);
            assert!(
                err.contains(&format!("{text:?}")),
                "{text}: names the input: {err}"
            );
        }
        let err = parse_time("soon", &now()).expect_err("soon");
        assert!(err.contains("yesterday") && err.contains("2h"), "{err}");
    }

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
