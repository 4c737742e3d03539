//! Blob references the store knows: what holds a blob (a log entry, a run, a meta value),
//! recorded in the transaction of the write that names it, and what garbage collection is
//! rooted in (docs/SPEC.md section 2, references).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::digest::Digest;
use crate::error::{StoreError, StoreResult};
use crate::id::LogId;

/// The most blobs one holder (an entry, a run, a meta value) may reference: 1,024. A write
/// that names more is refused by name; duplicates count once.
pub const MAX_BLOBS_PER_HOLDER: usize = 1024;

/// What holds a reference to a blob. Ordered as stores list them: entries by id, then meta
/// values by key, then runs by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlobHolder {
    /// A log entry: the blobs given with [`crate::NewLogEntry::with_blobs`]. Its references
    /// go with it: deleted with it (archived, the archive keeps them), restored with it.
    Entry(LogId),
    /// A meta value: the blobs given with [`crate::LogStore::meta_set_with_blobs`]; replaced
    /// by every set of the key, dropped by its deletion.
    Meta(String),
    /// A run: the blobs its latest transition with [`crate::RunTransition::with_blobs`]
    /// named.
    Run(String),
}

/// How many digits an entry's id takes in its key: every id fits, and keys sort as ids.
const ID_DIGITS: usize = 20;

impl BlobHolder {
    /// The holder as stores key it: `entry:00000000000000000042`, `meta:KEY`, `run:RUN`.
    /// Keys sort as holders do.
    pub fn key(&self) -> String {
        match self {
            BlobHolder::Entry(id) => format!("entry:{:0ID_DIGITS$}", id.0),
            BlobHolder::Meta(key) => format!("meta:{key}"),
            BlobHolder::Run(run_id) => format!("run:{run_id}"),
        }
    }

    /// The holder a stored key names.
    ///
    /// # Errors
    /// [`StoreError::CorruptValue`] for a key no store writes.
    pub fn from_key(key: &str) -> StoreResult<Self> {
        let bad = || StoreError::corrupt("blob_refs", key, "not a holder's key");
        let (kind, rest) = key.split_once(':').ok_or_else(bad)?;
        match kind {
            "entry" if rest.len() == ID_DIGITS && rest.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(BlobHolder::Entry(LogId(rest.parse().map_err(|_| bad())?)))
            }
            "meta" if !rest.is_empty() => Ok(BlobHolder::Meta(rest.to_owned())),
            "run" if !rest.is_empty() => Ok(BlobHolder::Run(rest.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for BlobHolder {
    /// `entry 42`, `meta KEY`, `run RUN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobHolder::Entry(id) => write!(f, "entry {id}"),
            BlobHolder::Meta(key) => write!(f, "meta {key}"),
            BlobHolder::Run(run_id) => write!(f, "run {run_id}"),
        }
    }
}

impl Serialize for BlobHolder {
    /// `{"entry":42}`, `{"meta":"KEY"}`, `{"run":"RUN"}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            BlobHolder::Entry(id) => map.serialize_entry("entry", &id.0)?,
            BlobHolder::Meta(key) => map.serialize_entry("meta", key)?,
            BlobHolder::Run(run_id) => map.serialize_entry("run", run_id)?,
        }
        map.end()
    }
}

/// One reference: a blob and what holds it. Serialises as `{"digest":…,"holder":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BlobReference {
    /// The blob.
    pub digest: Digest,
    /// What holds it.
    pub holder: BlobHolder,
}

/// The digests `blobs` names, each once, in digest order, refused when there are more than
/// [`MAX_BLOBS_PER_HOLDER`]: what a write stores for its holder.
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `blobs`.
pub(crate) fn holder_blobs(blobs: &[Digest]) -> StoreResult<Vec<Digest>> {
    let mut unique = blobs.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() > MAX_BLOBS_PER_HOLDER {
        return Err(StoreError::invalid(
            "blobs",
            format!(
                "{} blobs is more than the {MAX_BLOBS_PER_HOLDER} one entry, run or meta value \
                 may reference",
                unique.len()
            ),
        ));
    }
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_round_trips_through_its_key_and_keys_sort_as_holders() {
        let holders = [
            BlobHolder::Entry(LogId(9)),
            BlobHolder::Entry(LogId(10)),
            BlobHolder::Entry(LogId(u64::MAX)),
            BlobHolder::Meta("a:b".into()),
            BlobHolder::Run("run-1".into()),
        ];
        for holder in &holders {
            assert_eq!(
                &BlobHolder::from_key(&holder.key()).expect("parses"),
                holder
            );
        }
        let mut keys: Vec<String> = holders.iter().map(BlobHolder::key).collect();
        keys.sort();
        let sorted: Vec<BlobHolder> = keys
            .iter()
            .map(|key| BlobHolder::from_key(key).expect("parses"))
            .collect();
        assert_eq!(sorted, holders);
        for bad in [
            "",
            "entry:42",
            "entry:",
            "meta:",
            "job:x",
            "entry:0000000000000000004x",
        ] {
            assert!(BlobHolder::from_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_holders_blobs_are_unique_sorted_and_bounded() {
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(holder_blobs(&[b, a, b]).expect("fits"), expected);
        let many: Vec<Digest> = (0..=MAX_BLOBS_PER_HOLDER as u32)
            .map(|n| Digest::of(&n.to_le_bytes()))
            .collect();
        let err = holder_blobs(&many).expect_err("too many");
        assert!(
            matches!(&err, StoreError::InvalidInput { field, .. } if *field == "blobs"),
            "{err}"
        );
    }
}
