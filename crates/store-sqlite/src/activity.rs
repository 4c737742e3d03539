//! The activity counts (schema 6): entries and transitions per UTC hour, kept by every write
//! that adds or deletes entries ([`store_core::kit::ActivityTally`]).

use rusqlite::{Connection, Params, params};
use store_core::kit::{ActivityTally, hour_counts};
use store_core::{AUDIT_KIND, AUDIT_SOURCE, ActivitySeries, HourCount, StoreResult};

use crate::error::Context;
use crate::read::{self, LOG_COLUMNS};

/// What schema version 6 adds: the activity counts, by (hour number, series name). Rows
/// reach zero and are removed as the archive deletes their entries.
pub(crate) const SCHEMA_V6: &str = "
CREATE TABLE activity (
    hour   INTEGER NOT NULL,
    series TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (hour, series)
) WITHOUT ROWID;
";

/// Stores what `tally` changes, before the transaction commits.
pub(crate) fn save(conn: &Connection, tally: &ActivityTally) -> StoreResult<()> {
    for (hour, series, delta) in tally.changes() {
        conn.prepare_cached(
            "INSERT INTO activity (hour, series, n) VALUES (?1, ?2, ?3) \
             ON CONFLICT (hour, series) DO UPDATE SET n = n + excluded.n",
        )
        .and_then(|mut stmt| stmt.execute(params![hour, series.key(), delta]))
        .context("saving the activity counts")?;
        if delta < 0 {
            conn.prepare_cached("DELETE FROM activity WHERE hour = ?1 AND series = ?2 AND n = 0")
                .and_then(|mut stmt| stmt.execute(params![hour, series.key()]))
                .context("saving the activity counts")?;
        }
    }
    Ok(())
}

/// Tallies the entries `filter` (a condition on `logs`, with `params`) selects, each
/// `delta` times: their times, and the transitions among them read whole, checked against
/// their checksums. `table` is `logs` with the index the filter is for (`logs INDEXED BY
/// …`): the transitions' source and kind must not lead SQLite to walk every transition of
/// the log instead.
pub(crate) fn tally_rows<P: Params + Copy>(
    conn: &Connection,
    table: &str,
    filter: &str,
    params: P,
    tally: &mut ActivityTally,
    delta: i64,
) -> StoreResult<()> {
    let context = "reading the times of entries to count";
    let mut stmt = conn
        .prepare_cached(&format!("SELECT ts FROM {table} WHERE {filter}"))
        .context(context)?;
    let mut rows = stmt.query(params).context(context)?;
    while let Some(row) = rows.next().context(context)? {
        let ts: i64 = row.get(0).context(context)?;
        tally.count(ts, ActivitySeries::Entries, delta);
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {LOG_COLUMNS} FROM {table} WHERE ({filter}) \
             AND source = '{AUDIT_SOURCE}' AND kind = '{AUDIT_KIND}'"
        ))
        .context(context)?;
    let rows = stmt.query(params).context(context)?;
    for entry in read::collect(conn, rows, context, read::log_entry)? {
        if let Some(series) =
            ActivitySeries::transition_of(&entry.source, &entry.kind, &entry.payload)
        {
            tally.count(entry.ts.timestamp_millis(), series, delta);
        }
    }
    Ok(())
}

/// Counts every entry the log holds, once, when a file of an older schema gains the table.
pub(crate) fn backfill(conn: &Connection) -> StoreResult<()> {
    let mut tally = ActivityTally::new();
    tally_rows(conn, "logs", "1", [], &mut tally, 1)?;
    save(conn, &tally)
}

/// The counts of the hours `hours` numbers.
pub(crate) fn read(conn: &Connection, hours: std::ops::Range<i64>) -> StoreResult<Vec<HourCount>> {
    let context = "reading the activity counts";
    let mut stmt = conn
        .prepare_cached(
            "SELECT hour, series, n FROM activity WHERE hour >= ?1 AND hour < ?2 \
             ORDER BY hour, series",
        )
        .context(context)?;
    let rows = stmt
        .query_map(params![hours.start, hours.end], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .context(context)?
        .collect::<Result<Vec<(i64, String, i64)>, _>>()
        .context(context)?;
    hour_counts("activity", rows)
}
