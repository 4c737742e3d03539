//! Blob references (schema 5): (digest, holder) keys in [`BLOB_REFS`] for what references a
//! blob, the same pairs as (holder, digest) in [`BLOB_REFS_BY_HOLDER`] for what a holder
//! references; each value is the checksum of its key.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use store_core::{BlobHolder, BlobReference, Digest, LogId, StoreError, StoreResult};

use crate::checksum::{checked, with_checksum};
use crate::error::Context;

/// (digest, holder key) → the checksum of the pair.
pub(crate) const BLOB_REFS: TableDefinition<(&[u8], &str), &[u8]> =
    TableDefinition::new("blob_refs");
/// (holder key, digest) → the checksum of the pair.
pub(crate) const BLOB_REFS_BY_HOLDER: TableDefinition<(&str, &[u8]), &[u8]> =
    TableDefinition::new("blob_refs_by_holder");

/// The bytes a pair's checksum covers: the digest, then the holder's key.
fn pair_bytes(digest: &[u8], holder: &str) -> Vec<u8> {
    let mut bytes = digest.to_vec();
    bytes.extend_from_slice(holder.as_bytes());
    bytes
}

fn pair_value(digest: &[u8], holder: &str) -> Vec<u8> {
    with_checksum("blob_refs", &pair_bytes(digest, holder), Vec::new())
}

/// The reference a stored pair names, its checksum checked.
fn reference(digest: &[u8], holder: &str, value: &[u8]) -> StoreResult<BlobReference> {
    checked("blob_refs", &pair_bytes(digest, holder), &holder, value)?;
    let bytes: [u8; 32] = digest
        .try_into()
        .map_err(|_| StoreError::corrupt("blob_refs", holder, "a digest is 32 bytes"))?;
    Ok(BlobReference {
        digest: Digest::from_bytes(bytes),
        holder: BlobHolder::from_key(holder)?,
    })
}

/// Makes `holder` reference exactly `blobs`, replacing what it referenced.
pub(crate) fn set_refs(
    tx: &WriteTransaction,
    holder: &BlobHolder,
    blobs: &[Digest],
) -> StoreResult<()> {
    let key = holder.key();
    let context = || format!("recording the blobs {holder} references");
    let mut refs = tx.open_table(BLOB_REFS).with_context(context)?;
    let mut by_holder = tx.open_table(BLOB_REFS_BY_HOLDER).with_context(context)?;
    let held = holder_digests(&by_holder, &key)?;
    for digest in &held {
        refs.remove((digest.as_slice(), key.as_str()))
            .with_context(context)?;
        by_holder
            .remove((key.as_str(), digest.as_slice()))
            .with_context(context)?;
    }
    for digest in blobs {
        insert_pair(&mut refs, &mut by_holder, digest, &key).with_context(context)?;
    }
    Ok(())
}

/// Adds the reference of `holder_key` to `digest` (again, if it is there).
pub(crate) fn insert_ref(
    tx: &WriteTransaction,
    digest: &Digest,
    holder_key: &str,
) -> StoreResult<()> {
    let context = "recording a blob reference";
    let mut refs = tx.open_table(BLOB_REFS).context(context)?;
    let mut by_holder = tx.open_table(BLOB_REFS_BY_HOLDER).context(context)?;
    insert_pair(&mut refs, &mut by_holder, digest, holder_key).context(context)
}

fn insert_pair(
    refs: &mut redb::Table<'_, (&'static [u8], &'static str), &'static [u8]>,
    by_holder: &mut redb::Table<'_, (&'static str, &'static [u8]), &'static [u8]>,
    digest: &Digest,
    holder_key: &str,
) -> Result<(), redb::StorageError> {
    let bytes = digest.as_bytes().as_slice();
    let value = pair_value(bytes, holder_key);
    refs.insert((bytes, holder_key), value.as_slice())?;
    by_holder.insert((holder_key, bytes), value.as_slice())?;
    Ok(())
}

/// Removes every reference the entries `ids` hold, as their deletion does.
pub(crate) fn delete_entry_refs(tx: &WriteTransaction, ids: &[u64]) -> StoreResult<()> {
    for id in ids {
        set_refs(tx, &BlobHolder::Entry(LogId(*id)), &[])?;
    }
    Ok(())
}

