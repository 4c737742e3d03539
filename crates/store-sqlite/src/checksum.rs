//! Row checksums: SQLite keeps none, so a bit flipped on the disk inside a row would be
//! returned as if it were the truth. Every row of `logs`, `runs`, `thread_messages` and `meta`
//! carries a CRC-32 of its columns (the key included) in its `crc` column, written with the
//! row and checked whenever the row is read; a mismatch is
//! [`store_core::StoreError::CorruptValue`] naming the table and key.
//!
//! Each field enters the checksum with its length (or a presence byte), so that no two rows
//! that differ can be read as the same bytes; the table's name comes first, so that a row
//! moved to another table does not check out either.

/// A checksum under construction.
pub(crate) struct RowCrc(crc32fast::Hasher);

impl RowCrc {
    pub(crate) fn new(table: &str) -> Self {
        let mut crc = RowCrc(crc32fast::Hasher::new());
        crc.text(table);
        crc
    }

    pub(crate) fn int(mut self, value: i64) -> Self {
        self.0.update(&value.to_le_bytes());
        self
    }

    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.0.update(&(value.len() as u64).to_le_bytes());
        self.0.update(value.as_bytes());
        self
    }

    pub(crate) fn str(mut self, value: &str) -> Self {
        self.text(value);
        self
    }

    pub(crate) fn opt_str(mut self, value: Option<&str>) -> Self {
        match value {
            Some(value) => {
                self.0.update(&[1]);
                self.text(value);
            }
            None => self.0.update(&[0]),
        }
        self
    }

    pub(crate) fn opt_int(mut self, value: Option<i64>) -> Self {
        match value {
            Some(value) => {
                self.0.update(&[1]);
                self.0.update(&value.to_le_bytes());
            }
            None => self.0.update(&[0]),
        }
        self
    }

    /// The checksum as the `crc` column stores it.
    pub(crate) fn finish(self) -> i64 {
        i64::from(self.0.finalize())
    }
}

/// The checksum of a `logs` row.
pub fn log_row(
    id: i64,
    source: &str,
    kind: &str,
    ref_id: Option<&str>,
    payload: &str,
    ts: i64,
) -> i64 {
    RowCrc::new("logs")
        .int(id)
        .str(source)
        .str(kind)
        .opt_str(ref_id)
        .str(payload)
        .int(ts)
        .finish()
}

/// The checksum of a `runs` row, over its columns as stored.
pub fn run_row(run: &store_core::WorkflowRun) -> i64 {
    RowCrc::new("runs")
        .str(&run.run_id)
        .str(&run.workflow)
        .opt_str(run.thread_id.as_deref())
        .str(run.status.as_str())
        .int(i64::from(run.attempt))
        .int(run.created_at.timestamp_millis())
        .int(run.updated_at.timestamp_millis())
        .opt_int(run.started_at.map(|t| t.timestamp_millis()))
        .opt_int(run.finished_at.map(|t| t.timestamp_millis()))
        .opt_str(run.detail.as_deref())
        .finish()
}

/// The checksum of a `thread_messages` row.
pub fn thread_row(log_id: i64, thread_id: &str, round: i64, role: &str) -> i64 {
    RowCrc::new("thread_messages")
        .int(log_id)
        .str(thread_id)
        .int(round)
        .str(role)
        .finish()
}

/// The checksum of a `meta` row.
pub fn meta_row(key: &str, value: &str) -> i64 {
    RowCrc::new("meta").str(key).str(value).finish()
}

/// The checksum of a `blob_refs` row.
pub fn blob_ref_row(digest: &[u8], holder: &str) -> i64 {
    let mut crc = RowCrc::new("blob_refs");
    crc.0.update(digest);
    crc.str(holder).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_slide_into_each_other() {
        assert_ne!(
            log_row(1, "ab", "c", None, "p", 0),
            log_row(1, "a", "bc", None, "p", 0)
        );
        assert_ne!(
            log_row(1, "s", "k", None, "p", 0),
            log_row(1, "s", "k", Some(""), "p", 0)
        );
        assert_ne!(meta_row("k", "v"), thread_row(0, "k", 0, "v"));
        assert_eq!(meta_row("k", "v"), meta_row("k", "v"));
    }
}
