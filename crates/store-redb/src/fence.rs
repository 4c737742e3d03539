//! Walks of redb tables that notice a damaged key. redb checks no page checksum on a read,
//! and the values' checksums ([`crate::checksum`]) cannot see an entry that a walk never
//! reaches: a bit flipped in a key moves the entry within its page, so a seek can land past
//! entries that are there (a damaged branch key sends the descent to the wrong leaf), and a
//! walk can stop early at a damaged key that compares past its end.
//!
//! A fenced walk checks what lies at both ends of what it read, and the order between:
//!
//! - the fence before: the entry just outside the walk's start, as the same seek finds it,
//!   must be whole and must lie outside the start;
//! - every entry the walk passes must be whole and come after the one before it, the first
//!   inside the start;
//! - the fence after: the walk reads on past its end to the first entry beyond it, which
//!   must be whole too (a walk that stops at its limit needs no fence after: it never
//!   claimed what lies beyond).
//!
//! "Whole" is the caller's check of one entry ([`Step`]): its value's checksum, or the row an
//! index entry names agreeing with the key. A damaged key that still sorts in place is caught
//! by that check; one that moved is caught by the order or by a fence.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound::{self, Excluded, Included, Unbounded};

use redb::{AccessGuard, Key, ReadableTable, Value};
use store_core::{StoreError, StoreResult};

use crate::error::Context;

/// What the caller's check makes of one entry of a walk, once it found it whole.
pub(crate) enum Step<T> {
    /// Inside the walk and wanted: yielded.
    Take(T),
    /// Inside the walk but not wanted (a filter): passed over.
    Skip,
    /// Beyond the walk's end: the walk ends here (this entry was its fence after).
    Past,
}

/// Where a walk starts: at `from` going up (`descending` false), or down from it.
pub(crate) struct Start<KR> {
    /// The bound the seek goes to; `Unbounded` starts at the table's first (or last) entry.
    pub(crate) from: Bound<KR>,
    /// Whether the walk goes from high keys to low.
    pub(crate) descending: bool,
}

impl<KR> Start<KR> {
    /// A walk up from `from`.
    pub(crate) fn up(from: Bound<KR>) -> Self {
        Start {
            from,
            descending: false,
        }
    }

    /// A walk down from `from`.
    pub(crate) fn down(from: Bound<KR>) -> Self {
        Start {
            from,
            descending: true,
        }
    }
}

/// The key bytes of an entry, as redb compares them.
fn key_bytes<K: Key + 'static>(key: &AccessGuard<'_, K>, into: &mut Vec<u8>) {
    into.clear();
    into.extend_from_slice(K::as_bytes(&key.value()).as_ref());
}

fn damaged<K: Key + 'static>(table: &'static str, key: &AccessGuard<'_, K>, why: &str) -> StoreError
where
    for<'a> K::SelfType<'a>: std::fmt::Debug,
{
    StoreError::corrupt(
        table,
        format!("{:?}", key.value()),
        format!("{why}: a key of the table was damaged on the disk"),
    )
}

/// How the keys of two entries compare.
fn in_one_borrow<'x, K: Key + 'static>(
    a: &'x AccessGuard<'_, K>,
    b: &'x AccessGuard<'_, K>,
) -> Ordering
where
    for<'a> K::SelfType<'a>: Ord,
{
    a.value().cmp(&b.value())
}

/// Whether `key` lies inside `from` for a walk in the given direction.
fn inside<K: Key + 'static>(from: &Bound<Vec<u8>>, descending: bool, key: &[u8]) -> bool {
    let (bound, open) = match from {
        Unbounded => return true,
        Included(bound) => (bound, false),
        Excluded(bound) => (bound, true),
    };
    match (K::compare(key, bound), descending) {
        (Ordering::Equal, _) => !open,
        (Ordering::Greater, false) | (Ordering::Less, true) => true,
        _ => false,
    }
}

