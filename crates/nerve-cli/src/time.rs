//! Times as people type them: RFC 3339, a UTC date, or a span back from now (`2h`).
//!
//! Our own parsing over `chrono` for these three forms; the forms journalctl takes (local
//! times, `yesterday`, offsets, `-2h`) are asked for by the next issue ("in users' hands"),
//! which brings `jiff` for them rather than growing this file.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Parses `text` as an RFC 3339 time (`2026-11-24T10:00:00Z`), a UTC date (`2026-11-24`,
/// its midnight), `now`, or a span before `now`: a whole number and a unit, `s`, `m`, `h`,
/// `d` or `w` (`90m`, `2h`, `7d`).
pub(crate) fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let unknown = || {
        format!(
            "{text:?} is not a time: give RFC 3339 (2026-11-24T10:00:00Z), a date \
             (2026-11-24), or a span back from now (30s, 15m, 2h, 7d, 1w)"
        )
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(unknown)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| unknown())?;
    let span = match unit {
        "s" => Duration::try_seconds(number),
        "m" => Duration::try_minutes(number),
        "h" => Duration::try_hours(number),
        "d" => Duration::try_days(number),
        "w" => Duration::try_weeks(number),
        _ => None,
    }
    .ok_or_else(unknown)?;
    now.checked_sub_signed(span)
        .ok_or_else(|| format!("{text:?} reaches back before the earliest time there is"))
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

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z"
            .parse()
            .expect("a fixed time for the tests")
    }

    #[test]
    fn rfc3339_times_keep_their_instant_in_utc() {
        let time = parse_time("2026-11-24T10:00:00.250+02:00", now()).expect("parses");
        assert_eq!(time.to_rfc3339(), "2026-11-24T08:00:00.250+00:00");
    }

    #[test]
    fn a_date_is_its_utc_midnight() {
        let time = parse_time("2026-11-20", now()).expect("parses");
        assert_eq!(time.to_rfc3339(), "2026-11-20T00:00:00+00:00");
    }

    #[test]
    fn spans_count_back_from_now() {
        let back = |text| now() - parse_time(text, now()).expect(text);
        assert_eq!(back("30s"), Duration::seconds(30));
        assert_eq!(back("15m"), Duration::minutes(15));
        assert_eq!(back("2h"), Duration::hours(2));
        assert_eq!(back("7d"), Duration::days(7));
        assert_eq!(back("1w"), Duration::weeks(1));
        assert_eq!(back("now"), Duration::zero());
    }

    #[test]
    fn anything_else_is_refused_with_the_forms_a_time_takes() {
        for text in [
            "",
            "2",
            "h",
            "2y",
            "-2h",
            "yesterday",
            "2026-13-01",
            "99999999999999w",
        ] {
            let err = parse_time(text, now()).expect_err(text);
            assert!(
                err.contains(&format!("{text:?}")),
                "{text}: the error names the input: {err}"
            );
        }
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
        assert!(parse_day_range("2026-10-01..").is_err());
        assert!(parse_day_range("last week").is_err());
    }
}
