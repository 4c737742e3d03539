//! A sqlite store file damaged anywhere (see `store_reads.rs`): opening it and every call
//! either answer or return an error; nothing panics or hangs.
#![no_main]

#[path = "store_reads.rs"]
mod store_reads;

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use store_core::{LogBackend, StoreResult};

fn open(path: &Path) -> StoreResult<Box<dyn LogBackend>> {
    Ok(Box::new(store_sqlite::SqliteLogStore::open(path)?))
}

fuzz_target!(|input: (u32, Vec<u8>)| {
    static PRISTINE: OnceLock<Vec<u8>> = OnceLock::new();
    let pristine = PRISTINE.get_or_init(|| store_reads::pristine(open, "nerve.db"));
    store_reads::open_damaged(open, "nerve.db", pristine, (input.0, &input.1), None);
});