/// Walks `table` (named `name` in errors) from `start`, handing each entry to `read`, which
/// checks it whole and says what it is ([`Step`]); yields what `read` takes, in order, until
/// `read` says an entry is past the end or the table ends. See the module's comment for
/// what is checked.
///
/// # Errors
/// The engine's errors, `read`'s, and [`StoreError::CorruptValue`] naming `name` and the key
/// when a fence or the order shows a damaged key.
pub(crate) fn walk<'t, K, V, KR, T>(
    table: &'t impl ReadableTable<K, V>,
    name: &'static str,
    start: Start<KR>,
    mut read: impl FnMut(&AccessGuard<'t, K>, &AccessGuard<'t, V>) -> StoreResult<Step<T>> + 't,
) -> StoreResult<impl Iterator<Item = StoreResult<T>> + 't>
where
    K: Key + 'static,
    V: Value + 'static,
    KR: Borrow<K::SelfType<'t>> + Clone + 't,
    for<'a> K::SelfType<'a>: std::fmt::Debug + Ord,
{
    let doing = move || format!("walking {name}");
    let Start { from, descending } = start;
    let from_bytes = from
        .as_ref()
        .map(|key| K::as_bytes(key.borrow()).as_ref().to_vec());
    let mut scratch = Vec::new();

    // The fence before: the neighbour of the seek's position on the side the walk leaves.
    let outside = match &from {
        Unbounded => None,
        Included(key) => Some(Excluded(key.clone())),
        Excluded(key) => Some(Included(key.clone())),
    };
    if let Some(outside) = outside {
        let neighbour = if descending {
            table
                .range((outside, Unbounded))
                .with_context(doing)?
                .next()
        } else {
            table
                .range((Unbounded, outside))
                .with_context(doing)?
                .next_back()
        };
        if let Some(item) = neighbour {
            let (key, value) = item.with_context(doing)?;
            key_bytes(&key, &mut scratch);
            if inside::<K>(&from_bytes, descending, &scratch) {
                return Err(damaged(
                    name,
                    &key,
                    "the seek landed inside the walk's start",
                ));
            }
            read(&key, &value)?;
        }
    }

    let range = if descending {
        table.range((Unbounded, from)).with_context(doing)?
    } else {
        table.range((from, Unbounded)).with_context(doing)?
    };
    let mut entries: Box<dyn Iterator<Item = _> + 't> = if descending {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    // The key met before this one. The keys' own order is redb's order of their bytes for
    // every key type of the store (integers, strings, tuples of them), and compares without
    // encoding them.
    let mut previous: Option<AccessGuard<'t, K>> = None;
    let mut ended = false;
    Ok(std::iter::from_fn(move || {
        while !ended {
            let Some(item) = entries.next() else {
                ended = true;
                return None;
            };
            let (key, value) = match item.with_context(doing) {
                Ok(entry) => entry,
                Err(err) => {
                    ended = true;
                    return Some(Err(err));
                }
            };
            let in_order = match &previous {
                None => {
                    key_bytes(&key, &mut scratch);
                    inside::<K>(&from_bytes, descending, &scratch)
                }
                Some(previous) => {
                    let order = in_one_borrow(previous, &key);
                    if descending {
                        order == Ordering::Greater
                    } else {
                        order == Ordering::Less
                    }
                }
            };
            if !in_order {
                ended = true;
                let why = if previous.is_none() {
                    "the seek landed outside the walk's start"
                } else {
                    "the walk met its keys out of order"
                };
                return Some(Err(damaged(name, &key, why)));
            }
            let step = read(&key, &value);
            previous = Some(key);
            match step {
                Ok(Step::Take(taken)) => return Some(Ok(taken)),
                Ok(Step::Skip) => {}
                Ok(Step::Past) => ended = true,
                Err(err) => {
                    ended = true;
                    return Some(Err(err));
                }
            }
        }
        None
    }))
}

