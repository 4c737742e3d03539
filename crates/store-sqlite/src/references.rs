//! Blob references (schema 5): `blob_refs` rows of (digest, holder), each with its checksum,
//! keyed by digest for what references a blob and indexed by holder for what a holder
//! references.

use rusqlite::{Connection, Row, params};
use store_core::{BlobHolder, BlobReference, Digest, LogId, StoreError, StoreResult};

use crate::checksum;
use crate::error::Context;
use crate::read::check_crc;

/// Makes `holder` reference exactly `blobs`, replacing what it referenced.
pub(crate) fn set_refs(
    conn: &Connection,
    holder: &BlobHolder,
    blobs: &[Digest],
) -> StoreResult<()> {
    let key = holder.key();
    let context = || format!("recording the blobs {holder} references");
    conn.prepare_cached("DELETE FROM blob_refs WHERE holder = ?1")
        .and_then(|mut stmt| stmt.execute([&key]))
        .with_context(context)?;
    for digest in blobs {
        insert_ref(conn, digest, &key).with_context(context)?;
    }
    Ok(())
}

/// Adds the reference of `holder_key` to `digest`, unless it is there.
pub(crate) fn insert_ref(
    conn: &Connection,
    digest: &Digest,
    holder_key: &str,
) -> rusqlite::Result<usize> {
    let bytes = digest.as_bytes().as_slice();
    conn.prepare_cached(
        "INSERT INTO blob_refs (digest, holder, crc) VALUES (?1, ?2, ?3) \
         ON CONFLICT (digest, holder) DO NOTHING",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            bytes,
            holder_key,
            checksum::blob_ref_row(bytes, holder_key)
        ])
    })
}

/// The SQL that removes the references of the entries a `WHERE` over `logs` selects, as
/// the deletion of those entries does: `{}` is that condition.
pub(crate) const DELETE_ENTRY_REFS: &str = "DELETE FROM blob_refs WHERE holder IN \
    (SELECT 'entry:' || printf('%020d', id) FROM logs WHERE {})";

/// A `blob_refs` row selected as `digest, holder, crc`, checked.
fn reference(row: &Row<'_>) -> StoreResult<BlobReference> {
    let table = "blob_refs";
    let digest: Vec<u8> = row.get(0).context("reading a blob reference")?;
    let holder: String = row.get(1).context("reading a blob reference")?;
    let crc: i64 = row.get(2).context("reading a blob reference")?;
    check_crc(
        table,
        &holder,
        crc,
        checksum::blob_ref_row(&digest, &holder),
    )?;
    let bytes: [u8; 32] = digest
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::corrupt(table, &holder, "a digest is 32 bytes"))?;
    Ok(BlobReference {
        digest: Digest::from_bytes(bytes),
        holder: BlobHolder::from_key(&holder)?,
    })
}

fn collect(
    conn: &Connection,
    sql: &str,
    values: impl rusqlite::Params,
) -> StoreResult<Vec<BlobReference>> {
    let mut stmt = conn
        .prepare_cached(sql)
        .context("preparing a blob reference read")?;
    let mut rows = stmt.query(values).context("reading blob references")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().context("reading blob references")? {
        out.push(reference(row)?);
    }
    Ok(out)
}

/// What references `digest`, after `after`, at most `limit`.
pub(crate) fn references(
    conn: &Connection,
    digest: &Digest,
    after: Option<&BlobHolder>,
    limit: usize,
) -> StoreResult<Vec<BlobHolder>> {
    let after = after.map(BlobHolder::key);
    let found = collect(
        conn,
        "SELECT digest, holder, crc FROM blob_refs WHERE digest = ?1 \
         AND (?2 IS NULL OR holder > ?2) ORDER BY holder LIMIT ?3",
        params![
            digest.as_bytes().as_slice(),
            after,
            crate::read::limit_to_sql(limit)
        ],
    )?;
    found
        .into_iter()
        .map(|reference| {
            if reference.digest == *digest {
                Ok(reference.holder)
            } else {
                Err(StoreError::corrupt(
                    "blob_refs",
                    reference.holder,
                    "the index named another blob",
                ))
            }
        })
        .collect()
}

/// The blobs `holder` references, in digest order.
pub(crate) fn blobs_of(conn: &Connection, holder: &BlobHolder) -> StoreResult<Vec<Digest>> {
    let found = collect(
        conn,
        "SELECT digest, holder, crc FROM blob_refs WHERE holder = ?1 ORDER BY digest",
        [holder.key()],
    )?;
    Ok(found
        .into_iter()
        .map(|reference| reference.digest)
        .collect())
}

/// The references the entries `ids` hold, in (holder, digest) order.
pub(crate) fn entry_references(
    conn: &Connection,
    ids: &[LogId],
) -> StoreResult<Vec<BlobReference>> {
    let keys: Vec<String> = ids
        .iter()
        .map(|id| format!("\"{}\"", BlobHolder::Entry(*id).key()))
        .collect();
    // One statement for the page (an archive run asks a thousand ids at a time): the keys as
    // a JSON array, each looked up by the holder index inside SQLite.
    collect(
        conn,
        "SELECT digest, holder, crc FROM blob_refs INDEXED BY blob_refs_by_holder \
         WHERE holder IN (SELECT value FROM json_each(?1)) ORDER BY holder, digest",
        [format!("[{}]", keys.join(","))],
    )
}

/// Those of `digests` something references, in digest order, each once.
pub(crate) fn referenced(conn: &Connection, digests: &[Digest]) -> StoreResult<Vec<Digest>> {
    let mut stmt = conn
        .prepare_cached("SELECT 1 FROM blob_refs WHERE digest = ?1 LIMIT 1")
        .context("preparing a blob reference read")?;
    let mut out = Vec::new();
    for digest in digests {
        let mut rows = stmt
            .query([digest.as_bytes().as_slice()])
            .context("reading blob references")?;
        if rows.next().context("reading blob references")?.is_some() {
            out.push(*digest);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Every reference after `after` in (digest, holder) order, at most `limit`.
pub(crate) fn blob_references(
    conn: &Connection,
    after: Option<&BlobReference>,
    limit: usize,
) -> StoreResult<Vec<BlobReference>> {
    let limit = crate::read::limit_to_sql(limit);
    match after {
        None => collect(
            conn,
            "SELECT digest, holder, crc FROM blob_refs ORDER BY digest, holder LIMIT ?1",
            [limit],
        ),
        Some(after) => collect(
            conn,
            "SELECT digest, holder, crc FROM blob_refs WHERE (digest, holder) > (?1, ?2) \
             ORDER BY digest, holder LIMIT ?3",
            params![
                after.digest.as_bytes().as_slice(),
                after.holder.key(),
                limit
            ],
        ),
    }
}
