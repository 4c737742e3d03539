//! Where ids come from on PostgreSQL and how far a reader may go: a transaction's entries are
//! numbered from its own transaction id ([`origin`]), and a read goes no further than the
//! store's horizon ([`horizon_sql`]), below which no entry can appear any more.

use store_core::{StoreError, StoreResult};

use crate::connection::PgConn;

/// How many ids one transaction numbers its entries within: 2^20. A group holds at most
/// this many entries ([`MAX_UNIT_WRITES`](store_core::MAX_UNIT_WRITES) is the same bound
/// for one unit), and transaction ids reach `i64::MAX / 2^20`, about 8.8 · 10^12, before
/// ids run out.
pub(crate) const IDS_PER_TRANSACTION: i64 = 1 << 20;

/// The origin of the ids of the transaction `xid`: `base + xid · 2^20`, or `i64::MAX` (no
/// id left) past the range of ids.
pub(crate) fn origin(base: i64, xid: i64) -> i64 {
    xid.checked_mul(IDS_PER_TRANSACTION)
        .and_then(|start| start.checked_add(base))
        .unwrap_or(i64::MAX)
}

/// The SQL of the store's horizon in the schema `s`: the highest id below which every id
/// that will ever be in the log there is visible to any statement that begins after this
/// one has returned, so that a read bounded by it (`id <= horizon`, in a later statement)
/// never misses an entry that commits later below one it returned (docs/SPEC.md, ids on
/// PostgreSQL).
///
/// The ids of a transaction `x` are `base + x · 2^20 + 1 ..= base + (x + 1) · 2^20`, so the
/// horizon is `base + h · 2^20` (at most `i64::MAX`) for the oldest transaction `h` that may
/// still add entries: the snapshot's `xmax` (every later transaction), or an older one the
/// snapshot counts as running (`xip`) that, by the server's locks read once after the
/// snapshot (`pg_locks`, materialised so that every look sees the same reading):
/// - holds its id's lock and a lock on the log table: a writer of the store, which took
///   that lock before it had an id (`write::begin`) and keeps it to its end; or
/// - holds no id lock in the reading and is still running when asked after it
///   (`pg_xact_status`): the server gives a transaction its id a moment before it takes
///   that id's lock, and a reading taken in between cannot tell whose it is (a reader that
///   passed such a writer missed one entry of 1,200 in CI). One that ended in between is
///   passed over: the server makes a commit visible before it releases the locks, so its
///   entries are visible to the bounded read.
///
/// A hot standby does not see the primary's locks, so there the horizon is the oldest
/// transaction still running on the primary (`pg_snapshot_xmin`): later, never wrong.
pub(crate) fn horizon_sql(s: &str) -> String {
    format!(
        "WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s), \
         locks AS MATERIALIZED (SELECT locktype, database, relation, transactionid, \
         virtualtransaction, mode FROM pg_locks), \
         writers AS MATERIALIZED (SELECT x::text::bigint AS x \
         FROM snap, pg_snapshot_xip(snap.s) AS x \
         WHERE CASE WHEN EXISTS (SELECT 1 FROM locks t WHERE t.locktype = 'transactionid' \
         AND t.mode = 'ExclusiveLock' \
         AND t.transactionid::text::bigint = (x::text::bigint & 4294967295)) \
         THEN EXISTS (SELECT 1 FROM locks t JOIN locks r \
         ON r.virtualtransaction = t.virtualtransaction \
         WHERE t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' \
         AND t.transactionid::text::bigint = (x::text::bigint & 4294967295) \
         AND r.locktype = 'relation' AND r.relation = '{s}.logs'::regclass \
         AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())) \
         ELSE COALESCE(pg_xact_status(x), 'in progress') = 'in progress' END) \
         SELECT LEAST(b.base::numeric + {per} * CASE WHEN pg_is_in_recovery() \
         THEN pg_snapshot_xmin(snap.s)::text::bigint \
         ELSE LEAST(pg_snapshot_xmax(snap.s)::text::bigint, \
         (SELECT min(x) FROM writers)) END, \
         9223372036854775807)::bigint \
         FROM {s}.log_ids b, snap",
        per = IDS_PER_TRANSACTION
    )
}

/// The store's horizon in the schema `s` ([`horizon_sql`]), read on `conn` in a statement
/// of its own: the read it bounds must begin after it.
pub(crate) fn horizon(conn: &mut PgConn, s: &str) -> StoreResult<i64> {
    let rows = conn
        .query_cached(&horizon_sql(s), &[])
        .map_err(|err| crate::error::engine_error("reading the store's horizon", err))?;
    rows.first()
        .and_then(|row| row.get::<_, Option<i64>>(0))
        .ok_or_else(|| StoreError::corrupt("log_ids", "base", "missing"))
}