/// The value under `key`, read with `read`; when there is none, the entries on both sides of
/// where it would be are checked with `neighbour` (and must lie on their sides), so that
/// "none" is never the answer of a seek that a damaged key sent astray.
///
/// # Errors
/// As [`walk`].
pub(crate) fn get<'t, K, V, KR, T>(
    table: &'t impl ReadableTable<K, V>,
    name: &'static str,
    key: KR,
    read: impl FnOnce(AccessGuard<'t, V>) -> StoreResult<T>,
    mut neighbour: impl FnMut(&AccessGuard<'t, K>, &AccessGuard<'t, V>) -> StoreResult<()> + 't,
) -> StoreResult<Option<T>>
where
    K: Key + 'static,
    V: Value + 'static,
    KR: Borrow<K::SelfType<'t>> + Clone + 't,
    for<'a> K::SelfType<'a>: std::fmt::Debug + Ord,
{
    if let Some(value) = table
        .get(key.clone())
        .with_context(|| format!("reading {name}"))?
    {
        return read(value).map(Some);
    }
    let wanted = K::as_bytes(key.borrow()).as_ref().to_vec();
    let mut scratch = Vec::new();
    let mut after = walk(table, name, Start::up(Included(key)), move |k, v| {
        key_bytes(k, &mut scratch);
        if K::compare(&scratch, &wanted) == Ordering::Equal {
            return Err(damaged(name, k, "a lookup missed a key that a walk finds"));
        }
        neighbour(k, v)?;
        Ok(Step::<()>::Past)
    })?;
    if let Some(item) = after.next() {
        item?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::ops::Bound::Included;

    use redb::{Database, ReadableDatabase, TableDefinition};
    use store_core::{StoreError, StoreResult};

    use super::{Start, Step, walk};

    /// An index of keys only, `entry-GROUP-ID`, and the rows it names: ID → GROUP.
    const INDEX: TableDefinition<&str, ()> = TableDefinition::new("index");
    const ROWS: TableDefinition<u64, &str> = TableDefinition::new("rows");

    /// A file whose index holds 100 keys of each of groups a, b and c, with the key of one
    /// of b's entries then changed on the disk to c's: it sorts past b's range, but sits in
    /// the middle of it.
    fn damaged_file(path: &std::path::Path) {
        let db = Database::create(path).expect("create");
        let tx = db.begin_write().expect("write");
        {
            let mut index = tx.open_table(INDEX).expect("index");
            let mut rows = tx.open_table(ROWS).expect("rows");
            for (g, group) in ["a", "b", "c"].into_iter().enumerate() {
                for n in 0..100 {
                    let id = 100 * g as u64 + n;
                    index
                        .insert(format!("entry-{group}-{id:04}").as_str(), ())
                        .expect("insert");
                    rows.insert(id, group).expect("insert");
                }
            }
        }
        tx.commit().expect("commit");
        drop(db);
        set_group(path, "entry-b-0150", b'c');
    }

    /// Changes the group letter of the key `key` where it stands in the file.
    fn set_group(path: &std::path::Path, key: &str, group: u8) {
        let mut bytes = std::fs::read(path).expect("read");
        let at = bytes
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .expect("the key is in the file");
        bytes[at + "entry-".len()] = group;
        std::fs::write(path, bytes).expect("write");
    }

    /// Group b's entries, each checked against the row it names.
    fn group_b(db: &Database) -> StoreResult<Vec<String>> {
        let tx = db.begin_read().expect("read");
        let index = tx.open_table(INDEX).expect("index");
        let rows = tx.open_table(ROWS).expect("rows");
        let start = Start::up(Included("entry-b-"));
        let entries = walk(&index, "index", start, |key, _| {
            let key = key.value();
            let (group, id) = (&key[6..7], key[8..].parse::<u64>().expect("an id"));
            let row = rows.get(id).expect("get").map(|g| g.value().to_owned());
            if row.as_deref() != Some(group) {
                return Err(StoreError::corrupt("index", key, "disagrees with its row"));
            }
            Ok(if group == "b" {
                Step::Take(key.to_owned())
            } else {
                Step::Past
            })
        })?;
        entries.collect()
    }

    #[test]
    fn a_whole_index_is_walked_from_its_start_to_its_end() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("whole.redb");
        damaged_file(&path);
        // Undo the damage: the same file, whole.
        set_group(&path, "entry-c-0150", b'b');
        let db = Database::open(&path).expect("open");
        let found = group_b(&db).expect("a whole walk");
        assert_eq!(found.len(), 100);
        assert_eq!(found.first().map(String::as_str), Some("entry-b-0100"));
        assert_eq!(found.last().map(String::as_str), Some("entry-b-0199"));
    }

    /// Without the fence after, this walk would stop at the damaged key, which compares past
    /// b's range, and answer b's first 50 entries as if they were all.
    #[test]
    fn a_walk_that_meets_a_damaged_key_fails_instead_of_stopping_short() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("damaged.redb");
        damaged_file(&path);
        let db = Database::open(&path).expect("open");
        match group_b(&db) {
            Err(StoreError::CorruptValue { table, key, .. }) => {
                assert_eq!((table, key.as_str()), ("index", "entry-c-0150"));
            }
            other => panic!("a damaged key is an error, not {other:?}"),
        }
    }
}
