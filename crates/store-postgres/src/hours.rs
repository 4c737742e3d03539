//! A log query bounded in time, answered hour by hour.
//!
//! PostgreSQL's writers commit ids out of order, so a time range cannot be turned into an id
//! range as SQLite's and redb's time marks turn it (docs/SPEC.md §1). An index by `(hour,
//! id)` (and by `(source, kind, hour, id)`) holds each hour's entries in id order; a range is
//! one *arm* for each of its hours, each walked in id order and merged by PostgreSQL's Merge
//! Append, which reads from each arm only what the merge takes. A page costs a seek an hour
//! plus its entries, whatever the log's size and however its ids and times interleave; what
//! it passes over is at most the entries of the range's two partial hours that are outside it.
//!
//! A statement holds [`HOURS_PER_STATEMENT`] arms (a fixed shape, so that each connection
//! prepares it once and the server soon plans it once); a longer range runs several, in the
//! order of the query, in one snapshot, each narrowed by the page found so far, and each
//! given the next hours that hold entries (one seek an hour), so that empty hours cost
//! nothing: a log with entries at the two ends of time (years 0 and 9999) has two hours, not 88
//! million.

use postgres::GenericClient;
use postgres::types::ToSql;
use store_core::kit::bound_millis;
use store_core::{LogEntry, LogQuery, MAX_LOG_ID, Order, StoreResult};

use crate::connection::Statements;
use crate::error::Context;
use crate::read::{LOG_COLUMNS, id_to_sql, limit_to_sql, log_entry};

/// The hour of a row's `ts` in SQL: milliseconds floored to the hour, numbered from the
/// epoch (as `day` numbers days). The indexes `logs_by_hour` and `logs_by_source_kind_hour`
/// are on this expression, and every arm names it in these words, so that the planner
/// matches the two.
pub(crate) const HOUR_OF_TS: &str = "((ts - (((ts % 3600000) + 3600000) % 3600000)) / 3600000)";

/// The arms of one statement: 32 hours, about 0.5 ms of the server's time once planned.
pub(crate) const HOURS_PER_STATEMENT: usize = 32;

/// The hour of a time in milliseconds, as [`HOUR_OF_TS`] computes it.
pub(crate) fn hour_of(millis: i64) -> i64 {
    millis.div_euclid(3_600_000)
}

/// What an arm left empty is given: no row is in this hour (the hours of stored times, years
/// 0 to 9999, lie between −1.8 × 10⁷ and 7.1 × 10⁷).
const NO_HOUR: i64 = i64::MIN;

/// Whether `query` is answered hour by hour: it is bounded in time and names no `ref_id`
/// (a ref's entries are few and its index walks them in id order).
pub(crate) fn answers(query: &LogQuery) -> bool {
    (query.since.is_some() || query.until.is_some()) && query.ref_id.is_none()
}

/// The first and the last hour of the times from `since` (included) to `until` (excluded),
/// in milliseconds.
fn hours_from_to(since: i64, until: i64) -> (i64, i64) {
    (hour_of(since), hour_of(until.saturating_sub(1)))
}

/// The hours a query names when it names both ends, first and last: `None` when it leaves
/// one open.
fn named_hours(query: &LogQuery) -> Option<(i64, i64)> {
    Some(hours_from_to(
        bound_millis(query.since?),
        bound_millis(query.until?),
    ))
}

/// Whether the named hours of `query` fit one statement, which then needs no snapshot of
/// its own and no search for the hours that hold entries.
pub(crate) fn fits_one_statement(query: &LogQuery) -> bool {
    named_hours(query).is_some_and(|(first, last)| {
        last < first || last.abs_diff(first) < HOURS_PER_STATEMENT as u64
    })
}

/// The SQL of one statement of arms in the schema `s`. Values: the hours (`$1` to
/// `$HOURS_PER_STATEMENT`), then the source and the kind when the query names them, then
/// `since`, `until`, the id the page's ids lie above and the highest it may hold, the limit,
/// and the horizon last when `bounded`.
pub(crate) fn arms_sql(s: &str, query: &LogQuery, bounded: bool) -> String {
    let mut n = HOURS_PER_STATEMENT;
    let mut next = || {
        n += 1;
        n
    };
    let mut filter = String::new();
    if query.source.is_some() {
        filter.push_str(&format!(" AND source = ${}", next()));
    }
    if query.kind.is_some() {
        filter.push_str(&format!(" AND kind = ${}", next()));
    }
    let (since, until, above, upto, limit) = (next(), next(), next(), next(), next());
    if bounded {
        filter.push_str(&format!(" AND id <= ${}", next()));
    }
    let order = match query.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    };
    let arms: Vec<String> = (1..=HOURS_PER_STATEMENT)
        .map(|hour| {
            format!(
                "(SELECT {LOG_COLUMNS} FROM {s}.logs WHERE {HOUR_OF_TS} = ${hour}{filter} \
                 AND ts >= ${since} AND ts < ${until} AND id > ${above} AND id <= ${upto} \
                 ORDER BY id {order} LIMIT ${limit})"
            )
        })
        .collect();
    format!(
        "SELECT {LOG_COLUMNS} FROM ({}) arms ORDER BY id {order} LIMIT ${limit}",
        arms.join(" UNION ALL ")
    )
}

