//! Blob references (schema 3): `blob_refs` rows of (digest, holder), keyed by digest for
//! what references a blob and indexed by holder for what a holder references.

use postgres::GenericClient;
use store_core::{BlobHolder, BlobReference, Digest, LogId, StoreError, StoreResult};

use crate::connection::Statements;
use crate::error::Context;

/// The SQL form of a holder key made from a log id column `{}`, as [`BlobHolder::key`]
/// writes it.
pub(crate) fn entry_holder_sql(id: &str) -> String {
    format!("convert_to('entry:' || lpad({id}::text, 20, '0'), 'UTF8')")
}

/// Makes `holder` reference exactly `blobs`, replacing what it referenced, in one
/// statement: the rows it deletes (blobs no longer named) and the rows it inserts (blobs
/// named) are never the same, so neither part depends on seeing the other.
pub(crate) fn set_refs(
    tx: &mut impl GenericClient,
    statements: &mut Statements,
    s: &str,
    holder: &BlobHolder,
    blobs: &[Digest],
) -> StoreResult<()> {
    let statement = statements
        .get(
            tx,
            &format!(
                "WITH gone AS (DELETE FROM {s}.blob_refs WHERE holder = $1 \
                 AND digest <> ALL($2::bytea[])) \
                 INSERT INTO {s}.blob_refs (digest, holder) \
                 SELECT d, $1 FROM unnest($2::bytea[]) AS d ON CONFLICT DO NOTHING"
            ),
        )
        .context("preparing a blob reference write")?;
    let digests: Vec<&[u8]> = blobs.iter().map(|d| d.as_bytes().as_slice()).collect();
    tx.execute(&statement, &[&holder.key().as_bytes(), &digests])
        .context(&format!("recording the blobs {holder} references"))?;
    Ok(())
}

/// Adds `references` to what the store records.
pub(crate) fn insert_refs(
    tx: &mut impl GenericClient,
    s: &str,
    references: &[BlobReference],
) -> StoreResult<()> {
    if references.is_empty() {
        return Ok(());
    }
    let digests: Vec<&[u8]> = references
        .iter()
        .map(|r| r.digest.as_bytes().as_slice())
        .collect();
    let holders: Vec<Vec<u8>> = references
        .iter()
        .map(|r| r.holder.key().into_bytes())
        .collect();
    tx.execute(
        &format!(
            "INSERT INTO {s}.blob_refs (digest, holder) \
             SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT DO NOTHING"
        ),
        &[&digests, &holders],
    )
    .context("recording blob references")?;
    Ok(())
}

/// A `blob_refs` row selected as `digest, holder`.
pub(crate) fn reference(row: &postgres::Row) -> StoreResult<BlobReference> {
    let digest: Vec<u8> = row.get(0);
    let holder: Vec<u8> = row.get(1);
    let holder = String::from_utf8(holder)
        .map_err(|_| StoreError::corrupt("blob_refs", "a holder", "not UTF-8"))?;
    let bytes: [u8; 32] = digest
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::corrupt("blob_refs", &holder, "a digest is 32 bytes"))?;
    Ok(BlobReference {
        digest: Digest::from_bytes(bytes),
        holder: BlobHolder::from_key(&holder)?,
    })
}

/// What references a blob (`$1`) after a holder (`$2`, or `NULL`), at most `$3`.
pub(crate) fn references_sql(s: &str) -> String {
    format!(
        "SELECT digest, holder FROM {s}.blob_refs WHERE digest = $1 \
         AND ($2::bytea IS NULL OR holder > $2) ORDER BY holder LIMIT $3"
    )
}

/// What the holder `$1` references.
pub(crate) fn blobs_of_sql(s: &str) -> String {
    format!("SELECT digest, holder FROM {s}.blob_refs WHERE holder = $1 ORDER BY digest")
}

/// What the holders `$1` (an array) reference.
pub(crate) fn entry_references_sql(s: &str) -> String {
    format!(
        "SELECT digest, holder FROM {s}.blob_refs WHERE holder = ANY($1) \
         ORDER BY holder, digest"
    )
}

/// Those of the digests `$1` (an array) something references.
pub(crate) fn referenced_sql(s: &str) -> String {
    format!(
        "SELECT d FROM unnest($1::bytea[]) AS d WHERE EXISTS \
         (SELECT FROM {s}.blob_refs r WHERE r.digest = d) ORDER BY d"
    )
}

/// Every reference, the first page (`$1` of them), or the page after (`$1`, `$2`) of `$3`.
pub(crate) fn page_sql(s: &str, first: bool) -> String {
    if first {
        format!("SELECT digest, holder FROM {s}.blob_refs ORDER BY digest, holder LIMIT $1")
    } else {
        format!(
            "SELECT digest, holder FROM {s}.blob_refs WHERE (digest, holder) > ($1, $2) \
             ORDER BY digest, holder LIMIT $3"
        )
    }
}

/// The holder keys of the entries `ids`, as bytes.
pub(crate) fn entry_keys(ids: &[LogId]) -> Vec<Vec<u8>> {
    ids.iter()
        .map(|id| BlobHolder::Entry(*id).key().into_bytes())
        .collect()
}
