//! The activity counts (schema 4): entries and transitions per UTC hour, counted as the
//! entry count is, up to its mark (`log_tally.through`): `activity` holds the counts of the
//! entries with ids up to the mark, and a read adds those above it, so that no append
//! updates a count row. What moves the mark counts the entries it passes; a deletion, an
//! import or a restore counts out or in the entries under it, each holding the count's row.

use postgres::GenericClient;
use postgres::types::ToSql;
use store_core::kit::ActivityTally;
use store_core::{AUDIT_KIND, AUDIT_SOURCE, ActivitySeries, HOUR_MILLIS, HourCount, StoreResult};

use crate::error::Context;

/// What schema version 4 changes: the entry count renamed, so that an older build's writer
/// cannot move its mark without counting, and the counts, by (hour number, series name).
pub(crate) const TABLES_V4: &str = "
ALTER TABLE {s}.entry_count RENAME TO log_tally;
CREATE TABLE {s}.activity (
    hour bigint NOT NULL,
    series text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (hour, series));
";

/// The UTC hour number of `ts` (floor division, as `day` is computed).
const HOUR_OF_TS: &str = "((ts - (((ts % 3600000) + 3600000) % 3600000)) / 3600000)";

/// Tallies `delta` times the entries of `{s}.logs` that `filter` selects (a condition that
/// binds `params`): each hour's count, and the transitions among them, whose payloads are
/// read.
pub(crate) fn tally_rows(
    client: &mut impl GenericClient,
    s: &str,
    filter: &str,
    params: &[&(dyn ToSql + Sync)],
    tally: &mut ActivityTally,
    delta: i64,
) -> StoreResult<()> {
    let context = "counting entries by hour";
    for row in client
        .query(
            &format!("SELECT {HOUR_OF_TS}, count(*) FROM {s}.logs WHERE {filter} GROUP BY 1"),
            params,
        )
        .context(context)?
    {
        let (hour, n): (i64, i64) = (row.get(0), row.get(1));
        tally.count(
            hour.saturating_mul(HOUR_MILLIS),
            ActivitySeries::Entries,
            n.saturating_mul(delta),
        );
    }
    for row in client
        .query(
            // `OFFSET 0` keeps the planner from pushing the source and kind into the scan,
            // which could then walk every transition of the log by its index instead of
            // the rows the filter names.
            &format!(
                "SELECT ts, payload FROM (SELECT ts, CASE WHEN \
                 source = '{AUDIT_SOURCE}'::bytea AND kind = '{AUDIT_KIND}'::bytea \
                 THEN payload END AS payload FROM {s}.logs WHERE {filter} OFFSET 0) rows \
                 WHERE payload IS NOT NULL"
            ),
            params,
        )
        .context(context)?
    {
        let (ts, payload): (i64, Vec<u8>) = (row.get(0), row.get(1));
        let series = std::str::from_utf8(&payload)
            .ok()
            .and_then(|payload| ActivitySeries::transition_of(AUDIT_SOURCE, AUDIT_KIND, payload));
        if let Some(series) = series {
            tally.count(ts, series, delta);
        }
    }
    Ok(())
}

/// Stores what `tally` changes; rows that reach zero are removed.
pub(crate) fn save(
    client: &mut impl GenericClient,
    s: &str,
    tally: &ActivityTally,
) -> StoreResult<()> {
    if tally.is_empty() {
        return Ok(());
    }
    let (mut hours, mut series, mut deltas) = (Vec::new(), Vec::new(), Vec::new());
    for (hour, which, delta) in tally.changes() {
        hours.push(hour);
        series.push(which.key());
        deltas.push(delta);
    }
    let context = "saving the activity counts";
    client
        .execute(
            &format!(
                "INSERT INTO {s}.activity (hour, series, n) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[]) \
                 ON CONFLICT (hour, series) DO UPDATE SET n = {s}.activity.n + excluded.n"
            ),
            &[&hours, &series, &deltas],
        )
        .context(context)?;
    // A statement apart: the upsert's own new rows are not visible to a statement of its
    // own `WITH`.
    client
        .execute(
            &format!(
                "DELETE FROM {s}.activity WHERE n = 0 AND (hour, series) IN \
                 (SELECT * FROM unnest($1::bigint[], $2::text[]))"
            ),
            &[&hours, &series],
        )
        .context(context)?;
    Ok(())
}

/// Counts the entries under the mark, once, when a store of an older schema gains the
/// counts; the mark's row is held meanwhile, so that it does not move.
pub(crate) fn count_existing(client: &mut impl GenericClient, s: &str) -> StoreResult<()> {
    client
        .execute(
            &format!("SELECT through FROM {s}.log_tally FOR UPDATE"),
            &[],
        )
        .context("taking the entry count")?;
    count_in(
        client,
        s,
        &format!("id <= (SELECT through FROM {s}.log_tally)"),
        &[],
    )
}

/// Counts the entries a mark that moves from where it is to `to` passes.
pub(crate) fn count_up_to(client: &mut impl GenericClient, s: &str, to: i64) -> StoreResult<()> {
    count_in(
        client,
        s,
        &format!("id > (SELECT through FROM {s}.log_tally) AND id <= $1"),
        &[&to],
    )
}

/// Counts in the entries `filter` selects ([`tally_rows`]) and stores them ([`save`]).
fn count_in(
    client: &mut impl GenericClient,
    s: &str,
    filter: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<()> {
    let mut tally = ActivityTally::new();
    tally_rows(client, s, filter, params, &mut tally, 1)?;
    save(client, s, &tally)
}

/// The counts of the hours `hours` numbers, as the snapshot of `client` sees them: the rows
/// up to the mark and the entries above it.
pub(crate) fn read(
    client: &mut impl GenericClient,
    s: &str,
    hours: std::ops::Range<i64>,
) -> StoreResult<Vec<HourCount>> {
    let context = "reading the activity counts";
    let mut tally = ActivityTally::new();
    let (from, to) = (hours.start, hours.end);
    for row in client
        .query(
            &format!("SELECT hour, series, n FROM {s}.activity WHERE hour >= $1 AND hour < $2"),
            &[&from, &to],
        )
        .context(context)?
    {
        let (hour, key, n): (i64, String, i64) = (row.get(0), row.get(1), row.get(2));
        tally.add_stored("activity", hour, &key, n)?;
    }
    let (since, until) = (
        from.saturating_mul(HOUR_MILLIS),
        to.saturating_mul(HOUR_MILLIS),
    );
    tally_rows(
        client,
        s,
        &format!("id > (SELECT through FROM {s}.log_tally) AND ts >= $1 AND ts < $2"),
        &[&since, &until],
        &mut tally,
        1,
    )?;
    tally.counts("activity")
}