/// The hours one statement of [`hours_sql`] finds, at most: about 3.4 ms of the server's time.
pub(crate) const HOURS_PER_FIND: usize = 256;

/// The SQL of the hours that hold entries in the schema `s`, at most [`HOURS_PER_FIND`] of
/// them, from `$1` toward `$2` (both included) in the query's order, each with its first id
/// in that order (its lowest when ascending, its highest when descending): one seek an hour
/// in `logs_by_hour` (13 µs), so that a range's empty hours (a log that sleeps for a week, entries at
/// the two ends of time) cost nothing, and an hour whose ids all lie past a full page is
/// never walked.
pub(crate) fn hours_sql(s: &str, order: Order) -> String {
    let (from, past, to, direction) = match order {
        Order::Ascending => (">=", ">", "<=", "ASC"),
        Order::Descending => ("<=", "<", ">=", "DESC"),
    };
    let first = |after: &str| {
        format!(
            "SELECT {HOUR_OF_TS} AS h, id FROM {s}.logs \
             WHERE {HOUR_OF_TS} {after} AND {HOUR_OF_TS} {to} $2 \
             ORDER BY {HOUR_OF_TS} {direction}, id {direction} LIMIT 1"
        )
    };
    format!(
        "WITH RECURSIVE hours (h, id, n) AS (\
         (SELECT h, id, 1 FROM ({}) start) \
         UNION ALL SELECT next.h, next.id, hours.n + 1 FROM hours, LATERAL ({}) next \
         WHERE hours.n < {HOURS_PER_FIND}) \
         SELECT h, id FROM hours ORDER BY n",
        first(&format!("{from} $1")),
        first(&format!("{past} hours.h"))
    )
}

/// A query's page walked hour by hour through `client` in the schema `s`, in one snapshot
/// when the statements are more than one (the caller's); `horizon` the read's bound, when it
/// has one.
pub(crate) fn walk(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    s: &str,
    query: &LogQuery,
    horizon: Option<i64>,
) -> StoreResult<Vec<LogEntry>> {
    let Some(mut walk) = Walk::new(query, horizon) else {
        return Ok(Vec::new());
    };
    let arms = statements
        .get(client, &arms_sql(s, query, horizon.is_some()))
        .context("preparing a walk by hours")?;
    if fits_one_statement(query) {
        let hours: Vec<i64> = match query.order {
            Order::Ascending => (walk.first..=walk.last).collect(),
            Order::Descending => (walk.first..=walk.last).rev().collect(),
        };
        walk.arms(client, &arms, &hours)?;
        return Ok(walk.page);
    }
    let find = statements
        .get(client, &hours_sql(s, query.order))
        .context("preparing a walk by hours")?;
    // Where the next hours are looked for, from the end the query's order starts at.
    let (mut from, to) = match query.order {
        Order::Ascending => (walk.first, walk.last),
        Order::Descending => (walk.last, walk.first),
    };
    let mut pending = Vec::with_capacity(HOURS_PER_STATEMENT);
    loop {
        let found: Vec<(i64, i64)> = client
            .query(&find, &[&from, &to])
            .context("finding the hours that hold entries")?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()
            .context("finding the hours that hold entries")?;
        let Some(&(reached, _)) = found.last() else {
            break;
        };
        for &(hour, first_id) in &found {
            if walk.holds_none_from(first_id) {
                continue;
            }
            pending.push(hour);
            if pending.len() == HOURS_PER_STATEMENT {
                walk.arms(client, &arms, &pending)?;
                pending.clear();
            }
        }
        if found.len() < HOURS_PER_FIND || reached == to {
            break;
        }
        // The hours of stored times lie within ±10⁸, far from overflowing.
        from = match query.order {
            Order::Ascending => reached + 1,
            Order::Descending => reached - 1,
        };
    }
    if !pending.is_empty() {
        walk.arms(client, &arms, &pending)?;
    }
    Ok(walk.page)
}

/// A walk's query, its bounds as the statements take them, and its page so far.
struct Walk<'q> {
    query: &'q LogQuery,
    limit: usize,
    horizon: Option<i64>,
    since: i64,
    until: i64,
    /// The range's first and last hour (the ends of time when it is open).
    first: i64,
    last: i64,
    /// The ids a page may hold, from above `above` to `upto`, narrowed by a full page.
    above: i64,
    upto: i64,
    page: Vec<LogEntry>,
}

