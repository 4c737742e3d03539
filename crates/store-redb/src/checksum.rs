//! Checksums on the values of a redb store (schema version 4). redb checks its page
//! checksums only when it repairs or checks a whole file, never on a read, so a byte flipped
//! on the disk (same size, same times: the seal still matches) would be read back as an
//! answer. Every value the store reads back as data (a log row and each copy of it, a chunk
//! of a big payload, a run, a thread row, a meta value) ends in a CRC-32 of its table's
//! name, its key and its bytes, checked on every read: a mismatch is
//! [`StoreError::CorruptValue`] naming the table and key, never an answer. The key is in
//! the sum, so a value whose key was damaged does not pass for another key's value.

use store_core::{StoreError, StoreResult};

/// How many bytes a checksum adds to a value.
pub const CHECKSUM_BYTES: usize = 4;

fn crc(table: &str, key: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(table.as_bytes());
    hasher.update(&[0]);
    hasher.update(&(key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update(body);
    hasher.finalize()
}

/// `body` with the checksum of `table`, `key` and `body` appended: the value to store.
pub fn with_checksum(table: &str, key: &[u8], mut body: Vec<u8>) -> Vec<u8> {
    let sum = crc(table, key, &body);
    body.extend_from_slice(&sum.to_le_bytes());
    body
}

/// The bytes a value of `table` under `key` holds, once its checksum is checked; `shown`
/// is the key as an error names it.
///
/// # Errors
/// [`StoreError::CorruptValue`] naming `table` and `shown` when the value is too short to
/// hold a checksum or its checksum does not match.
pub fn checked<'v>(
    table: &'static str,
    key: &[u8],
    shown: &dyn std::fmt::Display,
    value: &'v [u8],
) -> StoreResult<&'v [u8]> {
    let Some(split) = value.len().checked_sub(CHECKSUM_BYTES) else {
        return Err(StoreError::corrupt(
            table,
            shown,
            "the value is too short to hold its checksum",
        ));
    };
    let (body, sum) = value.split_at(split);
    let mut stored = [0_u8; CHECKSUM_BYTES];
    stored.copy_from_slice(sum);
    if u32::from_le_bytes(stored) == crc(table, key, body) {
        Ok(body)
    } else {
        Err(StoreError::corrupt(
            table,
            shown,
            "its checksum does not match: the value was damaged on the disk",
        ))
    }
}

/// The key bytes of a log id, as the checksums of the log's rows and thread rows sum them.
pub fn id_key(id: u64) -> [u8; 8] {
    id.to_le_bytes()
}

/// The key bytes of chunk `seq` of entry `id`'s payload.
pub fn chunk_key(id: u64, seq: u32) -> [u8; 12] {
    let mut key = [0_u8; 12];
    key[..8].copy_from_slice(&id.to_le_bytes());
    key[8..].copy_from_slice(&seq.to_le_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::{checked, with_checksum};
    use store_core::StoreError;

    #[test]
    fn a_value_reads_back_under_its_own_table_and_key_only() {
        let value = with_checksum("logs", b"k1", b"row".to_vec());
        assert_eq!(
            checked("logs", b"k1", &"k1", &value).ok(),
            Some(&b"row"[..])
        );
        for (table, key) in [("runs", &b"k1"[..]), ("logs", &b"k2"[..])] {
            let err = checked(table, key, &"k", &value).expect_err("another place");
            assert!(matches!(err, StoreError::CorruptValue { .. }), "{err}");
        }
    }

    #[test]
    fn every_flipped_bit_and_every_cut_is_caught() {
        let value = with_checksum("meta", b"key", b"a value".to_vec());
        for bit in 0..value.len() * 8 {
            let mut flipped = value.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                checked("meta", b"key", &"key", &flipped).is_err(),
                "bit {bit}"
            );
        }
        for len in 0..value.len() {
            assert!(
                checked("meta", b"key", &"key", &value[..len]).is_err(),
                "{len}"
            );
        }
    }
}
