//! The methods `LogStore` provides over `write_unit` (append, append_batch, transition_run,
//! ...), held through the reference model: each answers as the unit it sends does.

use store_core::{LogStore, MemoryLogStore, NewLogEntry, StoreError};

#[test]
fn a_refused_batch_names_the_entry_at_fault() {
    let store = MemoryLogStore::new();
    let batch = vec![
        NewLogEntry::new("s", "k", "p"),
        NewLogEntry::new("s", "", "p"),
    ];
    let err = store.append_batch(batch).expect_err("an empty kind");
    assert!(
        matches!(&err, StoreError::InvalidInput { field: "kind", reason } if reason.contains("entry 1 of the batch")),
        "{err}"
    );
}