impl<'q> Walk<'q> {
    /// `None` when the range holds no time.
    fn new(query: &'q LogQuery, horizon: Option<i64>) -> Option<Self> {
        let since = query.since.map_or(i64::MIN, bound_millis);
        let until = query.until.map_or(i64::MAX, bound_millis);
        let (first, last) = hours_from_to(since, until);
        (first <= last).then(|| Walk {
            query,
            limit: query.effective_limit(),
            horizon,
            since,
            until,
            first,
            last,
            above: query.after.map_or(0, id_to_sql),
            upto: query
                .before
                .filter(|before| *before <= MAX_LOG_ID)
                .map_or(i64::MAX, |before| id_to_sql(before) - 1),
            page: Vec::new(),
        })
    }

    /// Whether an hour whose first id in the query's order is `id` holds nothing the page
    /// can take: the page is full and `id` lies past its end.
    fn holds_none_from(&self, id: i64) -> bool {
        self.page.len() == self.limit
            && match self.query.order {
                Order::Ascending => id > self.upto,
                Order::Descending => id <= self.above,
            }
    }

    /// Walks the arms of `hours` (at most [`HOURS_PER_STATEMENT`]) and merges what they
    /// find into the page.
    fn arms(
        &mut self,
        client: &mut impl GenericClient,
        arms: &postgres::Statement,
        hours: &[i64],
    ) -> StoreResult<()> {
        let query = self.query;
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        for arm in 0..HOURS_PER_STATEMENT {
            values.push(Box::new(hours.get(arm).copied().unwrap_or(NO_HOUR)));
        }
        if let Some(source) = &query.source {
            values.push(Box::new(source.as_bytes().to_vec()));
        }
        if let Some(kind) = &query.kind {
            values.push(Box::new(kind.as_bytes().to_vec()));
        }
        values.push(Box::new(self.since));
        values.push(Box::new(self.until));
        values.push(Box::new(self.above));
        values.push(Box::new(self.upto));
        values.push(Box::new(limit_to_sql(self.limit)));
        if let Some(horizon) = self.horizon {
            values.push(Box::new(horizon));
        }
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(AsRef::as_ref).collect();
        let rows = client
            .query(arms, &params)
            .context("querying the log by hours")?;
        for row in &rows {
            self.page.push(log_entry(row)?);
        }
        match query.order {
            Order::Ascending => self.page.sort_unstable_by_key(|entry| entry.id),
            Order::Descending => self
                .page
                .sort_unstable_by_key(|entry| std::cmp::Reverse(entry.id)),
        }
        self.page.truncate(self.limit);
        // A full page: what comes later must come before its last entry to be in it.
        if self.page.len() == self.limit
            && let Some(last) = self.page.last()
        {
            match query.order {
                Order::Ascending => self.upto = self.upto.min(id_to_sql(last.id) - 1),
                Order::Descending => self.above = self.above.max(id_to_sql(last.id)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn an_hour_is_its_milliseconds_floored_as_the_sql_floors_them() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(3_599_999), 0);
        assert_eq!(hour_of(3_600_000), 1);
        assert_eq!(hour_of(-1), -1);
        assert_eq!(hour_of(-3_600_000), -1);
        assert_eq!(hour_of(-3_600_001), -2);
    }

    #[test]
    fn a_range_names_the_hours_from_its_start_to_the_hour_before_its_end() {
        let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 12, 6, h, m, 0).unwrap();
        let query = LogQuery {
            since: Some(at(12, 0)),
            until: Some(at(13, 0)),
            ..LogQuery::default()
        };
        let (first, last) = named_hours(&query).unwrap();
        assert_eq!(first, last, "an hour's range is one hour");
        assert!(fits_one_statement(&query));
        let query = LogQuery {
            since: Some(at(0, 30)),
            until: Some(at(23, 1)),
            ..query
        };
        let (first, last) = named_hours(&query).unwrap();
        assert_eq!(last - first, 23);
        let long = LogQuery {
            until: Some(at(0, 30) + chrono::Duration::hours(HOURS_PER_STATEMENT as i64)),
            ..query.clone()
        };
        assert!(!fits_one_statement(&long), "33 hours");
        let open = LogQuery {
            until: None,
            ..query
        };
        assert_eq!(named_hours(&open), None);
        assert!(!fits_one_statement(&open));
    }

    #[test]
    fn every_arm_names_the_indexed_expression_and_the_query_s_filters() {
        let query = LogQuery {
            source: Some("worker".into()),
            kind: Some("note".into()),
            since: Some(Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()),
            order: Order::Descending,
            ..LogQuery::default()
        };
        let sql = arms_sql("s", &query, true);
        assert_eq!(sql.matches(HOUR_OF_TS).count(), HOURS_PER_STATEMENT);
        assert_eq!(
            sql.matches("AND source = $33 AND kind = $34 AND id <= $40")
                .count(),
            HOURS_PER_STATEMENT
        );
        assert!(sql.ends_with("ORDER BY id DESC LIMIT $39"), "{sql}");
        let plain = arms_sql("s", &LogQuery::default(), false);
        assert!(
            !plain.contains("source =") && !plain.contains("$38"),
            "{plain}"
        );
    }
}
