//! Times as people type them, as journalctl takes them: RFC 3339 (with `Z` or an offset), a
//! local date and time (`2026-12-01 10:00`, `2026-12-01T10:00`), a local date (its
//! midnight), `now`, `today`, `yesterday`, `tomorrow`, or a span back from now (`2h`, `-2h`,
//! `90m`, `7d`, `1w`, `2h 30m`). "Local" is the zone of the `now` given: what the command
//! line's `--since` and the console's filters take alike.
//!
//! Parsed by `jiff`, which knows zones, their daylight-saving changes and friendly spans,
//! rather than by hand.

use chrono::{DateTime, Utc};
pub use jiff::tz::TimeZone;
use jiff::{Span, civil};
pub use jiff::{Timestamp, Zoned};

/// What a time may be, for the error that refuses one.
pub const TIME_FORMS: &str = "give RFC 3339 (2026-11-24T10:00:00Z, 2026-11-24T11:00:00+01:00), \
                              a local date and time (2026-11-24 10:00), a date (2026-11-24), \
                              now, today, yesterday, or a span back from now (30s, 15m, 2h, \
                              -2h, 7d, 1w)";

/// A typed time that names no time a store keeps; each says the text it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotATime {
    /// The text is none of the forms ([`TIME_FORMS`]).
    Unknown {
        /// What was typed.
        text: String,
    },
    /// The text has a form but names no time (a local time a daylight-saving change skips,
    /// a span that goes past the calendar).
    NoSuchTime {
        /// What was typed.
        text: String,
        /// Why, as `jiff` says it.
        reason: String,
    },
    /// The time is outside the times a store keeps.
    OutOfRange {
        /// What was typed.
        text: String,
    },
}

impl std::fmt::Display for NotATime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotATime::Unknown { text } => write!(f, "{text:?} is not a time: {TIME_FORMS}"),
            NotATime::NoSuchTime { text, reason } => {
                write!(f, "{text:?} is not a time there is ({reason})")
            }
            NotATime::OutOfRange { text } => {
                write!(f, "{text:?} is outside the times a store keeps")
            }
        }
    }
}

impl std::error::Error for NotATime {}

/// Parses `text` as a time, `now` being the current time in the zone local times are read
/// in.
///
/// # Errors
/// [`NotATime`], naming `text`.
pub fn parse_time(text: &str, now: &Zoned) -> Result<DateTime<Utc>, NotATime> {
    let text = text.trim();
    let unknown = || NotATime::Unknown {
        text: text.to_owned(),
    };
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
    let instant = found.map_err(|err| NotATime::NoSuchTime {
        text: text.to_owned(),
        reason: err.to_string(),
    })?;
    let out_of_range = || NotATime::OutOfRange {
        text: text.to_owned(),
    };
    let time = DateTime::from_timestamp(
        instant.as_second(),
        instant.subsec_nanosecond().unsigned_abs(),
    )
    .ok_or_else(out_of_range)?;
    if time < store_core::min_ts() || time > store_core::max_ts() {
        return Err(out_of_range());
    }
    Ok(time)
}

/// The start of the local day `days` away from `now`'s.
fn day_start(now: &Zoned, days: i64) -> Result<Timestamp, jiff::Error> {
    now.date()
        .checked_add(Span::new().try_days(days)?)?
        .to_zoned(now.time_zone().clone())
        .map(|at| at.timestamp())
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
            let err = parse_time(text, &now()).expect_err(text).to_string();
            assert!(
                err.contains(&format!("{text:?}")),
                "{text}: names the input: {err}"
            );
        }
        let err = parse_time("soon", &now()).expect_err("soon").to_string();
        assert!(err.contains("yesterday") && err.contains("2h"), "{err}");
    }
}