/// The digests `holder_key` references, from the by-holder table, in digest order.
fn holder_digests(
    by_holder: &impl ReadableTable<(&'static str, &'static [u8]), &'static [u8]>,
    holder_key: &str,
) -> StoreResult<Vec<Vec<u8>>> {
    let context = "reading a holder's blob references";
    let mut out = Vec::new();
    let start: &[u8] = &[];
    for item in by_holder.range((holder_key, start)..).context(context)? {
        let (key, value) = item.context(context)?;
        let (holder, digest) = key.value();
        if holder != holder_key {
            break;
        }
        reference(digest, holder, value.value())?;
        out.push(digest.to_vec());
    }
    Ok(out)
}

/// What references `digest`, after `after`, at most `limit`.
pub(crate) fn references(
    tx: &ReadTransaction,
    digest: &Digest,
    after: Option<&BlobHolder>,
    limit: usize,
) -> StoreResult<Vec<BlobHolder>> {
    let context = "reading a blob's references";
    let refs = tx.open_table(BLOB_REFS).context(context)?;
    let after = after.map(BlobHolder::key);
    let bytes = digest.as_bytes().as_slice();
    let mut out = Vec::new();
    for item in refs
        .range((bytes, after.as_deref().unwrap_or(""))..)
        .context(context)?
    {
        if out.len() >= limit {
            break;
        }
        let (key, value) = item.context(context)?;
        let (found, holder) = key.value();
        if found != bytes {
            break;
        }
        if after.as_deref() == Some(holder) {
            continue;
        }
        out.push(reference(found, holder, value.value())?.holder);
    }
    Ok(out)
}

/// The blobs `holder` references, in digest order.
pub(crate) fn blobs_of(tx: &ReadTransaction, holder: &BlobHolder) -> StoreResult<Vec<Digest>> {
    let by_holder = tx
        .open_table(BLOB_REFS_BY_HOLDER)
        .context("reading a holder's blob references")?;
    holder_digests(&by_holder, &holder.key())?
        .into_iter()
        .map(|bytes| {
            let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                StoreError::corrupt("blob_refs", holder.key(), "a digest is 32 bytes")
            })?;
            Ok(Digest::from_bytes(array))
        })
        .collect()
}

/// The references the entries `ids` hold, in (holder, digest) order.
pub(crate) fn entry_references(
    tx: &ReadTransaction,
    ids: &[LogId],
) -> StoreResult<Vec<BlobReference>> {
    let mut out = Vec::new();
    for id in ids {
        let holder = BlobHolder::Entry(*id);
        for digest in blobs_of(tx, &holder)? {
            out.push(BlobReference {
                digest,
                holder: holder.clone(),
            });
        }
    }
    out.sort_by(|a, b| (&a.holder, a.digest).cmp(&(&b.holder, b.digest)));
    out.dedup();
    Ok(out)
}

/// Those of `digests` something references, in digest order, each once.
pub(crate) fn referenced(tx: &ReadTransaction, digests: &[Digest]) -> StoreResult<Vec<Digest>> {
    let context = "reading blob references";
    let refs = tx.open_table(BLOB_REFS).context(context)?;
    let mut out = Vec::new();
    for digest in digests {
        let bytes = digest.as_bytes().as_slice();
        let first = refs.range((bytes, "")..).context(context)?.next();
        if let Some(item) = first {
            let (key, value) = item.context(context)?;
            let (found, holder) = key.value();
            if found == bytes {
                reference(found, holder, value.value())?;
                out.push(*digest);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Every reference after `after` in (digest, holder) order, at most `limit`.
pub(crate) fn blob_references(
    tx: &ReadTransaction,
    after: Option<&BlobReference>,
    limit: usize,
) -> StoreResult<Vec<BlobReference>> {
    let context = "reading blob references";
    let refs = tx.open_table(BLOB_REFS).context(context)?;
    let after_key = after.map(|after| (after.digest, after.holder.key()));
    let start: (&[u8], &str) = match &after_key {
        Some((digest, holder)) => (digest.as_bytes().as_slice(), holder.as_str()),
        None => (&[], ""),
    };
    let mut out = Vec::new();
    for item in refs.range(start..).context(context)? {
        if out.len() >= limit {
            break;
        }
        let (key, value) = item.context(context)?;
        let (digest, holder) = key.value();
        if after_key
            .as_ref()
            .is_some_and(|(d, h)| d.as_bytes().as_slice() == digest && h == holder)
        {
            continue;
        }
        out.push(reference(digest, holder, value.value())?);
    }
    Ok(out)
}
