//! A redb store file damaged anywhere (see `store_reads.rs`): opening it and every call
//! either answer or return an error; nothing panics or hangs. Half the inputs (by the
//! offset's lowest bit) damage a file the store trusts as its own (sealed), which it opens
//! without checking it whole, and read it.
#![no_main]

#[path = "store_reads.rs"]
mod store_reads;

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use store_core::{LogBackend, StoreResult};

fn open(path: &Path) -> StoreResult<Box<dyn LogBackend>> {
    Ok(Box::new(store_redb::RedbLogStore::open(path)?))
}

fuzz_target!(|input: (u32, Vec<u8>)| {
    static PRISTINE: OnceLock<Vec<u8>> = OnceLock::new();
    let pristine = PRISTINE.get_or_init(|| store_reads::pristine(open, "nerve.redb"));
    let trust =
        (input.0 & 1 == 1).then_some(store_redb::harness::seal_as_closed_cleanly as fn(&Path));
    store_reads::open_damaged(open, "nerve.redb", pristine, (input.0, &input.1), trust);
});
